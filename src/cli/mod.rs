//! Command-line arguments and dispatch to the front ends.

mod bench;
mod bench_scale;
mod bench_stream;
#[cfg(feature = "cluster")]
mod cluster;
mod completion;
mod demo;
mod dq;
mod generate;
mod meta;
mod paste;
mod pipeline;
mod query;
mod repl;
mod report;
mod run_sql;
mod schedule;
mod serve;
mod stream;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use stockroom::cluster::ClusterAddress;
use stockroom::session::{SessionOptions, parse_memory_limit};
use stockroom::{Executor, Warehouse};

#[derive(Debug, Parser)]
#[command(
    name = "stockroom",
    version,
    about = "An embedded SQL lakehouse for retail inventory and sales data",
    long_about = "An embedded SQL lakehouse: Delta tables in one warehouse directory, queried and \
                  written with SQL. Without a command, opens the interactive SQL shell."
)]
pub struct Args {
    /// The warehouse directory (created if missing).
    #[arg(
        long,
        global = true,
        env = "STOCKROOM_WAREHOUSE",
        default_value = "./warehouse"
    )]
    pub warehouse: PathBuf,

    /// Memory queries may use before spilling to disk, e.g. 512M or 4G.
    #[arg(long, global = true, env = "STOCKROOM_MEMORY_LIMIT")]
    pub memory_limit: Option<String>,

    /// Run reads on a Ballista cluster: the scheduler's address, df://HOST:PORT. Statements
    /// are planned here; queries, and the SELECTs feeding writes, execute on the cluster's
    /// executors; writes are committed here (needs a build with the `cluster` feature).
    #[arg(long, global = true, env = "STOCKROOM_CLUSTER")]
    pub cluster: Option<String>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Interactive SQL shell (the default). Reads statements from stdin when it is not a terminal.
    Repl,
    /// Run SQL files in order, stopping at the first error (for cron, systemd, Airflow).
    RunSql(run_sql::RunSqlArgs),
    /// Run one query over the warehouse and print or save the result.
    Query(query::QueryArgs),
    /// Run the batch pipelines (landing → validate → curate → KPIs → archive).
    Pipeline(pipeline::PipelineArgs),
    /// Generate realistic sample data (with a share of bad records) for tests and benchmarks.
    Generate(generate::GenerateArgs),
    /// Measure the performance targets (use a release build).
    Bench(bench::BenchArgs),
    /// Apply a stream of events continuously, exactly once (stdin or a growing file).
    Stream(stream::StreamArgs),
    /// Load the bundled sample data, run every pipeline on it, then the SQL tour.
    Demo(demo::DemoArgs),
    /// Data-quality results of the pipelines' checks.
    Dq(dq::DqArgs),
    /// The warehouse at a glance: KPI trends, runs, rejects, data quality and table facts
    /// (text, or one self-contained HTML page with charts).
    Report(report::ReportArgs),
    /// Print the pipelines' schedules as crontab lines or systemd timers (no daemon).
    Schedule(schedule::ScheduleArgs),
    /// Serve the warehouse over the PostgreSQL wire protocol (psql, BI tools, drivers).
    Serve(serve::ServeArgs),
    /// Run a node of a Ballista cluster: `cluster scheduler` or `cluster executor`.
    #[cfg(feature = "cluster")]
    Cluster(cluster::ClusterArgs),
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let opts = SessionOptions {
        memory_limit: args
            .memory_limit
            .as_deref()
            .map(parse_memory_limit)
            .transpose()?,
        target_partitions: None,
    };
    let cluster = args
        .cluster
        .as_deref()
        .filter(|c| !c.trim().is_empty())
        .map(ClusterAddress::parse)
        .transpose()?;
    let open = |path: &PathBuf| -> anyhow::Result<Executor> {
        // The library's error already names the directory and the OS error.
        let wh = Warehouse::open(path)?;
        let exec = Executor::new(wh, &opts)?;
        Ok(match &cluster {
            Some(c) => exec.with_cluster(c.clone())?,
            None => exec,
        })
    };
    match args.command {
        None | Some(Command::Repl) => repl::run(open(&args.warehouse)?).await,
        Some(Command::RunSql(a)) => run_sql::run(open(&args.warehouse)?, a).await,
        Some(Command::Query(a)) => query::run(open(&args.warehouse)?, a).await,
        Some(Command::Pipeline(a)) => pipeline::run(open(&args.warehouse)?, a).await,
        Some(Command::Generate(a)) => generate::run(a),
        Some(Command::Stream(a)) => stream::run(open(&args.warehouse)?, a).await,
        Some(Command::Bench(a)) => {
            bench::run(open(&args.warehouse)?, a, args.warehouse.clone(), &opts).await
        }
        Some(Command::Dq(a)) => dq::run(open(&args.warehouse)?, a).await,
        Some(Command::Report(a)) => report::run(open(&args.warehouse)?, a).await,
        Some(Command::Schedule(a)) => schedule::run(&args.warehouse, a),
        Some(Command::Serve(a)) => serve::run(a, args.warehouse.clone(), opts).await,
        #[cfg(feature = "cluster")]
        Some(Command::Cluster(a)) => cluster::run(a, &args.warehouse).await,
        Some(Command::Demo(a)) => {
            let wh = a
                .warehouse_override
                .clone()
                .unwrap_or(args.warehouse.clone());
            demo::run(open(&wh)?, a).await
        }
    }
}

/// `k=v` for `--var`.
pub fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected NAME=VALUE, got '{s}'")),
    }
}
