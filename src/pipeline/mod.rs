//! Pipelines as SQL: manifests, the batch lifecycle, and what a run leaves behind.

pub mod fault;
pub mod graph;
pub mod lock;
pub mod manifest;
pub mod notify;
pub mod run;
pub mod summary;

pub use manifest::{Pipeline, load_all};
pub use run::{RunOptions, run};
pub use summary::RunSummary;
