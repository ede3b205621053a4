//! `date_trunc` with a fast path for UTC timestamps; registered in place of DataFusion's own.
//!
//! DataFusion truncates a timestamp that carries a time zone through chrono-tz for every value
//! (local time, truncate, back to UTC, DST checks), even when the zone is UTC, where local
//! time is UTC time; only zone-less timestamps get plain integer arithmetic. Every timestamp
//! stockroom produces is `Timestamp(µs, "UTC")`, and inventory-ops truncates 5M of them to
//! the hour, the day and the week: that per-value zone handling was 6-8% of the whole run's
//! CPU in `perf`. For a UTC zone this wrapper hands DataFusion the same values without the
//! zone (zero-copy: only the type changes) and puts the zone back on the result, so the
//! results are exactly DataFusion's. Any other zone, and everything else, goes to DataFusion
//! untouched.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, make_array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::functions::datetime::date_trunc::DateTruncFunc;
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature,
};

/// DataFusion's `date_trunc`, with UTC timestamps truncated as zone-less ones.
#[derive(Debug, PartialEq, Eq, Hash, Default)]
pub struct DateTruncUtc {
    inner: DateTruncFunc,
}

impl DateTruncUtc {
    pub fn new() -> Self {
        Self::default()
    }
}

/// Zone names that mean UTC (no offset, no daylight saving time).
fn is_utc(tz: &str) -> bool {
    matches!(
        tz.to_ascii_lowercase().as_str(),
        "utc" | "z" | "+00:00" | "+0000" | "+00" | "etc/utc" | "gmt"
    )
}

/// The zone of a UTC timestamp type, `None` for anything else.
fn utc_zone(t: &DataType) -> Option<Arc<str>> {
    match t {
        DataType::Timestamp(_, Some(tz)) if is_utc(tz) => Some(tz.clone()),
        _ => None,
    }
}

/// `array` with its type replaced (same layout: only the time zone differs).
fn retype(array: &ArrayRef, t: DataType) -> Result<ArrayRef> {
    Ok(make_array(
        array.to_data().into_builder().data_type(t).build()?,
    ))
}

fn with_zone(v: ScalarValue, tz: Option<Arc<str>>) -> ScalarValue {
    match v {
        ScalarValue::TimestampSecond(v, _) => ScalarValue::TimestampSecond(v, tz),
        ScalarValue::TimestampMillisecond(v, _) => ScalarValue::TimestampMillisecond(v, tz),
        ScalarValue::TimestampMicrosecond(v, _) => ScalarValue::TimestampMicrosecond(v, tz),
        ScalarValue::TimestampNanosecond(v, _) => ScalarValue::TimestampNanosecond(v, tz),
        other => other,
    }
}

fn zone_less(t: &DataType) -> DataType {
    match t {
        DataType::Timestamp(unit, _) => DataType::Timestamp(*unit, None),
        other => other.clone(),
    }
}

impl ScalarUDFImpl for DateTruncUtc {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn output_ordering(&self, input: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.output_ordering(input)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }

    fn invoke_with_args(&self, mut args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(value_type) = args.args.get(1).map(|a| a.data_type()) else {
            return self.inner.invoke_with_args(args);
        };
        let Some(tz) = utc_zone(&value_type) else {
            return self.inner.invoke_with_args(args);
        };
        let naive = zone_less(&value_type);
        args.args[1] = match &args.args[1] {
            ColumnarValue::Array(a) => ColumnarValue::Array(retype(a, naive.clone())?),
            ColumnarValue::Scalar(s) => ColumnarValue::Scalar(with_zone(s.clone(), None)),
        };
        if let Some(f) = args.arg_fields.get_mut(1) {
            *f = Arc::new(f.as_ref().clone().with_data_type(naive.clone()));
        }
        args.return_field = Arc::new(
            Field::new(
                args.return_field.name(),
                naive,
                args.return_field.is_nullable(),
            )
            .with_metadata(args.return_field.metadata().clone()),
        );
        Ok(match self.inner.invoke_with_args(args)? {
            ColumnarValue::Array(a) => {
                let t = a.data_type().clone();
                ColumnarValue::Array(match t {
                    DataType::Timestamp(unit, None) => {
                        retype(&a, DataType::Timestamp(unit, Some(tz)))?
                    }
                    _ => a,
                })
            }
            ColumnarValue::Scalar(s) => ColumnarValue::Scalar(with_zone(s, Some(tz))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::logical_expr::ScalarUDF;
    use datafusion::prelude::SessionContext;

    async fn table(ctx: &SessionContext, sql: &str) -> String {
        let b = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        pretty_format_batches(&b).unwrap().to_string()
    }

    /// The same query through DataFusion's date_trunc and through the wrapper.
    async fn both(sql: &str) -> (String, String) {
        let plain = SessionContext::new();
        let ours = SessionContext::new();
        ours.register_udf(ScalarUDF::from(DateTruncUtc::new()));
        (table(&plain, sql).await, table(&ours, sql).await)
    }

    #[tokio::test]
    async fn same_results_and_types_as_datafusion_for_every_granularity_and_zone() {
        // Epoch values: a DST gap in Berlin and Sao Paulo's season, before 1970, a DST
        // overlap, a leap day; NULL.
        let seconds = [1_710_035_999i64, -1_800, 1_729_989_000, 1_709_251_199];
        for tz in ["UTC", "+00:00", "Europe/Berlin", "America/Sao_Paulo"] {
            for (unit, per_second, fraction) in [
                ("Second", 1i64, 0i64),
                ("Millisecond", 1_000, 999),
                ("Microsecond", 1_000_000, 123_456),
                ("Nanosecond", 1_000_000_000, 123_456_789),
            ] {
                let values: Vec<String> = seconds
                    .iter()
                    .map(|s| format!("({})", s * per_second + fraction))
                    .chain(["(NULL)".to_string()])
                    .collect();
                let ty = format!("'Timestamp({unit}, Some(\"{tz}\"))'");
                for g in [
                    "second", "minute", "hour", "day", "week", "month", "quarter", "year",
                ] {
                    let sql = format!(
                        "SELECT date_trunc('{g}', t) AS d, arrow_typeof(date_trunc('{g}', t)) AS ty, \
                           date_trunc('{g}', arrow_cast({}, {ty})) AS s \
                         FROM (SELECT arrow_cast(column1, {ty}) AS t FROM (VALUES {})) \
                         ORDER BY t NULLS FIRST",
                        seconds[0] * per_second,
                        values.join(", ")
                    );
                    let (expected, got) = both(&sql).await;
                    assert_eq!(got, expected, "{tz} {unit} {g}");
                }
            }
        }
        // Zone-less timestamps and dates are DataFusion's own path.
        let (expected, got) = both(
            "SELECT date_trunc('week', TIMESTAMP '2024-03-07 10:00:00') AS a, \
                    date_trunc('month', DATE '2024-03-07') AS b",
        )
        .await;
        assert_eq!(got, expected);
    }

    #[test]
    fn utc_names() {
        for n in ["UTC", "utc", "+00:00", "Z", "Etc/UTC"] {
            assert!(is_utc(n), "{n}");
        }
        for n in ["Europe/London", "+01:00", "-00:30"] {
            assert!(!is_utc(n), "{n}");
        }
    }
}
