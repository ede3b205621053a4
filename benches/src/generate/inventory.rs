//! Deterministic hourly inventory batches (JSON lines) for the `inventory` pipeline
//! (docs/pipelines.md#inventory).
//!
//! [`generate_inventory`] covers `hours` hours from `start` 00:00 UTC with `files` files. With
//! `files <= hours` each file covers whole hours (`files = hours`: one file per hour) and is named
//! `inventory_<date>T<hh>.jsonl` after its first hour; with more files than hours the slices are
//! shorter and every name gets the file's index too (`inventory_<date>T<hh>_<nnn>.jsonl`). Name
//! order = time order. The lines are split evenly (the first `lines % files` files get one more).
//! Same spec → byte-identical files.
//!
//! Each line is one reading of one SKU, a JSON object with the keys `inventory_id, product_id,
//! warehouse_id, stock_level, restock_threshold, last_updated`, written without serde. Clean
//! lines follow every rule of docs/pipelines.md#inventory:
//! - `inventory_id` 1..=`skus`, visited round-robin in a random order fixed per seed, like a
//!   poller walking the catalogue: a SKU is read again only after all the others;
//! - `product_id` = 100 000 + `inventory_id`; `warehouse_id` 1..=`warehouses`, fixed per SKU;
//! - `restock_threshold` 5..=50, fixed per SKU;
//! - `stock_level` 0..=499 and evolving per SKU: each reading sells a few units (never below 0),
//!   and a SKU at or below its threshold is restocked now and then; ~6 % of SKUs start empty,
//!   so stockouts and below-threshold SKUs occur;
//! - `last_updated` integer epoch seconds in the file's time slice, non-decreasing through the
//!   file. `(inventory_id, last_updated)` is unique over the whole call as long as a file has
//!   fewer than `skus` lines per second.
//!
//! About 4 % of clean lines carry one harmless variation that a correct reader must accept:
//! `last_updated` written `1709251200.0`, or with a fraction (`.25`, `.5`, `.75`, still within
//! the same second), or an extra key at the end (`"note"`, `"source"`).
//!
//! A fraction `dirty_ratio` of lines (a per-line coin) is dirty, each with exactly one defect
//! drawn uniformly from [`InventoryDefect::ALL`]; the pipeline gives such a line exactly the
//! one reason code [`InventoryDefect::code`]. Dirty lines are still readings: the SKU's stock
//! moves on as for a clean one.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use chrono::NaiveDate;

use super::pos::{EPOCH_MAX, EPOCH_MIN, GenerateSummary};
use super::rng::{Rng, mix};
use crate::error::Error;

/// Share of clean lines that get one harmless variation.
const VARIATION_RATIO: f64 = 0.04;
/// The largest catalogue (the visiting order and stock state take 6 bytes a SKU).
pub const MAX_SKUS: u64 = 10_000_000;
/// `product_id = PRODUCT_BASE + inventory_id`.
pub const PRODUCT_BASE: u64 = 100_000;
/// Stock state of a SKU not read yet.
const UNSEEN: u16 = u16::MAX;

/// What to generate. `Default`: 10 000 clean lines, seed 42, 24 hourly files from 2024-03-01,
/// 10 000 SKUs in 5 warehouses.
#[derive(Debug, Clone, PartialEq)]
pub struct InventorySpec {
    /// Lines over all files.
    pub lines: u64,
    pub seed: u64,
    /// Share of dirty lines, `0.0..=1.0`.
    pub dirty_ratio: f64,
    /// Number of files, >= 1. More files than lines leaves empty files (which the pipeline
    /// rejects whole).
    pub files: usize,
    /// First day (00:00 UTC) of the readings.
    pub start: NaiveDate,
    /// Hours the readings cover, >= 1.
    pub hours: u32,
    /// Catalogue size: `inventory_id` 1..=skus (1..=[`MAX_SKUS`]).
    pub skus: u64,
    /// `warehouse_id` 1..=warehouses (>= 1).
    pub warehouses: u64,
}

