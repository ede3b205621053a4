-- Daily order KPIs, the whole table recomputed every run (replace): a day whose orders
-- disappeared disappears. Ratios with a zero denominator are NULL (safe_div).
-- materialized: replace
SELECT o.order_date,
       -- order_id is unique in stg_orders (its unique_key): count(*) counts distinct orders.
       count(*) AS total_orders,
       COALESCE(max(f.revenue), 0.0) AS total_revenue,
       COALESCE(max(f.items), 0) AS total_items_sold,
       count(DISTINCT o.user_id) AS unique_customers,
       safe_div(100.0 * sum(CASE WHEN o.status = 'returned' THEN 1 ELSE 0 END), count(*)) AS return_rate
FROM valid_orders AS o
LEFT JOIN (SELECT order_date, sum(sale_price) AS revenue, count(*) AS items FROM facts GROUP BY order_date) AS f
  ON o.order_date = f.order_date
GROUP BY o.order_date
