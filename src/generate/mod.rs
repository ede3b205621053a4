//! Deterministic synthetic data for tests and benchmarks: realistic batches with a known share
//! of known defects, byte-identical for the same spec and seed.
//!
//! - [`pos`]: point-of-sale CSV batches for the `pos` pipeline ([`generate_pos`]).
//! - [`inventory`]: hourly JSON-lines batches for the `inventory` pipeline
//!   ([`generate_inventory`]).
//! - [`ecommerce`]: products / orders / order items CSV batches for the `ecommerce` pipeline
//!   ([`generate_ecommerce`]).
//! - [`rng`]: the small PRNG they share (no dependency on `rand`).

pub mod ecommerce;
pub mod inventory;
pub mod pos;
pub mod rng;

pub use ecommerce::{EcommerceDefect, EcommerceSpec, generate_ecommerce};
pub use inventory::{InventoryDefect, InventorySpec, generate_inventory};
pub use pos::{GenerateSummary, PosDefect, PosSpec, generate_pos};
