//! Pipeline definitions: `sql/<name>/pipeline.toml` plus SQL files — models (one SELECT
//! each, with a `-- materialized:` header: src/pipeline/model.rs) and scripts (the validate
//! files and `[[steps]]`). The shipped pipelines are compiled into the binary; `--pipelines
//! DIR` adds or overrides from disk. docs/pipelines.md#models says how to write one.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::ingest::{FieldSpec, RawFormat};
use crate::pipeline::error::PipelineError;
use crate::pipeline::model::{self, Model};

#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub input: InputSpec,
    /// SQL files run before the decision; they must leave table `checked`.
    pub validate: Vec<String>,
    /// SQL files run after the decision, one after the other (shorthand for a chain of
    /// `[[steps]]`).
    #[serde(default)]
    pub transform: Vec<String>,
    /// The steps after the decision as a graph: each runs when the steps it names in `after`
    /// are done, and steps that are ready together run concurrently. Replaces `transform`.
    #[serde(default)]
    pub steps: Vec<StepDef>,
    /// Data-quality checks, run by a step with `checks = true`.
    #[serde(default)]
    pub checks: Vec<CheckDef>,
    /// When cron / systemd should run the pipeline (printed by `stockroom schedule`).
    #[serde(default)]
    pub schedules: Vec<ScheduleDef>,
    /// Tables the pipeline's scripts write (reported with their versions); stored models
    /// are added to these by themselves.
    #[serde(default)]
    pub tables: Vec<String>,
    /// Tables the models read that the pipeline does not write (another pipeline's, the
    /// stream's, one made by hand). Any other table a model reads must be a model or be
    /// written by a step of the pipeline: a misspelt name fails when the pipeline loads.
    #[serde(default)]
    pub sources: Vec<String>,
    #[serde(default)]
    pub notify: NotifySpec,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InputSpec {
    pub patterns: Vec<String>,
    pub format: String,
    /// A landing file whose name matches none of the patterns is rejected whole
    /// (`UNKNOWN_TYPE`, moved to rejected/ with its reason) instead of staying in landing.
    #[serde(default)]
    pub reject_unmatched: bool,
    /// Raw fields of a single-type input (table `batch_raw`).
    #[serde(default)]
    pub fields: Vec<FieldDef>,
    /// File types routed by name prefix, each with its own fields (table `batch_<name>`).
    /// Checked in order, so `order_items` can come before `orders`.
    #[serde(default)]
    pub types: Vec<FileType>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FileType {
    pub name: String,
    pub prefix: String,
    /// `csv` or `jsonl`; the input's format when absent.
    pub format: Option<String>,
    pub fields: Vec<FieldDef>,
}

/// The name of the validate phase, which every step graph starts from.
pub const EXTRACT: &str = "extract";

/// One step of the graph after the decision.
#[derive(Debug, Clone, Deserialize)]
pub struct StepDef {
    pub name: String,
    /// SQL files run in order.
    #[serde(default)]
    pub files: Vec<String>,
    /// Run the manifest's `[[checks]]` (after the files, if any).
    #[serde(default)]
    pub checks: bool,
    /// Steps that must be done first (`extract` = the validate phase).
    #[serde(default)]
    pub after: Vec<String>,
    /// A query run after the step: when it returns rows, a warning notification is sent
    /// (the AWS originals' alert topics).
    pub notify_if: Option<String>,
    /// The notification's text; `{rows}` becomes the number of rows.
    pub notify_message: Option<String>,
    /// Set for a model's step (its one file is the model); its `after` is inferred.
    #[serde(skip)]
    pub model: Option<Model>,
}

/// A data-quality check: a SQL file whose query returns the failing rows.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckDef {
    pub name: String,
    pub file: String,
    /// The table (or input) the check is about, for the report.
    pub table: String,
    /// `warn` from this many failing rows (default 1).
    #[serde(default = "one")]
    pub warn_at: u64,
    /// `fail` from this many failing rows; absent = the check only warns.
    pub fail_at: Option<u64>,
}

