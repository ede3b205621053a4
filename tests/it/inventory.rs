//! The `inventory` pipeline (docs/pipelines.md#inventory) on data/inventory, with hand-worked KPIs.

use crate::common::{Wh, drop_sample, rows, run_ok};

fn kpis(wh: &Wh) -> Vec<Vec<String>> {
    rows(&wh.csv(
        "SELECT date, warehouse_id, skus_tracked, total_units, stockouts, below_threshold \
         FROM inventory_kpis_daily ORDER BY date, warehouse_id",
    ))
}

fn strs(rows: &[[&str; 6]]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| r.iter().map(|s| s.to_string()).collect())
        .collect()
}

#[test]
fn inventory_sample_late_data_and_rerun() {
    let wh = Wh::new();
    drop_sample(&wh, "inventory", "inventory", None);
    let landing = wh.path().join("landing/inventory");
    let s = run_ok(&wh, "inventory");
    assert_eq!(s["status"], "partial");
    // 15 non-blank lines in the first file + 2 in the second; the empty file and the one
    // without last_updated/restock_threshold anywhere are rejected whole.
    assert_eq!(s["totals"]["rows_read"], 17);
    assert_eq!(s["totals"]["rows_valid"], 7);
    assert_eq!(s["totals"]["rows_rejected"], 10);
    assert_eq!(s["totals"]["files_rejected"], 2);
    let rej = rows(&wh.csv(
        "SELECT line_number, array_to_string(reasons, '|') FROM rejects \
         WHERE pipeline = 'inventory' ORDER BY line_number",
    ));
    let expected: Vec<Vec<String>> = [
        ("5", "NEGATIVE:stock_level"),
        ("6", "BAD_TYPE:inventory_id"),
        ("7", "BAD_TYPE:stock_level"),
        ("9", "MISSING:warehouse_id"),
        ("10", "BAD_TIMESTAMP:last_updated"),
        ("11", "BAD_TYPE:last_updated"),
        ("12", "MALFORMED"),
        ("13", "MALFORMED"),
        ("15", "NEGATIVE:restock_threshold"),
        ("16", "BAD_TYPE:product_id|MISSING:restock_threshold"),
    ]
    .iter()
    .map(|(a, b)| vec![a.to_string(), b.to_string()])
    .collect();
    assert_eq!(rej, expected);

    // One row per reading: inventory 1 at 1709258400 came twice (as .0 in the first file);
    // the later file's 44 wins. 1e2 is the integer 100.
    assert_eq!(rows(&wh.csv("SELECT count(*) FROM inventory")), [["6"]]);
    assert_eq!(
        rows(&wh.csv(
            "SELECT stock_level FROM inventory WHERE inventory_id = 1 AND last_updated = 1709258400"
        )),
        [["44"]]
    );
    // 2024-03-01, warehouse 1: latest readings 1→44 (threshold 10), 2→0 (5), 10→100 (20):
    // 3 skus, 144 units, 1 stockout, 1 at or below threshold. Warehouse 2: item 3 → 8 (10).
    // 2024-03-02, warehouse 1: item 2 → 7 (5).
    assert_eq!(
        kpis(&wh),
        strs(&[
            ["2024-03-01", "1", "3", "144", "1", "1"],
            ["2024-03-01", "2", "1", "8", "0", "1"],
            ["2024-03-02", "1", "1", "7", "0", "0"],
        ])
    );

    // Late batch: the reading of item 3 is corrected to warehouse 1 (9 units) — warehouse 2's
    // KPI row loses its only input and is deleted — and a new item with a fractional epoch.
    let late = "{\"inventory_id\": 3, \"product_id\": 102, \"warehouse_id\": 1, \"stock_level\": 9, \"restock_threshold\": 10, \"last_updated\": 1709254800}\n\
                {\"inventory_id\": 20, \"product_id\": 1, \"warehouse_id\": 3, \"stock_level\": 1, \"restock_threshold\": 0, \"last_updated\": 1709251200.123456}\n";
    std::fs::write(landing.join("inventory_2024-03-01T05.jsonl"), late).unwrap();
    let s = run_ok(&wh, "inventory");
    assert_eq!(s["totals"]["rows_valid"], 2);
    let expected = strs(&[
        ["2024-03-01", "1", "4", "153", "1", "2"],
        ["2024-03-01", "3", "1", "1", "0", "0"],
        ["2024-03-02", "1", "1", "7", "0", "0"],
    ]);
    assert_eq!(kpis(&wh), expected);
    // Epochs keep full precision (never float32).
    assert_eq!(
        rows(
            &wh.csv(
                "SELECT CAST(last_updated_at AS VARCHAR) FROM inventory WHERE inventory_id = 20"
            )
        ),
        [["2024-03-01T00:00:00.123456Z"]]
    );

    // The same file again changes nothing.
    std::fs::write(landing.join("inventory_2024-03-01T05.jsonl"), late).unwrap();
    let s = run_ok(&wh, "inventory");
    assert_eq!(s["files"][0]["status"], "duplicate");
    assert_eq!(kpis(&wh), expected);
    assert_eq!(rows(&wh.csv("SELECT count(*) FROM inventory")), [["7"]]);
}
