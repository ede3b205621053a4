//! `--memory-limit` bounds a pipeline run: its batch tables (the raw batch, `checked`, temp
//! models) go to a scratch directory as Parquet instead of memory. Correctness only here —
//! the tables are exactly those of an unlimited run, and the scratch directory never
//! outlives a run (success, failure, kill -9 then the next run). Memory and time are
//! measured by the benchmarks, not asserted.

use std::path::Path;

use crate::common::{ECOMMERCE_TABLES, INVENTORY_OPS_TABLES, Wh, assert_success, table_rows};
use crate::models::{landing, pipeline, shop_with_a_failing_model, write_shop};

/// What is left under a warehouse's scratch folder for `pipeline`.
fn scratch_entries(wh: &Wh, pipeline: &str) -> Vec<String> {
    let dir = wh.path().join(".scratch").join(pipeline);
    match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Rows with their decimals rounded to 6 places: a sum of doubles depends on the order its
/// terms arrive in (partitions, spilled or not), in the 15th digit.
fn rounded(rows: Vec<String>) -> Vec<String> {
    rows.into_iter()
        .map(|r| {
            r.split('\u{1f}')
                .map(|f| match f.parse::<f64>() {
                    Ok(x) if f.contains('.') => format!("{x:.6}"),
                    _ => f.to_string(),
                })
                .collect::<Vec<_>>()
                .join("\u{1f}")
        })
        .collect()
}

fn generate_ecommerce(out: &Path) {
    Wh::new()
        .cmd()
        .args([
            "generate",
            "ecommerce",
            "--scale",
            "0.05",
            "--seed",
            "7",
            "--dirty-ratio",
            "0.05",
            "--files-per-type",
            "2",
            "--out",
        ])
        .arg(out)
        .assert()
        .success();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn a_run_under_a_small_memory_limit_gives_the_tables_of_an_unlimited_run() {
    let files = tempfile::tempdir().unwrap();
    generate_ecommerce(files.path());
    assert_eq!(std::fs::read_dir(files.path()).unwrap().count(), 6);
    // Beside the generated files: one gzipped, one repeated under another name (a duplicate),
    // and one whose last line is not UTF-8 — rejected whole after its other rows were
    // parsed, so a streamed run must drop what it already wrote of it.
    let mut names: Vec<_> = std::fs::read_dir(files.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    let first = std::fs::read(&names[0]).unwrap();
    std::fs::write(files.path().join("order_items_copy.csv"), &first).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &std::fs::read(&names[1]).unwrap()).unwrap();
    std::fs::write(names[1].with_extension("csv.gz"), gz.finish().unwrap()).unwrap();
    std::fs::remove_file(&names[1]).unwrap();
    let mut bad = std::fs::read(&names[2]).unwrap();
    bad.extend_from_slice(b"\xff\xfe,oops\n");
    std::fs::write(&names[2], bad).unwrap();

    let unlimited = Wh::new();
    let limited = Wh::new();
    for wh in [&unlimited, &limited] {
        copy_dir(files.path(), &wh.path().join("landing/ecommerce"));
    }
    let out = unlimited
        .cmd()
        .args(["pipeline", "run", "ecommerce"])
        .output()
        .unwrap();
    assert_success(&out);
    let out = limited
        .cmd()
        .args(["--memory-limit", "16M", "pipeline", "run", "ecommerce"])
        .output()
        .unwrap();
    assert_success(&out);
    let log = String::from_utf8_lossy(&out.stderr);
    let summary = format!("{}{log}", String::from_utf8_lossy(&out.stdout));
    assert!(
        summary.contains("(NOT_UTF8: ") && summary.contains(" duplicate "),
        "the late reject and the duplicate were not seen: {summary}"
    );
    assert!(
        log.contains("--memory-limit: this run's batch tables go to")
            && log.contains(".scratch/ecommerce/"),
        "the limited run did not use a scratch directory: {log}"
    );
    for t in ECOMMERCE_TABLES {
        let a = rounded(table_rows(|s| unlimited.csv(s), t));
        let b = rounded(table_rows(|s| limited.csv(s), t));
        assert!(!a.is_empty(), "{t} is empty");
        assert_eq!(a, b, "{t} differs under --memory-limit");
    }
    assert_eq!(scratch_entries(&limited, "ecommerce"), Vec::<String>::new());
    // The unlimited run never made one.
    assert!(!unlimited.path().join(".scratch").exists());
}

#[test]
fn inventory_ops_gives_the_same_tables_parsed_again_held_or_spilled() {
    // Its JSON-lines and CSV batch tables are parsed again by validation's scan by default;
    // STOCKROOM_BATCH_IN_MEMORY=1 holds them as read; --memory-limit spills them to Parquet.
    // The sample has rejects of every kind, a replayed event and an unknown sku.
    let runs: [(&[&str], Option<&str>); 3] = [
        (&[], None),
        (&[], Some("1")),
        (&["--memory-limit", "64M"], None),
    ];
    let whs: Vec<Wh> = runs
        .iter()
        .map(|(args, held)| {
            let wh = Wh::new();
            copy_dir(
                &Path::new(env!("CARGO_MANIFEST_DIR")).join("data/inventory-ops"),
                &wh.path().join("landing/inventory-ops"),
            );
            let mut cmd = wh.cmd();
            cmd.args(*args).args(["pipeline", "run", "inventory-ops"]);
            if let Some(v) = held {
                cmd.env("STOCKROOM_BATCH_IN_MEMORY", v);
            }
            let out = cmd.output().unwrap();
            assert_success(&out);
            wh
        })
        .collect();
    for &t in INVENTORY_OPS_TABLES
        .iter()
        .chain(&["rejects", "dq_failures"])
    {
        let first = rounded(table_rows(|s| whs[0].csv(s), t));
        assert!(!first.is_empty(), "{t} is empty");
        for (wh, run) in whs.iter().zip(&runs).skip(1) {
            let other = rounded(table_rows(|s| wh.csv(s), t));
            assert_eq!(first, other, "{t} differs in the run {run:?}");
        }
    }
}

#[test]
fn a_failed_run_and_a_killed_run_leave_no_scratch_directory_behind() {
    // A run that fails after validation wrote `checked` to its scratch directory.
    let (wh, dir) = shop_with_a_failing_model();
    let out = pipeline(&wh, &dir, &["run", "shop", "--memory-limit", "8M"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no_such_column"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(scratch_entries(&wh, "shop"), Vec::<String>::new());

    // A run killed after validation leaves its directory (with `checked` in it as Parquet);
    // the next run of the pipeline removes it, and removes its own when done.
    let wh = Wh::new();
    let dir = wh.dir.path().join("pipelines");
    write_shop(&dir);
    std::fs::write(
        landing(&wh).join("a.csv"),
        "sku,qty,price\nA,5,2.0\nB,x,1\n",
    )
    .unwrap();
    let out = wh
        .cmd()
        .args(["--memory-limit", "8M", "pipeline", "--pipelines"])
        .arg(&dir)
        .args(["run", "shop"])
        .env("STOCKROOM_FAULT", "after_validate")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let left = scratch_entries(&wh, "shop");
    assert_eq!(left.len(), 1, "{left:?}");
    let run_dir = wh.path().join(".scratch/shop").join(&left[0]);
    let parquet_files = walk(&run_dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .count();
    assert!(
        parquet_files >= 2,
        "raw batch and checked on disk: {parquet_files}"
    );

    let out = pipeline(&wh, &dir, &["run", "shop", "--memory-limit", "8M"]);
    assert_success(&out);
    assert_eq!(scratch_entries(&wh, "shop"), Vec::<String>::new());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("of an interrupted run"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The re-run counted each row once: one valid, one rejected.
    assert_eq!(wh.csv("SELECT count(*) AS n FROM stock"), "n\n1\n");
    assert_eq!(
        wh.csv("SELECT count(*) AS n FROM rejects WHERE pipeline = 'shop'"),
        "n\n1\n"
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn bench_scale_prints_a_row_per_scale_and_draws_time_and_memory() {
    let wh = Wh::new();
    let chart = wh.path().join("scale.svg");
    let out = wh
        .cmd()
        .args(["bench", "scale", "--scales", "0.01,0.02", "--chart"])
        .arg(&chart)
        .output()
        .unwrap();
    assert_success(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with("0.0"))
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    for r in rows {
        // scale, records, input MB, seconds, records/s, peak RSS MB: all numbers, RSS > 0.
        let cols: Vec<f64> = r.split_whitespace().map(|c| c.parse().unwrap()).collect();
        assert_eq!(cols.len(), 6, "{r}");
        assert!(cols[1] > 0.0 && cols[5] > 0.0, "{r}");
    }
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert!(svg.contains("wall time by input size") && svg.contains("peak RSS by input size"));
    // The per-scale warehouses are gone.
    assert!(!std::fs::read_dir(wh.path()).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("bench-scale-")
    }));
}
