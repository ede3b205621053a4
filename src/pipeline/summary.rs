//! The run summary (`runs/<pipeline>/<run_id>.json`), as described in
//! docs/pipelines.md#shared-tables-and-outputs.

use std::collections::BTreeMap;

use serde::Serialize;

/// Defines a status enum whose stored / printed form is `as_str()` (the strings the run
/// summaries, `stockroom_runs` and the notifications have always held).
macro_rules! status_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

status_enum! {
    /// How a run ended (docs/pipelines.md#the-run-lifecycle, "Statuses").
    RunStatus {
        /// Every file read without a rejected record.
        Succeeded => "succeeded",
        /// Some file partial, rejected or failed.
        Partial => "partial",
        /// Nothing valid, a step error, or a data-quality check at `fail`.
        Failed => "failed",
        /// `pipeline validate`: read and validated, nothing written.
        Validated => "validated",
    }
}

status_enum! {
    /// What became of one landing file.
    #[derive(Default)]
    FileStatus {
        /// Read into the batch; becomes one of the others before the run ends.
        #[default]
        Read => "read",
        /// No rejected record.
        Succeeded => "succeeded",
        /// Some rejected records.
        Partial => "partial",
        /// The run failed at the decision (nothing valid).
        Failed => "failed",
        /// Rejected whole (unreadable, unknown type, …).
        Rejected => "rejected",
        /// Already ingested (its content hash is in the ledger, or earlier in the batch).
        Duplicate => "duplicate",
        /// A step failed: the file stays in landing.
        Errored => "errored",
    }
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct FileSummary {
    pub file: String,
    pub status: FileStatus,
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
    pub status: RunStatus,
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
            match f.status {
                FileStatus::Rejected | FileStatus::Failed => t.files_rejected += 1,
                FileStatus::Errored => t.files_errored += 1,
                FileStatus::Succeeded | FileStatus::Partial | FileStatus::Duplicate => {
                    t.files_succeeded += 1
                }
                FileStatus::Read => {}
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
