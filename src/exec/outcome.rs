//! What a statement produced, for the front ends to print.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use serde::Serialize;

#[derive(Debug)]
pub enum Outcome {
    /// A result set.
    Rows {
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    },
    /// A Delta commit.
    Write(WriteReport),
    /// Anything else that only needs a line of text (DDL, `SET`, a dry run).
    Message(String),
}

impl Outcome {
    pub fn row_count(&self) -> usize {
        match self {
            Outcome::Rows { batches, .. } => batches.iter().map(|b| b.num_rows()).sum(),
            _ => 0,
        }
    }
}

/// What one write statement did: one atomic Delta commit.
#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct WriteReport {
    pub operation: String,
    pub table: String,
    pub version: u64,
    pub rows_inserted: u64,
    pub rows_updated: u64,
    pub rows_deleted: u64,
    pub files_added: u64,
    pub files_removed: u64,
}

impl std::fmt::Display for WriteReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {} inserted, {} updated, {} deleted; files +{} -{}; version {}",
            self.operation,
            self.table,
            self.rows_inserted,
            self.rows_updated,
            self.rows_deleted,
            self.files_added,
            self.files_removed,
            self.version
        )
    }
}
