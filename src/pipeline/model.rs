//! Models: a pipeline SQL file that is one `SELECT` defining one table, named after the file
//! (`stg_orders.sql` defines `stg_orders`). Its header comment declares how the table is
//! materialised; the framework writes the CREATE / MERGE / INSERT around the SELECT, and the
//! tables the SELECT reads decide the order (docs/pipelines.md#models).
//!
//! ```sql
//! -- materialized: merge
//! -- unique_key: [order_id]
//! -- partition_by: [year, month]
//! SELECT …
//! ```

use std::collections::BTreeSet;

use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::resolve::resolve_table_references;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;

use crate::pipeline::error::PipelineError;
use crate::script::{self, Prepared};
use crate::sql::vars::{Vars, substitute, used_variables};

/// How a model's result becomes a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Materialized {
    /// MERGE on `unique_key`: matched rows are updated, new ones inserted.
    Merge,
    /// INSERT every row; with `unique_key`, only rows whose key the table lacks.
    Append,
    /// The table becomes the result (a Delta overwrite: a new version, history kept).
    Replace,
    /// An in-memory table of the run, read by later models; never stored.
    Temp,
    /// A view of the run, read by later models; its rows stream into whoever reads it.
    View,
}

impl Materialized {
    pub const ALL: [Materialized; 5] = [
        Materialized::Merge,
        Materialized::Append,
        Materialized::Replace,
        Materialized::Temp,
        Materialized::View,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Materialized::Merge => "merge",
            Materialized::Append => "append",
            Materialized::Replace => "replace",
            Materialized::Temp => "temp",
            Materialized::View => "view",
        }
    }

    /// Stored in the warehouse (a Delta table), not only in the run's session.
    pub fn is_stored(self) -> bool {
        matches!(
            self,
            Materialized::Merge | Materialized::Append | Materialized::Replace
        )
    }
}

impl std::fmt::Display for Materialized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which stored rows a `merge` deletes when the model's result no longer has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteMissing {
    /// None (the default): a MERGE only updates and inserts.
    No,
    /// Those in the partitions (`partition_by`, one column) the result has rows for: the
    /// result replaces those partitions, the others stay as they are.
    Partitions,
    /// Every one: the table ends up equal to the result.
    All,
}

/// One model of a pipeline.
#[derive(Debug, Clone)]
pub struct Model {
    /// The table it defines: the file name without `.sql`.
    pub name: String,
    pub file: String,
    pub materialized: Materialized,
    pub unique_key: Vec<String>,
    pub partition_by: Vec<String>,
    pub delete_missing: DeleteMissing,
    /// The tables its SELECT reads (lower case, CTE names excluded).
    pub reads: BTreeSet<String>,
}

/// The header keys a model file may set.
const KEYS: &[&str] = &[
    "materialized",
    "unique_key",
    "partition_by",
    "delete_missing",
    "table",
];

/// Is this SQL file a model? Its header (the comment lines before the first SQL line) has a
/// `-- materialized:` line.
pub fn is_model(text: &str) -> bool {
    header(text).any(|(k, _, _)| k == "materialized")
}

/// `(key, value, line number)` of the header's `-- key: value` lines with a known key.
fn header(text: &str) -> impl Iterator<Item = (String, String, usize)> + '_ {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .take_while(|(_, l)| l.is_empty() || l.starts_with("--"))
        .filter_map(|(n, l)| {
            let (k, v) = l.trim_start_matches('-').split_once(':')?;
            let k = k.trim().to_ascii_lowercase();
            KEYS.contains(&k.as_str())
                .then(|| (k, v.trim().to_string(), n))
        })
}

