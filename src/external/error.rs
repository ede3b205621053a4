//! Errors of external tables: their catalog file, CREATE EXTERNAL TABLE, writes to a table
//! another engine owns, and Delta data read as loose files.
//!
//! An inner error is kept whole as a field and is part of the message, not the `source()`
//! (the binary prints the chain; see `Error::Io` in src/error.rs).

#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    /// `catalog/external_tables.json` is not JSON of the expected shape.
    #[error(
        "{path}:{}:{}: not a catalog of external tables: {error} (fix or remove the file; \
         it only records CREATE EXTERNAL TABLE statements)",
        error.line(),
        error.column()
    )]
    CatalogFile {
        path: String,
        error: serde_json::Error,
    },

    /// The catalog file's path has no directory to write it in.
    #[error("{0} has no parent")]
    NoParent(String),

    /// A write to an external table that was not created writable.
    #[error(
        "'{name}' is an external table ({format} at {location}): stockroom does not write to it, \
         another engine owns it. To allow writes, re-create it with \
         CREATE OR REPLACE EXTERNAL TABLE {name} STORED AS {format} LOCATION '…' \
         OPTIONS ('writable' 'true')"
    )]
    NotWritable {
        name: String,
        format: String,
        location: String,
    },

    /// A path that is, lies inside or holds a Delta table, read as loose files.
    /// `why` says which; `shown` is the table's root with a leading space, or empty when
    /// the path is the root itself.
    #[error(
        "'{written}' {why}{shown}: reading it as loose {format} files would count removed \
         and change-data files. Read it through its Delta log: \
         SELECT * FROM delta_scan('{root}') or \
         CREATE EXTERNAL TABLE name STORED AS DELTA LOCATION '{root}'"
    )]
    LooseDeltaFiles {
        written: String,
        why: &'static str,
        shown: String,
        format: String,
        root: String,
    },

    /// CREATE EXTERNAL TABLE with a name that cannot be a table name.
    #[error("external table name '{0}': use letters, digits, '_' or '-'")]
    InvalidName(String),

    /// CREATE EXTERNAL TABLE with the name of a warehouse table.
    #[error("'{0}' is already a Delta table of the warehouse; choose another name")]
    NameIsWarehouseTable(String),

    /// CREATE EXTERNAL TABLE (without OR REPLACE / IF NOT EXISTS) on an existing one.
    #[error(
        "external table '{name}' already exists ({format} at {location}): DROP TABLE {name} first \
         (its data stays) or use CREATE OR REPLACE EXTERNAL TABLE"
    )]
    Exists {
        name: String,
        format: String,
        location: String,
    },

    /// STORED AS DELTA on a directory without a Delta log.
    #[error(
        "CREATE EXTERNAL TABLE {name} STORED AS DELTA: {dir} holds no _delta_log/, so it \
         is not a Delta table (for plain files use STORED AS PARQUET / CSV / JSON)"
    )]
    NotDelta { name: String, dir: String },
}
