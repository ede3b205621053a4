//! `${name}` variables in SQL, substituted before parsing.
//!
//! - `${name}` becomes an escaped SQL string literal (`'O''Brien'`); inside a quoted string it
//!   becomes the escaped text without new quotes, so it can never end the string.
//! - `${name:ident}` becomes a quoted identifier (`"my table"`).
//! - `${name:raw}` is pasted verbatim: the one explicit opt-in to SQL injection.
//!
//! Comments are left alone. An undefined variable is an error.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

pub type Vars = BTreeMap<String, String>;

/// Names of the variables `sql` uses (outside comments), in order of first use.
pub fn used_variables(sql: &str) -> Vec<String> {
    let mut names = Vec::new();
    scan(sql, &mut |name, _, _| {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
        String::new()
    });
    names
}

/// Replaces every variable; fails on the first undefined one.
pub fn substitute(sql: &str, vars: &Vars) -> Result<String> {
    let mut missing = None;
    let out = scan(sql, &mut |name, kind, in_string| {
        let Some(value) = vars.get(name) else {
            missing.get_or_insert_with(|| name.to_string());
            return String::new();
        };
        match (kind, in_string) {
            (Kind::Raw, _) => value.clone(),
            (_, Some('\'')) => value.replace('\'', "''"),
            (_, Some(_)) => value.replace('"', "\"\""),
            (Kind::Literal, None) => format!("'{}'", value.replace('\'', "''")),
            (Kind::Ident, None) => format!("\"{}\"", value.replace('"', "\"\"")),
        }
    });
    match missing {
        Some(name) => Err(Error::UndefinedVariable(name)),
        None => Ok(out),
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Literal,
    Ident,
    Raw,
}

/// Walks `sql`, calling `replace(name, kind, enclosing_quote)` for each `${…}` outside
/// comments and returning the text with the replacements.
fn scan(sql: &str, replace: &mut dyn FnMut(&str, Kind, Option<char>) -> String) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut chars = sql.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            (None, '-') if sql[i..].starts_with("--") => {
                let end = sql[i..].find('\n').map(|p| i + p).unwrap_or(sql.len());
                out.push_str(&sql[i..end]);
                while chars.peek().is_some_and(|(j, _)| *j < end) {
                    chars.next();
                }
                continue;
            }
            (None, '/') if sql[i..].starts_with("/*") => {
                let end = sql[i + 2..]
                    .find("*/")
                    .map(|p| i + p + 4)
                    .unwrap_or(sql.len());
                out.push_str(&sql[i..end]);
                while chars.peek().is_some_and(|(j, _)| *j < end) {
                    chars.next();
                }
                continue;
            }
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), _) if q == c => quote = None,
            (_, '$') if sql[i..].starts_with("${") => {
                if let Some(close) = sql[i + 2..].find('}') {
                    let inner = &sql[i + 2..i + 2 + close];
                    let (name, kind) = match inner.split_once(':') {
                        Some((n, "ident")) => (n, Some(Kind::Ident)),
                        Some((n, "raw")) => (n, Some(Kind::Raw)),
                        Some(_) => (inner, None),
                        None => (inner, Some(Kind::Literal)),
                    };
                    let valid = !name.is_empty()
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                    if let (true, Some(kind)) = (valid, kind) {
                        out.push_str(&replace(name, kind, quote));
                        let end = i + 2 + close + 1;
                        while chars.peek().is_some_and(|(j, _)| *j < end) {
                            chars.next();
                        }
                        continue;
                    }
                }
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn literal_ident_raw() {
        let v = vars(&[("d", "2024-01-01"), ("t", "my \"t\""), ("n", "10")]);
        let s = substitute("SELECT * FROM ${t:ident} WHERE d = ${d} LIMIT ${n:raw}", &v).unwrap();
        assert_eq!(
            s,
            "SELECT * FROM \"my \"\"t\"\"\" WHERE d = '2024-01-01' LIMIT 10"
        );
    }

    #[test]
    fn hostile_values_stay_literals() {
        let v = vars(&[("x", "x'; DROP TABLE t; --")]);
        assert_eq!(
            substitute("SELECT ${x}", &v).unwrap(),
            "SELECT 'x''; DROP TABLE t; --'"
        );
        assert_eq!(
            substitute("SELECT 'pre_${x}'", &v).unwrap(),
            "SELECT 'pre_x''; DROP TABLE t; --'"
        );
    }

    #[test]
    fn comments_untouched_and_missing_errors() {
        let v = vars(&[]);
        assert_eq!(
            substitute("-- ${x}\nSELECT 1", &v).unwrap(),
            "-- ${x}\nSELECT 1"
        );
        assert!(matches!(
            substitute("SELECT ${nope}", &v),
            Err(Error::UndefinedVariable(n)) if n == "nope"
        ));
        assert_eq!(
            used_variables("SELECT ${a}, ${b:raw}, ${a}"),
            vec!["a", "b"]
        );
    }
}
