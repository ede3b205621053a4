-- KPIs are recomputed from pos_transactions for every date the batch touched, then MERGEd:
-- late data corrects a day instead of being added on top (the AWS original double counted).
CREATE TEMP TABLE kpis AS
SELECT date, product_id,
       sum(quantity) AS units_sold,
       sum(revenue) AS gross_revenue,
       sum(discount_applied) AS discounts,
       sum(revenue - discount_applied) AS net_revenue,
       -- transaction_id is unique in pos_transactions (the MERGE above is keyed on it), so
       -- count(*) counts distinct transactions without a distinct-hash of every id.
       count(*) AS transactions
FROM pos_transactions
WHERE date IN (SELECT DISTINCT date FROM valid)
GROUP BY date, product_id;

CREATE TABLE IF NOT EXISTS pos_daily_product_sales PARTITIONED BY (date) AS
SELECT * FROM kpis LIMIT 0;

MERGE INTO pos_daily_product_sales AS t
USING kpis AS s
ON t.date = s.date AND t.product_id = s.product_id
WHEN MATCHED THEN UPDATE SET *
WHEN NOT MATCHED THEN INSERT *;
