//! The SQL catalog over a warehouse: every Delta table under `tables/` is a table of the
//! default schema, registered lazily.
//!
//! Nothing is opened when the session starts; `table()` reads a table's Delta log only when
//! a statement names it, and it loads the *latest* version every time, so a statement never
//! sees a snapshot pinned by an earlier one (the pitfall of registering a DeltaTable once).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider, UrlTableFactory};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::TableType;
use deltalake::DeltaTable;
use url::Url;

use crate::error::{Error, Result};
use crate::external::ExternalTables;
use crate::warehouse::Warehouse;

/// Which version of a Delta table to open.
#[derive(Debug, Clone, PartialEq)]
pub enum VersionSpec {
    Latest,
    Version(u64),
    /// An RFC 3339 / `YYYY-MM-DD HH:MM:SS` timestamp: the version current at that time.
    Timestamp(String),
}

/// Opens the Delta table at `dir`.
pub async fn open_delta(dir: &std::path::Path, version: &VersionSpec) -> Result<DeltaTable> {
    let url = crate::storage::dir_url(dir)?;
    let table = match version {
        VersionSpec::Latest => deltalake::open_table(url).await?,
        VersionSpec::Version(v) => {
            match deltalake::open_table_with_version(url.clone(), *v).await {
                Ok(t) => t,
                Err(e) => return Err(missing_version(url, *v, e).await),
            }
        }
        VersionSpec::Timestamp(ts) => {
            let ts = normalize_timestamp(ts)?;
            deltalake::open_table_with_ds(url, ts).await?
        }
    };
    crate::external::check_reader_features(&table, dir)?;
    Ok(table)
}

/// Says "no such version" in words when a version past the latest is asked for (the Delta
/// kernel's own message speaks of log segments).
async fn missing_version(url: Url, v: u64, e: deltalake::DeltaTableError) -> Error {
    match deltalake::open_table(url).await.map(|t| t.version()) {
        Ok(Some(latest)) if latest < v => Error::NoSuchVersion { version: v, latest },
        _ => e.into(),
    }
}

