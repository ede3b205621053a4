//! A pipeline run's scratch directory. Under `--memory-limit` a run's batch tables — the raw
//! batch, `checked`, every `CREATE TEMP TABLE` and temp model — are written here as Parquet
//! and scanned from disk, instead of being held in memory for the whole run: memory then
//! holds what DataFusion's pool allows plus one chunk of files being parsed.
//!
//! Where: `<warehouse>/.scratch/<pipeline>/<run id>/` for a warehouse on disk (beside the
//! tables, so on the same volume); for a warehouse in a bucket, the same path under the
//! system's temporary directory (scratch is never worth a round trip). The directory is
//! removed when the run ends, failed or not; a run killed with -9 leaves it behind, and the
//! next run of the same pipeline — which holds the pipeline's run lock, so no other run of
//! it is alive — removes everything under `<pipeline>/` before it starts.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::warehouse::Warehouse;

/// The folder under a warehouse's root that holds the runs' scratch directories.
pub const SCRATCH_DIR: &str = ".scratch";

/// Rows per Parquet row group: small enough that the writer's buffer stays a few MB and a
/// scan splits a table across cores, large enough to keep the files compact.
const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Where the scratch directories of `pipeline`'s runs live in `wh`.
pub fn pipeline_scratch_dir(wh: &Warehouse, pipeline: &str) -> PathBuf {
    let root = wh.root();
    if crate::storage::is_object(root) {
        // A name for the bucket warehouse that is a single safe path component.
        let flat: String = root
            .display()
            .to_string()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        std::env::temp_dir()
            .join("stockroom-scratch")
            .join(flat)
            .join(pipeline)
    } else {
        root.join(SCRATCH_DIR).join(pipeline)
    }
}

/// One run's scratch directory; removed (with everything in it) when dropped.
#[derive(Debug)]
pub struct Scratch {
    dir: PathBuf,
    next: AtomicUsize,
}

impl Scratch {
    /// Removes what earlier runs left under `base` (the caller holds the pipeline's run lock)
    /// and creates `base/<run_id>`.
    pub fn create(base: &Path, run_id: &str) -> Result<Self> {
        if let Ok(entries) = std::fs::read_dir(base) {
            for e in entries.flatten() {
                let p = e.path();
                tracing::info!(
                    "removing the scratch directory {} of an interrupted run",
                    p.display()
                );
                std::fs::remove_dir_all(&p)
                    .map_err(|e| Error::io(format!("cannot remove {}", p.display()), e))?;
            }
        }
        let dir = base.join(run_id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
        tracing::info!(
            "--memory-limit: this run's batch tables go to {}",
            dir.display()
        );
        Ok(Self {
            dir,
            next: AtomicUsize::new(0),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A new table `name` (a fresh folder per registration, so a table created again never
    /// mixes with its earlier files); its rows go to one or more [`ScratchTable::part`]s.
    pub fn table(&self, name: &str, schema: SchemaRef) -> Result<ScratchTable> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let safe: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(64)
            .collect();
        let dir = self.dir.join(format!("{n:04}-{safe}"));
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
        Ok(ScratchTable {
            dir,
            schema,
            next_part: AtomicUsize::new(0),
        })
    }

    /// Writes a query's result, batch by batch, and returns it as a table scanned from disk
    /// with its row count. Each of the plan's output partitions is written to a part of its
    /// own by a task of its own, so encoding Parquet runs on every core (one writer for the
    /// merged stream was the longest part of a limited run: 70 s of validation at scale 100).
    pub async fn write_partitions(
        &self,
        name: &str,
        schema: SchemaRef,
        streams: Vec<SendableRecordBatchStream>,
    ) -> Result<(Arc<dyn TableProvider>, usize)> {
        let schema = streams.first().map_or(schema, |s| s.schema());
        let table = self.table(name, schema)?;
        let mut tasks = Vec::with_capacity(streams.len());
        for mut stream in streams {
            let mut w = table.part()?;
            tasks.push(tokio::spawn(async move {
                while let Some(batch) = stream.next().await {
                    w.write(&batch?)?;
                }
                let rows = w.rows;
                w.close()?;
                Ok::<usize, Error>(rows)
            }));
        }
        let mut rows = 0;
        for t in tasks {
            rows += t
                .await
                .map_err(|e| Error::Internal(join_error_message(&e)))??;
        }
        Ok((table.provider()?, rows))
    }
}

/// A writer task that panicked or was cancelled (a bug, not a user's error).
fn join_error_message(e: &tokio::task::JoinError) -> &'static str {
    if e.is_panic() {
        "a scratch writer task panicked"
    } else {
        "a scratch writer task was cancelled"
    }
}

/// A table in the scratch directory: a folder of Parquet files (parts), scanned as one table.
/// Parts can be written at the same time (one landing file each, on every core).
#[derive(Debug)]
pub struct ScratchTable {
    dir: PathBuf,
    schema: SchemaRef,
    next_part: AtomicUsize,
}

impl ScratchTable {
    /// A new Parquet file of the table.
    pub fn part(&self) -> Result<ScratchWriter> {
        let n = self.next_part.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.join(format!("part-{n:05}.parquet"));
        let file = std::fs::File::create(&path)
            .map_err(|e| Error::io(format!("cannot create {}", path.display()), e))?;
        // Written once, scanned whole once or twice, then deleted: speed over size. No
        // dictionaries (most columns are raw text, unique per row: each value was hashed
        // into a dictionary only for it to be dropped) and no statistics (nothing prunes a
        // scratch scan; min/max of every text value was the rest of the encoding cost).
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_compression(Compression::LZ4_RAW)
            .set_dictionary_enabled(false)
            .set_statistics_enabled(EnabledStatistics::None)
            .build();
        let writer = ArrowWriter::try_new(file, self.schema.clone(), Some(props))
            .map_err(DataFusionError::from)?;
        Ok(ScratchWriter {
            path,
            writer,
            rows: 0,
        })
    }

    /// The table that scans every part closed so far (the caller has closed or discarded
    /// every part it opened).
    pub fn provider(&self) -> Result<Arc<dyn TableProvider>> {
        let url = url::Url::from_directory_path(&self.dir)
            .map_err(|()| Error::NotAbsolute(self.dir.display().to_string()))?;
        let url = ListingTableUrl::parse(url.as_str())?;
        let options =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(self.schema.clone());
        Ok(Arc::new(ListingTable::try_new(config)?))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            // The next run of the pipeline removes it.
            tracing::warn!(
                "cannot remove the scratch directory {}: {e}",
                self.dir.display()
            );
        }
    }
}

/// One Parquet file of a [`ScratchTable`] being written.
pub struct ScratchWriter {
    path: PathBuf,
    writer: ArrowWriter<std::fs::File>,
    rows: usize,
}

impl ScratchWriter {
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows();
        self.writer.write(batch).map_err(DataFusionError::from)?;
        Ok(())
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Completes the file: its rows are part of the table from now on.
    pub fn close(self) -> Result<()> {
        self.writer.close().map_err(DataFusionError::from)?;
        Ok(())
    }

    /// Removes the file: none of its rows belong to the table (a landing file rejected whole
    /// after some of its rows were written).
    pub fn discard(self) -> Result<()> {
        drop(self.writer);
        std::fs::remove_file(&self.path)
            .map_err(|e| Error::io(format!("cannot remove {}", self.path.display()), e))
    }
}
