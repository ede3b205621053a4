//! What one shared server needs so that no statement can hurt the others: a cap on
//! statements running at once, a per-statement timeout, cancellation (a client's
//! CancelRequest or its disconnecting), results handed over batch by batch through a small
//! channel (so a huge result never sits in memory and a client that stops reading stops
//! the statement), an optional cap on result rows, a statement that panics becoming an
//! error, and a count of running statements for graceful shutdown. (The per-statement
//! memory limit is the session's memory pool: each connection has its own executor and
//! runs one statement at a time.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ParamValues;
use futures::StreamExt;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};

use crate::exec::{Executor, Outcome, Streamed};

/// Why a statement did not produce (all of) its outcome.
#[derive(Debug)]
pub enum QueryError {
    /// Ran past its timeout; it was cancelled.
    Timeout(Duration),
    /// The client asked to cancel it (CancelRequest) or went away.
    Cancelled,
    /// The server is shutting down and takes no new statements.
    ShuttingDown,
    /// A bug: the statement panicked. The server carries on.
    Panicked,
    /// The result had more rows than `--max-result-rows`.
    TooManyRows(u64),
    /// The statement failed (the executor's error).
    Failed(crate::Error),
}

/// What a connection's statements watch to know they must stop: a cancel (the counter
/// moves) or the client's disconnection (`closed`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StopState {
    pub cancels: u64,
    pub closed: bool,
}

/// One connection's stop signal, shared by the connection (which raises it) and its
/// statements (which watch it).
#[derive(Debug)]
pub struct StopSignal(watch::Sender<StopState>);

impl Default for StopSignal {
    fn default() -> Self {
        Self(watch::channel(StopState::default()).0)
    }
}

impl StopSignal {
    /// Cancels the statement running now (a later statement is not affected).
    pub fn cancel(&self) {
        self.0.send_modify(|s| s.cancels += 1);
    }

    /// The client is gone: every statement of the connection stops.
    pub fn close(&self) {
        self.0.send_modify(|s| s.closed = true);
    }

    /// A watcher for one statement, taken when it starts.
    pub fn watch(&self) -> StopWatch {
        let rx = self.0.subscribe();
        let start = rx.borrow().cancels;
        StopWatch { rx, start }
    }
}

/// One statement's view of its connection's [`StopSignal`].
#[derive(Debug, Clone)]
pub struct StopWatch {
    rx: watch::Receiver<StopState>,
    start: u64,
}

impl StopWatch {
    /// Completes once the statement must stop (also when the connection is gone).
    pub async fn stopped(&mut self) {
        let start = self.start;
        let _ = self.rx.wait_for(|s| s.closed || s.cancels != start).await;
    }
}

/// A statement's rows as they are computed: `Batch`es, then exactly one `End` or `Error`.
/// A channel that closes without either means the statement's task died.
#[derive(Debug)]
pub enum RowItem {
    Batch(RecordBatch),
    End,
    Error(QueryError),
}

/// What [`Limits::run`] gives back.
pub enum Produced {
    /// A finished outcome (writes, commands, messages).
    Done(Outcome),
    /// A result still being computed: read the batches from `rows`.
    Rows {
        schema: SchemaRef,
        rows: mpsc::Receiver<RowItem>,
    },
}

/// One statement for [`Limits::run`].
pub struct Job {
    pub exec: Arc<Executor>,
    pub sql: String,
    pub params: Option<ParamValues>,
    pub stop: StopWatch,
    /// The connection's `statement_timeout`, at most the server's.
    pub timeout: Option<Duration>,
    /// For the log line written when the statement ends.
    pub user: String,
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
    permits: Arc<Semaphore>,
    max_concurrent: usize,
    timeout: Option<Duration>,
    max_result_rows: Option<u64>,
    running: AtomicUsize,
    shutting_down: AtomicBool,
    idle: Notify,
}

/// Counts a statement as running until dropped (however it ends).
struct Running(Arc<Limits>);

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Waits until `deadline`, or forever without one.
async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

