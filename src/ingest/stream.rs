//! Reading one raw file as a stream of pieces, so memory holds a piece, never the file.
//!
//! The decoded bytes (gunzipped on the fly for `.gz`) pass two readers:
//! - [`ByteScan`] sees every byte once, in order: the size limit, UTF-8, and the length of
//!   every physical line — the checks that reject a file whole before any record counts;
//! - the parser takes the bytes in pieces of about [`Limits::segment`] bytes cut after a line
//!   break. A CSV record whose quote is still open at the end of a piece is carried into the
//!   next one; everything before it is parsed (on every core, see `csv_format::Body`) and
//!   handed to the caller's sink as Arrow batches.
//!
//! The verdict is that of reading the whole file at once: a problem found late in the file
//! still rejects it whole (the caller drops what the sink received), and when a file has
//! several problems the one reported is the one a top-to-bottom read reports first —
//! gzip/size, then UTF-8, then line length, then the records' own problems.

use std::cell::Cell;
use std::io::Read;
use std::rc::Rc;

use datafusion::arrow::record_batch::RecordBatch;

use super::batch::Batches;
use super::csv_format::{Body, Header, HeaderRead, no_records, read_header};
use super::jsonl_format::JsonlRead;
use super::{FileRead, Limits, RawFormat, ReadOptions, codes, format_name, raw_schema, too_large};
use crate::error::Error;

/// What streaming a file gave.
#[derive(Debug)]
pub enum Streamed {
    /// Every record went to the sink.
    Taken { rows: usize },
    /// The file is rejected whole (whatever the sink received must be dropped); `code` is one
    /// of [`codes`].
    Rejected { code: String, message: String },
}

/// Where the parsed batches of a file go, piece by piece.
pub type Sink<'a> = dyn FnMut(Vec<RecordBatch>) -> Result<(), Error> + 'a;

/// The UTF-8 byte-order mark, dropped from the start of a file.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reads `raw` (the file's bytes as stored; gunzipped here when `gzip`) and sends its records
/// to `sink`. `Err` only for I/O errors; every data problem is [`Streamed::Rejected`].
pub(super) fn read_stream(
    raw: impl Read,
    gzip: bool,
    label: &str,
    source_name: &str,
    opts: &ReadOptions,
    limits: Limits,
    sink: &mut Sink<'_>,
) -> Result<Streamed, Error> {
    let raw = Counted {
        inner: raw,
        bytes: Rc::new(Cell::new(0)),
        failed: Rc::new(Cell::new(false)),
    };
    let (raw_bytes, io_failed) = (raw.bytes.clone(), raw.failed.clone());
    let mut src: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    let empty = || {
        Streamed::rejected(
            codes::EMPTY,
            format!("{label}: the file is empty (0 bytes)"),
        )
    };
    let gz_note = if gzip {
        " of the decompressed data"
    } else {
        ""
    };
    let mut scan = ByteScan::new(limits.max_line);
    let mut parser = Parser::new(opts, label, source_name, limits);
    let mut block = vec![0u8; limits.block.max(1)];
    let mut decoded: u64 = 0;
    loop {
        let n = match src.read(&mut block) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if gzip && !io_failed.get() => {
                if raw_bytes.get() == 0 {
                    return Ok(empty());
                }
                return Ok(Streamed::rejected(
                    codes::BAD_GZIP,
                    format!(
                        "{label}: the gzip data is corrupt or truncated ({e}; {decoded} bytes \
                         decompressed before the error); re-send the file, or drop the .gz \
                         suffix if it is not compressed"
                    ),
                ));
            }
            Err(e) => return Err(Error::io(format!("reading {label}"), e)),
        };
        if n == 0 {
            break;
        }
        decoded += n as u64;
        if decoded > opts.max_file_bytes {
            let how = if gzip { " once decompressed" } else { "" };
            return Ok(from_read(too_large(label, opts.max_file_bytes, how)));
        }
        let bytes = &block[..n];
        scan.feed(bytes);
        if scan.clean() && parser.reject.is_none() {
            parser.push(bytes, sink)?;
        }
    }
    if raw_bytes.get() == 0 {
        return Ok(empty());
    }
    scan.finish();
    if let Some(reject) = scan.not_utf8_reject(label, gz_note) {
        return Ok(from_read(reject));
    }
    if let Some((line, len)) = scan.long {
        return Ok(Streamed::rejected(
            codes::LINE_TOO_LONG,
            format!(
                "{label}: line {line} is {len} bytes long, over the {} MiB limit; is the file \
                 really {} with one record per line?",
                limits.max_line >> 20,
                format_name(opts.format)
            ),
        ));
    }
    if parser.reject.is_none() {
        parser.process(true, sink)?;
    }
    Ok(match parser.reject {
        Some(r) => from_read(r),
        None => Streamed::Taken { rows: parser.rows },
    })
}

