//! `${name}` variables in SQL, substituted before parsing.
//!
//! - `${name}` becomes an escaped SQL string literal (`'O''Brien'`); inside a quoted string it
//!   becomes the escaped text without new quotes, so it can never end the string (inside
//!   `E'…'` backslashes are escaped too; inside `$tag$…$tag$` a value holding the closing
//!   delimiter is refused).
//! - `${name:ident}` becomes a quoted identifier (`"my table"`).
//! - `${name:raw}` is pasted verbatim: the one explicit opt-in to SQL injection.
//!
//! Comments are left alone. An undefined variable is an error. Strings and comments are
//! those of [`crate::sql::scan`], the scanner statement splitting uses too.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::sql::quote;
use crate::sql::scan::{self, Segment, segments};

pub type Vars = BTreeMap<String, String>;

/// Names of the variables `sql` uses (outside comments), in order of first use.
pub fn used_variables(sql: &str) -> Vec<String> {
    let mut names = Vec::new();
    let _ = scan(sql, &mut |name, _, _| {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
        Ok(String::new())
    });
    names
}

/// Replaces every variable; fails on the first undefined one.
pub fn substitute(sql: &str, vars: &Vars) -> Result<String> {
    let mut missing = None;
    let out = scan(sql, &mut |name, kind, inside| {
        let Some(value) = vars.get(name) else {
            missing.get_or_insert_with(|| name.to_string());
            return Ok(String::new());
        };
        Ok(match (kind, inside) {
            (Kind::Raw, _) => value.clone(),
            (_, Inside::Quoted) => quote::escape_literal(value),
            (_, Inside::EscapeQuoted) => quote::escape_escape_literal(value),
            (_, Inside::QuotedIdent) => quote::escape_ident(value),
            (_, Inside::DollarQuoted(close)) => {
                if value.contains(close) {
                    return Err(Error::VariableEndsQuote {
                        name: name.to_string(),
                        delimiter: close.to_string(),
                    });
                }
                value.clone()
            }
            (Kind::Literal, Inside::Code) => quote::literal(value),
            (Kind::Ident, Inside::Code) => quote::ident(value),
        })
    })?;
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

/// Where a `${…}` stands.
#[derive(Clone, Copy)]
enum Inside<'a> {
    Code,
    Quoted,
    EscapeQuoted,
    QuotedIdent,
    /// With the closing delimiter.
    DollarQuoted(&'a str),
}

type Replace<'r> = dyn FnMut(&str, Kind, Inside<'_>) -> Result<String> + 'r;

/// Walks `sql`, calling `replace(name, kind, where)` for each `${…}` outside comments and
/// returning the text with the replacements.
fn scan(sql: &str, replace: &mut Replace<'_>) -> Result<String> {
    let mut out = String::with_capacity(sql.len());
    for seg in segments(sql) {
        let inside = match seg.kind {
            scan::Kind::Code => Inside::Code,
            scan::Kind::Quoted => Inside::Quoted,
            scan::Kind::EscapeQuoted => Inside::EscapeQuoted,
            scan::Kind::QuotedIdent => Inside::QuotedIdent,
            scan::Kind::DollarQuoted => Inside::DollarQuoted(seg.delimiters(sql).1),
            scan::Kind::LineComment | scan::Kind::BlockComment => {
                out.push_str(seg.text(sql));
                continue;
            }
        };
        substitute_in(sql, &seg, inside, replace, &mut out)?;
    }
    Ok(out)
}

/// The `${…}` of one segment replaced, appended to `out`.
fn substitute_in(
    sql: &str,
    seg: &Segment,
    inside: Inside<'_>,
    replace: &mut Replace<'_>,
    out: &mut String,
) -> Result<()> {
    let mut rest = seg.text(sql);
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let spec = after.find('}').map(|close| {
            let inner = &after[..close];
            let (name, kind) = match inner.split_once(':') {
                Some((n, "ident")) => (n, Some(Kind::Ident)),
                Some((n, "raw")) => (n, Some(Kind::Raw)),
                Some(_) => (inner, None),
                None => (inner, Some(Kind::Literal)),
            };
            let valid =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            (name, kind.filter(|_| valid), close)
        });
        match spec {
            Some((name, Some(kind), close)) => {
                out.push_str(&replace(name, kind, inside)?);
                rest = &after[close + 1..];
            }
            _ => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(())
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

    /// Each `${…}` is replaced for the quote it stands in; comments keep theirs.
    #[test]
    fn tricky_quotes_and_comments() {
        let v = vars(&[
            ("x", "o'k"),
            ("y", "q\"q"),
            ("z", "Z"),
            ("w", "W"),
            ("v", "b\\'"),
            ("u", "U"),
            ("t", "T"),
        ]);
        let out = substitute(crate::sql::scan::tests::TRICKY, &v).unwrap();
        assert!(
            out.starts_with("SELECT 'a;b o''k -- not a comment'"),
            "{out}"
        );
        assert!(out.contains("\"col;q\"\"q\"\"q\""), "{out}");
        assert!(out.contains("-- c1; ${z} 'x"), "{out}");
        assert!(out.contains("/* inner ; ${w} */"), "{out}");
        // b\' inside E'…': the backslash doubled, the quote doubled.
        assert!(out.contains(r"E'e\'s;b\\''\\'"), "{out}");
        assert!(out.contains("$$d;'U$$"), "{out}");
        assert!(out.contains("$tag$ $$;T $tag$"), "{out}");
        // The result still splits where the original did.
        let count = |sql: &str| crate::sql::split::split_statements(sql).statements.len();
        assert_eq!(count(&out), count(crate::sql::scan::tests::TRICKY));
        let breaking = vars(&[("t", "x $tag$; DROP TABLE t")]);
        assert!(matches!(
            substitute("SELECT $tag$ ${t} $tag$", &breaking),
            Err(Error::VariableEndsQuote { .. })
        ));
    }
}
