//! The query handlers of one connection: every statement goes through the connection's
//! [`Executor`] (built at login, with the server's [`Policy`]), so time travel,
//! `table_changes()`, our UDFs, the lazy catalog and the write statements behave exactly as
//! in the REPL — within what the server allows.
//!
//! Before the executor sees it, a statement passes datafusion-pg-catalog's Postgres
//! compatibility rewriter (regclass casts, `OPERATOR(pg_catalog.~)`, `COLLATE`, … that psql
//! and BI tools send). Only statements it actually rewrote take the rewritten text; all
//! others reach the executor as the user wrote them (the rewriter's dialect knows neither
//! `VERSION AS OF` nor our commands). `SET`/`RESET` are answered by our allow-list
//! ([`super::settings`]); `SHOW <variable>` and `BEGIN`/`COMMIT` by datafusion-postgres'
//! hooks, as Postgres clients expect.
//!
//! Results stream: each statement's rows reach the client batch by batch as they are
//! computed ([`super::limits`]), and a multi-statement query answers one statement fully
//! before the next starts.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::ParamValues;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser as SqlParser;
use datafusion_postgres::QueryHook;
use datafusion_postgres::arrow_pg::datatypes::df::deserialize_parameters_with_server_types;
use datafusion_postgres::arrow_pg::datatypes::{
    arrow_schema_to_pg_fields, encode_recordbatch, into_pg_type,
};
use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_postgres::pgwire;
use futures::{Sink, SinkExt};
use pgwire::api::auth::DefaultServerParameterProvider;
use pgwire::api::cancel::CancelHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{
    ExtendedQueryHandler, SimpleQueryHandler, send_execution_response, send_query_response,
    send_ready_for_query,
};
use pgwire::api::results::{FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{
    ClientInfo, ClientPortalStore, PgWireConnectionState, PgWireServerHandlers,
    RandomPidSecretKeyGenerator, Type,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::response::EmptyQueryResponse;
use pgwire::messages::simplequery::Query;
use pgwire::types::format::FormatOptions;

use super::auth::{Auth, Login, LoginThrottle};
use super::connection::{CancelRegistry, ConnState};
use super::error::ServeError;
use super::limits::{Job, Limits, Produced, QueryError, RowItem};
use super::settings;
use crate::error::Error;
use crate::exec::{Executor, Outcome, Policy};
use crate::session::SessionOptions;
use crate::warehouse::Warehouse;

/// What every connection shares.
pub struct Shared {
    pub limits: Arc<Limits>,
    pub pg_catalog: super::pg_catalog::PgCatalog,
    pub auth: Auth,
    pub require_tls: bool,
    pub throttle: LoginThrottle,
    pub cancels: Arc<CancelRegistry>,
    pub pids: RandomPidSecretKeyGenerator,
    pub server_params: DefaultServerParameterProvider,
    warehouse: Warehouse,
    session: SessionOptions,
    policy: Policy,
    compat: PostgresCompatibilityParser,
    hooks: Vec<Arc<dyn QueryHook>>,
}

/// How [`Shared`] is made.
pub struct SharedConfig {
    pub limits: Limits,
    pub auth: Auth,
    pub require_tls: bool,
    pub warehouse: Warehouse,
    pub session: SessionOptions,
    pub policy: Policy,
}

impl Shared {
    pub fn new(c: SharedConfig) -> crate::Result<Self> {
        use datafusion_postgres::hooks::set_show::SetShowHook;
        use datafusion_postgres::hooks::transactions::TransactionStatementHook;
        let mut server_params = DefaultServerParameterProvider::default();
        server_params.is_superuser = false;
        Ok(Self {
            limits: Arc::new(c.limits),
            pg_catalog: super::pg_catalog::PgCatalog::new()?,
            auth: c.auth,
            require_tls: c.require_tls,
            throttle: LoginThrottle::default(),
            cancels: Arc::new(CancelRegistry::default()),
            pids: RandomPidSecretKeyGenerator::default(),
            server_params,
            warehouse: c.warehouse,
            session: c.session,
            policy: c.policy,
            compat: PostgresCompatibilityParser::new(),
            // SET never reaches these: settings::handle answers it first.
            hooks: vec![Arc::new(SetShowHook), Arc::new(TransactionStatementHook)],
        })
    }

    /// A logged-in connection's own executor with `pg_catalog`; `session_user()` names
    /// the user (pg_catalog's default says "postgres").
    pub fn open_session(&self, user: &str) -> crate::Result<Arc<Executor>> {
        use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
        let started = std::time::Instant::now();
        let exec =
            Executor::new(self.warehouse.clone(), &self.session)?.with_policy(self.policy.clone());
        self.pg_catalog.install(exec.context())?;
        let value = datafusion::scalar::ScalarValue::Utf8(Some(user.to_string()));
        exec.context().register_udf(create_udf(
            "session_user",
            vec![],
            DataType::Utf8,
            Volatility::Stable,
            Arc::new(move |_: &[ColumnarValue]| Ok(ColumnarValue::Scalar(value.clone()))),
        ));
        tracing::debug!(
            ms = started.elapsed().as_secs_f64() * 1000.0,
            "session ready"
        );
        Ok(Arc::new(exec))
    }
}

/// The handlers of one connection (pgwire asks for them once per connection).
#[derive(Clone)]
pub struct Connection {
    session: Arc<Session>,
}

impl Connection {
    pub fn new(shared: Arc<Shared>, conn: Arc<ConnState>) -> Self {
        Self {
            session: Arc::new(Session { shared, conn }),
        }
    }

    pub fn state(&self) -> Arc<ConnState> {
        self.session.conn.clone()
    }

    pub fn session(&self) -> Arc<Session> {
        self.session.clone()
    }

    pub fn login(&self) -> Arc<Login> {
        Arc::new(Login {
            shared: self.session.shared.clone(),
            conn: self.session.conn.clone(),
        })
    }

    pub fn canceller(&self) -> Arc<Canceller> {
        Arc::new(Canceller(self.session.shared.cancels.clone()))
    }
}

impl PgWireServerHandlers for Connection {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.session.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.session.clone()
    }

    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        self.login()
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.canceller()
    }
}

