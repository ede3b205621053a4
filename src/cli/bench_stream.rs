//! `stockroom bench stream`: the three measurements of the streaming issue.
//! (a) events/s applied from a generated file with large batches; (b) at a steady write
//! rate with `--follow --batch-ms 200`, the time from an event being written to being
//! visible in a query (p50/p99); (c) the read time of `SELECT count(*) FROM
//! product_inventory` after many tiny micro-batches, with and without the stream's
//! compaction + checkpoints. With `--kafka BROKER` (a running Kafka-compatible broker), the
//! same two figures from a topic: (d) events/s applied from a three-partition topic, (e)
//! produced → visible at a steady produce rate.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use datafusion::arrow::array::Array;
use stockroom::session::SessionOptions;
use stockroom::stream::{Input, StreamOptions};
use stockroom::{Executor, Warehouse};
use stockroom_bench::generate::inventory_events::next_line;
use stockroom_bench::generate::rng::Rng;
use stockroom_bench::generate::{InventoryEventsSpec, write_events};
use stockroom_bench::stats::nearest_rank;

#[derive(Debug, Args)]
pub struct StreamBenchArgs {
    /// (a) events generated into a file and streamed.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// (a) micro-batch size.
    #[arg(long, default_value_t = 100_000)]
    pub batch_size: usize,
    /// (b) events per second written to the followed file.
    #[arg(long, default_value_t = 5_000)]
    pub rate: u64,
    /// (b) seconds of steady writing.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// (c) number of micro-batches.
    #[arg(long, default_value_t = 2_000)]
    pub micro_batches: u64,
    /// (c) events per micro-batch.
    #[arg(long, default_value_t = 50)]
    pub micro_batch_size: usize,
    /// (c) the stream's maintenance interval (compared with no maintenance).
    #[arg(long, default_value_t = 100)]
    pub maintain_every: u64,
    /// Run only these parts (a, b, c, d, e); default all (d and e need --kafka).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// (d, e) a running Kafka-compatible broker, `host:port`; the bench creates its topics.
    #[arg(long, value_name = "BROKER")]
    pub kafka: Option<String>,
}

fn fresh(root: &Path, name: &str) -> anyhow::Result<Executor> {
    let dir = root.join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(Executor::new(
        Warehouse::open(&dir)?,
        &SessionOptions::default(),
    )?)
}

fn generate_file(path: &Path, count: u64, seed: u64) -> anyhow::Result<()> {
    let spec = InventoryEventsSpec {
        count: Some(count),
        seed,
        ..Default::default()
    };
    let f = std::fs::File::create(path)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    let (_, r) = write_events(&mut w, &spec);
    r?;
    Ok(())
}

async fn throughput(root: &Path, a: &StreamBenchArgs) -> anyhow::Result<()> {
    let exec = fresh(root, "bench-stream-a")?;
    let file = exec.warehouse().root().join("events.jsonl");
    let t = Instant::now();
    generate_file(&file, a.events, 7)?;
    let bytes = std::fs::metadata(&file)?.len();
    println!(
        "(a) generated {} events, {:.0} MB in {:.2}s",
        a.events,
        bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let opts = StreamOptions {
        input: Input::File(file),
        batch_size: a.batch_size,
        batch_ms: 60_000,
        ..Default::default()
    };
    let t = Instant::now();
    let s = stockroom::stream::run(&exec, &opts, std::future::pending(), None).await?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "(a) streamed {} events from a file in {secs:.2}s = {:.0} events/s applied ({} batches of {}, {} Delta commits; {} accepted, {} rejected)",
        s.events_read,
        s.events_read as f64 / secs,
        s.batches,
        a.batch_size,
        s.delta_commits,
        s.events_accepted,
        s.events_rejected
    );
    Ok(())
}

