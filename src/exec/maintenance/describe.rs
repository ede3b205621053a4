//! `DESCRIBE [DETAIL] t` for Delta tables: facts, then columns.

use std::sync::Arc;

use datafusion::arrow::array::StringArray;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;

use super::last_commit;
use crate::catalog::VersionSpec;
use crate::error::Result;
use crate::exec::outcome::Outcome;
use crate::external::{delta_dir, open_readable};
use crate::warehouse::Warehouse;

/// Facts about a table as (property, value) rows, then its columns.
pub async fn run(warehouse: &Warehouse, table: &str) -> Result<Outcome> {
    let t = open_readable(warehouse, table, &VersionSpec::Latest).await?;
    let (location, external) = delta_dir(warehouse, table)?
        .map(|(d, e)| (d.display().to_string(), e))
        .unwrap_or_default();
    let snap = t.snapshot()?;
    let schema = snap.snapshot().arrow_schema();
    let partitions: Vec<String> = snap.metadata().partition_columns().to_vec();
    let files = snap.log_data();
    let bytes: i64 = files.iter().map(|f| f.size()).sum();
    let mut names = Vec::new();
    let mut types = Vec::new();
    let mut notes = Vec::new();
    for f in schema.fields() {
        names.push(f.name().clone());
        types.push(f.data_type().to_string());
        notes.push(if partitions.contains(f.name()) {
            "partition column".to_string()
        } else if f.is_nullable() {
            String::new()
        } else {
            "NOT NULL".to_string()
        });
    }
    for (k, v) in [
        ("# version", t.version().unwrap_or(0).to_string()),
        ("# partitioned by", partitions.join(", ")),
        ("# files", files.num_files().to_string()),
        ("# bytes", bytes.to_string()),
        ("# location", location),
        (
            "# external",
            match &external {
                Some(e) if e.writable => "yes, writable".to_string(),
                Some(_) => "yes, read-only".to_string(),
                None => "no".to_string(),
            },
        ),
        ("# last commit", last_commit(&t).await?),
    ] {
        names.push(k.to_string());
        types.push(v);
        notes.push(String::new());
    }
    let out = Arc::new(Schema::new(vec![
        Field::new("column_name", DataType::Utf8, false),
        Field::new("data_type", DataType::Utf8, false),
        Field::new("comment", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        out.clone(),
        vec![
            Arc::new(StringArray::from(names)),
            Arc::new(StringArray::from(types)),
            Arc::new(StringArray::from(notes)),
        ],
    )?;
    Ok(Outcome::Rows {
        schema: out,
        batches: vec![batch],
    })
}
