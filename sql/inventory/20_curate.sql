-- One row per reading (inventory_id, last_updated): within the batch the later file (then
-- the later line) wins; against stored readings the batch wins (MERGE, not append), so a
-- reading seen twice is stored once.
-- Repeats are rare, so only the readings seen more than once go through the row_number()
-- window: a window over every reading sorts the whole batch. The readings are found by the
-- fingerprint (a 64-bit hash, udfs/) of their key: repeated() is GROUP BY … HAVING count(*) > 1
-- without a hash table of every reading, and the joins below compare one integer. A
-- fingerprint two different readings share only sends both through the window, which still
-- partitions by the real key: nothing is dropped.
CREATE TEMP TABLE repeated_readings AS
SELECT unnest(repeated(fingerprint(inventory_id, last_updated))) AS repeated_key
FROM checked
WHERE accepted(reasons);

-- A view: the MERGE streams the rows into the table with no second copy in memory.
CREATE OR REPLACE VIEW valid AS
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
WHERE pick = 1;

CREATE TABLE IF NOT EXISTS inventory PARTITIONED BY (date) AS
SELECT * FROM valid LIMIT 0;

MERGE INTO inventory AS t
USING valid AS s
ON t.inventory_id = s.inventory_id AND t.last_updated = s.last_updated
WHEN MATCHED THEN UPDATE SET *
WHEN NOT MATCHED THEN INSERT *;
