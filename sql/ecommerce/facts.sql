-- One row per valid order item of a valid order, with its product's category ('Unknown'
-- when the product is missing, invalid or has no category).
-- materialized: temp
SELECT o.order_date, i.order_id, i.sale_price, i.status AS item_status,
       CASE WHEN p.category IS NULL OR p.category = '' THEN 'Unknown' ELSE p.category END AS category
FROM stg_order_items AS i
JOIN valid_orders AS o ON i.order_id = o.order_id
LEFT JOIN (SELECT id, category FROM stg_products WHERE cost > 0 AND retail_price > 0) AS p
  ON i.product_id = p.id
WHERE i.product_id IS NOT NULL AND i.sale_price IS NOT NULL AND i.sale_price > 0
