//! The `inventory-ops` pipeline (docs/pipelines.md#inventory-ops) end to end through the binary.
//!
//! Golden values come from data/inventory-ops-golden, worked out by hand. As-of date =
//! 2024-03-31 (the latest transaction); the 7-day window is 03-25..03-31, the 30-day window
//! 03-02..03-31; every snapshot is taken 2024-03-24 00:00, so daily snapshots run 03-24..03-31
//! (8 days).
//!
//! - A/WH1: on hand 100, reserved 10. Sales -10 on each of 03-25..03-31 (70 out in 7 days),
//!   -60 on 03-10 and -5 on 03-23 (before the snapshot: velocity only, not balances),
//!   reservation +5 on 03-30. velocity_7d = 70/7 = 10; velocity_30d = 135/30 = 4.5;
//!   trend = 10/4.5 = 2.2222…; on hand by day 100,90,80,70,60,50,40,30 → average 65,
//!   turnover = 135/65 = 2.076923…; available at 03-31 = 30 - 15 = 15; days_of_cover = 1.5
//!   < lead 5 → HIGH; recommended = max(40, ceil(10·5·2 - 15) = 85) = 85.
//!   A later-named file holds an older snapshot (999 on hand, 03-20): it must lose.
//! - B/WH1: no transactions. velocity 0, trend NULL, turnover 0/20 = 0, days_of_cover NULL;
//!   available 20 <= reorder point 25 → alert LOW (no demand); recommended = max(30, -20) = 30.
//! - A/WH2: on hand 200. -100 on 02-20 (outside the window), reservation +10 (03-26) and its
//!   release -10 (03-27), receipt +50 (03-28), sale -7 (03-29). velocity_7d = 1,
//!   velocity_30d = 7/30, trend = 30/7; on hand 200,200,200,200,250,243,243,243 → 222.375,
//!   turnover = 7/222.375; available 243, days_of_cover 243; no alert.
//! - D/WH1: on hand 5, -1 on each of 03-26..03-30. velocity_7d = 5/7, velocity_30d = 1/6,
//!   on hand 5,5,4,3,2,1,0,0 → 2.5, turnover 2; available 0, days_of_cover 0 < 2 → HIGH;
//!   recommended = max(20, ceil(5/7·2·2) = 3) = 20.
//! - E/WH2: on hand 24, -14 on 03-31. velocity_7d = 2, available 10, days_of_cover 5: not < 4,
//!   < 8 → MEDIUM; recommended = max(10, ceil(2·4·2 - 10) = 6) = 10; turnover = 14/22.25.
//! - F/WH1: over-reserved (on hand 3, reserved 5): available -2 <= 1, no sales → HIGH (nothing
//!   available); recommended = max(10, ceil(0 + 2) = 2) = 10.
//! - Z/WH1: no stock level → rejected UNKNOWN_SKU. A replay of A1-0325 in a second file is
//!   ignored (not rejected). 22 + 1 transaction lines, 21 stored; 7 stock-level lines.

use crate::common::{Wh, drop_sample, rows, run_ok, run_pipeline};

const P: &str = "inventory-ops";

fn close(actual: &str, expected: Option<f64>, what: &str) {
    match expected {
        None => assert_eq!(actual, "", "{what}: expected NULL"),
        Some(e) => {
            let a: f64 = actual
                .parse()
                .unwrap_or_else(|_| panic!("{what}: '{actual}'"));
            assert!((a - e).abs() < 1e-9, "{what}: {a} != {e}");
        }
    }
}

