//! A [`Chart`] as a self-contained SVG element: axes with round ticks and units, x labels
//! thinned to stay readable, a legend, and for every series a colour, a dash pattern and a
//! marker shape — so the series stay apart when printed in grey-scale. No fonts, scripts or
//! external references: text is plain `<text>` in the page's sans-serif.

use super::{Chart, Kind, short_number, ticks};

/// Drawing size in SVG units; the element scales to its container (`width:100%`), and a
/// 1280 px window shows it at about this size.
const W: f64 = 1100.0;
const H: f64 = 340.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 42.0;
const BOTTOM: f64 = 92.0;

/// Colours ordered so that neighbours differ in lightness (dark navy, light orange, mid
/// blue, pale green, purple, yellow), not only in hue.
pub const COLOURS: &[&str] = &[
    "#1b2a49", "#e69f00", "#2b83ba", "#a6d96a", "#7b3294", "#f4e04d", "#b2182b", "#9e9e9e",
];
/// Dash patterns of the lines, one per series.
const DASHES: &[&str] = &[
    "", "8 4", "2 3", "12 4 2 4", "4 4", "1 2", "16 4", "6 2 2 2",
];
/// Height of one legend row.
const LEGEND_ROW: f64 = 18.0;

/// Where each legend entry goes: (row, x).
fn legend_layout(c: &Chart) -> Vec<(usize, f64)> {
    let (mut row, mut x) = (0, LEFT);
    c.series
        .iter()
        .map(|s| {
            let w = 44.0 + s.name.chars().count() as f64 * 7.5;
            if x + w > W - RIGHT && x > LEFT {
                row += 1;
                x = LEFT;
            }
            let at = (row, x);
            x += w;
            at
        })
        .collect()
}

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn marker(shape: usize, x: f64, y: f64, colour: &str) -> String {
    match shape % 4 {
        0 => format!("<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3.5\" fill=\"{colour}\"/>"),
        1 => format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"7\" height=\"7\" fill=\"{colour}\" stroke=\"#000\" stroke-width=\"0.6\"/>",
            x - 3.5,
            y - 3.5
        ),
        2 => format!(
            "<path d=\"M{x:.1} {:.1}L{:.1} {:.1}L{:.1} {:.1}Z\" fill=\"{colour}\" stroke=\"#000\" stroke-width=\"0.6\"/>",
            y - 4.5,
            x + 4.5,
            y + 3.5,
            x - 4.5,
            y + 3.5
        ),
        _ => format!(
            "<path d=\"M{x:.1} {:.1}L{:.1} {y:.1}L{x:.1} {:.1}L{:.1} {y:.1}Z\" fill=\"#fff\" stroke=\"{colour}\" stroke-width=\"1.6\"/>",
            y - 4.5,
            x + 4.5,
            y + 4.5,
            x - 4.5
        ),
    }
}

