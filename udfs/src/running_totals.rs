//! `running_totals(position, amount, length)`: per group, the running total of `amount` over the
//! positions `0 .. length` (a day number, say) as one list.
//!
//! inventory-ops turns each (sku, warehouse) pair's daily stock changes into end-of-day
//! balances for every day of the calendar. As SQL, that is a join of every pair-day with the
//! day's changes and a `sum() OVER (PARTITION BY pair ORDER BY day)` window: 4.5M pair-days
//! joined, shuffled twice and sorted, 4-6 s. With this aggregate each pair's changes are added
//! into one array slot per day (no sort: positions are array indexes) and summed once at the
//! end; `unnest` turns the lists back into rows.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListArray, PrimitiveArray,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_OTHER;
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator, Signature,
};

/// A list of `length` longer than this is refused rather than allocated per group.
const MAX_LENGTH: i64 = 1 << 20;

/// `running_totals(position, amount, length)` → `List(Int64)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RunningTotals {
    signature: Signature,
}

crate::util::udf_constructors!(RunningTotals, "running_totals");

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_OTHER,
        "Aggregate: a list of `length` running totals. Element i is the sum of `amount` over the \
         group's rows whose `position` is at most i. A negative position counts from the first \
         element, one at or beyond `length` is left out; rows with a NULL argument are \
         ignored. The list has the largest `length` of the group's rows. Positions are list \
         indexes, so no sort is needed: a day number gives end-of-day balances for every day, \
         days without rows included.",
        "running_totals(position, amount, length)",
    )
    .with_sql_example(
        "```sql\n> SELECT sku, running_totals(date - DATE '2024-03-01', quantity_change, 31) AS balances\n  FROM moves GROUP BY sku;\n```",
    )
    .with_argument("position", "Integer: the element the amount first counts in (0-based).")
    .with_argument("amount", "Integer: the amount.")
    .with_argument("length", "Integer: the number of elements.")
    .build()
});

fn list_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true)))
}

impl AggregateUDFImpl for RunningTotals {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 3 {
            return plan_err!(
                "running_totals() takes (position, amount, length); got {} arguments",
                arg_types.len()
            );
        }
        for (name, t) in ["position", "amount", "length"].iter().zip(arg_types) {
            if !(t.is_integer() || t.is_null()) {
                return plan_err!("running_totals(): {name} must be an integer; got {t}");
            }
        }
        Ok(vec![DataType::Int64; 3])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(list_type())
    }

    fn accumulator(&self, _acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(RunningTotalsAccumulator::default()))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "amounts"),
            list_type(),
            true,
        ))])
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        _args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(RunningTotalsGroups::default()))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

/// The three argument arrays as Int64.
fn args(values: &[ArrayRef]) -> Result<[&PrimitiveArray<Int64Type>; 3]> {
    let [p, a, l] = values else {
        return exec_err!("running_totals() takes 3 arguments; got {}", values.len());
    };
    for v in [p, a, l] {
        if v.data_type() != &DataType::Int64 {
            return exec_err!(
                "running_totals(): expected Int64 arguments; got {}",
                v.data_type()
            );
        }
    }
    Ok([
        p.as_primitive::<Int64Type>(),
        a.as_primitive::<Int64Type>(),
        l.as_primitive::<Int64Type>(),
    ])
}

/// Adds one row into `slots` (per-position amounts, not yet totalled).
fn add(slots: &mut Vec<i64>, position: i64, amount: i64, length: i64) -> Result<()> {
    if !(0..=MAX_LENGTH).contains(&length) {
        return exec_err!("running_totals(): length {length} is outside 0..={MAX_LENGTH}");
    }
    if slots.len() < length as usize {
        slots.resize(length as usize, 0);
    }
    let p = position.max(0);
    if p < length {
        let slot = &mut slots[p as usize];
        *slot = slot.wrapping_add(amount);
    }
    Ok(())
}

fn add_rows(
    values: &[ArrayRef],
    opt_filter: Option<&BooleanArray>,
    mut slots_of: impl FnMut(usize) -> usize,
    groups: &mut [Vec<i64>],
) -> Result<()> {
    let [p, a, l] = args(values)?;
    for i in 0..p.len() {
        if opt_filter.is_some_and(|f| !f.is_valid(i) || !f.value(i))
            || p.is_null(i)
            || a.is_null(i)
            || l.is_null(i)
        {
            continue;
        }
        add(&mut groups[slots_of(i)], p.value(i), a.value(i), l.value(i))?;
    }
    Ok(())
}

/// Adds a state list (per-position amounts) into `slots`.
fn merge(slots: &mut Vec<i64>, amounts: &Int64Array) {
    if slots.len() < amounts.len() {
        slots.resize(amounts.len(), 0);
    }
    for (slot, v) in slots.iter_mut().zip(amounts.values()) {
        *slot = slot.wrapping_add(*v);
    }
}

fn to_list(groups: Vec<Vec<i64>>, totals: bool) -> ListArray {
    let lengths = groups.iter().map(Vec::len);
    let offsets = OffsetBuffer::from_lengths(lengths);
    let mut values: Vec<i64> = Vec::with_capacity(groups.iter().map(Vec::len).sum());
    for g in groups {
        let start = values.len();
        values.extend(g);
        if totals {
            let mut sum = 0i64;
            for v in &mut values[start..] {
                sum = sum.wrapping_add(*v);
                *v = sum;
            }
        }
    }
    ListArray::new(
        Arc::new(Field::new_list_field(DataType::Int64, true)),
        offsets,
        Arc::new(Int64Array::from(values)),
        None,
    )
}

