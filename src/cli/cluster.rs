//! `stockroom cluster scheduler|executor`: Ballista's nodes, embedded in our binary.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use stockroom::cluster::ClusterAddress;
use stockroom::cluster::nodes::{ExecutorOptions, run_executor, run_scheduler};

#[derive(Debug, Args)]
pub struct ClusterArgs {
    #[command(subcommand)]
    pub node: Node,
}

#[derive(Debug, Subcommand)]
pub enum Node {
    /// Run a scheduler: clients (`--cluster df://HOST:PORT`) submit to it, executors
    /// register with it.
    Scheduler {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:50050")]
        listen: SocketAddr,
    },
    /// Run an executor for a scheduler. With an S3 warehouse, pass the same `--warehouse`
    /// and AWS variables as the clients, so the executor can read the bucket.
    Executor {
        /// The scheduler, HOST:PORT (or df://HOST:PORT).
        #[arg(long)]
        scheduler: String,
        /// Address of the executor's Arrow Flight (shuffle) service; other executors and the
        /// clients fetch results from it.
        #[arg(long, default_value = "127.0.0.1:50051")]
        listen: SocketAddr,
        /// Port of the executor's task service on the same host (default: the listen port + 1).
        #[arg(long)]
        grpc_port: Option<u16>,
        /// Tasks run at once (default: the number of cores).
        #[arg(long)]
        concurrency: Option<usize>,
    },
}

pub async fn run(args: ClusterArgs, warehouse: &std::path::Path) -> anyhow::Result<ExitCode> {
    // An object-store warehouse: open (and register) its bucket so the executors' scans
    // resolve s3:// paths. A local warehouse needs nothing: file paths are absolute.
    if stockroom::storage::is_url(warehouse) {
        stockroom::storage::open_location(warehouse)?;
    }
    match args.node {
        Node::Scheduler { listen } => run_scheduler(listen).await?,
        Node::Executor {
            scheduler,
            listen,
            grpc_port,
            concurrency,
        } => {
            let grpc_port = match grpc_port {
                Some(p) => p,
                None => listen.port().checked_add(1).ok_or_else(|| {
                    anyhow::anyhow!("--listen {listen}: no port above it; pass --grpc-port")
                })?,
            };
            run_executor(ExecutorOptions {
                scheduler: ClusterAddress::parse(&scheduler)?,
                listen,
                grpc_port,
                concurrency: concurrency.unwrap_or_else(|| {
                    std::thread::available_parallelism()
                        .map(|n| n.get())
                        .unwrap_or(1)
                }),
            })
            .await?
        }
    }
    Ok(ExitCode::SUCCESS)
}
