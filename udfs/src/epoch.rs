//! `from_epoch(seconds)` and `epoch_date(seconds)`: Unix epoch seconds to timestamps and dates.

use std::fmt::Write as _;
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, NaiveDate};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Date32Array, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, UInt64Type};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_DATETIME;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature,
};

use crate::util::{UTC, cast_to, finish, is_numeric, timestamp_utc_type, to_arrays, value_type};

const MICROS_PER_SECOND: i64 = 1_000_000;
const SECONDS_PER_DAY: i64 = 86_400;
/// Comfortably beyond chrono's range (about ±8.2e12 s), yet far inside `i64`.
const MAX_ABS_FLOAT_SECONDS: f64 = 1e15;

/// The argument type the epoch functions evaluate on: `Int64` for integers (exact), `UInt64`
/// kept as is (no overflow on the cast), `Float64` for floats and decimals.
fn coerce_seconds(name: &str, arg_types: &[DataType]) -> Result<DataType> {
    let [arg] = arg_types else {
        return plan_err!(
            "{name}() takes exactly one argument (seconds since 1970-01-01 UTC); got {} arguments",
            arg_types.len()
        );
    };
    let t = value_type(arg);
    Ok(match t {
        DataType::Null => DataType::Int64,
        DataType::UInt64 => DataType::UInt64,
        t if t.is_integer() => DataType::Int64,
        t if is_numeric(t) => DataType::Float64,
        other => {
            return plan_err!(
                "{name}() expects a numeric argument (seconds since 1970-01-01 UTC); got {other}"
            );
        }
    })
}

/// Evaluate a one-argument epoch function over Int64 / UInt64 / Float64 input.
fn eval_seconds<T>(
    name: &str,
    args: &ScalarFunctionArgs,
    from_i64: impl Fn(i64) -> Option<T>,
    from_f64: impl Fn(f64) -> Option<T>,
    build: impl Fn(Vec<Option<T>>) -> ArrayRef,
) -> Result<ColumnarValue> {
    let (all_scalar, arrays) = to_arrays(&args.args)?;
    let [input] = arrays.as_slice() else {
        return exec_err!("{name}() takes exactly one argument; got {}", arrays.len());
    };
    let target = coerce_seconds(name, &[input.data_type().clone()])?;
    let input = cast_to(input, &target)?;
    let values: Vec<Option<T>> = match target {
        DataType::Int64 => input
            .as_primitive::<Int64Type>()
            .iter()
            .map(|v| v.and_then(&from_i64))
            .collect(),
        DataType::UInt64 => input
            .as_primitive::<UInt64Type>()
            .iter()
            .map(|v| v.and_then(|v| i64::try_from(v).ok()).and_then(&from_i64))
            .collect(),
        _ => input
            .as_primitive::<Float64Type>()
            .iter()
            .map(|v| v.and_then(&from_f64))
            .collect(),
    };
    finish(all_scalar, build(values))
}

/// The microseconds chrono (and so Arrow's display and every downstream consumer) can
/// represent. Compared as a range: asking chrono per value is a calendar computation each.
static MICROS_RANGE: LazyLock<std::ops::RangeInclusive<i64>> = LazyLock::new(|| {
    DateTime::<chrono::Utc>::MIN_UTC.timestamp_micros()
        ..=DateTime::<chrono::Utc>::MAX_UTC.timestamp_micros()
});

/// The `Date32` day numbers chrono can represent.
static DAYS_RANGE: LazyLock<std::ops::RangeInclusive<i64>> = LazyLock::new(|| {
    let epoch = DateTime::UNIX_EPOCH.date_naive();
    (NaiveDate::MIN - epoch).num_days()..=(NaiveDate::MAX - epoch).num_days()
});

fn checked_micros(micros: i64) -> Option<i64> {
    MICROS_RANGE.contains(&micros).then_some(micros)
}

/// Whole seconds to microseconds, `None` when outside what chrono (and so Arrow's display and
/// every downstream consumer) can represent.
pub fn seconds_to_micros(seconds: i64) -> Option<i64> {
    checked_micros(seconds.checked_mul(MICROS_PER_SECOND)?)
}

