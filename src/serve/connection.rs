//! One client connection, from accept to close: our own message loop over pgwire's
//! building blocks (TLS negotiation, message dispatch, error replies), because the loop
//! is where trust is decided:
//!
//! - before a successful login only startup, password and cancel messages are processed;
//!   anything else, and any failed login, closes the connection (pgwire's own loop keeps
//!   reading after a FATAL, and would run the next query);
//! - the login must finish within `--login-timeout`;
//! - a client that hangs up stops its running statement (the socket is watched for the
//!   peer's close while a statement runs, not only when results are written);
//! - a CancelRequest (psql's Ctrl-C) stops the statement of the connection it names.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use datafusion_postgres::pgwire;
use futures::{SinkExt, StreamExt};
use pgwire::api::NoopHandler;
use pgwire::error::{ErrorInfo, PgWireError};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::tokio::server::{negotiate_tls, process_error, process_message};
use tokio::net::TcpStream;

use super::handler::{Connection, Prepared};
use super::limits::StopSignal;
use crate::exec::Executor;

/// What one connection knows about itself; shared by its loop and its handlers.
pub struct ConnState {
    pub peer: SocketAddr,
    authenticated: AtomicBool,
    /// Built only after a successful login.
    exec: OnceLock<Arc<Executor>>,
    user: OnceLock<String>,
    pub stop: StopSignal,
    /// The client's `SET statement_timeout` (the server's maximum still applies).
    statement_timeout: Mutex<Option<Duration>>,
    cancel: Mutex<Option<(i32, Arc<CancelRegistry>)>>,
}

impl ConnState {
    pub fn new(peer: SocketAddr) -> Arc<Self> {
        Arc::new(Self {
            peer,
            authenticated: AtomicBool::new(false),
            exec: OnceLock::new(),
            user: OnceLock::new(),
            stop: StopSignal::default(),
            statement_timeout: Mutex::new(None),
            cancel: Mutex::new(None),
        })
    }

    pub fn is_authenticated(&self) -> bool {
        self.authenticated.load(Ordering::SeqCst)
    }

    /// Marks the login done, with the session built for it.
    pub fn logged_in(&self, user: &str, exec: Arc<Executor>) {
        let _ = self.exec.set(exec);
        let _ = self.user.set(user.to_string());
        self.authenticated.store(true, Ordering::SeqCst);
    }

    pub fn exec(&self) -> Option<Arc<Executor>> {
        self.exec.get().cloned()
    }

    pub fn user(&self) -> &str {
        self.user.get().map(String::as_str).unwrap_or("")
    }

    pub fn statement_timeout(&self) -> Option<Duration> {
        self.statement_timeout.lock().ok().and_then(|t| *t)
    }

    pub fn set_statement_timeout(&self, t: Option<Duration>) {
        if let Ok(mut s) = self.statement_timeout.lock() {
            *s = t;
        }
    }

    /// Makes this connection cancellable by `(pid, key)`.
    pub fn register_cancel(
        self: &Arc<Self>,
        registry: &Arc<CancelRegistry>,
        pid: i32,
        key: Vec<u8>,
    ) {
        registry.insert(pid, key, Arc::downgrade(self));
        if let Ok(mut c) = self.cancel.lock() {
            *c = Some((pid, registry.clone()));
        }
    }
}

impl Drop for ConnState {
    fn drop(&mut self) {
        self.stop.close();
        if let Ok(mut c) = self.cancel.lock()
            && let Some((pid, registry)) = c.take()
        {
            registry.remove(pid);
        }
    }
}

/// A cancellable connection: its secret key and (weakly) its state.
type CancelEntry = (Vec<u8>, Weak<ConnState>);

/// The connections that can be cancelled, by backend pid.
#[derive(Default)]
pub struct CancelRegistry {
    by_pid: Mutex<HashMap<i32, CancelEntry>>,
}

impl CancelRegistry {
    fn insert(&self, pid: i32, key: Vec<u8>, conn: Weak<ConnState>) {
        if let Ok(mut m) = self.by_pid.lock() {
            m.insert(pid, (key, conn));
        }
    }

    fn remove(&self, pid: i32) {
        if let Ok(mut m) = self.by_pid.lock() {
            m.remove(&pid);
        }
    }

    /// Cancels the running statement of the connection `(pid, key)` names; a wrong key
    /// does nothing (Postgres answers a cancel request with nothing either way).
    pub fn cancel(&self, pid: i32, key: &[u8]) -> bool {
        let conn = self.by_pid.lock().ok().and_then(|m| {
            m.get(&pid)
                .and_then(|(k, c)| same_key(k, key).then(|| c.upgrade()).flatten())
        });
        match conn {
            Some(c) => {
                tracing::info!(peer = %c.peer, user = c.user(), "cancel request: stopping the running statement");
                c.stop.cancel();
                true
            }
            None => false,
        }
    }
}

