-- The batch's valid records, typed for the tables. A view: pos_transactions' MERGE streams
-- the rows from `checked` into the Delta table with no second copy of them in memory (5M rows:
-- 1.4 s and 0.6 GB less), and 30_kpis.sql reads the dates the batch touched from it.
-- materialized: view
SELECT transaction_id, store_id, product_id, quantity, revenue, discount_applied,
       from_epoch("timestamp") AS sold_at, "timestamp", epoch_date("timestamp") AS date,
       source_file, ${run_id} AS run_id
FROM checked
WHERE accepted(reasons)
