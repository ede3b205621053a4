//! Errors of `\chart` and the report's charts: what to draw is missing or not numeric.
//!
//! An inner error is kept whole as a field and is part of the message, not the `source()`
//! (the binary prints the chain; see `Error::Io` in src/error.rs).

use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::error::ArrowError;

use super::command::USAGE;

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// `\chart` before any query.
    #[error("\\chart draws the last result, and there is none yet: run a query first ({USAGE})")]
    NoResult,

    /// `\chart … >` without a file name.
    #[error("\\chart: '>' needs a file name ({USAGE})")]
    NoFileName,

    /// A named column the last result does not have.
    #[error("no column '{name}' in the last result; its columns are: {columns}")]
    NoColumn { name: String, columns: String },

    /// The last result has no columns at all.
    #[error("the last result has no columns")]
    NoColumns,

    /// No y column given and none numeric besides x.
    #[error(
        "nothing to chart: the last result has no numeric column besides '{0}'; name the y columns: \\chart [line|bar] X Y…"
    )]
    NothingNumeric(String),

    /// A y column that Arrow cannot cast to numbers.
    #[error("column '{name}' ({data_type}) has no numeric values to chart: {error}")]
    NotNumeric {
        name: String,
        data_type: DataType,
        error: ArrowError,
    },

    /// A cast to Float64 that did not give a Float64 array.
    #[error("column '{0}' did not convert to numbers")]
    NotFloat(String),
}
