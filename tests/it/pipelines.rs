//! The batch lifecycle and the `pos` pipeline, end to end through the binary, on the sample
//! files in data/pos. Golden values are worked out by hand in the comments.

use std::path::PathBuf;

use serde_json::Value;

use crate::common::{Wh, assert_success, drop_sample, rows, run_pipeline};

const ALL: &[&str] = &[
    "pos_2024-03-01.csv",
    "pos_2024-03-02.csv",
    "pos_2024-03-03_header_only.csv",
    "pos_2024-03-03_no_revenue.csv",
];

fn drop_files(wh: &Wh, files: &[&str]) {
    drop_sample(wh, "pos", "pos", Some(files));
}

fn run_json(wh: &Wh) -> (i32, Value) {
    run_pipeline(wh, "pos")
}

/// (date, product_id, units, gross, discounts, net, transactions)
type Kpi = (&'static str, &'static str, i64, f64, f64, f64, i64);

fn assert_kpis(wh: &Wh, expected: &[Kpi]) {
    let got = rows(&wh.csv(
        "SELECT date, product_id, units_sold, gross_revenue, discounts, net_revenue, transactions \
         FROM pos_daily_product_sales ORDER BY date, product_id",
    ));
    assert_eq!(got.len(), expected.len(), "{got:?}");
    for (g, e) in got.iter().zip(expected) {
        assert_eq!((g[0].as_str(), g[1].as_str()), (e.0, e.1), "{g:?}");
        assert_eq!(g[2].parse::<i64>().unwrap(), e.2, "{g:?}");
        for (i, want) in [(3, e.3), (4, e.4), (5, e.5)] {
            let v: f64 = g[i].parse().unwrap();
            assert!((v - want).abs() < 1e-9, "{g:?} column {i}: {v} != {want}");
        }
        assert_eq!(g[6].parse::<i64>().unwrap(), e.6, "{g:?}");
    }
}

// Valid rows: 2024-03-01 P001 (100: 2u, 20.00), P002 (101: 1u, 9.50, empty discount = 0),
// P003 (100: 3u, 30.00, 3.00), P004 (102: 1u, 5.00, 5.00 — discount = revenue is allowed),
// P005 (100: "2.0" = 2u, 20.00); 2024-03-02 Q001 (100: 1u, 10, 1), Q002 (101: 4u, 38),
// Q003 (102: 2u, 10, 0.50).
const SAMPLE_KPIS: &[Kpi] = &[
    ("2024-03-01", "100", 7, 70.0, 3.0, 67.0, 3),
    ("2024-03-01", "101", 1, 9.5, 0.0, 9.5, 1),
    ("2024-03-01", "102", 1, 5.0, 5.0, 0.0, 1),
    ("2024-03-02", "100", 1, 10.0, 1.0, 9.0, 1),
    ("2024-03-02", "101", 4, 38.0, 0.0, 38.0, 1),
    ("2024-03-02", "102", 2, 10.0, 0.5, 9.5, 1),
];

