//! Reads what a commit did from the table's newest commitInfo, so every write statement can
//! report rows and files the same way whatever operation made it.

use deltalake::DeltaTable;
use futures::TryStreamExt;

use crate::error::Result;
use crate::exec::outcome::WriteReport;

fn metric(info: &deltalake::kernel::CommitInfo, keys: &[&str]) -> u64 {
    let Some(m) = info.info.get("operationMetrics") else {
        return 0;
    };
    keys.iter()
        .filter_map(|k| m.get(*k))
        .filter_map(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .sum()
}

/// Builds the report of the table's latest commit.
pub async fn last_commit_report(table: &DeltaTable, name: &str) -> Result<WriteReport> {
    let version = table.version().unwrap_or(0);
    let infos: Vec<_> = table.history(Some(1)).try_collect().await?;
    let Some(info) = infos.first() else {
        return Ok(WriteReport {
            table: name.into(),
            version,
            ..Default::default()
        });
    };
    Ok(WriteReport {
        operation: info.operation.clone().unwrap_or_default(),
        table: name.into(),
        version,
        rows_inserted: metric(
            info,
            &[
                "num_added_rows",
                "numOutputRows",
                "num_target_rows_inserted",
            ],
        ),
        rows_updated: metric(info, &["num_updated_rows", "num_target_rows_updated"]),
        rows_deleted: metric(info, &["num_deleted_rows", "num_target_rows_deleted"]),
        files_added: metric(
            info,
            &[
                "num_added_files",
                "numFiles",
                "numFilesAdded",
                "num_target_files_added",
                "num_files_added",
            ],
        ),
        files_removed: metric(
            info,
            &[
                "num_removed_files",
                "numFilesRemoved",
                "num_target_files_removed",
                "num_files_removed",
                "num_removed_file",
            ],
        ),
    })
}
