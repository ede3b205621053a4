//! `parse_ts(text)`: a strict, hand-written ISO-8601-ish timestamp parser.
//!
//! The one timestamp grammar of stockroom (README, "Timestamps"): every pipeline's validation
//! (`BAD_TIMESTAMP`), the stream's events and this UDF accept exactly these forms, after
//! trimming ASCII whitespace (space, tab, CR, LF, VT, FF):
//!
//! ```text
//! YYYY-MM-DD(T| )HH:MM:SS[.fraction][ ][Z|UTC|±HH|±HH:MM]
//! ```
//!
//! Letters are upper case (`T`, `Z`, `UTC`). Dates must exist in the proleptic Gregorian
//! calendar, the fraction may have any number of digits (truncated to microseconds), offsets
//! (hours 00-23, minutes 00-59) are converted to UTC and a missing zone means UTC. Anything
//! else is NULL; in particular a date without a time (`2024-03-15`: midnight in which zone?),
//! an offset without its colon (`+0530`) and lower-case zones (`utc`, `z`) are rejected, so a
//! value is either in the documented form or reported, never guessed.

use std::sync::{Arc, LazyLock};

use chrono::{NaiveDate, NaiveTime};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_DATETIME;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature,
};

use crate::util::{UTC, cast_to, finish, is_string, timestamp_utc_type, to_arrays, value_type};

const MICROS_PER_SECOND: i64 = 1_000_000;

/// Two ASCII digits at `bytes[at..at + 2]`.
fn two_digits(bytes: &[u8], at: usize) -> Option<u32> {
    let hi = *bytes.get(at)?;
    let lo = *bytes.get(at + 1)?;
    if hi.is_ascii_digit() && lo.is_ascii_digit() {
        Some(u32::from(hi - b'0') * 10 + u32::from(lo - b'0'))
    } else {
        None
    }
}

/// `YYYY-MM-DD` at the start of `bytes`; returns the date and the remaining bytes.
fn parse_date(bytes: &[u8]) -> Option<(NaiveDate, &[u8])> {
    let year = two_digits(bytes, 0)? * 100 + two_digits(bytes, 2)?;
    if bytes.get(4) != Some(&b'-') || bytes.get(7) != Some(&b'-') {
        return None;
    }
    let month = two_digits(bytes, 5)?;
    let day = two_digits(bytes, 8)?;
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    Some((date, &bytes[10..]))
}

/// `HH:MM:SS[.fraction]` at the start of `bytes`; returns the time and the remaining bytes.
fn parse_time(bytes: &[u8]) -> Option<(NaiveTime, &[u8])> {
    let hour = two_digits(bytes, 0)?;
    let minute = two_digits(bytes, 3)?;
    let second = two_digits(bytes, 6)?;
    if bytes.get(2) != Some(&b':') || bytes.get(5) != Some(&b':') {
        return None;
    }
    let mut rest = &bytes[8..];
    let mut micros: u32 = 0;
    if let Some(after_dot) = rest.strip_prefix(b".") {
        let digits = after_dot.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        for i in 0..6 {
            let digit = after_dot[..digits]
                .get(i)
                .map_or(0, |b| u32::from(b - b'0'));
            micros = micros * 10 + digit;
        }
        rest = &after_dot[digits..];
    }
    // `hour`, `minute`, `second` < 60 are checked here; micros < 1_000_000 so no leap second.
    let time = NaiveTime::from_hms_micro_opt(hour, minute, second, micros)?;
    Some((time, rest))
}

/// The zone suffix (possibly empty) as an offset east of UTC in seconds.
fn parse_zone(bytes: &[u8]) -> Option<i64> {
    let sign: i64 = match bytes {
        [] | b"Z" | b"UTC" => return Some(0),
        [b'+', ..] => 1,
        [b'-', ..] => -1,
        _ => return None,
    };
    let hours = two_digits(bytes, 1)?;
    let minutes = match &bytes[3..] {
        [] => 0,
        [b':', _, _] => two_digits(bytes, 4)?,
        _ => return None,
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * (i64::from(hours) * 3600 + i64::from(minutes) * 60))
}