/// `open_table_with_ds` wants RFC 3339; users write `2026-01-01 00:00:00` (Athena style).
fn normalize_timestamp(ts: &str) -> Result<String> {
    let t = ts.trim();
    if chrono::DateTime::parse_from_rfc3339(t).is_ok() {
        return Ok(t.to_string());
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(n) = chrono::NaiveDateTime::parse_from_str(t, fmt) {
            return Ok(n.and_utc().to_rfc3339());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
        && let Some(n) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(n.and_utc().to_rfc3339());
    }
    Err(Error::BadTimestamp(ts.to_string()))
}

/// A DataFusion table provider for a loaded Delta table: deltalake's own, wrapped in a
/// [`SnapshotProvider`] that remembers the snapshot it reads.
pub async fn delta_provider(table: &DeltaTable) -> Result<Arc<dyn TableProvider>> {
    Ok(Arc::new(SnapshotProvider {
        inner: table.table_provider().await?,
        table: table.clone(),
    }))
}

/// deltalake's table provider plus the table it was built from, at that version. It
/// behaves exactly like deltalake's provider (every method forwards to it); it exists so
/// that code planning a statement elsewhere (the cluster, which cannot ship deltalake's scan)
/// can find the statement's snapshot — its pinned file list — behind a table scan.
#[derive(Debug)]
pub struct SnapshotProvider {
    inner: Arc<dyn TableProvider>,
    table: DeltaTable,
}

impl SnapshotProvider {
    /// The Delta table at the version this provider reads.
    pub fn table(&self) -> &DeltaTable {
        &self.table
    }
}

#[async_trait]
impl TableProvider for SnapshotProvider {
    fn schema(&self) -> datafusion::arrow::datatypes::SchemaRef {
        self.inner.schema()
    }

    fn constraints(&self) -> Option<&datafusion::common::Constraints> {
        self.inner.constraints()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn get_table_definition(&self) -> Option<&str> {
        self.inner.get_table_definition()
    }

    fn get_logical_plan(
        &self,
    ) -> Option<std::borrow::Cow<'_, datafusion::logical_expr::LogicalPlan>> {
        self.inner.get_logical_plan()
    }

    fn get_column_default(&self, column: &str) -> Option<&datafusion::prelude::Expr> {
        self.inner.get_column_default(column)
    }

    async fn scan(
        &self,
        state: &dyn datafusion::catalog::Session,
        projection: Option<&Vec<usize>>,
        filters: &[datafusion::prelude::Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        self.inner.scan(state, projection, filters, limit).await
    }

    async fn scan_with_args<'a>(
        &self,
        state: &dyn datafusion::catalog::Session,
        args: datafusion::catalog::ScanArgs<'a>,
    ) -> DfResult<datafusion::catalog::ScanResult> {
        self.inner.scan_with_args(state, args).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&datafusion::prelude::Expr],
    ) -> DfResult<Vec<datafusion::logical_expr::TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    fn statistics(&self) -> Option<datafusion::common::Statistics> {
        self.inner.statistics()
    }

    async fn insert_into(
        &self,
        state: &dyn datafusion::catalog::Session,
        input: Arc<dyn datafusion::physical_plan::ExecutionPlan>,
        insert_op: datafusion::logical_expr::dml::InsertOp,
    ) -> DfResult<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        self.inner.insert_into(state, input, insert_op).await
    }

    async fn delete_from(
        &self,
        state: &dyn datafusion::catalog::Session,
        filters: Vec<datafusion::prelude::Expr>,
    ) -> DfResult<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        self.inner.delete_from(state, filters).await
    }

    async fn update(
        &self,
        state: &dyn datafusion::catalog::Session,
        assignments: Vec<(String, datafusion::prelude::Expr)>,
        filters: Vec<datafusion::prelude::Expr>,
    ) -> DfResult<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        self.inner.update(state, assignments, filters).await
    }

    async fn truncate(
        &self,
        state: &dyn datafusion::catalog::Session,
    ) -> DfResult<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        self.inner.truncate(state).await
    }
}

/// The default schema: warehouse Delta tables plus whatever the session registered itself
/// (`CREATE EXTERNAL TABLE`, views, time-travel snapshots of one statement).
#[derive(Debug)]
pub struct WarehouseSchema {
    warehouse: Warehouse,
    registered: RwLock<HashMap<String, Arc<dyn TableProvider>>>,
    /// Resolves `'data/x.parquet'` as a table. Kept here rather than through
    /// `enable_url_table()`, whose wrapper opens every table to answer `SHOW TABLES`.
    files: OnceLock<Arc<dyn UrlTableFactory>>,
    /// Which paths `files` may resolve (the server restricts it to `--allow-files`).
    file_access: RwLock<crate::exec::FileAccess>,
    /// `CREATE EXTERNAL TABLE`s recorded in the warehouse; Delta directories named by path.
    external: ExternalTables,
}

impl WarehouseSchema {
    pub fn new(warehouse: Warehouse) -> Self {
        Self {
            registered: RwLock::new(HashMap::new()),
            files: OnceLock::new(),
            file_access: RwLock::new(crate::exec::FileAccess::Any),
            external: ExternalTables::new(warehouse.clone()),
            warehouse,
        }
    }

    pub fn set_file_access(&self, access: crate::exec::FileAccess) {
        if let Ok(mut a) = self.file_access.write() {
            *a = access;
        }
    }

    /// Which paths may be read by path.
    pub fn file_access(&self) -> crate::exec::FileAccess {
        self.file_access
            .read()
            .map(|a| a.clone())
            // A poisoned lock allows nothing.
            .unwrap_or_else(|_| crate::exec::FileAccess::Within(Arc::new(Vec::new())))
    }

    /// Refuses a path the file-access policy does not allow (the server's
    /// `--allow-files`); anything else passes. A name that does not look like a path is
    /// not a file where files are restricted: `Ok(false)`.
    pub fn check_path(&self, name: &str) -> Result<bool> {
        let access = self.file_access();
        if let crate::exec::FileAccess::Within(_) = access {
            // A misspelt table name is just unknown, not a refused file.
            if !name.contains(['/', '.', '\\']) {
                return Ok(false);
            }
            access.check(name, "file")?;
        }
        Ok(true)
    }