impl Limits {
    pub fn new(
        max_concurrent: usize,
        timeout: Option<Duration>,
        max_result_rows: Option<u64>,
    ) -> std::io::Result<Self> {
        let max_concurrent = max_concurrent.max(1);
        Ok(Self {
            runtime: QueryRuntime::new()?,
            permits: Arc::new(Semaphore::new(max_concurrent)),
            max_concurrent,
            timeout,
            max_result_rows,
            running: AtomicUsize::new(0),
            shutting_down: AtomicBool::new(false),
            idle: Notify::new(),
        })
    }

    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent
    }

    /// The server's own maximum statement time (`--query-timeout`).
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Admits one statement: refused once shutting down, counted as running from now on
    /// (while it waits too), then given a slot; a cancel or disconnect while waiting gives up.
    async fn admit(
        self: &Arc<Self>,
        stop: &mut StopWatch,
    ) -> Result<(Running, OwnedSemaphorePermit), QueryError> {
        if self.shutting_down.load(Ordering::SeqCst) {
            return Err(QueryError::ShuttingDown);
        }
        self.running.fetch_add(1, Ordering::SeqCst);
        let running = Running(self.clone());
        let permit = tokio::select! {
            p = self.permits.clone().acquire_owned() => p.map_err(|_| QueryError::ShuttingDown)?,
            _ = stop.stopped() => return Err(QueryError::Cancelled),
        };
        Ok((running, permit))
    }

    /// Plans a statement within the limits (a Parse/Describe can be as costly as a query:
    /// planning opens tables and lists files).
    pub async fn plan<T: Send + 'static>(
        self: &Arc<Self>,
        mut stop: StopWatch,
        work: impl std::future::Future<Output = crate::Result<T>> + Send + 'static,
    ) -> Result<T, QueryError> {
        let (_running, _permit) = self.admit(&mut stop).await?;
        let deadline = self.timeout.map(|t| tokio::time::Instant::now() + t);
        let timeout = self.timeout.unwrap_or_default();
        let task = self.spawn(async move {
            tokio::select! {
                r = work => r.map_err(QueryError::Failed),
                _ = stop.stopped() => Err(QueryError::Cancelled),
                _ = until(deadline) => Err(QueryError::Timeout(timeout)),
            }
        });
        let _abort = AbortOnDrop(Some(task.abort_handle()));
        task.await.unwrap_or(Err(QueryError::Panicked))
    }

    fn spawn<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = T> + Send + 'static,
    ) -> tokio::task::JoinHandle<T> {
        match self.runtime.handle() {
            Some(h) => h.spawn(work),
            None => tokio::spawn(work),
        }
    }

    /// Runs one statement within the limits. Waiting for a free slot does not count against
    /// the timeout; running and handing over the rows does. The slot is held until the last
    /// row is handed over (or the client stops reading).
    pub async fn run(self: &Arc<Self>, job: Job) -> Result<Produced, QueryError> {
        let Job {
            exec,
            sql,
            params,
            mut stop,
            timeout,
            user,
        } = job;
        let (running, permit) = self.admit(&mut stop).await?;
        let limit = match (timeout, self.timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let deadline = limit.map(|t| tokio::time::Instant::now() + t);
        let limit = limit.unwrap_or_default();
        let max_rows = self.max_result_rows;
        let (first_tx, first_rx) = oneshot::channel::<Result<Produced, QueryError>>();
        // Its own task: a panic inside DataFusion or deltalake ends that task, not the
        // connection or the server; dropping the stream cancels the query's operators.
        let task = self.spawn(async move {
            let _permit = permit;
            let _running = running;
            let started = Instant::now();
            let log = |rows: u64, error: Option<&QueryError>| {
                let ms = format!("{:.1}", started.elapsed().as_secs_f64() * 1000.0);
                let statement = super::handler::one_line(&sql);
                match error {
                    None => tracing::info!(user, ms, rows, statement, "query"),
                    Some(e) => tracing::info!(
                        user,
                        ms,
                        rows,
                        error = %super::handler::error_info(e).message,
                        statement,
                        "query"
                    ),
                }
            };
            tracing::debug!(
                user,
                statement = super::handler::one_line(&sql),
                "query started"
            );
            let streamed = tokio::select! {
                r = exec.execute_streamed(&sql, params) => r.map_err(QueryError::Failed),
                _ = stop.stopped() => Err(QueryError::Cancelled),
                _ = until(deadline) => Err(QueryError::Timeout(limit)),
            };
            let mut stream = match streamed {
                Ok(Streamed::Rows(s)) => s,
                Ok(Streamed::Done(o)) => {
                    log(o.row_count() as u64, None);
                    let _ = first_tx.send(Ok(Produced::Done(o)));
                    return;
                }
                Err(e) => {
                    log(0, Some(&e));
                    let _ = first_tx.send(Err(e));
                    return;
                }
            };
            // Two batches in flight: the next is computed while the last is encoded.
            let (tx, rx) = mpsc::channel(2);
            if first_tx
                .send(Ok(Produced::Rows {
                    schema: stream.schema(),
                    rows: rx,
                }))
                .is_err()
            {
                log(0, Some(&QueryError::Cancelled));
                return;
            }
            let mut rows = 0u64;
            loop {
                let item = tokio::select! {
                    b = stream.next() => match b {
                        None => RowItem::End,
                        Some(Err(e)) => RowItem::Error(QueryError::Failed(e.into())),
                        Some(Ok(b)) => {
                            rows += b.num_rows() as u64;
                            match max_rows {
                                Some(m) if rows > m => RowItem::Error(QueryError::TooManyRows(m)),
                                _ => RowItem::Batch(b),
                            }
                        }
                    },
                    _ = stop.stopped() => RowItem::Error(QueryError::Cancelled),
                    _ = until(deadline) => RowItem::Error(QueryError::Timeout(limit)),
                    // The client's reader is gone (disconnected, or the portal was closed).
                    _ = tx.closed() => RowItem::Error(QueryError::Cancelled),
                };
                let item = match item {
                    RowItem::Batch(b) => {
                        // Handing over waits for the client to read; it may stop meanwhile.
                        let interrupted = tokio::select! {
                            r = tx.send(RowItem::Batch(b)) => match r {
                                Ok(()) => None,
                                // The reader is gone: nobody to tell.
                                Err(_) => {
                                    log(rows, Some(&QueryError::Cancelled));
                                    break;
                                }
                            },
                            _ = stop.stopped() => Some(QueryError::Cancelled),
                            _ = until(deadline) => Some(QueryError::Timeout(limit)),
                        };
                        match interrupted {
                            None => continue,
                            Some(e) => RowItem::Error(e),
                        }
                    }
                    last => last,
                };
                match &item {
                    RowItem::Error(e) => log(rows, Some(e)),
                    _ => log(rows, None),
                }
                // The last word (end or error); a reader that does not take it within a
                // few seconds is not waited for.
                let _ = tokio::time::timeout(Duration::from_secs(10), tx.send(item)).await;
                break;
            }
        });
        // Until the first answer, dropping this future (the connection ended) stops the
        // task; after it, the rows channel does.
        let mut abort = AbortOnDrop(Some(task.abort_handle()));
        match first_rx.await {
            Ok(r) => {
                abort.disarm();
                r
            }
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

/// Aborts a task when dropped (a JoinHandle alone lets it run on).
struct AbortOnDrop(Option<tokio::task::AbortHandle>);

impl AbortOnDrop {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            h.abort();
        }
    }
}
