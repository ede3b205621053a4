//! `MERGE INTO t USING src ON … WHEN …`, and merges Rust code builds (the stream's
//! inventory commit): both become a [`Merge`].

use std::sync::Arc;

use datafusion::prelude::{DataFrame, SessionContext};
use datafusion::sql::sqlparser::ast::{
    self, AssignmentTarget, Expr, MergeAction, MergeClauseKind, MergeInsertKind, TableFactor,
};
use deltalake::DeltaTable;
use deltalake::kernel::transaction::CommitProperties;

use super::{Append, factor_alias, factor_name, object_name, open_target};
use crate::error::{Error, Result};
use crate::exec::error::ExecError;
use crate::exec::outcome::WriteReport;
use crate::exec::parquet_props::writer_properties;
use crate::exec::subquery;
use crate::sql::quote;
use crate::warehouse::Warehouse;

/// Marker the statement layer puts in place of `UPDATE SET *` (sqlparser has no such form).
pub const SET_ALL_MARKER: &str = "__stockroom_set_all";

/// One `WHEN … THEN …` of a merge. Predicates and values are SQL text over the two
/// aliases; `set` holds (target column, value) pairs.
#[derive(Debug, Clone)]
pub enum Clause {
    MatchedUpdate {
        predicate: Option<String>,
        set: Vec<(String, String)>,
    },
    MatchedDelete {
        predicate: Option<String>,
    },
    NotMatchedInsert {
        predicate: Option<String>,
        set: Vec<(String, String)>,
    },
    NotMatchedBySourceUpdate {
        predicate: Option<String>,
        set: Vec<(String, String)>,
    },
    NotMatchedBySourceDelete {
        predicate: Option<String>,
    },
}

/// Merges a source into one table, in one commit.
pub struct Merge<'a> {
    ctx: &'a SessionContext,
    table: DeltaTable,
    name: String,
    source: DataFrame,
    on: String,
    source_alias: String,
    target_alias: String,
    clauses: Vec<Clause>,
    commit: Option<CommitProperties>,
}

impl<'a> Merge<'a> {
    /// Merges `source` (aliased `source`) into `table` (aliased `target`) on `on`.
    pub fn new(
        ctx: &'a SessionContext,
        table: DeltaTable,
        name: impl Into<String>,
        source: DataFrame,
        on: impl Into<String>,
    ) -> Self {
        Self {
            ctx,
            table,
            name: name.into(),
            source,
            on: on.into(),
            source_alias: "source".into(),
            target_alias: "target".into(),
            clauses: Vec::new(),
            commit: None,
        }
    }

    pub fn with_aliases(mut self, source: impl Into<String>, target: impl Into<String>) -> Self {
        self.source_alias = source.into();
        self.target_alias = target.into();
        self
    }

    /// Adds a `WHEN …` clause; clauses apply in the order given.
    pub fn when(mut self, clause: Clause) -> Self {
        self.clauses.push(clause);
        self
    }

    /// What the commit carries besides the files (application transactions).
    pub fn with_commit_properties(mut self, commit: CommitProperties) -> Self {
        self.commit = Some(commit);
        self
    }

    /// Commits; returns the table's new state and what the commit did.
    pub async fn execute(self) -> Result<(DeltaTable, WriteReport)> {
        let mut builder = self
            .table
            .merge(self.source, self.on)
            .with_source_alias(self.source_alias)
            .with_target_alias(self.target_alias)
            .with_session_state(Arc::new(self.ctx.state()))
            .with_writer_properties(writer_properties());
        if let Some(c) = self.commit {
            builder = builder.with_commit_properties(c);
        }
        for clause in self.clauses {
            builder = match clause {
                Clause::MatchedUpdate { predicate, set } => {
                    builder.when_matched_update(|mut b| {
                        for (c, v) in set {
                            b = b.update(c, v);
                        }
                        if let Some(p) = predicate {
                            b = b.predicate(p);
                        }
                        b
                    })?
                }
                Clause::MatchedDelete { predicate } => builder.when_matched_delete(|mut b| {
                    if let Some(p) = predicate {
                        b = b.predicate(p);
                    }
                    b
                })?,
                Clause::NotMatchedInsert { predicate, set } => {
                    builder.when_not_matched_insert(|mut b| {
                        for (c, v) in set {
                            b = b.set(c, v);
                        }
                        if let Some(p) = predicate {
                            b = b.predicate(p);
                        }
                        b
                    })?
                }
                Clause::NotMatchedBySourceUpdate { predicate, set } => builder
                    .when_not_matched_by_source_update(|mut b| {
                        for (c, v) in set {
                            b = b.update(c, v);
                        }
                        if let Some(p) = predicate {
                            b = b.predicate(p);
                        }
                        b
                    })?,
                Clause::NotMatchedBySourceDelete { predicate } => builder
                    .when_not_matched_by_source_delete(|mut b| {
                        if let Some(p) = predicate {
                            b = b.predicate(p);
                        }
                        b
                    })?,
            };
        }
        let (table, m) = builder.await?;
        let report = WriteReport {
            operation: "MERGE".into(),
            table: self.name,
            version: table.version().unwrap_or(0),
            rows_inserted: m.num_target_rows_inserted as u64,
            rows_updated: m.num_target_rows_updated as u64,
            rows_deleted: m.num_target_rows_deleted as u64,
            files_added: m.num_target_files_added as u64,
            files_removed: m.num_target_files_removed as u64,
        };
        Ok((table, report))
    }

