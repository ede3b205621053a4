//! The analysts' shell. On a terminal: rustyline with history, completion and Ctrl-C to
//! cancel a running query. On a pipe: executes stdin like `psql -f` and exits 1 if any
//! statement failed.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use rustyline::Editor;
use rustyline::error::ReadlineError;
use stockroom::Executor;
use stockroom::exec::Outcome;
use stockroom::exec::maintenance;
use stockroom::print::{self, Format, TableStyle};
use stockroom::script;
use stockroom::sql::split::split_statements;
use stockroom::sql::vars::{Vars, substitute};

use super::completion::{KEYWORDS, SqlHelper};
use super::meta::{self, Meta};

struct Shell {
    exec: Executor,
    format: Format,
    style: TableStyle,
    timing: bool,
    vars: Vars,
    output: Option<std::fs::File>,
    failed: bool,
    interactive: bool,
    /// The last result set, for `\chart`.
    last: Option<(
        datafusion::arrow::datatypes::SchemaRef,
        Vec<datafusion::arrow::record_batch::RecordBatch>,
    )>,
}

impl Shell {
    fn out(&mut self) -> Box<dyn Write + '_> {
        match &mut self.output {
            Some(f) => Box::new(f),
            None => Box::new(std::io::stdout().lock()),
        }
    }

    fn report_error(&mut self, e: impl std::fmt::Display) {
        self.failed = true;
        eprintln!("error: {e}");
    }

    async fn run_sql(&mut self, sql: &str) {
        let sql = match substitute(sql, &self.vars) {
            Ok(s) => s,
            Err(e) => return self.report_error(e),
        };
        let started = Instant::now();
        let result = if self.interactive {
            tokio::select! {
                r = self.exec.execute(&sql) => r,
                _ = tokio::signal::ctrl_c() => {
                    eprintln!("query cancelled");
                    return;
                }
            }
        } else {
            self.exec.execute(&sql).await
        };
        match result {
            Ok(o) => self.show(&o, started),
            Err(e) => self.report_error(e),
        }
    }

    fn show(&mut self, o: &Outcome, started: Instant) {
        if let Outcome::Rows { schema, batches } = o {
            self.last = Some((schema.clone(), batches.clone()));
        }
        let (format, style, timing) = (self.format, self.style.clone(), self.timing);
        let res = print::outcome(&mut *self.out(), o, format, &style);
        if let Err(e) = res {
            return self.report_error(e);
        }
        if format == Format::Table {
            let took = started.elapsed().as_secs_f64();
            match o {
                Outcome::Rows { .. } if timing => {
                    eprintln!("{} row(s) in {took:.3}s", o.row_count())
                }
                Outcome::Rows { .. } => eprintln!("{} row(s)", o.row_count()),
                _ if timing => eprintln!("took {took:.3}s"),
                _ => {}
            }
        }
    }

    /// Runs every complete statement of `text`; returns the incomplete rest.
    async fn feed(&mut self, text: &str) -> String {
        let split = split_statements(text);
        for s in &split.statements {
            self.run_sql(&s.text).await;
        }
        if split.has_incomplete() {
            split.rest
        } else {
            String::new()
        }
    }

    async fn run_file(&mut self, path: &str, extra: &[(String, String)]) {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => return self.report_error(format!("cannot read {path}: {e}")),
        };
        let mut vars = self.vars.clone();
        vars.extend(extra.iter().cloned());
        let prepared = match script::prepare(path, &text, &vars) {
            Ok(p) => p,
            Err(e) => return self.report_error(e),
        };
        for p in prepared {
            let started = Instant::now();
            match self.exec.execute(&p.sql).await {
                Ok(o) => self.show(&o, started),
                Err(e) => {
                    return self.report_error(format!("{}:{}: {e}", p.source, p.line));
                }
            }
        }
    }

    /// Handles a `\` command; returns false to quit.
    async fn meta(&mut self, line: &str) -> bool {
        let started = Instant::now();
        let cmd = match meta::parse(line) {
            Ok(cmd) => cmd,
            Err(e) => {
                self.report_error(e);
                return true;
            }
        };
        match cmd {
            Meta::Quit => return false,
            Meta::Help => println!("{}", meta::help()),
            Meta::ListTables => match maintenance::list_tables::run(self.exec.warehouse()).await {
                Ok(o) => self.show(&o, started),
                Err(e) => self.report_error(e),
            },
            Meta::Describe(name) => self.run_sql(&format!("DESCRIBE {name}")).await,
            Meta::History(name) => {
                match maintenance::history::run(self.exec.warehouse(), &name, None).await {
                    Ok(o) => self.show(&o, started),
                    Err(e) => self.report_error(e),
                }
            }
            Meta::Functions(pattern) => {
                let o = functions(&self.exec, pattern.as_deref());
                self.show(&o, started)
            }
            Meta::Diff {
                table,
                from,
                to,
                key,
            } => match diff_sql(&table, &from, &to, key.as_deref()) {
                Ok(sql) => self.run_sql(&sql).await,
                Err(e) => self.report_error(e),
            },
            Meta::Pipelines => match stockroom::pipeline::load_all(None) {
                Ok(all) => {
                    for p in all.values() {
                        println!("{:<20} {}", p.name(), p.manifest.description);
                    }
                }
                Err(e) => self.report_error(e),
            },
            Meta::PipelineRun(name) => self.run_pipeline(&name).await,
            Meta::Include(file) => self.run_file(&file, &[]).await,
            Meta::Run { file, vars } => self.run_file(&file, &vars).await,
            Meta::Set { name, value } => {
                self.vars.insert(name, value);
            }
            Meta::ShowVars => {
                for (k, v) in &self.vars {
                    println!("{k} = {v}");
                }
            }
            Meta::Unset(name) => {
                self.vars.remove(&name);
            }
            Meta::Format(f) => match f.parse() {
                Ok(f) => self.format = f,
                Err(e) => self.report_error(e),
            },
            Meta::MaxRows(n) => self.style.max_rows = n,
            Meta::Chart(args) => {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                match stockroom::chart::command::run(&args, self.last.as_ref()) {
                    Ok(text) => print!("{text}"),
                    Err(e) => self.report_error(e),
                }
            }
            Meta::Timing(Some(on)) => self.timing = on,
            Meta::Timing(None) => self.timing = !self.timing,
            Meta::Output(None) => self.output = None,
            Meta::Output(Some(file)) => match std::fs::File::create(&file) {
                Ok(f) => self.output = Some(f),
                Err(e) => self.report_error(format!("cannot write {file}: {e}")),
            },
        }
        true
    }

    /// `\pipeline run NAME`.
    async fn run_pipeline(&mut self, name: &str) {
        let all = match stockroom::pipeline::load_all(None) {
            Ok(a) => a,
            Err(e) => return self.report_error(e),
        };
        match all.get(name) {
            None => self.report_error(format!("no pipeline '{name}'")),
            Some(p) => match stockroom::pipeline::run(&self.exec, p, &Default::default()).await {
                Ok(Some(s)) => {
                    if let Err(e) = super::pipeline::print_summary(&s, false) {
                        self.report_error(e);
                    }
                }
                Ok(None) => println!("{name}: no files in landing"),
                Err(e) => self.report_error(e),
            },
        }
    }
}

