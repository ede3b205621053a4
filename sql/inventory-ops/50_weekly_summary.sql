-- weekly_summary per (ISO week starting Monday, warehouse_id): stock moves of the week and
-- the stock at the end of the week's last snapshot day.
CREATE TEMP TABLE week_moves AS
SELECT CAST(period_start AS DATE) AS week, warehouse_id,
       sum(units_in) AS units_in, sum(units_out) AS units_out,
       sum(net_change) AS net_change, sum(txn_count) AS txn_count,
       count(DISTINCT sku) AS active_skus
FROM transaction_agg
WHERE grain = 'week'
GROUP BY CAST(period_start AS DATE), warehouse_id;

-- The week's last snapshot day is the same for every pair: a pair has a snapshot for every
-- day from its snapshot date to the as-of date (30_aggregated_metrics), so its last day in a
-- week is that week's last day overall. A max() per week and a join replace a row_number()
-- window over every snapshot row.
CREATE TEMP TABLE week_end_stock AS
WITH last_days AS (
  SELECT CAST(date_trunc('week', CAST(date AS TIMESTAMP)) AS DATE) AS week, max(date) AS last_day
  FROM inventory_daily_snapshots
  GROUP BY CAST(date_trunc('week', CAST(date AS TIMESTAMP)) AS DATE)
)
SELECT d.week, s.warehouse_id, sum(s.on_hand) AS end_on_hand, sum(s.available) AS end_available,
       sum(CASE WHEN s.available <= 0 THEN 1 ELSE 0 END) AS skus_out_of_stock
FROM inventory_daily_snapshots s
JOIN last_days d ON s.date = d.last_day
GROUP BY d.week, s.warehouse_id;

CREATE TEMP TABLE weekly_new AS
SELECT coalesce(m.week, s.week) AS week, coalesce(m.warehouse_id, s.warehouse_id) AS warehouse_id,
       coalesce(m.units_in, 0) AS units_in, coalesce(m.units_out, 0) AS units_out,
       coalesce(m.net_change, 0) AS net_change, coalesce(m.txn_count, 0) AS txn_count,
       coalesce(m.active_skus, 0) AS active_skus,
       s.end_on_hand, s.end_available, s.skus_out_of_stock
FROM week_moves m
FULL OUTER JOIN week_end_stock s ON m.week = s.week AND m.warehouse_id = s.warehouse_id;

CREATE TABLE IF NOT EXISTS weekly_summary AS SELECT * FROM weekly_new LIMIT 0;

MERGE INTO weekly_summary AS t
USING weekly_new AS s
ON t.week = s.week AND t.warehouse_id = s.warehouse_id
WHEN MATCHED THEN UPDATE SET *
WHEN NOT MATCHED THEN INSERT *
WHEN NOT MATCHED BY SOURCE THEN DELETE;
