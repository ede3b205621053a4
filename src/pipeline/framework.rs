//! The framework's own tables, shared by every pipeline (and the stream): `rejects`, the run
//! log `stockroom_runs` and the file ledger `stockroom_files` — their names, schemas, the SQL
//! that writes them, and the bookkeeping read back from a run's `checked` table
//! (docs/pipelines.md#shared-tables-and-outputs). run.rs decides *when*; this file *what*.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema};

use crate::error::Result;
use crate::exec::Executor;
use crate::pipeline::error::PipelineError;
use crate::pipeline::lock::WarehouseLock;
use crate::pipeline::summary::{FileStatus, RunSummary};
use crate::script;
use crate::sql::quote::literal;

/// Framework tables, beside each pipeline's own.
pub const REJECTS: &str = "rejects";
pub const RUNS: &str = "stockroom_runs";
pub const LEDGER: &str = "stockroom_files";

/// The schema of `rejects` as the framework's CTAS (see [`write_rejects`]) creates it. Writers
/// that do not go through SQL (the stream) create the table with it when it is absent.
pub fn rejects_schema() -> Schema {
    let ts = DataType::Timestamp(
        datafusion::arrow::datatypes::TimeUnit::Microsecond,
        Some("UTC".into()),
    );
    Schema::new(vec![
        Field::new("pipeline", DataType::Utf8, false),
        Field::new("run_id", DataType::Utf8, false),
        Field::new("source_file", DataType::Utf8, false),
        Field::new("file_hash", DataType::Utf8, false),
        Field::new("line_number", DataType::Int64, false),
        Field::new("record", DataType::Utf8, false),
        Field::new(
            "reasons",
            DataType::List(Arc::new(Field::new("element", DataType::Utf8, true))),
            false,
        ),
        Field::new("rejected_at", ts, false),
    ])
}

pub(crate) fn now_epoch() -> f64 {
    chrono::Utc::now().timestamp_micros() as f64 / 1e6
}

/// A column as text (NULL = None), whatever its type.
pub(crate) fn strings(col: &ArrayRef) -> Result<Vec<Option<String>>> {
    let c = cast(col, &DataType::Utf8)?;
    let a = c
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or(PipelineError::ColumnType { expected: "text" })?;
    Ok(a.iter().map(|v| v.map(str::to_string)).collect())
}

fn ints(col: &ArrayRef) -> Result<Vec<u64>> {
    let c = cast(col, &DataType::Int64)?;
    let a = c
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or(PipelineError::ColumnType {
            expected: "integers",
        })?;
    Ok(a.iter().map(|v| v.unwrap_or(0).max(0) as u64).collect())
}

/// Per-file rows read / valid / rejected and reason counts, from table `checked`.
pub(crate) async fn count_records(exec: &Executor, summary: &mut RunSummary) -> Result<()> {
    let counts = exec
        .query_batches(
            "SELECT source_file, count(*) AS n, \
             sum(CASE WHEN accepted(reasons) THEN 1 ELSE 0 END) AS valid \
             FROM checked GROUP BY source_file",
        )
        .await
        .map_err(|e| PipelineError::NoChecked(Box::new(e)))?;
    for b in &counts {
        let (files, n, valid) = (
            strings(b.column(0))?,
            ints(b.column(1))?,
            ints(b.column(2))?,
        );
        for i in 0..b.num_rows() {
            if let Some(f) = summary
                .files
                .iter_mut()
                .find(|f| Some(&f.file) == files[i].as_ref())
            {
                f.rows_read = n[i];
                f.rows_valid = valid[i];
                f.rows_rejected = n[i] - valid[i];
            }
        }
    }
    let reasons = exec
        .query_batches(
            "SELECT source_file, r, count(*) AS n FROM \
             (SELECT source_file, unnest(reasons) AS r FROM checked) GROUP BY source_file, r",
        )
        .await?;
    for b in &reasons {
        let (files, codes, n) = (
            strings(b.column(0))?,
            strings(b.column(1))?,
            ints(b.column(2))?,
        );
        for i in 0..b.num_rows() {
            if let (Some(f), Some(code)) = (
                summary
                    .files
                    .iter_mut()
                    .find(|f| Some(&f.file) == files[i].as_ref()),
                codes[i].clone(),
            ) {
                f.reasons.insert(code, n[i]);
            }
        }
    }
    Ok(())
}

/// Rejected records into `rejects`, keyed by (pipeline, file hash, line): re-running the same
/// file replaces its rows instead of adding them again.
pub(crate) async fn write_rejects(exec: &Executor, pipeline: &str, run_id: &str) -> Result<()> {
    let sql = format!(
        "CREATE TEMP TABLE run_rejects AS \
         SELECT {p} AS pipeline, {r} AS run_id, source_file, file_hash, \
                line_number, record, reasons, from_epoch({now}) AS rejected_at \
         FROM checked WHERE NOT accepted(reasons);\n\
         CREATE TABLE IF NOT EXISTS {REJECTS} PARTITIONED BY (pipeline) AS SELECT * FROM run_rejects LIMIT 0;\n\
         MERGE INTO {REJECTS} AS t USING run_rejects AS s \
         ON t.pipeline = s.pipeline AND t.file_hash = s.file_hash AND t.line_number = s.line_number \
         WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *;",
        now = now_epoch(),
        p = literal(pipeline),
        r = literal(run_id),
    );
    run_framework_sql(exec, "rejects", &sql).await
}