impl Default for InventorySpec {
    fn default() -> Self {
        InventorySpec {
            lines: 10_000,
            seed: 42,
            dirty_ratio: 0.0,
            files: 24,
            start: NaiveDate::from_ymd_opt(2024, 3, 1).expect("valid date"),
            hours: 24,
            skus: 10_000,
            warehouses: 5,
        }
    }
}

impl InventorySpec {
    /// `lines` lines from `seed`, everything else default.
    pub fn new(lines: u64, seed: u64) -> Self {
        InventorySpec {
            lines,
            seed,
            ..InventorySpec::default()
        }
    }
}

/// The defect of a dirty line. Each dirty line has exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InventoryDefect {
    /// Not a JSON object: the line cut short (its closing `}` and more lost), or the six
    /// values as a JSON array.
    Malformed,
    /// `stock_level` as a JSON string (`"12"`).
    BadTypeStockLevel,
    /// `stock_level` -1..=-50.
    NegativeStockLevel,
    /// `warehouse_id` `null`.
    MissingWarehouseId,
    /// `last_updated` `123`, or the time in milliseconds (after 2100).
    BadTimestamp,
    /// `inventory_id` a boolean.
    BadTypeInventoryId,
}

impl InventoryDefect {
    pub const ALL: [InventoryDefect; 6] = [
        InventoryDefect::Malformed,
        InventoryDefect::BadTypeStockLevel,
        InventoryDefect::NegativeStockLevel,
        InventoryDefect::MissingWarehouseId,
        InventoryDefect::BadTimestamp,
        InventoryDefect::BadTypeInventoryId,
    ];

    /// The one reason code the `inventory` pipeline gives such a line (the key in
    /// `dirty_by_kind`).
    pub fn code(self) -> &'static str {
        match self {
            InventoryDefect::Malformed => "MALFORMED",
            InventoryDefect::BadTypeStockLevel => "BAD_TYPE:stock_level",
            InventoryDefect::NegativeStockLevel => "NEGATIVE:stock_level",
            InventoryDefect::MissingWarehouseId => "MISSING:warehouse_id",
            InventoryDefect::BadTimestamp => "BAD_TIMESTAMP:last_updated",
            InventoryDefect::BadTypeInventoryId => "BAD_TYPE:inventory_id",
        }
    }
}

/// Write the batch described by `spec` into `out_dir` (created if absent; existing files of the
/// same names are overwritten, others left alone).
pub fn generate_inventory(out_dir: &Path, spec: &InventorySpec) -> Result<GenerateSummary, Error> {
    let start = validate(spec)?;
    std::fs::create_dir_all(out_dir)
        .map_err(|e| Error::io(format!("creating {}", out_dir.display()), e))?;

    let files = spec.files as u64;
    let hours = u64::from(spec.hours);
    let span = hours * 3600;
    // Slice boundaries (seconds from `start`): whole hours when there are enough hours.
    let boundary = |f: u64| -> u64 {
        if files <= hours {
            f * hours / files * 3600
        } else {
            (f as u128 * span as u128 / files as u128) as u64
        }
    };
    let width = decimal_digits(files - 1).max(3);

    let mut state = State {
        stock: vec![UNSEEN; spec.skus as usize],
        order: visiting_order(spec.skus, spec.seed),
        cursor: 0,
        warehouses: spec.warehouses,
        key_seed: mix(spec.seed ^ 0x1DE0_5EED_0000_0002),
        dirty: [0; InventoryDefect::ALL.len()],
    };
    let mut summary = GenerateSummary::default();
    for f in 0..files {
        let n = spec.lines / files + u64::from(f < spec.lines % files);
        let (a, b) = (boundary(f), boundary(f + 1));
        let first_hour = a / 3600;
        let date = spec.start + chrono::Days::new(first_hour / 24);
        let mut name = format!("inventory_{date}T{:02}", first_hour % 24);
        if files > hours {
            name.push_str(&format!("_{f:0width$}"));
        }
        name.push_str(".jsonl");
        let path = out_dir.join(name);
        let mut file = FileGen {
            rng: Rng::new(mix(spec.seed) ^ mix(f.wrapping_add(0x1DE0_F11E))),
            lines: n,
            from: start + a as i64,
            secs: b - a,
            dirty_ratio: spec.dirty_ratio,
            state: &mut state,
        };
        summary.bytes += file
            .write(&path)
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        summary.files.push(path);
        summary.rows += n;
    }
    for (kind, count) in InventoryDefect::ALL.iter().zip(state.dirty) {
        if count > 0 {
            summary.dirty_by_kind.insert(kind.code().to_string(), count);
        }
    }
    summary.dirty_rows = state.dirty.iter().sum();
    Ok(summary)
}

