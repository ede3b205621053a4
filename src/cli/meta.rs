//! The shell's meta-commands (`\d`, `\set`, …) as one enum, after datafusion-cli's
//! `command.rs`: a line parses into a [`Meta`]; each command's names, usage and help text
//! live in [`SPECS`] only, and `\?`, completion and "did you mean" are made from it.

use super::parse_var;

/// A meta-command with its arguments, parsed from a line (see [`parse`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Meta {
    Help,
    ListTables,
    Describe(String),
    Functions(Option<String>),
    Diff {
        table: String,
        from: String,
        to: String,
        key: Option<String>,
    },
    Chart(Vec<String>),
    Pipelines,
    PipelineRun(String),
    History(String),
    Include(String),
    Run {
        file: String,
        vars: Vec<(String, String)>,
    },
    Set {
        name: String,
        value: String,
    },
    ShowVars,
    Unset(String),
    Format(String),
    MaxRows(usize),
    /// `\o FILE` (Some) or `\o` (None: back to the screen).
    Output(Option<String>),
    /// `\timing on|off` (Some) or `\timing` (None: toggle).
    Timing(Option<bool>),
    Quit,
}

/// One meta-command's names (the first is the one shown), usage and help.
pub struct Spec {
    pub names: &'static [&'static str],
    pub usage: &'static str,
    pub help: &'static str,
}

/// Every meta-command, in the order `\?` lists them.
pub const SPECS: &[Spec] = &[
    Spec {
        names: &["\\?", "\\help", "\\h"],
        usage: "\\?",
        help: "this help",
    },
    Spec {
        names: &["\\d", "\\dt"],
        usage: "\\d [NAME]",
        help: "list tables, or describe table NAME",
    },
    Spec {
        names: &["\\df"],
        usage: "\\df [PATTERN]",
        help: "functions with their docs (stockroom's UDFs first)",
    },
    Spec {
        names: &["\\diff"],
        usage: "\\diff NAME V1 V2 [KEY]",
        help: "rows added / removed (or changed, by KEY) between two versions",
    },
    Spec {
        names: &["\\chart"],
        usage: "\\chart [line|bar] [X] [Y…] [> FILE.svg]",
        help: "draw the last result (or write it as SVG)",
    },
    Spec {
        names: &["\\pipelines"],
        usage: "\\pipelines",
        help: "list pipelines",
    },
    Spec {
        names: &["\\pipeline"],
        usage: "\\pipeline run NAME",
        help: "run one pipeline",
    },
    Spec {
        names: &["\\history"],
        usage: "\\history NAME",
        help: "Delta commits of a table",
    },
    Spec {
        names: &["\\i"],
        usage: "\\i FILE",
        help: "run a SQL file",
    },
    Spec {
        names: &["\\run"],
        usage: "\\run FILE k=v …",
        help: "run a SQL file with variables",
    },
    Spec {
        names: &["\\set"],
        usage: "\\set [K V]",
        help: "set a variable for ${K} in SQL (without arguments: list them)",
    },
    Spec {
        names: &["\\unset"],
        usage: "\\unset K",
        help: "forget a variable",
    },
    Spec {
        names: &["\\format"],
        usage: "\\format table|csv|json|ndjson",
        help: "how results are printed",
    },
    Spec {
        names: &["\\maxrows"],
        usage: "\\maxrows N",
        help: "rows a table shows at most",
    },
    Spec {
        names: &["\\o"],
        usage: "\\o [FILE]",
        help: "send results to a file (without FILE: back to the screen)",
    },
    Spec {
        names: &["\\timing"],
        usage: "\\timing [on|off]",
        help: "show how long each statement took",
    },
    Spec {
        names: &["\\q", "\\quit"],
        usage: "\\q",
        help: "quit",
    },
];

/// The names completion offers and misspellings are compared with (one per command).
pub fn names() -> impl Iterator<Item = &'static str> {
    SPECS.iter().map(|s| s.names[0])
}

