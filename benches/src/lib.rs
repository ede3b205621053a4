//! stockroom's synthetic data and benchmark helpers, in their own crate so the product crate
//! holds only the product. The `stockroom` binary offers them as `stockroom generate …` and
//! `stockroom bench …`; the benchmark drivers that run the executor stay in the binary
//! (`src/cli/bench*.rs`), because this crate cannot depend on the `stockroom` library the
//! binary is built with (a package cycle).

pub mod error;
pub mod generate;
pub mod stats;

pub use error::Error;
