//! `stockroom dq report [--pipeline P] [--runs N] [--html FILE]`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use stockroom::Executor;
use stockroom::pipeline::dq_report;

#[derive(Debug, Args)]
pub struct DqArgs {
    #[command(subcommand)]
    pub command: DqCommand,
}

#[derive(Debug, Subcommand)]
pub enum DqCommand {
    /// The latest data-quality results: status per check, the trend over the last runs and
    /// sample failing rows.
    Report {
        /// Only this pipeline (default: the one checked last).
        #[arg(long)]
        pipeline: Option<String>,
        /// How many runs the trend covers.
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// Also write the report as an HTML page.
        #[arg(long)]
        html: Option<PathBuf>,
    },
}

pub async fn run(exec: Executor, args: DqArgs) -> anyhow::Result<ExitCode> {
    let DqCommand::Report {
        pipeline,
        runs,
        html,
    } = args.command;
    let report = dq_report::build(&exec, pipeline.as_deref(), runs).await?;
    print!("{}", dq_report::render_text(&report));
    if let Some(path) = html {
        std::fs::write(&path, dq_report::render_html(&report))
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
