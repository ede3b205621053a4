-- Event ids that occur more than once in this batch (replays: only the first is loaded).
-- The ids come from the extract step (table repeated_event_ids, one pass for the transform
-- step and this check); only their records are looked up here.
SELECT r.repeated_id AS event_id, count(*) AS occurrences, min(c.source_file) AS first_file,
       min(c.line_number) AS first_line
FROM repeated_event_ids r
JOIN checked_txn c ON c.event_id = r.repeated_id
GROUP BY r.repeated_id
ORDER BY r.repeated_id
