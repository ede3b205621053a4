//! `--cluster` on a real Ballista cluster: a scheduler and two executors, each a process of
//! our binary on free 127.0.0.1 ports, stopped when the test ends (whatever way it ends).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Wh, assert_success, drop_sample, rows, run_ok};

/// A node process, killed and reaped on drop.
struct Node {
    child: Child,
    log: PathBuf,
}

impl Node {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One scheduler, two executors (two tasks each).
struct Cluster {
    _logs: tempfile::TempDir,
    /// `df://127.0.0.1:PORT`
    address: String,
    executors: Vec<Node>,
    scheduler: Node,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn wait_listening(port: u16, node: &mut Node) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = node.child.try_wait() {
            panic!("node exited ({status}) before listening:\n{}", node.log());
        }
        assert!(
            Instant::now() < deadline,
            "nothing listens on {port}:\n{}",
            node.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Where the nodes' warehouse is and its store's settings (none for a local warehouse).
#[derive(Default)]
struct Store {
    warehouse: Option<String>,
    env: Vec<(&'static str, String)>,
}

fn node(logs: &Path, name: &str, store: &Store, args: &[String]) -> Node {
    let log = logs.join(format!("{name}.log"));
    let file = std::fs::File::create(&log).expect("log file");
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("stockroom"));
    if let Some(w) = &store.warehouse {
        command.arg("--warehouse").arg(w);
    }
    command.envs(store.env.iter().map(|(k, v)| (k, v)));
    let child = command
        .arg("cluster")
        .args(args)
        .env("STOCKROOM_LOG", "stockroom=info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("log file"))
        .stderr(file)
        .spawn()
        .expect("start a cluster node");
    Node { child, log }
}

impl Cluster {
    fn start() -> Self {
        Self::start_on(&Store::default())
    }

    fn start_on(store: &Store) -> Self {
        let logs = tempfile::tempdir().expect("log dir");
        let port = free_port();
        let mut scheduler = node(
            logs.path(),
            "scheduler",
            store,
            &[
                "scheduler".into(),
                "--listen".into(),
                format!("127.0.0.1:{port}"),
            ],
        );
        wait_listening(port, &mut scheduler);
        let mut executors = Vec::new();
        for i in 0..2 {
            let (flight, grpc) = (free_port(), free_port());
            let mut e = node(
                logs.path(),
                &format!("executor{i}"),
                store,
                &[
                    "executor".into(),
                    "--scheduler".into(),
                    format!("127.0.0.1:{port}"),
                    "--listen".into(),
                    format!("127.0.0.1:{flight}"),
                    "--grpc-port".into(),
                    grpc.to_string(),
                    "--concurrency".into(),
                    "2".into(),
                ],
            );
            wait_listening(flight, &mut e);
            wait_listening(grpc, &mut e);
            executors.push(e);
        }
        Self {
            _logs: logs,
            address: format!("df://127.0.0.1:{port}"),
            executors,
            scheduler,
        }
    }

    /// Everything the executors logged.
    fn executor_logs(&self) -> String {
        self.executors.iter().map(Node::log).collect()
    }

    /// Stages the executors ran (one log line per task).
    fn tasks_run(&self) -> usize {
        self.executor_logs()
            .lines()
            .filter(|l| l.contains(" stage ") && l.contains(" task "))
            .count()
    }
}

/// `stockroom --cluster ADDR ARGS…` on `wh`.
fn on_cluster(wh: &Wh, cluster: &Cluster) -> assert_cmd::Command {
    let mut c = wh.cmd();
    c.arg("--cluster").arg(&cluster.address);
    c
}

fn csv_on(wh: &Wh, cluster: &Cluster, sql: &str) -> String {
    let out = on_cluster(wh, cluster)
        .args(["query", sql, "--format", "csv"])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "cluster query failed: {sql}\nstderr: {}\nexecutors:\n{}\nscheduler:\n{}",
        String::from_utf8_lossy(&out.stderr),
        cluster.executor_logs(),
        cluster.scheduler.log()
    );
    String::from_utf8(out.stdout).expect("utf8")
}

/// The ecommerce sample in a fresh warehouse.
fn ecommerce_sample() -> Wh {
    let wh = Wh::new();
    drop_sample(&wh, "ecommerce", "ecommerce", None);
    wh
}

/// Every row of a table, sorted.
fn whole_table(wh: &Wh, table: &str, cluster: Option<&Cluster>) -> Vec<Vec<String>> {
    let sql = format!("SELECT * FROM {table}");
    let csv = match cluster {
        Some(c) => csv_on(wh, c, &sql),
        None => wh.csv(&sql),
    };
    let mut rows: Vec<Vec<String>> = rows(&csv)
        .into_iter()
        .map(|r| r.into_iter().map(mask_run_id).collect())
        .collect();
    rows.sort();
    rows
}

/// The id of the run that wrote a row (`20261203T165012.306152Z-2960`) differs between any
/// two runs; everything else must not.
fn mask_run_id(cell: String) -> String {
    let b = cell.as_bytes();
    let is_run_id = b.len() > 17
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && cell.contains("Z-")
        && cell
            .rsplit("Z-")
            .next()
            .is_some_and(|pid| pid.bytes().all(|c| c.is_ascii_digit()));
    if is_run_id { "<run>".into() } else { cell }
}

/// The process's output once it ends; killed (and the test failed) past `limit`.
fn wait_at_most(mut child: Child, limit: Duration) -> std::process::Output {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait().expect("wait") {
            Some(_) => return child.wait_with_output().expect("output"),
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!(
                    "the query hung past {limit:?} after losing an executor; stderr: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

#[test]
fn ecommerce_pipeline_and_kpi_queries_on_the_cluster_equal_a_local_run() {
    let cluster = Cluster::start();
    let local = ecommerce_sample();
    run_ok(&local, "ecommerce");

    let remote = ecommerce_sample();
    let out = on_cluster(&remote, &cluster)
        .args(["pipeline", "run", "ecommerce", "--json"])
        .output()
        .expect("run");
    assert_success(&out);
    let after_pipeline = cluster.tasks_run();
    assert!(
        after_pipeline > 0,
        "the pipeline's reads did not reach the executors:\n{}",
        cluster.executor_logs()
    );
    for table in [
        "stg_products",
        "stg_orders",
        "stg_order_items",
        "order_kpis",
        "category_kpis",
    ] {
        let want = whole_table(&local, table, None);
        assert!(!want.is_empty(), "{table} is empty locally");
        assert_eq!(whole_table(&remote, table, None), want, "{table}");
        // And read through the cluster, the cluster-built table is the same again.
        assert_eq!(whole_table(&remote, table, Some(&cluster)), want, "{table}");
    }

    let kpis = Path::new(env!("CARGO_MANIFEST_DIR")).join("sql/examples/ecommerce_kpis.sql");
    let local_kpis = local
        .cmd()
        .arg("run-sql")
        .arg(&kpis)
        .args(["--format", "csv"])
        .output()
        .expect("run");
    assert_success(&local_kpis);
    let before = cluster.tasks_run();
    let cluster_kpis = on_cluster(&local, &cluster)
        .arg("run-sql")
        .arg(&kpis)
        .args(["--format", "csv"])
        .output()
        .expect("run");
    assert_success(&cluster_kpis);
    assert_eq!(
        String::from_utf8_lossy(&cluster_kpis.stdout),
        String::from_utf8_lossy(&local_kpis.stdout)
    );
    assert!(cluster.tasks_run() > before, "the KPI queries ran locally");
}

#[test]
fn a_stockroom_udf_runs_on_the_executors() {
    let cluster = Cluster::start();
    let wh = Wh::new();
    wh.ok(
        "CREATE TABLE ratios PARTITIONED BY (shop) AS \
         SELECT * FROM (VALUES ('a', 7.0, 2.0), ('a', 1.0, 0.0), ('b', 9.0, 3.0)) AS t(shop, num, den)",
    );
    let sql = "SELECT shop, sum(safe_div(num, den)) AS r FROM ratios GROUP BY shop ORDER BY shop";
    let local = wh.csv(sql);
    assert_eq!(local, "shop,r\na,3.5\nb,3.0\n");
    assert_eq!(csv_on(&wh, &cluster, sql), local);
    let logs = cluster.executor_logs();
    assert!(
        logs.lines()
            .any(|l| l.contains(" task ") && l.contains("safe_div")),
        "no executor ran safe_div:\n{logs}"
    );
}

#[test]
fn killing_an_executor_mid_query_retries_or_fails_clearly() {
    let mut cluster = Cluster::start();
    let wh = Wh::new();
    wh.ok(
        "CREATE TABLE big AS SELECT value AS v, value % 500 AS k FROM generate_series(1, 200000)",
    );
    // A join of 200k rows with itself on 500 keys: ~80M pairs, seconds of work in a debug
    // build, spread over both executors.
    let sql = "SELECT a.k, count(*) AS n, sum(b.v) AS s FROM big a JOIN big b ON a.k = b.k \
               GROUP BY a.k ORDER BY a.k";
    let want = wh.csv(sql);
    let before = cluster.tasks_run();
    let mut query = std::process::Command::new(assert_cmd::cargo::cargo_bin("stockroom"))
        .arg("--warehouse")
        .arg(wh.path())
        .arg("--cluster")
        .arg(&cluster.address)
        .args(["query", sql, "--format", "csv"])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the query");
    // Wait until the executors have tasks of this query, then kill one of them.
    let deadline = Instant::now() + Duration::from_secs(120);
    while cluster.tasks_run() == before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        query.try_wait().expect("poll the query").is_none(),
        "the query ended before an executor could be killed; make it heavier"
    );
    drop(cluster.executors.remove(0));
    let out = wait_at_most(query, Duration::from_secs(300));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        eprintln!("the query survived the lost executor");
        assert_eq!(stdout, want, "a wrong result after losing an executor");
    } else {
        eprintln!("the query failed after the lost executor: {stderr}");
        assert!(stdout.is_empty(), "partial rows printed: {stdout}");
        assert!(
            stderr.contains("the cluster at df://127.0.0.1:"),
            "an unclear error: {stderr}"
        );
    }
}

#[test]
fn an_unreachable_scheduler_is_a_clear_error_not_a_local_run() {
    let wh = Wh::new();
    wh.ok("CREATE TABLE t AS SELECT 1 AS x");
    // A port nothing listens on.
    let port = free_port();
    let out = wh
        .cmd()
        .args(["--cluster", &format!("df://127.0.0.1:{port}")])
        .args(["query", "SELECT count(*) FROM t"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "the cluster at df://127.0.0.1:{port} failed the query"
        )) && stderr.contains("stockroom cluster scheduler"),
        "{stderr}"
    );
}

#[test]
fn executors_read_an_s3_warehouse_with_the_clients_settings() {
    let moto = crate::s3::Moto::start();
    let prefix = "clustered";
    let cluster = Cluster::start_on(&Store {
        warehouse: Some(format!("s3://lake/{prefix}")),
        env: moto.aws_env(),
    });
    moto.csv(
        prefix,
        "CREATE TABLE ratios PARTITIONED BY (shop) AS \
         SELECT * FROM (VALUES ('a', 7.0, 2.0), ('a', 1.0, 0.0), ('b', 9.0, 3.0)) AS t(shop, num, den)",
    );
    let sql = "SELECT shop, sum(safe_div(num, den)) AS r FROM ratios GROUP BY shop ORDER BY shop";
    let local = moto.csv(prefix, sql);
    assert_eq!(local, "shop,r\na,3.5\nb,3.0\n");
    let out = moto
        .cmd(prefix)
        .args([
            "--cluster",
            &cluster.address,
            "query",
            sql,
            "--format",
            "csv",
        ])
        .output()
        .expect("run");
    assert_success(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout), local);
    let logs = cluster.executor_logs();
    assert!(
        logs.lines()
            .any(|l| l.contains(" task ") && l.contains("clustered/tables/ratios/shop=")),
        "no executor read the bucket's files:\n{logs}"
    );
}
