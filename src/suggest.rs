//! "Did you mean …?": the existing names nearest to a misspelt one. One place for every front
//! end: the executor's errors carry the suggestion in their text (so the shell, `run-sql`,
//! `query` and `serve` all show it) and the shell uses it for meta-commands.
//!
//! Columns and functions are already answered by DataFusion's planner ("No field named qtyy.
//! Did you mean 'qty'?… Valid fields are …", "Invalid function 'sume'. Did you mean 'sum'?");
//! tables are not, so [`enrich`] turns DataFusion's bare "table '…' not found" into
//! [`Error::TableNotFound`] with the nearest tables of the session.

use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;

use crate::error::Error;
use crate::warehouse::Warehouse;

/// Up to three candidates nearest to `name` by case-insensitive edit distance, nearest first
/// (ties by name). Only plausible typos count: a distance of at most a third of the longer
/// name (at least 1, at most 3), or one name starting with the other.
pub fn nearest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let wanted = name.to_lowercase();
    let mut scored: Vec<(usize, String)> = candidates
        .into_iter()
        .filter_map(|c| {
            let cand = c.to_lowercase();
            if cand == wanted {
                return None;
            }
            let distance = strsim::damerau_levenshtein(&wanted, &cand);
            let longest = wanted.chars().count().max(cand.chars().count());
            let limit = (longest / 3).clamp(1, 3);
            let prefix =
                wanted.len() >= 3 && (cand.starts_with(&wanted) || wanted.starts_with(&cand));
            (distance <= limit || prefix).then(|| (distance, c.to_string()))
        })
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(3).map(|(_, c)| c).collect()
}

/// `"; did you mean 'a' or 'b'?"`, or nothing when there is no candidate.
pub fn did_you_mean(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => format!("; did you mean {one}?"),
        [init @ .., last] => format!("; did you mean {} or {last}?", init.join(", ")),
    }
}

/// Every table a statement of this session can name without a qualifier: the warehouse's
/// Delta tables and what the session registered (temporary tables, external tables).
pub fn session_tables(ctx: &SessionContext) -> Vec<String> {
    let state = ctx.state();
    let options = state.config().options();
    ctx.catalog(&options.catalog.default_catalog)
        .and_then(|c| c.schema(&options.catalog.default_schema))
        .map(|s| s.table_names())
        .unwrap_or_default()
}

/// The table name in DataFusion's "table 'catalog.schema.name' not found", if `err` is that.
fn missing_table(err: &DataFusionError) -> Option<String> {
    let DataFusionError::Plan(msg) = err.find_root() else {
        return None;
    };
    let quoted = msg.strip_prefix("table '")?.strip_suffix("' not found")?;
    Some(quoted.rsplit('.').next().unwrap_or(quoted).to_string())
}

/// Adds "did you mean" to an error that names a table that does not exist.
pub fn enrich(err: Error, ctx: &SessionContext, warehouse: &Warehouse) -> Error {
    match err {
        Error::DataFusion(d) => match missing_table(&d) {
            Some(name) => Error::TableNotFound {
                did_you_mean: nearest(&name, session_tables(ctx).iter().map(String::as_str)),
                name,
                warehouse: warehouse.root().display().to_string(),
            },
            None => Error::DataFusion(d),
        },
        Error::TableNotFound {
            name,
            warehouse: wh,
            did_you_mean,
        } if did_you_mean.is_empty() => Error::TableNotFound {
            did_you_mean: nearest(&name, session_tables(ctx).iter().map(String::as_str)),
            name,
            warehouse: wh,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_names_plausible_typos_only() {
        let tables = ["order_kpis", "category_kpis", "stg_orders", "rejects"];
        assert_eq!(nearest("order_kpi", tables), ["order_kpis"]);
        assert_eq!(nearest("ORDER_KPI", tables), ["order_kpis"]);
        assert_eq!(nearest("stg_ordrs", tables), ["stg_orders"]);
        assert_eq!(nearest("rejetcs", tables), ["rejects"]);
        assert!(nearest("inventory", tables).is_empty());
        assert!(
            nearest("order_kpis", tables).is_empty(),
            "an exact name is no suggestion"
        );
        assert_eq!(
            nearest("\\histroy", ["\\history", "\\i", "\\?"]),
            ["\\history"]
        );
        assert_eq!(
            nearest("\\pipeline", ["\\pipelines", "\\d"]),
            ["\\pipelines"]
        );
    }

    #[test]
    fn did_you_mean_lists_candidates() {
        assert_eq!(did_you_mean(&[]), "");
        assert_eq!(did_you_mean(&["a".into()]), "; did you mean 'a'?");
        assert_eq!(
            did_you_mean(&["a".into(), "b".into(), "c".into()]),
            "; did you mean 'a', 'b' or 'c'?"
        );
    }

    #[test]
    fn recognises_datafusion_missing_table() {
        let e = DataFusionError::Plan("table 'stockroom.public.order_kpi' not found".into());
        assert_eq!(missing_table(&e).as_deref(), Some("order_kpi"));
        let e = DataFusionError::Plan("something else".into());
        assert_eq!(missing_table(&e), None);
    }
}
