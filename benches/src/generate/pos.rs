//! Deterministic point-of-sale CSV batches for the `pos` pipeline (docs/pipelines.md#pos).
//!
//! [`generate_pos`] writes `spec.files` files `pos_<start_date>_<nnn>.csv` (`nnn` zero-padded to
//! at least 3 digits, so name order = file order) with the header [`POS_HEADER`]; the rows are
//! split evenly (the first `rows % files` files get one more). Same spec → byte-identical files.
//!
//! Clean rows follow every rule of docs/pipelines.md#pos:
//! - `transaction_id` = `T` + a 13-digit number: a per-seed base plus the row's index in the call,
//!   so ids are unique across all files of one call and differ between seeds;
//! - `store_id` 1..=50, `product_id` 1000..=5999 (a fifth of the catalogue sells most);
//! - `quantity` 1..=10, skewed to small (35 % are 1);
//! - `revenue` = quantity × the product's unit price (0.99..=199.99, fixed per product and seed),
//!   written with 2 decimals;
//! - `discount_applied` `0.00` for ~70 % of rows, else 5/10/15/20/25/30 % of revenue (rounded
//!   down to the cent, so never above revenue);
//! - `timestamp` integer epoch seconds during shop hours (08:00–22:00 UTC) of the `days` days
//!   from `start_date`, increasing through each file with a few minutes of local disorder.
//!
//! About 4 % of clean rows carry one harmless variation that a correct reader must accept:
//! spaces around one value (` 12 `), an empty `discount_applied` (= 0), a quoted id (`"T…"`),
//! or an integer quantity written `3.0`.
//!
//! A fraction `dirty_ratio` of rows (a per-row coin of the PRNG) is dirty, each with exactly one
//! defect, the kind drawn uniformly from [`PosDefect::ALL`] (see each variant for its text).
//! Each defect earns exactly one reason code from the `pos` pipeline: its discount check compares
//! only with a valid (non-negative) revenue, so a negative revenue is `NEGATIVE:revenue` alone.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::rng::{Rng, mix};
use crate::error::Error;

/// The header of every generated file (this column order).
pub const POS_HEADER: &str =
    "transaction_id,store_id,product_id,quantity,revenue,discount_applied,timestamp";

/// The valid epoch range, inclusive (docs/pipelines.md#values-and-reason-codes).
pub const EPOCH_MIN: i64 = 946_684_800;
pub const EPOCH_MAX: i64 = 4_102_444_800;

/// Shop hours (UTC) in which clean timestamps fall.
const OPEN_AT: u64 = 8 * 3600;
const OPEN_SECS: u64 = 14 * 3600;
/// Share of clean rows that get one harmless variation.
const VARIATION_RATIO: f64 = 0.04;
/// How many recent clean rows a `DUPLICATE` may copy.
const RECENT: usize = 64;

/// What to generate. `Default` is 10 000 clean rows, seed 42, one file, 7 days from 2024-03-01.
#[derive(Debug, Clone, PartialEq)]
pub struct PosSpec {
    /// Data rows over all files (headers not counted).
    pub rows: u64,
    pub seed: u64,
    /// Share of dirty rows, `0.0..=1.0`.
    pub dirty_ratio: f64,
    /// Number of files, >= 1; rows are split evenly. More files than rows leaves header-only
    /// files (which the pipeline rejects whole as empty).
    pub files: usize,
    /// First day of the timestamps (00:00 UTC); also part of the file names.
    pub start_date: NaiveDate,
    /// Number of days the timestamps cover, >= 1.
    pub days: u32,
}

impl Default for PosSpec {
    fn default() -> Self {
        PosSpec {
            rows: 10_000,
            seed: 42,
            dirty_ratio: 0.0,
            files: 1,
            start_date: NaiveDate::from_ymd_opt(2024, 3, 1).expect("valid date"),
            days: 7,
        }
    }
}

impl PosSpec {
    /// `rows` rows from `seed`, everything else default.
    pub fn new(rows: u64, seed: u64) -> Self {
        PosSpec {
            rows,
            seed,
            ..PosSpec::default()
        }
    }
}

