//! `stockroom cluster scheduler` and `stockroom cluster executor`: Ballista's scheduler and
//! executor run inside our binary, so both know stockroom's UDFs and aggregates and the JSON
//! functions (a plan naming them decodes), and read the warehouse's object store.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::{JobId, RuntimeProducer};
use ballista_executor::execution_engine::{
    DefaultExecutionEngine, ExecutionEngine, QueryStageExecutor,
};
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use datafusion::execution::context::SessionState;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};

use super::address::ClusterAddress;
use super::error::ClusterError;
use crate::error::Result;

/// How often executors report to the scheduler, and how long the scheduler waits for a
/// silent one before it takes the executor's tasks elsewhere. Ballista's defaults (60 s and
/// 180 s) leave a query waiting three minutes on a dead executor; these notice in ~20 s.
const HEARTBEAT_SECONDS: u64 = 5;
const EXECUTOR_TIMEOUT_SECONDS: u64 = 20;

/// Runs a scheduler on `listen` until the process is stopped.
pub async fn run_scheduler(listen: SocketAddr) -> Result<()> {
    let failed = |error: String| ClusterError::Node {
        role: "scheduler",
        listen: listen.to_string(),
        error,
    };
    let mut config = SchedulerConfig::default()
        .with_hostname(listen.ip().to_string())
        .with_port(listen.port())
        .with_override_session_builder(Arc::new(scheduler_session));
    config.bind_host = listen.ip().to_string();
    config.executor_timeout_seconds = EXECUTOR_TIMEOUT_SECONDS;
    config.expire_dead_executor_interval_seconds = HEARTBEAT_SECONDS;
    config.no_executors_grace_period_seconds = EXECUTOR_TIMEOUT_SECONDS;
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| failed(e.to_string()))?;
    tracing::info!("Ballista scheduler listening on {listen}");
    start_server(cluster, listen, Arc::new(config))
        .await
        .map_err(|e| failed(e.to_string()))?;
    Ok(())
}

/// Where an executor listens and which scheduler it serves.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    pub scheduler: ClusterAddress,
    /// Arrow Flight (shuffle data) on this address.
    pub listen: SocketAddr,
    /// The executor's gRPC (task) port on the same host.
    pub grpc_port: u16,
    /// Tasks run at once (Ballista's vcores).
    pub concurrency: usize,
}

/// Runs an executor until the process is stopped.
pub async fn run_executor(opts: ExecutorOptions) -> Result<()> {
    let registry = function_registry().map_err(|e| ClusterError::Node {
        role: "executor",
        listen: opts.listen.to_string(),
        error: e.to_string(),
    })?;
    let runtime: RuntimeProducer = Arc::new(|_config: &SessionConfig| executor_runtime());
    let host = opts.listen.ip().to_string();
    let config = ExecutorProcessConfig {
        bind_host: host.clone(),
        external_host: Some(host),
        port: opts.listen.port(),
        grpc_port: opts.grpc_port,
        scheduler_host: opts.scheduler.host.clone(),
        scheduler_port: opts.scheduler.port,
        scheduler_connect_timeout_seconds: 30,
        vcores: opts.concurrency.max(1),
        executor_heartbeat_interval_seconds: HEARTBEAT_SECONDS,
        print_thread_info: false,
        override_function_registry: Some(Arc::new(registry)),
        override_runtime_producer: Some(runtime),
        override_execution_engine: Some(Arc::new(LoggedEngine::default())),
        ..Default::default()
    };
    tracing::info!(
        "Ballista executor {} on {} (tasks on port {}), scheduler {}",
        config.executor_id,
        opts.listen,
        opts.grpc_port,
        opts.scheduler
    );
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| ClusterError::Node {
            role: "executor",
            listen: opts.listen.to_string(),
            error: e.to_string(),
        })?;
    Ok(())
}

/// Registers stockroom's UDFs, aggregates and the JSON functions on a Ballista state.
fn with_stockroom_functions(state: SessionState) -> datafusion::error::Result<SessionState> {
    let mut ctx = SessionContext::new_with_state(state);
    stockroom_udfs::register_all(&ctx);
    datafusion_functions_json::register_all(&mut ctx)?;
    Ok(ctx.state())
}

/// The scheduler's sessions: Ballista's defaults, our functions, the warehouse's stores.
fn scheduler_session(config: SessionConfig) -> datafusion::error::Result<SessionState> {
    let state = ballista_core::utils::default_session_builder(config)?;
    crate::storage::register_with(state.runtime_env());
    with_stockroom_functions(state)
}

/// Ballista's functions plus ours, for decoding the plans an executor is sent.
fn function_registry() -> datafusion::error::Result<BallistaFunctionRegistry> {
    let state = with_stockroom_functions(ballista_core::utils::default_session_builder(
        SessionConfig::new(),
    )?)?;
    let mut registry = BallistaFunctionRegistry::default();
    registry.scalar_functions.extend(
        state
            .scalar_functions()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    registry.aggregate_functions.extend(
        state
            .aggregate_functions()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    registry.window_functions.extend(
        state
            .window_functions()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    Ok(registry)
}

/// Each task's runtime: the local file system plus the object stores this process opened
/// (the warehouse's bucket when started with `--warehouse s3://…`).
fn executor_runtime() -> datafusion::error::Result<Arc<RuntimeEnv>> {
    let runtime = RuntimeEnvBuilder::new().build_arc()?;
    crate::storage::register_with(&runtime);
    Ok(runtime)
}

/// Ballista's own engine, which logs each stage it runs: the plan line names the functions,
/// so an operator (and the tests) can see what ran where.
#[derive(Default)]
struct LoggedEngine {
    inner: DefaultExecutionEngine,
}

impl ExecutionEngine for LoggedEngine {
    fn create_query_stage_exec(
        &self,
        job_id: JobId,
        stage_id: usize,
        task_id: usize,
        global_output_partition_ids: Vec<usize>,
        plan: Arc<dyn ExecutionPlan>,
        work_dir: &str,
        config: &SessionConfig,
    ) -> datafusion::error::Result<Arc<dyn QueryStageExecutor>> {
        tracing::info!(
            "job {job_id} stage {stage_id} task {task_id}: {}",
            datafusion::physical_plan::displayable(plan.as_ref())
                .indent(false)
                .to_string()
                .lines()
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" | ")
        );
        self.inner.create_query_stage_exec(
            job_id,
            stage_id,
            task_id,
            global_output_partition_ids,
            plan,
            work_dir,
            config,
        )
    }
}
