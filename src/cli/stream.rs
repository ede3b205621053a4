//! `stockroom stream inventory-events [--input FILE | - | --kafka BROKERS --topic NAME]
//! [--follow] [--batch-ms N] [--batch-size N] [--maintain-every K] [--until-idle S] [--json]`:
//! parses arguments, wires SIGINT/SIGTERM to
//! a graceful stop, prints live stats on a terminal and the summary at the end. The work is
//! in `stockroom::stream`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use stockroom::Executor;
use stockroom::stream::kafka::{KafkaSource, Sasl, SaslMechanism, StartAt};
use stockroom::stream::{self, Input, StreamOptions};

#[derive(Debug, Args)]
pub struct StreamArgs {
    #[command(subcommand)]
    pub what: StreamWhat,
}

#[derive(Debug, Subcommand)]
pub enum StreamWhat {
    /// Product events (JSON lines) into product_inventory / product_events, exactly once.
    InventoryEvents(InventoryEventsArgs),
}

#[derive(Debug, Args)]
pub struct InventoryEventsArgs {
    /// Read events from this file (`-` = stdin, the default). A restart continues where the
    /// last commit ended.
    #[arg(long, short)]
    pub input: Option<PathBuf>,
    /// Keep reading the file as it grows (stop with Ctrl-C / SIGTERM).
    #[arg(long, conflicts_with = "kafka")]
    pub follow: bool,
    /// Read the events from Kafka: bootstrap brokers `host:port[,host:port…]`. One record =
    /// one event; the committed offsets live in the warehouse, not in a consumer group.
    #[arg(
        long,
        value_name = "BROKERS",
        env = "STOCKROOM_KAFKA_BROKERS",
        value_delimiter = ',',
        conflicts_with = "input",
        requires = "topic"
    )]
    pub kafka: Option<Vec<String>>,
    /// The Kafka topic.
    #[arg(long, requires = "kafka")]
    pub topic: Option<String>,
    /// Only these partitions (`0,2`); default all of the topic's.
    #[arg(long, value_delimiter = ',', requires = "kafka")]
    pub partitions: Option<Vec<i32>>,
    /// Where a partition with no committed offset starts: the oldest record kept, or only
    /// records produced from now on. A committed offset always wins.
    #[arg(long, value_enum, default_value = "earliest", requires = "kafka")]
    pub from: From,
    /// Connect to the brokers with TLS (the system's CA certificates unless --kafka-ca).
    #[arg(long, env = "STOCKROOM_KAFKA_TLS")]
    pub kafka_tls: bool,
    /// PEM file of the CA certificates to trust for the brokers (implies --kafka-tls).
    #[arg(long, value_name = "FILE", env = "STOCKROOM_KAFKA_CA")]
    pub kafka_ca: Option<PathBuf>,
    /// SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (with --kafka-user and the
    /// password in STOCKROOM_KAFKA_PASSWORD, never on the command line).
    #[arg(long, value_name = "MECHANISM", env = "STOCKROOM_KAFKA_SASL_MECHANISM")]
    pub kafka_sasl: Option<String>,
    /// SASL user name.
    #[arg(long, value_name = "USER", env = "STOCKROOM_KAFKA_USER")]
    pub kafka_user: Option<String>,
    /// Stop once no event arrived for this many seconds and everything read is committed
    /// (for Kafka: and every partition is read up to the broker's end). Default: run until
    /// the input ends (a file), or until Ctrl-C / SIGTERM (Kafka, --follow).
    #[arg(long, value_name = "SECONDS")]
    pub until_idle: Option<f64>,
    /// Close a micro-batch this many milliseconds after its first event…
    #[arg(long, default_value_t = 1_000)]
    pub batch_ms: u64,
    /// …or once it has this many events.
    #[arg(long, default_value_t = 50_000)]
    pub batch_size: usize,
    /// Compact the small files and checkpoint the tables every this many micro-batches
    /// (0 = never).
    #[arg(long, default_value_t = 100)]
    pub maintain_every: u64,
    /// The input file is complete: a last line without a newline is an event too (by
    /// default it waits for its newline; stdin at its end is always complete).
    #[arg(long, conflicts_with = "kafka")]
    pub finished: bool,
    /// Print the final summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum From {
    Earliest,
    Latest,
}

