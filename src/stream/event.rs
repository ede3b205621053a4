//! One input line → one validated event, or the reason codes that reject it
//! (docs/pipelines.md#inventory-events and docs/pipelines.md#values-and-reason-codes).
//!
//! Which fields an event needs depends on its type: `product_added` needs all four,
//! `product_removed` needs `product_id` and `product_name` (the name check),
//! `product_quantity_changed` needs `product_id` and `quantity`. A field that is present is
//! always validated, required or not, so a record carries every code that applies.

use serde_json::{Map, Value};

/// The three event types of the original mock generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Removed,
    QuantityChanged,
}

impl EventType {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "product_added" => Some(Self::Added),
            "product_removed" => Some(Self::Removed),
            "product_quantity_changed" => Some(Self::QuantityChanged),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "product_added",
            Self::Removed => "product_removed",
            Self::QuantityChanged => "product_quantity_changed",
        }
    }
}

/// A valid event. Optional fields are those its type does not require (and the line did not
/// carry).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub event_type: EventType,
    pub product_id: String,
    pub product_name: Option<String>,
    pub quantity: Option<i64>,
    /// Microseconds since the epoch, UTC.
    pub timestamp: Option<i64>,
}

/// Parses and validates one line. `Err` holds the reason codes (never empty).
pub fn parse(line: &str) -> Result<Event, Vec<String>> {
    let malformed = || vec!["MALFORMED".to_string()];
    // serde_json refuses NaN / Infinity, as docs/pipelines.md#inventory-events wants.
    let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(line) else {
        return Err(malformed());
    };
    let mut reasons = Vec::new();
    let event_type = match obj.get("event_type") {
        None | Some(Value::Null) => {
            reasons.push("MISSING:event_type".into());
            None
        }
        Some(Value::String(s)) => match EventType::parse(s.trim()) {
            Some(t) => Some(t),
            None => {
                reasons.push("UNKNOWN_EVENT_TYPE".into());
                None
            }
        },
        Some(_) => {
            reasons.push("BAD_TYPE:event_type".into());
            None
        }
    };
    let empty = Map::new();
    let product = match obj.get("product") {
        None | Some(Value::Null) => {
            reasons.push("MISSING:product".into());
            None
        }
        Some(Value::Object(p)) => Some(p),
        Some(_) => {
            reasons.push("BAD_TYPE:product".into());
            None
        }
    };
    let fields_known = product.is_some();
    let p = product.unwrap_or(&empty);
    let (need_name, need_qty, need_ts) = match event_type {
        Some(EventType::Added) => (true, true, true),
        Some(EventType::Removed) => (true, false, false),
        Some(EventType::QuantityChanged) => (false, true, false),
        // Unknown type: only what is present is checked.
        None => (false, false, false),
    };
    // Without a product object there is nothing more to check.
    let need = |b: bool| b && fields_known;

    let product_id = text_field(p, "product_id", fields_known, &mut reasons).and_then(|s| {
        let ok = s.len() > 1 && s.starts_with('P') && s[1..].bytes().all(|b| b.is_ascii_digit());
        if ok {
            Some(s)
        } else {
            reasons.push("BAD_TYPE:product_id".into());
            None
        }
    });
    let product_name = text_field(p, "product_name", need(need_name), &mut reasons);
    let quantity = match p.get("quantity") {
        None | Some(Value::Null) => {
            if need(need_qty) {
                reasons.push("MISSING:quantity".into());
            }
            None
        }
        Some(v) => match json_int(v) {
            Some(q) if q < 0 => {
                reasons.push("NEGATIVE:quantity".into());
                None
            }
            Some(q) => Some(q),
            None => {
                reasons.push("BAD_TYPE:quantity".into());
                None
            }
        },
    };
    let timestamp = match p.get("timestamp") {
        None | Some(Value::Null) => {
            if need(need_ts) {
                reasons.push("MISSING:timestamp".into());
            }
            None
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            if need(need_ts) {
                reasons.push("MISSING:timestamp".into());
            }
            None
        }
        Some(Value::String(s)) => match stockroom_udfs::timestamp::parse_timestamp_micros(s) {
            Some(t) => Some(t),
            None => {
                reasons.push("BAD_TIMESTAMP:timestamp".into());
                None
            }
        },
        Some(_) => {
            reasons.push("BAD_TYPE:timestamp".into());
            None
        }
    };
    match (event_type, product_id) {
        (Some(event_type), Some(product_id)) if reasons.is_empty() => Ok(Event {
            event_type,
            product_id,
            product_name,
            quantity,
            timestamp,
        }),
        _ => {
            if reasons.is_empty() {
                // Unreachable in practice (a missing piece always adds a code), but never
                // accept an event without a type and an id.
                reasons.push("MALFORMED".into());
            }
            Err(reasons)
        }
    }
}

/// A required-if-`required` text field, trimmed: absent, null or blank → `MISSING`, not a
/// string → `BAD_TYPE`.
fn text_field(
    p: &Map<String, Value>,
    name: &str,
    required: bool,
    reasons: &mut Vec<String>,
) -> Option<String> {
    match p.get(name) {
        None | Some(Value::Null) => {
            if required {
                reasons.push(format!("MISSING:{name}"));
            }
            None
        }
        Some(Value::String(s)) => {
            let t = s.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\u{b}');
            if t.is_empty() {
                if required {
                    reasons.push(format!("MISSING:{name}"));
                }
                None
            } else {
                Some(t.to_string())
            }
        }
        Some(_) => {
            reasons.push(format!("BAD_TYPE:{name}"));
            None
        }
    }
}