#[test]
fn golden_metrics_alerts_snapshots_and_aggregates() {
    let wh = Wh::new();
    drop_sample(&wh, P, "inventory-ops-golden", None);
    let s = run_ok(&wh, P);
    assert_eq!(s["status"], "partial");
    assert_eq!(s["totals"]["rows_read"], 30);
    assert_eq!(s["totals"]["rows_valid"], 29);
    assert_eq!(s["totals"]["rows_rejected"], 1);

    // Metrics: (sku, warehouse, v7, v30, trend, turnover, available, days_of_cover).
    type M = (
        &'static str,
        &'static str,
        f64,
        f64,
        Option<f64>,
        Option<f64>,
        i64,
        Option<f64>,
    );
    let expected: [M; 6] = [
        (
            "A",
            "WH1",
            10.0,
            4.5,
            Some(10.0 / 4.5),
            Some(135.0 / 65.0),
            15,
            Some(1.5),
        ),
        (
            "A",
            "WH2",
            1.0,
            7.0 / 30.0,
            Some(30.0 / 7.0),
            Some(7.0 / 222.375),
            243,
            Some(243.0),
        ),
        ("B", "WH1", 0.0, 0.0, None, Some(0.0), 20, None),
        (
            "D",
            "WH1",
            5.0 / 7.0,
            5.0 / 30.0,
            Some(30.0 / 7.0),
            Some(2.0),
            0,
            Some(0.0),
        ),
        (
            "E",
            "WH2",
            2.0,
            14.0 / 30.0,
            Some(30.0 / 7.0),
            Some(14.0 / 22.25),
            10,
            Some(5.0),
        ),
        ("F", "WH1", 0.0, 0.0, None, Some(0.0), -2, None),
    ];
    let got = rows(&wh.csv(
        "SELECT sku, warehouse_id, CAST(as_of_date AS VARCHAR), velocity_7d, velocity_30d, trend, \
         turnover_30d, available, days_of_cover FROM inventory_metrics ORDER BY sku, warehouse_id",
    ));
    assert_eq!(got.len(), 6);
    for (r, e) in got.iter().zip(&expected) {
        let what = format!("{}/{}", e.0, e.1);
        assert_eq!((r[0].as_str(), r[1].as_str()), (e.0, e.1));
        assert_eq!(r[2], "2024-03-31", "{what} as-of");
        close(&r[3], Some(e.2), &format!("{what} velocity_7d"));
        close(&r[4], Some(e.3), &format!("{what} velocity_30d"));
        close(&r[5], e.4, &format!("{what} trend"));
        close(&r[6], e.5, &format!("{what} turnover_30d"));
        assert_eq!(r[7], e.6.to_string(), "{what} available");
        close(&r[8], e.7, &format!("{what} days_of_cover"));
    }

    // Alerts.
    let alerts = rows(&wh.csv(
        "SELECT sku, warehouse_id, stockout_risk, recommended_order_qty FROM low_stock_alerts ORDER BY sku, warehouse_id",
    ));
    let alerts: Vec<String> = alerts.iter().map(|r| r.join(" ")).collect();
    assert_eq!(
        alerts,
        [
            "A WH1 HIGH 85",
            "B WH1 LOW 30",
            "D WH1 HIGH 20",
            "E WH2 MEDIUM 10",
            "F WH1 HIGH 10"
        ]
    );
    // The HIGH-risk notification.
    let notes =
        std::fs::read_to_string(wh.path().join("runs/notifications.jsonl")).expect("notifications");
    let alert: serde_json::Value = notes
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
        .find(|n| n["status"] == "alert")
        .expect("an alert notification");
    assert_eq!(alert["level"], "warning");
    assert_eq!(alert["pipeline"], P);
    assert!(
        alert["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("3 item(s) at HIGH")
    );

    // The later snapshot won over the older one in a later file.
    assert_eq!(
        rows(&wh.csv(
            "SELECT quantity_on_hand, CAST(snapshot_at AS VARCHAR) FROM stock_levels WHERE sku = 'A' AND warehouse_id = 'WH1'"
        )),
        [["100", "2024-03-24T00:00:00Z"]]
    );
    // Daily snapshots: 6 pairs x 8 days; A/WH1 at the end of 03-30.
    assert_eq!(
        wh.csv("SELECT count(*) FROM inventory_daily_snapshots"),
        "count(*)\n48\n"
    );
    assert_eq!(
        rows(&wh.csv(
            "SELECT on_hand, reserved, available FROM inventory_daily_snapshots \
             WHERE sku = 'A' AND warehouse_id = 'WH1' AND date = DATE '2024-03-30'"
        )),
        [["40", "15", "25"]]
    );
    // Aggregates: A/WH1 on 03-25, its ISO week (Mon 03-25), and the week of 03-23 (Mon 03-18).
    let agg = rows(&wh.csv(
        "SELECT grain, CAST(period_start AS VARCHAR) AS period, units_in, units_out, net_change, txn_count \
         FROM transaction_agg WHERE sku = 'A' AND warehouse_id = 'WH1' AND grain IN ('day', 'week') \
         AND period_start IN (TIMESTAMP '2024-03-25T00:00:00Z', TIMESTAMP '2024-03-18T00:00:00Z') \
         ORDER BY grain, period_start",
    ));
    let agg: Vec<String> = agg.iter().map(|r| r.join(" ")).collect();
    assert_eq!(
        agg,
        [
            "day 2024-03-25T00:00:00Z 0 10 -10 1",
            "week 2024-03-18T00:00:00Z 0 5 -5 1",
            "week 2024-03-25T00:00:00Z 0 70 -70 8",
        ]
    );
    // Weekly summary, WH1, week of 03-25: A 7 sales + 1 reservation, D 5 sales; end of week
    // (03-31) on hand A 30 + B 20 + D 0 + F 3, available 15 + 20 + 0 - 2; D and F out.
    assert_eq!(
        rows(&wh.csv(
            "SELECT units_in, units_out, net_change, txn_count, active_skus, end_on_hand, end_available, skus_out_of_stock \
             FROM weekly_summary WHERE warehouse_id = 'WH1' AND week = DATE '2024-03-25'"
        )),
        [["0", "75", "-75", "13", "2", "53", "33", "2"]]
    );
    // 21 transactions stored (the replay and the unknown sku are not), one reject.
    assert_eq!(
        wh.csv("SELECT count(*) FROM inventory_transactions"),
        "count(*)\n21\n"
    );
    assert_eq!(
        rows(&wh.csv(
            "SELECT source_file, line_number, array_to_string(reasons, '|') FROM rejects WHERE pipeline = 'inventory-ops'"
        )),
        [["transactions_2024-03.jsonl", "22", "UNKNOWN_SKU"]]
    );

    // A later run that only replays an event already stored: ignored, nothing changes.
    let landing = wh.path().join("landing").join(P);
    let replay = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("data/inventory-ops-golden/transactions_2024-03.jsonl"),
    )
    .expect("fixture")
    .lines()
    .find(|l| l.contains("E2-0331"))
    .expect("E2-0331")
    .to_string();
    std::fs::write(
        landing.join("transactions_2024-04-01_retry.jsonl"),
        format!("{replay}\n"),
    )
    .expect("write");
    let s = run_ok(&wh, P);
    assert_eq!(s["totals"]["rows_valid"], 1);
    assert_eq!(
        wh.csv("SELECT count(*) FROM inventory_transactions"),
        "count(*)\n21\n"
    );
    assert_eq!(
        rows(&wh.csv("SELECT velocity_7d, available FROM inventory_metrics WHERE sku = 'E'")),
        [["2.0", "10"]]
    );
}

