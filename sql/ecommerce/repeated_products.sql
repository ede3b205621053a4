-- The product ids seen more than once in the batch. Versions are rare, so only these go
-- through stg_products' row_number() window: a window over every record sorts the whole batch.
-- materialized: temp
SELECT id AS repeated_key FROM checked_products WHERE stageable GROUP BY id HAVING count(*) > 1
