//! Text → number parsers with the rules of docs/pipelines.md#values-and-reason-codes, for
//! validating raw records in SQL.
//!
//! - `parse_int(text)`: optional sign and digits after trimming ASCII whitespace; a zero
//!   fraction is allowed (`12.0`); `12.5`, `1e3`, `two` are NULL. (A plain cast would round
//!   `12.5` or reject `12.0`.)
//! - `parse_float(text)`: decimal or exponent notation; `nan` / `inf` are NULL.
//! - `json_int(raw)` / `json_float(raw)`: the same over a raw JSON value's text: JSON numbers
//!   only (a quoted `"100"` or `true` is NULL); `100.0` and `1e2` are integers.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_STRING;

use crate::util::trim_ws;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// Integer text: `[+-]digits[.0*]`. One pass over the bytes (a third of validation's CPU
/// went to number parsing with `split_once` / `str::parse`).
pub fn parse_int_text(s: &str) -> Option<i64> {
    let b = trim_ws(s).as_bytes();
    let (negative, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    let int_len = digits
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    let (int_part, rest) = digits.split_at(int_len);
    if int_part.is_empty() {
        return None;
    }
    match rest.split_first() {
        None => {}
        Some((b'.', frac)) if frac.iter().all(|&c| c == b'0') => {}
        Some(_) => return None,
    }
    // Accumulated negatively: i64::MIN has no positive counterpart.
    let mut value: i64 = 0;
    for &d in int_part {
        value = value.checked_mul(10)?.checked_sub(i64::from(d - b'0'))?;
    }
    if negative {
        Some(value)
    } else {
        value.checked_neg()
    }
}

/// Float text: decimal or exponent notation, finite.
pub fn parse_float_text(s: &str) -> Option<f64> {
    let t = trim_ws(s);
    if let Some(v) = simple_decimal(t.as_bytes()) {
        return Some(v);
    }
    // Only digits, signs, points and exponents: `str::parse` also takes "inf" and "NaN".
    if t.is_empty()
        || !t
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    t.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// `[-]digits[.digits]` with at most 15 digits in all: the digits as an integer, divided by a
/// power of ten. Both are exact doubles, so the one division rounds correctly and the result
/// is the same as `str::parse` (Clinger's fast path), at a fraction of the cost. `None` for
/// anything else.
fn simple_decimal(b: &[u8]) -> Option<f64> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let (negative, b) = match b.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, b),
    };
    let mut mantissa: u64 = 0;
    let mut digits = 0usize;
    let mut scale: Option<usize> = None;
    for &c in b {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(c - b'0');
                digits += 1;
                if let Some(k) = scale.as_mut() {
                    *k += 1;
                }
            }
            b'.' if scale.is_none() => scale = Some(0),
            _ => return None,
        }
        if digits > 15 {
            return None;
        }
    }
    let scale = scale.unwrap_or(0);
    // "5." and ".5" are numbers to str::parse; "." is not. Leave every such case to it.
    if digits == 0 || b.first() == Some(&b'.') || b.last() == Some(&b'.') {
        return None;
    }
    let v = mantissa as f64 / POW10[scale];
    Some(if negative { -v } else { v })
}

fn is_json_number(t: &str) -> bool {
    t.starts_with(|c: char| c == '-' || c.is_ascii_digit())
}

/// A raw JSON number that is integral (`100`, `100.0`, `1e2`).
pub fn json_int_text(s: &str) -> Option<i64> {
    let t = trim_ws(s);
    if !is_json_number(t) {
        return None;
    }
    if let Ok(v) = t.parse::<i64>() {
        return Some(v);
    }
    let f = t.parse::<f64>().ok().filter(|v| v.is_finite())?;
    (f.fract() == 0.0 && f.abs() < 9.2e18).then_some(f as i64)
}

/// A raw JSON number as a double.
pub fn json_float_text(s: &str) -> Option<f64> {
    let t = trim_ws(s);
    if !is_json_number(t) {
        return None;
    }
    t.parse::<f64>().ok().filter(|v| v.is_finite())
}

#[derive(Debug, PartialEq, Eq, Hash, Clone, Copy)]
enum Kind {
    Int,
    Float,
    JsonInt,
    JsonFloat,
}

/// One of the four parsers.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Parse {
    kind: Kind,
    signature: Signature,
}

