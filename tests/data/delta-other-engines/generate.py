"""Writes the Delta tables in this directory with another engine than stockroom.

They were made once with the Python `deltalake` package (delta-rs 1.6.6, from PyPI) and
pyarrow, and are kept as files: the tests read them and never run this script. To
re-make them, run it in this directory with a Python that has `deltalake==1.6.6` and
`pyarrow` installed (a virtual environment outside the repository):

    python generate.py

Tables (every version's expected rows are in `<table>/expected/v<N>.csv`, sorted):

- `partitioned`: partitioned by two columns (one with a space, one null), appended,
  deleted from and overwritten: the path form of such a table counts removed files.
- `column_mapping`: `delta.columnMapping.mode = name` (Parquet columns are named
  `col-<uuid>`); version 2 renames a column the way Spark's ALTER TABLE RENAME COLUMN
  does, in the metadata only.
- `deletion_vectors`: version 1 deletes two rows with a deletion vector (a
  `deletion_vector_<uuid>.bin` file next to the data), as Spark and Databricks do; delta-rs
  rewrites files instead, so this commit is written here by hand, to the protocol.
- `checkpointed`: a checkpoint at version 3, and the JSON commits before it removed (as a
  log cleanup does): reading needs the checkpoint.
- `unsupported_feature`: needs the reader feature `typeWidening`, which deltalake 1.1
  cannot read: it must be refused by name, never misread.
"""

import base64
import csv
import json
import os
import shutil
import struct
import uuid
import zlib

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable, write_deltalake


