//! `repeated(value)`: the values that occur more than once among an aggregate's input rows, and
//! `fingerprint(a, …)`: a 64-bit hash of a row's values, to find repeated *combinations* of
//! columns with `repeated(fingerprint(a, b))`.
//!
//! Every pipeline looks for keys that repeat within a batch (a transaction id, an event id, a
//! reading). `GROUP BY key HAVING count(*) > 1` does that with a hash table holding every one of
//! millions of distinct keys: 1.1-1.9 s for 5M keys here, most of it waiting on memory. Repeats
//! are rare, so this aggregate keeps only a 64-bit hash per row (the values themselves stay in
//! the input's buffers), sorts the hashes (in cache-sized buckets, on every core), and looks at actual
//! values only for the few hashes that occur twice, so a hash collision never reports a value
//! that is not repeated.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, UInt64Array};
use datafusion::arrow::compute::{concat, filter, is_not_null};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, UInt64Type};
use datafusion::common::hash_utils::{RandomState, create_hashes};
use datafusion::common::utils::SingleRowListArrayBuilder;
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_OTHER;
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl,
    Signature, Volatility,
};

use crate::util::{finish, to_arrays};

/// One fixed seed: a fingerprint must be the same in every partition and every query of a run.
const SEED: RandomState = RandomState::with_seed(0x5_70c6_4007);

fn hash_into(arrays: &[ArrayRef], out: &mut [u64]) -> Result<()> {
    create_hashes(arrays, &SEED, out)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------

/// `fingerprint(a, …)` → `UInt64`: the same values give the same number within a process.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    signature: Signature,
}

crate::util::udf_constructors!(
    Fingerprint,
    "fingerprint",
    Signature::variadic_any(Volatility::Immutable)
);

static FINGERPRINT_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_OTHER,
        "A 64-bit hash of the argument values (NULL hashes like any other value). Equal values \
         give equal fingerprints within one run of stockroom; different values almost always \
         differ. Not stable across versions: do not store it.",
        "fingerprint(expression[, …])",
    )
    .with_sql_example(
        "```sql\n> SELECT inventory_id, last_updated FROM checked\n  WHERE fingerprint(inventory_id, last_updated) IN\n    (SELECT unnest(repeated(fingerprint(inventory_id, last_updated))) FROM checked);\n```",
    )
    .with_argument("expression", "Any expressions; their values are hashed together.")
    .build()
});

impl ScalarUDFImpl for Fingerprint {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::UInt64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (all_scalar, arrays) = to_arrays(&args.args)?;
        let rows = if all_scalar { 1 } else { args.number_rows };
        let mut hashes = vec![0u64; rows];
        hash_into(&arrays, &mut hashes)?;
        finish(all_scalar, Arc::new(UInt64Array::from(hashes)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&FINGERPRINT_DOC)
    }
}

// ---------------------------------------------------------------------------------------------

/// `repeated(value)` → `List(type of value)`: each non-NULL value that occurs more than once,
/// once, in the order of its first occurrence. Never NULL (an empty list when nothing repeats).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Repeated {
    signature: Signature,
}

crate::util::udf_constructors!(
    Repeated,
    "repeated",
    Signature::any(1, Volatility::Immutable)
);

static REPEATED_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_OTHER,
        "Aggregate: the non-NULL values that occur more than once, each once, as a list. Like \
         `SELECT x FROM t GROUP BY x HAVING count(*) > 1`, but keeps only a hash per row rather \
         than a hash table of every distinct value: several times faster when most values are \
         distinct (keys, ids). For several columns, pass `fingerprint(a, b)` and compare the \
         candidates' actual values afterwards.",
        "repeated(expression)",
    )
    .with_sql_example(
        "```sql\n> SELECT unnest(repeated(transaction_id)) AS repeated_id FROM batch_raw;\n```",
    )
    .with_argument("expression", "The values to look for repeats in.")
    .build()
});

fn list_of(data_type: &DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(data_type.clone(), true)))
}

