-- Low-stock alerts at the as-of date: available <= reorder_point.
-- stockout_risk: HIGH if days_of_cover < lead_time_days, MEDIUM if < 2 x lead_time_days,
-- else LOW. With no sales in 7 days days_of_cover is NULL: LOW, unless nothing is
-- available (available <= 0), which is HIGH — the item is already out.
-- recommended_order_qty = max(reorder_quantity, ceil(velocity_7d * lead_time_days * 2 - available)).
CREATE TEMP TABLE alerts_new AS
SELECT m.sku, m.warehouse_id, l.product_name, l.category, m.as_of_date,
       m.on_hand, m.reserved, m.available, l.reorder_point, l.reorder_quantity, l.lead_time_days,
       m.velocity_7d, m.days_of_cover,
       CASE WHEN m.days_of_cover IS NULL AND m.available <= 0 THEN 'HIGH'
            WHEN m.days_of_cover < l.lead_time_days THEN 'HIGH'
            WHEN m.days_of_cover < 2 * l.lead_time_days THEN 'MEDIUM'
            ELSE 'LOW' END AS stockout_risk,
       greatest(l.reorder_quantity,
                CAST(ceil(m.velocity_7d * l.lead_time_days * 2 - m.available) AS BIGINT)) AS recommended_order_qty
FROM inventory_metrics m
JOIN stock_levels l ON l.sku = m.sku AND l.warehouse_id = m.warehouse_id
WHERE m.available <= l.reorder_point;

CREATE TABLE IF NOT EXISTS low_stock_alerts AS SELECT * FROM alerts_new LIMIT 0;

-- The table holds the current alerts: a resolved one is deleted.
MERGE INTO low_stock_alerts AS t
USING alerts_new AS s
ON t.sku = s.sku AND t.warehouse_id = s.warehouse_id
WHEN MATCHED THEN UPDATE SET *
WHEN NOT MATCHED THEN INSERT *
WHEN NOT MATCHED BY SOURCE THEN DELETE;
