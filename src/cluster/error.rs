//! Errors of `--cluster` and `stockroom cluster …` (src/cluster/).

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A `--cluster` / `STOCKROOM_CLUSTER` value that is not `df://HOST:PORT`.
    #[error(
        "--cluster '{0}': expected df://HOST:PORT (the scheduler's address, e.g. df://127.0.0.1:50050)"
    )]
    BadAddress(String),

    /// This binary was built without Ballista.
    #[error(
        "{0}: this stockroom was built without cluster support; rebuild it with \
         `cargo build --features cluster`"
    )]
    NotBuilt(String),

    /// A Delta table whose features a plain list of Parquet files cannot honour.
    #[error(
        "table '{table}' cannot be read on the cluster: it uses {feature}, which the executors' \
         plain Parquet scan of its files cannot honour; run the statement without --cluster"
    )]
    UnsupportedTable { table: String, feature: String },

    /// A data file of a Delta table whose path or partition value cannot be resolved.
    #[error("table '{table}': cannot ship its file {file} to the cluster: {reason}")]
    BadFile {
        table: String,
        file: String,
        reason: String,
    },

    /// The scheduler or an executor failed a query (or could not be reached).
    #[error(
        "the cluster at {address} failed the query: {error} (is `stockroom cluster scheduler` \
         running there, with at least one `stockroom cluster executor`?)"
    )]
    Query {
        address: String,
        error: Box<datafusion::error::DataFusionError>,
    },

    /// A scheduler or executor that could not start or stopped with an error.
    #[error("cluster {role} on {listen}: {error}")]
    Node {
        role: &'static str,
        listen: String,
        error: String,
    },
}
