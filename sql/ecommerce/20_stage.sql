-- Staging: per key, the last version in batch order (file name, then line) is MERGEd,
-- typed and trimmed as received; the cleaning rules apply when the KPIs are computed.
-- Versions are rare, so only the keys seen more than once go through the row_number()
-- window: a window over every record sorts the whole batch. The stage_* are views: each
-- MERGE streams its rows from the checked table, with no second copy in memory.
CREATE TEMP TABLE repeated_products AS
SELECT id AS repeated_key FROM checked_products WHERE stageable GROUP BY id HAVING count(*) > 1;

CREATE OR REPLACE VIEW stage_products AS
SELECT id, sku, cost, category, name, brand, retail_price, department, source_file, ${run_id} AS run_id
FROM (SELECT c.*, 1 AS pick
      FROM checked_products c LEFT JOIN repeated_products r ON c.id = r.repeated_key
      WHERE c.stageable AND r.repeated_key IS NULL
      UNION ALL
      SELECT c.*, row_number() OVER (PARTITION BY c.id ORDER BY c.source_file DESC, c.line_number DESC) AS pick
      FROM checked_products c JOIN repeated_products r ON c.id = r.repeated_key
      WHERE c.stageable)
WHERE pick = 1;

CREATE TABLE IF NOT EXISTS stg_products PARTITIONED BY (department) AS
SELECT * FROM stage_products LIMIT 0;

MERGE INTO stg_products AS t USING stage_products AS s ON t.id = s.id
WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *;

CREATE TEMP TABLE repeated_orders AS
SELECT order_id AS repeated_key FROM checked_orders WHERE stageable GROUP BY order_id HAVING count(*) > 1;

CREATE OR REPLACE VIEW stage_orders AS
SELECT order_id, user_id, lower(status) AS status, created_at, returned_at, shipped_at, delivered_at,
       num_of_item, CAST(date_part('year', created_at) AS INT) AS year,
       CAST(date_part('month', created_at) AS INT) AS month, source_file, ${run_id} AS run_id
FROM (SELECT c.*, 1 AS pick
      FROM checked_orders c LEFT JOIN repeated_orders r ON c.order_id = r.repeated_key
      WHERE c.stageable AND r.repeated_key IS NULL
      UNION ALL
      SELECT c.*, row_number() OVER (PARTITION BY c.order_id ORDER BY c.source_file DESC, c.line_number DESC) AS pick
      FROM checked_orders c JOIN repeated_orders r ON c.order_id = r.repeated_key
      WHERE c.stageable)
WHERE pick = 1;

CREATE TABLE IF NOT EXISTS stg_orders PARTITIONED BY (year, month) AS
SELECT * FROM stage_orders LIMIT 0;

MERGE INTO stg_orders AS t USING stage_orders AS s ON t.order_id = s.order_id
WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *;

CREATE TEMP TABLE repeated_items AS
SELECT id AS repeated_key FROM checked_items WHERE stageable GROUP BY id HAVING count(*) > 1;

CREATE OR REPLACE VIEW stage_items AS
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
WHERE pick = 1;

CREATE TABLE IF NOT EXISTS stg_order_items PARTITIONED BY (year, month) AS
SELECT * FROM stage_items LIMIT 0;

MERGE INTO stg_order_items AS t USING stage_items AS s ON t.id = s.id
WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *;
