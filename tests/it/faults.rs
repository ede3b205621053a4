//! The README's "a crash at every step boundary" claim, for every batch pipeline: the run is
//! killed (abort, like kill -9) at each boundary, the test checks that it died *there* (the
//! fault message), that every table is readable, and that a re-run leaves exactly the
//! tables of a clean run.

use stockroom::pipeline::fault::BOUNDARIES;

use crate::common::{Wh, assert_success, drop_sample, run_ok};

/// Columns that differ between any two runs by design (run ids, wall-clock times).
const VOLATILE: &[&str] = &[
    "run_id",
    "rejected_at",
    "ingested_at",
    "checked_at",
    "started_at",
    "finished_at",
];

/// Every row of `table` as text without the volatile columns, sorted; empty when the
/// table does not exist.
fn table_rows(wh: &Wh, table: &str) -> Vec<String> {
    if !wh.path().join("tables").join(table).exists() {
        return Vec::new();
    }
    let sql = if table == "rejects" {
        // CSV has no lists: the reasons as one text.
        "SELECT * EXCLUDE (reasons), array_to_string(reasons, '|') AS reasons FROM rejects".into()
    } else {
        format!("SELECT * FROM {table}")
    };
    let csv = wh.csv(&sql);
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    let header = r.headers().expect("header").clone();
    let keep: Vec<usize> = header
        .iter()
        .enumerate()
        .filter(|(_, h)| !VOLATILE.contains(h))
        .map(|(i, _)| i)
        .collect();
    let mut out: Vec<String> = r
        .records()
        .map(|rec| {
            let rec = rec.expect("csv row");
            keep.iter()
                .map(|&i| rec.get(i).unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\u{1f}")
        })
        .collect();
    out.sort();
    out
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
        &[
            "stock_levels",
            "inventory_transactions",
            "transaction_agg",
            "inventory_daily_snapshots",
            "inventory_metrics",
            "low_stock_alerts",
            "weekly_summary",
        ],
    );
}