/// Fractional seconds to microseconds, truncating (toward zero) to whole microseconds.
///
/// The fraction is taken from the shortest decimal representation of the float (the digits a
/// user wrote or sees), so `1709251200.123456` gives exactly `…123456` µs rather than `…123455`
/// from binary rounding. NaN, ±inf and out-of-range values give `None`.
pub fn float_seconds_to_micros(seconds: f64) -> Option<i64> {
    if !seconds.is_finite() || seconds.abs() > MAX_ABS_FLOAT_SECONDS {
        return None;
    }
    if seconds.fract() == 0.0 {
        // Exact: |seconds| <= 1e15 fits in i64.
        return seconds_to_micros(seconds as i64);
    }
    // Rust's `Display` for f64 prints the shortest round-tripping decimal, never in exponent
    // notation.
    let mut text = String::with_capacity(32);
    write!(text, "{seconds}").ok()?;
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let (int_part, frac_part) = body.split_once('.').unwrap_or((body, ""));
    let whole: i64 = int_part.parse().ok()?;
    let mut frac: i64 = 0;
    let mut digits = 0;
    for b in frac_part.bytes().take(6) {
        if !b.is_ascii_digit() {
            return None;
        }
        frac = frac * 10 + i64::from(b - b'0');
        digits += 1;
    }
    for _ in digits..6 {
        frac *= 10;
    }
    let magnitude = whole.checked_mul(MICROS_PER_SECOND)?.checked_add(frac)?;
    checked_micros(if negative { -magnitude } else { magnitude })
}

/// Days since 1970-01-01 (as `Date32` stores them), `None` when outside chrono's date range.
fn checked_days(days: i64) -> Option<i32> {
    if DAYS_RANGE.contains(&days) {
        i32::try_from(days).ok()
    } else {
        None
    }
}

/// `floor(seconds / 86400)` as a `Date32` day number.
pub fn seconds_to_days(seconds: i64) -> Option<i32> {
    checked_days(seconds.div_euclid(SECONDS_PER_DAY))
}

/// `floor(seconds / 86400)` for float seconds. Flooring the seconds first is exact and gives
/// the same result as flooring the quotient, without the division's rounding error.
pub fn float_seconds_to_days(seconds: f64) -> Option<i32> {
    if !seconds.is_finite() || seconds.abs() > MAX_ABS_FLOAT_SECONDS {
        return None;
    }
    seconds_to_days(seconds.floor() as i64)
}

// ---------------------------------------------------------------------------------------------

/// `from_epoch(seconds)` → `Timestamp(Microsecond, "UTC")`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FromEpoch {
    signature: Signature,
}

crate::util::udf_constructors!(FromEpoch, "from_epoch");

static FROM_EPOCH_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_DATETIME,
        "Converts seconds since the Unix epoch (1970-01-01 00:00:00 UTC) to a UTC timestamp with \
         microsecond precision. Integer and floating-point seconds are accepted; a fractional part \
         is kept and truncated (toward zero) to whole microseconds. NULL, NaN, infinite and \
         out-of-range inputs give NULL.",
        "from_epoch(seconds)",
    )
    .with_sql_example(
        "```sql\n> SELECT from_epoch(1709251200.75);\n-- 2024-03-01T00:00:00.750Z\n```",
    )
    .with_argument(
        "seconds",
        "Seconds since 1970-01-01 00:00:00 UTC: any integer, float or decimal expression. \
         Negative values are before 1970.",
    )
    .with_related_udf("epoch_date")
    .with_related_udf("parse_ts")
    .build()
});

impl ScalarUDFImpl for FromEpoch {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        Ok(vec![coerce_seconds(Self::NAME, arg_types)?])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(timestamp_utc_type())
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        eval_seconds(
            Self::NAME,
            &args,
            seconds_to_micros,
            float_seconds_to_micros,
            |values| Arc::new(TimestampMicrosecondArray::from(values).with_timezone(UTC)),
        )
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&FROM_EPOCH_DOC)
    }
}

/// `epoch_date(seconds)` → `Date32`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct EpochDate {
    signature: Signature,
}

crate::util::udf_constructors!(EpochDate, "epoch_date");

