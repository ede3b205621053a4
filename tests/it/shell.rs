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

/// A 3-statement, 8-line script, each statement depending on the one before it.
fn paste_script(table: &str) -> String {
    format!(
        "CREATE TABLE {table} AS\n\
         \x20 SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS v(id, tag);\n\
         INSERT INTO {table}\n\
         \tVALUES (3, 'c');\n\
         SELECT count(*) * 1000 + max(id)\n\
         \x20      AS check_value\n\
         FROM {table}\n\
         ;\n"
    )
}

#[test]
fn pasted_script_runs_every_statement_plain_and_bracketed() {
    let wh = Wh::new();
    let mut p = shell(&wh);

    // A plain paste: the whole script in one write, as a terminal without bracketed paste
    // delivers it. Every line after the first used to be lost.
    p.send(&paste_script("plain")).unwrap();
    p.flush().unwrap();
    p.exp_string("CREATE TABLE plain: 2 inserted").unwrap();
    p.exp_string("INSERT plain: 1 inserted").unwrap();
    p.exp_string("check_value").unwrap();
    p.exp_string("3003").unwrap();

    // A bracketed paste (what terminals send once the shell asks for it): runs without an
    // extra Enter, in order, and the tab inside it is kept rather than taken as completion.
    p.send(&format!("\x1b[200~{}\x1b[201~", paste_script("bracketed")))
        .unwrap();
    p.flush().unwrap();
    p.exp_string("CREATE TABLE bracketed: 2 inserted").unwrap();
    p.exp_string("INSERT bracketed: 1 inserted").unwrap();
    p.exp_string("3003").unwrap();

    // A blank line after a statement does not swallow the meta-command that follows it.
    p.send(
        "\x1b[200~SELECT 1 AS first;\n\n\\format csv\nSELECT 'after meta' AS second;\n\x1b[201~",
    )
    .unwrap();
    p.flush().unwrap();
    p.exp_string("second\r\nafter meta").unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();

    for table in ["plain", "bracketed"] {
        assert_eq!(
            wh.csv(&format!("SELECT id, tag FROM {table} ORDER BY id")),
            "id,tag\n1,a\n2,b\n3,c\n",
            "{table}"
        );
    }
}