/// Checks the spec; returns the epoch second of `start` 00:00 UTC.
fn validate(spec: &InventorySpec) -> Result<i64, Error> {
    let invalid = |msg: String| Err(Error::Spec(format!("inventory generator: {msg}")));
    if spec.files == 0 {
        return invalid("files must be at least 1".into());
    }
    if !(0.0..=1.0).contains(&spec.dirty_ratio) {
        return invalid(format!(
            "dirty_ratio must be between 0 and 1, got {}",
            spec.dirty_ratio
        ));
    }
    if spec.hours == 0 {
        return invalid("hours must be at least 1".into());
    }
    if !(1..=MAX_SKUS).contains(&spec.skus) {
        return invalid(format!(
            "skus must be between 1 and {MAX_SKUS}, got {}",
            spec.skus
        ));
    }
    if spec.warehouses == 0 {
        return invalid("warehouses must be at least 1".into());
    }
    let start = spec
        .start
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp();
    let end = start + i64::from(spec.hours) * 3600;
    if start < EPOCH_MIN || end > EPOCH_MAX {
        return invalid(format!(
            "{} + {} hours leaves the valid timestamp range 2000-01-01..2100-01-01",
            spec.start, spec.hours
        ));
    }
    Ok(start)
}

/// A permutation of the SKU indexes `0..skus` (Fisher-Yates), fixed per seed.
fn visiting_order(skus: u64, seed: u64) -> Vec<u32> {
    let mut order: Vec<u32> = (0..skus as u32).collect();
    let mut rng = Rng::new(mix(seed ^ 0x1DE0_5EED_0000_0001));
    for i in (1..order.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    order
}

fn decimal_digits(mut v: u64) -> usize {
    let mut d = 1;
    while v >= 10 {
        v /= 10;
        d += 1;
    }
    d
}

/// What carries over from file to file.
struct State {
    /// Current stock of each SKU (index `inventory_id - 1`), [`UNSEEN`] before its first reading.
    stock: Vec<u16>,
    /// The order SKU indexes are read in, round after round.
    order: Vec<u32>,
    /// Position of the next reading in `order`.
    cursor: usize,
    warehouses: u64,
    /// Seed of the per-SKU constants (warehouse, threshold, initial stock).
    key_seed: u64,
    dirty: [u64; InventoryDefect::ALL.len()],
}

/// One reading's values.
struct Reading {
    id: u64,
    warehouse: u64,
    stock: u64,
    threshold: u64,
    ts: i64,
}

/// How `last_updated` is written.
#[derive(Clone, Copy)]
enum Ts {
    Int(i64),
    DotZero(i64),
    /// The second plus `quarters` / 4.
    Frac(i64, u8),
}

const EXTRA_KEYS: [&str; 3] = [
    ", \"note\": \"cycle count\"",
    ", \"source\": \"rfid-gate\"",
    ", \"note\": \"scanner sync, \\\"late\\\"\"",
];

struct FileGen<'a> {
    rng: Rng,
    lines: u64,
    /// Epoch second the file's slice starts at.
    from: i64,
    /// Length of the slice in seconds (>= 1).
    secs: u64,
    dirty_ratio: f64,
    state: &'a mut State,
}

