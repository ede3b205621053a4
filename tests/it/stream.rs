//! `stockroom stream inventory-events` (docs/pipelines.md#inventory-events): the original system's
//! audit session, every reason code, in-batch folding, exactly once across kill -9 and injected
//! crashes, and bounded file counts. Expected values are worked out by hand from the input lines.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{Wh, assert_success, rows};

/// `stream inventory-events --follow --input FILE ARGS…` in the background, its output piped.
fn follow(wh: &Wh, file: &Path, args: &[&str]) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("stockroom"))
        .arg("--warehouse")
        .arg(wh.path())
        .args(["stream", "inventory-events", "--follow"])
        .args(args)
        .arg("--input")
        .arg(file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits (up to two minutes) until `product_events` holds `n` rows.
fn wait_for_events(wh: &Wh, n: &str) {
    let started = Instant::now();
    loop {
        let out = wh
            .cmd()
            .args([
                "query",
                "SELECT count(*) AS n FROM product_events",
                "--format",
                "csv",
            ])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout) == format!("n\n{n}\n") {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "never saw {n} events"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/inventory-events")
        .join(name)
}

/// `stream inventory-events --input FILE ARGS… --json`, asserting success; the summary.
fn stream(wh: &Wh, input: &Path, args: &[&str]) -> serde_json::Value {
    let out = wh
        .cmd()
        .args(["stream", "inventory-events", "--json", "--input"])
        .arg(input)
        .args(args)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "stream failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json summary")
}

pub(crate) fn generate(wh: &Wh, count: u64, seed: u64, invalid: f64) -> PathBuf {
    let path = wh.dir.path().join(format!("events-{seed}.jsonl"));
    wh.cmd()
        .args(["generate", "inventory-events", "--count"])
        .arg(count.to_string())
        .args([
            "--seed",
            &seed.to_string(),
            "--invalid-ratio",
            &invalid.to_string(),
            "--out",
        ])
        .arg(&path)
        .assert()
        .success();
    path
}

const INVENTORY: &str = "SELECT product_id, product_name, quantity, timestamp, updated_seq \
                         FROM product_inventory ORDER BY product_id";
const REJECTS: &str = "SELECT line_number, array_to_string(reasons, '|') AS reasons \
                       FROM rejects WHERE pipeline = 'inventory-events' ORDER BY file_hash";

#[test]
fn audit_session_of_the_original_system() {
    let wh = Wh::new();
    // The initial table, loaded as product_added events through stdin.
    let initial = std::fs::read(data("01_audit_initial.jsonl")).unwrap();
    let out = wh
        .cmd()
        .args(["stream", "inventory-events", "--json"])
        .write_stdin(initial)
        .output()
        .unwrap();
    assert_success(&out);
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["input"], "stdin");
    // The session's summary is also kept under runs/.
    let kept = wh
        .path()
        .join("runs/inventory-events")
        .join(format!("{}.json", s["run_id"].as_str().unwrap()));
    let kept: serde_json::Value = serde_json::from_slice(&std::fs::read(kept).unwrap()).unwrap();
    assert_eq!(kept["events_read"], 7);
    assert_eq!(s["outcomes"]["inserted"], 7);
    // Then the six events, one micro-batch each, so the change feed shows every step.
    let s = stream(&wh, &data("02_audit_events.jsonl"), &["--batch-size", "1"]);
    assert_eq!(
        (s["events_read"].as_u64(), s["batches"].as_u64()),
        (Some(6), Some(6))
    );

    // P3 is gone (added as Headphones, then removed by its name); the removals naming
    // Charger (P3) and Tablet (P4) are rejected and delete nothing; P8 is 50 now.
    assert_eq!(
        wh.csv(INVENTORY),
        "product_id,product_name,quantity,timestamp,updated_seq\n\
         P1,Charger,18,2022-01-22T13:09:13Z,6\n\
         P10,Tablet,31,2023-09-11T12:45:04Z,1\n\
         P2,Tablet,45,2023-04-23T01:38:57Z,3\n\
         P4,Headphones,25,2022-07-05T05:21:55Z,7\n\
         P7,Headphones,40,2022-03-05T12:42:54Z,5\n\
         P8,Tablet,50,2022-04-14T07:52:42Z,9\n\
         P9,Headphones,46,2023-12-26T05:19:05Z,10\n"
    );
    assert_eq!(
        rows(&wh.csv(REJECTS)),
        vec![vec!["4", "NAME_MISMATCH"], vec!["6", "NAME_MISMATCH"]]
    );
    assert_eq!(
        rows(&wh.csv(
            "SELECT seq, event_type, product_id, outcome FROM product_events WHERE seq > 7 ORDER BY seq"
        )),
        vec![
            vec!["8", "product_added", "P3", "updated"],
            vec!["9", "product_added", "P8", "updated"],
            vec!["10", "product_added", "P9", "inserted"],
            vec!["12", "product_removed", "P3", "deleted"],
        ]
    );
    // The audit: version 1 is the initial table; every later change with before/after.
    // (Versions 5 and 7 are the rejected removals: offset-only commits, no change rows.)
    assert_eq!(
        wh.csv(
            "SELECT _commit_version AS v, _change_type, product_id, product_name, quantity, timestamp \
             FROM table_changes('product_inventory', 2) ORDER BY v, product_id, _change_type DESC"
        ),
        "v,_change_type,product_id,product_name,quantity,timestamp\n\
         2,update_preimage,P3,Tablet,2,2023-09-25T03:50:19Z\n\
         2,update_postimage,P3,Headphones,36,2023-09-28T16:04:58Z\n\
         3,update_preimage,P8,Tablet,41,2022-05-03T18:08:49Z\n\
         3,update_postimage,P8,Tablet,50,2022-04-14T07:52:42Z\n\
         4,insert,P9,Headphones,46,2023-12-26T05:19:05Z\n\
         6,delete,P3,Headphones,36,2023-09-28T16:04:58Z\n"
    );
    // Streaming the same file again applies nothing: its offset is committed.
    let s = stream(&wh, &data("02_audit_events.jsonl"), &[]);
    assert_eq!(s["events_read"], 0);
    assert_eq!(
        wh.csv("SELECT count(*) AS n FROM product_events"),
        "n\n11\n"
    );
}

