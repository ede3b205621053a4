//! Pipeline definitions: `sql/<name>/pipeline.toml` plus numbered SQL files. The shipped
//! pipelines are compiled into the binary; `--pipelines DIR` adds or overrides from disk.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::ingest::{FieldSpec, RawFormat};

#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub input: InputSpec,
    /// SQL files run before the decision; they must leave table `checked`.
    pub validate: Vec<String>,
    /// SQL files run after the decision.
    #[serde(default)]
    pub transform: Vec<String>,
    /// Tables the pipeline writes (reported with their versions).
    #[serde(default)]
    pub tables: Vec<String>,
    #[serde(default)]
    pub notify: NotifySpec,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InputSpec {
    pub patterns: Vec<String>,
    pub format: String,
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
    pub fields: Vec<FieldDef>,
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
}

impl Pipeline {
    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    pub fn format(&self) -> Result<RawFormat> {
        match self.manifest.input.format.to_ascii_lowercase().as_str() {
            "csv" => Ok(RawFormat::Csv),
            "jsonl" | "json" | "ndjson" => Ok(RawFormat::Jsonl),
            other => Err(Error::Invalid(format!(
                "pipeline {}: input format '{other}' is not csv or jsonl",
                self.name()
            ))),
        }
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

    /// Does a landing file name belong to this pipeline?
    pub fn accepts(&self, file_name: &str) -> bool {
        !file_name.starts_with('.')
            && self
                .manifest
                .input
                .patterns
                .iter()
                .any(|p| glob_match(&p.to_ascii_lowercase(), &file_name.to_ascii_lowercase()))
    }

    fn parse(origin: &str, manifest: &str, sql: BTreeMap<String, String>) -> Result<Self> {
        let manifest: Manifest = toml::from_str(manifest)
            .map_err(|e| Error::Invalid(format!("{origin}/pipeline.toml: {e}")))?;
        for f in manifest.validate.iter().chain(&manifest.transform) {
            if !sql.contains_key(f) {
                return Err(Error::Invalid(format!(
                    "{origin}/pipeline.toml names step '{f}', but there is no such file"
                )));
            }
        }
        Ok(Self {
            manifest,
            sql,
            origin: origin.to_string(),
        })
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
                "20_stage.sql",
                include_str!("../../sql/ecommerce/20_stage.sql"),
            ),
            (
                "30_kpis.sql",
                include_str!("../../sql/ecommerce/30_kpis.sql"),
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
                "20_curate.sql",
                include_str!("../../sql/inventory/20_curate.sql"),
            ),
            (
                "30_kpis.sql",
                include_str!("../../sql/inventory/30_kpis.sql"),
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
        assert!(!pos.accepts("notes.txt"));
        assert!(glob_match("orders*.csv", "orders_1.csv"));
    }
}
