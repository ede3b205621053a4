//! CSV: an RFC 4180 splitter over the validated text, with the quoting rules of `csv-core`
//! (what DataFusion's own CSV reader uses), so both read a file the same way:
//!
//! - a record ends at an LF outside quotes; a CR right before it is not part of the record text
//!   (a lone CR is data, and trimming removes it from values);
//! - a field is quoted only if its first byte is `"`; inside, `""` is one quote and commas and
//!   line breaks are data; text after the closing quote is appended as is (`"ab"c` = `abc`);
//!   in an unquoted field a `"` is an ordinary character;
//! - a quote still open at the end of the file makes that record malformed: the record is then
//!   only its first physical line and reading goes on with the next line (the rest of the file
//!   holds no quote at all, so it reads exactly as it would without the stray quote);
//! - a record containing a NUL byte is malformed (binary data or UTF-16 text, never CSV).
//!
//! Why not the `csv` crate (already a dependency, for writing): it would have to reproduce
//! the recovery rule above (it reads the rest of the file into the open field), it copies every
//! field into its own record buffer where this splitter hands out ranges of the validated text
//! (values stay borrowed `Cow`s unless unquoting changes them), and the parallel chunking below
//! restarts at arbitrary line starts with our own line counting. Nor is it faster here: on a
//! generated 27 MB file (400 000 records, every 7th with a quoted `""` field, every 50th over
//! two lines) splitting into records and field ranges on one thread took 332–543 ms with this
//! splitter and 734–927 ms with `csv::Reader::read_byte_record` (three runs each, dev profile
//! as the tests build it, on a shared 2-core machine; `measure::measure_csv_splitter`).

use std::borrow::Cow;

use super::batch::Batches;
use super::{FieldSpec, FileRead, codes, is_blank, is_ws, trim_ws};
use crate::error::Error;
use crate::parallel::parallel_map;

/// One record's extent in the text.
struct Span {
    /// First byte of the record.
    start: usize,
    /// End of the record text: its terminator (LF, or CR LF) excluded.
    end: usize,
    /// Where the next record (or blank line) starts.
    next: usize,
    /// Line feeds inside the record text (quoted multi-line fields).
    inner_lines: usize,
    /// A quote was open at the end of the file.
    unterminated: bool,
}

/// Split the record starting at `start` (not at the end of the text, not on a blank line);
/// `fields` receives the raw byte range of each field (quotes included).
fn split_record(b: &[u8], start: usize, fields: &mut Vec<(usize, usize)>) -> Span {
    let n = b.len();
    fields.clear();
    let mut i = start;
    let mut quoted = false;
    loop {
        let field_start = i;
        if i < n && b[i] == b'"' {
            quoted = true;
            i += 1;
            loop {
                match b[i..].iter().position(|&c| c == b'"') {
                    None => return unterminated_record(b, start),
                    Some(off) => {
                        let q = i + off;
                        if q + 1 < n && b[q + 1] == b'"' {
                            i = q + 2;
                        } else {
                            i = q + 1;
                            break;
                        }
                    }
                }
            }
        }
        while i < n && b[i] != b',' && b[i] != b'\n' {
            i += 1;
        }
        fields.push((field_start, i));
        if i < n && b[i] == b',' {
            i += 1;
            continue;
        }
        // At an LF or at the end of the text.
        let end = if i > start && b[i - 1] == b'\r' {
            i - 1
        } else {
            i
        };
        let inner_lines = if quoted {
            b[start..end].iter().filter(|&&c| c == b'\n').count()
        } else {
            0
        };
        return Span {
            start,
            end,
            next: (i + 1).min(n),
            inner_lines,
            unterminated: false,
        };
    }
}

/// The record whose quote never closes: its first physical line only.
fn unterminated_record(b: &[u8], start: usize) -> Span {
    let n = b.len();
    let lf = b[start..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(n, |p| start + p);
    let end = if lf > start && b[lf - 1] == b'\r' {
        lf - 1
    } else {
        lf
    };
    Span {
        start,
        end,
        next: (lf + 1).min(n),
        inner_lines: 0,
        unterminated: true,
    }
}

/// Skip blank lines from `pos` (at a line start) while before `limit`; returns the position of
/// the next non-blank line (or `limit`, or the end) and advances `line`.
fn skip_blank_lines(b: &[u8], mut pos: usize, limit: usize, line: &mut usize) -> usize {
    let n = b.len();
    while pos < limit.min(n) && is_ws(b[pos]) {
        let lf = b[pos..].iter().position(|&c| c == b'\n').map(|p| pos + p);
        let end = lf.unwrap_or(n);
        if !is_blank(&b[pos..end]) {
            break;
        }
        *line += 1;
        pos = lf.map_or(n, |lf| lf + 1);
    }
    pos
}

/// The value of one raw field: unquoted, trimmed, `None` when empty.
fn field_value(raw: &str) -> Option<Cow<'_, str>> {
    let value = if raw.starts_with('"') {
        unquote(raw)
    } else {
        Cow::Borrowed(raw)
    };
    let value = match value {
        Cow::Borrowed(s) => Cow::Borrowed(trim_ws(s)),
        Cow::Owned(s) => {
            let t = trim_ws(&s);
            if t.len() == s.len() {
                Cow::Owned(s)
            } else {
                Cow::Owned(t.to_string())
            }
        }
    };
    (!value.is_empty()).then_some(value)
}

