//! The engine core through the binary: SQL that writes Delta, time travel, history,
//! maintenance, the change feed, subquery predicates, lazy registration, errors.

use crate::common::{Wh, assert_success, independent_row_count, rows};

const SEED: &str = "CREATE TABLE sales PARTITIONED BY (day) AS \
    SELECT * FROM (VALUES (1, 'a', 10, '2024-01-01'), (2, 'b', 20, '2024-01-01'), (3, 'c', 30, '2024-01-02')) \
    AS v(id, name, qty, day)";

#[test]
fn write_statements_time_travel_history_and_maintenance() {
    let wh = Wh::new();
    // v0: CTAS, partitioned.
    let out = wh.ok(SEED);
    assert!(
        out.contains("3 inserted") && out.contains("version 0"),
        "{out}"
    );
    assert!(wh.path().join("tables/sales/day=2024-01-01").is_dir());

    // v1: INSERT.
    let out = wh.ok("INSERT INTO sales VALUES (4, 'd', 40, '2024-01-03')");
    assert!(out.contains("version 1"), "{out}");

    // v2: MERGE with every clause kind.
    let out = wh.ok(
        "MERGE INTO sales AS t USING (SELECT * FROM (VALUES (1, 'A', 11, '2024-01-01'), (5, 'e', 50, '2024-01-03'), (2, 'skip', -1, '2024-01-01')) AS v(id, name, qty, day)) AS s \
         ON t.id = s.id \
         WHEN MATCHED AND s.qty > 0 THEN UPDATE SET * \
         WHEN NOT MATCHED THEN INSERT * \
         WHEN NOT MATCHED BY SOURCE AND t.id = 3 THEN DELETE",
    );
    assert!(
        out.contains("1 inserted, 1 updated, 1 deleted") && out.contains("version 2"),
        "{out}"
    );
    assert_eq!(
        rows(&wh.csv("SELECT id, name, qty FROM sales ORDER BY id")),
        [
            ["1", "A", "11"],
            ["2", "b", "20"],
            ["4", "d", "40"],
            ["5", "e", "50"]
        ]
    );

    // v3: DELETE with an IN-subquery must delete only the matching row (DataFusion's
    // known pitfall deletes everything).
    let out = wh.ok("DELETE FROM sales WHERE id IN (SELECT id FROM sales WHERE qty >= 50)");
    assert!(
        out.contains("1 deleted") && out.contains("version 3"),
        "{out}"
    );

    // v4: UPDATE.
    let out = wh.ok("UPDATE sales SET qty = qty + 1 WHERE id = 2");
    assert!(
        out.contains("1 updated") && out.contains("version 4"),
        "{out}"
    );
    assert_eq!(
        rows(&wh.csv("SELECT id, name, qty FROM sales ORDER BY id")),
        [["1", "A", "11"], ["2", "b", "21"], ["4", "d", "40"]]
    );

    // Time travel returns the old rows, in every accepted spelling.
    assert_eq!(
        rows(&wh.csv("SELECT id, qty FROM sales VERSION AS OF 0 ORDER BY id")),
        [["1", "10"], ["2", "20"], ["3", "30"]]
    );
    assert_eq!(
        rows(&wh.csv("SELECT count(*) FROM sales FOR VERSION AS OF 1")),
        [["4"]]
    );
    assert_eq!(
        rows(&wh.csv(
            "SELECT s.id FROM sales FOR VERSION AS OF 2 AS s JOIN sales VERSION AS OF 0 AS o ON s.id = o.id ORDER BY s.id"
        )),
        [["1"], ["2"]]
    );
    assert_eq!(
        rows(&wh.csv("SELECT count(*) FROM sales TIMESTAMP AS OF '2999-01-01 00:00:00'")),
        [["3"]]
    );

    // History: newest first, one row per commit.
    let hist = rows(&wh.csv("DESCRIBE HISTORY sales"));
    assert_eq!(hist.len(), 5, "{hist:?}");
    assert_eq!(hist[0][0], "4");
    assert!(hist[0][2].contains("UPDATE"), "{hist:?}");
    assert!(hist[2][2].contains("MERGE"), "{hist:?}");

    // DESCRIBE shows columns, partitioning and version.
    let d = wh.csv("DESCRIBE sales");
    assert!(d.contains("# partitioned by,day"), "{d}");
    assert!(d.contains("# version,4"), "{d}");

    // The change feed of the MERGE commit.
    let changes = rows(&wh.csv(
        "SELECT id, _change_type FROM table_changes('sales', 2, 2) ORDER BY id, _change_type",
    ));
    assert_eq!(
        changes,
        [
            ["1", "update_postimage"],
            ["1", "update_preimage"],
            ["3", "delete"],
            ["5", "insert"]
        ]
    );

    // Maintenance.
    let out = wh.ok("OPTIMIZE sales");
    assert!(out.contains("OPTIMIZE sales"), "{out}");
    wh.ok("VACUUM sales RETAIN 0 HOURS DRY RUN");
    let out = wh.ok("RESTORE sales TO VERSION AS OF 1");
    assert!(out.contains("RESTORE sales"), "{out}");
    assert_eq!(rows(&wh.csv("SELECT count(*) FROM sales")), [["4"]]);

    // Another engine's view: replaying the log by hand gives the same row count.
    assert_eq!(independent_row_count(&wh.path().join("tables/sales")), 4);
}

