//! The one lexical scanner for SQL text before it is parsed: it cuts a text into code,
//! string literals, quoted identifiers and comments, following the rules of sqlparser's
//! tokenizer for the generic dialect DataFusion uses:
//!
//! - `'…'` with `''` for a quote (also `N'…'`, `X'…'`: the prefix stays code);
//! - `E'…'`: backslash escapes the next character (`E'it\'s'`), `''` works too;
//! - `"…"` quoted identifiers with `""` for a quote;
//! - `$$…$$` and `$tag$…$tag$` dollar-quoted strings (nothing inside is special);
//! - `-- …` to the end of the line, and `/* … */`, which nests.
//!
//! Statement splitting ([`crate::sql::split`]) and `${var}` substitution
//! ([`crate::sql::vars`]) both walk these segments, so they cannot disagree about where a
//! string or comment ends.

use std::ops::Range;

/// What a piece of SQL text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Code,
    /// `'…'`.
    Quoted,
    /// `E'…'` (backslash escapes).
    EscapeQuoted,
    /// `"…"`.
    QuotedIdent,
    /// `$$…$$` or `$tag$…$tag$`.
    DollarQuoted,
    LineComment,
    BlockComment,
}

impl Kind {
    pub fn is_comment(self) -> bool {
        matches!(self, Kind::LineComment | Kind::BlockComment)
    }

    /// A string literal or quoted identifier.
    pub fn is_quoted(self) -> bool {
        matches!(
            self,
            Kind::Quoted | Kind::EscapeQuoted | Kind::QuotedIdent | Kind::DollarQuoted
        )
    }
}

/// One piece of the text, with its delimiters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub kind: Kind,
    /// Byte range in the scanned text, delimiters included.
    pub range: Range<usize>,
    /// False for a string or block comment still open at the end of the text.
    pub closed: bool,
}

impl Segment {
    pub fn text<'a>(&self, sql: &'a str) -> &'a str {
        &sql[self.range.clone()]
    }

    /// The opening and closing delimiter of a quoted segment (`'`, `E'`, `"`, `$tag$`).
    pub fn delimiters<'a>(&self, sql: &'a str) -> (&'a str, &'a str) {
        let text = self.text(sql);
        let open = match self.kind {
            Kind::Quoted | Kind::QuotedIdent => 1,
            Kind::EscapeQuoted => 2,
            Kind::DollarQuoted => text[1..].find('$').map(|p| p + 2).unwrap_or(1),
            Kind::LineComment => 2,
            Kind::BlockComment => 2,
            Kind::Code => 0,
        };
        let open = open.min(text.len());
        let close = match (self.kind, self.closed) {
            (Kind::Code | Kind::LineComment, _) | (_, false) => 0,
            (Kind::EscapeQuoted, true) => 1,
            (Kind::BlockComment, true) => 2,
            (_, true) => open,
        };
        let close = close.min(text.len() - open);
        (&text[..open], &text[text.len() - close..])
    }
}

/// Cuts `sql` into segments that cover it, in order.
pub fn segments(sql: &str) -> Vec<Segment> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut code_start = 0;
    let mut i = 0;
    while i < b.len() {
        let next = b.get(i + 1).copied();
        // Quotes and `$` start something new only where a token can start, not inside a
        // word (`E'…'` vs `NAME'…'`, `$tag$` vs `a$b`).
        let after_word = i > 0 && is_word_byte(b[i - 1]);
        let found = match b[i] {
            b'\'' => Some((Kind::Quoted, quoted(b, i + 1, b'\'', false))),
            b'E' | b'e' if next == Some(b'\'') && !after_word => {
                Some((Kind::EscapeQuoted, quoted(b, i + 2, b'\'', true)))
            }
            b'"' => Some((Kind::QuotedIdent, quoted(b, i + 1, b'"', false))),
            b'-' if next == Some(b'-') => {
                let end = sql[i..].find('\n').map(|p| i + p).unwrap_or(b.len());
                Some((Kind::LineComment, (end, true)))
            }
            b'/' if next == Some(b'*') => Some((Kind::BlockComment, block_comment(b, i + 2))),
            b'$' if !after_word => {
                dollar_tag(b, i).map(|open| match sql[open.end..].find(&sql[open.clone()]) {
                    Some(p) => (Kind::DollarQuoted, (open.end + p + open.len(), true)),
                    None => (Kind::DollarQuoted, (b.len(), false)),
                })
            }
            _ => None,
        };
        let Some((kind, (end, closed))) = found else {
            i += 1;
            continue;
        };
        if code_start < i {
            out.push(Segment {
                kind: Kind::Code,
                range: code_start..i,
                closed: true,
            });
        }
        out.push(Segment {
            kind,
            range: i..end,
            closed,
        });
        i = end;
        code_start = end;
    }
    if code_start < b.len() {
        out.push(Segment {
            kind: Kind::Code,
            range: code_start..b.len(),
            closed: true,
        });
    }
    out
}

