//! SQL writes translated to deltalake operations, one module per operation, each with one
//! builder-like entry point (as delta-rs gives each table operation one builder):
//!
//! | module     | entry point     | SQL                                         |
//! |------------|-----------------|---------------------------------------------|
//! | [`create`] | [`CreateTable`] | `CREATE [OR REPLACE] TABLE … [AS SELECT …]` |
//! | [`delete`] | [`Delete`]      | `DELETE FROM t [WHERE …]`                   |
//! | [`update`] | [`Update`]      | `UPDATE t SET … [WHERE …]`                  |
//! | [`merge`]  | [`Merge`]       | `MERGE INTO t USING s ON … WHEN …`          |
//! | [`append`] | [`Append`]      | a MERGE into an empty table                 |
//!
//! The stream commits through the same builders (with its application transactions, see
//! [`transactions`]), so there is one write path for SQL and Rust code.
//!
//! DataFusion plans these statements but its Delta provider executes none of them except
//! INSERT; here each one becomes exactly one atomic Delta commit.

pub mod append;
pub mod create;
pub mod delete;
pub mod merge;
pub mod transactions;
pub mod update;

pub use append::Append;
pub use create::{CreateMode, CreateTable};
pub use delete::Delete;
pub use merge::{Merge, SET_ALL_MARKER};
pub use update::Update;

use datafusion::sql::sqlparser::ast::{ObjectName, TableFactor};
use deltalake::DeltaTable;
use url::Url;

use crate::error::{Error, Result};
use crate::exec::error::ExecError;
use crate::warehouse::{Warehouse, valid_table_name};

/// Last part of a possibly qualified name, normalised like DataFusion does (unquoted →
/// lower case).
pub fn object_name(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| {
            if i.quote_style.is_some() {
                i.value.clone()
            } else {
                i.value.to_ascii_lowercase()
            }
        })
        .unwrap_or_default()
}

/// The directory of warehouse table `name` as a URL, created if missing.
fn table_url(warehouse: &Warehouse, name: &str) -> Result<Url> {
    if !valid_table_name(name) {
        return Err(ExecError::InvalidTableName(name.to_string()).into());
    }
    let dir = warehouse.table_dir(name);
    crate::storage::create_dir_all(&dir)?;
    crate::storage::dir_url(&dir)
}

/// Opens a table for writing: a warehouse table, or an external Delta table created
/// writable; says why not otherwise (no such table, an external table of another engine).
pub async fn open_target(warehouse: &Warehouse, name: &str) -> Result<DeltaTable> {
    crate::external::open_writable(warehouse, name).await
}

/// The table a write statement names.
fn factor_name(f: &TableFactor) -> Result<String> {
    match f {
        TableFactor::Table { name, .. } => Ok(object_name(name)),
        other => Err(Error::Unsupported(format!(
            "'{other}' as a write target; name a warehouse table"
        ))),
    }
}

fn factor_alias(f: &TableFactor) -> Option<String> {
    match f {
        TableFactor::Table { alias, .. } | TableFactor::Derived { alias, .. } => {
            alias.as_ref().map(|a| a.name.value.clone())
        }
        _ => None,
    }
}
