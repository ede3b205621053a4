//! The report as a terminal summary (cron mail): per pipeline one line per chart (a
//! sparkline with the latest, lowest and highest value, or the top entries of a ranking),
//! the last run, rejects by reason, the `dq report` text; then the maintenance hints.

use super::{Block, Figure, Report};
use crate::chart::text::sparkline;
use crate::chart::{Kind, short_number};
use crate::pipeline::dq_report;

fn figure_line(f: &Figure) -> Vec<String> {
    let c = &f.chart;
    let title = c.title.split_once(": ").map(|(_, t)| t).unwrap_or(&c.title);
    let ranking = c.kind == Kind::Bar && c.series.len() == 1;
    if ranking {
        let top: Vec<String> =
            c.x.iter()
                .zip(&c.series[0].values)
                .take(5)
                .map(|(x, v)| format!("{x} {}", v.map(short_number).unwrap_or_default()))
                .collect();
        return vec![format!("  {title}: {}", top.join(", "))];
    }
    let mut out = Vec::new();
    for s in &c.series {
        let vals: Vec<f64> = s.values.iter().map(|v| v.unwrap_or(0.0)).collect();
        let Some((i, last)) = s
            .values
            .iter()
            .enumerate()
            .rev()
            .find_map(|(i, v)| v.map(|v| (i, v)))
        else {
            continue;
        };
        let (lo, hi) = vals
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
        let name = if c.series.len() > 1 {
            format!("{title} [{}]", s.name)
        } else {
            title.to_string()
        };
        out.push(format!(
            "  {name:<48} {:<12} latest {} ({}), min {}, max {}",
            sparkline(
                &vals
                    .iter()
                    .rev()
                    .take(12)
                    .rev()
                    .copied()
                    .collect::<Vec<_>>()
            ),
            short_number(last),
            c.x.get(i).map(String::as_str).unwrap_or(""),
            short_number(lo),
            short_number(hi)
        ));
    }
    out
}

pub fn render(r: &Report) -> String {
    let mut out = format!(
        "stockroom report — warehouse {}, {} (last {} days of each table, last {} runs)\n",
        r.warehouse, r.generated_at, r.options.days, r.options.runs
    );
    if r.sections.is_empty() {
        out.push_str("\nNothing to report yet: no pipeline has run here (try `stockroom demo`, or `stockroom pipeline run NAME`).\n");
    }
    for s in &r.sections {
        out.push_str(&format!("\n== {}\n", s.title));
        for b in &s.blocks {
            match b {
                Block::Figure(f)
                    if ["-runs-rows", "-runs-duration", "-dq"]
                        .iter()
                        .any(|end| f.chart.id.ends_with(end)) =>
                {
                    // The last-run line and the dq text below say these better.
                }
                Block::Figure(f) if f.chart.id.ends_with("-rejects") => {
                    let mut by_reason: Vec<(String, f64)> = f
                        .chart
                        .series
                        .iter()
                        .map(|s| (s.name.clone(), s.values.iter().flatten().sum()))
                        .collect();
                    by_reason.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                    let total: f64 = by_reason.iter().map(|r| r.1).sum();
                    out.push_str(&format!(
                        "  reject reasons: {} (a record may have several) — {}\n",
                        short_number(total),
                        by_reason
                            .iter()
                            .map(|(n, v)| format!("{n} {}", short_number(*v)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                Block::Figure(f) => {
                    for l in figure_line(f) {
                        out.push_str(&l);
                        out.push('\n');
                    }
                }
                Block::Table(t) if t.header.first().is_some_and(|h| h == "run") => {
                    let failed = t.marks.iter().filter(|m| *m == "fail").count();
                    if let Some(last) = t.rows.last() {
                        out.push_str(&format!(
                            "  last run {} at {}: {}, {} read, {} valid, {} rejected, {} s{}\n  runs shown: {}, failed: {failed}\n",
                            last[0],
                            last[1],
                            last[2],
                            last[4],
                            last[5],
                            last[6],
                            last[7],
                            if last[8].is_empty() {
                                String::new()
                            } else {
                                format!(" — {}", last[8])
                            },
                            t.rows.len()
                        ));
                    }
                }
                Block::Table(_) => {}
                Block::Dq(d) => {
                    for l in dq_report::render_text(d).lines() {
                        out.push_str(&format!("  {l}\n"));
                    }
                }
                Block::Note(n) => out.push_str(&format!("  {n}\n")),
            }
        }
    }
    let hints: Vec<&String> = r.tables.iter().flat_map(|t| &t.hints).collect();
    out.push_str(&format!(
        "\n== tables: {} in the warehouse, {} maintenance hint(s)\n",
        r.tables.len(),
        hints.len()
    ));
    for h in hints {
        out.push_str(&format!("  {h}\n"));
    }
    out
}
