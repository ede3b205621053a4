//! `run-sql`, `query`, the piped shell and `demo`, through the binary.

use predicates::str::contains;

use crate::common::{Wh, assert_success, rows};

#[test]
fn run_sql_variables_errors_and_dry_run() {
    let wh = Wh::new();
    let dir = wh.dir.path();
    let setup = dir.join("setup.sql");
    std::fs::write(
        &setup,
        "-- a comment; with a semicolon\n\
         CREATE TABLE notes AS SELECT 1 AS id, 'hello' AS body;\n\
         /* block; comment */\n\
         INSERT INTO ${tbl:ident} VALUES (${id:raw}, ${body});\n",
    )
    .unwrap();
    // A hostile value stays one string literal.
    let hostile = "x'); DROP TABLE notes; --";
    wh.cmd()
        .args(["run-sql"])
        .arg(&setup)
        .args(["--var", "tbl=notes", "--var", "id=2", "--var"])
        .arg(format!("body={hostile}"))
        .assert()
        .success()
        .stderr(contains("2 statement(s) succeeded"));
    assert_eq!(
        rows(&wh.csv("SELECT id FROM notes ORDER BY id")),
        [["1"], ["2"]]
    );
    let body = wh.csv("SELECT body FROM notes WHERE id = 2");
    assert!(body.contains("DROP TABLE notes"), "{body}");

    // An undefined variable fails before anything runs.
    let other = dir.join("other.sql");
    std::fs::write(
        &other,
        "CREATE TABLE should_not_exist AS SELECT 1 AS x;\nSELECT ${missing};\n",
    )
    .unwrap();
    wh.cmd()
        .arg("run-sql")
        .arg(&other)
        .assert()
        .failure()
        .stderr(contains("undefined variable ${missing}"));
    assert!(!wh.path().join("tables/should_not_exist").exists());

    // A failing statement: file, line and statement in the message, later ones not run.
    let bad = dir.join("bad.sql");
    std::fs::write(
        &bad,
        "CREATE TABLE first AS SELECT 1 AS x;\n\n\nSELECT * FROM no_such_table;\nCREATE TABLE never AS SELECT 1 AS x;\n",
    )
    .unwrap();
    wh.cmd()
        .arg("run-sql")
        .arg(&bad)
        .assert()
        .failure()
        .stderr(contains("bad.sql:4:"))
        .stderr(contains("no_such_table"));
    assert!(wh.path().join("tables/first").exists());
    assert!(!wh.path().join("tables/never").exists());

    // --dry-run plans and writes nothing.
    let dry = dir.join("dry.sql");
    std::fs::write(
        &dry,
        "CREATE TABLE dry AS SELECT 1 AS x;\nSELECT * FROM notes;\n",
    )
    .unwrap();
    wh.cmd()
        .arg("run-sql")
        .arg(&dry)
        .arg("--dry-run")
        .assert()
        .success()
        .stderr(contains("2 statement(s) planned"));
    assert!(!wh.path().join("tables/dry").exists());
}

#[test]
fn query_formats_and_output_files() {
    let wh = Wh::new();
    wh.ok("CREATE TABLE t AS SELECT * FROM (VALUES (1, 'a'), (2, NULL)) AS v(id, s)");
    let table = wh.ok("SELECT id, s FROM t ORDER BY id");
    assert!(
        table.contains("id") && table.contains("int64") && table.contains("NULL"),
        "{table}"
    );
    let json = wh
        .cmd()
        .args(["query", "SELECT id FROM t ORDER BY id", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&json.stdout).trim(),
        r#"[{"id":1},{"id":2}]"#
    );
    let nd = wh
        .cmd()
        .args([
            "query",
            "SELECT id FROM t ORDER BY id",
            "--format",
            "ndjson",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&nd.stdout),
        "{\"id\":1}\n{\"id\":2}\n"
    );

    let pq = wh.dir.path().join("out.parquet");
    wh.cmd()
        .args(["query", "SELECT id FROM t"])
        .arg("--output")
        .arg(&pq)
        .assert()
        .success();
    let sql = format!("SELECT count(*) FROM '{}'", pq.display());
    assert_eq!(rows(&wh.csv(&sql)), [["2"]]);
}