#[test]
fn pos_sample_batch_rejects_summary_and_kpis() {
    let wh = Wh::new();
    drop_files(&wh, ALL);
    let (code, s) = run_json(&wh);
    assert_eq!(code, 0, "{s}");
    assert_eq!(s["status"], "partial");
    let t = &s["totals"];
    assert_eq!(t["files_processed"], 4);
    assert_eq!(t["files_rejected"], 2);
    assert_eq!(
        t["rows_read"], 22,
        "blank line not counted; whole-file rejects not counted"
    );
    assert_eq!(t["rows_valid"], 8);
    assert_eq!(t["rows_rejected"], 14);

    let files = s["files"].as_array().unwrap();
    let f1 = &files[0];
    assert_eq!(f1["file"], "pos_2024-03-01.csv");
    assert_eq!(f1["status"], "partial");
    let r = &f1["reasons"];
    for (code, n) in [
        ("MISSING:transaction_id", 1),
        ("BAD_TYPE:store_id", 1),
        ("MISSING:product_id", 1),
        ("NOT_POSITIVE:quantity", 2),
        ("BAD_TYPE:quantity", 1),
        ("NEGATIVE:revenue", 1),
        ("BAD_TYPE:revenue", 1),
        ("NEGATIVE:discount_applied", 1),
        ("DISCOUNT_EXCEEDS_REVENUE", 1),
        ("BAD_TIMESTAMP:timestamp", 2),
        ("MISSING:timestamp", 1),
        ("MALFORMED", 1),
        ("DUPLICATE", 1),
    ] {
        assert_eq!(r[code], n, "{code} in {r}");
    }
    assert_eq!(files[1]["status"], "succeeded");
    assert_eq!(files[2]["status"], "rejected");
    assert!(
        files[2]["reject_reason"]
            .as_str()
            .unwrap()
            .starts_with("EMPTY")
    );
    assert_eq!(files[3]["status"], "rejected");
    assert!(
        files[3]["reject_reason"]
            .as_str()
            .unwrap()
            .contains("revenue")
    );

    // Exact rejects: line numbers are physical lines (header = 1, the blank line 5 skipped).
    let rej = rows(&wh.csv(
        "SELECT line_number, array_to_string(reasons, '|') FROM rejects \
         WHERE source_file = 'pos_2024-03-01.csv' ORDER BY line_number",
    ));
    let expected: Vec<Vec<String>> = [
        ("8", "MISSING:transaction_id"),
        ("9", "BAD_TYPE:store_id"),
        ("10", "MISSING:product_id"),
        ("11", "NOT_POSITIVE:quantity"),
        ("12", "BAD_TYPE:quantity"),
        ("13", "NEGATIVE:revenue"),
        ("14", "NEGATIVE:discount_applied"),
        ("15", "DISCOUNT_EXCEEDS_REVENUE"),
        ("16", "BAD_TIMESTAMP:timestamp"),
        ("17", "BAD_TYPE:revenue"),
        ("18", "MALFORMED"),
        ("19", "DUPLICATE"),
        ("20", "NOT_POSITIVE:quantity|BAD_TIMESTAMP:timestamp"),
        ("21", "MISSING:timestamp"),
    ]
    .iter()
    .map(|(a, b)| vec![a.to_string(), b.to_string()])
    .collect();
    assert_eq!(rej, expected);
    let raw = wh.csv("SELECT record FROM rejects WHERE line_number = 18");
    assert!(raw.contains("P015,1,100,1,10.00,0,1709295400"), "{raw}");

    // Conservation: rows_read = valid + rejected, and rejects holds exactly the rejected rows.
    let run_id = s["run_id"].as_str().unwrap();
    let n = rows(&wh.csv(&format!(
        "SELECT count(*) FROM rejects WHERE run_id = '{run_id}'"
    )));
    assert_eq!(n, [["14"]]);
    assert_eq!(
        rows(&wh.csv("SELECT count(*) FROM pos_transactions")),
        [["8"]]
    );
    let runs = rows(&wh.csv(
        "SELECT status, files_processed, files_rejected, rows_read, rows_valid, rows_rejected FROM stockroom_runs",
    ));
    assert_eq!(runs, [["partial", "4", "2", "22", "8", "14"]]);

    assert_kpis(&wh, SAMPLE_KPIS);

    // Files moved: good ones archived, whole-file rejects beside a reason file.
    let archive = wh.path().join("archive/pos").join(run_id);
    assert!(archive.join("pos_2024-03-01.csv").is_file());
    let rejected = wh.path().join("rejected/pos").join(run_id);
    assert!(rejected.join("pos_2024-03-03_no_revenue.csv").is_file());
    let reason =
        std::fs::read_to_string(rejected.join("pos_2024-03-03_no_revenue.csv.reason.json"))
            .unwrap();
    assert!(reason.contains("MISSING_COLUMNS"), "{reason}");
    assert_eq!(
        std::fs::read_dir(wh.path().join("landing/pos"))
            .unwrap()
            .count(),
        0
    );
    let summary_file = wh.path().join("runs/pos").join(format!("{run_id}.json"));
    assert!(summary_file.is_file());
    let notes = std::fs::read_to_string(wh.path().join("runs/notifications.jsonl")).unwrap();
    assert!(
        notes.contains("\"status\":\"partial\"") && notes.contains(run_id),
        "{notes}"
    );
}

