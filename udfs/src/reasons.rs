//! `reasons(cond1, 'CODE1', cond2, 'CODE2', …)`: collect the codes of the checks that failed.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, AsArray, ListBuilder, StringArray, StringBuilder};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_CONDITIONAL;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature,
};

use crate::util::{cast_to, finish, is_string, value_type};

/// `List(Utf8)` with nullable items named `item` (what `ListBuilder<StringBuilder>` produces).
fn list_of_utf8() -> DataType {
    DataType::new_list(DataType::Utf8, true)
}

/// Planning-time check: a non-zero, even number of arguments.
fn check_arity(count: usize) -> Result<()> {
    if count == 0 || !count.is_multiple_of(2) {
        return plan_err!(
            "reasons() takes pairs (condition, 'CODE', …); got {count} argument{}",
            if count == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

fn coerce_pairs(arg_types: &[DataType]) -> Result<Vec<DataType>> {
    check_arity(arg_types.len())?;
    arg_types
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let position = i + 1;
            if i % 2 == 0 {
                match value_type(t) {
                    DataType::Boolean | DataType::Null => Ok(DataType::Boolean),
                    other => plan_err!(
                        "reasons(): argument {position} must be a boolean condition; got {other}"
                    ),
                }
            } else {
                match value_type(t) {
                    DataType::Null => Ok(DataType::Utf8),
                    t if is_string(t) => Ok(DataType::Utf8),
                    other => plan_err!(
                        "reasons(): argument {position} must be a string code; got {other}"
                    ),
                }
            }
        })
        .collect()
}

/// One condition as a bitmap of the rows where the check failed (TRUE or NULL).
struct Failed(BooleanBuffer);

impl Failed {
    fn of(condition: &ColumnarValue, rows: usize) -> Result<Self> {
        let array = cast_to(&condition.to_array(rows)?, &DataType::Boolean)?;
        let array = array.as_boolean();
        let values = array.values().clone();
        Ok(Failed(match array.nulls() {
            Some(nulls) => &values | &!nulls.inner(),
            None => values,
        }))
    }

    fn bits(&self) -> &BooleanBuffer {
        &self.0
    }
}

/// One code: usually a literal, so not expanded to one string per row.
enum Code {
    Constant(Option<String>),
    PerRow(StringArray),
}

impl Code {
    fn of(code: &ColumnarValue, rows: usize) -> Result<Self> {
        Ok(match code {
            ColumnarValue::Scalar(s) => {
                let one = cast_to(&s.to_array_of_size(1)?, &DataType::Utf8)?;
                let one = one.as_string::<i32>();
                Code::Constant(one.is_valid(0).then(|| one.value(0).to_string()))
            }
            ColumnarValue::Array(_) => {
                let array = cast_to(&code.to_array(rows)?, &DataType::Utf8)?;
                Code::PerRow(array.as_string::<i32>().clone())
            }
        })
    }

    fn at(&self, row: usize) -> Option<&str> {
        match self {
            Code::Constant(c) => c.as_deref(),
            Code::PerRow(a) => a.is_valid(row).then(|| a.value(row)),
        }
    }
}

/// `reasons(…)` → `List(Utf8)`, never NULL.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Reasons {
    signature: Signature,
}

crate::util::udf_constructors!(Reasons, "reasons");

static REASONS_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_CONDITIONAL,
        "Collects reason codes for failed checks. Takes (condition, code) pairs where each \
         condition expresses \"this check failed\"; the code is included when the condition is \
         TRUE or NULL (a NULL outcome counts as a failure) and left out when it is FALSE. Returns \
         a non-NULL list of strings in argument order, empty when nothing failed. NULL codes are \
         skipped. An odd or zero number of arguments is a planning error.",
        "reasons(condition1, 'CODE1'[, condition2, 'CODE2', ...])",
    )
    .with_sql_example(
        "```sql\n> SELECT reasons(qty < 0, 'NEG_QTY', price IS NULL, 'NO_PRICE', sku = '', 'NO_SKU')\n\
         FROM (VALUES (-1, NULL, 'a')) AS t(qty, price, sku);\n-- [NEG_QTY, NO_PRICE]\n```",
    )
    .with_argument(
        "condition",
        "Boolean expression that is TRUE when the check failed. NULL also counts as failed.",
    )
    .with_argument(
        "code",
        "String expression (usually a literal) naming the failed check.",
    )
    .build()
});

