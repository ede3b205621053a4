//! Data-quality checks as SQL: each check is a query that returns the failing rows. The
//! manifest's thresholds turn the count into `pass | warn | fail`; results go to
//! `dq_results` (one row per check and run) and up to [`MAX_SAMPLE_ROWS`] failing rows per
//! check, as JSON text, to `dq_failures`, so they can be queried and reported later.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use serde::Serialize;

use crate::error::Result;
use crate::exec::Executor;
use crate::pipeline::error::PipelineError;
use crate::pipeline::manifest::{CheckDef, Pipeline};
use crate::script;
use crate::sql::vars::Vars;

pub const DQ_RESULTS: &str = "dq_results";
pub const DQ_FAILURES: &str = "dq_failures";

/// Failing rows kept per check and run (the count is always exact).
pub const MAX_SAMPLE_ROWS: usize = 1000;

#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub check: String,
    pub table: String,
    pub failed_rows: u64,
    /// pass | warn | fail
    pub status: String,
}

/// The status a check's count earns under its thresholds.
pub fn status_for(c: &CheckDef, failed_rows: u64) -> &'static str {
    match c.fail_at {
        Some(f) if failed_rows >= f => "fail",
        _ if failed_rows >= c.warn_at.max(1) => "warn",
        _ => "pass",
    }
}

/// Runs every check of the manifest and records the results.
pub async fn run_checks(
    exec: &Executor,
    p: &Pipeline,
    vars: &Vars,
    run_id: &str,
) -> Result<Vec<CheckResult>> {
    let mut results = Vec::new();
    let mut samples: Vec<(String, Vec<String>)> = Vec::new();
    for c in &p.manifest.checks {
        let (n, sample) = run_check(exec, p, c, vars).await?;
        results.push(CheckResult {
            check: c.name.clone(),
            table: c.table.clone(),
            failed_rows: n,
            status: status_for(c, n).into(),
        });
        samples.push((c.name.clone(), sample));
    }
    record(exec, p.name(), run_id, &results, &samples).await?;
    Ok(results)
}

/// The number of failing rows and the first [`MAX_SAMPLE_ROWS`] of them as JSON objects.
async fn run_check(
    exec: &Executor,
    p: &Pipeline,
    c: &CheckDef,
    vars: &Vars,
) -> Result<(u64, Vec<String>)> {
    let source = format!("{}/{}", p.origin, c.file);
    let text = p.sql.get(&c.file).ok_or_else(|| PipelineError::Manifest {
        file: source.clone(),
        message: "no such file".into(),
    })?;
    let prepared = script::prepare(&source, text, vars).map_err(PipelineError::from)?;
    let [query] = prepared.as_slice() else {
        return Err(PipelineError::CheckNotOneQuery {
            file: source,
            found: prepared.len(),
        }
        .into());
    };
    let batches = exec
        .query_batches(&query.sql)
        .await
        .map_err(|e| PipelineError::Check {
            file: source.clone(),
            line: query.line,
            check: c.name.clone(),
            error: Box::new(e),
        })?;
    let n: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let mut sample = Vec::new();
    for b in &batches {
        if sample.len() >= MAX_SAMPLE_ROWS {
            break;
        }
        let take = b.num_rows().min(MAX_SAMPLE_ROWS - sample.len());
        sample.extend(rows_as_json(&b.slice(0, take))?);
    }
    Ok((n as u64, sample))
}

fn rows_as_json(b: &RecordBatch) -> Result<Vec<String>> {
    let mut w = datafusion::arrow::json::ArrayWriter::new(Vec::new());
    w.write(b)?;
    w.finish()?;
    let text = w.into_inner();
    let rows: Vec<serde_json::Value> = if text.is_empty() {
        Vec::new()
    } else {
        serde_json::from_slice(&text)?
    };
    Ok(rows.iter().map(|r| r.to_string()).collect())
}

