-- Aggregates, daily snapshots and metrics, recomputed from the curated tables (so the
-- hourly schedule can run this step on its own). Windows end at the as-of date: --as-of,
-- else the UTC date of the latest transaction. A trailing N-day window is the N days
-- ending on and including it.
CREATE TEMP TABLE run_as_of AS
SELECT coalesce(CAST(nullif(${as_of}, '') AS DATE),
                (SELECT max(date) FROM inventory_transactions)) AS as_of;

-- Stock moves: INVENTORY_UPDATE changes on hand (negative = units out); reservations change
-- reserved (a release subtracts abs(quantityChange)).
CREATE TEMP TABLE moves AS
SELECT sku, warehouse_id, "timestamp", date, event_type,
       CASE WHEN event_type = 'INVENTORY_UPDATE' AND quantity_change > 0 THEN quantity_change ELSE 0 END AS units_in,
       CASE WHEN event_type = 'INVENTORY_UPDATE' AND quantity_change < 0 THEN -quantity_change ELSE 0 END AS units_out,
       CASE WHEN event_type = 'INVENTORY_UPDATE' THEN quantity_change ELSE 0 END AS d_on_hand,
       CASE WHEN event_type = 'RESERVATION' THEN quantity_change
            WHEN event_type = 'RESERVATION_RELEASE' THEN -abs(quantity_change)
            ELSE 0 END AS d_reserved
FROM inventory_transactions;

-- Units out over the trailing 7 and 30 days, for the metrics at the end: computed now, so
-- `moves` (one row per event) can go once the aggregates below have read it.
CREATE TEMP TABLE units_out_windows AS
SELECT m.sku, m.warehouse_id,
       sum(CASE WHEN m.date > a.as_of - INTERVAL '7 days' THEN m.units_out ELSE 0 END) AS out_7d,
       sum(m.units_out) AS out_30d
FROM moves m CROSS JOIN run_as_of a
WHERE m.date > a.as_of - INTERVAL '30 days' AND m.date <= a.as_of
GROUP BY m.sku, m.warehouse_id;

-- transaction_agg: hour / day / ISO week (Monday start) per (sku, warehouse_id). Weeks roll up
-- from days. The union of the three is a view: the MERGE streams it, with no third copy in
-- memory.
CREATE TEMP TABLE agg_hour AS
SELECT date_trunc('hour', "timestamp") AS period_start, sku, warehouse_id,
       sum(units_in) AS units_in, sum(units_out) AS units_out, count(*) AS txn_count
FROM moves
GROUP BY date_trunc('hour', "timestamp"), sku, warehouse_id;

-- One pass at day grain serves the `day` aggregates and the snapshots' daily balance changes
-- (which count only the moves after the pair's snapshot_at): a second GROUP BY of the moves
-- for the snapshots cost 1.1-1.5 s of 5M events.
CREATE TEMP TABLE agg_day AS
SELECT date_trunc('day', m."timestamp") AS period_start, m.sku, m.warehouse_id,
       sum(m.units_in) AS units_in, sum(m.units_out) AS units_out, count(*) AS txn_count,
       sum(CASE WHEN m."timestamp" > l.snapshot_at THEN m.d_on_hand ELSE 0 END) AS d_on_hand,
       sum(CASE WHEN m."timestamp" > l.snapshot_at THEN m.d_reserved ELSE 0 END) AS d_reserved
FROM moves m
LEFT JOIN stock_levels l ON m.sku = l.sku AND m.warehouse_id = l.warehouse_id
GROUP BY date_trunc('day', m."timestamp"), m.sku, m.warehouse_id;

-- Each temporary table goes as soon as nothing below reads it: the 5M-event batch peaked at
-- 2.0-2.2 GB holding all of them to the end of the step.
DROP TABLE moves;

CREATE OR REPLACE VIEW transaction_agg_new AS
SELECT grain, period_start, sku, warehouse_id, units_in, units_out,
       units_in - units_out AS net_change, txn_count
FROM (
  SELECT 'hour' AS grain, * FROM agg_hour
  UNION ALL
  SELECT 'day' AS grain, period_start, sku, warehouse_id, units_in, units_out, txn_count FROM agg_day
  UNION ALL
  SELECT 'week' AS grain, date_trunc('week', period_start) AS period_start, sku, warehouse_id,
         sum(units_in) AS units_in, sum(units_out) AS units_out, sum(txn_count) AS txn_count
  FROM agg_day
  GROUP BY date_trunc('week', period_start), sku, warehouse_id
);

CREATE TABLE IF NOT EXISTS transaction_agg PARTITIONED BY (grain) AS
SELECT * FROM transaction_agg_new LIMIT 0;

MERGE INTO transaction_agg AS t
USING transaction_agg_new AS s
ON t.grain = s.grain AND t.period_start = s.period_start AND t.sku = s.sku AND t.warehouse_id = s.warehouse_id
WHEN MATCHED AND (t.txn_count <> s.txn_count OR t.units_in <> s.units_in OR t.units_out <> s.units_out)
  THEN UPDATE SET *
WHEN NOT MATCHED THEN INSERT *
WHEN NOT MATCHED BY SOURCE THEN DELETE;

DROP TABLE agg_hour;

-- inventory_daily_snapshots: end of each day from the snapshot's date to the as-of date.
-- Only transactions after the pair's snapshot_at move its balances (agg_day's d_on_hand and
-- d_reserved count only those). The days run from the earliest snapshot day to the as-of date.
CREATE TEMP TABLE calendar_span AS
SELECT first_day, as_of, as_of - first_day + 1 AS days
FROM (SELECT min(CAST(l.snapshot_at AS DATE)) AS first_day, max(a.as_of) AS as_of
      FROM stock_levels l CROSS JOIN run_as_of a)
