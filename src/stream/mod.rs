//! `stockroom stream inventory-events` (docs/pipelines.md#inventory-events): JSON lines from
//! stdin, a file, a growing file or a Kafka topic, applied in arrival order in micro-batches, each committed
//! atomically and exactly once.
//!
//! # Exactly once across three tables
//!
//! Delta has no multi-table transaction, so the stream makes one table the commit point:
//!
//! - Every non-blank input line gets a `seq`, counted over the stream's whole life; the
//!   stream offset is the last seq applied.
//! - A micro-batch writes `product_events` (accepted events with their outcome) and
//!   `rejects` (partition `inventory-events`), then `product_inventory` (one MERGE). Each
//!   commit carries the Delta application transaction `stockroom-stream:inventory-events`
//!   with version = the batch's last seq. The inventory commit — the commit point — also
//!   carries the input file's byte offset and line count, and its identity (device, inode,
//!   fingerprint of the first bytes), keyed both by the file's canonical path and by its
//!   device and inode ([`identity`]): a replaced, truncated or rewritten file is refused in
//!   words, a renamed one continues where it was. A batch that changes no product still commits the inventory's
//!   transactions alone.
//! - On start the stream reads the inventory's transaction: that is the last batch fully
//!   applied. If `product_events` or `rejects` hold a later transaction, a crash hit between
//!   their commit and the inventory's: their rows with a later seq are deleted (rolled back)
//!   before anything else. A file is then read again from the committed byte offset, so the
//!   interrupted batch is re-applied against the same inventory state and gets the same
//!   outcomes; stdin cannot be re-read, so that batch is lost with the pipe, in all three
//!   tables alike (use `--input FILE` for end-to-end exactly once).
//! - One writer at a time: the stream holds `runs/inventory-events.lock`. Being the only
//!   writer, it keeps the inventory in memory (loaded once at start) and folds each batch
//!   there, so a batch costs O(batch) besides the MERGE itself.
//!
//! A crash at any point leaves every table at a committed version; the next start resumes
//! at the first event not applied and applies nothing twice.
//!
//! A Kafka topic ([`kafka`]) takes the file's place: each record is a line, and instead of a
//! byte offset the inventory commit records, per topic-partition the batch read, the next
//! offset (`stockroom-stream:inventory-events:kafka:<topic>:<partition>`); a restart resumes
//! every partition there, whatever a consumer group says.
//!
//! Module map: [`source`] reads lines, [`kafka`] reads a topic, [`event`] validates one line, [`fold`] applies a
//! batch in memory, [`commit`] writes Delta, [`maintain`] compacts and checkpoints,
//! [`stats`] counts, [`fault`] injects crashes for the tests.

pub mod commit;
pub mod error;
pub mod event;
pub mod fault;
pub mod fold;
pub mod identity;
pub mod kafka;
pub mod maintain;
pub mod source;
pub mod stats;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::exec::Executor;
use crate::pipeline::lock::RunLock;
use crate::stream::error::StreamError;
use commit::{AcceptedRow, BatchWrite, RejectRow, Tables};
use fold::Product;
pub use source::Input;
use source::{Item, Line, Position};
pub use stats::StreamSummary;

/// The pipeline name (the `rejects` partition, the lock, the run ids).
pub const PIPELINE: &str = "inventory-events";
/// Application id of the stream's Delta transactions.
pub const APP_ID: &str = "stockroom-stream:inventory-events";

/// Called after every batch (and about once a second while idle) with the counters.
pub type Progress = Box<dyn FnMut(&StreamSummary, Instant) + Send>;

#[derive(Debug, Clone)]
pub struct StreamOptions {
    pub input: Input,
    /// Keep reading a file as it grows (until stopped).
    pub follow: bool,
    /// Close a micro-batch after this many events…
    pub batch_size: usize,
    /// …or this long after its first event, whichever comes first.
    pub batch_ms: u64,
    /// Compact and checkpoint every this many micro-batches (0 = never).
    pub maintain_every: u64,
    /// The input file is complete: a last line without a newline is an event too. Without
    /// it such a line waits for its newline (a writer may be in the middle of it). Stdin at
    /// its end is always finished.
    pub finished: bool,
    /// Stop once no event arrived for this long, everything read is committed and (Kafka)
    /// every partition is read up to the broker's end. None: run until the input ends or a
    /// signal.
    pub until_idle: Option<Duration>,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            input: Input::Stdin,
            follow: false,
            batch_size: 50_000,
            batch_ms: 1_000,
            maintain_every: 100,
            finished: false,
            until_idle: None,
        }
    }
}