/// One cadence of a pipeline, for `stockroom schedule`.
#[derive(Debug, Clone, Deserialize)]
pub struct ScheduleDef {
    pub name: String,
    /// Five crontab fields, e.g. `0 2 * * *`.
    pub cron: String,
    /// The same cadence as a systemd `OnCalendar=` expression.
    pub on_calendar: String,
    /// Run only this step (`pipeline run NAME --step STEP`); absent = a whole batch run.
    pub step: Option<String>,
}

fn one() -> u64 {
    1
}

#[derive(Debug, Clone, Deserialize)]
pub struct FieldDef {
    pub name: String,
    #[serde(default)]
    pub required: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct NotifySpec {
    pub webhook: Option<String>,
}

/// A loaded pipeline: its manifest and the text of its SQL files.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub manifest: Manifest,
    pub sql: BTreeMap<String, String>,
    /// Where it came from (`built-in` or a directory), for messages.
    pub origin: String,
    /// The SQL files with a `-- materialized:` header, by file name.
    pub models: Vec<Model>,
}

impl Pipeline {
    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    pub fn format(&self) -> Result<RawFormat> {
        parse_format(self.name(), &self.manifest.input.format)
    }

    /// The raw format of each batch table (see [`Self::batch_tables`]).
    pub fn batch_formats(&self) -> Result<Vec<RawFormat>> {
        let types = &self.manifest.input.types;
        if types.is_empty() {
            return Ok(vec![self.format()?]);
        }
        types
            .iter()
            .map(|t| match &t.format {
                Some(f) => parse_format(self.name(), f),
                None => self.format(),
            })
            .collect()
    }

    /// The steps after the decision: `[[steps]]` (or the `transform` files as a chain), then
    /// one step per model, named after it, running after the steps that write the tables it
    /// reads.
    pub fn steps(&self) -> Vec<StepDef> {
        let mut steps = self.script_steps();
        let writers: Vec<(String, std::collections::BTreeSet<String>)> = steps
            .iter()
            .map(|s| {
                let writes = s
                    .files
                    .iter()
                    .filter_map(|f| self.sql.get(f))
                    .flat_map(|t| model::script_writes(t))
                    .collect();
                (s.name.clone(), writes)
            })
            .collect();
        for m in &self.models {
            let mut after: Vec<String> = Vec::new();
            for table in &m.reads {
                let by = if self.models.iter().any(|o| &o.name == table) {
                    Some(table.clone())
                } else {
                    writers
                        .iter()
                        .find(|(_, w)| w.contains(table))
                        .map(|(s, _)| s.clone())
                };
                if let Some(b) = by
                    && !after.contains(&b)
                {
                    after.push(b);
                }
            }
            if after.is_empty() {
                after.push(EXTRACT.to_string());
            }
            steps.push(StepDef {
                name: m.name.clone(),
                files: vec![m.file.clone()],
                checks: false,
                after,
                notify_if: None,
                notify_message: None,
                model: Some(m.clone()),
            });
        }
        steps
    }

    /// The hand-written steps: `[[steps]]`, or the `transform` files as a chain.
    fn script_steps(&self) -> Vec<StepDef> {
        if !self.manifest.steps.is_empty() {
            return self.manifest.steps.clone();
        }
        let mut prev = EXTRACT.to_string();
        self.manifest
            .transform
            .iter()
            .map(|f| {
                let s = StepDef {
                    name: f.clone(),
                    files: vec![f.clone()],
                    checks: false,
                    after: vec![prev.clone()],
                    notify_if: None,
                    notify_message: None,
                    model: None,
                };
                prev = f.clone();
                s
            })
            .collect()
    }