impl AggregateUDFImpl for Repeated {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [t] => Ok(list_of(t)),
            _ => plan_err!("repeated() takes one argument; got {}", arg_types.len()),
        }
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        if acc_args.is_distinct {
            return plan_err!("repeated(DISTINCT …) finds nothing: leave out DISTINCT");
        }
        let [field] = acc_args.expr_fields else {
            return plan_err!(
                "repeated() takes one argument; got {}",
                acc_args.expr_fields.len()
            );
        };
        Ok(Box::new(RepeatedAccumulator::new(
            field.data_type().clone(),
        )))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let [field] = args.input_fields else {
            return plan_err!(
                "repeated() takes one argument; got {}",
                args.input_fields.len()
            );
        };
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "values"),
            list_of(field.data_type()),
            true,
        ))])
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&REPEATED_DOC)
    }
}

/// The input's non-NULL values (as the arrays they arrived in: no copy of their data) and one
/// hash per value.
#[derive(Debug)]
struct RepeatedAccumulator {
    data_type: DataType,
    chunks: Vec<ArrayRef>,
    hashes: Vec<u64>,
}

impl RepeatedAccumulator {
    fn new(data_type: DataType) -> Self {
        Self {
            data_type,
            chunks: Vec::new(),
            hashes: Vec::new(),
        }
    }

    /// A UInt64 input (`fingerprint(…)`) is its own hash: only the numbers are kept, 8 bytes
    /// a row, and nothing is checked afterwards (equal numbers are equal values). Keeping the
    /// input arrays of text keys cost pos at 50M rows 2.9–3.35 GB at the start of validation.
    fn is_fingerprint(&self) -> bool {
        self.data_type == DataType::UInt64
    }

    fn push(&mut self, values: &ArrayRef) -> Result<()> {
        let values = if values.logical_null_count() > 0 {
            filter(values, &is_not_null(values)?)?
        } else {
            Arc::clone(values)
        };
        if values.is_empty() {
            return Ok(());
        }
        if self.is_fingerprint() {
            self.hashes
                .extend_from_slice(values.as_primitive::<UInt64Type>().values());
            return Ok(());
        }
        let start = self.hashes.len();
        self.hashes.resize(start + values.len(), 0);
        hash_into(std::slice::from_ref(&values), &mut self.hashes[start..])?;
        self.chunks.push(values);
        Ok(())
    }

    /// The values that occur more than once, in the order of their first occurrence.
    fn repeated_values(&self) -> Result<Vec<ScalarValue>> {
        let mut candidates = repeated_hashes(&self.hashes);
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        if self.is_fingerprint() {
            let mut out = Vec::with_capacity(candidates.len());
            for h in &self.hashes {
                if candidates.remove(h) {
                    out.push(ScalarValue::UInt64(Some(*h)));
                }
            }
            return Ok(out);
        }
        // Only rows whose hash repeats are looked at as values: equal values are repeats, a
        // hash shared by different values is not.
        let mut counts: HashMap<ScalarValue, (usize, u64)> = HashMap::new();
        let mut row = 0usize;
        for chunk in &self.chunks {
            for i in 0..chunk.len() {
                if candidates.contains(&self.hashes[row + i]) {
                    let v = ScalarValue::try_from_array(chunk, i)?;
                    counts.entry(v).or_insert((row + i, 0)).1 += 1;
                }
            }
            row += chunk.len();
        }
        let mut out: Vec<(usize, ScalarValue)> = counts
            .into_iter()
            .filter(|(_, (_, n))| *n > 1)
            .map(|(v, (first, _))| (first, v))
            .collect();
        out.sort_unstable_by_key(|(first, _)| *first);
        Ok(out.into_iter().map(|(_, v)| v).collect())
    }
}

/// `values` as a one-row list scalar (the aggregate's state and result).
fn one_row_list(values: ArrayRef) -> ScalarValue {
    SingleRowListArrayBuilder::new(values)
        .with_nullable(true)
        .build_list_scalar()
}

