//! Appends rows to a table in one commit: the stream's side tables, and a MERGE into an
//! empty table (which can only insert). SQL `INSERT` goes through DataFusion's Delta
//! provider instead, which commits the same kind of append.

use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::protocol::SaveMode;

use crate::error::Result;
use crate::exec::outcome::WriteReport;
use crate::exec::parquet_props::writer_properties;
use crate::exec::report::last_commit_report;

/// What to append: batches built in memory, or a plan to run.
enum Input {
    Batches(Vec<RecordBatch>),
    Plan(LogicalPlan),
}

/// Appends rows to one table, in one commit.
pub struct Append<'a> {
    table: DeltaTable,
    name: String,
    input: Input,
    ctx: Option<&'a SessionContext>,
    commit: Option<CommitProperties>,
}

impl<'a> Append<'a> {
    /// Appends `batches` (in the table's schema).
    pub fn batches(table: DeltaTable, name: impl Into<String>, batches: Vec<RecordBatch>) -> Self {
        Self {
            table,
            name: name.into(),
            input: Input::Batches(batches),
            ctx: None,
            commit: None,
        }
    }

    /// Appends the rows `plan` produces, run in `ctx`.
    pub fn plan(
        ctx: &'a SessionContext,
        table: DeltaTable,
        name: impl Into<String>,
        plan: LogicalPlan,
    ) -> Self {
        Self {
            table,
            name: name.into(),
            input: Input::Plan(plan),
            ctx: Some(ctx),
            commit: None,
        }
    }

    /// What the commit carries besides the files (application transactions).
    pub fn with_commit_properties(mut self, commit: CommitProperties) -> Self {
        self.commit = Some(commit);
        self
    }

    /// Commits; returns the table's new state and what the commit did. The report is read
    /// from the commit's metrics only for plans (batches are counted here).
    pub async fn execute(self) -> Result<(DeltaTable, WriteReport)> {
        let (batches, plan) = match self.input {
            Input::Batches(b) => (b, None),
            Input::Plan(p) => (Vec::new(), Some(p)),
        };
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        let mut builder = self
            .table
            .write(batches)
            .with_writer_properties(writer_properties())
            .with_save_mode(SaveMode::Append);
        let from_plan = plan.is_some();
        if let Some(p) = plan {
            builder = builder.with_input_plan(p);
        }
        if let Some(ctx) = self.ctx {
            builder = builder.with_session_state(Arc::new(ctx.state()));
        }
        if let Some(c) = self.commit {
            builder = builder.with_commit_properties(c);
        }
        let table = builder.await?;
        let report = match from_plan {
            true => last_commit_report(&table, &self.name).await?,
            false => WriteReport {
                operation: "WRITE".into(),
                table: self.name,
                version: table.version().unwrap_or(0),
                rows_inserted: rows as u64,
                ..Default::default()
            },
        };
        Ok((table, report))
    }
}
