//! SQL writes translated to deltalake operations, one builder each (write, merge, delete,
//! update). DataFusion plans these statements but its Delta provider executes none of them
//! except INSERT; here each one becomes exactly one atomic Delta commit.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    self, AssignmentTarget, Expr, FromTable, MergeAction, MergeClauseKind, MergeInsertKind,
    ObjectName, TableFactor,
};
use deltalake::DeltaTable;
use deltalake::protocol::SaveMode;
use url::Url;

use crate::error::{Error, Result};
use crate::exec::outcome::WriteReport;
use crate::exec::parquet_props::writer_properties;
use crate::exec::report::last_commit_report;
use crate::exec::subquery;
use crate::warehouse::{Warehouse, valid_table_name};

/// Last part of a possibly qualified name, normalised like DataFusion does (unquoted →
/// lower case).
pub fn object_name(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| {
            if i.quote_style.is_some() {
                i.value.clone()
            } else {
                i.value.to_ascii_lowercase()
            }
        })
        .unwrap_or_default()
}

fn table_url(warehouse: &Warehouse, name: &str) -> Result<Url> {
    if !valid_table_name(name) {
        return Err(Error::Invalid(format!(
            "'{name}' is not a valid table name (letters, digits, _ and -)"
        )));
    }
    let dir = warehouse.table_dir(name);
    crate::storage::create_dir_all(&dir)?;
    crate::storage::dir_url(&dir)
}

/// Opens a table for writing: a warehouse table, or an external Delta table created
/// writable; says why not otherwise (no such table, an external table of another engine).
pub async fn open_target(warehouse: &Warehouse, name: &str) -> Result<DeltaTable> {
    crate::external::open_writable(warehouse, name).await
}

/// How CREATE TABLE treats an existing table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CreateMode {
    ErrorIfExists,
    IfNotExists,
    Replace,
}

