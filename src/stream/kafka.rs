//! The Kafka source: one reader task per topic-partition, each sending its records as
//! [`Line`]s over the same channel as the file reader, in offset order within a partition.
//!
//! Where to start is decided from the stream's own Delta transactions, never from a
//! consumer group: the inventory commit of every micro-batch records, per partition, the
//! next offset to read (`stockroom-stream:inventory-events:kafka:<topic>:<partition>`, see
//! [`crate::stream::commit::kafka_app`]). A partition with no such record starts at
//! `--from earliest|latest`.
//!
//! A broker that goes away is retried for ever with a backoff (0.2 s doubling to 10 s), with
//! one warning per partition and attempt and one line when reading resumes. An offset past
//! the broker's end (a broker that lost its log, a topic recreated) is waited on rather than
//! skipped; an offset before the broker's start (retention removed records the stream never
//! applied) stops the stream in words.

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rskafka::BackoffConfig;
use rskafka::client::error::{Error as KafkaError, ProtocolError, ServerErrorResponse};
use rskafka::client::partition::{OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder, Credentials, SaslConfig};
use tokio::sync::mpsc;

use crate::error::Result;
use crate::stream::error::StreamError;
use crate::stream::source::{Item, Line, parse_record};

/// Bytes asked for per fetch (the broker may return less, or one larger record batch).
const FETCH_BYTES: i32 = 4 << 20;
/// How long the broker may hold a fetch open waiting for records.
const FETCH_WAIT_MS: i32 = 500;
/// A fetch (or a leader lookup) without an answer for this long counts as a broker gone:
/// the client retries a dead connection quietly, and the stream should say so.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(4);

/// Where a partition without a committed offset starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartAt {
    /// The oldest record the broker still has.
    #[default]
    Earliest,
    /// The end of the partition when the stream starts: only records produced later.
    Latest,
}

/// SASL mechanisms the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

impl SaslMechanism {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "PLAIN" => Some(Self::Plain),
            "SCRAM-SHA-256" => Some(Self::ScramSha256),
            "SCRAM-SHA-512" => Some(Self::ScramSha512),
            _ => None,
        }
    }
}

/// SASL credentials (the password is never printed).
#[derive(Clone)]
pub struct Sasl {
    pub mechanism: SaslMechanism,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Sasl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sasl")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// What `--kafka … --topic …` asks for.
#[derive(Debug, Clone)]
pub struct KafkaSource {
    /// Bootstrap brokers, `host:port`.
    pub brokers: Vec<String>,
    pub topic: String,
    /// Only these partitions (default: all of the topic's).
    pub partitions: Option<Vec<i32>>,
    pub start: StartAt,
    /// Connect with TLS.
    pub tls: bool,
    /// PEM file of the certificate authorities to trust (default: the system's).
    pub ca_file: Option<PathBuf>,
    pub sasl: Option<Sasl>,
}

impl KafkaSource {
    /// How rejects and product_events name a record's origin: `kafka:<topic>/<partition>`
    /// (with the record's offset as its line number).
    pub fn record_source(&self, partition: i32) -> String {
        format!("kafka:{}/{partition}", self.topic)
    }

    pub fn name(&self) -> String {
        format!("kafka:{}", self.topic)
    }
}

/// What the readers know about each partition, shared with the commit loop (for the lag
/// and the `--until-idle` end).
#[derive(Debug, Default)]
pub struct Board {
    parts: Mutex<BTreeMap<i32, PartitionState>>,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct PartitionState {
    /// The broker's high watermark at the last fetch (the next offset it will write).
    pub high_watermark: Option<i64>,
    /// The last fetch succeeded.
    pub reachable: bool,
    /// When a fetch last succeeded: a partition whose broker went away is still "reachable"
    /// while the client retries, so only a recent answer counts as caught up.
    pub answered_at: Option<Instant>,
    /// Times reading went on after the broker had been unreachable.
    pub reconnects: u64,
}

impl Board {
    fn update(&self, partition: i32, f: impl FnOnce(&mut PartitionState)) {
        if let Ok(mut m) = self.parts.lock() {
            f(m.entry(partition).or_default());
        }
    }

