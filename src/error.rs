//! The library's error type. Every variant says what went wrong in the user's terms; the
//! binary adds file / line context at its edge.

use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum Error {
    /// A SQL statement could not be parsed or planned.
    #[error("{0}")]
    Sql(String),

    /// SQL that sqlparser's tokenizer rejects (an unclosed quote, a stray character), met
    /// before DataFusion parses: stockroom's own commands and rewrites look at tokens first.
    #[error("SQL syntax error: {0}")]
    Tokenize(datafusion::sql::sqlparser::tokenizer::TokenizerError),

    /// Syntax we recognise but do not support; the message names what is supported.
    #[error("unsupported: {0}")]
    Unsupported(String),

    /// A table name that is not in the warehouse catalog, with the nearest existing names.
    #[error(
        "table '{name}' not found in warehouse {warehouse}{} (SHOW TABLES lists them)",
        crate::suggest::did_you_mean(did_you_mean)
    )]
    TableNotFound {
        name: String,
        warehouse: String,
        did_you_mean: Vec<String>,
    },

    /// `${name}` used in SQL without a `--var name=…` or `\set name …`.
    #[error("undefined variable ${{{0}}}: pass --var {0}=VALUE (or \\set {0} VALUE in the REPL)")]
    UndefinedVariable(String),

    /// `${name}` inside `$tag$…$tag$` whose value holds the closing delimiter.
    #[error(
        "variable ${{{name}}} holds {delimiter}, which would end the dollar-quoted string it \
         stands in; use '…' quotes there (values are escaped inside them)"
    )]
    VariableEndsQuote { name: String, delimiter: String },

    /// `--format` with a name we do not print.
    #[error("unknown format '{0}': use table, csv, json or ndjson")]
    UnknownFormat(String),

    /// `--output FILE` with an extension we do not write.
    #[error(
        "--output {path}: unknown extension '{extension}'; use .parquet, .csv, .json or .ndjson"
    )]
    UnknownExtension { path: String, extension: String },

    /// Writing a Parquet result file (`--output x.parquet`).
    #[error("parquet: {0}")]
    Parquet(datafusion::parquet::errors::ParquetError),

    /// A `--memory-limit` / `--query-memory-limit` value that is not a size.
    #[error("--memory-limit '{0}': expected a size such as 512M or 2G")]
    MemoryLimit(String),

    /// `VERSION AS OF v` past the table's latest version.
    #[error("VERSION AS OF {version}: no such version, the latest is {latest}")]
    NoSuchVersion { version: u64, latest: u64 },

    /// `TIMESTAMP AS OF '…'` in a form we do not read.
    #[error("TIMESTAMP AS OF '{0}': expected 'YYYY-MM-DD HH:MM:SS' (UTC) or RFC 3339")]
    BadTimestamp(String),

    /// The stream's source, resume decision and tables (src/stream/error.rs).
    #[error(transparent)]
    Stream(#[from] crate::stream::error::StreamError),

    /// Where things live, beyond a failed request (src/storage/error.rs).
    #[error(transparent)]
    StorageUse(#[from] crate::storage::error::StorageError),

    /// A landing file whose bytes changed between the two reads of a streamed run (its hash,
    /// then its records): which content the ledger should record is unknowable.
    #[error(
        "landing file {0} changed while the run read it; a file must not be written once it is \
         in landing (write it elsewhere, or under a .tmp name, then rename it). Run the pipeline \
         again"
    )]
    LandingFileChanged(String),

    /// A warehouse directory without a `file://` URL (a relative path).
    #[error("not an absolute path: {0}")]
    NotAbsolute(String),

    /// An invariant of the program that did not hold (a bug, not a user's mistake).
    #[error("internal: {0}")]
    Internal(&'static str),

    /// A write statement on a read-only executor (the server's default). Holds the
    /// statement kind (INSERT, MERGE, CREATE, VACUUM, …).
    #[error(
        "{0} refused: this server is read-only (start `stockroom serve` with --allow-writes to permit writes)"
    )]
    ReadOnly(String),

    /// A file path the executor's policy does not allow (the server's `--allow-files`).
    #[error("{0}")]
    FileAccess(String),

    /// A `SET`/`RESET` the executor's policy does not allow (the server's own settings).
    #[error(
        "{0} refused: clients of this server may set only timezone, statement_timeout, \
         application_name and the client settings drivers send (datestyle, extra_float_digits, …)"
    )]
    SettingRefused(String),

    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),

    #[error(transparent)]
    Delta(#[from] deltalake::DeltaTableError),

    #[error(transparent)]
    Arrow(#[from] datafusion::arrow::error::ArrowError),

    /// The OS error is part of the message and deliberately not the error's `source()`:
    /// printing the chain (anyhow's `{:#}`) would repeat it.
    #[error("{context}: {cause}")]
    Io {
        context: String,
        cause: std::io::Error,
    },

    #[error(transparent)]
    Json(#[from] serde_json::Error),

    /// Manifests, models, the step graph and runs (src/pipeline/error.rs).
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::error::PipelineError),

    /// A warehouse location this build cannot serve (`gs://…`, `foo://…`): an error, never
    /// a local folder named after the scheme.
    #[error("warehouse location '{location}': {reason}")]
    UnsupportedLocation { location: String, reason: String },

    /// An object store that cannot be used as configured (no credentials, a bad option).
    #[error("{0}")]
    StorageConfig(String),

    /// A request to the object store failed. `hint` names the bucket and the variable to set,
    /// `cause` is the innermost cause in one line (S3's error code and message). The store's
    /// own error is kept in `store_error` but, like [`Error::Io`]'s, deliberately not as the
    /// error's `source()`: object_store nests its message three times, and printing the
    /// chain would repeat it.
    #[error("{context} ({hint}): {cause}")]
    Storage {
        context: String,
        hint: String,
        cause: String,
        store_error: Box<object_store::Error>,
    },

    /// Table writes, pinned reads, RESTORE, the file policy (src/exec/error.rs).
    #[error(transparent)]
    Exec(#[from] crate::exec::error::ExecError),

    /// External tables: their catalog file, CREATE, writes, loose Delta files
    /// (src/external/error.rs).
    #[error(transparent)]
    External(#[from] crate::external::error::ExternalError),

    /// The Postgres server's configuration and sessions (src/serve/error.rs).
    #[error(transparent)]
    Serve(#[from] crate::serve::error::ServeError),

    /// `--cluster` and `stockroom cluster …` (src/cluster/error.rs).
    #[error(transparent)]
    Cluster(#[from] crate::cluster::error::ClusterError),

    /// `\chart` and the report's charts (src/chart/error.rs).
    #[error(transparent)]
    Chart(#[from] crate::chart::error::ChartError),
}

impl Error {
    /// `name` is not a table of `warehouse`; suggests the nearest ones.
    pub fn table_not_found(name: &str, warehouse: &crate::warehouse::Warehouse) -> Self {
        let tables = warehouse.table_names();
        Error::TableNotFound {
            name: name.to_string(),
            warehouse: warehouse.root().display().to_string(),
            did_you_mean: crate::suggest::nearest(name, tables.iter().map(String::as_str)),
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            cause: source,
        }
    }
}
