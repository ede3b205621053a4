-- The KPIs come from the staging tables after cleaning, recomputed in full every run: an item
-- that arrives a batch after its order, or a product fixed later, corrects every day it
-- touches. Valid orders: a creation time, a positive number of items, and no other reason
-- code (an order with a non-integer user_id is rejected and does not count).
-- materialized: temp
SELECT order_id, user_id, status, CAST(created_at AS DATE) AS order_date
FROM stg_orders
WHERE created_at IS NOT NULL AND num_of_item IS NOT NULL AND num_of_item > 0 AND passed_checks
