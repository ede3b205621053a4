//! Landing inputs a careless upstream system could drop: hostile file names, symlinks and
//! other non-regular files, decompression bombs, half-uploaded files, concurrent runs.
//! Every record must end in a curated table or in `rejects`, and no input may block the
//! pipeline for good.

use std::path::{Path, PathBuf};

use crate::common::{Wh, rows, run_pipeline};

const HEADER: &str =
    "timestamp,transaction_id,product_id,store_id,quantity,revenue,discount_applied";

/// A small pos file: `valid` good rows with ids `<tag>-<i>` and one malformed row.
fn pos_file(tag: &str, valid: usize) -> String {
    let mut s = format!("{HEADER}\n");
    for i in 0..valid {
        s.push_str(&format!("1709366400,{tag}-{i},100,1,1,10.00,0\n"));
    }
    s.push_str("not,a,row\n");
    s
}

fn landing(wh: &Wh) -> PathBuf {
    let d = wh.path().join("landing/pos");
    std::fs::create_dir_all(&d).expect("landing dir");
    d
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn file_names_are_values_never_sql_or_variables() {
    let wh = Wh::new();
    let names = [
        "pos_${x}.csv",
        "pos_o'brien.csv",
        "pos_a;b -- c \\ d.csv",
        "pos_${pipeline:raw}.csv",
    ];
    for (i, n) in names.iter().enumerate() {
        std::fs::write(landing(&wh).join(n), pos_file(&format!("N{i}"), 2)).unwrap();
    }
    let (code, s) = run_pipeline(&wh, "pos");
    assert_eq!(code, 0, "{s}");
    assert_eq!(s["totals"]["rows_valid"], 8, "{s}");
    assert_eq!(s["totals"]["rows_rejected"], 4, "{s}");
    assert!(names_in(&landing(&wh)).is_empty(), "landing is emptied");
    // The names are stored exactly as they are, in the ledger and in rejects.
    let mut want: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    want.sort();
    let ledger: Vec<String> = wh
        .csv("SELECT source_file FROM stockroom_files ORDER BY source_file")
        .lines()
        .skip(1)
        .map(|l| l.trim_matches('"').replace("\"\"", "\""))
        .collect();
    assert_eq!(ledger, want);
    let rej = rows(&wh.csv(
        "SELECT count(*) FROM rejects WHERE source_file IN \
         ('pos_${x}.csv', 'pos_o''brien.csv', 'pos_${pipeline:raw}.csv')",
    ));
    assert_eq!(rej, vec![vec!["3".to_string()]]);
    // The next run has nothing to do and succeeds: nothing was left behind to block it.
    let out = wh.cmd().args(["pipeline", "run", "pos"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
