//! `CREATE [OR REPLACE] TABLE name [PARTITIONED BY …] [TBLPROPERTIES …] AS <plan>`, or with a
//! column list (no rows, only the schema) — and the tables whose shape Rust code owns.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use deltalake::protocol::SaveMode;

use super::{open_target, table_url};
use crate::error::Result;
use crate::exec::error::ExecError;
use crate::exec::outcome::WriteReport;
use crate::exec::parquet_props::writer_properties;
use crate::exec::report::last_commit_report;
use crate::warehouse::Warehouse;

/// How CREATE TABLE treats an existing table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CreateMode {
    ErrorIfExists,
    IfNotExists,
    Replace,
}

/// Creates (or replaces) a warehouse table: set the options, then [`CreateTable::as_select`]
/// for SQL or [`CreateTable::empty_with_schema`] for a table whose columns Rust code owns.
pub struct CreateTable<'a> {
    warehouse: &'a Warehouse,
    name: String,
    mode: CreateMode,
    partition_by: Vec<String>,
    properties: BTreeMap<String, String>,
}

impl<'a> CreateTable<'a> {
    pub fn new(warehouse: &'a Warehouse, name: impl Into<String>) -> Self {
        Self {
            warehouse,
            name: name.into(),
            mode: CreateMode::ErrorIfExists,
            partition_by: Vec::new(),
            properties: BTreeMap::new(),
        }
    }

    pub fn with_mode(mut self, mode: CreateMode) -> Self {
        self.mode = mode;
        self
    }

    pub fn with_partition_columns(mut self, columns: Vec<String>) -> Self {
        self.partition_by = columns;
        self
    }

    /// `TBLPROPERTIES`; the change data feed is on unless these say otherwise.
    pub fn with_properties(mut self, properties: BTreeMap<String, String>) -> Self {
        self.properties = properties;
        self
    }

    /// `CREATE … TABLE name AS <input>` (a column list plans as an empty relation, in which
    /// case only the schema is written).
    pub async fn as_select(self, ctx: &SessionContext, input: LogicalPlan) -> Result<WriteReport> {
        let Self {
            warehouse,
            name,
            mode,
            partition_by,
            properties,
        } = self;
        let name = name.as_str();
        if crate::external::get(warehouse, name)?.is_some() {
            return Err(ExecError::NameIsExternal(name.to_string()).into());
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
            return Err(ExecError::TableExists(name.to_string()).into());
        }
        let schema = input.schema().as_arrow().clone();
        for p in &partition_by {
            if schema.field_with_name(p).is_err() {
                return Err(ExecError::UnknownPartitionColumn {
                    column: p.clone(),
                    columns: schema
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                }
                .into());
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

    /// Creates the empty table with `schema` (change data feed on, like every table
    /// stockroom creates) and opens it. For tables whose shape Rust code owns (the
    /// stream's). Fails if the table exists, whatever the mode.
    pub async fn empty_with_schema(self, schema: &Schema) -> Result<DeltaTable> {
        let table = DeltaTable::try_from_url(table_url(self.warehouse, &self.name)?).await?;
        create_empty(
            table,
            &self.name,
            schema,
            false,
            self.partition_by,
            self.properties,
        )
        .await?;
        open_target(self.warehouse, &self.name).await
    }
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

async fn create_empty(
    table: DeltaTable,
    name: &str,
    schema: &Schema,
    exists: bool,
    partition_by: Vec<String>,
    properties: BTreeMap<String, String>,
) -> Result<WriteReport> {
    use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
    let st: deltalake::kernel::StructType =
        schema.try_into_kernel().map_err(ExecError::DeltaTypes)?;
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