/// The content of a quoted field (`raw` starts with `"` and its quote is closed).
fn unquote(raw: &str) -> Cow<'_, str> {
    let b = raw.as_bytes();
    let n = b.len();
    if n >= 2 && b[n - 1] == b'"' && !b[1..n - 1].contains(&b'"') {
        return Cow::Borrowed(&raw[1..n - 1]);
    }
    let mut out = String::with_capacity(n);
    let mut seg = 1;
    let mut i = 1;
    let mut in_quotes = true;
    while i < n {
        if in_quotes && b[i] == b'"' {
            out.push_str(&raw[seg..i]);
            if i + 1 < n && b[i + 1] == b'"' {
                out.push('"');
                i += 2;
            } else {
                in_quotes = false;
                i += 1;
            }
            seg = i;
            continue;
        }
        i += 1;
    }
    out.push_str(&raw[seg.min(n)..]);
    Cow::Owned(out)
}

/// `EMPTY` when a file had a header and no record.
pub(super) fn no_records(label: &str, header: &Header, rows: usize) -> Option<FileRead> {
    (rows == 0).then(|| {
        FileRead::rejected(
            codes::EMPTY,
            format!(
                "{label}: a header (line {}) but no records after it",
                header.line
            ),
        )
    })
}

/// A file's header: where each wanted field is.
pub(super) struct Header {
    /// Its line number.
    pub line: usize,
    /// Fields per well-formed record.
    ncols: usize,
    /// For each wanted field, its column in the file.
    columns: Vec<Option<usize>>,
}

pub(super) enum HeaderRead {
    Done {
        header: Header,
        /// Where the first record (or blank line) after the header starts, and its line.
        next: usize,
        next_line: usize,
    },
    Reject(FileRead),
    /// The text ends before the header does (only when it is not the end of the file):
    /// `blank` bytes of blank lines (`lines` of them) lead the text and can be dropped.
    NeedMore {
        blank: usize,
        lines: usize,
    },
}

/// The header: the first non-blank record of `text`, which starts at line `first_line` of
/// the file, before any record. With `at_eof` false, `text` is only a first piece of the
/// file and may end inside the header.
pub(super) fn read_header(
    text: &str,
    label: &str,
    specs: &[FieldSpec],
    max_record: usize,
    at_eof: bool,
    first_line: usize,
) -> HeaderRead {
    let b = text.as_bytes();
    let n = b.len();
    let mut fields: Vec<(usize, usize)> = Vec::with_capacity(32);
    let mut line = first_line;
    let pos = skip_blank_lines(b, 0, n, &mut line);
    if pos >= n {
        if !at_eof {
            return HeaderRead::NeedMore {
                blank: pos,
                lines: line - first_line,
            };
        }
        return HeaderRead::Reject(FileRead::rejected(
            codes::EMPTY,
            format!("{label}: no header and no records (the file holds only blank lines)"),
        ));
    }
    let header = split_record(b, pos, &mut fields);
    let header_line = line;
    if header.unterminated {
        if n - pos > max_record {
            return HeaderRead::Reject(too_long(label, header_line, max_record));
        }
        if !at_eof {
            return HeaderRead::NeedMore {
                blank: pos,
                lines: line - first_line,
            };
        }
        return HeaderRead::Reject(FileRead::rejected(
            codes::UNREADABLE,
            format!(
                "{label}: the header (line {header_line}) has a quote that is never closed; fix \
                 the header row"
            ),
        ));
    }
    if header.end - header.start > max_record {
        return HeaderRead::Reject(too_long(label, header_line, max_record));
    }
    let names: Vec<String> = fields
        .iter()
        .map(|&(s, e)| {
            field_value(&text[s..e])
                .map(|v| v.to_lowercase())
                .unwrap_or_default()
        })
        .collect();
    let ncols = names.len();
    // For each wanted field, its column in the file (the first one of that name).
    let columns: Vec<Option<usize>> = specs
        .iter()
        .map(|spec| {
            let want = trim_ws(&spec.name).to_lowercase();
            names.iter().position(|n| *n == want)
        })
        .collect();
    let missing: Vec<&str> = specs
        .iter()
        .zip(&columns)
        .filter(|(spec, col)| spec.required && col.is_none())
        .map(|(spec, _)| spec.name.as_str())
        .collect();
    if !missing.is_empty() {
        let found: Vec<String> = fields
            .iter()
            .map(|&(s, e)| field_value(&text[s..e]).unwrap_or_default().into_owned())
            .collect();
        return HeaderRead::Reject(FileRead::rejected(
            codes::MISSING_COLUMNS,
            format!(
                "{label}: the header (line {header_line}) lacks required column(s) {}; columns \
                 found: {}",
                missing.join(", "),
                found.join(", ")
            ),
        ));
    }
    HeaderRead::Done {
        header: Header {
            line: header_line,
            ncols,
            columns,
        },
        next: header.next,
        next_line: line + 1 + header.inner_lines,
    }
}

