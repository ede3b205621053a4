//! A batch table that is not held anywhere: every scan parses its landing files again.
//!
//! Without `--memory-limit` a run used to keep its whole raw batch in memory from the read
//! to the end of validation: the files' text plus a 16-byte view per field and record, about
//! three times the input (ecommerce at generator scale 10: 333 MB of CSV, ~1 GB of batch).
//! Yet the validate steps read each batch table once or a few times, as a projection into
//! `checked_*`. So [`crate::pipeline::landing::read_batch`] only checks the files (hash and
//! verdict, the records counted but not built), and a scan of the table parses them
//! again, one group of files per partition, a piece at a time: memory holds what the query
//! keeps, never the raw batch.
//!
//! A scan re-opens each file the way the read did (no link followed, regular files only) and
//! hashes it again while parsing: a file changed since the read fails the query with
//! [`Error::LandingFileChanged`] instead of mixing two contents.

use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::stream::RecordBatchReceiverStream;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, Statistics, StatisticsArgs,
};
use tokio::sync::mpsc::Sender;

use crate::error::{Error, Result};
use crate::ingest::{ReadOptions, Streamed, stream_file};
use crate::pipeline::landing::{Hashing, Staging, open_regular, with_file_hash};

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
    let rows = files.iter().map(|f| f.rows).sum();
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
    Ok(Arc::new(LandingTable {
        rows,
        inner: StreamingTable::try_new(schema, parts)?,
    }))
}

/// A [`StreamingTable`] that says how many rows it has. DataFusion knows nothing of a
/// streaming table's size, so it cannot pick a join's build side by size: inventory-ops'
/// 5M transactions `LEFT JOIN known_pairs` (128k rows) then built its hash table on the
/// 5M-row side — 3.9 GB and 11 s for the statement instead of 1.25 GB and 6.5 s. The count
/// the read found is given as an estimate (`Inexact`): an exact one would let DataFusion
/// answer `count(*)` without the scan that re-checks the files.
#[derive(Debug)]
struct LandingTable {
    inner: StreamingTable,
    rows: usize,
}

#[async_trait::async_trait]
impl TableProvider for LandingTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> datafusion::logical_expr::TableType {
        self.inner.table_type()
    }

    async fn scan(
        &self,
        state: &dyn datafusion::catalog::Session,
        projection: Option<&Vec<usize>>,
        filters: &[datafusion::prelude::Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let inner = self.inner.scan(state, projection, filters, limit).await?;
        let mut stats = Statistics::new_unknown(&inner.schema());
        stats.num_rows = Precision::Inexact(limit.map_or(self.rows, |l| l.min(self.rows)));
        Ok(Arc::new(LandingScanExec {
            inner,
            stats: Arc::new(stats),
        }))
    }
}

/// The scan of a [`LandingTable`]: the streaming scan, with the row count as its statistics.
#[derive(Debug)]
struct LandingScanExec {
    inner: Arc<dyn ExecutionPlan>,
    stats: Arc<Statistics>,
}

impl DisplayAs for LandingScanExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "LandingScan: rows~{}, ", self.stats.num_rows)?;
        self.inner.fmt_as(t, f)
    }
}

impl ExecutionPlan for LandingScanExec {
    fn name(&self) -> &str {
        "LandingScan"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.inner.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> datafusion::error::Result<TreeNodeRecursion>,
    ) -> datafusion::error::Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> datafusion::error::Result<SendableRecordBatchStream> {
        self.inner.execute(partition, context)
    }

    fn statistics_from_inputs(
        &self,
        _input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> datafusion::error::Result<Arc<Statistics>> {
        Ok(match args.partition() {
            None => self.stats.clone(),
            Some(_) => Arc::new(Statistics::new_unknown(&self.inner.schema())),
        })
    }
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
            if tx
                .blocking_send(Ok(with_file_hash(&b, &f.hash, schema)?))
                .is_err()
            {
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

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    #[tokio::test]
    async fn a_join_builds_its_hash_table_on_the_small_side_not_on_the_landing_files() {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8View, true)]));
        // Planning opens no file: the read's count is all the plan needs.
        let file = |i: usize| TakenFile {
            path: PathBuf::from(format!("/nonexistent/big_{i}.csv")),
            name: format!("big_{i}.csv"),
            label: format!("big_{i}.csv"),
            gzip: false,
            size: 100 << 20,
            hash: String::new(),
            rows: 2_500_000,
            _staged: None,
        };
        let big = table(
            schema.clone(),
            vec![file(1), file(2)],
            ReadOptions::new(crate::ingest::RawFormat::Csv, Vec::new()),
            2,
        )
        .unwrap();
        let small = MemTable::try_new(
            schema.clone(),
            vec![vec![RecordBatch::new_empty(schema.clone())]],
        )
        .unwrap();
        let ctx = SessionContext::new();
        ctx.register_table("big", big).unwrap();
        ctx.register_table("small", Arc::new(small)).unwrap();
        let plan = ctx
            .sql("SELECT * FROM big LEFT JOIN small ON big.k = small.k")
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        let text = datafusion::physical_plan::displayable(plan.as_ref())
            .indent(false)
            .to_string();
        // Swapped: the small table is the join's left (build) side, the landing scan streams.
        assert!(text.contains("join_type=Right"), "{text}");
        assert!(
            text.contains("LandingScan: rows~Inexact(5000000)"),
            "{text}"
        );
    }
}