    pub fn snapshot(&self) -> BTreeMap<i32, PartitionState> {
        self.parts.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

/// The readers, started: the next offset of every partition as the stream started, and the
/// board they keep up to date.
pub struct Started {
    pub start_offsets: BTreeMap<i32, i64>,
    pub board: Arc<Board>,
    /// Said when a partition starts where `--from` put it rather than at a committed offset.
    pub notes: Vec<String>,
    /// The partitions that start where `--from` put them (no committed offset yet).
    pub resolved: Vec<i32>,
}

/// Records (sum over partitions) between `committed` and the broker's end; None while any
/// partition's end is not known yet.
pub fn lag(committed: &BTreeMap<i32, i64>, board: &BTreeMap<i32, PartitionState>) -> Option<u64> {
    let mut total = 0u64;
    for (p, next) in committed {
        let hw = board.get(p)?.high_watermark?;
        total += (hw - next).max(0) as u64;
    }
    Some(total)
}

/// Every partition was reachable at its last fetch and is committed exactly up to the
/// broker's end. A broker whose end is before the committed offset (it lost its log) is
/// not caught up: the records up to the offset are expected back.
pub fn caught_up(committed: &BTreeMap<i32, i64>, board: &BTreeMap<i32, PartitionState>) -> bool {
    let fresh = Duration::from_millis(FETCH_WAIT_MS as u64) * 4;
    committed.iter().all(|(p, next)| {
        board.get(p).is_some_and(|s| {
            s.reachable
                && s.high_watermark == Some(*next)
                && s.answered_at.is_some_and(|t| t.elapsed() < fresh)
        })
    })
}

fn tls_config(src: &KafkaSource) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    match &src.ca_file {
        Some(path) => {
            let shown = path.display().to_string();
            let f = std::fs::File::open(path).map_err(|e| {
                StreamError::KafkaConfig(format!("cannot open the CA file {shown}: {e}"))
            })?;
            for cert in rustls_pemfile::certs(&mut BufReader::new(f)) {
                let cert = cert.map_err(|e| {
                    StreamError::KafkaConfig(format!("{shown} is not a PEM certificate file: {e}"))
                })?;
                roots.add(cert).map_err(|e| {
                    StreamError::KafkaConfig(format!("{shown}: unusable certificate: {e}"))
                })?;
            }
            if roots.is_empty() {
                return Err(StreamError::KafkaConfig(format!(
                    "{shown} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)"
                ))
                .into());
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                // A system certificate rustls cannot use is skipped, as browsers do.
                let _ = roots.add(cert);
            }
        }
    }
    // The provider is named: the dependency tree enables two, so rustls cannot pick one.
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| StreamError::KafkaConfig(format!("TLS: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(cfg))
}

fn builder(src: &KafkaSource) -> Result<ClientBuilder> {
    let mut b = ClientBuilder::new(src.brokers.clone())
        .client_id("stockroom")
        // The client's own retries end after a few seconds so that the stream's loop sees
        // the failure, says so, and retries with its own backoff.
        .backoff_config(BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            base: 2.0,
            deadline: Some(Duration::from_secs(3)),
        });
    if src.tls || src.ca_file.is_some() {
        b = b.tls_config(tls_config(src)?);
    }
    if let Some(s) = &src.sasl {
        let c = Credentials::new(s.username.clone(), s.password.clone());
        b = b.sasl_config(match s.mechanism {
            SaslMechanism::Plain => SaslConfig::Plain(c),
            SaslMechanism::ScramSha256 => SaslConfig::ScramSha256(c),
            SaslMechanism::ScramSha512 => SaslConfig::ScramSha512(c),
        });
    }
    Ok(b)
}

/// The stream's own backoff between attempts: 0.2 s, doubling, at most 10 s.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Self(Duration::from_millis(200))
    }
    fn next(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(Duration::from_secs(10));
        d
    }
}

/// Connects to the brokers, retrying with a backoff while none answers (the stream may
/// start before its broker).
pub async fn connect(src: &KafkaSource) -> Result<Client> {
    let mut backoff = Backoff::new();
    loop {
        match builder(src)?.build().await {
            Ok(c) => return Ok(c),
            // A refused login does not get better by waiting: said, and the stream stops.
            Err(e) if src.sasl.is_some() && e.to_string().contains("Sasl handshake failed") => {
                let (user, mechanism) = src
                    .sasl
                    .as_ref()
                    .map(|s| (s.username.as_str(), s.mechanism))
                    .unwrap_or(("", SaslMechanism::Plain));
                return Err(StreamError::Kafka(format!(
                    "the brokers {} refused the SASL login of {user} ({mechanism:?}): {}; check \
                     --kafka-user, --kafka-sasl and STOCKROOM_KAFKA_PASSWORD",
                    src.brokers.join(","),
                    short(&e)
                ))
                .into());
            }
            Err(e) => {
                let wait = backoff.next();
                tracing::warn!(
                    "kafka: cannot reach the brokers {}: {}; retrying in {:.1}s",
                    src.brokers.join(","),
                    short(&e),
                    wait.as_secs_f64()
                );
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// The topic's partitions, checked against `--partitions`.
async fn partitions(client: &Client, src: &KafkaSource) -> Result<Vec<i32>> {
    let topics = client
        .list_topics()
        .await
        .map_err(|e| StreamError::Kafka(format!("cannot list the topics: {}", short(&e))))?;
    let Some(topic) = topics.iter().find(|t| t.name == src.topic) else {
        let mut names: Vec<&str> = topics.iter().map(|t| t.name.as_str()).collect();
        names.sort_unstable();
        return Err(StreamError::Kafka(format!(
            "the topic {} does not exist on {} (topics there: {}); create it or check --topic",
            src.topic,
            src.brokers.join(","),
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ))
        .into());
    };
    let all: Vec<i32> = topic.partitions.iter().copied().collect();
    match &src.partitions {
        None => Ok(all),
        Some(wanted) => {
            let missing: Vec<String> = wanted
                .iter()
                .filter(|p| !all.contains(p))
                .map(|p| p.to_string())
                .collect();
            if !missing.is_empty() {
                return Err(StreamError::Kafka(format!(
                    "the topic {} has no partition {} (it has {}); check --partitions",
                    src.topic,
                    missing.join(", "),
                    all.iter()
                        .map(|p| p.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .into());
            }
            let mut w = wanted.clone();
            w.sort_unstable();
            w.dedup();
            Ok(w)
        }
    }
}

/// Resolves every partition's start (`committed` wins over `--from`) and starts one
/// reader task per partition. `committed(p)` is the next offset recorded in Delta.
pub async fn start(
    src: &KafkaSource,
    committed: impl AsyncFn(i32) -> Result<Option<i64>>,
    tx: mpsc::Sender<Item>,
) -> Result<Started> {
    let client = Arc::new(connect(src).await?);
    let parts = partitions(&client, src).await?;
    let board = Arc::new(Board::default());
    let mut start_offsets = BTreeMap::new();
    let mut notes = Vec::new();
    let mut resolved = Vec::new();
    for p in parts {
        let pc = client
            .partition_client(src.topic.clone(), p, UnknownTopicHandling::Retry)
            .await
            .map_err(|e| StreamError::Kafka(format!("{}/{p}: {}", src.topic, short(&e))))?;
        let offset = match committed(p).await? {
            Some(o) => o,
            None => {
                let at = match src.start {
                    StartAt::Earliest => OffsetAt::Earliest,
                    StartAt::Latest => OffsetAt::Latest,
                };
                let o = pc.get_offset(at).await.map_err(|e| {
                    StreamError::Kafka(format!(
                        "{}/{p}: cannot read its {:?} offset: {}",
                        src.topic,
                        src.start,
                        short(&e)
                    ))
                })?;
                resolved.push(p);
                notes.push(format!(
                    "kafka:{}/{p}: no committed offset, starting at the {} offset {o}",
                    src.topic,
                    match src.start {
                        StartAt::Earliest => "earliest",
                        StartAt::Latest => "latest",
                    }
                ));
                o
            }
        };
        start_offsets.insert(p, offset);
        let reader = PartitionReader {
            client: client.clone(),
            pc: Some(pc),
            topic: src.topic.clone(),
            partition: p,
            source: Arc::from(src.record_source(p)),
            offset,
            board: board.clone(),
            tx: tx.clone(),
            said_empty: false,
            said_behind: false,
        };
        tokio::spawn(reader.run());
    }
    Ok(Started {
        start_offsets,
        board,
        notes,
        resolved,
    })
}

struct PartitionReader {
    client: Arc<Client>,
    pc: Option<PartitionClient>,
    topic: String,
    partition: i32,
    source: Arc<str>,
    /// The next offset to read.
    offset: i64,
    board: Arc<Board>,
    tx: mpsc::Sender<Item>,
    /// The "returned no records below its end" warning was given.
    said_empty: bool,
    /// The "log ends before the offset" warning was given (since the last normal fetch).
    said_behind: bool,
}

/// What a failed fetch means for the reader.
enum Trouble {
    /// Retry after a backoff, saying why.
    Retry(String),
    /// The stream cannot go on without skipping records.
    Fatal(String),
}

impl PartitionReader {
    fn name(&self) -> String {
        format!("kafka:{}/{}", self.topic, self.partition)
    }

    async fn run(mut self) {
        let mut backoff = Backoff::new();
        let mut down_since: Option<Instant> = None;
        loop {
            if self.tx.is_closed() {
                return;
            }
            let trouble = match self.fetch().await {
                Ok(sent) => {
                    if let Some(t) = down_since.take() {
                        tracing::warn!(
                            "{}: reading again at offset {} after {:.1}s",
                            self.name(),
                            self.offset,
                            t.elapsed().as_secs_f64()
                        );
                        self.board.update(self.partition, |s| s.reconnects += 1);
                    }
                    backoff = Backoff::new();
                    if !sent {
                        return;
                    }
                    continue;
                }
                Err(t) => t,
            };
            self.board.update(self.partition, |s| s.reachable = false);
            match trouble {
                Trouble::Fatal(why) => {
                    let _ = self.tx.send(Item::Failed(why)).await;
                    return;
                }
                Trouble::Retry(why) => {
                    down_since.get_or_insert_with(Instant::now);
                    let wait = backoff.next();
                    tracing::warn!(
                        "{}: {why}; retrying in {:.1}s (offset {} is the next to read)",
                        self.name(),
                        wait.as_secs_f64(),
                        self.offset
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// One fetch, its records sent on. Ok(false) when the stream is gone.
    async fn fetch(&mut self) -> std::result::Result<bool, Trouble> {
        let no_answer = || {
            Trouble::Retry(format!(
                "no answer from the broker for {}s (gone?)",
                ANSWER_TIMEOUT.as_secs()
            ))
        };
        let pc = match self.pc.take() {
            Some(pc) => pc,
            None => {
                let looked_up = self.client.partition_client(
                    self.topic.clone(),
                    self.partition,
                    UnknownTopicHandling::Error,
                );
                tokio::time::timeout(ANSWER_TIMEOUT, looked_up)
                    .await
                    .map_err(|_| no_answer())?
                    .map_err(|e| self.trouble(e))?
            }
        };
        let fetch = pc.fetch_records(self.offset, 1..FETCH_BYTES, FETCH_WAIT_MS);
        let Ok(fetched) = tokio::time::timeout(ANSWER_TIMEOUT, fetch).await else {
            return Err(no_answer());
        };
        let (records, high_watermark) = match fetched {
            Ok(r) => {
                self.pc = Some(pc);
                r
            }
            Err(e) => {
                // A fresh partition client next time: it looks the leader up again.
                return Err(self.trouble(e));
            }
        };
        self.board.update(self.partition, |s| {
            s.reachable = true;
            s.high_watermark = Some(high_watermark);
            s.answered_at = Some(Instant::now());
        });
        if records.is_empty() {
            // Not every broker holds an empty fetch for FETCH_WAIT_MS: no busy loop.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if high_watermark < self.offset {
            if !self.said_behind {
                tracing::warn!(
                    "{}: the broker's log ends at offset {high_watermark}, before offset {} \
                     (a broker that lost its log, or a recreated topic); waiting until the \
                     offset exists rather than skipping or re-reading",
                    self.name(),
                    self.offset
                );
                self.said_behind = true;
            }
        } else {
            self.said_behind = false;
        }
        if records.is_empty() && high_watermark > self.offset && !self.said_empty {
            // Kafka returns the record batch that holds the offset; a broker that serves
            // only batches starting at or after it (tansu 0.6's memory storage) leaves the
            // stream stuck here, so it is said once.
            tracing::warn!(
                "{}: the broker has records up to offset {high_watermark} but returned none \
                 from offset {}; still asking",
                self.name(),
                self.offset
            );
            self.said_empty = true;
        }
        for r in records {
            // A compressed record batch may start before the asked offset.
            if r.offset < self.offset {
                continue;
            }
            let bytes = r.record.value.unwrap_or_default();
            let (text, parsed) = parse_record(&bytes);
            let line = Line {
                parsed,
                text,
                line_number: r.offset.max(0) as u64,
                end_offset: (r.offset + 1).max(0) as u64,
                read_at: Instant::now(),
                origin: Some(crate::stream::source::Origin {
                    source: self.source.clone(),
                    partition: self.partition,
                }),
            };
            if self.tx.send(Item::Line(line)).await.is_err() {
                return Ok(false);
            }
            self.offset = r.offset + 1;
        }
        Ok(true)
    }

    fn trouble(&self, e: KafkaError) -> Trouble {
        if let KafkaError::ServerError {
            protocol_error,
            response,
            ..
        } = &e
        {
            match protocol_error {
                ProtocolError::OffsetOutOfRange => {
                    let hw = match response {
                        Some(ServerErrorResponse::PartitionFetchState {
                            high_watermark, ..
                        }) => Some(*high_watermark),
                        _ => None,
                    };
                    return match hw {
                        Some(hw) if self.offset < hw => Trouble::Fatal(format!(
                            "{}: offset {} is no longer on the broker (its log now starts later, \
                             up to {hw} at most): records the stream never applied were removed, \
                             by retention or by hand; the stream stops rather than skip them. \
                             Apply them from another copy, or start over in a new warehouse with \
                             --from earliest",
                            self.name(),
                            self.offset
                        )),
                        _ => Trouble::Retry(format!(
                            "the broker's log ends before offset {} (high watermark {}): a \
                             broker that lost its log or a recreated topic; waiting until the \
                             offset exists rather than skipping or re-reading",
                            self.offset,
                            hw.map(|h| h.to_string())
                                .unwrap_or_else(|| "unknown".into())
                        )),
                    };
                }
                ProtocolError::UnknownTopicOrPartition => {
                    return Trouble::Retry(
                        "the broker does not know this topic-partition (yet)".into(),
                    );
                }
                _ => {}
            }
        }
        Trouble::Retry(format!("broker unreachable or failing: {}", short(&e)))
    }
}

/// The client's error in one line (its Debug-heavy messages cut at the request details).
fn short(e: &KafkaError) -> String {
    let s = e.to_string();
    match s.find(", request:") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(hw: Option<i64>, reachable: bool) -> PartitionState {
        PartitionState {
            high_watermark: hw,
            reachable,
            answered_at: Some(Instant::now()),
            reconnects: 0,
        }
    }

    #[test]
    fn lag_and_caught_up() {
        let committed = BTreeMap::from([(0, 10), (1, 5)]);
        let mut board = BTreeMap::from([(0, state(Some(12), true))]);
        assert_eq!(lag(&committed, &board), None, "partition 1 not fetched yet");
        assert!(!caught_up(&committed, &board));
        board.insert(1, state(Some(5), true));
        assert_eq!(lag(&committed, &board), Some(2));
        assert!(!caught_up(&committed, &board));
        board.insert(0, state(Some(10), true));
        assert_eq!(lag(&committed, &board), Some(0));
        assert!(caught_up(&committed, &board));
        board.insert(1, state(Some(5), false));
        assert!(!caught_up(&committed, &board), "an unreachable partition");
        board.insert(1, state(Some(0), true));
        assert!(!caught_up(&committed, &board), "a broker that lost its log");
        board.insert(1, state(Some(5), true));
        assert!(caught_up(&committed, &board));
        board.insert(
            1,
            PartitionState {
                answered_at: Instant::now().checked_sub(Duration::from_secs(5)),
                ..state(Some(5), true)
            },
        );
        assert!(!caught_up(&committed, &board), "no answer for a while");
    }

    #[test]
    fn sasl_mechanisms_and_hidden_password() {
        assert_eq!(SaslMechanism::parse("plain"), Some(SaslMechanism::Plain));
        assert_eq!(
            SaslMechanism::parse("SCRAM-SHA-512"),
            Some(SaslMechanism::ScramSha512)
        );
        assert_eq!(SaslMechanism::parse("GSSAPI"), None);
        let s = Sasl {
            mechanism: SaslMechanism::Plain,
            username: "u".into(),
            password: "secret".into(),
        };
        assert!(!format!("{s:?}").contains("secret"));
    }

    #[test]
    fn a_missing_ca_file_is_said_in_words() {
        let src = KafkaSource {
            brokers: vec!["127.0.0.1:1".into()],
            topic: "t".into(),
            partitions: None,
            start: StartAt::Earliest,
            tls: true,
            ca_file: Some("/nonexistent/ca.pem".into()),
            sasl: None,
        };
        let e = tls_config(&src)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("cannot open the CA file /nonexistent/ca.pem"),
            "{e}"
        );
    }
}
