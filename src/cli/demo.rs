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
use stockroom_bench::generate;

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

/// Sample batches of each shipped pipeline: (pipeline, file name, content).
const PIPELINE_SAMPLES: &[(&str, &str, &str)] = &[
    (
        "ecommerce",
        "products_2024-03-15.csv",
        include_str!("../../data/ecommerce/products_2024-03-15.csv"),
    ),
    (
        "ecommerce",
        "orders_2024-03-15.csv",
        include_str!("../../data/ecommerce/orders_2024-03-15.csv"),
    ),
    (
        "ecommerce",
        "order_items_2024-03-15.csv",
        include_str!("../../data/ecommerce/order_items_2024-03-15.csv"),
    ),
    (
        "ecommerce",
        "customers_2024-03-15.csv",
        include_str!("../../data/ecommerce/customers_2024-03-15.csv"),
    ),
    (
        "ecommerce",
        "orders_2024-03-15_no_num_of_item.csv",
        include_str!("../../data/ecommerce/orders_2024-03-15_no_num_of_item.csv"),
    ),
    (
        "inventory",
        "inventory_2024-03-01T00.jsonl",
        include_str!("../../data/inventory/inventory_2024-03-01T00.jsonl"),
    ),
    (
        "inventory",
        "inventory_2024-03-01T01.jsonl",
        include_str!("../../data/inventory/inventory_2024-03-01T01.jsonl"),
    ),
    (
        "inventory",
        "inventory_2024-03-01T02_empty.jsonl",
        include_str!("../../data/inventory/inventory_2024-03-01T02_empty.jsonl"),
    ),
    (
        "inventory",
        "inventory_2024-03-01T03_no_timestamps.jsonl",
        include_str!("../../data/inventory/inventory_2024-03-01T03_no_timestamps.jsonl"),
    ),
    (
        "pos",
        "pos_2024-03-01.csv",
        include_str!("../../data/pos/pos_2024-03-01.csv"),
    ),
    (
        "pos",
        "pos_2024-03-02.csv",
        include_str!("../../data/pos/pos_2024-03-02.csv"),
    ),
    (
        "pos",
        "pos_2024-03-03_header_only.csv",
        include_str!("../../data/pos/pos_2024-03-03_header_only.csv"),
    ),
    (
        "pos",
        "pos_2024-03-03_no_revenue.csv",
        include_str!("../../data/pos/pos_2024-03-03_no_revenue.csv"),
    ),
];

/// The stream's sample session: the original system's audit (initial table, then six events),
/// then one line of each bad kind.
const STREAM_SAMPLES: &[(&str, &str)] = &[
    (
        "01_audit_initial.jsonl",
        include_str!("../../data/inventory-events/01_audit_initial.jsonl"),
    ),
    (
        "02_audit_events.jsonl",
        include_str!("../../data/inventory-events/02_audit_events.jsonl"),
    ),
    (
        "03_bad_events.jsonl",
        include_str!("../../data/inventory-events/03_bad_events.jsonl"),
    ),
];

