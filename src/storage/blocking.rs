//! Runs an object-store request from the synchronous call sites (the catalog's table listing,
//! the pipelines' file moves) that used `std::fs` before.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::{Handle, Runtime, RuntimeFlavor};

/// A runtime of our own for callers outside a multi-threaded one (tests, blocking threads).
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

/// Waits for `f`. On a worker of the multi-threaded runtime (the binary's) the worker is
/// handed over with `block_in_place`, so other tasks go on; anywhere else the request runs on
/// a runtime of its own, from a scoped thread (a current-thread runtime cannot block).
pub(super) fn wait<F>(f: F) -> Option<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            Some(tokio::task::block_in_place(|| h.block_on(f)))
        }
        _ => {
            let rt = own_runtime()?;
            std::thread::scope(|s| s.spawn(|| rt.block_on(f)).join().ok())
        }
    }
}
