//! `stockroom serve`: the warehouse over the PostgreSQL wire protocol, for psql, DBeaver,
//! Metabase, Grafana and every Postgres driver.
//!
//! The server refuses before it trusts (see the README's "Security model"): nothing but
//! startup and password messages before a login ([`connection`]), a session only after it
//! ([`auth`]), statements checked on their whole plan against the server's [`Policy`]
//! (read-only, files only inside `--allow-files`, settings from an allow-list:
//! [`settings`]), bound parameters as values, results streamed within [`Limits`].
//!
//! Each logged-in connection gets its own [`Executor`] (so session state such as `SET`,
//! time-travel snapshots and prepared statements never leak between clients, and the
//! memory limit applies to the one statement a connection runs at a time) plus the
//! `pg_catalog` schema that psql's `\dt` and `\d` and BI tools browse.

pub mod auth;
pub mod connection;
pub mod error;
pub mod handler;
pub mod limits;
pub mod pg_catalog;
pub mod settings;

use std::io::BufReader;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion_postgres::pgwire;
use pgwire::tokio::tokio_rustls::rustls;
use tokio::net::TcpListener;

pub use auth::{Auth, PasswordHash, Users};
use handler::{Connection, Shared, SharedConfig};
pub use limits::Limits;

use crate::error::{Error, Result};
use crate::exec::{FileAccess, Policy};
use crate::session::SessionOptions;
use crate::warehouse::Warehouse;
use error::ServeError;

/// Everything `stockroom serve` is told.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub warehouse: Warehouse,
    /// Per connection, so the memory limit is per statement.
    pub session: SessionOptions,
    pub allow_writes: bool,
    pub auth: Auth,
    pub tls: Option<TlsFiles>,
    pub query_timeout: Option<Duration>,
    pub max_concurrent_queries: usize,
    /// How long running statements may take to finish after SIGINT/SIGTERM.
    pub shutdown_grace: Duration,
    /// Directories whose files may be queried by path (none: no file paths at all).
    pub allow_files: Vec<PathBuf>,
    /// Accept logins without TLS on a server that has a certificate, and listen on a
    /// non-loopback address without one.
    pub allow_plaintext: bool,
    /// Connections open at once; more are refused (SQLSTATE 53300).
    pub max_connections: usize,
    /// A connection must have logged in within this time.
    pub login_timeout: Duration,
    /// Refuse results with more rows than this.
    pub max_result_rows: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A bound server, not yet accepting.
pub struct Server {
    listener: TcpListener,
    config: ServeConfig,
    tls: Option<pgwire::tokio::TlsAcceptor>,
    shared: Arc<Shared>,
    connections: Arc<tokio::sync::Semaphore>,
}

