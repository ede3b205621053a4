//! The landing directory of a run: which files belong to it ([`discover`]), reading them
//! ([`read_batch`]: each file read once, hashed for the ledger and parsed, on every core), and
//! where they go afterwards ([`move_files`]: archive, or rejected with a reason file).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::ingest::{FileRead, ReadOptions, constant_text, raw_schema, read_bytes};
use crate::parallel::parallel_map;
use crate::pipeline::manifest::Pipeline;
use crate::pipeline::summary::{FileSummary, RunSummary};

/// A landing file of the run.
pub(crate) struct Input {
    pub path: PathBuf,
    pub name: String,
}

/// One batch table (`batch_raw`, or one per input type): the raw columns plus `file_hash`.
pub(crate) struct BatchTable {
    pub name: String,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

/// What reading the landing files produced: one summary per input (in input order) and the
/// batch tables to register.
pub(crate) struct ReadBatch {
    pub files: Vec<FileSummary>,
    pub tables: Vec<BatchTable>,
}

/// One file after the parallel phase.
enum Parsed {
    /// Already in the ledger: not parsed.
    Known,
    /// Its name matches no input type.
    Unrouted,
    Read {
        table: usize,
        read: FileRead,
    },
}

/// Reads every input: hashes it (a file whose hash is `known`, or that repeats an earlier
/// file of this batch, is a duplicate), routes it to its batch table and parses it. Files are
/// read and parsed on all cores; the outcome does not depend on which worker took which file.
pub(crate) fn read_batch(
    p: &Pipeline,
    inputs: &[Input],
    known: &HashSet<String>,
) -> Result<ReadBatch> {
    let formats = p.batch_formats()?;
    let specs = p.batch_tables();
    let schemas: Vec<SchemaRef> = specs
        .iter()
        .map(|(_, fields)| {
            let mut with_hash: Vec<Arc<Field>> =
                raw_schema(fields).fields().iter().cloned().collect();
            with_hash.push(Arc::new(Field::new("file_hash", DataType::Utf8View, false)));
            Arc::new(Schema::new(with_hash))
        })
        .collect();

    let read_one = |input: &Input| -> Result<(String, Parsed)> {
        let started = Instant::now();
        let bytes = std::fs::read(&input.path)
            .map_err(|e| Error::io(format!("cannot read {}", input.path.display()), e))?;
        let loaded = started.elapsed().as_secs_f64();
        let hash = hex::encode(Sha256::digest(&bytes));
        let hashed = started.elapsed().as_secs_f64();
        if known.contains(&hash) {
            return Ok((hash, Parsed::Known));
        }
        let Some(t) = p.route(&input.name) else {
            return Ok((hash, Parsed::Unrouted));
        };
        let opts = ReadOptions {
            format: formats[t],
            fields: specs[t].1.clone(),
            batch_rows: 65536,
        };
        let gzip = input
            .path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
        let label = input.path.display().to_string();
        let size = bytes.len();
        let read = read_bytes(bytes, gzip, &label, &input.name, &opts)?;
        tracing::debug!(
            file = %input.name,
            bytes = size,
            read = loaded,
            hash = hashed - loaded,
            parse = started.elapsed().as_secs_f64() - hashed,
            "landing file read (seconds)"
        );
        Ok((hash, Parsed::Read { table: t, read }))
    };
    let parsed = parallel_map(inputs, read_one);

    let mut files = Vec::with_capacity(inputs.len());
    let mut tables: Vec<BatchTable> = specs
        .iter()
        .zip(&schemas)
        .map(|((name, _), schema)| BatchTable {
            name: name.clone(),
            schema: schema.clone(),
            batches: Vec::new(),
        })
        .collect();
    let mut seen_in_batch: HashSet<String> = HashSet::new();
    for (input, result) in inputs.iter().zip(parsed) {
        let (hash, parsed) = result?;
        let mut f = FileSummary {
            file: input.name.clone(),
            file_hash: hash.clone(),
            ..Default::default()
        };
        let first_in_batch = seen_in_batch.insert(hash.clone());
        match parsed {
            Parsed::Known => f.status = "duplicate".into(),
            _ if !first_in_batch => f.status = "duplicate".into(),
            Parsed::Unrouted => {
                f.status = "rejected".into();
                f.reject_reason = Some(format!(
                    "UNKNOWN_TYPE: {}: the name starts with none of {}; rename the file",
                    input.name,
                    p.manifest
                        .input
                        .types
                        .iter()
                        .map(|t| t.prefix.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            Parsed::Read {
                read: FileRead::Rejected { code, message },
                ..
            } => {
                f.status = "rejected".into();
                f.reject_reason = Some(format!("{code}: {message}"));
            }
            Parsed::Read {
                table,
                read: FileRead::Records { batches, .. },
            } => {
                let t = &mut tables[table];
                for b in batches {
                    let hash: ArrayRef = Arc::new(constant_text(&hash, b.num_rows()));
                    let mut cols = b.columns().to_vec();
                    cols.push(hash);
                    t.batches
                        .push(RecordBatch::try_new(t.schema.clone(), cols)?);
                }
                f.status = "read".into();
            }
        }
        files.push(f);
    }
    Ok(ReadBatch { files, tables })
}

/// Files in landing that belong to the pipeline, in name (code-point) order.
pub(crate) fn discover(landing: &Path, p: &Pipeline) -> Result<Vec<Input>> {
    let Ok(entries) = std::fs::read_dir(landing) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        if !path.is_file() || !p.accepts(&name) {
            continue;
        }
        out.push(Input { path, name });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Moves the batch's files: whole-file rejects (and, on a failed run, every file) to
/// `rejected/<pipeline>/<run_id>/` with `<name>.reason.json`, the rest to `archive/…`.
pub(crate) fn move_files(
    wh: &crate::warehouse::Warehouse,
    pipeline: &str,
    run_id: &str,
    inputs: &[Input],
    summary: &RunSummary,
    failed_run: bool,
) -> Result<()> {
    for (input, f) in inputs.iter().zip(&summary.files) {
        let reject = f.status == "rejected" || (failed_run && f.status != "duplicate");
        let dir = if reject {
            wh.rejected_dir(pipeline, run_id)
        } else {
            wh.archive_dir(pipeline, run_id)
        };
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
        if reject {
            let reason = serde_json::json!({
                "file": f.file,
                "run_id": run_id,
                "reason": f.reject_reason.clone().unwrap_or_else(|| "no valid record in the batch".into()),
                "rows_read": f.rows_read,
                "reasons": f.reasons,
            });
            let rp = dir.join(format!("{}.reason.json", f.file));
            std::fs::write(&rp, serde_json::to_vec_pretty(&reason)?)
                .map_err(|e| Error::io(format!("cannot write {}", rp.display()), e))?;
        }
        let dest = dir.join(&f.file);
        std::fs::rename(&input.path, &dest).map_err(|e| {
            Error::io(
                format!("cannot move {} to {}", input.path.display(), dest.display()),
                e,
            )
        })?;
    }
    Ok(())
}
