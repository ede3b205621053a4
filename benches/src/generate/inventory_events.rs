//! Real-time product events (JSON lines) for `stockroom stream inventory-events`, reproducing the
//! original mock generator (docs/pipelines.md#inventory-events): product ids `P1..P10000`, names
//! Laptop/Phone/Tablet/Headphones/Charger, quantity 1..=50, timestamps in 2022-2023, the three
//! event types drawn uniformly — so most removals and quantity changes hit an absent product
//! (outcome `not_found`, reject `UNKNOWN_PRODUCT`) and some removals name another product
//! (`NAME_MISMATCH`), as in the original.
//!
//! A fraction `invalid_ratio` of lines (a per-line coin) is invalid, each with exactly one
//! defect from [`EventDefect::ALL`] that the stream rejects with [`EventDefect::code`].
//! Same seed → the same lines.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use chrono::DateTime;

use super::rng::Rng;

pub const NAMES: &[&str] = &["Laptop", "Phone", "Tablet", "Headphones", "Charger"];
pub const EVENT_TYPES: &[&str] = &[
    "product_added",
    "product_removed",
    "product_quantity_changed",
];
/// 2022-01-01 00:00:00 and 2023-12-31 23:59:59 UTC.
const TS_MIN: i64 = 1_640_995_200;
const TS_MAX: i64 = 1_704_067_199;

/// What to generate. `count: None` = until the writer fails (e.g. the pipe closes).
#[derive(Debug, Clone)]
pub struct InventoryEventsSpec {
    pub count: Option<u64>,
    /// Events per second (`None` = as fast as possible).
    pub rate: Option<f64>,
    pub seed: u64,
    pub invalid_ratio: f64,
    /// Product ids `P1..=P<products>`.
    pub products: u64,
}

impl Default for InventoryEventsSpec {
    fn default() -> Self {
        Self {
            count: Some(10_000),
            rate: None,
            seed: 42,
            invalid_ratio: 0.0,
            products: 10_000,
        }
    }
}

/// The defect of an invalid line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EventDefect {
    Malformed,
    UnknownEventType,
    BadProductId,
    NegativeQuantity,
    FractionalQuantity,
    MissingProductId,
    BadTimestamp,
}

impl EventDefect {
    pub const ALL: &[EventDefect] = &[
        EventDefect::Malformed,
        EventDefect::UnknownEventType,
        EventDefect::BadProductId,
        EventDefect::NegativeQuantity,
        EventDefect::FractionalQuantity,
        EventDefect::MissingProductId,
        EventDefect::BadTimestamp,
    ];

