-- Staging of orders: the last version per order_id in batch order (see stg_products.sql).
-- `passed_checks`: the version had no reason code; the KPIs count only those (a non-integer
-- user_id stages as NULL, like an empty one, and only this tells them apart).
-- materialized: merge
-- unique_key: [order_id]
-- partition_by: [year, month]
SELECT order_id, user_id, lower(status) AS status, created_at, returned_at, shipped_at, delivered_at,
       num_of_item, CAST(date_part('year', created_at) AS INT) AS year,
       CAST(date_part('month', created_at) AS INT) AS month, source_file, ${run_id} AS run_id,
       accepted(reasons) AS passed_checks
FROM (SELECT c.*, 1 AS pick
      FROM checked_orders c LEFT JOIN repeated_orders r ON c.order_id = r.repeated_key
      WHERE c.stageable AND r.repeated_key IS NULL
      UNION ALL
      SELECT c.*, row_number() OVER (PARTITION BY c.order_id ORDER BY c.source_file DESC, c.line_number DESC) AS pick
      FROM checked_orders c JOIN repeated_orders r ON c.order_id = r.repeated_key
      WHERE c.stageable)
WHERE pick = 1
