//! Splits a SQL script into statements at top-level `;`, keeping each statement's first
//! line so errors can say "file.sql:12". Quotes and comments are those of
//! [`crate::sql::scan`], so a `;` inside `'…'`, `E'…'`, `"…"`, `$$…$$`, `-- …` or
//! `/* … */` does not end a statement.

use crate::sql::scan::{Kind, segments};

/// One statement of a script.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptStatement {
    /// The statement text without the terminating `;`.
    pub text: String,
    /// 1-based line of the statement's first non-blank character.
    pub line: usize,
}

/// The result of splitting: complete statements, and the trailing text after the last `;`
/// (empty or only comments/whitespace when the script is complete).
#[derive(Debug, Default)]
pub struct Split {
    pub statements: Vec<ScriptStatement>,
    pub rest: String,
    pub rest_line: usize,
}

impl Split {
    /// True when the text after the last `;` holds something other than blanks and comments.
    pub fn has_incomplete(&self) -> bool {
        !is_blank_sql(&self.rest)
    }
}

/// Splits `script` into statements.
pub fn split_statements(script: &str) -> Split {
    let mut out = Split::default();
    let mut start = 0usize; // byte offset of the current statement
    let mut lines = LineCounter::default();
    for seg in segments(script) {
        if seg.kind != Kind::Code {
            continue;
        }
        for (off, _) in seg.text(script).match_indices(';') {
            let end = seg.range.start + off;
            push(&mut out, &script[start..end], lines.line_at(script, start));
            start = end + 1;
        }
    }
    out.rest = script[start..].to_string();
    out.rest_line = lines.line_at(script, start) + leading_newlines(&out.rest);
    out
}

/// 1-based line numbers of byte offsets, asked for in increasing order.
#[derive(Default)]
struct LineCounter {
    upto: usize,
    newlines: usize,
}

impl LineCounter {
    fn line_at(&mut self, text: &str, offset: usize) -> usize {
        self.newlines += text.as_bytes()[self.upto..offset]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        self.upto = offset;
        self.newlines + 1
    }
}

fn push(out: &mut Split, text: &str, start_line: usize) {
    if is_blank_sql(text) {
        return;
    }
    // Leading comments belong to no statement: the line points at the SQL itself.
    let body = skip_comments(text);
    let skipped = &text[..text.len() - body.len()];
    out.statements.push(ScriptStatement {
        text: body.trim().to_string(),
        line: start_line + skipped.bytes().filter(|b| *b == b'\n').count(),
    });
}

/// Lines before the first non-blank character (so the line points at the statement itself).
fn leading_newlines(text: &str) -> usize {
    let trimmed = skip_comments(text);
    text[..text.len() - trimmed.len()]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
}

/// `text` from its first character that is neither whitespace nor inside a (closed)
/// comment.
fn skip_comments(text: &str) -> &str {
    for seg in segments(text) {
        match seg.kind {
            k if k.is_comment() && seg.closed => continue,
            Kind::Code => {
                let code = seg.text(text);
                let blank = code.len() - code.trim_start().len();
                if blank < code.len() {
                    return &text[seg.range.start + blank..];
                }
            }
            _ => return &text[seg.range.start..],
        }
    }
    ""
}

/// True when `text` holds only whitespace and comments.
pub fn is_blank_sql(text: &str) -> bool {
    skip_comments(text).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_with_lines_quotes_and_comments() {
        let s = split_statements(
            "-- header; not a statement\nSELECT 'a;b';\n\n/* x; y */ SELECT \"c;d\"\n FROM t;\nSELECT 3",
        );
        assert_eq!(s.statements.len(), 2);
        assert_eq!(s.statements[0].text, "SELECT 'a;b'");
        assert_eq!(s.statements[0].line, 2);
        assert_eq!(s.statements[1].line, 4);
        assert_eq!(s.rest.trim(), "SELECT 3");
        assert!(s.has_incomplete());
        assert_eq!(s.rest_line, 6);
    }

    #[test]
    fn escaped_quotes_and_blank() {
        let s = split_statements("SELECT 'it''s; fine'; -- done\n");
        assert_eq!(s.statements.len(), 1);
        assert!(!s.has_incomplete());
        assert!(is_blank_sql(" -- a\n /* b */ "));
        assert!(is_blank_sql("/* a /* nested; */ b */"));
        assert!(!is_blank_sql("/* unclosed"));
    }

    /// Quotes holding `;` and `${`, nested comments, dollar-quoted and E'' strings: the
    /// statements end only at the `;` sqlparser's tokenizer sees too.
    #[test]
    fn tricky_quotes_and_comments() {
        let s = split_statements(crate::sql::scan::tests::TRICKY);
        let starts: Vec<(&str, usize)> = s
            .statements
            .iter()
            .map(|st| (&st.text[..st.text.len().min(10)], st.line))
            .collect();
        assert_eq!(
            starts,
            vec![
                ("SELECT 'a;", 1),
                ("SELECT \"co", 2),
                ("SELECT E'e", 3),
                ("SELECT a$b", 4),
            ]
        );
        assert_eq!(s.rest.trim(), "SELECT 1");
        assert_eq!(s.rest_line, 4);
        assert!(split_statements("SELECT $$ a; b").statements.is_empty());
    }
}
