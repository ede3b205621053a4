//! `stockroom report`, `demo`'s report.html and the shell's `\chart`: the values behind
//! every chart equal SQL run independently over the same tables, and the page loads
//! nothing from the network.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::common::{Wh, assert_success, drop_sample, rows, run_ok, run_pipeline};

/// The JSON data block of every chart in the page, by chart id.
fn chart_data(html: &str) -> BTreeMap<String, Value> {
    let open = "<script type=\"application/json\" id=\"data-";
    let mut out = BTreeMap::new();
    let mut rest = html;
    while let Some(i) = rest.find(open) {
        let after = &rest[i + open.len()..];
        let id_end = after.find('"').expect("id end");
        let body_start = after.find('>').expect("tag end") + 1;
        let body_end = after.find("</script>").expect("script end");
        let v: Value = serde_json::from_str(&after[body_start..body_end]).expect("chart JSON");
        assert_eq!(v["id"], after[..id_end], "data block and chart id agree");
        out.insert(after[..id_end].to_string(), v);
        rest = &after[body_end..];
    }
    out
}

/// A chart's points as (x, series) → value.
fn points(chart: &Value) -> BTreeMap<(String, String), f64> {
    let xs: Vec<String> = chart["x"]
        .as_array()
        .expect("x")
        .iter()
        .map(|x| x.as_str().expect("x text").to_string())
        .collect();
    let mut out = BTreeMap::new();
    for s in chart["series"].as_array().expect("series") {
        let name = s["name"].as_str().expect("series name").to_string();
        for (x, v) in xs.iter().zip(s["values"].as_array().expect("values")) {
            if let Some(v) = v.as_f64() {
                out.insert((x.clone(), name.clone()), v);
            }
        }
    }
    out
}

/// The expected points from CSV rows of (x, value) for one series.
fn expect_one(csv: &str, series: &str) -> BTreeMap<(String, String), f64> {
    rows(csv)
        .into_iter()
        .map(|r| {
            (
                (r[0].clone(), series.to_string()),
                r[1].parse().expect("number"),
            )
        })
        .collect()
}

#[track_caller]
fn assert_points(
    charts: &BTreeMap<String, Value>,
    id: &str,
    want: &BTreeMap<(String, String), f64>,
) {
    let chart = charts
        .get(id)
        .unwrap_or_else(|| panic!("no chart {id}; charts: {:?}", charts.keys()));
    let got = points(chart);
    assert!(!want.is_empty(), "{id}: the SQL found nothing to compare");
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{id}: the chart's points"
    );
    for (k, w) in want {
        assert!((got[k] - w).abs() < 1e-9, "{id} {k:?}: {} != {w}", got[k]);
    }
}

/// No resource is loaded from anywhere: no URL at all, apart from the SVG namespace
/// (a name, never fetched), and no attribute or CSS that would fetch one.
#[track_caller]
fn assert_offline(html: &str) {
    let without_ns = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    assert!(!without_ns.contains("http://") && !without_ns.contains("https://"));
    for reference in [" src=", "url(", "@import", "<link", "<img", "<iframe"] {
        assert!(!html.contains(reference), "the page references {reference}");
    }
    let hrefs: Vec<&str> = html.split("href=\"").skip(1).collect();
    assert!(
        hrefs.iter().all(|h| h.starts_with('#')),
        "only links within the page"
    );
    // The only scripts are data.
    assert_eq!(
        html.matches("<script").count(),
        html.matches("<script type=\"application/json\"").count()
    );
}

