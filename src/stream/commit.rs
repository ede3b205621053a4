//! The Delta writes of a micro-batch, and what a restart reads back.
//!
//! Order within a batch: `product_events` and `rejects` (concurrently), then
//! `product_inventory` — the last one is the commit point. Each write carries the application transaction
//! ([`APP_ID`], last seq of the batch); the inventory's also carries the file position
//! (byte offset and line count) so a restart knows where to read on.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, Int64Array, Int64Builder, ListBuilder, RecordBatch, StringArray,
    StringBuilder, TimestampMicrosecondArray, TimestampMicrosecondBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::CommitProperties;

use crate::error::{Error, Result};
use crate::exec::write::merge::Clause;
use crate::exec::write::{Append, CreateTable, Delete, Merge, open_target, transactions};
use crate::pipeline::lock::WarehouseLock;
use crate::pipeline::run::{REJECTS, rejects_schema};
use crate::sql::quote;
use crate::stream::error::StreamError;
use crate::stream::event::Event;
use crate::stream::fold::{Outcome, Product};
use crate::stream::identity::{self, Decision, FileId, Stored};
use crate::stream::source::{Input, OpenedFile, Position};
use crate::stream::{APP_ID, PIPELINE, fault};
use crate::warehouse::Warehouse;

pub const INVENTORY: &str = "product_inventory";
pub const EVENTS: &str = "product_events";

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// `product_inventory`: one row per product present.
pub fn inventory_schema() -> Schema {
    Schema::new(vec![
        Field::new("product_id", DataType::Utf8, false),
        Field::new("product_name", DataType::Utf8, false),
        Field::new("quantity", DataType::Int64, false),
        Field::new("timestamp", ts_type(), false),
        Field::new("updated_seq", DataType::Int64, false),
    ])
}

/// `product_events`: every accepted event with its outcome. Fields an event type does not
/// need may be NULL.
pub fn events_schema() -> Schema {
    Schema::new(vec![
        Field::new("seq", DataType::Int64, false),
        Field::new("event_type", DataType::Utf8, false),
        Field::new("product_id", DataType::Utf8, false),
        Field::new("product_name", DataType::Utf8, true),
        Field::new("quantity", DataType::Int64, true),
        Field::new("timestamp", ts_type(), true),
        Field::new("outcome", DataType::Utf8, false),
        Field::new("source_file", DataType::Utf8, false),
        Field::new("line_number", DataType::Int64, false),
        Field::new("run_id", DataType::Utf8, false),
        Field::new("applied_at", ts_type(), false),
    ])
}

/// `file_hash` of a stream reject: the record's stream position, zero-padded so that text
/// order is seq order (a stream has no file hash; the seq is the record's identity).
pub fn reject_key(seq: i64) -> String {
    format!("seq:{seq:020}")
}

/// The application id holding the next offset to read of one Kafka topic-partition (its
/// version), written in every inventory commit that applied records of it.
pub fn kafka_app(topic: &str, partition: i32) -> String {
    format!("{APP_ID}:kafka:{topic}:{partition}")
}

fn offset_app(path: &str) -> String {
    format!("{APP_ID}:offset:{path}")
}

fn lines_app(path: &str) -> String {
    format!("{APP_ID}:lines:{path}")
}

/// The application id of one fact about an input: `what` (offset, lines, dev, ino, fp,
/// fplen) of the file at `path` or of the file with a given device and inode.
fn fact_app(what: &str, of: &Of<'_>) -> String {
    match of {
        Of::Path(p) => format!("{APP_ID}:{what}:{p}"),
        Of::Inode(id) => format!("{APP_ID}:{what}:inode:{}:{}", id.dev, id.ino),
    }
}

enum Of<'a> {
    Path(&'a str),
    Inode(FileId),
}

/// The identity of the input file at a commit: device and inode, and the fingerprint of
/// its first `fp_len` bytes.
#[derive(Debug, Clone, Copy)]
pub struct CommittedIdentity {
    pub id: FileId,
    pub fingerprint: i64,
    pub fp_len: u64,
}