/// The hashes that occur more than once. The hashes are scattered by their top byte into 256
/// buckets (equal hashes land in the same one), and the buckets, each small enough to sort in
/// cache, are sorted on every core: 5M hashes in a fraction of one `sort_unstable` of all. The
/// set is looked up once per row, so it hashes with DataFusion's fast hasher, not SipHash.
fn repeated_hashes(hashes: &[u64]) -> HashSet<u64, RandomState> {
    const BUCKETS: usize = 256;
    let bucket = |h: u64| (h >> 56) as usize;
    let mut starts = [0usize; BUCKETS + 1];
    for &h in hashes {
        starts[bucket(h) + 1] += 1;
    }
    for b in 0..BUCKETS {
        starts[b + 1] += starts[b];
    }
    let mut scattered = vec![0u64; hashes.len()];
    let mut next = starts;
    for &h in hashes {
        let b = bucket(h);
        scattered[next[b]] = h;
        next[b] += 1;
    }
    let mut slices: Vec<&mut [u64]> = Vec::with_capacity(BUCKETS);
    let mut rest = scattered.as_mut_slice();
    for b in 0..BUCKETS {
        let (head, tail) = rest.split_at_mut(starts[b + 1] - starts[b]);
        slices.push(head);
        rest = tail;
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    let mut per_thread: Vec<Vec<&mut [u64]>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, slice) in slices.into_iter().enumerate() {
        per_thread[i % threads].push(slice);
    }
    let sort_and_find = |buckets: Vec<&mut [u64]>| {
        let mut found = Vec::new();
        for bucket in buckets {
            bucket.sort_unstable();
            found.extend(bucket.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]));
        }
        found
    };
    let found: Vec<Vec<u64>> = if threads == 1 || hashes.len() < 100_000 {
        per_thread.into_iter().map(sort_and_find).collect()
    } else {
        std::thread::scope(|s| {
            let jobs: Vec<_> = per_thread
                .into_iter()
                .map(|buckets| s.spawn(move || sort_and_find(buckets)))
                .collect();
            jobs.into_iter()
                .map(|j| j.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    };
    found.into_iter().flatten().collect()
}

impl Accumulator for RepeatedAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        match values {
            [v] => self.push(v),
            _ => exec_err!("repeated() takes one argument; got {}", values.len()),
        }
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [state] = states else {
            return exec_err!(
                "repeated(): expected one state column; got {}",
                states.len()
            );
        };
        let lists = state.as_list::<i32>();
        for i in 0..lists.len() {
            if lists.is_valid(i) {
                self.push(&lists.value(i))?;
            }
        }
        Ok(())
    }

    /// Every value so far, for the final aggregation to merge (views and buffers are shared,
    /// not copied, for the string-view columns the pipelines read).
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        if self.is_fingerprint() {
            // Handed over, not copied: DataFusion asks a partial accumulator for its state
            // once, at its end.
            let values: ArrayRef = Arc::new(UInt64Array::from(std::mem::take(&mut self.hashes)));
            return Ok(vec![one_row_list(values)]);
        }
        let chunks: Vec<&dyn Array> = self.chunks.iter().map(|c| c.as_ref()).collect();
        let values = if chunks.is_empty() {
            datafusion::arrow::array::new_empty_array(&self.data_type)
        } else {
            concat(&chunks)?
        };
        Ok(vec![one_row_list(values)])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let values = self.repeated_values()?;
        let array = if values.is_empty() {
            datafusion::arrow::array::new_empty_array(&self.data_type)
        } else {
            ScalarValue::iter_to_array(values)?
        };
        Ok(one_row_list(array))
    }

    /// The hashes, and the values' fixed-width part; their data buffers belong to the input
    /// batches and are counted there.
    fn size(&self) -> usize {
        let rows: usize = self.chunks.iter().map(|c| c.len()).sum();
        size_of_val(self) + self.hashes.capacity() * 8 + rows * 16
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray, StringViewArray};
    use datafusion::logical_expr::AggregateUDF;
    use datafusion::prelude::SessionContext;

    fn acc(t: DataType) -> RepeatedAccumulator {
        RepeatedAccumulator::new(t)
    }

    fn list_strings(v: &ScalarValue) -> Vec<Option<String>> {
        let ScalarValue::List(l) = v else {
            panic!("not a list: {v:?}")
        };
        let values = l.value(0);
        (0..values.len())
            .map(|i| {
                ScalarValue::try_from_array(&values, i)
                    .unwrap()
                    .try_as_str()
                    .flatten()
                    .map(str::to_string)
            })
            .collect()
    }

    #[test]
    fn finds_repeats_once_each_in_first_occurrence_order_and_ignores_nulls() {
        let mut a = acc(DataType::Utf8View);
        let batch1: ArrayRef = Arc::new(StringViewArray::from(vec![
            Some("b"),
            Some("a"),
            None,
            Some("a long id that does not fit in a view"),
        ]));
        let batch2: ArrayRef = Arc::new(StringViewArray::from(vec![
            Some("c"),
            Some("a"),
            None,
            Some("b"),
            Some("a"),
            Some("a long id that does not fit in a view"),
        ]));
        a.update_batch(&[batch1]).unwrap();
        a.update_batch(&[batch2]).unwrap();
        let got = list_strings(&a.evaluate().unwrap());
        assert_eq!(
            got,
            vec![
                Some("b".to_string()),
                Some("a".to_string()),
                Some("a long id that does not fit in a view".to_string())
            ]
        );
    }

    #[test]
    fn fingerprints_are_kept_as_numbers_and_merge_across_partitions() {
        // UInt64 input (what fingerprint() returns) is its own hash: the accumulator keeps
        // only the numbers, and hands them over as its state.
        let mut p1 = acc(DataType::UInt64);
        let mut p2 = acc(DataType::UInt64);
        p1.update_batch(&[Arc::new(UInt64Array::from(vec![
            Some(7),
            None,
            Some(9),
            Some(7),
        ]))])
        .unwrap();
        p2.update_batch(&[Arc::new(UInt64Array::from(vec![
            5,
            9,
            3,
            u64::MAX,
            u64::MAX,
        ]))])
        .unwrap();
        assert!(p1.chunks.is_empty(), "no input array is kept");
        let mut fin = acc(DataType::UInt64);
        for p in [&mut p1, &mut p2] {
            let ScalarValue::List(l) = p.state().unwrap().remove(0) else {
                panic!()
            };
            fin.merge_batch(&[l as ArrayRef]).unwrap();
        }
        let ScalarValue::List(l) = fin.evaluate().unwrap() else {
            panic!()
        };
        let got: Vec<u64> = l.value(0).as_primitive::<UInt64Type>().values().to_vec();
        // First occurrence order: 7 (p1), 9 (p1), u64::MAX (p2); 5 and 3 once; NULL ignored.
        assert_eq!(got, vec![7, 9, u64::MAX]);
    }

    #[test]
    fn nothing_repeated_is_an_empty_list_not_null() {
        let mut a = acc(DataType::Int64);
        a.update_batch(&[Arc::new(Int64Array::from(vec![1, 2, 3]))])
            .unwrap();
        let ScalarValue::List(l) = a.evaluate().unwrap() else {
            panic!()
        };
        assert!(l.is_valid(0));
        assert_eq!(l.value(0).len(), 0);
        assert_eq!(l.value(0).data_type(), &DataType::Int64);
        let ScalarValue::List(l) = acc(DataType::Utf8).evaluate().unwrap() else {
            panic!()
        };
        assert_eq!(l.value(0).len(), 0);
    }

    #[test]
    fn partial_states_merge_into_the_same_answer() {
        // A value seen once in each of two partitions is repeated.
        let mut p1 = acc(DataType::Utf8);
        let mut p2 = acc(DataType::Utf8);
        p1.update_batch(&[Arc::new(StringArray::from(vec!["x", "y"]))])
            .unwrap();
        p2.update_batch(&[Arc::new(StringArray::from(vec!["z", "x"]))])
            .unwrap();
        let mut fin = acc(DataType::Utf8);
        for p in [&mut p1, &mut p2] {
            let ScalarValue::List(l) = p.state().unwrap().remove(0) else {
                panic!()
            };
            fin.merge_batch(&[l as ArrayRef]).unwrap();
        }
        assert_eq!(
            list_strings(&fin.evaluate().unwrap()),
            vec![Some("x".to_string())]
        );
    }

    #[test]
    fn equal_hashes_of_different_values_are_not_repeats() {
        // Force a collision: two different values given the same hash.
        let mut a = acc(DataType::Int64);
        a.chunks
            .push(Arc::new(Int64Array::from(vec![10, 20, 30, 30])));
        a.hashes = vec![7, 7, 9, 9];
        let ScalarValue::List(l) = a.evaluate().unwrap() else {
            panic!()
        };
        let v = l.value(0);
        assert_eq!(
            v.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .values(),
            &[30]
        );
    }

    #[test]
    fn repeated_hashes_match_a_plain_count() {
        // Every bucket, runs of three, neighbours across bucket edges, both code paths.
        for n in [10usize, 250_000] {
            let mut hashes: Vec<u64> = (0..n as u64)
                .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
                .collect();
            let repeats: Vec<u64> = hashes.iter().step_by(7).copied().collect();
            hashes.extend(&repeats);
            hashes.extend(repeats.iter().step_by(3));
            let mut counts: HashMap<u64, usize> = HashMap::new();
            for &h in &hashes {
                *counts.entry(h).or_default() += 1;
            }
            let expected: HashSet<u64, RandomState> = counts
                .into_iter()
                .filter(|(_, c)| *c > 1)
                .map(|(h, _)| h)
                .collect();
            assert_eq!(repeated_hashes(&hashes), expected, "n = {n}");
        }
        assert!(repeated_hashes(&[]).is_empty());
    }

    #[test]
    fn fingerprints_agree_across_calls_and_separate_columns() {
        let a: ArrayRef = Arc::new(StringArray::from(vec!["ab", "a", "ab"]));
        let b: ArrayRef = Arc::new(StringArray::from(vec!["c", "bc", "c"]));
        let mut h1 = vec![0; 3];
        hash_into(&[Arc::clone(&a), Arc::clone(&b)], &mut h1).unwrap();
        assert_eq!(h1[0], h1[2]);
        assert_ne!(h1[0], h1[1], "(ab, c) and (a, bc) must differ");
        let mut h2 = vec![0; 3];
        hash_into(&[a, b], &mut h2).unwrap();
        assert_eq!(h1, h2);
    }

    #[tokio::test]
    async fn sql_finds_the_same_rows_as_group_by_having() {
        let ctx = SessionContext::new();
        ctx.register_udaf(AggregateUDF::from(Repeated::new()));
        ctx.register_udf(datafusion::logical_expr::ScalarUDF::from(Fingerprint::new()));
        let sql = "SELECT column1 AS id, column2 AS at FROM (VALUES \
                   ('a', 1), ('b', 1), ('a', 2), ('a', 1), (NULL, 1), (NULL, 1), ('c', 3), ('b', 1))";
        ctx.sql(&format!("CREATE VIEW t AS {sql}"))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let ids = ctx
            .sql("SELECT unnest(repeated(id)) AS r FROM t ORDER BY r")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let ids = datafusion::arrow::util::pretty::pretty_format_batches(&ids)
            .unwrap()
            .to_string();
        assert!(ids.contains("| a |") && ids.contains("| b |") && !ids.contains("| c |"));
        let pairs = ctx
            .sql(
                "SELECT id, at, count(*) AS n FROM t \
                 WHERE fingerprint(id, at) IN (SELECT unnest(repeated(fingerprint(id, at))) FROM t) \
                 GROUP BY id, at HAVING count(*) > 1 ORDER BY id NULLS FIRST",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let expected = datafusion::arrow::util::pretty::pretty_format_batches(
            &ctx.sql(
                "SELECT id, at, count(*) AS n FROM t GROUP BY id, at HAVING count(*) > 1 \
                 ORDER BY id NULLS FIRST",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap(),
        )
        .unwrap()
        .to_string();
        assert_eq!(
            datafusion::arrow::util::pretty::pretty_format_batches(&pairs)
                .unwrap()
                .to_string(),
            expected
        );
    }
}
