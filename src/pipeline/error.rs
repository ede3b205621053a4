//! Errors of the pipeline layer: manifests, models, the step graph and runs.
//!
//! An inner error (a script's, the parser's, a failed run's cause) is kept whole as a field,
//! so callers can match on it, and is part of the message. It is deliberately not the
//! `source()`: the binary prints the chain (`{:#}`), which would repeat it.

use crate::script::ScriptError;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// `pipeline.toml` cannot be read as a manifest, or names something that is not there.
    #[error("{file}: {message}")]
    Manifest { file: String, message: String },

    /// A model file's header or SELECT is not usable; `file` is `origin/name.sql[:line]`.
    #[error("{file}: {message}")]
    Model { file: String, message: String },

    /// A SQL file (model or script) failed: file, line and statement are in the error.
    #[error("{0}")]
    Script(Box<ScriptError>),

    /// A file could not be parsed while the pipeline was loaded.
    #[error("{file}: {error}")]
    Parse {
        file: String,
        error: Box<crate::error::Error>,
    },

    /// A step runs after one that does not exist.
    #[error("pipeline {pipeline}: step '{step}' runs after '{after}', but there is no such step")]
    UnknownStep {
        pipeline: String,
        step: String,
        after: String,
    },

    /// A model reads a table that nothing of the pipeline writes and that is not declared
    /// as a source.
    #[error(
        "pipeline {pipeline}: {file} reads table '{table}', which no model or step of the pipeline writes{}; \
         a table written elsewhere (another pipeline, the stream, by hand) goes into `sources = [\"{table}\"]` in pipeline.toml",
        crate::suggest::did_you_mean(did_you_mean)
    )]
    UnknownTable {
        pipeline: String,
        file: String,
        table: String,
        did_you_mean: Vec<String>,
    },

    /// Steps or models that depend on each other in a circle.
    #[error("pipeline {pipeline}: the steps {steps} depend on each other in a cycle ({files})")]
    Cycle {
        pipeline: String,
        steps: String,
        files: String,
    },

    /// `pipeline run NAME --step STEP` with a step the pipeline lacks.
    #[error("pipeline {pipeline} has no step '{step}'; its steps: {steps}")]
    NoSuchStep {
        pipeline: String,
        step: String,
        steps: String,
    },

    /// `--step` on the checks step, which needs a landing batch.
    #[error(
        "step '{step}' checks a landing batch; it runs only as part of `pipeline run {pipeline}`"
    )]
    StepNeedsBatch { pipeline: String, step: String },

    /// A step of a run failed: nothing was archived.
    #[error(
        "pipeline {pipeline} run {run_id} failed: {error}\n(the input files are still in {landing}; fix the cause and run again)"
    )]
    RunFailed {
        pipeline: String,
        run_id: String,
        landing: String,
        error: Box<crate::error::Error>,
    },

    /// The validate steps did not leave the table the framework counts records from.
    #[error("the validate steps must leave a table `checked` with source_file and reasons: {0}")]
    NoChecked(Box<crate::error::Error>),

    /// A `notify_if` query failed.
    #[error("pipeline {pipeline}: step {step}: notify_if: {error}")]
    NotifyQuery {
        pipeline: String,
        step: String,
        error: Box<crate::error::Error>,
    },

    /// Another process holds the pipeline's run lock.
    #[error(
        "pipeline {pipeline} is already running ({holder}, lock {lock}); wait for it to finish"
    )]
    AlreadyRunning {
        pipeline: String,
        holder: String,
        lock: String,
    },

    /// The task waiting for the warehouse lock ended abnormally.
    #[error("waiting for the warehouse lock: {0}")]
    LockWait(tokio::task::JoinError),

    /// A data-quality check file is not exactly one query.
    #[error(
        "{file}: a check must be exactly one query returning the failing rows (found {found} statements)"
    )]
    CheckNotOneQuery { file: String, found: usize },

    /// A data-quality check's query failed.
    #[error("{file}:{line}: data-quality check {check}: {error}")]
    Check {
        file: String,
        line: usize,
        check: String,
        error: Box<crate::error::Error>,
    },

    /// `dq report` on a warehouse where no check ever ran.
    #[error(
        "no data-quality results in {warehouse} yet: run a pipeline with checks first (e.g. `stockroom pipeline run inventory-ops`)"
    )]
    NoQualityResultsYet { warehouse: String },

    /// `dq report` found no run (of the pipeline asked for).
    #[error("no data-quality results{}", pipeline.as_ref().map(|p| format!(" for pipeline {p}")).unwrap_or_else(|| " yet".into()))]
    NoQualityResults { pipeline: Option<String> },

    /// A framework query returned a column of another type than the framework wrote.
    #[error("expected {expected} in a framework table's column")]
    ColumnType { expected: &'static str },
}

impl PipelineError {
    /// Wraps an error met while loading `file`.
    pub fn source<E: Into<crate::error::Error>>(file: &str) -> impl Fn(E) -> PipelineError + '_ {
        move |e| PipelineError::Parse {
            file: file.to_string(),
            error: Box::new(e.into()),
        }
    }
}

impl From<ScriptError> for PipelineError {
    fn from(e: ScriptError) -> Self {
        PipelineError::Script(Box::new(e))
    }
}
