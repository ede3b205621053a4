//! The batch lifecycle of `stockroom pipeline run` (docs/pipelines.md#the-run-lifecycle):
//! discover → read raw → validate (SQL) → decide → transform (SQL) → ledger → archive →
//! summary → notify.
//!
//! Exactly once: every write is idempotent (MERGE keyed on the record's identity), and the
//! ledger of ingested file hashes is written after the data. A crash at any boundary leaves
//! every table at a committed version; the re-run either re-applies the same MERGEs (no
//! change) or, once the ledger has the file, only archives it. A file dropped again later is
//! recognised by its content hash and not counted twice.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema};

use crate::catalog::{VersionSpec, open_delta};
use crate::error::{Error, Result};
use crate::exec::Executor;
use crate::pipeline::error::PipelineError;
use crate::pipeline::fault;
use crate::pipeline::landing::{self, Input, discover, move_files};
use crate::pipeline::lock::{RunLock, WarehouseLock};
use crate::pipeline::manifest::Pipeline;
use crate::pipeline::notify::{self, Notification};
pub use crate::pipeline::steps::StepObserver;
use crate::pipeline::steps::{self, StepContext};
use crate::pipeline::summary::{RunSummary, TableVersion};
use crate::script;
use crate::sql::vars::Vars;

#[derive(Clone, Default)]
pub struct RunOptions {
    /// Read files from here instead of `landing/<pipeline>/`.
    pub landing: Option<PathBuf>,
    /// POST notifications here (overrides the manifest's webhook).
    pub webhook: Option<String>,
    /// `pipeline validate`: read and validate, report, write and move nothing.
    pub validate_only: bool,
    pub on_step: Option<StepObserver>,
    /// Extra SQL variables (`--var`, `--as-of`), beside `run_id` and `pipeline`.
    pub vars: Vars,
    /// Reject a file whole past this many (decompressed) bytes; `None` =
    /// [`crate::ingest::DEFAULT_MAX_FILE_BYTES`].
    pub max_file_bytes: Option<u64>,
    /// Take a file only once its size and mtime have been stable this long (the CLI's
    /// `--settle`, 2 s by default; zero here, for callers that put the files there
    /// themselves).
    pub settle: std::time::Duration,
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("landing", &self.landing)
            .field("webhook", &self.webhook)
            .field("validate_only", &self.validate_only)
            .field("vars", &self.vars)
            .field("max_file_bytes", &self.max_file_bytes)
            .field("settle", &self.settle)
            .finish()
    }
}

/// Times a framework step (see [`steps::timed`]).
async fn step<T>(
    opts: &RunOptions,
    pipeline: &str,
    name: &str,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    steps::timed(opts.on_step.as_ref(), pipeline, name, work).await
}

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

/// A SQL string literal holding exactly `s` (quotes doubled). Framework SQL built with it
/// goes through [`run_framework_sql`], which does not substitute variables.
pub(crate) fn sql_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn now_epoch() -> f64 {
    chrono::Utc::now().timestamp_micros() as f64 / 1e6
}

