//! README claims that had no test able to fail: each test here breaks when its feature is
//! removed or ignored (a clause parsed but dropped, a flag accepted but not applied).

use chrono::NaiveDateTime;
use predicates::str::contains;

use crate::common::{Wh, assert_success, drop_sample, rows};

/// The commit timestamps of `table`'s versions, oldest first, as DESCRIBE HISTORY shows them.
fn commit_times(wh: &Wh, table: &str) -> Vec<NaiveDateTime> {
    let mut hist = rows(&wh.csv(&format!("DESCRIBE HISTORY {table}")));
    hist.sort_by_key(|r| r[0].parse::<u64>().expect("version"));
    hist.iter()
        .map(|r| {
            NaiveDateTime::parse_from_str(&r[1], "%Y-%m-%d %H:%M:%S%.f")
                .unwrap_or_else(|e| panic!("history timestamp {:?}: {e}", r[1]))
        })
        .collect()
}

/// Halfway between two commits, as RFC 3339 (what both TIMESTAMP AS OF and RESTORE take).
fn between(a: NaiveDateTime, b: NaiveDateTime) -> String {
    assert!(a < b, "commits at distinct times: {a} < {b}");
    let mid = a + (b - a) / 2;
    mid.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[test]
fn time_travel_and_restore_by_a_timestamp_between_two_commits() {
    let wh = Wh::new();
    wh.ok("CREATE TABLE tt AS SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS v(id, tag)");
    wh.ok("INSERT INTO tt VALUES (3, 'c')");
    wh.ok("INSERT INTO tt VALUES (4, 'd')");
    let t = commit_times(&wh, "tt");
    assert_eq!(t.len(), 3);

    // Between version 0 and 1: the two rows of version 0, not the four of the latest.
    let ts = between(t[0], t[1]);
    assert_eq!(
        rows(&wh.csv(&format!(
            "SELECT id FROM tt TIMESTAMP AS OF '{ts}' ORDER BY id"
        ))),
        [["1"], ["2"]]
    );
    // Between 1 and 2: three rows.
    let ts12 = between(t[1], t[2]);
    assert_eq!(
        rows(&wh.csv(&format!("SELECT count(*) FROM tt TIMESTAMP AS OF '{ts12}'"))),
        [["3"]]
    );

    // RESTORE to the timestamp between 0 and 1 brings version 0's rows back as a new version.
    let out = wh.ok(&format!("RESTORE tt TO TIMESTAMP AS OF '{ts}'"));
    assert!(out.contains("RESTORE tt"), "{out}");
    assert_eq!(
        rows(&wh.csv("SELECT id, tag FROM tt ORDER BY id")),
        [["1", "a"], ["2", "b"]]
    );
    assert_eq!(commit_times(&wh, "tt").len(), 4);
}

#[test]
fn optimize_zorder_rewrites_the_files_and_keeps_the_data() {
    let wh = Wh::new();
    wh.ok("CREATE TABLE z AS SELECT * FROM (VALUES (5, 'e'), (1, 'a')) AS v(id, tag)");
    wh.ok("INSERT INTO z VALUES (3, 'c'), (4, 'd')");
    wh.ok("INSERT INTO z VALUES (2, 'b')");
    let all = "SELECT id, tag FROM z ORDER BY id";
    let before = wh.csv(all);

    let out = wh.ok("OPTIMIZE z ZORDER BY (tag, id)");
    assert!(
        out.contains("files +1 -3"),
        "three small files rewritten as one: {out}"
    );
    assert_eq!(wh.csv(all), before);
    // The commit is a Z-order one (plain OPTIMIZE would be a compaction).
    let hist = wh.csv("DESCRIBE HISTORY z");
    let optimize = hist
        .lines()
        .find(|l| l.starts_with("3,"))
        .unwrap_or_default();
    assert!(
        optimize.contains(",OPTIMIZE,") && optimize.contains("zOrder"),
        "{hist}"
    );
}

#[test]
fn create_table_tblproperties_reach_the_delta_log_and_apply() {
    let wh = Wh::new();
    wh.ok(
        "CREATE TABLE props TBLPROPERTIES ('delta.appendOnly' = 'true', \
         'delta.enableChangeDataFeed' = 'false') AS SELECT 1 AS x",
    );
    let log = std::fs::read_to_string(
        wh.path()
            .join("tables/props/_delta_log/00000000000000000000.json"),
    )
    .unwrap();
    assert!(
        log.contains(r#""delta.appendOnly":"true""#)
            && log.contains(r#""delta.enableChangeDataFeed":"false""#),
        "{log}"
    );
    // Append-only refuses a delete; without the change data feed there are no changes to read.
    let err = wh.fails("DELETE FROM props WHERE x = 1");
    assert!(err.contains("append-only"), "{err}");
    let err = wh.fails("SELECT * FROM table_changes('props', 0, 0)");
    assert!(err.contains("Change Data not enabled"), "{err}");
    assert_eq!(rows(&wh.csv("SELECT x FROM props")), [["1"]]);
}

#[test]
fn external_tables_stored_as_parquet_and_json() {
    let wh = Wh::new();
    let parquet = wh.dir.path().join("items.parquet");
    let json = wh.dir.path().join("events.json");
    wh.ok(&format!(
        "COPY (SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS v(id, tag)) TO '{}'",
        parquet.display()
    ));
    std::fs::write(
        &json,
        "{\"id\": 2, \"kind\": \"sale\"}\n{\"id\": 1, \"kind\": \"return\"}\n",
    )
    .unwrap();
    let script = format!(
        "CREATE EXTERNAL TABLE items STORED AS PARQUET LOCATION '{}';\n\
         CREATE EXTERNAL TABLE events STORED AS JSON LOCATION '{}';\n\
         CREATE TABLE joined AS SELECT i.id, i.tag, e.kind FROM items i JOIN events e ON i.id = e.id;\n",
        parquet.display(),
        json.display()
    );
    let out = wh.cmd().write_stdin(script).output().unwrap();
    assert_success(&out);
    assert_eq!(
        rows(&wh.csv("SELECT id, tag, kind FROM joined ORDER BY id")),
        [["1", "a", "return"], ["2", "b", "sale"]]
    );
}

#[test]
fn shell_timing_output_file_include_and_run() {
    let wh = Wh::new();
    let dir = wh.dir.path();
    let include = dir.join("make.sql");
    std::fs::write(
        &include,
        "CREATE TABLE inc AS SELECT 1 AS id;\nINSERT INTO inc VALUES (2);\n",
    )
    .unwrap();
    let with_vars = dir.join("add.sql");
    std::fs::write(&with_vars, "INSERT INTO inc VALUES (${id:raw});\n").unwrap();
    let out_file = dir.join("result.csv");
    let input = format!(
        "\\i {}\n\
         \\run {} id=40\n\
         \\timing on\n\
         SELECT count(*) AS timed FROM inc;\n\
         \\timing off\n\
         SELECT count(*) AS untimed FROM inc;\n\
         \\format csv\n\
         \\o {}\n\
         SELECT id FROM inc ORDER BY id;\n\
         \\o\n\
         SELECT 'back on screen' AS msg;\n",
        include.display(),
        with_vars.display(),
        out_file.display()
    );
    let out = wh.cmd().write_stdin(input).output().unwrap();
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);

    // \i and \run ran their files (with the variable) before the queries.
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap(),
        "id\n1\n2\n40\n",
        "\\o sent the result to the file"
    );
    assert!(!stdout.contains("\n40\n"), "not on screen: {stdout}");
    assert!(
        stdout.contains("back on screen"),
        "\\o alone restores: {stdout}"
    );

    // \timing on: the row count comes with the time; off: without it.
    let timed: Vec<&str> = stderr.lines().filter(|l| l.contains("row(s)")).collect();
    assert_eq!(timed.len(), 2, "{stderr}");
    assert!(
        timed[0].starts_with("1 row(s) in ") && timed[0].ends_with('s'),
        "{stderr}"
    );
    assert_eq!(timed[1], "1 row(s)", "{stderr}");
}

#[test]
fn pipeline_run_all_and_a_pipelines_directory() {
    let wh = Wh::new();
    drop_sample(&wh, "pos", "pos", None);
    drop_sample(&wh, "inventory", "inventory", None);

    // A pipeline from disk: listed next to the shipped ones, and run by --all.
    let dir = wh.dir.path().join("extra");
    let tiny = dir.join("tiny");
    std::fs::create_dir_all(&tiny).unwrap();
    std::fs::write(
        tiny.join("pipeline.toml"),
        "name = \"tiny\"\n\
         description = \"a pipeline from --pipelines\"\n\
         validate = [\"10_validate.sql\"]\n\
         transform = [\"20_load.sql\"]\n\
         tables = [\"tiny_items\"]\n\
         [input]\n\
         patterns = [\"*.csv\"]\n\
         format = \"csv\"\n\
         fields = [{ name = \"item\", required = true }, { name = \"qty\", required = true }]\n",
    )
    .unwrap();
    std::fs::write(
        tiny.join("10_validate.sql"),
        "CREATE TEMP TABLE checked AS\n\
         SELECT source_file, line_number, record, file_hash, item, parse_int(qty) AS qty,\n\
         CASE WHEN malformed THEN make_array('MALFORMED') ELSE reasons(\n\
           parse_int(qty) IS NULL, 'BAD_TYPE:qty') END AS reasons\n\
         FROM batch_raw;\n",
    )
    .unwrap();
    std::fs::write(
        tiny.join("20_load.sql"),
        "CREATE TABLE IF NOT EXISTS tiny_items AS SELECT item, qty FROM checked LIMIT 0;\n\
         MERGE INTO tiny_items AS t USING (SELECT item, qty FROM checked WHERE accepted(reasons)) AS s\n\
         ON t.item = s.item WHEN NOT MATCHED THEN INSERT *;\n",
    )
    .unwrap();
    let landing = wh.path().join("landing/tiny");
    std::fs::create_dir_all(&landing).unwrap();
    std::fs::write(landing.join("a.csv"), "item,qty\npen,3\ncup,x\n").unwrap();

    wh.cmd()
        .arg("pipeline")
        .arg("--pipelines")
        .arg(&dir)
        .arg("list")
        .assert()
        .success()
        .stdout(contains("tiny"))
        .stdout(contains("a pipeline from --pipelines"))
        .stdout(contains("pos"));

    let out = wh
        .cmd()
        .arg("pipeline")
        .arg("--pipelines")
        .arg(&dir)
        .args(["run", "--all"])
        .output()
        .unwrap();
    assert_success(&out);
    // Every pipeline with files ran: the shipped ones and the one from disk.
    assert_eq!(
        rows(&wh.csv("SELECT item, qty FROM tiny_items")),
        [["pen", "3"]]
    );
    assert_eq!(
        rows(&wh.csv(
            "SELECT count(*) > 0 FROM pos_transactions UNION ALL SELECT count(*) > 0 FROM inventory"
        )),
        [["true"], ["true"]]
    );
    assert_eq!(
        rows(&wh.csv("SELECT pipeline, status FROM stockroom_runs ORDER BY pipeline")),
        // Each sample batch has rejected records, so every run is partial.
        [
            ["inventory", "partial"],
            ["pos", "partial"],
            ["tiny", "partial"]
        ]
    );
    assert!(std::fs::read_dir(&landing).unwrap().next().is_none());
}

/// `--memory-limit`: a sort larger than the limit spills to disk and still answers, in order.
#[test]
fn memory_limit_spills_a_large_sort_and_still_answers() {
    let wh = Wh::new();
    let sorted = "SELECT x, md5(CAST(x AS VARCHAR)) AS h FROM generate_series(1, 300000) AS t(x) \
                  ORDER BY h";
    let limited = |sql: &str| {
        let out = wh
            .cmd()
            .args(["--memory-limit", "64M", "query", sql, "--format", "csv"])
            .output()
            .unwrap();
        assert_success(&out);
        String::from_utf8(out.stdout).unwrap()
    };
    // The plan's metrics show the spill (a sort that fits in memory reports spill_count=0).
    let plan = limited(&format!("EXPLAIN ANALYZE {sorted}"));
    let spills: u64 = plan
        .split("spill_count=")
        .skip(1)
        .filter_map(|s| {
            s.split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse::<u64>().ok())
        })
        .sum();
    assert!(spills > 0, "no spill under --memory-limit 64M: {plan}");

    let out = limited(sorted);
    let hashes: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split_once(',').map_or("", |(_, h)| h))
        .collect();
    assert_eq!(hashes.len(), 300_000);
    assert!(
        hashes.windows(2).all(|w| w[0] <= w[1]),
        "rows in hash order"
    );
}