/// The chart as an `<svg>` element (no XML prologue, for inlining into HTML, or with one
/// from [`document`] for a file).
pub fn render(c: &Chart) -> String {
    let legend = legend_layout(c);
    let rows = legend.iter().map(|l| l.0).max().unwrap_or(0);
    let h = H + rows as f64 * LEGEND_ROW;
    let mut s = String::new();
    s.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {h}\" width=\"100%\" style=\"max-width:{W}px\" role=\"img\" font-family=\"sans-serif\" font-size=\"12\" id=\"chart-{}\">\n<title>{}</title>\n<rect width=\"{W}\" height=\"{h}\" fill=\"#fff\"/>\n",
        escape(&c.id),
        escape(&c.title)
    ));
    s.push_str(&format!(
        "<text x=\"{LEFT}\" y=\"22\" font-size=\"15\" font-weight=\"bold\">{}</text>\n",
        escape(&c.title)
    ));
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let bottom = TOP + ph;
    if c.is_empty() {
        s.push_str(&format!(
            "<text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"middle\" fill=\"#555\">no data</text>\n</svg>\n",
            LEFT + pw / 2.0,
            TOP + ph / 2.0
        ));
        return s;
    }
    let (lo, hi) = c.value_range();
    let t = ticks(lo, hi, 5);
    let (lo, hi) = (
        t.first().copied().unwrap_or(lo).min(lo),
        t.last().copied().unwrap_or(hi).max(hi),
    );
    let y_of = |v: f64| bottom - (v - lo) / (hi - lo) * ph;
    let n = c.x.len();
    let slot = pw / n as f64;
    let x_of = |i: usize| LEFT + (i as f64 + 0.5) * slot;

    // Highlighted positions (failed runs) as a pale band behind everything.
    for &i in &c.highlight {
        if i < n {
            s.push_str(&format!(
                "<rect x=\"{:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{ph:.1}\" fill=\"#f4cccc\" stroke=\"#c00\" stroke-dasharray=\"3 2\"><title>failed: {}</title></rect>\n",
                x_of(i) - slot / 2.0,
                slot,
                escape(&c.x[i])
            ));
        }
    }
    // Y grid, ticks and label.
    for v in &t {
        let y = y_of(*v);
        s.push_str(&format!(
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
            LEFT + pw,
            LEFT - 6.0,
            y + 4.0,
            short_number(*v)
        ));
    }
    s.push_str(&format!(
        "<text transform=\"translate(16 {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
        TOP + ph / 2.0,
        escape(&c.y_label)
    ));
    s.push_str(&format!(
        "<line x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"{TOP}\" y2=\"{bottom:.1}\" stroke=\"#333\"/><line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#333\"/>\n",
        LEFT + pw,
        y_of(0.0f64.clamp(lo, hi)),
        y_of(0.0f64.clamp(lo, hi))
    ));
    // X labels: at most one per 70 units, slanted when long.
    let longest = c.x.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let every = ((70.0 / slot).ceil() as usize).max(1);
    let slant = longest * 7 > (slot * every as f64) as usize;
    for (i, label) in c.x.iter().enumerate() {
        if i % every != 0 && i != n - 1 {
            continue;
        }
        let label: String = label.chars().take(24).collect();
        let (x, y) = (x_of(i), bottom + 16.0);
        if slant {
            s.push_str(&format!(
                "<text transform=\"translate({x:.1} {y:.1}) rotate(-30)\" text-anchor=\"end\">{}</text>\n",
                escape(&label)
            ));
        } else {
            s.push_str(&format!(
                "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"middle\">{}</text>\n",
                escape(&label)
            ));
        }
    }
    s.push_str(&format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#333\">{}</text>\n",
        LEFT + pw,
        H - 30.0,
        escape(&c.x_label)
    ));
    // The series.
    let k = c.series.len().max(1);
    for (si, ser) in c.series.iter().enumerate() {
        let colour = COLOURS[si % COLOURS.len()];
        match c.kind {
            Kind::Bar => {
                // Bars no wider than 60 units each, however few the categories.
                let bw = (slot * 0.8 / k as f64).min(60.0);
                let group = bw * k as f64;
                for (i, v) in ser.values.iter().enumerate() {
                    let Some(v) = v else { continue };
                    let (y0, y1) = (y_of(0.0f64.clamp(lo, hi)), y_of(*v));
                    s.push_str(&format!(
                        "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\" stroke=\"#000\" stroke-width=\"0.5\"><title>{}: {} = {}</title></rect>\n",
                        x_of(i) - group / 2.0 + si as f64 * bw,
                        y0.min(y1),
                        bw.max(1.0),
                        (y0 - y1).abs(),
                        escape(&c.x[i]),
                        escape(&ser.name),
                        v
                    ));
                }
            }
            Kind::Line => {
                let mut d = String::new();
                let mut pen_up = true;
                for (i, v) in ser.values.iter().enumerate() {
                    match v {
                        Some(v) => {
                            d.push_str(&format!(
                                "{}{:.1} {:.1}",
                                if pen_up { "M" } else { "L" },
                                x_of(i),
                                y_of(*v)
                            ));
                            pen_up = false;
                        }
                        None => pen_up = true,
                    }
                }
                s.push_str(&format!(
                    "<path d=\"{d}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" stroke-dasharray=\"{}\"/>\n",
                    DASHES[si % DASHES.len()]
                ));
                if n <= 120 {
                    for (i, v) in ser.values.iter().enumerate() {
                        if let Some(v) = v {
                            s.push_str(&format!(
                                "<g><title>{}: {} = {v}</title>{}</g>\n",
                                escape(&c.x[i]),
                                escape(&ser.name),
                                marker(si, x_of(i), y_of(*v), colour)
                            ));
                        }
                    }
                }
            }
        }
    }
    // Legend along the bottom.
    for (si, (ser, (row, lx))) in c.series.iter().zip(legend).enumerate() {
        let ly = H - 10.0 + row as f64 * LEGEND_ROW;
        let colour = COLOURS[si % COLOURS.len()];
        let swatch = match c.kind {
            Kind::Bar => format!(
                "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"14\" height=\"10\" fill=\"{colour}\" stroke=\"#000\" stroke-width=\"0.5\"/>",
                ly - 9.0
            ),
            Kind::Line => format!(
                "<line x1=\"{lx:.1}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{colour}\" stroke-width=\"2\" stroke-dasharray=\"{}\"/>{}",
                lx + 22.0,
                ly - 4.0,
                ly - 4.0,
                DASHES[si % DASHES.len()],
                marker(si, lx + 11.0, ly - 4.0, colour)
            ),
        };
        s.push_str(&format!(
            "{swatch}<text x=\"{:.1}\" y=\"{ly:.1}\">{}</text>\n",
            lx + 28.0,
            escape(&ser.name)
        ));
    }
    s.push_str("</svg>\n");
    s
}

/// A standalone SVG file.
pub fn document(c: &Chart) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}", render(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::Series;

    #[test]
    fn draws_one_mark_per_value_and_escapes_labels() {
        let mut c = Chart::new("t", "a <b>", Kind::Bar, "day", "units");
        c.x = vec!["x&1".into(), "x2".into()];
        c.series = vec![Series {
            name: "n".into(),
            values: vec![Some(1.0), Some(3.0)],
        }];
        let s = render(&c);
        assert_eq!(s.matches("</title></rect>").count(), 2);
        assert!(s.contains("a &lt;b&gt;") && s.contains("x&amp;1"));
    }
}
