//! The query handlers of one connection: every statement goes through the connection's
//! [`Executor`], so time travel, `table_changes()`, our UDFs, the lazy catalog and the
//! write statements behave exactly as in the REPL.
//!
//! Before the executor sees it, a statement passes datafusion-pg-catalog's Postgres
//! compatibility rewriter (regclass casts, `OPERATOR(pg_catalog.~)`, `COLLATE`, … that psql
//! and BI tools send). Only statements it actually rewrote take the rewritten text; all
//! others reach the executor as the user wrote them (the rewriter's dialect knows neither
//! `VERSION AS OF` nor our commands). `SET`, `SHOW <variable>` and `BEGIN`/`COMMIT` are
//! answered by datafusion-postgres' hooks, as Postgres clients expect.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::logical_expr::lit;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser as SqlParser;
use datafusion::sql::sqlparser::tokenizer::Token;
use datafusion::sql::unparser::expr_to_sql;
use datafusion_postgres::QueryHook;
use datafusion_postgres::arrow_pg::datatypes::df::deserialize_parameters_with_server_types;
use datafusion_postgres::arrow_pg::datatypes::{
    arrow_schema_to_pg_fields, encode_recordbatch, into_pg_type,
};
use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_postgres::pgwire;
use futures::Sink;
use pgwire::api::auth::StartupHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, METADATA_USER, PgWireServerHandlers, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::types::format::FormatOptions;

use super::auth::Startup;
use super::limits::{Limits, QueryError};
use crate::error::Error;
use crate::exec::{Executor, Outcome};
use crate::sql::split::split_statements;
use crate::sql::tokens::{render, tokenize};

/// What every connection shares.
pub struct Shared {
    pub limits: Limits,
    pub pg_catalog: super::pg_catalog::PgCatalog,
    pub startup: Arc<Startup>,
    compat: PostgresCompatibilityParser,
    hooks: Vec<Arc<dyn QueryHook>>,
}

impl Shared {
    pub fn new(limits: Limits, startup: Startup) -> crate::Result<Self> {
        use datafusion_postgres::hooks::set_show::SetShowHook;
        use datafusion_postgres::hooks::transactions::TransactionStatementHook;
        Ok(Self {
            limits,
            pg_catalog: super::pg_catalog::PgCatalog::new()?,
            startup: Arc::new(startup),
            compat: PostgresCompatibilityParser::new(),
            hooks: vec![Arc::new(SetShowHook), Arc::new(TransactionStatementHook)],
        })
    }
}

/// The handlers of one connection (pgwire asks for them once per connection).
pub struct Connection {
    session: Arc<Session>,
}

impl Connection {
    pub fn new(exec: Executor, shared: Arc<Shared>) -> Self {
        Self {
            session: Arc::new(Session {
                exec: Arc::new(exec),
                shared,
                user_known: Arc::new(std::sync::OnceLock::new()),
            }),
        }
    }
}

impl PgWireServerHandlers for Connection {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.session.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.session.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.session.shared.startup.clone()
    }
}

pub struct Session {
    exec: Arc<Executor>,
    shared: Arc<Shared>,
    /// Set once `session_user()` answers with this connection's user.
    user_known: Arc<std::sync::OnceLock<()>>,
}

/// A statement after the compatibility pass.
struct Routed {
    /// The Postgres parse, when the rewriter's dialect understood the statement (hooks look at it).
    parsed: Option<SqlStatement>,
    /// The text for the executor.
    sql: String,
}