impl Server {
    /// Checks the configuration and binds the address.
    pub async fn bind(config: ServeConfig) -> Result<Self> {
        if matches!(config.auth, Auth::None) && !config.listen.ip().is_loopback() {
            return Err(ServeError::NoAuthOffLoopback(config.listen).into());
        }
        if let Auth::Users(u) = &config.auth
            && u.is_empty()
        {
            return Err(ServeError::NoUsers.into());
        }
        if config.tls.is_none() && !config.listen.ip().is_loopback() && !config.allow_plaintext {
            return Err(ServeError::PlaintextOffLoopback(config.listen).into());
        }
        let files = FileAccess::within(&config.allow_files)?;
        let tls = config.tls.as_ref().map(load_tls).transpose()?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| Error::io(format!("listening on {}", config.listen), e))?;
        let limits = Limits::new(
            config.max_concurrent_queries,
            config.query_timeout,
            config.max_result_rows,
        )
        .map_err(|e| Error::io("starting the query threads", e))?;
        let shared = Arc::new(Shared::new(SharedConfig {
            limits,
            auth: config.auth.clone(),
            require_tls: tls.is_some() && !config.allow_plaintext,
            warehouse: config.warehouse.clone(),
            session: config.session.clone(),
            policy: Policy::server(!config.allow_writes, files),
        })?);
        let connections = Arc::new(tokio::sync::Semaphore::new(config.max_connections.max(1)));
        Ok(Self {
            listener,
            config,
            tls,
            shared,
            connections,
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener
            .local_addr()
            .map_err(|e| Error::io("reading the listening address", e))
    }

    /// Accepts connections until `shutdown` completes, then lets running statements finish
    /// (up to the grace period) and returns.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> Result<()> {
        let addr = self.local_addr()?;
        tracing::info!(
            %addr,
            tls = self.tls.is_some(),
            auth = match &self.config.auth {
                Auth::Users(u) => format!("{} user(s)", u.len()),
                Auth::None => "none".into(),
            },
            read_only = !self.config.allow_writes,
            max_connections = self.config.max_connections,
            max_concurrent_queries = self.shared.limits.max_concurrent(),
            query_timeout = ?self.shared.limits.timeout(),
            "stockroom serve: listening"
        );
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = self.listener.accept() => {
                    let (socket, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // Out of file descriptors and the like: back off, keep serving.
                            tracing::warn!("accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let Ok(slot) = self.connections.clone().try_acquire_owned() else {
                        tracing::warn!(%peer, max = self.config.max_connections, "connection refused: too many connections");
                        tokio::spawn(refuse(socket));
                        continue;
                    };
                    let tls = self.tls.clone();
                    let shared = self.shared.clone();
                    let options = connection::LoopOptions {
                        login_timeout: self.config.login_timeout,
                    };
                    // Nothing is built for a connection before its login: the handlers
                    // hold only its state.
                    tokio::spawn(async move {
                        let _slot = slot;
                        let handlers = Connection::new(shared, connection::ConnState::new(peer));
                        if let Err(e) = connection::serve_socket(socket, tls, handlers, options).await {
                            tracing::debug!(%peer, "connection ended: {e}");
                        }
                    });
                }
            }
        }
        drop(self.listener);
        let limits = &self.shared.limits;
        limits.begin_shutdown();
        let running = limits.running();
        tracing::info!(
            running,
            grace = ?self.config.shutdown_grace,
            "shutting down: no new connections or statements"
        );
        let deadline = Instant::now() + self.config.shutdown_grace;
        if limits.wait_idle(deadline).await {
            // Let the last results reach their clients.
            tokio::time::sleep(Duration::from_millis(200)).await;
            tracing::info!("shut down cleanly");
        } else {
            tracing::warn!(
                running = limits.running(),
                "shut down with statements still running after the grace period"
            );
        }
        Ok(())
    }
}

/// Tells a client over the connection cap why it is turned away, then closes.
async fn refuse(mut socket: tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt;
    let bytes = connection::fatal_bytes(
        "53300",
        "sorry, too many connections to this server (its --max-connections); try again later",
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), socket.write_all(&bytes)).await;
    let _ = socket.shutdown().await;
}

/// Binds and serves until SIGINT or SIGTERM.
pub async fn serve(config: ServeConfig) -> Result<()> {
    let server = Server::bind(config).await?;
    server.run(shutdown_signal()).await
}

pub use crate::signal::shutdown_signal;

fn load_tls(files: &TlsFiles) -> Result<pgwire::tokio::TlsAcceptor> {
    let open = |p: &Path, what: &str| {
        std::fs::File::open(p)
            .map(BufReader::new)
            .map_err(|e| Error::io(format!("reading TLS {what} {}", p.display()), e))
    };
    let certs = rustls_pemfile::certs(&mut open(&files.cert, "certificate")?)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| {
            Error::io(
                format!("reading TLS certificate {}", files.cert.display()),
                e,
            )
        })?;
    if certs.is_empty() {
        return Err(ServeError::NoCertificate(files.cert.display().to_string()).into());
    }
    let key = rustls_pemfile::private_key(&mut open(&files.key, "key")?)
        .map_err(|e| Error::io(format!("reading TLS key {}", files.key.display()), e))?
        .ok_or_else(|| ServeError::NoPrivateKey(files.key.display().to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(ServeError::Tls)?;
    Ok(pgwire::tokio::TlsAcceptor::from(Arc::new(config)))
}