/// `\?`: every command's usage and help, from [`SPECS`].
pub fn help() -> String {
    let width = SPECS
        .iter()
        .map(|s| s.usage.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::from("Meta-commands:\n");
    for s in SPECS {
        let pad = width - s.usage.chars().count();
        out.push_str(&format!("  {}{}  {}\n", s.usage, " ".repeat(pad), s.help));
    }
    out.push_str("SQL statements end with ';' and may span lines.");
    out
}

/// Parses a line that starts with `\`. The error is the message to show: an unknown command
/// (with the nearest names) or a known one with wrong arguments.
pub fn parse(line: &str) -> Result<Meta, String> {
    let mut parts = line.split_whitespace();
    let cmd = parts.next().unwrap_or("");
    let args: Vec<&str> = parts.collect();
    let owned = |s: &str| s.to_string();
    let parsed = match (cmd, args.as_slice()) {
        ("\\q" | "\\quit", _) => Meta::Quit,
        ("\\?" | "\\help" | "\\h", _) => Meta::Help,
        ("\\d" | "\\dt", []) => Meta::ListTables,
        ("\\d", [name]) => Meta::Describe(owned(name)),
        ("\\history", [name]) => Meta::History(owned(name)),
        ("\\df", pattern) => Meta::Functions(pattern.first().map(|p| owned(p))),
        ("\\diff", [name, v1, v2, key @ ..]) => Meta::Diff {
            table: owned(name),
            from: owned(v1),
            to: owned(v2),
            key: key.first().map(|k| owned(k)),
        },
        ("\\pipelines", []) => Meta::Pipelines,
        ("\\pipeline", ["run", name]) => Meta::PipelineRun(owned(name)),
        ("\\i", [file]) => Meta::Include(owned(file)),
        ("\\run", [file, kvs @ ..]) => Meta::Run {
            file: owned(file),
            vars: kvs
                .iter()
                .map(|kv| parse_var(kv))
                .collect::<Result<_, _>>()?,
        },
        ("\\set", [k, v @ ..]) => Meta::Set {
            name: owned(k),
            value: v.join(" "),
        },
        ("\\set", []) => Meta::ShowVars,
        ("\\unset", [k]) => Meta::Unset(owned(k)),
        ("\\format", [f]) => Meta::Format(owned(f)),
        ("\\maxrows", [n]) => Meta::MaxRows(
            n.parse()
                .map_err(|_| format!("\\maxrows {n}: expected a number"))?,
        ),
        ("\\chart", args) => Meta::Chart(args.iter().map(|a| owned(a)).collect()),
        ("\\timing", [v]) => Meta::Timing(Some(*v == "on")),
        ("\\timing", []) => Meta::Timing(None),
        ("\\o", []) => Meta::Output(None),
        ("\\o", [file]) => Meta::Output(Some(owned(file))),
        _ => return Err(unknown(cmd, line)),
    };
    Ok(parsed)
}

/// The message for a meta-command that is misspelt (with the nearest ones) or lacks
/// arguments.
fn unknown(cmd: &str, line: &str) -> String {
    if SPECS.iter().any(|s| s.names.contains(&cmd)) {
        return format!("{cmd}: wrong or missing arguments in '{line}'; \\? shows its usage");
    }
    let near = stockroom::suggest::nearest(cmd, names());
    format!(
        "unknown command '{cmd}'{} (\\? lists them)",
        stockroom::suggest::did_you_mean(&near)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_with_their_arguments() {
        assert_eq!(parse("\\dt"), Ok(Meta::ListTables));
        assert_eq!(parse("\\d sales"), Ok(Meta::Describe("sales".into())));
        assert_eq!(
            parse("\\diff t 1 2 id"),
            Ok(Meta::Diff {
                table: "t".into(),
                from: "1".into(),
                to: "2".into(),
                key: Some("id".into())
            })
        );
        assert_eq!(
            parse("\\run f.sql a=1 b=x y"),
            Err("expected NAME=VALUE, got 'y'".into())
        );
        assert_eq!(parse("\\timing"), Ok(Meta::Timing(None)));
        assert_eq!(parse("\\quit now"), Ok(Meta::Quit));
    }

    #[test]
    fn unknown_and_incomplete_commands_say_what_to_do() {
        let e = parse("\\histroy t").unwrap_err();
        assert!(e.contains("did you mean '\\history'?"), "{e}");
        let e = parse("\\pipeline go").unwrap_err();
        assert!(
            e.starts_with("\\pipeline: wrong or missing arguments"),
            "{e}"
        );
    }

    #[test]
    fn help_lists_every_command_once() {
        let h = help();
        for name in names() {
            assert!(h.contains(&format!("  {name}")), "{name} missing from help");
        }
        assert_eq!(names().count(), SPECS.len());
    }
}
