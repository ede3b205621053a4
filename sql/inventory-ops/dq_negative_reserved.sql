-- Stock-level rows of this batch with a negative reserved quantity.
SELECT source_file, line_number, sku, warehouse_id, quantity_reserved
FROM checked_levels
WHERE quantity_reserved < 0
ORDER BY source_file, line_number
