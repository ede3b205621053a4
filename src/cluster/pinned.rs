//! A Delta table as the cluster reads it: the pinned list of Parquet files of one snapshot,
//! with their partition values, scanned by DataFusion's own Parquet scan.
//!
//! deltalake 1.1's scan has no physical codec (delta-rs#4171), so a plan holding it cannot be
//! sent to Ballista's executors. A `DataSourceExec` over a `FileScanConfig` can: Ballista's
//! default codec ships it, files, partition values and predicate included. The file list is
//! the statement's snapshot, fixed when the statement was planned, so every executor reads
//! the same version whatever commits meanwhile.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, FieldRef, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::object_store::ObjectStoreUrl;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::Expr;
use deltalake::DeltaTable;
use url::Url;

use super::error::ClusterError;
use crate::error::Result;

/// One data file of the snapshot: where it is and its partition values (in the order of
/// [`PinnedParquetTable::partition_fields`]).
#[derive(Debug, Clone)]
struct PinnedFile {
    path: object_store::path::Path,
    size: u64,
    partition_values: Vec<ScalarValue>,
}

/// A table provider over the files of one Delta snapshot.
#[derive(Debug)]
pub struct PinnedParquetTable {
    /// The columns in the order the statement was planned with (deltalake's provider schema).
    schema: SchemaRef,
    /// The data columns (the table's columns minus the partition columns), table order.
    file_schema: SchemaRef,
    /// The partition columns, in the table's order.
    partition_fields: Vec<FieldRef>,
    /// `file://` or `s3://bucket`: the store the executors resolve the paths in.
    store_url: ObjectStoreUrl,
    files: Vec<PinnedFile>,
}

impl PinnedParquetTable {
    /// The files of `table`'s loaded snapshot. `schema` is the schema the statement was
    /// planned with (deltalake's provider's), which this provider must reproduce exactly.
    /// Refuses tables whose deletion vectors or column mapping a plain file scan would
    /// silently get wrong.
    pub fn new(name: &str, table: &DeltaTable, schema: SchemaRef) -> Result<Self> {
        let snapshot = table.snapshot()?;
        let config = snapshot.metadata().configuration();
        if let Some(mode) = config.get("delta.columnMapping.mode")
            && !mode.eq_ignore_ascii_case("none")
        {
            return Err(ClusterError::UnsupportedTable {
                table: name.to_string(),
                feature: format!("column mapping (delta.columnMapping.mode = {mode})"),
            }
            .into());
        }
        let partition_columns: Vec<String> = snapshot.metadata().partition_columns().to_vec();
        let partition_fields: Vec<FieldRef> = partition_columns
            .iter()
            .map(|c| {
                schema
                    .field_with_name(c)
                    .map(|f| Arc::new(f.clone()))
                    .map_err(|_| ClusterError::BadFile {
                        table: name.to_string(),
                        file: "_delta_log".into(),
                        reason: format!("partition column '{c}' is not a column of the table"),
                    })
            })
            .collect::<std::result::Result<_, _>>()?;
        let file_schema = Arc::new(Schema::new(
            schema
                .fields()
                .iter()
                .filter(|f| !partition_columns.contains(f.name()))
                .cloned()
                .collect::<Vec<_>>(),
        ));

        let root = table.table_url().clone();
        let store_url = store_url_of(&root).map_err(|reason| ClusterError::BadFile {
            table: name.to_string(),
            file: root.to_string(),
            reason,
        })?;
        let mut files = Vec::new();
        for f in snapshot.log_data().iter() {
            let path = f.path().to_string();
            let bad = |reason: String| ClusterError::BadFile {
                table: name.to_string(),
                file: path.clone(),
                reason,
            };
            if f.deletion_vector_descriptor().is_some() {
                return Err(ClusterError::UnsupportedTable {
                    table: name.to_string(),
                    feature: format!("deletion vectors (file {path} has one)"),
                }
                .into());
            }
            let raw = f.partition_values_map();
            let partition_values = partition_fields
                .iter()
                .map(|field| partition_value(raw.get(field.name()), field.data_type()))
                .collect::<DfResult<Vec<_>>>()
                .map_err(|e| bad(e.to_string()))?;
            files.push(PinnedFile {
                path: object_path(&root, &path).map_err(bad)?,
                size: u64::try_from(f.size()).unwrap_or(0),
                partition_values,
            });
        }
        Ok(Self {
            schema,
            file_schema,
            partition_fields,
            store_url,
            files,
        })
    }