/// Runs `pipeline` once. `Ok(None)` when landing holds no file for it.
pub async fn run(exec: &Executor, p: &Pipeline, opts: &RunOptions) -> Result<Option<RunSummary>> {
    let wh = exec.warehouse().clone();
    let name = p.name().to_string();
    let _lock = RunLock::acquire(wh.runs_dir().join(format!("{name}.lock")), &name)?;
    let started = chrono::Utc::now();
    let run_id = format!(
        "{}-{}",
        started.format("%Y%m%dT%H%M%S%.6fZ"),
        std::process::id()
    );
    let landing = opts
        .landing
        .clone()
        .unwrap_or_else(|| wh.landing_dir(&name));
    let inputs = discover(&landing, p, opts.settle).await?.inputs;
    if inputs.is_empty() {
        return Ok(None);
    }
    let webhook = opts.webhook.clone().or(p.manifest.notify.webhook.clone());
    let vars = run_vars(opts, &run_id, &name);

    let mut summary = RunSummary {
        run_id: run_id.clone(),
        pipeline: name.clone(),
        event_time: started.to_rfc3339(),
        status: "succeeded".into(),
        files: Vec::new(),
        totals: Default::default(),
        tables_written: Vec::new(),
        error: None,
        quality: Vec::new(),
        alerts: Vec::new(),
    };
    let before: HashSet<String> = exec.temp_table_names().into_iter().collect();
    let result = lifecycle(
        exec,
        p,
        &inputs,
        &vars,
        &mut summary,
        opts,
        webhook.as_deref(),
    )
    .await;
    // The run's scratch tables (`checked`, KPI staging, …) hold its batch in memory: give it
    // back, so the next pipeline of `demo` or a `bench --repeat` starts from an empty session.
    for t in exec.temp_table_names() {
        if !before.contains(&t) {
            exec.drop_temp_table(&t)?;
        }
    }
    if opts.validate_only {
        // A report only: no table, file, run record or notification is touched.
        summary.status = if result.is_err() {
            "failed"
        } else {
            "validated"
        }
        .into();
        for f in summary.files.iter_mut().filter(|f| f.status == "read") {
            f.status = if f.rows_valid == 0 {
                "failed"
            } else if f.rows_rejected > 0 {
                "partial"
            } else {
                "succeeded"
            }
            .into();
        }
        summary.compute_totals();
        result?;
        return Ok(Some(summary));
    }
    if let Err(e) = result {
        // A step failed: nothing is archived (the files stay in landing for a re-run), the
        // run is recorded as failed and notified.
        summary.status = "failed".into();
        summary.error = Some(e.to_string());
        for f in summary.files.iter_mut() {
            if f.status != "rejected" && f.status != "duplicate" {
                f.status = "errored".into();
            }
        }
        summary.compute_totals();
        let _ = record_run(exec, &summary, started.timestamp_micros() as f64 / 1e6).await;
        write_summary(&wh.runs_dir(), &summary)?;
        let n = Notification {
            level: "error".into(),
            pipeline: name.clone(),
            run_id: run_id.clone(),
            status: "failed".into(),
            message: format!("pipeline {name} run {run_id} failed: {e}"),
        };
        notify::send(&wh.runs_dir(), &n, webhook.as_deref()).await?;
        return Err(PipelineError::RunFailed {
            pipeline: name,
            run_id,
            landing: landing.display().to_string(),
            error: Box::new(e),
        }
        .into());
    }
    summary.compute_totals();
    record_run(exec, &summary, started.timestamp_micros() as f64 / 1e6).await?;
    for t in p
        .tables()
        .iter()
        .map(String::as_str)
        .chain([REJECTS, RUNS, LEDGER])
    {
        if wh.is_table(t) {
            let v = open_delta(&wh.table_dir(t), &VersionSpec::Latest).await?;
            summary.tables_written.push(TableVersion {
                table: t.to_string(),
                version: v.version().unwrap_or(0),
            });
        }
    }
    write_summary(&wh.runs_dir(), &summary)?;
    fault::at("after_summary");
    let t = &summary.totals;
    let n = Notification {
        level: if summary.status == "failed" {
            "error"
        } else if summary.status == "partial" {
            "warning"
        } else {
            "info"
        }
        .into(),
        pipeline: name.clone(),
        run_id: run_id.clone(),
        status: summary.status.clone(),
        message: format!(
            "pipeline {name} run {run_id} {}: {} files ({} rejected), {} rows read, {} valid, {} rejected",
            summary.status,
            t.files_processed,
            t.files_rejected,
            t.rows_read,
            t.rows_valid,
            t.rows_rejected
        ) + &summary
            .error
            .as_deref()
            .map(|e| format!("; {e}"))
            .unwrap_or_default(),
    };
    notify::send(&wh.runs_dir(), &n, webhook.as_deref()).await?;
    Ok(Some(summary))
}

