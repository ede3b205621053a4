//! Delta maintenance and inspection, one file per command of
//! [`Command`](crate::sql::command::Command) (parsed by the statement layer):
//!
//! | command                         | file             |
//! |---------------------------------|------------------|
//! | `OPTIMIZE t [ZORDER BY …]`      | [`optimize`]     |
//! | `VACUUM t [RETAIN n HOURS] …`   | [`vacuum`]       |
//! | `RESTORE t TO VERSION AS OF n`  | [`restore`]      |
//! | `DESCRIBE HISTORY t`            | [`history`]      |
//! | `DESCRIBE t`                    | [`describe`]     |
//! | `DROP TABLE t`                  | [`drop`]         |
//!
//! and two readers that are not statements: the shell's `\\d` ([`list_tables`]) and the
//! change data feed behind `table_changes()` ([`changes`]).

pub mod changes;
pub mod describe;
pub mod drop_table;
pub mod history;
pub mod list_tables;
pub mod optimize;
pub mod restore;
pub mod vacuum;

use datafusion::prelude::SessionContext;
use futures::TryStreamExt;

use crate::error::Result;
use crate::exec::outcome::Outcome;
use crate::sql::command::Command;
use crate::warehouse::Warehouse;

/// Runs one command: each variant goes to its own file.
pub async fn run(ctx: &SessionContext, warehouse: &Warehouse, cmd: Command) -> Result<Outcome> {
    match cmd {
        Command::Optimize { table, zorder } => optimize::run(ctx, warehouse, table, zorder).await,
        Command::Vacuum {
            table,
            retain_hours,
            dry_run,
        } => vacuum::run(warehouse, table, retain_hours, dry_run).await,
        Command::Restore { table, to } => restore::run(warehouse, table, to).await,
        Command::History { table, limit } => history::run(warehouse, &table, limit).await,
        Command::Describe { table } => describe::run(warehouse, &table).await,
        Command::Drop { table, if_exists } => drop_table::run(warehouse, table, if_exists).await,
    }
}

/// "timestamp operation" of the table's newest commit.
pub(crate) async fn last_commit(t: &deltalake::DeltaTable) -> Result<String> {
    let info: Vec<_> = t.history(Some(1)).try_collect().await?;
    Ok(info
        .first()
        .map(|i| {
            format!(
                "{} {}",
                i.timestamp
                    .and_then(chrono::DateTime::from_timestamp_millis)
                    .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default(),
                i.operation.clone().unwrap_or_default()
            )
        })
        .unwrap_or_default())
}
