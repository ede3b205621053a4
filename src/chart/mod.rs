//! Charts of query results: one small model ([`Chart`]: categories along x, one or more
//! numeric series), drawn as inline SVG for the report page ([`svg`]) and as Unicode text
//! for the terminal ([`text`]). Drawn by hand rather than with a charting crate: the charts
//! are few and simple, and this keeps the build free of another dependency tree.

pub mod command;
pub mod error;
pub mod svg;
pub mod text;

use datafusion::arrow::array::{Array, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use serde::Serialize;

use crate::error::Result;
pub use error::ChartError;

/// Rows a chart takes from a result at most (the rest would not be readable anyway).
pub const MAX_POINTS: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Line,
    Bar,
}

/// One named series of values, one per x category (`None` where the row had NULL).
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
}

/// A chart: x categories in order (dates, run labels, names) and the series over them.
#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    /// Used for element ids in the page (`data-<id>`); letters, digits and '-'.
    pub id: String,
    pub title: String,
    pub kind: Kind,
    pub x_label: String,
    /// The y axis' name with its unit, e.g. "revenue (currency units)".
    pub y_label: String,
    pub x: Vec<String>,
    pub series: Vec<Series>,
    /// x positions drawn highlighted (failed runs); empty for none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub highlight: Vec<usize>,
}

impl Chart {
    pub fn new(id: &str, title: &str, kind: Kind, x_label: &str, y_label: &str) -> Self {
        Self {
            id: id.to_string(),
            title: title.to_string(),
            kind,
            x_label: x_label.to_string(),
            y_label: y_label.to_string(),
            x: Vec::new(),
            series: Vec::new(),
            highlight: Vec::new(),
        }
    }

    /// True when there is no value to draw.
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
            || self
                .series
                .iter()
                .all(|s| s.values.iter().all(Option::is_none))
    }

    /// Smallest and largest value over every series (0 is always included, so bars and
    /// lines start from a true baseline).
    pub fn value_range(&self) -> (f64, f64) {
        let vals = self
            .series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied())
            .filter(|v| v.is_finite());
        let (lo, hi) = vals.fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
        if lo == hi { (lo, lo + 1.0) } else { (lo, hi) }
    }
}

/// Builds a chart from a result set: `x` names the category column (default: the first),
/// `ys` the value columns (default: every numeric column other than x). Rows stay in the
/// result's order; at most [`MAX_POINTS`].
pub fn from_batches(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    kind: Option<Kind>,
    x: Option<&str>,
    ys: &[&str],
) -> Result<Chart> {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let index = |n: &str| -> Result<usize> {
        names
            .iter()
            .position(|c| c.eq_ignore_ascii_case(n))
            .ok_or_else(|| {
                ChartError::NoColumn {
                    name: n.to_string(),
                    columns: names.join(", "),
                }
                .into()
            })
    };
    if names.is_empty() {
        return Err(ChartError::NoColumns.into());
    }
    let xi = match x {
        Some(n) => index(n)?,
        None => 0,
    };
    let yi: Vec<usize> = if ys.is_empty() {
        (0..names.len())
            .filter(|&i| i != xi && schema.field(i).data_type().is_numeric())
            .collect()
    } else {
        ys.iter().map(|n| index(n)).collect::<Result<_>>()?
    };
    if yi.is_empty() {
        return Err(ChartError::NothingNumeric(names[xi].to_string()).into());
    }
    let x_type = schema.field(xi).data_type();
    let kind = kind.unwrap_or(if is_temporal(x_type) || x_type.is_numeric() {
        Kind::Line
    } else {
        Kind::Bar
    });
    let mut chart = Chart::new(
        "result",
        &yi.iter().map(|&i| names[i]).collect::<Vec<_>>().join(", "),
        kind,
        names[xi],
        if yi.len() == 1 { names[yi[0]] } else { "value" },
    );
    chart.series = yi
        .iter()
        .map(|&i| Series {
            name: names[i].to_string(),
            values: Vec::new(),
        })
        .collect();
    let opts = FormatOptions::default().with_null("NULL");
    'rows: for b in batches {
        let xf = ArrayFormatter::try_new(b.column(xi).as_ref(), &opts)?;
        let cols: Vec<Float64Array> = yi
            .iter()
            .map(|&i| numbers(b.column(i).as_ref(), names[i]))
            .collect::<Result<_>>()?;
        for r in 0..b.num_rows() {
            if chart.x.len() >= MAX_POINTS {
                break 'rows;
            }
            chart.x.push(xf.value(r).to_string());
            for (s, c) in chart.series.iter_mut().zip(&cols) {
                s.values.push(
                    (!c.is_null(r))
                        .then(|| c.value(r))
                        .filter(|v| v.is_finite()),
                );
            }
        }
    }
    Ok(chart)
}

fn is_temporal(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
    )
}

/// A column as f64 values (decimals, integers and numeric text all convert).
pub fn numbers(col: &dyn Array, name: &str) -> Result<Float64Array> {
    let c = cast(col, &DataType::Float64).map_err(|error| ChartError::NotNumeric {
        name: name.to_string(),
        data_type: col.data_type().clone(),
        error,
    })?;
    Ok(c.as_any()
        .downcast_ref::<Float64Array>()
        .cloned()
        .ok_or_else(|| ChartError::NotFloat(name.to_string()))?)
}

/// "Nice" axis ticks (1, 2 or 5 × 10^k apart) covering `lo..=hi`, about `n` of them.
pub fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let span = (hi - lo).abs().max(f64::EPSILON);
    let raw = span / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= n as f64)
        .unwrap_or(10.0 * mag);
    let start = (lo / step).floor() * step;
    let mut out = Vec::new();
    let mut v = start;
    while out.last().is_none_or(|l: &f64| *l < hi - step * 1e-9) && out.len() < 50 {
        out.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
        v += step;
    }
    out
}

/// A number for an axis or a label: thousands as k/M, at most 2 decimals.
pub fn short_number(v: f64) -> String {
    let a = v.abs();
    let (x, suffix) = if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let s = if x.fract() == 0.0 || x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 1.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    };
    format!("{s}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(0.0, 10.0, 5), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let t = ticks(0.0, 1234.0, 5);
        assert_eq!(t.first(), Some(&0.0));
        assert!(*t.last().expect("ticks") >= 1234.0);
    }

    #[test]
    fn short_numbers() {
        assert_eq!(short_number(12.0), "12");
        assert_eq!(short_number(12_500.0), "12.5k");
        assert_eq!(short_number(0.125), "0.12");
        assert_eq!(short_number(2_000_000.0), "2M");
    }
}
