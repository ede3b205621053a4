//! Token-level rewrites applied before DataFusion parses a statement:
//!
//! - **Time travel.** `t VERSION AS OF 3`, `t TIMESTAMP AS OF '…'` and Trino's `t FOR VERSION
//!   AS OF 3` / `FOR TIMESTAMP AS OF` become a reference to a snapshot registered for this one
//!   statement. DataFusion would otherwise reject them, or (Databricks dialect) silently read
//!   the current version.
//! - **Change data feed.** `table_changes('t', from [, to])` becomes a reference to the
//!   loaded change rows.
//! - **Delta tables by path.** `delta_scan('dir' [, version | 'timestamp'])` and
//!   `'dir' VERSION AS OF n` become a reference to that Delta table (at that version), read
//!   through its log.
//! - **CREATE TABLE options.** `PARTITIONED BY (cols)`, `TBLPROPERTIES (…)` and `USING DELTA`
//!   are taken out of `CREATE TABLE` and returned; DataFusion plans the rest.

use std::collections::BTreeMap;

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Word};

use crate::catalog::VersionSpec;
use crate::error::{Error, Result};
use crate::sql::tokens::{is_blank, keyword};

/// A table reference that the executor must resolve before planning.
#[derive(Debug, Clone, PartialEq)]
pub enum PinnedRef {
    /// A past version of a warehouse table.
    Version { table: String, spec: VersionSpec },
    /// Change rows of a table between two versions (inclusive).
    Changes {
        table: String,
        start: u64,
        end: Option<u64>,
    },
    /// The Delta table in a directory named by path, at a version.
    Path { path: String, spec: VersionSpec },
}

/// `(name the statement now uses, what it stands for)`.
pub type Pinned = Vec<(String, PinnedRef)>;

fn next_non_blank(toks: &[Token], from: usize) -> Option<usize> {
    (from..toks.len()).find(|&i| !is_blank(&toks[i]))
}

fn prev_non_blank(toks: &[Token], before: usize) -> Option<usize> {
    (0..before).rev().find(|&i| !is_blank(&toks[i]))
}

fn ident(name: &str) -> Token {
    Token::Word(Word {
        value: name.to_string(),
        quote_style: Some('"'),
        keyword: Keyword::NoKeyword,
    })
}

fn word_name(t: &Token) -> Option<String> {
    match t {
        Token::Word(w) if w.quote_style.is_some() => Some(w.value.clone()),
        Token::Word(w) => Some(w.value.to_ascii_lowercase()),
        _ => None,
    }
}

/// Matches a time-travel clause starting at `i`; returns (spec, index after the clause).
fn match_time_travel(toks: &[Token], i: usize) -> Result<Option<(VersionSpec, usize)>> {
    let mut j = i;
    let kw = |k: usize| toks.get(k).and_then(keyword);
    if kw(j).as_deref() == Some("FOR") {
        j = match next_non_blank(toks, j + 1) {
            Some(n) => n,
            None => return Ok(None),
        };
    }
    let kind = match kw(j).as_deref() {
        Some(k @ ("VERSION" | "TIMESTAMP" | "SYSTEM_TIME" | "SYSTEM_VERSION")) => k.to_string(),
        _ => return Ok(None),
    };
    let Some(a) = next_non_blank(toks, j + 1) else {
        return Ok(None);
    };
    let Some(o) = next_non_blank(toks, a + 1) else {
        return Ok(None);
    };
    if kw(a).as_deref() != Some("AS") || kw(o).as_deref() != Some("OF") {
        return Ok(None);
    }
    let Some(mut v) = next_non_blank(toks, o + 1) else {
        return Err(Error::Sql(format!("{kind} AS OF needs a value")));
    };
    // `TIMESTAMP AS OF TIMESTAMP '…'` is accepted too.
    if kw(v).as_deref() == Some("TIMESTAMP") {
        v = next_non_blank(toks, v + 1).unwrap_or(v);
    }
    let spec = match (&kind[..], &toks[v]) {
        ("VERSION" | "SYSTEM_VERSION", Token::Number(n, _)) => {
            VersionSpec::Version(n.parse::<u64>().map_err(|_| {
                Error::Sql(format!("VERSION AS OF {n}: a version is a whole number"))
            })?)
        }
        ("TIMESTAMP" | "SYSTEM_TIME", Token::SingleQuotedString(s)) => {
            VersionSpec::Timestamp(s.clone())
        }
        (k, t) => {
            return Err(Error::Sql(format!(
                "{k} AS OF expects {}, found '{t}'",
                if k.contains("VERSION") {
                    "a version number"
                } else {
                    "a quoted timestamp such as '2026-01-01 00:00:00'"
                }
            )));
        }
    };
    Ok(Some((spec, v + 1)))
}

