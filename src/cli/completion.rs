//! Tab completion for the shell.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Mutex;

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};
use stockroom::Warehouse;
use stockroom::catalog::{VersionSpec, open_delta};

pub const KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP BY",
    "ORDER BY",
    "LIMIT",
    "JOIN",
    "LEFT JOIN",
    "ON",
    "AS",
    "AND",
    "OR",
    "NOT",
    "NULL",
    "INSERT INTO",
    "VALUES",
    "MERGE INTO",
    "USING",
    "WHEN MATCHED",
    "WHEN NOT MATCHED",
    "THEN",
    "UPDATE",
    "SET",
    "DELETE FROM",
    "CREATE TABLE",
    "PARTITIONED BY",
    "VERSION AS OF",
    "TIMESTAMP AS OF",
    "DESCRIBE",
    "DESCRIBE HISTORY",
    "OPTIMIZE",
    "VACUUM",
    "RESTORE",
    "SHOW TABLES",
    "COUNT",
    "SUM",
    "AVG",
    "MIN",
    "MAX",
    "DISTINCT",
    "HAVING",
    "WITH",
    "CASE",
    "END",
    "table_changes",
    "delta_scan",
];

/// Completes SQL keywords, meta-commands, table names, UDF names and column names: after
/// `table.` the columns of that table, elsewhere also the columns of tables the line names.
/// Columns are read from a table's Delta schema the first time they are needed, then cached.
pub struct SqlHelper {
    words: Vec<String>,
    warehouse: Warehouse,
    runtime: tokio::runtime::Handle,
    columns: Mutex<HashMap<String, Vec<String>>>,
}

impl SqlHelper {
    pub fn new(words: Vec<String>, warehouse: Warehouse) -> Self {
        Self {
            words,
            warehouse,
            runtime: tokio::runtime::Handle::current(),
            columns: Mutex::new(HashMap::new()),
        }
    }

    /// New words after a statement (tables may have appeared); columns may have changed too.
    pub fn set_words(&mut self, words: Vec<String>) {
        self.words = words;
        if let Ok(mut c) = self.columns.lock() {
            c.clear();
        }
    }

    fn columns_of(&self, table: &str) -> Vec<String> {
        if !self.warehouse.is_table(table) {
            return Vec::new();
        }
        if let Some(c) = self.columns.lock().ok().and_then(|c| c.get(table).cloned()) {
            return c;
        }
        // Called from readline's blocking thread, so waiting here is allowed.
        let dir = self.warehouse.table_dir(table);
        let cols = self
            .runtime
            .block_on(open_delta(&dir, &VersionSpec::Latest))
            .ok()
            .and_then(|t| {
                t.snapshot().ok().map(|s| {
                    s.snapshot()
                        .arrow_schema()
                        .fields()
                        .iter()
                        .map(|f| f.name().clone())
                        .collect::<Vec<_>>()
                })
            })
            .unwrap_or_default();
        if let Ok(mut c) = self.columns.lock() {
            c.insert(table.to_string(), cols.clone());
        }
        cols
    }
}

impl Completer for SqlHelper {
    type Candidate = Pair;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let start = line[..pos]
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '\\' || c == '.'))
            .map(|i| i + 1)
            .unwrap_or(0);
        let word = &line[start..pos];
        if word.is_empty() {
            return Ok((pos, Vec::new()));
        }
        // `table.col…`: that table's columns.
        if let Some((table, prefix)) = word.rsplit_once('.') {
            let lower = prefix.to_ascii_lowercase();
            let pairs = self
                .columns_of(&table.to_ascii_lowercase())
                .into_iter()
                .filter(|c| c.to_ascii_lowercase().starts_with(&lower))
                .map(|c| Pair {
                    display: c.clone(),
                    replacement: c,
                })
                .collect();
            return Ok((start + table.len() + 1, pairs));
        }
        let lower = word.to_ascii_lowercase();
        // Columns of every table the line mentions (e.g. in a SELECT list before FROM t).
        let mentioned: Vec<String> = line
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| self.words.iter().any(|t| t == w) && self.warehouse.is_table(w))
            .flat_map(|t| self.columns_of(t))
            .collect();
        let mut seen = std::collections::HashSet::new();
        let pairs = self
            .words
            .iter()
            .chain(mentioned.iter())
            .filter(|w| w.to_ascii_lowercase().starts_with(&lower))
            .filter(|w| seen.insert(w.to_string()))
            .map(|w| {
                let rep = if word.chars().all(|c| c.is_lowercase() || !c.is_alphabetic())
                    && KEYWORDS.contains(&w.as_str())
                {
                    w.to_ascii_lowercase()
                } else {
                    w.clone()
                };
                Pair {
                    display: w.clone(),
                    replacement: rep,
                }
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for SqlHelper {
    type Hint = String;
}
impl Highlighter for SqlHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        Cow::Borrowed(line)
    }
}
impl Validator for SqlHelper {}
impl Helper for SqlHelper {}
