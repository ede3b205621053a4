-- Stock-level rows of this batch with a negative quantity on hand.
SELECT source_file, line_number, sku, warehouse_id, quantity_on_hand
FROM checked_levels
WHERE quantity_on_hand < 0
ORDER BY source_file, line_number