/// Parse `text` per the module grammar into microseconds since the epoch (UTC).
pub fn parse_timestamp_micros(text: &str) -> Option<i64> {
    let bytes = crate::util::trim_ws(text).as_bytes();
    let (date, rest) = parse_date(bytes)?;
    let rest = match rest.first()? {
        b'T' | b' ' => &rest[1..],
        _ => return None,
    };
    let (time, rest) = parse_time(rest)?;
    let zone = match rest.strip_prefix(b" ") {
        Some([]) => return None,
        Some(zone) => zone,
        None => rest,
    };
    let offset_seconds = parse_zone(zone)?;
    let local = date.and_time(time).and_utc().timestamp_micros();
    local.checked_sub(offset_seconds.checked_mul(MICROS_PER_SECOND)?)
}

// ---------------------------------------------------------------------------------------------

/// `parse_ts(text)` → `Timestamp(Microsecond, "UTC")`, NULL when unparseable.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ParseTs {
    signature: Signature,
}

crate::util::udf_constructors!(ParseTs, "parse_ts");

static PARSE_TS_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_DATETIME,
        "Parses a timestamp string into a UTC timestamp with microsecond precision, returning \
         NULL (never an error) when the text does not parse. After trimming surrounding ASCII \
         whitespace the accepted form is `YYYY-MM-DD[T| ]HH:MM:SS[.fraction][ ][Z|UTC|±HH[:MM]]` \
         (upper-case letters). Dates must exist (2023-02-29 is NULL), fractions of any length are \
         truncated to microseconds, offsets are converted to UTC and a missing zone means UTC. \
         A date alone (`2024-03-15`), an offset without its colon (`+0530`) and lower-case zones \
         (`utc`) are NULL.",
        "parse_ts(text)",
    )
    .with_sql_example(
        "```sql\n> SELECT parse_ts('2024-03-14T07:52:42+02:00'), parse_ts('garbage');\n\
         -- 2024-03-14T05:52:42Z, NULL\n```",
    )
    .with_argument(
        "text",
        "String expression (Utf8, LargeUtf8 or Utf8View) holding the timestamp.",
    )
    .with_related_udf("from_epoch")
    .build()
});

fn coerce_text(arg_types: &[DataType]) -> Result<DataType> {
    let [arg] = arg_types else {
        return plan_err!(
            "parse_ts() takes exactly one argument (a timestamp string); got {} arguments",
            arg_types.len()
        );
    };
    match value_type(arg) {
        DataType::Null => Ok(DataType::Utf8),
        t if is_string(t) => Ok(t.clone()),
        other => plan_err!("parse_ts() expects a string argument; got {other}"),
    }
}

fn parse_all<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    let parsed: TimestampMicrosecondArray =
        values.map(|v| v.and_then(parse_timestamp_micros)).collect();
    Arc::new(parsed.with_timezone(UTC))
}

impl ScalarUDFImpl for ParseTs {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        Ok(vec![coerce_text(arg_types)?])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(timestamp_utc_type())
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (all_scalar, arrays) = to_arrays(&args.args)?;
        let [input] = arrays.as_slice() else {
            return exec_err!(
                "parse_ts() takes exactly one argument; got {}",
                arrays.len()
            );
        };
        let input = cast_to(input, &coerce_text(&[input.data_type().clone()])?)?;
        let result = match input.data_type() {
            DataType::Utf8 => parse_all(input.as_string::<i32>().iter()),
            DataType::LargeUtf8 => parse_all(input.as_string::<i64>().iter()),
            DataType::Utf8View => parse_all(input.as_string_view().iter()),
            other => return exec_err!("parse_ts() cannot evaluate {other}"),
        };
        debug_assert_eq!(result.len(), input.len());
        finish(all_scalar, result)
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&PARSE_TS_DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::test_util::{invoke_arrays, invoke_scalar, query_column};
    use chrono::NaiveDateTime;
    use datafusion::arrow::array::{LargeStringArray, StringArray, StringViewArray};
    use datafusion::arrow::datatypes::TimestampMicrosecondType;
    use datafusion::common::ScalarValue;
    use datafusion::logical_expr::ScalarUDF;

    fn micros_of(s: &str) -> i64 {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
            .expect("test timestamp")
            .and_utc()
            .timestamp_micros()
    }

    fn ts(micros: Option<i64>) -> ScalarValue {
        ScalarValue::TimestampMicrosecond(micros, Some(Arc::from(UTC)))
    }

