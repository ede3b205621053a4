//! Who may connect: users with PBKDF2-hashed passwords from a TOML file or the environment,
//! and the pgwire startup handler that checks them.
//!
//! The client sends its password in a cleartext PasswordMessage (protected by TLS when the
//! server has a certificate); the server keeps only salted hashes, so a leaked users file
//! neither reveals passwords nor lets anyone log in.

use std::collections::HashMap;
use std::fmt::Debug;
use std::num::NonZeroU32;
use std::path::Path;

use async_trait::async_trait;
use datafusion_postgres::pgwire;
use futures::{Sink, SinkExt};
use pgwire::api::auth::{
    StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::{ClientInfo, METADATA_USER, PgWireConnectionState, PidSecretKeyGenerator};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::startup::Authentication;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use ring::rand::SecureRandom;

use super::error::ServeError;
use crate::error::{Error, Result};

pub(crate) const SCHEME: &str = "pbkdf2-sha256";
/// OWASP's recommendation for PBKDF2-HMAC-SHA256 (2023).
pub const DEFAULT_ITERATIONS: u32 = 600_000;
const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;

/// One stored password: `pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>`.
#[derive(Debug, Clone, PartialEq)]
pub struct PasswordHash {
    iterations: NonZeroU32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl PasswordHash {
    /// Hashes `password` with a fresh random salt.
    pub fn new(password: &str, iterations: u32) -> Result<Self> {
        let iterations = NonZeroU32::new(iterations).ok_or(ServeError::HashIterations)?;
        let mut salt = vec![0u8; SALT_LEN];
        ring::rand::SystemRandom::new()
            .fill(&mut salt)
            .map_err(|_| ServeError::Random)?;
        let mut hash = vec![0u8; HASH_LEN];
        ring::pbkdf2::derive(
            ring::pbkdf2::PBKDF2_HMAC_SHA256,
            iterations,
            &salt,
            password.as_bytes(),
            &mut hash,
        );
        Ok(Self {
            iterations,
            salt,
            hash,
        })
    }

    pub fn parse(s: &str) -> Result<Self, ServeError> {
        let bad = || ServeError::BadPasswordHash(s.chars().take(16).collect());
        let parts: Vec<&str> = s.trim().split('$').collect();
        let [scheme, iterations, salt, hash] = parts.as_slice() else {
            return Err(bad());
        };
        if *scheme != SCHEME {
            return Err(bad());
        }
        Ok(Self {
            iterations: iterations
                .parse::<u32>()
                .ok()
                .and_then(NonZeroU32::new)
                .ok_or_else(bad)?,
            salt: hex::decode(salt).map_err(|_| bad())?,
            hash: hex::decode(hash).map_err(|_| bad())?,
        })
    }

    /// Constant-time check of a password against this hash.
    pub fn verify(&self, password: &str) -> bool {
        ring::pbkdf2::verify(
            ring::pbkdf2::PBKDF2_HMAC_SHA256,
            self.iterations,
            &self.salt,
            password.as_bytes(),
            &self.hash,
        )
        .is_ok()
    }
}

impl std::fmt::Display for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{SCHEME}${}${}${}",
            self.iterations,
            hex::encode(&self.salt),
            hex::encode(&self.hash)
        )
    }
}

/// The users allowed to connect.
#[derive(Debug, Clone)]
pub struct Users {
    users: HashMap<String, PasswordHash>,
    /// Checked for unknown user names so a failed login takes as long either way.
    decoy: Option<PasswordHash>,
    /// Password checks running at once: each costs a core for ~0.1-0.5 s by design, so a
    /// crowd of logins must queue rather than starve the queries.
    checks: std::sync::Arc<tokio::sync::Semaphore>,
}

impl Default for Users {
    fn default() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Self {
            users: HashMap::new(),
            decoy: None,
            checks: std::sync::Arc::new(tokio::sync::Semaphore::new(cores.div_ceil(2))),
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    users: HashMap<String, String>,
}

impl Users {
    /// Reads a users file:
    ///
    /// ```toml
    /// [users]
    /// analyst = "pbkdf2-sha256$600000$…$…"
    /// ```
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading users file {}", path.display()), e))?;
        let file: UsersFile = toml::from_str(&text).map_err(|error| ServeError::UsersFile {
            path: path.display().to_string(),
            error: Box::new(error),
        })?;
        let mut users = Users::default();
        for (name, hash) in file.users {
            let hash = PasswordHash::parse(&hash).map_err(|e| ServeError::UserHash {
                path: path.display().to_string(),
                user: name.clone(),
                error: Box::new(e),
            })?;
            users.insert(name, hash);
        }
        Ok(users)
    }

