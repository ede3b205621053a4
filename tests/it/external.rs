//! Delta tables from anywhere: Delta directories named by path, external tables recorded in
//! the warehouse, and tables written by other engines: Spark and Databricks
//! (tests/data/delta-spark, see its README) and the Python `deltalake` package
//! (tests/data/delta-other-engines, see its generate.py).

use std::path::{Path, PathBuf};

use crate::common::{Wh, assert_success, rows};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/delta-other-engines")
}

fn spark_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/delta-spark")
}

/// `a,b c` → `"a","b c"`: the expected files' header as a select list.
fn select_list(header: &str) -> String {
    header
        .split(',')
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

fn sorted(mut r: Vec<Vec<String>>) -> Vec<Vec<String>> {
    r.sort();
    r
}

fn count(wh: &Wh, from: &str) -> String {
    rows(&wh.csv(&format!("SELECT count(*) FROM {from}")))[0][0].clone()
}

/// The expected versions of a fixture table: (version, header, rows).
fn expected(table: &Path) -> Vec<(u64, String, Vec<Vec<String>>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(table.join("expected")).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let version: u64 = name.trim_start_matches('v').parse().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let header = text.lines().next().unwrap().to_string();
        out.push((version, header, sorted(rows(&text))));
    }
    out.sort_by_key(|(v, _, _)| *v);
    out
}

#[test]
fn delta_directory_by_path_is_read_through_its_log_and_never_as_loose_parquet() {
    let wh = Wh::new();
    wh.ok("CREATE TABLE s AS SELECT * FROM (VALUES (1),(2),(3)) t(x)");
    wh.ok("DELETE FROM s WHERE x = 2");
    let dir = wh.path().join("tables/s");
    let d = dir.display();
    assert_eq!(count(&wh, "s"), "2");
    // The path form counted 5 before: the removed file and the change-data files.
    assert_eq!(count(&wh, &format!("'{d}/'")), "2");
    assert_eq!(count(&wh, &format!("delta_scan('{d}')")), "2");
    assert_eq!(count(&wh, &format!("delta_scan('{d}', 0)")), "3");
    assert_eq!(count(&wh, &format!("'{d}' VERSION AS OF 0")), "3");

    // A listing that holds Delta tables, a glob inside one, or STORED AS PARQUET on one:
    // refused, naming the Delta forms.
    let tables = wh.path().join("tables");
    for from in [
        format!("'{}/'", tables.display()),
        format!("'{d}/*.parquet'"),
    ] {
        let err = wh.fails(&format!("SELECT count(*) FROM {from}"));
        assert!(err.contains("delta_scan('"), "{from}: {err}");
    }
    let err = wh.fails(&format!(
        "CREATE EXTERNAL TABLE p STORED AS PARQUET LOCATION '{d}/'"
    ));
    assert!(err.contains("STORED AS DELTA"), "{err}");
    let err = wh.fails(&format!("SELECT * FROM delta_scan('{d}', 9)"));
    assert!(err.contains("no such version, the latest is 1"), "{err}");

    // Another engine's partitioned table: 1 live row at its latest version, 6 Parquet files.
    let p = fixtures().join("partitioned");
    assert_eq!(count(&wh, &format!("'{}'", p.display())), "1");
    // Spark's: 4 live rows, 7 in its Parquet files.
    let p = spark_fixtures().join("delta-0.8.0");
    assert_eq!(count(&wh, &format!("'{}/'", p.display())), "4");
}

#[test]
fn other_engine_delta_tables_match_their_expected_content_at_every_version() {
    let wh = Wh::new();
    let mut checked = 0;
    let spark = [
        "table-with-dv-small",
        "table_with_column_mapping",
        "delta-2.2.0-partitioned-types",
        "delta-0.8.0",
    ]
    .map(|t| (spark_fixtures().join(t), t.replace(['-', '.'], "_")));
    let ours = [
        "partitioned",
        "column_mapping",
        "deletion_vectors",
        "checkpointed",
    ]
    .map(|t| (fixtures().join(t), t.to_string()));
    for (dir, table) in spark.into_iter().chain(ours) {
        wh.ok(&format!(
            "CREATE EXTERNAL TABLE {table} STORED AS DELTA LOCATION '{}'",
            dir.display()
        ));
        let versions = expected(&dir);
        let latest = versions.last().map(|(v, _, _)| *v).unwrap();
        for (version, header, want) in versions {
            // By path, and as an external table in a later command (time travel on it).
            for from in [
                format!("delta_scan('{}', {version})", dir.display()),
                format!("{table} VERSION AS OF {version}"),
            ] {
                let out = wh.csv(&format!("SELECT {} FROM {from}", select_list(&header)));
                assert_eq!(out.lines().next(), Some(header.as_str()), "{from}");
                assert_eq!(sorted(rows(&out)), want, "{from}");
                checked += 1;
            }
            if version == latest {
                let out = wh.csv(&format!("SELECT {} FROM {table}", select_list(&header)));
                assert_eq!(sorted(rows(&out)), want, "{table} latest");
            }
        }
    }
    assert_eq!(checked, 2 * ((2 + 1 + 1 + 2) + (4 + 3 + 2 + 2)));

    // History of an external table written by another engine.
    let history = wh.csv("DESCRIBE HISTORY partitioned");
    assert_eq!(rows(&history).len(), 4, "{history}");
    assert!(history.contains("DELETE"), "{history}");

    // A reader feature deltalake cannot read is refused by name, never misread.
    let dir = fixtures().join("unsupported_feature");
    let err = wh.fails(&format!("SELECT * FROM delta_scan('{}')", dir.display()));
    assert!(err.contains("TypeWidening"), "{err}");
    let err = wh.fails(&format!(
        "CREATE EXTERNAL TABLE u STORED AS DELTA LOCATION '{}'",
        dir.display()
    ));
    assert!(err.contains("TypeWidening"), "{err}");
}