#[test]
fn create_forms_and_errors() {
    let wh = Wh::new();
    let out =
        wh.ok("CREATE TABLE empty_t (id BIGINT, name VARCHAR, day DATE) PARTITIONED BY (day)");
    assert!(out.contains("CREATE TABLE empty_t"), "{out}");
    assert_eq!(rows(&wh.csv("SELECT count(*) FROM empty_t")), [["0"]]);
    wh.ok("INSERT INTO empty_t VALUES (1, 'x', DATE '2024-01-01')");
    assert_eq!(rows(&wh.csv("SELECT id, name FROM empty_t")), [["1", "x"]]);

    // CREATE on an existing table fails and says what to do; OR REPLACE overwrites.
    let err = wh.fails("CREATE TABLE empty_t AS SELECT 1 AS id");
    assert!(
        err.contains("already exists") && err.contains("CREATE OR REPLACE"),
        "{err}"
    );
    wh.ok("CREATE OR REPLACE TABLE empty_t AS SELECT 7 AS id");
    assert_eq!(rows(&wh.csv("SELECT id FROM empty_t")), [["7"]]);
    wh.ok("CREATE TABLE IF NOT EXISTS empty_t AS SELECT 8 AS id");
    assert_eq!(rows(&wh.csv("SELECT id FROM empty_t")), [["7"]]);

    // Missing tables and bad SQL: non-zero exit and a message naming the problem.
    let err = wh.fails("SELECT * FROM nope");
    assert!(err.contains("nope"), "{err}");
    let err = wh.fails("DELETE FROM nope WHERE 1 = 1");
    assert!(err.contains("table 'nope' not found"), "{err}");
    let err = wh.fails("SELEC 1");
    assert!(err.to_lowercase().contains("error"), "{err}");
    let err = wh.fails("SELECT * FROM empty_t VERSION AS OF 99");
    assert!(err.contains("empty_t"), "{err}");
    let err = wh.fails("VACUUM empty_t RETAIN many HOURS");
    assert!(err.contains("RETAIN"), "{err}");

    // INSERT OVERWRITE replaces the rows in one commit; the old ones stay in history.
    let out = wh.ok("INSERT OVERWRITE TABLE empty_t SELECT 9 AS id");
    assert!(out.contains("INSERT empty_t"), "{out}");
    assert_eq!(rows(&wh.csv("SELECT id FROM empty_t")), [["9"]]);

    // DROP TABLE removes it from the catalog.
    wh.ok("DROP TABLE empty_t");
    let tables = wh.csv("SHOW TABLES");
    assert!(!tables.contains("empty_t"), "{tables}");
}

