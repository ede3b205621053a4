//! `pipeline graph NAME`: the lifecycle and the pipeline's SQL steps as a Mermaid flowchart,
//! like the AWS originals' Step Functions graphs.

use crate::pipeline::manifest::Pipeline;

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
    let mut prev = "decide".to_string();
    let mut label = " -- yes ";
    for f in &p.manifest.transform {
        out.push_str(&format!("  {prev}{label}--> {}[\"{f}\"]\n", id(f)));
        prev = id(f);
        label = " ";
    }
    out.push_str(&format!(
        "  {prev}{label}--> ledger[\"stockroom_files (content hashes)\"]\n"
    ));
    out.push_str("  ledger --> archive[\"files → archive/\"]\n");
    out.push_str("  archive --> summary[\"stockroom_runs · runs/*.json\"]\n");
    out.push_str("  summary --> notify[\"notifications.jsonl · webhook\"]\n");
    out
}
