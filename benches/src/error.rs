//! What can go wrong while generating data.

/// A generator's error: a spec it cannot generate, or a file it cannot write.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec asks for something impossible; the message names the field and the range.
    #[error("{0}")]
    Spec(String),

    /// The OS error is part of the message and deliberately not the error's `source()`:
    /// printing the chain (anyhow's `{:#}`) would repeat it.
    #[error("{context}: {cause}")]
    Io {
        context: String,
        cause: std::io::Error,
    },
}

impl Error {
    pub fn io(context: impl Into<String>, cause: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            cause,
        }
    }
}
