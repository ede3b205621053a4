//! `stockroom dq report`: the data-quality results of the last runs, readable — per check the
//! latest status and count, the counts over the last runs (the trend), and sample failing
//! rows of the latest run — as text or as a self-contained HTML page.

use datafusion::arrow::array::ArrayRef;

use crate::chart::svg::escape;
use crate::error::Result;
use crate::exec::Executor;
use crate::pipeline::error::PipelineError;
use crate::pipeline::quality::{DQ_FAILURES, DQ_RESULTS};
use crate::sql::quote::literal;

/// Sample failing rows shown per check.
const SAMPLE_ROWS: usize = 5;

#[derive(Debug, Clone)]
pub struct CheckReport {
    pub pipeline: String,
    pub check: String,
    pub table: String,
    pub status: String,
    pub failed_rows: u64,
    /// Failing rows per run, oldest first (the latest is `failed_rows`).
    pub history: Vec<u64>,
    pub sample: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub latest_run: String,
    pub checked_at: String,
    pub runs: usize,
    pub checks: Vec<CheckReport>,
}

/// A column as text, NULL as "".
fn texts(col: &ArrayRef) -> Result<Vec<String>> {
    Ok(crate::pipeline::framework::strings(col)?
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect())
}

/// Builds the report over the last `runs` runs of `pipeline` (default: the pipeline of the
/// latest checked run).
pub async fn build(exec: &Executor, pipeline: Option<&str>, runs: usize) -> Result<Report> {
    if !exec.warehouse().is_table(DQ_RESULTS) {
        return Err(PipelineError::NoQualityResultsYet {
            warehouse: exec.warehouse().root().display().to_string(),
        }
        .into());
    }
    let filter = pipeline
        .map(|p| format!("WHERE pipeline = {}", literal(p)))
        .unwrap_or_default();
    let run_rows = exec
        .query_batches(&format!(
            "SELECT run_id, pipeline, CAST(max(checked_at) AS VARCHAR) AS at FROM {DQ_RESULTS} {filter} \
             GROUP BY run_id, pipeline ORDER BY max(checked_at) DESC, run_id DESC LIMIT {}",
            runs.max(1)
        ))
        .await?;
    let mut recent: Vec<(String, String, String)> = Vec::new();
    for b in &run_rows {
        let (r, p, at) = (
            texts(b.column(0))?,
            texts(b.column(1))?,
            texts(b.column(2))?,
        );
        for i in 0..b.num_rows() {
            recent.push((r[i].clone(), p[i].clone(), at[i].clone()));
        }
    }
    let Some((latest, latest_pipeline, at)) = recent.first().cloned() else {
        return Err(PipelineError::NoQualityResults {
            pipeline: pipeline.map(str::to_string),
        }
        .into());
    };
    // Oldest first, only the latest run's pipeline.
    let ids: Vec<String> = recent
        .iter()
        .rev()
        .filter(|(_, p, _)| *p == latest_pipeline)
        .map(|(r, _, _)| r.clone())
        .collect();
    let list = ids
        .iter()
        .map(|r| literal(r))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = exec
        .query_batches(&format!(
            "SELECT run_id, \"check\", \"table\", CAST(failed_rows AS BIGINT), status FROM {DQ_RESULTS} \
             WHERE run_id IN ({list})"
        ))
        .await?;
    let mut checks: Vec<CheckReport> = Vec::new();
    let mut cells: Vec<(String, String, String, u64, String)> = Vec::new();
    for b in &rows {
        let (r, c, t, n, s) = (
            texts(b.column(0))?,
            texts(b.column(1))?,
            texts(b.column(2))?,
            texts(b.column(3))?,
            texts(b.column(4))?,
        );
        for i in 0..b.num_rows() {
            cells.push((
                r[i].clone(),
                c[i].clone(),
                t[i].clone(),
                n[i].parse().unwrap_or(0),
                s[i].clone(),
            ));
        }
    }
    // Checks in the order the latest run recorded them.
    for (r, c, t, n, s) in cells.iter().filter(|x| x.0 == latest) {
        let _ = r;
        let history = ids
            .iter()
            .filter_map(|id| cells.iter().find(|x| &x.0 == id && &x.1 == c).map(|x| x.3))
            .collect();
        checks.push(CheckReport {
            pipeline: latest_pipeline.clone(),
            check: c.clone(),
            table: t.clone(),
            status: s.clone(),
            failed_rows: *n,
            history,
            sample: Vec::new(),
        });
    }
    if exec.warehouse().is_table(DQ_FAILURES) {
        let samples = exec
            .query_batches(&format!(
                "SELECT \"check\", \"row\" FROM {DQ_FAILURES} WHERE run_id = {} AND row_number <= {SAMPLE_ROWS} \
                 ORDER BY \"check\", row_number",
                literal(&latest)
            ))
            .await?;
        for b in &samples {
            let (c, row) = (texts(b.column(0))?, texts(b.column(1))?);
            for i in 0..b.num_rows() {
                if let Some(k) = checks.iter_mut().find(|k| k.check == c[i]) {
                    k.sample.push(row[i].clone());
                }
            }
        }
    }
    let order = |s: &str| match s {
        "fail" => 0,
        "warn" => 1,
        _ => 2,
    };
    checks.sort_by_key(|c| order(&c.status));
    Ok(Report {
        latest_run: latest,
        checked_at: at,
        runs: ids.len(),
        checks,
    })
}

