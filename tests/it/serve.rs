//! `stockroom serve` driven by the real `psql` client: browsing, exact KPI results, time
//! travel, the read-only default, passwords, the timeout, 20 concurrent clients, TLS and
//! graceful shutdown.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Wh, assert_success, drop_sample, run_ok};

/// A running `stockroom serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub port: u16,
    log: PathBuf,
}

impl Server {
    pub fn start(wh: &Wh, args: &[&str]) -> Server {
        let port = free_port();
        let log = wh.dir.path().join(format!("serve-{port}.log"));
        let child = Command::new(assert_cmd::cargo::cargo_bin("stockroom"))
            .arg("--warehouse")
            .arg(wh.path())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .env("NO_COLOR", "1")
            // debug adds a "query started" line (the shutdown test waits for it).
            .env("STOCKROOM_LOG", "stockroom=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start stockroom serve");
        let mut server = Server { child, port, log };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("server exited ({status}): {}", server.log_text());
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "server did not listen: {}",
                server.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `psql -c SQL` as `user` (unaligned, comma-separated, no header).
    pub fn psql(&self, user: &str, password: &str, sql: &str) -> Output {
        self.psql_with(user, password, &["-c", sql], &[])
    }

    pub fn psql_with(
        &self,
        user: &str,
        password: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Output {
        let mut c = Command::new("psql");
        c.args(["-X", "-A", "-t", "-F", ",", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", user, "-d", "stockroom"])
            .args(args)
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "30")
            .env_remove("PGSSLMODE");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().expect("psql is installed (postgresql-client)")
    }

    /// Rows of a query that must succeed.
    pub fn rows(&self, user: &str, password: &str, sql: &str) -> Vec<Vec<String>> {
        let out = self.psql(user, password, sql);
        assert!(
            out.status.success(),
            "psql failed on {sql}: {}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log_text()
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect()
    }

    /// stderr of a statement that must fail.
    pub fn fails(&self, user: &str, password: &str, sql: &str) -> String {
        let out = self.psql(user, password, sql);
        assert!(!out.status.success(), "should fail: {sql}");
        String::from_utf8_lossy(&out.stderr).to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A users file with one user, its hash made by `stockroom serve --hash-password`.
pub fn users_file(wh: &Wh, user: &str, password: &str) -> PathBuf {
    let out = wh
        .cmd()
        .args(["serve", "--hash-password", "--hash-iterations", "1000"])
        .write_stdin(format!("{password}\n"))
        .output()
        .expect("hash-password");
    assert_success(&out);
    let hash = String::from_utf8(out.stdout).expect("utf8");
    let hash = hash.trim();
    assert!(hash.starts_with("pbkdf2-sha256$1000$"), "{hash}");
    assert!(!hash.contains(password));
    let path = wh.dir.path().join("users.toml");
    std::fs::write(&path, format!("[users]\n{user} = \"{hash}\"\n")).expect("users file");
    path
}

/// The sample run of the ecommerce pipeline (tests/it/ecommerce.rs works its KPIs by hand).
pub fn ecommerce_warehouse() -> Wh {
    let wh = Wh::new();
    drop_sample(&wh, "ecommerce", "ecommerce", None);
    run_ok(&wh, "ecommerce");
    wh
}

const KPI_QUERY: &str = "SELECT order_date, total_orders, total_revenue, total_items_sold, \
                         unique_customers, return_rate FROM order_kpis ORDER BY order_date";

/// By hand (see tests/it/ecommerce.rs): valid orders 100 and 101 on 03-14 (items 45 + 15
/// + 50 = 110, order 101 returned), 103 on 03-15 without items, 102 on 03-16 (item 4).
const KPI_EXPECTED: [[&str; 6]; 3] = [
    ["2024-03-14", "2", "110", "3", "2", "50"],
    ["2024-03-15", "1", "0", "0", "0", "0"],
    ["2024-03-16", "1", "4", "1", "1", "0"],
];

/// Compares cells as numbers where both are numbers (psql prints 110.0 or 110 depending on
/// the float's encoding).
fn assert_rows(got: &[Vec<String>], expected: &[[&str; 6]]) {
    assert_eq!(got.len(), expected.len(), "{got:?}");
    for (g, e) in got.iter().zip(expected) {
        assert_eq!(g.len(), e.len(), "{g:?}");
        for (a, b) in g.iter().zip(e) {
            match (a.parse::<f64>(), b.parse::<f64>()) {
                (Ok(x), Ok(y)) => assert!((x - y).abs() < 1e-9, "{g:?} vs {e:?}"),
                _ => assert_eq!(a, b, "{g:?} vs {e:?}"),
            }
        }
    }
}

#[test]
fn psql_browses_queries_time_travels_and_is_refused_writes_and_bad_passwords() {
    let wh = ecommerce_warehouse();
    wh.ok("CREATE TABLE prices AS SELECT 1 AS id, 10.5 AS price");
    let users = users_file(&wh, "analyst", "s3cret pass");
    let server = Server::start(&wh, &["--users", users.to_str().expect("utf8 path")]);
    let (u, p) = ("analyst", "s3cret pass");

    // psql's \dt and \d go through pg_catalog.
    let tables = server.rows(u, p, "\\dt");
    let names: Vec<&str> = tables.iter().map(|r| r[1].as_str()).collect();
    for t in [
        "category_kpis",
        "order_kpis",
        "prices",
        "rejects",
        "stg_orders",
    ] {
        assert!(names.contains(&t), "{t} missing from \\dt: {tables:?}");
    }
    assert!(tables.iter().all(|r| r[0] == "public" && r[2] == "table"));
    let columns = server.rows(u, p, "\\d order_kpis");
    let columns: Vec<(&str, &str)> = columns
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str()))
        .collect();
    assert_eq!(
        columns,
        [
            ("order_date", "date"),
            ("total_orders", "bigint"),
            ("total_revenue", "double precision"),
            ("total_items_sold", "bigint"),
            ("unique_customers", "bigint"),
            ("return_rate", "double precision"),
        ]
    );

    assert_rows(&server.rows(u, p, KPI_QUERY), &KPI_EXPECTED);
    assert_eq!(
        server.rows(u, p, "SELECT current_user, current_database()"),
        [["analyst", "stockroom"]]
    );
    // Our UDFs are there too.
    assert_eq!(
        server.rows(u, p, "SELECT safe_div(1, 0) IS NULL, safe_div(9, 3)"),
        [["t", "3.0"]]
    );

    // A new Delta version written while the server runs is visible without a restart, and
    // the old one stays reachable by time travel.
    wh.ok("UPDATE prices SET price = 12.25 WHERE id = 1");
    assert_eq!(server.rows(u, p, "SELECT price FROM prices"), [["12.25"]]);
    assert_eq!(
        server.rows(u, p, "SELECT price FROM prices VERSION AS OF 0"),
        [["10.5"]]
    );
    assert_eq!(
        server.rows(
            u,
            p,
            "SELECT _change_type, price FROM table_changes('prices', 1, 1) ORDER BY _change_type"
        ),
        [["update_postimage", "12.25"], ["update_preimage", "10.5"]]
    );

    // Read-only by default: the write is refused with what to do, and nothing changed.
    for sql in [
        "DELETE FROM prices",
        "INSERT INTO prices VALUES (2, 1.0)",
        "CREATE TABLE t2 AS SELECT 1 AS x",
        "DROP TABLE prices",
        "VACUUM prices",
        "OPTIMIZE prices",
    ] {
        let err = server.fails(u, p, sql);
        assert!(err.contains("read-only"), "{sql}: {err}");
        assert!(err.contains("--allow-writes"), "{sql}: {err}");
    }
    assert_eq!(server.rows(u, p, "SELECT count(*) FROM prices"), [["1"]]);

    // A bad query is an error for its client only.
    let err = server.fails(u, p, "SELECT * FROM no_such_table");
    assert!(err.contains("no_such_table"), "{err}");

    // Wrong password, unknown user.
    let err = server.fails(u, "wrong", "SELECT 1");
    assert!(err.contains("password authentication failed"), "{err}");
    let err = server.fails("mallory", p, "SELECT 1");
    assert!(err.contains("password authentication failed"), "{err}");

    // One log line per statement with the user and row count.
    let log = server.log_text();
    assert!(
        log.lines().any(|l| l.contains("user=\"analyst\"")
            && l.contains("rows=3")
            && l.contains("order_kpis")),
        "{log}"
    );
    assert!(log.contains("refused"), "{log}");
}

#[test]
fn writes_need_allow_writes_and_then_go_through_the_executor() {
    let wh = Wh::new();
    let server = Server::start(&wh, &["--no-auth", "--allow-writes"]);
    let out = server.psql_with(
        "anyone",
        "",
        &[
            "-c",
            "CREATE TABLE notes AS SELECT 1 AS id, 'a' AS body",
            "-c",
            "INSERT INTO notes VALUES (2, 'b')",
            "-c",
            "MERGE INTO notes t USING (SELECT 2 AS id, 'B' AS body) s ON t.id = s.id \
             WHEN MATCHED THEN UPDATE SET body = s.body",
        ],
        &[],
    );
    assert_success(&out);
    assert_eq!(
        crate::common::rows(&wh.csv("SELECT id, body FROM notes ORDER BY id")),
        [["1", "a"], ["2", "B"]]
    );
}

#[test]
fn a_query_past_the_timeout_is_cancelled_and_the_server_carries_on() {
    let wh = Wh::new();
    let server = Server::start(&wh, &["--no-auth", "--query-timeout", "1s"]);
    // 10^11 rows in small batches: far longer than a second on any machine, and each
    // batch is short, so the cancelled query stops at once.
    let err = server.fails(
        "anyone",
        "",
        "SELECT sum(value % 7) FROM generate_series(1, 100000000000)",
    );
    assert!(err.contains("statement timeout"), "{err}");
    assert!(err.contains("--query-timeout"), "{err}");
    assert_eq!(server.rows("anyone", "", "SELECT 40 + 2"), [["42"]]);
}

#[test]
fn twenty_concurrent_clients_get_correct_kpis() {
    let wh = ecommerce_warehouse();
    let users = users_file(&wh, "bi", "pw");
    let server = Server::start(
        &wh,
        &[
            "--users",
            users.to_str().expect("utf8 path"),
            "--max-concurrent-queries",
            "4",
        ],
    );
    let results: Vec<Vec<Vec<String>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|_| s.spawn(|| server.rows("bi", "pw", KPI_QUERY)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .collect()
    });
    assert_eq!(results.len(), 20);
    for r in &results {
        assert_rows(r, &KPI_EXPECTED);
    }
}

#[test]
fn no_auth_is_refused_off_loopback_and_tls_works_with_a_certificate() {
    let wh = Wh::new();
    wh.cmd()
        .args(["serve", "--no-auth", "--listen", "0.0.0.0:0"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("loopback"));
    wh.cmd()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("--users"));

    let dir = wh.dir.path();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    // .ci/run installs openssl: no skipping.
    assert!(
        self_signed_certificate(&cert, &key),
        "openssl is needed for the TLS tests (.ci/run installs it)"
    );
    let users = users_file(&wh, "tls_user", "pw");
    let server = Server::start(
        &wh,
        &[
            "--users",
            users.to_str().expect("utf8"),
            "--tls-cert",
            cert.to_str().expect("utf8"),
            "--tls-key",
            key.to_str().expect("utf8"),
        ],
    );
    let out = server.psql_with(
        "tls_user",
        "pw",
        &["-c", "SELECT 7"],
        &[("PGSSLMODE", "require")],
    );
    assert_success(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "7");
}

pub fn self_signed_certificate(cert: &Path, key: &Path) -> bool {
    Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(key)
        .arg("-out")
        .arg(cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[test]
fn sigterm_lets_the_running_query_finish_then_exits() {
    let wh = Wh::new();
    let mut server = Server::start(&wh, &["--no-auth"]);
    std::thread::scope(|s| {
        let query = s.spawn(|| {
            server.rows(
                "anyone",
                "",
                "SELECT count(*) FROM generate_series(1, 2000) a \
                 CROSS JOIN generate_series(1, 2000) b WHERE a.value + b.value > 0",
            )
        });
        let started = Instant::now();
        while !server.log_text().contains("query started") {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "query never started"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let pid = server.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(killed.map(|s| s.success()).unwrap_or(false));
        assert_eq!(query.join().expect("query thread"), [["4000000"]]);
    });
    let status = server.child.wait().expect("server exit");
    assert!(status.success(), "{status}: {}", server.log_text());
    assert!(server.log_text().contains("shut down cleanly"));
}

/// Drivers (JDBC, tokio-postgres, …) use the extended protocol: Parse/Describe/Bind/Execute
/// with typed `$n` parameters and binary results. tokio-postgres is such a driver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_driver_prepares_binds_and_gets_typed_results() {
    let wh = ecommerce_warehouse();
    let server = Server::start(&wh, &["--no-auth"]);
    let (client, connection) = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} user=driver dbname=stockroom",
            server.port
        ),
        tokio_postgres::NoTls,
    )
    .await
    .expect("connect");
    tokio::spawn(connection);

    // By hand: the one day with 2 orders is 2024-03-14, revenue 110, return rate 50.
    let rows = client
        .query(
            "SELECT CAST(order_date AS VARCHAR) AS day, total_revenue, return_rate \
             FROM order_kpis WHERE total_orders = $1 ORDER BY order_date",
            &[&2i64],
        )
        .await
        .expect("query");
    let got: Vec<(String, f64, f64)> = rows
        .iter()
        .map(|r| (r.get("day"), r.get(1), r.get(2)))
        .collect();
    assert_eq!(got, [("2024-03-14".to_string(), 110.0, 50.0)]);

    // One prepared statement, several bindings: days with at least N items sold
    // (03-14: 3 items, 03-15: 0, 03-16: 1).
    let stmt = client
        .prepare("SELECT count(*) AS days FROM order_kpis WHERE total_items_sold >= $1")
        .await
        .expect("prepare");
    assert_eq!(stmt.columns()[0].name(), "days");
    for (n, days) in [(0i64, 3i64), (1, 2), (3, 1), (4, 0)] {
        let row = client.query_one(&stmt, &[&n]).await.expect("bind");
        assert_eq!(row.get::<_, i64>(0), days, "items >= {n}");
    }

    // Time travel through the same path: version 0 is the empty table the pipeline created.
    let row = client
        .query_one("SELECT count(*) FROM order_kpis VERSION AS OF 0", &[])
        .await
        .expect("time travel");
    assert_eq!(row.get::<_, i64>(0), 0);

    // A refused write carries Postgres' read-only SQLSTATE.
    let err = client
        .execute("DELETE FROM order_kpis", &[])
        .await
        .expect_err("read-only");
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::READ_ONLY_SQL_TRANSACTION),
        "{err}"
    );
}
