//! `safe_div(a, b)`: division that yields NULL instead of an error or infinity on a zero divisor.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{AsArray, Float64Array};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_MATH;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature,
};

use crate::util::{cast_to, finish, is_numeric, to_arrays, value_type};

/// `a / b` in Float64, `None` when either side is NULL or `b` is zero (including `-0.0`).
pub fn safe_div_f64(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => Some(a / b),
        _ => None,
    }
}

/// `safe_div(a, b)` → `Float64`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SafeDiv {
    signature: Signature,
}

crate::util::udf_constructors!(SafeDiv, "safe_div");

static SAFE_DIV_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_MATH,
        "Divides `a` by `b` in double precision, returning NULL instead of failing (or giving \
         infinity) when `b` is zero, and NULL when either argument is NULL. Both arguments are \
         coerced to Float64.",
        "safe_div(a, b)",
    )
    .with_sql_example(
        "```sql\n> SELECT safe_div(7, 2), safe_div(1, 0), safe_div(NULL, 3);\n\
         -- 3.5, NULL, NULL\n```",
    )
    .with_argument("a", "Numeric expression: the dividend.")
    .with_argument(
        "b",
        "Numeric expression: the divisor. Zero or NULL gives NULL.",
    )
    .build()
});

fn coerce_operands(arg_types: &[DataType]) -> Result<Vec<DataType>> {
    if arg_types.len() != 2 {
        return plan_err!(
            "safe_div() takes exactly two arguments (a, b); got {} arguments",
            arg_types.len()
        );
    }
    arg_types
        .iter()
        .map(|t| match value_type(t) {
            DataType::Null => Ok(DataType::Float64),
            t if is_numeric(t) => Ok(DataType::Float64),
            other => plan_err!("safe_div() expects numeric arguments; got {other}"),
        })
        .collect()
}

impl ScalarUDFImpl for SafeDiv {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_operands(arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (all_scalar, arrays) = to_arrays(&args.args)?;
        let [a, b] = arrays.as_slice() else {
            return exec_err!(
                "safe_div() takes exactly two arguments; got {}",
                arrays.len()
            );
        };
        let a = cast_to(a, &DataType::Float64)?;
        let b = cast_to(b, &DataType::Float64)?;
        let result: Float64Array = a
            .as_primitive::<Float64Type>()
            .iter()
            .zip(b.as_primitive::<Float64Type>().iter())
            .map(|(a, b)| safe_div_f64(a, b))
            .collect();
        finish(all_scalar, Arc::new(result))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&SAFE_DIV_DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::test_util::{invoke_arrays, invoke_scalar, query, query_column};
    use datafusion::arrow::array::{Array, ArrayRef, Int32Array};
    use datafusion::common::ScalarValue;
    use datafusion::logical_expr::ScalarUDF;

    #[test]
    fn plain_values() {
        assert_eq!(safe_div_f64(Some(7.0), Some(2.0)), Some(3.5));
        assert_eq!(safe_div_f64(Some(-1.0), Some(4.0)), Some(-0.25));
        assert_eq!(safe_div_f64(Some(0.0), Some(5.0)), Some(0.0));
        assert_eq!(safe_div_f64(Some(1.0), Some(0.0)), None);
        assert_eq!(safe_div_f64(Some(1.0), Some(-0.0)), None);
        assert_eq!(safe_div_f64(Some(0.0), Some(0.0)), None);
        assert_eq!(safe_div_f64(None, Some(1.0)), None);
        assert_eq!(safe_div_f64(Some(1.0), None), None);
        assert_eq!(safe_div_f64(None, None), None);
        assert_eq!(safe_div_f64(Some(1.0), Some(f64::INFINITY)), Some(0.0));
        assert!(safe_div_f64(Some(1.0), Some(f64::NAN)).is_some_and(f64::is_nan));
    }

    #[test]
    fn invoke_scalars_and_arrays() {
        let f = ScalarUDF::from(SafeDiv::new());
        assert_eq!(
            invoke_scalar(
                &f,
                vec![ScalarValue::Int64(Some(9)), ScalarValue::Int32(Some(2))]
            ),
            ScalarValue::Float64(Some(4.5))
        );
        assert_eq!(
            invoke_scalar(
                &f,
                vec![ScalarValue::Float64(Some(9.0)), ScalarValue::Int32(Some(0))]
            ),
            ScalarValue::Float64(None)
        );
        assert_eq!(
            invoke_scalar(&f, vec![ScalarValue::Null, ScalarValue::Int32(Some(3))]),
            ScalarValue::Float64(None)
        );
        let a: ArrayRef = Arc::new(Int32Array::from(vec![Some(10), Some(10), None, Some(-3)]));
        let b: ArrayRef = Arc::new(Int32Array::from(vec![Some(4), Some(0), Some(1), None]));
        let out = invoke_arrays(&f, vec![a, b]);
        let out = out.as_primitive::<Float64Type>();
        assert_eq!(
            out.iter().collect::<Vec<_>>(),
            vec![Some(2.5), None, None, None]
        );
        assert_eq!(out.null_count(), 3);
    }

    #[test]
    fn coercion() {
        let f = SafeDiv::new();
        assert_eq!(
            f.coerce_types(&[DataType::Int8, DataType::Decimal128(10, 2)])
                .expect("numeric"),
            vec![DataType::Float64, DataType::Float64]
        );
        assert!(f.coerce_types(&[DataType::Utf8, DataType::Int64]).is_err());
        assert!(f.coerce_types(&[DataType::Int64]).is_err());
    }

    #[tokio::test]
    async fn safe_div_sql() {
        let got = query_column(
            "SELECT safe_div(column1, column2) FROM (VALUES \
             (7, 2), (1, 0), (NULL, 3), (3, NULL), (-9, 3), (0, 0)) AS t",
            0,
        )
        .await;
        assert_eq!(
            got,
            vec![
                ScalarValue::Float64(Some(3.5)),
                ScalarValue::Float64(None),
                ScalarValue::Float64(None),
                ScalarValue::Float64(None),
                ScalarValue::Float64(Some(-3.0)),
                ScalarValue::Float64(None),
            ]
        );
        let got = query_column("SELECT safe_div(1.5, 0.5), safe_div(1, 0.0)", 0).await;
        assert_eq!(got, vec![ScalarValue::Float64(Some(3.0))]);
        let got = query_column("SELECT safe_div(1, 0.0)", 0).await;
        assert_eq!(got, vec![ScalarValue::Float64(None)]);
        assert!(query("SELECT safe_div('a', 1)").await.is_err());
    }
}
