//! stockroom's scalar UDFs for DataFusion.
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
//!
//! None of them error on data: bad or out-of-range input gives NULL. Argument-type and arity
//! problems are reported at planning time.

use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionContext;

pub mod accepted;
pub mod epoch;
pub mod json_str;
pub mod parse;
pub mod reasons;
pub mod safe_div;
pub mod timestamp;
mod util;

pub use accepted::Accepted;
pub use epoch::{EpochDate, FromEpoch};
pub use json_str::JsonStrUdf;
pub use parse::Parse;
pub use reasons::Reasons;
pub use safe_div::SafeDiv;
pub use timestamp::ParseTs;

/// The names of every UDF in [`all_udfs`], in the same order.
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
];

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
    ]
}

/// Register every stockroom UDF with `ctx` (replacing any function of the same name).
pub fn register_all(ctx: &SessionContext) {
    for udf in all_udfs() {
        ctx.register_udf(udf);
    }
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
    }

    #[test]
    fn register_all_registers_exactly_names() {
        let ctx = SessionContext::new();
        let before = ctx.state().scalar_functions().len();
        register_all(&ctx);
        let state = ctx.state();
        assert_eq!(state.scalar_functions().len(), before + NAMES.len());
        for name in NAMES {
            assert!(state.scalar_functions().contains_key(*name), "{name}");
        }
    }
}
