-- KPIs are recomputed from pos_transactions for every date the batch touched, then MERGEd:
-- late data corrects a day instead of being added on top (the AWS original double counted).
-- table: pos_daily_product_sales
-- materialized: merge
-- unique_key: [date, product_id]
-- partition_by: [date]
SELECT date, product_id,
       sum(quantity) AS units_sold,
       sum(revenue) AS gross_revenue,
       sum(discount_applied) AS discounts,
       sum(revenue - discount_applied) AS net_revenue,
       -- transaction_id is unique in pos_transactions (its unique_key), so count(*) counts
       -- distinct transactions without a distinct-hash of every id.
       count(*) AS transactions
FROM pos_transactions
WHERE date IN (SELECT DISTINCT date FROM valid)
GROUP BY date, product_id