    /// The tables whose versions a run reports: the manifest's `tables`, then the stored
    /// models not listed there.
    pub fn tables(&self) -> Vec<String> {
        let mut out = self.manifest.tables.clone();
        for m in self.models.iter().filter(|m| m.materialized.is_stored()) {
            if !out.contains(&m.name) {
                out.push(m.name.clone());
            }
        }
        out
    }

    /// Every table a model reads must be a model, written by a step (validate files
    /// included), a batch table, a framework table or a declared source.
    fn check_model_reads(&self) -> std::result::Result<(), PipelineError> {
        let mut known: std::collections::BTreeSet<String> = self
            .sql
            .iter()
            .filter(|(f, _)| !self.models.iter().any(|m| &m.file == *f))
            .flat_map(|(_, t)| model::script_writes(t))
            .collect();
        known.extend(self.models.iter().map(|m| m.name.clone()));
        known.extend(self.batch_tables().into_iter().map(|(t, _)| t));
        known.extend(self.manifest.sources.iter().map(|s| s.to_ascii_lowercase()));
        known.extend(
            [
                "checked",
                crate::pipeline::framework::REJECTS,
                crate::pipeline::framework::RUNS,
                crate::pipeline::framework::LEDGER,
                crate::pipeline::quality::DQ_RESULTS,
                crate::pipeline::quality::DQ_FAILURES,
            ]
            .map(String::from),
        );
        for m in &self.models {
            if let Some(t) = m.reads.iter().find(|t| !known.contains(*t)) {
                return Err(PipelineError::UnknownTable {
                    pipeline: self.name().to_string(),
                    file: format!("{}/{}", self.origin, m.file),
                    table: t.clone(),
                    did_you_mean: crate::suggest::nearest(t, known.iter().map(String::as_str)),
                });
            }
        }
        Ok(())
    }

    /// The steps in waves: every step of a wave depends only on earlier waves, so the steps
    /// of one wave can run concurrently. Fails on an unknown dependency or a cycle.
    pub fn step_waves(&self) -> std::result::Result<Vec<Vec<StepDef>>, PipelineError> {
        let steps = self.steps();
        let mut done: Vec<String> = vec![EXTRACT.to_string()];
        let mut left = steps.clone();
        for s in &steps {
            if let Some(d) = s
                .after
                .iter()
                .find(|d| d.as_str() != EXTRACT && !steps.iter().any(|o| &o.name == *d))
            {
                return Err(PipelineError::UnknownStep {
                    pipeline: self.name().to_string(),
                    step: s.name.clone(),
                    after: d.clone(),
                });
            }
        }
        let mut waves = Vec::new();
        while !left.is_empty() {
            let (ready, rest): (Vec<StepDef>, Vec<StepDef>) = left
                .into_iter()
                .partition(|s| s.after.iter().all(|d| done.contains(d)));
            if ready.is_empty() {
                let list = |f: &dyn Fn(&StepDef) -> String| {
                    rest.iter().map(f).collect::<Vec<_>>().join(", ")
                };
                return Err(PipelineError::Cycle {
                    pipeline: self.name().to_string(),
                    steps: list(&|s| s.name.clone()),
                    files: list(&|s| {
                        let files = s
                            .files
                            .iter()
                            .map(|f| format!("{}/{f}", self.origin))
                            .collect::<Vec<_>>()
                            .join(" + ");
                        if files.is_empty() {
                            format!("{}: checks", s.name)
                        } else {
                            format!("{} after {}", files, s.after.join(", "))
                        }
                    }),
                });
            }
            done.extend(ready.iter().map(|s| s.name.clone()));
            waves.push(ready);
            left = rest;
        }
        Ok(waves)
    }

