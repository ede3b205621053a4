//! One run per pipeline at a time: `runs/<pipeline>.lock` holds the owner's pid. A lock whose
//! process is gone (crash, kill -9) is stale and taken over.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
}

fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

impl RunLock {
    pub fn acquire(path: PathBuf, pipeline: &str) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
        }
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let _ = writeln!(f, "{}", std::process::id());
                    return Ok(Self { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let owner = std::fs::read_to_string(&path).unwrap_or_default();
                    let pid = owner.trim().parse::<u32>().ok();
                    match pid {
                        Some(pid) if process_alive(pid) && pid != std::process::id() => {
                            return Err(Error::Invalid(format!(
                                "pipeline {pipeline} is already running (pid {pid}, lock {}); wait for it to finish",
                                path.display()
                            )));
                        }
                        _ => {
                            // Stale: its process is gone.
                            let _ = std::fs::remove_file(&path);
                        }
                    }
                }
                Err(e) => {
                    return Err(Error::io(
                        format!("cannot create lock {}", path.display()),
                        e,
                    ));
                }
            }
        }
        Err(Error::Invalid(format!(
            "cannot take the lock {} for pipeline {pipeline}",
            path.display()
        )))
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
