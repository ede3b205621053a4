//! The README's "a crash at every step boundary" claim, for every batch pipeline: the run is
//! killed (abort, like kill -9) at each boundary, the test checks that it died *there* (the
//! fault message), that every table is readable, and that a re-run leaves exactly the
//! tables of a clean run.

use stockroom::pipeline::fault::BOUNDARIES;

use crate::common::{self, INVENTORY_OPS_TABLES, Wh, assert_success, drop_sample, run_ok};

/// Every row of `table` without the volatile columns, sorted; empty when the table does not
/// exist (a crash before its first commit).
fn table_rows(wh: &Wh, table: &str) -> Vec<String> {
    if !wh.path().join("tables").join(table).exists() {
        return Vec::new();
    }
    common::table_rows(|s| wh.csv(s), table)
}

fn state(wh: &Wh, tables: &[&str]) -> Vec<(String, Vec<String>)> {
    tables
        .iter()
        .chain(&["rejects", "stockroom_files"])
        .map(|t| (t.to_string(), table_rows(wh, t)))
        .collect()
}

/// Crashes `pipeline` at every boundary on a fresh copy of the sample, then re-runs it.
fn crash_at_every_boundary(pipeline: &str, sample: &str, files: Option<&[&str]>, tables: &[&str]) {
    let clean = Wh::new();
    drop_sample(&clean, pipeline, sample, files);
    run_ok(&clean, pipeline);
    let expected = state(&clean, tables);
    assert!(
        expected.iter().all(|(_, rows)| !rows.is_empty()),
        "the sample must fill every table: {expected:?}"
    );

    for boundary in BOUNDARIES {
        let wh = Wh::new();
        drop_sample(&wh, pipeline, sample, files);
        let out = wh
            .cmd()
            .args(["pipeline", "run", pipeline])
            .env("STOCKROOM_FAULT", boundary)
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{pipeline} {boundary}: must abort");
        assert!(
            stderr.contains(&format!("STOCKROOM_FAULT: aborting at {boundary}\n")),
            "{pipeline}: the run did not die at {boundary}: {stderr}"
        );
        // Every table is readable at a committed version after the crash.
        for t in tables.iter().chain(&["rejects", "stockroom_files"]) {
            table_rows(&wh, t);
        }
        // The re-run finishes the batch, or has nothing left to do once the files moved.
        let out = wh
            .cmd()
            .args(["pipeline", "run", pipeline])
            .output()
            .expect("run");
        assert_success(&out);
        assert_eq!(
            state(&wh, tables),
            expected,
            "{pipeline}: after a crash at {boundary}"
        );
    }
}

#[test]
fn pos_crash_at_every_boundary_then_rerun_equals_a_clean_run() {
    crash_at_every_boundary(
        "pos",
        "pos",
        None,
        &["pos_transactions", "pos_daily_product_sales"],
    );
}

#[test]
fn inventory_crash_at_every_boundary_then_rerun_equals_a_clean_run() {
    crash_at_every_boundary(
        "inventory",
        "inventory",
        None,
        &["inventory", "inventory_kpis_daily"],
    );
}

#[test]
fn ecommerce_crash_at_every_boundary_then_rerun_equals_a_clean_run() {
    crash_at_every_boundary(
        "ecommerce",
        "ecommerce",
        None,
        &[
            "stg_products",
            "stg_orders",
            "stg_order_items",
            "order_kpis",
            "category_kpis",
        ],
    );
}

#[test]
fn inventory_ops_crash_at_every_boundary_then_rerun_equals_a_clean_run() {
    crash_at_every_boundary(
        "inventory-ops",
        "inventory-ops-golden",
        None,
        INVENTORY_OPS_TABLES,
    );
}
