//! Running a pipeline's SQL steps: the validate files in order, then the step graph after
//! the decision in waves (the steps of a wave run concurrently on the one executor; they
//! write different tables). A step may run the data-quality checks and may notify when its
//! `notify_if` query returns rows.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use futures::future::try_join_all;

use crate::error::Result;
use crate::exec::Executor;
use crate::pipeline::error::PipelineError;
use crate::pipeline::manifest::{Pipeline, StepDef};
use crate::pipeline::notify::{self, Notification};
use crate::pipeline::quality::{self, CheckResult};
use crate::script;
use crate::sql::vars::Vars;

/// Called when a step starts (`None`) and ends (`Some(seconds)`), for progress displays.
pub type StepObserver = Arc<dyn Fn(&str, Option<f64>) + Send + Sync>;

/// What the steps found that the run summary reports.
#[derive(Debug, Default)]
pub struct StepsOutcome {
    pub quality: Vec<CheckResult>,
    /// Notifications sent by `notify_if` steps.
    pub alerts: Vec<String>,
}

/// Where notifications of a step go.
pub struct StepContext<'a> {
    pub exec: &'a Executor,
    pub pipeline: &'a Pipeline,
    pub vars: &'a Vars,
    pub run_id: &'a str,
    pub webhook: Option<&'a str>,
    pub observer: Option<&'a StepObserver>,
}

/// Reports a step to the log and the observer, and times it.
pub async fn timed<T>(
    observer: Option<&StepObserver>,
    pipeline: &str,
    name: &str,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    tracing::info!(pipeline, step = name, "started");
    if let Some(o) = observer {
        o(name, None);
    }
    let t = std::time::Instant::now();
    let out = work.await;
    let secs = t.elapsed().as_secs_f64();
    match &out {
        Ok(_) => tracing::info!(pipeline, step = name, seconds = secs, "done"),
        Err(e) => tracing::warn!(pipeline, step = name, error = %e, "failed"),
    }
    if let Some(o) = observer {
        o(name, Some(secs));
    }
    out
}

/// Runs SQL files of the pipeline in order, each as one timed step.
pub async fn run_files(cx: &StepContext<'_>, files: &[String]) -> Result<()> {
    for file in files {
        let work = run_file(cx, file);
        timed(cx.observer, cx.pipeline.name(), file, work).await?;
    }
    Ok(())
}

async fn run_file(cx: &StepContext<'_>, file: &str) -> Result<()> {
    let p = cx.pipeline;
    let text = p.sql.get(file).ok_or_else(|| PipelineError::Manifest {
        file: format!("{}/pipeline.toml", p.origin),
        message: format!("names step '{file}', but there is no such file"),
    })?;
    let source = format!("{}/{file}", p.origin);
    // A model's file is its SELECT: the framework writes the statements around it.
    let prepared = match p.models.iter().find(|m| m.file == file) {
        Some(m) => m.statements(&source, text, cx.vars)?,
        None => script::prepare(&source, text, cx.vars).map_err(PipelineError::from)?,
    };
    // Each statement's time at debug level (STOCKROOM_LOG=stockroom=debug): where a slow step
    // spends it.
    let mut log = |stmt: &script::Prepared, _: &_, took: std::time::Duration| {
        tracing::debug!(
            step = file,
            line = stmt.line,
            seconds = took.as_secs_f64(),
            statement = %script::abbreviate(&stmt.sql),
            "statement done"
        );
        Ok(())
    };
    script::run(cx.exec, &prepared, false, &mut log)
        .await
        .map_err(PipelineError::from)?;
    Ok(())
}

