//! Errors of the executor layer: table writes (CREATE, MERGE), pinned reads (time travel,
//! `delta_scan`), RESTORE and the file policy.
//!
//! As in the rest of the library (see `Error::Io` in src/error.rs), an inner error is kept
//! whole as a field, so callers can match on it, and is part of the message. It is
//! deliberately not the `source()`: the binary prints the chain (`{:#}`), which would
//! repeat it, and the shell and the server print the message alone.

use crate::catalog::VersionSpec;

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// A table name that cannot be a directory of the warehouse.
    #[error("'{0}' is not a valid table name (letters, digits, _ and -)")]
    InvalidTableName(String),

    /// The warehouse's table directory is not an absolute path, so it has no URL.
    #[error("not an absolute path: {0}")]
    NotAbsolute(String),

    /// `CREATE TABLE name` where `name` is an external table.
    #[error(
        "'{0}' is an external table; choose another name for the warehouse table \
         (or DROP TABLE {0} first: that forgets the external table, its data stays)"
    )]
    NameIsExternal(String),

    /// `CREATE TABLE name` (without OR REPLACE / IF NOT EXISTS) on an existing table.
    #[error(
        "table '{0}' already exists; use CREATE OR REPLACE TABLE to overwrite it or INSERT INTO to append"
    )]
    TableExists(String),

    /// `PARTITIONED BY` names a column the table does not have.
    #[error("PARTITIONED BY column '{column}' is not a column of the table (columns: {columns})")]
    UnknownPartitionColumn { column: String, columns: String },

    /// A column type Delta cannot store.
    #[error("cannot store these column types in Delta: {0}")]
    DeltaTypes(deltalake::arrow::error::ArrowError),

    /// `MERGE … USING t AS x` where the target is called `x` too.
    #[error("MERGE source and target are both called '{0}'; give one an alias")]
    MergeSameAlias(String),

    /// `WHEN NOT MATCHED THEN INSERT *` with a target column the source lacks.
    #[error("INSERT *: target column '{0}' is not a column of the MERGE source")]
    MergeInsertMissingColumn(String),

    /// `WHEN NOT MATCHED THEN INSERT (cols) VALUES (…)` with counts that differ.
    #[error("MERGE INSERT has {columns} columns but {values} values")]
    MergeInsertArity { columns: usize, values: usize },

    /// A table pinned to a version or timestamp (`AS OF`) could not be opened.
    #[error("{table} {spec:?}: {error}")]
    PinnedTable {
        table: String,
        spec: VersionSpec,
        error: Box<crate::error::Error>,
    },

    /// `delta_scan('path')` on a directory without a Delta log.
    #[error("delta_scan('{0}'): no Delta table there (no _delta_log/ directory)")]
    NoDeltaLog(String),

    /// `delta_scan('path')` on a Delta table that could not be opened (at that version).
    #[error("delta_scan('{path}') {spec:?}: {error}")]
    DeltaScan {
        path: String,
        spec: VersionSpec,
        error: Box<crate::error::Error>,
    },

    /// `RESTORE … TO TIMESTAMP AS OF` with a timestamp we cannot read.
    #[error("RESTORE TO TIMESTAMP AS OF '{0}': expected 'YYYY-MM-DD HH:MM:SS'")]
    RestoreTimestamp(String),

    /// `--allow-files DIR` where DIR is a file.
    #[error("--allow-files {0}: not a directory")]
    AllowFilesNotDir(String),
}
