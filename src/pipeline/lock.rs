//! Locks between processes, as OS advisory locks on a file (`flock` on Unix, `LockFileEx`
//! on Windows, through std's `File::try_lock` / `File::lock`). The kernel releases them when
//! the holder exits, however it exits (kill -9 included), so there is no stale lock to
//! detect and no pid to trust: a lock file left behind, or one holding any text, is free.
//!
//! - [`RunLock`]: one run per pipeline (`runs/<pipeline>.lock`, the stream's too); a second
//!   run fails at once with "already running".
//! - [`WarehouseLock`]: held around every write to the tables that the pipelines and the
//!   stream share (`rejects`, `stockroom_files`, `stockroom_runs`, `dq_results`,
//!   `dq_failures`), so their commits never interleave; waited for.
//!
//! Lock files are never deleted: deleting one would let the next process lock a new file of
//! the same name while the holder still holds the old one. The holder's pid is written into
//! the file after locking, for messages only.
//!
//! In a warehouse on an object store there is no `flock`: the same two locks are lease objects
//! at the same paths, created with a create-only put (see [`crate::storage::lock`]).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::pipeline::error::PipelineError;
use crate::storage::{
    self,
    lock::{Attempt, ObjectLock},
};

/// The lock file of the warehouse-wide lock, in `runs/`.
pub const WAREHOUSE_LOCK: &str = "warehouse.lock";

fn open_lock_file(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Error::io(format!("cannot open the lock file {}", path.display()), e))
}

/// Who holds a lock, as far as its file says (for messages).
fn holder(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let text = text.trim();
    if text.is_empty() {
        "another process".into()
    } else {
        format!("pid {text}")
    }
}

/// Records this process as the holder (best effort: the lock is the flock, not the text).
fn write_holder(mut f: &File) {
    let _ = f.set_len(0);
    let _ = write!(f, "{}", std::process::id());
}

/// What holds a lock: an OS lock on a local file, or a lease object in a bucket.
#[derive(Debug)]
#[allow(dead_code)] // held for its Drop
enum Held {
    File(File),
    Object(ObjectLock),
}

/// One run of a pipeline at a time. Released when dropped or when the process ends.
#[derive(Debug)]
pub struct RunLock {
    _file: Held,
}

impl RunLock {
    pub fn acquire(path: PathBuf, pipeline: &str) -> Result<Self> {
        match storage::lock::try_lock(&path)? {
            None => {}
            Some(Attempt::Acquired(l)) => {
                return Ok(Self {
                    _file: Held::Object(l),
                });
            }
            Some(Attempt::Held(who)) => {
                return Err(PipelineError::AlreadyRunning {
                    pipeline: pipeline.to_string(),
                    holder: who,
                    lock: path.display().to_string(),
                }
                .into());
            }
        }
        let file = open_lock_file(&path)?;
        match file.try_lock() {
            Ok(()) => {
                write_holder(&file);
                Ok(Self {
                    _file: Held::File(file),
                })
            }
            Err(TryLockError::WouldBlock) => Err(PipelineError::AlreadyRunning {
                pipeline: pipeline.to_string(),
                holder: holder(&path),
                lock: path.display().to_string(),
            }
            .into()),
            Err(TryLockError::Error(e)) => {
                Err(Error::io(format!("cannot lock {}", path.display()), e))
            }
        }
    }
}

/// The warehouse-wide lock around writes to the shared tables. Released when dropped.
#[derive(Debug)]
pub struct WarehouseLock {
    _file: Held,
}

impl WarehouseLock {
    /// Takes the lock in `runs_dir`, waiting for it (on a blocking thread) if another
    /// process holds it; `who` names the writer in the message logged while waiting.
    pub async fn acquire(runs_dir: &Path, who: &str) -> Result<Self> {
        let path = runs_dir.join(WAREHOUSE_LOCK);
        if storage::is_object(&path) {
            return Self::acquire_object(&path, who).await;
        }
        let file = open_lock_file(&path)?;
        let file = match file.try_lock() {
            Ok(()) => file,
            Err(TryLockError::WouldBlock) => {
                tracing::info!(
                    "{who}: waiting for the warehouse lock {} (held by {}) to write the shared tables",
                    path.display(),
                    holder(&path)
                );
                let waited = path.clone();
                tokio::task::spawn_blocking(move || file.lock().map(|()| file))
                    .await
                    .map_err(PipelineError::LockWait)?
                    .map_err(|e| Error::io(format!("cannot lock {}", waited.display()), e))?
            }
            Err(TryLockError::Error(e)) => {
                return Err(Error::io(format!("cannot lock {}", path.display()), e));
            }
        };
        write_holder(&file);
        crate::pipeline::fault::hold("warehouse_lock_taken");
        Ok(Self {
            _file: Held::File(file),
        })
    }

    /// The lease object in a bucket, polled until free (no OS wait queue there).
    async fn acquire_object(path: &Path, who: &str) -> Result<Self> {
        let mut delay = std::time::Duration::from_millis(50);
        let mut said = false;
        loop {
            match storage::lock::try_lock(path)? {
                Some(Attempt::Acquired(l)) => {
                    crate::pipeline::fault::hold("warehouse_lock_taken");
                    return Ok(Self {
                        _file: Held::Object(l),
                    });
                }
                Some(Attempt::Held(holder)) if !said => {
                    tracing::info!(
                        "{who}: waiting for the warehouse lock {} (held by {holder}) to write the shared tables",
                        path.display()
                    );
                    said = true;
                }
                _ => {}
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(std::time::Duration::from_secs(1));
        }
    }
}
