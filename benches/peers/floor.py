"""The reading floor: DuckDB counting the records of the same CSV files, nothing else.

    python floor.py --files DIR [--threads N]

Each `*.csv` / `*.csv.gz` of DIR is parsed as text with its header (the options the DuckDB
peer reads with; rows with the wrong number of fields are skipped, not failed on) and only
`count(*)` is kept. Prints the total as JSON. Needs only duckdb.
"""

import argparse
import json
import os
from pathlib import Path

import duckdb


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", required=True, type=Path)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    con = duckdb.connect()
    con.execute(f"SET threads = {args.threads}")
    rows = 0
    for path in sorted(args.files.iterdir()):
        if path.name.lower().endswith((".csv", ".csv.gz")):
            quoted = str(path).replace("'", "''")
            source = (f"read_csv('{quoted}', header=true, delim=',', quote='\"', escape='\"', "
                      "all_varchar=true, ignore_errors=true)")
            rows += con.execute(f"SELECT count(*) FROM {source}").fetchall()[0][0]
    print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    main()
