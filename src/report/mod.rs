//! `stockroom report`: the warehouse at a glance — per pipeline its KPI trends, run
//! history, rejects by reason and data-quality checks, then facts about every table with
//! maintenance hints. Every number comes from SQL over the tables (the statement is kept
//! beside each chart), so the page can be checked against `stockroom query`.
//!
//! [`build`] gathers the data; [`html`] renders one self-contained page, [`text`] a
//! terminal summary.

pub mod html;
mod kpis;
mod tables;
pub mod text;

use datafusion::arrow::array::Array;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use serde::Serialize;

use crate::chart::{self, Chart, Kind, Series};
use crate::error::Result;
use crate::exec::{Executor, Outcome};
use crate::pipeline::dq_report;
use crate::sql::quote;

pub use tables::TableFact;

/// What the report covers.
#[derive(Debug, Clone)]
pub struct Options {
    /// Only this pipeline's sections (tables are always listed).
    pub pipeline: Option<String>,
    /// Days of each table's own dates, ending at its latest date (so old sample data shows).
    pub days: u32,
    /// Runs shown in the run history and the data-quality trend.
    pub runs: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            pipeline: None,
            days: 30,
            runs: 30,
        }
    }
}

/// A chart with the statement its values came from.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    #[serde(flatten)]
    pub chart: Chart,
    pub sql: String,
}