#[test]
fn drop_table_drops_a_temporary_table_and_leaves_the_warehouse_alone() {
    let wh = Wh::new();
    wh.ok("CREATE TABLE kept AS SELECT 1 AS x");
    // A script that frees its scratch table once done with it (as the pipelines' SQL does).
    let script = wh.dir.path().join("drop.sql");
    std::fs::write(
        &script,
        "CREATE TEMP TABLE scratch AS SELECT 2 AS x;\n\
         INSERT INTO kept SELECT x FROM scratch;\n\
         DROP TABLE scratch;\n",
    )
    .unwrap();
    let out = wh.cmd().arg("run-sql").arg(&script).output().unwrap();
    assert_success(&out);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("dropped temporary table scratch"), "{said}");
    assert_eq!(
        rows(&wh.csv("SELECT x FROM kept ORDER BY x")),
        [["1"], ["2"]]
    );
    // Once dropped, the name is gone: a second DROP says so and names no warehouse table.
    std::fs::write(
        &script,
        "CREATE TEMP TABLE scratch AS SELECT 2 AS x;\n\
         DROP TABLE scratch;\n\
         SELECT * FROM scratch;\n",
    )
    .unwrap();
    let out = wh.cmd().arg("run-sql").arg(&script).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("scratch"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(rows(&wh.csv("SELECT count(*) FROM kept")), [["2"]]);
}

#[test]
fn registration_is_lazy_and_files_are_tables() {
    let wh = Wh::new();
    wh.ok("CREATE TABLE good AS SELECT 1 AS x");
    // A table whose log is garbage: a statement that does not name it must not read it.
    let bad = wh.path().join("tables/broken/_delta_log");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("00000000000000000000.json"), "not json at all").unwrap();
    assert_eq!(rows(&wh.csv("SELECT x FROM good")), [["1"]]);
    let tables = wh.csv("SHOW TABLES");
    assert!(
        tables.contains("good") && tables.contains("broken"),
        "{tables}"
    );
    assert!(wh.fails("SELECT * FROM broken").contains("broken"));

    // Files are queryable directly, and CREATE EXTERNAL TABLE works in a script.
    let csv = wh.dir.path().join("x.csv");
    std::fs::write(&csv, "a,b\n1,2\n3,4\n").unwrap();
    let sql = format!("SELECT sum(b) FROM '{}'", csv.display());
    assert_eq!(rows(&wh.csv(&sql)), [["6"]]);
    let script = wh.dir.path().join("ext.sql");
    std::fs::write(
        &script,
        format!(
            "CREATE EXTERNAL TABLE ext STORED AS CSV LOCATION '{}' OPTIONS ('format.has_header' 'true');\n\
             CREATE TABLE from_ext AS SELECT a, b FROM ext;\n",
            csv.display()
        ),
    )
    .unwrap();
    wh.cmd().arg("run-sql").arg(&script).assert().success();
    assert_eq!(
        rows(&wh.csv("SELECT a FROM from_ext ORDER BY a")),
        [["1"], ["3"]]
    );

    // External Delta tables by location.
    let loc = wh.path().join("tables/good");
    let sql = format!(
        "CREATE EXTERNAL TABLE g2 STORED AS DELTA LOCATION '{}'; SELECT x FROM g2;",
        loc.display()
    );
    let out = wh.cmd().write_stdin(sql).output().unwrap();
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains('1'));
}

#[test]
fn udfs_and_json_functions_are_registered() {
    let wh = Wh::new();
    let out = wh.csv(
        "SELECT epoch_date(1709251200) AS d, safe_div(1, 0) IS NULL AS z, \
         parse_ts('2024-03-14 07:52:42 UTC') = TIMESTAMP '2024-03-14T07:52:42Z' AS p, \
         json_get_int('{\"a\": 5}', 'a') AS j",
    );
    assert_eq!(rows(&out), [["2024-03-01", "true", "true", "5"]]);
}