/// What [`generate_pos`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenerateSummary {
    /// The files, in name (= batch) order.
    pub files: Vec<PathBuf>,
    /// Data rows written (headers excluded).
    pub rows: u64,
    /// Dirty rows = the sum of `dirty_by_kind`.
    pub dirty_rows: u64,
    /// Bytes written over all files, headers included.
    pub bytes: u64,
    /// Dirty rows per kind ([`PosDefect::code`]); kinds that did not occur are absent.
    pub dirty_by_kind: BTreeMap<String, u64>,
}

/// The defect of a dirty row. Each dirty row has exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PosDefect {
    /// Wrong field count: either `discount_applied` left out (6 fields) or revenue written with
    /// a decimal comma, unquoted (`12,50`, 8 fields).
    Malformed,
    /// Empty `transaction_id` (`,` first).
    MissingTransactionId,
    /// Empty `quantity`.
    MissingQuantity,
    /// Quantity as an English word (`two`) or with a half (`2.5`).
    BadTypeQuantity,
    /// Quantity `0` or negated (`-3`).
    NotPositiveQuantity,
    /// Revenue negated (`-12.50`), discount `0.00`.
    NegativeRevenue,
    /// Revenue `abc` or `nan`.
    BadTypeRevenue,
    /// Discount negated (`-1.25`; the row's discount, or 10 % of revenue when it had none).
    NegativeDiscount,
    /// Discount = revenue + 0.01..=revenue (so strictly above revenue).
    DiscountExceedsRevenue,
    /// Timestamp in epoch milliseconds instead of seconds (`1709280000000`, after 2100).
    BadTimestamp,
    /// An exact copy of one of the last 64 clean rows of the same file (same id and values),
    /// written plainly; the earlier row is the first occurrence.
    Duplicate,
}

impl PosDefect {
    /// Every kind; `Duplicate` last (it is skipped while a file has no earlier clean row).
    pub const ALL: [PosDefect; 11] = [
        PosDefect::Malformed,
        PosDefect::MissingTransactionId,
        PosDefect::MissingQuantity,
        PosDefect::BadTypeQuantity,
        PosDefect::NotPositiveQuantity,
        PosDefect::NegativeRevenue,
        PosDefect::BadTypeRevenue,
        PosDefect::NegativeDiscount,
        PosDefect::DiscountExceedsRevenue,
        PosDefect::BadTimestamp,
        PosDefect::Duplicate,
    ];

    /// The reason code of this defect (docs/pipelines.md#pos; the key in `dirty_by_kind`).
    pub fn code(self) -> &'static str {
        match self {
            PosDefect::Malformed => "MALFORMED",
            PosDefect::MissingTransactionId => "MISSING:transaction_id",
            PosDefect::MissingQuantity => "MISSING:quantity",
            PosDefect::BadTypeQuantity => "BAD_TYPE:quantity",
            PosDefect::NotPositiveQuantity => "NOT_POSITIVE:quantity",
            PosDefect::NegativeRevenue => "NEGATIVE:revenue",
            PosDefect::BadTypeRevenue => "BAD_TYPE:revenue",
            PosDefect::NegativeDiscount => "NEGATIVE:discount_applied",
            PosDefect::DiscountExceedsRevenue => "DISCOUNT_EXCEEDS_REVENUE",
            PosDefect::BadTimestamp => "BAD_TIMESTAMP:timestamp",
            PosDefect::Duplicate => "DUPLICATE",
        }
    }

    /// Every reason code the `pos` pipeline gives such a row.
    pub fn expected_reasons(self) -> &'static [&'static str] {
        match self {
            PosDefect::NegativeRevenue => &["NEGATIVE:revenue"],
            PosDefect::Malformed => &["MALFORMED"],
            PosDefect::MissingTransactionId => &["MISSING:transaction_id"],
            PosDefect::MissingQuantity => &["MISSING:quantity"],
            PosDefect::BadTypeQuantity => &["BAD_TYPE:quantity"],
            PosDefect::NotPositiveQuantity => &["NOT_POSITIVE:quantity"],
            PosDefect::BadTypeRevenue => &["BAD_TYPE:revenue"],
            PosDefect::NegativeDiscount => &["NEGATIVE:discount_applied"],
            PosDefect::DiscountExceedsRevenue => &["DISCOUNT_EXCEEDS_REVENUE"],
            PosDefect::BadTimestamp => &["BAD_TIMESTAMP:timestamp"],
            PosDefect::Duplicate => &["DUPLICATE"],
        }
    }
}

