//! Deterministic crash injection for the exactly-once tests: with
//! `STOCKROOM_FAULT=<boundary>@<n>` the stream aborts (like kill -9: no cleanup, no
//! unwinding) when its n-th micro-batch (1-based, counted in this process) reaches that
//! boundary. Same variable as the batch pipelines' hook (`pipeline::fault`).

/// The boundaries inside a batch's commit, in order.
/// `after_side_tables`: product_events and rejects committed, product_inventory not.
pub const BOUNDARIES: &[&str] = &["after_side_tables", "after_inventory"];

pub fn at(boundary: &str, batch_no: u64) {
    let Ok(v) = std::env::var("STOCKROOM_FAULT") else {
        return;
    };
    let Some((b, n)) = v.split_once('@') else {
        return;
    };
    if b == boundary && n.parse::<u64>().is_ok_and(|n| n == batch_no) {
        eprintln!("STOCKROOM_FAULT: aborting at {boundary} of batch {batch_no}");
        std::process::abort();
    }
}