WHERE first_day <= as_of;

-- Per pair, running totals of its balance changes, one list element per calendar day
-- (running_totals, udfs/: element i sums the changes of days 0 to i). Days are list
-- positions, so nothing is sorted: as a join of every pair-day with its day's changes and a
-- sum() OVER (PARTITION BY pair ORDER BY day) window, 4.5M pair-days took 4-6 s.
CREATE TEMP TABLE pair_moves AS
SELECT m.sku, m.warehouse_id,
       running_totals(CAST(m.period_start AS DATE) - s.first_day, m.d_on_hand, s.days) AS on_hand_moves,
       running_totals(CAST(m.period_start AS DATE) - s.first_day, m.d_reserved, s.days) AS reserved_moves
FROM agg_day m CROSS JOIN calendar_span s
GROUP BY m.sku, m.warehouse_id;

DROP TABLE agg_day;

-- One row per pair and day from its snapshot's day: the day's slice of the lists, unnested
-- side by side with the dates. A pair without transactions keeps its snapshot balances.
CREATE TEMP TABLE snapshots_new AS
SELECT date, sku, warehouse_id, on_hand, reserved, on_hand - reserved AS available
FROM (
  SELECT date, sku, warehouse_id, quantity_on_hand + on_hand_move AS on_hand,
         quantity_reserved + reserved_move AS reserved
  FROM (
    SELECT l.sku, l.warehouse_id, l.quantity_on_hand, l.quantity_reserved,
           unnest(range(CAST(l.snapshot_at AS DATE), s.as_of + INTERVAL '1 day', INTERVAL '1 day')) AS date,
           unnest(array_slice(coalesce(p.on_hand_moves, array_repeat(CAST(0 AS BIGINT), s.days)),
                              CAST(l.snapshot_at AS DATE) - s.first_day + 1, s.days)) AS on_hand_move,
           unnest(array_slice(coalesce(p.reserved_moves, array_repeat(CAST(0 AS BIGINT), s.days)),
                              CAST(l.snapshot_at AS DATE) - s.first_day + 1, s.days)) AS reserved_move
    FROM stock_levels l
    CROSS JOIN calendar_span s
    LEFT JOIN pair_moves p ON p.sku = l.sku AND p.warehouse_id = l.warehouse_id
  )
);

CREATE TABLE IF NOT EXISTS inventory_daily_snapshots PARTITIONED BY (date) AS
SELECT * FROM snapshots_new LIMIT 0;

MERGE INTO inventory_daily_snapshots AS t
USING snapshots_new AS s
ON t.date = s.date AND t.sku = s.sku AND t.warehouse_id = s.warehouse_id
WHEN MATCHED AND (t.on_hand <> s.on_hand OR t.reserved <> s.reserved) THEN UPDATE SET *
WHEN NOT MATCHED THEN INSERT *
WHEN NOT MATCHED BY SOURCE THEN DELETE;

-- inventory_metrics at the as-of date. Units out count all history (also transactions
-- before the snapshot); every ratio with a zero denominator is NULL (safe_div).
CREATE TEMP TABLE on_hand_30d AS
SELECT s.sku, s.warehouse_id, avg(CAST(s.on_hand AS DOUBLE)) AS avg_on_hand
FROM snapshots_new s CROSS JOIN run_as_of a
WHERE s.date > a.as_of - INTERVAL '30 days' AND s.date <= a.as_of
GROUP BY s.sku, s.warehouse_id;

CREATE TEMP TABLE metrics_new AS
SELECT sku, warehouse_id, as_of_date, velocity_7d, velocity_30d,
       safe_div(velocity_7d, velocity_30d) AS trend,
       safe_div(CAST(out_30d AS DOUBLE), avg_on_hand) AS turnover_30d,
       on_hand, reserved, available,
       safe_div(CAST(available AS DOUBLE), velocity_7d) AS days_of_cover
FROM (
  SELECT l.sku, l.warehouse_id, a.as_of AS as_of_date,
         CAST(coalesce(w.out_7d, 0) AS DOUBLE) / 7 AS velocity_7d,
         CAST(coalesce(w.out_30d, 0) AS DOUBLE) / 30 AS velocity_30d,
         coalesce(w.out_30d, 0) AS out_30d,
         o.avg_on_hand, s.on_hand, s.reserved, s.available
  FROM stock_levels l
  CROSS JOIN run_as_of a
  LEFT JOIN units_out_windows w ON w.sku = l.sku AND w.warehouse_id = l.warehouse_id
  LEFT JOIN on_hand_30d o ON o.sku = l.sku AND o.warehouse_id = l.warehouse_id
  LEFT JOIN snapshots_new s ON s.sku = l.sku AND s.warehouse_id = l.warehouse_id AND s.date = a.as_of
  WHERE a.as_of IS NOT NULL
);

CREATE TABLE IF NOT EXISTS inventory_metrics AS SELECT * FROM metrics_new LIMIT 0;

MERGE INTO inventory_metrics AS t
USING metrics_new AS s
ON t.sku = s.sku AND t.warehouse_id = s.warehouse_id
WHEN MATCHED THEN UPDATE SET *
WHEN NOT MATCHED THEN INSERT *
WHEN NOT MATCHED BY SOURCE THEN DELETE;
