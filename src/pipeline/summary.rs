//! The run summary (`runs/<pipeline>/<run_id>.json`), as described in
//! docs/pipelines.md#shared-tables-and-outputs.

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Debug, Clone, Serialize, Default)]
pub struct FileSummary {
    pub file: String,
    /// succeeded | partial | failed | rejected (whole file) | duplicate (already ingested)
    pub status: String,
    pub rows_read: u64,
    pub rows_valid: u64,
    pub rows_rejected: u64,
    pub reasons: BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reject_reason: Option<String>,
    pub file_hash: String,
}

#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct Totals {
    pub files_processed: u64,
    pub files_succeeded: u64,
    pub files_rejected: u64,
    pub files_errored: u64,
    pub rows_read: u64,
    pub rows_valid: u64,
    pub rows_rejected: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableVersion {
    pub table: String,
    pub version: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub pipeline: String,
    pub event_time: String,
    /// succeeded | partial | failed
    pub status: String,
    pub files: Vec<FileSummary>,
    pub totals: Totals,
    pub tables_written: Vec<TableVersion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Data-quality check results, for pipelines that have checks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub quality: Vec<crate::pipeline::quality::CheckResult>,
    /// Alert notifications the steps sent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<String>,
}

impl RunSummary {
    pub fn compute_totals(&mut self) {
        let mut t = Totals::default();
        for f in &self.files {
            t.files_processed += 1;
            match f.status.as_str() {
                "rejected" | "failed" => t.files_rejected += 1,
                "errored" => t.files_errored += 1,
                "succeeded" | "partial" | "duplicate" => t.files_succeeded += 1,
                _ => {}
            }
            t.rows_read += f.rows_read;
            t.rows_valid += f.rows_valid;
            t.rows_rejected += f.rows_rejected;
        }
        self.totals = t;
    }
}

/// Writes `value` as pretty JSON to `dir/<name>.json` atomically (temp file + rename on disk,
/// one PUT in a bucket), so readers never see half of it.
pub fn write_json_atomically(
    dir: &std::path::Path,
    name: &str,
    value: &impl Serialize,
) -> crate::error::Result<()> {
    let path = dir.join(format!("{name}.json"));
    crate::storage::write_atomically(&path, &serde_json::to_vec_pretty(value)?)
}
