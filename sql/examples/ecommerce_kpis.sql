-- Top categories by revenue in the last week of data
SELECT category, sum(daily_revenue) AS revenue
FROM category_kpis
WHERE order_date > (SELECT max(order_date) FROM category_kpis) - INTERVAL '7 days'
GROUP BY category
ORDER BY revenue DESC
LIMIT 5;

-- Return rate trend, week by week
SELECT date_trunc('week', order_date) AS week,
       sum(total_orders) AS orders,
       round(avg(return_rate), 2) AS avg_daily_return_rate
FROM order_kpis
GROUP BY 1
ORDER BY 1;
