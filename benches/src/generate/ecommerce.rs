//! Deterministic products / orders / order items CSV batches for the `ecommerce` pipeline
//! (docs/pipelines.md#ecommerce), shaped like the public "TheLook" e-commerce data set.
//!
//! [`generate_ecommerce`] writes `files_per_type` files of each type, `products_<nnn>.csv`,
//! `orders_<nnn>.csv` and `order_items_<nnn>.csv` (`nnn` zero-padded to at least 3 digits), each
//! type's rows split evenly in key order. Scale 1.0 is 10 000 products, 100 000 orders and about
//! 250 000 order items (plus 40 000 customers). Same spec → byte-identical files.
//!
//! Files with an even number (`_000`, `_002`, …) have the documented columns in the documented
//! order; odd-numbered ones another order plus one extra column (`distribution_center_id`,
//! `gender`, `inventory_item_id`), which the pipeline maps by name and ignores.
//!
//! Clean rows follow every rule of docs/pipelines.md#ecommerce:
//! - keys are 1-based and unique: `products.id` 1..=P, `orders.order_id` 1..=O increasing with
//!   `created_at`, `order_items.id` 1..=I in order-id order;
//! - products: a 32-hex-digit `sku`, department `Men` / `Women`, a category of that department
//!   (1.5 % empty, 2 % padded with spaces), a brand, a name (some with a comma, so quoted),
//!   `retail_price` 5.00..=249.99 and `cost` 35..65 % of it (so `0 < cost < retail_price`);
//! - orders: `user_id` 1..=customers (2 % empty), `status` Complete / Shipped / Processing /
//!   Cancelled / Returned (25/30/20/15/10 %) in Title, UPPER or lower case (80/10/10 %),
//!   `created_at` in 2024-01-01 ..< 2024-04-01 UTC written `2024-03-14 07:52:42 UTC` (50 %),
//!   `2024-03-14 07:52:42.121304 UTC` (25 %), `2024-03-14T07:52:42Z` (15 %) or
//!   `2024-03-14 07:52:42+00:00` (10 %); `shipped_at` set for shipped / complete / returned
//!   orders, `delivered_at` for complete / returned, `returned_at` for returned (else empty);
//!   `num_of_item` = the number of order items of the order, 1..=4 (mean 2.5);
//! - order items: `order_id`, `user_id`, `created_at`, `shipped_at`, `delivered_at`,
//!   `returned_at` as their order's (the same text), `status` the order's in its own case,
//!   `product_id` with a popularity skew (a fifth of the products sell about half the units),
//!   `sale_price` = that product's `retail_price` (the same text).
//!
//! A fraction `dirty_ratio` of the rows of each type (a per-row coin) is dirty, each with exactly
//! one defect of that type (uniformly among [`EcommerceDefect::ALL`] that apply to it); the
//! pipeline gives such a row exactly the one reason code [`EcommerceDefect::code`]. A dirty
//! product or order keeps its order items, which then simply do not count (their product is
//! `Unknown`, or their order is not valid); `num_of_item` of a dirty order is still its true count
//! unless that is the defect. Order items of an order with a bad `created_at` carry the true
//! time.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use chrono::{DateTime, Timelike};

use super::pos::GenerateSummary;
use super::rng::{Rng, mix};
use crate::error::Error;

/// Orders, order items and products at scale 1.0 (items are a mean, 2.5 a order).
pub const ORDERS_PER_SCALE: f64 = 100_000.0;
pub const PRODUCTS_PER_SCALE: f64 = 10_000.0;
pub const CUSTOMERS_PER_SCALE: f64 = 40_000.0;
/// The largest scale accepted (10^8 orders).
pub const MAX_SCALE: f64 = 1000.0;

/// `created_at` of the orders: 2024-01-01 00:00 UTC ..< 2024-04-01 00:00 UTC.
const CREATED_FROM: i64 = 1_704_067_200;
const CREATED_TO: i64 = 1_711_929_600;

pub const PRODUCTS_HEADER: &str = "id,sku,cost,category,name,brand,retail_price,department";
pub const ORDERS_HEADER: &str =
    "order_id,user_id,status,created_at,returned_at,shipped_at,delivered_at,num_of_item";
pub const ORDER_ITEMS_HEADER: &str = "id,order_id,user_id,product_id,status,created_at,shipped_at,delivered_at,returned_at,sale_price";

/// What to generate. `Default`: scale 1.0, seed 42, no dirty rows, one file per type.
#[derive(Debug, Clone, PartialEq)]
pub struct EcommerceSpec {
    /// 1.0 ≈ 100 000 orders, 250 000 order items, 10 000 products; `0 < scale <= 1000`. Each
    /// type has at least one row.
    pub scale: f64,
    pub seed: u64,
    /// Share of dirty rows of each type, `0.0..=1.0`.
    pub dirty_ratio: f64,
    /// Files of each type, >= 1.
    pub files_per_type: usize,
}

impl Default for EcommerceSpec {
    fn default() -> Self {
        EcommerceSpec {
            scale: 1.0,
            seed: 42,
            dirty_ratio: 0.0,
            files_per_type: 1,
        }
    }
}

impl EcommerceSpec {
    /// `scale` from `seed`, everything else default.
    pub fn new(scale: f64, seed: u64) -> Self {
        EcommerceSpec {
            scale,
            seed,
            ..EcommerceSpec::default()
        }
    }
}

/// The defect of a dirty row. Each dirty row has exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EcommerceDefect {
    /// Product `cost` `0.00` or negated.
    NotPositiveCost,
    /// Order `created_at` unparseable: `yesterday`, `N/A`, `14/03/2024 07:52:42`, a 30th of
    /// February or a 25th hour.
    BadTimestampCreatedAt,
    /// Order `num_of_item` `0`.
    NotPositiveNumOfItem,
    /// Order item `product_id` empty.
    MissingProductId,
    /// Order item `sale_price` `0.00` or negated.
    NotPositiveSalePrice,
    /// A row of any type with one field left out (one field fewer than the header).
    Malformed,
}

