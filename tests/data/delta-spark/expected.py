"""Writes `<table>/expected/v<N>.csv` for the Spark / Databricks tables in this directory.

The expected rows come from a reader independent of stockroom and of delta-rs: it replays
the JSON commits (add minus remove), reads the live Parquet files with pyarrow, maps
physical column names to logical ones (column mapping), adds partition values and drops
the rows that deletion vectors mark. Rows are sorted, values printed as Python's str(),
NULL as an empty field. Cross-check: table-with-dv-small's DELETE deleted `value IN (0,
9)` and delta-0.8.0's deleted `value = 3`, as their commitInfo records.

    python expected.py      # in this directory, with pyarrow installed
"""

import csv
import glob
import json
import os
import struct
import urllib.parse
import uuid

import pyarrow.parquet as pq

Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"


def z85_decode(s):
    out = b""
    for i in range(0, len(s), 5):
        n = 0
        for c in s[i:i + 5]:
            n = n * 85 + Z85.index(c)
        out += struct.pack(">I", n)
    return out


def roaring32(buf, pos):
    """One portable 32-bit roaring bitmap at `pos`: (values, end position)."""
    cookie = struct.unpack_from("<I", buf, pos)[0]
    if cookie & 0xFFFF == 12347:  # with run containers
        n = (cookie >> 16) + 1
        runs_at = pos + 4
        run_flags = buf[runs_at:runs_at + (n + 7) // 8]
        pos = runs_at + (n + 7) // 8
        has_offsets = n >= 4
    else:
        assert cookie == 12346, cookie
        n = struct.unpack_from("<I", buf, pos + 4)[0]
        run_flags = bytes((n + 7) // 8)
        pos += 8
        has_offsets = True
    header = [struct.unpack_from("<HH", buf, pos + 4 * i) for i in range(n)]
    pos += 4 * n
    if has_offsets:
        pos += 4 * n
    values = []
    for i, (key, card1) in enumerate(header):
        high = key << 16
        if run_flags[i // 8] >> (i % 8) & 1:
            runs = struct.unpack_from("<H", buf, pos)[0]
            pos += 2
            for _ in range(runs):
                start, length = struct.unpack_from("<HH", buf, pos)
                pos += 4
                values.extend(high | v for v in range(start, start + length + 1))
        elif card1 + 1 > 4096:
            words = struct.unpack_from("<1024Q", buf, pos)
            pos += 8192
            for w, word in enumerate(words):
                values.extend(high | (w * 64 + b) for b in range(64) if word >> b & 1)
        else:
            values.extend(high | v for v in struct.unpack_from(f"<{card1 + 1}H", buf, pos))
            pos += 2 * (card1 + 1)
    return values, pos


def deleted_rows(table, dv):
    if dv["storageType"] == "i":
        data = z85_decode(dv["pathOrInlineDv"])
    else:
        assert dv["storageType"] == "u", dv
        p = dv["pathOrInlineDv"]
        prefix, u = p[:-20], uuid.UUID(bytes=z85_decode(p[-20:]))
        path = os.path.join(table, prefix, f"deletion_vector_{u}.bin")
        with open(path, "rb") as f:
            f.seek(dv["offset"])
            size = struct.unpack(">I", f.read(4))[0]
            data = f.read(size)
    assert struct.unpack_from("<I", data, 0)[0] == 1681511377
    count = struct.unpack_from("<Q", data, 4)[0]
    pos, rows = 12, set()
    for _ in range(count):
        high = struct.unpack_from("<I", data, pos)[0]
        values, pos = roaring32(data, pos + 4)
        rows.update((high << 32) | v for v in values)
    assert len(rows) == dv["cardinality"]
    return rows


def typed(value, kind):
    if value is None:
        return None
    return {"integer": int, "long": int, "short": int, "byte": int}.get(kind, str)(value)


def expected(table):
    commits = sorted(glob.glob(f"{table}/_delta_log/*.json"))
    for version in range(len(commits)):
        live, meta = {}, None
        for c in commits[: version + 1]:
            for line in open(c):
                a = json.loads(line)
                if "metaData" in a:
                    meta = a["metaData"]
                if "add" in a:
                    live[a["add"]["path"]] = a["add"]
                if "remove" in a:
                    live.pop(a["remove"]["path"], None)
        fields = json.loads(meta["schemaString"])["fields"]
        phys = {f["name"]: f["metadata"].get("delta.columnMapping.physicalName", f["name"])
                for f in fields}
        names = [f["name"] for f in fields]
        rows = []
        for path, add in live.items():
            data = pq.read_table(os.path.join(table, urllib.parse.unquote(path))).to_pydict()
            n = len(next(iter(data.values()))) if data else 0
            gone = deleted_rows(table, add["deletionVector"]) if add.get("deletionVector") else set()
            for i in range(n):
                if i in gone:
                    continue
                row = []
                for f in fields:
                    p = phys[f["name"]]
                    if p in add["partitionValues"]:
                        row.append(typed(add["partitionValues"][p], f["type"]))
                    else:
                        row.append(data[p][i])
                rows.append(["" if v is None else str(v) for v in row])
        os.makedirs(f"{table}/expected", exist_ok=True)
        with open(f"{table}/expected/v{version}.csv", "w", newline="") as out:
            w = csv.writer(out, lineterminator="\n")
            w.writerow(names)
            w.writerows(sorted(rows))


if __name__ == "__main__":
    for t in sorted(os.listdir(".")):
        if os.path.isdir(os.path.join(t, "_delta_log")):
            expected(t)