/// Write the batch described by `spec` into `out_dir` (created if absent; existing files of the
/// same names are overwritten, others left alone).
pub fn generate_pos(out_dir: &Path, spec: &PosSpec) -> Result<GenerateSummary, Error> {
    let start = validate(spec)?;
    std::fs::create_dir_all(out_dir)
        .map_err(|e| Error::io(format!("creating {}", out_dir.display()), e))?;

    let prices = price_table(spec.seed);
    let id_base = 1_000_000_000_000 + mix(spec.seed ^ 0x7A11_5EED_0000_0001) % 8_000_000_000_000;
    let width = decimal_digits(spec.files as u64 - 1).max(3);
    let files = spec.files as u64;

    let mut summary = GenerateSummary::default();
    let mut dirty = [0u64; PosDefect::ALL.len()];
    let mut first_index = 0u64;
    for f in 0..files {
        let n = spec.rows / files + u64::from(f < spec.rows % files);
        let path = out_dir.join(format!("pos_{}_{:0width$}.csv", spec.start_date, f));
        let mut file = FileGen {
            rng: Rng::new(mix(spec.seed) ^ mix(f.wrapping_add(0x5A17_F11E))),
            prices: &prices,
            id_base: id_base + first_index,
            rows: n,
            start,
            span: u64::from(spec.days) * OPEN_SECS,
            dirty_ratio: spec.dirty_ratio,
            recent: [Txn::default(); RECENT],
            recent_len: 0,
            recent_next: 0,
            dirty: &mut dirty,
        };
        summary.bytes += file
            .write(&path)
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        summary.files.push(path);
        summary.rows += n;
        first_index += n;
    }
    for (kind, count) in PosDefect::ALL.iter().zip(dirty) {
        if count > 0 {
            summary.dirty_by_kind.insert(kind.code().to_string(), count);
        }
    }
    summary.dirty_rows = dirty.iter().sum();
    Ok(summary)
}

/// Checks the spec; returns the epoch second of `start_date` 00:00 UTC.
fn validate(spec: &PosSpec) -> Result<i64, Error> {
    if spec.files == 0 {
        return Err(Error::Spec(
            "pos generator: files must be at least 1".into(),
        ));
    }
    if !(0.0..=1.0).contains(&spec.dirty_ratio) {
        return Err(Error::Spec(format!(
            "pos generator: dirty_ratio must be between 0 and 1, got {}",
            spec.dirty_ratio
        )));
    }
    if spec.days == 0 {
        return Err(Error::Spec("pos generator: days must be at least 1".into()));
    }
    let start = spec
        .start_date
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp();
    let end = start + i64::from(spec.days) * 86_400;
    if start < EPOCH_MIN || end > EPOCH_MAX {
        return Err(Error::Spec(format!(
            "pos generator: {} + {} days leaves the valid timestamp range 2000-01-01..2100-01-01",
            spec.start_date, spec.days
        )));
    }
    Ok(start)
}

/// Unit price in cents of each product 1000..=5999, fixed per seed: 40 % under 10.00, 35 %
/// 10.00..49.99, 25 % 50.00..199.99; cents mostly .99 / .49.
fn price_table(seed: u64) -> Vec<i64> {
    let mut rng = Rng::new(mix(seed ^ 0x9121_CE5A_0000_0002));
    (0..5000)
        .map(|_| {
            let dollars = match rng.below(100) {
                0..=39 => rng.range(0, 9),
                40..=74 => rng.range(10, 49),
                _ => rng.range(50, 199),
            } as i64;
            let cents = match rng.below(4) {
                0 | 1 => 99,
                2 => 49,
                _ => rng.below(100) as i64,
            };
            let cents = if dollars == 0 { cents.max(99) } else { cents };
            dollars * 100 + cents
        })
        .collect()
}

fn decimal_digits(mut v: u64) -> usize {
    let mut d = 1;
    while v >= 10 {
        v /= 10;
        d += 1;
    }
    d
}

/// One transaction's values (money in cents).
#[derive(Debug, Clone, Copy, Default)]
struct Txn {
    id: u64,
    store: u64,
    product: u64,
    qty: u64,
    revenue: i64,
    discount: i64,
    ts: i64,
}

#[derive(Clone, Copy)]
enum IdForm {
    Plain,
    Quoted,
    Empty,
}

#[derive(Clone, Copy)]
enum QtyForm {
    Plain,
    DotZero,
    Word,
    Half,
    Zero,
    Negated,
    Empty,
}

