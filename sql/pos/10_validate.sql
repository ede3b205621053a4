-- Every raw record gets its reason codes (rules: docs/pipelines.md#pos; codes and number
-- rules: docs/pipelines.md#values-and-reason-codes).
-- Fields arrive as trimmed text; parse_int / parse_float apply those number rules.
-- DUPLICATE: among non-malformed records with an id, the first in batch order (file name,
-- then line) is kept. Repeats are rare, so only the ids seen more than once go through the
-- row_number() window: a window over every record sorts the whole batch (11 s of 5M rows).
-- repeated() (udfs/) is GROUP BY … HAVING count(*) > 1 without a hash table of every id
-- (5M ids: validate step 2.77 s → 2.29 s, mean of 3 runs). It is given the ids' fingerprints,
-- which it keeps at 8 bytes a row (the ids themselves cost 3.3 GB peak at 50M rows); the few
-- ids whose fingerprint repeats are then counted for real, so a collision is no repeat.
CREATE TEMP TABLE repeated_ids AS
WITH candidates AS (
  SELECT unnest(repeated(fingerprint(transaction_id))) AS fp
  FROM batch_raw
  WHERE NOT malformed AND transaction_id IS NOT NULL
)
-- The few candidates first: the join keeps them in its hash table and streams the batch.
SELECT b.transaction_id AS repeated_id
FROM candidates c
JOIN batch_raw b ON c.fp = fingerprint(b.transaction_id)
WHERE NOT b.malformed AND b.transaction_id IS NOT NULL
GROUP BY b.transaction_id
HAVING count(*) > 1;

CREATE TEMP TABLE later_occurrences AS
SELECT source_file AS dup_file, line_number AS dup_line
FROM (
  SELECT b.source_file, b.line_number,
         row_number() OVER (PARTITION BY b.transaction_id ORDER BY b.source_file, b.line_number) AS occurrence
  FROM batch_raw b JOIN repeated_ids r ON b.transaction_id = r.repeated_id
  WHERE NOT b.malformed
)
WHERE occurrence > 1;

CREATE TEMP TABLE checked AS
WITH typed AS (
  SELECT b.*, d.dup_line IS NOT NULL AS later_occurrence,
         parse_int(store_id) AS store_id_v,
         parse_int(product_id) AS product_id_v,
         parse_int(quantity) AS quantity_v,
         parse_float(revenue) AS revenue_v,
         CASE WHEN discount_applied IS NULL THEN 0.0 ELSE parse_float(discount_applied) END AS discount_v,
         parse_float("timestamp") AS ts_v
  FROM batch_raw b
  LEFT JOIN later_occurrences d ON b.source_file = d.dup_file AND b.line_number = d.dup_line
)
SELECT source_file, line_number, record, file_hash,
       transaction_id, store_id_v AS store_id, product_id_v AS product_id, quantity_v AS quantity,
       revenue_v AS revenue, discount_v AS discount_applied, ts_v AS "timestamp",
       CASE WHEN malformed THEN make_array('MALFORMED') ELSE reasons(
         transaction_id IS NULL, 'MISSING:transaction_id',
         store_id IS NULL, 'MISSING:store_id',
         store_id IS NOT NULL AND store_id_v IS NULL, 'BAD_TYPE:store_id',
         product_id IS NULL, 'MISSING:product_id',
         product_id IS NOT NULL AND product_id_v IS NULL, 'BAD_TYPE:product_id',
         quantity IS NULL, 'MISSING:quantity',
         quantity IS NOT NULL AND quantity_v IS NULL, 'BAD_TYPE:quantity',
         quantity_v IS NOT NULL AND quantity_v <= 0, 'NOT_POSITIVE:quantity',
         revenue IS NULL, 'MISSING:revenue',
         revenue IS NOT NULL AND revenue_v IS NULL, 'BAD_TYPE:revenue',
         revenue_v IS NOT NULL AND revenue_v < 0, 'NEGATIVE:revenue',
         discount_v IS NULL, 'BAD_TYPE:discount_applied',
         discount_v IS NOT NULL AND discount_v < 0, 'NEGATIVE:discount_applied',
         -- Compared only with a valid revenue: a negative revenue is its own reason.
         revenue_v IS NOT NULL AND revenue_v >= 0 AND discount_v IS NOT NULL AND discount_v > revenue_v, 'DISCOUNT_EXCEEDS_REVENUE',
         "timestamp" IS NULL, 'MISSING:timestamp',
         "timestamp" IS NOT NULL AND (ts_v IS NULL OR ts_v < 946684800 OR ts_v > 4102444800), 'BAD_TIMESTAMP:timestamp',
         later_occurrence, 'DUPLICATE'
       ) END AS reasons
FROM typed;