/// Answers a CancelRequest (it arrives on a connection of its own).
pub struct Canceller(Arc<CancelRegistry>);

#[async_trait]
impl CancelHandler for Canceller {
    async fn on_cancel_request(&self, request: CancelRequest) {
        self.0.cancel(request.pid, &request.secret_key.to_bytes());
    }
}

pub struct Session {
    shared: Arc<Shared>,
    conn: Arc<ConnState>,
}

/// A statement after the compatibility pass.
struct Routed {
    /// The Postgres parse, when the rewriter's dialect understood the statement (hooks look at it).
    parsed: Option<SqlStatement>,
    /// The text for the executor.
    sql: String,
}

impl Session {
    /// The connection's executor; there is none before login (the connection loop never
    /// lets a query through then, this is the second lock on that door).
    fn exec(&self) -> PgWireResult<Arc<Executor>> {
        match (self.conn.is_authenticated(), self.conn.exec()) {
            (true, Some(e)) => Ok(e),
            _ => Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                "28000".into(),
                "not logged in".into(),
            )))),
        }
    }

    fn route(&self, text: &str) -> Routed {
        let raw = || Routed {
            parsed: None,
            sql: text.to_string(),
        };
        let Ok(mut rewritten) = self.shared.compat.parse(text) else {
            return raw();
        };
        if rewritten.len() != 1 {
            return raw();
        }
        let rewritten = rewritten.remove(0);
        let plain = SqlParser::parse_sql(&PostgreSqlDialect {}, text)
            .ok()
            .filter(|s| s.len() == 1)
            .map(|s| s[0].to_string());
        let new_text = rewritten.to_string();
        let sql = if plain.as_deref() == Some(new_text.as_str()) {
            text.to_string()
        } else {
            new_text
        };
        Routed {
            parsed: Some(rewritten),
            sql,
        }
    }

    /// Runs one statement within the limits.
    async fn run(&self, sql: String, params: Option<ParamValues>) -> Result<Produced, QueryError> {
        let exec = self
            .exec()
            .map_err(|_| QueryError::Failed(ServeError::NotLoggedIn.into()))?;
        self.shared
            .limits
            .run(Job {
                exec,
                sql,
                params,
                stop: self.conn.stop.watch(),
                timeout: self.conn.statement_timeout(),
                user: self.conn.user().to_string(),
            })
            .await
    }

    /// `SET`/`RESET` (our allow-list), `SHOW`, `BEGIN`/`COMMIT` (datafusion-postgres'
    /// hooks): None when the statement is for the executor.
    async fn hook<C>(&self, stmt: &SqlStatement, client: &mut C) -> Option<PgWireResult<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let exec = match self.exec() {
            Ok(e) => e,
            Err(e) => return Some(Err(e)),
        };
        let answer = if settings::is_setting(stmt) {
            Some(
                settings::handle(
                    stmt,
                    &exec,
                    &self.conn,
                    self.shared.limits.timeout(),
                    client,
                )
                .await,
            )
        } else {
            let mut answer = None;
            for hook in &self.shared.hooks {
                if let Some(r) = hook.handle_simple_query(stmt, exec.context(), client).await {
                    answer = Some(r);
                    break;
                }
            }
            answer
        };
        if let Some(r) = &answer {
            let statement = one_line(&stmt.to_string());
            let user = self.conn.user();
            match r {
                Ok(_) => tracing::info!(user, ms = 0, rows = 0, statement, "query (session)"),
                Err(e) => {
                    tracing::info!(user, ms = 0, rows = 0, error = %e, statement, "query (session)")
                }
            }
        }
        answer
    }

    /// One statement of a simple query, answered as a pgwire response (rows still
    /// streaming).
    async fn simple_statement<C>(&self, client: &mut C, text: &str) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let routed = self.route(text);
        if let Some(stmt) = &routed.parsed
            && let Some(r) = self.hook(stmt, client).await
        {
            return r;
        }
        let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
        match self.run(routed.sql, None).await {
            Ok(p) => produced_response(p, &Format::UnifiedText, options),
            Err(e) => Ok(Response::Error(Box::new(error_info(&e)))),
        }
    }
}