#[derive(Clone, Copy)]
enum Money {
    Cents(i64),
    DecimalComma(i64),
    Empty,
    Text(&'static str),
}

/// How a row's values are written.
struct Render {
    id: IdForm,
    qty: QtyForm,
    revenue: Money,
    /// `None`: the field is left out (a malformed row).
    discount: Option<Money>,
    ts: i64,
    /// Index of the field written with a space on each side.
    pad: Option<u64>,
}

impl Render {
    fn plain(t: &Txn) -> Self {
        Render {
            id: IdForm::Plain,
            qty: QtyForm::Plain,
            revenue: Money::Cents(t.revenue),
            discount: Some(Money::Cents(t.discount)),
            ts: t.ts,
            pad: None,
        }
    }
}

const QTY_WORDS: [&str; 10] = [
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
];
/// Cumulative percentages of quantities 1..=10.
const QTY_CUMULATIVE: [u64; 10] = [35, 57, 71, 80, 87, 92, 95, 97, 99, 100];
const DISCOUNT_PERCENTS: [i64; 6] = [5, 10, 15, 20, 25, 30];

struct FileGen<'a> {
    rng: Rng,
    prices: &'a [i64],
    /// Id number of this file's first row.
    id_base: u64,
    rows: u64,
    start: i64,
    /// Shop-hour seconds covered (days × 14 h).
    span: u64,
    dirty_ratio: f64,
    recent: [Txn; RECENT],
    recent_len: usize,
    recent_next: usize,
    dirty: &'a mut [u64; PosDefect::ALL.len()],
}

impl FileGen<'_> {
    fn write(&mut self, path: &Path) -> std::io::Result<u64> {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
        let mut line = Vec::with_capacity(128);
        line.extend_from_slice(POS_HEADER.as_bytes());
        line.push(b'\n');
        out.write_all(&line)?;
        let mut bytes = line.len() as u64;
        for j in 0..self.rows {
            line.clear();
            self.row(j, &mut line);
            out.write_all(&line)?;
            bytes += line.len() as u64;
        }
        out.flush()?;
        Ok(bytes)
    }

    fn txn(&mut self, j: u64) -> Txn {
        let rng = &mut self.rng;
        let store = 1 + rng.below(50);
        let product = if rng.chance(0.4) {
            1000 + rng.below(1000)
        } else {
            1000 + rng.below(5000)
        };
        let p = rng.below(100);
        let qty = 1 + QTY_CUMULATIVE.iter().position(|&c| p < c).unwrap_or(9) as u64;
        let revenue = qty as i64 * self.prices[(product - 1000) as usize];
        let discount = if rng.chance(0.3) {
            revenue * DISCOUNT_PERCENTS[rng.below(6) as usize] / 100
        } else {
            0
        };
        let step = self.span / self.rows;
        let slot = ((j as u128 * self.span as u128) / self.rows as u128) as u64;
        let pos = (slot + rng.below(step + 120)).min(self.span - 1);
        let ts = self.start + ((pos / OPEN_SECS) * 86_400 + OPEN_AT + pos % OPEN_SECS) as i64;
        Txn {
            id: self.id_base + j,
            store,
            product,
            qty,
            revenue,
            discount,
            ts,
        }
    }

    fn row(&mut self, j: u64, line: &mut Vec<u8>) {
        let mut t = self.txn(j);
        if !self.rng.chance(self.dirty_ratio) {
            let mut r = Render::plain(&t);
            if self.rng.chance(VARIATION_RATIO) {
                match self.rng.below(4) {
                    0 => r.pad = Some(self.rng.below(7)),
                    1 => {
                        t.discount = 0;
                        r.discount = Some(Money::Empty);
                    }
                    2 => r.id = IdForm::Quoted,
                    _ => r.qty = QtyForm::DotZero,
                }
            }
            write_row(line, &t, &r);
            self.recent[self.recent_next] = t;
            self.recent_next = (self.recent_next + 1) % RECENT;
            self.recent_len = (self.recent_len + 1).min(RECENT);
            return;
        }

        let kinds = if self.recent_len == 0 {
            PosDefect::ALL.len() - 1 // no earlier clean row to duplicate yet
        } else {
            PosDefect::ALL.len()
        };
        let kind = PosDefect::ALL[self.rng.below(kinds as u64) as usize];
        self.dirty[kind as usize] += 1;
        let coin = self.rng.chance(0.5);
        let mut r = Render::plain(&t);
        match kind {
            PosDefect::Malformed if coin => r.discount = None,
            PosDefect::Malformed => r.revenue = Money::DecimalComma(t.revenue),
            PosDefect::MissingTransactionId => r.id = IdForm::Empty,
            PosDefect::MissingQuantity => r.qty = QtyForm::Empty,
            PosDefect::BadTypeQuantity => r.qty = if coin { QtyForm::Word } else { QtyForm::Half },
            PosDefect::NotPositiveQuantity => {
                r.qty = if coin {
                    QtyForm::Zero
                } else {
                    QtyForm::Negated
                }
            }
            PosDefect::NegativeRevenue => {
                r.revenue = Money::Cents(-t.revenue);
                r.discount = Some(Money::Cents(0));
            }
            PosDefect::BadTypeRevenue => r.revenue = Money::Text(if coin { "abc" } else { "nan" }),
            PosDefect::NegativeDiscount => {
                let d = if t.discount > 0 {
                    t.discount
                } else {
                    (t.revenue / 10).max(1)
                };
                r.discount = Some(Money::Cents(-d));
            }
            PosDefect::DiscountExceedsRevenue => {
                let extra = 1 + self.rng.below(t.revenue as u64) as i64;
                r.discount = Some(Money::Cents(t.revenue + extra));
            }
            PosDefect::BadTimestamp => r.ts = t.ts * 1000,
            PosDefect::Duplicate => {
                t = self.recent[self.rng.below(self.recent_len as u64) as usize];
                r = Render::plain(&t);
            }
        }
        write_row(line, &t, &r);
    }
}