/// The transactions recording `end` and `ident` for the file at `path`: under the path and
/// under the inode (see [`crate::stream::identity`]).
fn position_txns(path: &str, end: Position, ident: Option<&CommittedIdentity>) -> Vec<Transaction> {
    let mut t = vec![
        Transaction::new(offset_app(path), end.offset as i64),
        Transaction::new(lines_app(path), end.lines as i64),
    ];
    let Some(ident) = ident else {
        return t;
    };
    let as_version = |v: u64| (v & i64::MAX as u64) as i64;
    let p = Of::Path(path);
    t.push(Transaction::new(
        fact_app("dev", &p),
        as_version(ident.id.dev),
    ));
    t.push(Transaction::new(
        fact_app("ino", &p),
        as_version(ident.id.ino),
    ));
    for of in [p, Of::Inode(ident.id)] {
        if let Of::Inode(_) = of {
            t.push(Transaction::new(fact_app("offset", &of), end.offset as i64));
            t.push(Transaction::new(fact_app("lines", &of), end.lines as i64));
        }
        t.push(Transaction::new(fact_app("fp", &of), ident.fingerprint));
        t.push(Transaction::new(
            fact_app("fplen", &of),
            ident.fp_len as i64,
        ));
    }
    t
}

/// What the inventory's transactions hold about an input (see [`position_txns`]).
async fn stored(table: &DeltaTable, of: &Of<'_>) -> Result<Option<Stored>> {
    let get = async |what: &str| -> Result<Option<u64>> {
        Ok(txn(table, &fact_app(what, of))
            .await?
            .map(|v| v.max(0) as u64))
    };
    let Some(offset) = get("offset").await? else {
        return Ok(None);
    };
    let lines = get("lines").await?.unwrap_or(0);
    let id = match of {
        Of::Inode(id) => Some(*id),
        Of::Path(_) => match (get("dev").await?, get("ino").await?) {
            (Some(dev), Some(ino)) => Some(FileId { dev, ino }),
            _ => None,
        },
    };
    let fingerprint = match (get("fp").await?, get("fplen").await?) {
        (Some(fp), Some(n)) => Some((fp as i64, n)),
        _ => None,
    };
    Ok(Some(Stored {
        offset,
        lines,
        id,
        fingerprint,
    }))
}

/// The input's identity for its position: the canonical path (stdin has none).
pub fn input_key(input: &Input) -> Option<String> {
    match input {
        Input::Stdin | Input::Kafka(_) => None,
        Input::File(p) => Some(
            std::fs::canonicalize(p)
                .unwrap_or_else(|_| p.clone())
                .display()
                .to_string(),
        ),
    }
}

/// The stream's three tables, kept open across batches (each write returns the next state).
pub struct Tables {
    pub inventory: DeltaTable,
    pub events: DeltaTable,
    /// Created on the first reject (the table is shared with the batch pipelines).
    pub rejects: Option<DeltaTable>,
    warehouse: Warehouse,
    /// Delta commits made (for stats).
    pub commits: u64,
}

/// Where a (re)started stream begins.
#[derive(Debug, Clone, Default)]
pub struct Resume {
    /// Said when the input is not simply resumed (a renamed file).
    pub note: Option<String>,
    /// Last seq committed to product_inventory (0 = none).
    pub last_seq: i64,
    /// Position in the input file.
    pub position: Position,
    /// Rows removed from product_events / rejects that a crash left without their
    /// inventory commit.
    pub rolled_back: u64,
}

async fn txn(table: &DeltaTable, app: &str) -> Result<Option<i64>> {
    transactions::version(table, app).await
}

async fn open_or_create(
    wh: &Warehouse,
    name: &str,
    schema: &Schema,
    part: &[&str],
) -> Result<DeltaTable> {
    if !wh.is_table(name) {
        let part = part.iter().map(|s| s.to_string()).collect();
        let created = CreateTable::new(wh, name)
            .with_partition_columns(part)
            .empty_with_schema(schema)
            .await;
        if let Err(e) = created {
            // Someone else (a batch pipeline, for `rejects`) may have just created it.
            if !wh.is_table(name) {
                return Err(e);
            }
        }
    }
    open_target(wh, name).await
}