    #[test]
    fn parses_required_examples() {
        let cases = [
            ("2024-03-14 07:52:42 UTC", "2024-03-14 07:52:42"),
            (
                "2024-03-14 07:52:42.121304 UTC",
                "2024-03-14 07:52:42.121304",
            ),
            ("2024-03-14T07:52:42Z", "2024-03-14 07:52:42"),
            ("2024-03-14T07:52:42+02:00", "2024-03-14 05:52:42"),
            ("2024-03-14 07:52:42-05:30", "2024-03-14 13:22:42"),
            ("2024-03-14T07:52:42.5+00", "2024-03-14 07:52:42.5"),
            ("2024-03-14 07:52:42", "2024-03-14 07:52:42"),
            ("2024-03-14 07:52:42Z", "2024-03-14 07:52:42"),
            ("2024-03-14 07:52:42UTC", "2024-03-14 07:52:42"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                parse_timestamp_micros(input),
                Some(micros_of(expected)),
                "{input:?}"
            );
        }
    }

    #[test]
    fn rejects_garbage() {
        for input in [
            "garbage",
            "",
            "   ",
            "2024-13-01 00:00:00",
            "2024-03-14 25:00:00",
            "2024-03-14 07:52:42 XYZ",
            "2024-03-14 07:60:00",
            "2024-03-14 07:52:60",
            "2024-03-14 07:52",
            "2024-03-14 07:52:42.",
            "2024-03-14 07:52:42.12a",
            "2024-03-14  07:52:42",
            "2024-03-14 07:52:42  UTC",
            "2024-03-14T",
            "2024-03-14X07:52:42",
            "2024-3-14",
            "24-03-14",
            "2024-03-14Z",
            "2024-03-14 07:52:42+2",
            "2024-03-14 07:52:42+02:0",
            "2024-03-14 07:52:42+0200x",
            "2024-03-14 07:52:42+24:00",
            "2024-03-14 07:52:42+02:60",
            "2024-03-14 07:52:42 UTCX",
            "2024-00-10",
            "2024-01-00",
            "+2024-01-01",
            "2024-03-14 07:52:42 +",
            "２０２４-03-14",
        ] {
            assert_eq!(parse_timestamp_micros(input), None, "{input:?}");
        }
    }

    /// The forms close to the grammar that are rejected by decision (module doc), so that no
    /// pipeline guesses: a date alone, an offset without its colon, lower-case letters.
    #[test]
    fn rejects_forms_outside_the_documented_grammar() {
        for input in [
            "2024-03-15",
            "2024-03-15 10:00:00+0530",
            "2024-03-15 10:00:00-0000",
            "2024-03-15 01:00:00 utc",
            "2024-03-15 01:00:00 Utc",
            "2024-03-15T01:00:00z",
            "2024-03-15t01:00:00Z",
            "2024-03-15 01:00:00 GMT",
            "2024-03-15 01:00:00+05:30:00",
        ] {
            assert_eq!(parse_timestamp_micros(input), None, "{input:?}");
        }
    }

    #[test]
    fn calendar_validation() {
        assert_eq!(
            parse_timestamp_micros("2024-02-29 12:00:00"),
            Some(micros_of("2024-02-29 12:00:00"))
        );
        assert_eq!(parse_timestamp_micros("2023-02-29 12:00:00"), None);
        assert_eq!(parse_timestamp_micros("2023-02-29 00:00:00"), None);
        assert_eq!(parse_timestamp_micros("2023-02-30 00:00:00"), None);
        assert_eq!(parse_timestamp_micros("2100-02-29 00:00:00"), None);
        assert_eq!(
            parse_timestamp_micros("2000-02-29T00:00:00Z"),
            Some(micros_of("2000-02-29 00:00:00"))
        );
        assert_eq!(parse_timestamp_micros("2024-04-31 00:00:00"), None);
        assert_eq!(
            parse_timestamp_micros("2024-12-31T23:59:59.999999999Z"),
            Some(micros_of("2024-12-31 23:59:59.999999"))
        );
        assert_eq!(
            parse_timestamp_micros("1969-12-31 23:59:59.5"),
            Some(-500_000)
        );
        assert_eq!(
            parse_timestamp_micros("0000-01-01 00:00:00"),
            Some(micros_of("0000-01-01 00:00:00"))
        );
        assert_eq!(
            parse_timestamp_micros("9999-12-31 23:59:59+14:00"),
            Some(micros_of("9999-12-31 09:59:59"))
        );
    }

