-- The dates of this batch's valid readings (the dedupe keeps every date it saw).
-- materialized: temp
SELECT DISTINCT epoch_date(last_updated) AS touched_date
FROM checked
WHERE accepted(reasons)