/// Puts a generated name (`<prefix>_<n>`) into the statement for what `r` stands for.
fn pin_as(out: &mut Vec<Token>, pinned: &mut Pinned, prefix: &str, r: PinnedRef) {
    let name = format!("{prefix}_{}", pinned.len());
    out.push(ident(&name));
    pinned.push((name, r));
}

/// Replaces time-travel references and `table_changes(…)` with generated names.
pub fn pin_references(toks: &[Token]) -> Result<(Vec<Token>, Pinned)> {
    let mut out: Vec<Token> = Vec::with_capacity(toks.len());
    let mut pinned: Pinned = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        // table_changes('t', a [, b])
        if keyword(&toks[i]).as_deref() == Some("TABLE_CHANGES")
            && let Some((r, end)) = match_table_changes(toks, i)?
        {
            pin_as(&mut out, &mut pinned, "__changes", r);
            i = end;
            continue;
        }
        // delta_scan('dir' [, version | 'timestamp'])
        if keyword(&toks[i]).as_deref() == Some("DELTA_SCAN")
            && let Some((r, end)) = match_delta_scan(toks, i)?
        {
            pin_as(&mut out, &mut pinned, "__path", r);
            i = end;
            continue;
        }
        if let Some((spec, end)) = match_time_travel(toks, i)? {
            // `'dir' VERSION AS OF n`: a Delta table named by its path.
            if let Some(k) = prev_non_blank(&out, out.len())
                && let Token::SingleQuotedString(path) = &out[k]
            {
                let path = path.clone();
                out.truncate(k);
                pin_as(
                    &mut out,
                    &mut pinned,
                    "__path",
                    PinnedRef::Path { path, spec },
                );
                i = end;
                continue;
            }
            // The table name is the word (or dotted words) just before the clause.
            let name_end = prev_non_blank(&out, out.len());
            let table = name_end.and_then(|k| word_name(&out[k]));
            if let (Some(k), Some(table)) = (name_end, table) {
                let mut start = k;
                while start >= 2 && matches!(out[start - 1], Token::Period) {
                    start -= 2;
                }
                out.truncate(start);
                let name = format!("__version_{}", pinned.len());
                out.push(ident(&name));
                // Keep `t.col` working when the user wrote no alias.
                let has_alias = next_non_blank(toks, end).is_some_and(|n| {
                    matches!(&toks[n], Token::Word(w)
                        if w.keyword == Keyword::AS || w.keyword == Keyword::NoKeyword)
                });
                if !has_alias {
                    out.push(Token::Whitespace(
                        datafusion::sql::sqlparser::tokenizer::Whitespace::Space,
                    ));
                    out.push(Token::make_keyword("AS"));
                    out.push(Token::Whitespace(
                        datafusion::sql::sqlparser::tokenizer::Whitespace::Space,
                    ));
                    out.push(ident(&table));
                }
                pinned.push((name, PinnedRef::Version { table, spec }));
                i = end;
                continue;
            }
        }
        out.push(toks[i].clone());
        i += 1;
    }
    Ok((out, pinned))
}

/// The arguments of `name(a, b, …)` starting at the name's index `i`, each a single token,
/// and the index after `)`. None when no `(` follows (then it is not a call).
fn call_args(toks: &[Token], i: usize, usage: &str) -> Result<Option<(Vec<Token>, usize)>> {
    let Some(open) = next_non_blank(toks, i + 1) else {
        return Ok(None);
    };
    if !matches!(toks[open], Token::LParen) {
        return Ok(None);
    }
    let mut args = Vec::new();
    let mut k = open + 1;
    loop {
        let Some(n) = next_non_blank(toks, k) else {
            return Err(Error::Sql(format!("unclosed {usage}")));
        };
        match &toks[n] {
            Token::RParen => {
                k = n + 1;
                break;
            }
            Token::Comma => k = n + 1,
            t => {
                args.push(t.clone());
                k = n + 1;
            }
        }
    }
    Ok(Some((args, k)))
}

fn match_delta_scan(toks: &[Token], i: usize) -> Result<Option<(PinnedRef, usize)>> {
    let usage = "delta_scan('path' [, version | 'timestamp'])";
    let Some((args, k)) = call_args(toks, i, usage)? else {
        return Ok(None);
    };
    let path = match args.first() {
        Some(Token::SingleQuotedString(s)) => s.clone(),
        _ => return Err(Error::Sql(format!("syntax: {usage}"))),
    };
    let spec = match args.get(1) {
        None => VersionSpec::Latest,
        Some(Token::Number(n, _)) => VersionSpec::Version(
            n.parse::<u64>()
                .map_err(|_| Error::Sql(format!("{usage}: '{n}' is not a version")))?,
        ),
        Some(Token::SingleQuotedString(s)) => VersionSpec::Timestamp(s.clone()),
        Some(t) => return Err(Error::Sql(format!("{usage}: '{t}' is not a version"))),
    };
    if args.len() > 2 {
        return Err(Error::Sql(format!("syntax: {usage}")));
    }
    Ok(Some((PinnedRef::Path { path, spec }, k)))
}

