//! The shell's `\chart [line|bar] [X] [Y…] [> FILE.svg]`: the last result drawn in the
//! terminal, or written as an SVG file.

use std::path::Path;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;

use super::error::ChartError;
use super::{Kind, from_batches, svg, text};
use crate::error::{Error, Result};

pub const USAGE: &str = "\\chart [line|bar] [X] [Y…] [> FILE.svg]";

/// Runs `\chart` with its arguments over the last result; returns what to print.
pub fn run(args: &[&str], last: Option<&(SchemaRef, Vec<RecordBatch>)>) -> Result<String> {
    let Some((schema, batches)) = last else {
        return Err(ChartError::NoResult.into());
    };
    let mut words: Vec<&str> = Vec::new();
    let mut file: Option<&str> = None;
    let mut iter = args.iter().copied();
    while let Some(w) = iter.next() {
        if w == ">" {
            file = iter.next();
            if file.is_none() {
                return Err(ChartError::NoFileName.into());
            }
        } else if let Some(f) = w.strip_prefix('>') {
            file = Some(f);
        } else {
            words.push(w);
        }
    }
    let kind = match words.first().map(|w| w.to_ascii_lowercase()) {
        Some(k) if k == "line" => Some(Kind::Line),
        Some(k) if k == "bar" => Some(Kind::Bar),
        _ => None,
    };
    let rest = if kind.is_some() {
        &words[1..]
    } else {
        &words[..]
    };
    let chart = from_batches(
        schema,
        batches,
        kind,
        rest.first().copied(),
        rest.get(1..).unwrap_or(&[]),
    )?;
    match file {
        Some(f) => {
            std::fs::write(Path::new(f), svg::document(&chart))
                .map_err(|e| Error::io(format!("cannot write {f}"), e))?;
            Ok(format!("wrote {f} ({} point(s))\n", chart.x.len()))
        }
        None => Ok(text::render(&chart)),
    }
}
