//! A pipeline written from docs/pipelines.md#writing-a-pipeline alone: a manifest, a validate
//! script, and models (one SELECT per file, materialisation in its header) in a temporary
//! `--pipelines` directory. Values below are worked out by hand.

use std::path::{Path, PathBuf};

use crate::common::{Wh, rows};

/// `pipelines/shop/`: the docs' example pipeline.
pub(crate) fn write_shop(dir: &Path) {
    let shop = dir.join("shop");
    std::fs::create_dir_all(&shop).unwrap();
    let files = [
        (
            "pipeline.toml",
            "name = \"shop\"\n\
             description = \"stock counts (CSV)\"\n\
             validate = [\"10_validate.sql\"]\n\
             [input]\n\
             patterns = [\"*.csv\"]\n\
             format = \"csv\"\n\
             fields = [{ name = \"sku\", required = true }, { name = \"qty\", required = true },\n\
                       { name = \"price\", required = true }]\n",
        ),
        (
            "10_validate.sql",
            "CREATE TEMP TABLE checked AS\n\
             SELECT source_file, line_number, record, file_hash,\n\
                    sku, parse_int(qty) AS qty, parse_float(price) AS price,\n\
                    CASE WHEN malformed THEN make_array('MALFORMED') ELSE reasons(\n\
                      sku IS NULL, 'MISSING:sku',\n\
                      parse_int(qty) IS NULL, 'BAD_TYPE:qty',\n\
                      parse_float(price) IS NULL, 'BAD_TYPE:price'\n\
                    ) END AS reasons\n\
             FROM batch_raw;\n",
        ),
        // Named so that it sorts before the models it reads: the order comes from the SQL.
        (
            "a_totals.sql",
            "-- One row: the whole stock.\n\
             -- materialized: replace\n\
             SELECT count(*) AS skus, sum(qty) AS units, sum(value) AS value FROM stocked\n",
        ),
        (
            "stocked.sql",
            "-- materialized: temp\n\
             SELECT sku, qty, value FROM stock WHERE qty > 0\n",
        ),
        (
            "stock.sql",
            "-- The latest count per sku.\n\
             -- materialized: merge\n\
             -- unique_key: [sku]\n\
             SELECT sku, qty, price, qty * price AS value\n\
             FROM checked\n\
             WHERE accepted(reasons)\n",
        ),
        (
            "counts_log.sql",
            "-- Every valid count ever received.\n\
             -- materialized: append\n\
             -- partition_by: [sku]\n\
             SELECT source_file, sku, qty FROM checked WHERE accepted(reasons)\n",
        ),
    ];
    for (name, text) in files {
        std::fs::write(shop.join(name), text).unwrap();
    }
}

/// `stockroom pipeline --pipelines DIR ARGS…`
/// The shop pipeline whose `stock.sql` model names a column that does not exist (it fails
/// after validation), with one landing file.
pub(crate) fn shop_with_a_failing_model() -> (Wh, PathBuf) {
    let wh = Wh::new();
    let dir = wh.dir.path().join("pipelines");
    write_shop(&dir);
    std::fs::write(
        dir.join("shop/stock.sql"),
        "-- materialized: merge\n-- unique_key: [sku]\n\
         SELECT sku, qty, no_such_column AS value FROM checked\n",
    )
    .unwrap();
    std::fs::write(landing(&wh).join("a.csv"), "sku,qty,price\nA,5,2.0\n").unwrap();
    (wh, dir)
}

pub(crate) fn pipeline(wh: &Wh, dir: &Path, args: &[&str]) -> std::process::Output {
    wh.cmd()
        .arg("pipeline")
        .arg("--pipelines")
        .arg(dir)
        .args(args)
        .output()
        .expect("run")
}