pub async fn run(exec: Executor) -> anyhow::Result<ExitCode> {
    let interactive = std::io::stdin().is_terminal();
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut shell = Shell {
        exec,
        format: Format::Table,
        style: TableStyle {
            max_rows: 1000,
            width: if interactive { terminal_width() } else { None },
            color,
        },
        timing: interactive,
        vars: Vars::new(),
        output: None,
        failed: false,
        interactive,
        last: None,
    };
    if interactive {
        interactive_loop(&mut shell).await?;
        Ok(ExitCode::SUCCESS)
    } else {
        let mut input = String::new();
        std::io::stdin().read_to_string(&mut input)?;
        let mut buffer = String::new();
        for line in input.lines() {
            if buffer.trim().is_empty() && line.trim_start().starts_with('\\') {
                if !shell.meta(line.trim()).await {
                    break;
                }
                continue;
            }
            buffer.push_str(line);
            buffer.push('\n');
            buffer = shell.feed(&buffer).await;
        }
        if !buffer.trim().is_empty() {
            let rest = buffer.clone();
            shell.run_sql(&rest).await;
        }
        Ok(if shell.failed {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        })
    }
}

/// `\df`: every function with its description, stockroom's UDFs first.
fn functions(exec: &Executor, pattern: Option<&str>) -> Outcome {
    use std::sync::Arc;

    use datafusion::arrow::array::StringArray;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::record_batch::RecordBatch;

    let state = exec.context().state();
    let mut rows: Vec<(bool, String, String, String)> = state
        .scalar_functions()
        .values()
        .map(|f| {
            let doc = f.documentation();
            (
                !stockroom_udfs::NAMES.contains(&f.name()),
                f.name().to_string(),
                doc.map(|d| d.syntax_example.clone()).unwrap_or_default(),
                doc.map(|d| d.description.replace('\n', " "))
                    .unwrap_or_default(),
            )
        })
        .chain(state.aggregate_functions().values().map(|f| {
            let doc = f.documentation();
            (
                !stockroom_udfs::AGGREGATE_NAMES.contains(&f.name()),
                f.name().to_string(),
                doc.map(|d| d.syntax_example.clone()).unwrap_or_default(),
                doc.map(|d| d.description.replace('\n', " "))
                    .unwrap_or_default(),
            )
        }))
        .filter(|(_, n, _, _)| pattern.is_none_or(|p| n.contains(&p.to_ascii_lowercase())))
        .collect();
    rows.sort();
    let schema = Arc::new(Schema::new(vec![
        Field::new("function", DataType::Utf8, false),
        Field::new("syntax", DataType::Utf8, false),
        Field::new("description", DataType::Utf8, false),
    ]));
    let col = |i: usize| -> Arc<StringArray> {
        Arc::new(StringArray::from_iter_values(rows.iter().map(
            |r| match i {
                0 => r.1.as_str(),
                1 => r.2.as_str(),
                _ => r.3.as_str(),
            },
        )))
    };
    match RecordBatch::try_new(schema.clone(), vec![col(0), col(1), col(2)]) {
        Ok(b) => Outcome::Rows {
            schema,
            batches: vec![b],
        },
        Err(e) => Outcome::Message(format!("error: {e}")),
    }
}

