//! `stream inventory-events --kafka` against a real Kafka-compatible broker: tansu, a pure-Rust
//! broker with in-memory storage, started on a free 127.0.0.1 port per test. `.ci/run` installs
//! it with `.ci/kafka-broker.sh`; the tests find it through `STOCKROOM_TEST_TANSU` (default:
//! where that script puts it) and fail, saying how to install it, when it is missing.
//!
//! Events are produced with the same client the stream uses (rskafka), keyed and partitioned
//! by product id, so every product's events keep their order, as they would from a real
//! producer. The expected tables are those of the same lines streamed from a file: equal
//! except for the columns that name the position in the input (seq, source, line number),
//! because three partitions interleave differently than one file.

use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rskafka::client::ClientBuilder;
use rskafka::client::partition::{Compression, UnknownTopicHandling};
use rskafka::record::Record;

use crate::common::{Wh, assert_success, rows};
use crate::stream::generate;

const PARTITIONS: i32 = 3;

/// The tansu binary: `STOCKROOM_TEST_TANSU`, or where `.ci/kafka-broker.sh` installs it.
fn tansu_bin() -> PathBuf {
    if let Ok(p) = std::env::var("STOCKROOM_TEST_TANSU") {
        return PathBuf::from(p);
    }
    let cache = std::env::var("STOCKROOM_CACHE").map_or_else(
        |_| {
            PathBuf::from(std::env::var("HOME").expect("HOME is set"))
                .join(".cache")
                .join("stockroom")
        },
        PathBuf::from,
    );
    cache.join("tansu-0.6.0/bin/tansu")
}

/// A tansu broker on 127.0.0.1, killed when dropped.
struct Broker {
    bin: PathBuf,
    port: u16,
    child: Option<Child>,
    /// More `tansu broker` arguments.
    extra: Vec<String>,
}

impl Broker {
    fn start() -> Self {
        Self::start_with(&[])
    }

