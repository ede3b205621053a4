//! `DROP TABLE [IF EXISTS] t`: removes a warehouse table's directory, or forgets an
//! external table (its data stays).

use crate::error::{Error, Result};
use crate::exec::outcome::Outcome;
use crate::external;
use crate::warehouse::Warehouse;

pub async fn run(warehouse: &Warehouse, table: String, if_exists: bool) -> Result<Outcome> {
    if !warehouse.is_table(&table)
        && let Some(gone) = external::forget(warehouse, &table)?
    {
        return Ok(Outcome::Message(format!(
            "forgot external table {table} (its data at {} is untouched)",
            gone.location
        )));
    }
    if !warehouse.is_table(&table) {
        if if_exists {
            return Ok(Outcome::Message(format!(
                "table {table} does not exist, skipped"
            )));
        }
        return Err(Error::table_not_found(&table, warehouse));
    }
    let dir = warehouse.table_dir(&table);
    crate::storage::remove_dir_all(&dir)?;
    Ok(Outcome::Message(format!("dropped table {table}")))
}