async fn record(
    exec: &Executor,
    pipeline: &str,
    run_id: &str,
    results: &[CheckResult],
    samples: &[(String, Vec<String>)],
) -> Result<()> {
    if results.is_empty() {
        return Ok(());
    }
    let text = |v: Vec<&str>| Arc::new(StringArray::from(v)) as ArrayRef;
    let n = results.len();
    let schema = Arc::new(Schema::new(vec![
        Field::new("pipeline", DataType::Utf8, false),
        Field::new("run_id", DataType::Utf8, false),
        Field::new("check", DataType::Utf8, false),
        Field::new("table", DataType::Utf8, false),
        Field::new("failed_rows", DataType::UInt64, false),
        Field::new("status", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            text(vec![pipeline; n]),
            text(vec![run_id; n]),
            text(results.iter().map(|r| r.check.as_str()).collect()),
            text(results.iter().map(|r| r.table.as_str()).collect()),
            Arc::new(UInt64Array::from_iter_values(
                results.iter().map(|r| r.failed_rows),
            )),
            text(results.iter().map(|r| r.status.as_str()).collect()),
        ],
    )?;
    exec.register_batches("run_dq_results", schema, vec![batch])?;

    let rows: Vec<(&str, u64, &str)> = samples
        .iter()
        .flat_map(|(check, rows)| {
            rows.iter()
                .enumerate()
                .map(move |(i, r)| (check.as_str(), i as u64 + 1, r.as_str()))
        })
        .collect();
    let m = rows.len();
    let fschema = Arc::new(Schema::new(vec![
        Field::new("pipeline", DataType::Utf8, false),
        Field::new("run_id", DataType::Utf8, false),
        Field::new("check", DataType::Utf8, false),
        Field::new("row_number", DataType::UInt64, false),
        Field::new("row", DataType::Utf8, false),
    ]));
    let fbatch = RecordBatch::try_new(
        fschema.clone(),
        vec![
            text(vec![pipeline; m]),
            text(vec![run_id; m]),
            text(rows.iter().map(|r| r.0).collect()),
            Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.1))),
            text(rows.iter().map(|r| r.2).collect()),
        ],
    )?;
    exec.register_batches("run_dq_failures", fschema, vec![fbatch])?;

    let now = chrono::Utc::now().timestamp_micros() as f64 / 1e6;
    // Keyed MERGEs: a re-run of the same run id (never happens today) replaces, not adds.
    let sql = format!(
        "CREATE TEMP TABLE run_dq AS SELECT *, from_epoch({now}) AS checked_at FROM run_dq_results;\n\
         CREATE TABLE IF NOT EXISTS {DQ_RESULTS} PARTITIONED BY (pipeline) AS SELECT * FROM run_dq LIMIT 0;\n\
         MERGE INTO {DQ_RESULTS} AS t USING run_dq AS s \
         ON t.run_id = s.run_id AND t.\"check\" = s.\"check\" \
         WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *;\n\
         CREATE TABLE IF NOT EXISTS {DQ_FAILURES} PARTITIONED BY (pipeline) AS SELECT * FROM run_dq_failures LIMIT 0;\n\
         MERGE INTO {DQ_FAILURES} AS t USING run_dq_failures AS s \
         ON t.run_id = s.run_id AND t.\"check\" = s.\"check\" AND t.row_number = s.row_number \
         WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *;"
    );
    crate::pipeline::framework::run_framework_sql(exec, "dq_results", &sql).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(warn_at: u64, fail_at: Option<u64>) -> CheckDef {
        CheckDef {
            name: "c".into(),
            file: "c.sql".into(),
            table: "t".into(),
            warn_at,
            fail_at,
        }
    }

    #[test]
    fn thresholds() {
        assert_eq!(status_for(&check(1, None), 0), "pass");
        assert_eq!(status_for(&check(1, None), 500), "warn");
        assert_eq!(status_for(&check(1, Some(1)), 1), "fail");
        assert_eq!(status_for(&check(5, Some(10)), 4), "pass");
        assert_eq!(status_for(&check(5, Some(10)), 9), "warn");
        assert_eq!(status_for(&check(5, Some(10)), 10), "fail");
    }
}
