-- One row per reading (inventory_id, last_updated): within the batch the later file (then
-- the later line) wins; against stored readings the batch wins (merge, not append), so a
-- reading seen twice is stored once. The MERGE streams the rows into the table with no
-- second copy in memory.
-- materialized: merge
-- unique_key: [inventory_id, last_updated]
-- partition_by: [date]
SELECT inventory_id, product_id, warehouse_id, stock_level, restock_threshold, last_updated,
       from_epoch(last_updated) AS last_updated_at, epoch_date(last_updated) AS date,
       source_file, ${run_id} AS run_id
FROM (
  SELECT c.*, 1 AS pick
  FROM checked c
  LEFT JOIN repeated_readings r ON fingerprint(c.inventory_id, c.last_updated) = r.repeated_key
  WHERE accepted(c.reasons) AND r.repeated_key IS NULL
  UNION ALL
  SELECT c.*, row_number() OVER (PARTITION BY c.inventory_id, c.last_updated
                                 ORDER BY c.source_file DESC, c.line_number DESC) AS pick
  FROM checked c
  JOIN repeated_readings r ON fingerprint(c.inventory_id, c.last_updated) = r.repeated_key
  WHERE accepted(c.reasons)
)
WHERE pick = 1