/// `\diff NAME V1 V2 [KEY]` as SQL over two versions: rows only in V2 are `added`, only in
/// V1 `removed`; with a KEY, a key on both sides is `changed` (old and new row shown).
fn diff_sql(name: &str, v1: &str, v2: &str, key: Option<&str>) -> Result<String, String> {
    let num = |v: &str| {
        v.parse::<u64>()
            .map_err(|_| format!("\\diff: '{v}' is not a version number"))
    };
    let (v1, v2) = (num(v1)?, num(v2)?);
    let ident = stockroom::sql::quote::ident;
    let t = ident(name);
    let base = format!(
        "WITH a AS (SELECT * FROM {t} VERSION AS OF {v1}), b AS (SELECT * FROM {t} VERSION AS OF {v2}), \
         new_rows AS (SELECT * FROM b EXCEPT SELECT * FROM a), old_rows AS (SELECT * FROM a EXCEPT SELECT * FROM b) "
    );
    Ok(match key {
        None => format!(
            "{base}SELECT 'added' AS change, * FROM new_rows UNION ALL SELECT 'removed' AS change, * FROM old_rows ORDER BY change"
        ),
        Some(k) => {
            let k = ident(k);
            format!(
                "{base}SELECT CASE WHEN m.k IS NULL THEN 'added' ELSE 'changed (new)' END AS change, new_rows.* \
                 FROM new_rows LEFT JOIN (SELECT DISTINCT {k} AS k FROM old_rows) AS m ON new_rows.{k} = m.k \
                 UNION ALL \
                 SELECT CASE WHEN p.k IS NULL THEN 'removed' ELSE 'changed (old)' END AS change, old_rows.* \
                 FROM old_rows LEFT JOIN (SELECT DISTINCT {k} AS k FROM new_rows) AS p ON old_rows.{k} = p.k \
                 ORDER BY change, {k}"
            )
        }
    })
}

fn terminal_width() -> Option<u16> {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .or(Some(120))
}

fn history_path() -> Option<PathBuf> {
    let dir = dirs::data_dir()?.join("stockroom");
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir.join("history"))
}

async fn interactive_loop(shell: &mut Shell) -> anyhow::Result<()> {
    let mut editor: Editor<SqlHelper, rustyline::history::FileHistory> = Editor::new()?;
    editor.set_helper(Some(SqlHelper::new(
        completion_words(shell),
        shell.exec.warehouse().clone(),
    )));
    super::paste::bind(&mut editor);
    let history = history_path();
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    println!(
        "stockroom {} — warehouse {}\nType \\? for help, \\q to quit. Statements end with ';'.",
        env!("CARGO_PKG_VERSION"),
        shell.exec.warehouse().root().display()
    );
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            "stockroom> "
        } else {
            "      ...> "
        };
        // readline blocks; on a blocking thread the completer may wait on async work
        // (reading a table's columns) without stalling the runtime.
        let (ed, read) = tokio::task::spawn_blocking(move || {
            let r = editor.readline(prompt);
            (editor, r)
        })
        .await?;
        editor = ed;
        match read {
            Ok(line) => {
                // A blank line between statements (common in pasted scripts) does not start
                // a statement, so a meta-command after it is still one.
                if buffer.trim().is_empty() && line.trim().is_empty() {
                    buffer.clear();
                    continue;
                }
                if buffer.trim().is_empty() && line.trim_start().starts_with('\\') {
                    buffer.clear();
                    let _ = editor.add_history_entry(line.as_str());
                    if !shell.meta(line.trim()).await {
                        break;
                    }
                    continue;
                }
                buffer.push_str(&line);
                buffer.push('\n');
                if split_statements(&buffer).statements.is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(buffer.trim_end());
                let input = std::mem::take(&mut buffer);
                buffer = shell.feed(&input).await;
                if let Some(h) = editor.helper_mut() {
                    h.set_words(completion_words(shell));
                }
            }
            Err(ReadlineError::Interrupted) => {
                buffer.clear();
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(())
}

fn completion_words(shell: &Shell) -> Vec<String> {
    let mut w: Vec<String> = KEYWORDS.iter().map(|s| s.to_string()).collect();
    w.extend(meta::names().map(|s| s.to_string()));
    w.extend(shell.exec.warehouse().table_names());
    w.extend(stockroom_udfs::NAMES.iter().map(|s| s.to_string()));
    w.extend(
        stockroom_udfs::AGGREGATE_NAMES
            .iter()
            .map(|s| s.to_string()),
    );
    w
}
