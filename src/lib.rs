//! stockroom: an embedded SQL lakehouse over Delta tables.
//!
//! Data flows one way: [`warehouse`] (where things live) → [`catalog`] (tables by name) →
//! [`session`] (one DataFusion session) → [`sql`] (statement text) → [`exec`] (statements
//! run, Delta writes) → front ends ([`print`], the binary's commands).

pub mod catalog;
pub mod chart;
pub mod cluster;
pub mod error;
pub mod exec;
pub mod external;
pub mod ingest;
mod parallel;
pub mod pipeline;
pub mod print;
pub mod report;
pub mod script;
pub mod serve;
pub mod session;
pub mod signal;
pub mod sql;
pub mod storage;
pub mod stream;
pub mod suggest;
pub mod warehouse;

pub use error::{Error, Result};
pub use exec::{Executor, Outcome, WriteReport};
pub use warehouse::Warehouse;
