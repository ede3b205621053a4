//! The integration tests: one binary (each extra test binary would link the whole stack
//! again). Every test drives the real `stockroom` executable on a temporary warehouse.

#[cfg(feature = "cluster")]
mod cluster;
mod common;
mod ecommerce;
mod engine;
mod external;
mod faults;
mod front_ends;
mod inventory;
mod inventory_ops;
mod kafka;
mod landing;
mod memory;
mod models;
mod pipelines;
mod readme_claims;
mod report;
mod s3;
mod serve;
mod serve_hostile;
mod shell;
mod stream;
