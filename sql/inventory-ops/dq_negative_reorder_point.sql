-- Stock-level rows of this batch with a negative reorder point.
SELECT source_file, line_number, sku, warehouse_id, reorder_point
FROM checked_levels
WHERE reorder_point < 0
ORDER BY source_file, line_number