impl EcommerceDefect {
    pub const ALL: [EcommerceDefect; 6] = [
        EcommerceDefect::NotPositiveCost,
        EcommerceDefect::BadTimestampCreatedAt,
        EcommerceDefect::NotPositiveNumOfItem,
        EcommerceDefect::MissingProductId,
        EcommerceDefect::NotPositiveSalePrice,
        EcommerceDefect::Malformed,
    ];
    const PRODUCTS: [EcommerceDefect; 2] =
        [EcommerceDefect::NotPositiveCost, EcommerceDefect::Malformed];
    const ORDERS: [EcommerceDefect; 3] = [
        EcommerceDefect::BadTimestampCreatedAt,
        EcommerceDefect::NotPositiveNumOfItem,
        EcommerceDefect::Malformed,
    ];
    const ITEMS: [EcommerceDefect; 3] = [
        EcommerceDefect::MissingProductId,
        EcommerceDefect::NotPositiveSalePrice,
        EcommerceDefect::Malformed,
    ];

    /// The one reason code the `ecommerce` pipeline gives such a row (the key in
    /// `dirty_by_kind`).
    pub fn code(self) -> &'static str {
        match self {
            EcommerceDefect::NotPositiveCost => "NOT_POSITIVE:cost",
            EcommerceDefect::BadTimestampCreatedAt => "BAD_TIMESTAMP:created_at",
            EcommerceDefect::NotPositiveNumOfItem => "NOT_POSITIVE:num_of_item",
            EcommerceDefect::MissingProductId => "MISSING:product_id",
            EcommerceDefect::NotPositiveSalePrice => "NOT_POSITIVE:sale_price",
            EcommerceDefect::Malformed => "MALFORMED",
        }
    }
}

/// Write the batch described by `spec` into `out_dir` (created if absent; existing files of the
/// same names are overwritten, others left alone). `files` of the summary are in name order.
pub fn generate_ecommerce(out_dir: &Path, spec: &EcommerceSpec) -> Result<GenerateSummary, Error> {
    validate(spec)?;
    std::fs::create_dir_all(out_dir)
        .map_err(|e| Error::io(format!("creating {}", out_dir.display()), e))?;
    let count = |per: f64| ((spec.scale * per).round() as u64).max(1);
    let g = Gen {
        seed: spec.seed,
        dirty_ratio: spec.dirty_ratio,
        products: count(PRODUCTS_PER_SCALE),
        orders: count(ORDERS_PER_SCALE),
        customers: count(CUSTOMERS_PER_SCALE),
        popular: (count(PRODUCTS_PER_SCALE) / 5).max(1),
    };
    let products: Vec<Product> = (1..=g.products).map(|p| g.product(p)).collect();
    let items_per_order: Vec<u8> = (1..=g.orders).map(|o| g.items_of(o)).collect();
    let total_items: u64 = items_per_order.iter().map(|&n| u64::from(n)).sum();

    let files = spec.files_per_type as u64;
    let width = decimal_digits(files - 1).max(3);
    let mut summary = GenerateSummary::default();
    let mut dirty = [0u64; EcommerceDefect::ALL.len()];
    let mut line = String::with_capacity(512);
    // The first key of each file: `files` slices of 1..=n.
    let first = |n: u64, f: u64| 1 + f * (n / files) + f.min(n % files);

    for f in 0..files {
        let path = out_dir.join(format!("products_{f:0width$}.csv"));
        let layout = Layout::of(Table::Products, f);
        let rows = first(g.products, f)..first(g.products, f + 1);
        let n = rows.end - rows.start;
        summary.bytes += write_file(&path, layout, |out| {
            for p in rows.clone() {
                line.clear();
                g.write_product(&mut line, layout, &products[p as usize - 1], &mut dirty);
                out.write_all(line.as_bytes())?;
            }
            Ok(())
        })?;
        summary.rows += n;
        summary.files.push(path);
    }
    for f in 0..files {
        let path = out_dir.join(format!("orders_{f:0width$}.csv"));
        let layout = Layout::of(Table::Orders, f);
        let rows = first(g.orders, f)..first(g.orders, f + 1);
        let n = rows.end - rows.start;
        summary.bytes += write_file(&path, layout, |out| {
            for o in rows.clone() {
                line.clear();
                let order = g.order(o, items_per_order[o as usize - 1]);
                g.write_order(&mut line, layout, &order, &mut dirty);
                out.write_all(line.as_bytes())?;
            }
            Ok(())
        })?;
        summary.rows += n;
        summary.files.push(path);
    }
    // Items in order-id order; each file takes the next slice of item ids.
    let mut order_id = 1u64;
    let mut next_item = 1u64;
    let mut pending: Option<(Order, u8)> = None;
    for f in 0..files {
        let path = out_dir.join(format!("order_items_{f:0width$}.csv"));
        let layout = Layout::of(Table::Items, f);
        let end = first(total_items, f + 1).min(total_items + 1);
        let start = next_item;
        summary.bytes += write_file(&path, layout, |out| {
            while next_item < end {
                let (order, k) = match pending.take() {
                    Some(p) => p,
                    None => {
                        let o = g.order(order_id, items_per_order[order_id as usize - 1]);
                        order_id += 1;
                        (o, 0)
                    }
                };
                line.clear();
                g.write_item(&mut line, layout, next_item, &order, &products, &mut dirty);
                out.write_all(line.as_bytes())?;
                next_item += 1;
                if k + 1 < order.items {
                    pending = Some((order, k + 1));
                }
            }
            Ok(())
        })?;
        summary.rows += next_item - start;
        summary.files.push(path);
    }
    debug_assert_eq!(next_item, total_items + 1);

    for (kind, count) in EcommerceDefect::ALL.iter().zip(dirty) {
        if count > 0 {
            summary.dirty_by_kind.insert(kind.code().to_string(), count);
        }
    }
    summary.dirty_rows = dirty.iter().sum();
    summary.files.sort();
    Ok(summary)
}

