//! Scale-out on Apache DataFusion Ballista: `stockroom cluster scheduler|executor` and
//! `--cluster df://HOST:PORT`.
//!
//! What runs where: the client (any front end with `--cluster`) parses, plans and
//! optimizes every statement as without a cluster. A read — a query, or the SELECT feeding
//! CREATE TABLE AS, INSERT or a temporary table — has its Delta scans replaced by the
//! statement's pinned Parquet files ([`pinned`]) and its physical plan submitted to the
//! scheduler, which cuts it into stages for the executors. The rows stream back to the
//! client, which commits writes to Delta itself (one writer path for the Delta log).
//! MERGE, UPDATE, DELETE and maintenance commands run in the client.
//!
//! Ballista is behind the `cluster` cargo feature (it adds tonic, Arrow Flight and its
//! protobufs to the build); without it `--cluster` says how to get it.

pub mod address;
pub mod error;

#[cfg(feature = "cluster")]
mod client;
#[cfg(feature = "cluster")]
pub mod nodes;
#[cfg(feature = "cluster")]
mod pinned;

pub use address::ClusterAddress;
#[cfg(feature = "cluster")]
pub use client::Cluster;

/// Without the `cluster` feature: a cluster can be named but never reached.
#[cfg(not(feature = "cluster"))]
#[derive(Debug)]
pub struct Cluster {
    _never: std::convert::Infallible,
}

#[cfg(not(feature = "cluster"))]
impl Cluster {
    pub fn connect(address: ClusterAddress) -> crate::error::Result<Self> {
        Err(error::ClusterError::NotBuilt(format!("--cluster {address}")).into())
    }

    pub async fn execute(
        &self,
        _state: &datafusion::execution::context::SessionState,
        _plan: &datafusion::logical_expr::LogicalPlan,
    ) -> crate::error::Result<Option<datafusion::execution::SendableRecordBatchStream>> {
        match self._never {}
    }

    pub fn failed(&self, _e: datafusion::error::DataFusionError) -> crate::error::Error {
        match self._never {}
    }
}
