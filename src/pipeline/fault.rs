//! Deterministic crash injection for the exactly-once tests: with
//! `STOCKROOM_FAULT=<boundary>` the process aborts (like kill -9: no cleanup, no unwinding)
//! when the run reaches that boundary.

/// The step boundaries of a run, in order.
pub const BOUNDARIES: &[&str] = &[
    "after_read",
    "after_validate",
    "after_rejects",
    "after_transform",
    "after_ledger",
    "after_archive",
    "after_summary",
];

pub fn at(boundary: &str) {
    if std::env::var("STOCKROOM_FAULT").is_ok_and(|b| b == boundary) {
        eprintln!("STOCKROOM_FAULT: aborting at {boundary}");
        std::process::abort();
    }
}
