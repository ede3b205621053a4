//! `stockroom bench scale`: one pipeline at growing input sizes (scales 1, 10, 100 by
//! default). Each run is a child process of this binary on a fresh warehouse, so its wall
//! time and peak RSS are its own (the kernel's `ru_maxrss` of that child, from `wait4`) and
//! not the generator's. Prints a table and writes an SVG chart of time and peak RSS against
//! the input size.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use clap::Args;
use stockroom::chart::{Chart, Kind, Series, svg};
use stockroom_bench::generate::{
    EcommerceSpec, GenerateSummary, InventoryOpsSpec, PosSpec, generate_ecommerce,
    generate_inventory_ops, generate_pos,
};

#[derive(Debug, Args)]
pub struct ScaleBenchArgs {
    /// ecommerce (scale 1 ≈ 360 000 records, 32 MB), pos (1 = 500 000 rows, 24 MB) or
    /// inventory-ops (1 ≈ 158 000 events, 32 MB: 2 000 skus; 32 ≈ 5 M events).
    #[arg(long, default_value = "ecommerce")]
    pub pipeline: String,
    /// The scales to run, in order.
    #[arg(long, value_delimiter = ',', default_value = "1,10,100")]
    pub scales: Vec<f64>,
    /// Where the chart is written.
    #[arg(long, default_value = "bench-scale.svg")]
    pub chart: PathBuf,
}

/// One scale's measurements.
struct Point {
    scale: f64,
    records: u64,
    input_mb: f64,
    seconds: f64,
    peak_rss_mb: f64,
}

/// Runs the scales under `root` (a directory of its own per scale, removed after its run);
/// `memory_limit` (bytes) is handed to every run as `--memory-limit`.
pub fn run(root: &Path, args: &ScaleBenchArgs, memory_limit: Option<usize>) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let mut points = Vec::new();
    println!(
        "{:>7} {:>12} {:>10} {:>10} {:>12} {:>12}",
        "scale", "records", "input MB", "seconds", "records/s", "peak RSS MB"
    );
    for &scale in &args.scales {
        let dir = root.join(format!("bench-scale-{}-{scale}", args.pipeline));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        let landing = dir.join("landing").join(&args.pipeline);
        let g = generate(&args.pipeline, scale, &landing)?;
        let mut cmd = Command::new(&exe);
        cmd.arg("--warehouse").arg(&dir);
        if let Some(limit) = memory_limit {
            cmd.args(["--memory-limit", &limit.to_string()]);
        }
        cmd.args(["pipeline", "run", &args.pipeline, "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let started = Instant::now();
        let mut child = cmd.spawn()?;
        let mut out = String::new();
        if let Some(mut o) = child.stdout.take() {
            o.read_to_string(&mut out)?;
        }
        let (ok, peak_kb) = wait_with_peak_rss(&mut child)?;
        let seconds = started.elapsed().as_secs_f64();
        if !ok {
            anyhow::bail!(
                "pipeline run {} at scale {scale} failed (run it by hand: stockroom --warehouse {} pipeline run {})",
                args.pipeline,
                dir.display(),
                args.pipeline
            );
        }
        let p = Point {
            scale,
            records: g.rows,
            input_mb: g.bytes as f64 / 1e6,
            seconds,
            peak_rss_mb: peak_kb as f64 / 1024.0,
        };
        println!(
            "{:>7} {:>12} {:>10.0} {:>10.2} {:>12.0} {:>12.0}",
            p.scale,
            p.records,
            p.input_mb,
            p.seconds,
            p.records as f64 / p.seconds,
            p.peak_rss_mb
        );
        points.push(p);
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::write(&args.chart, chart_svg(&args.pipeline, &points))?;
    println!("chart: {}", args.chart.display());
    Ok(())
}

fn generate(pipeline: &str, scale: f64, landing: &Path) -> anyhow::Result<GenerateSummary> {
    Ok(match pipeline {
        "ecommerce" => generate_ecommerce(
            landing,
            &EcommerceSpec {
                scale,
                seed: 7,
                dirty_ratio: 0.05,
                ..EcommerceSpec::default()
            },
        )?,
        "pos" => generate_pos(
            landing,
            &PosSpec {
                rows: (500_000.0 * scale) as u64,
                dirty_ratio: 0.05,
                files: 10,
                ..PosSpec::default()
            },
        )?,
        "inventory-ops" => generate_inventory_ops(
            landing,
            &InventoryOpsSpec {
                skus: ((2_000.0 * scale) as u64).max(1),
                ..InventoryOpsSpec::default()
            },
        )?,
        other => {
            anyhow::bail!("bench scale: no generator for '{other}' (ecommerce, pos, inventory-ops)")
        }
    })
}

/// Waits for `child` and returns whether it succeeded and its peak resident set in KiB.
#[cfg(unix)]
fn wait_with_peak_rss(child: &mut std::process::Child) -> anyhow::Result<(bool, i64)> {
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain old data that wait4 fills; the pid is our own child, reaped
    // here exactly once (the `Child` is not waited on afterwards).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if r < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    Ok((ok, usage.ru_maxrss))
}

#[cfg(not(unix))]
fn wait_with_peak_rss(child: &mut std::process::Child) -> anyhow::Result<(bool, i64)> {
    Ok((child.wait()?.success(), 0))
}

/// Two charts, one above the other in one SVG: wall time and peak RSS per input size.
fn chart_svg(pipeline: &str, points: &[Point]) -> String {
    let x: Vec<String> = points
        .iter()
        .map(|p| format!("{:.0} MB (scale {})", p.input_mb, p.scale))
        .collect();
    let mut time = Chart::new(
        "scale-time",
        &format!("{pipeline}: wall time by input size"),
        Kind::Line,
        "input",
        "seconds",
    );
    time.x = x.clone();
    time.series = vec![Series {
        name: "wall time (s)".into(),
        values: points.iter().map(|p| Some(p.seconds)).collect(),
    }];
    let mut rss = Chart::new(
        "scale-rss",
        &format!("{pipeline}: peak RSS by input size"),
        Kind::Line,
        "input",
        "MB",
    );
    rss.x = x;
    rss.series = vec![Series {
        name: "peak RSS (MB)".into(),
        values: points.iter().map(|p| Some(p.peak_rss_mb)).collect(),
    }];
    // Each chart is a complete <svg> element; nested ones stack with a y offset.
    let (a, b) = (svg::render(&time), svg::render(&rss));
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 1100 760\" width=\"1100\" height=\"760\">\n<svg y=\"0\" width=\"1100\" height=\"380\">{}</svg>\n<svg y=\"380\" width=\"1100\" height=\"380\">{}</svg>\n</svg>\n",
        a, b
    )
}
