//! `stockroom bench …`: the performance targets, measured on the real code paths. Run them
//! from a release build (`cargo run --release -- bench …`); the README records the numbers.
//! Nothing here asserts a time: it measures and prints.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Subcommand};
use stockroom::Executor;
use stockroom::generate::{
    EcommerceSpec, GenerateSummary, InventoryOpsSpec, InventorySpec, PosSpec, generate_ecommerce,
    generate_inventory, generate_inventory_ops, generate_pos,
};

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
}

#[derive(Debug, Subcommand)]
pub enum BenchWhat {
    /// MERGE a source into a date-partitioned table (half updates, half inserts, 10% of partitions).
    Merge {
        #[arg(long, default_value_t = 10_000_000)]
        target_rows: u64,
        #[arg(long, default_value_t = 1_000_000)]
        source_rows: u64,
        #[arg(long, default_value_t = 100)]
        partitions: u64,
    },
    /// Time from launching `stockroom query` to its first row, on a warehouse of N tables.
    Startup {
        #[arg(long, default_value_t = 200)]
        tables: usize,
        #[arg(long, default_value_t = 20)]
        runs: usize,
    },
    /// `generate inventory` then one `pipeline run inventory`.
    Inventory {
        #[arg(long, default_value_t = 5_000_000)]
        lines: u64,
        #[arg(long, default_value_t = 0.05)]
        dirty_ratio: f64,
    },
    /// `generate ecommerce --scale S` then one `pipeline run ecommerce`.
    Ecommerce {
        #[arg(long, default_value_t = 10.0)]
        scale: f64,
        #[arg(long, default_value_t = 0.05)]
        dirty_ratio: f64,
    },
    /// `generate inventory-ops` (default 10k skus x 5 warehouses x 90 days, ~5M events) then
    /// one `pipeline run inventory-ops`: wall time and peak memory.
    #[command(name = "inventory-ops")]
    InventoryOps {
        #[arg(long, default_value_t = 10_000)]
        skus: u64,
        #[arg(long, default_value_t = 5)]
        warehouses: u64,
        #[arg(long, default_value_t = 90)]
        days: u32,
        #[arg(long, default_value_t = 1.1)]
        events_per_pair_day: f64,
        #[arg(long, default_value_t = 0.001)]
        dirty_ratio: f64,
    },
    /// `generate pos` then one `pipeline run pos`: rows/s and peak memory.
    Pos {
        #[arg(long, default_value_t = 5_000_000)]
        rows: u64,
        #[arg(long, default_value_t = 0.05)]
        dirty_ratio: f64,
        #[arg(long, default_value_t = 10)]
        files: usize,
    },
    /// `stream inventory-events`: events/s from a file, write→visible latency at a steady
    /// rate with --follow, read time after many micro-batches.
    Stream(super::bench_stream::StreamBenchArgs),
}

/// Peak resident memory of this process so far (VmHWM), in MB.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

async fn exec_ok(exec: &Executor, sql: &str) -> anyhow::Result<f64> {
    let t = Instant::now();
    exec.execute(sql).await?;
    Ok(t.elapsed().as_secs_f64())
}

fn report_generated(g: &GenerateSummary, started: Instant) {
    println!(
        "generated {} rows ({} dirty), {:.0} MB in {:.2}s",
        g.rows,
        g.dirty_rows,
        g.bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
}

/// Plain read of the generated files (the floor), then one pipeline run over them.
async fn run_pipeline_bench(
    exec: &Executor,
    name: &str,
    g: &GenerateSummary,
) -> anyhow::Result<()> {
    let t = Instant::now();
    let mut bytes = 0u64;
    for f in &g.files {
        bytes += std::fs::read(f)?.len() as u64;
    }
    let read_secs = t.elapsed().as_secs_f64();
    println!(
        "plain read of the files: {read_secs:.3}s ({:.0} MB/s)",
        bytes as f64 / 1e6 / read_secs
    );
    let pipelines = stockroom::pipeline::load_all(None)?;
    let t = Instant::now();
    let s = stockroom::pipeline::run(exec, &pipelines[name], &Default::default())
        .await?
        .ok_or_else(|| anyhow::anyhow!("no files generated"))?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "pipeline run {name}: {} rows read ({} valid, {} rejected) in {secs:.2}s = {:.0} rows/s; peak RSS {:.0} MB",
        s.totals.rows_read,
        s.totals.rows_valid,
        s.totals.rows_rejected,
        s.totals.rows_read as f64 / secs,
        peak_rss_mb()
    );
    Ok(())
}

