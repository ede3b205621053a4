//! Quoting text into SQL, in one place: every string literal and identifier stockroom
//! composes goes through these, so none can end early.

/// `O'Brien` → `'O''Brien'`: a SQL string literal.
pub fn literal(text: &str) -> String {
    format!("'{}'", escape_literal(text))
}

/// `my "t"` → `"my ""t"""`: a quoted SQL identifier (case kept as written).
pub fn ident(name: &str) -> String {
    format!("\"{}\"", escape_ident(name))
}

/// The inside of a string literal: quotes doubled, without the enclosing quotes.
pub fn escape_literal(text: &str) -> String {
    text.replace('\'', "''")
}

/// The inside of a quoted identifier: double quotes doubled, without the enclosing ones.
pub fn escape_ident(name: &str) -> String {
    name.replace('"', "\"\"")
}

/// The inside of an `E'…'` string, where a backslash escapes the next character too.
pub fn escape_escape_literal(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\'', "''")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_cannot_end_early() {
        assert_eq!(literal("O'Brien"), "'O''Brien'");
        assert_eq!(ident("my \"t\""), "\"my \"\"t\"\"\"");
        assert_eq!(escape_escape_literal("a\\'"), "a\\\\''");
    }
}
