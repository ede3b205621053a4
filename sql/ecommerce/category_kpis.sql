-- Daily KPIs per category, the whole table recomputed every run (replace).
-- materialized: replace
SELECT category, order_date,
       sum(sale_price) AS daily_revenue,
       safe_div(sum(sale_price), count(DISTINCT order_id)) AS avg_order_value,
       safe_div(100.0 * sum(CASE WHEN item_status = 'returned' THEN 1 ELSE 0 END), count(*)) AS avg_return_rate
FROM facts
GROUP BY category, order_date
