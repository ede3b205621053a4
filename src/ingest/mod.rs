//! Lossless raw readers for batch pipelines (the "read raw" step of
//! docs/pipelines.md#the-run-lifecycle; rules: docs/pipelines.md#reading-raw-files).
//!
//! [`read_file`] turns one landing file (CSV or JSON lines, optionally `.gz`) into Arrow batches
//! of raw records — every non-blank record exactly once, with its line number and raw text — or
//! rejects the file whole with a reason code when it cannot be read at all. Field values stay
//! text ([`raw_schema`]); typing and validation are SQL's job.
//!
//! A file is read as a stream ([`stream`]): decoded a block at a time, checked byte by byte,
//! and parsed a piece (a few MB of whole lines) at a time from `&str` slices, so memory holds
//! a piece of the file, never all of it. [`read_file`] / [`read_bytes`] collect the batches;
//! [`stream_file`] hands them to the caller as they come.

mod batch;
pub use batch::constant_text;
mod csv_format;
mod jsonl_format;
#[cfg(test)]
mod proptests;
mod stream;
pub use stream::{Sink, Streamed};
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
/// The default limit of a pipeline run under `--memory-limit`, whose files are streamed
/// (memory no longer grows with a file): 16 GiB of (decompressed) data per file, which
/// still stops a gzip bomb long before it fills a disk.
pub const DEFAULT_MAX_STREAMED_FILE_BYTES: u64 = 16 << 30;
/// The longest physical line (and the longest CSV record) accepted: 64 MiB.
pub const MAX_LINE_BYTES: usize = 64 << 20;
/// A CSV piece larger than this is parsed in chunks of about this size, on every core.
const CSV_CHUNK_BYTES: usize = 8 << 20;
/// Decoded bytes are taken from the file (or the gzip decoder) this many at a time.
const BLOCK_BYTES: usize = 1 << 20;
/// A file is parsed in pieces of about this many bytes (cut after a line break): with every
/// core parsing a piece of its own file, memory holds a few of these, whatever the file size.
const SEGMENT_BYTES: usize = 32 << 20;
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
    /// Count the records without building their columns: the batches come out empty and
    /// the count and the verdict are as a full parse gives them. The read of a batch table
    /// its scan parses again needs only those.
    pub count_only: bool,
}

impl ReadOptions {
    pub fn new(format: RawFormat, fields: Vec<FieldSpec>) -> Self {
        ReadOptions {
            format,
            fields,
            batch_rows: DEFAULT_BATCH_ROWS,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            count_only: false,
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
    let file = std::fs::File::open(path).map_err(|e| Error::io(format!("reading {label}"), e))?;
    let gzip = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    collect(file, gzip, &label, source_name, opts, Limits::DEFAULT)
}

/// [`read_file`] on bytes already in memory; `label` names the file in messages.
pub fn read_bytes(
    bytes: Vec<u8>,
    gzip: bool,
    label: &str,
    source_name: &str,
    opts: &ReadOptions,
) -> Result<FileRead, Error> {
    collect(
        bytes.as_slice(),
        gzip,
        label,
        source_name,
        opts,
        Limits::DEFAULT,
    )
}

/// Reads a raw file from `reader` (its bytes as stored: gzip data when `gzip`) and hands its
/// batches to `sink` piece by piece; memory holds a few pieces of the file, never all of it.
/// When the verdict is [`Streamed::Rejected`] the file is rejected whole: the caller drops
/// whatever the sink received. `Err` only for I/O errors.
pub fn stream_file(
    reader: impl Read,
    gzip: bool,
    label: &str,
    source_name: &str,
    opts: &ReadOptions,
    sink: &mut Sink<'_>,
) -> Result<Streamed, Error> {
    stream::read_stream(
        reader,
        gzip,
        label,
        source_name,
        opts,
        Limits::DEFAULT,
        sink,
    )
}

/// Sizes the tests make small.
#[derive(Debug, Clone, Copy)]
struct Limits {
    max_line: usize,
    chunk_bytes: usize,
    block: usize,
    segment: usize,
}

impl Limits {
    const DEFAULT: Limits = Limits {
        max_line: MAX_LINE_BYTES,
        chunk_bytes: CSV_CHUNK_BYTES,
        block: BLOCK_BYTES,
        segment: SEGMENT_BYTES,
    };
}

/// Streams a file and collects its batches ([`read_file`], [`read_bytes`]; the tests call it
/// with other [`Limits`]).
fn collect(
    reader: impl Read,
    gzip: bool,
    label: &str,
    source_name: &str,
    opts: &ReadOptions,
    limits: Limits,
) -> Result<FileRead, Error> {
    let mut batches = Vec::new();
    let mut sink = |b: Vec<RecordBatch>| {
        batches.extend(b);
        Ok(())
    };
    let verdict = stream::read_stream(reader, gzip, label, source_name, opts, limits, &mut sink)?;
    Ok(match verdict {
        Streamed::Taken { rows } => FileRead::Records { batches, rows },
        Streamed::Rejected { code, message } => FileRead::Rejected { code, message },
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

/// The NOT_UTF8 (or "this is a zip archive") rejection for the first invalid byte at
/// `offset` (line `line`, byte `column` of it); `head` is the file's first bytes.
fn not_utf8_message(
    head: &[u8],
    offset: u64,
    line: usize,
    column: u64,
    label: &str,
    gz_note: &str,
) -> FileRead {
    if let Some(kind) = sniff_binary(head).filter(|_| offset < 16) {
        return FileRead::rejected(
            codes::UNREADABLE,
            format!("{label}: this is {kind}, not CSV or JSON lines text"),
        );
    }
    let hint = if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
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