impl Streamed {
    fn rejected(code: &str, message: String) -> Self {
        Streamed::Rejected {
            code: code.to_string(),
            message,
        }
    }
}

fn from_read(r: FileRead) -> Streamed {
    match r {
        FileRead::Rejected { code, message } => Streamed::Rejected { code, message },
        FileRead::Records { rows, .. } => Streamed::Taken { rows },
    }
}

/// The raw reader, counting its bytes and remembering whether it failed (so a gzip error is
/// told apart from an I/O error underneath it).
struct Counted<R> {
    inner: R,
    bytes: Rc<Cell<u64>>,
    failed: Rc<Cell<bool>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.bytes.set(self.bytes.get() + n as u64);
                Ok(n)
            }
            Err(e) => {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    self.failed.set(true);
                }
                Err(e)
            }
        }
    }
}

/// The byte-level checks over the whole decoded file: UTF-8 and physical line lengths.
struct ByteScan {
    max_line: usize,
    /// Decoded bytes seen so far.
    offset: u64,
    /// The file's first bytes (to name a binary format instead of saying "not UTF-8").
    head: Vec<u8>,
    /// A character cut by the end of the last block, and where it starts.
    pending: Vec<u8>,
    pending_at: u64,
    /// The current line: its number, where it starts, its length so far.
    line: usize,
    line_start: u64,
    line_len: usize,
    /// The first invalid byte: its offset, line and column (1-based byte of the line).
    not_utf8: Option<(u64, usize, u64)>,
    /// The first line over the limit: its number and length (growing until its end).
    long: Option<(usize, usize)>,
    long_open: bool,
}

impl ByteScan {
    fn new(max_line: usize) -> Self {
        ByteScan {
            max_line,
            offset: 0,
            head: Vec::with_capacity(16),
            pending: Vec::with_capacity(4),
            pending_at: 0,
            line: 1,
            line_start: 0,
            line_len: 0,
            not_utf8: None,
            long: None,
            long_open: false,
        }
    }

    /// Nothing found that rejects the file (yet).
    fn clean(&self) -> bool {
        self.not_utf8.is_none() && self.long.is_none()
    }

    fn feed(&mut self, block: &[u8]) {
        if self.head.len() < 16 {
            let take = (16 - self.head.len()).min(block.len());
            self.head.extend_from_slice(&block[..take]);
        }
        if self.not_utf8.is_none()
            && let Some(at) = self.check_utf8(block)
        {
            // Lines are counted after this check: the current line is the block's first.
            let (line, line_start) = if at < self.offset {
                (self.line, self.line_start)
            } else {
                let before = &block[..(at - self.offset) as usize];
                match memchr::memrchr(b'\n', before) {
                    None => (self.line, self.line_start),
                    Some(lf) => (
                        self.line + memchr::memchr_iter(b'\n', before).count(),
                        self.offset + lf as u64 + 1,
                    ),
                }
            };
            self.not_utf8 = Some((at, line, at - line_start + 1));
        }
        self.count_lines(block);
        self.offset += block.len() as u64;
    }

