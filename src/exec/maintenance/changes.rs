//! The change data feed behind `table_changes()`.

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;

use crate::catalog::VersionSpec;
use crate::error::Result;
use crate::external::open_readable;
use crate::warehouse::Warehouse;

/// Rows of the change data feed between two versions (inclusive), with `_change_type`,
/// `_commit_version` and `_commit_timestamp`.
pub async fn read(
    ctx: &SessionContext,
    warehouse: &Warehouse,
    table: &str,
    start: u64,
    end: Option<u64>,
) -> Result<Vec<RecordBatch>> {
    let t = open_readable(warehouse, table, &VersionSpec::Latest).await?;
    let mut b = t.scan_cdf().with_starting_version(start);
    if let Some(e) = end {
        b = b.with_ending_version(e);
    }
    let state = ctx.state();
    let plan = b.build(&state, None).await?;
    Ok(datafusion::physical_plan::collect(plan, ctx.task_ctx()).await?)
}
