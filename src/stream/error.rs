//! Errors of the stream (`stockroom stream`): its source, its resume decision and the
//! tables it folds into. Messages as the user reads them; see src/error.rs for why inner
//! errors are fields, not `source()`.

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// `--input` names a directory, a device, a FIFO…
    #[error("{0} is not a regular file; the stream reads files (or stdin)")]
    NotARegularFile(String),

    /// `--follow` without `--input`.
    #[error("--follow needs --input FILE (stdin is followed anyway until it closes)")]
    FollowNeedsInput,

    /// The source cannot go on (a replaced or truncated file, a read error), in words.
    #[error("{0}")]
    Source(String),

    /// The recorded position and the input disagree: resuming would skip or repeat events.
    #[error("{0}")]
    ResumeRefused(String),

    /// A stream table without a column the stream writes.
    #[error("{table} has no column {column}")]
    MissingColumn { table: String, column: String },

    /// The `rejects` table has a column the stream does not fill.
    #[error("the {table} table has a column '{column}' the stream does not know")]
    UnknownColumn { table: String, column: String },

    /// A column read back with another type than the stream wrote (a bug or a hand edit).
    #[error("expected {0}")]
    UnexpectedType(&'static str),

    /// The Kafka source cannot go on (an unknown topic or partition, records removed before
    /// the stream applied them), in words.
    #[error("{0}")]
    Kafka(String),

    /// The Kafka connection settings are unusable (a CA file, a SASL mechanism).
    #[error("kafka settings: {0}")]
    KafkaConfig(String),

    /// An invariant of the stream that did not hold (a bug, not a user's mistake).
    #[error("internal: {0}")]
    Internal(String),
}