#[test]
fn external_tables_are_recorded_read_only_and_forgotten_without_losing_data() {
    let wh = Wh::new();
    wh.ok("CREATE TABLE s AS SELECT * FROM (VALUES (1),(2),(3)) t(x)");
    wh.ok("DELETE FROM s WHERE x = 2");
    let ext = wh.dir.path().join("elsewhere/e");
    copy_dir(&wh.path().join("tables/s"), &ext);
    let csv = wh.dir.path().join("elsewhere/c.csv");
    std::fs::write(&csv, "a,b\n1,2\n3,4\n").unwrap();

    // Declared once in a script …
    let script = wh.dir.path().join("declare.sql");
    std::fs::write(
        &script,
        format!(
            "CREATE EXTERNAL TABLE e STORED AS DELTA LOCATION '{}';\n\
             CREATE EXTERNAL TABLE c STORED AS CSV LOCATION '{}' OPTIONS ('format.has_header' 'true');\n",
            ext.display(),
            csv.display()
        ),
    )
    .unwrap();
    let out = wh.cmd().arg("run-sql").arg(&script).output().unwrap();
    assert_success(&out);
    assert!(wh.path().join("catalog/external_tables.json").is_file());

    // … seen by every later command, with time travel, history and changes.
    assert_eq!(count(&wh, "e"), "2");
    assert_eq!(count(&wh, "e VERSION AS OF 0"), "3");
    assert_eq!(rows(&wh.csv("SELECT sum(b) FROM c")), [["6"]]);
    assert_eq!(rows(&wh.csv("DESCRIBE HISTORY e")).len(), 2);
    assert_eq!(
        rows(&wh.csv(
            "SELECT x, _change_type FROM table_changes('e', 1) WHERE _change_type = 'delete'"
        )),
        [["2", "delete"]]
    );
    let tables = wh.csv("SHOW TABLES");
    assert!(tables.contains("public,e,EXTERNAL"), "{tables}");
    assert!(tables.contains("public,c,EXTERNAL"), "{tables}");
    assert!(tables.contains("public,s,BASE TABLE"), "{tables}");
    let out = wh
        .cmd()
        .write_stdin("\\format csv\n\\d\n")
        .output()
        .unwrap();
    assert_success(&out);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains("e,external delta,1,1,2,"), "{listing}");
    assert!(listing.contains("c,external csv,"), "{listing}");

    // Writes are refused: another engine owns the table.
    for sql in [
        "INSERT INTO e VALUES (7)",
        "DELETE FROM e WHERE x = 1",
        "OPTIMIZE e",
        "CREATE TABLE e AS SELECT 1 AS x",
    ] {
        let err = wh.fails(sql);
        assert!(err.contains("external table"), "{sql}: {err}");
    }
    assert_eq!(count(&wh, "e"), "2");

    // Unless asked for.
    wh.ok(&format!(
        "CREATE OR REPLACE EXTERNAL TABLE e STORED AS DELTA LOCATION '{}' OPTIONS ('writable' 'true')",
        ext.display()
    ));
    wh.ok("INSERT INTO e VALUES (7)");
    assert_eq!(count(&wh, "e"), "3");

    // DROP TABLE forgets the table and keeps its data.
    let out = wh.ok("DROP TABLE e");
    assert!(out.contains("untouched"), "{out}");
    assert!(ext.join("_delta_log").is_dir());
    assert_eq!(count(&wh, &format!("delta_scan('{}')", ext.display())), "3");
    assert!(!wh.csv("SHOW TABLES").contains(",e,"));
    assert!(wh.fails("SELECT * FROM e").contains("e"));
    wh.ok("DROP TABLE c");
    assert!(csv.is_file());
}
