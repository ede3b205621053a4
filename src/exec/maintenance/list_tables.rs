//! The shell's `\\d`: every table with its Delta facts.

use std::sync::Arc;

use datafusion::arrow::array::{StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;

use super::last_commit;
use crate::catalog::VersionSpec;
use crate::error::Result;
use crate::exec::outcome::Outcome;
use crate::external::{self, open_readable};
use crate::warehouse::Warehouse;

/// `\\d`: one row per warehouse table with its version, files, rows (from the Delta file
/// statistics, no data read), size and last commit; then the external tables, whose format
/// says `external` and whose `location` says where their data is.
pub async fn run(warehouse: &Warehouse) -> Result<Outcome> {
    let mut listed: Vec<(String, String, Option<String>)> = warehouse
        .table_names()
        .into_iter()
        .map(|n| (n, "delta".to_string(), None))
        .collect();
    for e in external::load(warehouse)? {
        let format = format!("external {}", e.format.to_ascii_lowercase());
        listed.push((e.name, format, Some(e.location)));
    }
    let mut formats = Vec::new();
    let mut locations = Vec::new();
    let mut names = Vec::new();
    let mut versions = Vec::new();
    let mut files = Vec::new();
    let mut rows = Vec::new();
    let mut bytes = Vec::new();
    let mut last = Vec::new();
    for (name, format, location) in listed {
        let is_delta = format.ends_with("delta");
        formats.push(format);
        locations.push(location);
        // Only a Delta table has versions and file counts; a loose-file table gets none.
        let opened = match is_delta {
            true => open_readable(warehouse, &name, &VersionSpec::Latest)
                .await
                .ok(),
            false => None,
        };
        let Some(t) = opened else {
            let note = is_delta.then(|| "unreadable Delta log".to_string());
            names.push(name);
            versions.push(None);
            files.push(None);
            rows.push(None);
            bytes.push(None);
            last.push(note);
            continue;
        };
        let snap = t.snapshot()?;
        let data = snap.log_data();
        names.push(name);
        versions.push(t.version());
        files.push(Some(data.num_files() as u64));
        rows.push(Some(
            data.iter()
                .map(|f| f.num_records().unwrap_or(0) as u64)
                .sum::<u64>(),
        ));
        bytes.push(Some(
            data.iter().map(|f| f.size().max(0) as u64).sum::<u64>(),
        ));
        last.push(Some(last_commit(&t).await?));
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("table", DataType::Utf8, false),
        Field::new("format", DataType::Utf8, false),
        Field::new("version", DataType::UInt64, true),
        Field::new("files", DataType::UInt64, true),
        Field::new("rows", DataType::UInt64, true),
        Field::new("bytes", DataType::UInt64, true),
        Field::new("last_commit", DataType::Utf8, true),
        Field::new("location", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(names)),
            Arc::new(StringArray::from(formats)),
            Arc::new(UInt64Array::from(versions)),
            Arc::new(UInt64Array::from(files)),
            Arc::new(UInt64Array::from(rows)),
            Arc::new(UInt64Array::from(bytes)),
            Arc::new(StringArray::from(last)),
            Arc::new(StringArray::from(locations)),
        ],
    )?;
    Ok(Outcome::Rows {
        schema,
        batches: vec![batch],
    })
}
