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
///
/// `error` is the statement's own error, whole (a `DataFusionError` stays one; match on it
/// or call [`ScriptError::datafusion`]). It is part of the message, between the place and
/// the statement, so it is deliberately not the `source()`: the binary prints the chain
/// (`{:#}`), which would repeat it (the rule of src/error.rs).
#[derive(Debug, thiserror::Error)]
#[error("{source_name}:{line}: {error}\n  in statement: {statement}")]
pub struct ScriptError {
    pub source_name: String,
    pub line: usize,
    pub statement: String,
    pub error: Box<Error>,
}

impl ScriptError {
    /// The DataFusion error the statement failed with, if it was one.
    pub fn datafusion(&self) -> Option<&datafusion::error::DataFusionError> {
        match self.error.as_ref() {
            Error::DataFusion(e) => Some(e),
            _ => None,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::SessionOptions;
    use crate::warehouse::Warehouse;

    /// A failing statement keeps its DataFusion error typed, says file, line and statement,
    /// and prints the error once even when the chain is printed.
    #[tokio::test]
    async fn a_failing_statement_keeps_its_datafusion_error() {
        let tmp = tempfile::tempdir().unwrap();
        let exec = Executor::new(
            Warehouse::open(tmp.path()).unwrap(),
            &SessionOptions::default(),
        )
        .unwrap();
        let stmts = prepare("t.sql", "SELECT 1;\nSELECT no_such_column;\n", &Vars::new()).unwrap();
        let err = run(&exec, &stmts, false, &mut |_, _, _| Ok(()))
            .await
            .unwrap_err();
        assert_eq!((err.source_name.as_str(), err.line), ("t.sql", 2));
        assert_eq!(err.statement, "SELECT no_such_column");
        assert!(err.datafusion().is_some(), "{err:?}");
        let message = err.to_string();
        assert!(message.starts_with("t.sql:2: "), "{message}");
        assert!(
            message.ends_with("in statement: SELECT no_such_column"),
            "{message}"
        );
        // The chain adds nothing: the error is in the message, not also the source.
        assert_eq!(format!("{:#}", anyhow::Error::new(err)), message);
    }
}