pub(crate) fn one_line(sql: &str) -> String {
    let s: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 200 {
        format!("{}…", s.chars().take(200).collect::<String>())
    } else {
        s
    }
}

/// The Postgres error for a failed statement (SQLSTATE codes from the Postgres manual).
pub(crate) fn error_info(e: &QueryError) -> ErrorInfo {
    let (code, message) = match e {
        QueryError::Timeout(d) => (
            "57014",
            format!(
                "canceling statement due to statement timeout: it ran longer than {d:?} \
                 (statement_timeout, at most the server's --query-timeout)"
            ),
        ),
        QueryError::Cancelled => (
            "57014",
            "canceling statement due to user request".to_string(),
        ),
        QueryError::ShuttingDown => (
            "57P01",
            "the server is shutting down; reconnect later".to_string(),
        ),
        QueryError::Panicked => (
            "XX000",
            "internal error: the statement crashed its worker (please report it); the server carries on".to_string(),
        ),
        QueryError::TooManyRows(m) => (
            "54000",
            format!(
                "the result has more than {m} rows (the server's --max-result-rows): add a LIMIT, a WHERE or an aggregate"
            ),
        ),
        QueryError::Failed(err) => {
            // Our own error carried through DataFusion (the catalog's file check).
            let err = match err {
                Error::DataFusion(d) => match d.find_root() {
                    datafusion::error::DataFusionError::External(e) => {
                        e.downcast_ref::<Error>().unwrap_or(err)
                    }
                    _ => err,
                },
                other => other,
            };
            let code = match err {
                Error::ReadOnly(_) => "25006",
                Error::FileAccess(_) | Error::SettingRefused(_) => "42501",
                Error::TableNotFound { .. } => "42P01",
                Error::Sql(_) | Error::Tokenize(_) => "42601",
                Error::Unsupported(_) => "0A000",
                Error::UndefinedVariable(_) => "42704",
                Error::DataFusion(d) => match d.find_root() {
                    datafusion::error::DataFusionError::ResourcesExhausted(_) => "53200",
                    datafusion::error::DataFusionError::SQL(..) => "42601",
                    datafusion::error::DataFusionError::Plan(_)
                    | datafusion::error::DataFusionError::SchemaError(..) => "42000",
                    _ => "XX000",
                },
                _ => "XX000",
            };
            (code, err.to_string())
        }
    };
    ErrorInfo::new("ERROR".into(), code.into(), message)
}

fn user_error(e: &QueryError) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(e)))
}

/// A streaming result as pgwire rows: each batch is encoded when the client is ready for
/// it; an error (timeout, cancel, row cap, a failing operator) ends the rows with an
/// ErrorResponse; a channel that closes without its end marker is the task's crash.
fn rows_response(
    schema: SchemaRef,
    rows: tokio::sync::mpsc::Receiver<RowItem>,
    format: &Format,
    options: Arc<FormatOptions>,
) -> PgWireResult<Response> {
    let fields = Arc::new(arrow_schema_to_pg_fields(&schema, format, Some(options))?);
    let encode = fields.clone();
    let batches = futures::stream::unfold((rows, false), |(mut rx, done)| async move {
        if done {
            return None;
        }
        match rx.recv().await {
            Some(RowItem::Batch(b)) => Some((Ok(b), (rx, false))),
            Some(RowItem::End) => None,
            Some(RowItem::Error(e)) => Some((Err(user_error(&e)), (rx, true))),
            None => Some((Err(user_error(&QueryError::Panicked)), (rx, true))),
        }
    });
    use futures::StreamExt;
    let rows = batches.flat_map(move |b| {
        let items: Box<dyn Iterator<Item = PgWireResult<_>> + Send> = match b {
            Ok(b) => encode_recordbatch(encode.clone(), b),
            Err(e) => Box::new(std::iter::once(Err(e))),
        };
        futures::stream::iter(items)
    });
    Ok(Response::Query(QueryResponse::new(fields, rows)))
}

