-- The order item ids seen more than once in the batch (see repeated_products.sql).
-- materialized: temp
SELECT id AS repeated_key FROM checked_items WHERE stageable GROUP BY id HAVING count(*) > 1