/// How the records after a header are read.
pub(super) struct Body<'a> {
    pub header: &'a Header,
    pub label: &'a str,
    pub max_record: usize,
    /// The text ends where the file does. When it does not, a record whose quote is still
    /// open at the end of the text is left for the next piece (see [`Body::read`]).
    pub at_eof: bool,
}

/// The records between two positions, parsed on their own.
struct Chunk<'t> {
    /// Where parsing started (a line start) and where it stopped: at the first record or
    /// blank line at or after the chunk's limit, at a record left for the next piece of the
    /// file, or at the end of the text.
    start: usize,
    end: usize,
    out: Batches<'t>,
    reject: Option<FileRead>,
}

impl Body<'_> {
    /// Every record of `text` from `start` (a line start, line number `line`) into `out`;
    /// returns a rejection, or where reading stopped: the end of the text, or (not at the end
    /// of the file) the start of a record whose quote is still open there.
    ///
    /// A large text is cut into chunks of about `chunk_bytes` at line starts, parsed on every
    /// core. A chunk assumes a record starts at its first byte; that holds unless a quoted
    /// field with line breaks spans the cut. The previous chunk knows: it parses on past its
    /// limit to the end of its last record. When it does not end exactly where the next chunk
    /// starts, everything from its end on is parsed again in one piece, so the result is
    /// always that of parsing the file from top to bottom.
    pub(super) fn read<'t>(
        &self,
        text: &'t str,
        start: usize,
        line: usize,
        chunk_bytes: usize,
        out: &mut Batches<'t>,
    ) -> Result<(Option<FileRead>, usize), Error> {
        let b = text.as_bytes();
        let n = b.len();
        let mut cuts = vec![start];
        let step = chunk_bytes.max(1);
        while let Some(&last) = cuts.last() {
            let target = last.saturating_add(step);
            if target >= n {
                break;
            }
            match memchr::memchr(b'\n', &b[target..]) {
                Some(p) if target + p + 1 < n => cuts.push(target + p + 1),
                _ => break,
            }
        }
        let ranges: Vec<(usize, usize)> = cuts
            .iter()
            .zip(cuts.iter().skip(1).chain(std::iter::once(&n)))
            .map(|(&s, &e)| (s, e))
            .collect();
        // The line number at each cut: line breaks before it, counted per range in parallel.
        let breaks = parallel_map(&ranges, |&(s, e)| {
            memchr::memchr_iter(b'\n', &b[s..e]).count()
        });
        let mut jobs = Vec::with_capacity(ranges.len());
        let mut at = line;
        for (&(s, e), count) in ranges.iter().zip(&breaks) {
            jobs.push((s, e, at));
            at += count;
        }
        let chunks = parallel_map(&jobs, |&(s, e, l)| self.parse(text, s, e, l, out.sibling()));

        let mut expected = start;
        for chunk in chunks {
            let chunk = chunk?;
            if chunk.start != expected {
                // A multi-line record spans the cut before this chunk (or is left for the
                // next piece of the file): parse the rest again.
                let line = line + memchr::memchr_iter(b'\n', &b[start..expected]).count();
                let rest = self.parse(text, expected, n, line, out.sibling())?;
                if rest.reject.is_some() {
                    return Ok((rest.reject, rest.end));
                }
                out.absorb(rest.out)?;
                return Ok((None, rest.end));
            }
            if chunk.reject.is_some() {
                return Ok((chunk.reject, chunk.end));
            }
            out.absorb(chunk.out)?;
            expected = chunk.end;
        }
        Ok((None, expected))
    }

    /// Parse the records of `text` from `pos` (a line start, line number `line`) until the
    /// first one starting at or after `limit`.
    fn parse<'t>(
        &self,
        text: &'t str,
        mut pos: usize,
        limit: usize,
        mut line: usize,
        mut out: Batches<'t>,
    ) -> Result<Chunk<'t>, Error> {
        let b = text.as_bytes();
        let n = b.len();
        let start = pos;
        let columns = &self.header.columns;
        let mut fields: Vec<(usize, usize)> = Vec::with_capacity(32);
        let mut values: Vec<Option<Cow<'t, str>>> = Vec::with_capacity(columns.len());
        let stop = |end: usize, out: Batches<'t>, reject: Option<FileRead>| Chunk {
            start,
            end,
            out,
            reject,
        };
        loop {
            pos = skip_blank_lines(b, pos, limit, &mut line);
            if pos >= limit || pos >= n {
                break;
            }
            let span = split_record(b, pos, &mut fields);
            if span.end - span.start > self.max_record {
                let reject = too_long(self.label, line, self.max_record);
                return Ok(stop(pos, out, Some(reject)));
            }
            if span.unterminated {
                // Whether the quote closes later decides what this record is: more than a
                // record's worth of text after it is too long either way; otherwise only the
                // end of the file says the quote is never closed.
                if n - span.start > self.max_record {
                    let reject = too_long(self.label, line, self.max_record);
                    return Ok(stop(pos, out, Some(reject)));
                }
                if !self.at_eof {
                    return Ok(stop(pos, out, None));
                }
            }
            let record = &text[span.start..span.end];
            // Only counted: its values (and whether it is malformed) change nothing.
            if out.counting()
                || span.unterminated
                || fields.len() != self.header.ncols
                || record.as_bytes().contains(&0)
            {
                out.push::<&str>(line, record, None)?;
            } else {
                values.clear();
                values.extend(
                    columns
                        .iter()
                        .map(|col| col.and_then(|c| field_value(&text[fields[c].0..fields[c].1]))),
                );
                out.push(line, record, Some(&values))?;
            }
            line += 1 + span.inner_lines;
            pos = span.next;
        }
        Ok(stop(pos.min(n).max(start), out, None))
    }
}

