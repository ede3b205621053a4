-- Data gaps: hours with no transaction at all between the first and the last hour of this
-- batch's valid transactions.
WITH hours AS (
  SELECT DISTINCT date_trunc('hour', ts) AS hour
  FROM checked_txn
  WHERE accepted(reasons)
),
span AS (
  SELECT unnest(range(min(hour), max(hour), INTERVAL '1 hour')) AS hour
  FROM hours
  HAVING count(*) > 0
)
SELECT s.hour AS missing_hour
FROM span s
LEFT JOIN hours h ON h.hour = s.hour
WHERE h.hour IS NULL
ORDER BY missing_hour