#[test]
fn every_reason_code() {
    let wh = Wh::new();
    let s = stream(&wh, &data("03_bad_events.jsonl"), &[]);
    // 19 lines, one blank (not counted).
    assert_eq!(s["events_read"], 18);
    assert_eq!(
        (s["events_accepted"].as_u64(), s["events_rejected"].as_u64()),
        (Some(3), Some(15))
    );
    assert_eq!(
        rows(&wh.csv(REJECTS)),
        [
            ("1", "MALFORMED"),
            ("2", "MALFORMED"),
            ("3", "UNKNOWN_EVENT_TYPE"),
            ("5", "NAME_MISMATCH"),
            ("6", "UNKNOWN_PRODUCT"),
            ("7", "BAD_TYPE:product_id"),
            ("8", "BAD_TYPE:product_id"),
            ("9", "NEGATIVE:quantity"),
            ("10", "BAD_TYPE:quantity"),
            ("11", "BAD_TYPE:quantity"),
            ("12", "MISSING:product_name"),
            ("13", "MISSING:quantity|MISSING:timestamp"),
            ("14", "MISSING:product"),
            ("15", "MISSING:event_type"),
            ("16", "BAD_TIMESTAMP:timestamp"),
        ]
        .iter()
        .map(|(a, b)| vec![a.to_string(), b.to_string()])
        .collect::<Vec<_>>()
    );
    assert_eq!(
        rows(&wh.csv(
            "SELECT line_number, product_id, quantity, outcome FROM product_events ORDER BY seq"
        )),
        vec![
            vec!["4", "P20", "5", "inserted"],
            vec!["18", "P20", "10", "updated"],
            vec!["19", "P404", "1", "not_found"],
        ]
    );
    assert_eq!(
        wh.csv("SELECT product_id, product_name, quantity FROM product_inventory"),
        "product_id,product_name,quantity\nP20,Laptop,10\n"
    );
    // A line that is not UTF-8 is MALFORMED too; the next line still applies.
    let bad = wh.dir.path().join("latin1.jsonl");
    let mut bytes = b"{\"event_type\": \"product_added\", \"product\": {\"product_id\": \"P1\", \"product_name\": \"Caf\xe9\"}}\n".to_vec();
    bytes.extend_from_slice(
        br#"{"event_type": "product_quantity_changed", "product": {"product_id": "P20", "quantity": 0}}"#,
    );
    std::fs::write(&bad, bytes).unwrap();
    // The last line has no newline: it counts because the file is declared complete.
    stream(&wh, &bad, &["--finished"]);
    assert_eq!(
        rows(&wh.csv(
            "SELECT line_number, array_to_string(reasons, '|') FROM rejects \
             WHERE pipeline = 'inventory-events' AND source_file LIKE '%latin1.jsonl'"
        )),
        vec![vec!["1", "MALFORMED"]]
    );
    assert_eq!(
        wh.csv("SELECT quantity FROM product_inventory"),
        "quantity\n0\n"
    );
    // The stream created the shared rejects table; a batch pipeline MERGEs into it as usual.
    crate::common::drop_sample(&wh, "pos", "pos", Some(&["pos_2024-03-01.csv"]));
    crate::common::run_ok(&wh, "pos");
    assert_eq!(
        rows(&wh.csv(
            "SELECT pipeline = 'pos' AS p, count(*) > 0 AS some FROM rejects GROUP BY pipeline = 'pos' ORDER BY p"
        )),
        vec![vec!["false", "true"], vec!["true", "true"]]
    );
}

