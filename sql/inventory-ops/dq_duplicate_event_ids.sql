-- Event ids that occur more than once in this batch (replays: only the first is loaded).
SELECT event_id, count(*) AS occurrences, min(source_file) AS first_file, min(line_number) AS first_line
FROM checked_txn
WHERE event_id IS NOT NULL
GROUP BY event_id
HAVING count(*) > 1