/// A check's failing rows over its runs, oldest first: `3 → 0 → 1`.
pub fn trend(h: &[u64]) -> String {
    h.iter().map(u64::to_string).collect::<Vec<_>>().join(" → ")
}

pub fn render_text(r: &Report) -> String {
    let mut out = String::new();
    let (f, w, p) = counts(r);
    out.push_str(&format!(
        "data quality of {} run {} (checked {}): {f} fail, {w} warn, {p} pass\n\n",
        r.checks.first().map(|c| c.pipeline.as_str()).unwrap_or(""),
        r.latest_run,
        r.checked_at
    ));
    out.push_str(&format!(
        "{:<6} {:<24} {:<38} {:>8}  trend over the last {} run(s)\n",
        "status", "check", "table", "failing", r.runs
    ));
    for c in &r.checks {
        out.push_str(&format!(
            "{:<6} {:<24} {:<38} {:>8}  {}\n",
            c.status.to_uppercase(),
            c.check,
            c.table,
            c.failed_rows,
            trend(&c.history)
        ));
    }
    for c in r.checks.iter().filter(|c| !c.sample.is_empty()) {
        out.push_str(&format!(
            "\n{} — first {} of {} failing row(s):\n",
            c.check,
            c.sample.len(),
            c.failed_rows
        ));
        for s in &c.sample {
            out.push_str(&format!("  {s}\n"));
        }
    }
    out.push_str(&format!(
        "\nAll failing rows (up to 1000 per check): SELECT * FROM dq_failures WHERE run_id = '{}'\n",
        r.latest_run
    ));
    out
}

/// How many checks failed, warned and passed.
pub fn counts(r: &Report) -> (usize, usize, usize) {
    let n = |s: &str| r.checks.iter().filter(|c| c.status == s).count();
    (n("fail"), n("warn"), n("pass"))
}

pub fn render_html(r: &Report) -> String {
    let (f, w, p) = counts(r);
    let pipeline = r.checks.first().map(|c| c.pipeline.as_str()).unwrap_or("");
    let mut rows = String::new();
    for c in &r.checks {
        let max = c.history.iter().copied().max().unwrap_or(0).max(1);
        let bars: String = c
            .history
            .iter()
            .map(|v| {
                format!(
                    "<span class=bar title=\"{v}\" style=\"height:{}px\"></span>",
                    2 + v * 28 / max
                )
            })
            .collect();
        let sample: String = c
            .sample
            .iter()
            .map(|s| format!("<code>{}</code><br>", escape(s)))
            .collect();
        rows.push_str(&format!(
            "<tr class={s}><td>{S}</td><td>{}</td><td>{}</td><td class=n>{}</td><td class=trend>{bars}<br><small>{}</small></td><td>{sample}</td></tr>\n",
            escape(&c.check),
            escape(&c.table),
            c.failed_rows,
            escape(&trend(&c.history)),
            s = c.status,
            S = c.status.to_uppercase(),
        ));
    }
    format!(
        "<!doctype html>\n<html><head><meta charset=utf-8><title>Data quality — {pipeline}</title>\n<style>\
body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top}}\
tr.fail td:first-child{{background:#f8d7da}}tr.warn td:first-child{{background:#fff3cd}}tr.pass td:first-child{{background:#d4edda}}\
.n{{text-align:right}}.bar{{display:inline-block;width:8px;margin-right:2px;background:#69c;vertical-align:bottom}}code{{font-size:85%}}\
</style></head><body>\n<h1>Data quality — {pipeline}</h1>\n<p>Run <b>{run}</b>, checked {at}: <b>{f}</b> fail, <b>{w}</b> warn, <b>{p}</b> pass. Trend over the last {n} run(s), oldest first.</p>\n\
<table><tr><th>status</th><th>check</th><th>table</th><th>failing rows</th><th>trend</th><th>sample failing rows</th></tr>\n{rows}</table>\n\
<p>All failing rows (up to 1000 per check): <code>SELECT * FROM dq_failures WHERE run_id = '{run}'</code></p>\n</body></html>\n",
        run = escape(&r.latest_run),
        at = escape(&r.checked_at),
        n = r.runs,
    )
}
