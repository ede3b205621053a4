//! Lossless raw readers for batch pipelines (the "read raw" step of
//! docs/pipelines.md#the-run-lifecycle; rules: docs/pipelines.md#reading-raw-files).
//!
//! [`read_file`] turns one landing file (CSV or JSON lines, optionally `.gz`) into Arrow batches
//! of raw records — every non-blank record exactly once, with its line number and raw text — or
//! rejects the file whole with a reason code when it cannot be read at all. Field values stay
//! text ([`raw_schema`]); typing and validation are SQL's job.
//!
//! The whole (decompressed) file is read into memory, validated as UTF-8 once, and parsed from
//! `&str` slices.

mod batch;
pub use batch::constant_text;
mod csv_format;
mod jsonl_format;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;

use crate::error::Error;

/// Reject codes of [`FileRead::Rejected`].
pub mod codes {
    /// A byte sequence that is not UTF-8 (or a UTF-16 / binary file).
    pub const NOT_UTF8: &str = "NOT_UTF8";
    /// A `.gz` file whose gzip data is corrupt, truncated or not gzip at all.
    pub const BAD_GZIP: &str = "BAD_GZIP";
    /// No record: zero bytes, only blank lines, or a CSV header without rows.
    pub const EMPTY: &str = "EMPTY";
    /// A required column absent from the CSV header / from every JSON object of the file.
    pub const MISSING_COLUMNS: &str = "MISSING_COLUMNS";
    /// A physical line (or a quoted multi-line CSV record) longer than [`super::MAX_LINE_BYTES`].
    pub const LINE_TOO_LONG: &str = "LINE_TOO_LONG";
    /// More bytes than [`super::ReadOptions::max_file_bytes`] (after decompression, counted while
    /// decompressing: a gzip bomb is stopped at the limit, never expanded in full).
    pub const TOO_LARGE: &str = "TOO_LARGE";
    /// A landing entry that is a symbolic link, FIFO, socket, device or directory: never
    /// opened or followed, moved aside whole.
    pub const NOT_A_REGULAR_FILE: &str = "NOT_A_REGULAR_FILE";
    /// A landing file whose name is not UTF-8: moved aside whole, unread.
    pub const BAD_NAME: &str = "BAD_NAME";
    /// Anything else that makes the file unreadable: not a regular file, compressed in a format
    /// other than gzip (or gzip without the `.gz` name), a CSV header with an unclosed quote.
    pub const UNREADABLE: &str = "UNREADABLE";
}

/// [`ReadOptions::max_file_bytes`] by default: 1 GiB of (decompressed) data per file.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 1 << 30;
/// The longest physical line (and the longest CSV record) accepted: 64 MiB.
pub const MAX_LINE_BYTES: usize = 64 << 20;
/// A CSV text larger than this is parsed in chunks of about this size, on every core.
const CSV_CHUNK_BYTES: usize = 8 << 20;
/// [`ReadOptions::batch_rows`] by default.
pub const DEFAULT_BATCH_ROWS: usize = 65536;

/// The fixed leading columns of [`raw_schema`].
pub const SOURCE_FILE: &str = "source_file";
pub const LINE_NUMBER: &str = "line_number";
pub const RECORD: &str = "record";
pub const MALFORMED: &str = "malformed";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawFormat {
    Csv,
    Jsonl,
}

impl RawFormat {
    /// The format a file name implies: `.csv` → CSV; `.jsonl`, `.ndjson`, `.json` → JSON lines;
    /// each optionally followed by `.gz` (any case). `None` for anything else.
    pub fn from_path(path: &Path) -> Option<RawFormat> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        if name.ends_with(".csv") {
            Some(RawFormat::Csv)
        } else if name.ends_with(".jsonl") || name.ends_with(".ndjson") || name.ends_with(".json") {
            Some(RawFormat::Jsonl)
        } else {
            None
        }
    }
}

/// One raw field the pipeline wants, and whether its absence from the whole file rejects the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpec {
    pub name: String,
    pub required: bool,
}

impl FieldSpec {
    pub fn required(name: impl Into<String>) -> Self {
        FieldSpec {
            name: name.into(),
            required: true,
        }
    }

