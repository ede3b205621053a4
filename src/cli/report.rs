//! `stockroom report [--html FILE] [--pipeline NAME] [--days N] [--runs N]`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use stockroom::Executor;
use stockroom::report::{self, Options};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Write the report as one self-contained HTML page (charts included, nothing loaded
    /// from the network). Without it, a text summary is printed.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Only this pipeline's sections.
    #[arg(long)]
    pub pipeline: Option<String>,
    /// Days of each table's own dates the charts cover, ending at its latest date.
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// Runs shown in the run history and the data-quality trend.
    #[arg(long, default_value_t = 30)]
    pub runs: usize,
}

/// Writes the HTML report of `exec`'s warehouse to `path`.
pub async fn write_html(
    exec: &Executor,
    opts: &Options,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    let r = report::build(exec, opts).await?;
    std::fs::write(path, report::html::render(&r))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

pub async fn run(exec: Executor, args: ReportArgs) -> anyhow::Result<ExitCode> {
    let opts = Options {
        pipeline: args.pipeline,
        days: args.days.max(1),
        runs: args.runs.max(1),
    };
    match args.html {
        Some(path) => {
            write_html(&exec, &opts, &path).await?;
            eprintln!("wrote {}", path.display());
        }
        None => {
            let r = report::build(&exec, &opts).await?;
            print!("{}", report::text::render(&r));
        }
    }
    Ok(ExitCode::SUCCESS)
}
