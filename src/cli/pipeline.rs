//! `stockroom pipeline list | run NAME | run --all`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use stockroom::Executor;
use stockroom::pipeline::{self, RunOptions, RunSummary};

#[derive(Debug, Args)]
pub struct PipelineArgs {
    /// A directory of extra pipelines (sub-directories with pipeline.toml); they override
    /// built-in ones of the same name.
    #[arg(long, global = true, env = "STOCKROOM_PIPELINES")]
    pub pipelines: Option<PathBuf>,
    #[command(subcommand)]
    pub command: PipelineCommand,
}

#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// List the available pipelines.
    List,
    /// Run a pipeline on the files in its landing directory.
    Run(RunArgs),
    /// Read and validate the landing files and report; writes and moves nothing.
    Validate {
        name: String,
        #[arg(long)]
        landing: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Print the pipeline's steps as a Mermaid flowchart.
    Graph { name: String },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The pipeline (see `pipeline list`).
    #[arg(required_unless_present = "all")]
    pub name: Option<String>,
    /// Run every pipeline, one after the other.
    #[arg(long, conflicts_with = "name")]
    pub all: bool,
    /// Take the files from this directory instead of landing/<pipeline>/.
    #[arg(long)]
    pub landing: Option<PathBuf>,
    /// Print the run summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// POST each notification to this URL too.
    #[arg(long)]
    pub notify_webhook: Option<String>,
    /// Run only this step of the pipeline's graph, over the tables as they are (no landing
    /// files); for schedules that refresh aggregates or alerts between batch runs.
    #[arg(long, conflicts_with_all = ["all", "landing"])]
    pub step: Option<String>,
    /// The as-of date (YYYY-MM-DD) for pipelines with trailing windows (default: the date
    /// of the latest data).
    #[arg(long)]
    pub as_of: Option<chrono::NaiveDate>,
    /// A SQL variable for the pipeline's steps: NAME=VALUE (repeatable).
    #[arg(long = "var", value_parser = super::parse_var)]
    pub vars: Vec<(String, String)>,
    /// Reject a landing file whole (TOO_LARGE) past this many bytes, decompressed for .gz;
    /// checked while reading. Default 1 GiB; 16 GiB under --memory-limit, where a file is
    /// streamed and its size no longer decides the memory a run needs.
    #[arg(long)]
    pub max_file_bytes: Option<u64>,
    /// Seconds a landing file's size and mtime must stay unchanged before it is taken (an
    /// upload still in progress is left for a later run). 0 takes files at once.
    #[arg(long, default_value_t = 2.0, env = "STOCKROOM_SETTLE", value_parser = parse_seconds)]
    pub settle: f64,
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=86_400.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "'{s}' is not a number of seconds between 0 and 86400"
        )),
    }
}