#[test]
fn several_events_for_one_product_fold_in_order_within_one_batch() {
    let wh = Wh::new();
    let lines = [
        r#"{"event_type": "product_removed", "product": {"product_id": "P1", "product_name": "Laptop"}}"#,
        r#"{"event_type": "product_quantity_changed", "product": {"product_id": "P1", "quantity": 3}}"#,
        r#"{"event_type": "product_added", "product": {"product_id": "P1", "product_name": "Laptop", "quantity": 5, "timestamp": "2023-01-01 00:00:00"}}"#,
        r#"{"event_type": "product_quantity_changed", "product": {"product_id": "P1", "quantity": 7}}"#,
        r#"{"event_type": "product_removed", "product": {"product_id": "P1", "product_name": "Phone"}}"#,
        r#"{"event_type": "product_added", "product": {"product_id": "P1", "product_name": "Phone", "quantity": 9, "timestamp": "2023-01-02 00:00:00"}}"#,
        r#"{"event_type": "product_removed", "product": {"product_id": "P1", "product_name": "Phone"}}"#,
        r#"{"event_type": "product_added", "product": {"product_id": "P1", "product_name": "Laptop", "quantity": 3, "timestamp": "2023-01-03 00:00:00"}}"#,
        r#"{"event_type": "product_quantity_changed", "product": {"product_id": "P1", "quantity": 4}}"#,
    ];
    let path = wh.dir.path().join("p1.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let s = stream(&wh, &path, &[]);
    assert_eq!(s["batches"], 1);
    assert_eq!(
        rows(&wh.csv("SELECT seq, outcome FROM product_events ORDER BY seq")),
        [
            (1, "not_found"),
            (3, "inserted"),
            (4, "updated"),
            (6, "updated"),
            (7, "deleted"),
            (8, "inserted"),
            (9, "updated")
        ]
        .iter()
        .map(|(a, b)| vec![a.to_string(), b.to_string()])
        .collect::<Vec<_>>()
    );
    assert_eq!(
        rows(&wh.csv(REJECTS)),
        vec![vec!["2", "UNKNOWN_PRODUCT"], vec!["5", "NAME_MISMATCH"]]
    );
    assert_eq!(
        wh.csv(INVENTORY),
        "product_id,product_name,quantity,timestamp,updated_seq\nP1,Laptop,4,2023-01-03T00:00:00Z,9\n"
    );
    // One MERGE for the whole batch: the change feed holds only the net insert.
    assert_eq!(
        rows(&wh.csv(
            "SELECT _commit_version, _change_type, quantity FROM table_changes('product_inventory', 0)"
        )),
        vec![vec!["1", "insert", "4"]]
    );
}

/// Everything a run leaves, minus the columns that differ between runs (run id, times).
fn snapshot(wh: &Wh) -> (String, String, String) {
    let inv = wh.csv(INVENTORY);
    let events = wh.csv(
        "SELECT seq, event_type, product_id, product_name, quantity, timestamp, outcome, line_number \
         FROM product_events ORDER BY seq",
    );
    let rejects = wh.csv(
        "SELECT file_hash, line_number, record, array_to_string(reasons, '|') AS reasons \
         FROM rejects WHERE pipeline = 'inventory-events' ORDER BY file_hash",
    );
    (inv, events, rejects)
}

fn assert_no_duplicates(wh: &Wh, lines: u64) {
    let counts = wh.csv(
        "SELECT (SELECT count(*) FROM product_events) AS e, (SELECT count(DISTINCT seq) FROM product_events) AS ed, \
         (SELECT count(*) FROM rejects WHERE pipeline = 'inventory-events') AS r, \
         (SELECT count(DISTINCT file_hash) FROM rejects WHERE pipeline = 'inventory-events') AS rd",
    );
    let v: Vec<u64> = rows(&counts)[0]
        .iter()
        .map(|x| x.parse().unwrap())
        .collect();
    assert_eq!(v[0], v[1], "a seq is twice in product_events");
    assert_eq!(v[2], v[3], "a seq is twice in rejects");
    assert_eq!(v[0] + v[2], lines, "every line is an event or a reject");
}

fn reference(lines: u64, seed: u64, invalid: f64) -> (String, String, String) {
    let wh = Wh::new();
    let f = generate(&wh, lines, seed, invalid);
    stream(&wh, &f, &["--batch-size", "100000"]);
    snapshot(&wh)
}

#[test]
fn kill_9_in_the_middle_then_resume_applies_every_event_once() {
    let (lines, seed, invalid) = (20_000, 11, 0.02);
    let wh = Wh::new();
    let f = generate(&wh, lines, seed, invalid);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("stockroom"))
        .arg("--warehouse")
        .arg(wh.path())
        .args([
            "stream",
            "inventory-events",
            "--batch-size",
            "500",
            "--input",
        ])
        .arg(&f)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait for a few micro-batches to commit, then kill -9.
    let log = wh.path().join("tables/product_inventory/_delta_log");
    let started = Instant::now();
    loop {
        let commits = std::fs::read_dir(&log)
            .map(|d| {
                d.filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".json"))
                })
                .count()
            })
            .unwrap_or(0);
        if commits >= 6 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the stream ended before the kill"
        );
        assert!(started.elapsed() < Duration::from_secs(300), "no commits");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the stream ended before the kill"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let applied: u64 = rows(&wh.csv("SELECT max(updated_seq) AS m FROM product_inventory"))[0][0]
        .parse()
        .unwrap();
    assert!(
        applied > 0 && applied < lines,
        "killed mid-stream (applied up to {applied})"
    );

    let s = stream(&wh, &f, &["--batch-size", "5000"]);
    assert!(
        s["first_seq"].as_u64().unwrap() > 1,
        "resumed, not restarted: {s}"
    );
    assert_eq!(s["last_seq"], lines);
    assert_no_duplicates(&wh, lines);
    assert_eq!(snapshot(&wh), reference(lines, seed, invalid));
}

