//! Running a SQL script: split into statements, substitute variables (all of them checked
//! before anything runs), execute in order, stop at the first failure with file and line.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::exec::{Executor, Outcome};
use crate::sql::split::split_statements;
use crate::sql::vars::{Vars, substitute};

/// A statement of a script, ready to run.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub source: String,
    pub line: usize,
    pub sql: String,
}

/// A failure while running a script, with where it happened.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}:{line}: {error}\n  in statement: {statement}")]
pub struct ScriptError {
    pub source_name: String,
    pub line: usize,
    pub statement: String,
    #[source]
    pub error: Box<Error>,
}

/// Splits and substitutes a whole script up front, so an undefined variable is reported
/// before any statement runs.
pub fn prepare(
    source: &str,
    text: &str,
    vars: &Vars,
) -> std::result::Result<Vec<Prepared>, ScriptError> {
    prepare_verbatim(source, text)
        .into_iter()
        .map(|p| match substitute(&p.sql, vars) {
            Ok(sql) => Ok(Prepared { sql, ..p }),
            Err(error) => Err(ScriptError {
                source_name: p.source,
                line: p.line,
                statement: abbreviate(&p.sql),
                error: Box::new(error),
            }),
        })
        .collect()
}

/// Splits a script the program composed itself (framework SQL) without substituting
/// variables: the values in it (file names, run ids, messages) are already quoted literals,
/// and a `${…}` inside one is text, never a variable. Nothing here is scanned twice.
pub fn prepare_verbatim(source: &str, text: &str) -> Vec<Prepared> {
    let split = split_statements(text);
    let incomplete = split.has_incomplete();
    let mut out: Vec<Prepared> = split
        .statements
        .into_iter()
        .map(|s| Prepared {
            source: source.to_string(),
            line: s.line,
            sql: s.text,
        })
        .collect();
    if incomplete {
        out.push(Prepared {
            source: source.to_string(),
            line: split.rest_line,
            sql: split.rest.trim().to_string(),
        });
    }
    out
}

/// Runs prepared statements in order, calling `each` after every one.
pub async fn run(
    exec: &Executor,
    stmts: &[Prepared],
    dry_run: bool,
    each: &mut dyn FnMut(&Prepared, &Outcome, Duration) -> Result<()>,
) -> std::result::Result<usize, ScriptError> {
    for p in stmts {
        let started = Instant::now();
        let res = if dry_run {
            exec.plan_only(&p.sql).await
        } else {
            exec.execute(&p.sql).await
        };
        let wrap = |error| ScriptError {
            source_name: p.source.clone(),
            line: p.line,
            statement: abbreviate(&p.sql),
            error: Box::new(error),
        };
        let outcome = res.map_err(wrap)?;
        each(p, &outcome, started.elapsed()).map_err(wrap)?;
    }
    Ok(stmts.len())
}

/// First line of a statement, cut to 120 characters, for messages.
pub fn abbreviate(sql: &str) -> String {
    let one: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 120 {
        format!("{}…", one.chars().take(120).collect::<String>())
    } else {
        one
    }
}
