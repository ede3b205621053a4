-- Transactions for a (sku, warehouse) pair with no stock level (rejected UNKNOWN_SKU).
SELECT source_file, line_number, event_id, sku, warehouse_id
FROM checked_txn
WHERE array_has(reasons, 'UNKNOWN_SKU')
ORDER BY source_file, line_number