fn run_shop(wh: &Wh, dir: &Path) -> serde_json::Value {
    let out = pipeline(wh, dir, &["run", "shop", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("summary")
}

fn table(wh: &Wh, sql: &str) -> Vec<Vec<String>> {
    rows(&wh.csv(sql))
}

fn strs<const N: usize>(rows: &[[&str; N]]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| r.iter().map(|s| s.to_string()).collect())
        .collect()
}

pub(crate) fn landing(wh: &Wh) -> PathBuf {
    let l = wh.path().join("landing/shop");
    std::fs::create_dir_all(&l).unwrap();
    l
}

#[test]
fn a_pipeline_of_declared_models_runs_twice_with_hand_checked_tables() {
    let wh = Wh::new();
    let dir = wh.dir.path().join("pipelines");
    write_shop(&dir);

    std::fs::write(
        landing(&wh).join("a.csv"),
        "sku,qty,price\nA,5,2.0\nB,3,10.0\nC,x,1.0\n",
    )
    .unwrap();
    let s = run_shop(&wh, &dir);
    assert_eq!(s["totals"]["rows_valid"], 2, "{s}");
    assert_eq!(s["totals"]["rows_rejected"], 1, "{s}");
    // Every stored model is reported with its version.
    let written: Vec<&str> = s["tables_written"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["table"].as_str().unwrap())
        .collect();
    for t in ["a_totals", "counts_log", "stock"] {
        assert!(written.contains(&t), "{t} not in {written:?}");
    }
    let stock = "SELECT sku, qty, price, value FROM stock ORDER BY sku";
    let totals = "SELECT skus, units, value FROM a_totals";
    let log = "SELECT source_file, sku, qty FROM counts_log ORDER BY source_file, sku";
    assert_eq!(
        table(&wh, stock),
        strs(&[["A", "5", "2.0", "10.0"], ["B", "3", "10.0", "30.0"]])
    );
    // Computed after `stock` although its file sorts first: 2 skus, 8 units, 10 + 30.
    assert_eq!(table(&wh, totals), strs(&[["2", "8", "40.0"]]));
    assert_eq!(
        table(&wh, log),
        strs(&[["a.csv", "A", "5"], ["a.csv", "B", "3"]])
    );
    assert!(wh.path().join("tables/counts_log/sku=A").is_dir());

    // Second batch: B is updated, D is new.
    std::fs::write(
        landing(&wh).join("b.csv"),
        "sku,qty,price\nB,4,10.0\nD,1,7.5\n",
    )
    .unwrap();
    run_shop(&wh, &dir);
    assert_eq!(
        table(&wh, stock),
        strs(&[
            ["A", "5", "2.0", "10.0"],
            ["B", "4", "10.0", "40.0"],
            ["D", "1", "7.5", "7.5"],
        ])
    );
    // 3 skus, 5 + 4 + 1 units, 10 + 40 + 7.5.
    assert_eq!(table(&wh, totals), strs(&[["3", "10", "57.5"]]));
    // append keeps every run's rows.
    assert_eq!(
        table(&wh, log),
        strs(&[
            ["a.csv", "A", "5"],
            ["a.csv", "B", "3"],
            ["b.csv", "B", "4"],
            ["b.csv", "D", "1"],
        ])
    );
    // replace is a Delta overwrite: the first run's totals are still in the history
    // (version 0 is the empty table the first run created).
    assert_eq!(
        table(&wh, "SELECT skus FROM a_totals VERSION AS OF 1"),
        [["2"]]
    );

    // The graph shows the inferred order.
    let out = pipeline(&wh, &dir, &["graph", "shop"]);
    let g = String::from_utf8_lossy(&out.stdout);
    assert!(
        g.contains("step_stock --> step_stocked") && g.contains("step_stocked --> step_a_totals"),
        "{g}"
    );

    // `--step` on a model recomputes the temp model it reads, then the model: a new version
    // of a_totals with the same row.
    let out = pipeline(&wh, &dir, &["run", "shop", "--step", "a_totals"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(table(&wh, totals), strs(&[["3", "10", "57.5"]]));
    assert_eq!(
        table(&wh, "SELECT skus FROM a_totals VERSION AS OF 3"),
        [["3"]]
    );
}

#[test]
fn a_dependency_cycle_and_a_misspelt_table_are_clear_errors() {
    let wh = Wh::new();
    let dir = wh.dir.path().join("pipelines");
    write_shop(&dir);
    let shop = dir.join("shop");
    // stock now reads a_totals, which reads stock (through stocked).
    std::fs::write(
        shop.join("stock.sql"),
        "-- materialized: merge\n-- unique_key: [sku]\n\
         SELECT c.sku, c.qty, c.price, c.qty * c.price AS value\n\
         FROM checked c CROSS JOIN a_totals t WHERE accepted(c.reasons)\n",
    )
    .unwrap();
    let out = pipeline(&wh, &dir, &["list"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("depend on each other in a cycle")
            && err.contains("shop/a_totals.sql after stocked")
            && err.contains("shop/stock.sql after a_totals")
            && err.contains("shop/stocked.sql after stock"),
        "{err}"
    );

    // A table nothing writes: named, with the nearest model.
    std::fs::write(
        shop.join("stock.sql"),
        "-- materialized: merge\n-- unique_key: [sku]\nSELECT sku, qty FROM checkd\n",
    )
    .unwrap();
    let out = pipeline(&wh, &dir, &["list"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("shop/stock.sql reads table 'checkd'")
            && err.contains("did you mean 'checked'?"),
        "{err}"
    );

    // merge without a unique_key says what is missing.
    std::fs::write(
        shop.join("stock.sql"),
        "-- materialized: merge\nSELECT sku, qty FROM checked\n",
    )
    .unwrap();
    let out = pipeline(&wh, &dir, &["list"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("shop/stock.sql:1: materialized: merge needs `-- unique_key"),
        "{err}"
    );
}

#[test]
fn a_failing_model_names_its_file_and_line() {
    let (wh, dir) = shop_with_a_failing_model();
    let out = pipeline(&wh, &dir, &["run", "shop"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("shop/stock.sql:3:") && err.contains("no_such_column"),
        "{err}"
    );
    // The file stays in landing for the re-run.
    assert!(landing(&wh).join("a.csv").is_file());
}