    /// The offset of the first invalid byte in `block` (or of a character the last block cut
    /// that `block` does not complete validly).
    fn check_utf8(&mut self, block: &[u8]) -> Option<u64> {
        let mut rest = block;
        if !self.pending.is_empty() {
            // Complete the character the last block cut.
            let width = match self.pending[0] {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                _ => 4,
            };
            let take = (width - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            match std::str::from_utf8(&self.pending) {
                Ok(_) => {}
                // Still a valid start (the block ended again): wait for more.
                Err(e) if e.error_len().is_none() => return None,
                Err(_) => return Some(self.pending_at),
            }
            self.pending.clear();
        }
        let base = self.offset + (block.len() - rest.len()) as u64;
        if let Err(e) = std::str::from_utf8(rest) {
            let at = e.valid_up_to();
            if e.error_len().is_some() {
                return Some(base + at as u64);
            }
            // A valid start of a character, cut by the end of the block.
            self.pending.extend_from_slice(&rest[at..]);
            self.pending_at = base + at as u64;
        }
        None
    }

    /// Where the whole-file reader measures a line: without the byte-order mark on line 1.
    fn measured(&self, line: usize, len: usize) -> usize {
        if line == 1 && self.head.starts_with(BOM) {
            len.saturating_sub(BOM.len())
        } else {
            len
        }
    }

    fn count_lines(&mut self, block: &[u8]) {
        let mut from = 0;
        for lf in memchr::memchr_iter(b'\n', block) {
            let len = self.line_len + (lf - from);
            self.end_line(len);
            self.line += 1;
            self.line_start = self.offset + lf as u64 + 1;
            self.line_len = 0;
            from = lf + 1;
        }
        self.line_len += block.len() - from;
        let len = self.measured(self.line, self.line_len);
        if self.long.is_none() && len > self.max_line {
            self.long = Some((self.line, len));
            self.long_open = true;
        } else if self.long_open {
            self.long = Some((self.line, len));
        }
    }

    /// The current line ends with `len` bytes.
    fn end_line(&mut self, len: usize) {
        let len = self.measured(self.line, len);
        if self.long_open {
            self.long = Some((self.line, len));
            self.long_open = false;
        } else if self.long.is_none() && len > self.max_line {
            self.long = Some((self.line, len));
        }
    }

    /// The end of the file: a character still cut there is invalid.
    fn finish(&mut self) {
        if self.not_utf8.is_none() && !self.pending.is_empty() {
            // No line break since it started: it is on the current line.
            let at = self.pending_at;
            self.not_utf8 = Some((at, self.line, at - self.line_start + 1));
        }
        self.long_open = false;
    }

    fn not_utf8_reject(&self, label: &str, gz_note: &str) -> Option<FileRead> {
        let (offset, line, column) = self.not_utf8?;
        Some(super::not_utf8_message(
            &self.head, offset, line, column, label, gz_note,
        ))
    }
}

/// What the file's records are being read as.
enum Format<'o> {
    /// The header once read.
    Csv(Option<Header>),
    Jsonl(JsonlRead<'o>),
}

/// The parser side: buffers decoded bytes and parses them a piece at a time.
struct Parser<'o> {
    opts: &'o ReadOptions,
    label: &'o str,
    source_name: &'o str,
    schema: datafusion::arrow::datatypes::SchemaRef,
    limits: Limits,
    /// Bytes not parsed yet; they start at a line start.
    buf: Vec<u8>,
    /// The line number of `buf[0]`.
    line: usize,
    /// The start of the file was looked at for a byte-order mark.
    bom_checked: bool,
    format: Format<'o>,
    /// Parse once `buf` holds this many bytes.
    next_at: usize,
    rows: usize,
    reject: Option<FileRead>,
}