fn write_row(line: &mut Vec<u8>, t: &Txn, r: &Render) {
    for field in 0..7u64 {
        if field == 5 && r.discount.is_none() {
            continue;
        }
        if field > 0 {
            line.push(b',');
        }
        let pad = r.pad == Some(field);
        if pad {
            line.push(b' ');
        }
        match field {
            0 => match r.id {
                IdForm::Plain => {
                    line.push(b'T');
                    push_u64(line, t.id);
                }
                IdForm::Quoted => {
                    line.extend_from_slice(b"\"T");
                    push_u64(line, t.id);
                    line.push(b'"');
                }
                IdForm::Empty => {}
            },
            1 => push_u64(line, t.store),
            2 => push_u64(line, t.product),
            3 => match r.qty {
                QtyForm::Plain => push_u64(line, t.qty),
                QtyForm::DotZero => {
                    push_u64(line, t.qty);
                    line.extend_from_slice(b".0");
                }
                QtyForm::Word => line.extend_from_slice(QTY_WORDS[t.qty as usize - 1].as_bytes()),
                QtyForm::Half => {
                    push_u64(line, t.qty);
                    line.extend_from_slice(b".5");
                }
                QtyForm::Zero => line.push(b'0'),
                QtyForm::Negated => {
                    line.push(b'-');
                    push_u64(line, t.qty);
                }
                QtyForm::Empty => {}
            },
            4 => push_money(line, r.revenue),
            5 => push_money(line, r.discount.unwrap_or(Money::Empty)),
            _ => push_i64(line, r.ts),
        }
        if pad {
            line.push(b' ');
        }
    }
    line.push(b'\n');
}

