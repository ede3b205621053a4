//! Locks in an object store, where there is no `flock`: a lease object created with a
//! create-only put (`If-None-Match: *`), so exactly one process creates it.
//!
//! The object holds its owner (host, pid) and an expiry. The holder renews it every third of
//! the lease (`STOCKROOM_S3_LOCK_TTL` seconds, 30 by default) with a put conditional on its
//! own last ETag, and deletes it when dropped. A lease is free when it has expired (its holder
//! died or lost the bucket) or when its holder ran on this host and its pid is gone (kill -9,
//! found at once). Taking over a stale lease is a put conditional on the stale object's ETag,
//! so of two processes taking over only one wins.
//!
//! What it does not give: a holder paused longer than the lease (a stopped VM) can find it
//! taken when it wakes; its renewal then fails and it says so, but work it did after the
//! lease expired is not undone. The Delta commits themselves never depend on it: deltalake
//! commits each table version with a create-only put and retries on a conflict.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use object_store::path::Path as Key;
use object_store::{PutMode, UpdateVersion};
use serde::{Deserialize, Serialize};

use super::ObjectBackend;
use crate::error::Result;

#[derive(Serialize, Deserialize)]
struct Lease {
    host: String,
    pid: u32,
    /// Seconds since the epoch.
    expires_at: i64,
}

fn ttl() -> Duration {
    let secs = std::env::var("STOCKROOM_S3_LOCK_TTL")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(30);
    Duration::from_secs(secs)
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        // Signal 0 checks existence only. EPERM means it exists under another user.
        let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

fn lease_bytes(ttl: Duration) -> Vec<u8> {
    let lease = Lease {
        host: host(),
        pid: std::process::id(),
        expires_at: chrono::Utc::now().timestamp() + ttl.as_secs() as i64,
    };
    serde_json::to_vec(&lease).unwrap_or_default()
}

/// A held lease. Renewed by a thread of its own; deleted when dropped.
#[derive(Debug)]
pub struct ObjectLock {
    stop: Arc<AtomicBool>,
    renewer: Option<std::thread::JoinHandle<()>>,
    backend: Arc<ObjectBackend>,
    key: Key,
}

impl Drop for ObjectLock {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.renewer.take() {
            t.thread().unpark();
            let _ = t.join();
        }
        let _ = self.backend.delete(&self.key);
    }
}

/// The outcome of one try.
pub enum Attempt {
    Acquired(ObjectLock),
    /// Someone else holds it: "host h pid n".
    Held(String),
}

/// Tries once to take the lock object at `path`. `None` when `path` is a local file (the
/// caller uses an OS lock).
pub fn try_lock(path: &Path) -> Result<Option<Attempt>> {
    let Some((backend, key)) = super::object(path) else {
        return Ok(None);
    };
    let ttl = ttl();
    let acquired = match backend.put_versioned(&key, lease_bytes(ttl), PutMode::Create)? {
        Some(v) => Some(v),
        None => match backend.get_versioned(&key)? {
            // Deleted meanwhile: the next try creates it.
            None => {
                return Ok(Some(Attempt::Held(
                    "a process that just released it".into(),
                )));
            }
            Some((bytes, version)) => {
                let lease: Option<Lease> = serde_json::from_slice(&bytes).ok();
                let stale = match &lease {
                    None => true,
                    Some(l) => {
                        l.expires_at < chrono::Utc::now().timestamp()
                            || (l.host == host() && !alive(l.pid))
                    }
                };
                if !stale {
                    let who = lease
                        .map(|l| format!("pid {} on {}", l.pid, l.host))
                        .unwrap_or_default();
                    return Ok(Some(Attempt::Held(who)));
                }
                backend.put_versioned(&key, lease_bytes(ttl), PutMode::Update(version))?
            }
        },
    };
    let Some(version) = acquired else {
        return Ok(Some(Attempt::Held("another process".into())));
    };
    let stop = Arc::new(AtomicBool::new(false));
    let renewer = {
        let (stop, backend, key) = (stop.clone(), backend.clone(), key.clone());
        std::thread::Builder::new()
            .name("stockroom-lease".into())
            .spawn(move || renew(&backend, &key, version, ttl, &stop))
            .ok()
    };
    Ok(Some(Attempt::Acquired(ObjectLock {
        stop,
        renewer,
        backend,
        key,
    })))
}

fn renew(
    backend: &ObjectBackend,
    key: &Key,
    mut version: UpdateVersion,
    ttl: Duration,
    stop: &AtomicBool,
) {
    loop {
        // Sleep until the deadline, not for one `park_timeout`: each request below runs on a
        // scoped thread, and `std::thread::scope` can leave an unpark token behind that would
        // end the next park at once — renewing in a tight loop (seen: 120 PUTs a second).
        let deadline = Instant::now() + ttl / 3;
        while !stop.load(Ordering::SeqCst) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::park_timeout(left);
        }
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match backend.put_versioned(key, lease_bytes(ttl), PutMode::Update(version.clone())) {
            Ok(Some(v)) => version = v,
            Ok(None) => {
                tracing::error!(
                    "the lock {key} was taken over by another process (this one was paused past its lease)"
                );
                return;
            }
            Err(e) => tracing::warn!("cannot renew the lock {key}: {e}"),
        }
    }
}