/// A small table of text cells; `marks[i]` is a CSS class for row i ("fail", "warn", "").
#[derive(Debug, Clone, Default)]
pub struct TableBlock {
    pub title: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub marks: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum Block {
    Figure(Figure),
    Table(TableBlock),
    Dq(dq_report::Report),
    Note(String),
}

#[derive(Debug, Clone)]
pub struct Section {
    /// Letters, digits and '-': the page anchor.
    pub id: String,
    pub title: String,
    pub blocks: Vec<Block>,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub warehouse: String,
    pub generated_at: String,
    pub options: Options,
    pub sections: Vec<Section>,
    pub tables: Vec<TableFact>,
}

impl Report {
    /// Every figure of the report, in page order.
    pub fn figures(&self) -> impl Iterator<Item = &Figure> {
        self.sections.iter().flat_map(|s| {
            s.blocks.iter().filter_map(|b| match b {
                Block::Figure(f) => Some(f),
                _ => None,
            })
        })
    }
}

/// Pipelines shipped with stockroom, in the order their sections appear.
const KNOWN: &[&str] = &["ecommerce", "pos", "inventory", "inventory-ops"];

/// Builds the whole report.
pub async fn build(exec: &Executor, opts: &Options) -> Result<Report> {
    let mut sections = Vec::new();
    for p in pipelines(exec).await? {
        if opts.pipeline.as_ref().is_some_and(|only| *only != p) {
            continue;
        }
        let mut blocks = kpis::blocks(exec, &p, opts).await?;
        blocks.extend(runs(exec, &p, opts).await?);
        blocks.extend(rejects(exec, &p, opts).await?);
        blocks.extend(quality(exec, &p, opts).await?);
        if !blocks.is_empty() {
            sections.push(Section {
                id: p.clone(),
                title: p.clone(),
                blocks,
            });
        }
    }
    if let Some(p) = &opts.pipeline
        && sections.is_empty()
    {
        sections.push(Section {
            id: "none".into(),
            title: p.clone(),
            blocks: vec![Block::Note(format!(
                "nothing recorded for pipeline '{p}' yet: no runs, rejects, checks or KPI tables"
            ))],
        });
    }
    Ok(Report {
        warehouse: exec.warehouse().root().display().to_string(),
        generated_at: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        options: opts.clone(),
        sections,
        tables: tables::facts(exec).await?,
    })
}

/// The pipelines with something to show: the shipped ones whose KPI tables exist, then
/// every pipeline named in the runs, rejects and checks tables.
async fn pipelines(exec: &Executor) -> Result<Vec<String>> {
    let wh = exec.warehouse();
    let mut names: Vec<String> = KNOWN
        .iter()
        .filter(|p| kpis::tables_of(p).iter().any(|t| wh.is_table(t)))
        .map(|p| p.to_string())
        .collect();
    let mut found = Vec::new();
    for t in ["stockroom_runs", "rejects", "dq_results"] {
        if wh.is_table(t) {
            for row in text_rows(exec, &format!("SELECT DISTINCT pipeline FROM {t}")).await? {
                if let Some(p) = row.into_iter().next().filter(|p| !p.is_empty()) {
                    found.push(p);
                }
            }
        }
    }
    // Known pipelines first (in their order), then the others by name.
    found.sort();
    found.dedup();
    for p in KNOWN {
        if found.iter().any(|f| f == p) && !names.iter().any(|n| n == p) {
            names.push(p.to_string());
        }
    }
    names.sort_by_key(|n| KNOWN.iter().position(|k| k == n).unwrap_or(KNOWN.len()));
    for p in found {
        if !names.contains(&p) {
            names.push(p);
        }
    }
    Ok(names)
}

/// A query's rows as text cells (NULL as "").
pub(crate) async fn text_rows(exec: &Executor, sql: &str) -> Result<Vec<Vec<String>>> {
    let batches = exec.query_batches(sql).await?;
    let opts = FormatOptions::default();
    let mut out = Vec::new();
    for b in &batches {
        let fmts = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        for r in 0..b.num_rows() {
            out.push(fmts.iter().map(|f| f.value(r).to_string()).collect());
        }
    }
    Ok(out)
}

/// A chart from `SELECT x, y1, y2, …` (one series per value column, named after it).
pub(crate) async fn wide(exec: &Executor, mut meta: Chart, sql: String) -> Result<Figure> {
    if let Outcome::Rows { schema, batches } = exec.execute(&sql).await?
        && schema.fields().len() > 1
    {
        let c = chart::from_batches(&schema, &batches, Some(meta.kind), None, &[])?;
        meta.x = c.x;
        meta.series = c.series;
    }
    Ok(Figure { chart: meta, sql })
}

/// A chart from `SELECT x, series, value` rows: x in order of first appearance, one series
/// per distinct second column (in order of first appearance), missing cells NULL.
pub(crate) async fn long(exec: &Executor, mut meta: Chart, sql: String) -> Result<Figure> {
    let batches = exec.query_batches(&sql).await?;
    pivot(&mut meta, &batches)?;
    Ok(Figure { chart: meta, sql })
}

fn pivot(meta: &mut Chart, batches: &[RecordBatch]) -> Result<()> {
    let opts = FormatOptions::default().with_null("NULL");
    let mut cells: Vec<(usize, usize, Option<f64>)> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for b in batches.iter().filter(|b| b.num_columns() >= 3) {
        let xf = ArrayFormatter::try_new(b.column(0).as_ref(), &opts)?;
        let sf = ArrayFormatter::try_new(b.column(1).as_ref(), &opts)?;
        let v = chart::numbers(b.column(2).as_ref(), "value")?;
        for r in 0..b.num_rows() {
            let (x, s) = (xf.value(r).to_string(), sf.value(r).to_string());
            let xi = meta.x.iter().position(|e| *e == x).unwrap_or_else(|| {
                meta.x.push(x);
                meta.x.len() - 1
            });
            let si = names.iter().position(|e| *e == s).unwrap_or_else(|| {
                names.push(s);
                names.len() - 1
            });
            cells.push((xi, si, (!v.is_null(r)).then(|| v.value(r))));
        }
    }
    meta.series = names
        .into_iter()
        .map(|name| Series {
            name,
            values: vec![None; meta.x.len()],
        })
        .collect();
    for (xi, si, v) in cells {
        meta.series[si].values[xi] = v;
    }
    Ok(())
}

/// Rows read / valid / rejected per run and each run's duration, failed runs highlighted,
/// then the runs as a table.
async fn runs(exec: &Executor, p: &str, opts: &Options) -> Result<Vec<Block>> {
    if !exec.warehouse().is_table("stockroom_runs") {
        return Ok(Vec::new());
    }
    let last = format!(
        "(SELECT * FROM stockroom_runs WHERE pipeline = {q} \
         AND started_at > (SELECT max(started_at) FROM stockroom_runs WHERE pipeline = {q}) - INTERVAL '{d} days' \
         ORDER BY started_at DESC LIMIT {n})",
        q = quote::literal(p),
        d = opts.days,
        n = opts.runs.max(1)
    );
    let rows = text_rows(
        exec,
        &format!(
            "SELECT run_id, CAST(date_trunc('second', started_at) AS VARCHAR), status, files_processed, rows_read, rows_valid, rows_rejected, \
             round(date_part('epoch', finished_at) - date_part('epoch', started_at), 2), coalesce(error, '') \
             FROM {last} AS r ORDER BY started_at"
        ),
    )
    .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let failed: Vec<usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r[2] == "failed")
        .map(|(i, _)| i)
        .collect();
    let mut counts = wide(
        exec,
        Chart::new(
            &format!("{p}-runs-rows"),
            &format!("{p}: records per run"),
            Kind::Bar,
            "run (started at, UTC)",
            "records",
        ),
        format!(
            "SELECT CAST(date_trunc('second', started_at) AS VARCHAR) AS run, rows_read AS read, rows_valid AS valid, rows_rejected AS rejected \
             FROM {last} AS r ORDER BY started_at"
        ),
    )
    .await?;
    counts.chart.highlight = failed.clone();
    let mut duration = wide(
        exec,
        Chart::new(
            &format!("{p}-runs-duration"),
            &format!("{p}: run duration"),
            Kind::Bar,
            "run (started at, UTC)",
            "duration (seconds)",
        ),
        format!(
            "SELECT CAST(date_trunc('second', started_at) AS VARCHAR) AS run, \
             date_part('epoch', finished_at) - date_part('epoch', started_at) AS seconds \
             FROM {last} AS r ORDER BY started_at"
        ),
    )
    .await?;
    if !failed.is_empty() {
        for c in [&mut counts.chart, &mut duration.chart] {
            c.x_label.push_str("; shaded: failed run");
        }
    }
    duration.chart.highlight = failed;
    let table = TableBlock {
        title: format!("{p}: runs, oldest first (failed runs marked)"),
        header: [
            "run", "started", "status", "files", "read", "valid", "rejected", "seconds", "error",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        marks: rows
            .iter()
            .map(|r| match r[2].as_str() {
                "failed" => "fail".to_string(),
                "partial" => "warn".to_string(),
                _ => String::new(),
            })
            .collect(),
        rows,
    };
    Ok(vec![
        Block::Figure(counts),
        Block::Figure(duration),
        Block::Table(table),
    ])
}

/// Rejected records per reason code (the part before ':') and day, and the latest samples.
async fn rejects(exec: &Executor, p: &str, opts: &Options) -> Result<Vec<Block>> {
    if !exec.warehouse().is_table("rejects") {
        return Ok(Vec::new());
    }
    let window = format!(
        "pipeline = {q} AND rejected_at > (SELECT max(rejected_at) FROM rejects WHERE pipeline = {q}) - INTERVAL '{d} days'",
        q = quote::literal(p),
        d = opts.days
    );
    let fig = long(
        exec,
        Chart::new(
            &format!("{p}-rejects"),
            &format!("{p}: rejected records by reason code"),
            Kind::Bar,
            "day rejected (UTC)",
            "records (once per reason)",
        ),
        format!(
            "SELECT day, code, count(*) AS records FROM (\
               SELECT CAST(CAST(rejected_at AS DATE) AS VARCHAR) AS day, split_part(r, ':', 1) AS code \
               FROM (SELECT rejected_at, unnest(reasons) AS r FROM rejects WHERE {window})) \
             GROUP BY day, code ORDER BY day, records DESC, code"
        ),
    )
    .await?;
    if fig.chart.is_empty() {
        return Ok(Vec::new());
    }
    let sample = text_rows(
        exec,
        &format!(
            "SELECT source_file AS file, CAST(line_number AS VARCHAR) AS line, array_to_string(reasons, ', ') AS why, record \
             FROM rejects WHERE {window} ORDER BY rejected_at DESC, source_file, line_number LIMIT 10"
        ),
    )
    .await?;
    let sample = sample
        .into_iter()
        .map(|mut r| {
            // The file's name is enough on the page; the path is in the table.
            if let Some(f) = r.first_mut() {
                *f = f.rsplit('/').next().unwrap_or(f).to_string();
            }
            r
        })
        .collect::<Vec<_>>();
    Ok(vec![
        Block::Figure(fig),
        Block::Table(TableBlock {
            title: format!("{p}: latest rejected records (up to 10)"),
            header: ["file", "line", "reasons", "record"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            marks: vec![String::new(); sample.len()],
            rows: sample,
        }),
    ])
}

/// The data-quality checks (`dq report`) with their failing rows per run as a chart.
async fn quality(exec: &Executor, p: &str, opts: &Options) -> Result<Vec<Block>> {
    if !exec
        .warehouse()
        .is_table(crate::pipeline::quality::DQ_RESULTS)
    {
        return Ok(Vec::new());
    }
    let q = quote::literal(p);
    let any = text_rows(
        exec,
        &format!("SELECT count(*) FROM dq_results WHERE pipeline = {q}"),
    )
    .await?;
    if any.first().and_then(|r| r.first()).is_none_or(|n| n == "0") {
        return Ok(Vec::new());
    }
    let report = dq_report::build(exec, Some(p), opts.runs).await?;
    let trend = long(
        exec,
        Chart::new(
            &format!("{p}-dq"),
            &format!("{p}: failing rows per check and run"),
            Kind::Line,
            "run (checked at, UTC)",
            "failing rows",
        ),
        format!(
            "SELECT CAST(date_trunc('millisecond', d.checked_at) AS VARCHAR) AS run, d.\"check\", d.failed_rows FROM dq_results d \
             JOIN (SELECT run_id FROM dq_results WHERE pipeline = {q} GROUP BY run_id ORDER BY max(checked_at) DESC LIMIT {n}) AS l \
             ON d.run_id = l.run_id WHERE d.pipeline = {q} ORDER BY d.checked_at, d.\"check\"",
            n = opts.runs.max(1)
        ),
    )
    .await?;
    Ok(vec![Block::Dq(report), Block::Figure(trend)])
}
