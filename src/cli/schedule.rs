//! `stockroom schedule [--systemd] [--pipeline NAME]`: prints the pipelines' cadences for cron
//! or systemd (see `stockroom::pipeline::schedule`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use stockroom::pipeline::{self, schedule};

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// Print systemd service + timer units instead of crontab lines.
    #[arg(long)]
    pub systemd: bool,
    /// Only this pipeline's schedules.
    #[arg(long)]
    pub pipeline: Option<String>,
    /// A directory of extra pipelines (as for `pipeline`).
    #[arg(long, env = "STOCKROOM_PIPELINES")]
    pub pipelines: Option<PathBuf>,
}

pub fn run(warehouse: &Path, args: ScheduleArgs) -> anyhow::Result<ExitCode> {
    let all = pipeline::load_all(args.pipelines.as_deref())?;
    let chosen: Vec<_> = all
        .values()
        .filter(|p| args.pipeline.as_deref().is_none_or(|n| n == p.name()))
        .filter(|p| !p.manifest.schedules.is_empty())
        .collect();
    if chosen.is_empty() {
        anyhow::bail!(
            "no schedules for {}; pipelines with schedules: {}",
            args.pipeline.as_deref().unwrap_or("any pipeline"),
            all.values()
                .filter(|p| !p.manifest.schedules.is_empty())
                .map(|p| p.name().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    // Absolute paths: cron and systemd start in another directory.
    let exe = std::env::current_exe()?;
    // A bucket stays its URL; a local directory becomes absolute.
    let wh = match stockroom::storage::open_location(warehouse)? {
        stockroom::storage::Location::Object(b) => b.root().to_path_buf(),
        stockroom::storage::Location::Local(p) => {
            std::fs::create_dir_all(&p)?;
            std::fs::canonicalize(&p)?
        }
    };
    if args.systemd {
        print!("{}", schedule::systemd(&chosen, &exe, &wh));
    } else {
        print!("{}", schedule::crontab(&chosen, &exe, &wh));
    }
    Ok(ExitCode::SUCCESS)
}
