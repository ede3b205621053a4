-- Valid records into pos_transactions: insert-if-absent on transaction_id (append with a
-- unique_key), so a transaction already stored (an earlier run, a re-dropped file) is neither
-- stored again nor rejected. The first run creates the table from this query's columns.
-- table: pos_transactions
-- materialized: append
-- unique_key: [transaction_id]
-- partition_by: [date]
SELECT * FROM valid