/// A record over the limit. Its exact length is not given: read in pieces, a record whose
/// quote is still open after `max` bytes is rejected there, before its end is known.
fn too_long(label: &str, line: usize, max: usize) -> FileRead {
    FileRead::rejected(
        codes::LINE_TOO_LONG,
        format!(
            "{label}: the record starting at line {line} is longer than {max} bytes (the {} MiB \
             limit); a quoted field that spans many lines? check for an unbalanced quote",
            max >> 20
        ),
    )
}

/// Why the splitter above and not the `csv` crate (which the project already has, for
/// writing): run `cargo test --lib measure_csv_splitter -- --ignored --nocapture`.
#[cfg(test)]
mod measure {
    use std::time::Instant;

    use super::split_record;

    /// A CSV text of `rows` records; every 7th name is quoted with a comma and `""`, every
    /// 50th spans two lines.
    fn generate(rows: usize) -> String {
        let mut s = String::from("order_id,customer,amount,order_date,note\n");
        for i in 0..rows {
            let name = match i {
                i if i % 50 == 0 => format!("\"Line {i}\nbreak\""),
                i if i % 7 == 0 => format!("\"Smith, \"\"J\"\" {i}\""),
                i => format!("customer {i}"),
            };
            s.push_str(&format!(
                "O-{i:08},{name},{}.{:02},2024-03-{:02}, plain note number {i}\n",
                i % 997,
                i % 100,
                1 + i % 28
            ));
        }
        s
    }

    /// Splits the same text into records and fields both ways (one thread each, fields
    /// located, not converted) and prints the time per MB.
    #[test]
    #[ignore = "a measurement, not a check; prints numbers"]
    fn measure_csv_splitter() {
        let text = generate(400_000);
        let b = text.as_bytes();
        let mb = b.len() as f64 / (1 << 20) as f64;

        let t = Instant::now();
        let (mut ours, mut fields, mut pos) = (0usize, Vec::with_capacity(8), 0);
        while pos < b.len() {
            let span = split_record(b, pos, &mut fields);
            ours += fields.len();
            pos = span.next;
        }
        let ours_s = t.elapsed().as_secs_f64();

        let t = Instant::now();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(b);
        let mut record = csv::ByteRecord::new();
        let mut theirs = 0usize;
        while reader.read_byte_record(&mut record).unwrap() {
            theirs += record.len();
        }
        let theirs_s = t.elapsed().as_secs_f64();

        assert_eq!(ours, theirs, "both splitters see the same fields");
        println!(
            "{mb:.1} MB, {ours} fields: ours {:.0} ms ({:.0} MB/s), csv crate {:.0} ms ({:.0} MB/s)",
            ours_s * 1e3,
            mb / ours_s,
            theirs_s * 1e3,
            mb / theirs_s
        );
    }
}
