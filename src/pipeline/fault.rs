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

/// Test hook: with `STOCKROOM_HOLD=<point>:<path>`, the process creates `<path>` when it
/// reaches `<point>` and waits there until `<path>` is removed. The tests use it to keep a
/// lock held, deterministically, while they start another process.
pub fn hold(point: &str) {
    let Ok(v) = std::env::var("STOCKROOM_HOLD") else {
        return;
    };
    let Some((p, path)) = v.split_once(':') else {
        return;
    };
    if p != point {
        return;
    }
    let path = std::path::Path::new(path);
    if std::fs::write(path, std::process::id().to_string()).is_err() {
        return;
    }
    eprintln!(
        "STOCKROOM_HOLD: holding at {point} until {} is removed",
        path.display()
    );
    while path.exists() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
