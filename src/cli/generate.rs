//! `stockroom generate pos --out DIR --rows N --seed S --dirty-ratio R [--files F]`,
//! `stockroom generate inventory --out DIR --lines N [--files F --hours H --start DATE --skus K
//! --warehouses W]` and `stockroom generate ecommerce --out DIR --scale X [--files-per-type F]`
//! (both also with `--seed` and `--dirty-ratio`), and `stockroom generate inventory-events
//! [--count N] [--rate R] [--seed S] [--invalid-ratio X] [--out FILE]` (JSON lines to stdout by
//! default, for `| stockroom stream inventory-events`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use chrono::NaiveDate;
use clap::{Args, Subcommand};
use stockroom_bench::generate::{
    EcommerceSpec, GenerateSummary, InventoryEventsSpec, InventoryOpsSpec, InventorySpec, PosSpec,
    generate_ecommerce, generate_inventory, generate_inventory_ops, generate_pos, write_events,
};

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
    /// Hourly inventory JSON-lines batches for the `inventory` pipeline.
    Inventory {
        /// Output directory (e.g. a warehouse's landing/inventory).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        lines: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Share of lines with exactly one defect (0..1).
        #[arg(long, default_value_t = 0.0)]
        dirty_ratio: f64,
        /// Number of files (default: one per hour).
        #[arg(long)]
        files: Option<usize>,
        /// First day of the readings (00:00 UTC).
        #[arg(long, default_value = "2024-03-01")]
        start: NaiveDate,
        /// Hours the readings cover.
        #[arg(long, default_value_t = 24)]
        hours: u32,
        /// Catalogue size (inventory_id 1..=skus).
        #[arg(long, default_value_t = 10_000)]
        skus: u64,
        #[arg(long, default_value_t = 5)]
        warehouses: u64,
    },
    /// Products, orders and order items CSV batches for the `ecommerce` pipeline.
    Ecommerce {
        /// Output directory (e.g. a warehouse's landing/ecommerce).
        #[arg(long)]
        out: PathBuf,
        /// 1.0 = 100 000 orders, ~250 000 order items, 10 000 products.
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Share of rows with exactly one defect (0..1).
        #[arg(long, default_value_t = 0.0)]
        dirty_ratio: f64,
        #[arg(long, default_value_t = 1)]
        files_per_type: usize,
    },
    /// Real-time product events (JSON lines) for `stream inventory-events`, like the original
    /// mock generator. Writes to stdout unless --out is given.
    InventoryEvents {
        /// Number of events (default: endless with --rate, else 10 000).
        #[arg(long)]
        count: Option<u64>,
        /// Events per second (default: as fast as possible).
        #[arg(long)]
        rate: Option<f64>,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Share of invalid lines, each with one defect (0..1).
        #[arg(long, default_value_t = 0.0)]
        invalid_ratio: f64,
        /// Write to this file (appending) instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Stock levels (CSV) and daily transactions (JSONL) for the `inventory-ops` pipeline.
    #[command(name = "inventory-ops")]
    InventoryOps {
        /// Output directory (e.g. a warehouse's landing/inventory-ops).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 100)]
        skus: u64,
        #[arg(long, default_value_t = 2)]
        warehouses: u64,
        /// Days of transactions (one file per day).
        #[arg(long, default_value_t = 35)]
        days: u32,
        /// The snapshot's day and the first day of transactions.
        #[arg(long, default_value = "2024-03-01")]
        start: NaiveDate,
        /// Average events per (sku, warehouse) and day.
        #[arg(long, default_value_t = 1.1)]
        events_per_pair_day: f64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Share of events with one defect (0..1); above 0, every kind occurs at least once.
        #[arg(long, default_value_t = 0.0)]
        dirty_ratio: f64,
    },
}

fn check_ratio(dirty_ratio: f64) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&dirty_ratio) {
        anyhow::bail!("--dirty-ratio {dirty_ratio}: expected a share between 0 and 1");
    }
    Ok(())
}

