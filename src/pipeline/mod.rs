//! Pipelines as SQL: manifests, the batch lifecycle, and what a run leaves behind.

pub mod dq_report;
pub mod error;
pub mod fault;
pub mod framework;
pub mod graph;
pub mod landing;
pub mod landing_scan;
pub mod lock;
pub mod manifest;
pub mod model;
pub mod notify;
pub mod quality;
pub mod run;
pub mod schedule;
pub mod steps;
pub mod summary;

pub use manifest::{Pipeline, load_all};
pub use run::{RunOptions, run, run_single_step};
pub use summary::RunSummary;