impl Tables {
    pub async fn open(wh: &Warehouse) -> Result<Self> {
        let inventory = open_or_create(wh, INVENTORY, &inventory_schema(), &[]).await?;
        let events = open_or_create(wh, EVENTS, &events_schema(), &[]).await?;
        let rejects = if wh.is_table(REJECTS) {
            Some(open_target(wh, REJECTS).await?)
        } else {
            None
        };
        Ok(Self {
            inventory,
            events,
            rejects,
            warehouse: wh.clone(),
            commits: 0,
        })
    }

    /// Reads the committed position and removes what a crash left half-done: rows of
    /// product_events / rejects whose batch never reached product_inventory. The batch is
    /// then read again (file) or is lost with the pipe that carried it (stdin); either way
    /// no row is there twice and every stored event was applied.
    pub async fn resume(&mut self, input: &Input, opened: Option<&OpenedFile>) -> Result<Resume> {
        let last_seq = txn(&self.inventory, APP_ID).await?.unwrap_or(0);
        let mut rolled_back = 0;
        if txn(&self.events, APP_ID).await?.unwrap_or(0) > last_seq {
            let (t, report) = Delete::new(self.events.clone(), EVENTS)
                .with_predicate(format!("seq > {last_seq}"))
                .execute()
                .await?;
            self.events = t;
            rolled_back += report.rows_deleted;
        }
        if let Some(r) = &self.rejects
            && txn(r, APP_ID).await?.unwrap_or(0) > last_seq
        {
            let _shared = WarehouseLock::acquire(&self.warehouse.runs_dir(), PIPELINE).await?;
            let mut r = r.clone();
            r.update_incremental(None).await?;
            let (t, report) = Delete::new(r.clone(), REJECTS)
                .with_predicate(format!(
                    "pipeline = {} AND file_hash > {}",
                    quote::literal(PIPELINE),
                    quote::literal(&reject_key(last_seq))
                ))
                .execute()
                .await?;
            self.rejects = Some(t);
            rolled_back += report.rows_deleted;
        }
        let mut position = Position::default();
        let mut note = None;
        if let (Some(key), Some(file)) = (input_key(input), opened) {
            let by_path = stored(&self.inventory, &Of::Path(&key)).await?;
            let by_inode = stored(&self.inventory, &Of::Inode(file.id)).await?;
            let fp = |n: u64| identity::fingerprint(&file.file, n);
            match identity::decide(&key, file.id, file.len, &fp, by_path, by_inode) {
                Decision::Start {
                    offset,
                    lines,
                    note: n,
                } => {
                    position = Position { offset, lines };
                    note = n;
                }
                Decision::Refuse(message) => return Err(StreamError::ResumeRefused(message).into()),
            }
        }
        Ok(Resume {
            last_seq,
            position,
            rolled_back,
            note,
        })
    }

    /// The version the inventory holds for application `app` (a Kafka partition's next offset).
    pub async fn committed(&self, app: &str) -> Result<Option<i64>> {
        txn(&self.inventory, app).await
    }

    /// Commits source offsets alone (no rows) to the inventory, with the stream's seq
    /// unchanged: where new Kafka partitions start.
    pub async fn commit_offsets(
        &mut self,
        offsets: Vec<(String, i64)>,
        last_seq: i64,
    ) -> Result<()> {
        let mut txns = vec![Transaction::new(APP_ID, last_seq)];
        txns.extend(offsets.iter().map(|(app, o)| Transaction::new(app, *o)));
        let props = CommitProperties::default().with_application_transactions(txns);
        transactions::commit_alone(&mut self.inventory, props, APP_ID, last_seq).await?;
        self.commits += 1;
        Ok(())
    }

