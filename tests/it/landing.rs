//! Landing inputs a careless upstream system could drop: hostile file names, symlinks and
//! other non-regular files, decompression bombs, half-uploaded files, concurrent runs.
//! Every record must end in a curated table or in `rejects`, and no input may block the
//! pipeline for good.

use std::path::{Path, PathBuf};

use crate::common::{Wh, assert_success, rows, run_pipeline};

const HEADER: &str =
    "timestamp,transaction_id,product_id,store_id,quantity,revenue,discount_applied";

/// A small pos file: `valid` good rows with ids `<tag>-<i>` and one malformed row.
fn pos_file(tag: &str, valid: usize) -> String {
    let mut s = format!("{HEADER}\n");
    for i in 0..valid {
        s.push_str(&format!("1709366400,{tag}-{i},100,1,1,10.00,0\n"));
    }
    s.push_str("not,a,row\n");
    s
}

fn landing(wh: &Wh) -> PathBuf {
    let d = wh.path().join("landing/pos");
    std::fs::create_dir_all(&d).expect("landing dir");
    d
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn file_names_are_values_never_sql_or_variables() {
    let wh = Wh::new();
    let names = [
        "pos_${x}.csv",
        "pos_o'brien.csv",
        "pos_a;b -- c \\ d.csv",
        "pos_${pipeline:raw}.csv",
    ];
    for (i, n) in names.iter().enumerate() {
        std::fs::write(landing(&wh).join(n), pos_file(&format!("N{i}"), 2)).unwrap();
    }
    let (code, s) = run_pipeline(&wh, "pos");
    assert_eq!(code, 0, "{s}");
    assert_eq!(s["totals"]["rows_valid"], 8, "{s}");
    assert_eq!(s["totals"]["rows_rejected"], 4, "{s}");
    assert!(names_in(&landing(&wh)).is_empty(), "landing is emptied");
    // The names are stored exactly as they are, in the ledger and in rejects.
    let mut want: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    want.sort();
    let ledger: Vec<String> = wh
        .csv("SELECT source_file FROM stockroom_files ORDER BY source_file")
        .lines()
        .skip(1)
        .map(|l| l.trim_matches('"').replace("\"\"", "\""))
        .collect();
    assert_eq!(ledger, want);
    let rej = rows(&wh.csv(
        "SELECT count(*) FROM rejects WHERE source_file IN \
         ('pos_${x}.csv', 'pos_o''brien.csv', 'pos_${pipeline:raw}.csv')",
    ));
    assert_eq!(rej, vec![vec!["3".to_string()]]);
    // The next run has nothing to do and succeeds: nothing was left behind to block it.
    let out = wh.cmd().args(["pipeline", "run", "pos"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every file name under `dir`, recursively, with its path relative to `dir`.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            // Links and directories are listed, never entered.
            let is_dir = std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir());
            out.push(rel);
            if is_dir {
                walk(base, &p, out);
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn file_status<'a>(s: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    s["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file"] == name)
        .unwrap_or_else(|| panic!("no {name} in {s}"))
}

/// A file of a run summary was rejected whole with reason `code`.
fn assert_rejected(f: &serde_json::Value, code: &str) {
    assert_eq!(f["status"], "rejected", "{f}");
    assert!(
        f["reject_reason"].as_str().unwrap_or("").starts_with(code),
        "{f}"
    );
}

#[test]
fn only_regular_files_are_taken_links_fifos_and_directories_are_moved_aside_unread() {
    let wh = Wh::new();
    let land = landing(&wh);
    // A file outside landing, with a line that must not reach `rejects`.
    let outside = wh.dir.path().join("elsewhere.csv");
    std::fs::write(&outside, format!("{HEADER}\nSECRET,line\n")).unwrap();
    std::os::unix::fs::symlink(&outside, land.join("pos_link.csv")).unwrap();
    std::os::unix::fs::symlink(wh.dir.path(), land.join("pos_dirlink.csv")).unwrap();
    std::fs::create_dir(land.join("pos_dir.csv")).unwrap();
    let fifo = std::ffi::CString::new(land.join("pos_fifo.csv").display().to_string()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates the node.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    std::fs::write(land.join("pos_good.csv"), pos_file("G", 3)).unwrap();

    let (code, s) = run_pipeline(&wh, "pos");
    assert_eq!(code, 0, "{s}");
    for n in [
        "pos_link.csv",
        "pos_dirlink.csv",
        "pos_dir.csv",
        "pos_fifo.csv",
    ] {
        assert_rejected(file_status(&s, n), "NOT_A_REGULAR_FILE");
    }
    assert_eq!(file_status(&s, "pos_good.csv")["status"], "partial");
    assert_eq!(s["totals"]["rows_valid"], 3);
    // Nothing of the link target was read; the target is where it was.
    assert_eq!(
        wh.csv("SELECT count(*) AS n FROM rejects WHERE record LIKE '%SECRET%'"),
        "n\n0\n"
    );
    assert!(outside.is_file());
    assert_eq!(
        rows(&wh.csv("SELECT source_file FROM stockroom_files")),
        vec![vec!["pos_good.csv".to_string()]]
    );
    // Landing is empty; the entries were moved as they are (a link stays a link).
    assert!(names_in(&land).is_empty());
    let rejected = wh.path().join("rejected/pos");
    let moved = tree(&rejected);
    let link = moved
        .iter()
        .find(|p| p.ends_with("/pos_link.csv"))
        .expect("link moved");
    assert!(
        std::fs::symlink_metadata(rejected.join(link))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    for n in ["pos_fifo.csv", "pos_dir.csv", "pos_dirlink.csv"] {
        assert!(
            moved.iter().any(|p| p.ends_with(&format!("/{n}"))),
            "{moved:?}"
        );
        assert!(
            moved
                .iter()
                .any(|p| p.ends_with(&format!("/{n}.reason.json"))),
            "{moved:?}"
        );
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[test]
fn files_over_max_file_bytes_and_gzip_bombs_are_rejected_whole() {
    let wh = Wh::new();
    let land = landing(&wh);
    // 8 MiB of zeros after a header: about 8 KiB compressed.
    let mut bomb = format!("{HEADER}\n").into_bytes();
    bomb.resize(8 << 20, b'0');
    let bomb = gzip(&bomb);
    assert!(bomb.len() < 100_000);
    std::fs::write(land.join("pos_bomb.csv.gz"), &bomb).unwrap();
    // A plain file over the limit, and a small one under it (plain and gzipped).
    std::fs::write(land.join("pos_big.csv"), pos_file("B", 20_000)).unwrap();
    std::fs::write(land.join("pos_small.csv"), pos_file("S", 5)).unwrap();
    std::fs::write(
        land.join("pos_small.csv.gz"),
        gzip(pos_file("Z", 5).as_bytes()),
    )
    .unwrap();

    let out = wh
        .cmd()
        .args([
            "pipeline",
            "run",
            "pos",
            "--json",
            "--max-file-bytes",
            "100000",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for n in ["pos_bomb.csv.gz", "pos_big.csv"] {
        assert_rejected(file_status(&s, n), "TOO_LARGE");
    }
    assert_eq!(s["totals"]["rows_valid"], 10, "{s}");
    assert!(names_in(&land).is_empty());
    // A verdict that depends on the limit is not final: not in the ledger, so the same file
    // dropped again with a higher limit is read.
    assert_eq!(
        rows(&wh.csv("SELECT source_file FROM stockroom_files ORDER BY source_file")),
        vec![
            vec!["pos_small.csv".to_string()],
            vec!["pos_small.csv.gz".to_string()]
        ]
    );
    let big = tree(&wh.path().join("rejected/pos"))
        .into_iter()
        .find(|p| p.ends_with("/pos_big.csv"))
        .expect("moved aside");
    std::fs::rename(
        wh.path().join("rejected/pos").join(big),
        land.join("pos_big.csv"),
    )
    .unwrap();
    let (code, s) = run_pipeline(&wh, "pos");
    assert_eq!(code, 0, "{s}");
    assert_eq!(s["totals"]["rows_valid"], 20_000, "{s}");
}

#[test]
fn uploads_in_progress_and_temporary_names_are_left_in_landing() {
    let wh = Wh::new();
    let land = landing(&wh);
    std::fs::write(land.join("pos_a.csv.part"), pos_file("A", 1)).unwrap();
    std::fs::write(land.join("pos_b.csv.tmp"), pos_file("B", 1)).unwrap();
    std::fs::write(land.join(".pos_c.csv"), pos_file("C", 1)).unwrap();
    // A file that arrived long ago is taken without waiting.
    let old = land.join("pos_old.csv");
    std::fs::write(&old, pos_file("O", 2)).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
        .unwrap();
    // A file still being written: a line every 20 ms until the run is over.
    let growing = land.join("pos_growing.csv");
    std::fs::write(&growing, format!("{HEADER}\n")).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, growing) = (stop.clone(), growing.clone());
        std::thread::spawn(move || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&growing)
                .unwrap();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                writeln!(f, "1709366400,W-{i},100,1,1,10.00,0").unwrap();
                i += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            i
        })
    };
    let out = wh
        .cmd()
        .args(["pipeline", "run", "pos", "--json", "--settle", "1"])
        .output()
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let taken: Vec<&str> = s["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    assert_eq!(taken, vec!["pos_old.csv"], "{s}");
    assert_eq!(
        names_in(&land),
        vec![
            ".pos_c.csv",
            "pos_a.csv.part",
            "pos_b.csv.tmp",
            "pos_growing.csv"
        ]
    );
    // The upload is finished (renamed to its final name; the writer stopped): taken whole.
    std::fs::rename(land.join("pos_a.csv.part"), land.join("pos_a.csv")).unwrap();
    let (code, s) = run_pipeline(&wh, "pos");
    assert_eq!(code, 0, "{s}");
    assert_eq!(s["totals"]["rows_valid"], written + 1, "{s}");
    assert_eq!(names_in(&land), vec![".pos_c.csv", "pos_b.csv.tmp"]);
}

fn bin() -> std::process::Command {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("stockroom"))
}

#[test]
fn six_runs_at_once_over_a_stale_lock_count_every_record_once() {
    let wh = Wh::new();
    let land = landing(&wh);
    for i in 0..4 {
        std::fs::write(
            land.join(format!("pos_{i}.csv")),
            pos_file(&format!("R{i}"), 25),
        )
        .unwrap();
    }
    // A lock file left by a crashed run, naming a pid that is alive (pid 1): free all the same.
    std::fs::create_dir_all(wh.path().join("runs")).unwrap();
    std::fs::write(wh.path().join("runs/pos.lock"), "1\n").unwrap();
    let children: Vec<std::process::Child> = (0..6)
        .map(|_| {
            bin()
                .arg("--warehouse")
                .arg(wh.path())
                .args(["pipeline", "run", "pos", "--json", "--settle", "0"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut valid = 0;
    let mut rejected = 0;
    let mut ran = 0;
    for c in children {
        let out = c.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            // Either it ran the batch, or it came after the run that did: no files.
            if let Ok(s) = serde_json::from_slice::<serde_json::Value>(&out.stdout) {
                ran += 1;
                valid += s["totals"]["rows_valid"].as_u64().unwrap();
                rejected += s["totals"]["rows_rejected"].as_u64().unwrap();
            } else {
                assert!(stderr.contains("no files"), "{stderr}");
            }
        } else {
            assert!(stderr.contains("already running"), "{stderr}");
        }
    }
    assert!(ran >= 1);
    assert_eq!((valid, rejected), (100, 4));
    assert_eq!(
        wh.csv("SELECT count(*) AS n, count(DISTINCT transaction_id) AS d FROM pos_transactions"),
        "n,d\n100,100\n"
    );
    assert_eq!(
        wh.csv("SELECT count(*) AS n FROM rejects WHERE pipeline = 'pos'"),
        "n\n4\n"
    );
    assert_eq!(
        wh.csv("SELECT count(*) AS n, count(DISTINCT source_file) AS d FROM stockroom_files"),
        "n,d\n4,4\n"
    );
    assert!(names_in(&land).is_empty());
}

#[test]
fn a_pipeline_waits_while_the_stream_holds_the_shared_table_lock() {
    use std::io::BufRead;
    let wh = Wh::new();
    std::fs::write(landing(&wh).join("pos_1.csv"), pos_file("P", 3)).unwrap();
    let events = wh.dir.path().join("events.jsonl");
    std::fs::write(
        &events,
        "{\"event_type\": \"product_added\", \"product\": {\"product_id\": \"P1\", \"product_name\": \"Pen\", \"quantity\": 3, \"timestamp\": \"2023-05-01 10:00:00\"}}\n\
         not json\n",
    )
    .unwrap();
    // The stream stops while it holds the warehouse lock for its first batch's rejects.
    let marker = wh.dir.path().join("held");
    let stream = bin()
        .arg("--warehouse")
        .arg(wh.path())
        .args(["stream", "inventory-events", "--json", "--input"])
        .arg(&events)
        .env(
            "STOCKROOM_HOLD",
            format!("warehouse_lock_taken:{}", marker.display()),
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    while !marker.exists() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let mut pipeline = bin()
        .arg("--warehouse")
        .arg(wh.path())
        .args(["pipeline", "run", "pos", "--json", "--settle", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The pipeline gets as far as the shared tables and waits there.
    let mut err = std::io::BufReader::new(pipeline.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "pipeline ended: {seen}"
        );
        seen.push_str(&line);
        if line.contains("waiting for the warehouse lock") {
            break;
        }
    }
    assert!(
        seen.contains(&format!("held by pid {}", stream.id())),
        "{seen}"
    );
    assert!(pipeline.try_wait().unwrap().is_none(), "still waiting");
    // It waits before its first shared write: nothing of the run is in the tables yet.
    assert!(!wh.path().join("tables/stockroom_files").exists());
    assert!(!wh.path().join("tables/pos_transactions").exists());
    // Released: both finish, and `rejects` holds both writers' rows.
    std::fs::remove_file(&marker).unwrap();
    let s = stream.wait_with_output().unwrap();
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    let p = pipeline.wait_with_output().unwrap();
    assert!(p.status.success(), "{seen}{rest}");
    assert_eq!(
        wh.csv("SELECT pipeline, count(*) AS n FROM rejects GROUP BY pipeline ORDER BY pipeline"),
        "pipeline,n\ninventory-events,1\npos,1\n"
    );
}

#[test]
fn a_file_name_that_is_not_utf8_is_moved_aside_not_left_forever() {
    use std::os::unix::ffi::OsStrExt;
    let wh = Wh::new();
    let land = landing(&wh);
    for raw in [&b"pos_caf\xe9.csv"[..], &b"pos_caf\xe8.csv"[..]] {
        let name = std::ffi::OsStr::from_bytes(raw);
        std::fs::write(land.join(name), pos_file("L", 1)).unwrap();
    }
    std::fs::write(land.join("pos_ok.csv"), pos_file("K", 1)).unwrap();
    let (code, s) = run_pipeline(&wh, "pos");
    assert_eq!(code, 0, "{s}");
    let bad: Vec<&serde_json::Value> = s["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "rejected")
        .collect();
    assert_eq!(bad.len(), 2, "{s}");
    for f in bad {
        assert_rejected(f, "BAD_NAME");
    }
    assert!(names_in(&land).is_empty());
    // Both moved, neither overwritten: two files and two reason files.
    let moved = tree(&wh.path().join("rejected/pos"));
    assert_eq!(
        moved.iter().filter(|p| p.ends_with(".reason.json")).count(),
        2,
        "{moved:?}"
    );
    assert_eq!(
        moved.iter().filter(|p| p.contains("pos_caf")).count(),
        4,
        "{moved:?}"
    );
}

/// Drops `files` into `pipeline`'s landing, starts a run held after its read, rewrites
/// `changed` in place with `after`, and checks that the run fails naming it, that nothing
/// reached `tables`, and that the next run takes the new content whole (`check` → `expected`).
fn rewritten_after_the_read(
    pipeline: &str,
    files: &[(&str, String)],
    (changed, after): (&str, String),
    tables: &[&str],
    (check, expected): (&str, &str),
) {
    let wh = Wh::new();
    let land = wh.path().join("landing").join(pipeline);
    std::fs::create_dir_all(&land).unwrap();
    for (name, text) in files {
        std::fs::write(land.join(name), text).unwrap();
    }
    // The run reads (hashes and checks) the files, then waits before validation parses them
    // again.
    let marker = wh.dir.path().join("held");
    let mut run = bin()
        .arg("--warehouse")
        .arg(wh.path())
        .args(["pipeline", "run", pipeline, "--settle", "0"])
        .env("STOCKROOM_HOLD", format!("after_read:{}", marker.display()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    while !marker.exists() {
        assert!(
            run.try_wait().unwrap().is_none(),
            "the run ended before its read"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // Written in place, as a careless upstream would: more records, same name.
    std::fs::write(land.join(changed), after).unwrap();
    std::fs::remove_file(&marker).unwrap();
    let out = run.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "landing file {changed} changed while the run read it"
        )),
        "{err}"
    );
    // Neither content reached a table: no row, no reject, no ledger entry.
    for table in tables.iter().chain(&["rejects", "stockroom_files"]) {
        assert!(
            !wh.path().join("tables").join(table).exists()
                || wh.csv(&format!("SELECT count(*) AS n FROM {table}")) == "n\n0\n",
            "{table} has rows"
        );
    }
    // The files stay in landing, and the next run (as the message says) takes them whole.
    let mut names: Vec<String> = files.iter().map(|(n, _)| n.to_string()).collect();
    names.sort();
    assert_eq!(names_in(&land), names);
    let again = bin()
        .arg("--warehouse")
        .arg(wh.path())
        .args(["pipeline", "run", pipeline, "--settle", "0"])
        .output()
        .unwrap();
    assert_success(&again);
    assert_eq!(wh.csv(check), expected);
}

#[test]
fn a_landing_file_rewritten_after_the_read_fails_the_run_instead_of_mixing_contents() {
    // ecommerce's CSV batch tables are read once by validation, so they are not held: the
    // read checks the file, and validation's scan parses it again (pipeline/landing_scan.rs).
    let products = |n: usize| {
        let mut s = String::from("id,sku,cost,category,name,brand,retail_price,department\n");
        for i in 1..=n {
            s.push_str(&format!("{i},SKU{i},1.5,Tops,Tee {i},Acme,3.0,Women\n"));
        }
        s
    };
    rewritten_after_the_read(
        "ecommerce",
        &[("products_1.csv", products(3))],
        ("products_1.csv", products(5)),
        &["stg_products"],
        // 1 + 2 + 3 + 4 + 5
        (
            "SELECT count(*) AS n, sum(id) AS s FROM stg_products",
            "n,s\n5,15\n",
        ),
    );
}

#[test]
fn a_json_lines_file_rewritten_after_the_read_fails_the_run_too() {
    // inventory-ops' transactions (JSON lines) are parsed again by validation's scan as well.
    let levels = "sku,warehouse_id,product_name,category,quantity_on_hand,quantity_reserved,\
                  reorder_point,reorder_quantity,lead_time_days,unit_cost,snapshot_at\n\
                  SKU-1,WH-1,Tee,Apparel,100,0,10,50,7,2.5,2024-03-01T00:00:00Z\n";
    let events = |n: i64| {
        (1..=n)
            .map(|i| {
                format!(
                    "{{\"eventId\": \"E{i}\", \"eventType\": \"INVENTORY_UPDATE\", \
                     \"sku\": \"SKU-1\", \"warehouseId\": \"WH-1\", \"quantityChange\": -{i}, \
                     \"timestamp\": \"2024-03-01T0{i}:00:00Z\"}}\n"
                )
            })
            .collect::<String>()
    };
    rewritten_after_the_read(
        "inventory-ops",
        &[
            ("stock_levels_2024-03-01.csv", levels.to_string()),
            ("transactions_2024-03-01.jsonl", events(2)),
        ],
        ("transactions_2024-03-01.jsonl", events(3)),
        &["stock_levels", "inventory_transactions"],
        // Three events of -1, -2 and -3 units.
        (
            "SELECT count(*) AS n, sum(quantity_change) AS q FROM inventory_transactions",
            "n,q\n3,-6\n",
        ),
    );
}
