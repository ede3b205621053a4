//! A [`Chart`] as plain Unicode text for a terminal: bar charts as rows of block characters
//! (eighths for the last cell), line charts on a braille canvas (2×4 dots per character),
//! one panel per series so lines never blur into each other.

use super::{Chart, Kind, short_number};

/// Columns the longest bar takes.
pub const BAR_WIDTH: usize = 40;
/// Characters across and down a line chart's canvas.
pub const LINE_WIDTH: usize = 60;
pub const LINE_HEIGHT: usize = 12;
/// Rows a bar chart shows at most.
const MAX_BARS: usize = 60;

pub fn render(c: &Chart) -> String {
    if c.is_empty() {
        return format!("{}: no data\n", c.title);
    }
    match c.kind {
        Kind::Bar => bars(c),
        Kind::Line => lines(c),
    }
}

/// `len` eighths of a cell as block characters.
fn block_bar(eighths: usize) -> String {
    const PART: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let mut s = "█".repeat(eighths / 8);
    if !eighths.is_multiple_of(8) {
        s.push(PART[eighths % 8]);
    }
    s
}

fn bars(c: &Chart) -> String {
    let max = c
        .series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .fold(0.0f64, |m, v| m.max(v.abs()));
    let max = if max == 0.0 { 1.0 } else { max };
    let label_w =
        c.x.iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0)
            .min(24);
    let series_w = if c.series.len() > 1 {
        c.series
            .iter()
            .map(|s| s.name.chars().count())
            .max()
            .unwrap_or(0)
            .min(20)
    } else {
        0
    };
    let mut out = format!("{} (by {})\n", c.title, c.x_label);
    for (i, label) in c.x.iter().enumerate().take(MAX_BARS) {
        let label: String = label.chars().take(label_w).collect();
        for (si, s) in c.series.iter().enumerate() {
            let shown = if si == 0 { label.as_str() } else { "" };
            let name = if series_w > 0 {
                format!(
                    " {:<series_w$}",
                    s.name.chars().take(series_w).collect::<String>()
                )
            } else {
                String::new()
            };
            let (bar, value) = match s.values.get(i).copied().flatten() {
                Some(v) => (
                    block_bar((v.abs() / max * (BAR_WIDTH * 8) as f64).round() as usize),
                    format!("{}{}", if v < 0.0 { "-" } else { "" }, plain(v.abs())),
                ),
                None => (String::new(), "NULL".to_string()),
            };
            out.push_str(&format!("{shown:<label_w$}{name} │{bar} {value}\n"));
        }
    }
    if c.x.len() > MAX_BARS {
        out.push_str(&format!("… {} more row(s)\n", c.x.len() - MAX_BARS));
    }
    out
}

