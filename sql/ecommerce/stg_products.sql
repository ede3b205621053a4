-- Staging: per key, the last version in batch order (file name, then line) is MERGEd,
-- typed and trimmed as received; the cleaning rules apply when the KPIs are computed.
-- The MERGE streams the rows from the checked table, with no second copy in memory.
-- An empty department stages as 'Unknown' (the partition of products without one).
-- materialized: merge
-- unique_key: [id]
-- partition_by: [department]
SELECT id, sku, cost, category, name, brand, retail_price,
       coalesce(department, 'Unknown') AS department, source_file, ${run_id} AS run_id
FROM (SELECT c.*, 1 AS pick
      FROM checked_products c LEFT JOIN repeated_products r ON c.id = r.repeated_key
      WHERE c.stageable AND r.repeated_key IS NULL
      UNION ALL
      SELECT c.*, row_number() OVER (PARTITION BY c.id ORDER BY c.source_file DESC, c.line_number DESC) AS pick
      FROM checked_products c JOIN repeated_products r ON c.id = r.repeated_key
      WHERE c.stageable)
WHERE pick = 1
