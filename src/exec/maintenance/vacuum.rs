//! `VACUUM t [RETAIN n HOURS] [DRY RUN]`: deletes files no version within the retention
//! period needs (a dry run lists them).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;

use crate::error::Result;
use crate::exec::outcome::Outcome;
use crate::exec::write::open_target;
use crate::warehouse::Warehouse;

pub async fn run(
    warehouse: &Warehouse,
    table: String,
    retain_hours: Option<f64>,
    dry_run: bool,
) -> Result<Outcome> {
    let t = open_target(warehouse, &table).await?;
    let mut b = t.vacuum().with_dry_run(dry_run);
    if let Some(h) = retain_hours {
        b = b
            .with_retention_period(chrono::Duration::seconds((h * 3600.0) as i64))
            .with_enforce_retention_duration(false);
    }
    let (_, m) = b.await?;
    let verb = if dry_run { "would delete" } else { "deleted" };
    let schema = Arc::new(Schema::new(vec![Field::new("path", DataType::Utf8, false)]));
    let paths: ArrayRef = Arc::new(StringArray::from(m.files_deleted.clone()));
    let batch = RecordBatch::try_new(schema.clone(), vec![paths])?;
    if dry_run {
        return Ok(Outcome::Rows {
            schema,
            batches: vec![batch],
        });
    }
    Ok(Outcome::Message(format!(
        "VACUUM {table}: {verb} {} files",
        m.files_deleted.len()
    )))
}