    /// The batch tables: `(table name, fields)`; one `batch_raw` unless the input has types.
    pub fn batch_tables(&self) -> Vec<(String, Vec<FieldSpec>)> {
        let specs = |fields: &[FieldDef]| {
            fields
                .iter()
                .map(|f| FieldSpec {
                    name: f.name.clone(),
                    required: f.required,
                })
                .collect::<Vec<_>>()
        };
        if self.manifest.input.types.is_empty() {
            return vec![("batch_raw".into(), specs(&self.manifest.input.fields))];
        }
        self.manifest
            .input
            .types
            .iter()
            .map(|t| (format!("batch_{}", t.name), specs(&t.fields)))
            .collect()
    }

    /// Which batch table a file goes to (index into [`Self::batch_tables`]), or None when
    /// its name matches no type.
    pub fn route(&self, file_name: &str) -> Option<usize> {
        let types = &self.manifest.input.types;
        if types.is_empty() {
            return Some(0);
        }
        let lower = file_name.to_ascii_lowercase();
        types
            .iter()
            .position(|t| lower.starts_with(&t.prefix.to_ascii_lowercase()))
    }

    /// Does a landing file name belong to this pipeline? The upload convention: a dot-file
    /// or a `*.tmp` / `*.part` file is still being written and never belongs to any.
    pub fn accepts(&self, file_name: &str) -> bool {
        !still_arriving(file_name)
            && self
                .manifest
                .input
                .patterns
                .iter()
                .any(|p| glob_match(&p.to_ascii_lowercase(), &file_name.to_ascii_lowercase()))
    }

    /// Does a run take this landing entry? Those it [`accepts`](Self::accepts), and with
    /// `reject_unmatched` every other finished upload too (to reject it whole).
    pub fn takes(&self, file_name: &str) -> bool {
        self.accepts(file_name)
            || (self.manifest.input.reject_unmatched && !still_arriving(file_name))
    }

    fn parse(origin: &str, manifest: &str, sql: BTreeMap<String, String>) -> Result<Self> {
        let manifest_error = |message: String| PipelineError::Manifest {
            file: format!("{origin}/pipeline.toml"),
            message,
        };
        let manifest: Manifest =
            toml::from_str(manifest).map_err(|e| manifest_error(e.to_string()))?;
        let files = manifest
            .validate
            .iter()
            .chain(&manifest.transform)
            .chain(manifest.steps.iter().flat_map(|s| &s.files))
            .chain(manifest.checks.iter().map(|c| &c.file));
        for f in files {
            if !sql.contains_key(f) {
                return Err(
                    manifest_error(format!("names step '{f}', but there is no such file")).into(),
                );
            }
        }
        if !manifest.transform.is_empty() && !manifest.steps.is_empty() {
            return Err(
                manifest_error("has both `transform` and `[[steps]]`; use one".into()).into(),
            );
        }
        let mut models = Vec::new();
        for (file, text) in &sql {
            if model::is_model(text) {
                models.push(Model::parse(&format!("{origin}/{file}"), file, text)?);
            }
        }
        let names: Vec<String> = manifest.steps.iter().map(|s| s.name.clone()).collect();
        if let Some(m) = models.iter().find(|m| names.contains(&m.name)) {
            return Err(manifest_error(format!(
                "step '{}' has the name of model {}; a model's step is named after it",
                m.name, m.file
            ))
            .into());
        }
        let p = Self {
            manifest,
            sql,
            origin: origin.to_string(),
            models,
        };
        p.batch_formats()?;
        p.check_model_reads()?;
        p.step_waves()?;
        for sch in &p.manifest.schedules {
            if let Some(step) = &sch.step
                && !p.steps().iter().any(|s| &s.name == step)
            {
                return Err(manifest_error(format!(
                    "schedule '{}' names step '{step}', but there is no such step",
                    sch.name
                ))
                .into());
            }
            if sch.cron.split_whitespace().count() != 5 {
                return Err(manifest_error(format!(
                    "schedule '{}': cron '{}' must have five fields",
                    sch.name, sch.cron
                ))
                .into());
            }
        }
        Ok(p)
    }

