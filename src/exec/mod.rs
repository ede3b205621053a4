//! The executor: one SQL statement in, one [`Outcome`] out. Every front end (REPL,
//! `run-sql`, `query`, pipelines, the server) goes through [`Executor::execute`].
//!
//! Order of business for a statement:
//! 1. stockroom's own commands (OPTIMIZE, VACUUM, RESTORE, DESCRIBE HISTORY, …) → maintenance;
//! 2. token rewrites: time travel and `table_changes()` become per-statement snapshots,
//!    `CREATE TABLE` options are taken out;
//! 3. DataFusion parses; MERGE / DELETE / UPDATE on warehouse tables → [`write`], one
//!    module per Delta operation;
//! 4. DataFusion plans; `CREATE TABLE [AS]` → a Delta table; everything else executes as is
//!    (SELECT, INSERT through the Delta provider, EXPLAIN, SHOW, CREATE EXTERNAL TABLE, …).

mod cluster;
pub mod error;
pub mod maintenance;
pub mod outcome;
pub mod parquet_props;
pub mod policy;
pub mod report;
pub mod scratch;
pub mod subquery;
pub mod write;

use std::sync::Arc;

use datafusion::catalog::SchemaProvider;
use datafusion::common::config::Dialect;
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{DdlStatement, DmlStatement, LogicalPlan, WriteOp};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use datafusion::sql::sqlparser::tokenizer::Token;

pub use outcome::{Outcome, WriteReport};
pub use policy::{FileAccess, Policy};

use crate::catalog::{WarehouseSchema, delta_provider, open_delta};
use crate::error::{Error, Result};
use crate::external;
use crate::session::{SessionOptions, build_session};
use crate::sql::command::{Command, parse_command};
use crate::sql::rewrite::{CreateOptions, PinnedRef, extract_create_options, pin_references};
use crate::sql::tokens::{keyword, render, tokenize};
use crate::warehouse::Warehouse;
use error::ExecError;
use write::CreateMode;

/// Executes SQL over one warehouse.
pub struct Executor {
    ctx: SessionContext,
    schema: Arc<WarehouseSchema>,
    warehouse: Warehouse,
    policy: Policy,
    /// `--memory-limit`: a pipeline run then keeps its batch tables on disk ([`scratch`]).
    memory_limit: Option<usize>,
    /// Where `CREATE TEMP TABLE` and the raw batch go instead of memory, while a run has one.
    scratch: std::sync::Mutex<Option<Arc<scratch::Scratch>>>,
    /// Where reads run when `--cluster` is given (see [`cluster`]).
    cluster: Option<Arc<crate::cluster::Cluster>>,
}

/// A statement's result as [`Executor::execute_streamed`] gives it: rows still to be
/// computed, batch by batch, or a finished outcome (writes, commands, messages).
pub enum Streamed {
    Rows(datafusion::execution::SendableRecordBatchStream),
    Done(Outcome),
}

/// How far [`Executor::run`] goes with a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Execute and collect the rows.
    Collect,
    /// Execute and hand the rows over as a stream.
    Stream,
    /// Parse and plan only.
    DryRun,
}

/// The highest `$n` a statement may use (Postgres' own limit on bound parameters).
pub const MAX_PARAMETERS: usize = 65535;

/// What planning a statement tells before it runs (see [`Executor::describe`]).
#[derive(Debug, Default, Clone)]
pub struct Described {
    /// The result columns; None for writes and commands (only running them tells).
    pub schema: Option<datafusion::arrow::datatypes::SchemaRef>,
    /// The type of `$1`, `$2`, … where DataFusion could infer it.
    pub params: Vec<Option<datafusion::arrow::datatypes::DataType>>,
}

/// Removes per-statement snapshots from the catalog however the statement ends.
struct PinGuard<'a> {
    schema: &'a WarehouseSchema,
    names: Vec<String>,
}