/// Per group, the amounts added at each position; totalled when evaluated.
#[derive(Debug, Default)]
struct RunningTotalsGroups {
    groups: Vec<Vec<i64>>,
}

impl GroupsAccumulator for RunningTotalsGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, Vec::new);
        add_rows(values, opt_filter, |i| group_indices[i], &mut self.groups)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        Ok(Arc::new(to_list(
            emit_to.take_needed(&mut self.groups),
            true,
        )))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![Arc::new(to_list(
            emit_to.take_needed(&mut self.groups),
            false,
        ))])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        let [state] = values else {
            return exec_err!("running_totals(): expected one state column");
        };
        self.groups.resize_with(total_num_groups, Vec::new);
        let lists = state.as_list::<i32>();
        for (i, &g) in group_indices.iter().enumerate() {
            if lists.is_valid(i) {
                let amounts = lists.value(i);
                merge(&mut self.groups[g], amounts.as_primitive::<Int64Type>());
            }
        }
        Ok(())
    }

    /// Each row as its own group's state (DataFusion does this when a partial aggregation
    /// finds about as many groups as rows).
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let mut rows: Vec<Vec<i64>> = vec![Vec::new(); values.first().map_or(0, |v| v.len())];
        add_rows(values, opt_filter, |i| i, &mut rows)?;
        Ok(vec![Arc::new(to_list(rows, false))])
    }

    fn size(&self) -> usize {
        size_of_val(self)
            + self.groups.capacity() * size_of::<Vec<i64>>()
            + self.groups.iter().map(|g| g.capacity() * 8).sum::<usize>()
    }
}

/// The same for a query without GROUP BY: one group's per-position amounts.
#[derive(Debug, Default)]
struct RunningTotalsAccumulator {
    slots: Vec<i64>,
}

impl RunningTotalsAccumulator {
    fn list_scalar(&self, totals: bool) -> ScalarValue {
        ScalarValue::List(Arc::new(to_list(vec![self.slots.clone()], totals)))
    }
}

impl Accumulator for RunningTotalsAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        add_rows(values, None, |_| 0, std::slice::from_mut(&mut self.slots))
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [state] = states else {
            return exec_err!("running_totals(): expected one state column");
        };
        let lists = state.as_list::<i32>();
        for i in 0..lists.len() {
            if lists.is_valid(i) {
                let amounts = lists.value(i);
                merge(&mut self.slots, amounts.as_primitive::<Int64Type>());
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.list_scalar(false)])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(self.list_scalar(true))
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.slots.capacity() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::logical_expr::AggregateUDF;
    use datafusion::prelude::SessionContext;

    async fn run(sql: &str) -> String {
        let ctx = SessionContext::new();
        ctx.register_udaf(AggregateUDF::from(RunningTotals::new()));
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        pretty_format_batches(&batches).unwrap().to_string()
    }

    #[tokio::test]
    async fn totals_per_group_with_empty_days_negative_and_late_positions() {
        // Group a: +5 on day 0, -2 on day 2 (twice), +1 before the start (counts from day 0),
        // +100 after the end (left out), a NULL amount (ignored). Group b: nothing but a day 3
        // change, and a longer length on one row.
        let got = run(
            "SELECT g, running_totals(p, v, n) AS t FROM (VALUES \
               ('a', 0, 5, 4), ('a', 2, -2, 4), ('a', 2, -2, 4), ('a', -3, 1, 4), \
               ('a', 9, 100, 4), ('a', 1, NULL, 4), ('b', 3, 7, 4), ('b', 0, 0, 5)) AS t(g, p, v, n) \
             GROUP BY g ORDER BY g",
        )
        .await;
        assert!(got.contains("| a | [6, 6, 2, 2]    |"), "{got}");
        assert!(got.contains("| b | [0, 0, 0, 7, 7] |"), "{got}");
    }

    #[tokio::test]
    async fn without_group_by_and_over_many_groups_and_partitions() {
        let got = run(
            "SELECT running_totals(p, v, 3) AS t FROM (VALUES (1, 2), (0, 1), (2, 4)) AS t(p, v)",
        )
        .await;
        assert!(got.contains("[1, 3, 7]"), "{got}");
        // 2,000 groups over several batches and partitions: group k gets +1 at day k % 3.
        let got = run(
            "SELECT count(*) AS groups, sum(t[1]) AS d0, sum(t[3]) AS d2 FROM ( \
               SELECT value % 2000 AS g, running_totals(value % 3, 1, 3) AS t \
               FROM generate_series(0, 5999) GROUP BY value % 2000)",
        )
        .await;
        // Each group holds values g, g+2000, g+4000: at day 0 the ones ≡ 0 (mod 3); by day 2
        // all three. 6000 values: 2000 ≡ 0 (mod 3).
        assert!(got.contains("| 2000   | 2000 | 6000 |"), "{got}");
    }

    #[tokio::test]
    async fn refuses_non_integers_and_huge_lengths() {
        let ctx = SessionContext::new();
        ctx.register_udaf(AggregateUDF::from(RunningTotals::new()));
        let e = ctx
            .sql("SELECT running_totals(0, 1.5, 3)")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("amount must be an integer"), "{e}");
        let e = ctx
            .sql("SELECT running_totals(0, 1, 10000000000)")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap_err();
        assert!(e.to_string().contains("outside"), "{e}");
    }
}