    pub fn optional(name: impl Into<String>) -> Self {
        FieldSpec {
            name: name.into(),
            required: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ReadOptions {
    pub format: RawFormat,
    pub fields: Vec<FieldSpec>,
    /// Rows per output batch (default [`DEFAULT_BATCH_ROWS`]; 0 is taken as 1). A batch is also
    /// cut early once its `record` texts reach 512 MiB, so no string column can overflow.
    pub batch_rows: usize,
    /// A file with more bytes than this (decompressed, for `.gz`) is rejected whole
    /// ([`codes::TOO_LARGE`]); the check runs while reading, so memory stays bounded.
    pub max_file_bytes: u64,
}

impl ReadOptions {
    pub fn new(format: RawFormat, fields: Vec<FieldSpec>) -> Self {
        ReadOptions {
            format,
            fields,
            batch_rows: DEFAULT_BATCH_ROWS,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        }
    }
}

#[derive(Debug, Clone)]
pub enum FileRead {
    /// Every record of the file, as Arrow batches (see [`raw_schema`]).
    Records {
        batches: Vec<RecordBatch>,
        rows: usize,
    },
    /// The file cannot be read at all; `code` is one of [`codes`]; `message` is for humans:
    /// which file, which line/column, what to do.
    Rejected { code: String, message: String },
}

impl FileRead {
    fn rejected(code: &str, message: String) -> Self {
        FileRead::Rejected {
            code: code.to_string(),
            message,
        }
    }
}

/// `source_file` Utf8View, `line_number` Int64, `record` Utf8View, `malformed` Boolean (all
/// non-null), then one nullable Utf8View column per field, in order, named as the field.
pub fn raw_schema(fields: &[FieldSpec]) -> SchemaRef {
    let mut cols = vec![
        Field::new(SOURCE_FILE, DataType::Utf8View, false),
        Field::new(LINE_NUMBER, DataType::Int64, false),
        Field::new(RECORD, DataType::Utf8View, false),
        Field::new(MALFORMED, DataType::Boolean, false),
    ];
    cols.extend(
        fields
            .iter()
            .map(|f| Field::new(f.name.clone(), DataType::Utf8View, true)),
    );
    Arc::new(Schema::new(cols))
}

/// Read one raw file. A name ending in `.gz` (any case) is gunzipped first. `Err` only for I/O
/// errors (missing file, permission denied, …); every data problem is a [`FileRead::Rejected`].
pub fn read_file(path: &Path, source_name: &str, opts: &ReadOptions) -> Result<FileRead, Error> {
    let label = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| Error::io(format!("reading {label}"), e))?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "a directory"
        } else {
            "not a regular file"
        };
        return Ok(FileRead::rejected(
            codes::UNREADABLE,
            format!("{label}: is {what}; only regular files can be ingested"),
        ));
    }
    if meta.len() > opts.max_file_bytes {
        return Ok(too_large(&label, opts.max_file_bytes, ""));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| {
            f.take(opts.max_file_bytes.saturating_add(1))
                .read_to_end(&mut bytes)
        })
        .map_err(|e| Error::io(format!("reading {label}"), e))?;
    let gzip = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    read_bytes(bytes, gzip, &label, source_name, opts)
}

/// [`read_file`] on bytes already in memory; `label` names the file in messages.
pub fn read_bytes(
    bytes: Vec<u8>,
    gzip: bool,
    label: &str,
    source_name: &str,
    opts: &ReadOptions,
) -> Result<FileRead, Error> {
    let limits = Limits {
        max_line: MAX_LINE_BYTES,
        chunk_bytes: CSV_CHUNK_BYTES,
    };
    read_bytes_limited(bytes, gzip, label, source_name, opts, limits)
}

/// Sizes the tests make small.
#[derive(Debug, Clone, Copy)]
struct Limits {
    max_line: usize,
    chunk_bytes: usize,
}

fn read_bytes_limited(
    bytes: Vec<u8>,
    gzip: bool,
    label: &str,
    source_name: &str,
    opts: &ReadOptions,
    limits: Limits,
) -> Result<FileRead, Error> {
    let max_line = limits.max_line;
    if bytes.is_empty() {
        return Ok(FileRead::rejected(
            codes::EMPTY,
            format!("{label}: the file is empty (0 bytes)"),
        ));
    }
    if !gzip && bytes.len() as u64 > opts.max_file_bytes {
        return Ok(too_large(label, opts.max_file_bytes, ""));
    }
    let bytes = if gzip {
        match gunzip(&bytes, opts.max_file_bytes) {
            Ok(b) => b,
            Err(Gunzip::TooLarge) => {
                return Ok(too_large(label, opts.max_file_bytes, " once decompressed"));
            }
            Err(Gunzip::Corrupt(err, done)) => {
                return Ok(FileRead::rejected(
                    codes::BAD_GZIP,
                    format!(
                        "{label}: the gzip data is corrupt or truncated ({err}; {done} bytes \
                         decompressed before the error); re-send the file, or drop the .gz \
                         suffix if it is not compressed"
                    ),
                ));
            }
        }
    } else {
        bytes
    };
    let gz_note = if gzip {
        " of the decompressed data"
    } else {
        ""
    };
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => t,
        Err(e) => return Ok(not_utf8(&bytes, e.valid_up_to(), label, gz_note)),
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.len() > max_line
        && let Some((line, len)) = find_long_line(text.as_bytes(), max_line)
    {
        return Ok(FileRead::rejected(
            codes::LINE_TOO_LONG,
            format!(
                "{label}: line {line} is {len} bytes long, over the {} MiB limit; is the file \
                 really {} with one record per line?",
                max_line >> 20,
                format_name(opts.format)
            ),
        ));
    }
    let mut out = batch::Batches::new(raw_schema(&opts.fields), source_name, opts.batch_rows, text);
    let parsed = match opts.format {
        RawFormat::Csv => csv_format::read(
            text,
            label,
            &opts.fields,
            max_line,
            limits.chunk_bytes,
            &mut out,
        )?,
        RawFormat::Jsonl => jsonl_format::read(text, label, &opts.fields, &mut out)?,
    };
    Ok(match parsed {
        Some(reject) => reject,
        None => {
            let (batches, rows) = out.finish()?;
            FileRead::Records { batches, rows }
        }
    })
}

