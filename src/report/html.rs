//! The report as one self-contained HTML page: inline CSS, inline SVG charts, and beside
//! each chart its series as JSON data (`<script type="application/json" id="data-…">`, not
//! executable) and the SQL it came from. Nothing is loaded from anywhere: the page opens
//! from a file on an offline laptop.

use super::tables::human_bytes;
use super::{Block, Figure, Report, TableBlock};
use crate::chart::svg::{self, escape};
use crate::chart::text::sparkline;
use crate::pipeline::dq_report;

const STYLE: &str = "\
body{font-family:sans-serif;margin:1.5em auto;max-width:1180px;padding:0 1em;color:#111}\
h1{margin-bottom:.2em}h2{border-bottom:2px solid #333;margin-top:2em}\
nav a{margin-right:1em}figure{margin:1.2em 0}figcaption{font-size:85%;color:#333}\
table{border-collapse:collapse;margin:.8em 0;font-size:90%}td,th{border:1px solid #bbb;padding:3px 7px;vertical-align:top;text-align:left}\
th{background:#eee}td.n{text-align:right}tr.fail td{background:#f8d7da;font-weight:bold}tr.warn td{background:#fff3cd}\
tr.fail td:first-child::before{content:'\\2717  '}tr.warn td:first-child::before{content:'!  '}\
code,pre{font-size:85%;white-space:pre-wrap;word-break:break-all}.hint{color:#7a4b00}\
@media print{h2{break-before:auto}figure{break-inside:avoid}}";

/// Keeps embedded JSON from closing its `<script>` element early.
fn json_in_html(json: &str) -> String {
    json.replace("</", "<\\/").replace("<!--", "<\\!--")
}

fn figure(f: &Figure) -> String {
    let json = serde_json::to_string(f).unwrap_or_else(|_| "null".into());
    format!(
        "<figure>\n{}<figcaption><details><summary>SQL behind this chart</summary><pre>{}</pre></details></figcaption>\n\
         <script type=\"application/json\" id=\"data-{}\">{}</script>\n</figure>\n",
        svg::render(&f.chart),
        escape(&f.sql),
        escape(&f.chart.id),
        json_in_html(&json)
    )
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.parse::<f64>().is_ok()
}

fn table(t: &TableBlock) -> String {
    let mut s = format!("<h3>{}</h3>\n<table><tr>", escape(&t.title));
    for h in &t.header {
        s.push_str(&format!("<th>{}</th>", escape(h)));
    }
    s.push_str("</tr>\n");
    for (i, row) in t.rows.iter().enumerate() {
        let mark = t.marks.get(i).map(String::as_str).unwrap_or("");
        s.push_str(&format!("<tr class=\"{mark}\">"));
        for c in row {
            let class = if is_number(c) { " class=\"n\"" } else { "" };
            s.push_str(&format!("<td{class}>{}</td>", escape(c)));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>\n");
    s
}

fn dq(r: &dq_report::Report) -> String {
    let (fail, warn, pass) = dq_report::counts(r);
    let mut s = format!(
        "<h3>Data quality</h3>\n<p>Run <code>{}</code>, checked {}: <b>{}</b> fail, <b>{}</b> warn, <b>{}</b> pass; trend over the last {} run(s), oldest first.</p>\n\
         <table><tr><th>status</th><th>check</th><th>table</th><th>failing rows</th><th>trend</th><th>sample failing rows</th></tr>\n",
        escape(&r.latest_run),
        escape(&r.checked_at),
        fail,
        warn,
        pass,
        r.runs
    );
    for c in &r.checks {
        let hist: Vec<f64> = c.history.iter().map(|v| *v as f64).collect();
        let sample: String = c
            .sample
            .iter()
            .map(|x| format!("<code>{}</code><br>", escape(x)))
            .collect();
        s.push_str(&format!(
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{} <small>{}</small></td><td>{sample}</td></tr>\n",
            escape(&c.status),
            escape(&c.status.to_uppercase()),
            escape(&c.check),
            escape(&c.table),
            c.failed_rows,
            sparkline(&hist),
            dq_report::trend(&c.history)
        ));
    }
    s.push_str(&format!(
        "</table>\n<p>All failing rows (up to 1000 per check): <code>SELECT * FROM dq_failures WHERE run_id = '{}'</code></p>\n",
        escape(&r.latest_run)
    ));
    s
}

pub fn render(r: &Report) -> String {
    let mut body = String::new();
    body.push_str(&format!(
        "<h1>stockroom report</h1>\n<p>Warehouse <code>{}</code>, generated {}. Charts cover the last {} days of each table's own dates \
         (ending at its latest date) and the last {} runs. Each chart's SQL and values are beside it.</p>\n<nav>",
        escape(&r.warehouse),
        escape(&r.generated_at),
        r.options.days,
        r.options.runs
    ));
    for s in &r.sections {
        body.push_str(&format!(
            "<a href=\"#sec-{}\">{}</a>",
            escape(&s.id),
            escape(&s.title)
        ));
    }
    body.push_str("<a href=\"#tables\">tables</a></nav>\n");
    if r.sections.is_empty() {
        body.push_str("<p>Nothing to report yet: no pipeline has run in this warehouse (try <code>stockroom demo</code>).</p>\n");
    }
    for s in &r.sections {
        body.push_str(&format!(
            "<section id=\"sec-{}\">\n<h2>{}</h2>\n",
            escape(&s.id),
            escape(&s.title)
        ));
        for b in &s.blocks {
            body.push_str(&match b {
                Block::Figure(f) => figure(f),
                Block::Table(t) => table(t),
                Block::Dq(d) => dq(d),
                Block::Note(n) => format!("<p>{}</p>\n", escape(n)),
            });
        }
        body.push_str("</section>\n");
    }
    body.push_str(
        "<section id=\"tables\">\n<h2>Tables</h2>\n<table><tr><th>table</th><th>version</th><th>files</th><th>size</th>\
         <th>partitioned by</th><th>last commit</th><th>maintenance</th></tr>\n",
    );
    for t in &r.tables {
        let mark = if t.hints.is_empty() { "" } else { "warn" };
        body.push_str(&format!(
            "<tr class=\"{mark}\"><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td class=\"hint\">{}</td></tr>\n",
            escape(&t.name),
            escape(&t.version),
            t.files,
            human_bytes(t.bytes),
            escape(&t.partitioned_by),
            escape(&t.last_commit),
            t.hints.iter().map(|h| escape(h)).collect::<Vec<_>>().join("<br>")
        ));
    }
    body.push_str("</table>\n</section>\n");
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\n\
         <title>stockroom report — {}</title>\n<style>{STYLE}</style></head><body>\n{body}</body></html>\n",
        escape(&r.warehouse)
    )
}