impl FileGen<'_> {
    fn write(&mut self, path: &Path) -> std::io::Result<u64> {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
        let mut line = Vec::with_capacity(256);
        let mut bytes = 0u64;
        for j in 0..self.lines {
            line.clear();
            self.line(j, &mut line);
            out.write_all(&line)?;
            bytes += line.len() as u64;
        }
        out.flush()?;
        Ok(bytes)
    }

    /// The next reading: the next SKU of the round, its stock moved on.
    fn reading(&mut self, j: u64) -> Reading {
        let st = &mut *self.state;
        let idx = st.order[st.cursor] as u64;
        st.cursor = (st.cursor + 1) % st.order.len();
        let id = idx + 1;
        let k = mix(st.key_seed ^ id);
        let warehouse = 1 + (k % st.warehouses);
        let threshold = 5 + (k >> 20) % 46;
        let rng = &mut self.rng;
        let stock = match st.stock[idx as usize] {
            UNSEEN => {
                if (k >> 40) % 100 < 6 {
                    0
                } else {
                    (k >> 48) % 500
                }
            }
            s => {
                let s = u64::from(s);
                if s <= threshold && rng.chance(0.25) {
                    rng.range(threshold * 4, 499)
                } else {
                    let demand = match rng.below(100) {
                        0..=39 => 0,
                        40..=79 => rng.range(1, 3),
                        80..=94 => rng.range(4, 10),
                        _ => rng.range(11, 30),
                    };
                    s.saturating_sub(demand)
                }
            }
        };
        st.stock[idx as usize] = stock as u16;
        let ts = self.from + ((j as u128 * self.secs as u128) / self.lines as u128) as i64;
        Reading {
            id,
            warehouse,
            stock,
            threshold,
            ts,
        }
    }

    fn line(&mut self, j: u64, line: &mut Vec<u8>) {
        let r = self.reading(j);
        let rng = &mut self.rng;
        if !rng.chance(self.dirty_ratio) {
            let mut ts = Ts::Int(r.ts);
            let mut extra = None;
            if rng.chance(VARIATION_RATIO) {
                match rng.below(3) {
                    0 => ts = Ts::DotZero(r.ts),
                    1 => ts = Ts::Frac(r.ts, 1 + rng.below(3) as u8),
                    _ => extra = Some(EXTRA_KEYS[rng.below(EXTRA_KEYS.len() as u64) as usize]),
                }
            }
            write_object(line, &r, Field::Plain, ts, extra);
            return;
        }
        let kind = InventoryDefect::ALL[rng.below(InventoryDefect::ALL.len() as u64) as usize];
        self.state.dirty[kind as usize] += 1;
        let coin = rng.chance(0.5);
        let ts = Ts::Int(r.ts);
        match kind {
            InventoryDefect::Malformed if coin => {
                write_object(line, &r, Field::Plain, ts, None);
                // Keep 1..len-2 bytes of the object (never its closing brace, never nothing).
                let body = line.len() - 2;
                let keep = 1 + rng.below(body as u64) as usize;
                line.truncate(keep);
                line.push(b'\n');
            }
            InventoryDefect::Malformed => {
                line.push(b'[');
                for (i, v) in [r.id, PRODUCT_BASE + r.id, r.warehouse, r.stock, r.threshold]
                    .into_iter()
                    .enumerate()
                {
                    if i > 0 {
                        line.extend_from_slice(b", ");
                    }
                    push_u64(line, v);
                }
                line.extend_from_slice(b", ");
                push_i64(line, r.ts);
                line.extend_from_slice(b"]\n");
            }
            InventoryDefect::BadTypeStockLevel => {
                write_object(line, &r, Field::StockQuoted, ts, None)
            }
            InventoryDefect::NegativeStockLevel => {
                let neg = rng.range(1, 50);
                write_object(line, &r, Field::StockNegative(neg), ts, None)
            }
            InventoryDefect::MissingWarehouseId => {
                write_object(line, &r, Field::WarehouseNull, ts, None)
            }
            InventoryDefect::BadTimestamp => {
                let bad = if coin { 123 } else { r.ts * 1000 };
                write_object(line, &r, Field::Plain, Ts::Int(bad), None)
            }
            InventoryDefect::BadTypeInventoryId => {
                write_object(line, &r, Field::IdBool(coin), ts, None)
            }
        }
    }
}

