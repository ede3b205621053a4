-- KPIs from the staging tables after cleaning. Everything is recomputed from staging, so an
-- item that arrives a batch after its order, or a product fixed later, corrects every day it
-- touches; rows whose inputs disappeared are deleted (WHEN NOT MATCHED BY SOURCE). Ratios
-- with a zero denominator are NULL (safe_div).
CREATE TEMP TABLE valid_orders AS
SELECT order_id, user_id, status, CAST(created_at AS DATE) AS order_date
FROM stg_orders
WHERE created_at IS NOT NULL AND num_of_item IS NOT NULL AND num_of_item > 0;

CREATE TEMP TABLE facts AS
SELECT o.order_date, i.order_id, i.sale_price, i.status AS item_status,
       CASE WHEN p.category IS NULL OR p.category = '' THEN 'Unknown' ELSE p.category END AS category
FROM stg_order_items AS i
JOIN valid_orders AS o ON i.order_id = o.order_id
LEFT JOIN (SELECT id, category FROM stg_products WHERE cost > 0 AND retail_price > 0) AS p
  ON i.product_id = p.id
WHERE i.product_id IS NOT NULL AND i.sale_price IS NOT NULL AND i.sale_price > 0;

CREATE TEMP TABLE order_kpis_new AS
SELECT o.order_date,
       -- order_id is unique in stg_orders (its MERGE key): count(*) counts distinct orders.
       count(*) AS total_orders,
       COALESCE(max(f.revenue), 0.0) AS total_revenue,
       COALESCE(max(f.items), 0) AS total_items_sold,
       count(DISTINCT o.user_id) AS unique_customers,
       safe_div(100.0 * sum(CASE WHEN o.status = 'returned' THEN 1 ELSE 0 END), count(*)) AS return_rate
FROM valid_orders AS o
LEFT JOIN (SELECT order_date, sum(sale_price) AS revenue, count(*) AS items FROM facts GROUP BY order_date) AS f
  ON o.order_date = f.order_date
GROUP BY o.order_date;

CREATE TEMP TABLE category_kpis_new AS
SELECT category, order_date,
       sum(sale_price) AS daily_revenue,
       safe_div(sum(sale_price), count(DISTINCT order_id)) AS avg_order_value,
       safe_div(100.0 * sum(CASE WHEN item_status = 'returned' THEN 1 ELSE 0 END), count(*)) AS avg_return_rate
FROM facts
GROUP BY category, order_date;

CREATE TABLE IF NOT EXISTS order_kpis AS SELECT * FROM order_kpis_new LIMIT 0;
MERGE INTO order_kpis AS t USING order_kpis_new AS s ON t.order_date = s.order_date
WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT * WHEN NOT MATCHED BY SOURCE THEN DELETE;

CREATE TABLE IF NOT EXISTS category_kpis AS SELECT * FROM category_kpis_new LIMIT 0;
MERGE INTO category_kpis AS t USING category_kpis_new AS s
ON t.category = s.category AND t.order_date = s.order_date
WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT * WHEN NOT MATCHED BY SOURCE THEN DELETE;
