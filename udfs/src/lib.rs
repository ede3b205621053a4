//! stockroom's UDFs for DataFusion (scalar functions and one aggregate).
//!
//! | name | signature | returns |
//! |------|-----------|---------|
//! | `from_epoch` | `from_epoch(seconds)` | `Timestamp(µs, "UTC")` |
//! | `epoch_date` | `epoch_date(seconds)` | `Date32` |
//! | `parse_ts` | `parse_ts(text)` | `Timestamp(µs, "UTC")` |
//! | `safe_div` | `safe_div(a, b)` | `Float64` |
//! | `reasons` | `reasons(cond, 'CODE', …)` | `List(Utf8)` (never NULL) |
//! | `parse_int` / `json_int` | `parse_int(text)` | `Int64` |
//! | `parse_float` / `json_float` | `parse_float(text)` | `Float64` |
//! | `json_str` | `json_str(raw_json)` | `Utf8View` |
//! | `accepted` | `accepted(reasons)` | `Boolean` |
//! | `fingerprint` | `fingerprint(a, …)` | `UInt64` |
//! | `repeated` (aggregate) | `repeated(value)` | `List(type of value)` |
//! | `running_totals` (aggregate) | `running_totals(position, amount, length)` | `List(Int64)` |
//!
//! `date_trunc` is replaced by [`DateTruncUtc`]: DataFusion's function with a fast path for UTC
//! timestamps, giving the same results.
//!
//! None of them error on data: bad or out-of-range input gives NULL. Argument-type and arity
//! problems are reported at planning time.

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionContext;

pub mod accepted;
pub mod date_trunc_utc;
pub mod epoch;
pub mod json_str;
pub mod parse;
pub mod reasons;
pub mod repeated;
pub mod running_totals;
pub mod safe_div;
pub mod timestamp;
mod util;

pub use accepted::Accepted;
pub use date_trunc_utc::DateTruncUtc;
pub use epoch::{EpochDate, FromEpoch};
pub use json_str::JsonStrUdf;
pub use parse::Parse;
pub use reasons::Reasons;
pub use repeated::{Fingerprint, Repeated};
pub use running_totals::RunningTotals;
pub use safe_div::SafeDiv;
pub use timestamp::ParseTs;

/// The names of every scalar UDF in [`all_udfs`], in the same order.
pub const NAMES: &[&str] = &[
    FromEpoch::NAME,
    EpochDate::NAME,
    ParseTs::NAME,
    SafeDiv::NAME,
    Reasons::NAME,
    parse::NAMES[0],
    parse::NAMES[1],
    parse::NAMES[2],
    parse::NAMES[3],
    JsonStrUdf::NAME,
    Accepted::NAME,
    Fingerprint::NAME,
];

/// The names of every aggregate in [`all_udafs`], in the same order.
pub const AGGREGATE_NAMES: &[&str] = &[Repeated::NAME, RunningTotals::NAME];

/// A fresh instance of every stockroom UDF.
pub fn all_udfs() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::from(FromEpoch::new()),
        ScalarUDF::from(EpochDate::new()),
        ScalarUDF::from(ParseTs::new()),
        ScalarUDF::from(SafeDiv::new()),
        ScalarUDF::from(Reasons::new()),
        ScalarUDF::from(Parse::parse_int()),
        ScalarUDF::from(Parse::parse_float()),
        ScalarUDF::from(Parse::json_int()),
        ScalarUDF::from(Parse::json_float()),
        ScalarUDF::from(JsonStrUdf::new()),
        ScalarUDF::from(Accepted::new()),
        ScalarUDF::from(Fingerprint::new()),
    ]
}

/// A fresh instance of every stockroom aggregate.
pub fn all_udafs() -> Vec<AggregateUDF> {
    vec![
        AggregateUDF::from(Repeated::new()),
        AggregateUDF::from(RunningTotals::new()),
    ]
}

/// Register every stockroom UDF and aggregate with `ctx` (replacing any function of the same name).
pub fn register_all(ctx: &SessionContext) {
    for udf in all_udfs() {
        ctx.register_udf(udf);
    }
    for udaf in all_udafs() {
        ctx.register_udaf(udaf);
    }
    // Replaces DataFusion's `date_trunc` (same name, same results): UTC timestamps skip the
    // per-value time-zone arithmetic.
    ctx.register_udf(ScalarUDF::from(DateTruncUtc::new()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_udfs_and_all_are_documented() {
        let udfs = all_udfs();
        let names: Vec<&str> = udfs.iter().map(|u| u.name()).collect();
        assert_eq!(names, NAMES);
        for udf in &udfs {
            let doc = udf.documentation().expect("documentation");
            assert!(!doc.description.is_empty(), "{}", udf.name());
            assert!(doc.syntax_example.starts_with(udf.name()), "{}", udf.name());
            assert!(
                doc.arguments.as_ref().is_some_and(|a| !a.is_empty()),
                "{}",
                udf.name()
            );
        }
        let udafs = all_udafs();
        let names: Vec<&str> = udafs.iter().map(|u| u.name()).collect();
        assert_eq!(names, AGGREGATE_NAMES);
        for udaf in &udafs {
            let doc = udaf.documentation().expect("documentation");
            assert!(
                doc.syntax_example.starts_with(udaf.name()),
                "{}",
                udaf.name()
            );
        }
    }

    #[test]
    fn register_all_registers_exactly_names() {
        let ctx = SessionContext::new();
        let before = ctx.state().scalar_functions().len();
        let before_aggregates = ctx.state().aggregate_functions().len();
        register_all(&ctx);
        let state = ctx.state();
        assert_eq!(state.scalar_functions().len(), before + NAMES.len());
        for name in NAMES {
            assert!(state.scalar_functions().contains_key(*name), "{name}");
        }
        assert_eq!(
            state.aggregate_functions().len(),
            before_aggregates + AGGREGATE_NAMES.len()
        );
        for name in AGGREGATE_NAMES {
            assert!(state.aggregate_functions().contains_key(*name), "{name}");
        }
    }
}
