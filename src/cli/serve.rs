//! `stockroom serve`: the warehouse over the PostgreSQL wire protocol (see src/serve).

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use stockroom::Warehouse;
use stockroom::serve::{
    Auth, PasswordHash, ServeConfig, TlsFiles, Users, auth::DEFAULT_ITERATIONS,
};
use stockroom::session::SessionOptions;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:5433")]
    pub listen: SocketAddr,
    /// Users and their password hashes (TOML: `[users]` then `NAME = "pbkdf2-sha256$…"`).
    #[arg(long, env = "STOCKROOM_SERVE_USERS")]
    pub users: Option<PathBuf>,
    /// One more user from the environment (with STOCKROOM_SERVE_PASSWORD_HASH).
    #[arg(long, env = "STOCKROOM_SERVE_USER", hide = true)]
    pub user: Option<String>,
    #[arg(long, env = "STOCKROOM_SERVE_PASSWORD_HASH", hide = true)]
    pub password_hash: Option<String>,
    /// Accept anyone without a password (only on a loopback address).
    #[arg(long)]
    pub no_auth: bool,
    /// Permit writes (INSERT, MERGE, DELETE, UPDATE, CREATE, DROP, COPY, OPTIMIZE, VACUUM, …).
    #[arg(long)]
    pub allow_writes: bool,
    /// PEM certificate (chain) for TLS; with --tls-key.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for TLS; with --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Cancel a statement running longer than this (e.g. 30s, 5m; 0 = never).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub query_timeout: Duration,
    /// Statements running at once across all connections; more wait for a slot.
    #[arg(long, default_value_t = 8)]
    pub max_concurrent_queries: usize,
    /// Memory one statement may use before spilling, when --memory-limit is not given.
    #[arg(long, default_value = "1G")]
    pub query_memory_limit: String,
    /// After SIGINT/SIGTERM, how long running statements may take to finish.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,
    /// A directory whose files clients may query by path (repeatable); none by default.
    #[arg(long = "allow-files", value_name = "DIR")]
    pub allow_files: Vec<PathBuf>,
    /// Accept logins without TLS although a certificate is given, or listen on a
    /// non-loopback address without TLS.
    #[arg(long)]
    pub allow_plaintext: bool,
    /// Connections open at once; more are refused.
    #[arg(long, default_value_t = 64)]
    pub max_connections: usize,
    /// A connection must log in within this time.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub login_timeout: Duration,
    /// Refuse results with more rows than this (0 = no cap).
    #[arg(long, default_value_t = 0)]
    pub max_result_rows: u64,
    /// Print a password hash for the users file (reads the password from stdin) and exit.
    #[arg(long)]
    pub hash_password: bool,
    /// PBKDF2 iterations for --hash-password (fewer only for tests on slow machines).
    #[arg(long, default_value_t = DEFAULT_ITERATIONS, hide = true)]
    pub hash_iterations: u32,
}

/// `500ms`, `30s`, `5m`, `1h`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map(|i| t.split_at(i))
        .unwrap_or((t, "s"));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}': expected a duration such as 500ms, 30s, 5m"))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        other => return Err(format!("'{s}': unknown unit '{other}' (ms, s, m, h)")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("'{s}': expected a positive duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

pub async fn run(
    args: ServeArgs,
    warehouse: PathBuf,
    session: SessionOptions,
) -> anyhow::Result<ExitCode> {
    if args.hash_password {
        eprint!("password: ");
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let password = line.trim_end_matches(['\r', '\n']);
        if password.is_empty() {
            bail!("empty password");
        }
        println!("{}", PasswordHash::new(password, args.hash_iterations)?);
        return Ok(ExitCode::SUCCESS);
    }
    let auth = if args.no_auth {
        if args.users.is_some() || args.user.is_some() {
            bail!("--no-auth and --users (or STOCKROOM_SERVE_USER) contradict each other");
        }
        Auth::None
    } else {
        let mut users = match &args.users {
            Some(p) => Users::load(p)?,
            None => Users::default(),
        };
        match (&args.user, &args.password_hash) {
            (Some(u), Some(h)) => users.insert(
                u.clone(),
                PasswordHash::parse(h).context("STOCKROOM_SERVE_PASSWORD_HASH")?,
            ),
            (None, None) => {}
            _ => bail!(
                "STOCKROOM_SERVE_USER and STOCKROOM_SERVE_PASSWORD_HASH go together; set both"
            ),
        }
        Auth::Users(Arc::new(users))
    };
    let mut session = session;
    if session.memory_limit.is_none() {
        session.memory_limit = Some(stockroom::session::parse_memory_limit(
            &args.query_memory_limit,
        )?);
    }
    let wh = Warehouse::open(&warehouse)
        .with_context(|| format!("opening warehouse {}", warehouse.display()))?;
    let config = ServeConfig {
        listen: args.listen,
        warehouse: wh,
        session,
        allow_writes: args.allow_writes,
        auth,
        tls: match (args.tls_cert, args.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            _ => None,
        },
        query_timeout: (!args.query_timeout.is_zero()).then_some(args.query_timeout),
        max_concurrent_queries: args.max_concurrent_queries,
        shutdown_grace: args.shutdown_grace,
        allow_files: args.allow_files,
        allow_plaintext: args.allow_plaintext,
        max_connections: args.max_connections,
        login_timeout: args.login_timeout,
        max_result_rows: (args.max_result_rows > 0).then_some(args.max_result_rows),
    };
    eprintln!(
        "stockroom serve: listening on {} ({}); connect with: psql -h {} -p {} -U <user> stockroom",
        config.listen,
        if config.allow_writes {
            "read-write"
        } else {
            "read-only"
        },
        config.listen.ip(),
        config.listen.port()
    );
    stockroom::serve::serve(config).await?;
    Ok(ExitCode::SUCCESS)
}