/// Runs the stream until the input ends or `stop` completes (a signal). A batch in
/// progress when `stop` fires is committed before returning; none is started after.
pub async fn run(
    exec: &Executor,
    opts: &StreamOptions,
    stop: impl Future<Output = ()>,
    mut progress: Option<Progress>,
) -> Result<StreamSummary> {
    if opts.follow && matches!(opts.input, Input::Stdin) {
        return Err(StreamError::FollowNeedsInput.into());
    }
    let wh = exec.warehouse().clone();
    let _lock = RunLock::acquire(wh.runs_dir().join(format!("{PIPELINE}.lock")), PIPELINE)?;
    let started = Instant::now();
    let run_id = format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ"),
        std::process::id()
    );
    let ctx = exec.context();
    let mut tables = Tables::open(&wh).await?;
    // The file is opened once: its identity (device, inode, first bytes) decides where to
    // start, and the reader reads this very handle.
    let opened = match &opts.input {
        Input::File(p) => Some(source::OpenedFile::open(p)?),
        Input::Stdin | Input::Kafka(_) => None,
    };
    let resume = tables.resume(&opts.input, opened.as_ref()).await?;
    if let Some(note) = &resume.note {
        tracing::warn!("{note}");
    }
    let mut state = tables.load_state(ctx).await?;
    let capacity = opts.batch_size.clamp(1024, 200_000);
    // Kafka: the next offset of every partition read, as committed (start offsets first).
    let mut committed_offsets: BTreeMap<i32, i64> = BTreeMap::new();
    let mut kafka_started: Option<kafka::Started> = None;
    let mut rx = match &opts.input {
        Input::Kafka(k) => {
            let (tx, rx) = tokio::sync::mpsc::channel(capacity);
            let t = &tables;
            let started = kafka::start(
                k,
                async |p| t.committed(&commit::kafka_app(&k.topic, p)).await,
                tx,
            )
            .await?;
            for n in &started.notes {
                tracing::info!("{n}");
            }
            // Where `--from` put a new partition is committed at once: a stream that stops
            // before its first batch resumes there (`latest` resolved again later would
            // skip what was produced meanwhile).
            let fresh: Vec<(String, i64)> = started
                .resolved
                .iter()
                .filter_map(|p| {
                    let o = started.start_offsets.get(p)?;
                    Some((commit::kafka_app(&k.topic, *p), *o))
                })
                .collect();
            if !fresh.is_empty() {
                tables.commit_offsets(fresh, resume.last_seq).await?;
            }
            committed_offsets = started.start_offsets.clone();
            kafka_started = Some(started);
            rx
        }
        _ => source::spawn(
            &opts.input,
            opened.as_ref(),
            resume.position,
            opts.follow,
            opts.finished,
            capacity,
        )?,
    };
    let kafka_topic = match &opts.input {
        Input::Kafka(k) => Some(k.topic.clone()),
        _ => None,
    };
    let mut identity: Option<commit::CommittedIdentity> = None;
    let input_key = commit::input_key(&opts.input);
    let source_name = opts.input.name();

    let mut s = StreamSummary {
        pipeline: PIPELINE.into(),
        run_id: run_id.clone(),
        input: source_name.clone(),
        first_seq: resume.last_seq + 1,
        last_seq: resume.last_seq,
        rolled_back: resume.rolled_back,
        resumed_at_offset: resume.position.offset,
        input_note: resume.note.clone(),
        ..Default::default()
    };
    let mut next_seq = resume.last_seq + 1;
    let mut pending: Vec<Line> = Vec::new();
    let batch_size = opts.batch_size.max(1);
    let batch_window = Duration::from_millis(opts.batch_ms);
    let mut deadline: Option<tokio::time::Instant> = None;
    let mut ended = false;
    let mut stopped = false;
    let mut last_input = Instant::now();
    let mut caught_up_since: Option<Instant> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tokio::pin!(stop);

    loop {
        let due = deadline.is_some_and(|d| tokio::time::Instant::now() >= d);
        if !pending.is_empty() && (pending.len() >= batch_size || due || ended || stopped) {
            let lines = std::mem::take(&mut pending);
            deadline = None;
            s.batches += 1;
            let ctx_batch = BatchCtx {
                tables: &mut tables,
                ctx,
                state: &mut state,
                source_name: &source_name,
                input_key: &input_key,
                run_id: &run_id,
                batch_no: s.batches,
                opened: opened.as_ref(),
                identity: &mut identity,
                kafka_topic: kafka_topic.as_deref(),
            };
            let offsets = process(ctx_batch, lines, &mut next_seq, &mut s).await?;
            committed_offsets.extend(offsets);
            s.delta_commits = tables.commits;
            if opts.maintain_every > 0 && s.batches.is_multiple_of(opts.maintain_every) {
                maintain::run(ctx, &mut tables).await?;
                s.maintenance_runs += 1;
            }
            update_kafka(&mut s, &committed_offsets, kafka_started.as_ref());
            if let Some(p) = progress.as_mut() {
                p(&s, started);
            }
            continue;
        }
        if ended || stopped {
            break;
        }
        tokio::select! {
            biased;
            _ = &mut stop => {
                stopped = true;
                s.stopped_by = "signal".into();
                // Lines the reader already took from the input are committed too: from a
                // pipe they could not be read again.
                while let Ok(Item::Line(l)) = rx.try_recv() {
                    pending.push(l);
                }
            }
            item = rx.recv() => match item {
                Some(Item::Line(l)) => {
                    last_input = Instant::now();
                    if pending.is_empty() {
                        deadline = Some(tokio::time::Instant::now() + batch_window);
                    }
                    pending.push(l);
                    // Take what is already there without another trip through select.
                    while pending.len() < batch_size {
                        match rx.try_recv() {
                            Ok(Item::Line(l)) => pending.push(l),
                            Ok(Item::End { unterminated }) => {
                                s.unterminated_bytes = unterminated;
                                ended = true;
                                break;
                            }
                            Ok(Item::Failed(e)) => return Err(StreamError::Source(e).into()),
                            Err(_) => break,
                        }
                    }
                }
                Some(Item::End { unterminated }) => {
                    s.unterminated_bytes = unterminated;
                    ended = true;
                }
                None => ended = true,
                Some(Item::Failed(e)) => return Err(StreamError::Source(e).into()),
            },
            _ = sleep_until(deadline), if deadline.is_some() => {}
            _ = tick.tick() => {
                update_kafka(&mut s, &committed_offsets, kafka_started.as_ref());
                // Caught up at every tick for the whole idle time, not just now: a broker
                // being refilled passes the committed offsets for a moment on its way.
                let now_caught_up = pending.is_empty()
                    && kafka_started
                        .as_ref()
                        .is_none_or(|k| kafka::caught_up(&committed_offsets, &k.board.snapshot()));
                caught_up_since = match (now_caught_up, caught_up_since) {
                    (false, _) => None,
                    (true, Some(t)) => Some(t),
                    (true, None) => Some(Instant::now()),
                };
                if let Some(idle) = opts.until_idle
                    && last_input.elapsed() >= idle
                    && caught_up_since.is_some_and(|t| t.elapsed() >= idle)
                {
                    stopped = true;
                    s.stopped_by = format!("idle for {}s", idle.as_secs_f64());
                }
                if let Some(p) = progress.as_mut() {
                    p(&s, started);
                }
            }
        }
    }
    if s.stopped_by.is_empty() {
        s.stopped_by = "end of input".into();
    }
    if s.unterminated_bytes > 0 {
        tracing::warn!(
            "{}: the last {} bytes have no newline yet: left unread until the line is complete \
             (pass --finished if the file is complete)",
            source_name,
            s.unterminated_bytes
        );
    }
    s.delta_commits = tables.commits;
    update_kafka(&mut s, &committed_offsets, kafka_started.as_ref());
    s.seconds = started.elapsed().as_secs_f64();
    s.events_per_second = s.rate(started.elapsed());
    write_summary(&wh.runs_dir().join(PIPELINE), &s)?;
    Ok(s)
}

