//! Splits a SQL script into statements at top-level `;`, keeping each statement's first
//! line so errors can say "file.sql:12". Quotes and comments are respected, so a `;` inside
//! `'…'`, `"…"`, `-- …` or `/* … */` does not end a statement.

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

#[derive(Clone, Copy, PartialEq)]
enum State {
    Normal,
    Single,
    Double,
    LineComment,
    BlockComment(usize),
}

/// Splits `script` into statements.
pub fn split_statements(script: &str) -> Split {
    let mut out = Split::default();
    let mut state = State::Normal;
    let mut start = 0usize; // byte offset of the current statement
    let mut line = 1usize;
    let mut start_line = 1usize;
    let bytes = script.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let next = bytes.get(i + 1).copied();
        match state {
            State::Normal => match c {
                b'\'' => state = State::Single,
                b'"' => state = State::Double,
                b'-' if next == Some(b'-') => {
                    state = State::LineComment;
                    i += 1;
                }
                b'/' if next == Some(b'*') => {
                    state = State::BlockComment(1);
                    i += 1;
                }
                b';' => {
                    push(&mut out, &script[start..i], start_line);
                    start = i + 1;
                    start_line = line;
                }
                _ => {}
            },
            State::Single => {
                if c == b'\'' {
                    if next == Some(b'\'') {
                        i += 1;
                    } else {
                        state = State::Normal;
                    }
                }
            }
            State::Double => {
                if c == b'"' {
                    state = State::Normal;
                }
            }
            State::LineComment => {
                if c == b'\n' {
                    state = State::Normal;
                }
            }
            State::BlockComment(depth) => {
                if c == b'*' && next == Some(b'/') {
                    i += 1;
                    state = if depth == 1 {
                        State::Normal
                    } else {
                        State::BlockComment(depth - 1)
                    };
                } else if c == b'/' && next == Some(b'*') {
                    i += 1;
                    state = State::BlockComment(depth + 1);
                }
            }
        }
        if bytes[i] == b'\n' {
            line += 1;
        }
        i += 1;
    }
    out.rest = script[start..].to_string();
    out.rest_line = start_line + leading_newlines(&out.rest);
    out
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

/// `text` from its first character that is neither whitespace nor inside a comment.
fn skip_comments(text: &str) -> &str {
    let mut rest = text.trim_start();
    loop {
        if let Some(r) = rest.strip_prefix("--") {
            rest = r.find('\n').map(|p| &r[p + 1..]).unwrap_or("").trim_start();
        } else if let Some(r) = rest.strip_prefix("/*") {
            match r.find("*/") {
                Some(p) => rest = r[p + 2..].trim_start(),
                None => return rest,
            }
        } else {
            return rest;
        }
    }
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
    }
}