#[test]
fn report_charts_equal_sql_over_the_tables() {
    let wh = Wh::new();
    drop_sample(&wh, "ecommerce", "ecommerce", None);
    run_ok(&wh, "ecommerce");
    drop_sample(&wh, "pos", "pos", None);
    run_ok(&wh, "pos");
    drop_sample(&wh, "inventory", "inventory", None);
    run_ok(&wh, "inventory");
    // A second pos run that fails: no valid record.
    let landing = wh.path().join("landing/pos");
    std::fs::write(
        landing.join("bad.csv"),
        "transaction_id,store_id,product_id,quantity,revenue,discount_applied,timestamp\n\
         X1,1,1,0,1.00,0,1709280000\n",
    )
    .expect("bad batch");
    let (code, _) = run_pipeline(&wh, "pos");
    assert_eq!(code, 2, "the bad batch fails");

    let page = wh.dir.path().join("report.html");
    let out = wh
        .cmd()
        .args(["report", "--html"])
        .arg(&page)
        .output()
        .expect("run");
    assert_success(&out);
    let html = std::fs::read_to_string(&page).expect("report written");
    assert_offline(&html);
    let charts = chart_data(&html);

    // ecommerce KPIs.
    for (id, col) in [
        ("ecommerce-revenue", "total_revenue"),
        ("ecommerce-orders", "total_orders"),
        ("ecommerce-return-rate", "return_rate"),
    ] {
        let want = expect_one(
            &wh.csv(&format!(
                "SELECT order_date, {col} FROM order_kpis ORDER BY order_date"
            )),
            col,
        );
        assert_points(&charts, id, &want);
    }
    assert_points(
        &charts,
        "ecommerce-top-categories",
        &expect_one(
            &wh.csv("SELECT category, sum(daily_revenue) FROM category_kpis GROUP BY category"),
            "revenue",
        ),
    );
    // pos KPIs.
    assert_points(
        &charts,
        "pos-net-revenue",
        &expect_one(
            &wh.csv("SELECT date, sum(net_revenue) FROM pos_daily_product_sales GROUP BY date"),
            "net_revenue",
        ),
    );
    assert_points(
        &charts,
        "pos-top-products",
        &expect_one(
            &wh.csv(
                "SELECT product_id, sum(net_revenue) FROM pos_daily_product_sales GROUP BY product_id",
            ),
            "net_revenue",
        ),
    );
    // inventory: one series per warehouse.
    let stockouts: BTreeMap<(String, String), f64> =
        rows(&wh.csv("SELECT date, warehouse_id, stockouts FROM inventory_kpis_daily"))
            .into_iter()
            .map(|r| {
                (
                    (r[0].clone(), format!("warehouse {}", r[1])),
                    r[2].parse().expect("number"),
                )
            })
            .collect();
    assert_points(&charts, "inventory-stockouts", &stockouts);

    // Run history: records per run, the failed pos run highlighted.
    let runs = rows(&wh.csv(
        "SELECT rows_read, rows_valid, rows_rejected, status FROM stockroom_runs WHERE pipeline = 'pos' ORDER BY started_at",
    ));
    assert_eq!(runs.len(), 2, "{runs:?}");
    let pos_runs = &charts["pos-runs-rows"];
    for (si, name) in ["read", "valid", "rejected"].iter().enumerate() {
        let s = &pos_runs["series"][si];
        assert_eq!(s["name"], *name);
        let vals: Vec<f64> = s["values"]
            .as_array()
            .expect("values")
            .iter()
            .map(|v| v.as_f64().expect("number"))
            .collect();
        let want: Vec<f64> = runs
            .iter()
            .map(|r| r[si].parse().expect("number"))
            .collect();
        assert_eq!(vals, want, "pos runs: {name}");
    }
    assert_eq!(runs[1][3], "failed");
    assert_eq!(pos_runs["highlight"], serde_json::json!([1]));
    assert!(
        html.contains("<tr class=\"fail\">"),
        "the failed run's row is marked"
    );

    // Rejects by reason code, counted here from the raw reason lists.
    let mut by_code: BTreeMap<(String, String), f64> = BTreeMap::new();
    for r in rows(&wh.csv(
        "SELECT CAST(CAST(rejected_at AS DATE) AS VARCHAR), array_to_string(reasons, '|') FROM rejects WHERE pipeline = 'pos'",
    )) {
        for reason in r[1].split('|') {
            let code = reason.split(':').next().expect("code").to_string();
            *by_code.entry((r[0].clone(), code)).or_default() += 1.0;
        }
    }
    assert_points(&charts, "pos-rejects", &by_code);

    // Table facts: every table is listed with its version.
    for t in [
        "order_kpis",
        "pos_daily_product_sales",
        "stockroom_runs",
        "rejects",
    ] {
        assert!(
            html.contains(&format!("<tr class=\"\"><td>{t}</td>"))
                || html.contains(&format!("<tr class=\"warn\"><td>{t}</td>")),
            "{t} listed"
        );
    }

    // --pipeline limits the sections; the text summary (no --html) for cron mail.
    let out = wh
        .cmd()
        .args(["report", "--pipeline", "pos"])
        .output()
        .expect("run");
    assert_success(&out);
    let text = String::from_utf8(out.stdout).expect("utf8");
    assert!(
        text.contains("== pos") && !text.contains("== ecommerce"),
        "{text}"
    );
    assert!(text.contains("net revenue per day"), "{text}");
    assert!(
        text.contains(": failed, 1 read, 0 valid, 1 rejected"),
        "{text}"
    );
}