impl<'o> Parser<'o> {
    fn new(opts: &'o ReadOptions, label: &'o str, source_name: &'o str, limits: Limits) -> Self {
        Parser {
            opts,
            label,
            source_name,
            schema: raw_schema(&opts.fields),
            limits,
            buf: Vec::new(),
            line: 1,
            bom_checked: false,
            format: match opts.format {
                RawFormat::Csv => Format::Csv(None),
                RawFormat::Jsonl => Format::Jsonl(JsonlRead::new(&opts.fields)),
            },
            next_at: limits.segment.max(1),
            rows: 0,
            reject: None,
        }
    }

    fn push(&mut self, bytes: &[u8], sink: &mut Sink<'_>) -> Result<(), Error> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= self.next_at {
            self.process(false, sink)?;
        }
        Ok(())
    }

    /// Parses what `buf` holds up to its last line break (everything, at the end of the file).
    fn process(&mut self, eof: bool, sink: &mut Sink<'_>) -> Result<(), Error> {
        if !self.bom_checked {
            if self.buf.len() < BOM.len() && !eof {
                return Ok(());
            }
            if self.buf.starts_with(BOM) {
                self.buf.drain(..BOM.len());
            }
            self.bom_checked = true;
        }
        let cut = if eof {
            self.buf.len()
        } else {
            match memchr::memrchr(b'\n', &self.buf) {
                Some(lf) => lf + 1,
                None => return Ok(()),
            }
        };
        let Ok(text) = std::str::from_utf8(&self.buf[..cut]) else {
            // The byte scan validated these bytes; this is only a second opinion.
            self.reject = Some(FileRead::rejected(
                codes::NOT_UTF8,
                format!("{}: not valid UTF-8 near line {}", self.label, self.line),
            ));
            return Ok(());
        };
        let mut out = Batches::new(
            self.schema.clone(),
            self.source_name,
            self.opts.batch_rows,
            text,
            self.opts.count_only,
        );
        let line = self.line;
        // (bytes parsed, line number after them, rejection)
        let (used, next_line, reject) = match &mut self.format {
            Format::Jsonl(reader) => {
                reader.feed(text, line, &mut out)?;
                let reject = if eof { reader.finish(self.label) } else { None };
                (
                    cut,
                    line + memchr::memchr_iter(b'\n', text.as_bytes()).count(),
                    reject,
                )
            }
            Format::Csv(header) => {
                let mut start = 0;
                let mut at_line = line;
                if header.is_none() {
                    let max = self.limits.max_line;
                    match read_header(text, self.label, &self.opts.fields, max, eof, line) {
                        HeaderRead::NeedMore { blank, lines } => {
                            self.buf.drain(..blank);
                            self.line += lines;
                            self.next_at = self.limits.segment.max(2 * self.buf.len());
                            return Ok(());
                        }
                        HeaderRead::Reject(r) => {
                            self.reject = Some(r);
                            self.buf = Vec::new();
                            return Ok(());
                        }
                        HeaderRead::Done {
                            header: h,
                            next,
                            next_line,
                        } => {
                            start = next;
                            at_line = next_line;
                            *header = Some(h);
                        }
                    }
                }
                let Some(h) = header.as_ref() else {
                    return Ok(());
                };
                let body = Body {
                    header: h,
                    label: self.label,
                    max_record: self.limits.max_line,
                    at_eof: eof,
                };
                let (reject, end) =
                    body.read(text, start, at_line, self.limits.chunk_bytes, &mut out)?;
                let reject = reject.or_else(|| {
                    eof.then(|| no_records(self.label, h, self.rows + out.rows()))
                        .flatten()
                });
                let lines = memchr::memchr_iter(b'\n', &text.as_bytes()[start..end]).count();
                (end, at_line + lines, reject)
            }
        };
        if let Some(r) = reject {
            self.reject = Some(r);
            self.buf = Vec::new();
            return Ok(());
        }
        let (batches, rows) = out.finish()?;
        self.rows += rows;
        if !batches.is_empty() {
            sink(batches)?;
        }
        self.buf.drain(..used);
        self.line = next_line;
        // A record carried over is parsed again with the next piece: wait for twice as much.
        self.next_at = self.limits.segment.max(1).max(2 * self.buf.len());
        Ok(())
    }
}
