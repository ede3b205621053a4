-- Records of this batch without a sku or a warehouse id (they are also rejected MISSING:…).
SELECT source_file, line_number, 'stock_levels' AS input, record
FROM checked_levels
WHERE NOT malformed AND (sku IS NULL OR warehouse_id IS NULL)
UNION ALL
SELECT source_file, line_number, 'transactions' AS input, record
FROM checked_txn
WHERE NOT malformed AND (sku IS NULL OR warehouse_id IS NULL)
ORDER BY input, source_file, line_number
