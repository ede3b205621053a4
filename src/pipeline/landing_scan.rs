//! A batch table that is not held anywhere: every scan parses its landing files again.
//!
//! Without `--memory-limit` a run used to keep its whole raw batch in memory from the read
//! to the end of validation: the files' text plus a 16-byte view per field and record, about
//! three times the input (ecommerce at generator scale 10: 333 MB of CSV, ~1 GB of batch).
//! Yet the validate steps read each batch table once or a few times, as a projection into
//! `checked_*`. So [`crate::pipeline::landing::read_batch`] only checks the files (hash and
//! verdict, the batches dropped as they are parsed), and a scan of the table parses them
//! again, one group of files per partition, a piece at a time: memory holds what the query
//! keeps, never the raw batch.
//!
//! A scan re-opens each file the way the read did (no link followed, regular files only) and
//! hashes it again while parsing: a file changed since the read fails the query with
//! [`Error::LandingFileChanged`] instead of mixing two contents.

use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchReceiverStream;
use datafusion::physical_plan::streaming::PartitionStream;
use tokio::sync::mpsc::Sender;

use crate::error::{Error, Result};
use crate::ingest::{ReadOptions, Streamed, constant_text, stream_file};
use crate::pipeline::landing::{Hashing, Staging, open_regular};

/// One landing file the read took into the batch, and what the read found in it.
#[derive(Debug)]
pub(crate) struct TakenFile {
    pub path: PathBuf,
    /// The landing name (the `source_file` of its records).
    pub name: String,
    /// How messages name it (its bucket address when landing is a bucket).
    pub label: String,
    pub gzip: bool,
    pub size: u64,
    /// SHA-256 of its bytes at the read; a scan that hashes otherwise fails.
    pub hash: String,
    /// Records the read parsed; a scan that parses otherwise fails.
    pub rows: usize,
    /// Keeps a bucket file's local copy until the table is dropped.
    pub _staged: Option<Arc<Staging>>,
}

/// The table over `files` (each parsed with `opts`), split into at most `partitions` groups
/// of about equal size; a group's files are parsed one after the other.
pub(crate) fn table(
    schema: SchemaRef,
    files: Vec<TakenFile>,
    opts: ReadOptions,
    partitions: usize,
) -> Result<Arc<dyn TableProvider>> {
    let opts = Arc::new(opts);
    let mut groups: Vec<(u64, Vec<Arc<TakenFile>>)> = vec![(0, Vec::new()); partitions.max(1)];
    let mut files: Vec<Arc<TakenFile>> = files.into_iter().map(Arc::new).collect();
    // Largest first, each to the lightest group so far.
    files.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)));
    for f in files {
        if let Some(g) = groups.iter_mut().min_by_key(|g| g.0) {
            g.0 += f.size;
            g.1.push(f);
        }
    }
    let parts: Vec<Arc<dyn PartitionStream>> = groups
        .into_iter()
        .filter(|g| !g.1.is_empty())
        .map(|(_, files)| {
            Arc::new(Group {
                schema: schema.clone(),
                files,
                opts: opts.clone(),
            }) as Arc<dyn PartitionStream>
        })
        .collect();
    Ok(Arc::new(StreamingTable::try_new(schema, parts)?))
}

/// One partition of a scan: its files, parsed in turn on a blocking thread.
#[derive(Debug)]
struct Group {
    schema: SchemaRef,
    files: Vec<Arc<TakenFile>>,
    opts: Arc<ReadOptions>,
}

impl PartitionStream for Group {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        // Two batches in flight: the parser runs ahead of the query by no more than that.
        let mut builder = RecordBatchReceiverStream::builder(self.schema.clone(), 2);
        let tx = builder.tx();
        let (files, schema, opts) = (self.files.clone(), self.schema.clone(), self.opts.clone());
        builder.spawn_blocking(move || {
            for f in &files {
                match rescan(f, &schema, &opts, &tx) {
                    Ok(()) => {}
                    // The query stopped reading (a LIMIT, an error elsewhere): nothing to say.
                    Err(Error::Internal(STOPPED)) => return Ok(()),
                    Err(e) => return Err(DataFusionError::External(Box::new(e))),
                }
            }
            Ok(())
        });
        builder.build()
    }
}

const STOPPED: &str = "the query stopped reading the landing file";

/// Parses `f` again into `tx`, checking that it is still the file the read took.
fn rescan(
    f: &TakenFile,
    schema: &SchemaRef,
    opts: &ReadOptions,
    tx: &Sender<datafusion::error::Result<RecordBatch>>,
) -> Result<()> {
    let changed = || Error::LandingFileChanged(f.name.clone());
    let Ok((file, _)) = open_regular(&f.path)? else {
        return Err(changed());
    };
    let mut reader = Hashing::new(std::io::Read::take(
        &file,
        opts.max_file_bytes.saturating_add(1),
    ));
    let mut sink = |batches: Vec<RecordBatch>| -> Result<()> {
        for b in batches {
            let mut cols = b.columns().to_vec();
            let hash: ArrayRef = Arc::new(constant_text(&f.hash, b.num_rows()));
            cols.push(hash);
            let batch = RecordBatch::try_new(schema.clone(), cols)?;
            if tx.blocking_send(Ok(batch)).is_err() {
                return Err(Error::Internal(STOPPED));
            }
        }
        Ok(())
    };
    let verdict = stream_file(&mut reader, f.gzip, &f.label, &f.name, opts, &mut sink)?;
    std::io::copy(&mut reader, &mut std::io::sink())
        .map_err(|e| Error::io(format!("cannot read {}", f.path.display()), e))?;
    let same =
        matches!(verdict, Streamed::Taken { rows } if rows == f.rows) && reader.hex() == f.hash;
    if same { Ok(()) } else { Err(changed()) }
}
