//! The integration tests: one binary (each extra test binary would link the whole stack
//! again). Every test drives the real `stockroom` executable on a temporary warehouse.

mod common;
mod ecommerce;
mod engine;
mod front_ends;
mod inventory;
mod inventory_ops;
mod pipelines;
mod report;
mod serve;
mod serve_hostile;
mod shell;
mod stream;
