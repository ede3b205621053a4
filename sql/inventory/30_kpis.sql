-- Daily KPIs per warehouse from each item's latest reading of the day, recomputed for every
-- date the batch touched. A KPI row whose readings moved elsewhere is deleted, so the table
-- always equals a full recomputation.
CREATE TEMP TABLE kpis AS
SELECT date, warehouse_id,
       count(DISTINCT inventory_id) AS skus_tracked,
       sum(stock_level) AS total_units,
       sum(CASE WHEN stock_level = 0 THEN 1 ELSE 0 END) AS stockouts,
       sum(CASE WHEN stock_level <= restock_threshold THEN 1 ELSE 0 END) AS below_threshold
FROM (
  SELECT *, row_number() OVER (PARTITION BY date, warehouse_id, inventory_id
                               ORDER BY last_updated DESC) AS latest
  FROM inventory
  WHERE date IN (SELECT DISTINCT date FROM valid)
)
WHERE latest = 1
GROUP BY date, warehouse_id;

CREATE TABLE IF NOT EXISTS inventory_kpis_daily PARTITIONED BY (date) AS
SELECT * FROM kpis LIMIT 0;

MERGE INTO inventory_kpis_daily AS t
USING kpis AS s
ON t.date = s.date AND t.warehouse_id = s.warehouse_id
WHEN MATCHED THEN UPDATE SET *
WHEN NOT MATCHED THEN INSERT *
WHEN NOT MATCHED BY SOURCE AND t.date IN (SELECT DISTINCT date FROM valid) THEN DELETE;
