//! Delta maintenance and inspection: OPTIMIZE, VACUUM, RESTORE, DESCRIBE HISTORY, DESCRIBE,
//! DROP TABLE, and the change data feed behind `table_changes()`.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;
use deltalake::operations::optimize::OptimizeType;
use futures::TryStreamExt;

use crate::catalog::VersionSpec;
use crate::error::{Error, Result};
use crate::exec::delta_write::open_target;
use crate::exec::outcome::{Outcome, WriteReport};
use crate::exec::parquet_props::writer_properties;
use crate::external::{self, delta_dir, open_readable};
use crate::sql::command::Command;
use crate::warehouse::Warehouse;

pub async fn run(ctx: &SessionContext, warehouse: &Warehouse, cmd: Command) -> Result<Outcome> {
    match cmd {
        Command::Optimize { table, zorder } => {
            let t = open_target(warehouse, &table).await?;
            let mut b = t
                .optimize()
                .with_session_state(Arc::new(ctx.state()))
                .with_writer_properties(writer_properties());
            if !zorder.is_empty() {
                b = b.with_type(OptimizeType::ZOrder(zorder));
            }
            let (t, m) = b.await?;
            Ok(Outcome::Write(WriteReport {
                operation: "OPTIMIZE".into(),
                table,
                version: t.version().unwrap_or(0),
                files_added: m.num_files_added,
                files_removed: m.num_files_removed,
                ..Default::default()
            }))
        }
        Command::Vacuum {
            table,
            retain_hours,
            dry_run,
        } => {
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
        Command::Restore { table, to } => {
            let t = open_target(warehouse, &table).await?;
            let mut b = t.restore();
            b = match to {
                VersionSpec::Version(v) => b.with_version_to_restore(v),
                VersionSpec::Timestamp(ts) => {
                    let ts = chrono::DateTime::parse_from_rfc3339(&ts)
                        .map(|d| d.to_utc())
                        .or_else(|_| {
                            chrono::NaiveDateTime::parse_from_str(&ts, "%Y-%m-%d %H:%M:%S")
                                .map(|n| n.and_utc())
                        })
                        .map_err(|_| {
                            Error::Invalid(format!(
                                "RESTORE TO TIMESTAMP AS OF '{ts}': expected 'YYYY-MM-DD HH:MM:SS'"
                            ))
                        })?;
                    b.with_datetime_to_restore(ts)
                }
                VersionSpec::Latest => b,
            };
            let (t, m) = b.await?;
            Ok(Outcome::Write(WriteReport {
                operation: "RESTORE".into(),
                table,
                version: t.version().unwrap_or(0),
                files_added: m.num_restored_file as u64,
                files_removed: m.num_removed_file as u64,
                ..Default::default()
            }))
        }
        Command::History { table, limit } => history(warehouse, &table, limit).await,
        Command::Describe { table } => describe(warehouse, &table).await,
        Command::Drop { table, if_exists } => {
            if !warehouse.is_table(&table)
                && let Some(gone) = external::forget(warehouse, &table)?
            {
                return Ok(Outcome::Message(format!(
                    "forgot external table {table} (its data at {} is untouched)",
                    gone.location
                )));
            }
            if !warehouse.is_table(&table) {
                if if_exists {
                    return Ok(Outcome::Message(format!(
                        "table {table} does not exist, skipped"
                    )));
                }
                return Err(Error::table_not_found(&table, warehouse));
            }
            let dir = warehouse.table_dir(&table);
            crate::storage::remove_dir_all(&dir)?;
            Ok(Outcome::Message(format!("dropped table {table}")))
        }
    }
}

/// One row per commit, newest first: version, timestamp, operation, parameters, metrics.
pub async fn history(warehouse: &Warehouse, table: &str, limit: Option<usize>) -> Result<Outcome> {
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

/// `\\d`: one row per warehouse table with its version, files, rows (from the Delta file
/// statistics, no data read), size and last commit; then the external tables, whose format
/// says `external` and whose `location` says where their data is.
pub async fn list_tables(warehouse: &Warehouse) -> Result<Outcome> {
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
        let opened = match is_delta {
            true => open_readable(warehouse, &name, &VersionSpec::Latest).await,
            false => Err(Error::Invalid("not a Delta table".into())),
        };
        let Ok(t) = opened else {
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

/// Facts about a table as (property, value) rows, then its columns.
pub async fn describe(warehouse: &Warehouse, table: &str) -> Result<Outcome> {
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

/// Rows of the change data feed between two versions (inclusive), with `_change_type`,
/// `_commit_version` and `_commit_timestamp`.
pub async fn changes(
    ctx: &SessionContext,
    warehouse: &Warehouse,
    table: &str,
    start: u64,
    end: Option<u64>,
) -> Result<Vec<RecordBatch>> {
    let t = open_readable(warehouse, table, &VersionSpec::Latest).await?;
    let mut b = t.scan_cdf().with_starting_version(start);
    if let Some(e) = end {
        b = b.with_ending_version(e);
    }
    let state = ctx.state();
    let plan = b.build(&state, None).await?;
    Ok(datafusion::physical_plan::collect(plan, ctx.task_ctx()).await?)
}

async fn last_commit(t: &deltalake::DeltaTable) -> Result<String> {
    let info: Vec<_> = t.history(Some(1)).try_collect().await?;
    Ok(info
        .first()
        .map(|i| {
            format!(
                "{} {}",
                i.timestamp
                    .and_then(chrono::DateTime::from_timestamp_millis)
                    .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default(),
                i.operation.clone().unwrap_or_default()
            )
        })
        .unwrap_or_default())
}