/// Compares secret keys in time independent of where they differ.
fn same_key(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// How the loop treats a connection.
#[derive(Debug, Clone)]
pub struct LoopOptions {
    pub login_timeout: Duration,
}

/// Watches a socket for the peer's close while the protocol loop is busy elsewhere: a
/// duplicate of the socket's descriptor, polled for "read closed" only (data the client
/// sends meanwhile stays in the socket for the loop).
#[cfg(unix)]
fn watch_disconnect(tcp: &TcpStream, conn: &Arc<ConnState>) -> Option<tokio::task::JoinHandle<()>> {
    use std::os::fd::AsFd;
    let dup = tcp.as_fd().try_clone_to_owned().ok()?;
    // SAFETY: `dup` is an OwnedFd moved into the AsyncFd: it stays open, and names the same
    // socket, for the AsyncFd's whole life.
    let fd = unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(dup, tokio::io::Interest::READABLE)
    }
    .ok()?;
    let conn = Arc::downgrade(conn);
    Some(tokio::spawn(async move {
        loop {
            let Ok(mut guard) = fd.readable().await else {
                return;
            };
            if guard.ready().is_read_closed() {
                if let Some(c) = conn.upgrade() {
                    if c.is_authenticated() {
                        tracing::debug!(peer = %c.peer, "client hung up: stopping its statement");
                    }
                    c.stop.close();
                }
                return;
            }
            guard.clear_ready();
        }
    }))
}

#[cfg(not(unix))]
fn watch_disconnect(_: &TcpStream, _: &Arc<ConnState>) -> Option<tokio::task::JoinHandle<()>> {
    None
}

/// Serves one accepted socket until the client leaves, fails to log in, or misbehaves.
pub async fn serve_socket(
    tcp: TcpStream,
    tls: Option<pgwire::tokio::TlsAcceptor>,
    handlers: Connection,
    options: LoopOptions,
) -> std::io::Result<()> {
    let conn = handlers.state();
    let watcher = watch_disconnect(&tcp, &conn);
    struct AbortWatcher(Option<tokio::task::JoinHandle<()>>);
    impl Drop for AbortWatcher {
        fn drop(&mut self) {
            if let Some(w) = self.0.take() {
                w.abort();
            }
        }
    }
    let _watcher = AbortWatcher(watcher);

    let login_deadline = tokio::time::sleep(options.login_timeout);
    tokio::pin!(login_deadline);
    let socket = tokio::select! {
        _ = &mut login_deadline => {
            tracing::info!(peer = %conn.peer, "connection closed: no login within {:?}", options.login_timeout);
            return Ok(());
        }
        s = negotiate_tls::<Prepared>(tcp, tls) => s?,
    };
    // A direct TLS handshake on a server without a certificate.
    let Some(mut socket) = socket else {
        return Ok(());
    };

    let startup = handlers.login();
    let simple = handlers.session();
    let extended = handlers.session();
    let copy = Arc::new(NoopHandler);
    let cancel = handlers.canceller();
    let mut first = true;
    loop {
        let authenticated = conn.is_authenticated();
        let msg = if authenticated {
            socket.next().await
        } else {
            tokio::select! {
                _ = &mut login_deadline => {
                    tracing::info!(peer = %conn.peer, "connection closed: no login within {:?}", options.login_timeout);
                    let _ = socket
                        .send(fatal("08006", "login timed out: the connection is closed"))
                        .await;
                    break;
                }
                m = socket.next() => m,
            }
        };
        let Some(Ok(msg)) = msg else {
            break;
        };
        if matches!(msg, PgWireFrontendMessage::Terminate(_)) {
            break;
        }
        if !authenticated {
            let allowed = match &msg {
                PgWireFrontendMessage::Startup(_)
                | PgWireFrontendMessage::PasswordMessageFamily(_) => true,
                // A cancel request comes alone on a fresh connection.
                PgWireFrontendMessage::CancelRequest(_) => first,
                _ => false,
            };
            if !allowed {
                tracing::warn!(peer = %conn.peer, "connection closed: a message before login");
                let _ = socket
                    .send(fatal(
                        "08P01",
                        "protocol violation: nothing but startup and password messages before login",
                    ))
                    .await;
                break;
            }
        }
        first = false;
        let was_cancel = matches!(msg, PgWireFrontendMessage::CancelRequest(_));
        let is_extended = msg.is_extended_query();
        let result = process_message(
            msg,
            &mut socket,
            startup.clone(),
            simple.clone(),
            extended.clone(),
            copy.clone(),
            cancel.clone(),
        )
        .await;
        if was_cancel {
            break;
        }
        if let Err(e) = result {
            if !conn.is_authenticated() || is_fatal(&e) {
                // Said once, then the socket closes: no ReadyForQuery, nothing read after.
                let mut info: ErrorInfo = e.into();
                info.severity = "FATAL".into();
                let _ = socket
                    .send(PgWireBackendMessage::ErrorResponse(info.into()))
                    .await;
                break;
            }
            process_error(&mut socket, e, is_extended).await?;
        }
    }
    let _ = socket.close().await;
    Ok(())
}

fn is_fatal(e: &PgWireError) -> bool {
    matches!(e, PgWireError::UserError(info) if info.is_fatal())
        || matches!(e, PgWireError::IoError(_))
}

/// A FATAL error message (the connection closes after it).
pub fn fatal(code: &str, message: &str) -> PgWireBackendMessage {
    PgWireBackendMessage::ErrorResponse(
        ErrorInfo::new("FATAL".into(), code.into(), message.into()).into(),
    )
}

/// The bytes of a FATAL ErrorResponse, for refusing a connection before any protocol
/// (too many connections): libpq and drivers read it whether or not they asked for TLS.
pub fn fatal_bytes(code: &str, message: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (tag, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', code),
        (b'M', message),
    ] {
        body.push(tag);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(b'E');
    out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}