/// Runs SQL the framework composed: its values are quoted with [`literal`] and are never
/// scanned for `${…}` variables (a landing file named `pos_${x}.csv` is just a name).
pub(crate) async fn run_framework_sql(exec: &Executor, what: &str, sql: &str) -> Result<()> {
    // Every framework statement writes a table shared by all pipelines and the stream.
    let _shared =
        WarehouseLock::acquire(&exec.warehouse().runs_dir(), &format!("writing {what}")).await?;
    let prepared = script::prepare_verbatim(&format!("<framework:{what}>"), sql);
    script::run(exec, &prepared, false, &mut |_, _, _| Ok(()))
        .await
        .map_err(PipelineError::from)?;
    Ok(())
}

pub(crate) async fn ingested_hashes(exec: &Executor, pipeline: &str) -> Result<HashSet<String>> {
    if !exec.warehouse().is_table(LEDGER) {
        return Ok(HashSet::new());
    }
    let batches = exec
        .query_batches(&format!(
            "SELECT file_hash FROM {LEDGER} WHERE pipeline = {}",
            literal(pipeline)
        ))
        .await?;
    let mut out = HashSet::new();
    for b in &batches {
        out.extend(strings(b.column(0))?.into_iter().flatten());
    }
    Ok(out)
}

pub(crate) async fn record_ledger(
    exec: &Executor,
    pipeline: &str,
    run_id: &str,
    summary: &RunSummary,
) -> Result<()> {
    let rows: Vec<String> = summary
        .files
        .iter()
        // Whole-file rejects too: their verdict is final for that content. Not entries without
        // content (not a regular file), nor TOO_LARGE: that verdict depends on the limit.
        .filter(|f| f.status == FileStatus::Read || f.status == FileStatus::Rejected)
        .filter(|f| {
            !f.file_hash.is_empty()
                && !f
                    .reject_reason
                    .as_deref()
                    .is_some_and(|r| r.starts_with(crate::ingest::codes::TOO_LARGE))
        })
        .map(|f| {
            format!(
                "({}, {}, {}, {}, from_epoch({}))",
                literal(pipeline),
                literal(&f.file_hash),
                literal(&f.file),
                literal(run_id),
                now_epoch()
            )
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "CREATE TEMP TABLE run_files AS SELECT * FROM (VALUES {}) AS v(pipeline, file_hash, source_file, run_id, ingested_at);\n\
         CREATE TABLE IF NOT EXISTS {LEDGER} AS SELECT * FROM run_files LIMIT 0;\n\
         MERGE INTO {LEDGER} AS t USING run_files AS s ON t.pipeline = s.pipeline AND t.file_hash = s.file_hash \
         WHEN NOT MATCHED THEN INSERT *;",
        rows.join(", ")
    );
    run_framework_sql(exec, "ledger", &sql).await
}

/// One row per run in `stockroom_runs` (MERGE on run_id). The table is created with `error`
/// nullable whatever the first row holds: a first run that failed with a message made it
/// NOT NULL, and every successful run after it failed to record itself.
pub(crate) async fn record_run(exec: &Executor, s: &RunSummary, started: f64) -> Result<()> {
    let t = &s.totals;
    let sql = format!(
        "CREATE TEMP TABLE run_row AS SELECT {p} AS pipeline, {r} AS run_id, from_epoch({started}) AS started_at, \
         from_epoch({now}) AS finished_at, {status} AS status, \
         CAST({} AS BIGINT) AS files_processed, CAST({} AS BIGINT) AS files_succeeded, \
         CAST({} AS BIGINT) AS files_rejected, CAST({} AS BIGINT) AS files_errored, \
         CAST({} AS BIGINT) AS rows_read, CAST({} AS BIGINT) AS rows_valid, CAST({} AS BIGINT) AS rows_rejected, \
         CAST(nullif({err}, '') AS VARCHAR) AS error;\n\
         CREATE TABLE IF NOT EXISTS {RUNS} AS \
         SELECT * REPLACE (CAST(NULL AS VARCHAR) AS error) FROM run_row LIMIT 0;\n\
         MERGE INTO {RUNS} AS t USING run_row AS s ON t.run_id = s.run_id \
         WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *;",
        t.files_processed,
        t.files_succeeded,
        t.files_rejected,
        t.files_errored,
        t.rows_read,
        t.rows_valid,
        t.rows_rejected,
        p = literal(&s.pipeline),
        r = literal(&s.run_id),
        now = now_epoch(),
        status = literal(s.status.as_str()),
        err = s
            .error
            .as_deref()
            .map(literal)
            .unwrap_or_else(|| "NULL".into()),
    );
    run_framework_sql(exec, "runs", &sql).await
}