/// A value as written in a label: integers without decimals, others with up to 2.
fn plain(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn lines(c: &Chart) -> String {
    let (dw, dh) = (LINE_WIDTH * 2, LINE_HEIGHT * 4);
    let n = c.x.len();
    let x_dot = |i: usize| {
        if n <= 1 {
            dw / 2
        } else {
            i * (dw - 1) / (n - 1)
        }
    };
    // Each panel spans its own series' range, so a small change is still visible.
    let ranges: Vec<(f64, f64)> = c
        .series
        .iter()
        .map(|s| {
            let (lo, hi) = s
                .values
                .iter()
                .flatten()
                .fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
            if lo > hi {
                (0.0, 1.0)
            } else if lo == hi {
                (lo - 1.0, hi + 1.0)
            } else {
                (lo, hi)
            }
        })
        .collect();
    let axis_w = ranges
        .iter()
        .flat_map(|(lo, hi)| [short_number(*hi).len(), short_number(*lo).len()])
        .max()
        .unwrap_or(1);
    let mut out = String::new();
    for (s, &(lo, hi)) in c.series.iter().zip(&ranges) {
        let y_dot = |v: f64| {
            let f = ((v - lo) / (hi - lo)).clamp(0.0, 1.0);
            dh - 1 - (f * (dh - 1) as f64).round() as usize
        };
        let mut cells = vec![vec![0u8; LINE_WIDTH]; LINE_HEIGHT];
        let mut set = |x: usize, y: usize| {
            const BITS: [[u8; 4]; 2] = [[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]];
            if x < dw && y < dh {
                cells[y / 4][x / 2] |= BITS[x % 2][y % 4];
            }
        };
        let mut prev: Option<(usize, usize)> = None;
        for (i, v) in s.values.iter().enumerate() {
            let Some(v) = v else {
                prev = None;
                continue;
            };
            let p = (x_dot(i), y_dot(*v));
            match prev {
                // Every dot between the two points, stepping along the longer side.
                Some((x0, y0)) => {
                    let steps = p.0.abs_diff(x0).max(p.1.abs_diff(y0)).max(1);
                    for k in 0..=steps {
                        let t = k as f64 / steps as f64;
                        set(
                            (x0 as f64 + (p.0 as f64 - x0 as f64) * t).round() as usize,
                            (y0 as f64 + (p.1 as f64 - y0 as f64) * t).round() as usize,
                        );
                    }
                }
                None => set(p.0, p.1),
            }
            prev = Some(p);
        }
        out.push_str(&format!("{} (by {})\n", s.name, c.x_label));
        for (r, row) in cells.iter().enumerate() {
            let label = if r == 0 {
                short_number(hi)
            } else if r == LINE_HEIGHT - 1 {
                short_number(lo)
            } else {
                String::new()
            };
            let line: String = row
                .iter()
                .map(|b| char::from_u32(0x2800 + u32::from(*b)).unwrap_or(' '))
                .collect();
            out.push_str(&format!("{label:>axis_w$} ┤{line}\n"));
        }
        let first = c.x.first().map(String::as_str).unwrap_or("");
        let last = c.x.last().map(String::as_str).unwrap_or("");
        let gap = (LINE_WIDTH + 1).saturating_sub(first.chars().count() + last.chars().count());
        out.push_str(&format!(
            "{:>axis_w$} └{}\n{:>axis_w$}  {first}{}{last}\n",
            "",
            "─".repeat(LINE_WIDTH),
            "",
            " ".repeat(gap.max(1))
        ));
    }
    out
}

/// A one-line trend of values (▁▂▃▄▅▆▇█), for text summaries.
pub fn sparkline(values: &[f64]) -> String {
    const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let (lo, hi) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
    values
        .iter()
        .map(|v| {
            if hi <= lo {
                LEVELS[3]
            } else {
                LEVELS[(((v - lo) / (hi - lo)) * 7.0).round() as usize]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::Series;

    #[test]
    fn bars_scale_to_the_largest_value() {
        let mut c = Chart::new("t", "units", Kind::Bar, "shop", "units");
        c.x = vec!["a".into(), "b".into()];
        c.series = vec![Series {
            name: "units".into(),
            values: vec![Some(10.0), Some(20.0)],
        }];
        let t = render(&c);
        let rows: Vec<&str> = t.lines().skip(1).collect();
        assert_eq!(rows[0].matches('█').count(), BAR_WIDTH / 2);
        assert_eq!(rows[1].matches('█').count(), BAR_WIDTH);
    }

    #[test]
    fn a_rising_line_goes_from_bottom_left_to_top_right() {
        let mut c = Chart::new("t", "n", Kind::Line, "day", "n");
        c.x = (1..=5).map(|i| i.to_string()).collect();
        c.series = vec![Series {
            name: "n".into(),
            values: (0..5).map(|i| Some(f64::from(i))).collect(),
        }];
        let t = render(&c);
        let rows: Vec<&str> = t.lines().collect();
        let canvas = |r: usize| rows[1 + r].split('┤').nth(1).unwrap_or("").to_string();
        assert_ne!(canvas(0).chars().last(), Some('\u{2800}'));
        assert_ne!(canvas(LINE_HEIGHT - 1).chars().next(), Some('\u{2800}'));
        assert_eq!(sparkline(&[1.0, 8.0]), "▁█");
    }
}