    /// The reason code the stream gives the line.
    pub fn code(self) -> &'static str {
        match self {
            EventDefect::Malformed => "MALFORMED",
            EventDefect::UnknownEventType => "UNKNOWN_EVENT_TYPE",
            EventDefect::BadProductId => "BAD_TYPE:product_id",
            EventDefect::NegativeQuantity => "NEGATIVE:quantity",
            EventDefect::FractionalQuantity => "BAD_TYPE:quantity",
            EventDefect::MissingProductId => "MISSING:product_id",
            EventDefect::BadTimestamp => "BAD_TIMESTAMP:timestamp",
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct EventsSummary {
    pub lines: u64,
    pub invalid: u64,
    pub bytes: u64,
    pub invalid_by_kind: BTreeMap<String, u64>,
}

/// One event line (with its newline) and its defect, if any.
pub fn next_line(rng: &mut Rng, spec: &InventoryEventsSpec) -> (String, Option<EventDefect>) {
    let mut event_type = EVENT_TYPES[rng.below(3) as usize];
    let mut id = format!("\"P{}\"", rng.range(1, spec.products.max(1)));
    let name = NAMES[rng.below(NAMES.len() as u64) as usize];
    let mut quantity = rng.range(1, 50).to_string();
    let secs = rng.range(TS_MIN as u64, TS_MAX as u64) as i64;
    let mut ts = DateTime::from_timestamp(secs, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default();
    let defect = if rng.chance(spec.invalid_ratio) {
        Some(EventDefect::ALL[rng.below(EventDefect::ALL.len() as u64) as usize])
    } else {
        None
    };
    match defect {
        Some(EventDefect::UnknownEventType) => event_type = "product_sold",
        Some(EventDefect::BadProductId) => id = format!("\"X{}\"", &id[2..id.len() - 1]),
        Some(EventDefect::NegativeQuantity) => quantity = format!("-{quantity}"),
        Some(EventDefect::FractionalQuantity) => quantity = format!("{quantity}.5"),
        Some(EventDefect::BadTimestamp) => ts = "2023-02-30 12:00:00".into(),
        _ => {}
    }
    let id_field = if defect == Some(EventDefect::MissingProductId) {
        String::new()
    } else {
        format!("\"product_id\": {id}, ")
    };
    let mut line = format!(
        "{{\"event_type\": \"{event_type}\", \"product\": {{{id_field}\"product_name\": \"{name}\", \"quantity\": {quantity}, \"timestamp\": \"{ts}\"}}}}"
    );
    if defect == Some(EventDefect::Malformed) {
        // Cut off mid-object, like a writer that died.
        line.truncate(line.len() / 2);
    }
    line.push('\n');
    (line, defect)
}

/// Writes events to `out` (paced to `spec.rate`), flushing as it goes so a pipe reader sees
/// them live. Stops after `count` lines or at the first write error (a closed pipe ends an
/// endless run normally: the error is returned with what was written).
pub fn write_events(
    out: &mut dyn Write,
    spec: &InventoryEventsSpec,
) -> (EventsSummary, std::io::Result<()>) {
    let mut rng = Rng::new(spec.seed);
    let mut s = EventsSummary::default();
    let started = Instant::now();
    let rate = spec.rate.filter(|r| *r > 0.0);
    let result = (|| {
        loop {
            if spec.count.is_some_and(|c| s.lines >= c) {
                break;
            }
            let (line, defect) = next_line(&mut rng, spec);
            out.write_all(line.as_bytes())?;
            s.lines += 1;
            s.bytes += line.len() as u64;
            if let Some(d) = defect {
                s.invalid += 1;
                *s.invalid_by_kind.entry(d.code().to_string()).or_default() += 1;
            }
            if let Some(r) = rate {
                let due = Duration::from_secs_f64(s.lines as f64 / r);
                let now = started.elapsed();
                if due > now {
                    out.flush()?;
                    std::thread::sleep(due - now);
                }
            }
        }
        out.flush()
    })();
    (s, result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use stockroom::stream::event;

    fn lines(spec: &InventoryEventsSpec) -> Vec<(String, Option<EventDefect>)> {
        let mut rng = Rng::new(spec.seed);
        (0..spec.count.unwrap_or(0))
            .map(|_| next_line(&mut rng, spec))
            .collect()
    }

    #[test]
    fn deterministic_and_every_defect_gets_its_code() {
        let spec = InventoryEventsSpec {
            count: Some(3_000),
            invalid_ratio: 0.3,
            ..Default::default()
        };
        let a = lines(&spec);
        assert_eq!(a, lines(&spec));
        let other = lines(&InventoryEventsSpec {
            seed: 43,
            ..spec.clone()
        });
        assert_ne!(a, other);
        let mut kinds = std::collections::BTreeSet::new();
        for (line, defect) in &a {
            match (event::parse(line.trim_end()), defect) {
                (Ok(e), None) => {
                    let n: u64 = e.product_id[1..].parse().unwrap();
                    assert!((1..=10_000).contains(&n));
                    assert!(NAMES.contains(&e.product_name.as_deref().unwrap()));
                    assert!((1..=50).contains(&e.quantity.unwrap()));
                    let t = e.timestamp.unwrap() / 1_000_000;
                    assert!((TS_MIN..=TS_MAX).contains(&t));
                }
                (Err(codes), Some(d)) => {
                    assert_eq!(codes, vec![d.code().to_string()], "{line}");
                    kinds.insert(*d);
                }
                (r, d) => panic!("{line}: {r:?} vs {d:?}"),
            }
        }
        assert_eq!(kinds.len(), EventDefect::ALL.len());
    }
}
