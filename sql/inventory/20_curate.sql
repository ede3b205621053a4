-- One row per reading (inventory_id, last_updated): within the batch the later file (then
-- the later line) wins; against stored readings the batch wins (MERGE, not append), so a
-- reading seen twice is stored once.
CREATE TEMP TABLE valid AS
SELECT inventory_id, product_id, warehouse_id, stock_level, restock_threshold, last_updated,
       from_epoch(last_updated) AS last_updated_at, epoch_date(last_updated) AS date,
       source_file, ${run_id} AS run_id
FROM (
  SELECT *, row_number() OVER (PARTITION BY inventory_id, last_updated
                               ORDER BY source_file DESC, line_number DESC) AS pick
  FROM checked
  WHERE cardinality(reasons) = 0
)
WHERE pick = 1;

CREATE TABLE IF NOT EXISTS inventory PARTITIONED BY (date) AS
SELECT * FROM valid LIMIT 0;

MERGE INTO inventory AS t
USING valid AS s
ON t.inventory_id = s.inventory_id AND t.last_updated = s.last_updated
WHEN MATCHED THEN UPDATE SET *
WHEN NOT MATCHED THEN INSERT *;
