//! `stockroom stream inventory-events [--input FILE | -] [--follow] [--batch-ms N]
//! [--batch-size N] [--maintain-every K] [--json]`: parses arguments, wires SIGINT/SIGTERM to
//! a graceful stop, prints live stats on a terminal and the summary at the end. The work is
//! in `stockroom::stream`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use stockroom::Executor;
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
    #[arg(long)]
    pub follow: bool,
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
    #[arg(long)]
    pub finished: bool,
    /// Print the final summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(exec: Executor, args: StreamArgs) -> anyhow::Result<ExitCode> {
    let StreamWhat::InventoryEvents(a) = args.what;
    let input = match a.input {
        None => Input::Stdin,
        Some(p) if p.as_os_str() == "-" => Input::Stdin,
        Some(p) => Input::File(p),
    };
    let opts = StreamOptions {
        input,
        follow: a.follow,
        batch_size: a.batch_size,
        batch_ms: a.batch_ms,
        maintain_every: a.maintain_every,
        finished: a.finished,
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
