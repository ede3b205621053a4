//! Deterministic input for the `inventory-ops` pipeline (docs/pipelines.md#inventory-ops):
//! one stock-level snapshot CSV and one transactions JSON-lines file per day.
//!
//! - `stock_levels_<start>.csv`: every (sku, warehouse) pair, `snapshot_at` = `start` 00:00 UTC.
//!   SKUs are `SKU-00001`…, warehouses `WH-1`…; on hand 20..=300, reserved 0..=10 % of it,
//!   reorder point 10..=60, reorder quantity 50..=200, lead time 2..=14 days.
//! - `transactions_<date>.jsonl` for `days` days from `start`: about `events_per_pair_day`
//!   events per pair and day, following each pair's stock: 85 % sales (`INVENTORY_UPDATE`
//!   -1..-5, never more than on hand), 8 % reservations (+1..+3), 7 % releases (-1..-3, never
//!   more than reserved); at or below its reorder point a pair gets its reorder quantity
//!   (`INVENTORY_UPDATE` +) with a 20 % chance per event. The day's events are spread evenly over
//!   its 24 hours (so a clean day with >= 24 events has no empty hour) and written in time
//!   order; event ids are unique (`EVT-<day>-<n>`).
//!
//! With `dirty_ratio > 0` a share of the events carries one defect, and each of the issue's
//! cases occurs at least once: a replayed event (an earlier line written again), an unknown
//! sku, a missing warehouse id, a non-integer quantity, an over-reserved stock-level row and a
//! gap (every event of hour 03 of the second day dropped).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use chrono::{Duration, NaiveDate};

use super::pos::GenerateSummary;
use super::rng::Rng;
use crate::error::Error;

#[derive(Debug, Clone, PartialEq)]
pub struct InventoryOpsSpec {
    pub skus: u64,
    pub warehouses: u64,
    pub days: u32,
    pub start: NaiveDate,
    pub events_per_pair_day: f64,
    pub seed: u64,
    pub dirty_ratio: f64,
}

impl Default for InventoryOpsSpec {
    fn default() -> Self {
        InventoryOpsSpec {
            skus: 100,
            warehouses: 2,
            days: 35,
            start: NaiveDate::from_ymd_opt(2024, 3, 1).unwrap_or_default(),
            events_per_pair_day: 1.1,
            seed: 42,
            dirty_ratio: 0.0,
        }
    }
}

/// The spec of the bundled sample in `data/inventory-ops/` (also what `stockroom demo` lands):
/// `generate inventory-ops --out data/inventory-ops --skus 12 --warehouses 2 --days 35 --seed 7
/// --dirty-ratio 0.01`.
pub fn sample_spec() -> InventoryOpsSpec {
    InventoryOpsSpec {
        skus: 12,
        warehouses: 2,
        days: 35,
        seed: 7,
        dirty_ratio: 0.01,
        ..Default::default()
    }
}

/// The defects an event (or stock-level row) can carry, with the code the pipeline gives it
/// (`None`: not rejected, only flagged or ignored).
const DEFECTS: &[(&str, Option<&str>)] = &[
    ("replayed_event", None),
    ("unknown_sku", Some("UNKNOWN_SKU")),
    ("missing_warehouse", Some("MISSING:warehouseId")),
    ("bad_quantity", Some("BAD_TYPE:quantityChange")),
];

struct Writer {
    out: BufWriter<File>,
    bytes: u64,
}

impl Writer {
    fn create(path: &Path) -> Result<Self, Error> {
        let f = File::create(path)
            .map_err(|e| Error::io(format!("cannot create {}", path.display()), e))?;
        Ok(Writer {
            out: BufWriter::with_capacity(1 << 20, f),
            bytes: 0,
        })
    }

    fn line(&mut self, path: &Path, s: &str) -> Result<(), Error> {
        self.bytes += s.len() as u64 + 1;
        writeln!(self.out, "{s}")
            .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))
    }

    fn finish(mut self, path: &Path) -> Result<u64, Error> {
        self.out
            .flush()
            .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
        Ok(self.bytes)
    }
}