    /// Runs a `MERGE` statement: its source and clauses translated into a [`Merge`] (or,
    /// into a table without rows, an append; see [`merge_into_empty`]).
    pub async fn run_statement(
        ctx: &'a SessionContext,
        warehouse: &Warehouse,
        stmt: ast::Merge,
    ) -> Result<WriteReport> {
        let name = factor_name(&stmt.table)?;
        let target_alias = factor_alias(&stmt.table).unwrap_or_else(|| name.clone());
        let table = open_target(warehouse, &name).await?;
        let target_cols: Vec<String> = table
            .snapshot()?
            .snapshot()
            .arrow_schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();

        let (source_sql, default_alias) = match &stmt.source {
            TableFactor::Table { name, .. } => (format!("SELECT * FROM {name}"), object_name(name)),
            TableFactor::Derived { subquery, .. } => (subquery.to_string(), "source".to_string()),
            other => {
                return Err(Error::Unsupported(format!(
                    "MERGE source '{other}'; use a table name or a (subquery)"
                )));
            }
        };
        let source_alias = factor_alias(&stmt.source).unwrap_or(default_alias);
        if source_alias == target_alias {
            return Err(ExecError::MergeSameAlias(source_alias.to_string()).into());
        }
        if table.snapshot()?.log_data().num_files() == 0
            && let Some(report) = merge_into_empty(
                ctx,
                &table,
                &name,
                &stmt.clauses,
                &source_sql,
                &source_alias,
            )
            .await?
        {
            return Ok(report);
        }
        let source = ctx.sql(&source_sql).await?;
        let source_cols: Vec<String> = source
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let s = |c: &str| format!("{source_alias}.{}", quote::ident(c));

        let mut merge = Merge::new(ctx, table, name, source, stmt.on.to_string())
            .with_aliases(source_alias.clone(), target_alias);
        for clause in stmt.clauses {
            // deltalake parses clause predicates on its own: subqueries (e.g. `t.date IN
            // (SELECT …)` to limit a BY SOURCE delete to the dates a batch touched) are
            // evaluated first.
            let predicate = match clause.predicate {
                Some(p) => Some(subquery::resolve(ctx, p).await?),
                None => None,
            };
            let clause = match (clause.clause_kind, clause.action) {
                (MergeClauseKind::Matched, MergeAction::Update(u)) => Clause::MatchedUpdate {
                    predicate,
                    set: assignments(&u.assignments, &target_cols, &source_cols, &s)?,
                },
                (MergeClauseKind::Matched, MergeAction::Delete { .. }) => {
                    Clause::MatchedDelete { predicate }
                }
                (
                    MergeClauseKind::NotMatched | MergeClauseKind::NotMatchedByTarget,
                    MergeAction::Insert(ins),
                ) => {
                    let cols: Vec<String> = if ins.columns.is_empty() {
                        target_cols.clone()
                    } else {
                        ins.columns.iter().map(object_name).collect()
                    };
                    let values: Vec<String> = match ins.kind {
                        MergeInsertKind::Row => {
                            for c in &cols {
                                if !source_cols.contains(c) {
                                    return Err(
                                        ExecError::MergeInsertMissingColumn(c.to_string()).into()
                                    );
                                }
                            }
                            cols.iter().map(|c| s(c)).collect()
                        }
                        MergeInsertKind::Values(v) => {
                            let row: Vec<Expr> = v
                                .rows
                                .into_iter()
                                .next()
                                .map(|r| r.content)
                                .unwrap_or_default();
                            if row.len() != cols.len() {
                                return Err(ExecError::MergeInsertArity {
                                    columns: cols.len(),
                                    values: row.len(),
                                }
                                .into());
                            }
                            row.iter().map(|e| e.to_string()).collect()
                        }
                    };
                    Clause::NotMatchedInsert {
                        predicate,
                        set: cols.into_iter().zip(values).collect(),
                    }
                }
                (MergeClauseKind::NotMatchedBySource, MergeAction::Update(u)) => {
                    Clause::NotMatchedBySourceUpdate {
                        predicate,
                        set: assignments(&u.assignments, &target_cols, &source_cols, &s)?,
                    }
                }
                (MergeClauseKind::NotMatchedBySource, MergeAction::Delete { .. }) => {
                    Clause::NotMatchedBySourceDelete { predicate }
                }
                (kind, action) => {
                    return Err(Error::Unsupported(format!(
                        "WHEN {kind} THEN {action}; supported: WHEN MATCHED THEN UPDATE|DELETE, WHEN NOT MATCHED THEN INSERT, WHEN NOT MATCHED BY SOURCE THEN UPDATE|DELETE"
                    )));
                }
            };
            merge = merge.when(clause);
        }
        Ok(merge.execute().await?.1)
    }
}

