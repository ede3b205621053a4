//! Keeping a long-running stream's tables fast to read: every `every` micro-batches the
//! stream compacts the small files its commits left (OPTIMIZE, bin-packing), writes a
//! checkpoint (a reader then loads one Parquet file plus the few commits after it instead
//! of every JSON commit) and removes log files older than the table's log retention
//! (`delta.logRetentionDuration`, 30 days by default, so time travel and the change feed
//! keep their history).

use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use deltalake::protocol::checkpoints::{cleanup_metadata, create_checkpoint};

use crate::error::Result;
use crate::exec::maintenance::optimize::Optimize;
use crate::pipeline::run::REJECTS;
use crate::stream::PIPELINE;
use crate::stream::commit::{EVENTS, INVENTORY, Tables};

/// What one maintenance pass did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Maintenance {
    pub files_removed: u64,
    pub files_added: u64,
    pub logs_removed: u64,
}

async fn compact(
    ctx: &SessionContext,
    t: DeltaTable,
    name: &str,
    partition: Option<&str>,
    m: &mut Maintenance,
) -> Result<DeltaTable> {
    let mut optimize = Optimize::new(ctx, t, name);
    if let Some(p) = partition {
        optimize = optimize.with_partition("pipeline", p);
    }
    let (t, report) = optimize.execute().await?;
    m.files_removed += report.files_removed;
    m.files_added += report.files_added;
    create_checkpoint(&t, None).await?;
    m.logs_removed += cleanup_metadata(&t, None).await? as u64;
    Ok(t)
}

/// Compacts and checkpoints the stream's tables (only this pipeline's partition of the
/// shared `rejects`).
pub async fn run(ctx: &SessionContext, tables: &mut Tables) -> Result<Maintenance> {
    let mut m = Maintenance::default();
    tables.inventory = compact(ctx, tables.inventory.clone(), INVENTORY, None, &mut m).await?;
    tables.events = compact(ctx, tables.events.clone(), EVENTS, None, &mut m).await?;
    if let Some(r) = tables.rejects.take() {
        tables.rejects = Some(compact(ctx, r, REJECTS, Some(PIPELINE), &mut m).await?);
    }
    Ok(m)
}
