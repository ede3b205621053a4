"""The ecommerce pipeline's rules (docs/pipelines.md#ecommerce) in DuckDB, written as Delta.

    python ecommerce_duckdb.py --files DIR --out WAREHOUSE [--threads N]

One batch into an empty warehouse: reads every `*.csv` / `*.csv.gz` of DIR, validates each
record with the same reason codes as sql/ecommerce/10_validate.sql, stages the last version
of each key, computes the KPIs, and writes Delta tables under WAREHOUSE/tables/<name>
(stg_products, stg_orders, stg_order_items, order_kpis, category_kpis, rejects), partitioned
as stockroom partitions them. Prints a JSON summary (rows read / valid / rejected and the
count per reason code, per file) on stdout. Needs only duckdb and deltalake.

Not reproduced: the run ledger, archive and run tables (no idempotency across runs: this is
one batch into an empty warehouse), MERGE into existing staging, and a rejected row's `record`
is its fields written back as CSV (DuckDB does not hand out the raw line), except for
MALFORMED rows, whose raw line DuckDB does keep.
"""

import argparse
import csv
import gzip
import hashlib
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import duckdb
from deltalake import write_deltalake

# Required columns per file type, in the order the file name's prefix is tried
# (sql/ecommerce/pipeline.toml: order_items before orders).
TYPES = {
    "products": ["id", "sku", "cost", "category", "name", "brand", "retail_price", "department"],
    "order_items": ["id", "order_id", "user_id", "product_id", "status", "created_at",
                    "shipped_at", "delivered_at", "returned_at", "sale_price"],
    "orders": ["order_id", "user_id", "status", "created_at", "returned_at", "shipped_at",
               "delivered_at", "num_of_item"],
}

# stockroom's value rules (udfs/src/parse.rs, udfs/src/timestamp.rs) as DuckDB macros. The
# regular expressions keep out what DuckDB's casts would take and stockroom does not (`1_000`,
# ` 5`, `inf`, `24:00:00`, `+0530`).
MACROS = r"""
CREATE MACRO field(x) AS CASE
    WHEN regexp_matches(x, '^[ \t\n\x0b\x0c\r]|[ \t\n\x0b\x0c\r]$')
    THEN nullif(trim(x, ' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13)), '')
    ELSE nullif(x, '') END;
CREATE MACRO parse_int(x) AS CASE
    WHEN regexp_full_match(x, '[+-]?[0-9]+') THEN TRY_CAST(x AS BIGINT)
    WHEN regexp_full_match(x, '[+-]?[0-9]+\.0*') THEN TRY_CAST(split_part(x, '.', 1) AS BIGINT) END;
CREATE MACRO finite(v) AS CASE WHEN isfinite(v) THEN v END;
CREATE MACRO parse_float(x) AS CASE
    WHEN regexp_full_match(x, '[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?')
    THEN finite(TRY_CAST(x AS DOUBLE)) END;
CREATE MACRO zone_minutes(z) AS CASE WHEN z = '' THEN 0 ELSE
    (CASE WHEN left(z, 1) = '-' THEN -1 ELSE 1 END)
    * (CAST(substr(z, 2, 2) AS INT) * 60 + coalesce(TRY_CAST(substr(z, 5, 2) AS INT), 0)) END;
CREATE MACRO ts_by_parts(x) AS (
    TRY_CAST(substr(x, 1, 10) || ' ' || substr(x, 12, 8) || '.'
             || rpad(left(regexp_extract(x, '^.{19}\.([0-9]+)', 1), 6), 6, '0') AS TIMESTAMP)
    - to_minutes(zone_minutes(regexp_extract(x, '[+-][0-9]{2}(:[0-9]{2})?$'))))::TIMESTAMPTZ;
-- DuckDB's own cast gives the same instant for every form of the grammar it takes (it
-- truncates fractions too); the forms it does not take (` +05`, `UTC` without a space) go
-- by parts.
CREATE MACRO parse_ts(x) AS CASE
    WHEN regexp_full_match(x, '[0-9]{4}-[0-9]{2}-[0-9]{2}[T ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?( ?(Z|UTC|[+-]([01][0-9]|2[0-3])(:[0-5][0-9])?))?')
    THEN coalesce(TRY_CAST(x AS TIMESTAMPTZ), ts_by_parts(x)) END;
CREATE MACRO csv_field(x) AS CASE WHEN x IS NULL THEN ''
    WHEN regexp_matches(x, '[",\r\n]') THEN '"' || replace(x, '"', '""') || '"' ELSE x END;
"""