#[test]
fn crash_between_the_side_tables_and_the_inventory_commit() {
    let (lines, seed, invalid) = (2_000, 5, 0.05);
    let expected = reference(lines, seed, invalid);
    for boundary in stockroom::stream::fault::BOUNDARIES {
        let wh = Wh::new();
        let f = generate(&wh, lines, seed, invalid);
        let out = wh
            .cmd()
            .env("STOCKROOM_FAULT", format!("{boundary}@3"))
            .args([
                "stream",
                "inventory-events",
                "--batch-size",
                "300",
                "--input",
            ])
            .arg(&f)
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "{boundary}: the fault hook must abort"
        );
        // Batches 1 and 2 are applied (and 3 too when the crash came after its commit).
        let applied = wh.csv("SELECT max(updated_seq) <= 900 AS ok FROM product_inventory");
        assert_eq!(applied, "ok\ntrue\n", "{boundary}");
        let s = stream(&wh, &f, &["--batch-size", "700"]);
        if *boundary == "after_side_tables" {
            assert!(s["rolled_back"].as_u64().unwrap() > 0, "{boundary}: {s}");
            assert_eq!(s["first_seq"], 601, "{boundary}");
        } else {
            assert_eq!(s["first_seq"], 901, "{boundary}");
        }
        assert_no_duplicates(&wh, lines);
        assert_eq!(snapshot(&wh), expected, "{boundary}");
    }
}

