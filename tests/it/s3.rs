//! The warehouse in a bucket (`--warehouse s3://lake/wh`), against a real S3-compatible
//! server: moto's `moto_server` on 127.0.0.1, from the virtualenv that `.ci/run` installs
//! (`STOCKROOM_TEST_MOTO`, default `~/.cache/stockroom/s3-venv`). A missing server fails the
//! tests; none skips itself.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use stockroom::pipeline::fault::BOUNDARIES;

use crate::common::{ECOMMERCE_TABLES, Wh, assert_success, drop_sample, run_ok, table_rows};

const BUCKET: &str = "lake";

/// The virtualenv holding moto (and the Python `deltalake` package).
fn venv() -> PathBuf {
    match std::env::var_os("STOCKROOM_TEST_MOTO") {
        Some(v) => PathBuf::from(v),
        None => dirs::home_dir()
            .expect("a home directory")
            .join(".cache/stockroom/s3-venv"),
    }
}

/// A `moto_server` on a free loopback port, stopped when dropped.
pub(crate) struct Moto {
    child: Child,
    port: u16,
    /// The working directory of every command: a stray local `s3:` folder would show here.
    cwd: tempfile::TempDir,
}

impl Moto {
    pub(crate) fn start() -> Self {
        let bin = venv().join("bin/moto_server");
        assert!(
            bin.exists(),
            "{} is missing: .ci/run installs moto[server] there (or set STOCKROOM_TEST_MOTO \
             to a virtualenv holding it)",
            bin.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = StdCommand::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let m = Self {
            child,
            port,
            cwd: tempfile::tempdir().expect("temp dir"),
        };
        let t = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "moto_server did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let (status, body) = m.http("PUT", &format!("/{BUCKET}"), b"");
        assert_eq!(status, 200, "create bucket: {body}");
        m
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One plain HTTP request (moto does not check signatures): status and body.
    fn http(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect moto");
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.port,
            body.len()
        );
        s.write_all(head.as_bytes()).expect("write");
        s.write_all(body).expect("write");
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).expect("read");
        let text = String::from_utf8_lossy(&resp).to_string();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
        (status, body.to_string())
    }

    /// Uploads `data/<dir>` into `<prefix>/landing/<pipeline>/`.
    fn drop_sample(&self, prefix: &str, pipeline: &str, dir: &str) {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data").join(dir);
        for e in std::fs::read_dir(&data).expect("data dir") {
            let e = e.expect("entry");
            let name = e.file_name().to_string_lossy().to_string();
            let bytes = std::fs::read(e.path()).expect("sample");
            let (status, body) = self.http(
                "PUT",
                &format!("/{BUCKET}/{prefix}/landing/{pipeline}/{name}"),
                &bytes,
            );
            assert_eq!(status, 200, "upload {name}: {body}");
        }
    }

    /// Keys under `prefix` (one page, enough for the tests).
    fn keys(&self, prefix: &str) -> Vec<String> {
        let (status, body) = self.http(
            "GET",
            &format!("/{BUCKET}?list-type=2&prefix={prefix}"),
            b"",
        );
        assert_eq!(status, 200, "list: {body}");
        body.split("<Key>")
            .skip(1)
            .filter_map(|s| s.split_once("</Key>").map(|x| x.0.to_string()))
            .collect()
    }

    /// `stockroom --warehouse s3://lake/<prefix> …` with the server's AWS variables.
    pub(crate) fn cmd(&self, prefix: &str) -> Command {
        self.cmd_at(&format!("s3://{BUCKET}/{prefix}"))
    }

    /// `stockroom --warehouse <location> …` with the server's AWS variables.
    fn cmd_at(&self, location: &str) -> Command {
        let mut c = Command::cargo_bin("stockroom").expect("binary");
        c.current_dir(self.cwd.path())
            .arg("--warehouse")
            .arg(location)
            .env("NO_COLOR", "1")
            .env("STOCKROOM_SETTLE", "0");
        for (k, v) in self.aws_env() {
            c.env(k, v);
        }
        c
    }

    pub(crate) fn aws_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    pub(crate) fn csv(&self, prefix: &str, sql: &str) -> String {
        let out = self
            .cmd(prefix)
            .args(["query", sql, "--format", "csv"])
            .output()
            .expect("run");
        assert_success(&out);
        String::from_utf8(out.stdout).expect("utf8")
    }

    fn run_pipeline(&self, prefix: &str, name: &str) -> serde_json::Value {
        let out = self
            .cmd(prefix)
            .args(["pipeline", "run", name, "--json"])
            .output()
            .expect("run");
        assert_success(&out);
        serde_json::from_slice(&out.stdout).expect("JSON summary")
    }

