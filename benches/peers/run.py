#!/usr/bin/env python3
"""stockroom's ecommerce pipeline side by side with the same rules in DuckDB → Delta and with
DuckDB only counting the rows (the reading floor), on the same generated files.

    python3 benches/peers/run.py [--scale 10] [--binary target/release/stockroom] [--rounds 3]

Generates the files once (`stockroom generate ecommerce`), then each round runs, one after
the other: (1) `stockroom pipeline run ecommerce` on a fresh warehouse with the files in its
landing directory, (2) ecommerce_duckdb.py on the same files, (3) floor.py. Each is a child
process: wall time from start to exit, peak RSS from os.wait4's rusage of that child alone.
Then checks that the peer's order_kpis and category_kpis (read back with deltalake) equal
stockroom's and that both counted the same valid and rejected records per file and reason,
and prints median times, peak RSS and the ratios. Exits 1, printing the first differing rows,
when they differ.

The binary defaults to target/release/stockroom (build it with `cargo build --release`); a
debug build is several times slower and not comparable. duckdb and deltalake come pinned from
requirements.txt into the virtualenv ~/.cache/stockroom/peers-venv, created on first use; this
script re-runs itself under that interpreter.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = Path.home() / ".cache" / "stockroom" / "peers-venv"
# Float KPIs are sums of up to ~10^5 prices per day (scale 10), added in a different order by
# each engine (parallel partial sums), so they agree to rounding only: the error bound is about
# n·ε ≈ 10^5 · 1.1e-16 ≈ 1e-11 relative. 1e-9 leaves room for that and is still far below any
# difference a rule makes (one item of at least 5.00 in a day's revenue is > 1e-5 relative).
REL_TOL = 1e-9
KPI_KEYS = {"order_kpis": ["order_date"], "category_kpis": ["category", "order_date"]}


def ensure_venv():
    """Re-run this script under the peers' virtualenv, creating or updating it first."""
    python = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    pins = (HERE / "requirements.txt").read_text()
    stamp = VENV / "requirements.txt"
    if not python.exists() or not stamp.exists() or stamp.read_text() != pins:
        print(f"setting up {VENV} from {HERE / 'requirements.txt'}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "-r", str(HERE / "requirements.txt")], check=True)
        stamp.write_text(pins)
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


def measure(cmd, log_dir, name):
    """Run `cmd` as a child; its stdout goes to log_dir/name.out. Returns (seconds, peak RSS
    bytes, stdout text); exits on a non-zero status."""
    out_path, err_path = log_dir / f"{name}.out", log_dir / f"{name}.err"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} exited with {proc.returncode} (its output: "
                 f"{out_path}, {err_path}):\n" + err_path.read_text()[-3000:])
    return seconds, usage.ru_maxrss * 1024, out_path.read_text()  # ru_maxrss is in KiB


def fresh_dir(path):
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def link_or_copy(files, landing):
    for f in files.iterdir():
        try:
            os.link(f, landing / f.name)
        except OSError:
            shutil.copy2(f, landing / f.name)


def read_delta(con, path, name):
    """Table `name` in DuckDB from the Delta table at `path`, read with deltalake."""
    from deltalake import DeltaTable, QueryBuilder

    reader = QueryBuilder().register("t", DeltaTable(str(path))).execute("SELECT * FROM t")
    con.register(f"{name}_stream", reader)
    con.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_stream").fetchall()
    con.unregister(f"{name}_stream")


def compare_kpis(ours_wh, peer_wh):
    """Messages describing every difference between the two warehouses' KPI tables."""
    import duckdb

    con = duckdb.connect()
    problems, rows = [], {}
    for table, key in KPI_KEYS.items():
        read_delta(con, ours_wh / "tables" / table, f"ours_{table}")
        read_delta(con, peer_wh / "tables" / table, f"peer_{table}")
        cols = [r[0] for r in con.execute(f"DESCRIBE ours_{table}").fetchall()]
        peer_cols = [r[0] for r in con.execute(f"DESCRIBE peer_{table}").fetchall()]
        if cols != peer_cols:
            problems.append(f"{table}: columns differ: ours {cols}, peer {peer_cols}")
            continue
        values = [c for c in cols if c not in key]
        same = " AND ".join(
            f"(o.{c} IS NOT DISTINCT FROM p.{c} OR abs(o.{c} - p.{c}) <= {REL_TOL} * "
            f"greatest(abs(o.{c}), abs(p.{c})))" for c in values)
        on = " AND ".join(f"o.{k} = p.{k}" for k in key)
        diff = con.execute(f"""
            SELECT CASE WHEN p.{key[0]} IS NULL THEN 'only ours' WHEN o.{key[0]} IS NULL
                        THEN 'only peer' ELSE 'differ' END, o, p
            FROM ours_{table} AS o FULL JOIN peer_{table} AS p ON {on}
            WHERE o.{key[0]} IS NULL OR p.{key[0]} IS NULL OR NOT ({same})
            ORDER BY ALL LIMIT 10""").fetchall()
        rows[table] = con.execute(f"SELECT count(*) FROM ours_{table}").fetchall()[0][0]
        if diff:
            problems.append(f"{table}: first differing rows (ours | peer):")
            problems += [f"  {what}: {o} | {p}" for what, o, p in diff]
    return problems, rows