fn validate(spec: &EcommerceSpec) -> Result<(), Error> {
    let invalid = |msg: String| Err(Error::Spec(format!("ecommerce generator: {msg}")));
    if spec.files_per_type == 0 {
        return invalid("files_per_type must be at least 1".into());
    }
    if !(0.0..=1.0).contains(&spec.dirty_ratio) {
        return invalid(format!(
            "dirty_ratio must be between 0 and 1, got {}",
            spec.dirty_ratio
        ));
    }
    if !(spec.scale > 0.0 && spec.scale <= MAX_SCALE) {
        return invalid(format!(
            "scale must be above 0 and at most {MAX_SCALE}, got {}",
            spec.scale
        ));
    }
    Ok(())
}

/// Create `path`, write `layout`'s header, then `body`; returns the bytes written.
fn write_file(
    path: &Path,
    layout: Layout,
    body: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> Result<u64, Error> {
    let io = |e| Error::io(format!("writing {}", path.display()), e);
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path).map_err(io)?);
    let header = layout
        .columns
        .iter()
        .map(|c| c.name())
        .collect::<Vec<_>>()
        .join(",");
    writeln!(out, "{header}").map_err(io)?;
    body(&mut out).map_err(io)?;
    out.flush().map_err(io)?;
    drop(out);
    Ok(std::fs::metadata(path).map_err(io)?.len())
}

fn decimal_digits(mut v: u64) -> usize {
    let mut d = 1;
    while v >= 10 {
        v /= 10;
        d += 1;
    }
    d
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Products,
    Orders,
    Items,
}

/// Every column any file has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Id,
    Sku,
    Cost,
    Category,
    Name,
    Brand,
    RetailPrice,
    Department,
    DistributionCenterId,
    OrderId,
    UserId,
    Status,
    Gender,
    CreatedAt,
    ReturnedAt,
    ShippedAt,
    DeliveredAt,
    NumOfItem,
    ProductId,
    InventoryItemId,
    SalePrice,
}

impl Col {
    fn name(self) -> &'static str {
        match self {
            Col::Id => "id",
            Col::Sku => "sku",
            Col::Cost => "cost",
            Col::Category => "category",
            Col::Name => "name",
            Col::Brand => "brand",
            Col::RetailPrice => "retail_price",
            Col::Department => "department",
            Col::DistributionCenterId => "distribution_center_id",
            Col::OrderId => "order_id",
            Col::UserId => "user_id",
            Col::Status => "status",
            Col::Gender => "gender",
            Col::CreatedAt => "created_at",
            Col::ReturnedAt => "returned_at",
            Col::ShippedAt => "shipped_at",
            Col::DeliveredAt => "delivered_at",
            Col::NumOfItem => "num_of_item",
            Col::ProductId => "product_id",
            Col::InventoryItemId => "inventory_item_id",
            Col::SalePrice => "sale_price",
        }
    }
}

/// A file's columns, in order.
#[derive(Debug, Clone, Copy)]
struct Layout {
    columns: &'static [Col],
}

impl Layout {
    /// The documented order in even-numbered files, another order plus an extra column in odd.
    fn of(table: Table, file: u64) -> Layout {
        use Col::*;
        let alt = file % 2 == 1;
        let columns: &'static [Col] = match (table, alt) {
            (Table::Products, false) => &[
                Id,
                Sku,
                Cost,
                Category,
                Name,
                Brand,
                RetailPrice,
                Department,
            ],
            (Table::Products, true) => &[
                Id,
                Name,
                Brand,
                Category,
                Department,
                Cost,
                RetailPrice,
                Sku,
                DistributionCenterId,
            ],
            (Table::Orders, false) => &[
                OrderId,
                UserId,
                Status,
                CreatedAt,
                ReturnedAt,
                ShippedAt,
                DeliveredAt,
                NumOfItem,
            ],
            (Table::Orders, true) => &[
                OrderId,
                UserId,
                Status,
                Gender,
                CreatedAt,
                ShippedAt,
                DeliveredAt,
                ReturnedAt,
                NumOfItem,
            ],
            (Table::Items, false) => &[
                Id,
                OrderId,
                UserId,
                ProductId,
                Status,
                CreatedAt,
                ShippedAt,
                DeliveredAt,
                ReturnedAt,
                SalePrice,
            ],
            (Table::Items, true) => &[
                Id,
                OrderId,
                UserId,
                ProductId,
                InventoryItemId,
                Status,
                CreatedAt,
                ShippedAt,
                DeliveredAt,
                ReturnedAt,
                SalePrice,
            ],
        };
        Layout { columns }
    }
}

// ---------------------------------------------------------------------------------------------
// The catalogue.