    /// Number of files the scan reads (for logs and tests).
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// The table schema of the file scan: data columns, then partition columns.
    fn table_schema(&self) -> TableSchema {
        TableSchema::builder(self.file_schema.clone())
            .with_table_partition_cols(self.partition_fields.clone())
            .build()
    }

    /// Where column `i` of [`Self::schema`] sits in the file scan's output.
    fn scan_index(&self, scan_schema: &Schema, i: usize) -> DfResult<usize> {
        scan_schema
            .index_of(self.schema.field(i).name())
            .map_err(|e| DataFusionError::Internal(format!("pinned Delta scan lost a column: {e}")))
    }
}

/// A Delta partition value (text in the log, `None` for null) as a typed scalar.
fn partition_value(raw: Option<&Option<String>>, data_type: &DataType) -> DfResult<ScalarValue> {
    match raw {
        Some(Some(text)) => ScalarValue::try_from_string(text.clone(), data_type),
        _ => ScalarValue::try_new_null(data_type),
    }
}

/// `file://` for a local table, `s3://bucket` for one in a bucket.
fn store_url_of(root: &Url) -> std::result::Result<ObjectStoreUrl, String> {
    let text = match root.scheme() {
        "file" => "file://".to_string(),
        scheme => format!("{scheme}://{}", root.host_str().unwrap_or_default()),
    };
    ObjectStoreUrl::parse(&text).map_err(|e| e.to_string())
}

/// A data file's key in its store: `path` is relative to the table root (or, rarely, a full
/// URL of its own, which Delta allows).
fn object_path(root: &Url, path: &str) -> std::result::Result<object_store::path::Path, String> {
    let url = match Url::parse(path) {
        Ok(u) => u,
        Err(_) => {
            let mut base = root.clone();
            if !base.path().ends_with('/') {
                base.set_path(&format!("{}/", base.path()));
            }
            base.join(path).map_err(|e| e.to_string())?
        }
    };
    object_store::path::Path::from_url_path(url.path()).map_err(|e| e.to_string())
}

#[async_trait]
impl TableProvider for PinnedParquetTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let table_schema = self.table_schema();
        let scan_schema = table_schema.table_schema().clone();
        let mut source = ParquetSource::new(table_schema)
            .with_table_parquet_options(state.table_options().parquet.clone());
        // The filters prune row groups and pages; DataFusion still applies them above the
        // scan (pushdown is Inexact), so a file that cannot prune loses nothing.
        if let Some(predicate) = conjunction(filters.iter().cloned()) {
            let df_schema = DFSchema::try_from(scan_schema.as_ref().clone())?;
            let predicate = state.create_physical_expr(predicate, &df_schema)?;
            source = source.with_predicate(predicate);
        }
        let indices: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.schema.fields().len()).collect(),
        };
        let indices = indices
            .into_iter()
            .map(|i| self.scan_index(&scan_schema, i))
            .collect::<DfResult<Vec<_>>>()?;

        let groups = state.config().target_partitions().max(1);
        let mut buckets: Vec<(u64, Vec<PartitionedFile>)> = vec![(0, Vec::new()); groups];
        let mut files = self.files.clone();
        // Largest first into the lightest group: even groups, the same for a given snapshot.
        files.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.path.cmp(&b.path)));
        for f in files {
            let (bytes, group) = buckets
                .iter_mut()
                .min_by_key(|(bytes, _)| *bytes)
                .ok_or_else(|| DataFusionError::Internal("no file group".into()))?;
            *bytes += f.size;
            group.push(
                PartitionedFile::new(f.path.to_string(), f.size)
                    .with_partition_values(f.partition_values),
            );
        }
        let file_groups: Vec<FileGroup> = buckets
            .into_iter()
            .filter(|(_, g)| !g.is_empty())
            .map(|(_, g)| FileGroup::new(g))
            .collect();
        let config = FileScanConfigBuilder::new(self.store_url.clone(), Arc::new(source))
            .with_file_groups(file_groups)
            .with_limit(limit)
            .with_projection_indices(Some(indices))?
            .build();
        Ok(DataSourceExec::from_data_source(config))
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }
}