    /// Reads a pipeline directory (`pipeline.toml` + `*.sql`).
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let origin = dir.display().to_string();
        let manifest = std::fs::read_to_string(dir.join("pipeline.toml"))
            .map_err(|e| Error::io(format!("cannot read {origin}/pipeline.toml"), e))?;
        let mut sql = BTreeMap::new();
        let entries =
            std::fs::read_dir(dir).map_err(|e| Error::io(format!("cannot list {origin}"), e))?;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.ends_with(".sql") {
                let text = std::fs::read_to_string(e.path())
                    .map_err(|err| Error::io(format!("cannot read {}", e.path().display()), err))?;
                sql.insert(name, text);
            }
        }
        Self::parse(&origin, &manifest, sql)
    }
}

fn parse_format(pipeline: &str, format: &str) -> Result<RawFormat> {
    match format.to_ascii_lowercase().as_str() {
        "csv" => Ok(RawFormat::Csv),
        "jsonl" | "json" | "ndjson" => Ok(RawFormat::Jsonl),
        other => Err(PipelineError::Manifest {
            file: format!("pipeline {pipeline}"),
            message: format!("input format '{other}' is not csv or jsonl"),
        }
        .into()),
    }
}

/// The upload convention: a dot-file or a `*.tmp` / `*.part` file is still being written.
fn still_arriving(file_name: &str) -> bool {
    let lower = file_name.to_ascii_lowercase();
    file_name.starts_with('.') || lower.ends_with(".tmp") || lower.ends_with(".part")
}

/// `*` and `?` globbing over a file name.
fn glob_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// `(file name, text)` of a built-in pipeline's SQL step.
type SqlFile = (&'static str, &'static str);

