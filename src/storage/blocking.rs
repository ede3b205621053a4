//! Runs an object-store request from the synchronous call sites (the catalog's table listing,
//! the pipelines' file moves) that used `std::fs` before.
//!
//! The request always runs on a runtime of our own, driven from a short-lived thread, and
//! never with `Handle::block_on` on the caller's runtime. The caller may be the thread inside
//! the binary's `Runtime::block_on`, polling several pipeline models at once: a nested
//! `block_on` on that thread shares its parker with the outer one and swallows the wake-up
//! meant for a sibling model, which then waits forever (seen: an S3 run hung with every
//! thread parked). A thread of its own costs ~50 µs beside a request of milliseconds.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::{Handle, Runtime, RuntimeFlavor};

/// The storage runtime: its worker drives the HTTP connections our requests open.
fn own_runtime() -> Option<&'static Runtime> {
    static RT: OnceLock<Option<Runtime>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("stockroom-storage")
            .enable_all()
            .build()
            .ok()
    })
    .as_ref()
}

/// Waits for `f`, run on the storage runtime from a scoped thread. On a worker of a
/// multi-threaded runtime the worker is handed over first (`block_in_place`), so the other
/// tasks it was running go on meanwhile. `None` when no runtime could be started.
pub(super) fn wait<F>(f: F) -> Option<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let rt = own_runtime()?;
    let run = || std::thread::scope(|s| s.spawn(|| rt.block_on(f)).join().ok());
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(run)
        }
        // A current-thread runtime cannot hand its thread over: it simply waits.
        _ => run(),
    }
}
