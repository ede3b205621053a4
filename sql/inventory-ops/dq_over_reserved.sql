-- Over-reserved: more units reserved than on hand (negative quantities are their own checks).
SELECT source_file, line_number, sku, warehouse_id, quantity_on_hand, quantity_reserved
FROM checked_levels
WHERE quantity_reserved > quantity_on_hand AND quantity_on_hand >= 0 AND quantity_reserved >= 0
ORDER BY source_file, line_number
