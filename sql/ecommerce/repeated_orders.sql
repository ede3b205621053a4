-- The order ids seen more than once in the batch (see repeated_products.sql).
-- materialized: temp
SELECT order_id AS repeated_key FROM checked_orders WHERE stageable GROUP BY order_id HAVING count(*) > 1