#[test]
fn pos_redrop_is_not_counted_and_late_data_corrects_kpis() {
    let wh = Wh::new();
    drop_files(&wh, &["pos_2024-03-01.csv"]);
    let (code, _) = run_json(&wh);
    assert_eq!(code, 0);
    // The same file again: recognised by content, nothing counted.
    drop_files(&wh, &["pos_2024-03-01.csv"]);
    let (code, s) = run_json(&wh);
    assert_eq!(code, 0);
    assert_eq!(s["files"][0]["status"], "duplicate");
    assert_eq!(s["totals"]["rows_read"], 0);
    assert_eq!(
        rows(&wh.csv("SELECT count(*) FROM pos_transactions")),
        [["5"]]
    );
    assert_eq!(rows(&wh.csv("SELECT count(*) FROM rejects")), [["14"]]);

    // A late file for 2024-03-01: P003 again (already stored: neither stored again nor
    // rejected) and a new P020 (product 100, 1 unit, 10.00) → 100 on 03-01 becomes
    // 8 units, 80.00 gross, 3.00 discounts, 77.00 net, 4 transactions.
    let landing = wh.path().join("landing/pos");
    std::fs::write(
        landing.join("pos_2024-03-01_late.csv"),
        "transaction_id,store_id,product_id,quantity,revenue,discount_applied,timestamp\n\
         P003,2,100,9,90.00,0,1709287200\nP020,3,100,1,10.00,0,1709300000\n",
    )
    .unwrap();
    let (code, s) = run_json(&wh);
    assert_eq!(code, 0);
    assert_eq!(s["totals"]["rows_valid"], 2);
    assert_eq!(s["totals"]["rows_rejected"], 0);
    assert_kpis(
        &wh,
        &[
            ("2024-03-01", "100", 8, 80.0, 3.0, 77.0, 4),
            ("2024-03-01", "101", 1, 9.5, 0.0, 9.5, 1),
            ("2024-03-01", "102", 1, 5.0, 5.0, 0.0, 1),
        ],
    );
}

#[test]
fn pos_no_valid_record_fails_and_notifies() {
    let wh = Wh::new();
    let landing = wh.path().join("landing/pos");
    std::fs::create_dir_all(&landing).unwrap();
    std::fs::write(
        landing.join("bad.csv"),
        "transaction_id,store_id,product_id,quantity,revenue,discount_applied,timestamp\n\
         X1,1,1,0,1.00,0,1709280000\n,1,1,1,1.00,0,1709280000\n",
    )
    .unwrap();
    let (code, s) = run_json(&wh);
    assert_eq!(code, 2, "the decision state exits 2");
    assert_eq!(s["status"], "failed");
    assert_eq!(s["totals"]["rows_rejected"], 2);
    let notes = std::fs::read_to_string(wh.path().join("runs/notifications.jsonl")).unwrap();
    assert!(
        notes.contains("\"level\":\"error\"") && notes.contains("\"status\":\"failed\""),
        "{notes}"
    );
    let run_id = s["run_id"].as_str().unwrap();
    assert!(
        wh.path()
            .join("rejected/pos")
            .join(run_id)
            .join("bad.csv.reason.json")
            .is_file()
    );
    assert!(!wh.path().join("tables/pos_transactions").exists());
}