# Per type: each column of checked_<kind> from the trimmed text fields `f_<name>`, and the
# reason codes in the order 10_validate.sql lists them (at most one code per field) over the
# text `f_<name>` and the typed value `v_<name>`.
TYPED = {
    "products": {"id": "parse_int(f_id)", "sku": "f_sku", "cost": "parse_float(f_cost)",
                 "category": "f_category", "name": "f_name", "brand": "f_brand",
                 "retail_price": "parse_float(f_retail_price)", "department": "f_department"},
    "orders": {"order_id": "parse_int(f_order_id)", "user_id": "parse_int(f_user_id)",
               "status": "f_status", "created_at": "parse_ts(f_created_at)",
               "returned_at": "parse_ts(f_returned_at)", "shipped_at": "parse_ts(f_shipped_at)",
               "delivered_at": "parse_ts(f_delivered_at)",
               "num_of_item": "parse_int(f_num_of_item)"},
    "order_items": {"id": "parse_int(f_id)", "order_id": "parse_int(f_order_id)",
                    "user_id": "parse_int(f_user_id)", "product_id": "parse_int(f_product_id)",
                    "status": "f_status", "created_at": "parse_ts(f_created_at)",
                    "shipped_at": "parse_ts(f_shipped_at)",
                    "delivered_at": "parse_ts(f_delivered_at)",
                    "returned_at": "parse_ts(f_returned_at)",
                    "sale_price": "parse_float(f_sale_price)"},
}
# The record is staged when its key is an integer (stg_*.sql: `stageable`).
KEYS = {"products": ["id"], "orders": ["order_id"], "order_items": ["id", "order_id"]}


def required(c, bad="BAD_TYPE"):
    return f"CASE WHEN f_{c} IS NULL THEN 'MISSING:{c}' WHEN v_{c} IS NULL THEN '{bad}:{c}' END"


def positive(c):
    return (f"CASE WHEN f_{c} IS NULL THEN 'MISSING:{c}' WHEN v_{c} IS NULL THEN 'BAD_TYPE:{c}' "
            f"WHEN v_{c} <= 0 THEN 'NOT_POSITIVE:{c}' END")


def optional(c):
    return f"CASE WHEN f_{c} IS NOT NULL AND v_{c} IS NULL THEN 'BAD_TYPE:{c}' END"


REASONS = {
    "products": [required("id"), positive("cost"), positive("retail_price")],
    "orders": [required("order_id"), optional("user_id"),
               required("created_at", "BAD_TIMESTAMP"), positive("num_of_item")],
    "order_items": [required("id"), required("order_id"), optional("user_id"),
                    required("product_id"), positive("sale_price")],
}