fn active_files(wh: &Wh, table: &str) -> u64 {
    let out = wh.ok(&format!("DESCRIBE {table}"));
    out.lines()
        .find(|l| l.contains("# files"))
        .and_then(|l| {
            l.split(['│', '┆'])
                .map(str::trim)
                .find(|c| c.parse::<u64>().is_ok())
        })
        .and_then(|c| c.parse().ok())
        .expect("# files")
}

/// Many tiny micro-batches: compaction and checkpoints keep the active files and the log a
/// reader must replay bounded. (2 000 batches take ~6 min in a debug build; 210 batches with
/// maintenance every 25 exercise the same mechanism; `stockroom bench stream` runs 2 000.)
#[test]
fn file_count_stays_bounded_over_many_micro_batches() {
    let wh = Wh::new();
    let f = generate(&wh, 210, 3, 0.0);
    let s = stream(&wh, &f, &["--batch-size", "1", "--maintain-every", "25"]);
    assert_eq!(s["batches"], 210);
    assert_eq!(s["maintenance_runs"], 8);
    // Ten batches since the last compaction at batch 200: at most one new file each.
    for t in ["product_inventory", "product_events"] {
        let n = active_files(&wh, t);
        assert!(n <= 11, "{t}: {n} active files");
    }
    // A reader replays the last checkpoint plus the commits after it.
    let log = wh.path().join("tables/product_inventory/_delta_log");
    let last: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(log.join("_last_checkpoint")).unwrap())
            .unwrap();
    let cp = last["version"].as_u64().unwrap();
    let after = std::fs::read_dir(&log)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().to_string();
            n.strip_suffix(".json").and_then(|v| v.parse::<u64>().ok())
        })
        .filter(|v| *v > cp)
        .count();
    assert!(after <= 10, "{after} commits after the checkpoint at {cp}");
    // Reads agree with an independent reader of the Delta log.
    let n: usize = rows(&wh.csv("SELECT count(*) FROM product_inventory"))[0][0]
        .parse()
        .unwrap();
    assert_eq!(
        n,
        crate::common::independent_row_count(&wh.path().join("tables/product_inventory"))
    );
}

/// SIGTERM while following a growing file: what was read is committed, the process exits 0
/// with its summary; appended lines are picked up by the next start.
#[test]
fn follow_then_sigterm_commits_and_exits_cleanly() {
    let wh = Wh::new();
    let f = wh.dir.path().join("growing.jsonl");
    let initial = std::fs::read_to_string(data("01_audit_initial.jsonl")).unwrap();
    std::fs::write(&f, &initial).unwrap();
    let child = follow(&wh, &f, &["--batch-ms", "100", "--json"]);
    wait_for_events(&wh, "7");
    // The file grows (the first half of a line, then the rest): the stream picks it up.
    let events = std::fs::read_to_string(data("02_audit_events.jsonl")).unwrap();
    let (a, b) = events.split_at(40);
    let mut file = std::fs::OpenOptions::new().append(true).open(&f).unwrap();
    use std::io::Write;
    file.write_all(a.as_bytes()).unwrap();
    file.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    file.write_all(b.as_bytes()).unwrap();
    file.flush().unwrap();
    wait_for_events(&wh, "11");
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_success(&out);
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["stopped_by"], "signal");
    assert_eq!(s["last_seq"], 13);
    assert!(String::from_utf8_lossy(&out.stderr).contains("13 events"));
    assert_eq!(rows(&wh.csv(REJECTS)).len(), 2);
}

