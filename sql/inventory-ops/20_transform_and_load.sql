-- Stock levels: one snapshot per (sku, warehouse_id); the later snapshot_at wins, in the
-- batch (ties: the later file, then line) and against the stored one.
CREATE TEMP TABLE levels_in AS
SELECT sku, warehouse_id, product_name, category, quantity_on_hand, quantity_reserved,
       reorder_point, reorder_quantity, lead_time_days, unit_cost, snapshot_at,
       source_file, ${run_id} AS run_id
FROM (
  SELECT *, row_number() OVER (PARTITION BY sku, warehouse_id
                               ORDER BY snapshot_at DESC, source_file DESC, line_number DESC) AS pick
  FROM checked_levels
  WHERE accepted(reasons)
)
WHERE pick = 1;

MERGE INTO stock_levels AS t
USING levels_in AS s
ON t.sku = s.sku AND t.warehouse_id = s.warehouse_id
WHEN MATCHED AND s.snapshot_at >= t.snapshot_at THEN UPDATE SET *
WHEN NOT MATCHED THEN INSERT *;

-- Transactions, deduplicated on eventId: the first occurrence in batch order is kept, and
-- an event already stored by an earlier run is ignored (a replay is not an error).
-- Replays are rare: only the ids seen twice (repeated_event_ids, from the extract step) go
-- through the row_number() window; a window (or DISTINCT ON) over all of millions of ids
-- costs minutes and gigabytes. An id repeated only among rejected records ranks alone.
-- A view: the MERGE streams the rows into the table with no second copy in memory.
CREATE OR REPLACE VIEW txn_in AS
SELECT event_id, event_type, sku, warehouse_id, quantity_change, ts AS "timestamp",
       CAST(ts AS DATE) AS date, reference_id, notes, source_file, ${run_id} AS run_id
FROM (
  SELECT c.*, 1 AS pick
  FROM checked_txn c LEFT JOIN repeated_event_ids r ON c.event_id = r.repeated_id
  WHERE accepted(c.reasons) AND r.repeated_id IS NULL
  UNION ALL
  SELECT c.*, row_number() OVER (PARTITION BY c.event_id ORDER BY c.source_file, c.line_number) AS pick
  FROM checked_txn c JOIN repeated_event_ids r ON c.event_id = r.repeated_id
  WHERE accepted(c.reasons)
)
WHERE pick = 1;

CREATE TABLE IF NOT EXISTS inventory_transactions PARTITIONED BY (date) AS
SELECT * FROM txn_in LIMIT 0;

MERGE INTO inventory_transactions AS t
USING txn_in AS s
ON t.event_id = s.event_id
WHEN NOT MATCHED THEN INSERT *;