/// Letters, digits, `_`, `$` and any non-ASCII byte continue a word.
fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

/// End (exclusive) of a quoted text whose body starts at `from`, and whether it closed.
fn quoted(b: &[u8], from: usize, q: u8, backslash: bool) -> (usize, bool) {
    let mut j = from;
    while j < b.len() {
        if backslash && b[j] == b'\\' {
            j += 2;
            continue;
        }
        if b[j] == q {
            if b.get(j + 1) == Some(&q) {
                j += 2;
                continue;
            }
            return (j + 1, true);
        }
        j += 1;
    }
    (b.len(), false)
}

/// End of a (nesting) block comment whose body starts at `from`.
fn block_comment(b: &[u8], from: usize) -> (usize, bool) {
    let mut depth = 1;
    let mut j = from;
    while j < b.len() {
        match (b[j], b.get(j + 1)) {
            (b'*', Some(b'/')) => {
                depth -= 1;
                j += 2;
                if depth == 0 {
                    return (j, true);
                }
            }
            (b'/', Some(b'*')) => {
                depth += 1;
                j += 2;
            }
            _ => j += 1,
        }
    }
    (b.len(), false)
}

/// The opening delimiter `$$` or `$tag$` at `i`, if there is one (`$1` is a parameter).
fn dollar_tag(b: &[u8], i: usize) -> Option<Range<usize>> {
    let mut j = i + 1;
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
        j += 1;
    }
    (b.get(j) == Some(&b'$')).then_some(i..j + 1)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

    /// Every kind of quote and comment, each holding what would end or start something
    /// else: `;`, `${…}`, other quotes, comment markers.
    pub(crate) const TRICKY: &str = "SELECT 'a;b ${x} -- not a comment', 'it''s; /* no */';\n\
        SELECT \"col;${y}\"\"q\" FROM t; -- c1; ${z} 'x\n\
        /* outer ; /* inner ; ${w} */ still comment ; */ SELECT E'e\\'s;${v}\\\\', $$d;'${u}$$, $tag$ $$;${t} $tag$;\n\
        SELECT a$b, $1, x'ab'; SELECT 1";

    fn kinds(sql: &str) -> Vec<(Kind, &str)> {
        segments(sql)
            .into_iter()
            .filter(|s| s.kind != Kind::Code)
            .map(|s| (s.kind, s.text(sql)))
            .collect()
    }

    #[test]
    fn cuts_strings_comments_and_dollar_quotes() {
        assert_eq!(
            kinds(TRICKY),
            vec![
                (Kind::Quoted, "'a;b ${x} -- not a comment'"),
                (Kind::Quoted, "'it''s; /* no */'"),
                (Kind::QuotedIdent, "\"col;${y}\"\"q\""),
                (Kind::LineComment, "-- c1; ${z} 'x"),
                (
                    Kind::BlockComment,
                    "/* outer ; /* inner ; ${w} */ still comment ; */"
                ),
                (Kind::EscapeQuoted, "E'e\\'s;${v}\\\\'"),
                (Kind::DollarQuoted, "$$d;'${u}$$"),
                (Kind::DollarQuoted, "$tag$ $$;${t} $tag$"),
                (Kind::Quoted, "'ab'"),
            ]
        );
    }

    #[test]
    fn unclosed_text_is_one_open_segment() {
        for (sql, kind) in [
            ("SELECT 'abc;", Kind::Quoted),
            ("SELECT $$ab;", Kind::DollarQuoted),
            ("/* a /* b */ ;", Kind::BlockComment),
            ("SELECT E'a\\';", Kind::EscapeQuoted),
        ] {
            let last = segments(sql).pop().unwrap();
            assert_eq!((last.kind, last.closed), (kind, false), "{sql}");
        }
    }

    /// The scanner and sqlparser's tokenizer agree on where statements end: the `;` that
    /// are code here are exactly the tokenizer's semicolons.
    #[test]
    fn agrees_with_the_sql_tokenizer_on_semicolons() {
        let ours = segments(TRICKY)
            .iter()
            .filter(|s| s.kind == Kind::Code)
            .map(|s| s.text(TRICKY).matches(';').count())
            .sum::<usize>();
        let tokens = Tokenizer::new(&GenericDialect {}, TRICKY)
            .tokenize()
            .unwrap();
        let theirs = tokens
            .iter()
            .filter(|t| matches!(t, Token::SemiColon))
            .count();
        assert_eq!(ours, theirs);
        assert_eq!(ours, 4);
    }
}