fn report(s: &GenerateSummary, what: &str, out: &std::path::Path, started: Instant) {
    eprintln!(
        "wrote {} {what} ({} dirty) in {} file(s), {:.1} MB, to {} in {:.2}s",
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
}

fn inventory_events(
    count: Option<u64>,
    rate: Option<f64>,
    seed: u64,
    invalid_ratio: f64,
    out: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    if !(0.0..=1.0).contains(&invalid_ratio) {
        anyhow::bail!("--invalid-ratio {invalid_ratio}: expected a share between 0 and 1");
    }
    if rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        anyhow::bail!("--rate: expected a positive number of events per second");
    }
    let spec = InventoryEventsSpec {
        count: count.or(if rate.is_some() { None } else { Some(10_000) }),
        rate,
        seed,
        invalid_ratio,
        ..Default::default()
    };
    let started = Instant::now();
    let (s, result) = match &out {
        Some(path) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
            let mut w = std::io::BufWriter::with_capacity(1 << 16, f);
            write_events(&mut w, &spec)
        }
        None => {
            let mut w = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
            write_events(&mut w, &spec)
        }
    };
    match result {
        Ok(()) => {}
        // The reader went away (e.g. the stream was stopped): a normal end for a pipe.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => return Err(anyhow::anyhow!("writing events: {e}")),
    }
    eprintln!(
        "wrote {} events ({} invalid), {:.1} MB, to {} in {:.2}s",
        s.lines,
        s.invalid,
        s.bytes as f64 / 1e6,
        out.as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "stdout".into()),
        started.elapsed().as_secs_f64()
    );
    for (k, v) in &s.invalid_by_kind {
        eprintln!("  {k}: {v}");
    }
    Ok(ExitCode::SUCCESS)
}

impl GenerateWhat {
    /// Where the files go (`None`: stdout).
    fn out(&self) -> Option<&std::path::Path> {
        match self {
            GenerateWhat::Pos { out, .. }
            | GenerateWhat::Inventory { out, .. }
            | GenerateWhat::Ecommerce { out, .. }
            | GenerateWhat::InventoryOps { out, .. } => Some(out),
            GenerateWhat::InventoryEvents { out, .. } => out.as_deref(),
        }
    }
}

pub fn run(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    if let Some(out) = args.what.out()
        && stockroom::storage::is_url(out)
    {
        anyhow::bail!(
            "--out {}: generate writes local files; generate into a directory, then copy the \
             files to the bucket's landing/<pipeline>/ prefix",
            out.display()
        );
    }
    match args.what {
        GenerateWhat::InventoryEvents {
            count,
            rate,
            seed,
            invalid_ratio,
            out,
        } => inventory_events(count, rate, seed, invalid_ratio, out),
        GenerateWhat::InventoryOps {
            out,
            skus,
            warehouses,
            days,
            start,
            events_per_pair_day,
            seed,
            dirty_ratio,
        } => {
            check_ratio(dirty_ratio)?;
            let started = Instant::now();
            let spec = InventoryOpsSpec {
                skus,
                warehouses,
                days,
                start,
                events_per_pair_day,
                seed,
                dirty_ratio,
            };
            let s = generate_inventory_ops(&out, &spec)?;
            report(&s, "rows", &out, started);
            Ok(ExitCode::SUCCESS)
        }
        GenerateWhat::Pos {
            out,
            rows,
            seed,
            dirty_ratio,
            files,
        } => {
            check_ratio(dirty_ratio)?;
            let started = Instant::now();
            let spec = PosSpec {
                rows,
                seed,
                dirty_ratio,
                files: files.max(1),
                ..PosSpec::default()
            };
            let s = generate_pos(&out, &spec)?;
            report(&s, "rows", &out, started);
            Ok(ExitCode::SUCCESS)
        }
        GenerateWhat::Inventory {
            out,
            lines,
            seed,
            dirty_ratio,
            files,
            start,
            hours,
            skus,
            warehouses,
        } => {
            check_ratio(dirty_ratio)?;
            let started = Instant::now();
            let spec = InventorySpec {
                lines,
                seed,
                dirty_ratio,
                files: files.unwrap_or(hours as usize).max(1),
                start,
                hours,
                skus,
                warehouses,
            };
            let s = generate_inventory(&out, &spec)?;
            report(&s, "lines", &out, started);
            Ok(ExitCode::SUCCESS)
        }
        GenerateWhat::Ecommerce {
            out,
            scale,
            seed,
            dirty_ratio,
            files_per_type,
        } => {
            check_ratio(dirty_ratio)?;
            let started = Instant::now();
            let spec = EcommerceSpec {
                scale,
                seed,
                dirty_ratio,
                files_per_type: files_per_type.max(1),
            };
            let s = generate_ecommerce(&out, &spec)?;
            report(&s, "rows", &out, started);
            Ok(ExitCode::SUCCESS)
        }
    }
}