/// The Kafka source the options describe (None without --kafka).
fn kafka_source(a: &InventoryEventsArgs) -> anyhow::Result<Option<KafkaSource>> {
    let Some(brokers) = &a.kafka else {
        return Ok(None);
    };
    let brokers: Vec<String> = brokers
        .iter()
        .map(|b| b.trim().to_string())
        .filter(|b| !b.is_empty())
        .collect();
    if brokers.is_empty() {
        anyhow::bail!("--kafka needs at least one broker as host:port");
    }
    let Some(topic) = a.topic.clone() else {
        anyhow::bail!("--kafka needs --topic NAME");
    };
    let sasl = match &a.kafka_sasl {
        None => None,
        Some(m) => {
            let Some(mechanism) = SaslMechanism::parse(m) else {
                anyhow::bail!(
                    "--kafka-sasl {m}: unknown mechanism; use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
                );
            };
            let Some(username) = a.kafka_user.clone() else {
                anyhow::bail!("--kafka-sasl needs --kafka-user (or STOCKROOM_KAFKA_USER)");
            };
            let Ok(password) = std::env::var("STOCKROOM_KAFKA_PASSWORD") else {
                anyhow::bail!(
                    "--kafka-sasl needs the password in the environment variable \
                     STOCKROOM_KAFKA_PASSWORD (it is never taken from the command line)"
                );
            };
            Some(Sasl {
                mechanism,
                username,
                password,
            })
        }
    };
    Ok(Some(KafkaSource {
        brokers,
        topic,
        partitions: a.partitions.clone(),
        start: match a.from {
            From::Earliest => StartAt::Earliest,
            From::Latest => StartAt::Latest,
        },
        tls: a.kafka_tls,
        ca_file: a.kafka_ca.clone(),
        sasl,
    }))
}

pub async fn run(exec: Executor, args: StreamArgs) -> anyhow::Result<ExitCode> {
    let StreamWhat::InventoryEvents(a) = args.what;
    let until_idle = match a.until_idle {
        None => None,
        Some(s) if s.is_finite() && s >= 0.0 => Some(std::time::Duration::from_secs_f64(s)),
        Some(s) => anyhow::bail!("--until-idle {s}: give a number of seconds, 0 or more"),
    };
    let input = match kafka_source(&a)? {
        Some(k) => Input::Kafka(Box::new(k)),
        None => match a.input {
            None => Input::Stdin,
            Some(p) if p.as_os_str() == "-" => Input::Stdin,
            Some(p) => Input::File(p),
        },
    };
    let opts = StreamOptions {
        input,
        follow: a.follow,
        batch_size: a.batch_size,
        batch_ms: a.batch_ms,
        maintain_every: a.maintain_every,
        finished: a.finished,
        until_idle,
    };
    let live = std::io::stderr().is_terminal();
    let progress: Option<stream::Progress> = if live {
        let mut last: Option<std::time::Instant> = None;
        Some(Box::new(move |s, started| {
            // At most ten redraws a second, however small the batches.
            if last.is_some_and(|t| t.elapsed().as_millis() < 100) {
                return;
            }
            last = Some(std::time::Instant::now());
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[2K{}", s.live_line(started));
            let _ = e.flush();
        }))
    } else {
        None
    };
    let summary = stream::run(&exec, &opts, stockroom::signal::shutdown_signal(), progress).await;
    if live {
        eprintln!();
    }
    let s = summary?;
    eprintln!("{}", s.report());
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    }
    Ok(ExitCode::SUCCESS)
}