STAGED = {
    "products": ("stg_products", ["department"], """
        SELECT id, sku, cost, category, name, brand, retail_price,
               coalesce(department, 'Unknown') AS department, source_file, {run_id} AS run_id
        FROM checked_products WHERE stageable
        QUALIFY row_number() OVER (PARTITION BY id ORDER BY file_ord DESC, ord DESC) = 1"""),
    "orders": ("stg_orders", ["year", "month"], """
        SELECT order_id, user_id, lower(status) AS status, created_at, returned_at, shipped_at,
               delivered_at, num_of_item, CAST(year(created_at) AS INT) AS year,
               CAST(month(created_at) AS INT) AS month, source_file, {run_id} AS run_id,
               len(reasons) = 0 AS passed_checks
        FROM checked_orders WHERE stageable
        QUALIFY row_number() OVER (PARTITION BY order_id ORDER BY file_ord DESC, ord DESC) = 1"""),
    "order_items": ("stg_order_items", ["year", "month"], """
        SELECT id, order_id, user_id, product_id, lower(status) AS status, created_at,
               shipped_at, delivered_at, returned_at, sale_price,
               CAST(year(created_at) AS INT) AS year, CAST(month(created_at) AS INT) AS month,
               source_file, {run_id} AS run_id
        FROM checked_order_items WHERE stageable
        QUALIFY row_number() OVER (PARTITION BY id ORDER BY file_ord DESC, ord DESC) = 1"""),
}

# sql/ecommerce/valid_orders.sql, facts.sql, order_kpis.sql, category_kpis.sql.
KPIS = """
CREATE TEMP TABLE valid_orders AS
SELECT order_id, user_id, status, CAST(created_at AS DATE) AS order_date
FROM stg_orders WHERE created_at IS NOT NULL AND num_of_item > 0 AND passed_checks;

CREATE TEMP TABLE facts AS
SELECT o.order_date, i.order_id, i.sale_price, i.status AS item_status,
       CASE WHEN p.category IS NULL OR p.category = '' THEN 'Unknown' ELSE p.category END AS category
FROM stg_order_items AS i
JOIN valid_orders AS o ON i.order_id = o.order_id
LEFT JOIN (SELECT id, category FROM stg_products WHERE cost > 0 AND retail_price > 0) AS p
  ON i.product_id = p.id
WHERE i.product_id IS NOT NULL AND i.sale_price > 0;

CREATE TEMP TABLE order_kpis AS
SELECT o.order_date, count(*) AS total_orders,
       coalesce(max(f.revenue), 0.0) AS total_revenue,
       coalesce(max(f.items), 0) AS total_items_sold,
       count(DISTINCT o.user_id) AS unique_customers,
       100.0 * count(*) FILTER (WHERE o.status = 'returned') / nullif(count(*), 0) AS return_rate
FROM valid_orders AS o
LEFT JOIN (SELECT order_date, sum(sale_price) AS revenue, count(*) AS items
           FROM facts GROUP BY order_date) AS f ON o.order_date = f.order_date
GROUP BY o.order_date;

CREATE TEMP TABLE category_kpis AS
SELECT category, order_date, sum(sale_price) AS daily_revenue,
       sum(sale_price) / nullif(count(DISTINCT order_id), 0) AS avg_order_value,
       100.0 * count(*) FILTER (WHERE item_status = 'returned') / nullif(count(*), 0) AS avg_return_rate
FROM facts GROUP BY category, order_date;
"""


def sql_text(s):
    return "'" + s.replace("'", "''") + "'"


def column_type(expr):
    for fn, ty in (("parse_int", "BIGINT"), ("parse_float", "DOUBLE"), ("parse_ts", "TIMESTAMPTZ")):
        if expr.startswith(fn):
            return ty
    return "VARCHAR"


def file_type(name):
    """The type a file's name picks (pipeline.toml's [[input.types]]), or None."""
    lower = name.lower()
    if not (lower.endswith(".csv") or lower.endswith(".csv.gz")):
        return None
    return next((t for t in TYPES if lower.startswith(t)), None)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def csv_source(path, rejects, columns):
    # RFC 4180, every field as text, the columns named c0, c1, … (the header was read by
    # header()). Rows with the wrong number of fields (or a quote left open) go to table
    # `rejects` instead of failing the read: they are MALFORMED.
    names = ", ".join(f"'c{i}'" for i in range(columns))
    return (f"read_csv({sql_text(str(path))}, header=true, delim=',', quote='\"', escape='\"', "
            f"all_varchar=true, names=[{names}], store_rejects=true, "
            f"rejects_table='{rejects}', rejects_scan='{rejects}_scan')")