/// (category, noun of its product names) per department.
const MEN: &[(&str, &str)] = &[
    ("Jeans", "Jeans"),
    ("Tops & Tees", "T-Shirt"),
    ("Sweaters", "Sweater"),
    ("Shorts", "Shorts"),
    ("Socks", "Crew Socks"),
    ("Accessories", "Leather Belt"),
    ("Outerwear & Coats", "Parka"),
    ("Pants", "Chinos"),
    ("Fashion Hoodies & Sweatshirts", "Hoodie"),
    ("Suits & Sport Coats", "Blazer"),
    ("Underwear", "Boxer Briefs"),
    ("Swim", "Swim Trunks"),
    ("Sleep & Lounge", "Pajama Set"),
    ("Active", "Training Shorts"),
];
const WOMEN: &[(&str, &str)] = &[
    ("Jeans", "Skinny Jeans"),
    ("Tops & Tees", "Blouse"),
    ("Sweaters", "Cardigan"),
    ("Shorts", "Denim Shorts"),
    ("Socks & Hosiery", "Tights"),
    ("Accessories", "Scarf"),
    ("Outerwear & Coats", "Trench Coat"),
    ("Dresses", "Maxi Dress"),
    ("Skirts", "Pleated Skirt"),
    ("Leggings", "Leggings"),
    ("Intimates", "Bralette"),
    ("Blazers & Jackets", "Cropped Jacket"),
    ("Swim", "One-Piece Swimsuit"),
    ("Sleep & Lounge", "Robe"),
    ("Active", "Sports Bra"),
    ("Maternity", "Maternity Tank"),
];
const BRANDS: &[&str] = &[
    "Levi's",
    "Calvin Klein",
    "Hanes",
    "Carhartt",
    "Columbia",
    "Tommy Hilfiger",
    "Nike",
    "Allegra K",
    "Champion",
    "Dockers",
    "Wrangler",
    "Lucky Brand",
    "Quiksilver",
    "Patagonia",
    "Ralph Lauren",
    "Volcom",
];
const ADJECTIVES: &[&str] = &[
    "Classic",
    "Slim Fit",
    "Relaxed",
    "Vintage",
    "Essential",
    "Organic Cotton",
    "Striped",
    "Performance",
    "Cable Knit",
    "Lightweight",
    "Heritage",
    "Stretch",
];

#[derive(Debug, Clone)]
struct Product {
    id: u64,
    women: bool,
    /// Index into the department's category list.
    category: usize,
    /// 0 plain, 1 empty, 2 padded with spaces.
    category_form: u8,
    brand: usize,
    adjective: usize,
    /// A "…, 2-Pack" name (has a comma, so it is quoted).
    pack: bool,
    cost: i64,
    retail: i64,
    sku: [u64; 2],
    distribution_center: u64,
    dirty: Option<EcommerceDefect>,
    /// Column left out of a malformed row (index into the layout, modulo its length).
    drop: u64,
    /// Which variant of the defect.
    coin: bool,
}

// ---------------------------------------------------------------------------------------------
// Orders.

const STATUSES: [[&str; 3]; 5] = [
    ["Complete", "COMPLETE", "complete"],
    ["Shipped", "SHIPPED", "shipped"],
    ["Processing", "PROCESSING", "processing"],
    ["Cancelled", "CANCELLED", "cancelled"],
    ["Returned", "RETURNED", "returned"],
];
const COMPLETE: usize = 0;
const SHIPPED: usize = 1;
const RETURNED: usize = 4;
/// Cumulative percentages of STATUSES.
const STATUS_CUMULATIVE: [u64; 5] = [25, 55, 75, 90, 100];

const BAD_TIMESTAMPS: [&str; 5] = [
    "yesterday",
    "N/A",
    "14/03/2024 07:52:42",
    "2024-02-30 10:15:00 UTC",
    "2024-03-14 25:10:00",
];

#[derive(Debug, Clone)]
struct Order {
    id: u64,
    /// 0 = none (empty `user_id`).
    user: u64,
    status: usize,
    case: usize,
    /// Microseconds since the epoch (as are the three below).
    created: i64,
    /// How its timestamps are written (0..4, see the module doc).
    format: u8,
    shipped: Option<i64>,
    delivered: Option<i64>,
    returned: Option<i64>,
    items: u8,
    dirty: Option<EcommerceDefect>,
    drop: u64,
    bad_timestamp: usize,
}

/// The parameters and the per-key generators (each row's values come from its own seeded
/// stream, so they do not depend on the file split).
struct Gen {
    seed: u64,
    dirty_ratio: f64,
    products: u64,
    orders: u64,
    customers: u64,
    /// The best-selling products are 1..=popular.
    popular: u64,
}

impl Gen {
    fn rng(&self, salt: u64, key: u64) -> Rng {
        Rng::new(mix(self.seed ^ salt) ^ mix(key))
    }

    /// Uniformly one of `kinds` with probability `dirty_ratio`.
    fn defect(&self, rng: &mut Rng, kinds: &[EcommerceDefect]) -> Option<EcommerceDefect> {
        rng.chance(self.dirty_ratio)
            .then(|| kinds[rng.below(kinds.len() as u64) as usize])
    }

    fn product(&self, id: u64) -> Product {
        let mut rng = self.rng(0xEC0_7E55_0000_0002, id);
        let women = rng.chance(0.5);
        let cats = if women { WOMEN } else { MEN };
        let category = rng.below(cats.len() as u64) as usize;
        let category_form = match rng.below(1000) {
            0..=14 => 1,
            15..=34 => 2,
            _ => 0,
        };
        let dollars = match rng.below(100) {
            0..=39 => rng.range(5, 29),
            40..=79 => rng.range(30, 79),
            _ => rng.range(80, 249),
        } as i64;
        let cents = match rng.below(4) {
            0 | 1 => 99,
            2 => 0,
            _ => rng.below(100) as i64,
        };
        let retail = dollars * 100 + cents;
        let cost = (retail * rng.range(35, 65) as i64 / 100).max(1);
        Product {
            id,
            women,
            category,
            category_form,
            brand: rng.below(BRANDS.len() as u64) as usize,
            adjective: rng.below(ADJECTIVES.len() as u64) as usize,
            pack: rng.chance(0.05),
            cost,
            retail,
            sku: [rng.next_u64(), rng.next_u64()],
            distribution_center: rng.range(1, 10),
            dirty: self.defect(&mut rng, &EcommerceDefect::PRODUCTS),
            drop: rng.next_u64(),
            coin: rng.chance(0.5),
        }
    }

