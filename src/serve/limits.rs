//! What one shared server needs so that no query can hurt the others: a cap on queries
//! running at once, a per-query timeout that cancels the query, a query that panics becoming
//! an error, and a count of running queries for graceful shutdown. (The per-query memory
//! limit is the session's memory pool: each connection has its own executor and runs one
//! statement at a time.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore};

use crate::exec::{Executor, Outcome};

/// Why a statement did not produce an outcome.
#[derive(Debug)]
pub enum QueryError {
    /// Ran past `--query-timeout`; it was cancelled.
    Timeout(Duration),
    /// The server is shutting down and takes no new statements.
    ShuttingDown,
    /// A bug: the statement panicked. The server carries on.
    Panicked,
    /// The statement failed (the executor's error).
    Failed(crate::Error),
}

/// The statements' own runtime. DataFusion only notices cancellation between polls, and
/// one poll of a heavy operator can take seconds: on the protocol's runtime that would
/// freeze timers (the timeout) and every other connection. Here it only busies these
/// threads; the operating system keeps time-slicing the protocol's.
struct QueryRuntime(Option<tokio::runtime::Runtime>);

impl QueryRuntime {
    fn new() -> std::io::Result<Self> {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Ok(Self(Some(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .thread_name("stockroom-query")
                .enable_all()
                .build()?,
        )))
    }

    fn handle(&self) -> Option<&tokio::runtime::Handle> {
        self.0.as_ref().map(|r| r.handle())
    }
}

impl Drop for QueryRuntime {
    fn drop(&mut self) {
        // Dropping a runtime inside another one's async context panics; this does not wait.
        if let Some(r) = self.0.take() {
            r.shutdown_background();
        }
    }
}

impl std::fmt::Debug for QueryRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QueryRuntime")
    }
}

#[derive(Debug)]
pub struct Limits {
    runtime: QueryRuntime,
    permits: Semaphore,
    max_concurrent: usize,
    timeout: Option<Duration>,
    running: AtomicUsize,
    shutting_down: AtomicBool,
    idle: Notify,
}

/// Counts a statement as running until dropped (however it ends).
struct Running<'a>(&'a Limits);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Limits {
    pub fn new(max_concurrent: usize, timeout: Option<Duration>) -> std::io::Result<Self> {
        let max_concurrent = max_concurrent.max(1);
        Ok(Self {
            runtime: QueryRuntime::new()?,
            permits: Semaphore::new(max_concurrent),
            max_concurrent,
            timeout,
            running: AtomicUsize::new(0),
            shutting_down: AtomicBool::new(false),
            idle: Notify::new(),
        })
    }

    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent
    }

    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Runs one statement on `exec` within the limits. Waiting for a free slot does not
    /// count against the timeout; running does.
    pub async fn run(&self, exec: Arc<Executor>, sql: String) -> Result<Outcome, QueryError> {
        if self.shutting_down.load(Ordering::SeqCst) {
            return Err(QueryError::ShuttingDown);
        }
        self.running.fetch_add(1, Ordering::SeqCst);
        let _running = Running(self);
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| QueryError::ShuttingDown)?;
        // Its own task: a panic inside DataFusion or deltalake ends that task, not the
        // connection or the server; aborting the task cancels the query's streams.
        let work = async move { exec.execute(&sql).await };
        let mut task = match self.runtime.handle() {
            Some(h) => h.spawn(work),
            None => tokio::spawn(work),
        };
        let joined = match self.timeout {
            Some(limit) => match tokio::time::timeout(limit, &mut task).await {
                Ok(j) => j,
                Err(_) => {
                    task.abort();
                    return Err(QueryError::Timeout(limit));
                }
            },
            None => (&mut task).await,
        };
        match joined {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(e)) => Err(QueryError::Failed(e)),
            Err(_) => Err(QueryError::Panicked),
        }
    }

    /// Refuse new statements from now on.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    /// Waits until no statement is running, or `deadline` passes. True when idle.
    pub async fn wait_idle(&self, deadline: Instant) -> bool {
        loop {
            let notified = self.idle.notified();
            if self.running() == 0 {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let _ = tokio::time::timeout(left.min(Duration::from_millis(100)), notified).await;
        }
    }
}
