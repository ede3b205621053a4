//! The KPI charts of the shipped pipelines, each one SQL statement over a KPI table,
//! limited to the last `--days` days of that table's own dates.

use super::{Block, Options, long, wide};
use crate::chart::{Chart, Kind};
use crate::error::Result;
use crate::exec::Executor;

/// Top entries in the "top categories / products" charts.
const TOP: usize = 10;

/// The KPI tables a pipeline's charts read.
pub fn tables_of(pipeline: &str) -> &'static [&'static str] {
    match pipeline {
        "ecommerce" => &["order_kpis", "category_kpis"],
        "pos" => &["pos_daily_product_sales"],
        "inventory" => &["inventory_kpis_daily"],
        "inventory-ops" => &["low_stock_alerts", "weekly_summary"],
        _ => &[],
    }
}

/// `col` within the last `days` days of `table`'s latest `col`.
fn window(table: &str, col: &str, days: u32) -> String {
    format!("{col} > (SELECT max({col}) FROM {table}) - INTERVAL '{days} days'")
}

pub async fn blocks(exec: &Executor, pipeline: &str, opts: &Options) -> Result<Vec<Block>> {
    let wh = exec.warehouse();
    let d = opts.days;
    let mut out = Vec::new();
    let chart = |id: &str, title: &str, kind, x: &str, y: &str| {
        Chart::new(&format!("{pipeline}-{id}"), title, kind, x, y)
    };
    match pipeline {
        "ecommerce" => {
            if wh.is_table("order_kpis") {
                let w = window("order_kpis", "order_date", d);
                for (id, title, col, unit) in [
                    (
                        "revenue",
                        "ecommerce: daily revenue",
                        "total_revenue",
                        "revenue (currency units)",
                    ),
                    (
                        "orders",
                        "ecommerce: orders per day",
                        "total_orders",
                        "orders",
                    ),
                    (
                        "return-rate",
                        "ecommerce: return rate",
                        "return_rate",
                        "returned items (%)",
                    ),
                ] {
                    out.push(Block::Figure(
                        wide(
                            exec,
                            chart(id, title, Kind::Line, "order date", unit),
                            format!(
                                "SELECT CAST(order_date AS VARCHAR) AS day, {col} FROM order_kpis WHERE {w} ORDER BY order_date"
                            ),
                        )
                        .await?,
                    ));
                }
            }
            if wh.is_table("category_kpis") {
                let w = window("category_kpis", "order_date", d);
                out.push(Block::Figure(
                    wide(
                        exec,
                        chart(
                            "top-categories",
                            &format!("ecommerce: top {TOP} categories by revenue (last {d} days)"),
                            Kind::Bar,
                            "category",
                            "revenue (currency units)",
                        ),
                        format!(
                            "SELECT category, sum(daily_revenue) AS revenue FROM category_kpis WHERE {w} \
                             GROUP BY category ORDER BY revenue DESC, category LIMIT {TOP}"
                        ),
                    )
                    .await?,
                ));
            }
        }
        "pos" if wh.is_table("pos_daily_product_sales") => {
            let w = window("pos_daily_product_sales", "date", d);
            out.push(Block::Figure(
                wide(
                    exec,
                    chart(
                        "net-revenue",
                        "pos: net revenue per day",
                        Kind::Line,
                        "date",
                        "net revenue (currency units)",
                    ),
                    format!(
                        "SELECT CAST(date AS VARCHAR) AS day, sum(net_revenue) AS net_revenue FROM pos_daily_product_sales \
                         WHERE {w} GROUP BY date ORDER BY date"
                    ),
                )
                .await?,
            ));
            out.push(Block::Figure(
                wide(
                    exec,
                    chart(
                        "top-products",
                        &format!("pos: top {TOP} products by net revenue (last {d} days)"),
                        Kind::Bar,
                        "product id",
                        "net revenue (currency units)",
                    ),
                    format!(
                        "SELECT CAST(product_id AS VARCHAR) AS product, sum(net_revenue) AS net_revenue FROM pos_daily_product_sales \
                         WHERE {w} GROUP BY product_id ORDER BY net_revenue DESC, product_id LIMIT {TOP}"
                    ),
                )
                .await?,
            ));
        }
        "inventory" if wh.is_table("inventory_kpis_daily") => {
            let w = window("inventory_kpis_daily", "date", d);
            for (id, title, col, unit) in [
                (
                    "stockouts",
                    "inventory: stockouts per warehouse and day",
                    "stockouts",
                    "SKUs out of stock",
                ),
                (
                    "below-threshold",
                    "inventory: items below threshold per warehouse and day",
                    "below_threshold",
                    "SKUs below threshold",
                ),
            ] {
                out.push(Block::Figure(
                    long(
                        exec,
                        chart(id, title, Kind::Bar, "date", unit),
                        format!(
                            "SELECT CAST(date AS VARCHAR) AS day, 'warehouse ' || CAST(warehouse_id AS VARCHAR) AS warehouse, {col} \
                             FROM inventory_kpis_daily WHERE {w} ORDER BY date, warehouse_id"
                        ),
                    )
                    .await?,
                ));
            }
        }
        "inventory-ops" => {
            if wh.is_table("low_stock_alerts") {
                let w = window("low_stock_alerts", "as_of_date", d);
                out.push(Block::Figure(
                    long(
                        exec,
                        chart(
                            "alerts",
                            "inventory-ops: low-stock alerts by stockout risk",
                            Kind::Bar,
                            "as of date",
                            "alerts (SKU × warehouse)",
                        ),
                        format!(
                            "SELECT CAST(as_of_date AS VARCHAR) AS day, stockout_risk, count(*) AS alerts FROM low_stock_alerts \
                             WHERE {w} GROUP BY as_of_date, stockout_risk \
                             ORDER BY as_of_date, CASE stockout_risk WHEN 'HIGH' THEN 0 WHEN 'MEDIUM' THEN 1 WHEN 'LOW' THEN 2 ELSE 3 END, stockout_risk"
                        ),
                    )
                    .await?,
                ));
            }
            if wh.is_table("weekly_summary") {
                let w = window("weekly_summary", "week", d.max(7));
                out.push(Block::Figure(
                    long(
                        exec,
                        chart(
                            "weekly-net-change",
                            "inventory-ops: weekly net change of stock per warehouse",
                            Kind::Bar,
                            "week starting",
                            "net change (units)",
                        ),
                        format!(
                            "SELECT CAST(week AS VARCHAR) AS week, warehouse_id, sum(net_change) AS net_change FROM weekly_summary \
                             WHERE {w} GROUP BY week, warehouse_id ORDER BY week, warehouse_id"
                        ),
                    )
                    .await?,
                ));
            }
        }
        _ => {}
    }
    // Empty KPI tables draw nothing worth a box.
    out.retain(|b| !matches!(b, Block::Figure(f) if f.chart.is_empty()));
    Ok(out)
}
