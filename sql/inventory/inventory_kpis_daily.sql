-- Daily KPIs per warehouse from each item's latest reading of the day, recomputed for every
-- date the batch touched. Those dates' partitions are replaced (delete_missing: partitions):
-- a KPI row whose readings moved elsewhere is deleted, so the table always equals a full
-- recomputation. Every touched date has a reading in `inventory`, so the result has rows
-- for exactly the touched dates.
-- materialized: merge
-- unique_key: [date, warehouse_id]
-- partition_by: [date]
-- delete_missing: partitions
WITH day_readings AS (
  SELECT date, warehouse_id, inventory_id, last_updated, stock_level, restock_threshold
  FROM inventory
  WHERE date IN (SELECT touched_date FROM touched_dates)
),
-- The latest reading per item and day: a max() and a join instead of a row_number() window,
-- which would sort every reading of the touched days. (inventory_id, last_updated) is the
-- table's key, so exactly one reading matches, and count(*) counts distinct items.
latest AS (
  SELECT date AS l_date, warehouse_id AS l_warehouse, inventory_id AS l_id, max(last_updated) AS l_at
  FROM day_readings
  GROUP BY date, warehouse_id, inventory_id
)
SELECT d.date, d.warehouse_id,
       count(*) AS skus_tracked,
       sum(d.stock_level) AS total_units,
       sum(CASE WHEN d.stock_level = 0 THEN 1 ELSE 0 END) AS stockouts,
       sum(CASE WHEN d.stock_level <= d.restock_threshold THEN 1 ELSE 0 END) AS below_threshold
FROM day_readings d
JOIN latest l
  ON d.date = l.l_date AND d.warehouse_id = l.l_warehouse AND d.inventory_id = l.l_id
 AND d.last_updated = l.l_at
GROUP BY d.date, d.warehouse_id
