//! `UPDATE t SET c = expr, … [WHERE …]`.

use std::sync::Arc;

use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{self, AssignmentTarget};
use deltalake::DeltaTable;

use super::{factor_name, object_name, open_target};
use crate::error::{Error, Result};
use crate::exec::outcome::WriteReport;
use crate::exec::parquet_props::writer_properties;
use crate::exec::subquery;
use crate::warehouse::Warehouse;

/// Sets columns of the rows of one table that match a predicate, in one commit.
pub struct Update<'a> {
    ctx: &'a SessionContext,
    table: DeltaTable,
    name: String,
    /// (column, SQL expression) pairs.
    set: Vec<(String, String)>,
    predicate: Option<String>,
}

impl<'a> Update<'a> {
    pub fn new(ctx: &'a SessionContext, table: DeltaTable, name: impl Into<String>) -> Self {
        Self {
            ctx,
            table,
            name: name.into(),
            set: Vec::new(),
            predicate: None,
        }
    }

    /// Builds the update an `UPDATE` statement asks for (its subqueries evaluated first).
    pub async fn from_statement(
        ctx: &'a SessionContext,
        warehouse: &Warehouse,
        stmt: ast::Update,
    ) -> Result<Self> {
        if stmt.from.is_some() || !stmt.table.joins.is_empty() {
            return Err(Error::Unsupported(
                "UPDATE … FROM / joins; supported: UPDATE t SET c = expr [WHERE …] (use MERGE to update from another table)".into(),
            ));
        }
        let name = factor_name(&stmt.table.relation)?;
        let table = open_target(warehouse, &name).await?;
        let mut update = Self::new(ctx, table, name);
        for a in stmt.assignments {
            let col = match a.target {
                AssignmentTarget::ColumnName(c) => object_name(&c),
                AssignmentTarget::Tuple(_) => {
                    return Err(Error::Unsupported(
                        "UPDATE SET (a, b) = …; write one assignment per column".into(),
                    ));
                }
            };
            update = update.set(col, subquery::resolve(ctx, a.value).await?);
        }
        if let Some(pred) = stmt.selection {
            update = update.with_predicate(subquery::resolve(ctx, pred).await?);
        }
        Ok(update)
    }

    /// `SET column = expression`.
    pub fn set(mut self, column: impl Into<String>, expression: impl Into<String>) -> Self {
        self.set.push((column.into(), expression.into()));
        self
    }

    pub fn with_predicate(mut self, predicate: impl Into<String>) -> Self {
        self.predicate = Some(predicate.into());
        self
    }

    pub async fn execute(self) -> Result<(DeltaTable, WriteReport)> {
        let mut builder = self
            .table
            .update()
            .with_session_state(Arc::new(self.ctx.state()))
            .with_writer_properties(writer_properties());
        for (c, v) in self.set {
            builder = builder.with_update(c, v);
        }
        if let Some(p) = self.predicate {
            builder = builder.with_predicate(p);
        }
        let (table, m) = builder.await?;
        let report = WriteReport {
            operation: "UPDATE".into(),
            table: self.name,
            version: table.version().unwrap_or(0),
            rows_updated: m.num_updated_rows as u64,
            files_added: m.num_added_files as u64,
            files_removed: m.num_removed_files as u64,
            ..Default::default()
        };
        Ok((table, report))
    }
}
