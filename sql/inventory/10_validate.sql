-- Reason codes for every raw reading (rules: docs/pipelines.md#inventory and
-- docs/pipelines.md#values-and-reason-codes).
CREATE TEMP TABLE checked AS
WITH typed AS (
  SELECT *,
         json_int(inventory_id) AS inventory_id_v,
         json_int(product_id) AS product_id_v,
         json_int(warehouse_id) AS warehouse_id_v,
         json_int(stock_level) AS stock_level_v,
         json_int(restock_threshold) AS restock_threshold_v,
         -- f64 seconds: full precision (the AWS original truncated epochs to float32).
         json_float(last_updated) AS last_updated_v
  FROM batch_raw
)
SELECT source_file, line_number, record, file_hash,
       inventory_id_v AS inventory_id, product_id_v AS product_id, warehouse_id_v AS warehouse_id,
       stock_level_v AS stock_level, restock_threshold_v AS restock_threshold,
       last_updated_v AS last_updated,
       CASE WHEN malformed THEN make_array('MALFORMED') ELSE reasons(
         inventory_id IS NULL, 'MISSING:inventory_id',
         inventory_id IS NOT NULL AND inventory_id_v IS NULL, 'BAD_TYPE:inventory_id',
         product_id IS NULL, 'MISSING:product_id',
         product_id IS NOT NULL AND product_id_v IS NULL, 'BAD_TYPE:product_id',
         warehouse_id IS NULL, 'MISSING:warehouse_id',
         warehouse_id IS NOT NULL AND warehouse_id_v IS NULL, 'BAD_TYPE:warehouse_id',
         stock_level IS NULL, 'MISSING:stock_level',
         stock_level IS NOT NULL AND stock_level_v IS NULL, 'BAD_TYPE:stock_level',
         stock_level_v IS NOT NULL AND stock_level_v < 0, 'NEGATIVE:stock_level',
         restock_threshold IS NULL, 'MISSING:restock_threshold',
         restock_threshold IS NOT NULL AND restock_threshold_v IS NULL, 'BAD_TYPE:restock_threshold',
         restock_threshold_v IS NOT NULL AND restock_threshold_v < 0, 'NEGATIVE:restock_threshold',
         last_updated IS NULL, 'MISSING:last_updated',
         last_updated IS NOT NULL AND last_updated_v IS NULL, 'BAD_TYPE:last_updated',
         last_updated_v IS NOT NULL AND (last_updated_v < 946684800 OR last_updated_v > 4102444800), 'BAD_TIMESTAMP:last_updated'
       ) END AS reasons
FROM typed;