#[test]
fn generate_inventory_events_to_stdout_is_deterministic() {
    let wh = Wh::new();
    let run = |seed: &str| {
        let out = wh
            .cmd()
            .args([
                "generate",
                "inventory-events",
                "--count",
                "50",
                "--seed",
                seed,
                "--invalid-ratio",
                "0.2",
            ])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let a = run("1");
    assert_eq!(a.lines().count(), 50);
    assert_eq!(a, run("1"));
    assert_ne!(a, run("2"));
    // Piped into the stream, every line ends in a table or in rejects.
    let out = wh
        .cmd()
        .args(["stream", "inventory-events", "--json"])
        .write_stdin(a)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_no_duplicates(&wh, 50);
}

fn added(id: &str) -> String {
    format!(
        "{{\"event_type\": \"product_added\", \"product\": {{\"product_id\": \"{id}\", \
         \"product_name\": \"Pen\", \"quantity\": 3, \"timestamp\": \"2023-05-01 10:00:00\"}}}}"
    )
}

/// `stream … --input FILE ARGS…` that must fail; its stderr.
fn stream_fails(wh: &Wh, input: &Path) -> String {
    let out = wh
        .cmd()
        .args(["stream", "inventory-events", "--json", "--input"])
        .arg(input)
        .output()
        .expect("run");
    assert!(!out.status.success(), "the stream should refuse {input:?}");
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn a_file_is_known_by_inode_and_first_bytes_not_by_path() {
    let wh = Wh::new();
    let a = wh.dir.path().join("a.jsonl");
    // A writer is in the middle of the third line: it is not an event yet.
    let partial = added("P3");
    let (head, tail) = partial.split_at(20);
    std::fs::write(&a, format!("{}\n{}\n{head}", added("P1"), added("P2"))).unwrap();
    let s = stream(&wh, &a, &[]);
    assert_eq!(s["events_read"], 2, "{s}");
    assert_eq!(s["unterminated_bytes"], 20, "{s}");
    // The line is complete now: read on from where the stream stopped.
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&a).unwrap();
        writeln!(f, "{tail}").unwrap();
    }
    let s = stream(&wh, &a, &[]);
    assert_eq!(
        (s["events_read"].as_u64(), s["events_accepted"].as_u64()),
        (Some(1), Some(1))
    );

    // Renamed: the same file under another name is not applied again.
    let b = wh.dir.path().join("b.jsonl");
    std::fs::rename(&a, &b).unwrap();
    let s = stream(&wh, &b, &[]);
    assert_eq!(s["events_read"], 0, "{s}");
    assert!(
        s["input_note"].as_str().unwrap().contains("another name"),
        "{s}"
    );

    // A longer file under the old name (another inode where the stream read before): refused,
    // in words, instead of read from the old offset mid-line.
    std::fs::write(
        &a,
        format!(
            "{}\n{}\n{}\n{}\n",
            added("P21"),
            added("P22"),
            added("P23"),
            added("P24")
        ),
    )
    .unwrap();
    let err = stream_fails(&wh, &a);
    assert!(err.contains("was replaced"), "{err}");

    // Truncated in place, and rewritten in place (same inode, other first bytes).
    let c = wh.dir.path().join("c.jsonl");
    std::fs::write(&c, format!("{}\n{}\n", added("P31"), added("P32"))).unwrap();
    stream(&wh, &c, &[]);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&c)
        .unwrap()
        .set_len(10)
        .unwrap();
    assert!(stream_fails(&wh, &c).contains("truncated"));
    std::fs::write(
        &c,
        format!("{}\n{}\n{}\n", added("P41"), added("P42"), added("P43")),
    )
    .unwrap();
    assert!(stream_fails(&wh, &c).contains("rewritten in place"));

    // A file known to be complete: its last line counts without a newline.
    let d = wh.dir.path().join("d.jsonl");
    std::fs::write(&d, format!("{}\n{}", added("P51"), added("P52"))).unwrap();
    let s = stream(&wh, &d, &["--finished"]);
    assert_eq!(
        (s["events_read"].as_u64(), s["unterminated_bytes"].as_u64()),
        (Some(2), Some(0))
    );

    // Every event was applied once: P1-P3, P31, P32, P51, P52.
    assert_eq!(
        wh.csv("SELECT count(*) AS n, count(DISTINCT product_id) AS d FROM product_events"),
        "n,d\n7,7\n"
    );
}

#[test]
fn a_followed_file_that_is_renamed_away_or_truncated_stops_the_stream_in_words() {
    for change in ["rename", "truncate"] {
        let wh = Wh::new();
        let f = wh.dir.path().join("followed.jsonl");
        std::fs::write(&f, format!("{}\n{}\n", added("P1"), added("P2"))).unwrap();
        let child = follow(&wh, &f, &["--batch-ms", "50"]);
        // Both events committed: the stream waits at the end of the file.
        wait_for_events(&wh, "2");
        if change == "rename" {
            std::fs::rename(&f, wh.dir.path().join("moved.jsonl")).unwrap();
        } else {
            std::fs::OpenOptions::new()
                .write(true)
                .open(&f)
                .unwrap()
                .set_len(5)
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{change}: {stderr}");
        let words = if change == "rename" {
            "renamed or deleted"
        } else {
            "truncated"
        };
        assert!(stderr.contains(words), "{change}: {stderr}");
    }
}
