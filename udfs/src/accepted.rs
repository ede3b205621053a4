//! `accepted(reasons)`: true when a record's list of reason codes is empty.
//!
//! The same as `cardinality(reasons) = 0`, which every pipeline evaluates on every record
//! several times (the valid count, the rejects, the curated rows). DataFusion's `cardinality`
//! slices each row's list into an array of its own (with its `Arc`s and buffers: 4-6% of the
//! CPU of a whole pipeline run in `perf`); this reads the list offsets only.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, AsArray, BooleanArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_CONDITIONAL;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature,
};

use crate::util::{finish, to_arrays};

/// `accepted(reasons)` → `Boolean`; NULL lists are not accepted.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Accepted {
    signature: Signature,
}

crate::util::udf_constructors!(Accepted, "accepted");

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_CONDITIONAL,
        "True when the list of reason codes (from `reasons(…)`) is empty, i.e. the record passed \
         every check; false when it holds a code or is NULL. Equivalent to \
         `coalesce(cardinality(reasons) = 0, false)`, and faster.",
        "accepted(reasons)",
    )
    .with_sql_example("```sql\n> SELECT * FROM checked WHERE accepted(reasons);\n```")
    .with_argument("reasons", "List expression: a record's reason codes.")
    .build()
});

impl ScalarUDFImpl for Accepted {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [t @ (DataType::List(_) | DataType::LargeList(_))] => Ok(vec![t.clone()]),
            [t] => plan_err!("accepted() expects a list of reason codes; got {t}"),
            _ => plan_err!("accepted() takes one argument; got {}", arg_types.len()),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (all_scalar, arrays) = to_arrays(&args.args)?;
        let [list] = arrays.as_slice() else {
            return exec_err!("accepted() takes one argument; got {}", arrays.len());
        };
        let nulls = list.logical_nulls();
        let valid = |i: usize| nulls.as_ref().is_none_or(|n| n.is_valid(i));
        let out: BooleanArray = match list.data_type() {
            DataType::List(_) => {
                let offsets = list.as_list::<i32>().offsets();
                (0..list.len())
                    .map(|i| Some(valid(i) && offsets[i] == offsets[i + 1]))
                    .collect()
            }
            DataType::LargeList(_) => {
                let offsets = list.as_list::<i64>().offsets();
                (0..list.len())
                    .map(|i| Some(valid(i) && offsets[i] == offsets[i + 1]))
                    .collect()
            }
            other => return exec_err!("accepted() expects a list; got {other}"),
        };
        finish(all_scalar, Arc::new(out))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use crate::util::test_util::query_column;
    use datafusion::common::ScalarValue;

    #[tokio::test]
    async fn empty_lists_only() {
        let col = query_column(
            "SELECT accepted(r) FROM (VALUES (reasons(false, 'A')), (reasons(true, 'A')), \
             (CAST(NULL AS VARCHAR[]))) t(r)",
            0,
        )
        .await;
        assert_eq!(
            col,
            vec![
                ScalarValue::Boolean(Some(true)),
                ScalarValue::Boolean(Some(false)),
                ScalarValue::Boolean(Some(false)),
            ]
        );
    }
}