#[test]
fn piped_shell_runs_statements_and_meta_commands() {
    let wh = Wh::new();
    let input = "CREATE TABLE t AS SELECT 1 AS id;\n\
                 \\set who O'Brien\n\
                 SELECT ${who} AS who,\n  id FROM t;\n\
                 \\d\n\
                 \\history t\n\
                 \\format csv\n\
                 SELECT 40 + 2 AS answer;\n";
    let out = wh.cmd().write_stdin(input).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_success(&out);
    assert!(stdout.contains("O'Brien"), "{stdout}");
    assert!(stdout.contains("CREATE TABLE"), "{stdout}");
    // \d lists tables with format, version, files, rows, size and last commit.
    assert!(
        stdout.contains("last_commit") && stdout.contains("┆ delta  ┆"),
        "{stdout}"
    );
    assert!(stdout.contains("answer\n42"), "{stdout}");

    // A failing statement: the rest still runs, the exit code says it failed.
    let out = wh
        .cmd()
        .write_stdin("SELECT * FROM missing;\nSELECT 1 AS still_runs;\n")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("still_runs"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing"));
}

#[test]
fn demo_computes_the_hand_checked_kpis() {
    let wh = Wh::new();
    wh.cmd()
        .arg("demo")
        .assert()
        .success()
        .stdout(contains("MERGE sales"));
    // Worked out by hand from data/tour/*.csv: T1005 corrected to 2 units / 40.00 by the
    // second file, three new transactions on 2024-03-02.
    let got = rows(&wh.csv(
        "SELECT date, product_id, units_sold, gross_revenue, discounts, net_revenue, transactions \
         FROM daily_product_sales ORDER BY date, product_id",
    ));
    let expected: [(&str, &str, i64, f64, f64, f64, i64); 6] = [
        ("2024-03-01", "501", 7, 140.0, 5.0, 135.0, 3),
        ("2024-03-01", "502", 1, 15.5, 1.5, 14.0, 1),
        ("2024-03-01", "503", 1, 99.99, 0.0, 99.99, 1),
        ("2024-03-02", "501", 5, 100.0, 0.0, 100.0, 1),
        ("2024-03-02", "502", 4, 62.0, 2.0, 60.0, 1),
        ("2024-03-02", "503", 1, 99.99, 10.0, 89.99, 1),
    ];
    assert_eq!(got.len(), expected.len(), "{got:?}");
    for (g, e) in got.iter().zip(expected) {
        assert_eq!((g[0].as_str(), g[1].as_str()), (e.0, e.1));
        assert_eq!(g[2].parse::<i64>().unwrap(), e.2);
        for (i, want) in [(3, e.3), (4, e.4), (5, e.5)] {
            let v: f64 = g[i].parse().unwrap();
            assert!((v - want).abs() < 1e-9, "{g:?} column {i}: {v} != {want}");
        }
        assert_eq!(g[6].parse::<i64>().unwrap(), e.6);
    }
    assert_eq!(
        rows(&wh.csv("SELECT count(*) FROM sales VERSION AS OF 0")),
        [["5"]]
    );
    // Running the demo again gives the same tables (CREATE OR REPLACE + MERGE).
    wh.cmd().arg("demo").assert().success();
    assert_eq!(rows(&wh.csv("SELECT count(*) FROM sales")), [["8"]]);
}

/// A misspelt table, column, function or meta-command names the nearest existing ones, in
/// `query`, `run-sql` and the shell alike (the executor's error text carries it).
#[test]
fn misspelt_names_suggest_the_nearest_ones() {
    let wh = Wh::new();
    wh.ok("CREATE TABLE order_kpis AS SELECT DATE '2024-03-15' AS order_date, 3 AS total_orders");
    wh.ok("CREATE TABLE category_kpis AS SELECT 'Jeans' AS category");

    let err = wh.fails("SELECT * FROM order_kpi");
    assert!(
        err.contains("table 'order_kpi' not found") && err.contains("did you mean 'order_kpis'?"),
        "{err}"
    );
    let err = wh.fails("SELECT total_order FROM order_kpis");
    assert!(
        err.contains("No field named total_order. Did you mean 'order_kpis.total_orders'?"),
        "{err}"
    );
    let err = wh.fails("SELECT parse_tss('2024-03-15 00:00:00')");
    assert!(err.contains("Did you mean 'parse_ts'?"), "{err}");
    let err = wh.fails("DELETE FROM categry_kpis WHERE true");
    assert!(err.contains("did you mean 'category_kpis'?"), "{err}");
    // Nothing close: no guess.
    let err = wh.fails("SELECT * FROM inventory");
    assert!(!err.contains("did you mean"), "{err}");

    let script = wh.dir.path().join("typo.sql");
    std::fs::write(&script, "SELECT count(*) FROM ordr_kpis;\n").unwrap();
    wh.cmd()
        .arg("run-sql")
        .arg(&script)
        .assert()
        .failure()
        .stderr(contains("typo.sql:1:"))
        .stderr(contains("did you mean 'order_kpis'?"));

    let out = wh
        .cmd()
        .write_stdin("SELECT * FROM order_kpi;\n\\histroy order_kpis\n\\pipeline\n")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("did you mean 'order_kpis'?"), "{stderr}");
    assert!(
        stderr.contains("unknown command '\\histroy'; did you mean '\\history'?"),
        "{stderr}"
    );
    assert!(
        stderr.contains("\\pipeline: wrong or missing arguments"),
        "{stderr}"
    );
}

/// A warehouse that cannot be created: one message naming the directory, the OS error once.
#[test]
fn unwritable_warehouse_reports_the_os_error_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a_file");
    std::fs::write(&file, "not a directory").unwrap();
    let out = assert_cmd::Command::cargo_bin("stockroom")
        .unwrap()
        .arg("--warehouse")
        .arg(file.join("wh"))
        .args(["query", "SELECT 1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("os error").count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot create warehouse at") && stderr.contains("a_file/wh"),
        "{stderr}"
    );
}
