//! Deterministic synthetic data for tests and benchmarks: realistic batches with a known share
//! of known defects, byte-identical for the same spec and seed.
//!
//! - [`pos`]: point-of-sale CSV batches for the `pos` pipeline ([`generate_pos`]).
//! - [`inventory`]: hourly JSON-lines batches for the `inventory` pipeline
//!   ([`generate_inventory`]).
//! - [`ecommerce`]: products / orders / order items CSV batches for the `ecommerce` pipeline
//!   ([`generate_ecommerce`]).
//! - [`inventory_events`]: product event JSON lines for `stream inventory-events`
//!   ([`write_events`]).
//! - [`inventory_ops`]: stock levels + daily transaction files for the `inventory-ops`
//!   pipeline ([`generate_inventory_ops`]).
//! - [`rng`]: the small PRNG they share (no dependency on `rand`).

pub mod ecommerce;
pub mod inventory;
pub mod inventory_events;
pub mod inventory_ops;
pub mod pos;
pub mod rng;

pub use ecommerce::{EcommerceDefect, EcommerceSpec, generate_ecommerce};
pub use inventory::{InventoryDefect, InventorySpec, generate_inventory};
pub use inventory_events::{EventDefect, EventsSummary, InventoryEventsSpec, write_events};
pub use inventory_ops::{InventoryOpsSpec, generate_inventory_ops};
pub use pos::{GenerateSummary, PosDefect, PosSpec, generate_pos};

/// Shared by the generators' tests.
#[cfg(test)]
pub(crate) mod test_support {
    use std::path::Path;

    use tempfile::TempDir;

    use super::GenerateSummary;

    /// Runs `generate(dir, seed)` twice with `seed` and once with `seed + 1`; asserts the
    /// first two are byte-identical and every file of the third differs. Returns the first
    /// and the other-seed run (with their directories, kept alive for further checks).
    pub fn assert_deterministic(
        generate: impl Fn(&Path, u64) -> GenerateSummary,
        seed: u64,
    ) -> ((TempDir, GenerateSummary), (TempDir, GenerateSummary)) {
        let (a, b, c) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let sa = generate(a.path(), seed);
        let sb = generate(b.path(), seed);
        let sc = generate(c.path(), seed + 1);
        assert_eq!(
            (sa.rows, sa.bytes, &sa.dirty_by_kind),
            (sb.rows, sb.bytes, &sb.dirty_by_kind)
        );
        for ((fa, fb), fc) in sa.files.iter().zip(&sb.files).zip(&sc.files) {
            assert_eq!(fa.file_name(), fb.file_name());
            assert_eq!(std::fs::read(fa).unwrap(), std::fs::read(fb).unwrap());
            assert_ne!(std::fs::read(fa).unwrap(), std::fs::read(fc).unwrap());
        }
        ((a, sa), (c, sc))
    }
}