def compare_counts(ours, peer):
    """Messages for every file whose record counts or reason counts differ."""
    keys = ("rows_read", "rows_valid", "rows_rejected", "reasons", "reject_reason")
    ours = {f["file"]: {k: f.get(k) for k in keys} for f in ours["files"]}
    peer = {f["file"]: {k: f.get(k) for k in keys} for f in peer["files"]}
    return [f"{name}: ours {ours.get(name)}, peer {peer.get(name)}"
            for name in sorted(ours.keys() | peer.keys()) if ours.get(name) != peer.get(name)]


def table(rows):
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=10.0,
                    help="generator scale: 1 = 100k orders, ~250k items, 10k products")
    ap.add_argument("--binary", type=Path, default=Path("target/release/stockroom"),
                    help="the stockroom binary (default: target/release/stockroom)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dirty-ratio", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--files-per-type", type=int, default=1)
    ap.add_argument("--work", type=Path, help="scratch directory (default: a new temporary one, "
                    "removed at the end)")
    args = ap.parse_args()
    ensure_venv()

    import duckdb
    import deltalake

    binary = args.binary.resolve()
    if not binary.is_file():
        sys.exit(f"no stockroom binary at {args.binary}: build one with `cargo build --release` "
                 "or pass --binary PATH")
    work = args.work.resolve() if args.work else Path(tempfile.mkdtemp(prefix="stockroom-peers-"))
    logs = fresh_dir(work / "logs")
    files = fresh_dir(work / "files")
    generate = subprocess.run([binary, "generate", "ecommerce", "--scale", str(args.scale),
                               "--seed", str(args.seed), "--dirty-ratio", str(args.dirty_ratio),
                               "--files-per-type", str(args.files_per_type), "--out", files,
                               "--warehouse", work / "generate-warehouse"],
                              stdout=subprocess.DEVNULL)
    if generate.returncode != 0:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
        sys.exit(f"{binary} generate ecommerce exited with {generate.returncode}")
    size = sum(f.stat().st_size for f in files.iterdir())
    python = sys.executable
    peer_name = f"DuckDB {duckdb.__version__} + deltalake {deltalake.__version__}"
    systems = {"stockroom": [], peer_name: [], "DuckDB count(*) (floor)": []}
    ours_wh, peer_wh = work / "stockroom", work / "duckdb"

    for r in range(1, args.rounds + 1):
        fresh_dir(ours_wh)
        link_or_copy(files, fresh_dir(ours_wh / "landing" / "ecommerce"))
        secs, rss, out = measure([binary, "pipeline", "run", "ecommerce", "--warehouse", ours_wh,
                                  "--settle", "0", "--json"], logs, f"stockroom-{r}")
        ours_summary = json.loads(out)
        systems["stockroom"].append((secs, rss))
        fresh_dir(peer_wh)
        secs2, rss2, out = measure([python, HERE / "ecommerce_duckdb.py", "--files", files,
                                    "--out", peer_wh], logs, f"duckdb-{r}")
        peer_summary = json.loads(out)
        systems[peer_name].append((secs2, rss2))
        secs3, rss3, _ = measure([python, HERE / "floor.py", "--files", files], logs, f"floor-{r}")
        systems["DuckDB count(*) (floor)"].append((secs3, rss3))
        print(f"round {r}: stockroom {secs:.2f} s, peer {secs2:.2f} s, floor {secs3:.2f} s",
              file=sys.stderr)

    problems, kpi_rows = compare_kpis(ours_wh, peer_wh)
    problems += compare_counts(ours_summary, peer_summary)

    median = {s: statistics.median(t for t, _ in runs) for s, runs in systems.items()}
    peak = {s: max(m for _, m in runs) for s, runs in systems.items()}
    ours_t, floor_t = median["stockroom"], median["DuckDB count(*) (floor)"]
    rows = [["system", "median time", "range", "peak RSS", "time / stockroom", "time / floor"]]
    for s, runs in systems.items():
        times = [t for t, _ in runs]
        rows.append([s, f"{median[s]:.2f} s", f"{min(times):.2f}–{max(times):.2f} s",
                     f"{peak[s] / 2**20:,.0f} MiB", f"{median[s] / ours_t:.2f}×",
                     f"{median[s] / floor_t:.1f}×"])
    totals = ours_summary["totals"]
    print(f"ecommerce, generator scale {args.scale:g} (seed {args.seed}, dirty ratio "
          f"{args.dirty_ratio:g}): {totals['rows_read']:,} records, {size / 1e6:,.1f} MB of CSV; "
          f"{args.rounds} rounds; stockroom = {args.binary}; peak RSS = the most of any round")
    print(table(rows))
    if problems:
        print("\nthe peer's results differ from stockroom's:\n" + "\n".join(problems))
        print(f"(both warehouses are kept in {work})")
        sys.exit(1)
    print(f"\nequal: order_kpis ({kpi_rows['order_kpis']} rows) and category_kpis "
          f"({kpi_rows['category_kpis']} rows), floats within {REL_TOL:g} relative; "
          f"{totals['rows_valid']:,} valid and {totals['rows_rejected']:,} rejected records, "
          "the same per file and reason code")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
