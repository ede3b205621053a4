//! The `stockroom` binary: argument parsing and the front ends. Every command is a thin
//! layer over `stockroom::Executor`; `anyhow` lives only here, at the edge.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Plain log lines on stderr (pipeline steps at info). `STOCKROOM_LOG` overrides the filter,
/// e.g. `STOCKROOM_LOG=debug`. On a terminal the pipeline shows spinners instead, so only
/// warnings are logged there.
fn init_logging() {
    use std::io::IsTerminal;
    // Only our own lines by default: deltalake logs routine conditions (a table not
    // created yet) at ERROR, which would alarm users for nothing.
    let default = if std::io::stderr().is_terminal() {
        "stockroom=warn"
    } else {
        "stockroom=info"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("STOCKROOM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .try_init();
}