def header(path):
    """The file's column names (its first non-blank line), or None when it has none."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as f:
        return next((row for row in csv.reader(f) if any(c.strip() for c in row)), None)


def load_file(con, kind, path, file_ord, names):
    """Validate one file into checked_<kind> and its MALFORMED lines into `malformed`;
    returns the number of records read."""
    by_field = {n.strip().lower(): i for i, n in enumerate(names)}
    raw = [f"c{i} AS r_{i}" for i in range(len(names))]
    text = [f"field(c{by_field[c]}) AS f_{c}" for c in TYPES[kind]]
    typed = [f"{e} AS v_{c}" for c, e in TYPED[kind].items()]
    # The record written back as CSV in the file's column order, only for rows rejected.
    record = " || ',' || ".join(f"csv_field(r_{i})" for i in range(len(names)))
    rejects = f"rej_{file_ord}"
    n = con.execute(f"""
        INSERT INTO checked_{kind}
        SELECT {sql_text(path.name)}, {file_ord}, ord,
               {", ".join(f"v_{c}" for c in TYPED[kind])},
               {" AND ".join(f"v_{k} IS NOT NULL" for k in KEYS[kind])},
               reasons, CASE WHEN len(reasons) > 0 THEN {record} END
        FROM (SELECT *, list_filter([{", ".join(REASONS[kind])}], lambda c: c IS NOT NULL) AS reasons
              FROM (SELECT *, {", ".join(typed)}
                    FROM (SELECT ord, {", ".join(raw + text)}
                          FROM (SELECT row_number() OVER () AS ord, *
                                FROM {csv_source(path, rejects, len(names))}))))
    """).fetchall()[0][0]
    m = con.execute(f"""
        INSERT INTO malformed
        SELECT {sql_text(path.name)}, {file_ord}, {sql_text(kind)}, line, any_value(csv_line)
        FROM {rejects} GROUP BY line
    """).fetchall()[0][0]
    return n + m


def create_tables(con):
    for kind, cols in TYPED.items():
        typed = ", ".join(f"{c} {column_type(e)}" for c, e in cols.items())
        con.execute(f"""CREATE TEMP TABLE checked_{kind} (source_file VARCHAR, file_ord INT,
                        ord BIGINT, {typed}, stageable BOOLEAN, reasons VARCHAR[], record VARCHAR)""")
    con.execute("""CREATE TEMP TABLE malformed (source_file VARCHAR, file_ord INT, kind VARCHAR,
                   line BIGINT, record VARCHAR)""")


def write(con, out, table, query, partition_by=None):
    write_deltalake(str(out / "tables" / table), con.sql(query), mode="overwrite",
                    partition_by=partition_by)


def write_rejects(con, out, run_id, hashes):
    """The rejected records with their reasons. A rejected record's line: its ordinal in the
    file plus the header plus the MALFORMED lines before it (the physical line while every
    record is one line)."""
    con.execute("CREATE TEMP TABLE file_hashes (file_ord INT, file_hash VARCHAR)")
    con.executemany("INSERT INTO file_hashes VALUES (?, ?)", list(hashes.items()))
    checked = " UNION ALL ".join(
        f"SELECT source_file, file_ord, ord, record, reasons FROM checked_{k} WHERE len(reasons) > 0"
        for k in TYPES)
    write(con, out, "rejects", f"""
        WITH steps AS (
            SELECT file_ord, line - 1 - row_number() OVER w AS good_before, row_number() OVER w AS seen
            FROM malformed WINDOW w AS (PARTITION BY file_ord ORDER BY line)),
        steps1 AS (SELECT file_ord, good_before, max(seen) AS seen FROM steps GROUP BY ALL),
        rejected AS (
            SELECT c.source_file, c.file_ord, c.ord + 1 + coalesce(s.seen, 0) AS line_number,
                   c.record, c.reasons
            FROM ({checked}) AS c
            ASOF LEFT JOIN steps1 AS s ON c.file_ord = s.file_ord AND c.ord > s.good_before
            UNION ALL
            SELECT source_file, file_ord, line, record, ['MALFORMED'] FROM malformed)
        SELECT 'ecommerce' AS pipeline, {sql_text(run_id)} AS run_id, r.source_file,
               h.file_hash, r.line_number, r.record, r.reasons, now() AS rejected_at
        FROM rejected AS r JOIN file_hashes AS h USING (file_ord)
    """, ["pipeline"])


def file_counts(con):
    """Per file: rows read, valid, rejected and the count per reason code."""
    union = " UNION ALL ".join(f"SELECT source_file, reasons FROM checked_{k}" for k in TYPES)
    union += " UNION ALL SELECT source_file, ['MALFORMED'] FROM malformed"
    counts = {}
    for f, read, valid in con.sql(f"""SELECT source_file, count(*), count(*) FILTER (len(reasons) = 0)
                                     FROM ({union}) GROUP BY ALL""").fetchall():
        counts[f] = {"rows_read": read, "rows_valid": valid, "rows_rejected": read - valid,
                     "reasons": {}}
    for f, code, n in con.sql(f"""SELECT source_file, code, count(*)
                                 FROM (SELECT source_file, unnest(reasons) AS code FROM ({union}))
                                 GROUP BY ALL ORDER BY ALL""").fetchall():
        counts[f]["reasons"][code] = n
    return counts


def run(files_dir, out, threads):
    run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ") + f"-{os.getpid()}"
    files = sorted((p for p in files_dir.iterdir() if p.is_file() and not p.name.startswith(".")),
                   key=lambda p: p.name.encode())
    hashing = ThreadPoolExecutor(1)
    hashes = {i: hashing.submit(sha256, p) for i, p in enumerate(files)}

    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute("SET TimeZone = 'UTC'")
    con.execute(MACROS)
    create_tables(con)
    summary = {"run_id": run_id, "files": []}
    read = {}
    for i, path in enumerate(files):
        kind = file_type(path.name)
        names = header(path) if kind else None
        missing = [c for c in TYPES[kind] if c not in {n.strip().lower() for n in names}] if names else []
        if kind is None:
            reason = "UNKNOWN_TYPE"
        elif names is None:
            reason = "EMPTY"
        elif missing:
            reason = "MISSING_COLUMNS"
        elif load_file(con, kind, path, i, names) == 0:
            reason = "EMPTY"
        else:
            read[path.name] = i
            continue
        summary["files"].append({"file": path.name, "status": "rejected", "reject_reason": reason})

    for kind, (table, partition_by, query) in STAGED.items():
        con.execute(f"CREATE TEMP TABLE {table} AS {query.format(run_id=sql_text(run_id))}").fetchall()
        write(con, out, table, f"SELECT * FROM {table}", partition_by)
    con.execute(KPIS).fetchall()
    for table in ("order_kpis", "category_kpis"):
        write(con, out, table, f"SELECT * FROM {table} ORDER BY ALL")
    write_rejects(con, out, run_id, {i: hashes[i].result() for i in read.values()})

    counts = file_counts(con)
    summary["files"] += [{"file": f, **counts.get(f, {"rows_read": 0, "rows_valid": 0,
                                                       "rows_rejected": 0, "reasons": {}})}
                         for f in read]
    summary["totals"] = {k: sum(f.get(k, 0) for f in summary["files"])
                         for k in ("rows_read", "rows_valid", "rows_rejected")}
    return json.dumps(summary, indent=2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", required=True, type=Path, help="the generated CSV files")
    ap.add_argument("--out", required=True, type=Path, help="the warehouse to write tables/ into")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    print(run(args.files, args.out, args.threads))


if __name__ == "__main__":
    sys.exit(main())