/// Polls the stream's watermark until every one of `total` events is visible: once
/// max(updated_seq) = w is visible, every event up to w is, and each one's latency is now
/// minus when it was written (`written[seq - 1]`). The first second is warm-up and not
/// counted. Stops early once `done()` says the writer ended and all but 10 were seen.
async fn visible_latencies(
    exec: &Executor,
    written: &Mutex<Vec<Instant>>,
    total: u64,
    a: &StreamBenchArgs,
    done: impl Fn() -> bool,
) -> Vec<f64> {
    let mut lat = Vec::new();
    let mut seen = 0i64;
    let warmup = a.rate as i64;
    let deadline = Instant::now() + Duration::from_secs(a.seconds + 30);
    while seen < total as i64 && Instant::now() < deadline {
        if let Some(w) = max_seq(exec).await
            && w > seen
        {
            let now = Instant::now();
            if let Ok(times) = written.lock() {
                for seq in (seen + 1)..=w.min(times.len() as i64) {
                    if seq > warmup {
                        lat.push(
                            now.duration_since(times[(seq - 1) as usize]).as_secs_f64() * 1000.0,
                        );
                    }
                }
            }
            seen = w;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        if done() && seen >= total as i64 - 10 {
            break;
        }
    }
    lat
}

async fn max_seq(exec: &Executor) -> Option<i64> {
    let b = exec
        .query_batches("SELECT max(updated_seq) FROM product_inventory")
        .await
        .ok()?;
    let col = b.first()?.column(0).clone();
    let a = col
        .as_any()
        .downcast_ref::<datafusion::arrow::array::Int64Array>()?;
    (!a.is_null(0)).then(|| a.value(0))
}

async fn latency(root: &Path, a: &StreamBenchArgs) -> anyhow::Result<()> {
    let exec = fresh(root, "bench-stream-b")?;
    let wh = exec.warehouse().root().to_path_buf();
    let file = wh.join("live.jsonl");
    std::fs::write(&file, b"")?;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .arg("--warehouse")
        .arg(&wh)
        .args([
            "stream",
            "inventory-events",
            "--follow",
            "--batch-ms",
            "200",
            "--input",
        ])
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    // Wait for the stream to create its tables.
    let t = Instant::now();
    while !exec.warehouse().is_table("product_inventory") {
        if t.elapsed() > Duration::from_secs(30) {
            anyhow::bail!("the stream did not start");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let written: Arc<Mutex<Vec<Instant>>> = Arc::new(Mutex::new(Vec::new()));
    let total = a.rate * a.seconds;
    let writer = {
        let written = written.clone();
        let file = file.clone();
        let rate = a.rate.max(1);
        std::thread::spawn(move || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new().append(true).open(&file)?;
            let spec = InventoryEventsSpec::default();
            let mut rng = Rng::new(11);
            let start = Instant::now();
            let mut n = 0u64;
            // A chunk every 10 ms, each line stamped when its chunk is written.
            while n < total {
                let due = start + Duration::from_secs_f64(n as f64 / rate as f64);
                if let Some(d) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
                let k = (rate / 100).max(1).min(total - n);
                let mut buf = String::new();
                for _ in 0..k {
                    buf.push_str(&next_line(&mut rng, &spec).0);
                }
                f.write_all(buf.as_bytes())?;
                let now = Instant::now();
                if let Ok(mut w) = written.lock() {
                    w.extend(std::iter::repeat_n(now, k as usize));
                }
                n += k;
            }
            Ok(())
        })
    };
    let lat = visible_latencies(&exec, &written, total, a, || writer.is_finished()).await;
    stop(&mut child);
    match writer.join() {
        Ok(r) => r?,
        Err(_) => anyhow::bail!("the writer thread panicked"),
    }
    let what = format!(
        "(b) {} events/s for {}s, --follow --batch-ms 200: written",
        a.rate, a.seconds
    );
    print_latencies(&what, lat);
    Ok(())
}

/// Stops a stream child (SIGTERM: it commits what it holds) and reaps it.
fn stop(child: &mut std::process::Child) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// `<what> → visible in a query: p50 …, p99 …, max …` over the measured latencies (ms).
fn print_latencies(what: &str, mut lat: Vec<f64>) {
    lat.sort_by(|x, y| x.total_cmp(y));
    println!(
        "{what} → visible in a query: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} events measured after a 1 s warm-up)",
        nearest_rank(&lat, 0.50),
        nearest_rank(&lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN),
        lat.len()
    );
}

fn log_files(table_dir: &Path) -> usize {
    std::fs::read_dir(table_dir.join("_delta_log"))
        .map(|d| d.count())
        .unwrap_or(0)
}

async fn small_batches(
    root: &Path,
    a: &StreamBenchArgs,
    maintain_every: u64,
) -> anyhow::Result<()> {
    let name = format!("bench-stream-c{maintain_every}");
    let exec = fresh(root, &name)?;
    let file: PathBuf = exec.warehouse().root().join("events.jsonl");
    generate_file(&file, a.micro_batches * a.micro_batch_size as u64, 9)?;
    let opts = StreamOptions {
        input: Input::File(file),
        batch_size: a.micro_batch_size,
        batch_ms: 60_000,
        maintain_every,
        ..Default::default()
    };
    let t = Instant::now();
    let s = stockroom::stream::run(&exec, &opts, std::future::pending(), None).await?;
    let stream_secs = t.elapsed().as_secs_f64();
    let wh = exec.warehouse().clone();
    drop(exec);
    let mut times = Vec::new();
    for _ in 0..7 {
        // A new session each time: the read includes opening the table's log.
        let e = Executor::new(wh.clone(), &SessionOptions::default())?;
        let t = Instant::now();
        e.query_batches("SELECT count(*) FROM product_inventory")
            .await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(|x, y| x.total_cmp(y));
    let t = stockroom::catalog::open_delta(
        &wh.table_dir("product_inventory"),
        &stockroom::catalog::VersionSpec::Latest,
    )
    .await?;
    let files = t.snapshot()?.log_data().num_files();
    println!(
        "(c) {} micro-batches of {} ({:.1}s, {} maintenance runs, maintain every {}): SELECT count(*) FROM product_inventory median {:.1} ms (min {:.1}); {} active files, {} _delta_log files",
        s.batches,
        a.micro_batch_size,
        stream_secs,
        s.maintenance_runs,
        if maintain_every == 0 {
            "never".to_string()
        } else {
            maintain_every.to_string()
        },
        times[times.len() / 2],
        times[0],
        files,
        log_files(&wh.table_dir("product_inventory"))
    );
    Ok(())
}

/// A topic of its own for each part and run (a broker may keep earlier ones).
fn topic_name(part: &str) -> String {
    format!(
        "stockroom-bench-{part}-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    )
}

async fn kafka_client(broker: &str) -> anyhow::Result<rskafka::client::Client> {
    rskafka::client::ClientBuilder::new(vec![broker.to_string()])
        .build()
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to the Kafka broker {broker}: {e}"))
}

async fn create_topic(
    client: &rskafka::client::Client,
    topic: &str,
    partitions: i32,
) -> anyhow::Result<Vec<rskafka::client::partition::PartitionClient>> {
    client
        .controller_client()?
        .create_topic(topic, partitions, 1, 5_000)
        .await?;
    let mut pcs = Vec::new();
    for p in 0..partitions {
        pcs.push(
            client
                .partition_client(
                    topic,
                    p,
                    rskafka::client::partition::UnknownTopicHandling::Retry,
                )
                .await?,
        );
    }
    Ok(pcs)
}

fn record(line: String) -> rskafka::record::Record {
    rskafka::record::Record {
        key: None,
        value: Some(line.into_bytes()),
        headers: Default::default(),
        timestamp: chrono::Utc::now(),
    }
}

/// (d) `events` generated events produced to a three-partition topic (round robin, 5 000
/// records a request), then streamed from it; only the streaming is timed.
async fn kafka_throughput(root: &Path, a: &StreamBenchArgs, broker: &str) -> anyhow::Result<()> {
    let exec = fresh(root, "bench-stream-d")?;
    let client = kafka_client(broker).await?;
    let topic = topic_name("d");
    let pcs = create_topic(&client, &topic, 3).await?;
    let spec = InventoryEventsSpec::default();
    let mut rng = Rng::new(7);
    let t = Instant::now();
    let mut produced = 0u64;
    while produced < a.events {
        let k = 5_000.min(a.events - produced);
        let records: Vec<_> = (0..k)
            .map(|_| record(next_line(&mut rng, &spec).0))
            .collect();
        let p = (produced / 5_000) as usize % pcs.len();
        pcs[p]
            .produce(
                records,
                rskafka::client::partition::Compression::NoCompression,
            )
            .await?;
        produced += k;
    }
    println!(
        "(d) produced {} events to {topic} (3 partitions) in {:.2}s",
        a.events,
        t.elapsed().as_secs_f64()
    );
    let opts = StreamOptions {
        input: Input::Kafka(Box::new(stockroom::stream::kafka::KafkaSource {
            brokers: vec![broker.to_string()],
            topic,
            partitions: None,
            start: stockroom::stream::kafka::StartAt::Earliest,
            tls: false,
            ca_file: None,
            sasl: None,
        })),
        batch_size: a.batch_size,
        batch_ms: 60_000,
        until_idle: Some(Duration::from_secs(1)),
        ..Default::default()
    };
    let t = Instant::now();
    let s = stockroom::stream::run(&exec, &opts, std::future::pending(), None).await?;
    // The idle second that ends the stream is not streaming.
    let secs = (t.elapsed().as_secs_f64() - 1.0).max(f64::MIN_POSITIVE);
    println!(
        "(d) streamed {} events from Kafka in {secs:.2}s = {:.0} events/s applied ({} batches of up to {}, {} Delta commits; consumer lag at the end {})",
        s.events_read,
        s.events_read as f64 / secs,
        s.batches,
        a.batch_size,
        s.delta_commits,
        s.consumer_lag
            .map_or_else(|| "unknown".to_string(), |l| l.to_string())
    );
    Ok(())
}

/// (e) `rate` events/s produced to a one-partition topic (so seq order is produce order)
/// for `seconds`, streamed by a `stream --kafka --batch-ms 200` process: produced → visible
/// in a query, as (b) measures for a followed file.
async fn kafka_latency(root: &Path, a: &StreamBenchArgs, broker: &str) -> anyhow::Result<()> {
    let exec = fresh(root, "bench-stream-e")?;
    let wh = exec.warehouse().root().to_path_buf();
    let client = kafka_client(broker).await?;
    let topic = topic_name("e");
    let pcs = create_topic(&client, &topic, 1).await?;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .arg("--warehouse")
        .arg(&wh)
        .args([
            "stream",
            "inventory-events",
            "--batch-ms",
            "200",
            "--kafka",
            broker,
        ])
        .args(["--topic", &topic])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let t = Instant::now();
    while !exec.warehouse().is_table("product_inventory") {
        if t.elapsed() > Duration::from_secs(30) {
            anyhow::bail!("the stream did not start");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let total = a.rate * a.seconds;
    let rate = a.rate.max(1);
    let written: Arc<Mutex<Vec<Instant>>> = Arc::new(Mutex::new(Vec::new()));
    let producer = {
        let written = written.clone();
        let pc = pcs
            .into_iter()
            .next()
            .ok_or_else(|| anyhow::anyhow!("no partition"))?;
        tokio::spawn(async move {
            let spec = InventoryEventsSpec::default();
            let mut rng = Rng::new(11);
            let start = Instant::now();
            let mut n = 0u64;
            // A request every 10 ms, each record stamped when its request is acknowledged.
            while n < total {
                let due = start + Duration::from_secs_f64(n as f64 / rate as f64);
                tokio::time::sleep_until(due.into()).await;
                let k = (rate / 100).max(1).min(total - n);
                let records: Vec<_> = (0..k)
                    .map(|_| record(next_line(&mut rng, &spec).0))
                    .collect();
                pc.produce(
                    records,
                    rskafka::client::partition::Compression::NoCompression,
                )
                .await?;
                let now = Instant::now();
                if let Ok(mut w) = written.lock() {
                    w.extend(std::iter::repeat_n(now, k as usize));
                }
                n += k;
            }
            Ok::<_, rskafka::client::error::Error>(())
        })
    };
    let lat = visible_latencies(&exec, &written, total, a, || producer.is_finished()).await;
    stop(&mut child);
    producer.await??;
    let what = format!(
        "(e) {} events/s for {}s produced to Kafka, stream --kafka --batch-ms 200: produced",
        a.rate, a.seconds
    );
    print_latencies(&what, lat);
    Ok(())
}

pub async fn run(warehouse: &Path, a: StreamBenchArgs) -> anyhow::Result<()> {
    let all = a.only.is_empty();
    let on = |p: &str| all || a.only.iter().any(|o| o == p);
    std::fs::create_dir_all(warehouse)?;
    let root = std::fs::canonicalize(warehouse)?;
    if on("a") {
        throughput(&root, &a).await?;
    }
    if on("b") {
        latency(&root, &a).await?;
    }
    if on("c") {
        small_batches(&root, &a, a.maintain_every).await?;
        small_batches(&root, &a, 0).await?;
    }
    match &a.kafka {
        Some(broker) => {
            if on("d") {
                kafka_throughput(&root, &a, broker).await?;
            }
            if on("e") {
                kafka_latency(&root, &a, broker).await?;
            }
        }
        None if a.only.iter().any(|o| o == "d" || o == "e") => {
            anyhow::bail!("parts d and e stream from Kafka: give --kafka BROKER (host:port)")
        }
        None => {}
    }
    Ok(())
}