pub fn generate_inventory_ops(
    out_dir: &Path,
    spec: &InventoryOpsSpec,
) -> Result<GenerateSummary, Error> {
    if spec.skus == 0 || spec.warehouses == 0 || spec.days == 0 {
        return Err(Error::Spec(
            "generate inventory-ops: --skus, --warehouses and --days must be at least 1".into(),
        ));
    }
    if !(0.0..=1.0).contains(&spec.dirty_ratio)
        || !spec.events_per_pair_day.is_finite()
        || spec.events_per_pair_day < 0.0
    {
        return Err(Error::Spec(
            "generate inventory-ops: --dirty-ratio must be within 0..1 and --events-per-pair-day >= 0"
                .into(),
        ));
    }
    std::fs::create_dir_all(out_dir)
        .map_err(|e| Error::io(format!("cannot create {}", out_dir.display()), e))?;
    let mut rng = Rng::new(spec.seed);
    let mut summary = GenerateSummary::default();
    let mut dirty: BTreeMap<String, u64> = BTreeMap::new();
    let dirty_on = spec.dirty_ratio > 0.0;

    // Stock levels.
    let start = spec.start.format("%Y-%m-%d").to_string();
    let path = out_dir.join(format!("stock_levels_{start}.csv"));
    let mut w = Writer::create(&path)?;
    w.line(
        &path,
        "sku,warehouse_id,product_name,category,quantity_on_hand,quantity_reserved,reorder_point,reorder_quantity,lead_time_days,unit_cost,snapshot_at",
    )?;
    const CATEGORIES: &[&str] = &["Electronics", "Apparel", "Home", "Toys", "Grocery"];
    // Per pair: (on hand, reserved, reorder point, reorder quantity), moved by the events
    // below so the stream stays plausible (no selling of stock that is not there).
    let mut state: Vec<(i64, i64, i64, i64)> = Vec::new();
    for s in 1..=spec.skus {
        for wh in 1..=spec.warehouses {
            let on_hand = rng.range(20, 300) as i64;
            let mut reserved = rng.below(on_hand as u64 / 10 + 1) as i64;
            // The first pair is over-reserved when defects are on.
            if dirty_on && s == 1 && wh == 1 {
                reserved = on_hand + 5;
                *dirty.entry("over_reserved".into()).or_default() += 1;
            }
            let (reorder_point, reorder_qty) =
                (rng.range(10, 60) as i64, rng.range(50, 200) as i64);
            state.push((on_hand, reserved, reorder_point, reorder_qty));
            let cat = CATEGORIES[(s % CATEGORIES.len() as u64) as usize];
            w.line(
                &path,
                &format!(
                    "SKU-{s:05},WH-{wh},Product {s},{cat},{on_hand},{reserved},{reorder_point},{reorder_qty},{},{}.{:02},{start}T00:00:00Z",
                    rng.range(2, 14),
                    rng.range(1, 200),
                    rng.below(100)
                ),
            )?;
            summary.rows += 1;
        }
    }
    summary.bytes += w.finish(&path)?;
    summary.files.push(path);

    // Transactions, one file per day.
    let pairs = spec.skus * spec.warehouses;
    let mut last_line = String::new();
    let mut forced: Vec<&str> = if dirty_on {
        DEFECTS.iter().map(|d| d.0).collect()
    } else {
        Vec::new()
    };
    for day in 0..spec.days {
        let date = spec.start + Duration::days(day as i64);
        let ds = date.format("%Y-%m-%d").to_string();
        let path = out_dir.join(format!("transactions_{ds}.jsonl"));
        let mut w = Writer::create(&path)?;
        // The day's events: a whole part per pair plus a coin for the fraction.
        let whole = spec.events_per_pair_day.floor() as u64;
        let frac = spec.events_per_pair_day - whole as f64;
        let mut events: Vec<(u64, u64)> = Vec::new(); // (sku, warehouse)
        for p in 0..pairs {
            let n = whole + u64::from(rng.chance(frac));
            for _ in 0..n {
                events.push((p / spec.warehouses + 1, p % spec.warehouses + 1));
            }
        }
        let n = events.len() as u64;
        for (i, (sku, wh)) in events.into_iter().enumerate() {
            let secs = i as u64 * 86_400 / n.max(1);
            let hour = secs / 3600;
            if dirty_on && day == 1.min(spec.days - 1) && hour == 3 {
                *dirty.entry("gap_hour_dropped".into()).or_default() += 1;
                continue;
            }
            let ts = format!(
                "{ds}T{:02}:{:02}:{:02}Z",
                secs / 3600,
                (secs / 60) % 60,
                secs % 60
            );
            let pair = ((sku - 1) * spec.warehouses + (wh - 1)) as usize;
            let (on_hand, reserved, reorder_point, reorder_qty) = &mut state[pair];
            let roll = rng.below(100);
            let (kind, change) = if *on_hand <= *reorder_point && rng.chance(0.2) {
                ("INVENTORY_UPDATE", *reorder_qty) // a replenishment arrives
            } else if roll < 85 && *on_hand > 0 {
                ("INVENTORY_UPDATE", -(rng.range(1, 5) as i64).min(*on_hand))
            } else if roll < 93 || *reserved <= 0 {
                ("RESERVATION", rng.range(1, 3) as i64)
            } else {
                (
                    "RESERVATION_RELEASE",
                    -(rng.range(1, 3) as i64).min(*reserved),
                )
            };
            match kind {
                "INVENTORY_UPDATE" => *on_hand += change,
                "RESERVATION" => *reserved += change,
                _ => *reserved -= change.abs(),
            }
            let mut defect = None;
            if dirty_on && !forced.is_empty() && i > 0 {
                defect = forced.pop();
            } else if dirty_on && rng.chance(spec.dirty_ratio) {
                defect = Some(DEFECTS[rng.below(DEFECTS.len() as u64) as usize].0);
            }
            if defect == Some("replayed_event") && last_line.is_empty() {
                defect = None;
            }
            let sku_s = if defect == Some("unknown_sku") {
                format!("\"SKU-UNKNOWN-{sku}\"")
            } else {
                format!("\"SKU-{sku:05}\"")
            };
            let wh_s = if defect == Some("missing_warehouse") {
                String::new()
            } else {
                format!(", \"warehouseId\": \"WH-{wh}\"")
            };
            let q = if defect == Some("bad_quantity") {
                format!("\"{change}\"")
            } else {
                change.to_string()
            };
            let line = format!(
                "{{\"eventId\": \"EVT-{day:03}-{i:07}\", \"eventType\": \"{kind}\", \"sku\": {sku_s}{wh_s}, \"quantityChange\": {q}, \"timestamp\": \"{ts}\", \"referenceId\": \"REF-{i}\", \"notes\": null}}"
            );
            w.line(&path, &line)?;
            summary.rows += 1;
            if let Some(d) = defect {
                if d == "replayed_event" {
                    // The previous event again, verbatim (an at-least-once producer's retry).
                    w.line(&path, &last_line.clone())?;
                    summary.rows += 1;
                }
                *dirty.entry(d.to_string()).or_default() += 1;
                summary.dirty_rows += 1;
            }
            last_line = line;
        }
        summary.bytes += w.finish(&path)?;
        summary.files.push(path);
    }
    summary.dirty_by_kind = dirty;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64) -> InventoryOpsSpec {
        InventoryOpsSpec {
            skus: 20,
            warehouses: 2,
            days: 3,
            seed,
            dirty_ratio: 0.05,
            ..Default::default()
        }
    }

    #[test]
    fn deterministic_and_every_defect_present() {
        let ((_a, sa), _) = crate::generate::test_support::assert_deterministic(
            |dir, seed| generate_inventory_ops(dir, &spec(seed)).unwrap(),
            7,
        );
        for k in [
            "replayed_event",
            "unknown_sku",
            "missing_warehouse",
            "bad_quantity",
            "over_reserved",
            "gap_hour_dropped",
        ] {
            assert!(
                sa.dirty_by_kind.contains_key(k),
                "{k} missing: {:?}",
                sa.dirty_by_kind
            );
        }
        assert_eq!(sa.files.len(), 4);
    }

    #[test]
    fn bundled_sample_is_the_sample_spec() {
        let dir = tempfile::tempdir().unwrap();
        let out = generate_inventory_ops(dir.path(), &sample_spec()).unwrap();
        // data/ belongs to the repository root, one level above this crate.
        let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/inventory-ops");
        assert_eq!(
            std::fs::read_dir(&bundled).unwrap().count(),
            out.files.len()
        );
        for f in &out.files {
            let name = f.file_name().unwrap();
            assert_eq!(
                std::fs::read(f).unwrap(),
                std::fs::read(bundled.join(name)).unwrap(),
                "{name:?} differs: regenerate data/inventory-ops"
            );
        }
    }

    #[test]
    fn clean_days_have_every_hour() {
        let dir = tempfile::tempdir().unwrap();
        let s = InventoryOpsSpec {
            skus: 20,
            warehouses: 2,
            days: 2,
            ..Default::default()
        };
        let out = generate_inventory_ops(dir.path(), &s).unwrap();
        assert!(out.dirty_by_kind.is_empty());
        let text = std::fs::read_to_string(&out.files[1]).unwrap();
        for h in 0..24 {
            assert!(text.contains(&format!("T{h:02}:")), "hour {h} empty");
        }
    }
}