    /// Nothing was written to the local disk under a folder named after the scheme.
    fn assert_no_local_folder(&self) {
        assert!(
            !self.cwd.path().join("s3:").exists(),
            "a local folder named s3: was created"
        );
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn disk_ecommerce_state() -> Vec<(String, Vec<String>)> {
    let disk = Wh::new();
    drop_sample(&disk, "ecommerce", "ecommerce", None);
    run_ok(&disk, "ecommerce");
    ECOMMERCE_TABLES
        .iter()
        .map(|t| (t.to_string(), table_rows(|s| disk.csv(s), t)))
        .collect()
}

fn s3_state(m: &Moto, prefix: &str) -> Vec<(String, Vec<String>)> {
    ECOMMERCE_TABLES
        .iter()
        .map(|t| (t.to_string(), table_rows(|s| m.csv(prefix, s), t)))
        .collect()
}

#[test]
fn s3_ecommerce_pipeline_equals_the_same_run_on_disk() {
    let m = Moto::start();
    m.drop_sample("wh", "ecommerce", "ecommerce");
    let s = m.run_pipeline("wh", "ecommerce");
    assert_eq!(s["status"], "partial", "{s}");
    let expected = disk_ecommerce_state();
    assert!(expected.iter().all(|(_, rows)| !rows.is_empty()));
    assert_eq!(s3_state(&m, "wh"), expected);

    // Landing emptied; every file archived or rejected; the run summary, the
    // notification and the tables are objects in the bucket.
    assert!(
        m.keys("wh/landing/").is_empty(),
        "{:?}",
        m.keys("wh/landing/")
    );
    let moved = m.keys("wh/archive/ecommerce/").len() + m.keys("wh/rejected/ecommerce/").len();
    assert!(moved >= 3, "{moved}");
    let runs = m.keys("wh/runs/");
    assert!(
        runs.iter()
            .any(|k| k.starts_with("wh/runs/ecommerce/") && k.ends_with(".json")),
        "{runs:?}"
    );
    assert!(
        runs.iter().any(|k| k == "wh/runs/notifications.jsonl"),
        "{runs:?}"
    );
    assert!(
        !runs.iter().any(|k| k.ends_with(".lock")),
        "the run released its locks: {runs:?}"
    );
    assert!(
        m.keys("wh/tables/order_kpis/_delta_log/")
            .iter()
            .any(|k| k.ends_with(".json"))
    );

    // A second run finds landing empty.
    let out = m
        .cmd("wh")
        .args(["pipeline", "run", "ecommerce"])
        .output()
        .expect("run");
    assert_success(&out);
    // The report reads the runs and the tables from the bucket.
    let out = m.cmd("wh").arg("report").output().expect("report");
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("ecommerce"));
    m.assert_no_local_folder();
}

#[test]
fn s3_kill_mid_run_then_rerun_converges() {
    let m = Moto::start();
    let expected = disk_ecommerce_state();
    for (i, boundary) in BOUNDARIES.iter().enumerate() {
        let prefix = format!("crash{i}");
        m.drop_sample(&prefix, "ecommerce", "ecommerce");
        let out = m
            .cmd(&prefix)
            .args(["pipeline", "run", "ecommerce"])
            .env("STOCKROOM_FAULT", boundary)
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{boundary}: must abort");
        assert!(
            stderr.contains(&format!("STOCKROOM_FAULT: aborting at {boundary}\n")),
            "the run did not die at {boundary}: {stderr}"
        );
        // The dead run's lease is still in the bucket; its pid is gone, so the re-run
        // takes it over at once.
        let out = m
            .cmd(&prefix)
            .args(["pipeline", "run", "ecommerce"])
            .output()
            .expect("run");
        assert_success(&out);
        assert_eq!(
            s3_state(&m, &prefix),
            expected,
            "after a crash at {boundary}"
        );
    }
    m.assert_no_local_folder();
}

#[test]
fn s3_a_run_holds_its_lease_lock_and_a_second_run_is_refused() {
    let m = Moto::start();
    m.drop_sample("wh", "ecommerce", "ecommerce");
    // The first run stops while it holds the warehouse lock (and its run lock), until the
    // hold file is removed.
    let hold = m.cwd.path().join("hold");
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("stockroom"));
    c.current_dir(m.cwd.path())
        .args([
            "--warehouse",
            &format!("s3://{BUCKET}/wh"),
            "pipeline",
            "run",
            "ecommerce",
        ])
        .env("STOCKROOM_SETTLE", "0")
        .env(
            "STOCKROOM_HOLD",
            format!("warehouse_lock_taken:{}", hold.display()),
        )
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(m.cwd.path().join("first.log")).expect("log"));
    for (k, v) in m.aws_env() {
        c.env(k, v);
    }
    let mut first = c.spawn().expect("first run");
    let t = Instant::now();
    while !hold.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "the first run never held"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let keys = m.keys("wh/runs/");
    assert!(
        keys.iter().any(|k| k == "wh/runs/ecommerce.lock"),
        "{keys:?}"
    );
    assert!(
        keys.iter().any(|k| k == "wh/runs/warehouse.lock"),
        "{keys:?}"
    );
    let out = m
        .cmd("wh")
        .args(["pipeline", "run", "ecommerce"])
        .output()
        .expect("second run");
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("pipeline ecommerce is already running"), "{e}");
    // The hook holds at every take of the warehouse lock: release each until the run ends.
    let t = Instant::now();
    let status = loop {
        let _ = std::fs::remove_file(&hold);
        if let Some(status) = first.try_wait().expect("first run") {
            break status;
        }
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "the first run never ended"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "first run: {}",
        std::fs::read_to_string(m.cwd.path().join("first.log")).unwrap_or_default()
    );
    let keys = m.keys("wh/runs/");
    assert!(!keys.iter().any(|k| k.ends_with(".lock")), "{keys:?}");
    assert_eq!(s3_state(&m, "wh"), disk_ecommerce_state());
}

