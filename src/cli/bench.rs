//! `stockroom bench …`: the performance targets, measured on the real code paths. Run them
//! from a release build (`cargo run --release -- bench …`); the README records the numbers.
//! Nothing here asserts a time: it measures and prints.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Subcommand};
use stockroom::Executor;
use stockroom::session::SessionOptions;
use stockroom::warehouse::Warehouse;
use stockroom_bench::generate::{
    EcommerceSpec, GenerateSummary, InventoryOpsSpec, InventorySpec, PosSpec, generate_ecommerce,
    generate_inventory, generate_inventory_ops, generate_pos,
};
use stockroom_bench::stats::{peak_rss_mb, percentile};

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
    /// Pipeline benchmarks: run the pipeline this many times on the same files (each repeat in a
    /// fresh warehouse `bench-repeat-N` inside this one) and report the median and the spread.
    #[arg(long, global = true, default_value_t = 1)]
    pub repeat: usize,
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
    /// Point KPI lookups (`order_kpis` for one date) through `stockroom serve` with concurrent
    /// pgbench clients, then the same query through `stockroom query` processes.
    Serve {
        #[arg(long, default_value_t = 16)]
        clients: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Scale of the ecommerce data generated when `order_kpis` does not exist yet.
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
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
    /// One pipeline at scales 1, 10, 100 (`--scales`), each run a child process: wall time,
    /// records/s and peak RSS per scale, and an SVG chart of both against the input size.
    /// `--memory-limit` is passed on to every run.
    Scale(super::bench_scale::ScaleBenchArgs),
    /// `stream inventory-events`: events/s from a file, write→visible latency at a steady
    /// rate with --follow, read time after many micro-batches.
    Stream(super::bench_stream::StreamBenchArgs),
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

/// Plain read of the generated files (the floor), then `repeat` pipeline runs over them.
async fn run_pipeline_bench(
    exec: &Executor,
    name: &str,
    g: &GenerateSummary,
    repeat: usize,
    opts: &SessionOptions,
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
    // The first run archives the files: later repeats get copies, in warehouses of their own.
    let root = exec.warehouse().root().to_path_buf();
    let mut repeats = Vec::new();
    for i in 1..repeat {
        let dir = root.join(format!("bench-repeat-{i}"));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        let wh = Warehouse::open(&dir)?;
        let landing = wh.landing_dir(name);
        std::fs::create_dir_all(&landing)?;
        for f in &g.files {
            if let Some(file_name) = f.file_name() {
                std::fs::copy(f, landing.join(file_name))?;
            }
        }
        repeats.push(wh);
    }
    let mut times = Vec::new();
    for i in 0..repeat {
        // A fresh session per repeat, dropped after its run.
        let fresh;
        let e = match i.checked_sub(1) {
            None => exec,
            Some(r) => {
                fresh = Executor::new(repeats[r].clone(), opts)?;
                &fresh
            }
        };
        // Peak RSS of this run: generating the files happened in this process too. (Linux:
        // writing 5 to clear_refs resets VmHWM; elsewhere the peak includes the generator.)
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let t = Instant::now();
        let s = stockroom::pipeline::run(e, &pipelines[name], &Default::default())
            .await?
            .ok_or_else(|| anyhow::anyhow!("no files generated"))?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "pipeline run {name} ({}/{repeat}): {} rows read ({} valid, {} rejected) in {secs:.2}s = {:.0} rows/s; peak RSS {:.0} MB",
            i + 1,
            s.totals.rows_read,
            s.totals.rows_valid,
            s.totals.rows_rejected,
            s.totals.rows_read as f64 / secs,
            peak_rss_mb()
        );
        times.push(secs);
    }
    if times.len() > 1 {
        times.sort_by(f64::total_cmp);
        let mid = times.len() / 2;
        let median = if times.len() % 2 == 0 {
            (times[mid - 1] + times[mid]) / 2.0
        } else {
            times[mid]
        };
        println!(
            "pipeline run {name}: median {median:.2}s, min {:.2}s, max {:.2}s over {} runs \
             (peak RSS is exact for the first run only: memory of earlier runs stays in the process)",
            times[0],
            times[times.len() - 1],
            times.len()
        );
    }
    Ok(())
}

pub async fn run(
    exec: Executor,
    args: BenchArgs,
    warehouse: PathBuf,
    opts: &SessionOptions,
) -> anyhow::Result<ExitCode> {
    let repeat = args.repeat.max(1);
    if stockroom::storage::is_object(exec.warehouse().root()) {
        anyhow::bail!(
            "bench generates its input into a local warehouse: give --warehouse a directory \
             (README \"Warehouse on S3\" times a bucket warehouse)"
        );
    }
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build; benchmark numbers need `cargo run --release -- bench …`"
        );
    }
    match args.what {
        BenchWhat::Stream(a) => super::bench_stream::run(&warehouse, a).await?,
        BenchWhat::Scale(a) => super::bench_scale::run(&warehouse, &a, opts.memory_limit)?,
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
        BenchWhat::Serve {
            clients,
            seconds,
            scale,
        } => bench_serve(&exec, &warehouse, clients, seconds, scale).await?,
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
            run_pipeline_bench(&exec, "pos", &g, repeat, opts).await?;
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
            run_pipeline_bench(&exec, "inventory", &g, repeat, opts).await?;
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
            run_pipeline_bench(&exec, "inventory-ops", &g, repeat, opts).await?;
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
            run_pipeline_bench(&exec, "ecommerce", &g, repeat, opts).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn report_latencies(what: &str, mut ms: Vec<f64>, seconds: f64, clients: usize) {
    ms.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{what}: {} queries in {seconds:.1}s with {clients} clients = {:.1} queries/s; latency p50 {:.2} ms, p99 {:.2} ms",
        ms.len(),
        ms.len() as f64 / seconds,
        percentile(&ms, 50.0),
        percentile(&ms, 99.0)
    );
}