/// A JSON integer, or a number with a zero fraction (`100.0`, `1e2`); anything else (strings,
/// booleans, `12.5`, out of i64 range) is not an integer.
fn json_int(v: &Value) -> Option<i64> {
    let Value::Number(n) = v else {
        return None;
    };
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    if n.is_u64() {
        return None; // beyond i64
    }
    let f = n.as_f64()?;
    // 2^63 is exactly representable; the range is half-open.
    if f.fract() == 0.0 && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
        Some(f as i64)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(line: &str) -> Vec<String> {
        parse(line).expect_err("should be rejected")
    }

    /// The stream follows the one timestamp grammar (README, "Timestamps"), like the pipelines.
    #[test]
    fn timestamps_follow_the_documented_grammar() {
        let event = |ts: &str| {
            format!(
                r#"{{"event_type": "product_added", "product": {{"product_id": "P1", "product_name": "x", "quantity": 1, "timestamp": "{ts}"}}}}"#
            )
        };
        for ok in [
            "2023-07-22T08:15:33Z",
            "2023-07-22 10:15:33+02:00",
            "2023-07-22 08:15:33 UTC",
        ] {
            assert_eq!(
                parse(&event(ok)).map(|e| e.timestamp),
                Ok(Some(1_690_013_733_000_000)),
                "{ok}"
            );
        }
        for bad in [
            "2023-07-22",
            "2023-07-22 10:15:33+0200",
            "2023-07-22 08:15:33 utc",
        ] {
            assert_eq!(codes(&event(bad)), ["BAD_TIMESTAMP:timestamp"], "{bad}");
        }
    }

    #[test]
    fn valid_events_of_each_type() {
        let e = parse(r#"{"event_type": "product_added", "product": {"product_id": "P42", "product_name": "Tablet", "quantity": 15, "timestamp": "2023-07-22 08:15:33"}}"#).unwrap();
        assert_eq!(e.event_type, EventType::Added);
        assert_eq!(e.product_id, "P42");
        assert_eq!(e.product_name.as_deref(), Some("Tablet"));
        assert_eq!(e.quantity, Some(15));
        assert_eq!(e.timestamp, Some(1_690_013_733_000_000));
        let e = parse(r#"{"event_type": "product_removed", "product": {"product_id": "P3", "product_name": "Charger"}}"#).unwrap();
        assert_eq!((e.quantity, e.timestamp), (None, None));
        let e = parse(r#"{"event_type": "product_quantity_changed", "product": {"product_id": "P3", "quantity": 1e2}}"#).unwrap();
        assert_eq!(e.quantity, Some(100));
    }

    #[test]
    fn reason_codes() {
        assert_eq!(codes("{not json"), ["MALFORMED"]);
        assert_eq!(codes("[1, 2]"), ["MALFORMED"]);
        assert_eq!(
            codes(
                r#"{"event_type": "product_added", "product": {"product_id": "P1", "product_name": "x", "quantity": NaN, "timestamp": "2023-01-01 00:00:00"}}"#
            ),
            ["MALFORMED"]
        );
        assert_eq!(
            codes(r#"{"event_type": "product_sold", "product": {"product_id": "P1"}}"#),
            ["UNKNOWN_EVENT_TYPE"]
        );
        assert_eq!(
            codes(
                r#"{"event_type": "product_added", "product": {"product_id": "42", "product_name": "Tablet", "quantity": -1, "timestamp": "2023-02-30 00:00:00"}}"#
            ),
            [
                "BAD_TYPE:product_id",
                "NEGATIVE:quantity",
                "BAD_TIMESTAMP:timestamp"
            ]
        );
        assert_eq!(
            codes(
                r#"{"event_type": "product_added", "product": {"product_id": "P1", "product_name": 7, "quantity": 12.5, "timestamp": 1}}"#
            ),
            [
                "BAD_TYPE:product_name",
                "BAD_TYPE:quantity",
                "BAD_TYPE:timestamp"
            ]
        );
        assert_eq!(
            codes(
                r#"{"event_type": "product_added", "product": {"product_id": " ", "quantity": "3"}}"#
            ),
            [
                "MISSING:product_id",
                "MISSING:product_name",
                "BAD_TYPE:quantity",
                "MISSING:timestamp"
            ]
        );
        assert_eq!(
            codes(r#"{"product": {"product_id": "P1"}}"#),
            ["MISSING:event_type"]
        );
        assert_eq!(
            codes(r#"{"event_type": "product_removed"}"#),
            ["MISSING:product"]
        );
        assert_eq!(
            codes(r#"{"event_type": "product_removed", "product": {"product_id": "P1"}}"#),
            ["MISSING:product_name"]
        );
        assert_eq!(
            codes(
                r#"{"event_type": "product_quantity_changed", "product": {"product_id": "P1", "quantity": true}}"#
            ),
            ["BAD_TYPE:quantity"]
        );
    }
}