impl Parse {
    fn new(kind: Kind) -> Self {
        Self {
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
    pub fn parse_int() -> Self {
        Self::new(Kind::Int)
    }
    pub fn parse_float() -> Self {
        Self::new(Kind::Float)
    }
    pub fn json_int() -> Self {
        Self::new(Kind::JsonInt)
    }
    pub fn json_float() -> Self {
        Self::new(Kind::JsonFloat)
    }
}

pub const NAMES: [&str; 4] = ["parse_int", "parse_float", "json_int", "json_float"];

static DOCS: LazyLock<[Documentation; 4]> = LazyLock::new(|| {
    let doc = |desc: &str, syntax: &str, example: &str| {
        Documentation::builder(DOC_SECTION_STRING, desc.to_string(), syntax.to_string())
            .with_sql_example(example.to_string())
            .with_argument("text", "String expression.")
            .build()
    };
    [
        doc(
            "Parses an integer: optional sign and digits after trimming ASCII whitespace, a zero fraction allowed (`12.0`). Anything else (`12.5`, `1e3`, `two`, empty) is NULL.",
            "parse_int(text)",
            "```sql\n> SELECT parse_int(' 12.0 '), parse_int('12.5');\n-- 12, NULL\n```",
        ),
        doc(
            "Parses a finite double in decimal or exponent notation after trimming; `nan`, `inf` and text are NULL.",
            "parse_float(text)",
            "```sql\n> SELECT parse_float('1e3'), parse_float('nan');\n-- 1000.0, NULL\n```",
        ),
        doc(
            "Integer value of a raw JSON value's text: JSON numbers with no fraction (`100`, `100.0`, `1e2`); strings (`\"100\"`), booleans and `12.5` are NULL.",
            "json_int(raw_json)",
            "```sql\n> SELECT json_int('1e2'), json_int('\"100\"');\n-- 100, NULL\n```",
        ),
        doc(
            "Double value of a raw JSON value's text: JSON numbers only; strings and booleans are NULL.",
            "json_float(raw_json)",
            "```sql\n> SELECT json_float('2.5'), json_float('true');\n-- 2.5, NULL\n```",
        ),
    ]
});

impl Parse {
    /// Apply this parser to every value.
    fn parse_all<'a>(&self, values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
        match self.kind {
            Kind::Int => Arc::new(map_values::<Int64Array, _>(values, parse_int_text)),
            Kind::JsonInt => Arc::new(map_values::<Int64Array, _>(values, json_int_text)),
            Kind::Float => Arc::new(map_values::<Float64Array, _>(values, parse_float_text)),
            Kind::JsonFloat => Arc::new(map_values::<Float64Array, _>(values, json_float_text)),
        }
    }
}

/// `parse` over every non-NULL value.
fn map_values<'a, A: FromIterator<Option<T>>, T>(
    values: impl Iterator<Item = Option<&'a str>>,
    parse: fn(&str) -> Option<T>,
) -> A {
    values.map(|v| v.and_then(parse)).collect()
}

impl ScalarUDFImpl for Parse {
    fn name(&self) -> &str {
        NAMES[self.kind as usize]
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 1 {
            return plan_err!(
                "{}() takes one argument; got {}",
                self.name(),
                arg_types.len()
            );
        }
        // String views stay views: a cast to Utf8 would copy every value first.
        Ok(vec![match arg_types[0] {
            DataType::Utf8View => DataType::Utf8View,
            _ => DataType::Utf8,
        }])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Kind::Int | Kind::JsonInt => DataType::Int64,
            Kind::Float | Kind::JsonFloat => DataType::Float64,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let is_scalar = matches!(args.args[0], ColumnarValue::Scalar(_));
        let array = args.args[0].to_array(args.number_rows)?;
        let out = match array.data_type() {
            DataType::Utf8View => self.parse_all(array.as_string_view().iter()),
            _ => {
                let array = cast(&array, &DataType::Utf8)?;
                let Some(text) = array.as_any().downcast_ref::<StringArray>() else {
                    return plan_err!("{}(): expected text", self.name());
                };
                self.parse_all(text.iter())
            }
        };
        if is_scalar && out.len() == 1 {
            return Ok(ColumnarValue::Scalar(
                datafusion::common::ScalarValue::try_from_array(&out, 0)?,
            ));
        }
        Ok(ColumnarValue::Array(out))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCS[self.kind as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        assert_eq!(parse_int_text(" 12 "), Some(12));
        assert_eq!(parse_int_text("\t-3.00\u{0B}"), Some(-3));
        assert_eq!(parse_int_text("+7"), Some(7));
        for bad in ["12.5", "1e3", "two", "", "-", "1 2", ".0"] {
            assert_eq!(parse_int_text(bad), None, "{bad}");
        }
        assert_eq!(json_int_text("1e2"), Some(100));
        assert_eq!(json_int_text("100.0"), Some(100));
        assert_eq!(json_int_text("\"100\""), None);
        assert_eq!(json_int_text("true"), None);
        assert_eq!(json_int_text("12.5"), None);
    }

    #[test]
    fn floats() {
        assert_eq!(parse_float_text("1e3"), Some(1000.0));
        assert_eq!(parse_float_text(" 9.50 "), Some(9.5));
        for bad in ["nan", "inf", "-Infinity", "abc", ""] {
            assert_eq!(parse_float_text(bad), None, "{bad}");
        }
        assert_eq!(json_float_text("2.5"), Some(2.5));
        assert_eq!(parse_int_text("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_int_text("9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_int_text("9223372036854775808"), None);
        assert_eq!(parse_int_text("+"), None);
        assert_eq!(parse_int_text("-0"), Some(0));
    }

    /// The fast path gives exactly what `str::parse` gives.
    #[test]
    fn simple_decimals_match_str_parse() {
        let mut texts: Vec<String> = [
            "0",
            "-0",
            "0.1",
            "0.3",
            "12.5",
            "-3.75",
            "123456789012345",
            "1.00000000000001",
            "99999.99",
            "0.000000000000001",
            "5.",
            ".5",
            "-.5",
            "1234567890123456",
            "12.34.5",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = format!("{}", x % 10u64.pow(1 + (x % 15) as u32));
            let point = (x >> 32) as usize % (digits.len() + 1);
            texts.push(
                format!("{}.{}", &digits[..point], &digits[point..])
                    .replace(".", if point == 0 { "" } else { "." }),
            );
            texts.push(format!("-{digits}"));
        }
        for t in &texts {
            let expected = t.parse::<f64>().ok().filter(|v| v.is_finite());
            assert_eq!(
                parse_float_text(t).map(f64::to_bits),
                expected.map(f64::to_bits),
                "{t}"
            );
        }
        assert_eq!(json_float_text("\"2.5\""), None);
    }
}
