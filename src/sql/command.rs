//! Delta maintenance statements that DataFusion's parser does not know, parsed here:
//!
//! ```sql
//! OPTIMIZE t [ZORDER BY (a, b)]
//! VACUUM t [RETAIN n HOURS] [DRY RUN]
//! RESTORE [TABLE] t TO VERSION AS OF n | TO TIMESTAMP AS OF 'ts'
//! DESCRIBE HISTORY t [LIMIT n]
//! DESCRIBE [DETAIL] t            -- for warehouse tables; others go to DataFusion
//! DROP TABLE [IF EXISTS] t       -- for warehouse tables
//! ```

use datafusion::sql::sqlparser::tokenizer::Token;

use crate::catalog::VersionSpec;
use crate::error::{Error, Result};
use crate::sql::tokens::Cursor;

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Optimize {
        table: String,
        zorder: Vec<String>,
    },
    Vacuum {
        table: String,
        retain_hours: Option<f64>,
        dry_run: bool,
    },
    Restore {
        table: String,
        to: VersionSpec,
    },
    History {
        table: String,
        limit: Option<usize>,
    },
    Describe {
        table: String,
    },
    Drop {
        table: String,
        if_exists: bool,
    },
}

impl Command {
    pub fn table(&self) -> &str {
        match self {
            Command::Optimize { table, .. }
            | Command::Vacuum { table, .. }
            | Command::Restore { table, .. }
            | Command::History { table, .. }
            | Command::Describe { table }
            | Command::Drop { table, .. } => table,
        }
    }

    /// True for commands that change a table (refused by a read-only server).
    pub fn writes(&self) -> bool {
        !matches!(self, Command::History { .. } | Command::Describe { .. })
    }
}

/// Recognises a maintenance command. `Ok(None)` means "not ours, give it to DataFusion".
pub fn parse_command(tokens: &[Token]) -> Result<Option<Command>> {
    let mut c = Cursor::new(tokens);
    match c.peek_kw().as_deref() {
        Some("OPTIMIZE") => {
            c.eat(&["OPTIMIZE"]);
            let table = c.name("a table name after OPTIMIZE")?;
            let zorder = if c.eat(&["ZORDER", "BY"]) {
                c.name_list("ZORDER BY columns")?
            } else {
                Vec::new()
            };
            c.expect_end("OPTIMIZE table [ZORDER BY (col, …)]")?;
            Ok(Some(Command::Optimize { table, zorder }))
        }
        Some("VACUUM") => {
            c.eat(&["VACUUM"]);
            let table = c.name("a table name after VACUUM")?;
            let mut retain_hours = None;
            if c.eat(&["RETAIN"]) {
                let h = c.number("RETAIN hours")?;
                if h < 0.0 {
                    return Err(Error::Sql("VACUUM RETAIN must not be negative".into()));
                }
                retain_hours = Some(h);
                c.expect(&["HOURS"], "after RETAIN n")?;
            }
            let dry_run = c.eat(&["DRY", "RUN"]);
            c.expect_end("VACUUM table [RETAIN n HOURS] [DRY RUN]")?;
            Ok(Some(Command::Vacuum {
                table,
                retain_hours,
                dry_run,
            }))
        }
        Some("RESTORE") => {
            c.eat(&["RESTORE"]);
            c.eat(&["TABLE"]);
            let table = c.name("a table name after RESTORE")?;
            c.expect(&["TO"], "after the table name")?;
            let to = if c.eat(&["VERSION", "AS", "OF"]) {
                VersionSpec::Version(c.number("a version")?.max(0.0) as u64)
            } else if c.eat(&["TIMESTAMP", "AS", "OF"]) {
                VersionSpec::Timestamp(c.string("a timestamp")?)
            } else {
                return Err(Error::Sql(
                    "syntax: RESTORE table TO VERSION AS OF n | TO TIMESTAMP AS OF 'ts'".into(),
                ));
            };
            c.expect_end("RESTORE table TO VERSION AS OF n")?;
            Ok(Some(Command::Restore { table, to }))
        }
        Some("DESCRIBE" | "DESC") => {
            c.eat(&["DESCRIBE"]);
            c.eat(&["DESC"]);
            if c.eat(&["HISTORY"]) {
                let table = c.name("a table name after DESCRIBE HISTORY")?;
                let limit = if c.eat(&["LIMIT"]) {
                    Some(c.number("LIMIT")?.max(0.0) as usize)
                } else {
                    None
                };
                c.expect_end("DESCRIBE HISTORY table [LIMIT n]")?;
                return Ok(Some(Command::History { table, limit }));
            }
            c.eat(&["DETAIL"]);
            c.eat(&["TABLE"]);
            let table = c.name("a table name after DESCRIBE")?;
            if !c.done() {
                return Ok(None);
            }
            Ok(Some(Command::Describe { table }))
        }
        Some("DROP") if c.peek_kw_at(1).as_deref() == Some("TABLE") => {
            c.eat(&["DROP", "TABLE"]);
            let if_exists = c.eat(&["IF", "EXISTS"]);
            let table = c.name("a table name after DROP TABLE")?;
            if !c.done() {
                return Ok(None);
            }
            Ok(Some(Command::Drop { table, if_exists }))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::tokens::tokenize;

    fn parse(sql: &str) -> Option<Command> {
        parse_command(&tokenize(sql).unwrap()).unwrap()
    }

    #[test]
    fn parses_commands() {
        assert_eq!(
            parse("optimize sales zorder by (store_id, day)"),
            Some(Command::Optimize {
                table: "sales".into(),
                zorder: vec!["store_id".into(), "day".into()]
            })
        );
        assert_eq!(
            parse("VACUUM t RETAIN 0 HOURS DRY RUN"),
            Some(Command::Vacuum {
                table: "t".into(),
                retain_hours: Some(0.0),
                dry_run: true
            })
        );
        assert_eq!(
            parse("RESTORE TABLE t TO VERSION AS OF 2"),
            Some(Command::Restore {
                table: "t".into(),
                to: VersionSpec::Version(2)
            })
        );
        assert_eq!(
            parse("describe history t limit 3"),
            Some(Command::History {
                table: "t".into(),
                limit: Some(3)
            })
        );
        assert_eq!(parse("SELECT 1"), None);
        assert!(parse_command(&tokenize("VACUUM t RETAIN x").unwrap()).is_err());
    }
}
