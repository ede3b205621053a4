//! `stockroom generate pos --out DIR --rows N --seed S --dirty-ratio R [--files F]`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Subcommand};
use stockroom::generate::{PosSpec, generate_pos};

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(subcommand)]
    pub what: GenerateWhat,
}

#[derive(Debug, Subcommand)]
pub enum GenerateWhat {
    /// Point-of-sale CSV batches for the `pos` pipeline.
    Pos {
        /// Output directory (e.g. a warehouse's landing/pos).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        rows: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Share of rows with exactly one defect (0..1).
        #[arg(long, default_value_t = 0.0)]
        dirty_ratio: f64,
        #[arg(long, default_value_t = 1)]
        files: usize,
    },
}

pub fn run(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    match args.what {
        GenerateWhat::Pos {
            out,
            rows,
            seed,
            dirty_ratio,
            files,
        } => {
            if !(0.0..=1.0).contains(&dirty_ratio) {
                anyhow::bail!("--dirty-ratio {dirty_ratio}: expected a share between 0 and 1");
            }
            let started = Instant::now();
            let spec = PosSpec {
                rows,
                seed,
                dirty_ratio,
                files: files.max(1),
                ..PosSpec::default()
            };
            let s = generate_pos(&out, &spec)?;
            eprintln!(
                "wrote {} rows ({} dirty) in {} file(s), {:.1} MB, to {} in {:.2}s",
                s.rows,
                s.dirty_rows,
                s.files.len(),
                s.bytes as f64 / 1e6,
                out.display(),
                started.elapsed().as_secs_f64()
            );
            for (k, v) in &s.dirty_by_kind {
                eprintln!("  {k}: {v}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
