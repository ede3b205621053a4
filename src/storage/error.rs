//! Errors of "where things live" that are not a failed request (those are `Error::Storage`).

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A location that does not parse as a URL.
    #[error("not a URL: {text}: {error}")]
    NotAUrl {
        text: String,
        error: url::ParseError,
    },

    /// A text file (a summary, the external catalog, …) that is not UTF-8.
    #[error("{0} is not UTF-8 text")]
    NotUtf8(String),

    /// A file moved or read that another process removed meanwhile.
    #[error("cannot move {0}: it is gone")]
    GoneBeforeMove(String),

    /// A file removed while it was being downloaded.
    #[error("{0} vanished while being read")]
    Vanished(String),

    /// An append to an object that others kept rewriting (20 conditional puts lost).
    #[error("cannot append to {0}: it kept changing (20 tries)")]
    AppendContended(String),
}