    fn start_with(extra: &[&str]) -> Self {
        let bin = tansu_bin();
        assert!(
            bin.is_file(),
            "the Kafka tests need the tansu broker at {} (not found): run `bash \
             .ci/kafka-broker.sh` (it installs tansu into ~/.cache/stockroom, about 10 minutes \
             once), or point STOCKROOM_TEST_TANSU at a tansu binary",
            bin.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut b = Self {
            bin,
            port,
            child: None,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        b.spawn();
        b
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let url = format!("tcp://{}", self.addr());
        let child = Command::new(&self.bin)
            .args(["broker", "--listener-url", &url])
            .args(self.extra.iter())
            .args(["--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tansu");
        self.child = Some(child);
        let started = Instant::now();
        while TcpStream::connect(self.addr()).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "tansu did not listen on {}",
                self.addr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }

    /// Kills the broker and starts a new one on the same port: its memory storage is empty.
    fn restart(&mut self) {
        self.kill();
        // Down for longer than the client's own retries (3 s), so that the stream sees the
        // broker gone, says so and reconnects.
        std::thread::sleep(Duration::from_secs(6));
        self.spawn();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The partition of a line: by its product id (FNV-1a), by its position when it has none.
fn partition_of(i: usize, line: &[u8]) -> i32 {
    let id = serde_json::from_slice::<serde_json::Value>(line)
        .ok()
        .and_then(|v| {
            v.get("product")
                .and_then(|p| p.get("product_id"))
                .map(|p| p.to_string())
        });
    match id {
        Some(id) => {
            let mut h: u32 = 0x811c_9dc5;
            for b in id.bytes() {
                h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
            }
            (h % PARTITIONS as u32) as i32
        }
        None => (i % PARTITIONS as usize) as i32,
    }
}

/// The file's lines (without line endings; blank lines dropped, as the file source does).
fn lines_of(file: &Path) -> Vec<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .expect("read events");
    bytes
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .collect()
}

/// Creates the topic (three partitions) if `create`, then produces `lines`, one record per
/// request: tansu 0.6's in-memory storage keeps record batches by base offset and serves a
/// fetch only the batches that start at or after the asked offset (and answers the latest
/// offset as the last batch's base + 1), so a stream resuming inside a multi-record batch
/// would wait for ever. Kafka itself returns the batch holding the offset, and the stream
/// skips the records before it.
fn produce(broker: &str, topic: &str, create: bool, lines: &[Vec<u8>]) {
    let mut by_partition: BTreeMap<i32, Vec<Record>> = BTreeMap::new();
    for (i, l) in lines.iter().enumerate() {
        by_partition
            .entry(partition_of(i, l))
            .or_default()
            .push(Record {
                key: None,
                value: Some(l.clone()),
                headers: BTreeMap::new(),
                timestamp: chrono::Utc::now(),
            });
    }
    runtime().block_on(async {
        let client = ClientBuilder::new(vec![broker.to_string()])
            .build()
            .await
            .expect("connect to tansu");
        if create {
            client
                .controller_client()
                .expect("controller")
                .create_topic(topic, PARTITIONS, 1, 5_000)
                .await
                .expect("create topic");
        }
        for (p, records) in by_partition {
            let pc = client
                .partition_client(topic, p, UnknownTopicHandling::Retry)
                .await
                .expect("partition client");
            for r in records {
                pc.produce(vec![r], Compression::NoCompression)
                    .await
                    .expect("produce");
            }
        }
    });
}

/// `generate inventory-events` plus hand-written bad lines (not JSON, not UTF-8, a missing
/// field): the lines to stream, one record or line each.
fn events(wh: &Wh, count: u64, seed: u64) -> (PathBuf, Vec<Vec<u8>>) {
    let f = generate(wh, count, seed, 0.05);
    let mut bytes = std::fs::read(&f).expect("generated");
    bytes.extend_from_slice(
        b"not json at all\n\xff\xfe\x00 binary\n{\"event_type\":\"product_added\"}\n",
    );
    bytes.extend_from_slice(
        b"{\"event_type\":\"product_quantity_changed\",\"product_id\":\"P-none\",\"quantity\":1}\n",
    );
    std::fs::write(&f, &bytes).expect("write events");
    let lines = lines_of(&f);
    (f, lines)
}

/// The tables without the input positions (seq, source, line numbers): what must be equal
/// between a file and a partitioned topic carrying the same events.
fn content(wh: &Wh) -> (String, String, String) {
    let inv = wh.csv(
        "SELECT product_id, product_name, quantity, timestamp FROM product_inventory \
         ORDER BY product_id",
    );
    let events = wh.csv(
        "SELECT event_type, product_id, product_name, quantity, timestamp, outcome \
         FROM product_events ORDER BY 1, 2, 3, 4, 5, 6",
    );
    let rejects = wh.csv(
        "SELECT record, array_to_string(reasons, '|') AS reasons FROM rejects \
         WHERE pipeline = 'inventory-events' ORDER BY 1, 2",
    );
    (inv, events, rejects)
}

/// Equal tables, or the first line where they differ (the whole tables are too long to print).
#[track_caller]
fn assert_same(got: &(String, String, String), want: &(String, String, String), what: &str) {
    for (name, g, w) in [
        ("product_inventory", &got.0, &want.0),
        ("product_events", &got.1, &want.1),
        ("rejects", &got.2, &want.2),
    ] {
        if g == w {
            continue;
        }
        let first = g
            .lines()
            .zip(w.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| g.lines().count().min(w.lines().count()));
        panic!(
            "{what}: {name} differs from the file's at row {first} ({} rows vs {}):\n  kafka: {:?}\n  file:  {:?}",
            g.lines().count(),
            w.lines().count(),
            g.lines().nth(first),
            w.lines().nth(first)
        );
    }
}

/// The same lines streamed from a file into a fresh warehouse.
fn reference(file: &Path) -> (String, String, String) {
    let wh = Wh::new();
    let out = wh
        .cmd()
        .args(["stream", "inventory-events", "--finished", "--input"])
        .arg(file)
        .output()
        .expect("run");
    assert_success(&out);
    content(&wh)
}

/// Every record is in product_events or rejects exactly once: by seq and by
/// (partition, offset).
fn assert_each_record_once(wh: &Wh, records: usize) {
    let counts = wh.csv(
        "WITH r AS (SELECT seq, source_file, line_number FROM product_events \
           UNION ALL SELECT CAST(substr(file_hash, 5) AS BIGINT), source_file, line_number \
           FROM rejects WHERE pipeline = 'inventory-events') \
         SELECT count(*) AS n, count(DISTINCT seq) AS seqs, \
           count(DISTINCT source_file || '@' || CAST(line_number AS VARCHAR)) AS offsets FROM r",
    );
    let v: Vec<usize> = rows(&counts)[0]
        .iter()
        .map(|x| x.parse().expect("a count"))
        .collect();
    assert_eq!(v, vec![records; 3], "rows, distinct seqs, distinct offsets");
}

/// `stream inventory-events --kafka … --until-idle 2 --json ARGS…` to the end; exit status,
/// summary (if any) and stderr.
fn stream_kafka(
    wh: &Wh,
    broker: &str,
    topic: &str,
    args: &[&str],
    env: &[(&str, String)],
) -> (bool, serde_json::Value, String) {
    let mut c = wh.cmd();
    c.args(["stream", "inventory-events", "--json", "--kafka", broker])
        .args(["--topic", topic, "--until-idle", "2"])
        .args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let summary = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.success(), summary, stderr)
}

#[test]
fn a_topic_with_three_partitions_streams_like_the_same_file() {
    let broker = Broker::start();
    let wh = Wh::new();
    let (file, lines) = events(&wh, 3_000, 21);
    produce(&broker.addr(), "inventory", true, &lines);

    let (ok, s, stderr) = stream_kafka(
        &wh,
        &broker.addr(),
        "inventory",
        &["--batch-size", "400"],
        &[],
    );
    assert!(ok, "{stderr}");
    assert_eq!(s["events_read"], lines.len(), "{s}");
    assert_eq!(s["consumer_lag"], 0, "{s}");
    let next: i64 = (0..PARTITIONS)
        .map(|p| s["kafka_offsets"][p.to_string()].as_i64().expect("offset"))
        .sum();
    assert_eq!(next as usize, lines.len(), "next offsets: {s}");
    assert!(s["events_rejected"].as_u64().unwrap_or(0) >= 4, "{s}");
    assert_each_record_once(&wh, lines.len());
    assert_same(&content(&wh), &reference(&file), "three partitions");
    // Records name their partition and offset.
    let sources = wh.csv("SELECT DISTINCT source_file FROM product_events ORDER BY source_file");
    assert_eq!(
        sources,
        "source_file\nkafka:inventory/0\nkafka:inventory/1\nkafka:inventory/2\n"
    );

    // Again: everything is committed, nothing is read twice.
    let (ok, s, stderr) = stream_kafka(&wh, &broker.addr(), "inventory", &[], &[]);
    assert!(ok, "{stderr}");
    assert_eq!(s["events_read"], 0, "{s}");
    assert_each_record_once(&wh, lines.len());

    // --partitions and --from latest on a new warehouse: partition 1 only, from its end.
    let wh2 = Wh::new();
    let (ok, s, stderr) = stream_kafka(
        &wh2,
        &broker.addr(),
        "inventory",
        &["--partitions", "1", "--from", "latest"],
        &[],
    );
    assert!(ok, "{stderr}");
    assert_eq!(s["events_read"], 0, "{s}");
    assert_eq!(
        s["kafka_offsets"].as_object().map(|o| o.len()),
        Some(1),
        "{s}"
    );
    // `latest` was committed at once: records produced since are read, and the committed
    // offset wins over --from earliest. One record lands on each partition.
    produce(
        &broker.addr(),
        "inventory",
        false,
        &[b"late 0".to_vec(), b"late 1".to_vec(), b"late 2".to_vec()],
    );
    let (ok, s, stderr) = stream_kafka(
        &wh2,
        &broker.addr(),
        "inventory",
        &["--partitions", "1", "--from", "earliest"],
        &[],
    );
    assert!(ok, "{stderr}");
    assert_eq!(s["events_read"], 1, "{s}");
    assert_eq!(
        wh2.csv("SELECT record, source_file FROM rejects"),
        "record,source_file\nlate 1,kafka:inventory/1\n"
    );
    let (ok, _, stderr) = stream_kafka(&wh2, &broker.addr(), "nope", &[], &[]);
    assert!(!ok);
    assert!(stderr.contains("the topic nope does not exist"), "{stderr}");
    let (ok, _, stderr) = stream_kafka(
        &wh2,
        &broker.addr(),
        "inventory",
        &["--partitions", "7"],
        &[],
    );
    assert!(!ok);
    assert!(stderr.contains("has no partition 7"), "{stderr}");
}

#[test]
fn a_crash_at_either_commit_boundary_or_a_kill_9_then_a_restart_applies_every_record_once() {
    let broker = Broker::start();
    let scratch = Wh::new();
    let (file, lines) = events(&scratch, 2_000, 5);
    produce(&broker.addr(), "crash", true, &lines);
    let expected = reference(&file);
    for boundary in stockroom::stream::fault::BOUNDARIES {
        let wh = Wh::new();
        let (ok, _, stderr) = stream_kafka(
            &wh,
            &broker.addr(),
            "crash",
            &["--batch-size", "300"],
            &[("STOCKROOM_FAULT", format!("{boundary}@3"))],
        );
        assert!(!ok, "{boundary}: the fault hook must abort");
        assert!(
            stderr.contains(&format!("aborting at {boundary} of batch 3")),
            "{stderr}"
        );
        let (ok, s, stderr) =
            stream_kafka(&wh, &broker.addr(), "crash", &["--batch-size", "700"], &[]);
        assert!(ok, "{boundary}: {stderr}");
        assert!(
            s["first_seq"].as_i64().unwrap_or(0) > 1,
            "{boundary}: resumed: {s}"
        );
        if *boundary == "after_side_tables" {
            assert!(
                s["rolled_back"].as_u64().unwrap_or(0) > 0,
                "{boundary}: {s}"
            );
        }
        assert_eq!(s["consumer_lag"], 0, "{s}");
        assert_each_record_once(&wh, lines.len());
        assert_same(&content(&wh), &expected, boundary);
    }

    // And a real kill -9 at whatever point the stream is in, after a few commits.
    let wh = Wh::new();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("stockroom"))
        .arg("--warehouse")
        .arg(wh.path())
        .args([
            "stream",
            "inventory-events",
            "--batch-size",
            "100",
            "--kafka",
        ])
        .arg(broker.addr())
        .args(["--topic", "crash"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the stream");
    let log = wh.path().join("tables/product_inventory/_delta_log");
    let started = Instant::now();
    loop {
        let commits = std::fs::read_dir(&log)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                    .count()
            })
            .unwrap_or(0);
        if commits >= 5 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(180), "no commits");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    let (ok, s, stderr) = stream_kafka(&wh, &broker.addr(), "crash", &[], &[]);
    assert!(ok, "{stderr}");
    assert!(s["first_seq"].as_i64().unwrap_or(0) > 1, "resumed: {s}");
    assert!(
        s["events_read"].as_u64().unwrap_or(0) > 0,
        "killed mid-stream: {s}"
    );
    assert_each_record_once(&wh, lines.len());
    assert_same(&content(&wh), &expected, "kill -9");
}

/// Rows in product_events and rejects (rejects may not exist yet).
fn applied(wh: &Wh) -> usize {
    let count = |sql: &str| -> usize {
        let out = wh
            .cmd()
            .args(["query", sql, "--format", "csv"])
            .output()
            .expect("run");
        rows(&String::from_utf8_lossy(&out.stdout))
            .first()
            .and_then(|r| r.first())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    count("SELECT count(*) AS n FROM product_events")
        + count("SELECT count(*) AS n FROM rejects WHERE pipeline = 'inventory-events'")
}

/// tansu's memory storage starts empty after a restart, so the restarted broker is given
/// the records the first one held (at the same offsets, as a broker with durable storage
/// would still have them) and then the rest. The stream must reconnect on its own, wait
/// while the broker's log ends before its committed offsets, resume exactly at them, and
/// finish: a stream that re-read from the start would apply the first half twice, one that
/// skipped would miss records.
#[test]
fn the_broker_restarted_mid_stream_the_stream_reconnects_and_finishes() {
    let mut broker = Broker::start();
    let wh = Wh::new();
    let (file, lines) = events(&wh, 2_000, 9);
    let half = lines.len() / 2;
    produce(&broker.addr(), "restart", true, &lines[..half]);
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("stockroom"))
        .arg("--warehouse")
        .arg(wh.path())
        .args(["stream", "inventory-events", "--json", "--kafka"])
        .arg(broker.addr())
        .args([
            "--topic",
            "restart",
            "--until-idle",
            "5",
            "--batch-size",
            "200",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the stream");
    let started = Instant::now();
    while applied(&wh) < half {
        assert!(
            child.try_wait().expect("poll").is_none(),
            "the stream ended before the broker restart"
        );
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "first half never applied"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    broker.restart();
    produce(&broker.addr(), "restart", true, &lines);

    // The stream ends by itself (idle); its stderr is read meanwhile.
    let stderr = child.stderr.take().expect("stderr");
    let log = std::thread::spawn(move || {
        std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
            .join("\n")
    });
    let deadline = Instant::now() + Duration::from_secs(240);
    let status = loop {
        if let Some(s) = child.try_wait().expect("poll") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the stream did not finish after the broker restart");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read stdout");
    let log = log.join().expect("stderr reader");
    assert!(status.success(), "{log}");
    let s: serde_json::Value = serde_json::from_str(&out).expect("json summary");
    assert!(
        s["kafka_reconnects"].as_u64().unwrap_or(0) >= 1,
        "{s}\n{log}"
    );
    assert!(log.contains("retrying in"), "{log}");
    assert!(log.contains("reading again at offset"), "{log}");
    assert_each_record_once(&wh, lines.len());
    assert_same(&content(&wh), &reference(&file), "broker restart");
}

/// The SASL settings reach the broker: one that requires authentication refuses an unknown
/// SCRAM user, and the stream stops saying so instead of retrying for ever. (A successful
/// login is not tested: tansu 0.6 cannot create a user once authentication is on.)
#[test]
fn a_refused_sasl_login_stops_the_stream_in_words() {
    let broker = Broker::start_with(&["--authentication"]);
    let wh = Wh::new();
    let out = wh
        .cmd()
        .env("STOCKROOM_KAFKA_PASSWORD", "not-the-password")
        .args(["stream", "inventory-events", "--kafka", &broker.addr()])
        .args(["--topic", "inventory", "--until-idle", "1"])
        .args(["--kafka-sasl", "SCRAM-SHA-512", "--kafka-user", "nobody"])
        .timeout(Duration::from_secs(120))
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("refused the SASL login of nobody (ScramSha512)"),
        "{stderr}"
    );
    assert!(stderr.contains("unknown user"), "{stderr}");
    // Without the password the stream does not start at all.
    let out = wh
        .cmd()
        .env_remove("STOCKROOM_KAFKA_PASSWORD")
        .args(["stream", "inventory-events", "--kafka", &broker.addr()])
        .args([
            "--topic",
            "inventory",
            "--kafka-sasl",
            "PLAIN",
            "--kafka-user",
            "u",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("STOCKROOM_KAFKA_PASSWORD"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
