-- The readings (inventory_id, last_updated) seen more than once in the batch. Repeats are
-- rare, so only these go through inventory's row_number() window: a window over every
-- reading sorts the whole batch. The readings are found by the fingerprint (a 64-bit hash,
-- udfs/) of their key: repeated() is GROUP BY … HAVING count(*) > 1 without a hash table of
-- every reading, and the joins compare one integer. A fingerprint two different readings
-- share only sends both through the window, which still partitions by the real key: nothing
-- is dropped.
-- materialized: temp
SELECT unnest(repeated(fingerprint(inventory_id, last_updated))) AS repeated_key
FROM checked
WHERE accepted(reasons)