impl Session {
    /// `current_user` / `session_user()` name the logged-in user (pg_catalog's default says
    /// "postgres"). The user is only known after the startup phase, hence on first use.
    fn know_user(&self, user: &str) {
        self.user_known.get_or_init(|| {
            use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
            let value = datafusion::scalar::ScalarValue::Utf8(Some(user.to_string()));
            self.exec.context().register_udf(create_udf(
                "session_user",
                vec![],
                DataType::Utf8,
                Volatility::Stable,
                Arc::new(move |_: &[ColumnarValue]| Ok(ColumnarValue::Scalar(value.clone()))),
            ));
        });
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

    /// Runs one statement within the limits and logs it.
    async fn run(&self, user: &str, sql: String) -> Result<Outcome, QueryError> {
        let started = Instant::now();
        tracing::debug!(user, statement = one_line(&sql), "query started");
        let result = self.shared.limits.run(self.exec.clone(), sql.clone()).await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let statement = one_line(&sql);
        match &result {
            Ok(o) => tracing::info!(
                user,
                ms = format_args!("{ms:.1}"),
                rows = o.row_count(),
                statement,
                "query"
            ),
            Err(e) => tracing::info!(
                user,
                ms = format_args!("{ms:.1}"),
                rows = 0,
                error = %error_info(e).message,
                statement,
                "query"
            ),
        }
        result
    }
}

fn user_of<C: ClientInfo>(client: &C) -> String {
    client
        .metadata()
        .get(METADATA_USER)
        .cloned()
        .unwrap_or_default()
}

fn one_line(sql: &str) -> String {
    let s: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 200 {
        format!("{}…", s.chars().take(200).collect::<String>())
    } else {
        s
    }
}

/// The Postgres error for a failed statement (SQLSTATE codes from the Postgres manual).
fn error_info(e: &QueryError) -> ErrorInfo {
    let (code, message) = match e {
        QueryError::Timeout(d) => (
            "57014",
            format!(
                "canceling statement due to statement timeout: it ran longer than {:?} (the server's --query-timeout)",
                d
            ),
        ),
        QueryError::ShuttingDown => (
            "57P01",
            "the server is shutting down; reconnect later".to_string(),
        ),
        QueryError::Panicked => (
            "XX000",
            "internal error: the statement crashed its worker (please report it); the server carries on".to_string(),
        ),
        QueryError::Failed(err) => {
            let code = match err {
                Error::ReadOnly(_) => "25006",
                Error::TableNotFound { .. } => "42P01",
                Error::Sql(_) => "42601",
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

fn plan_error(e: Error) -> PgWireError {
    user_error(&QueryError::Failed(e))
}

/// The batches' own schema: the physical types can differ from the plan's in details the
/// encoder cares about (view or dictionary strings).
fn batch_schema(schema: &SchemaRef, batches: &[RecordBatch]) -> SchemaRef {
    batches
        .first()
        .map(|b| b.schema())
        .unwrap_or_else(|| schema.clone())
}

fn rows_response(
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    format: &Format,
    options: Arc<FormatOptions>,
) -> PgWireResult<Response> {
    let schema = batch_schema(&schema, &batches);
    let fields = Arc::new(arrow_schema_to_pg_fields(&schema, format, Some(options))?);
    let encode = fields.clone();
    let rows = futures::stream::iter(
        batches
            .into_iter()
            .flat_map(move |b| encode_recordbatch(encode.clone(), b)),
    );
    Ok(Response::Query(QueryResponse::new(fields, rows)))
}

fn outcome_response(
    outcome: Outcome,
    format: &Format,
    options: Arc<FormatOptions>,
) -> PgWireResult<Response> {
    match outcome {
        Outcome::Rows { schema, batches } => rows_response(schema, batches, format, options),
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

#[async_trait]
impl SimpleQueryHandler for Session {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let user = user_of(client);
        self.know_user(&user);
        let split = split_statements(query);
        let incomplete = split.has_incomplete();
        let mut texts: Vec<String> = split.statements.into_iter().map(|s| s.text).collect();
        if incomplete {
            texts.push(split.rest);
        }
        let mut responses = Vec::new();
        for text in texts {
            if crate::sql::split::is_blank_sql(&text) {
                continue;
            }
            let routed = self.route(&text);
            if let Some(stmt) = &routed.parsed
                && let Some(r) = self.hook(stmt, client).await
            {
                let statement = one_line(&text);
                match r {
                    Ok(r) => {
                        tracing::info!(user, ms = 0, rows = 0, statement, "query (session)");
                        responses.push(r)
                    }
                    Err(e) => {
                        tracing::info!(user, ms = 0, rows = 0, error = %e, statement, "query (session)");
                        return Err(e);
                    }
                }
                continue;
            }
            let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
            match self.run(&user, routed.sql).await {
                Ok(outcome) => {
                    responses.push(outcome_response(outcome, &Format::UnifiedText, options)?)
                }
                Err(e) => {
                    // Postgres stops a multi-statement query at its first error.
                    responses.push(Response::Error(Box::new(error_info(&e))));
                    break;
                }
            }
        }
        if responses.is_empty() {
            responses.push(Response::EmptyQuery);
        }
        Ok(responses)
    }
}

impl Session {
    async fn hook<C>(&self, stmt: &SqlStatement, client: &mut C) -> Option<PgWireResult<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        for hook in &self.shared.hooks {
            if let Some(r) = hook
                .handle_simple_query(stmt, self.exec.context(), client)
                .await
            {
                return Some(r);
            }
        }
        None
    }
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
        client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        self.know_user(&user_of(client));
        let routed = self.route(sql);
        if let Some(stmt) = &routed.parsed {
            for hook in &self.shared.hooks {
                if let Some(plan) = hook
                    .handle_extended_parse_query(stmt, self.exec.context(), client)
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
        let described = self.exec.describe(&routed.sql).await.map_err(plan_error)?;
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

/// Replaces `$n` placeholders with SQL literals of the bound values.
fn bind_parameters(sql: &str, values: &[datafusion::scalar::ScalarValue]) -> PgWireResult<String> {
    if values.is_empty() {
        return Ok(sql.to_string());
    }
    let tokens = tokenize(sql).map_err(plan_error)?;
    let mut out = Vec::with_capacity(tokens.len());
    for t in tokens {
        if let Token::Placeholder(p) = &t
            && let Some(n) = p.strip_prefix('$').and_then(|n| n.parse::<usize>().ok())
            && n >= 1
        {
            let value = values.get(n - 1).ok_or_else(|| {
                plan_error(Error::Invalid(format!(
                    "parameter {p} has no value ({} given)",
                    values.len()
                )))
            })?;
            let literal = expr_to_sql(&lit(value.clone()))
                .map_err(|e| plan_error(Error::DataFusion(e)))?
                .to_string();
            out.extend(tokenize(&literal).map_err(plan_error)?);
            continue;
        }
        out.push(t);
    }
    Ok(render(&out))
}

#[async_trait]
impl ExtendedQueryHandler for Session {
    type Statement = Prepared;
    type QueryParser = Session;

    fn query_parser(&self) -> Arc<Session> {
        Arc::new(Session {
            exec: self.exec.clone(),
            shared: self.shared.clone(),
            user_known: self.user_known.clone(),
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
        let values: Vec<_> =
            match deserialize_parameters_with_server_types(portal, &inferred, &wire_refs)? {
                datafusion::common::ParamValues::List(v) => {
                    v.into_iter().map(|v| v.value).collect()
                }
                datafusion::common::ParamValues::Map(_) => Vec::new(),
            };
        let sql = bind_parameters(&stmt.routed_sql, &values)?;
        let user = user_of(client);
        let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
        match self.run(&user, sql).await {
            Ok(Outcome::Rows { schema, batches }) => {
                // Keep the columns the client was told at Describe.
                let schema = stmt.schema.clone().unwrap_or(schema);
                rows_response(schema, batches, &portal.result_column_format, options)
            }
            Ok(other) => outcome_response(other, &portal.result_column_format, options),
            Err(e) => Err(user_error(&e)),
        }
    }
}