/// `stream inventory-events` over the sample session (one micro-batch per event for the
/// audit, so the change feed shows each step).
async fn stream_samples(exec: &Executor) -> anyhow::Result<()> {
    println!("\n== stream inventory-events: the original system's audit session, then bad events");
    let dir = exec.warehouse().landing_dir(stockroom::stream::PIPELINE);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (i, (file, content)) in STREAM_SAMPLES.iter().enumerate() {
        let path = dir.join(file);
        std::fs::write(&path, content)
            .with_context(|| format!("cannot write {}", path.display()))?;
        let opts = stockroom::stream::StreamOptions {
            input: stockroom::stream::Input::File(path),
            batch_size: if i == 1 { 1 } else { 50_000 },
            ..Default::default()
        };
        let s = stockroom::stream::run(exec, &opts, std::future::pending(), None).await?;
        println!("{}", s.report());
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Warehouse for the demo (default: the global --warehouse).
    #[arg(long = "into")]
    pub warehouse_override: Option<PathBuf>,
}

pub async fn run(exec: Executor, _args: DemoArgs) -> anyhow::Result<ExitCode> {
    if stockroom::storage::is_object(exec.warehouse().root()) {
        anyhow::bail!(
            "demo writes its sample files into a local warehouse: give --into a directory \
             (then `pipeline run` works on a bucket warehouse alike)"
        );
    }
    // 1. Every shipped pipeline on its sample batch.
    let pipelines = stockroom::pipeline::load_all(None)?;
    for (name, p) in &pipelines {
        let landing = exec.warehouse().landing_dir(name);
        std::fs::create_dir_all(&landing)
            .with_context(|| format!("cannot create {}", landing.display()))?;
        for (_, file, content) in PIPELINE_SAMPLES.iter().filter(|(n, _, _)| n == name) {
            std::fs::write(landing.join(file), content)
                .with_context(|| format!("cannot write {}", landing.join(file).display()))?;
        }
        if name == "inventory-ops" {
            // 36 files: generated with the spec of data/inventory-ops/ (a unit test keeps the
            // two byte-identical) instead of embedding each one.
            generate::generate_inventory_ops(&landing, &generate::inventory_ops::sample_spec())?;
        }
        println!("\n== pipeline {name}: {}", p.manifest.description);
        match stockroom::pipeline::run(&exec, p, &Default::default()).await {
            Ok(Some(s)) => super::pipeline::print_summary(&s, false)?,
            Ok(None) => println!("(no files)"),
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(1));
            }
        }
    }
    if let Err(e) = stream_samples(&exec).await {
        eprintln!("error: {e:#}");
        return Ok(ExitCode::from(1));
    }
    let digest = [
        (
            "rejects by reason",
            "SELECT pipeline, r AS reason, count(*) AS records FROM (SELECT pipeline, unnest(reasons) AS r FROM rejects) GROUP BY pipeline, r ORDER BY pipeline, records DESC, reason",
        ),
        (
            "inventory audit: the change feed of product_inventory after the initial load",
            "SELECT _commit_version AS version, _change_type, product_id, product_name, quantity, timestamp FROM table_changes('product_inventory', 2, 7) ORDER BY version, product_id, _change_type DESC",
        ),
        (
            "pos KPIs",
            "SELECT * FROM pos_daily_product_sales ORDER BY date, product_id",
        ),
        (
            "inventory-ops low-stock alerts",
            "SELECT sku, warehouse_id, as_of_date, available, reorder_point, round(days_of_cover, 1) AS days_of_cover, stockout_risk, recommended_order_qty FROM low_stock_alerts ORDER BY stockout_risk, sku",
        ),
        (
            "inventory-ops data quality",
            "SELECT \"check\", failed_rows, status FROM dq_results ORDER BY status, \"check\"",
        ),
    ];
    for (title, sql) in digest {
        println!("\n{title}");
        match exec.execute(sql).await {
            Ok(o) => print::outcome(
                &mut std::io::stdout().lock(),
                &o,
                Format::Table,
                &TableStyle::default(),
            )?,
            Err(e) => eprintln!("error: {e}"),
        }
    }

    // 2. The SQL tour.
    println!("\n== SQL tour (sql/tour/tour.sql)");
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
    // Beside the warehouse directory (inside it only when it is a file system root).
    let root_dir = exec.warehouse().root();
    let report = match root_dir.parent() {
        Some(p) if p.as_os_str().is_empty() => PathBuf::from("report.html"),
        Some(p) => p.join("report.html"),
        None => root_dir.join("report.html"),
    };
    match super::report::write_html(&exec, &Default::default(), &report).await {
        Ok(()) => println!(
            "\nReport with charts (open it in a browser): {}",
            report.display()
        ),
        Err(e) => eprintln!("error: report: {e:#}"),
    }
    let root = exec.warehouse().root().display().to_string();
    println!(
        "\nTables written under {root}/tables. Explore them:\n  cargo run -- --warehouse {root}            # the SQL shell\n  cargo run -- --warehouse {root} query \"DESCRIBE HISTORY sales\""
    );
    Ok(ExitCode::SUCCESS)
}
