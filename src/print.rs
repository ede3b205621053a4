//! Printing results: comfy-table for people, CSV / JSON / NDJSON for programs, and result
//! files (`--output x.parquet|.csv|.json`).

use std::io::Write;
use std::path::Path;

use comfy_table::{Cell, CellAlignment, ContentArrangement, Table, presets};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::error::{Error, Result};
use crate::exec::Outcome;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    #[default]
    Table,
    Csv,
    Json,
    Ndjson,
}

impl std::str::FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "table" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            "ndjson" | "jsonl" => Ok(Format::Ndjson),
            other => Err(Error::UnknownFormat(other.to_string())),
        }
    }
}

/// How a table is drawn.
#[derive(Debug, Clone)]
pub struct TableStyle {
    pub max_rows: usize,
    pub width: Option<u16>,
    pub color: bool,
}

impl Default for TableStyle {
    fn default() -> Self {
        Self {
            max_rows: 1000,
            width: None,
            color: false,
        }
    }
}

fn is_numeric(t: &DataType) -> bool {
    t.is_numeric()
}

/// Renders a result set as a comfy-table: `name` and type in each header, NULL shown as
/// `NULL`, numbers right-aligned, at most `max_rows` rows (then a note).
pub fn table(schema: &SchemaRef, batches: &[RecordBatch], style: &TableStyle) -> Result<String> {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED);
    match style.width {
        Some(w) => {
            t.set_width(w);
            t.set_content_arrangement(ContentArrangement::Dynamic);
        }
        None => {
            t.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    t.set_header(
        schema
            .fields()
            .iter()
            .map(|f| Cell::new(format!("{}\n{}", f.name(), short_type(f.data_type())))),
    );
    let opts = FormatOptions::default().with_null("NULL");
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    let mut shown = 0;
    'outer: for b in batches {
        let fmts = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        for row in 0..b.num_rows() {
            if shown >= style.max_rows {
                break 'outer;
            }
            let cells = fmts.iter().enumerate().map(|(i, f)| {
                let is_null = b.column(i).is_null(row);
                let mut cell = Cell::new(f.value(row).to_string());
                if is_numeric(schema.field(i).data_type()) {
                    cell = cell.set_alignment(CellAlignment::Right);
                }
                if is_null && style.color {
                    cell = cell.fg(comfy_table::Color::DarkGrey);
                }
                cell
            });
            t.add_row(cells);
            shown += 1;
        }
    }
    let mut out = t.to_string();
    if total > shown {
        out.push_str(&format!(
            "\n({total} rows, showing the first {shown}; \\maxrows N or --format csv for all)"
        ));
    }
    Ok(out)
}

fn short_type(t: &DataType) -> String {
    match t {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => "string".into(),
        DataType::Timestamp(unit, tz) => {
            let u = match unit {
                datafusion::arrow::datatypes::TimeUnit::Second => "s",
                datafusion::arrow::datatypes::TimeUnit::Millisecond => "ms",
                datafusion::arrow::datatypes::TimeUnit::Microsecond => "us",
                datafusion::arrow::datatypes::TimeUnit::Nanosecond => "ns",
            };
            match tz {
                Some(tz) => format!("timestamp({u}, {tz})"),
                None => format!("timestamp({u})"),
            }
        }
        other => other.to_string().to_lowercase(),
    }
}

/// Writes the batches in a machine format.
pub fn write_batches(out: &mut dyn Write, format: Format, batches: &[RecordBatch]) -> Result<()> {
    use datafusion::arrow::{csv, json};
    match format {
        Format::Csv => {
            let mut w = csv::WriterBuilder::new().with_header(true).build(out);
            for b in batches {
                w.write(b)?;
            }
        }
        Format::Json => {
            let mut w = json::ArrayWriter::new(out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
            w.into_inner()
                .write_all(b"\n")
                .map_err(|e| Error::io("write", e))?;
        }
        Format::Ndjson => {
            let mut w = json::LineDelimitedWriter::new(out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
        Format::Table => unreachable!("tables go through print::table"),
    }
    Ok(())
}

/// Writes a result to a file chosen by extension: `.parquet`, `.csv`, `.json`, `.ndjson`/`.jsonl`.
pub fn write_file(path: &Path, schema: &SchemaRef, batches: &[RecordBatch]) -> Result<()> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .unwrap_or_default();
    let file = std::fs::File::create(path)
        .map_err(|e| Error::io(format!("cannot create {}", path.display()), e))?;
    let mut file = std::io::BufWriter::new(file);
    match ext.as_str() {
        "parquet" => {
            let mut w =
                datafusion::parquet::arrow::ArrowWriter::try_new(file, schema.clone(), None)
                    .map_err(Error::Parquet)?;
            for b in batches {
                w.write(b).map_err(Error::Parquet)?;
            }
            w.close().map_err(Error::Parquet)?;
            return Ok(());
        }
        "csv" => write_batches(&mut file, Format::Csv, batches)?,
        "json" => write_batches(&mut file, Format::Json, batches)?,
        "ndjson" | "jsonl" => write_batches(&mut file, Format::Ndjson, batches)?,
        other => {
            return Err(Error::UnknownExtension {
                path: path.display().to_string(),
                extension: other.to_string(),
            });
        }
    }
    file.flush()
        .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))
}

/// Prints an outcome to `out` in `format`.
pub fn outcome(out: &mut dyn Write, o: &Outcome, format: Format, style: &TableStyle) -> Result<()> {
    let io = |e| Error::io("cannot write output", e);
    match o {
        Outcome::Rows { schema, batches } => match format {
            Format::Table => writeln!(out, "{}", table(schema, batches, style)?).map_err(io),
            f => write_batches(out, f, batches),
        },
        Outcome::Write(r) => match format {
            Format::Table | Format::Csv => writeln!(out, "{r}").map_err(io),
            _ => writeln!(out, "{}", serde_json::to_string(r)?).map_err(io),
        },
        Outcome::Message(m) => writeln!(out, "{m}").map_err(io),
    }
}