impl Executor {
    /// Registers the time-travel snapshots a statement names (`t VERSION AS OF 3`) for that
    /// statement only: the guard deregisters them when dropped.
    async fn pin(&self, tokens: &[Token]) -> Result<(Vec<Token>, PinGuard<'_>)> {
        let (tokens, pinned) = pin_references(tokens)?;
        let guard = PinGuard {
            schema: &self.schema,
            names: pinned.iter().map(|(n, _)| n.clone()).collect(),
        };
        for (name, r) in &pinned {
            self.register_pinned(name, r).await?;
        }
        Ok((tokens, guard))
    }
}

impl Drop for PinGuard<'_> {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = self.schema.deregister_table(n);
        }
    }
}

impl Executor {
    pub fn new(warehouse: Warehouse, opts: &SessionOptions) -> Result<Self> {
        let (ctx, schema) = build_session(&warehouse, opts)?;
        Ok(Self {
            ctx,
            schema,
            warehouse,
            policy: Policy::default(),
            memory_limit: opts.memory_limit,
            scratch: std::sync::Mutex::new(None),
            cluster: None,
        })
    }

    /// The rules every later statement is checked against (the server's: read-only,
    /// settings locked, files by path only inside `--allow-files`).
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.schema.set_file_access(policy.files.clone());
        self.policy = policy;
        self
    }

    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    pub fn warehouse(&self) -> &Warehouse {
        &self.warehouse
    }

    /// Registers an in-memory table for this session (e.g. a pipeline's raw batch).
    pub fn register_batches(
        &self,
        name: &str,
        schema: datafusion::arrow::datatypes::SchemaRef,
        batches: Vec<datafusion::arrow::record_batch::RecordBatch>,
    ) -> Result<()> {
        let _ = self.schema.deregister_table(name);
        self.schema
            .register_table(name.to_string(), self.mem_table(schema, batches)?)?;
        Ok(())
    }

    /// Registers a temporary table some other code built (a scratch table on disk).
    pub fn register_temp_provider(
        &self,
        name: &str,
        provider: Arc<dyn datafusion::catalog::TableProvider>,
    ) -> Result<()> {
        let _ = self.schema.deregister_table(name);
        self.schema.register_table(name.to_string(), provider)?;
        Ok(())
    }

    /// `--memory-limit`, as given.
    pub fn memory_limit(&self) -> Option<usize> {
        self.memory_limit
    }

    /// From now on temporary tables are written to `scratch` (None: held in memory again).
    pub fn set_scratch(&self, scratch: Option<Arc<scratch::Scratch>>) {
        if let Ok(mut s) = self.scratch.lock() {
            *s = scratch;
        }
    }

    /// The scratch directory temporary tables go to, if a run set one.
    pub fn scratch(&self) -> Option<Arc<scratch::Scratch>> {
        self.scratch.lock().ok().and_then(|s| s.clone())
    }

    /// The names of this session's in-memory tables and views (raw batches, `CREATE TEMP
    /// TABLE`, `CREATE VIEW`).
    pub fn temp_table_names(&self) -> Vec<String> {
        self.schema.temporary_names()
    }

    /// Drops the in-memory table `name` (if it is one), giving its memory back.
    pub fn drop_temp_table(&self, name: &str) -> Result<()> {
        self.schema.deregister_table(name)?;
        Ok(())
    }

    /// Hands the memory of dropped tables back to the system. A temporary table is mostly
    /// columns of 8,192-row batches, blocks under glibc's mmap threshold that live inside
    /// the heap: freed, they stay resident until the heap is trimmed (inventory-ops, 5M
    /// events: RSS stayed at 1.2 GB after its 1.1 GB `checked_txn` was dropped, and fell
    /// to 110 MB with the trim).
    pub fn return_freed_memory(&self) {
        // SAFETY: malloc_trim only releases free pages of the allocator's own heaps.
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        unsafe {
            libc::malloc_trim(0);
        }
    }

    /// An in-memory table split round-robin into the session's target partitions, so scans
    /// of a temporary table run on every core (one partition would serialise them). Row
    /// order across batches is not kept — SQL tables have none; steps order explicitly.
    fn mem_table(
        &self,
        schema: datafusion::arrow::datatypes::SchemaRef,
        batches: Vec<datafusion::arrow::record_batch::RecordBatch>,
    ) -> Result<Arc<MemTable>> {
        let n = self
            .ctx
            .state()
            .config()
            .target_partitions()
            .clamp(1, batches.len().max(1));
        let mut parts = vec![Vec::new(); n];
        for (i, b) in batches.into_iter().enumerate() {
            parts[i % n].push(b);
        }
        Ok(Arc::new(MemTable::try_new(schema, parts)?))
    }

    /// Runs a query and returns its batches (for code that reads results, not people).
    pub async fn query_batches(
        &self,
        sql: &str,
    ) -> Result<Vec<datafusion::arrow::record_batch::RecordBatch>> {
        match self.execute(sql).await? {
            Outcome::Rows { batches, .. } => Ok(batches),
            _ => Ok(Vec::new()),
        }
    }

    /// Executes one statement (no trailing `;` needed).
    pub async fn execute(&self, sql: &str) -> Result<Outcome> {
        match self
            .run(sql, Mode::Collect, None)
            .await
            .map_err(|e| self.explain(e))?
        {
            Streamed::Done(o) => Ok(o),
            Streamed::Rows(_) => Err(Error::Internal("a collected statement returned a stream")),
        }
    }

    /// Executes one statement with bound parameter values (`$1`, `$2`, …) and hands its rows
    /// over as a stream, so a large result never sits in memory whole (the server).
    /// Parameters reach the plan as values, never as SQL text.
    pub async fn execute_streamed(
        &self,
        sql: &str,
        params: Option<datafusion::common::ParamValues>,
    ) -> Result<Streamed> {
        self.run(sql, Mode::Stream, params)
            .await
            .map_err(|e| self.explain(e))
    }

    /// Parses and plans one statement without executing or writing anything.
    pub async fn plan_only(&self, sql: &str) -> Result<Outcome> {
        match self
            .run(sql, Mode::DryRun, None)
            .await
            .map_err(|e| self.explain(e))?
        {
            Streamed::Done(o) => Ok(o),
            Streamed::Rows(_) => Ok(Outcome::Message("planned".into())),
        }
    }

    /// A missing table's error names the nearest existing ones ("did you mean").
    fn explain(&self, e: Error) -> Error {
        crate::suggest::enrich(e, &self.ctx, &self.warehouse)
    }

    async fn run(
        &self,
        sql: &str,
        mode: Mode,
        params: Option<datafusion::common::ParamValues>,
    ) -> Result<Streamed> {
        let dry_run = mode == Mode::DryRun;
        let tokens = tokenize(sql)?;
        let kind = statement_kind(&tokens);
        check_placeholders(&tokens)?;
        if let Some(cmd) = parse_command(&tokens)? {
            if cmd.writes() {
                self.check_writable(&kind)?;
            }
            if params.is_some() {
                return Err(Error::Unsupported(format!(
                    "bound parameters in {kind}; write the values into the statement"
                )));
            }
            return self.run_command(cmd, dry_run).await.map(Streamed::Done);
        }

        let (tokens, _guard) = self.pin(&tokens).await?;

        let (tokens, create_opts) = match extract_create_options(&tokens)? {
            Some((t, o)) => (t, Some(o)),
            None => (tokens, None),
        };
        let tokens = merge_star_forms(tokens);
        let sql = render(&tokens);

        let state = self.ctx.state();
        let stmt = state.sql_to_statement(&sql, &Dialect::Generic)?;
        if let DfStatement::Statement(s) = &stmt {
            match s.as_ref() {
                SqlStatement::Merge(_) | SqlStatement::Delete(_) | SqlStatement::Update(_) => {
                    self.check_writable(&kind)?;
                    if params.is_some() {
                        return Err(Error::Unsupported(format!(
                            "bound parameters in {kind}; write the values into the statement"
                        )));
                    }
                    if dry_run {
                        // Planning the source query is the useful part of a dry run.
                        return Ok(Streamed::Done(Outcome::Message(format!(
                            "would run: {}",
                            first_line(&sql)
                        ))));
                    }
                    let s = match stmt {
                        DfStatement::Statement(s) => *s,
                        _ => unreachable!("matched a Statement above"),
                    };
                    let report = match s {
                        SqlStatement::Merge(m) => {
                            write::Merge::run_statement(&self.ctx, &self.warehouse, m).await?
                        }
                        SqlStatement::Delete(d) => {
                            write::Delete::from_statement(&self.ctx, &self.warehouse, d)
                                .await?
                                .execute()
                                .await?
                                .1
                        }
                        SqlStatement::Update(u) => {
                            write::Update::from_statement(&self.ctx, &self.warehouse, u)
                                .await?
                                .execute()
                                .await?
                                .1
                        }
                        _ => unreachable!("matched above"),
                    };
                    return Ok(Streamed::Done(Outcome::Write(report)));
                }
                _ => {}
            }
        }

        let plan = state.statement_to_plan(stmt).await?;
        self.policy.check_plan(&plan, &kind)?;
        if let LogicalPlan::Ddl(DdlStatement::CreateExternalTable(c)) = &plan {
            // Recorded in the warehouse, not only in this session (see crate::external).
            return external::create(&state, &self.warehouse, c, &sql, dry_run)
                .await
                .map(Streamed::Done);
        }
        let plan = match params {
            Some(p) => plan.with_param_values(p)?,
            None => plan,
        };
        let show_tables =
            kind == "SHOW" && tokens.iter().filter_map(keyword).nth(1).as_deref() == Some("TABLES");
        // SHOW TABLES is relabelled after it ran: collected, never streamed.
        let mode = if show_tables && mode == Mode::Stream {
            Mode::Collect
        } else {
            mode
        };
        match self.run_plan(plan, create_opts, mode).await? {
            Streamed::Done(Outcome::Rows { schema, batches }) if show_tables => {
                Ok(Streamed::Done(Outcome::Rows {
                    schema,
                    batches: external::mark_external(&self.warehouse, batches)?,
                }))
            }
            outcome => Ok(outcome),
        }
    }

    /// Plans a statement without running it (the Postgres server's Describe): the columns
    /// it returns and the types of its `$n` parameters, where planning can tell.
    pub async fn describe(&self, sql: &str) -> Result<Described> {
        self.describe_plan(sql).await.map_err(|e| self.explain(e))
    }

    async fn describe_plan(&self, sql: &str) -> Result<Described> {
        let unknown = Described::default();
        let tokens = tokenize(sql)?;
        let kind = statement_kind(&tokens);
        check_placeholders(&tokens)?;
        if parse_command(&tokens)?.is_some() {
            return Ok(unknown);
        }
        let (tokens, _guard) = self.pin(&tokens).await?;
        if extract_create_options(&tokens)?.is_some() {
            return Ok(unknown);
        }
        let state = self.ctx.state();
        let stmt = state.sql_to_statement(&render(&tokens), &Dialect::Generic)?;
        if let DfStatement::Statement(s) = &stmt
            && matches!(
                s.as_ref(),
                SqlStatement::Merge(_) | SqlStatement::Delete(_) | SqlStatement::Update(_)
            )
        {
            return Ok(unknown);
        }
        let plan = state.statement_to_plan(stmt).await?;
        self.policy.check_plan(&plan, &kind)?;
        let mut params: Vec<(usize, Option<datafusion::arrow::datatypes::DataType>)> = plan
            .get_parameter_types()?
            .into_iter()
            .filter_map(|(k, t)| k.trim_start_matches('$').parse().ok().map(|n| (n, t)))
            .collect();
        params.sort_by_key(|(n, _)| *n);
        let count = params.last().map(|(n, _)| *n).unwrap_or(0);
        let mut types = vec![None; count];
        for (n, t) in params {
            if n >= 1 {
                types[n - 1] = t;
            }
        }
        Ok(Described {
            schema: (!writes(&plan)).then(|| Arc::new(plan.schema().as_arrow().clone())),
            params: types,
        })
    }

    async fn run_plan(
        &self,
        plan: LogicalPlan,
        create_opts: Option<CreateOptions>,
        mode: Mode,
    ) -> Result<Streamed> {
        let dry_run = mode == Mode::DryRun;
        if let LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(c)) = &plan
            && create_opts.as_ref().is_some_and(|o| o.temporary)
        {
            // CREATE TEMP TABLE: materialised in memory for this session (pipeline steps
            // use it to compute a result once and read it in several statements).
            let name = c.name.table().to_string();
            if dry_run {
                return Ok(Streamed::Done(Outcome::Message(format!(
                    "would create temporary table {name}"
                ))));
            }
            let input = c.input.as_ref().clone();
            let logical = Arc::new(input.schema().as_arrow().clone());
            let batches = match self.read_on_cluster(&input).await? {
                Some(stream) => self.collect_cluster(stream).await?,
                None => {
                    let df = self.ctx.execute_logical_plan(input).await?;
                    if let Some(scratch) = self.scratch() {
                        // Under a memory limit: streamed to a Parquet file, never whole in
                        // memory.
                        let schema = Arc::new(df.schema().as_arrow().clone());
                        let streams = df.execute_stream_partitioned().await?;
                        let (provider, rows) =
                            scratch.write_partitions(&name, schema, streams).await?;
                        self.register_temp_provider(&name, provider)?;
                        return Ok(Streamed::Done(Outcome::Message(format!(
                            "temporary table {name}: {rows} rows"
                        ))));
                    }
                    // Batch by batch, so a batch's file text is let go as soon as it passed.
                    use futures::StreamExt;
                    let mut stream = df.execute_stream().await?;
                    let mut batches = Vec::new();
                    while let Some(b) = stream.next().await {
                        batches.push(compact_views(b?)?);
                    }
                    batches
                }
            };
            // The physical batches can differ from the logical schema in details (view or
            // dictionary strings, nullability); the table takes what the batches hold.
            let schema = batches.first().map(|b| b.schema()).unwrap_or(logical);
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            tracing::debug!(table = %name, rows, "temporary table in memory");
            let _ = self.schema.deregister_table(&name);
            self.schema
                .register_table(name.clone(), self.mem_table(schema, batches)?)?;
            return Ok(Streamed::Done(Outcome::Message(format!(
                "temporary table {name}: {rows} rows"
            ))));
        }
        if let LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(c)) = &plan {
            // CREATE TABLE in the warehouse is a Delta table, never a memory table.
            let name = c.name.table().to_string();
            let mode = if c.or_replace {
                CreateMode::Replace
            } else if c.if_not_exists {
                CreateMode::IfNotExists
            } else {
                CreateMode::ErrorIfExists
            };
            if dry_run {
                return Ok(Streamed::Done(Outcome::Message(format!(
                    "would create table {name}"
                ))));
            }
            let opts = create_opts.unwrap_or_default();
            let input = self.offload_input(c.input.as_ref().clone()).await?;
            let report = write::CreateTable::new(&self.warehouse, name)
                .with_mode(mode)
                .with_partition_columns(opts.partition_by)
                .with_properties(opts.properties)
                .as_select(&self.ctx, input)
                .await?;
            return Ok(Streamed::Done(Outcome::Write(report)));
        }
        if dry_run {
            return Ok(Streamed::Done(Outcome::Message("planned".into())));
        }
        let insert_target = match &plan {
            LogicalPlan::Dml(DmlStatement {
                table_name,
                op: WriteOp::Insert(_),
                ..
            }) => Some(table_name.table().to_string()),
            _ => None,
        };
        let ddl = match &plan {
            LogicalPlan::Ddl(d) => Some(d.name().to_string()),
            _ => None,
        };
        if let Some(name) = &insert_target {
            external::check_writable(&self.warehouse, name)?;
        }
        // The Delta provider's INSERT commit carries no metrics: count files around it.
        let files_before = match &insert_target {
            Some(name) if self.warehouse.is_table(name) => Some(self.file_count(name).await?),
            _ => None,
        };
        // The switch point to a cluster: a query runs there, an INSERT's source rows are
        // computed there and committed here.
        let plan = match plan {
            LogicalPlan::Dml(mut dml) if insert_target.is_some() => {
                dml.input = Arc::new(self.offload_input(dml.input.as_ref().clone()).await?);
                LogicalPlan::Dml(dml)
            }
            plan => plan,
        };
        if insert_target.is_none()
            && ddl.is_none()
            && let Some(stream) = self.read_on_cluster(&plan).await?
        {
            if mode == Mode::Stream {
                return Ok(Streamed::Rows(stream));
            }
            let schema = Arc::new(plan.schema().as_arrow().clone());
            let batches = self.collect_cluster(stream).await?;
            return Ok(Streamed::Done(Outcome::Rows { schema, batches }));
        }
        let df = self.ctx.execute_logical_plan(plan).await?;
        if mode == Mode::Stream && insert_target.is_none() && ddl.is_none() {
            return Ok(Streamed::Rows(df.execute_stream().await?));
        }
        let schema = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await?;
        if let Some(name) = insert_target
            && self.warehouse.is_table(&name)
        {
            let table = open_delta(
                &self.warehouse.table_dir(&name),
                &crate::catalog::VersionSpec::Latest,
            )
            .await?;
            let mut report = report::last_commit_report(&table, &name).await?;
            report.operation = "INSERT".into();
            // DataFusion answers an INSERT with one `count` row.
            report.rows_inserted = batches
                .first()
                .filter(|b| b.num_rows() > 0 && b.num_columns() > 0)
                .and_then(|b| {
                    datafusion::arrow::compute::cast(
                        b.column(0),
                        &datafusion::arrow::datatypes::DataType::UInt64,
                    )
                    .ok()
                })
                .and_then(|a| {
                    a.as_any()
                        .downcast_ref::<datafusion::arrow::array::UInt64Array>()
                        .map(|a| a.value(0))
                })
                .unwrap_or(report.rows_inserted);
            let after = table.snapshot()?.log_data().num_files() as u64;
            if let Some(before) = files_before {
                report.files_added = after.saturating_sub(before);
            }
            return Ok(Streamed::Done(Outcome::Write(report)));
        }
        if let Some(what) = ddl {
            return Ok(Streamed::Done(Outcome::Message(format!("ok: {what}"))));
        }
        Ok(Streamed::Done(Outcome::Rows { schema, batches }))
    }

    async fn file_count(&self, name: &str) -> Result<u64> {
        let t = open_delta(
            &self.warehouse.table_dir(name),
            &crate::catalog::VersionSpec::Latest,
        )
        .await?;
        Ok(t.snapshot()?.log_data().num_files() as u64)
    }

    async fn run_command(&self, cmd: Command, dry_run: bool) -> Result<Outcome> {
        if let Command::Describe { table } = &cmd
            && external::delta_dir(&self.warehouse, table)?.is_none()
        {
            // Not a Delta table (a registered file or view): DataFusion describes it.
            let df = self
                .ctx
                .sql(&format!("DESCRIBE {}", crate::sql::quote::ident(table)))
                .await?;
            let schema = Arc::new(df.schema().as_arrow().clone());
            return Ok(Outcome::Rows {
                schema,
                batches: df.collect().await?,
            });
        }
        if dry_run {
            return Ok(Outcome::Message(format!("would run {cmd:?}")));
        }
        if let Command::Drop { table, .. } = &cmd
            && self.schema.is_temporary(table)
        {
            // The temporary table the name resolves to, not a warehouse table behind it: a
            // script drops what it made once it is done with it, and its memory goes back.
            self.drop_temp_table(table)?;
            self.return_freed_memory();
            return Ok(Outcome::Message(format!("dropped temporary table {table}")));
        }
        maintenance::run(&self.ctx, &self.warehouse, cmd).await
    }

    async fn register_pinned(&self, name: &str, r: &PinnedRef) -> Result<()> {
        let provider = match r {
            PinnedRef::Version { table, spec } => {
                // Warehouse tables and external Delta tables alike.
                let t = match external::open_readable(&self.warehouse, table, spec).await {
                    Err(e @ Error::TableNotFound { .. }) => return Err(e),
                    other => other.map_err(|e| ExecError::PinnedTable {
                        table: table.clone(),
                        spec: spec.clone(),
                        error: Box::new(e),
                    })?,
                };
                delta_provider(&t).await?
            }
            PinnedRef::Path { path, spec } => {
                // The server's --allow-files applies to a Delta table read by path too.
                self.schema.file_access().check(path, "delta_scan")?;
                let dir = external::local_path(path).filter(|d| d.join("_delta_log").is_dir());
                let dir = dir.ok_or_else(|| ExecError::NoDeltaLog(path.clone()))?;
                let t = open_delta(&dir, spec)
                    .await
                    .map_err(|e| ExecError::DeltaScan {
                        path: path.clone(),
                        spec: spec.clone(),
                        error: Box::new(e),
                    })?;
                delta_provider(&t).await?
            }
            PinnedRef::Changes { table, start, end } => {
                let batches =
                    maintenance::changes::read(&self.ctx, &self.warehouse, table, *start, *end)
                        .await?;
                let schema = match batches.first() {
                    Some(b) => b.schema(),
                    None => {
                        // No change rows: still give the query the right columns.
                        let t = external::open_readable(
                            &self.warehouse,
                            table,
                            &crate::catalog::VersionSpec::Latest,
                        )
                        .await?;
                        let mut fields: Vec<_> = t
                            .snapshot()?
                            .snapshot()
                            .arrow_schema()
                            .fields()
                            .iter()
                            .cloned()
                            .collect();
                        use datafusion::arrow::datatypes::{DataType, Field, TimeUnit};
                        fields.push(Arc::new(Field::new("_change_type", DataType::Utf8, true)));
                        fields.push(Arc::new(Field::new(
                            "_commit_version",
                            DataType::UInt64,
                            true,
                        )));
                        fields.push(Arc::new(Field::new(
                            "_commit_timestamp",
                            DataType::Timestamp(TimeUnit::Millisecond, None),
                            true,
                        )));
                        Arc::new(datafusion::arrow::datatypes::Schema::new(fields))
                    }
                };
                Arc::new(MemTable::try_new(schema, vec![batches])?)
            }
        };
        self.schema.register_table(name.to_string(), provider)?;
        Ok(())
    }

    /// `what` names the statement kind the user wrote (INSERT, MERGE, VACUUM, …).
    fn check_writable(&self, what: &str) -> Result<()> {
        if self.policy.read_only {
            return Err(Error::ReadOnly(what.to_string()));
        }
        Ok(())
    }
}