/// A MERGE into a table without rows can only insert: every source row is "not matched" and no
/// target row exists for the other clauses. When its one insert clause is `INSERT *`, it is
/// written as an append of the (filtered) source, which skips the join — a pipeline's first
/// load of millions of rows is several times faster. `None`: take the general path.
async fn merge_into_empty(
    ctx: &SessionContext,
    table: &DeltaTable,
    name: &str,
    clauses: &[ast::MergeClause],
    source_sql: &str,
    source_alias: &str,
) -> Result<Option<WriteReport>> {
    let inserts: Vec<&ast::MergeClause> = clauses
        .iter()
        .filter(|c| {
            matches!(
                c.clause_kind,
                MergeClauseKind::NotMatched | MergeClauseKind::NotMatchedByTarget
            )
        })
        .collect();
    let [clause] = inserts.as_slice() else {
        return Ok(None);
    };
    let MergeAction::Insert(ins) = &clause.action else {
        return Ok(None);
    };
    if !ins.columns.is_empty() || !matches!(ins.kind, MergeInsertKind::Row) {
        return Ok(None);
    }
    let filter = match &clause.predicate {
        Some(p) => format!(" WHERE {}", subquery::resolve(ctx, p.clone()).await?),
        None => String::new(),
    };
    let source = ctx
        .sql(&format!(
            "SELECT * FROM ({source_sql}) AS {}{filter}",
            quote::ident(source_alias)
        ))
        .await?;
    let target = table.snapshot()?.snapshot().arrow_schema();
    let mut exprs = Vec::new();
    for f in target.fields() {
        if source
            .schema()
            .field_with_unqualified_name(f.name())
            .is_err()
        {
            return Err(ExecError::MergeInsertMissingColumn(f.name().to_string()).into());
        }
        exprs.push(
            datafusion::prelude::cast(datafusion::prelude::ident(f.name()), f.data_type().clone())
                .alias(f.name()),
        );
    }
    let plan = source.select(exprs)?.into_unoptimized_plan();
    let (_, mut report) = Append::plan(ctx, table.clone(), name, plan)
        .execute()
        .await?;
    report.operation = "MERGE".into();
    Ok(Some(report))
}

/// `SET c = v, …` (or `SET *`) as (column, expression) pairs.
fn assignments(
    list: &[ast::Assignment],
    target_cols: &[String],
    source_cols: &[String],
    s: &dyn Fn(&str) -> String,
) -> Result<Vec<(String, String)>> {
    let set_all = list.iter().any(|a| {
        matches!(&a.target, AssignmentTarget::ColumnName(c) if object_name(c) == SET_ALL_MARKER)
    });
    if set_all {
        return Ok(target_cols
            .iter()
            .filter(|c| source_cols.contains(c))
            .map(|c| (c.clone(), s(c)))
            .collect());
    }
    list.iter()
        .map(|a| match &a.target {
            AssignmentTarget::ColumnName(c) => Ok((object_name(c), a.value.to_string())),
            AssignmentTarget::Tuple(_) => Err(Error::Unsupported(
                "SET (a, b) = …; write one assignment per column".into(),
            )),
        })
        .collect()
}