fn produced_response(
    produced: Produced,
    format: &Format,
    options: Arc<FormatOptions>,
) -> PgWireResult<Response> {
    match produced {
        Produced::Rows { schema, rows } => rows_response(schema, rows, format, options),
        Produced::Done(outcome) => outcome_response(outcome, format, options),
    }
}

fn outcome_response(
    outcome: Outcome,
    format: &Format,
    options: Arc<FormatOptions>,
) -> PgWireResult<Response> {
    match outcome {
        Outcome::Rows { schema, batches } => {
            // Small, already-collected results (DESCRIBE, HISTORY, …).
            let schema = batches.first().map(|b| b.schema()).unwrap_or(schema);
            let fields = Arc::new(arrow_schema_to_pg_fields(&schema, format, Some(options))?);
            let encode = fields.clone();
            let rows = futures::stream::iter(
                batches
                    .into_iter()
                    .flat_map(move |b| encode_recordbatch(encode.clone(), b)),
            );
            Ok(Response::Query(QueryResponse::new(fields, rows)))
        }
        Outcome::Write(r) => {
            let rows = r.rows_inserted + r.rows_updated + r.rows_deleted;
            let tag = if r.operation == "INSERT" {
                Tag::new("INSERT").with_oid(0)
            } else {
                Tag::new(&r.operation)
            };
            Ok(Response::Execution(tag.with_rows(rows as usize)))
        }
        Outcome::Message(m) => Ok(Response::Execution(Tag::new(&one_line(&m)))),
    }
}

