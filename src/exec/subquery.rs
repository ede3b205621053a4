//! Uncorrelated subqueries in DELETE / UPDATE predicates, evaluated before the predicate goes
//! to deltalake.
//!
//! deltalake takes a DELETE/UPDATE predicate as an expression over the target's own columns;
//! it cannot run a subquery (and DataFusion's own DELETE-with-subquery path is known to hit
//! every row). So `x IN (SELECT …)`, `EXISTS (…)` and scalar `(SELECT …)` are run first and
//! replaced by their values: `x IN (1, 2, 3)`, `TRUE`, `42`.

use std::ops::ControlFlow;

use datafusion::arrow::array::Array;
use datafusion::common::ScalarValue;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Expr, Ident, Query, VisitMut, VisitorMut};

use crate::error::{Error, Result};
use crate::sql::quote;

enum Pending {
    In {
        expr: Box<Expr>,
        query: Box<Query>,
        negated: bool,
    },
    Exists {
        query: Box<Query>,
        negated: bool,
    },
    Scalar(Box<Query>),
}

struct Extract {
    found: Vec<Pending>,
}

impl VisitorMut for Extract {
    type Break = ();
    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        let pending = match e {
            Expr::InSubquery {
                expr,
                subquery,
                negated,
            } => Pending::In {
                expr: expr.clone(),
                query: subquery.clone(),
                negated: *negated,
            },
            Expr::Exists { subquery, negated } => Pending::Exists {
                query: subquery.clone(),
                negated: *negated,
            },
            Expr::Subquery(q) => Pending::Scalar(q.clone()),
            _ => return ControlFlow::Continue(()),
        };
        // Replaced before the visitor descends, so subqueries nested inside this one stay
        // inside it (DataFusion runs those).
        *e = Expr::Identifier(Ident::new(placeholder(self.found.len())));
        self.found.push(pending);
        ControlFlow::Continue(())
    }
}

fn placeholder(i: usize) -> String {
    format!("__stockroom_subquery_{i}")
}

/// Returns the predicate as SQL text with every top-level subquery replaced by its value.
pub async fn resolve(ctx: &SessionContext, mut predicate: Expr) -> Result<String> {
    let mut x = Extract { found: Vec::new() };
    let _ = predicate.visit(&mut x);
    let mut text = predicate.to_string();
    for (i, p) in x.found.into_iter().enumerate().rev() {
        let replacement = match p {
            Pending::In {
                expr,
                query,
                negated,
            } => {
                let values = column_values(ctx, &query).await?;
                if values.is_empty() {
                    // `x IN ()` is false for every x, `x NOT IN ()` true.
                    if negated { "TRUE" } else { "FALSE" }.to_string()
                } else {
                    format!(
                        "({expr} {}IN ({}))",
                        if negated { "NOT " } else { "" },
                        values.join(", ")
                    )
                }
            }
            Pending::Exists { query, negated } => {
                let exists = !column_values(ctx, &query).await?.is_empty();
                if exists != negated { "TRUE" } else { "FALSE" }.to_string()
            }
            Pending::Scalar(query) => {
                let values = column_values(ctx, &query).await?;
                match values.len() {
                    0 => "NULL".to_string(),
                    1 => values[0].clone(),
                    n => {
                        return Err(Error::Sql(format!(
                            "scalar subquery returned {n} rows, expected at most 1: ({query})"
                        )));
                    }
                }
            }
        };
        text = text.replace(&placeholder(i), &replacement);
    }
    Ok(text)
}

/// Runs `query` and renders the values of its first column as SQL literals.
async fn column_values(ctx: &SessionContext, query: &Query) -> Result<Vec<String>> {
    let df = ctx.sql(&query.to_string()).await.map_err(|e| {
        Error::Sql(format!(
            "subquery ({query}) failed: {e} (correlated subqueries are not supported in DELETE/UPDATE; use MERGE)"
        ))
    })?;
    let batches = df.collect().await?;
    let mut out = Vec::new();
    for b in &batches {
        if b.num_columns() == 0 {
            continue;
        }
        let col = b.column(0);
        for i in 0..col.len() {
            out.push(sql_literal(&ScalarValue::try_from_array(col.as_ref(), i)?));
        }
    }
    Ok(out)
}

/// A SQL literal for a scalar value.
pub fn sql_literal(v: &ScalarValue) -> String {
    if v.is_null() {
        return "NULL".into();
    }
    match v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => quote::literal(s),
        ScalarValue::Date32(_) | ScalarValue::Date64(_) => format!("DATE '{v}'"),
        ScalarValue::TimestampSecond(..)
        | ScalarValue::TimestampMillisecond(..)
        | ScalarValue::TimestampMicrosecond(..)
        | ScalarValue::TimestampNanosecond(..) => {
            format!("TIMESTAMP {}", quote::literal(&v.to_string()))
        }
        ScalarValue::Boolean(Some(b)) => if *b { "TRUE" } else { "FALSE" }.into(),
        other => other.to_string(),
    }
}