/// Exit codes: 0 succeeded or partial, 2 failed (no valid record), 1 error.
pub async fn run(exec: Executor, args: PipelineArgs) -> anyhow::Result<ExitCode> {
    let all = pipeline::load_all(args.pipelines.as_deref())?;
    let find = |name: &str| {
        all.get(name).ok_or_else(|| {
            anyhow::anyhow!(
                "no pipeline '{name}'; available: {}",
                all.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    };
    match args.command {
        PipelineCommand::Graph { name } => {
            print!("{}", pipeline::graph::mermaid(find(&name)?));
            Ok(ExitCode::SUCCESS)
        }
        PipelineCommand::Validate {
            name,
            landing,
            json,
        } => {
            let opts = RunOptions {
                landing,
                validate_only: true,
                on_step: progress(json),
                ..Default::default()
            };
            match pipeline::run(&exec, find(&name)?, &opts).await? {
                Some(s) => print_summary(&s, json)?,
                None => eprintln!("{name}: no files to validate"),
            }
            Ok(ExitCode::SUCCESS)
        }
        PipelineCommand::List => {
            for p in all.values() {
                println!(
                    "{:<20} {}  [{}]",
                    p.name(),
                    p.manifest.description,
                    p.origin
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        PipelineCommand::Run(r) => {
            let names: Vec<String> = if r.all {
                all.keys().cloned().collect()
            } else {
                r.name.clone().into_iter().collect()
            };
            let mut vars: stockroom::sql::vars::Vars = r.vars.iter().cloned().collect();
            if let Some(d) = r.as_of {
                vars.insert("as_of".into(), d.format("%Y-%m-%d").to_string());
            }
            let opts = RunOptions {
                landing: r.landing.clone(),
                webhook: r.notify_webhook.clone(),
                validate_only: false,
                on_step: progress(r.json),
                vars,
                max_file_bytes: r.max_file_bytes,
                settle: std::time::Duration::from_secs_f64(r.settle),
            };
            if let (Some(step), Some(name)) = (&r.step, &r.name) {
                let found = pipeline::run_single_step(&exec, find(name)?, step, &opts).await?;
                if r.json {
                    println!(
                        "{}",
                        serde_json::json!({"pipeline": name, "step": step, "alerts": found.alerts})
                    );
                } else {
                    println!("{name}: step {step} done");
                    for a in &found.alerts {
                        println!("  alert: {a}");
                    }
                }
                return Ok(ExitCode::SUCCESS);
            }
            let mut code = ExitCode::SUCCESS;
            for name in names {
                let Some(p) = all.get(&name) else {
                    eprintln!(
                        "error: no pipeline '{name}'; available: {}",
                        all.keys().cloned().collect::<Vec<_>>().join(", ")
                    );
                    return Ok(ExitCode::from(1));
                };
                match pipeline::run(&exec, p, &opts).await {
                    Ok(None) => eprintln!(
                        "{name}: no files in {}",
                        opts.landing
                            .clone()
                            .unwrap_or_else(|| exec.warehouse().landing_dir(&name))
                            .display()
                    ),
                    Ok(Some(s)) => {
                        print_summary(&s, r.json)?;
                        if s.status == pipeline::summary::RunStatus::Failed {
                            code = ExitCode::from(2);
                        }
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        return Ok(ExitCode::from(1));
                    }
                }
            }
            Ok(code)
        }
    }
}

/// A spinner per step when stderr is a terminal (and the summary is not for a program);
/// otherwise `None`, and the steps are logged as plain tracing lines.
fn progress(json: bool) -> Option<pipeline::run::StepObserver> {
    use std::collections::HashMap;
    use std::io::IsTerminal;
    use std::sync::{Arc, Mutex};
    if json || !std::io::stderr().is_terminal() {
        return None;
    }
    // Steps of one wave run concurrently: one spinner each, keyed by step name.
    let multi = indicatif::MultiProgress::new();
    let bars: Arc<Mutex<HashMap<String, indicatif::ProgressBar>>> = Arc::default();
    Some(Arc::new(move |step: &str, done: Option<f64>| {
        let Ok(mut bars) = bars.lock() else { return };
        match done {
            None => {
                let bar = multi.add(indicatif::ProgressBar::new_spinner());
                bar.set_message(step.to_string());
                bar.enable_steady_tick(std::time::Duration::from_millis(100));
                bars.insert(step.to_string(), bar);
            }
            Some(secs) => {
                if let Some(bar) = bars.remove(step) {
                    bar.finish_with_message(format!("{step} ({secs:.2}s)"));
                }
            }
        }
    }))
}

pub fn print_summary(s: &RunSummary, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(s)?);
        return Ok(());
    }
    let t = &s.totals;
    println!(
        "{} run {}: {} — {} file(s), {} rejected whole; {} rows read, {} valid, {} rejected",
        s.pipeline,
        s.run_id,
        s.status,
        t.files_processed,
        t.files_rejected,
        t.rows_read,
        t.rows_valid,
        t.rows_rejected
    );
    for f in &s.files {
        let reasons: Vec<String> = f.reasons.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!(
            "  {:<32} {:<10} read {:>6}  valid {:>6}  rejected {:>6}  {}{}",
            f.file,
            f.status,
            f.rows_read,
            f.rows_valid,
            f.rows_rejected,
            reasons.join(" "),
            f.reject_reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
    }
    for c in &s.quality {
        println!(
            "  check {:<28} {:<5} {} failing row(s)",
            c.check, c.status, c.failed_rows
        );
    }
    for a in &s.alerts {
        println!("  alert: {a}");
    }
    for tv in &s.tables_written {
        println!("  table {} → version {}", tv.table, tv.version);
    }
    if let Some(e) = &s.error {
        println!("  error: {e}");
    }
    Ok(())
}