    pub fn insert(&mut self, name: String, hash: PasswordHash) {
        if self.decoy.is_none() {
            self.decoy = Some(PasswordHash {
                iterations: hash.iterations,
                salt: vec![0; SALT_LEN],
                hash: vec![0; HASH_LEN],
            });
        }
        self.users.insert(name, hash);
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// True when `user` exists and `password` is theirs. Hashing costs ~0.1-0.5 s by
    /// design, so it runs off the async threads.
    pub async fn check(self: &std::sync::Arc<Self>, user: &str, password: &str) -> bool {
        let me = self.clone();
        let (user, password) = (user.to_string(), password.to_string());
        let Ok(_slot) = self.checks.clone().acquire_owned().await else {
            return false;
        };
        tokio::task::spawn_blocking(move || match me.users.get(&user) {
            Some(h) => h.verify(&password),
            None => {
                if let Some(d) = &me.decoy {
                    let _ = d.verify(&password);
                }
                false
            }
        })
        .await
        .unwrap_or(false)
    }
}

/// How clients authenticate.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Password checked against the users' hashes.
    Users(std::sync::Arc<Users>),
    /// Anyone (only allowed on a loopback address).
    None,
}

/// Slows password guessing: after a failed login from an address, its next attempt waits
/// (250 ms, doubling per failure up to 15 s) and the failure's own answer is delayed the same,
/// so guesses cannot run at wire speed even over many connections. Forgotten after 15 quiet
/// minutes or a successful login.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: std::sync::Mutex<HashMap<std::net::IpAddr, (u32, std::time::Instant)>>,
}

const THROTTLE_FORGET: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// Addresses remembered at most (a flood of addresses cannot grow the map without bound).
const THROTTLE_MAX_ADDRESSES: usize = 10_000;

fn backoff(failures: u32) -> std::time::Duration {
    let ms = 250u64.saturating_mul(1u64 << failures.saturating_sub(1).min(16));
    std::time::Duration::from_millis(ms.min(15_000))
}

impl LoginThrottle {
    /// How long an attempt from `ip` must wait before its password is checked.
    pub fn wait_before_check(&self, ip: std::net::IpAddr) -> std::time::Duration {
        let Ok(m) = self.failures.lock() else {
            return std::time::Duration::ZERO;
        };
        match m.get(&ip) {
            Some((n, last)) if last.elapsed() < THROTTLE_FORGET => {
                backoff(*n).saturating_sub(last.elapsed())
            }
            _ => std::time::Duration::ZERO,
        }
    }

    /// Records a failure; returns how long to wait before answering it.
    pub fn failed(&self, ip: std::net::IpAddr) -> std::time::Duration {
        let Ok(mut m) = self.failures.lock() else {
            return backoff(1);
        };
        if m.len() >= THROTTLE_MAX_ADDRESSES {
            m.retain(|_, (_, last)| last.elapsed() < THROTTLE_FORGET);
        }
        let now = std::time::Instant::now();
        let e = m.entry(ip).or_insert((0, now));
        if e.1.elapsed() >= THROTTLE_FORGET {
            e.0 = 0;
        }
        e.0 = e.0.saturating_add(1);
        e.1 = now;
        backoff(e.0)
    }

    pub fn succeeded(&self, ip: std::net::IpAddr) {
        if let Ok(mut m) = self.failures.lock() {
            m.remove(&ip);
        }
    }
}

/// The login of one connection: protocol negotiation, then a cleartext password exchange
/// (or nothing with [`Auth::None`]). The connection's session is built only after the
/// password checks out; a failure is FATAL and the connection loop closes the socket.
pub struct Login {
    pub shared: std::sync::Arc<super::handler::Shared>,
    pub conn: std::sync::Arc<super::connection::ConnState>,
}

fn fatal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".into(),
        code.into(),
        message,
    )))
}

impl Login {
    /// Builds the session, registers the connection for cancel requests, and tells the
    /// client it is in.
    async fn admit<C>(&self, client: &mut C, user: &str) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let exec = self.shared.open_session(user).map_err(|e| {
            tracing::warn!(user, "cannot open a session: {e}");
            fatal("58000", format!("cannot open a session: {e}"))
        })?;
        let (pid, key) = self.shared.pids.generate(client);
        self.conn
            .register_cancel(&self.shared.cancels, pid, key.to_bytes().to_vec());
        client.set_pid_and_secret_key(pid, key);
        finish_authentication(client, &self.shared.server_params).await?;
        self.conn.logged_in(user, exec);
        tracing::info!(user, peer = %self.conn.peer, "login");
        Ok(())
    }
}