#[test]
fn s3_two_processes_appending_to_one_table_both_commit() {
    let m = Moto::start();
    let out = m
        .cmd("wh")
        .args(["query", "CREATE TABLE t (who INT, n INT)"])
        .output()
        .expect("create");
    assert_success(&out);
    const EACH: usize = 4;
    let writers: Vec<_> = (1..=2)
        .map(|who| {
            let mut script = String::new();
            for n in 0..EACH {
                script.push_str(&format!("INSERT INTO t VALUES ({who}, {n});\n"));
            }
            let path = m.cwd.path().join(format!("w{who}.sql"));
            std::fs::write(&path, script).expect("script");
            let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("stockroom"));
            c.current_dir(m.cwd.path())
                .args(["--warehouse", &format!("s3://{BUCKET}/wh"), "run-sql"])
                .arg(&path)
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            for (k, v) in m.aws_env() {
                c.env(k, v);
            }
            c.spawn().expect("writer")
        })
        .collect();
    for w in writers {
        let out = w.wait_with_output().expect("writer");
        assert_success(&out);
    }
    let csv = m.csv(
        "wh",
        "SELECT who, count(*) AS n FROM t GROUP BY who ORDER BY who",
    );
    assert_eq!(csv, format!("who,n\n1,{EACH}\n2,{EACH}\n"));
    // One commit per INSERT, on top of the CREATE: no commit overwrote another.
    let log: Vec<_> = m
        .keys("wh/tables/t/_delta_log/")
        .into_iter()
        .filter(|k| k.ends_with(".json"))
        .collect();
    assert_eq!(log.len(), 1 + 2 * EACH, "{log:?}");
}

#[test]
fn s3_repl_query_serve_time_travel_and_maintenance_read_the_bucket() {
    let m = Moto::start();
    for sql in [
        "CREATE TABLE sales AS SELECT * FROM (VALUES (1, 10), (2, 20)) AS v(id, qty)",
        "INSERT INTO sales VALUES (3, 30)",
        "UPDATE sales SET qty = qty + 1 WHERE id = 1",
        "OPTIMIZE sales",
    ] {
        let out = m.cmd("wh").args(["query", sql]).output().expect("run");
        assert_success(&out);
    }
    assert_eq!(
        m.csv("wh", "SELECT id, qty FROM sales ORDER BY id"),
        "id,qty\n1,11\n2,20\n3,30\n"
    );
    assert_eq!(
        m.csv("wh", "SELECT count(*) AS n FROM sales VERSION AS OF 0"),
        "n\n2\n"
    );
    let tables = m.csv("wh", "SHOW TABLES");
    assert!(tables.contains("sales"), "{tables}");
    // The shell, fed on stdin.
    let out = m
        .cmd("wh")
        .write_stdin("\\format csv\nSELECT sum(qty) AS total FROM sales;\n\\d\n")
        .output()
        .expect("repl");
    assert_success(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("total\n61"), "{text}");
    assert!(text.contains("sales"), "{text}");
    // DROP TABLE removes the table's objects.
    let out = m
        .cmd("wh")
        .args(["query", "CREATE TABLE scratch AS SELECT 1 AS x"])
        .output()
        .expect("run");
    assert_success(&out);
    let out = m
        .cmd("wh")
        .args(["query", "DROP TABLE scratch"])
        .output()
        .expect("run");
    assert_success(&out);
    assert!(m.keys("wh/tables/scratch/").is_empty());

    // `serve` answers psql from the bucket.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("stockroom"));
    c.current_dir(m.cwd.path())
        .args([
            "--warehouse",
            &format!("s3://{BUCKET}/wh"),
            "serve",
            "--no-auth",
        ])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in m.aws_env() {
        c.env(k, v);
    }
    let mut server = c.spawn().expect("serve");
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            server.try_wait().ok().flatten().is_none(),
            "serve exited before listening"
        );
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "serve did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = std::process::Command::new("psql")
        .args(["-X", "-A", "-t", "-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-U", "stockroom", "-d", "stockroom"])
        .args(["-c", "SELECT sum(qty) FROM sales"])
        .env("PGCONNECT_TIMEOUT", "30")
        .output()
        .expect("psql is installed (postgresql-client)");
    let _ = server.kill();
    let _ = server.wait();
    assert_success(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "61");
    m.assert_no_local_folder();
}

