//! Errors of the Postgres server: its configuration (addresses, users, TLS) and sessions.
//!
//! An inner error is kept whole as a field and is part of the message, not the `source()`
//! (the binary prints the chain; see `Error::Io` in src/error.rs).

use std::net::SocketAddr;

use datafusion_postgres::pgwire::tokio::tokio_rustls::rustls;

use super::auth::SCHEME;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// `--no-auth` with a non-loopback `--listen`.
    #[error(
        "--no-auth is only allowed on a loopback address (127.0.0.1 or ::1), not {0}; \
         give users with --users FILE to listen there"
    )]
    NoAuthOffLoopback(SocketAddr),

    /// Authentication on, but no user to log in as.
    #[error(
        "no users: give --users FILE (or STOCKROOM_SERVE_USER and \
         STOCKROOM_SERVE_PASSWORD_HASH), or --no-auth on a loopback address"
    )]
    NoUsers,

    /// A non-loopback `--listen` without TLS or `--allow-plaintext`.
    #[error(
        "listening on {0} without TLS would send passwords and results in clear text: \
         give --tls-cert and --tls-key, or --allow-plaintext on a trusted network"
    )]
    PlaintextOffLoopback(SocketAddr),

    /// The `--tls-cert` file holds no PEM certificate.
    #[error("--tls-cert {0}: no PEM certificate found")]
    NoCertificate(String),

    /// The `--tls-key` file holds no PEM private key.
    #[error("--tls-key {0}: no PEM private key (PKCS#8, PKCS#1 or SEC1) found")]
    NoPrivateKey(String),

    /// rustls refused the certificate / key pair.
    #[error("TLS certificate/key: {0}")]
    Tls(rustls::Error),

    /// `--hash-iterations 0`.
    #[error("password hash iterations must be at least 1")]
    HashIterations,

    /// The OS could not give random bytes for a salt.
    #[error("the system random generator failed")]
    Random,

    /// A password hash that is not `SCHEME$ITERATIONS$SALT$HASH`; holds its first characters.
    #[error(
        "password hash '{0}…' is not of the form {SCHEME}$ITERATIONS$SALT$HASH \
         (create one with `stockroom serve --hash-password`)"
    )]
    BadPasswordHash(String),

    /// The users file is not TOML of the expected shape.
    #[error("users file {path}: {error}\nexpected:\n[users]\nNAME = \"{SCHEME}$…\"")]
    UsersFile {
        path: String,
        error: Box<toml::de::Error>,
    },

    /// A user of the users file has an unusable password hash.
    #[error("users file {path}, user '{user}': {error}")]
    UserHash {
        path: String,
        user: String,
        error: Box<ServeError>,
    },

    /// A statement on a connection that has not finished logging in.
    #[error("not logged in")]
    NotLoggedIn,
}
