//! Delta application transactions (`txn` actions): the exactly-once bookkeeping of a writer
//! that commits batches (the stream). Any commit can carry them
//! ([`CommitProperties::with_application_transactions`]); this module reads them back and
//! commits them alone when a batch changes no rows.

use deltalake::DeltaTable;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::protocol::{DeltaOperation, OutputMode};

use crate::error::Result;

/// The version last recorded for application `app` on this table state, if any.
pub async fn version(table: &DeltaTable, app: &str) -> Result<Option<i64>> {
    Ok(table
        .snapshot()?
        .transaction_version(table.log_store().as_ref(), app)
        .await?)
}

/// Commits the transactions of `commit` with no data change, as a streaming update of
/// `query_id` at `epoch`, and brings `table` up to the new version.
pub async fn commit_alone(
    table: &mut DeltaTable,
    commit: CommitProperties,
    query_id: &str,
    epoch: i64,
) -> Result<()> {
    let op = DeltaOperation::StreamingUpdate {
        output_mode: OutputMode::Append,
        query_id: query_id.into(),
        epoch_id: epoch,
    };
    CommitBuilder::from(commit)
        .with_actions(Vec::new())
        .build(Some(table.snapshot()?), table.log_store(), op)
        .await?;
    table.update_incremental(None).await?;
    Ok(())
}
