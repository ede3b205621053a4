-- Reason codes for every raw record (rules: docs/pipelines.md#inventory-ops).
-- Stock levels: structure is validated here; odd values (negative on hand, over-reserved)
-- are what the source system holds, so they are loaded and flagged by the data-quality
-- checks instead of being rejected.
CREATE TEMP TABLE checked_levels AS
SELECT source_file, line_number, record, file_hash, malformed,
       sku, warehouse_id, product_name, category,
       parse_int(quantity_on_hand) AS quantity_on_hand,
       parse_int(quantity_reserved) AS quantity_reserved,
       parse_int(reorder_point) AS reorder_point,
       parse_int(reorder_quantity) AS reorder_quantity,
       parse_int(lead_time_days) AS lead_time_days,
       parse_float(unit_cost) AS unit_cost,
       parse_ts(snapshot_at) AS snapshot_at,
       CASE WHEN malformed THEN make_array('MALFORMED') ELSE reasons(
         sku IS NULL, 'MISSING:sku',
         warehouse_id IS NULL, 'MISSING:warehouse_id',
         quantity_on_hand IS NULL, 'MISSING:quantity_on_hand',
         quantity_on_hand IS NOT NULL AND parse_int(quantity_on_hand) IS NULL, 'BAD_TYPE:quantity_on_hand',
         quantity_reserved IS NULL, 'MISSING:quantity_reserved',
         quantity_reserved IS NOT NULL AND parse_int(quantity_reserved) IS NULL, 'BAD_TYPE:quantity_reserved',
         reorder_point IS NULL, 'MISSING:reorder_point',
         reorder_point IS NOT NULL AND parse_int(reorder_point) IS NULL, 'BAD_TYPE:reorder_point',
         reorder_quantity IS NULL, 'MISSING:reorder_quantity',
         reorder_quantity IS NOT NULL AND parse_int(reorder_quantity) IS NULL, 'BAD_TYPE:reorder_quantity',
         lead_time_days IS NULL, 'MISSING:lead_time_days',
         lead_time_days IS NOT NULL AND parse_int(lead_time_days) IS NULL, 'BAD_TYPE:lead_time_days',
         parse_int(lead_time_days) IS NOT NULL AND parse_int(lead_time_days) < 0, 'NEGATIVE:lead_time_days',
         unit_cost IS NOT NULL AND parse_float(unit_cost) IS NULL, 'BAD_TYPE:unit_cost',
         snapshot_at IS NULL, 'MISSING:snapshot_at',
         snapshot_at IS NOT NULL AND parse_ts(snapshot_at) IS NULL, 'BAD_TIMESTAMP:snapshot_at'
       ) END AS reasons
FROM batch_levels;

-- The curated table exists from the first run on, so transactions can be checked against it.
CREATE TABLE IF NOT EXISTS stock_levels AS
SELECT sku, warehouse_id, product_name, category, quantity_on_hand, quantity_reserved,
       reorder_point, reorder_quantity, lead_time_days, unit_cost, snapshot_at,
       source_file, ${run_id} AS run_id
FROM checked_levels LIMIT 0;

-- (sku, warehouse) pairs a transaction may name: stored ones and this batch's valid ones.
CREATE TEMP TABLE known_pairs AS
SELECT DISTINCT sku AS known_sku, warehouse_id AS known_warehouse_id FROM (
  SELECT sku, warehouse_id FROM stock_levels
  UNION ALL
  SELECT sku, warehouse_id FROM checked_levels WHERE accepted(reasons)
);

-- Transactions: JSON values arrive as raw JSON text; strings must be JSON strings. The typed
-- values are a CTE, not a table of their own: one copy of 5M rows less.
CREATE TEMP TABLE checked_txn AS
WITH typed_txn AS (
  SELECT source_file, line_number, record, file_hash, malformed,
         "eventId" AS event_id_raw, "eventType" AS event_type_raw, sku AS sku_raw,
         "warehouseId" AS warehouse_id_raw, "quantityChange" AS quantity_change_raw,
         "timestamp" AS timestamp_raw,
         nullif(trim(json_str("eventId")), '') AS event_id,
         trim(json_str("eventType")) AS event_type,
         nullif(trim(json_str(sku)), '') AS sku,
         nullif(trim(json_str("warehouseId")), '') AS warehouse_id,
         json_int("quantityChange") AS quantity_change,
         parse_ts(json_str("timestamp")) AS ts,
         json_str("referenceId") AS reference_id,
         json_str(notes) AS notes
  FROM batch_transactions
)
SELECT * REPLACE (CASE WHEN accepted(reasons) THEN '' ELSE record END AS record) FROM (
SELECT source_file, line_number, record, file_hash, malformed, event_id, event_type, sku,
       warehouse_id, quantity_change, ts, reference_id, notes,
       CASE WHEN malformed THEN make_array('MALFORMED') ELSE reasons(
         event_id_raw IS NULL, 'MISSING:eventId',
         event_id_raw IS NOT NULL AND event_id IS NULL, 'BAD_TYPE:eventId',
         event_type_raw IS NULL, 'MISSING:eventType',
         event_type_raw IS NOT NULL AND event_type IS NULL, 'BAD_TYPE:eventType',
         event_type IS NOT NULL AND event_type NOT IN ('INVENTORY_UPDATE', 'RESERVATION', 'RESERVATION_RELEASE'), 'UNKNOWN_EVENT_TYPE',
         sku_raw IS NULL, 'MISSING:sku',
         sku_raw IS NOT NULL AND sku IS NULL, 'BAD_TYPE:sku',
         warehouse_id_raw IS NULL, 'MISSING:warehouseId',
         warehouse_id_raw IS NOT NULL AND warehouse_id IS NULL, 'BAD_TYPE:warehouseId',
         quantity_change_raw IS NULL, 'MISSING:quantityChange',
         quantity_change_raw IS NOT NULL AND quantity_change IS NULL, 'BAD_TYPE:quantityChange',
         timestamp_raw IS NULL, 'MISSING:timestamp',
         timestamp_raw IS NOT NULL AND ts IS NULL, 'BAD_TIMESTAMP:timestamp',
         sku IS NOT NULL AND warehouse_id IS NOT NULL AND known_sku IS NULL, 'UNKNOWN_SKU'
       ) END AS reasons
FROM typed_txn
LEFT JOIN known_pairs ON sku = known_sku AND warehouse_id = known_warehouse_id
);

-- Event ids seen more than once in this batch (any record with an id): the transform step
-- ranks only their rows, and the duplicate_event_ids check reports them. One pass over the
-- batch serves both. repeated() (udfs/) is GROUP BY event_id HAVING count(*) > 1 without a
-- hash table of every id.
CREATE TEMP TABLE repeated_event_ids AS
SELECT unnest(repeated(event_id)) AS repeated_id
FROM checked_txn;

-- What the framework counts and rejects.
CREATE VIEW checked AS
SELECT source_file, line_number, record, file_hash, reasons FROM checked_levels
UNION ALL
SELECT source_file, line_number, record, file_hash, reasons FROM checked_txn;