async fn bench_serve(
    exec: &Executor,
    warehouse: &std::path::Path,
    clients: usize,
    seconds: u64,
    scale: f64,
) -> anyhow::Result<()> {
    use stockroom::serve::{Auth, ServeConfig, Server};

    let clients = clients.max(1);
    if !exec.warehouse().is_table("order_kpis") {
        let landing = exec.warehouse().landing_dir("ecommerce");
        let spec = EcommerceSpec {
            scale,
            seed: 7,
            dirty_ratio: 0.05,
            ..EcommerceSpec::default()
        };
        let t = Instant::now();
        let g = generate_ecommerce(&landing, &spec)?;
        report_generated(&g, t);
        run_pipeline_bench(exec, "ecommerce", &g, 1, &SessionOptions::default()).await?;
    }
    let day = exec
        .query_batches("SELECT CAST(max(order_date) AS VARCHAR) FROM order_kpis")
        .await?;
    let day = day
        .first()
        .filter(|b| b.num_rows() > 0)
        .map(|b| datafusion::arrow::util::display::array_value_to_string(b.column(0), 0))
        .transpose()?
        .filter(|d| !d.is_empty())
        .ok_or_else(|| anyhow::anyhow!("order_kpis is empty"))?;
    let sql = format!("SELECT * FROM order_kpis WHERE order_date = DATE '{day}'");
    println!("query: {sql}");

    let server = Server::bind(ServeConfig {
        listen: "127.0.0.1:0".parse()?,
        warehouse: exec.warehouse().clone(),
        session: stockroom::session::SessionOptions {
            memory_limit: Some(1 << 30),
            target_partitions: None,
        },
        allow_writes: false,
        auth: Auth::None,
        tls: None,
        query_timeout: None,
        max_concurrent_queries: clients,
        shutdown_grace: std::time::Duration::from_secs(5),
        allow_files: Vec::new(),
        allow_plaintext: false,
        max_connections: clients + 4,
        login_timeout: std::time::Duration::from_secs(10),
        max_result_rows: None,
    })
    .await?;
    let port = server.local_addr()?.port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));

    // pgbench: its own client threads, one connection per client, simple protocol.
    let dir = tempfile_dir()?;
    let script = dir.join("point.sql");
    std::fs::write(&script, format!("{sql};\n"))?;
    let prefix = dir.join("pgbench_log");
    let mut cmd = std::process::Command::new("pgbench");
    cmd.args([
        "-n",
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-U",
        "bench",
    ])
    .args([
        "-c",
        &clients.to_string(),
        "-j",
        &clients.min(8).to_string(),
    ])
    .args(["-T", &seconds.to_string(), "-M", "simple", "-l"])
    .arg(format!("--log-prefix={}", prefix.display()))
    .arg("-f")
    .arg(&script)
    .arg("stockroom")
    .current_dir(&dir);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await?
        .map_err(|e| anyhow::anyhow!("cannot run pgbench ({e}); install postgresql-client"))?;
    let _ = stop.send(());
    running.await??;
    if !out.status.success() {
        anyhow::bail!("pgbench failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if line.starts_with("tps") || line.contains("failed") || line.contains("processed") {
            println!("pgbench: {line}");
        }
    }
    // Per-transaction log lines: client_id transaction_no latency_us script_no epoch epoch_us.
    let mut latencies = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("pgbench_log"))
        {
            continue;
        }
        for line in std::fs::read_to_string(&path)?.lines() {
            if let Some(us) = line
                .split_whitespace()
                .nth(2)
                .and_then(|t| t.parse::<f64>().ok())
            {
                latencies.push(us / 1000.0);
            }
        }
    }
    report_latencies(
        "stockroom serve (pgbench)",
        latencies,
        seconds as f64,
        clients,
    );

    // The same query as one `stockroom query` process each, from the same number of clients.
    let exe = std::env::current_exe()?;
    let wh = warehouse.to_path_buf();
    let started = Instant::now();
    let deadline = started + std::time::Duration::from_secs(seconds);
    let per_client: Vec<anyhow::Result<Vec<f64>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                s.spawn(|| -> anyhow::Result<Vec<f64>> {
                    let mut times = Vec::new();
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        let out = std::process::Command::new(&exe)
                            .arg("--warehouse")
                            .arg(&wh)
                            .args(["query", &sql, "--format", "csv"])
                            .output()?;
                        if !out.status.success() {
                            anyhow::bail!(
                                "stockroom query failed: {}",
                                String::from_utf8_lossy(&out.stderr)
                            );
                        }
                        times.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    Ok(times)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("client thread panicked")))
            })
            .collect()
    });
    let mut times = Vec::new();
    for r in per_client {
        times.extend(r?);
    }
    report_latencies(
        "stockroom query (one process per query)",
        times,
        started.elapsed().as_secs_f64(),
        clients,
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A fresh directory for pgbench's script and logs.
fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("stockroom-bench-serve-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