    /// The number of order items of order `id` (1..=4).
    fn items_of(&self, id: u64) -> u8 {
        1 + (mix(mix(self.seed ^ 0xEC0_17E5_0000_0003) ^ id) % 4) as u8
    }

    fn order(&self, id: u64, items: u8) -> Order {
        let mut rng = self.rng(0xEC0_0DE5_0000_0004, id);
        // Spread over the quarter in id order, each within its own slot.
        let span = ((CREATED_TO - CREATED_FROM) * 1_000_000) as u128;
        let slot = span / u128::from(self.orders);
        let at = span * u128::from(id - 1) / u128::from(self.orders);
        let created = CREATED_FROM * 1_000_000 + (at + u128::from(rng.below(slot as u64))) as i64;
        let user = if rng.chance(0.02) {
            0
        } else {
            1 + rng.below(self.customers)
        };
        let p = rng.below(100);
        let status = STATUS_CUMULATIVE.iter().position(|&c| p < c).unwrap_or(0);
        let case = match rng.below(10) {
            0 => 1,
            1 => 2,
            _ => 0,
        };
        let format = match rng.below(20) {
            0..=9 => 0,
            10..=14 => 1,
            15..=17 => 2,
            _ => 3,
        };
        const HOUR: u64 = 3_600_000_000;
        let shipped = matches!(status, COMPLETE | SHIPPED | RETURNED)
            .then(|| created + rng.range(2 * HOUR, 72 * HOUR) as i64);
        let delivered = match (status, shipped) {
            (COMPLETE | RETURNED, Some(s)) => Some(s + rng.range(24 * HOUR, 120 * HOUR) as i64),
            _ => None,
        };
        let returned = match (status, delivered) {
            (RETURNED, Some(d)) => Some(d + rng.range(24 * HOUR, 240 * HOUR) as i64),
            _ => None,
        };
        Order {
            id,
            user,
            status,
            case,
            created,
            format,
            shipped,
            delivered,
            returned,
            items,
            dirty: self.defect(&mut rng, &EcommerceDefect::ORDERS),
            drop: rng.next_u64(),
            bad_timestamp: rng.below(BAD_TIMESTAMPS.len() as u64) as usize,
        }
    }

    fn write_product(
        &self,
        line: &mut String,
        layout: Layout,
        p: &Product,
        dirty: &mut [u64; EcommerceDefect::ALL.len()],
    ) {
        if let Some(kind) = p.dirty {
            dirty[kind as usize] += 1;
        }
        let drop = (p.dirty == Some(EcommerceDefect::Malformed))
            .then(|| (p.drop % layout.columns.len() as u64) as usize);
        let cats = if p.women { WOMEN } else { MEN };
        let (category, noun) = cats[p.category];
        let mut sep = Sep::new(drop);
        for &col in layout.columns {
            if !sep.next(line) {
                continue;
            }
            match col {
                Col::Id => push_u64(line, p.id),
                Col::Sku => {
                    let _ = write!(line, "{:016X}{:016X}", p.sku[0], p.sku[1]);
                }
                Col::Cost => match p.dirty {
                    Some(EcommerceDefect::NotPositiveCost) if p.coin => line.push_str("0.00"),
                    Some(EcommerceDefect::NotPositiveCost) => push_cents(line, -p.cost),
                    _ => push_cents(line, p.cost),
                },
                Col::Category => match p.category_form {
                    1 => {}
                    2 => {
                        line.push(' ');
                        line.push_str(category);
                        line.push(' ');
                    }
                    _ => line.push_str(category),
                },
                Col::Name => {
                    let who = if p.women { "Women's" } else { "Men's" };
                    let adj = ADJECTIVES[p.adjective];
                    if p.pack {
                        let _ = write!(line, "\"{who} {adj} {noun}, 2-Pack\"");
                    } else {
                        let _ = write!(line, "{who} {adj} {noun}");
                    }
                }
                Col::Brand => line.push_str(BRANDS[p.brand]),
                Col::RetailPrice => push_cents(line, p.retail),
                Col::Department => line.push_str(if p.women { "Women" } else { "Men" }),
                Col::DistributionCenterId => push_u64(line, p.distribution_center),
                other => unreachable!("{other:?} is not a products column"),
            }
        }
        line.push('\n');
    }

    fn write_order(
        &self,
        line: &mut String,
        layout: Layout,
        o: &Order,
        dirty: &mut [u64; EcommerceDefect::ALL.len()],
    ) {
        if let Some(kind) = o.dirty {
            dirty[kind as usize] += 1;
        }
        let drop = (o.dirty == Some(EcommerceDefect::Malformed))
            .then(|| (o.drop % layout.columns.len() as u64) as usize);
        let mut sep = Sep::new(drop);
        for &col in layout.columns {
            if !sep.next(line) {
                continue;
            }
            match col {
                Col::OrderId => push_u64(line, o.id),
                Col::Gender => {
                    if o.user != 0 {
                        line.push(if mix(self.seed ^ o.user).is_multiple_of(2) {
                            'F'
                        } else {
                            'M'
                        });
                    }
                }
                Col::CreatedAt if o.dirty == Some(EcommerceDefect::BadTimestampCreatedAt) => {
                    line.push_str(BAD_TIMESTAMPS[o.bad_timestamp])
                }
                Col::NumOfItem if o.dirty == Some(EcommerceDefect::NotPositiveNumOfItem) => {
                    line.push('0')
                }
                Col::NumOfItem => push_u64(line, u64::from(o.items)),
                _ => write_order_field(line, col, o, o.case),
            }
        }
        line.push('\n');
    }