fn format_name(format: RawFormat) -> &'static str {
    match format {
        RawFormat::Csv => "CSV",
        RawFormat::Jsonl => "JSON lines",
    }
}

fn too_large(label: &str, max: u64, how: &str) -> FileRead {
    FileRead::rejected(
        codes::TOO_LARGE,
        format!(
            "{label}: the file is larger than {max} bytes{how} (--max-file-bytes); split it, \
             or raise the limit if the machine has the memory for it"
        ),
    )
}

enum Gunzip {
    /// The error, and how many bytes came out before it.
    Corrupt(std::io::Error, usize),
    /// More than the limit came out; decompression stopped there.
    TooLarge,
}

/// Decompress every gzip member, at most `max` bytes: the decoder is read through `take`, so
/// a bomb costs `max` bytes of memory, not its expanded size.
fn gunzip(compressed: &[u8], max: u64) -> Result<Vec<u8>, Gunzip> {
    // Capacity from the trailer's ISIZE (the last member's size mod 2^32): exact for the usual
    // single-member file under 4 GiB, so the buffer is not doubled (and copied) as it fills;
    // a wrong one costs reallocations only, never more than the limit.
    let isize = compressed
        .len()
        .checked_sub(4)
        .and_then(|at| compressed.get(at..))
        .and_then(|t| <[u8; 4]>::try_from(t).ok())
        .map_or(0, |t| u64::from(u32::from_le_bytes(t)));
    let cap = isize
        .max(compressed.len() as u64)
        .min(max.saturating_add(1));
    let mut out = Vec::with_capacity(cap as usize);
    let decoder = flate2::read::MultiGzDecoder::new(compressed);
    match decoder.take(max.saturating_add(1)).read_to_end(&mut out) {
        Ok(_) if out.len() as u64 > max => Err(Gunzip::TooLarge),
        Ok(_) => Ok(out),
        Err(e) => Err(Gunzip::Corrupt(e, out.len())),
    }
}

fn not_utf8(bytes: &[u8], offset: usize, label: &str, gz_note: &str) -> FileRead {
    let kind = sniff_binary(bytes);
    if let Some(kind) = kind.filter(|_| offset < 16) {
        return FileRead::rejected(
            codes::UNREADABLE,
            format!("{label}: this is {kind}, not CSV or JSON lines text"),
        );
    }
    let before = &bytes[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = offset
        - before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1)
        + 1;
    let hint = if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        " (the file starts with a UTF-16 byte-order mark)"
    } else {
        ""
    };
    FileRead::rejected(
        codes::NOT_UTF8,
        format!(
            "{label}: not valid UTF-8 at byte {offset}{gz_note} (line {line}, byte {column} of \
             the line){hint}; re-export the file as UTF-8 (e.g. `iconv -f WINDOWS-1252 -t UTF-8`)"
        ),
    )
}

/// Compressed or archive formats we recognise by their magic number, to say so instead of
/// "not UTF-8".
fn sniff_binary(bytes: &[u8]) -> Option<&'static str> {
    const MAGICS: &[(&[u8], &str)] = &[
        (
            &[0x1F, 0x8B],
            "gzip data without a .gz name (rename it to end in .gz)",
        ),
        (
            b"PK\x03\x04",
            "a zip archive (unzip it; only .gz is supported)",
        ),
        (b"BZh", "bzip2 data (only .gz is supported)"),
        (
            &[0xFD, b'7', b'z', b'X', b'Z', 0],
            "xz data (only .gz is supported)",
        ),
        (
            &[0x28, 0xB5, 0x2F, 0xFD],
            "zstd data (only .gz is supported)",
        ),
        (b"PAR1", "a Parquet file"),
    ];
    MAGICS
        .iter()
        .find(|(magic, _)| bytes.starts_with(magic))
        .map(|(_, kind)| *kind)
}

/// The first physical line longer than `max` bytes (terminator excluded): (line number, length).
fn find_long_line(bytes: &[u8], max: usize) -> Option<(usize, usize)> {
    bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .find(|(_, line)| line.len() > max)
        .map(|(i, line)| (i + 1, line.len()))
}

/// ASCII whitespace as docs/pipelines.md#reading-raw-files defines it: space, tab, LF, VT, FF, CR.
#[inline]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}

/// `s` without leading and trailing [`is_ws`] bytes.
#[inline]
fn trim_ws(s: &str) -> &str {
    let b = s.as_bytes();
    let mut start = 0;
    let mut end = b.len();
    while start < end && is_ws(b[start]) {
        start += 1;
    }
    while end > start && is_ws(b[end - 1]) {
        end -= 1;
    }
    // Both ends sit next to ASCII bytes (or at the ends), so they are char boundaries.
    &s[start..end]
}

#[inline]
fn is_blank(s: &[u8]) -> bool {
    s.iter().all(|&b| is_ws(b))
}