/// Sends one response of a simple query. A `UserError` while rows stream (timeout,
/// cancel, row cap) becomes an ErrorResponse and the statement's failure; other errors
/// (the socket) end the connection. Returns false when the statement failed.
async fn send_response<C>(client: &mut C, response: Response) -> PgWireResult<bool>
where
    C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    C::Error: std::fmt::Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let sent = match response {
        Response::EmptyQuery => {
            client
                .feed(PgWireBackendMessage::EmptyQueryResponse(
                    EmptyQueryResponse::new(),
                ))
                .await?;
            Ok(true)
        }
        Response::Query(results) => send_query_response(client, results, true)
            .await
            .map(|_| true),
        Response::Execution(tag)
        | Response::TransactionStart(tag)
        | Response::TransactionEnd(tag) => send_execution_response(client, tag).await.map(|_| true),
        Response::Error(e) => {
            client
                .feed(PgWireBackendMessage::ErrorResponse((*e).into()))
                .await?;
            Ok(false)
        }
        _ => Err(PgWireError::UserError(Box::new(ErrorInfo::new(
            "ERROR".into(),
            "0A000".into(),
            "COPY is not supported by this server".into(),
        )))),
    };
    match sent {
        Ok(ok) => Ok(ok),
        Err(PgWireError::UserError(info)) => {
            client
                .feed(PgWireBackendMessage::ErrorResponse((*info).into()))
                .await?;
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

#[async_trait]
impl SimpleQueryHandler for Session {
    /// Statement by statement: each one's rows are sent before the next runs (a
    /// multi-statement query never holds two statement slots, nor a whole result).
    async fn on_query<C>(&self, client: &mut C, query: Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        self.exec()?;
        let mut status = client.transaction_status();
        client.set_state(PgWireConnectionState::QueryInProgress);
        let texts = statement_texts(&query.query);
        if texts.is_empty() {
            client
                .feed(PgWireBackendMessage::EmptyQueryResponse(
                    EmptyQueryResponse::new(),
                ))
                .await?;
        }
        for text in texts {
            let response = match self.simple_statement(client, &text).await {
                Ok(r) => r,
                Err(PgWireError::UserError(info)) => Response::Error(info),
                Err(e) => return Err(e),
            };
            let transaction = match &response {
                Response::TransactionStart(_) => Some(true),
                Response::TransactionEnd(_) => Some(false),
                _ => None,
            };
            if !send_response(client, response).await? {
                // Postgres stops a multi-statement query at its first error.
                status = status.to_error_state();
                break;
            }
            match transaction {
                Some(true) => status = status.to_in_transaction_state(),
                Some(false) => status = status.to_idle_state(),
                None => {}
            }
        }
        client.set_state(PgWireConnectionState::ReadyForQuery);
        client.set_transaction_status(status);
        send_ready_for_query(client, status).await?;
        Ok(())
    }

    /// Not used (`on_query` answers statement by statement); kept for the trait.
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let mut responses = Vec::new();
        for text in statement_texts(query) {
            responses.push(self.simple_statement(client, &text).await?);
        }
        if responses.is_empty() {
            responses.push(Response::EmptyQuery);
        }
        Ok(responses)
    }
}

/// The statements of a simple query's text (an unterminated last one included).
fn statement_texts(query: &str) -> Vec<String> {
    crate::script::prepare_verbatim("", query)
        .into_iter()
        .map(|p| p.sql)
        .filter(|t| !crate::sql::split::is_blank_sql(t))
        .collect()
}

/// A statement prepared through the extended protocol (drivers such as JDBC, tokio-postgres).
#[derive(Debug, Clone)]
pub struct Prepared {
    routed_sql: String,
    parsed: Option<SqlStatement>,
    /// Answered by a hook (SET, SHOW, BEGIN …), not the executor.
    hooked: bool,
    schema: Option<SchemaRef>,
    params: Vec<Option<DataType>>,
}

#[async_trait]
impl QueryParser for Session {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        _client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let exec = self.exec()?;
        let routed = self.route(sql);
        if let Some(stmt) = &routed.parsed {
            if settings::is_setting(stmt) {
                return Ok(Some(Prepared {
                    routed_sql: routed.sql,
                    parsed: routed.parsed.clone(),
                    hooked: true,
                    schema: None,
                    params: Vec::new(),
                }));
            }
            for hook in &self.shared.hooks {
                if let Some(plan) = hook
                    .handle_extended_parse_query(stmt, exec.context(), _client)
                    .await
                {
                    let plan = plan?;
                    return Ok(Some(Prepared {
                        routed_sql: routed.sql,
                        parsed: routed.parsed.clone(),
                        hooked: true,
                        schema: Some(Arc::new(plan.schema().as_arrow().clone())),
                        params: Vec::new(),
                    }));
                }
            }
        }
        // Planning goes through the same slots, timeout and cancel as running.
        let text = routed.sql.clone();
        let described = self
            .shared
            .limits
            .plan(
                self.conn.stop.watch(),
                async move { exec.describe(&text).await },
            )
            .await
            .map_err(|e| user_error(&e))?;
        Ok(Some(Prepared {
            routed_sql: routed.sql,
            parsed: routed.parsed,
            hooked: false,
            schema: described.schema,
            params: described.params,
        }))
    }

    fn get_parameter_types(&self, stmt: &Prepared) -> PgWireResult<Vec<Type>> {
        stmt.params
            .iter()
            .map(|t| match t {
                Some(t) => into_pg_type(t),
                None => Ok(Type::UNKNOWN),
            })
            .collect()
    }

    fn get_result_schema(
        &self,
        stmt: &Prepared,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        match &stmt.schema {
            Some(s) => {
                arrow_schema_to_pg_fields(s, column_format.unwrap_or(&Format::UnifiedText), None)
            }
            None => Ok(Vec::new()),
        }
    }
}

#[async_trait]
impl ExtendedQueryHandler for Session {
    type Statement = Prepared;
    type QueryParser = Session;

    fn query_parser(&self) -> Arc<Session> {
        Arc::new(Session {
            shared: self.shared.clone(),
            conn: self.conn.clone(),
        })
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Prepared>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.exec()?;
        let stmt = &portal.statement.statement;
        if stmt.hooked
            && let Some(parsed) = &stmt.parsed
            && let Some(r) = self.hook(parsed, client).await
        {
            return r;
        }
        let wire_types = self.get_parameter_types(stmt)?;
        let wire_refs: Vec<Option<&Type>> = wire_types.iter().map(Some).collect();
        let inferred: Vec<Option<&DataType>> = stmt.params.iter().map(|t| t.as_ref()).collect();
        let values = deserialize_parameters_with_server_types(portal, &inferred, &wire_refs)?;
        let params = match &values {
            ParamValues::List(v) if v.is_empty() => None,
            ParamValues::Map(m) if m.is_empty() => None,
            _ => Some(values),
        };
        let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
        match self.run(stmt.routed_sql.clone(), params).await {
            Ok(p) => produced_response(p, &portal.result_column_format, options),
            Err(e) => Err(user_error(&e)),
        }
    }
}
