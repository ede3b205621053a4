//! Facts about each warehouse table (`DESCRIBE`: version, files, bytes, last commit) and
//! when `OPTIMIZE` or `VACUUM` is due.

use std::path::Path;

use super::text_rows;
use crate::error::Result;
use crate::exec::Executor;
use crate::sql::quote;

/// Many files averaging less than this are worth compacting.
const SMALL_FILE_BYTES: u64 = 32 * 1024 * 1024;
/// Live files above which small files suggest `OPTIMIZE`.
const OPTIMIZE_AT_FILES: u64 = 8;

#[derive(Debug, Clone, Default)]
pub struct TableFact {
    pub name: String,
    pub version: String,
    pub files: u64,
    pub bytes: u64,
    pub partitioned_by: String,
    pub last_commit: String,
    /// Parquet files in the table's directory that the current version no longer uses.
    pub unreferenced_files: u64,
    pub unreferenced_bytes: u64,
    /// "OPTIMIZE …" / "VACUUM …" advice; empty when nothing is due.
    pub hints: Vec<String>,
}

pub async fn facts(exec: &Executor) -> Result<Vec<TableFact>> {
    let wh = exec.warehouse();
    let mut out = Vec::new();
    for name in wh.table_names() {
        let mut f = TableFact {
            name: name.clone(),
            ..Default::default()
        };
        let rows = match text_rows(exec, &format!("DESCRIBE {}", quote::ident(&name))).await {
            Ok(r) => r,
            Err(e) => {
                f.hints.push(format!("unreadable: {e}"));
                out.push(f);
                continue;
            }
        };
        for r in rows.iter().filter(|r| r.len() >= 2) {
            match r[0].as_str() {
                "# version" => f.version = r[1].clone(),
                "# files" => f.files = r[1].parse().unwrap_or(0),
                "# bytes" => f.bytes = r[1].parse().unwrap_or(0),
                "# partitioned by" => f.partitioned_by = r[1].clone(),
                "# last commit" => f.last_commit = r[1].clone(),
                _ => {}
            }
        }
        let (on_disk, disk_bytes) = parquet_on_disk(&wh.table_dir(&name));
        f.unreferenced_files = on_disk.saturating_sub(f.files);
        f.unreferenced_bytes = disk_bytes.saturating_sub(f.bytes);
        if f.files > OPTIMIZE_AT_FILES && f.bytes / f.files.max(1) < SMALL_FILE_BYTES {
            f.hints.push(format!(
                "OPTIMIZE {name}: {} files averaging {}",
                f.files,
                human_bytes(f.bytes / f.files.max(1))
            ));
        }
        if f.unreferenced_files > 0 {
            f.hints.push(format!(
                "VACUUM {name}: {} unreferenced file(s), {} (removed once older than the retention, 7 days by default)",
                f.unreferenced_files,
                human_bytes(f.unreferenced_bytes)
            ));
        }
        out.push(f);
    }
    Ok(out)
}

/// Parquet data files under a table directory (not the log, not the change-data files).
fn parquet_on_disk(dir: &Path) -> (u64, u64) {
    let mut stack = vec![dir.to_path_buf()];
    let (mut n, mut bytes) = (0, 0);
    while let Some(d) = stack.pop() {
        let Ok(entries) = crate::storage::list_dir(&d) else {
            continue;
        };
        for e in entries {
            if e.is_dir {
                if e.name != "_delta_log" && e.name != "_change_data" {
                    stack.push(e.path);
                }
            } else if e.name.ends_with(".parquet") {
                n += 1;
                bytes += e.size;
            }
        }
    }
    (n, bytes)
}

pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