    /// The whole current inventory, for the in-memory fold. The stream is the table's only
    /// writer (it holds the pipeline lock), so this stays exact as batches are applied.
    pub async fn load_state(&self, ctx: &SessionContext) -> Result<HashMap<String, Product>> {
        let provider = self.inventory.table_provider().await?;
        let df = ctx.read_table(provider)?;
        let batches = df.collect().await?;
        let mut state = HashMap::new();
        for b in &batches {
            let col = |n: &str| -> Result<ArrayRef> {
                b.column_by_name(n).cloned().ok_or_else(|| {
                    StreamError::MissingColumn {
                        table: INVENTORY.to_string(),
                        column: n.to_string(),
                    }
                    .into()
                })
            };
            let ids = cast(&col("product_id")?, &DataType::Utf8)?;
            let names = cast(&col("product_name")?, &DataType::Utf8)?;
            let q = cast(&col("quantity")?, &DataType::Int64)?;
            let ts = cast(&col("timestamp")?, &ts_type())?;
            let seq = cast(&col("updated_seq")?, &DataType::Int64)?;
            let (ids, names) = (as_str(&ids)?, as_str(&names)?);
            let (q, seq) = (as_i64(&q)?, as_i64(&seq)?);
            let ts = ts
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .ok_or(StreamError::UnexpectedType("a timestamp column"))?;
            for i in 0..b.num_rows() {
                state.insert(
                    ids.value(i).to_string(),
                    Product {
                        product_name: names.value(i).to_string(),
                        quantity: q.value(i),
                        timestamp: ts.value(i),
                        updated_seq: seq.value(i),
                    },
                );
            }
        }
        Ok(state)
    }

    /// Commits one batch (see the module doc for the order). `batch_no` counts batches of
    /// this process, for the fault hook.
    pub async fn commit(
        &mut self,
        ctx: &SessionContext,
        b: &BatchWrite<'_>,
        state: &HashMap<String, Product>,
        batch_no: u64,
    ) -> Result<()> {
        let t0 = std::time::Instant::now();
        let txn = || {
            CommitProperties::default()
                .with_application_transaction(Transaction::new(APP_ID, b.last_seq))
        };
        // `rejects` is shared with the batch pipelines: written under the warehouse lock
        // (held until the side tables are committed), from its latest version.
        let shared = if b.rejects.is_empty() {
            None
        } else {
            let lock = WarehouseLock::acquire(&self.warehouse.runs_dir(), PIPELINE).await?;
            match self.rejects.as_mut() {
                Some(t) => t.update_incremental(None).await?,
                None => {
                    self.rejects = Some(
                        open_or_create(&self.warehouse, REJECTS, &rejects_schema(), &["pipeline"])
                            .await?,
                    )
                }
            }
            Some(lock)
        };
        // The two side tables are independent: written concurrently, both before the
        // inventory.
        let events = (!b.events.is_empty()).then(|| self.events.clone());
        let rejects = self.rejects.clone().filter(|_| !b.rejects.is_empty());
        let write_events = async {
            match events {
                Some(t) => Ok::<_, Error>(Some(
                    Append::batches(t, EVENTS, vec![events_batch(b)?])
                        .with_commit_properties(txn())
                        .execute()
                        .await?
                        .0,
                )),
                None => Ok(None),
            }
        };
        let write_rejects = async {
            match rejects {
                Some(t) => {
                    let schema: SchemaRef = t.snapshot()?.snapshot().arrow_schema();
                    let batch = rejects_batch(b, &schema)?;
                    Ok::<_, Error>(Some(
                        Append::batches(t, REJECTS, vec![batch])
                            .with_commit_properties(txn())
                            .execute()
                            .await?
                            .0,
                    ))
                }
                None => Ok(None),
            }
        };
        let (e, r) = tokio::try_join!(write_events, write_rejects)?;
        if let Some(e) = e {
            self.events = e;
            self.commits += 1;
        }
        if let Some(r) = r {
            self.rejects = Some(r);
            self.commits += 1;
        }
        drop(shared);
        let t_side = t0.elapsed();
        fault::at("after_side_tables", batch_no);
        let mut txns = vec![Transaction::new(APP_ID, b.last_seq)];
        if let Some(key) = &b.input_key {
            txns.extend(position_txns(key, b.end, b.identity.as_ref()));
        }
        txns.extend(
            b.source_offsets
                .iter()
                .map(|(app, next)| Transaction::new(app, *next)),
        );
        let props = CommitProperties::default().with_application_transactions(txns);
        match merge_source(b.changed, state)? {
            Some(source) => {
                let df = ctx.read_batch(source)?;
                let set = |cols: &[&str]| -> Vec<(String, String)> {
                    cols.iter()
                        .map(|c| (c.to_string(), format!("s.{c}")))
                        .collect()
                };
                let upsert = || Some("s.op = 'upsert'".to_string());
                let (t, _) = Merge::new(
                    ctx,
                    self.inventory.clone(),
                    INVENTORY,
                    df,
                    "t.product_id = s.product_id",
                )
                .with_aliases("s", "t")
                .with_commit_properties(props)
                .when(Clause::MatchedDelete {
                    predicate: Some("s.op = 'delete'".into()),
                })
                .when(Clause::MatchedUpdate {
                    predicate: upsert(),
                    set: set(&["product_name", "quantity", "timestamp", "updated_seq"]),
                })
                .when(Clause::NotMatchedInsert {
                    predicate: upsert(),
                    set: set(&[
                        "product_id",
                        "product_name",
                        "quantity",
                        "timestamp",
                        "updated_seq",
                    ]),
                })
                .execute()
                .await?;
                self.inventory = t;
            }
            None => {
                // Nothing to change (only rejects / not_found): the offset still moves, in
                // a commit that holds only the transaction actions.
                transactions::commit_alone(&mut self.inventory, props, APP_ID, b.last_seq).await?;
            }
        }
        self.commits += 1;
        tracing::debug!(
            batch_no,
            side_tables_ms = t_side.as_millis() as u64,
            inventory_ms = (t0.elapsed() - t_side).as_millis() as u64,
            "batch committed"
        );
        fault::at("after_inventory", batch_no);
        Ok(())
    }
}

