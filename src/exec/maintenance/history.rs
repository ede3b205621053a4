//! `DESCRIBE HISTORY t [LIMIT n]` (and the shell's `\\history t`).

use std::sync::Arc;

use datafusion::arrow::array::{StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use futures::TryStreamExt;

use crate::catalog::VersionSpec;
use crate::error::Result;
use crate::exec::outcome::Outcome;
use crate::external::open_readable;
use crate::warehouse::Warehouse;

/// One row per commit, newest first: version, timestamp, operation, parameters, metrics.
pub async fn run(warehouse: &Warehouse, table: &str, limit: Option<usize>) -> Result<Outcome> {
    let t = open_readable(warehouse, table, &VersionSpec::Latest).await?;
    let current = t.version().unwrap_or(0);
    let infos: Vec<_> = t.history(limit).try_collect().await?;
    let mut versions = Vec::new();
    let mut times = Vec::new();
    let mut ops = Vec::new();
    let mut params = Vec::new();
    let mut metrics = Vec::new();
    for (i, info) in infos.iter().enumerate() {
        versions.push(current.saturating_sub(i as u64));
        times.push(
            info.timestamp
                .and_then(chrono::DateTime::from_timestamp_millis)
                .map(|d| d.format("%Y-%m-%d %H:%M:%S%.3f").to_string()),
        );
        ops.push(info.operation.clone());
        params.push(
            info.operation_parameters
                .as_ref()
                .map(|p| serde_json::to_string(p).unwrap_or_default()),
        );
        metrics.push(info.info.get("operationMetrics").map(|m| m.to_string()));
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("version", DataType::UInt64, false),
        Field::new("timestamp", DataType::Utf8, true),
        Field::new("operation", DataType::Utf8, true),
        Field::new("parameters", DataType::Utf8, true),
        Field::new("metrics", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(UInt64Array::from(versions)),
            Arc::new(StringArray::from(times)),
            Arc::new(StringArray::from(ops)),
            Arc::new(StringArray::from(params)),
            Arc::new(StringArray::from(metrics)),
        ],
    )?;
    Ok(Outcome::Rows {
        schema,
        batches: vec![batch],
    })
}
