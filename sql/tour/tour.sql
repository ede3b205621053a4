-- The stockroom SQL tour, run by `stockroom demo` on the bundled sample sales.
-- ${day1} and ${day2} are the sample files the demo copied into landing/tour/.

-- 1. Raw files are tables too: register one per day (recorded in the warehouse; OR REPLACE
--    lets the tour run again).
CREATE OR REPLACE EXTERNAL TABLE raw_day1 STORED AS CSV LOCATION ${day1} OPTIONS ('format.has_header' 'true');
CREATE OR REPLACE EXTERNAL TABLE raw_day2 STORED AS CSV LOCATION ${day2} OPTIONS ('format.has_header' 'true');

-- 2. A curated Delta table, partitioned by day, from the first day's file.
CREATE OR REPLACE TABLE sales PARTITIONED BY (date) AS
SELECT transaction_id, store_id, product_id, quantity, revenue, discount_applied,
       from_epoch("timestamp") AS sold_at, epoch_date("timestamp") AS date
FROM raw_day1;

-- 3. The next day's file arrives, with a correction to T1005: MERGE upserts it.
MERGE INTO sales AS t
USING (SELECT transaction_id, store_id, product_id, quantity, revenue, discount_applied,
              from_epoch("timestamp") AS sold_at, epoch_date("timestamp") AS date
       FROM raw_day2) AS s
ON t.transaction_id = s.transaction_id
WHEN MATCHED THEN UPDATE SET *
WHEN NOT MATCHED THEN INSERT *;

-- 4. KPIs recomputed from the curated table (never incremented).
CREATE OR REPLACE TABLE daily_product_sales PARTITIONED BY (date) AS
SELECT date, product_id,
       sum(quantity) AS units_sold,
       sum(revenue) AS gross_revenue,
       sum(discount_applied) AS discounts,
       sum(revenue - discount_applied) AS net_revenue,
       count(DISTINCT transaction_id) AS transactions
FROM sales GROUP BY date, product_id;

-- 5. The result, and what the first version of `sales` looked like.
SELECT * FROM daily_product_sales ORDER BY date, product_id;
SELECT count(*) AS rows_in_version_0 FROM sales VERSION AS OF 0;