/// An accepted event of the batch.
pub struct AcceptedRow<'a> {
    pub seq: i64,
    pub event: &'a Event,
    pub outcome: Outcome,
    pub line_number: u64,
    /// The input it came from (a file, stdin, `kafka:<topic>/<partition>`).
    pub source: &'a str,
}

/// A rejected line of the batch.
pub struct RejectRow<'a> {
    pub seq: i64,
    pub line_number: u64,
    pub record: &'a str,
    pub reasons: Vec<String>,
    pub source: &'a str,
}

/// Everything one batch writes.
pub struct BatchWrite<'a> {
    pub last_seq: i64,
    pub events: Vec<AcceptedRow<'a>>,
    pub rejects: Vec<RejectRow<'a>>,
    pub changed: &'a [(String, Option<Product>)],
    pub source_name: &'a str,
    pub input_key: Option<String>,
    pub end: Position,
    /// The input file's identity at `end` (files only).
    pub identity: Option<CommittedIdentity>,
    /// Application id and next offset of every Kafka partition the batch read from,
    /// committed with the inventory.
    pub source_offsets: Vec<(String, i64)>,
    pub run_id: &'a str,
    /// Microseconds since the epoch.
    pub now: i64,
}

fn as_str(a: &ArrayRef) -> Result<&StringArray> {
    a.as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| StreamError::UnexpectedType("text").into())
}

fn as_i64(a: &ArrayRef) -> Result<&Int64Array> {
    a.as_any()
        .downcast_ref::<Int64Array>()
        .ok_or_else(|| StreamError::UnexpectedType("integers").into())
}

fn utc(a: TimestampMicrosecondArray) -> ArrayRef {
    Arc::new(a.with_timezone("UTC"))
}

fn events_batch(b: &BatchWrite<'_>) -> Result<RecordBatch> {
    let n = b.events.len();
    let mut seq = Int64Builder::with_capacity(n);
    let mut ty = StringBuilder::with_capacity(n, n * 16);
    let mut id = StringBuilder::with_capacity(n, n * 6);
    let mut name = StringBuilder::with_capacity(n, n * 8);
    let mut qty = Int64Builder::with_capacity(n);
    let mut ts = TimestampMicrosecondBuilder::with_capacity(n);
    let mut outcome = StringBuilder::with_capacity(n, n * 8);
    let mut line = Int64Builder::with_capacity(n);
    for r in &b.events {
        seq.append_value(r.seq);
        ty.append_value(r.event.event_type.as_str());
        id.append_value(&r.event.product_id);
        name.append_option(r.event.product_name.as_deref());
        qty.append_option(r.event.quantity);
        ts.append_option(r.event.timestamp);
        outcome.append_value(r.outcome.as_str());
        line.append_value(r.line_number as i64);
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(seq.finish()),
        Arc::new(ty.finish()),
        Arc::new(id.finish()),
        Arc::new(name.finish()),
        Arc::new(qty.finish()),
        utc(ts.finish()),
        Arc::new(outcome.finish()),
        Arc::new(StringArray::from_iter_values(
            b.events.iter().map(|r| r.source),
        )),
        Arc::new(line.finish()),
        Arc::new(StringArray::from(vec![b.run_id; n])),
        utc(TimestampMicrosecondArray::from(vec![b.now; n])),
    ];
    Ok(RecordBatch::try_new(Arc::new(events_schema()), cols)?)
}