async fn lifecycle(
    exec: &Executor,
    p: &Pipeline,
    inputs: &[Input],
    vars: &Vars,
    summary: &mut RunSummary,
    opts: &RunOptions,
    webhook: Option<&str>,
) -> Result<()> {
    let wh = exec.warehouse().clone();
    let name = p.name();
    let known = ingested_hashes(exec, name).await?;
    let run_opts = opts;
    let read = step(run_opts, name, "read", async {
        let max = run_opts
            .max_file_bytes
            .unwrap_or(crate::ingest::DEFAULT_MAX_FILE_BYTES);
        landing::read_batch(p, inputs, &known, max)
    })
    .await?;
    summary.files = read.files;
    let batch_tables: Vec<String> = read.tables.iter().map(|t| t.name.clone()).collect();
    for t in read.tables {
        exec.register_batches(&t.name, t.schema, t.batches)?;
    }
    fault::at("after_read");

    let cx = StepContext {
        exec,
        pipeline: p,
        vars,
        run_id: &summary.run_id.clone(),
        webhook,
        observer: run_opts.on_step.as_ref(),
    };
    steps::run_files(&cx, &p.manifest.validate).await?;
    fault::at("after_validate");

    count_records(exec, summary).await?;
    // The steps after validation read `checked`: the raw batch (the largest table of a run)
    // gives its memory back now.
    for t in &batch_tables {
        exec.drop_temp_table(t)?;
    }
    if run_opts.validate_only {
        return Ok(());
    }
    step(
        run_opts,
        name,
        "rejects",
        write_rejects(exec, name, &summary.run_id),
    )
    .await?;
    fault::at("after_rejects");

    let valid: u64 = summary.files.iter().map(|f| f.rows_valid).sum();
    let any_input = summary.files.iter().any(|f| f.status != "duplicate");
    if valid == 0 && any_input {
        // The decision state: nothing valid, nothing to transform.
        summary.status = "failed".into();
        for f in summary
            .files
            .iter_mut()
            .filter(|f| f.status != "duplicate" && f.status != "rejected")
        {
            f.status = "failed".into();
        }
        move_files(&wh, name, &summary.run_id, inputs, summary, true)?;
        return Ok(());
    }
    if valid > 0 {
        let found = steps::run_graph(&cx).await?;
        summary.quality = found.quality;
        summary.alerts = found.alerts;
    }
    fault::at("after_transform");

    step(
        run_opts,
        name,
        "ledger",
        record_ledger(exec, name, &summary.run_id, summary),
    )
    .await?;
    fault::at("after_ledger");

    for f in summary.files.iter_mut().filter(|f| f.status == "read") {
        f.status = if f.rows_rejected > 0 {
            "partial"
        } else {
            "succeeded"
        }
        .into();
    }
    move_files(&wh, name, &summary.run_id, inputs, summary, false)?;
    fault::at("after_archive");

    let partial = summary
        .files
        .iter()
        .any(|f| matches!(f.status.as_str(), "partial" | "rejected" | "failed"));
    summary.status = if partial { "partial" } else { "succeeded" }.into();
    // A failed data-quality check fails the run (exit code 2, error notification); the data
    // stays loaded and the files archived, as in the original DAG, where the check is a task
    // beside the load.
    let failed: Vec<String> = summary
        .quality
        .iter()
        .filter(|c| c.status == "fail")
        .map(|c| format!("{} ({} rows)", c.check, c.failed_rows))
        .collect();
    if !failed.is_empty() {
        summary.status = "failed".into();
        summary.error = Some(format!(
            "data-quality checks failed: {}; see dq_results / dq_failures or `stockroom dq report`",
            failed.join(", ")
        ));
    }
    Ok(())
}

/// The SQL variables of a run: the caller's, then `run_id` and `pipeline`; `as_of` is ''
/// unless given.
fn run_vars(opts: &RunOptions, run_id: &str, pipeline: &str) -> Vars {
    let mut vars = opts.vars.clone();
    vars.entry("as_of".into()).or_default();
    vars.insert("run_id".into(), run_id.to_string());
    vars.insert("pipeline".into(), pipeline.to_string());
    vars
}

/// Runs one step of the graph on its own (`pipeline run NAME --step STEP`), over the
/// tables as they are: no landing files, no ledger, no run record. For the schedules that
/// refresh aggregates or alerts between batch runs. Takes the pipeline's lock.
pub async fn run_single_step(
    exec: &Executor,
    p: &Pipeline,
    step_name: &str,
    opts: &RunOptions,
) -> Result<steps::StepsOutcome> {
    let name = p.name().to_string();
    let Some(s) = p.steps().into_iter().find(|s| s.name == step_name) else {
        return Err(PipelineError::NoSuchStep {
            pipeline: name,
            step: step_name.to_string(),
            steps: p
                .steps()
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }
        .into());
    };
    if s.checks {
        return Err(PipelineError::StepNeedsBatch {
            pipeline: name,
            step: step_name.to_string(),
        }
        .into());
    }
    let wh = exec.warehouse().clone();
    let _lock = RunLock::acquire(wh.runs_dir().join(format!("{name}.lock")), &name)?;
    let run_id = format!(
        "{}-{}-{step_name}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ"),
        std::process::id()
    );
    let vars = run_vars(opts, &run_id, &name);
    let webhook = opts.webhook.clone().or(p.manifest.notify.webhook.clone());
    let cx = StepContext {
        exec,
        pipeline: p,
        vars: &vars,
        run_id: &run_id,
        webhook: webhook.as_deref(),
        observer: opts.on_step.as_ref(),
    };
    steps::run_step(&cx, &s).await
}

