//! A thin cursor over sqlparser's tokens, for the few statements and clauses stockroom
//! understands before DataFusion sees the SQL (Delta maintenance commands, time travel,
//! `PARTITIONED BY`).

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use crate::error::{Error, Result};
use crate::sql::quote;

pub fn tokenize(sql: &str) -> Result<Vec<Token>> {
    Tokenizer::new(&GenericDialect {}, sql)
        .tokenize()
        .map_err(Error::Tokenize)
}

/// Renders tokens back to SQL text (whitespace and comments are tokens too, so this is
/// faithful to the input).
pub fn render(tokens: &[Token]) -> String {
    tokens.iter().map(render_token).collect()
}

/// sqlparser's `Display` does not re-escape quotes inside literals and quoted identifiers
/// (`'O''Brien'` would come back as `'O'Brien'`), so those are rendered here.
fn render_token(t: &Token) -> String {
    match t {
        Token::SingleQuotedString(s) => quote::literal(s),
        Token::Word(w) if w.quote_style == Some('"') => quote::ident(&w.value),
        other => other.to_string(),
    }
}

pub fn is_blank(t: &Token) -> bool {
    matches!(t, Token::Whitespace(_))
}

/// Upper-cased text of an unquoted word, or None.
pub fn keyword(t: &Token) -> Option<String> {
    match t {
        Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
        _ => None,
    }
}

/// Cursor over the non-blank tokens of a statement.
pub struct Cursor {
    toks: Vec<Token>,
    pos: usize,
}

impl Cursor {
    pub fn new(tokens: &[Token]) -> Self {
        Self {
            toks: tokens
                .iter()
                .filter(|t| !is_blank(t) && !matches!(t, Token::EOF | Token::SemiColon))
                .cloned()
                .collect(),
            pos: 0,
        }
    }

    pub fn peek_kw(&self) -> Option<String> {
        self.toks.get(self.pos).and_then(keyword)
    }

    pub fn peek_kw_at(&self, offset: usize) -> Option<String> {
        self.toks.get(self.pos + offset).and_then(keyword)
    }

    /// Consumes the keyword sequence `kws` if it comes next.
    pub fn eat(&mut self, kws: &[&str]) -> bool {
        for (i, kw) in kws.iter().enumerate() {
            if self.peek_kw_at(i).as_deref() != Some(*kw) {
                return false;
            }
        }
        self.pos += kws.len();
        true
    }

    pub fn expect(&mut self, kws: &[&str], what: &str) -> Result<()> {
        if self.eat(kws) {
            Ok(())
        } else {
            Err(Error::Sql(format!(
                "expected {} {what}, found {}",
                kws.join(" "),
                self.describe_next()
            )))
        }
    }

    pub fn done(&self) -> bool {
        self.pos >= self.toks.len()
    }

    pub fn expect_end(&self, syntax: &str) -> Result<()> {
        if self.done() {
            Ok(())
        } else {
            Err(Error::Sql(format!(
                "unexpected {} — syntax: {syntax}",
                self.describe_next()
            )))
        }
    }

    fn describe_next(&self) -> String {
        match self.toks.get(self.pos) {
            Some(t) => format!("'{t}'"),
            None => "end of statement".into(),
        }
    }

    /// A possibly qualified name (`t`, `s.t`, `"T"`); returns its last part, which is the
    /// table's name in the warehouse (all tables live in one schema).
    pub fn name(&mut self, what: &str) -> Result<String> {
        let mut last = None;
        loop {
            match self.toks.get(self.pos) {
                Some(Token::Word(w)) => {
                    last = Some(if w.quote_style.is_some() {
                        w.value.clone()
                    } else {
                        w.value.to_ascii_lowercase()
                    });
                    self.pos += 1;
                }
                Some(Token::SingleQuotedString(s)) if last.is_none() => {
                    last = Some(s.clone());
                    self.pos += 1;
                    break;
                }
                _ => break,
            }
            if matches!(self.toks.get(self.pos), Some(Token::Period)) {
                self.pos += 1;
            } else {
                break;
            }
        }
        last.ok_or_else(|| Error::Sql(format!("expected {what}, found {}", self.describe_next())))
    }

    pub fn number(&mut self, what: &str) -> Result<f64> {
        match self.toks.get(self.pos) {
            Some(Token::Number(n, _)) => {
                let v = n
                    .parse::<f64>()
                    .map_err(|_| Error::Sql(format!("{what}: '{n}' is not a number")))?;
                self.pos += 1;
                Ok(v)
            }
            _ => Err(Error::Sql(format!(
                "expected {what} (a number), found {}",
                self.describe_next()
            ))),
        }
    }

    pub fn string(&mut self, what: &str) -> Result<String> {
        match self.toks.get(self.pos) {
            Some(Token::SingleQuotedString(s)) => {
                self.pos += 1;
                Ok(s.clone())
            }
            _ => Err(Error::Sql(format!(
                "expected {what} (a quoted string), found {}",
                self.describe_next()
            ))),
        }
    }

    /// `( a, b, c )` — a parenthesised list of names.
    pub fn name_list(&mut self, what: &str) -> Result<Vec<String>> {
        if !matches!(self.toks.get(self.pos), Some(Token::LParen)) {
            return Err(Error::Sql(format!(
                "expected ( after {what}, found {}",
                self.describe_next()
            )));
        }
        self.pos += 1;
        let mut names = vec![self.name(what)?];
        while matches!(self.toks.get(self.pos), Some(Token::Comma)) {
            self.pos += 1;
            names.push(self.name(what)?);
        }
        if !matches!(self.toks.get(self.pos), Some(Token::RParen)) {
            return Err(Error::Sql(format!(
                "expected ) to close {what}, found {}",
                self.describe_next()
            )));
        }
        self.pos += 1;
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_round_trips_quotes() {
        let sql = "SELECT 'O''Brien' AS \"a \"\"b\"\"\" -- c\nFROM t";
        assert_eq!(render(&tokenize(sql).unwrap()), sql);
    }
}
