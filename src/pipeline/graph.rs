//! `pipeline graph NAME`: the lifecycle and the pipeline's SQL steps as a Mermaid flowchart,
//! like the AWS originals' Step Functions graphs.

use crate::pipeline::manifest::{EXTRACT, Pipeline};

pub fn mermaid(p: &Pipeline) -> String {
    let mut out = String::from("flowchart TD\n");
    let id = |s: &str| format!("step_{}", s.replace(['.', '-', ' '], "_"));
    out.push_str(&format!(
        "  landing[\"landing/{name}/ ({})\"] --> read[\"read raw files<br/>(whole-file rejects → rejected/)\"]\n",
        p.manifest.input.patterns.join(", "),
        name = p.name()
    ));
    let mut prev = "read".to_string();
    for f in &p.manifest.validate {
        out.push_str(&format!("  {prev} --> {}[\"{f}\"]\n", id(f)));
        prev = id(f);
    }
    out.push_str(&format!("  {prev} --> rejects[\"MERGE rejects\"]\n"));
    out.push_str("  rejects --> decide{\"any valid record?\"}\n");
    out.push_str("  decide -- no --> failed[\"status failed · files → rejected/ · notify error · exit 2\"]\n");
    // The step graph: `extract` is the decision's "yes" branch; steps nobody waits for lead
    // to the ledger.
    let steps = p.steps();
    let node = |name: &str| {
        if name == EXTRACT {
            "decide".to_string()
        } else {
            id(name)
        }
    };
    for s in &steps {
        let what = if s.files.is_empty() && s.checks {
            format!("{} checks → dq_results", p.manifest.checks.len())
        } else {
            let mut w = s.files.join("<br/>");
            if s.checks {
                w.push_str(&format!(
                    "<br/>{} checks → dq_results",
                    p.manifest.checks.len()
                ));
            }
            w
        };
        let label = if let Some(m) = &s.model {
            // A model: its table, file and how it is stored.
            format!(
                "{}<br/><small>{} · {}</small>",
                s.name, m.file, m.materialized
            )
        } else if s.files.len() == 1 && s.files[0] == s.name {
            s.name.clone()
        } else {
            format!("{}<br/><small>{what}</small>", s.name)
        };
        out.push_str(&format!("  {}[\"{label}\"]\n", id(&s.name)));
        for d in &s.after {
            let yes = if d == EXTRACT { " -- yes " } else { " " };
            out.push_str(&format!("  {}{yes}--> {}\n", node(d), id(&s.name)));
        }
        if s.notify_if.is_some() {
            out.push_str(&format!(
                "  {} -.-> alert_{}[\"notify if rows\"]\n",
                id(&s.name),
                id(&s.name)
            ));
        }
    }
    let leaves: Vec<&str> = steps
        .iter()
        .filter(|s| !steps.iter().any(|o| o.after.contains(&s.name)))
        .map(|s| s.name.as_str())
        .collect();
    if leaves.is_empty() {
        out.push_str("  decide -- yes --> ledger[\"stockroom_files (content hashes)\"]\n");
    }
    for (i, l) in leaves.iter().enumerate() {
        let label = if i == 0 {
            "[\"stockroom_files (content hashes)\"]"
        } else {
            ""
        };
        out.push_str(&format!("  {} --> ledger{label}\n", id(l)));
    }
    out.push_str("  ledger --> archive[\"files → archive/\"]\n");
    out.push_str("  archive --> summary[\"stockroom_runs · runs/*.json\"]\n");
    out.push_str("  summary --> notify[\"notifications.jsonl · webhook\"]\n");
    out
}
