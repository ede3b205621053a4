//! The client side of `--cluster`: a read is planned here, its Delta scans swapped for
//! their pinned Parquet files, and the physical plan is submitted to Ballista's scheduler,
//! which splits it into stages for the executors. Rows come back as a stream.

use std::sync::Arc;

use ballista_core::execution_plans::execute_physical_plan;
use ballista_core::extension::SessionConfigExt;
use datafusion::common::tree_node::Transformed;
use datafusion::datasource::listing::ListingTable;
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion_proto::physical_plan::AsExecutionPlan;
use datafusion_proto::protobuf::PhysicalPlanNode;

use super::address::ClusterAddress;
use super::error::ClusterError;
use super::pinned::PinnedParquetTable;
use crate::catalog::SnapshotProvider;
use crate::error::{Error, Result};

/// A connection-less handle on a cluster: each read is one Ballista job.
#[derive(Debug)]
pub struct Cluster {
    address: ClusterAddress,
    /// One Ballista session per stockroom session (the scheduler keeps per-session state).
    session_id: String,
}

impl Cluster {
    pub fn connect(address: ClusterAddress) -> Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        Ok(Self {
            address,
            session_id: format!("stockroom-{}-{nanos}", std::process::id()),
        })
    }

    pub fn address(&self) -> &ClusterAddress {
        &self.address
    }

    /// Runs the read `plan` on the cluster. `None` when the plan is better run here: it reads
    /// no table, or holds something Ballista cannot ship (a catalog listing, a session's
    /// view of `information_schema`); such plans are small by nature. A Delta table the
    /// cluster cannot read faithfully is an error, never a silent local run.
    pub async fn execute(
        &self,
        state: &SessionState,
        plan: &LogicalPlan,
    ) -> Result<Option<SendableRecordBatchStream>> {
        let plan = match pin_delta_scans(plan)? {
            Pinned::Ship(plan) => plan,
            Pinned::NoTable => return Ok(None),
            Pinned::Local(table) => {
                tracing::info!("runs locally: reads '{table}', which lives in this process");
                return Ok(None);
            }
        };
        // Plan with Ballista's restrictions on DataFusion's options (no physical scalar
        // subqueries, …), as its own client would.
        let config = state.config().clone().upgrade_for_ballista();
        // Building a state with `create_default_catalog_and_schema` registers a fresh,
        // empty default catalog in the catalog list it shares with the session, hiding the
        // warehouse (and the session's temporary tables) from every later statement.
        let planning = SessionStateBuilder::new_from_existing(state.clone())
            .with_config(config.clone().with_create_default_catalog_and_schema(false))
            .build();
        let physical = planning.create_physical_plan(&plan).await?;
        let codec = config.ballista_physical_extension_codec();
        if let Err(e) = PhysicalPlanNode::try_from_physical_plan(physical.clone(), codec.as_ref()) {
            tracing::info!("runs locally, the cluster cannot take its plan: {e}");
            return Ok(None);
        }
        tracing::debug!(
            "submitting to {}: {}",
            self.address,
            datafusion::physical_plan::displayable(physical.as_ref()).one_line()
        );
        let stream = execute_physical_plan::<PhysicalPlanNode>(
            self.address.scheduler_url(),
            &config.ballista_config(),
            physical,
            codec.as_ref(),
            self.session_id.clone(),
            config,
        )
        .await
        .map_err(|e| self.failed(e))?;
        Ok(Some(stream))
    }

    /// The error of a query the cluster failed, naming the scheduler.
    pub fn failed(&self, e: datafusion::error::DataFusionError) -> Error {
        ClusterError::Query {
            address: self.address.to_string(),
            error: Box::new(e),
        }
        .into()
    }
}

/// What [`pin_delta_scans`] made of a plan.
enum Pinned {
    /// Every table it reads can be read on the executors.
    Ship(LogicalPlan),
    /// It reads no table (`SELECT 1`): not worth a job.
    NoTable,
    /// It reads a table that exists only in this process (a pipeline's raw batch, a
    /// temporary table, `information_schema`): shipping it would mean putting its rows in
    /// the plan, past the size of a gRPC message for any real batch.
    Local(String),
}

/// `plan` with every Delta table scan reading its snapshot's pinned Parquet files. Files
/// read by path (`'data/x.parquet'`) are read there as they are.
fn pin_delta_scans(plan: &LogicalPlan) -> Result<Pinned> {
    let mut scans = 0usize;
    let mut local: Option<String> = None;
    let mut refused: Option<Error> = None;
    let pinned = plan
        .clone()
        .transform_up_with_subqueries(|node| {
            let LogicalPlan::TableScan(scan) = &node else {
                return Ok(Transformed::no(node));
            };
            scans += 1;
            let provider = source_as_provider(&scan.source)?;
            let Some(delta) = provider.downcast_ref::<SnapshotProvider>() else {
                if provider.downcast_ref::<ListingTable>().is_none() {
                    local.get_or_insert_with(|| scan.table_name.to_string());
                }
                return Ok(Transformed::no(node));
            };
            let table =
                PinnedParquetTable::new(scan.table_name.table(), delta.table(), provider.schema());
            match table {
                Ok(t) => {
                    tracing::debug!(
                        "{}: {} pinned files for the cluster",
                        scan.table_name,
                        t.file_count()
                    );
                    let mut scan = scan.clone();
                    scan.source = provider_as_source(Arc::new(t));
                    Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
                }
                Err(e) => {
                    refused.get_or_insert(e);
                    Ok(Transformed::no(node))
                }
            }
        })?
        .data;
    if let Some(e) = refused {
        return Err(e);
    }
    Ok(match local {
        Some(table) => Pinned::Local(table),
        None if scans == 0 => Pinned::NoTable,
        None => Pinned::Ship(pinned),
    })
}