fn match_table_changes(toks: &[Token], i: usize) -> Result<Option<(PinnedRef, usize)>> {
    let usage = "table_changes('table', start_version [, end_version])";
    let Some((args, k)) = call_args(toks, i, usage)? else {
        return Ok(None);
    };
    let table = match args.first() {
        Some(Token::SingleQuotedString(s)) => s.clone(),
        Some(t) => word_name(t).ok_or_else(|| Error::Sql(format!("syntax: {usage}")))?,
        None => return Err(Error::Sql(format!("syntax: {usage}"))),
    };
    let num = |t: Option<&Token>| -> Result<Option<u64>> {
        match t {
            None => Ok(None),
            Some(Token::Number(n, _)) => n
                .parse::<u64>()
                .map(Some)
                .map_err(|_| Error::Sql(format!("{usage}: '{n}' is not a version"))),
            Some(t) => Err(Error::Sql(format!("{usage}: '{t}' is not a version"))),
        }
    };
    let start = num(args.get(1))?.ok_or_else(|| Error::Sql(format!("syntax: {usage}")))?;
    let end = num(args.get(2))?;
    if args.len() > 3 {
        return Err(Error::Sql(format!("syntax: {usage}")));
    }
    Ok(Some((PinnedRef::Changes { table, start, end }, k)))
}

/// Options stockroom takes out of `CREATE TABLE`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CreateOptions {
    /// `CREATE TEMP TABLE`: an in-memory table of this session, not a Delta table.
    pub temporary: bool,
    pub partition_by: Vec<String>,
    pub properties: BTreeMap<String, String>,
}

/// If the statement is `CREATE [OR REPLACE] TABLE` (not EXTERNAL), removes `PARTITIONED BY
/// (…)`, `TBLPROPERTIES (…)` and `USING DELTA` and returns them.
pub fn extract_create_options(toks: &[Token]) -> Result<Option<(Vec<Token>, CreateOptions)>> {
    let words: Vec<String> = toks
        .iter()
        .filter(|t| !is_blank(t))
        .take(5)
        .map(|t| keyword(t).unwrap_or_default())
        .collect();
    // CREATE [OR REPLACE] [TEMP|TEMPORARY] TABLE
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    let after_create = if w(1) == "OR" { 3 } else { 1 };
    let temporary = matches!(w(after_create), "TEMP" | "TEMPORARY");
    let table_at = after_create + usize::from(temporary);
    if w(0) != "CREATE" || w(table_at) != "TABLE" {
        return Ok(None);
    }
    let mut opts = CreateOptions {
        temporary,
        ..Default::default()
    };
    // DataFusion's planner refuses TEMP tables; the executor makes them memory tables.
    let toks: Vec<Token> = if temporary {
        let mut seen = 0;
        toks.iter()
            .filter(|t| {
                if is_blank(t) {
                    return true;
                }
                seen += 1;
                !(seen == after_create + 1
                    && matches!(keyword(t).as_deref(), Some("TEMP" | "TEMPORARY")))
            })
            .cloned()
            .collect()
    } else {
        toks.to_vec()
    };
    let toks = &toks[..];
    let mut out = Vec::with_capacity(toks.len());
    let mut depth = 0i32;
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i];
        match t {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            _ => {}
        }
        let kw = keyword(t);
        if depth == 0 && kw.as_deref() == Some("AS") {
            // The query starts: nothing after this is ours.
            out.extend_from_slice(&toks[i..]);
            break;
        }
        if depth == 0
            && kw.as_deref() == Some("USING")
            && let Some(n) = next_non_blank(toks, i + 1)
            && keyword(&toks[n]).as_deref() == Some("DELTA")
        {
            i = n + 1;
            continue;
        }
        if depth == 0 && kw.as_deref() == Some("PARTITIONED") {
            let by = next_non_blank(toks, i + 1)
                .filter(|&n| keyword(&toks[n]).as_deref() == Some("BY"))
                .ok_or_else(|| Error::Sql("expected BY after PARTITIONED".into()))?;
            let (items, end) = paren_list(toks, by + 1, "PARTITIONED BY")?;
            for item in items {
                opts.partition_by.push(word_name(&item).ok_or_else(|| {
                    Error::Sql(format!("PARTITIONED BY: '{item}' is not a column name"))
                })?);
            }
            i = end;
            continue;
        }
        if depth == 0 && kw.as_deref() == Some("TBLPROPERTIES") {
            let (items, end) = paren_list(toks, i + 1, "TBLPROPERTIES")?;
            for kv in items.chunks(3) {
                match kv {
                    [Token::SingleQuotedString(k), Token::Eq, v] => {
                        let v = match v {
                            Token::SingleQuotedString(s) => s.clone(),
                            other => other.to_string(),
                        };
                        opts.properties.insert(k.clone(), v);
                    }
                    _ => {
                        return Err(Error::Sql(
                            "syntax: TBLPROPERTIES ('key' = 'value', …)".into(),
                        ));
                    }
                }
            }
            i = end;
            continue;
        }
        out.push(t.clone());
        i += 1;
    }
    Ok(Some((out, opts)))
}