#[test]
fn s3_python_deltalake_reads_a_table_back_from_the_bucket() {
    let m = Moto::start();
    let out = m
        .cmd("wh")
        .args([
            "query",
            "CREATE TABLE items AS SELECT * FROM (VALUES (1, 'a'), (2, 'b'), (3, 'c')) AS v(id, name)",
        ])
        .output()
        .expect("create");
    assert_success(&out);
    let script = "import sys\n\
        from deltalake import DeltaTable, QueryBuilder\n\
        dt = DeltaTable(sys.argv[1])\n\
        rows = QueryBuilder().register('t', dt).execute('SELECT count(*) AS n, sum(id) AS s FROM t').read_all()\n\
        print(dt.version(), rows.to_pylist() if hasattr(rows, 'to_pylist') else [dict(n=rows['n'][0].as_py(), s=rows['s'][0].as_py())])\n";
    let mut c = std::process::Command::new(venv().join("bin/python"));
    c.args(["-c", script, &format!("s3://{BUCKET}/wh/tables/items")]);
    for (k, v) in m.aws_env() {
        c.env(k, v);
    }
    let out = c.output().expect("python");
    assert_success(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("'n': 3") && text.contains("'s': 6"),
        "python deltalake read: {text}"
    );
}

#[test]
fn s3_bad_locations_give_clear_errors() {
    let m = Moto::start();
    let fails = |mut c: Command| -> String {
        let out = c.args(["query", "SELECT 1"]).output().expect("run");
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    // Schemes this build does not serve.
    for loc in ["gs://lake/wh", "foo://x/y"] {
        let e = fails(m.cmd_at(loc));
        assert!(e.contains("is not supported"), "{loc}: {e}");
        assert!(
            !m.cwd
                .path()
                .join(loc.split(':').next().unwrap_or(""))
                .exists()
        );
    }
    // A bucket path outside the warehouse's own bucket, and generate into a bucket.
    let out = m
        .cmd("wh")
        .args([
            "pipeline",
            "run",
            "ecommerce",
            "--landing",
            "s3://other/landing",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("not under the warehouse's own bucket"), "{e}");
    let out = m
        .cmd("wh")
        .args([
            "generate",
            "ecommerce",
            "--out",
            "s3://lake/wh/landing/ecommerce",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("generate writes local files"), "{e}");
    // A bucket that does not exist.
    let e = fails(m.cmd_at("s3://nope/wh"));
    assert!(
        e.contains("bucket 'nope' does not exist") && e.contains("AWS_ENDPOINT_URL"),
        "{e}"
    );
    // An endpoint where nothing listens.
    let closed = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let e = fails({
        let mut c = m.cmd("wh");
        c.env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{closed}"));
        c
    });
    assert!(
        e.contains("cannot reach the S3 endpoint") && e.contains("AWS_ENDPOINT_URL"),
        "{e}"
    );
    // No credentials at all.
    let e = fails({
        let mut c = m.cmd("wh");
        c.env_remove("AWS_ACCESS_KEY_ID");
        c
    });
    assert!(e.contains("AWS_ACCESS_KEY_ID"), "{e}");
    // STOCKROOM_WAREHOUSE is the same as --warehouse.
    let mut c = Command::cargo_bin("stockroom").expect("binary");
    c.current_dir(m.cwd.path())
        .env("STOCKROOM_WAREHOUSE", format!("s3://{BUCKET}/env"));
    for (k, v) in m.aws_env() {
        c.env(k, v);
    }
    let out = c
        .args(["query", "CREATE TABLE e AS SELECT 1 AS x"])
        .output()
        .expect("run");
    assert_success(&out);
    assert!(!m.keys("env/tables/e/_delta_log/").is_empty());
    m.assert_no_local_folder();
}