static EPOCH_DATE_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_DATETIME,
        "Converts seconds since the Unix epoch to the UTC calendar date they fall on: \
         1970-01-01 plus floor(seconds / 86400) days. Flooring also applies to negative and \
         fractional seconds (-1 is 1969-12-31). NULL, NaN, infinite and out-of-range inputs give \
         NULL.",
        "epoch_date(seconds)",
    )
    .with_sql_example(
        "```sql\n> SELECT epoch_date(-1), epoch_date(1709251200.75);\n-- 1969-12-31, 2024-03-01\n```",
    )
    .with_argument(
        "seconds",
        "Seconds since 1970-01-01 00:00:00 UTC: any integer, float or decimal expression.",
    )
    .with_related_udf("from_epoch")
    .build()
});

impl ScalarUDFImpl for EpochDate {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        Ok(vec![coerce_seconds(Self::NAME, arg_types)?])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Date32)
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        eval_seconds(
            Self::NAME,
            &args,
            seconds_to_days,
            float_seconds_to_days,
            |values| Arc::new(Date32Array::from(values)),
        )
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&EPOCH_DATE_DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::test_util::{invoke_arrays, invoke_scalar, query, query_column};
    use chrono::{NaiveDate, NaiveDateTime};
    use datafusion::arrow::array::{Float64Array, Int32Array, Int64Array, UInt64Array};
    use datafusion::common::ScalarValue;
    use datafusion::logical_expr::ScalarUDF;

    fn ts(micros: Option<i64>) -> ScalarValue {
        ScalarValue::TimestampMicrosecond(micros, Some(Arc::from(UTC)))
    }

    fn micros_of(s: &str) -> i64 {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
            .expect("test timestamp")
            .and_utc()
            .timestamp_micros()
    }

    fn days_of(s: &str) -> i32 {
        let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date");
        (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
    }

    fn from_epoch() -> ScalarUDF {
        ScalarUDF::from(FromEpoch::new())
    }

    fn epoch_date() -> ScalarUDF {
        ScalarUDF::from(EpochDate::new())
    }

    #[test]
    fn from_epoch_boundaries() {
        assert_eq!(seconds_to_micros(0), Some(0));
        assert_eq!(
            seconds_to_micros(946_684_800),
            Some(micros_of("2000-01-01 00:00:00"))
        );
        assert_eq!(
            seconds_to_micros(4_102_444_800),
            Some(micros_of("2100-01-01 00:00:00"))
        );
        assert_eq!(seconds_to_micros(-1), Some(-1_000_000));
        assert_eq!(
            seconds_to_micros(-86_401),
            Some(micros_of("1969-12-30 23:59:59"))
        );
        assert_eq!(seconds_to_micros(i64::MAX), None);
        assert_eq!(seconds_to_micros(i64::MIN), None);
        // Beyond chrono's ±262143 years, but still inside i64 microseconds.
        assert_eq!(seconds_to_micros(9_000_000_000_000), None);
    }

    #[test]
    fn from_epoch_fractions() {
        assert_eq!(
            float_seconds_to_micros(1_709_251_200.75),
            Some(micros_of("2024-03-01 00:00:00.75"))
        );
        assert_eq!(
            float_seconds_to_micros(1_709_251_200.123456),
            Some(micros_of("2024-03-01 00:00:00.123456"))
        );
        // Digits beyond microseconds are truncated, not rounded.
        assert_eq!(float_seconds_to_micros(0.0000019), Some(1));
        assert_eq!(float_seconds_to_micros(1.9999999), Some(1_999_999));
        // Negative: truncation toward zero.
        assert_eq!(float_seconds_to_micros(-1.5), Some(-1_500_000));
        assert_eq!(float_seconds_to_micros(-0.0000015), Some(-1));
        assert_eq!(
            float_seconds_to_micros(946_684_800.0),
            Some(946_684_800_000_000)
        );
        assert_eq!(float_seconds_to_micros(-0.0), Some(0));
        assert_eq!(float_seconds_to_micros(f64::NAN), None);
        assert_eq!(float_seconds_to_micros(f64::INFINITY), None);
        assert_eq!(float_seconds_to_micros(f64::NEG_INFINITY), None);
        assert_eq!(float_seconds_to_micros(1e300), None);
        assert_eq!(float_seconds_to_micros(-9e12), None);
        assert_eq!(float_seconds_to_micros(f64::MIN_POSITIVE), Some(0));
    }

    #[test]
    fn ranges_agree_with_chrono_at_their_edges() {
        let (lo, hi) = (*DAYS_RANGE.start(), *DAYS_RANGE.end());
        for d in [lo - 1, lo, lo + 1, 0, hi - 1, hi, hi + 1] {
            let chrono = i32::try_from(d)
                .ok()
                .and_then(|d| NaiveDate::from_epoch_days(d).map(|_| d));
            assert_eq!(checked_days(d), chrono, "day {d}");
        }
        let (lo, hi) = (*MICROS_RANGE.start(), *MICROS_RANGE.end());
        for m in [
            lo - 1,
            lo,
            lo + 1,
            0,
            hi - 1,
            hi,
            hi + 1,
            i64::MIN,
            i64::MAX,
        ] {
            let chrono = DateTime::from_timestamp_micros(m).map(|_| m);
            assert_eq!(checked_micros(m), chrono, "micros {m}");
        }
    }

    #[test]
    fn epoch_date_floors() {
        assert_eq!(seconds_to_days(0), Some(0));
        assert_eq!(seconds_to_days(86_399), Some(0));
        assert_eq!(seconds_to_days(86_400), Some(1));
        assert_eq!(seconds_to_days(-1), Some(-1));
        assert_eq!(seconds_to_days(-86_400), Some(-1));
        assert_eq!(seconds_to_days(-86_401), Some(-2));
        assert_eq!(seconds_to_days(946_684_800), Some(days_of("2000-01-01")));
        assert_eq!(seconds_to_days(4_102_444_800), Some(days_of("2100-01-01")));
        assert_eq!(seconds_to_days(4_102_444_799), Some(days_of("2099-12-31")));
        assert_eq!(
            float_seconds_to_days(1_709_251_200.75),
            Some(days_of("2024-03-01"))
        );
        assert_eq!(
            float_seconds_to_days(1_709_251_199.999),
            Some(days_of("2024-02-29"))
        );
        assert_eq!(float_seconds_to_days(-0.5), Some(-1));
        assert_eq!(float_seconds_to_days(-0.0), Some(0));
        assert_eq!(float_seconds_to_days(f64::NAN), None);
        assert_eq!(float_seconds_to_days(f64::NEG_INFINITY), None);
        assert_eq!(float_seconds_to_days(1e300), None);
        assert_eq!(seconds_to_days(i64::MAX), None);
        assert_eq!(seconds_to_days(i64::MIN), None);
    }

    #[test]
    fn from_epoch_invoke_scalars() {
        let f = from_epoch();
        assert_eq!(
            invoke_scalar(&f, vec![ScalarValue::Int64(Some(946_684_800))]),
            ts(Some(946_684_800_000_000))
        );
        assert_eq!(
            invoke_scalar(&f, vec![ScalarValue::Int32(Some(-1))]),
            ts(Some(-1_000_000))
        );
        assert_eq!(
            invoke_scalar(&f, vec![ScalarValue::UInt64(Some(u64::MAX))]),
            ts(None)
        );
        assert_eq!(
            invoke_scalar(&f, vec![ScalarValue::Float32(Some(0.5))]),
            ts(Some(500_000))
        );
        assert_eq!(invoke_scalar(&f, vec![ScalarValue::Int64(None)]), ts(None));
        assert_eq!(invoke_scalar(&f, vec![ScalarValue::Null]), ts(None));
        assert_eq!(
            invoke_scalar(&f, vec![ScalarValue::Float64(Some(f64::NAN))]),
            ts(None)
        );
    }

    #[test]
    fn from_epoch_invoke_arrays() {
        let f = from_epoch();
        let out = invoke_arrays(
            &f,
            vec![Arc::new(Float64Array::from(vec![
                Some(1_709_251_200.75),
                None,
                Some(f64::INFINITY),
                Some(-1.25),
            ]))],
        );
        assert_eq!(out.data_type(), &timestamp_utc_type());
        let out = out.as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>();
        assert_eq!(
            out.iter().collect::<Vec<_>>(),
            vec![
                Some(micros_of("2024-03-01 00:00:00.75")),
                None,
                None,
                Some(-1_250_000)
            ]
        );

        let out = invoke_arrays(
            &f,
            vec![Arc::new(UInt64Array::from(vec![Some(4_102_444_800), None]))],
        );
        let out = out.as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>();
        assert_eq!(out.value(0), 4_102_444_800_000_000);
        assert!(out.is_null(1));
    }

    #[test]
    fn epoch_date_invoke() {
        let f = epoch_date();
        assert_eq!(
            invoke_scalar(&f, vec![ScalarValue::Int64(Some(-1))]),
            ScalarValue::Date32(Some(-1))
        );
        assert_eq!(
            invoke_scalar(&f, vec![ScalarValue::Float64(Some(f64::NAN))]),
            ScalarValue::Date32(None)
        );
        assert_eq!(
            invoke_scalar(&f, vec![ScalarValue::Null]),
            ScalarValue::Date32(None)
        );
        let out = invoke_arrays(
            &f,
            vec![Arc::new(Int64Array::from(vec![
                Some(946_684_800),
                None,
                Some(-86_401),
                Some(i64::MAX),
            ]))],
        );
        assert_eq!(out.data_type(), &DataType::Date32);
        let out = out.as_primitive::<datafusion::arrow::datatypes::Date32Type>();
        assert_eq!(
            out.iter().collect::<Vec<_>>(),
            vec![Some(days_of("2000-01-01")), None, Some(-2), None]
        );
        let out = invoke_arrays(&f, vec![Arc::new(Int32Array::from(vec![Some(86_400)]))]);
        assert_eq!(
            out.as_primitive::<datafusion::arrow::datatypes::Date32Type>()
                .value(0),
            1
        );
    }

    #[test]
    fn coercion_rejects_bad_arguments() {
        let f = FromEpoch::new();
        assert_eq!(
            f.coerce_types(&[DataType::Int16]).expect("int"),
            vec![DataType::Int64]
        );
        assert_eq!(
            f.coerce_types(&[DataType::Decimal128(20, 3)])
                .expect("decimal"),
            vec![DataType::Float64]
        );
        assert!(f.coerce_types(&[DataType::Utf8]).is_err());
        assert!(f.coerce_types(&[]).is_err());
        assert!(
            EpochDate::new()
                .coerce_types(&[DataType::Int64, DataType::Int64])
                .is_err()
        );
    }

    #[tokio::test]
    async fn from_epoch_sql() {
        let got = query_column(
            "SELECT from_epoch(column1) FROM (VALUES \
             (946684800), (4102444800), (-1), (NULL)) AS t",
            0,
        )
        .await;
        assert_eq!(
            got,
            vec![
                ts(Some(946_684_800_000_000)),
                ts(Some(4_102_444_800_000_000)),
                ts(Some(-1_000_000)),
                ts(None)
            ]
        );
        let got = query_column(
            "SELECT from_epoch(1709251200.75), from_epoch(CAST('NaN' AS DOUBLE)), \
             from_epoch(CAST(7 AS SMALLINT)), from_epoch(NULL)",
            0,
        )
        .await;
        assert_eq!(got, vec![ts(Some(micros_of("2024-03-01 00:00:00.75")))]);
        let row: Vec<ScalarValue> = {
            let batches = query(
                "SELECT from_epoch(CAST('NaN' AS DOUBLE)), from_epoch(CAST(7 AS SMALLINT)), \
                 from_epoch(NULL), arrow_typeof(from_epoch(1))",
            )
            .await
            .expect("query");
            (0..4)
                .map(|c| ScalarValue::try_from_array(batches[0].column(c), 0).expect("value"))
                .collect()
        };
        assert_eq!(
            row,
            vec![
                ts(None),
                ts(Some(7_000_000)),
                ts(None),
                ScalarValue::Utf8(Some(timestamp_utc_type().to_string()))
            ]
        );
        let err = query("SELECT from_epoch('x')")
            .await
            .expect_err("string arg");
        assert!(err.to_string().contains("numeric argument"), "{err}");
    }

    #[tokio::test]
    async fn epoch_date_sql() {
        let got = query_column(
            "SELECT epoch_date(column1) FROM (VALUES \
             (946684800.0), (4102444800.0), (-0.5), (1709251200.75), (NULL), \
             (CAST('inf' AS DOUBLE))) AS t",
            0,
        )
        .await;
        assert_eq!(
            got,
            vec![
                ScalarValue::Date32(Some(days_of("2000-01-01"))),
                ScalarValue::Date32(Some(days_of("2100-01-01"))),
                ScalarValue::Date32(Some(days_of("1969-12-31"))),
                ScalarValue::Date32(Some(days_of("2024-03-01"))),
                ScalarValue::Date32(None),
                ScalarValue::Date32(None),
            ]
        );
    }
}