/// Reads `( a, b, … )` starting at the first non-blank token at or after `from`; returns the
/// non-comma tokens and the index after `)`.
fn paren_list(toks: &[Token], from: usize, what: &str) -> Result<(Vec<Token>, usize)> {
    let open = next_non_blank(toks, from)
        .filter(|&n| matches!(toks[n], Token::LParen))
        .ok_or_else(|| Error::Sql(format!("expected ( after {what}")))?;
    let mut items = Vec::new();
    let mut k = open + 1;
    loop {
        let n = next_non_blank(toks, k)
            .ok_or_else(|| Error::Sql(format!("expected ) to close {what}")))?;
        match &toks[n] {
            Token::RParen => return Ok((items, n + 1)),
            Token::Comma => {}
            t => items.push(t.clone()),
        }
        k = n + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::tokens::{render, tokenize};

    #[test]
    fn time_travel_forms() {
        let (t, p) =
            pin_references(&tokenize("SELECT * FROM s.t VERSION AS OF 3 WHERE x").unwrap())
                .unwrap();
        assert_eq!(render(&t), "SELECT * FROM \"__version_0\" AS \"t\" WHERE x");
        assert_eq!(
            p[0].1,
            PinnedRef::Version {
                table: "t".into(),
                spec: VersionSpec::Version(3)
            }
        );
        let (t, p) = pin_references(
            &tokenize("SELECT * FROM t FOR TIMESTAMP AS OF '2026-01-01 00:00:00' AS x").unwrap(),
        )
        .unwrap();
        assert_eq!(render(&t), "SELECT * FROM \"__version_0\" AS x");
        assert!(matches!(
            &p[0].1,
            PinnedRef::Version {
                spec: VersionSpec::Timestamp(_),
                ..
            }
        ));
        let (t, _) =
            pin_references(&tokenize("SELECT CAST(x AS TIMESTAMP) FROM t").unwrap()).unwrap();
        assert_eq!(render(&t), "SELECT CAST(x AS TIMESTAMP) FROM t");
    }

    #[test]
    fn delta_tables_by_path() {
        let (t, p) = pin_references(
            &tokenize("SELECT count(*) FROM delta_scan('/d/t', 2) s WHERE s.x > 1").unwrap(),
        )
        .unwrap();
        assert_eq!(
            render(&t),
            "SELECT count(*) FROM \"__path_0\" s WHERE s.x > 1"
        );
        assert_eq!(
            p[0].1,
            PinnedRef::Path {
                path: "/d/t".into(),
                spec: VersionSpec::Version(2)
            }
        );
        let (t, p) =
            pin_references(&tokenize("SELECT * FROM 'd/t/' VERSION AS OF 0").unwrap()).unwrap();
        assert_eq!(render(&t), "SELECT * FROM \"__path_0\"");
        assert_eq!(
            p[0].1,
            PinnedRef::Path {
                path: "d/t/".into(),
                spec: VersionSpec::Version(0)
            }
        );
        assert!(pin_references(&tokenize("SELECT * FROM delta_scan(1)").unwrap()).is_err());
    }

    #[test]
    fn table_changes() {
        let (t, p) =
            pin_references(&tokenize("SELECT * FROM table_changes('inv', 1, 4) c").unwrap())
                .unwrap();
        assert_eq!(render(&t), "SELECT * FROM \"__changes_0\" c");
        assert_eq!(
            p[0].1,
            PinnedRef::Changes {
                table: "inv".into(),
                start: 1,
                end: Some(4)
            }
        );
    }

    #[test]
    fn create_options() {
        let (t, o) = extract_create_options(
            &tokenize("CREATE OR REPLACE TABLE s USING DELTA PARTITIONED BY (d, store) TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true') AS SELECT 1 AS d").unwrap(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(o.partition_by, vec!["d", "store"]);
        assert_eq!(o.properties["delta.enableChangeDataFeed"], "true");
        assert_eq!(
            render(&t).split_whitespace().collect::<Vec<_>>().join(" "),
            "CREATE OR REPLACE TABLE s AS SELECT 1 AS d"
        );
        assert!(
            extract_create_options(
                &tokenize("CREATE EXTERNAL TABLE x STORED AS CSV LOCATION 'a'").unwrap()
            )
            .unwrap()
            .is_none()
        );
    }
}
