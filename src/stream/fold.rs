//! Applies a micro-batch of events, in arrival order, to the current state of the products
//! they touch (§4 semantics). Pure and in memory: the result is the outcome of every event
//! and the final state of every touched product, which the commit turns into one MERGE.

use std::collections::HashMap;

use crate::stream::event::{Event, EventType};

/// A stored product (a row of `product_inventory`).
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    pub product_name: String,
    pub quantity: i64,
    /// Microseconds since the epoch, UTC.
    pub timestamp: i64,
    /// `seq` of the last event that changed the product.
    pub updated_seq: i64,
}

/// What an accepted event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Inserted,
    Updated,
    Deleted,
    NotFound,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inserted => "inserted",
            Self::Updated => "updated",
            Self::Deleted => "deleted",
            Self::NotFound => "not_found",
        }
    }
}

/// Rejections that depend on the stored state, not on the line itself.
pub const NAME_MISMATCH: &str = "NAME_MISMATCH";
pub const UNKNOWN_PRODUCT: &str = "UNKNOWN_PRODUCT";

/// The result of folding one batch: per event an outcome or a reason, and the products'
/// final states (`None` = absent after the batch).
#[derive(Debug, Default)]
pub struct Folded {
    pub results: Vec<Result<Outcome, &'static str>>,
    /// Final state of every product the batch changed, in first-touch order.
    pub changed: Vec<(String, Option<Product>)>,
}

/// Folds `events` (each with its `seq`) over `state`, which is not modified: the caller
/// applies [`Folded::changed`] once the batch is committed.
pub fn fold(state: &HashMap<String, Product>, events: &[(i64, &Event)]) -> Folded {
    let mut overlay: HashMap<&str, Option<Product>> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    let mut results = Vec::with_capacity(events.len());
    for &(seq, e) in events {
        let id = e.product_id.as_str();
        let current = match overlay.get(id) {
            Some(v) => v.clone(),
            None => state.get(id).cloned(),
        };
        let (result, next) = match e.event_type {
            EventType::Added => {
                let p = Product {
                    product_name: e.product_name.clone().unwrap_or_default(),
                    quantity: e.quantity.unwrap_or_default(),
                    timestamp: e.timestamp.unwrap_or_default(),
                    updated_seq: seq,
                };
                let o = if current.is_some() {
                    Outcome::Updated
                } else {
                    Outcome::Inserted
                };
                (Ok(o), Some(Some(p)))
            }
            EventType::Removed => match current {
                None => (Ok(Outcome::NotFound), None),
                Some(p) if Some(p.product_name.as_str()) != e.product_name.as_deref() => {
                    (Err(NAME_MISMATCH), None)
                }
                Some(_) => (Ok(Outcome::Deleted), Some(None)),
            },
            EventType::QuantityChanged => match current {
                None => (Err(UNKNOWN_PRODUCT), None),
                Some(mut p) => {
                    p.quantity = e.quantity.unwrap_or(p.quantity);
                    p.updated_seq = seq;
                    (Ok(Outcome::Updated), Some(Some(p)))
                }
            },
        };
        if let Some(next) = next
            && overlay.insert(id, next).is_none()
        {
            order.push(id);
        }
        results.push(result);
    }
    let changed = order
        .into_iter()
        .map(|id| {
            let v = overlay.remove(id).flatten();
            (id.to_string(), v)
        })
        .collect();
    Folded { results, changed }
}

/// Applies a committed batch's changes to the in-memory state.
pub fn apply(state: &mut HashMap<String, Product>, changed: Vec<(String, Option<Product>)>) {
    for (id, p) in changed {
        match p {
            Some(p) => {
                state.insert(id, p);
            }
            None => {
                state.remove(&id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: EventType, id: &str, name: Option<&str>, q: Option<i64>) -> Event {
        Event {
            event_type: t,
            product_id: id.into(),
            product_name: name.map(str::to_string),
            quantity: q,
            timestamp: Some(0),
        }
    }

    #[test]
    fn several_events_for_one_product_fold_in_order() {
        let state = HashMap::new();
        let evs = [
            ev(EventType::Removed, "P1", Some("Tablet"), None),
            ev(EventType::QuantityChanged, "P1", None, Some(3)),
            ev(EventType::Added, "P1", Some("Tablet"), Some(5)),
            ev(EventType::QuantityChanged, "P1", None, Some(7)),
            ev(EventType::Removed, "P1", Some("Phone"), None),
            ev(EventType::Added, "P1", Some("Phone"), Some(9)),
            ev(EventType::Removed, "P1", Some("Phone"), None),
            ev(EventType::Added, "P2", Some("Laptop"), Some(1)),
        ];
        let refs: Vec<(i64, &Event)> = evs
            .iter()
            .enumerate()
            .map(|(i, e)| (i as i64 + 1, e))
            .collect();
        let f = fold(&state, &refs);
        assert_eq!(
            f.results,
            vec![
                Ok(Outcome::NotFound),
                Err(UNKNOWN_PRODUCT),
                Ok(Outcome::Inserted),
                Ok(Outcome::Updated),
                Err(NAME_MISMATCH),
                Ok(Outcome::Updated),
                Ok(Outcome::Deleted),
                Ok(Outcome::Inserted),
            ]
        );
        assert_eq!(f.changed.len(), 2);
        assert_eq!(f.changed[0], ("P1".to_string(), None));
        assert_eq!(f.changed[1].1.as_ref().map(|p| p.updated_seq), Some(8));
    }
}