    #[test]
    fn offsets_and_whitespace() {
        let base = micros_of("2024-03-14 07:52:42");
        let hour = 3_600 * MICROS_PER_SECOND;
        assert_eq!(
            parse_timestamp_micros("2024-03-14T07:52:42+01"),
            Some(base - hour)
        );
        assert_eq!(
            parse_timestamp_micros("2024-03-14T07:52:42 -01:00"),
            Some(base + hour)
        );
        assert_eq!(
            parse_timestamp_micros("2024-03-14T07:52:42-00:00"),
            Some(base)
        );
        assert_eq!(
            parse_timestamp_micros("2024-03-14T23:30:00-02:00"),
            Some(micros_of("2024-03-15 01:30:00"))
        );
        assert_eq!(
            parse_timestamp_micros("2024-03-01T00:30:00+01:00"),
            Some(micros_of("2024-02-29 23:30:00"))
        );
        assert_eq!(
            parse_timestamp_micros(" \t\r\n\x0B\x0C2024-03-14 07:52:42 UTC\x0C\x0B\n\r\t "),
            Some(base)
        );
        assert_eq!(parse_timestamp_micros("2024-03-14 07:52:42 "), Some(base));
        // Non-ASCII whitespace is not trimmed.
        assert_eq!(parse_timestamp_micros("\u{00A0}2024-03-14 07:52:42"), None);
    }

    #[test]
    fn invoke_all_string_types() {
        let f = ScalarUDF::from(ParseTs::new());
        let expected = vec![
            Some(micros_of("2024-03-14 05:52:42")),
            None,
            None,
            Some(micros_of("2024-02-29 00:00:00")),
            None,
        ];
        let values = vec![
            Some("2024-03-14T07:52:42+02:00"),
            None,
            Some("garbage"),
            Some("2024-02-29 00:00:00 UTC"),
            Some("2024-02-29"),
        ];
        let inputs: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(values.clone())),
            Arc::new(LargeStringArray::from(values.clone())),
            Arc::new(StringViewArray::from(values)),
        ];
        for input in inputs {
            let out = invoke_arrays(&f, vec![input]);
            assert_eq!(out.data_type(), &timestamp_utc_type());
            let got: Vec<_> = out
                .as_primitive::<TimestampMicrosecondType>()
                .iter()
                .collect();
            assert_eq!(got, expected);
        }
        assert_eq!(
            invoke_scalar(&f, vec![ScalarValue::Utf8View(Some("2024-03-14Z".into()))]),
            ts(None)
        );
        assert_eq!(
            invoke_scalar(
                &f,
                vec![ScalarValue::LargeUtf8(Some("2024-03-14 00:00:00".into()))]
            ),
            ts(Some(micros_of("2024-03-14 00:00:00")))
        );
        assert_eq!(invoke_scalar(&f, vec![ScalarValue::Utf8(None)]), ts(None));
        assert_eq!(invoke_scalar(&f, vec![ScalarValue::Null]), ts(None));
        assert!(ParseTs::new().coerce_types(&[DataType::Int64]).is_err());
    }

    #[tokio::test]
    async fn parse_ts_sql() {
        let got = query_column(
            "SELECT parse_ts(column1) FROM (VALUES \
             ('2024-03-14 07:52:42 UTC'), ('2024-03-14T07:52:42.5+00'), ('garbage'), (''), \
             (NULL), ('2023-02-29 00:00:00'), ('2024-02-29T12:00:00-05:30'), ('2024-03-15'), \
             ('2024-03-15 10:00:00+0530'), ('2024-03-15 01:00:00 utc')) AS t",
            0,
        )
        .await;
        assert_eq!(
            got,
            vec![
                ts(Some(micros_of("2024-03-14 07:52:42"))),
                ts(Some(micros_of("2024-03-14 07:52:42.5"))),
                ts(None),
                ts(None),
                ts(None),
                ts(None),
                ts(Some(micros_of("2024-02-29 17:30:00"))),
                ts(None),
                ts(None),
                ts(None),
            ]
        );
        let got = query_column(
            "SELECT parse_ts(arrow_cast('2024-03-14T07:52:42Z', 'Utf8View')), \
             parse_ts(NULL)",
            0,
        )
        .await;
        assert_eq!(got, vec![ts(Some(micros_of("2024-03-14 07:52:42")))]);
    }
}
