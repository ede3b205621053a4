//! `OPTIMIZE t [ZORDER BY (a, b)]`: compacts small files (or Z-orders them) in one commit.

use std::sync::Arc;

use datafusion::prelude::SessionContext;
use deltalake::operations::optimize::OptimizeType;

use crate::error::Result;
use crate::exec::outcome::{Outcome, WriteReport};
use crate::exec::parquet_props::writer_properties;
use crate::exec::write::open_target;
use crate::warehouse::Warehouse;

pub async fn run(
    ctx: &SessionContext,
    warehouse: &Warehouse,
    table: String,
    zorder: Vec<String>,
) -> Result<Outcome> {
    let t = open_target(warehouse, &table).await?;
    let mut b = t
        .optimize()
        .with_session_state(Arc::new(ctx.state()))
        .with_writer_properties(writer_properties());
    if !zorder.is_empty() {
        b = b.with_type(OptimizeType::ZOrder(zorder));
    }
    let (t, m) = b.await?;
    Ok(Outcome::Write(WriteReport {
        operation: "OPTIMIZE".into(),
        table,
        version: t.version().unwrap_or(0),
        files_added: m.num_files_added,
        files_removed: m.num_files_removed,
        ..Default::default()
    }))
}