/// The pipelines compiled into the binary: (name, manifest, SQL files).
const BUILT_IN: &[(&str, &str, &[SqlFile])] = &[
    (
        "ecommerce",
        include_str!("../../sql/ecommerce/pipeline.toml"),
        &[
            (
                "10_validate.sql",
                include_str!("../../sql/ecommerce/10_validate.sql"),
            ),
            (
                "repeated_products.sql",
                include_str!("../../sql/ecommerce/repeated_products.sql"),
            ),
            (
                "repeated_orders.sql",
                include_str!("../../sql/ecommerce/repeated_orders.sql"),
            ),
            (
                "repeated_items.sql",
                include_str!("../../sql/ecommerce/repeated_items.sql"),
            ),
            (
                "stg_products.sql",
                include_str!("../../sql/ecommerce/stg_products.sql"),
            ),
            (
                "stg_orders.sql",
                include_str!("../../sql/ecommerce/stg_orders.sql"),
            ),
            (
                "stg_order_items.sql",
                include_str!("../../sql/ecommerce/stg_order_items.sql"),
            ),
            (
                "valid_orders.sql",
                include_str!("../../sql/ecommerce/valid_orders.sql"),
            ),
            ("facts.sql", include_str!("../../sql/ecommerce/facts.sql")),
            (
                "order_kpis.sql",
                include_str!("../../sql/ecommerce/order_kpis.sql"),
            ),
            (
                "category_kpis.sql",
                include_str!("../../sql/ecommerce/category_kpis.sql"),
            ),
        ],
    ),
    (
        "inventory",
        include_str!("../../sql/inventory/pipeline.toml"),
        &[
            (
                "10_validate.sql",
                include_str!("../../sql/inventory/10_validate.sql"),
            ),
            (
                "repeated_readings.sql",
                include_str!("../../sql/inventory/repeated_readings.sql"),
            ),
            (
                "inventory.sql",
                include_str!("../../sql/inventory/inventory.sql"),
            ),
            (
                "touched_dates.sql",
                include_str!("../../sql/inventory/touched_dates.sql"),
            ),
            (
                "inventory_kpis_daily.sql",
                include_str!("../../sql/inventory/inventory_kpis_daily.sql"),
            ),
        ],
    ),
    (
        "inventory-ops",
        include_str!("../../sql/inventory-ops/pipeline.toml"),
        &[
            (
                "10_extract.sql",
                include_str!("../../sql/inventory-ops/10_extract.sql"),
            ),
            (
                "20_transform_and_load.sql",
                include_str!("../../sql/inventory-ops/20_transform_and_load.sql"),
            ),
            (
                "30_aggregated_metrics.sql",
                include_str!("../../sql/inventory-ops/30_aggregated_metrics.sql"),
            ),
            (
                "40_low_stock_alerts.sql",
                include_str!("../../sql/inventory-ops/40_low_stock_alerts.sql"),
            ),
            (
                "50_weekly_summary.sql",
                include_str!("../../sql/inventory-ops/50_weekly_summary.sql"),
            ),
            (
                "dq_data_gaps.sql",
                include_str!("../../sql/inventory-ops/dq_data_gaps.sql"),
            ),
            (
                "dq_duplicate_event_ids.sql",
                include_str!("../../sql/inventory-ops/dq_duplicate_event_ids.sql"),
            ),
            (
                "dq_missing_ids.sql",
                include_str!("../../sql/inventory-ops/dq_missing_ids.sql"),
            ),
            (
                "dq_negative_on_hand.sql",
                include_str!("../../sql/inventory-ops/dq_negative_on_hand.sql"),
            ),
            (
                "dq_negative_reorder_point.sql",
                include_str!("../../sql/inventory-ops/dq_negative_reorder_point.sql"),
            ),
            (
                "dq_negative_reserved.sql",
                include_str!("../../sql/inventory-ops/dq_negative_reserved.sql"),
            ),
            (
                "dq_over_reserved.sql",
                include_str!("../../sql/inventory-ops/dq_over_reserved.sql"),
            ),
            (
                "dq_unknown_skus.sql",
                include_str!("../../sql/inventory-ops/dq_unknown_skus.sql"),
            ),
        ],
    ),
    (
        "pos",
        include_str!("../../sql/pos/pipeline.toml"),
        &[
            (
                "10_validate.sql",
                include_str!("../../sql/pos/10_validate.sql"),
            ),
            ("valid.sql", include_str!("../../sql/pos/valid.sql")),
            ("20_curate.sql", include_str!("../../sql/pos/20_curate.sql")),
            ("30_kpis.sql", include_str!("../../sql/pos/30_kpis.sql")),
        ],
    ),
];

/// Every available pipeline: built-in ones, then those in `extra_dir` (each sub-directory
/// with a `pipeline.toml`), which override built-ins of the same name.
pub fn load_all(extra_dir: Option<&Path>) -> Result<BTreeMap<String, Pipeline>> {
    let mut out = BTreeMap::new();
    for (name, manifest, files) in BUILT_IN {
        let sql = files
            .iter()
            .map(|(f, t)| (f.to_string(), t.to_string()))
            .collect();
        let p = Pipeline::parse(&format!("built-in:{name}"), manifest, sql)?;
        out.insert(p.name().to_string(), p);
    }
    if let Some(dir) = extra_dir {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| Error::io(format!("--pipelines {}", dir.display()), e))?;
        let mut dirs: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join("pipeline.toml").is_file())
            .collect();
        dirs.sort();
        for d in dirs {
            let p = Pipeline::from_dir(&d)?;
            out.insert(p.name().to_string(), p);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_ins_load_and_globs_match() {
        let all = load_all(None).unwrap();
        let pos = &all["pos"];
        assert!(pos.accepts("pos_2024-03-01.csv"));
        assert!(pos.accepts("X.CSV.GZ"));
        assert!(!pos.accepts(".hidden.csv"));
        assert!(!pos.accepts("pos_1.csv.part"));
        assert!(!pos.accepts("pos_1.csv.TMP"));
        assert!(!pos.accepts("notes.txt"));
        assert!(glob_match("orders*.csv", "orders_1.csv"));
    }
}