    pub fn set_file_tables(&self, factory: Arc<dyn UrlTableFactory>) {
        let _ = self.files.set(factory);
    }

    pub fn external(&self) -> &ExternalTables {
        &self.external
    }

    pub fn warehouse(&self) -> &Warehouse {
        &self.warehouse
    }

    /// The tables and views of this session only (`CREATE TEMP TABLE`, `CREATE VIEW`, a
    /// pipeline's batch), without the statement-scoped `__` ones.
    pub fn temporary_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .registered
            .read()
            .map(|m| m.keys().filter(|k| !k.starts_with("__")).cloned().collect())
            .unwrap_or_default();
        names.retain(|n| self.is_temporary(n));
        names.sort();
        names
    }

    /// Whether `name` is a table or view of this session only (`CREATE TEMP TABLE`, a
    /// pipeline's batch), not of the warehouse.
    pub fn is_temporary(&self, name: &str) -> bool {
        self.registered(name).is_some()
            && !self.warehouse.is_table(name)
            && !self.external.contains(name)
    }

    fn registered(&self, name: &str) -> Option<Arc<dyn TableProvider>> {
        self.registered
            .read()
            .ok()
            .and_then(|m| m.get(name).cloned())
    }
}

#[async_trait]
impl SchemaProvider for WarehouseSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.warehouse.table_names();
        if let Ok(m) = self.registered.read() {
            names.extend(m.keys().filter(|k| !k.starts_with("__")).cloned());
        }
        names.extend(self.external.names());
        names.sort();
        names.dedup();
        names
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if let Some(t) = self.registered(name) {
            return Ok(Some(t));
        }
        if !self.warehouse.is_table(name) {
            if let Some(t) = self.external.table(name).await? {
                return Ok(Some(t));
            }
            // Paths (a Delta directory or loose files) only where the policy allows them.
            if !self
                .check_path(name)
                .map_err(|e| DataFusionError::External(Box::new(e)))?
            {
                return Ok(None);
            }
            if let Some(t) = self.external.path_table(name).await? {
                return Ok(Some(t));
            }
            return match self.files.get() {
                Some(f) => f.try_new(name).await,
                None => Ok(None),
            };
        }
        let dir = self.warehouse.table_dir(name);
        let table = open_delta(&dir, &VersionSpec::Latest).await.map_err(|e| {
            DataFusionError::Plan(format!(
                "cannot open Delta table '{name}' at {}: {e}",
                dir.display()
            ))
        })?;
        let provider = delta_provider(&table)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(Some(provider))
    }

    /// Answered from the directory listing: `SHOW TABLES` and `information_schema.tables`
    /// must not open every table's log.
    async fn table_type(&self, name: &str) -> DfResult<Option<TableType>> {
        if let Some(t) = self.registered(name) {
            return Ok(Some(t.table_type()));
        }
        Ok(
            (self.warehouse.is_table(name) || self.external.contains(name))
                .then_some(TableType::Base),
        )
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if self.warehouse.is_table(&name) {
            return Err(DataFusionError::Plan(format!(
                "'{name}' is already a Delta table of the warehouse; choose another name"
            )));
        }
        if self.external.contains(&name) {
            return Err(DataFusionError::Plan(format!(
                "'{name}' is an external table of the warehouse; choose another name \
                 (or DROP TABLE {name} first: its data stays)"
            )));
        }
        let mut m = self
            .registered
            .write()
            .map_err(|_| DataFusionError::Internal("catalog lock poisoned".into()))?;
        Ok(m.insert(name, table))
    }

    fn deregister_table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let mut m = self
            .registered
            .write()
            .map_err(|_| DataFusionError::Internal("catalog lock poisoned".into()))?;
        Ok(m.remove(name))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.registered(name).is_some()
            || self.warehouse.is_table(name)
            || self.external.contains(name)
    }
}
