//! External tables: data outside `tables/` that the warehouse knows by name, and Delta tables
//! named by their path.
//!
//! `CREATE EXTERNAL TABLE` is recorded in `catalog/external_tables.json` under the warehouse,
//! so every later command (`query`, `run-sql`, the shell, `serve`) sees the table, as Athena
//! and Glue users expect. A small JSON file rather than a Delta table: it holds a handful of
//! rows, is read by every session at every lookup, and is replaced whole (temp file + rename),
//! so a reader never sees half of it.
//!
//! External Delta tables are opened through their log like warehouse tables (latest version
//! at every statement, time travel, history, changes); stockroom does not write to them
//! unless the table was created with `OPTIONS ('writable' 'true')`: another engine owns them.
//!
//! A directory holding `_delta_log/` is never read as loose Parquet: its files include
//! removed files and change-data files, so counts come out wrong without any error.

pub mod error;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::common::config::Dialect;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::SessionState;
use datafusion::logical_expr::{CreateExternalTable, DdlStatement, LogicalPlan};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{Ident, ObjectName};
use datafusion_session::SessionStore;
use deltalake::DeltaTable;
use serde::{Deserialize, Serialize};

use crate::catalog::{VersionSpec, delta_provider, open_delta};
use crate::error::{Error, Result};
use crate::exec::Outcome;
use crate::warehouse::{Warehouse, valid_table_name};
pub use error::ExternalError;

/// The name an external table is planned under when its statement is replayed.
const REPLAY_NAME: &str = "__external_table_replay";

/// Where the catalog of external tables lives, relative to the warehouse root.
pub const CATALOG_FILE: &str = "catalog/external_tables.json";

/// One `CREATE EXTERNAL TABLE`, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExternalTable {
    pub name: String,
    /// `DELTA`, `PARQUET`, `CSV`, `JSON`, … as written after `STORED AS` (upper case).
    pub format: String,
    /// Absolute path for local data; a URL as written otherwise.
    pub location: String,
    /// Writes (INSERT, DELETE, MERGE, OPTIMIZE, …) allowed: `OPTIONS ('writable' 'true')`.
    #[serde(default)]
    pub writable: bool,
    /// The statement that created the table; replayed (with `location`) to build tables of
    /// formats other than Delta, whose options only DataFusion's planner understands.
    pub statement: String,
}

impl ExternalTable {
    pub fn is_delta(&self) -> bool {
        is_delta_format(&self.format)
    }
}