/// `CREATE [OR REPLACE] TABLE name [PARTITIONED BY …] AS <plan>` (or with a column list, in
/// which case `input` produces no rows and only the schema is written).
pub async fn create_table(
    ctx: &SessionContext,
    warehouse: &Warehouse,
    name: &str,
    input: LogicalPlan,
    mode: CreateMode,
    partition_by: Vec<String>,
    properties: BTreeMap<String, String>,
) -> Result<WriteReport> {
    if crate::external::get(warehouse, name)?.is_some() {
        return Err(Error::Invalid(format!(
            "'{name}' is an external table; choose another name for the warehouse table \
             (or DROP TABLE {name} first: that forgets the external table, its data stays)"
        )));
    }
    let exists = warehouse.is_table(name);
    if exists && mode == CreateMode::IfNotExists {
        return Ok(WriteReport {
            operation: "CREATE TABLE (exists, skipped)".into(),
            table: name.into(),
            version: open_target(warehouse, name).await?.version().unwrap_or(0),
            ..Default::default()
        });
    }
    if exists && mode == CreateMode::ErrorIfExists {
        return Err(Error::Invalid(format!(
            "table '{name}' already exists; use CREATE OR REPLACE TABLE to overwrite it or INSERT INTO to append"
        )));
    }
    let schema = input.schema().as_arrow().clone();
    for p in &partition_by {
        if schema.field_with_name(p).is_err() {
            return Err(Error::Invalid(format!(
                "PARTITIONED BY column '{p}' is not a column of the table (columns: {})",
                schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let table = DeltaTable::try_from_url(table_url(warehouse, name)?).await?;
    if let LogicalPlan::EmptyRelation(e) = &input
        && !e.produce_one_row
    {
        // `CREATE TABLE t (col type, …)`: no rows to write, so create the table from its
        // schema (deltalake refuses a write with no data).
        return create_empty(table, name, &schema, exists, partition_by, properties).await;
    }
    let mut builder = table
        .write(Vec::new())
        .with_input_plan(input)
        .with_session_state(Arc::new(ctx.state()))
        .with_writer_properties(writer_properties())
        .with_save_mode(if exists {
            SaveMode::Overwrite
        } else {
            SaveMode::ErrorIfExists
        })
        .with_table_name(name);
    if !exists {
        builder = builder.with_configuration(table_config(properties));
    } else {
        builder = builder.with_schema_mode(deltalake::operations::write::SchemaMode::Overwrite);
    }
    // Always set, even when empty: OR REPLACE replaces the partitioning too.
    builder = builder.with_partition_columns(partition_by);
    let table = builder.await?;
    let mut report = last_commit_report(&table, name).await?;
    report.operation = if exists {
        "CREATE OR REPLACE TABLE"
    } else {
        "CREATE TABLE"
    }
    .into();
    Ok(report)
}

/// Table properties for a new table: the change data feed is on unless the user says
/// otherwise, so `table_changes()` works on every table stockroom creates.
fn table_config(properties: BTreeMap<String, String>) -> HashMap<String, Option<String>> {
    let mut config = HashMap::from([(
        "delta.enableChangeDataFeed".to_string(),
        Some("true".to_string()),
    )]);
    for (k, v) in properties {
        config.insert(k, Some(v));
    }
    config
}

/// Creates the empty table `name` with `schema` (change data feed on, like every table
/// stockroom creates) and opens it. For tables whose shape Rust code owns (the stream's).
pub async fn create_with_schema(
    warehouse: &Warehouse,
    name: &str,
    schema: &datafusion::arrow::datatypes::Schema,
    partition_by: Vec<String>,
) -> Result<DeltaTable> {
    let table = DeltaTable::try_from_url(table_url(warehouse, name)?).await?;
    create_empty(table, name, schema, false, partition_by, BTreeMap::new()).await?;
    open_target(warehouse, name).await
}

async fn create_empty(
    table: DeltaTable,
    name: &str,
    schema: &datafusion::arrow::datatypes::Schema,
    exists: bool,
    partition_by: Vec<String>,
    properties: BTreeMap<String, String>,
) -> Result<WriteReport> {
    use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
    let st: deltalake::kernel::StructType = schema
        .try_into_kernel()
        .map_err(|e| Error::Invalid(format!("cannot store these column types in Delta: {e}")))?;
    let mut b = table
        .create()
        .with_columns(st.fields().cloned())
        .with_table_name(name)
        .with_configuration(table_config(properties))
        .with_save_mode(if exists {
            SaveMode::Overwrite
        } else {
            SaveMode::ErrorIfExists
        });
    if !partition_by.is_empty() {
        b = b.with_partition_columns(partition_by);
    }
    let table = b.await?;
    Ok(WriteReport {
        operation: "CREATE TABLE".into(),
        table: name.into(),
        version: table.version().unwrap_or(0),
        ..Default::default()
    })
}

/// `DELETE FROM t [WHERE …]`.
pub async fn delete(
    ctx: &SessionContext,
    warehouse: &Warehouse,
    stmt: ast::Delete,
) -> Result<WriteReport> {
    let tables = match &stmt.from {
        FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
    };
    if tables.len() != 1 || stmt.using.is_some() || !tables[0].joins.is_empty() {
        return Err(Error::Unsupported(
            "DELETE with several tables, USING or joins; supported: DELETE FROM t [WHERE …] (use MERGE … WHEN MATCHED THEN DELETE to delete by a join)".into(),
        ));
    }
    let name = factor_name(&tables[0].relation)?;
    let table = open_target(warehouse, &name).await?;
    let mut builder = table
        .delete()
        .with_session_state(Arc::new(ctx.state()))
        .with_writer_properties(writer_properties());
    if let Some(pred) = stmt.selection {
        builder = builder.with_predicate(subquery::resolve(ctx, pred).await?);
    }
    let (table, m) = builder.await?;
    Ok(WriteReport {
        operation: "DELETE".into(),
        table: name,
        version: table.version().unwrap_or(0),
        rows_deleted: m.num_deleted_rows.unwrap_or(0) as u64,
        files_added: m.num_added_files as u64,
        files_removed: m.num_removed_files as u64,
        ..Default::default()
    })
}

/// `UPDATE t SET c = expr, … [WHERE …]`.
pub async fn update(
    ctx: &SessionContext,
    warehouse: &Warehouse,
    stmt: ast::Update,
) -> Result<WriteReport> {
    if stmt.from.is_some() || !stmt.table.joins.is_empty() {
        return Err(Error::Unsupported(
            "UPDATE … FROM / joins; supported: UPDATE t SET c = expr [WHERE …] (use MERGE to update from another table)".into(),
        ));
    }
    let name = factor_name(&stmt.table.relation)?;
    let table = open_target(warehouse, &name).await?;
    let mut builder = table
        .update()
        .with_session_state(Arc::new(ctx.state()))
        .with_writer_properties(writer_properties());
    for a in stmt.assignments {
        let col = match a.target {
            AssignmentTarget::ColumnName(c) => object_name(&c),
            AssignmentTarget::Tuple(_) => {
                return Err(Error::Unsupported(
                    "UPDATE SET (a, b) = …; write one assignment per column".into(),
                ));
            }
        };
        builder = builder.with_update(col, subquery::resolve(ctx, a.value).await?);
    }
    if let Some(pred) = stmt.selection {
        builder = builder.with_predicate(subquery::resolve(ctx, pred).await?);
    }
    let (table, m) = builder.await?;
    Ok(WriteReport {
        operation: "UPDATE".into(),
        table: name,
        version: table.version().unwrap_or(0),
        rows_updated: m.num_updated_rows as u64,
        files_added: m.num_added_files as u64,
        files_removed: m.num_removed_files as u64,
        ..Default::default()
    })
}

fn factor_name(f: &TableFactor) -> Result<String> {
    match f {
        TableFactor::Table { name, .. } => Ok(object_name(name)),
        other => Err(Error::Unsupported(format!(
            "'{other}' as a write target; name a warehouse table"
        ))),
    }
}

fn factor_alias(f: &TableFactor) -> Option<String> {
    match f {
        TableFactor::Table { alias, .. } | TableFactor::Derived { alias, .. } => {
            alias.as_ref().map(|a| a.name.value.clone())
        }
        _ => None,
    }
}

/// Marker the statement layer puts in place of `UPDATE SET *` (sqlparser has no such form).
pub const SET_ALL_MARKER: &str = "__stockroom_set_all";

/// `MERGE INTO t USING src ON … WHEN …`.
pub async fn merge(
    ctx: &SessionContext,
    warehouse: &Warehouse,
    stmt: ast::Merge,
) -> Result<WriteReport> {
    let name = factor_name(&stmt.table)?;
    let target_alias = factor_alias(&stmt.table).unwrap_or_else(|| name.clone());
    let table = open_target(warehouse, &name).await?;
    let target_cols: Vec<String> = table
        .snapshot()?
        .snapshot()
        .arrow_schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();

    let (source_sql, default_alias) = match &stmt.source {
        TableFactor::Table { name, .. } => (format!("SELECT * FROM {name}"), object_name(name)),
        TableFactor::Derived { subquery, .. } => (subquery.to_string(), "source".to_string()),
        other => {
            return Err(Error::Unsupported(format!(
                "MERGE source '{other}'; use a table name or a (subquery)"
            )));
        }
    };
    let source_alias = factor_alias(&stmt.source).unwrap_or(default_alias);
    if source_alias == target_alias {
        return Err(Error::Invalid(format!(
            "MERGE source and target are both called '{source_alias}'; give one an alias"
        )));
    }
    if table.snapshot()?.log_data().num_files() == 0
        && let Some(report) = merge_into_empty(
            ctx,
            &table,
            &name,
            &stmt.clauses,
            &source_sql,
            &source_alias,
        )
        .await?
    {
        return Ok(report);
    }
    let source = ctx.sql(&source_sql).await?;
    let source_cols: Vec<String> = source
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let s = |c: &str| format!("{source_alias}.\"{}\"", c.replace('"', "\"\""));

    let mut builder = table
        .merge(source, stmt.on.to_string())
        .with_source_alias(source_alias.clone())
        .with_target_alias(target_alias.clone())
        .with_session_state(Arc::new(ctx.state()))
        .with_writer_properties(writer_properties());

    for clause in stmt.clauses {
        // deltalake parses clause predicates on its own: subqueries (e.g. `t.date IN (SELECT
        // …)` to limit a BY SOURCE delete to the dates a batch touched) are evaluated first.
        let pred = match clause.predicate {
            Some(p) => Some(subquery::resolve(ctx, p).await?),
            None => None,
        };
        match (clause.clause_kind, clause.action) {
            (MergeClauseKind::Matched, MergeAction::Update(u)) => {
                let sets = assignments(&u.assignments, &target_cols, &source_cols, &s)?;
                builder = builder.when_matched_update(|mut b| {
                    for (c, v) in sets {
                        b = b.update(c, v);
                    }
                    if let Some(p) = pred {
                        b = b.predicate(p);
                    }
                    b
                })?;
            }
            (MergeClauseKind::Matched, MergeAction::Delete { .. }) => {
                builder = builder.when_matched_delete(|mut b| {
                    if let Some(p) = pred {
                        b = b.predicate(p);
                    }
                    b
                })?;
            }
            (
                MergeClauseKind::NotMatched | MergeClauseKind::NotMatchedByTarget,
                MergeAction::Insert(ins),
            ) => {
                let cols: Vec<String> = if ins.columns.is_empty() {
                    target_cols.clone()
                } else {
                    ins.columns.iter().map(object_name).collect()
                };
                let values: Vec<String> = match ins.kind {
                    MergeInsertKind::Row => {
                        for c in &cols {
                            if !source_cols.contains(c) {
                                return Err(Error::Invalid(format!(
                                    "INSERT *: target column '{c}' is not a column of the MERGE source"
                                )));
                            }
                        }
                        cols.iter().map(|c| s(c)).collect()
                    }
                    MergeInsertKind::Values(v) => {
                        let row: Vec<Expr> = v
                            .rows
                            .into_iter()
                            .next()
                            .map(|r| r.content)
                            .unwrap_or_default();
                        if row.len() != cols.len() {
                            return Err(Error::Invalid(format!(
                                "MERGE INSERT has {} columns but {} values",
                                cols.len(),
                                row.len()
                            )));
                        }
                        row.iter().map(|e| e.to_string()).collect()
                    }
                };
                builder = builder.when_not_matched_insert(|mut b| {
                    for (c, v) in cols.into_iter().zip(values) {
                        b = b.set(c, v);
                    }
                    if let Some(p) = pred {
                        b = b.predicate(p);
                    }
                    b
                })?;
            }
            (MergeClauseKind::NotMatchedBySource, MergeAction::Update(u)) => {
                let sets = assignments(&u.assignments, &target_cols, &source_cols, &s)?;
                builder = builder.when_not_matched_by_source_update(|mut b| {
                    for (c, v) in sets {
                        b = b.update(c, v);
                    }
                    if let Some(p) = pred {
                        b = b.predicate(p);
                    }
                    b
                })?;
            }
            (MergeClauseKind::NotMatchedBySource, MergeAction::Delete { .. }) => {
                builder = builder.when_not_matched_by_source_delete(|mut b| {
                    if let Some(p) = pred {
                        b = b.predicate(p);
                    }
                    b
                })?;
            }
            (kind, action) => {
                return Err(Error::Unsupported(format!(
                    "WHEN {kind} THEN {action}; supported: WHEN MATCHED THEN UPDATE|DELETE, WHEN NOT MATCHED THEN INSERT, WHEN NOT MATCHED BY SOURCE THEN UPDATE|DELETE"
                )));
            }
        }
    }
    let (table, m) = builder.await?;
    Ok(WriteReport {
        operation: "MERGE".into(),
        table: name,
        version: table.version().unwrap_or(0),
        rows_inserted: m.num_target_rows_inserted as u64,
        rows_updated: m.num_target_rows_updated as u64,
        rows_deleted: m.num_target_rows_deleted as u64,
        files_added: m.num_target_files_added as u64,
        files_removed: m.num_target_files_removed as u64,
    })
}

/// A MERGE into a table without rows can only insert: every source row is "not matched" and no
/// target row exists for the other clauses. When its one insert clause is `INSERT *`, it is
/// written as an append of the (filtered) source, which skips the join — a pipeline's first
/// load of millions of rows is several times faster. `None`: take the general path.
async fn merge_into_empty(
    ctx: &SessionContext,
    table: &DeltaTable,
    name: &str,
    clauses: &[ast::MergeClause],
    source_sql: &str,
    source_alias: &str,
) -> Result<Option<WriteReport>> {
    let inserts: Vec<&ast::MergeClause> = clauses
        .iter()
        .filter(|c| {
            matches!(
                c.clause_kind,
                MergeClauseKind::NotMatched | MergeClauseKind::NotMatchedByTarget
            )
        })
        .collect();
    let [clause] = inserts.as_slice() else {
        return Ok(None);
    };
    let MergeAction::Insert(ins) = &clause.action else {
        return Ok(None);
    };
    if !ins.columns.is_empty() || !matches!(ins.kind, MergeInsertKind::Row) {
        return Ok(None);
    }
    let filter = match &clause.predicate {
        Some(p) => format!(" WHERE {}", subquery::resolve(ctx, p.clone()).await?),
        None => String::new(),
    };
    let source = ctx
        .sql(&format!(
            "SELECT * FROM ({source_sql}) AS \"{}\"{filter}",
            source_alias.replace('"', "\"\"")
        ))
        .await?;
    let target = table.snapshot()?.snapshot().arrow_schema();
    let mut exprs = Vec::new();
    for f in target.fields() {
        if source
            .schema()
            .field_with_unqualified_name(f.name())
            .is_err()
        {
            return Err(Error::Invalid(format!(
                "INSERT *: target column '{}' is not a column of the MERGE source",
                f.name()
            )));
        }
        exprs.push(
            datafusion::prelude::cast(datafusion::prelude::ident(f.name()), f.data_type().clone())
                .alias(f.name()),
        );
    }
    let plan = source.select(exprs)?.into_unoptimized_plan();
    let table = table
        .clone()
        .write(Vec::new())
        .with_input_plan(plan)
        .with_session_state(Arc::new(ctx.state()))
        .with_writer_properties(writer_properties())
        .with_save_mode(SaveMode::Append)
        .await?;
    let mut report = last_commit_report(&table, name).await?;
    report.operation = "MERGE".into();
    Ok(Some(report))
}

/// `SET c = v, …` (or `SET *`) as (column, expression) pairs.
fn assignments(
    list: &[ast::Assignment],
    target_cols: &[String],
    source_cols: &[String],
    s: &dyn Fn(&str) -> String,
) -> Result<Vec<(String, String)>> {
    let set_all = list.iter().any(|a| {
        matches!(&a.target, AssignmentTarget::ColumnName(c) if object_name(c) == SET_ALL_MARKER)
    });
    if set_all {
        return Ok(target_cols
            .iter()
            .filter(|c| source_cols.contains(c))
            .map(|c| (c.clone(), s(c)))
            .collect());
    }
    list.iter()
        .map(|a| match &a.target {
            AssignmentTarget::ColumnName(c) => Ok((object_name(c), a.value.to_string())),
            AssignmentTarget::Tuple(_) => Err(Error::Unsupported(
                "SET (a, b) = …; write one assignment per column".into(),
            )),
        })
        .collect()
}
