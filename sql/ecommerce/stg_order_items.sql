-- Staging of order items: the last version per id in batch order (see stg_products.sql).
-- materialized: merge
-- unique_key: [id]
-- partition_by: [year, month]
SELECT id, order_id, user_id, product_id, lower(status) AS status, created_at, shipped_at,
       delivered_at, returned_at, sale_price, CAST(date_part('year', created_at) AS INT) AS year,
       CAST(date_part('month', created_at) AS INT) AS month, source_file, ${run_id} AS run_id
FROM (SELECT c.*, 1 AS pick
      FROM checked_items c LEFT JOIN repeated_items r ON c.id = r.repeated_key
      WHERE c.stageable AND r.repeated_key IS NULL
      UNION ALL
      SELECT c.*, row_number() OVER (PARTITION BY c.id ORDER BY c.source_file DESC, c.line_number DESC) AS pick
      FROM checked_items c JOIN repeated_items r ON c.id = r.repeated_key
      WHERE c.stageable)
WHERE pick = 1
