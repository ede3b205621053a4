//! `DELETE FROM t [WHERE …]`, and deletes by predicate from Rust code (the stream's
//! recovery).

use std::sync::Arc;

use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{self, FromTable};
use deltalake::DeltaTable;
use deltalake::kernel::transaction::CommitProperties;

use super::{factor_name, open_target};
use crate::error::{Error, Result};
use crate::exec::outcome::WriteReport;
use crate::exec::parquet_props::writer_properties;
use crate::exec::subquery;
use crate::warehouse::Warehouse;

/// Deletes the rows of one table that match a predicate (all rows without one), in one
/// commit.
pub struct Delete<'a> {
    table: DeltaTable,
    name: String,
    ctx: Option<&'a SessionContext>,
    predicate: Option<String>,
    commit: Option<CommitProperties>,
}

impl<'a> Delete<'a> {
    pub fn new(table: DeltaTable, name: impl Into<String>) -> Self {
        Self {
            table,
            name: name.into(),
            ctx: None,
            predicate: None,
            commit: None,
        }
    }

    /// Builds the delete a `DELETE` statement asks for (its subqueries evaluated first).
    pub async fn from_statement(
        ctx: &'a SessionContext,
        warehouse: &Warehouse,
        stmt: ast::Delete,
    ) -> Result<Self> {
        let tables = match &stmt.from {
            FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
        };
        if tables.len() != 1 || stmt.using.is_some() || !tables[0].joins.is_empty() {
            return Err(Error::Unsupported(
                "DELETE with several tables, USING or joins; supported: DELETE FROM t [WHERE …] (use MERGE … WHEN MATCHED THEN DELETE to delete by a join)".into(),
            ));
        }
        let name = factor_name(&tables[0].relation)?;
        let table = open_target(warehouse, &name).await?;
        let mut delete = Self::new(table, name).with_session(ctx);
        if let Some(pred) = stmt.selection {
            delete = delete.with_predicate(subquery::resolve(ctx, pred).await?);
        }
        Ok(delete)
    }

    /// Plans with this session's settings and functions.
    pub fn with_session(mut self, ctx: &'a SessionContext) -> Self {
        self.ctx = Some(ctx);
        self
    }

    /// A SQL predicate over the table's columns.
    pub fn with_predicate(mut self, predicate: impl Into<String>) -> Self {
        self.predicate = Some(predicate.into());
        self
    }

    /// What the commit carries besides the removed and added files (application
    /// transactions).
    pub fn with_commit_properties(mut self, commit: CommitProperties) -> Self {
        self.commit = Some(commit);
        self
    }

    /// Commits; returns the table's new state and what the commit did.
    pub async fn execute(self) -> Result<(DeltaTable, WriteReport)> {
        let mut builder = self
            .table
            .delete()
            .with_writer_properties(writer_properties());
        if let Some(ctx) = self.ctx {
            builder = builder.with_session_state(Arc::new(ctx.state()));
        }
        if let Some(p) = self.predicate {
            builder = builder.with_predicate(p);
        }
        if let Some(c) = self.commit {
            builder = builder.with_commit_properties(c);
        }
        let (table, m) = builder.await?;
        let report = WriteReport {
            operation: "DELETE".into(),
            table: self.name,
            version: table.version().unwrap_or(0),
            rows_deleted: m.num_deleted_rows.unwrap_or(0) as u64,
            files_added: m.num_added_files as u64,
            files_removed: m.num_removed_files as u64,
            ..Default::default()
        };
        Ok((table, report))
    }
}
