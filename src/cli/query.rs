//! `stockroom query "SQL" [--format …] [--output FILE]`: the Athena use case, one ad-hoc
//! query over the whole warehouse.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use stockroom::Executor;
use stockroom::exec::Outcome;
use stockroom::print::{self, Format, TableStyle};

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The SQL statement.
    pub sql: String,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Write the result to a file instead (.parquet, .csv, .json, .ndjson).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Most rows printed in table format.
    #[arg(long, default_value_t = 1000)]
    pub max_rows: usize,
}

pub async fn run(exec: Executor, args: QueryArgs) -> anyhow::Result<ExitCode> {
    let outcome = match exec.execute(&args.sql).await {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    if let (Some(path), Outcome::Rows { schema, batches }) = (&args.output, &outcome) {
        print::write_file(path, schema, batches)?;
        eprintln!("wrote {} rows to {}", outcome.row_count(), path.display());
        return Ok(ExitCode::SUCCESS);
    }
    let style = TableStyle {
        max_rows: args.max_rows,
        ..Default::default()
    };
    print::outcome(&mut std::io::stdout().lock(), &outcome, args.format, &style)?;
    Ok(ExitCode::SUCCESS)
}
