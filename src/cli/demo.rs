//! `stockroom demo`: the README's first command. Copies the bundled sample data (compiled
//! into the binary, so an installed stockroom needs no checkout) into the warehouse's
//! landing area and runs the SQL tour over it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use stockroom::Executor;
use stockroom::exec::Outcome;
use stockroom::print::{self, Format, TableStyle};
use stockroom::script;
use stockroom::sql::vars::Vars;

/// Sample files shipped in the binary: (name, content).
const SAMPLE: &[(&str, &str)] = &[
    (
        "sales_2024-03-01.csv",
        include_str!("../../data/tour/sales_2024-03-01.csv"),
    ),
    (
        "sales_2024-03-02.csv",
        include_str!("../../data/tour/sales_2024-03-02.csv"),
    ),
];
const TOUR: &str = include_str!("../../sql/tour/tour.sql");

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Warehouse for the demo (default: the global --warehouse).
    #[arg(long = "into")]
    pub warehouse_override: Option<PathBuf>,
}

pub async fn run(exec: Executor, _args: DemoArgs) -> anyhow::Result<ExitCode> {
    let landing = exec.warehouse().landing_dir("tour");
    std::fs::create_dir_all(&landing)
        .with_context(|| format!("cannot create {}", landing.display()))?;
    for (name, content) in SAMPLE {
        let path = landing.join(name);
        std::fs::write(&path, content)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let mut vars = Vars::new();
    for (var, (name, _)) in ["day1", "day2"].iter().zip(SAMPLE) {
        vars.insert(var.to_string(), landing.join(name).display().to_string());
    }
    let prepared = match script::prepare("sql/tour/tour.sql", TOUR, &vars) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    println!(
        "stockroom demo: {} sample files → {}",
        SAMPLE.len(),
        landing.display()
    );
    let style = TableStyle::default();
    let mut stdout = std::io::stdout().lock();
    let res = script::run(&exec, &prepared, false, &mut |p, o, took| {
        let first = p
            .sql
            .lines()
            .find(|l| !l.trim_start().starts_with("--") && !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        match o {
            Outcome::Rows { .. } => {
                println!("\n{first}");
                print::outcome(&mut stdout, o, Format::Table, &style)?;
            }
            Outcome::Write(r) => println!("✔ {r} ({:.2}s)", took.as_secs_f64()),
            Outcome::Message(m) => println!("✔ {m}"),
        }
        Ok(())
    })
    .await;
    if let Err(e) = res {
        eprintln!("error: {e}");
        return Ok(ExitCode::from(1));
    }
    let root = exec.warehouse().root().display().to_string();
    println!(
        "\nTables written under {root}/tables. Explore them:\n  cargo run -- --warehouse {root}            # the SQL shell\n  cargo run -- --warehouse {root} query \"DESCRIBE HISTORY sales\""
    );
    Ok(ExitCode::SUCCESS)
}