#[test]
fn pos_webhook_and_run_lock() {
    use std::io::{Read, Write};
    let wh = Wh::new();
    drop_files(&wh, &["pos_2024-03-02.csv"]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    // The receiving side reports through a channel that the test waits on for a bounded
    // time: a webhook that never arrives fails the test instead of hanging it in accept().
    let (sent, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while let Ok(n) = conn.read(&mut chunk) {
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf);
            if let Some(h) = text.find("\r\n\r\n") {
                let len = text[..h]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                    })
                    .unwrap_or(0);
                if buf.len() >= h + 4 + len {
                    break;
                }
            }
        }
        conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .unwrap();
        let _ = sent.send(String::from_utf8_lossy(&buf).to_string());
    });
    let out = wh
        .cmd()
        .args(["pipeline", "run", "pos", "--notify-webhook", &url])
        .timeout(std::time::Duration::from_secs(300))
        .output()
        .unwrap();
    assert_success(&out);
    let request = received
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the webhook POST arrives within 60 s of the run's end");
    assert!(request.starts_with("POST /hook"), "{request}");
    assert!(
        request.contains("\"pipeline\":\"pos\"") && request.contains("\"status\":\"succeeded\""),
        "{request}"
    );

    // A live lock holder (this test process, through an OS lock on the file) blocks a
    // second run with a clear message…
    drop_files(&wh, &["pos_2024-03-01.csv"]);
    let lock = wh.path().join("runs/pos.lock");
    let held = std::fs::File::options()
        .read(true)
        .write(true)
        .open(&lock)
        .unwrap();
    held.lock().unwrap();
    let out = wh.cmd().args(["pipeline", "run", "pos"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already running"));
    drop(held);
    // …a lock file nobody holds is free, whatever it says (a pid that was reused, here 1).
    std::fs::write(&lock, "1").unwrap();
    wh.cmd().args(["pipeline", "run", "pos"]).assert().success();
}

#[test]
fn validate_graph_generate_and_gzip_input() {
    let wh = Wh::new();
    // Generated data, one file gzipped: the reader decompresses it transparently.
    let landing = wh.path().join("landing/pos");
    wh.cmd()
        .args([
            "generate",
            "pos",
            "--rows",
            "2000",
            "--seed",
            "3",
            "--dirty-ratio",
            "0.1",
            "--files",
            "2",
            "--out",
        ])
        .arg(&landing)
        .assert()
        .success();
    let mut names: Vec<PathBuf> = std::fs::read_dir(&landing)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    let raw = std::fs::read(&names[1]).unwrap();
    let gz = std::fs::File::create(format!("{}.gz", names[1].display())).unwrap();
    let mut enc = flate2::write::GzEncoder::new(gz, flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, &raw).unwrap();
    enc.finish().unwrap();
    std::fs::remove_file(&names[1]).unwrap();

    // validate: a report, nothing written or moved.
    let out = wh
        .cmd()
        .args(["pipeline", "validate", "pos", "--json"])
        .output()
        .unwrap();
    assert_success(&out);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "validated");
    assert_eq!(v["totals"]["rows_read"], 2000);
    let rejected = v["totals"]["rows_rejected"].as_u64().unwrap();
    assert!(
        (150..=250).contains(&rejected),
        "about 10% dirty: {rejected}"
    );
    assert!(!wh.path().join("tables").join("rejects").exists());
    assert_eq!(std::fs::read_dir(&landing).unwrap().count(), 2);

    // The real run agrees with the report, and conserves rows.
    let (code, s) = run_json(&wh);
    assert_eq!(code, 0);
    assert_eq!(s["totals"]["rows_read"], 2000);
    assert_eq!(s["totals"]["rows_rejected"], rejected);
    let stored = rows(&wh.csv("SELECT count(*) FROM pos_transactions"));
    let valid = s["totals"]["rows_valid"].as_u64().unwrap();
    assert_eq!(stored, [[valid.to_string()]]);
    assert_eq!(
        rows(&wh.csv("SELECT count(*) FROM rejects")),
        [[rejected.to_string()]]
    );

    let graph = wh
        .cmd()
        .args(["pipeline", "graph", "pos"])
        .output()
        .unwrap();
    let g = String::from_utf8_lossy(&graph.stdout);
    assert!(
        g.starts_with("flowchart TD") && g.contains("30_kpis.sql") && g.contains("decide"),
        "{g}"
    );
    let list = wh.cmd().args(["pipeline", "list"]).output().unwrap();
    assert!(String::from_utf8_lossy(&list.stdout).contains("pos"));
}

/// `bench pos --repeat 2`: the second run gets the same files in a warehouse of its own, so
/// both runs read, accept and reject exactly the same records.
#[test]
fn bench_repeat_runs_the_same_files_again() {
    let wh = Wh::new();
    let out = wh
        .cmd()
        .args([
            "bench", "pos", "--rows", "2000", "--files", "2", "--repeat", "2",
        ])
        .output()
        .expect("run bench");
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let counts: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("pipeline run pos ("))
        .map(|l| {
            l.split(" in ")
                .next()
                .unwrap_or("")
                .split("): ")
                .nth(1)
                .unwrap_or("")
        })
        .collect();
    assert_eq!(counts.len(), 2, "{stdout}");
    assert!(counts[0].starts_with("2000 rows read"), "{stdout}");
    assert_eq!(counts[0], counts[1], "{stdout}");
    assert!(stdout.contains("over 2 runs"), "{stdout}");
    assert!(wh.path().join("bench-repeat-1/archive/pos").is_dir());
}
