//! `stockroom serve`: the warehouse over the PostgreSQL wire protocol, for psql, DBeaver,
//! Metabase, Grafana and every Postgres driver.
//!
//! Each connection gets its own [`Executor`] (so session state such as `SET`, temporary
//! tables and time-travel snapshots never leak between clients, and the memory limit applies
//! to the one statement a connection runs at a time) plus the `pg_catalog` schema that
//! psql's `\dt` and `\d` and BI tools browse. All connections share the [`Limits`].

pub mod auth;
pub mod handler;
pub mod limits;
pub mod pg_catalog;

use std::io::BufReader;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion_postgres::pgwire;
use pgwire::tokio::tokio_rustls::rustls;
use tokio::net::TcpListener;

pub use auth::{Auth, PasswordHash, Users};
use handler::{Connection, Shared};
pub use limits::Limits;

use crate::error::{Error, Result};
use crate::exec::Executor;
use crate::session::SessionOptions;
use crate::warehouse::Warehouse;

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
}

impl Server {
    /// Checks the configuration and binds the address.
    pub async fn bind(config: ServeConfig) -> Result<Self> {
        if matches!(config.auth, Auth::None) && !config.listen.ip().is_loopback() {
            return Err(Error::Invalid(format!(
                "--no-auth is only allowed on a loopback address (127.0.0.1 or ::1), not {}; \
                 give users with --users FILE to listen there",
                config.listen
            )));
        }
        if let Auth::Users(u) = &config.auth
            && u.is_empty()
        {
            return Err(Error::Invalid(
                "no users: give --users FILE (or STOCKROOM_SERVE_USER and \
                 STOCKROOM_SERVE_PASSWORD_HASH), or --no-auth on a loopback address"
                    .into(),
            ));
        }
        let tls = config.tls.as_ref().map(load_tls).transpose()?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| Error::io(format!("listening on {}", config.listen), e))?;
        let limits = Limits::new(config.max_concurrent_queries, config.query_timeout)
            .map_err(|e| Error::io("starting the query threads", e))?;
        let shared = Arc::new(Shared::new(
            limits,
            auth::Startup::new(config.auth.clone()),
        )?);
        Ok(Self {
            listener,
            config,
            tls,
            shared,
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
                    let tls = self.tls.clone();
                    let config = self.config.clone();
                    let shared = self.shared.clone();
                    // The session is built in the connection's task, not here: the accept
                    // loop never waits for one connection's setup.
                    tokio::spawn(async move {
                        let _ = socket.set_nodelay(true);
                        let conn = match connection(&config, shared) {
                            Ok(c) => c,
                            Err(e) => {
                                tracing::warn!(%peer, "cannot open a session: {e}");
                                return;
                            }
                        };
                        if let Err(e) = pgwire::tokio::process_socket(socket, tls, conn).await {
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

/// A connection's own executor (read-only unless --allow-writes) with `pg_catalog`.
fn connection(config: &ServeConfig, shared: Arc<Shared>) -> Result<Connection> {
    let started = Instant::now();
    let exec =
        Executor::new(config.warehouse.clone(), &config.session)?.read_only(!config.allow_writes);
    let built = started.elapsed();
    shared.pg_catalog.install(exec.context())?;
    tracing::debug!(
        executor_ms = built.as_secs_f64() * 1000.0,
        total_ms = started.elapsed().as_secs_f64() * 1000.0,
        "session ready"
    );
    Ok(Connection::new(exec, shared))
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
        return Err(Error::Invalid(format!(
            "--tls-cert {}: no PEM certificate found",
            files.cert.display()
        )));
    }
    let key = rustls_pemfile::private_key(&mut open(&files.key, "key")?)
        .map_err(|e| Error::io(format!("reading TLS key {}", files.key.display()), e))?
        .ok_or_else(|| {
            Error::Invalid(format!(
                "--tls-key {}: no PEM private key (PKCS#8, PKCS#1 or SEC1) found",
                files.key.display()
            ))
        })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| Error::Invalid(format!("TLS certificate/key: {e}")))?;
    Ok(pgwire::tokio::TlsAcceptor::from(Arc::new(config)))
}