fn push_money(line: &mut Vec<u8>, m: Money) {
    match m {
        Money::Cents(c) => push_cents(line, c, b'.'),
        Money::DecimalComma(c) => push_cents(line, c, b','),
        Money::Empty => {}
        Money::Text(s) => line.extend_from_slice(s.as_bytes()),
    }
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

/// `cents` as `[-]units<sep>cc`.
fn push_cents(line: &mut Vec<u8>, cents: i64, sep: u8) {
    if cents < 0 {
        line.push(b'-');
    }
    let a = cents.unsigned_abs();
    push_u64(line, a / 100);
    line.push(sep);
    let c = (a % 100) as u8;
    line.push(b'0' + c / 10);
    line.push(b'0' + c % 10);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn ascii_trim(s: &str) -> &str {
        s.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b')
    }

    // The pipelines' own parsing rules (docs/pipelines.md#values-and-reason-codes), not a
    // copy of them: a defect counts as one only if the pipeline would reject it.
    use stockroom_udfs::parse::{parse_float_text as parse_float, parse_int_text as parse_int};

    struct Checked {
        /// Per record: its fields (trimmed, unquoted) and its reason codes.
        records: Vec<(Vec<String>, Vec<&'static str>)>,
        raw_lines: Vec<String>,
    }

    /// A literal validator of docs/pipelines.md#pos over one batch (files in order).
    fn check_batch(files: &[PathBuf]) -> Checked {
        let mut records = Vec::new();
        let mut raw_lines = Vec::new();
        for path in files {
            let text = std::fs::read_to_string(path).unwrap();
            assert!(text.starts_with(&format!("{POS_HEADER}\n")));
            raw_lines.extend(text.lines().skip(1).map(str::to_string));
            let mut rdr = csv::ReaderBuilder::new()
                .flexible(true)
                .from_path(path)
                .unwrap();
            for rec in rdr.records() {
                let rec = rec.unwrap();
                let f: Vec<String> = rec.iter().map(|v| ascii_trim(v).to_string()).collect();
                let mut codes = Vec::new();
                if f.len() != 7 {
                    records.push((f, vec!["MALFORMED"]));
                    continue;
                }
                if f[0].is_empty() {
                    codes.push("MISSING:transaction_id");
                }
                for (i, missing, bad) in [
                    (1, "MISSING:store_id", "BAD_TYPE:store_id"),
                    (2, "MISSING:product_id", "BAD_TYPE:product_id"),
                ] {
                    if f[i].is_empty() {
                        codes.push(missing);
                    } else if parse_int(&f[i]).is_none() {
                        codes.push(bad);
                    }
                }
                if f[3].is_empty() {
                    codes.push("MISSING:quantity");
                } else {
                    match parse_int(&f[3]) {
                        None => codes.push("BAD_TYPE:quantity"),
                        Some(q) if q <= 0 => codes.push("NOT_POSITIVE:quantity"),
                        Some(_) => {}
                    }
                }
                let revenue = if f[4].is_empty() {
                    codes.push("MISSING:revenue");
                    None
                } else {
                    let r = parse_float(&f[4]);
                    match r {
                        None => codes.push("BAD_TYPE:revenue"),
                        Some(r) if r < 0.0 => codes.push("NEGATIVE:revenue"),
                        Some(_) => {}
                    }
                    r
                };
                let discount = if f[5].is_empty() {
                    Some(0.0)
                } else {
                    let d = parse_float(&f[5]);
                    match d {
                        None => codes.push("BAD_TYPE:discount_applied"),
                        Some(d) if d < 0.0 => codes.push("NEGATIVE:discount_applied"),
                        Some(_) => {}
                    }
                    d
                };
                if let (Some(r), Some(d)) = (revenue, discount)
                    && r >= 0.0
                    && d > r
                {
                    codes.push("DISCOUNT_EXCEEDS_REVENUE");
                }
                if f[6].is_empty() {
                    codes.push("MISSING:timestamp");
                } else {
                    match parse_float(&f[6]) {
                        Some(t) if (EPOCH_MIN as f64..=EPOCH_MAX as f64).contains(&t) => {}
                        _ => codes.push("BAD_TIMESTAMP:timestamp"),
                    }
                }
                records.push((f, codes));
            }
        }
        // DUPLICATE: trimmed id among non-malformed records with a non-empty id, first kept.
        let mut seen = HashSet::new();
        for (f, codes) in &mut records {
            if codes.first() == Some(&"MALFORMED") || f[0].is_empty() {
                continue;
            }
            if !seen.insert(f[0].clone()) {
                codes.push("DUPLICATE");
            }
        }
        assert_eq!(records.len(), raw_lines.len(), "one record per line");
        Checked { records, raw_lines }
    }

    #[test]
    fn same_spec_same_bytes_other_seed_other_data() {
        let spec = PosSpec {
            rows: 3000,
            seed: 7,
            dirty_ratio: 0.2,
            files: 3,
            ..PosSpec::default()
        };
        let ((_a, sa), (_c, sc)) = crate::generate::test_support::assert_deterministic(
            |dir, seed| {
                generate_pos(
                    dir,
                    &PosSpec {
                        seed,
                        ..spec.clone()
                    },
                )
                .unwrap()
            },
            7,
        );
        let ids = |files: &[PathBuf]| -> HashSet<String> {
            check_batch(files)
                .records
                .into_iter()
                .map(|(f, _)| f[0].clone())
                .filter(|id| !id.is_empty())
                .collect()
        };
        let (ia, ic) = (ids(&sa.files), ids(&sc.files));
        assert!(ia.is_disjoint(&ic), "different seeds share transaction ids");
    }

    #[test]
    fn rows_are_split_evenly_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let spec = PosSpec {
            rows: 1001,
            files: 4,
            dirty_ratio: 0.1,
            ..PosSpec::new(0, 3)
        };
        let s = generate_pos(dir.path(), &spec).unwrap();
        let names: Vec<String> = s
            .files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "pos_2024-03-01_000.csv",
                "pos_2024-03-01_001.csv",
                "pos_2024-03-01_002.csv",
                "pos_2024-03-01_003.csv"
            ]
        );
        let mut bytes = 0;
        let mut lines = Vec::new();
        for p in &s.files {
            let text = std::fs::read_to_string(p).unwrap();
            bytes += text.len() as u64;
            lines.push(text.lines().count() - 1);
        }
        assert_eq!(lines, [251, 250, 250, 250]);
        assert_eq!(s.rows, 1001);
        assert_eq!(s.bytes, bytes);
        assert_eq!(s.dirty_rows, s.dirty_by_kind.values().sum::<u64>());
        assert!(s.dirty_rows > 50 && s.dirty_rows < 160, "{}", s.dirty_rows);

        // More files than rows: header-only files; zero rows is allowed.
        let s = generate_pos(
            dir.path(),
            &PosSpec {
                rows: 2,
                files: 3,
                ..PosSpec::new(0, 1)
            },
        )
        .unwrap();
        assert_eq!(s.rows, 2);
        assert_eq!(
            std::fs::read_to_string(&s.files[2]).unwrap(),
            format!("{POS_HEADER}\n")
        );
    }

    #[test]
    fn clean_batch_meets_every_documented_rule() {
        let dir = tempfile::tempdir().unwrap();
        let spec = PosSpec {
            rows: 6000,
            files: 3,
            ..PosSpec::new(0, 11)
        };
        let s = generate_pos(dir.path(), &spec).unwrap();
        assert_eq!((s.dirty_rows, s.dirty_by_kind.len()), (0, 0));
        let checked = check_batch(&s.files);
        assert_eq!(checked.records.len(), 6000);
        let start = 1_709_251_200i64; // 2024-03-01 00:00 UTC
        let end = start + 7 * 86_400;
        let mut ids = HashSet::new();
        for (f, codes) in &checked.records {
            assert!(codes.is_empty(), "{f:?}: {codes:?}");
            assert!(ids.insert(f[0].clone()), "duplicate id {}", f[0]);
            assert!(f[0].starts_with('T') && f[0][1..].bytes().all(|b| b.is_ascii_digit()));
            assert!((1..=50).contains(&parse_int(&f[1]).unwrap()));
            assert!((1000..=5999).contains(&parse_int(&f[2]).unwrap()));
            let q = parse_int(&f[3]).unwrap();
            assert!((1..=10).contains(&q));
            let rev = parse_float(&f[4]).unwrap();
            assert!(f[4].split_once('.').unwrap().1.len() == 2, "{}", f[4]);
            let unit = (rev * 100.0).round() as i64;
            assert_eq!(unit % q, 0, "revenue {rev} not a multiple of quantity {q}");
            assert!((99..=19_999).contains(&(unit / q)));
            let d = if f[5].is_empty() {
                0.0
            } else {
                parse_float(&f[5]).unwrap()
            };
            assert!(
                d >= 0.0 && d <= rev * 0.3 + 1e-9,
                "discount {d} revenue {rev}"
            );
            let t: i64 = f[6].parse().expect("integer epoch seconds");
            assert!((start..end).contains(&t));
            let hour = (t - start) % 86_400 / 3600;
            assert!((8..22).contains(&hour), "outside shop hours: {t}");
        }
        // Within each file timestamps increase, up to a few minutes of local disorder (a step
        // back over a night is at most 10 h + 2 min).
        for file in &s.files {
            let ts: Vec<i64> = check_batch(std::slice::from_ref(file))
                .records
                .iter()
                .map(|(f, _)| f[6].parse().unwrap())
                .collect();
            let back = ts.windows(2).filter(|w| w[1] < w[0]).count();
            assert!(back < ts.len() / 5, "{back} of {} steps go back", ts.len());
            for w in ts.windows(2) {
                let drop = w[0] - w[1];
                assert!(drop < 180 || (drop > 9 * 3600 && drop < 11 * 3600), "{w:?}");
            }
            assert!(ts[0] < start + 86_400 && ts[ts.len() - 1] >= end - 86_400);
        }
        // ~30 % discounted, quantities skewed to small.
        let discounted = checked
            .records
            .iter()
            .filter(|(f, _)| !f[5].is_empty() && f[5] != "0.00")
            .count();
        assert!((1400..2200).contains(&discounted), "{discounted}");
        let ones = checked
            .records
            .iter()
            .filter(|(f, _)| parse_int(&f[3]) == Some(1))
            .count();
        assert!(ones > 6000 / 4, "{ones}");
        // The harmless variations all occur.
        let raw = &checked.raw_lines;
        assert!(raw.iter().any(|l| l.starts_with("\"T")), "quoted id");
        assert!(
            raw.iter().any(|l| l.contains(", ") || l.starts_with(' ')),
            "padding"
        );
        assert!(
            checked.records.iter().any(|(f, _)| f[5].is_empty()),
            "empty discount"
        );
        assert!(
            checked.records.iter().any(|(f, _)| f[3].ends_with(".0")),
            "quantity 3.0"
        );
    }

    #[test]
    fn dirty_rows_carry_exactly_their_one_defect() {
        let dir = tempfile::tempdir().unwrap();
        let spec = PosSpec {
            rows: 2000,
            dirty_ratio: 0.5,
            ..PosSpec::new(0, 5)
        };
        let s = generate_pos(dir.path(), &spec).unwrap();
        assert_eq!(s.rows, 2000);
        assert!((850..=1150).contains(&s.dirty_rows), "{}", s.dirty_rows);
        assert_eq!(s.dirty_rows, s.dirty_by_kind.values().sum::<u64>());
        for kind in PosDefect::ALL {
            assert!(
                s.dirty_by_kind.get(kind.code()).copied().unwrap_or(0) > 0,
                "{kind:?}"
            );
        }
        assert_eq!(by_validator(&s.files), s.dirty_by_kind);

        // All dirty: nothing to duplicate, every other kind still exact.
        let s = generate_pos(
            dir.path(),
            &PosSpec {
                dirty_ratio: 1.0,
                files: 2,
                ..spec
            },
        )
        .unwrap();
        assert_eq!(s.dirty_rows, 2000);
        assert!(!s.dirty_by_kind.contains_key("DUPLICATE"));
        assert_eq!(by_validator(&s.files), s.dirty_by_kind);
    }

    /// What the literal validator finds, mapped back to defect kinds (each dirty row must map
    /// to exactly one kind through `expected_reasons`).
    fn by_validator(files: &[PathBuf]) -> BTreeMap<String, u64> {
        let mut found = BTreeMap::new();
        for (f, codes) in check_batch(files).records {
            if codes.is_empty() {
                continue;
            }
            let kind = PosDefect::ALL
                .into_iter()
                .find(|k| k.expected_reasons() == codes.as_slice())
                .unwrap_or_else(|| panic!("{f:?} has codes {codes:?}, not one defect"));
            *found.entry(kind.code().to_string()).or_insert(0) += 1;
        }
        found
    }

    #[test]
    fn bad_specs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let bad = [
            PosSpec {
                files: 0,
                ..PosSpec::default()
            },
            PosSpec {
                dirty_ratio: 1.5,
                ..PosSpec::default()
            },
            PosSpec {
                dirty_ratio: f64::NAN,
                ..PosSpec::default()
            },
            PosSpec {
                days: 0,
                ..PosSpec::default()
            },
            PosSpec {
                start_date: NaiveDate::from_ymd_opt(1999, 12, 31).unwrap(),
                ..PosSpec::default()
            },
            PosSpec {
                start_date: NaiveDate::from_ymd_opt(2099, 12, 31).unwrap(),
                days: 2,
                ..PosSpec::default()
            },
        ];
        for spec in bad {
            assert!(
                matches!(generate_pos(dir.path(), &spec), Err(Error::Spec(_))),
                "{spec:?}"
            );
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
