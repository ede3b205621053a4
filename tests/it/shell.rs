//! The interactive shell through a real pseudo-terminal (rexpect), and its meta-commands
//! in piped mode.

use std::time::Duration;

use crate::common::{Wh, assert_success};

fn shell(wh: &Wh) -> rexpect::session::PtySession {
    let bin = assert_cmd::cargo::cargo_bin("stockroom");
    let mut cmd = std::process::Command::new(bin);
    cmd.arg("--warehouse")
        .arg(wh.path())
        .env("TERM", "xterm-256color")
        .env("NO_COLOR", "1")
        .env("COLUMNS", "120")
        .env("HOME", wh.dir.path())
        .env("XDG_DATA_HOME", wh.dir.path().join("data"));
    let mut p = rexpect::session::spawn_command(cmd, Some(60_000)).expect("spawn shell");
    p.exp_string("stockroom> ").expect("prompt");
    p
}

#[test]
fn interactive_multiline_completion_cancel_history_and_diff() {
    let wh = Wh::new();
    wh.ok("CREATE TABLE sales AS SELECT * FROM (VALUES (1, 10), (2, 20)) AS v(id, qty)");
    let mut p = shell(&wh);

    // A statement over two lines: continuation prompt, then the table.
    p.send_line("SELECT id, qty * 2 AS doubled").unwrap();
    p.exp_string("...> ").unwrap();
    p.send_line("FROM sales ORDER BY id;").unwrap();
    p.exp_string("doubled").unwrap();
    p.exp_string("40").unwrap();
    p.exp_string("2 row(s)").unwrap();

    // Tab completes a table name.
    p.send("SELECT count(*) AS n FROM sal").unwrap();
    p.send("\t").unwrap();
    p.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    p.send_line(";").unwrap();
    p.exp_string("1 row(s)").unwrap();

    // Tab completes a column after `table.`.
    p.send("SELECT sales.q").unwrap();
    p.send("\t").unwrap();
    p.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    p.send_line(" AS q FROM sales ORDER BY 1;").unwrap();
    p.exp_string("2 row(s)").unwrap();

    // Ctrl-C cancels a long query; the session survives and the next query works.
    p.send_line("SELECT count(*) FROM generate_series(1, 5000000000) AS a(x) WHERE x % 7 = 3;")
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    p.send_control('c').unwrap();
    p.exp_string("query cancelled").unwrap();
    p.send_line("SELECT 40 + 2 AS answer;").unwrap();
    p.exp_string("42").unwrap();

    // A write in the session, then its history and diff.
    p.send_line("UPDATE sales SET qty = 21 WHERE id = 2;")
        .unwrap();
    p.exp_string("version 1").unwrap();
    p.send_line("\\history sales").unwrap();
    p.exp_string("UPDATE").unwrap();
    p.send_line("\\diff sales 0 1 id").unwrap();
    p.exp_string("changed (new)").unwrap();
    p.exp_string("changed (old)").unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn piped_meta_commands_df_diff_pipelines() {
    let wh = Wh::new();
    let input = "CREATE TABLE t AS SELECT * FROM (VALUES (1, 10), (2, 20)) AS v(id, qty);\n\
                 UPDATE t SET qty = 21 WHERE id = 2;\n\
                 INSERT INTO t VALUES (3, 30);\n\
                 \\format csv\n\
                 \\diff t 0 2 id\n\
                 \\df parse_\n\
                 \\pipelines\n";
    let out = wh.cmd().write_stdin(input).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_success(&out);
    assert!(stdout.contains("INSERT t: 1 inserted"), "{stdout}");
    assert!(
        stdout.contains("change,id,qty\nadded,3,30\nchanged (new),2,21\nchanged (old),2,20\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("parse_int") && stdout.contains("parse_ts"),
        "{stdout}"
    );
    assert!(stdout.contains("pos "), "{stdout}");
}
