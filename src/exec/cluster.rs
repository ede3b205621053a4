//! The executor's one switch point to a cluster (`--cluster`): reads go there when one is
//! attached; writes stay here, fed with the rows the cluster computed.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::Column;
use datafusion::datasource::{MemTable, provider_as_source};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, cast};
use futures::TryStreamExt;

use super::Executor;
use crate::cluster::{Cluster, ClusterAddress};
use crate::error::Result;

impl Executor {
    /// Sends this session's reads to the cluster at `address` from now on.
    pub fn with_cluster(mut self, address: ClusterAddress) -> Result<Self> {
        self.cluster = Some(Arc::new(Cluster::connect(address)?));
        Ok(self)
    }

    /// The cluster reads go to, if any.
    pub fn cluster(&self) -> Option<&Cluster> {
        self.cluster.as_deref()
    }

    /// Runs the read `plan` on the cluster: `None` without a cluster, for a statement that is
    /// not a read, or for a read the cluster cannot take (see [`Cluster::execute`]).
    pub(super) async fn read_on_cluster(
        &self,
        plan: &LogicalPlan,
    ) -> Result<Option<SendableRecordBatchStream>> {
        let Some(cluster) = &self.cluster else {
            return Ok(None);
        };
        if !is_read(plan) {
            return Ok(None);
        }
        cluster.execute(&self.ctx.state(), plan).await
    }

    /// Collects a cluster stream; a failure mid-stream (an executor lost) names the cluster.
    pub(super) async fn collect_cluster(
        &self,
        stream: SendableRecordBatchStream,
    ) -> Result<Vec<RecordBatch>> {
        let batches = stream.try_collect::<Vec<_>>().await;
        match (batches, &self.cluster) {
            (Ok(b), _) => Ok(b),
            (Err(e), Some(c)) => Err(c.failed(e)),
            (Err(e), None) => Err(e.into()),
        }
    }

    /// The input of a write (CREATE TABLE AS, INSERT): computed on the cluster when one is
    /// attached and handed back as a scan of its rows in memory, so the write itself — and
    /// the Delta commit — stays here. Unchanged otherwise.
    pub(super) async fn offload_input(&self, plan: LogicalPlan) -> Result<LogicalPlan> {
        let Some(stream) = self.read_on_cluster(&plan).await? else {
            return Ok(plan);
        };
        let batches = self.collect_cluster(stream).await?;
        rows_as_plan(&plan, batches)
    }
}

/// A scan of `batches` that gives exactly `plan`'s columns: same names, same types (the
/// physical batches can differ in details such as view or dictionary strings).
fn rows_as_plan(plan: &LogicalPlan, batches: Vec<RecordBatch>) -> Result<LogicalPlan> {
    let logical: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
    let schema = batches
        .first()
        .map(|b| b.schema())
        .unwrap_or_else(|| logical.clone());
    let table = MemTable::try_new(schema.clone(), vec![batches])?;
    let columns: Vec<Expr> = logical
        .fields()
        .iter()
        .zip(schema.fields())
        .map(|(want, have)| {
            let column = Expr::Column(Column::new_unqualified(have.name()));
            if want.data_type() == have.data_type() && want.name() == have.name() {
                column
            } else {
                cast(column, want.data_type().clone()).alias(want.name())
            }
        })
        .collect();
    Ok(
        LogicalPlanBuilder::scan("cluster_rows", provider_as_source(Arc::new(table)), None)?
            .project(columns)?
            .build()?,
    )
}

/// Statements whose plan is a query (what the cluster may run), not a write, a command or
/// an EXPLAIN.
fn is_read(plan: &LogicalPlan) -> bool {
    !matches!(
        plan,
        LogicalPlan::Ddl(_)
            | LogicalPlan::Dml(_)
            | LogicalPlan::Copy(_)
            | LogicalPlan::Statement(_)
            | LogicalPlan::Explain(_)
            | LogicalPlan::Analyze(_)
            | LogicalPlan::DescribeTable(_)
            | LogicalPlan::Extension(_)
    )
}