def expected(path, version):
    dt = DeltaTable(path, version=version)
    t = dt.to_pyarrow_table()
    cols = sorted(t.column_names)
    rows = sorted(
        [["" if v is None else str(v) for v in r] for r in zip(*[t[c].to_pylist() for c in cols])]
    )
    os.makedirs(f"{path}/expected", exist_ok=True)
    with open(f"{path}/expected/v{version}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        w.writerows(rows)


def commit(path, version, actions):
    with open(f"{path}/_delta_log/{version:020d}.json", "w") as f:
        for a in actions:
            f.write(json.dumps(a, separators=(",", ":")) + "\n")


def partitioned():
    p = "partitioned"
    t = pa.table(
        {
            "id": pa.array([1, 2, 3, 4], pa.int64()),
            "letter": ["a", "b", "a b", None],
            "num": pa.array([1, 1, 2, 2], pa.int32()),
            "amount": [1.5, 2.5, 3.5, 4.5],
        }
    )
    write_deltalake(p, t, partition_by=["letter", "num"])
    write_deltalake(p, pa.table({"id": pa.array([5], pa.int64()), "letter": ["b"],
                                 "num": pa.array([2], pa.int32()), "amount": [5.5]}), mode="append")
    DeltaTable(p).delete("id = 1 OR id = 4")
    write_deltalake(p, pa.table({"id": pa.array([9], pa.int64()), "letter": ["z"],
                                 "num": pa.array([9], pa.int32()), "amount": [9.5]}),
                    mode="overwrite")
    for v in range(4):
        expected(p, v)


def column_mapping():
    p = "column_mapping"
    t = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": ["a", "b", "c"]})
    write_deltalake(p, t, configuration={"delta.columnMapping.mode": "name"})
    write_deltalake(p, pa.table({"id": pa.array([4], pa.int64()), "name": ["d"]}), mode="append")
    # delta-rs' pyarrow reader reads this table's columns as all null (it looks for the
    # logical names in the files): the expected rows are the ones written.
    os.makedirs(f"{p}/expected", exist_ok=True)
    for v, rows in ((0, 3), (1, 4)):
        with open(f"{p}/expected/v{v}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["id", "name"])
            w.writerows([[str(i), "abcd"[i - 1]] for i in range(1, rows + 1)])
    # Version 2: RENAME COLUMN name TO label, as Spark writes it (metadata only).
    log = [json.loads(l) for l in open(f"{p}/_delta_log/{0:020d}.json")]
    meta = next(a["metaData"] for a in log if "metaData" in a)
    schema = json.loads(meta["schemaString"])
    for f in schema["fields"]:
        if f["name"] == "name":
            f["name"] = "label"
    meta["schemaString"] = json.dumps(schema, separators=(",", ":"))
    commit(p, 2, [
        {"commitInfo": {"timestamp": 1767225600000, "operation": "RENAME COLUMN",
                        "operationParameters": {"oldColumnPath": "name", "newColumnPath": "label"},
                        "engineInfo": "hand-written, as Apache-Spark/3.5 Delta-Lake/3.2 does"}},
        {"metaData": meta},
    ])
    with open(f"{p}/expected/v2.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "label"])
        w.writerows([["1", "a"], ["2", "b"], ["3", "c"], ["4", "d"]])


Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"


def z85(data):
    out = []
    for i in range(0, len(data), 4):
        n = struct.unpack(">I", data[i:i + 4])[0]
        chunk = []
        for _ in range(5):
            chunk.append(Z85[n % 85])
            n //= 85
        out.extend(reversed(chunk))
    return "".join(out)


def roaring_treemap(rows):
    """Delta's deletion vector bitmap: magic, then a 64-bit roaring bitmap (portable)."""
    rows = sorted(rows)
    # One 32-bit bitmap (high bits 0) with one array container (key 0).
    bitmap = struct.pack("<II", 12346, 1)           # cookie without run containers, 1 container
    bitmap += struct.pack("<HH", 0, len(rows) - 1)  # container key, cardinality - 1
    bitmap += struct.pack("<I", 4 + 4 + 4 + 4)      # offset of the container's data
    bitmap += b"".join(struct.pack("<H", r) for r in rows)
    return struct.pack("<I", 1681511377) + struct.pack("<Q", 1) + struct.pack("<I", 0) + bitmap


def deletion_vectors():
    p = "deletion_vectors"
    t = pa.table({"id": pa.array(range(1, 11), pa.int64()),
                  "name": [f"n{i}" for i in range(1, 11)]})
    write_deltalake(p, t, configuration={"delta.enableDeletionVectors": "true"})
    # delta-rs' pyarrow reader refuses deletion-vector tables: the expected rows are known.
    os.makedirs(f"{p}/expected", exist_ok=True)
    with open(f"{p}/expected/v0.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "name"])
        w.writerows(sorted([[str(i), f"n{i}"] for i in range(1, 11)]))
    add = next(json.loads(l)["add"] for l in open(f"{p}/_delta_log/{0:020d}.json")
               if "add" in json.loads(l))
    deleted_rows = [1, 4]  # row indexes: ids 2 and 5
    data = roaring_treemap(deleted_rows)
    u = uuid.UUID("5f1b7b1e-2a4f-4c1b-9e4c-0d6a3c2b1a09")
    with open(f"{p}/deletion_vector_{u}.bin", "wb") as f:
        f.write(b"\x01" + struct.pack(">I", len(data)) + data + struct.pack(">I", zlib.crc32(data)))
    dv = {"storageType": "u", "pathOrInlineDv": z85(u.bytes), "offset": 1,
          "sizeInBytes": len(data), "cardinality": len(deleted_rows)}
    now = 1767225600000
    new_add = dict(add, deletionVector=dv, dataChange=True, modificationTime=now)
    remove = {"path": add["path"], "deletionTimestamp": now, "dataChange": True,
              "extendedFileMetadata": True, "partitionValues": add["partitionValues"],
              "size": add["size"]}
    commit(p, 1, [
        {"commitInfo": {"timestamp": now, "operation": "DELETE",
                        "operationParameters": {"predicate": "[\"(id IN (2, 5))\"]"},
                        "engineInfo": "hand-written, as Apache-Spark/3.5 Delta-Lake/3.2 does"}},
        {"remove": remove},
        {"add": new_add},
    ])
    with open(f"{p}/expected/v1.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "name"])
        w.writerows(sorted([[str(i), f"n{i}"] for i in range(1, 11) if i not in (2, 5)]))


def checkpointed():
    p = "checkpointed"
    for i in range(4):
        write_deltalake(p, pa.table({"id": pa.array([i], pa.int64())}), mode="append")
    DeltaTable(p).create_checkpoint()
    write_deltalake(p, pa.table({"id": pa.array([10], pa.int64())}), mode="append")
    for v in (3, 4):
        expected(p, v)
    for v in range(3):
        os.remove(f"{p}/_delta_log/{v:020d}.json")


def unsupported_feature():
    p = "unsupported_feature"
    write_deltalake(p, pa.table({"id": pa.array([1, 2], pa.int64())}))
    lines = [json.loads(l) for l in open(f"{p}/_delta_log/{0:020d}.json")]
    for a in lines:
        if "protocol" in a:
            a["protocol"] = {"minReaderVersion": 3, "minWriterVersion": 7,
                             "readerFeatures": ["typeWidening"],
                             "writerFeatures": ["typeWidening"]}
    commit(p, 0, lines)


if __name__ == "__main__":
    for f in (partitioned, column_mapping, deletion_vectors, checkpointed, unsupported_feature):
        shutil.rmtree(f.__name__, ignore_errors=True)
        f()
    for root, _, files in os.walk("."):
        for name in files:
            if name.endswith(".crc"):
                os.remove(os.path.join(root, name))
