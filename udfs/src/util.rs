//! Small helpers shared by the UDF implementations.

use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::ColumnarValue;

/// `NAME`, `new()` and `Default` of a UDF struct holding just its `signature`: user-defined
/// and immutable (the UDF checks and coerces its arguments in `coerce_types`) unless another
/// signature is given.
macro_rules! udf_constructors {
    ($udf:ident, $name:literal) => {
        $crate::util::udf_constructors!(
            $udf,
            $name,
            datafusion::logical_expr::Signature::user_defined(
                datafusion::logical_expr::Volatility::Immutable,
            )
        );
    };
    ($udf:ident, $name:literal, $signature:expr) => {
        impl $udf {
            pub const NAME: &'static str = $name;

            pub fn new() -> Self {
                Self {
                    signature: $signature,
                }
            }
        }

        impl Default for $udf {
            fn default() -> Self {
                Self::new()
            }
        }
    };
}
pub(crate) use udf_constructors;

/// The timezone attached to every timestamp these UDFs produce.
pub(crate) const UTC: &str = "UTC";

/// `Timestamp(Microsecond, Some("UTC"))`.
pub(crate) fn timestamp_utc_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from(UTC)))
}

/// `s` without leading and trailing ASCII whitespace (space, tab, CR, LF, vertical tab, form
/// feed). Byte-wise: `str::trim_matches` with a char set costs a char decode per byte.
#[inline]
pub(crate) fn trim_ws(s: &str) -> &str {
    let is_ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0B | 0x0C);
    let b = s.as_bytes();
    let start = b.iter().position(|c| !is_ws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !is_ws(c)).map_or(start, |p| p + 1);
    // Both ends sit next to ASCII bytes (or the text's ends): char boundaries.
    &s[start..end]
}

/// Look through a dictionary to the type of its values.
pub(crate) fn value_type(data_type: &DataType) -> &DataType {
    match data_type {
        DataType::Dictionary(_, values) => value_type(values),
        other => other,
    }
}

/// Is `data_type` (or the value type of a dictionary) numeric?
pub(crate) fn is_numeric(data_type: &DataType) -> bool {
    let t = value_type(data_type);
    t.is_integer() || t.is_floating() || t.is_decimal()
}

/// Is `data_type` (or the value type of a dictionary) one of the string types?
pub(crate) fn is_string(data_type: &DataType) -> bool {
    matches!(
        value_type(data_type),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// Materialize the arguments as arrays of equal length. The returned flag is true when every
/// argument was a scalar (the arrays then have length 1 and the result should be a scalar too).
pub(crate) fn to_arrays(args: &[ColumnarValue]) -> Result<(bool, Vec<ArrayRef>)> {
    let all_scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
    Ok((all_scalar, ColumnarValue::values_to_arrays(args)?))
}

/// Cast `array` to `target` unless it already has that type. Planning normally inserts the casts
/// (via `coerce_types`); this covers direct `invoke_with_args` callers.
pub(crate) fn cast_to(array: &ArrayRef, target: &DataType) -> Result<ArrayRef> {
    if array.data_type() == target {
        Ok(Arc::clone(array))
    } else {
        Ok(cast(array, target)?)
    }
}

/// Wrap a result array, turning it back into a scalar when all inputs were scalars.
pub(crate) fn finish(all_scalar: bool, result: ArrayRef) -> Result<ColumnarValue> {
    if all_scalar {
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
            &result, 0,
        )?))
    } else {
        Ok(ColumnarValue::Array(result))
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, RecordBatch};
    use datafusion::arrow::datatypes::Field;
    use datafusion::common::config::ConfigOptions;
    use datafusion::common::{Result, ScalarValue};
    use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF};
    use datafusion::prelude::SessionContext;

    /// Invoke `udf` directly on `args`, deriving the return field the same way planning does.
    pub(crate) fn invoke(udf: &ScalarUDF, args: Vec<ColumnarValue>) -> Result<ColumnarValue> {
        let arg_fields: Vec<_> = args
            .iter()
            .enumerate()
            .map(|(i, a)| Arc::new(Field::new(format!("a{i}"), a.data_type(), true)))
            .collect();
        let number_rows = args
            .iter()
            .find_map(|a| match a {
                ColumnarValue::Array(arr) => Some(arr.len()),
                ColumnarValue::Scalar(_) => None,
            })
            .unwrap_or(1);
        let scalars: Vec<Option<&ScalarValue>> = args
            .iter()
            .map(|a| match a {
                ColumnarValue::Scalar(s) => Some(s),
                ColumnarValue::Array(_) => None,
            })
            .collect();
        let return_field =
            udf.return_field_from_args(datafusion::logical_expr::ReturnFieldArgs {
                arg_fields: &arg_fields,
                scalar_arguments: &scalars,
            })?;
        udf.invoke_with_args(ScalarFunctionArgs {
            args,
            arg_fields,
            number_rows,
            return_field,
            config_options: Arc::new(ConfigOptions::default()),
        })
    }

    /// Invoke `udf` on scalars and return the scalar result.
    pub(crate) fn invoke_scalar(udf: &ScalarUDF, args: Vec<ScalarValue>) -> ScalarValue {
        match invoke(udf, args.into_iter().map(ColumnarValue::Scalar).collect()) {
            Ok(ColumnarValue::Scalar(s)) => s,
            Ok(ColumnarValue::Array(_)) => panic!("expected a scalar result"),
            Err(e) => panic!("invoke failed: {e}"),
        }
    }

    /// Invoke `udf` on arrays and return the array result.
    pub(crate) fn invoke_arrays(udf: &ScalarUDF, args: Vec<ArrayRef>) -> ArrayRef {
        match invoke(udf, args.into_iter().map(ColumnarValue::Array).collect()) {
            Ok(ColumnarValue::Array(a)) => a,
            Ok(ColumnarValue::Scalar(_)) => panic!("expected an array result"),
            Err(e) => panic!("invoke failed: {e}"),
        }
    }

    /// A session with all stockroom UDFs registered.
    pub(crate) fn ctx() -> SessionContext {
        let ctx = SessionContext::new();
        crate::register_all(&ctx);
        ctx
    }

    /// Run `sql` and return all result batches.
    pub(crate) async fn query(sql: &str) -> Result<Vec<RecordBatch>> {
        ctx().sql(sql).await?.collect().await
    }

    /// Run `sql` and return column `col` of all rows as scalars.
    pub(crate) async fn query_column(sql: &str, col: usize) -> Vec<ScalarValue> {
        let batches = match query(sql).await {
            Ok(b) => b,
            Err(e) => panic!("query {sql:?} failed: {e}"),
        };
        let mut out = Vec::new();
        for batch in batches {
            let column = batch.column(col);
            for row in 0..batch.num_rows() {
                out.push(ScalarValue::try_from_array(column, row).expect("scalar"));
            }
        }
        out
    }
}
