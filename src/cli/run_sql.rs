//! `stockroom run-sql FILE… [--var k=v]… [--dry-run]`: batch execution for schedulers.
//! Exit 0 when every statement succeeded; 1 with file, line and statement otherwise.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use stockroom::Executor;
use stockroom::exec::Outcome;
use stockroom::print::{self, Format, TableStyle};
use stockroom::script::{self, abbreviate};
use stockroom::sql::vars::Vars;

#[derive(Debug, Args)]
pub struct RunSqlArgs {
    /// SQL files, run in the order given.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// A variable for `${name}` in the SQL (repeatable).
    #[arg(long = "var", value_parser = super::parse_var)]
    pub vars: Vec<(String, String)>,
    /// Parse and plan every statement without executing or writing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// How query results are printed on stdout.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

pub async fn run(exec: Executor, args: RunSqlArgs) -> anyhow::Result<ExitCode> {
    let vars: Vars = args.vars.into_iter().collect();
    // Read and prepare everything first: a missing file or an undefined variable fails the
    // run before any statement has written anything.
    let mut all = Vec::new();
    for f in &args.files {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("cannot read SQL file {}", f.display()))?;
        match script::prepare(&f.display().to_string(), &text, &vars) {
            Ok(p) => all.extend(p),
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(1));
            }
        }
    }
    let style = TableStyle {
        max_rows: usize::MAX,
        ..Default::default()
    };
    let mut stdout = std::io::stdout().lock();
    let result = script::run(&exec, &all, args.dry_run, &mut |p, o, took| {
        let summary = match o {
            Outcome::Rows { .. } => format!("{} rows", o.row_count()),
            Outcome::Write(r) => r.to_string(),
            Outcome::Message(m) => m.clone(),
        };
        eprintln!(
            "{}:{}: ok in {:.3}s: {} — {}",
            p.source,
            p.line,
            took.as_secs_f64(),
            abbreviate(&p.sql).chars().take(60).collect::<String>(),
            summary
        );
        if let Outcome::Rows { .. } = o {
            print::outcome(&mut stdout, o, args.format, &style)?;
        }
        Ok(())
    })
    .await;
    match result {
        Ok(n) => {
            eprintln!(
                "{n} statement(s) {}",
                if args.dry_run { "planned" } else { "succeeded" }
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