/// The one field written out of the ordinary, if any.
#[derive(Clone, Copy)]
enum Field {
    Plain,
    IdBool(bool),
    WarehouseNull,
    StockQuoted,
    StockNegative(u64),
}

fn write_object(line: &mut Vec<u8>, r: &Reading, field: Field, ts: Ts, extra: Option<&str>) {
    line.extend_from_slice(b"{\"inventory_id\": ");
    match field {
        Field::IdBool(true) => line.extend_from_slice(b"true"),
        Field::IdBool(false) => line.extend_from_slice(b"false"),
        _ => push_u64(line, r.id),
    }
    line.extend_from_slice(b", \"product_id\": ");
    push_u64(line, PRODUCT_BASE + r.id);
    line.extend_from_slice(b", \"warehouse_id\": ");
    match field {
        Field::WarehouseNull => line.extend_from_slice(b"null"),
        _ => push_u64(line, r.warehouse),
    }
    line.extend_from_slice(b", \"stock_level\": ");
    match field {
        Field::StockQuoted => {
            line.push(b'"');
            push_u64(line, r.stock);
            line.push(b'"');
        }
        Field::StockNegative(n) => {
            line.push(b'-');
            push_u64(line, n);
        }
        _ => push_u64(line, r.stock),
    }
    line.extend_from_slice(b", \"restock_threshold\": ");
    push_u64(line, r.threshold);
    line.extend_from_slice(b", \"last_updated\": ");
    match ts {
        Ts::Int(t) => push_i64(line, t),
        Ts::DotZero(t) => {
            push_i64(line, t);
            line.extend_from_slice(b".0");
        }
        Ts::Frac(t, q) => {
            push_i64(line, t);
            line.extend_from_slice(match q {
                1 => b".25",
                2 => b".5",
                _ => b".75",
            });
        }
    }
    if let Some(extra) = extra {
        line.extend_from_slice(extra.as_bytes());
    }
    line.extend_from_slice(b"}\n");
}

#[inline]
fn push_u64(line: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    line.extend_from_slice(&buf[i..]);
}

