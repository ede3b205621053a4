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

use crate::catalog::{VersionSpec, open_delta};
use crate::error::Result;
use crate::exec::Executor;
use crate::exec::scratch::{Scratch, pipeline_scratch_dir};
use crate::pipeline::error::PipelineError;
use crate::pipeline::fault;
// The framework's tables, where the stream and older callers look for them.
pub use crate::pipeline::framework::{LEDGER, REJECTS, RUNS, rejects_schema};
use crate::pipeline::framework::{
    count_records, ingested_hashes, record_ledger, record_run, write_rejects,
};
use crate::pipeline::landing::{self, BatchData, Input, discover, move_files};
use crate::pipeline::lock::RunLock;
use crate::pipeline::manifest::Pipeline;
use crate::pipeline::notify::{self, Notification};
pub use crate::pipeline::steps::StepObserver;
use crate::pipeline::steps::{self, StepContext};
use crate::pipeline::summary::{FileStatus, RunStatus, RunSummary, TableVersion};
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
    // Under --memory-limit the batch tables live on disk for the run (see exec::scratch);
    // the guard removes the directory however the run ends.
    let _scratch = match exec.memory_limit() {
        Some(_) => Some(ScratchGuard::install(
            exec,
            Scratch::create(&pipeline_scratch_dir(&wh, &name), &run_id)?,
        )),
        None => None,
    };
    let webhook = opts.webhook.clone().or(p.manifest.notify.webhook.clone());
    let vars = run_vars(opts, &run_id, &name);

    let mut summary = RunSummary {
        run_id: run_id.clone(),
        pipeline: name.clone(),
        event_time: started.to_rfc3339(),
        status: RunStatus::Succeeded,
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
            RunStatus::Failed
        } else {
            RunStatus::Validated
        };
        for f in summary
            .files
            .iter_mut()
            .filter(|f| f.status == FileStatus::Read)
        {
            f.status = if f.rows_valid == 0 {
                FileStatus::Failed
            } else if f.rows_rejected > 0 {
                FileStatus::Partial
            } else {
                FileStatus::Succeeded
            };
        }
        summary.compute_totals();
        result?;
        return Ok(Some(summary));
    }
    if let Err(e) = result {
        // A step failed: nothing is archived (the files stay in landing for a re-run), the
        // run is recorded as failed and notified.
        summary.status = RunStatus::Failed;
        summary.error = Some(e.to_string());
        for f in summary.files.iter_mut() {
            if f.status != FileStatus::Rejected && f.status != FileStatus::Duplicate {
                f.status = FileStatus::Errored;
            }
        }
        summary.compute_totals();
        let _ = record_run(exec, &summary, started.timestamp_micros() as f64 / 1e6).await;
        write_summary(&wh.runs_dir(), &summary)?;
        let n = Notification {
            level: "error".into(),
            pipeline: name.clone(),
            run_id: run_id.clone(),
            status: RunStatus::Failed.to_string(),
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
        level: if summary.status == RunStatus::Failed {
            "error"
        } else if summary.status == RunStatus::Partial {
            "warning"
        } else {
            "info"
        }
        .into(),
        pipeline: name.clone(),
        run_id: run_id.clone(),
        status: summary.status.to_string(),
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
    // The session's own temporary tables (a shell's): the run never drops them.
    let made_before: HashSet<String> = exec.temp_table_names().into_iter().collect();
    let known = ingested_hashes(exec, name).await?;
    let run_opts = opts;
    let read = step(run_opts, name, "read", async {
        let scratch = exec.scratch();
        // Streamed into the scratch directory, a file's size no longer decides the memory
        // a run needs: a larger default then.
        let max = run_opts.max_file_bytes.unwrap_or(match scratch {
            Some(_) => crate::ingest::DEFAULT_MAX_STREAMED_FILE_BYTES,
            None => crate::ingest::DEFAULT_MAX_FILE_BYTES,
        });
        let keep = match scratch.as_deref() {
            Some(s) => landing::Keep::Spill(s),
            None if std::env::var_os("STOCKROOM_BATCH_IN_MEMORY").is_some() => {
                landing::Keep::Memory
            }
            None => landing::Keep::Rescan,
        };
        landing::read_batch(p, inputs, &known, max, keep)
    })
    .await?;
    summary.files = read.files;
    let batch_tables: Vec<String> = read.tables.iter().map(|t| t.name.clone()).collect();
    for t in read.tables {
        match t.data {
            BatchData::Memory(batches) => exec.register_batches(&t.name, t.schema, batches)?,
            BatchData::Spilled(w) => exec.register_temp_provider(&t.name, w.provider()?)?,
            BatchData::Landing(table) => exec.register_temp_provider(&t.name, table)?,
        }
    }
    fault::at("after_read");
    // Tests rewrite a landing file here: the scans of validation must notice.
    fault::hold("after_read");

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
    exec.return_freed_memory();
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
    // `checked` has been counted and its rejects written: what the steps do not read goes.
    steps::release_unneeded(&cx, &p.steps(), &made_before)?;

    let valid: u64 = summary.files.iter().map(|f| f.rows_valid).sum();
    let any_input = summary
        .files
        .iter()
        .any(|f| f.status != FileStatus::Duplicate);
    if valid == 0 && any_input {
        // The decision state: nothing valid, nothing to transform.
        summary.status = RunStatus::Failed;
        for f in summary
            .files
            .iter_mut()
            .filter(|f| f.status != FileStatus::Duplicate && f.status != FileStatus::Rejected)
        {
            f.status = FileStatus::Failed;
        }
        move_files(&wh, name, &summary.run_id, inputs, summary, true)?;
        return Ok(());
    }
    if valid > 0 {
        let found = steps::run_graph(&cx, &made_before).await?;
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

    for f in summary
        .files
        .iter_mut()
        .filter(|f| f.status == FileStatus::Read)
    {
        f.status = if f.rows_rejected > 0 {
            FileStatus::Partial
        } else {
            FileStatus::Succeeded
        };
    }
    move_files(&wh, name, &summary.run_id, inputs, summary, false)?;
    fault::at("after_archive");

    let partial = summary.files.iter().any(|f| {
        matches!(
            f.status,
            FileStatus::Partial | FileStatus::Rejected | FileStatus::Failed
        )
    });
    summary.status = if partial {
        RunStatus::Partial
    } else {
        RunStatus::Succeeded
    };
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
        summary.status = RunStatus::Failed;
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
    // The temp / view models a model reads live only during a run: recompute them first
    // (in graph order), then the step itself.
    for wave in p.step_waves()? {
        for t in wave {
            if t.name != s.name && temp_ancestor(p, &s, &t.name) {
                steps::run_step(&cx, &t).await?;
            }
        }
    }
    steps::run_step(&cx, &s).await
}

/// Is `name` a temp or view model that `s` reads, directly or through other such models?
fn temp_ancestor(p: &Pipeline, s: &crate::pipeline::manifest::StepDef, name: &str) -> bool {
    let all = p.steps();
    let mut todo: Vec<&str> = s.after.iter().map(String::as_str).collect();
    let mut seen: Vec<&str> = Vec::new();
    while let Some(d) = todo.pop() {
        if seen.contains(&d) {
            continue;
        }
        seen.push(d);
        let Some(step) = all.iter().find(|o| o.name == d) else {
            continue;
        };
        if step
            .model
            .as_ref()
            .is_some_and(|m| !m.materialized.is_stored())
        {
            if d == name {
                return true;
            }
            todo.extend(step.after.iter().map(String::as_str));
        }
    }
    false
}

/// Writes `runs/<pipeline>/<run_id>.json`.
fn write_summary(runs_dir: &Path, s: &RunSummary) -> Result<()> {
    crate::pipeline::summary::write_json_atomically(&runs_dir.join(&s.pipeline), &s.run_id, s)
}

/// Keeps a run's scratch directory installed in the executor; on drop the executor holds
/// temporary tables in memory again and the directory is removed (when the last scratch
/// table using it is gone — the run drops its temporary tables before this guard).
struct ScratchGuard<'a> {
    exec: &'a Executor,
}

impl<'a> ScratchGuard<'a> {
    fn install(exec: &'a Executor, scratch: Scratch) -> Self {
        exec.set_scratch(Some(Arc::new(scratch)));
        Self { exec }
    }
}

impl Drop for ScratchGuard<'_> {
    fn drop(&mut self) {
        self.exec.set_scratch(None);
    }
}