/// `[a, b]`, `a, b` or `a` → the names, lower case.
fn list(v: &str) -> Vec<String> {
    v.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl Model {
    /// Reads a model file's header and SELECT. `source` names the file in messages.
    pub fn parse(source: &str, file: &str, text: &str) -> Result<Self, PipelineError> {
        let bad = |line: usize, message: String| PipelineError::Model {
            file: format!("{source}:{line}"),
            message,
        };
        // The table is named after the file, unless the header says `-- table: name`.
        let name = header(text)
            .find(|(k, _, _)| k == "table")
            .map(|(_, v, _)| v.to_ascii_lowercase())
            .unwrap_or_else(|| file.trim_end_matches(".sql").to_string());
        if !is_identifier(&name) {
            return Err(bad(
                1,
                format!(
                    "a model's file name is its table's name: '{name}' must be lower-case letters, digits and _ \
                     (e.g. stg_orders.sql), or the header names the table (`-- table: stg_orders`)"
                ),
            ));
        }
        let mut materialized = None;
        let mut unique_key = Vec::new();
        let mut partition_by = Vec::new();
        let mut delete_missing = DeleteMissing::No;
        for (key, value, line) in header(text) {
            match key.as_str() {
                "materialized" => {
                    let m = Materialized::ALL
                        .into_iter()
                        .find(|m| m.as_str() == value.to_ascii_lowercase())
                        .ok_or_else(|| {
                            bad(
                                line,
                                format!(
                                    "materialized: '{value}' is not one of {}",
                                    Materialized::ALL.map(Materialized::as_str).join(", ")
                                ),
                            )
                        })?;
                    materialized = Some(m);
                }
                "unique_key" => unique_key = list(&value),
                "partition_by" => partition_by = list(&value),
                "delete_missing" => {
                    delete_missing = match value.to_ascii_lowercase().as_str() {
                        "partitions" => DeleteMissing::Partitions,
                        "all" => DeleteMissing::All,
                        "no" | "none" | "false" => DeleteMissing::No,
                        _ => {
                            return Err(bad(
                                line,
                                format!("delete_missing: '{value}' is not partitions, all or no"),
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
        let Some(materialized) = materialized else {
            return Err(bad(1, "no `-- materialized:` line in the header".into()));
        };
        for c in unique_key.iter().chain(&partition_by) {
            if !is_identifier(c) {
                return Err(bad(1, format!("'{c}' is not a plain column name")));
            }
        }
        if materialized == Materialized::Merge && unique_key.is_empty() {
            return Err(bad(
                1,
                "materialized: merge needs `-- unique_key: [column, …]` (the columns that identify a row)".into(),
            ));
        }
        let keyed = !unique_key.is_empty() || !partition_by.is_empty();
        if !materialized.is_stored() && keyed {
            return Err(bad(
                1,
                format!(
                    "a {materialized} model is not stored: unique_key and partition_by do not apply"
                ),
            ));
        }
        if delete_missing != DeleteMissing::No && materialized != Materialized::Merge {
            return Err(bad(
                1,
                "delete_missing applies to materialized: merge only".into(),
            ));
        }
        if delete_missing == DeleteMissing::Partitions && partition_by.len() != 1 {
            return Err(bad(
                1,
                "delete_missing: partitions needs exactly one partition_by column".into(),
            ));
        }
        let reads = reads(source, text)?;
        if reads.contains(&name) {
            return Err(bad(
                1,
                format!(
                    "model {name} reads its own table; a model's SELECT defines it from other tables"
                ),
            ));
        }
        Ok(Model {
            name,
            file: file.to_string(),
            materialized,
            unique_key,
            partition_by,
            delete_missing,
            reads,
        })
    }

    /// The statements that materialise the model, ready to run: its SELECT with the run's
    /// variables, wrapped in the framework's CREATE / MERGE / INSERT. Each carries the
    /// SELECT's file and line, so an error points at the model.
    pub fn statements(
        &self,
        source: &str,
        text: &str,
        vars: &Vars,
    ) -> Result<Vec<Prepared>, PipelineError> {
        let mut prepared =
            script::prepare(source, text, vars).map_err(|e| PipelineError::Script(Box::new(e)))?;
        if prepared.len() != 1 {
            return Err(PipelineError::Model {
                file: source.to_string(),
                message: format!(
                    "a model is one SELECT; this file has {} statements (a script with several statements is a step: list it in `[[steps]]`)",
                    prepared.len()
                ),
            });
        }
        let mut select = prepared.remove(0);
        // Errors point at the SELECT, not at the header comment above it.
        let first_sql_line = text
            .lines()
            .position(|l| {
                let l = l.trim();
                !l.is_empty() && !l.starts_with("--")
            })
            .map_or(1, |i| i + 1);
        select.line = select.line.max(first_sql_line);
        let m = &self.name;
        let new = format!("{m}__new");
        let partitioned = if self.partition_by.is_empty() {
            String::new()
        } else {
            format!(" PARTITIONED BY ({})", self.partition_by.join(", "))
        };
        let on = || {
            self.unique_key
                .iter()
                .map(|k| format!("t.{k} = s.{k}"))
                .collect::<Vec<_>>()
                .join(" AND ")
        };
        // Stored models: the result is a view the write streams from (no copy in memory),
        // except when the MERGE reads it twice (delete_missing: partitions).
        let source_sql = if self.delete_missing == DeleteMissing::Partitions {
            format!("CREATE TEMP TABLE {new} AS {}", select.sql)
        } else {
            format!("CREATE OR REPLACE VIEW {new} AS {}", select.sql)
        };
        // The first run creates the table empty (version 0) from the result's schema.
        let create =
            format!("CREATE TABLE IF NOT EXISTS {m}{partitioned} AS SELECT * FROM {new} LIMIT 0");
        let sql: Vec<String> = match self.materialized {
            Materialized::Temp => vec![format!("CREATE TEMP TABLE {m} AS {}", select.sql)],
            Materialized::View => vec![format!("CREATE OR REPLACE VIEW {m} AS {}", select.sql)],
            Materialized::Merge => {
                let delete = match self.delete_missing {
                    DeleteMissing::No => String::new(),
                    DeleteMissing::All => " WHEN NOT MATCHED BY SOURCE THEN DELETE".into(),
                    DeleteMissing::Partitions => {
                        let p = &self.partition_by[0];
                        format!(
                            " WHEN NOT MATCHED BY SOURCE AND t.{p} IN (SELECT DISTINCT {p} FROM {new}) THEN DELETE"
                        )
                    }
                };
                vec![
                    source_sql,
                    create,
                    format!(
                        "MERGE INTO {m} AS t USING {new} AS s ON {} \
                         WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *{delete}",
                        on()
                    ),
                ]
            }
            Materialized::Append if self.unique_key.is_empty() => vec![
                source_sql,
                create,
                format!("INSERT INTO {m} SELECT * FROM {new}"),
            ],
            Materialized::Append => vec![
                source_sql,
                create,
                format!(
                    "MERGE INTO {m} AS t USING {new} AS s ON {} WHEN NOT MATCHED THEN INSERT *",
                    on()
                ),
            ],
            Materialized::Replace => vec![
                source_sql,
                create,
                format!("CREATE OR REPLACE TABLE {m}{partitioned} AS SELECT * FROM {new}"),
            ],
        };
        Ok(sql
            .into_iter()
            .map(|sql| Prepared {
                sql,
                ..select.clone()
            })
            .collect())
    }
}

/// The tables a model's SELECT reads. The text must be exactly one SELECT (or WITH … SELECT);
/// `${…}` variables stand for values here, so each becomes a placeholder.
fn reads(source: &str, text: &str) -> Result<BTreeSet<String>, PipelineError> {
    let placeholders: Vars = used_variables(text)
        .into_iter()
        .map(|v| (v.clone(), v))
        .collect();
    let sql = substitute(text, &placeholders).map_err(PipelineError::source(source))?;
    let not_select = |what: &str| PipelineError::Model {
        file: source.to_string(),
        message: format!(
            "a model is one SELECT (or WITH … SELECT); this file {what} (a script with other statements is a step: list it in `[[steps]]`)"
        ),
    };
    let statements = DFParser::parse_sql(&sql).map_err(PipelineError::source(source))?;
    let [statement] = Vec::from(statements)
        .try_into()
        .map_err(|v: Vec<_>| not_select(&format!("has {} statements", v.len())))?;
    if !matches!(&statement, DfStatement::Statement(s) if matches!(s.as_ref(), SqlStatement::Query(_)))
    {
        return Err(not_select("is not a query"));
    }
    let (tables, _ctes) =
        resolve_table_references(&statement, true).map_err(PipelineError::source(source))?;
    Ok(tables
        .into_iter()
        .map(|t| t.table().to_ascii_lowercase())
        .collect())
}

/// The identifier-like words of SQL text, lower-cased, comments and strings included: the
/// conservative way to ask whether a script may name a table (a word in a comment keeps it).
pub fn sql_words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// The tables a script statement writes: `CREATE [OR REPLACE] [TEMP] TABLE|VIEW [IF NOT
/// EXISTS] x`, `MERGE INTO x`, `INSERT INTO x`. A model that reads `x` runs after the step.
pub fn script_writes(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for p in script::prepare_verbatim("", text) {
        let words: Vec<String> = p
            .sql
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .flat_map(|l| l.split_whitespace())
            .take(9)
            .map(|w| w.trim_end_matches(['(', ';']).to_ascii_lowercase())
            .collect();
        let w: Vec<&str> = words.iter().map(String::as_str).collect();
        let name = match w.as_slice() {
            ["merge", "into", x, ..] | ["insert", "into", x, ..] => Some(*x),
            ["create", rest @ ..] => {
                let rest = match rest {
                    ["or", "replace", r @ ..] => r,
                    r => r,
                };
                let rest = match rest {
                    ["temp" | "temporary", r @ ..] => r,
                    r => r,
                };
                match rest {
                    ["table" | "view", "if", "not", "exists", x, ..] => Some(*x),
                    ["table" | "view", x, ..] => Some(*x),
                    _ => None,
                }
            }
            _ => None,
        };
        if let Some(x) = name {
            out.insert(x.trim_matches('"').to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_declares_the_materialisation() {
        let m = Model::parse(
            "x/stg.sql",
            "stg.sql",
            "-- Staging.\n-- materialized: merge\n-- unique_key: [id, day]\n-- partition_by: day\n\
             WITH a AS (SELECT * FROM raw) SELECT a.*, ${run_id} AS run_id FROM a JOIN other o ON a.id = o.id\n",
        )
        .unwrap();
        assert_eq!(m.materialized, Materialized::Merge);
        assert_eq!(m.unique_key, ["id", "day"]);
        assert_eq!(m.partition_by, ["day"]);
        assert_eq!(
            m.reads.iter().map(String::as_str).collect::<Vec<_>>(),
            ["other", "raw"]
        );
        let vars = Vars::from([("run_id".to_string(), "r1".to_string())]);
        let sql: Vec<String> = m
            .statements("x/stg.sql", "SELECT 1 AS id", &vars)
            .unwrap()
            .into_iter()
            .map(|p| p.sql)
            .collect();
        assert_eq!(
            sql[1],
            "CREATE TABLE IF NOT EXISTS stg PARTITIONED BY (day) AS SELECT * FROM stg__new LIMIT 0"
        );
        assert!(sql[2].starts_with(
            "MERGE INTO stg AS t USING stg__new AS s ON t.id = s.id AND t.day = s.day"
        ));
    }

    #[test]
    fn merge_without_a_key_and_several_statements_are_refused() {
        let e = Model::parse("x/a.sql", "a.sql", "-- materialized: merge\nSELECT 1").unwrap_err();
        assert!(e.to_string().contains("needs `-- unique_key"), "{e}");
        let e = Model::parse(
            "x/a.sql",
            "a.sql",
            "-- materialized: temp\nSELECT 1; SELECT 2",
        )
        .unwrap_err();
        assert!(e.to_string().contains("has 2 statements"), "{e}");
        assert!(!is_model(
            "-- A script.\nCREATE TEMP TABLE x AS SELECT 1;\n-- materialized: temp"
        ));
    }

    #[test]
    fn script_writes_finds_created_and_merged_tables() {
        let w = script_writes(
            "-- c\nCREATE TEMP TABLE a AS SELECT 1;\nCREATE OR REPLACE VIEW b AS SELECT 1;\n\
             CREATE TABLE IF NOT EXISTS c PARTITIONED BY (x) AS SELECT 1;\nMERGE INTO d AS t USING a AS s ON true WHEN NOT MATCHED THEN INSERT *;",
        );
        assert_eq!(w.into_iter().collect::<Vec<_>>(), ["a", "b", "c", "d"]);
    }
}