pub async fn run(exec: Executor, args: BenchArgs, warehouse: PathBuf) -> anyhow::Result<ExitCode> {
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build; benchmark numbers need `cargo run --release -- bench …`"
        );
    }
    match args.what {
        BenchWhat::Stream(a) => super::bench_stream::run(&warehouse, a).await?,
        BenchWhat::Merge {
            target_rows,
            source_rows,
            partitions,
        } => {
            let touched = (partitions / 10).max(1);
            let half = source_rows / 2;
            let setup = exec_ok(
                &exec,
                &format!(
                    "CREATE OR REPLACE TABLE bench_target PARTITIONED BY (date) AS \
                     SELECT value AS id, DATE '2024-01-01' + CAST(value % {partitions} AS INT) AS date, \
                            value % 1000 AS store_id, CAST(value % 997 AS DOUBLE) * 1.5 AS amount \
                     FROM generate_series(0, {}) AS t(value)",
                    target_rows - 1
                ),
            )
            .await?;
            println!("setup: {target_rows} rows in {partitions} partitions written in {setup:.2}s");
            // Updates: existing ids whose partition is among the first `touched`; inserts: new
            // ids in the same partitions.
            exec_ok(
                &exec,
                &format!(
                    "CREATE TEMP TABLE bench_source AS \
                     SELECT * FROM (SELECT id, date, store_id, amount + 1 AS amount FROM bench_target \
                     WHERE date < DATE '2024-01-01' + {touched} LIMIT {half}) \
                     UNION ALL \
                     SELECT {target_rows} + value AS id, DATE '2024-01-01' + CAST(value % {touched} AS INT) AS date, \
                            value % 1000 AS store_id, 1.0 AS amount \
                     FROM generate_series(0, {}) AS t(value)",
                    source_rows - half - 1
                ),
            )
            .await?;
            let t = Instant::now();
            let out = exec
                .execute(
                    "MERGE INTO bench_target AS t USING bench_source AS s \
                     ON t.id = s.id AND t.date = s.date \
                     WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *",
                )
                .await?;
            let secs = t.elapsed().as_secs_f64();
            if let stockroom::Outcome::Write(r) = out {
                println!("{r}");
            }
            println!(
                "MERGE {source_rows} source rows into {target_rows}: {secs:.2}s, {:.0} source rows/s, peak RSS {:.0} MB",
                source_rows as f64 / secs,
                peak_rss_mb()
            );
        }
        BenchWhat::Startup { tables, runs } => {
            let existing = exec.warehouse().table_names().len();
            for i in existing..tables {
                exec.execute(&format!(
                    "CREATE TABLE t_{i:03} AS SELECT {i} AS id, 'x' AS v"
                ))
                .await?;
            }
            let exe = std::env::current_exe()?;
            // The shell with empty input: start, open the catalog and session, read stdin,
            // exit — launch-to-ready without a terminal.
            let mut shell_times = Vec::new();
            for _ in 0..runs {
                let t = Instant::now();
                let out = std::process::Command::new(&exe)
                    .arg("--warehouse")
                    .arg(&warehouse)
                    .stdin(std::process::Stdio::null())
                    .output()?;
                if !out.status.success() {
                    anyhow::bail!("shell failed: {}", String::from_utf8_lossy(&out.stderr));
                }
                shell_times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            shell_times.sort_by(|a, b| a.total_cmp(b));
            println!(
                "shell launch to ready (empty stdin) on {tables} tables over {runs} runs: median {:.1} ms, min {:.1} ms",
                shell_times[shell_times.len() / 2],
                shell_times[0]
            );
            let mut times = Vec::new();
            for _ in 0..runs {
                let t = Instant::now();
                let out = std::process::Command::new(&exe)
                    .arg("--warehouse")
                    .arg(&warehouse)
                    .args(["query", "SELECT * FROM t_000 LIMIT 1", "--format", "csv"])
                    .output()?;
                if !out.status.success() {
                    anyhow::bail!("query failed: {}", String::from_utf8_lossy(&out.stderr));
                }
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            times.sort_by(|a, b| a.total_cmp(b));
            println!(
                "query start-up to first row on {tables} tables over {runs} runs: median {:.1} ms, p90 {:.1} ms, min {:.1} ms",
                times[times.len() / 2],
                times[(times.len() * 9 / 10).min(times.len() - 1)],
                times[0]
            );
        }
        BenchWhat::Pos {
            rows,
            dirty_ratio,
            files,
        } => {
            let landing = exec.warehouse().landing_dir("pos");
            let spec = PosSpec {
                rows,
                seed: 7,
                dirty_ratio,
                files,
                ..PosSpec::default()
            };
            let t = Instant::now();
            let g = generate_pos(&landing, &spec)?;
            report_generated(&g, t);
            run_pipeline_bench(&exec, "pos", &g).await?;
        }
        BenchWhat::Inventory { lines, dirty_ratio } => {
            let landing = exec.warehouse().landing_dir("inventory");
            let spec = InventorySpec {
                lines,
                seed: 7,
                dirty_ratio,
                ..InventorySpec::default()
            };
            let t = Instant::now();
            let g = generate_inventory(&landing, &spec)?;
            report_generated(&g, t);
            run_pipeline_bench(&exec, "inventory", &g).await?;
        }
        BenchWhat::InventoryOps {
            skus,
            warehouses,
            days,
            events_per_pair_day,
            dirty_ratio,
        } => {
            let landing = exec.warehouse().landing_dir("inventory-ops");
            let spec = InventoryOpsSpec {
                skus,
                warehouses,
                days,
                events_per_pair_day,
                dirty_ratio,
                seed: 7,
                ..InventoryOpsSpec::default()
            };
            let t = Instant::now();
            let g = generate_inventory_ops(&landing, &spec)?;
            report_generated(&g, t);
            run_pipeline_bench(&exec, "inventory-ops", &g).await?;
        }
        BenchWhat::Ecommerce { scale, dirty_ratio } => {
            let landing = exec.warehouse().landing_dir("ecommerce");
            let spec = EcommerceSpec {
                scale,
                seed: 7,
                dirty_ratio,
                ..EcommerceSpec::default()
            };
            let t = Instant::now();
            let g = generate_ecommerce(&landing, &spec)?;
            report_generated(&g, t);
            run_pipeline_bench(&exec, "ecommerce", &g).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