#[async_trait]
impl StartupHandler for Login {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if self.conn.is_authenticated() {
            return Ok(());
        }
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                if self.shared.require_tls && !client.is_secure() {
                    tracing::warn!(peer = %self.conn.peer, "login refused: no TLS");
                    return Err(fatal(
                        "28000",
                        "this server requires TLS: connect with sslmode=require".into(),
                    ));
                }
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                match &self.shared.auth {
                    Auth::None => {
                        let user = user_of(client);
                        self.admit(client, &user).await?;
                    }
                    Auth::Users(_) => {
                        client.set_state(PgWireConnectionState::AuthenticationInProgress);
                        client
                            .send(PgWireBackendMessage::Authentication(
                                Authentication::CleartextPassword,
                            ))
                            .await?;
                    }
                }
            }
            PgWireFrontendMessage::PasswordMessageFamily(pwd) => {
                let Auth::Users(users) = &self.shared.auth else {
                    return Err(fatal("08P01", "unexpected password message".into()));
                };
                if !matches!(
                    client.state(),
                    PgWireConnectionState::AuthenticationInProgress
                ) {
                    return Err(fatal("08P01", "password before startup".into()));
                }
                let pwd = pwd.into_password()?;
                let user = user_of(client);
                let ip = self.conn.peer.ip();
                let wait = self.shared.throttle.wait_before_check(ip);
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                if users.check(&user, &pwd.password).await {
                    self.shared.throttle.succeeded(ip);
                    self.admit(client, &user).await?;
                } else {
                    let delay = self.shared.throttle.failed(ip);
                    tracing::warn!(
                        user = %user,
                        peer = %self.conn.peer,
                        delay_ms = delay.as_millis() as u64,
                        "login refused: wrong user name or password"
                    );
                    tokio::time::sleep(delay).await;
                    return Err(fatal(
                        "28P01",
                        format!("password authentication failed for user \"{user}\""),
                    ));
                }
            }
            _ => {
                return Err(fatal(
                    "08P01",
                    "protocol violation: nothing but startup and password messages before login"
                        .into(),
                ));
            }
        }
        Ok(())
    }
}

fn user_of<C: ClientInfo>(client: &C) -> String {
    client
        .metadata()
        .get(METADATA_USER)
        .cloned()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_round_trips_and_verifies() {
        let h = PasswordHash::new("s3cret", 1000).unwrap();
        let text = h.to_string();
        assert!(text.starts_with("pbkdf2-sha256$1000$"));
        let back = PasswordHash::parse(&text).unwrap();
        assert_eq!(back, h);
        assert!(back.verify("s3cret"));
        assert!(!back.verify("s3cret "));
        assert!(!back.verify(""));
    }

    #[test]
    fn malformed_hashes_are_refused_with_the_expected_form() {
        for bad in [
            "",
            "s3cret",
            "md5$1$00$00",
            "pbkdf2-sha256$0$00$00",
            "pbkdf2-sha256$10$zz$00",
        ] {
            let e = PasswordHash::parse(bad).unwrap_err().to_string();
            assert!(e.contains("--hash-password"), "{e}");
        }
    }

    #[tokio::test]
    async fn users_file_names_the_bad_user() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("users.toml");
        let good = PasswordHash::new("pw", 10).unwrap();
        std::fs::write(
            &p,
            format!("[users]\nalice = \"{good}\"\nbob = \"plain\"\n"),
        )
        .unwrap();
        let e = Users::load(&p).unwrap_err().to_string();
        assert!(e.contains("user 'bob'"), "{e}");
        std::fs::write(&p, format!("[users]\nalice = \"{good}\"\n")).unwrap();
        let users = std::sync::Arc::new(Users::load(&p).unwrap());
        assert!(users.check("alice", "pw").await);
        assert!(!users.check("alice", "nope").await);
        assert!(!users.check("mallory", "pw").await);
    }
}

#[cfg(test)]
mod throttle_tests {
    use super::*;

    #[test]
    fn failures_back_off_exponentially_up_to_a_cap_and_success_forgets() {
        let t = LoginThrottle::default();
        let ip: std::net::IpAddr = "10.1.2.3".parse().unwrap();
        assert!(t.wait_before_check(ip).is_zero());
        assert_eq!(t.failed(ip).as_millis(), 250);
        assert_eq!(t.failed(ip).as_millis(), 500);
        assert_eq!(t.failed(ip).as_millis(), 1000);
        assert!(t.wait_before_check(ip).as_millis() > 900);
        for _ in 0..40 {
            t.failed(ip);
        }
        assert_eq!(t.failed(ip).as_secs(), 15);
        let other: std::net::IpAddr = "10.1.2.4".parse().unwrap();
        assert!(t.wait_before_check(other).is_zero());
        t.succeeded(ip);
        assert!(t.wait_before_check(ip).is_zero());
    }
}
