//! `RESTORE [TABLE] t TO VERSION AS OF n | TO TIMESTAMP AS OF 'ts'`: a new version with the
//! files of an old one.

use crate::catalog::VersionSpec;
use crate::error::Result;
use crate::exec::error::ExecError;
use crate::exec::outcome::{Outcome, WriteReport};
use crate::exec::write::open_target;
use crate::warehouse::Warehouse;

pub async fn run(warehouse: &Warehouse, table: String, to: VersionSpec) -> Result<Outcome> {
    let t = open_target(warehouse, &table).await?;
    let mut b = t.restore();
    b = match to {
        VersionSpec::Version(v) => b.with_version_to_restore(v),
        VersionSpec::Timestamp(ts) => {
            let ts = chrono::DateTime::parse_from_rfc3339(&ts)
                .map(|d| d.to_utc())
                .or_else(|_| {
                    chrono::NaiveDateTime::parse_from_str(&ts, "%Y-%m-%d %H:%M:%S")
                        .map(|n| n.and_utc())
                })
                .map_err(|_| ExecError::RestoreTimestamp(ts.clone()))?;
            b.with_datetime_to_restore(ts)
        }
        VersionSpec::Latest => b,
    };
    let (t, m) = b.await?;
    Ok(Outcome::Write(WriteReport {
        operation: "RESTORE".into(),
        table,
        version: t.version().unwrap_or(0),
        files_added: m.num_restored_file as u64,
        files_removed: m.num_removed_file as u64,
        ..Default::default()
    }))
}