    fn write_item(
        &self,
        line: &mut String,
        layout: Layout,
        id: u64,
        o: &Order,
        products: &[Product],
        dirty: &mut [u64; EcommerceDefect::ALL.len()],
    ) {
        let rng = &mut self.rng(0xEC0_17E5_0000_0001, id);
        let product = if rng.chance(0.5) {
            1 + rng.below(self.popular)
        } else {
            1 + rng.below(self.products)
        };
        let price = products[product as usize - 1].retail;
        let case = match rng.below(10) {
            0 => 1,
            1 => 2,
            _ => 0,
        };
        let kind = self.defect(rng, &EcommerceDefect::ITEMS);
        if let Some(kind) = kind {
            dirty[kind as usize] += 1;
        }
        let coin = rng.chance(0.5);
        let drop = (kind == Some(EcommerceDefect::Malformed))
            .then(|| rng.below(layout.columns.len() as u64) as usize);
        let mut sep = Sep::new(drop);
        for &col in layout.columns {
            if !sep.next(line) {
                continue;
            }
            match col {
                Col::Id => push_u64(line, id),
                Col::ProductId => {
                    if kind != Some(EcommerceDefect::MissingProductId) {
                        push_u64(line, product);
                    }
                }
                Col::InventoryItemId => push_u64(line, id * 3 + rng.below(3)),
                Col::SalePrice => match kind {
                    Some(EcommerceDefect::NotPositiveSalePrice) if coin => line.push_str("0.00"),
                    Some(EcommerceDefect::NotPositiveSalePrice) => push_cents(line, -price),
                    _ => push_cents(line, price),
                },
                _ => write_order_field(line, col, o, case),
            }
        }
        line.push('\n');
    }
}

/// The columns an order and its items share, the order's true values.
fn write_order_field(line: &mut String, col: Col, o: &Order, case: usize) {
    match col {
        Col::OrderId => push_u64(line, o.id),
        Col::UserId => {
            if o.user != 0 {
                push_u64(line, o.user)
            }
        }
        Col::Status => line.push_str(STATUSES[o.status][case]),
        Col::CreatedAt => push_ts(line, o.created, o.format),
        Col::ShippedAt => push_opt_ts(line, o.shipped, o.format),
        Col::DeliveredAt => push_opt_ts(line, o.delivered, o.format),
        Col::ReturnedAt => push_opt_ts(line, o.returned, o.format),
        other => unreachable!("{other:?} is not an order column"),
    }
}

/// Writes the commas between fields and skips the dropped one.
struct Sep {
    drop: Option<usize>,
    index: usize,
    written: usize,
}

impl Sep {
    fn new(drop: Option<usize>) -> Self {
        Sep {
            drop,
            index: 0,
            written: 0,
        }
    }

    /// Whether to write the next column (after its separator, pushed here).
    fn next(&mut self, line: &mut String) -> bool {
        let i = self.index;
        self.index += 1;
        if self.drop == Some(i) {
            return false;
        }
        if self.written > 0 {
            line.push(',');
        }
        self.written += 1;
        true
    }
}

fn push_opt_ts(line: &mut String, micros: Option<i64>, format: u8) {
    if let Some(us) = micros {
        push_ts(line, us, format);
    }
}

/// `micros` in one of the four formats of the module doc.
fn push_ts(line: &mut String, micros: i64, format: u8) {
    let dt = DateTime::from_timestamp_micros(micros).expect("timestamp in range");
    let (date, h, m, s) = (dt.date_naive(), dt.hour(), dt.minute(), dt.second());
    let _ = match format {
        0 => write!(line, "{date} {h:02}:{m:02}:{s:02} UTC"),
        1 => write!(
            line,
            "{date} {h:02}:{m:02}:{s:02}.{:06} UTC",
            micros.rem_euclid(1_000_000)
        ),
        2 => write!(line, "{date}T{h:02}:{m:02}:{s:02}Z"),
        _ => write!(line, "{date} {h:02}:{m:02}:{s:02}+00:00"),
    };
}

fn push_u64(line: &mut String, v: u64) {
    let _ = write!(line, "{v}");
}

