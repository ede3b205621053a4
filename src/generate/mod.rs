//! Deterministic synthetic data for tests and benchmarks: realistic batches with a known share
//! of known defects, byte-identical for the same spec and seed.
//!
//! - [`pos`]: point-of-sale CSV batches for the `pos` pipeline ([`generate_pos`]).
//! - [`rng`]: the small PRNG they share (no dependency on `rand`).

pub mod pos;
pub mod rng;

pub use pos::{GenerateSummary, PosDefect, PosSpec, generate_pos};