/// The batch's rejects in the shape of the stored `rejects` table (built by column name and
/// cast to its types, whoever created it).
fn rejects_batch(b: &BatchWrite<'_>, schema: &SchemaRef) -> Result<RecordBatch> {
    let n = b.rejects.len();
    let mut reasons = ListBuilder::new(StringBuilder::new());
    for r in &b.rejects {
        for c in &r.reasons {
            reasons.values().append_value(c);
        }
        reasons.append(true);
    }
    let mut cols = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        let a: ArrayRef = match f.name().as_str() {
            "pipeline" => Arc::new(StringArray::from(vec![PIPELINE; n])),
            "run_id" => Arc::new(StringArray::from(vec![b.run_id; n])),
            "source_file" => Arc::new(StringArray::from_iter_values(
                b.rejects.iter().map(|r| r.source),
            )),
            "file_hash" => Arc::new(StringArray::from_iter_values(
                b.rejects.iter().map(|r| reject_key(r.seq)),
            )),
            "line_number" => Arc::new(Int64Array::from_iter_values(
                b.rejects.iter().map(|r| r.line_number as i64),
            )),
            "record" => Arc::new(StringArray::from_iter_values(
                b.rejects.iter().map(|r| r.record),
            )),
            "reasons" => Arc::new(reasons.finish_cloned()),
            "rejected_at" => utc(TimestampMicrosecondArray::from(vec![b.now; n])),
            other => {
                return Err(StreamError::UnknownColumn {
                    table: REJECTS.to_string(),
                    column: other.to_string(),
                }
                .into());
            }
        };
        let a = if a.data_type() == f.data_type() {
            a
        } else {
            cast(&a, f.data_type())?
        };
        cols.push(a);
    }
    Ok(RecordBatch::try_new(schema.clone(), cols)?)
}

/// The MERGE source: the final state of every product the batch changed, with `op` upsert
/// or delete. Deleting a product the table does not hold (added then removed within the
/// batch) needs no row. `None` when nothing changes.
fn merge_source(
    changed: &[(String, Option<Product>)],
    state: &HashMap<String, Product>,
) -> Result<Option<RecordBatch>> {
    let n = changed.len();
    let mut id = StringBuilder::with_capacity(n, n * 6);
    let mut name = StringBuilder::with_capacity(n, n * 8);
    let mut qty = Int64Builder::with_capacity(n);
    let mut ts = TimestampMicrosecondBuilder::with_capacity(n);
    let mut seq = Int64Builder::with_capacity(n);
    let mut op = StringBuilder::with_capacity(n, n * 6);
    let mut rows = 0;
    for (pid, p) in changed {
        // An upsert carries the new state; a delete the stored one (the MERGE matches on id).
        let (row, kind) = match p {
            Some(p) => (p, "upsert"),
            None => match state.get(pid) {
                Some(old) => (old, "delete"),
                None => continue,
            },
        };
        id.append_value(pid);
        name.append_value(&row.product_name);
        qty.append_value(row.quantity);
        ts.append_value(row.timestamp);
        seq.append_value(row.updated_seq);
        op.append_value(kind);
        rows += 1;
    }
    if rows == 0 {
        return Ok(None);
    }
    let mut fields: Vec<Field> = inventory_schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("op", DataType::Utf8, false));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(name.finish()),
        Arc::new(qty.finish()),
        utc(ts.finish()),
        Arc::new(seq.finish()),
        Arc::new(op.finish()),
    ];
    Ok(Some(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        cols,
    )?))
}