/// `cents` as `[-]units.cc`.
fn push_cents(line: &mut String, cents: i64) {
    let sign = if cents < 0 { "-" } else { "" };
    let a = cents.unsigned_abs();
    let _ = write!(line, "{sign}{}.{:02}", a / 100, a % 100);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashMap, HashSet};
    use std::path::PathBuf;
    use stockroom_udfs::parse::{parse_float_text, parse_int_text};
    use stockroom_udfs::timestamp::parse_timestamp_micros;

    /// One file's records as column name → trimmed value (None when empty), or None when the
    /// record has the wrong number of fields.
    type Row = Option<HashMap<String, Option<String>>>;

    fn read_csv(path: &Path) -> Vec<Row> {
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(path)
            .unwrap();
        let header: Vec<String> = rdr
            .headers()
            .unwrap()
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        rdr.records()
            .map(|r| {
                let r = r.unwrap();
                (r.len() == header.len()).then(|| {
                    header
                        .iter()
                        .zip(r.iter())
                        .map(|(h, v)| {
                            let v = v.trim();
                            (h.clone(), (!v.is_empty()).then(|| v.to_string()))
                        })
                        .collect()
                })
            })
            .collect()
    }

    fn get<'a>(r: &'a HashMap<String, Option<String>>, col: &str) -> Option<&'a str> {
        r.get(col)
            .unwrap_or_else(|| panic!("no column {col}"))
            .as_deref()
    }

    /// The pipeline's reason codes (sql/ecommerce/10_validate.sql) of one record.
    fn reasons(table: Table, row: &Row) -> Vec<String> {
        let Some(r) = row else {
            return vec!["MALFORMED".into()];
        };
        let mut codes = Vec::new();
        let mut int = |col: &str, required: bool| match get(r, col) {
            None if required => codes.push(format!("MISSING:{col}")),
            None => {}
            Some(v) if parse_int_text(v).is_none() => codes.push(format!("BAD_TYPE:{col}")),
            Some(_) => {}
        };
        let keys: &[(&str, bool)] = match table {
            Table::Products => &[("id", true)],
            Table::Orders => &[("order_id", true), ("user_id", false)],
            Table::Items => &[
                ("id", true),
                ("order_id", true),
                ("user_id", false),
                ("product_id", true),
            ],
        };
        for &(col, required) in keys {
            int(col, required);
        }
        let mut positive_float = |col: &str| match get(r, col) {
            None => codes.push(format!("MISSING:{col}")),
            Some(v) => match parse_float_text(v) {
                None => codes.push(format!("BAD_TYPE:{col}")),
                Some(x) if x <= 0.0 => codes.push(format!("NOT_POSITIVE:{col}")),
                Some(_) => {}
            },
        };
        match table {
            Table::Products => {
                positive_float("cost");
                positive_float("retail_price");
            }
            Table::Items => positive_float("sale_price"),
            Table::Orders => {
                match get(r, "created_at") {
                    None => codes.push("MISSING:created_at".into()),
                    Some(v) if parse_timestamp_micros(v).is_none() => {
                        codes.push("BAD_TIMESTAMP:created_at".into())
                    }
                    Some(_) => {}
                }
                match get(r, "num_of_item") {
                    None => codes.push("MISSING:num_of_item".into()),
                    Some(v) => match parse_int_text(v) {
                        None => codes.push("BAD_TYPE:num_of_item".into()),
                        Some(n) if n <= 0 => codes.push("NOT_POSITIVE:num_of_item".into()),
                        Some(_) => {}
                    },
                }
            }
        }
        codes
    }

    fn table_of(path: &Path) -> Table {
        let name = path.file_name().unwrap().to_str().unwrap();
        if name.starts_with("products") {
            Table::Products
        } else if name.starts_with("order_items") {
            Table::Items
        } else {
            assert!(name.starts_with("orders"));
            Table::Orders
        }
    }

    fn read_all(files: &[PathBuf]) -> Vec<(Table, Row)> {
        files
            .iter()
            .flat_map(|p| read_csv(p).into_iter().map(move |r| (table_of(p), r)))
            .collect()
    }

    #[test]
    fn same_spec_same_bytes_other_seed_other_data() {
        let spec = EcommerceSpec {
            dirty_ratio: 0.2,
            files_per_type: 2,
            ..EcommerceSpec::new(0.02, 7)
        };
        crate::generate::test_support::assert_deterministic(
            |dir, seed| {
                generate_ecommerce(
                    dir,
                    &EcommerceSpec {
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
    fn counts_names_and_layouts() {
        let dir = tempfile::tempdir().unwrap();
        let s = generate_ecommerce(dir.path(), &EcommerceSpec::new(0.01, 3)).unwrap();
        let names: Vec<String> = s
            .files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["order_items_000.csv", "orders_000.csv", "products_000.csv"]
        );
        let headers: Vec<String> = s
            .files
            .iter()
            .map(|p| {
                std::fs::read_to_string(p)
                    .unwrap()
                    .lines()
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            headers,
            [ORDER_ITEMS_HEADER, ORDERS_HEADER, PRODUCTS_HEADER]
        );
        let rows: Vec<usize> = s.files.iter().map(|p| read_csv(p).len()).collect();
        let (items, orders, products) = (rows[0], rows[1], rows[2]);
        assert_eq!((orders, products), (1000, 100));
        assert!((2350..=2650).contains(&items), "{items}");
        assert_eq!(s.rows as usize, items + orders + products);
        let bytes: u64 = s
            .files
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().len())
            .sum();
        assert_eq!(s.bytes, bytes);

        // Several files per type: the same rows, split, odd files in another layout.
        let dir2 = tempfile::tempdir().unwrap();
        let s2 = generate_ecommerce(
            dir2.path(),
            &EcommerceSpec {
                files_per_type: 3,
                ..EcommerceSpec::new(0.01, 3)
            },
        )
        .unwrap();
        assert_eq!((s2.files.len(), s2.rows), (9, s.rows));
        assert!(s2.files[1].ends_with("order_items_001.csv"));
        let alt = std::fs::read_to_string(&s2.files[1]).unwrap();
        assert!(alt.starts_with("id,order_id,user_id,product_id,inventory_item_id,"));
        let per_file: Vec<usize> = s2.files.iter().map(|p| read_csv(p).len()).collect();
        assert_eq!(&per_file[3..], [334, 333, 333, 34, 33, 33]);
        let one = read_all(&s.files);
        let three = read_all(&s2.files);
        let key = |(t, r): &(Table, Row)| {
            let r = r.as_ref().unwrap();
            let mut v: Vec<(String, Option<String>)> = r
                .iter()
                .filter(|(k, _)| {
                    !matches!(
                        k.as_str(),
                        "gender" | "inventory_item_id" | "distribution_center_id"
                    )
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            v.sort();
            (*t as u8, v)
        };
        let mut a: Vec<_> = one.iter().map(key).collect();
        let mut b: Vec<_> = three.iter().map(key).collect();
        a.sort();
        b.sort();
        assert!(a == b, "splitting changed the rows");
    }

    #[test]
    fn clean_batch_meets_every_documented_rule() {
        let dir = tempfile::tempdir().unwrap();
        let s = generate_ecommerce(dir.path(), &EcommerceSpec::new(0.05, 11)).unwrap();
        assert_eq!((s.dirty_rows, s.dirty_by_kind.len()), (0, 0));
        let rows = read_all(&s.files);
        for (t, r) in &rows {
            assert_eq!(reasons(*t, r), Vec::<String>::new(), "{r:?}");
        }
        let of = |table: Table| -> Vec<&HashMap<String, Option<String>>> {
            rows.iter()
                .filter(|(t, _)| *t == table)
                .map(|(_, r)| r.as_ref().unwrap())
                .collect()
        };
        let int = |r: &HashMap<String, Option<String>>, c: &str| -> i64 {
            parse_int_text(get(r, c).unwrap()).unwrap()
        };
        let float = |r: &HashMap<String, Option<String>>, c: &str| -> f64 {
            parse_float_text(get(r, c).unwrap()).unwrap()
        };

        // Products.
        let mut price = HashMap::new();
        let mut categories = HashSet::new();
        let mut empty_category = 0;
        for p in of(Table::Products) {
            let (cost, retail) = (float(p, "cost"), float(p, "retail_price"));
            assert!(cost > 0.0 && cost < retail, "{p:?}");
            assert!(
                price
                    .insert(int(p, "id"), get(p, "retail_price").unwrap().to_string())
                    .is_none()
            );
            assert!(matches!(get(p, "department"), Some("Men" | "Women")));
            assert_eq!(get(p, "sku").unwrap().len(), 32);
            match get(p, "category") {
                Some(c) => {
                    categories.insert(c.to_string());
                }
                None => empty_category += 1,
            }
        }
        assert_eq!(price.len(), 500);
        assert!(categories.len() > 20 && categories.contains("Tops & Tees"));
        assert!(empty_category > 0);

        // Orders.
        let from = CREATED_FROM * 1_000_000;
        let to = CREATED_TO * 1_000_000;
        let mut orders = HashMap::new();
        let mut formats = [0; 4];
        let mut statuses = HashSet::new();
        let mut no_user = 0;
        for o in of(Table::Orders) {
            let text = get(o, "created_at").unwrap();
            let t = parse_timestamp_micros(text).unwrap();
            assert!((from..to).contains(&t), "{text}");
            formats[if text.ends_with('Z') {
                2
            } else if text.ends_with("+00:00") {
                3
            } else if text.contains('.') {
                1
            } else {
                0
            }] += 1;
            let status = get(o, "status").unwrap();
            statuses.insert(status.to_string());
            let lower = status.to_lowercase();
            let has = |c: &str| get(o, c).is_some();
            assert_eq!(
                has("shipped_at"),
                ["complete", "shipped", "returned"].contains(&lower.as_str())
            );
            assert_eq!(
                has("delivered_at"),
                ["complete", "returned"].contains(&lower.as_str())
            );
            assert_eq!(has("returned_at"), lower == "returned");
            no_user += usize::from(get(o, "user_id").is_none());
            let n = int(o, "num_of_item");
            assert!((1..=4).contains(&n));
            let id = int(o, "order_id");
            assert!(
                orders
                    .insert(id, (n, get(o, "user_id"), text, lower))
                    .is_none()
            );
        }
        assert_eq!(orders.len(), 5000);
        assert!(formats.iter().all(|&n| n > 200), "{formats:?}");
        assert!(statuses.len() >= 12, "{statuses:?}");
        assert!(no_user > 20 && no_user < 200, "{no_user}");

        // Order items.
        let mut per_order: BTreeMap<i64, i64> = BTreeMap::new();
        let mut ids = HashSet::new();
        for i in of(Table::Items) {
            assert!(ids.insert(int(i, "id")));
            let order = int(i, "order_id");
            let (_, user, created, status) = &orders[&order];
            *per_order.entry(order).or_default() += 1;
            assert_eq!(get(i, "user_id"), *user);
            assert_eq!(get(i, "created_at"), Some(*created));
            assert_eq!(&get(i, "status").unwrap().to_lowercase(), status);
            let product = int(i, "product_id");
            assert_eq!(get(i, "sale_price"), Some(price[&product].as_str()));
        }
        assert_eq!(per_order.len(), orders.len());
        for (id, (n, ..)) in &orders {
            assert_eq!(per_order[id], *n, "num_of_item of order {id}");
        }
        let mean = ids.len() as f64 / orders.len() as f64;
        assert!((2.4..2.6).contains(&mean), "{mean}");
    }

    #[test]
    fn dirty_rows_carry_exactly_their_one_defect() {
        let dir = tempfile::tempdir().unwrap();
        let spec = EcommerceSpec {
            dirty_ratio: 0.3,
            files_per_type: 2,
            ..EcommerceSpec::new(0.02, 5)
        };
        let s = generate_ecommerce(dir.path(), &spec).unwrap();
        for kind in EcommerceDefect::ALL {
            assert!(
                s.dirty_by_kind.get(kind.code()).copied().unwrap_or(0) > 10,
                "{kind:?}: {:?}",
                s.dirty_by_kind
            );
        }
        assert_eq!(s.dirty_rows, s.dirty_by_kind.values().sum::<u64>());
        let share = s.dirty_rows as f64 / s.rows as f64;
        assert!((0.27..0.33).contains(&share), "{share}");
        let mut found = BTreeMap::new();
        for (t, r) in read_all(&s.files) {
            match reasons(t, &r).as_slice() {
                [] => {}
                [one] => *found.entry(one.clone()).or_insert(0u64) += 1,
                more => panic!("{r:?}: {more:?}"),
            }
        }
        assert_eq!(found, s.dirty_by_kind);
    }

    #[test]
    fn bad_specs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = EcommerceSpec::default;
        for spec in [
            EcommerceSpec {
                files_per_type: 0,
                ..d()
            },
            EcommerceSpec {
                dirty_ratio: 2.0,
                ..d()
            },
            EcommerceSpec { scale: 0.0, ..d() },
            EcommerceSpec {
                scale: f64::NAN,
                ..d()
            },
            EcommerceSpec {
                scale: MAX_SCALE * 2.0,
                ..d()
            },
        ] {
            assert!(
                matches!(generate_ecommerce(dir.path(), &spec), Err(Error::Spec(_))),
                "{spec:?}"
            );
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