/// `runs/inventory-events/<run_id>.json`, written atomically.
fn write_summary(dir: &std::path::Path, s: &StreamSummary) -> Result<()> {
    crate::pipeline::summary::write_json_atomically(dir, &s.run_id, s)
}

/// The summary's Kafka fields: committed offsets, consumer lag, reconnects.
fn update_kafka(
    s: &mut StreamSummary,
    committed: &BTreeMap<i32, i64>,
    started: Option<&kafka::Started>,
) {
    let Some(k) = started else {
        return;
    };
    let board = k.board.snapshot();
    s.kafka_offsets = committed.iter().map(|(p, o)| (p.to_string(), *o)).collect();
    s.consumer_lag = kafka::lag(committed, &board);
    s.kafka_reconnects = board.values().map(|b| b.reconnects).sum();
}

async fn sleep_until(d: Option<tokio::time::Instant>) {
    match d {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

struct BatchCtx<'a> {
    tables: &'a mut Tables,
    ctx: &'a datafusion::prelude::SessionContext,
    state: &'a mut HashMap<String, Product>,
    source_name: &'a str,
    input_key: &'a Option<String>,
    run_id: &'a str,
    batch_no: u64,
    opened: Option<&'a source::OpenedFile>,
    /// The identity last committed (its fingerprint is recomputed only while it covers fewer
    /// than [`identity::FINGERPRINT_BYTES`]).
    identity: &'a mut Option<commit::CommittedIdentity>,
    /// The Kafka topic read (None for stdin and files).
    kafka_topic: Option<&'a str>,
}

/// Validates, folds and commits one micro-batch, then applies it to the in-memory state.
/// Returns the next offset of every Kafka partition the batch read from, now committed.
async fn process(
    b: BatchCtx<'_>,
    lines: Vec<Line>,
    next_seq: &mut i64,
    s: &mut StreamSummary,
) -> Result<BTreeMap<i32, i64>> {
    let t0 = Instant::now();
    let oldest = lines.iter().map(|l| l.read_at).min();
    let end = lines
        .last()
        .map(|l| Position {
            offset: l.end_offset,
            lines: l.line_number,
        })
        .unwrap_or_default();
    let parsed: Vec<(i64, &Line, &source::Parsed)> = lines
        .iter()
        .map(|l| {
            let seq = *next_seq;
            *next_seq += 1;
            (seq, l, &l.parsed)
        })
        .collect();
    let last_seq = *next_seq - 1;
    // Lines of one partition arrive in offset order: the last one's end is the next offset.
    let mut offsets: BTreeMap<i32, i64> = BTreeMap::new();
    for l in &lines {
        if let Some(o) = &l.origin {
            offsets.insert(o.partition, l.end_offset as i64);
        }
    }
    let source_offsets = match b.kafka_topic {
        Some(topic) => offsets
            .iter()
            .map(|(p, next)| (commit::kafka_app(topic, *p), *next))
            .collect(),
        None => Vec::new(),
    };

    let identity = match b.opened {
        None => None,
        Some(o) => {
            let n = end.offset.min(identity::FINGERPRINT_BYTES);
            match b.identity.filter(|c| c.fp_len == n) {
                Some(c) => Some(c),
                None => {
                    let fingerprint = identity::fingerprint(&o.file, n)
                        .map_err(|e| Error::io(format!("cannot read {}", b.source_name), e))?;
                    let c = commit::CommittedIdentity {
                        id: o.id,
                        fingerprint,
                        fp_len: n,
                    };
                    *b.identity = Some(c);
                    Some(c)
                }
            }
        }
    };
    let valid: Vec<(i64, &event::Event)> = parsed
        .iter()
        .filter_map(|(seq, _, r)| r.as_ref().ok().map(|e| (*seq, e)))
        .collect();
    let folded = fold::fold(b.state, &valid);
    let mut outcomes = folded.results.iter();
    let mut events = Vec::with_capacity(valid.len());
    let mut rejects = Vec::new();
    for (seq, line, r) in &parsed {
        let source = line.origin.as_ref().map_or(b.source_name, |o| &*o.source);
        match r {
            Err(codes) => rejects.push(RejectRow {
                seq: *seq,
                line_number: line.line_number,
                record: &line.text,
                reasons: codes.clone(),
                source,
            }),
            Ok(e) => match outcomes.next() {
                Some(Ok(o)) => events.push(AcceptedRow {
                    seq: *seq,
                    event: e,
                    outcome: *o,
                    line_number: line.line_number,
                    source,
                }),
                Some(Err(code)) => rejects.push(RejectRow {
                    seq: *seq,
                    line_number: line.line_number,
                    record: &line.text,
                    reasons: vec![code.to_string()],
                    source,
                }),
                None => {
                    return Err(StreamError::Internal("fold result count".into()).into());
                }
            },
        }
    }
    let write = BatchWrite {
        last_seq,
        events,
        rejects,
        changed: &folded.changed,
        source_name: b.source_name,
        input_key: b.input_key.clone(),
        end,
        identity,
        source_offsets,
        run_id: b.run_id,
        now: chrono::Utc::now().timestamp_micros(),
    };
    tracing::debug!(
        batch_no = b.batch_no,
        events = parsed.len(),
        parse_fold_ms = t0.elapsed().as_millis() as u64,
        "batch folded"
    );
    b.tables.commit(b.ctx, &write, b.state, b.batch_no).await?;

    s.events_read += parsed.len() as u64;
    s.events_accepted += write.events.len() as u64;
    s.events_rejected += write.rejects.len() as u64;
    for e in &write.events {
        *s.outcomes.entry(e.outcome.as_str().into()).or_default() += 1;
    }
    for r in &write.rejects {
        for c in &r.reasons {
            *s.reasons.entry(c.clone()).or_default() += 1;
        }
    }
    s.last_seq = last_seq;
    if let Some(t) = oldest {
        s.last_lag_ms = t.elapsed().as_secs_f64() * 1000.0;
    }
    drop(write);
    fold::apply(b.state, folded.changed);
    Ok(offsets)
}
