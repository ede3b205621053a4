//! Helpers: run the binary on a temp warehouse, read tables back independently.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use tempfile::TempDir;

pub struct Wh {
    pub dir: TempDir,
}

impl Wh {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("wh")
    }

    /// `stockroom --warehouse <wh> ARGS…`
    pub fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("stockroom").expect("binary");
        // The tests drop files and run at once: no settle wait (the settle tests pass `--settle`).
        c.arg("--warehouse")
            .arg(self.path())
            .env("NO_COLOR", "1")
            .env("STOCKROOM_SETTLE", "0");
        c
    }

    /// Runs `query SQL --format csv`, asserting success; returns stdout.
    pub fn csv(&self, sql: &str) -> String {
        let out = self
            .cmd()
            .args(["query", sql, "--format", "csv"])
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "query failed: {sql}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf8")
    }

    /// Runs a statement that must succeed; returns stdout.
    pub fn ok(&self, sql: &str) -> String {
        let out = self.cmd().args(["query", sql]).output().expect("run");
        assert!(
            out.status.success(),
            "statement failed: {sql}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf8")
    }

    /// Runs a statement that must fail; returns stderr.
    pub fn fails(&self, sql: &str) -> String {
        let out = self.cmd().args(["query", sql]).output().expect("run");
        assert!(!out.status.success(), "statement should fail: {sql}");
        String::from_utf8(out.stderr).expect("utf8")
    }
}

/// Copies sample files from `data/<dir>` into `landing/<pipeline>` (all of them if `files`
/// is None).
/// The process exited 0; its stderr is the failure message otherwise.
#[track_caller]
pub fn assert_success(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn drop_sample(wh: &Wh, pipeline: &str, dir: &str, files: Option<&[&str]>) {
    let landing = wh.path().join("landing").join(pipeline);
    std::fs::create_dir_all(&landing).expect("landing");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data").join(dir);
    let names: Vec<String> = match files {
        Some(f) => f.iter().map(|s| s.to_string()).collect(),
        None => std::fs::read_dir(&data)
            .expect("data dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
            .collect(),
    };
    for n in names {
        std::fs::copy(data.join(&n), landing.join(&n)).expect("copy sample");
    }
}

/// `pipeline run NAME --json`: exit code and the parsed summary.
pub fn run_pipeline(wh: &Wh, name: &str) -> (i32, serde_json::Value) {
    let out = wh
        .cmd()
        .args(["pipeline", "run", name, "--json"])
        .output()
        .expect("run");
    let code = out.status.code().unwrap_or(-1);
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "no JSON summary (exit {code}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, v)
}

/// A run that must succeed (exit 0); its summary.
pub fn run_ok(wh: &Wh, name: &str) -> serde_json::Value {
    let (code, v) = run_pipeline(wh, name);
    assert_eq!(code, 0, "{v}");
    v
}

/// CSV output without the header, one Vec per row.
pub fn rows(csv: &str) -> Vec<Vec<String>> {
    csv.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').map(|s| s.to_string()).collect())
        .collect()
}

/// Reads a Delta table without deltalake: replays `_delta_log/*.json` (add minus remove)
/// and counts the rows of the live Parquet files with the `parquet` crate. Proves the
/// tables are standard Delta that other engines can read.
pub fn independent_row_count(table_dir: &Path) -> usize {
    let log = table_dir.join("_delta_log");
    let mut commits: Vec<PathBuf> = std::fs::read_dir(&log)
        .expect("delta log")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    commits.sort();
    let mut live: HashSet<String> = HashSet::new();
    for c in commits {
        for line in std::fs::read_to_string(&c).expect("commit").lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("json action");
            if let Some(p) = v.pointer("/add/path").and_then(|p| p.as_str()) {
                live.insert(p.to_string());
            }
            if let Some(p) = v.pointer("/remove/path").and_then(|p| p.as_str()) {
                live.remove(p);
            }
        }
    }
    live.iter()
        .map(|p| {
            let decoded = percent_decode(p);
            let f = std::fs::File::open(table_dir.join(&decoded)).expect("data file");
            let r =
                datafusion::parquet::file::reader::SerializedFileReader::new(f).expect("parquet");
            use datafusion::parquet::file::reader::FileReader;
            r.metadata().file_metadata().num_rows() as usize
        })
        .sum()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).expect("utf8 path")
}

/// Columns that differ between two runs by design.
pub const VOLATILE: &[&str] = &[
    "run_id",
    "rejected_at",
    "ingested_at",
    "checked_at",
    "started_at",
    "finished_at",
];

pub const ECOMMERCE_TABLES: &[&str] = &[
    "stg_products",
    "stg_orders",
    "stg_order_items",
    "order_kpis",
    "category_kpis",
    "rejects",
    "stockroom_files",
];

/// inventory-ops' curated tables (the framework's `rejects` and `dq_*` aside).
pub const INVENTORY_OPS_TABLES: &[&str] = &[
    "stock_levels",
    "inventory_transactions",
    "transaction_agg",
    "inventory_daily_snapshots",
    "inventory_metrics",
    "low_stock_alerts",
    "weekly_summary",
];

/// Every row of `table` (from a `query --format csv` runner) without the volatile columns,
/// sorted.
pub fn table_rows(csv_of: impl Fn(&str) -> String, table: &str) -> Vec<String> {
    let sql = if table == "rejects" {
        // CSV has no lists: the reasons as one text.
        "SELECT * EXCLUDE (reasons), array_to_string(reasons, '|') AS reasons FROM rejects".into()
    } else {
        format!("SELECT * FROM {table}")
    };
    let csv = csv_of(&sql);
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