#[test]
fn demo_writes_report_html_with_data_quality_and_maintenance_hints() {
    let wh = Wh::new();
    let out = wh.cmd().arg("demo").output().expect("run");
    assert_success(&out);
    let stdout = String::from_utf8(out.stdout).expect("utf8");
    let page = wh.dir.path().join("report.html");
    assert!(
        stdout.contains(&page.display().to_string()),
        "demo prints the report's path"
    );
    let html = std::fs::read_to_string(&page).expect("report.html beside the warehouse");
    assert_offline(&html);
    let charts = chart_data(&html);

    // inventory-ops: alerts by risk and the weekly net change, against SQL.
    let alerts: BTreeMap<(String, String), f64> = rows(&wh.csv(
        "SELECT as_of_date, stockout_risk, count(*) FROM low_stock_alerts GROUP BY as_of_date, stockout_risk",
    ))
    .into_iter()
    .map(|r| ((r[0].clone(), r[1].clone()), r[2].parse().expect("number")))
    .collect();
    assert_points(&charts, "inventory-ops-alerts", &alerts);
    // The charts cover the last 30 days (the default) of the table's own weeks …
    let weekly = |filter: &str| -> BTreeMap<(String, String), f64> {
        rows(&wh.csv(&format!(
            "SELECT week, warehouse_id, net_change FROM weekly_summary {filter}"
        )))
        .into_iter()
        .map(|r| ((r[0].clone(), r[1].clone()), r[2].parse().expect("number")))
        .collect()
    };
    assert_eq!(
        rows(&wh.csv("SELECT max(week) FROM weekly_summary")),
        [["2024-04-01"]]
    );
    let last_30_days = weekly("WHERE week > DATE '2024-04-01' - INTERVAL '30 days'");
    assert_eq!(last_30_days.len(), 10, "five weeks, two warehouses");
    assert_points(&charts, "inventory-ops-weekly-net-change", &last_30_days);
    // … and --days widens the window to all of them.
    let wide_page = wh.dir.path().join("wide.html");
    assert_success(
        &wh.cmd()
            .args(["report", "--days", "400", "--html"])
            .arg(&wide_page)
            .output()
            .expect("run"),
    );
    let wide = chart_data(&std::fs::read_to_string(&wide_page).expect("page"));
    assert_points(&wide, "inventory-ops-weekly-net-change", &weekly(""));

    // The data-quality checks, folded in: every check with its latest count.
    for r in rows(&wh.csv("SELECT \"check\", failed_rows FROM dq_results")) {
        assert!(
            html.contains(&format!("<td>{}</td>", r[0])),
            "check {} shown",
            r[0]
        );
        let series = charts["inventory-ops-dq"]["series"]
            .as_array()
            .expect("series")
            .iter()
            .find(|s| s["name"] == r[0].as_str())
            .unwrap_or_else(|| panic!("no trend for {}", r[0]));
        assert_eq!(
            series["values"][0].as_f64(),
            Some(r[1].parse::<f64>().expect("number"))
        );
    }
    // The stream's micro-batches leave many small files: OPTIMIZE is suggested.
    assert!(html.contains("OPTIMIZE "), "a maintenance hint");
}

#[test]
fn shell_chart_draws_the_last_result_and_writes_svg() {
    let wh = Wh::new();
    let svg = wh.dir.path().join("units.svg");
    let input = format!(
        "SELECT * FROM (VALUES ('a', 10), ('b', 20), ('c', 5)) AS v(shop, units);\n\
         \\chart bar shop units\n\
         \\chart line shop units > {}\n",
        svg.display()
    );
    let out = wh.cmd().write_stdin(input).output().expect("shell");
    assert_success(&out);
    let stdout = String::from_utf8(out.stdout).expect("utf8");
    // 40 columns for the largest value, the others in proportion.
    let bar = |shop: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{shop} │")))
            .unwrap_or_else(|| panic!("no bar for {shop}:\n{stdout}"))
            .matches('█')
            .count()
    };
    assert_eq!((bar("a"), bar("b"), bar("c")), (20, 40, 10), "{stdout}");
    assert!(stdout.contains("wrote "), "{stdout}");
    let doc = std::fs::read_to_string(&svg).expect("svg written");
    assert!(doc.starts_with("<?xml") && doc.contains("<svg"));
    // One marker per point, with the value in its tooltip.
    for (shop, v) in [("a", 10), ("b", 20), ("c", 5)] {
        assert!(
            doc.contains(&format!("<title>{shop}: units = {v}</title>")),
            "{doc}"
        );
    }

    // Without a result first, or with a column that is not there: an error, exit 1.
    let out = wh
        .cmd()
        .write_stdin("\\chart\nSELECT 1 AS x, 2 AS y;\n\\chart bar x nope\n")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).expect("utf8");
    assert!(
        err.contains("there is none yet") && err.contains("no column 'nope'"),
        "{err}"
    );
}