impl ScalarUDFImpl for Reasons {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_pairs(arg_types)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        check_arity(arg_types.len())?;
        Ok(list_of_utf8())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        check_arity(args.arg_fields.len())?;
        Ok(Arc::new(Field::new(self.name(), list_of_utf8(), false)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        check_arity(args.args.len())?;
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if all_scalar { 1 } else { args.number_rows };
        let mut checks = Vec::with_capacity(args.args.len() / 2);
        for pair in args.args.chunks_exact(2) {
            let [condition, code] = pair else {
                return exec_err!("reasons(): internal error splitting argument pairs");
            };
            checks.push((Failed::of(condition, rows)?, Code::of(code, rows)?));
        }
        // Rows where some check failed. Most records pass every check: they get their empty
        // list without looking at each check again.
        let mut any = BooleanBuffer::new_unset(rows);
        for (failed, _) in &checks {
            any = &any | failed.bits();
        }
        let mut builder = ListBuilder::with_capacity(StringBuilder::new(), rows)
            .with_field(Arc::new(Field::new_list_field(DataType::Utf8, true)));
        for row in 0..rows {
            if any.value(row) {
                for (failed, code) in &checks {
                    if failed.bits().value(row)
                        && let Some(code) = code.at(row)
                    {
                        builder.values().append_value(code);
                    }
                }
            }
            builder.append(true);
        }
        finish(all_scalar, Arc::new(builder.finish()))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&REASONS_DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::test_util::{invoke_arrays, invoke_scalar, query};
    use datafusion::arrow::array::{ArrayRef, BooleanArray, ListArray, StringArray};
    use datafusion::common::ScalarValue;
    use datafusion::logical_expr::ScalarUDF;

    fn lists(array: &ArrayRef) -> Vec<Vec<String>> {
        let list: &ListArray = array.as_list::<i32>();
        (0..list.len())
            .map(|row| {
                assert!(list.is_valid(row), "row {row} is NULL");
                let values = list.value(row);
                values
                    .as_string::<i32>()
                    .iter()
                    .map(|v| v.expect("non-null code").to_string())
                    .collect()
            })
            .collect()
    }

    fn scalar_list(value: ScalarValue) -> Vec<String> {
        let array = value.to_array().expect("array");
        lists(&array).remove(0)
    }

    #[test]
    fn arity_errors() {
        for count in [0, 1, 3, 5] {
            let err = check_arity(count).expect_err("odd or zero");
            assert!(
                err.to_string().contains(&format!(
                    "reasons() takes pairs (condition, 'CODE', …); got {count} argument"
                )),
                "{err}"
            );
        }
        assert!(check_arity(2).is_ok());
        assert!(check_arity(6).is_ok());
        let r = Reasons::new();
        assert!(r.coerce_types(&[]).is_err());
        assert!(r.return_type(&[DataType::Boolean]).is_err());
        assert!(r.coerce_types(&[DataType::Int64, DataType::Utf8]).is_err());
        assert!(
            r.coerce_types(&[DataType::Boolean, DataType::Int64])
                .is_err()
        );
        assert_eq!(
            r.coerce_types(&[DataType::Null, DataType::Utf8View])
                .expect("coerce"),
            vec![DataType::Boolean, DataType::Utf8]
        );
    }

    #[test]
    fn true_and_null_conditions_fail() {
        let f = ScalarUDF::from(Reasons::new());
        let cond1: ArrayRef = Arc::new(BooleanArray::from(vec![
            Some(true),
            Some(false),
            None,
            Some(false),
        ]));
        let code1: ArrayRef = Arc::new(StringArray::from(vec!["A"; 4]));
        let cond2: ArrayRef = Arc::new(BooleanArray::from(vec![
            Some(true),
            Some(false),
            Some(true),
            None,
        ]));
        let code2: ArrayRef = Arc::new(StringArray::from(vec![
            Some("B"),
            Some("B"),
            Some("B"),
            None,
        ]));
        let out = invoke_arrays(&f, vec![cond1, code1, cond2, code2]);
        assert_eq!(out.data_type(), &list_of_utf8());
        assert_eq!(out.null_count(), 0);
        assert_eq!(
            lists(&out),
            vec![
                vec!["A".to_string(), "B".to_string()],
                vec![],
                vec!["A".to_string(), "B".to_string()],
                vec![],
            ]
        );
    }

    #[test]
    fn scalar_arguments() {
        let f = ScalarUDF::from(Reasons::new());
        let out = invoke_scalar(
            &f,
            vec![
                ScalarValue::Boolean(Some(false)),
                ScalarValue::Utf8(Some("X".into())),
                ScalarValue::Boolean(None),
                ScalarValue::Utf8(Some("Y".into())),
                ScalarValue::Null,
                ScalarValue::LargeUtf8(Some("Z".into())),
            ],
        );
        assert_eq!(scalar_list(out), vec!["Y".to_string(), "Z".to_string()]);
        let out = invoke_scalar(
            &f,
            vec![
                ScalarValue::Boolean(Some(false)),
                ScalarValue::Utf8(Some("X".into())),
            ],
        );
        assert!(scalar_list(out).is_empty());
    }

    #[tokio::test]
    async fn reasons_sql() {
        let batches = query(
            "SELECT reasons(qty < 0, 'NEG_QTY', price IS NULL, 'NO_PRICE', sku = '', 'NO_SKU') \
             FROM (VALUES (1, 2.0, 'a'), (-1, NULL, 'b'), (NULL, 1.0, ''), (5, 1.0, NULL)) \
             AS t(qty, price, sku)",
        )
        .await
        .expect("query");
        let field = batches[0].schema().field(0).clone();
        assert_eq!(field.data_type(), &list_of_utf8());
        assert!(!field.is_nullable());
        let got: Vec<Vec<String>> = batches.iter().flat_map(|b| lists(b.column(0))).collect();
        assert_eq!(
            got,
            vec![
                vec![],
                vec!["NEG_QTY".to_string(), "NO_PRICE".to_string()],
                vec!["NEG_QTY".to_string(), "NO_SKU".to_string()],
                vec!["NO_SKU".to_string()],
            ]
        );

        let err = query("SELECT reasons(true, 'A', false)")
            .await
            .expect_err("odd arity");
        assert!(
            err.to_string()
                .contains("reasons() takes pairs (condition, 'CODE', …); got 3 arguments"),
            "{err}"
        );
        let err = query("SELECT reasons()").await.expect_err("zero arity");
        assert!(err.to_string().contains("got 0 arguments"), "{err}");
        let err = query("SELECT reasons(1, 'A')")
            .await
            .expect_err("non-boolean");
        assert!(err.to_string().contains("boolean condition"), "{err}");
    }
}