/// A column as text (NULL = None), whatever its type.
pub(crate) fn strings(col: &ArrayRef) -> Result<Vec<Option<String>>> {
    let c = cast(col, &DataType::Utf8)?;
    let a = c
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| Error::Invalid("expected text".into()))?;
    Ok(a.iter().map(|v| v.map(str::to_string)).collect())
}

fn ints(col: &ArrayRef) -> Result<Vec<u64>> {
    let c = cast(col, &DataType::Int64)?;
    let a = c
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or_else(|| Error::Invalid("expected integers".into()))?;
    Ok(a.iter().map(|v| v.unwrap_or(0).max(0) as u64).collect())
}

/// Per-file rows read / valid / rejected and reason counts, from table `checked`.
async fn count_records(exec: &Executor, summary: &mut RunSummary) -> Result<()> {
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
async fn write_rejects(exec: &Executor, pipeline: &str, run_id: &str) -> Result<()> {
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
        p = sql_str(pipeline),
        r = sql_str(run_id),
    );
    run_framework_sql(exec, "rejects", &sql).await
}

/// Runs SQL the framework composed: its values are quoted with [`sql_str`] and are never
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

async fn ingested_hashes(exec: &Executor, pipeline: &str) -> Result<HashSet<String>> {
    if !exec.warehouse().is_table(LEDGER) {
        return Ok(HashSet::new());
    }
    let batches = exec
        .query_batches(&format!(
            "SELECT file_hash FROM {LEDGER} WHERE pipeline = {}",
            sql_str(pipeline)
        ))
        .await?;
    let mut out = HashSet::new();
    for b in &batches {
        out.extend(strings(b.column(0))?.into_iter().flatten());
    }
    Ok(out)
}

async fn record_ledger(
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
        .filter(|f| f.status == "read" || f.status == "rejected")
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
                sql_str(pipeline),
                sql_str(&f.file_hash),
                sql_str(&f.file),
                sql_str(run_id),
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

/// One row per run in `stockroom_runs` (MERGE on run_id).
async fn record_run(exec: &Executor, s: &RunSummary, started: f64) -> Result<()> {
    let t = &s.totals;
    let sql = format!(
        "CREATE TEMP TABLE run_row AS SELECT {p} AS pipeline, {r} AS run_id, from_epoch({started}) AS started_at, \
         from_epoch({now}) AS finished_at, {status} AS status, \
         CAST({} AS BIGINT) AS files_processed, CAST({} AS BIGINT) AS files_succeeded, \
         CAST({} AS BIGINT) AS files_rejected, CAST({} AS BIGINT) AS files_errored, \
         CAST({} AS BIGINT) AS rows_read, CAST({} AS BIGINT) AS rows_valid, CAST({} AS BIGINT) AS rows_rejected, \
         CAST(nullif({err}, '') AS VARCHAR) AS error;\n\
         CREATE TABLE IF NOT EXISTS {RUNS} AS SELECT * FROM run_row LIMIT 0;\n\
         MERGE INTO {RUNS} AS t USING run_row AS s ON t.run_id = s.run_id \
         WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *;",
        t.files_processed,
        t.files_succeeded,
        t.files_rejected,
        t.files_errored,
        t.rows_read,
        t.rows_valid,
        t.rows_rejected,
        p = sql_str(&s.pipeline),
        r = sql_str(&s.run_id),
        now = now_epoch(),
        status = sql_str(&s.status),
        err = s
            .error
            .as_deref()
            .map(sql_str)
            .unwrap_or_else(|| "NULL".into()),
    );
    run_framework_sql(exec, "runs", &sql).await
}

/// Writes `runs/<pipeline>/<run_id>.json`.
fn write_summary(runs_dir: &Path, s: &RunSummary) -> Result<()> {
    crate::pipeline::summary::write_json_atomically(&runs_dir.join(&s.pipeline), &s.run_id, s)
}