fn is_delta_format(format: &str) -> bool {
    matches!(format, "DELTA" | "DELTATABLE")
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CatalogFile {
    tables: Vec<ExternalTable>,
}

pub fn catalog_path(warehouse: &Warehouse) -> PathBuf {
    warehouse.root().join(CATALOG_FILE)
}

/// Every recorded external table, sorted by name. No file: none.
pub fn load(warehouse: &Warehouse) -> Result<Vec<ExternalTable>> {
    let path = catalog_path(warehouse);
    let Some(text) = crate::storage::read_to_string(&path)? else {
        return Ok(Vec::new());
    };
    let file: CatalogFile =
        serde_json::from_str(&text).map_err(|error| ExternalError::CatalogFile {
            path: path.display().to_string(),
            error,
        })?;
    let mut tables = file.tables;
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(tables)
}

pub fn get(warehouse: &Warehouse, name: &str) -> Result<Option<ExternalTable>> {
    Ok(load(warehouse)?.into_iter().find(|t| t.name == name))
}

/// Writes the whole catalog to a temporary file and renames it over the old one.
fn save(warehouse: &Warehouse, tables: Vec<ExternalTable>) -> Result<()> {
    let path = catalog_path(warehouse);
    let dir = path
        .parent()
        .ok_or_else(|| ExternalError::NoParent(path.display().to_string()))?;
    crate::storage::create_dir_all(dir)?;
    let text = serde_json::to_string_pretty(&CatalogFile { tables })?;
    crate::storage::write_atomically(&path, (text + "\n").as_bytes())
}

/// Holds `catalog/.external_tables.lock` exclusively while alive: two processes creating
/// or dropping external tables at once must not lose each other's change (each reads the
/// catalog, changes it and writes it whole). Readers need no lock: the rename is atomic.
/// In a bucket the lock is a lease object (see [`crate::storage::lock`]).
struct CatalogLock {
    file: Option<std::fs::File>,
    _lease: Option<crate::storage::lock::ObjectLock>,
}

impl CatalogLock {
    fn acquire(warehouse: &Warehouse) -> Result<Self> {
        let dir = warehouse.root().join("catalog");
        let path = dir.join(".external_tables.lock");
        if crate::storage::is_object(&path) {
            loop {
                if let Some(crate::storage::lock::Attempt::Acquired(l)) =
                    crate::storage::lock::try_lock(&path)?
                {
                    return Ok(Self {
                        file: None,
                        _lease: Some(l),
                    });
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
        let path = dir.join(".external_tables.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
        file.lock()
            .map_err(|e| Error::io(format!("cannot lock {}", path.display()), e))?;
        Ok(Self {
            file: Some(file),
            _lease: None,
        })
    }
}

impl Drop for CatalogLock {
    fn drop(&mut self) {
        if let Some(f) = &self.file {
            let _ = f.unlock();
        }
    }
}

/// Records `table`, replacing an entry of the same name.
pub fn put(warehouse: &Warehouse, table: ExternalTable) -> Result<()> {
    let _lock = CatalogLock::acquire(warehouse)?;
    let mut tables = load(warehouse)?;
    tables.retain(|t| t.name != table.name);
    tables.push(table);
    save(warehouse, tables)
}

/// Forgets the external table `name` (its data stays where it is).
pub fn forget(warehouse: &Warehouse, name: &str) -> Result<Option<ExternalTable>> {
    if get(warehouse, name)?.is_none() {
        return Ok(None);
    }
    let _lock = CatalogLock::acquire(warehouse)?;
    let mut tables = load(warehouse)?;
    let Some(i) = tables.iter().position(|t| t.name == name) else {
        return Ok(None);
    };
    let gone = tables.remove(i);
    save(warehouse, tables)?;
    Ok(Some(gone))
}

/// The directory of the Delta table `name`: a warehouse table or an external Delta table.
/// The second value is the external entry, if it is one.
pub fn delta_dir(
    warehouse: &Warehouse,
    name: &str,
) -> Result<Option<(PathBuf, Option<ExternalTable>)>> {
    if warehouse.is_table(name) {
        return Ok(Some((warehouse.table_dir(name), None)));
    }
    Ok(get(warehouse, name)?
        .filter(ExternalTable::is_delta)
        .map(|t| (PathBuf::from(&t.location), Some(t))))
}

fn not_found(warehouse: &Warehouse, name: &str) -> Error {
    Error::table_not_found(name, warehouse)
}

/// Opens a Delta table to read it (history, changes, DESCRIBE, time travel): warehouse
/// tables and external Delta tables alike.
pub async fn open_readable(
    warehouse: &Warehouse,
    name: &str,
    version: &VersionSpec,
) -> Result<DeltaTable> {
    let (dir, _) = delta_dir(warehouse, name)?.ok_or_else(|| not_found(warehouse, name))?;
    open_delta(&dir, version).await
}

/// Refuses writes to an external table that was not created writable.
pub fn check_writable(warehouse: &Warehouse, name: &str) -> Result<()> {
    if warehouse.is_table(name) {
        return Ok(());
    }
    match get(warehouse, name)? {
        Some(t) if !t.writable => Err(ExternalError::NotWritable {
            name: name.to_string(),
            format: t.format,
            location: t.location,
        }
        .into()),
        _ => Ok(()),
    }
}

/// Opens the Delta table `name` to write to it: a warehouse table, or an external Delta
/// table created writable.
pub async fn open_writable(warehouse: &Warehouse, name: &str) -> Result<DeltaTable> {
    check_writable(warehouse, name)?;
    open_readable(warehouse, name, &VersionSpec::Latest).await
}

/// Refuses a table whose protocol needs reader features deltalake cannot read, naming them
/// (reading such a table anyway would silently return wrong rows).
pub fn check_reader_features(table: &DeltaTable, dir: &Path) -> Result<()> {
    let snapshot = table.snapshot()?;
    deltalake::kernel::transaction::PROTOCOL
        .can_read_from_protocol(snapshot.protocol())
        .map_err(|e| {
            Error::Unsupported(format!(
                "cannot read the Delta table at {}: {e} (stockroom reads Delta with \
                 deltalake 1.1: deletion vectors, column mapping, v2 checkpoints, \
                 timestamp without time zone)",
                dir.display()
            ))
        })
}

/// How a path stands to Delta tables.
#[derive(Debug, Clone, PartialEq)]
pub enum DeltaPlace {
    /// The path is a Delta table's directory.
    Root(PathBuf),
    /// The path is inside the Delta table at the given directory (a data file, a glob).
    Inside(PathBuf),
    /// A Delta table lies below the path (a listing of several tables).
    Holds(PathBuf),
    /// No Delta table here.
    None,
}

/// The local path a file-path table or LOCATION names: `file://` taken off, a glob cut back
/// to its directory, made absolute. None for remote URLs.
pub fn local_path(location: &str) -> Option<PathBuf> {
    local_path_globbed(location).map(|(p, _)| p)
}

/// [`local_path`], and whether the location was a glob.
fn local_path_globbed(location: &str) -> Option<(PathBuf, bool)> {
    let s = location.strip_prefix("file://").unwrap_or(location);
    if s.contains("://") {
        return None;
    }
    let (s, globbed) = match s.find(['*', '?', '[', '{']) {
        Some(i) => (&s[..i], true),
        None => (s, false),
    };
    let mut p = PathBuf::from(s);
    if globbed && !s.ends_with('/') {
        p = p.parent().map(Path::to_path_buf).unwrap_or_default();
    }
    if p.as_os_str().is_empty() {
        p = PathBuf::from(".");
    }
    let p = if p.is_absolute() {
        p
    } else {
        std::env::current_dir().ok()?.join(p)
    };
    Some((std::fs::canonicalize(&p).unwrap_or(p), globbed))
}

fn is_delta_root(dir: &Path) -> bool {
    dir.join("_delta_log").is_dir()
}

/// At most this many directories are looked at below a listed path: a listing that large
/// is read slowly anyway, and looking must not take longer than reading.
const MAX_DIRS_WALKED: usize = 10_000;

/// Finds whether `path` is, is inside, or holds a Delta table.
pub fn delta_place(path: &Path) -> DeltaPlace {
    // A name that is no file (a mistyped table) is no Delta data, wherever the shell runs.
    if !path.exists() {
        return DeltaPlace::None;
    }
    if path.is_dir() && is_delta_root(path) {
        return DeltaPlace::Root(path.to_path_buf());
    }
    if let Some(root) = path.ancestors().skip(1).find(|a| is_delta_root(a)) {
        return DeltaPlace::Inside(root.to_path_buf());
    }
    if !path.is_dir() {
        return DeltaPlace::None;
    }
    let mut queue = std::collections::VecDeque::from([path.to_path_buf()]);
    let mut walked = 0;
    while let Some(dir) = queue.pop_front() {
        walked += 1;
        if walked > MAX_DIRS_WALKED {
            break;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.filter_map(|e| e.ok()) {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                let p = e.path();
                if is_delta_root(&p) {
                    return DeltaPlace::Holds(p);
                }
                queue.push_back(p);
            }
        }
    }
    DeltaPlace::None
}

/// The refusal for reading Delta data as loose files.
pub fn loose_files_refused(written: &str, place: &DeltaPlace, format: &str) -> Option<Error> {
    let (why, root) = match place {
        DeltaPlace::Root(r) => ("is a Delta table (it holds _delta_log/)", r),
        DeltaPlace::Inside(r) => ("lies inside the Delta table", r),
        DeltaPlace::Holds(r) => ("holds the Delta table", r),
        DeltaPlace::None => return None,
    };
    let root = root.display().to_string();
    let shown = if matches!(place, DeltaPlace::Root(_)) {
        String::new()
    } else {
        format!(" {root}")
    };
    Some(
        ExternalError::LooseDeltaFiles {
            written: written.to_string(),
            why,
            shown,
            format: format.to_string(),
            root,
        }
        .into(),
    )
}

/// `CREATE EXTERNAL TABLE`: checks the location, records the table in the warehouse's
/// catalog (so later commands see it) and answers with a message.
pub async fn create(
    state: &SessionState,
    warehouse: &Warehouse,
    cmd: &CreateExternalTable,
    statement: &str,
    dry_run: bool,
) -> Result<Outcome> {
    let name = cmd.name.table().to_string();
    if !valid_table_name(&name) {
        return Err(ExternalError::InvalidName(name).into());
    }
    if warehouse.is_table(&name) {
        return Err(ExternalError::NameIsWarehouseTable(name).into());
    }
    let [written] = cmd.locations.as_slice() else {
        return Err(Error::Unsupported(format!(
            "CREATE EXTERNAL TABLE {name}: exactly one LOCATION"
        )));
    };
    let format = cmd.file_type.to_ascii_uppercase();
    let local = local_path(written);
    let location = local
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| written.clone());
    let writable = ["writable", "format.writable"].iter().any(|k| {
        cmd.options
            .get(*k)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    });
    if let Some(existing) = get(warehouse, &name)? {
        if cmd.if_not_exists {
            return Ok(Outcome::Message(format!(
                "external table {name} exists ({} at {}), skipped",
                existing.format, existing.location
            )));
        }
        if !cmd.or_replace {
            return Err(ExternalError::Exists {
                name,
                format: existing.format,
                location: existing.location,
            }
            .into());
        }
    }
    if is_delta_format(&format) {
        let dir = local.ok_or_else(|| {
            Error::Unsupported(format!(
                "external Delta table {name}: only local paths, not '{written}'"
            ))
        })?;
        if !is_delta_root(&dir) {
            return Err(ExternalError::NotDelta {
                name,
                dir: dir.display().to_string(),
            }
            .into());
        }
        open_delta(&dir, &VersionSpec::Latest).await?;
    } else {
        if let Some(p) = &local
            && let Some(e) = loose_files_refused(written, &delta_place(p), &format)
        {
            return Err(e);
        }
        if writable {
            return Err(Error::Unsupported(format!(
                "OPTIONS ('writable' 'true') is for external Delta tables; {name} is {format}"
            )));
        }
        // Build it once now, so a bad option or path fails here and not at every later use.
        let mut probe = cmd.clone();
        probe.locations = vec![location.clone()];
        strip_writable(&mut probe.options);
        build_listing(state, &probe).await?;
    }
    if dry_run {
        return Ok(Outcome::Message(format!(
            "would create external table {name} ({format} at {location})"
        )));
    }
    put(
        warehouse,
        ExternalTable {
            name: name.clone(),
            format: format.clone(),
            location: location.clone(),
            writable,
            statement: statement.to_string(),
        },
    )?;
    let access = if writable { "writable" } else { "read-only" };
    Ok(Outcome::Message(format!(
        "created external table {name}: {format} at {location} ({access}; recorded in {CATALOG_FILE})"
    )))
}

fn strip_writable(options: &mut HashMap<String, String>) {
    options.remove("writable");
    options.remove("format.writable");
}

/// Builds a non-Delta external table through DataFusion's own table factory for its format.
async fn build_listing(
    state: &SessionState,
    cmd: &CreateExternalTable,
) -> DfResult<Arc<dyn TableProvider>> {
    let format = cmd.file_type.to_ascii_uppercase();
    let factory = state.table_factories().get(&format).ok_or_else(|| {
        DataFusionError::Plan(format!(
            "external table {}: no reader for STORED AS {format}",
            cmd.name
        ))
    })?;
    factory.create(state, cmd).await
}

/// The external tables of one session's catalog, read from the warehouse at every lookup
/// (another process — the shell, a script — may have created or dropped one meanwhile).
pub struct ExternalTables {
    warehouse: Warehouse,
    /// The session, to replay `CREATE EXTERNAL TABLE` for non-Delta formats.
    session: SessionStore,
}

impl fmt::Debug for ExternalTables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalTables")
            .field("warehouse", &self.warehouse)
            .finish_non_exhaustive()
    }
}

fn df_err(e: Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

impl ExternalTables {
    pub fn new(warehouse: Warehouse) -> Self {
        Self {
            warehouse,
            session: SessionStore::new(),
        }
    }

    pub fn session_store(&self) -> &SessionStore {
        &self.session
    }

    /// Names of the recorded external tables (an unreadable catalog lists none; using a
    /// table then reports why).
    pub fn names(&self) -> Vec<String> {
        load(&self.warehouse)
            .map(|ts| ts.into_iter().map(|t| t.name).collect())
            .unwrap_or_default()
    }

    pub fn contains(&self, name: &str) -> bool {
        get(&self.warehouse, name).ok().flatten().is_some()
    }

    fn state(&self) -> DfResult<SessionState> {
        self.session
            .get_session()
            .upgrade()
            .and_then(|s| s.read().as_any().downcast_ref::<SessionState>().cloned())
            .ok_or_else(|| DataFusionError::Internal("session state is gone".into()))
    }

    /// The provider of the external table `name`, or None if there is no such table.
    pub async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if name == REPLAY_NAME {
            return Ok(None);
        }
        let Some(t) = get(&self.warehouse, name).map_err(df_err)? else {
            return Ok(None);
        };
        if t.is_delta() {
            let dir = PathBuf::from(&t.location);
            return delta_at(&dir).await.map(Some).map_err(|e| {
                DataFusionError::Plan(format!("external table '{name}' ({}): {e}", t.location))
            });
        }
        let state = self.state()?;
        let mut stmt = state.sql_to_statement(&t.statement, &Dialect::Generic)?;
        // Planned under a name no lookup resolves: planning resolves the statement's own
        // table name, which would come back here.
        if let DfStatement::CreateExternalTable(c) = &mut stmt {
            c.name = ObjectName::from(vec![Ident::new(REPLAY_NAME)]);
        }
        let plan = state.statement_to_plan(stmt).await?;
        let LogicalPlan::Ddl(DdlStatement::CreateExternalTable(mut cmd)) = plan else {
            return Err(DataFusionError::Plan(format!(
                "{}: the entry for '{name}' is not a CREATE EXTERNAL TABLE statement",
                catalog_path(&self.warehouse).display()
            )));
        };
        cmd.locations = vec![t.location.clone()];
        strip_writable(&mut cmd.options);
        build_listing(&state, &cmd).await.map(Some)
    }

    /// A file path used as a table (`SELECT * FROM 'dir/'`): a Delta table's directory is
    /// read through its log; a path inside or above a Delta table is refused; anything else
    /// is left to the file-table factory (None).
    pub async fn path_table(&self, written: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let Some((path, globbed)) = local_path_globbed(written) else {
            return Ok(None);
        };
        // A glob picks some of a table's files: never the table.
        let place = match delta_place(&path) {
            DeltaPlace::Root(r) if globbed => DeltaPlace::Inside(r),
            place => place,
        };
        match place {
            DeltaPlace::None => Ok(None),
            DeltaPlace::Root(dir) => delta_at(&dir).await.map(Some).map_err(df_err),
            place => Err(DataFusionError::Plan(
                loose_files_refused(written, &place, "Parquet")
                    .map(|e| e.to_string())
                    .unwrap_or_default(),
            )),
        }
    }
}

/// The latest version of the Delta table at `dir`, as a table provider.
pub async fn delta_at(dir: &Path) -> Result<Arc<dyn TableProvider>> {
    let table = open_delta(dir, &VersionSpec::Latest).await?;
    delta_provider(&table).await
}

/// `SHOW TABLES` lists external tables as `BASE TABLE` (DataFusion knows no other kind for
/// them); this marks them `EXTERNAL` in its `table_type` column.
pub fn mark_external(warehouse: &Warehouse, batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
    let external = load(warehouse)?;
    if external.is_empty() {
        return Ok(batches);
    }
    let mut out = Vec::with_capacity(batches.len());
    for b in batches {
        let schema = b.schema();
        let (Ok(name_at), Ok(type_at)) =
            (schema.index_of("table_name"), schema.index_of("table_type"))
        else {
            out.push(b);
            continue;
        };
        let names = b.column(name_at).as_any().downcast_ref::<StringArray>();
        let types = b.column(type_at).as_any().downcast_ref::<StringArray>();
        let (Some(names), Some(types)) = (names, types) else {
            out.push(b);
            continue;
        };
        let marked: StringArray = (0..b.num_rows())
            .map(|i| {
                if types.is_null(i) {
                    return None;
                }
                let is_ext = !names.is_null(i) && external.iter().any(|t| t.name == names.value(i));
                Some(if is_ext { "EXTERNAL" } else { types.value(i) }.to_string())
            })
            .collect();
        let mut cols: Vec<ArrayRef> = b.columns().to_vec();
        cols[type_at] = Arc::new(marked);
        out.push(RecordBatch::try_new(schema, cols)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mkdirs(root: &Path, dirs: &[&str]) {
        for d in dirs {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
    }

    #[test]
    fn paths_stand_to_delta_tables() {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        mkdirs(
            &root,
            &["lake/t/_delta_log", "lake/t/_change_data", "plain/sub"],
        );
        std::fs::write(root.join("lake/t/part-0.parquet"), b"").unwrap();
        let t = root.join("lake/t");
        assert_eq!(delta_place(&t), DeltaPlace::Root(t.clone()));
        assert_eq!(
            delta_place(&t.join("part-0.parquet")),
            DeltaPlace::Inside(t.clone())
        );
        assert_eq!(
            delta_place(&root.join("lake")),
            DeltaPlace::Holds(t.clone())
        );
        assert_eq!(delta_place(&root.join("plain")), DeltaPlace::None);
        assert_eq!(delta_place(&root.join("nothing")), DeltaPlace::None);

        let glob = format!("{}/lake/t/*.parquet", root.display());
        assert_eq!(local_path_globbed(&glob), Some((t.clone(), true)));
        let url = format!("file://{}/lake/t", root.display());
        assert_eq!(local_path(&url), Some(t));
        assert_eq!(local_path("s3://bucket/t"), None);
    }

    #[test]
    fn the_catalog_records_replaces_and_forgets() {
        let tmp = tempfile::tempdir().unwrap();
        let wh = Warehouse::open(tmp.path()).unwrap();
        assert!(load(&wh).unwrap().is_empty());
        let entry = |name: &str, location: &str| ExternalTable {
            name: name.into(),
            format: "DELTA".into(),
            location: location.into(),
            writable: false,
            statement: String::new(),
        };
        put(&wh, entry("b", "/x")).unwrap();
        put(&wh, entry("a", "/y")).unwrap();
        put(&wh, entry("b", "/z")).unwrap();
        let names: Vec<_> = load(&wh).unwrap().into_iter().map(|t| t.location).collect();
        assert_eq!(names, ["/y", "/z"]);
        assert_eq!(
            forget(&wh, "b").unwrap().map(|t| t.location),
            Some("/z".into())
        );
        assert_eq!(forget(&wh, "b").unwrap(), None);
        assert_eq!(load(&wh).unwrap().len(), 1);

        std::fs::write(catalog_path(&wh), "{ not json").unwrap();
        let err = load(&wh).unwrap_err().to_string();
        assert!(err.contains("external_tables.json:1:"), "{err}");
    }
}
