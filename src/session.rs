//! Builds the one DataFusion session every front end shares: warehouse catalog, our UDFs,
//! the JSON functions, `CREATE EXTERNAL TABLE … STORED AS DELTA`, file URLs as tables and a
//! memory limit with spilling.

use std::sync::Arc;

use datafusion::datasource::dynamic_file::DynamicListTableFactory;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_session::SessionStore;
use deltalake::delta_datafusion::DeltaTableFactory;
use deltalake::delta_datafusion::planner::DeltaPlanner;

use crate::catalog::WarehouseSchema;
use crate::error::{Error, Result};
use crate::warehouse::Warehouse;

pub const CATALOG: &str = "stockroom";
pub const SCHEMA: &str = "public";

#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// Bytes of memory queries may use before spilling to disk (None: unlimited).
    pub memory_limit: Option<usize>,
    /// Target partitions (threads); None: number of cores.
    pub target_partitions: Option<usize>,
}

/// Parses `--memory-limit` values like `2G`, `512M`, `100000`.
pub fn parse_memory_limit(s: &str) -> Result<usize> {
    let t = s.trim();
    let (num, mult) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 1usize << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    num.trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n > 0.0)
        .map(|n| (n * mult as f64) as usize)
        .ok_or_else(|| Error::MemoryLimit(s.to_string()))
}

pub fn build_session(
    warehouse: &Warehouse,
    opts: &SessionOptions,
) -> Result<(SessionContext, Arc<WarehouseSchema>)> {
    let mut config = SessionConfig::new()
        .with_information_schema(true)
        .with_default_catalog_and_schema(CATALOG, SCHEMA)
        .with_create_default_catalog_and_schema(true)
        // deltalake's own workaround: hash-join IN-list pushdown can panic on dictionary
        // join keys (Delta partition columns are dictionaries), which MERGE hits.
        .set_usize("datafusion.optimizer.hash_join_inlist_pushdown_max_size", 0)
        .set_usize(
            "datafusion.optimizer.hash_join_inlist_pushdown_max_distinct_values",
            0,
        );
    if let Some(n) = opts.target_partitions {
        config = config.with_target_partitions(n.max(1));
    }
    if opts.memory_limit.is_some() {
        // A partial aggregate cannot spill: under memory pressure it emits what it holds, and
        // fails if its emptied table still exceeds its share. Over high-cardinality keys
        // (count(DISTINCT order_id) per category and day groups by order_id first) it buys
        // little; skip it there (DataFusion's default skips at 80% distinct groups).
        config = config.set_str(
            "datafusion.execution.skip_partial_aggregation_probe_ratio_threshold",
            "0.1",
        );
    }
    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(limit) = opts.memory_limit {
        // A fair pool: each spilling operator (a sort per partition) gets its share and
        // spills at it. With the default greedy pool one partition's sort took the whole
        // limit and the next one failed ("Failed to allocate") instead of spilling.
        use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
        let pool = TrackConsumersPool::new(
            FairSpillPool::new(limit),
            std::num::NonZeroUsize::new(5).unwrap_or(std::num::NonZeroUsize::MIN),
        );
        runtime = runtime.with_memory_pool(Arc::new(pool));
    }
    let runtime = runtime.build_arc()?;
    // A warehouse in a bucket: its Parquet files are read through the same object store.
    crate::storage::register_with(&runtime);
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        // deltalake's writes plan custom nodes (metrics observers, merge barriers) that only
        // its planner lowers; it extends DataFusion's default planner.
        .with_query_planner(DeltaPlanner::new())
        .with_table_factory("DELTA".into(), Arc::new(DeltaTableFactory {}))
        .with_table_factory("DELTATABLE".into(), Arc::new(DeltaTableFactory {}))
        .build();
    let mut ctx = SessionContext::new_with_state(state);

    let schema = Arc::new(WarehouseSchema::new(warehouse.clone()));
    let catalog = ctx
        .catalog(CATALOG)
        .ok_or(Error::Internal("the session's default catalog is missing"))?;
    catalog.register_schema(SCHEMA, schema.clone())?;
    let files = Arc::new(DynamicListTableFactory::new(SessionStore::new()));
    files.session_store().with_state(ctx.state_weak_ref());
    schema.set_file_tables(files);
    schema
        .external()
        .session_store()
        .with_state(ctx.state_weak_ref());

    stockroom_udfs::register_all(&ctx);
    datafusion_functions_json::register_all(&mut ctx)?;
    Ok((ctx, schema))
}