#[test]
fn step_runs_with_as_of_and_the_graph() {
    let wh = Wh::new();
    drop_sample(&wh, P, "inventory-ops-golden", None);
    run_ok(&wh, P);
    // Refresh the metrics alone at an earlier as-of date: window 03-22..03-28 holds A/WH1's
    // sale of 03-23 (-5) and 03-25..03-28 (-40): 45/7; on hand at 03-28 = 60, reserved 10.
    wh.cmd()
        .args([
            "pipeline",
            "run",
            P,
            "--step",
            "aggregated_metrics",
            "--as-of",
            "2024-03-28",
        ])
        .assert()
        .success();
    let r = rows(&wh.csv(
        "SELECT CAST(as_of_date AS VARCHAR), velocity_7d, available FROM inventory_metrics WHERE sku = 'A' AND warehouse_id = 'WH1'",
    ));
    assert_eq!(r[0][0], "2024-03-28");
    close(&r[0][1], Some(45.0 / 7.0), "velocity_7d at 03-28");
    assert_eq!(r[0][2], "50");
    // An unknown step is a clear error.
    let out = wh
        .cmd()
        .args(["pipeline", "run", P, "--step", "nope"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no step 'nope'"));

    // The DAG of the original: extract → transform_and_load → aggregated_metrics, and
    // extract → data_quality_check.
    let g = wh
        .cmd()
        .args(["pipeline", "graph", P])
        .output()
        .expect("run");
    let g = String::from_utf8_lossy(&g.stdout);
    for edge in [
        "decide -- yes --> step_transform_and_load",
        "step_transform_and_load --> step_aggregated_metrics",
        "decide -- yes --> step_data_quality_check",
        "step_aggregated_metrics --> step_low_stock_alerts",
    ] {
        assert!(g.contains(edge), "missing edge {edge} in\n{g}");
    }
}

#[test]
fn data_quality_checks_fire_on_their_rows_and_fail_the_run() {
    let wh = Wh::new();
    drop_sample(&wh, P, "inventory-ops-dq", None);
    let (code, s) = run_pipeline(&wh, P);
    assert_eq!(code, 2, "a failed check fails the run: {s}");
    assert_eq!(s["status"], "failed");
    assert!(
        s["error"]
            .as_str()
            .unwrap_or("")
            .contains("negative_on_hand (1 rows)")
    );
    let got =
        rows(&wh.csv("SELECT \"check\", failed_rows, status FROM dq_results ORDER BY \"check\""));
    let got: Vec<String> = got.iter().map(|r| r.join(" ")).collect();
    // G: on hand -4; H: reserved -2; I: reorder point -1; J: 7 reserved of 3; a row without a
    // sku and a transaction without a warehouse; K-1 twice; Z unknown; valid transactions at
    // 10:00 and 13:00 leave 11:00 and 12:00 empty.
    assert_eq!(
        got,
        [
            "data_gaps 2 warn",
            "duplicate_event_ids 1 warn",
            "missing_ids 2 warn",
            "negative_on_hand 1 fail",
            "negative_reorder_point 1 fail",
            "negative_reserved 1 fail",
            "over_reserved 1 warn",
            "unknown_skus 1 warn",
        ]
    );
    // Failing rows are queryable.
    let failing = wh.csv(
        "SELECT \"row\" FROM dq_failures WHERE \"check\" IN ('negative_on_hand', 'over_reserved', 'data_gaps') ORDER BY \"check\", row_number",
    );
    assert!(failing.contains("2024-03-25T11:00:00Z") && failing.contains("2024-03-25T12:00:00Z"));
    assert!(failing.contains(r#"""sku"":""G"""#), "{failing}");
    assert!(failing.contains(r#"""sku"":""J"""#), "{failing}");
    // The failure is notified as an error.
    let notes =
        std::fs::read_to_string(wh.path().join("runs/notifications.jsonl")).expect("notifications");
    let last: serde_json::Value =
        serde_json::from_str(notes.lines().last().expect("a line")).expect("json");
    assert_eq!(last["level"], "error");
    assert!(
        last["message"]
            .as_str()
            .unwrap_or("")
            .contains("data-quality checks failed")
    );
    // The report: text and HTML.
    let html = wh.dir.path().join("dq.html");
    let out = wh
        .cmd()
        .args(["dq", "report", "--html"])
        .arg(&html)
        .output()
        .expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("3 fail, 5 warn, 0 pass"), "{text}");
    assert!(text.contains("FAIL   negative_on_hand"), "{text}");
    let page = std::fs::read_to_string(&html).expect("html");
    assert!(page.contains("<table>") && page.contains("negative_reserved"));
}

#[test]
fn clean_generated_data_passes_every_check() {
    let wh = Wh::new();
    let landing = wh.path().join("landing").join(P);
    wh.cmd()
        .args([
            "generate",
            "inventory-ops",
            "--skus",
            "20",
            "--warehouses",
            "2",
            "--days",
            "3",
            "--out",
        ])
        .arg(&landing)
        .assert()
        .success();
    let s = run_ok(&wh, P);
    assert_eq!(s["status"], "succeeded", "{s}");
    assert_eq!(s["totals"]["rows_rejected"], 0);
    let statuses = wh.csv("SELECT DISTINCT status FROM dq_results");
    assert_eq!(statuses, "status\npass\n");
}

#[test]
fn schedule_prints_crontab_and_systemd_timers() {
    let wh = Wh::new();
    let out = wh.cmd().arg("schedule").output().expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let entries: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(entries.len(), 4, "{text}");
    // Each line parses as crontab: five valid time fields, then a command.
    let ranges = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)];
    let mut times = Vec::new();
    for e in &entries {
        let fields: Vec<&str> = e.split_whitespace().collect();
        assert!(fields.len() > 5, "{e}");
        for (f, (lo, hi)) in fields[..5].iter().zip(ranges) {
            let ok = *f == "*"
                || f.strip_prefix("*/")
                    .and_then(|n| n.parse::<u32>().ok())
                    .is_some_and(|n| n >= 1 && n <= hi)
                || f.parse::<u32>().is_ok_and(|n| n >= lo && n <= hi);
            assert!(ok, "bad cron field '{f}' in {e}");
        }
        times.push(fields[..5].join(" "));
        let cmd = fields[5..].join(" ");
        assert!(cmd.starts_with("flock -w "), "{e}");
        assert!(cmd.contains("pipeline run inventory-ops"), "{e}");
    }
    assert_eq!(
        times,
        ["0 2 * * *", "0 * * * *", "0 */6 * * *", "0 1 * * 1"]
    );
    assert!(entries[1].contains("--step aggregated_metrics"));
    assert!(entries[2].contains("--step low_stock_alerts"));
    assert!(entries[3].contains("--step weekly_summary"));

    let out = wh
        .cmd()
        .args(["schedule", "--systemd"])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("[Timer]").count(), 4);
    assert!(text.contains("OnCalendar=Mon *-*-* 01:00:00"));
    assert!(text.contains("OnCalendar=hourly"));
}