fn push_i64(line: &mut Vec<u8>, v: i64) {
    if v < 0 {
        line.push(b'-');
    }
    push_u64(line, v.unsigned_abs());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashMap, HashSet};
    use std::path::PathBuf;
    use stockroom_udfs::parse::{json_float_text, json_int_text};

    const FIELDS: [&str; 6] = [
        "inventory_id",
        "product_id",
        "warehouse_id",
        "stock_level",
        "restock_threshold",
        "last_updated",
    ];

    /// The pipeline's validation (sql/inventory/10_validate.sql) over one line: the reason
    /// codes and, when there are none, the typed values (last_updated as f64 seconds).
    fn check_line(line: &str) -> (Vec<String>, Option<([i64; 5], f64)>) {
        let obj = match serde_json::from_str::<serde_json::Value>(line) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => return (vec!["MALFORMED".into()], None),
        };
        let mut codes = Vec::new();
        let mut ints = [0i64; 5];
        let mut ts = 0.0;
        for (i, name) in FIELDS.iter().enumerate() {
            let raw = match obj.get(*name) {
                None | Some(serde_json::Value::Null) => {
                    codes.push(format!("MISSING:{name}"));
                    continue;
                }
                Some(v) => v.to_string(),
            };
            if i < 5 {
                match json_int_text(&raw) {
                    None => codes.push(format!("BAD_TYPE:{name}")),
                    Some(v) => {
                        if v < 0 && (*name == "stock_level" || *name == "restock_threshold") {
                            codes.push(format!("NEGATIVE:{name}"));
                        }
                        ints[i] = v;
                    }
                }
            } else {
                match json_float_text(&raw) {
                    None => codes.push(format!("BAD_TYPE:{name}")),
                    Some(t) if !(EPOCH_MIN as f64..=EPOCH_MAX as f64).contains(&t) => {
                        codes.push(format!("BAD_TIMESTAMP:{name}"))
                    }
                    Some(t) => ts = t,
                }
            }
        }
        let values = codes.is_empty().then_some((ints, ts));
        (codes, values)
    }

    fn lines_of(files: &[PathBuf]) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        for (f, p) in files.iter().enumerate() {
            let text = std::fs::read_to_string(p).unwrap();
            assert!(text.is_empty() || text.ends_with('\n'));
            for l in text.lines() {
                assert!(!l.trim().is_empty(), "blank line in {}", p.display());
                out.push((f, l.to_string()));
            }
        }
        out
    }

    #[test]
    fn same_spec_same_bytes_other_seed_other_data() {
        let spec = InventorySpec {
            lines: 5000,
            dirty_ratio: 0.2,
            files: 4,
            ..InventorySpec::new(5000, 7)
        };
        crate::generate::test_support::assert_deterministic(
            |dir, seed| {
                generate_inventory(
                    dir,
                    &InventorySpec {
                        seed,
                        ..spec.clone()
                    },
                )
                .unwrap()
            },
            7,
        );
    }

    #[test]
    fn files_are_named_by_hour_and_lines_split_evenly() {
        let dir = tempfile::tempdir().unwrap();
        let s = generate_inventory(
            dir.path(),
            &InventorySpec {
                files: 3,
                hours: 30,
                ..InventorySpec::new(1001, 1)
            },
        )
        .unwrap();
        let names: Vec<String> = s
            .files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "inventory_2024-03-01T00.jsonl",
                "inventory_2024-03-01T10.jsonl",
                "inventory_2024-03-01T20.jsonl"
            ]
        );
        let counts: Vec<usize> = s
            .files
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap().lines().count())
            .collect();
        assert_eq!(counts, [334, 334, 333]);
        let bytes: u64 = s
            .files
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().len())
            .sum();
        assert_eq!((s.rows, s.bytes, s.dirty_rows), (1001, bytes, 0));

        // Default: one file per hour; more files than hours: an index suffix, still in order.
        let s = generate_inventory(dir.path(), &InventorySpec::new(100, 1)).unwrap();
        assert_eq!(s.files.len(), 24);
        assert!(s.files[23].ends_with("inventory_2024-03-01T23.jsonl"));
        let s = generate_inventory(
            dir.path(),
            &InventorySpec {
                files: 3,
                hours: 2,
                ..InventorySpec::new(10, 1)
            },
        )
        .unwrap();
        let names: Vec<String> = s
            .files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "inventory_2024-03-01T00_000.jsonl",
                "inventory_2024-03-01T00_001.jsonl",
                "inventory_2024-03-01T01_002.jsonl"
            ]
        );
    }

    #[test]
    fn clean_batch_meets_every_documented_rule() {
        let dir = tempfile::tempdir().unwrap();
        let spec = InventorySpec {
            skus: 2000,
            warehouses: 4,
            ..InventorySpec::new(60_000, 11)
        };
        let s = generate_inventory(dir.path(), &spec).unwrap();
        assert_eq!(
            (s.rows, s.dirty_rows, s.dirty_by_kind.len()),
            (60_000, 0, 0)
        );
        let start = 1_709_251_200i64; // 2024-03-01 00:00 UTC
        let lines = lines_of(&s.files);
        assert_eq!(lines.len(), 60_000);
        let mut readings = HashSet::new();
        let mut warehouse_of = HashMap::new();
        let mut threshold_of = HashMap::new();
        let mut per_file_ts: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
        let (mut zeros, mut below, mut dot_zero, mut fraction, mut extra) = (0, 0, 0, 0, 0);
        for (f, line) in &lines {
            let (codes, values) = check_line(line);
            assert!(codes.is_empty(), "{line}: {codes:?}");
            let ([id, product, wh, stock, thr], ts) = values.unwrap();
            assert!((1..=2000).contains(&id));
            assert_eq!(product, 100_000 + id);
            assert!((1..=4).contains(&wh));
            assert_eq!(*warehouse_of.entry(id).or_insert(wh), wh, "warehouse moved");
            assert_eq!(
                *threshold_of.entry(id).or_insert(thr),
                thr,
                "threshold moved"
            );
            assert!((0..500).contains(&stock));
            assert!((5..=50).contains(&thr));
            zeros += usize::from(stock == 0);
            below += usize::from(stock <= thr);
            // The file's hour.
            let hour = start + 3600 * *f as i64;
            assert!(ts >= hour as f64 && ts < (hour + 3600) as f64, "{line}");
            assert!(readings.insert((id, ts.to_bits())), "reading twice: {line}");
            per_file_ts.entry(*f).or_default().push(ts);
            dot_zero += usize::from(line.ends_with(".0}"));
            fraction += usize::from(line.contains(".25}") || line.contains(".5}"));
            extra += usize::from(line.contains("\"note\"") || line.contains("\"source\""));
        }
        for ts in per_file_ts.values() {
            assert!(ts.windows(2).all(|w| w[0] <= w[1]), "time goes back");
        }
        assert_eq!(warehouse_of.len(), 2000, "every SKU read");
        assert!(zeros > 100 && below > 1000, "zeros {zeros}, below {below}");
        assert!(dot_zero > 10 && fraction > 10 && extra > 10);
    }

    #[test]
    fn dirty_lines_carry_exactly_their_one_defect() {
        let dir = tempfile::tempdir().unwrap();
        let spec = InventorySpec {
            dirty_ratio: 0.3,
            files: 5,
            ..InventorySpec::new(6000, 5)
        };
        let s = generate_inventory(dir.path(), &spec).unwrap();
        assert!((1600..=2000).contains(&s.dirty_rows), "{}", s.dirty_rows);
        assert_eq!(s.dirty_rows, s.dirty_by_kind.values().sum::<u64>());
        for kind in InventoryDefect::ALL {
            assert!(s.dirty_by_kind.get(kind.code()).copied().unwrap_or(0) > 100);
        }
        let mut found = BTreeMap::new();
        for (_, line) in lines_of(&s.files) {
            let (codes, _) = check_line(&line);
            match codes.as_slice() {
                [] => {}
                [one] => *found.entry(one.clone()).or_insert(0u64) += 1,
                more => panic!("{line}: {more:?}"),
            }
        }
        assert_eq!(found, s.dirty_by_kind);
    }

    #[test]
    fn bad_specs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = InventorySpec::default;
        let bad = [
            InventorySpec { files: 0, ..d() },
            InventorySpec {
                dirty_ratio: f64::NAN,
                ..d()
            },
            InventorySpec {
                dirty_ratio: -0.1,
                ..d()
            },
            InventorySpec { hours: 0, ..d() },
            InventorySpec { skus: 0, ..d() },
            InventorySpec {
                skus: MAX_SKUS + 1,
                ..d()
            },
            InventorySpec {
                warehouses: 0,
                ..d()
            },
            InventorySpec {
                start: NaiveDate::from_ymd_opt(1999, 12, 31).unwrap(),
                ..d()
            },
            InventorySpec {
                start: NaiveDate::from_ymd_opt(2099, 12, 31).unwrap(),
                hours: 25,
                ..d()
            },
        ];
        for spec in bad {
            assert!(
                matches!(generate_inventory(dir.path(), &spec), Err(Error::Spec(_))),
                "{spec:?}"
            );
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
