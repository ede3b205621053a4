//! `OPTIMIZE t [ZORDER BY (a, b)]`: compacts small files (or Z-orders them) in one commit.
//! The stream compacts its tables through the same [`Optimize`].

use std::sync::Arc;

use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use deltalake::kernel::schema::partitions::{FilterOp, FilterValue};
use deltalake::operations::optimize::OptimizeType;

use crate::error::Result;
use crate::exec::outcome::{Outcome, WriteReport};
use crate::exec::parquet_props::writer_properties;
use crate::exec::write::open_target;
use crate::warehouse::Warehouse;

/// Compacts one table (or one partition of it), in one commit.
pub struct Optimize<'a> {
    ctx: &'a SessionContext,
    table: DeltaTable,
    name: String,
    zorder: Vec<String>,
    /// Only the files of this (column, value) partition.
    partition: Option<(String, String)>,
}

impl<'a> Optimize<'a> {
    pub fn new(ctx: &'a SessionContext, table: DeltaTable, name: impl Into<String>) -> Self {
        Self {
            ctx,
            table,
            name: name.into(),
            zorder: Vec::new(),
            partition: None,
        }
    }

    /// Z-orders by these columns instead of bin-packing.
    pub fn with_zorder(mut self, columns: Vec<String>) -> Self {
        self.zorder = columns;
        self
    }

    /// Compacts only the partition where `column = value`.
    pub fn with_partition(mut self, column: impl Into<String>, value: impl Into<String>) -> Self {
        self.partition = Some((column.into(), value.into()));
        self
    }

    pub async fn execute(self) -> Result<(DeltaTable, WriteReport)> {
        let filters;
        let mut b = self
            .table
            .optimize()
            .with_session_state(Arc::new(self.ctx.state()))
            .with_writer_properties(writer_properties());
        if !self.zorder.is_empty() {
            b = b.with_type(OptimizeType::ZOrder(self.zorder));
        }
        if let Some((column, value)) = &self.partition {
            filters = [(
                column.as_str(),
                FilterOp::Eq,
                FilterValue::Scalar(value.as_str()),
            )];
            b = b.with_filters(&filters);
        }
        let (t, m) = b.await?;
        let report = WriteReport {
            operation: "OPTIMIZE".into(),
            table: self.name,
            version: t.version().unwrap_or(0),
            files_added: m.num_files_added,
            files_removed: m.num_files_removed,
            ..Default::default()
        };
        Ok((t, report))
    }
}

pub async fn run(
    ctx: &SessionContext,
    warehouse: &Warehouse,
    table: String,
    zorder: Vec<String>,
) -> Result<Outcome> {
    let t = open_target(warehouse, &table).await?;
    let (_, report) = Optimize::new(ctx, t, table)
        .with_zorder(zorder)
        .execute()
        .await?;
    Ok(Outcome::Write(report))
}