/// Runs the step graph after the decision, wave by wave. After each wave the temporary
/// tables no later step names are dropped (see [`release_unneeded`]); `made_before` are the
/// session's own, never dropped.
pub async fn run_graph(
    cx: &StepContext<'_>,
    made_before: &HashSet<String>,
) -> Result<StepsOutcome> {
    let mut out = StepsOutcome::default();
    let waves = cx.pipeline.step_waves()?;
    for (i, wave) in waves.iter().enumerate() {
        let results = if cx.exec.memory_limit().is_some() {
            // Under a memory limit, one step at a time: DataFusion's fair pool divides the
            // limit among the operators alive at once, so a step started beside another cut
            // the share of an aggregate that already held more (ecommerce at scale 100 with
            // 2G failed in category_kpis while order_kpis ran beside it).
            let mut results = Vec::with_capacity(wave.len());
            for s in wave {
                results.push(run_step(cx, s).await?);
            }
            results
        } else {
            try_join_all(wave.iter().map(|s| run_step(cx, s))).await?
        };
        for r in results {
            out.quality.extend(r.quality);
            out.alerts.extend(r.alerts);
        }
        release_unneeded(cx, waves[i + 1..].iter().flatten(), made_before)?;
    }
    Ok(out)
}

/// Drops the temporary tables of the run (not in `made_before`) that none of the `later`
/// steps names — in its files, its checks or its `notify_if` query, variables substituted —
/// so a run holds what its remaining steps read, not everything it made: `checked_*` and the
/// text of the batch they keep go once the staging steps are done. Names are matched as
/// words, comments and strings included, so a doubt keeps the table.
pub fn release_unneeded<'s>(
    cx: &StepContext<'_>,
    later: impl IntoIterator<Item = &'s StepDef>,
    made_before: &HashSet<String>,
) -> Result<()> {
    let p = cx.pipeline;
    let mut named: HashSet<String> = HashSet::new();
    for s in later {
        let mut texts: Vec<&str> = s
            .files
            .iter()
            .filter_map(|f| p.sql.get(f).map(String::as_str))
            .collect();
        if s.checks {
            texts.extend(
                p.manifest
                    .checks
                    .iter()
                    .filter_map(|c| p.sql.get(&c.file).map(String::as_str)),
            );
        }
        texts.extend(s.notify_if.as_deref());
        for text in texts {
            // A text whose variables do not resolve cannot be read for names: keep all.
            let Ok(sql) = crate::sql::vars::substitute(text, cx.vars) else {
                return Ok(());
            };
            named.extend(crate::pipeline::model::sql_words(&sql));
        }
    }
    let mut dropped = false;
    for t in cx.exec.temp_table_names() {
        let plain = t.chars().all(|c| c.is_alphanumeric() || c == '_');
        if plain && !made_before.contains(&t) && !named.contains(&t.to_lowercase()) {
            tracing::debug!(table = %t, "temporary table no later step reads: dropped");
            cx.exec.drop_temp_table(&t)?;
            dropped = true;
        }
    }
    if dropped {
        cx.exec.return_freed_memory();
    }
    Ok(())
}

/// Runs one step: its files, its checks, then its `notify_if` query.
pub async fn run_step(cx: &StepContext<'_>, s: &StepDef) -> Result<StepsOutcome> {
    let mut out = StepsOutcome::default();
    run_files(cx, &s.files).await?;
    if s.checks {
        let work = quality::run_checks(cx.exec, cx.pipeline, cx.vars, cx.run_id);
        out.quality = timed(cx.observer, cx.pipeline.name(), &s.name, work).await?;
    }
    if let Some(q) = &s.notify_if {
        let sql = crate::sql::vars::substitute(q, cx.vars)?;
        let batches =
            cx.exec
                .query_batches(&sql)
                .await
                .map_err(|e| PipelineError::NotifyQuery {
                    pipeline: cx.pipeline.name().to_string(),
                    step: s.name.clone(),
                    error: Box::new(e),
                })?;
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        if rows > 0 {
            let message = s
                .notify_message
                .clone()
                .unwrap_or_else(|| format!("step {}: {{rows}} rows need attention", s.name))
                .replace("{rows}", &rows.to_string());
            let n = Notification {
                level: "warning".into(),
                pipeline: cx.pipeline.name().to_string(),
                run_id: cx.run_id.to_string(),
                status: "alert".into(),
                message: message.clone(),
            };
            notify::send(&cx.exec.warehouse().runs_dir(), &n, cx.webhook).await?;
            out.alerts.push(message);
        }
    }
    Ok(out)
}