/// The statement's leading keyword(s) as the user wrote them, for messages: `INSERT`,
/// `CREATE TABLE`, `DESCRIBE HISTORY`, ….
fn statement_kind(tokens: &[Token]) -> String {
    let words: Vec<String> = tokens
        .iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .take(2)
        .map_while(keyword)
        .collect();
    match words.as_slice() {
        [first, second]
            if matches!(
                first.as_str(),
                "CREATE" | "DROP" | "DESCRIBE" | "ALTER" | "INSERT"
            ) =>
        {
            format!("{first} {second}")
        }
        [first, ..] => first.clone(),
        [] => "this statement".into(),
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// Refuses `$n` placeholders past [`MAX_PARAMETERS`] (or `$0`) before anything sizes a
/// parameter list by them.
fn check_placeholders(tokens: &[Token]) -> Result<()> {
    for t in tokens {
        if let Token::Placeholder(p) = t
            && let Some(n) = p.strip_prefix('$')
            && !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
        {
            match n.parse::<usize>() {
                Ok(n) if (1..=MAX_PARAMETERS).contains(&n) => {}
                _ => {
                    return Err(Error::Sql(format!(
                        "parameter {p} is out of range: use $1 to ${MAX_PARAMETERS}"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Does executing this plan change anything on disk or in the catalog?
fn writes(plan: &LogicalPlan) -> bool {
    matches!(
        plan,
        LogicalPlan::Dml(_) | LogicalPlan::Ddl(_) | LogicalPlan::Copy(_)
    )
}

/// `INSERT *` → `INSERT ROW` and `UPDATE SET *` → a marker assignment, inside MERGE only:
/// sqlparser knows neither Spark form.
fn merge_star_forms(tokens: Vec<Token>) -> Vec<Token> {
    let first = tokens.iter().find_map(keyword);
    if first.as_deref() != Some("MERGE") {
        return tokens;
    }
    let mut out: Vec<Token> = Vec::with_capacity(tokens.len());
    for t in tokens {
        if matches!(t, Token::Mul) {
            let prev = out.iter().rev().find_map(|p| match p {
                Token::Whitespace(_) => None,
                other => Some(keyword(other).unwrap_or_default()),
            });
            match prev.as_deref() {
                Some("INSERT") => {
                    out.push(Token::make_keyword("ROW"));
                    continue;
                }
                Some("SET") => {
                    out.push(Token::make_word(write::SET_ALL_MARKER, None));
                    out.push(Token::Eq);
                    out.push(Token::Number("1".into(), false));
                    continue;
                }
                _ => {}
            }
        }
        out.push(t);
    }
    out
}

/// A temporary table's text columns can point into buffers far larger than what they show:
/// the 32 MiB pieces of landing-file text a batch's fields are views into, of which a
/// `checked_*` table keeps short fields (held inside the views) and the records of its
/// rejected rows. A column of a batch that holds more bytes for nothing (buffers none of its
/// values uses, gaps between them) than for its values is copied into buffers of its own,
/// so the table holds what it shows and the file text can go; a column that uses what it
/// holds (every record kept, as pos's `checked` does; a file name repeated) is left as it is.
fn compact_views(
    b: datafusion::arrow::record_batch::RecordBatch,
) -> Result<datafusion::arrow::record_batch::RecordBatch> {
    use datafusion::arrow::array::{ArrayRef, AsArray};
    let mut cols = b.columns().to_vec();
    let mut changed = false;
    for col in cols.iter_mut() {
        let Some(a) = col.as_string_view_opt() else {
            continue;
        };
        if !holds_for_nothing(a) {
            continue;
        }
        let compact: ArrayRef = Arc::new(a.gc());
        *col = compact;
        changed = true;
    }
    if !changed {
        return Ok(b);
    }
    Ok(datafusion::arrow::record_batch::RecordBatch::try_new(
        b.schema(),
        cols,
    )?)
}

/// Whether most of the bytes `a`'s buffers hold are used by none of its values.
fn holds_for_nothing(a: &datafusion::arrow::array::StringViewArray) -> bool {
    use datafusion::arrow::array::Array;
    if a.data_buffers().is_empty() {
        return false;
    }
    // Per buffer: the lowest and highest byte the values use in it, and how many they are.
    let mut spans = vec![None::<(usize, usize, usize)>; a.data_buffers().len()];
    for (i, v) in a.views().iter().enumerate() {
        let len = *v as u32 as usize;
        // Up to 12 bytes a value lives in its view, not in a buffer.
        if len <= 12 || a.is_null(i) {
            continue;
        }
        let (buffer, offset) = ((*v >> 64) as u32 as usize, (*v >> 96) as u32 as usize);
        if let Some(s) = spans.get_mut(buffer) {
            let e = s.get_or_insert((offset, offset + len, 0));
            e.0 = e.0.min(offset);
            e.1 = e.1.max(offset + len);
            e.2 += len;
        }
    }
    let (mut wasted, mut total) = (0usize, 0usize);
    for (buf, span) in a.data_buffers().iter().zip(spans) {
        match span {
            Some((lo, hi, used)) => {
                wasted += (hi - lo).saturating_sub(used);
                total += hi - lo;
            }
            None => {
                wasted += buf.len();
                total += buf.len();
            }
        }
    }
    wasted * 2 > total
}
