//! Property tests of the raw readers (CSV, JSON lines, gzip) over random and mutated bytes:
//! no panic, no error but I/O, and every physical line of the input accounted for — as a
//! record, as part of a multi-line record, as the CSV header, as blank, or inside a file
//! rejected whole.

use proptest::prelude::*;

use super::tests::rows_of;
use super::*;

/// Bytes that make CSV and JSON interesting, plus a few that make them invalid.
const ALPHABET: &[u8] = b"a1,\"\n\r \t{}[]:e\\\x00\xff";

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

/// A valid-looking file of the format, to mutate.
fn sample(format: RawFormat) -> Vec<u8> {
    match format {
        RawFormat::Csv => b"a,b\n1,x\n2,\"y, z\"\n\n3,\"multi\nline\"\r\n4,w\n".to_vec(),
        RawFormat::Jsonl => {
            b"{\"a\": 1, \"b\": \"x\"}\n\n{\"a\": 2}\r\n[1]\n{\"b\": {\"c\": 3}}\n".to_vec()
        }
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let n = bytes.len();
        match *e {
            Edit::Flip(i, b) if n > 0 => bytes[i % n] ^= b,
            Edit::Insert(i, b) => bytes.insert(i % (n + 1), b),
            Edit::Delete(i) if n > 0 => {
                bytes.remove(i % n);
            }
            _ => {}
        }
    }
    bytes
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Flip(i, b)),
        (any::<usize>(), prop::sample::select(ALPHABET)).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Delete),
    ]
}

/// Random bytes (any, or from the alphabet), or the sample with random edits.
fn input(format: RawFormat) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        prop::collection::vec(prop::sample::select(ALPHABET), 0..300),
        prop::collection::vec(edit(), 0..8).prop_map(move |e| apply(sample(format), &e)),
    ]
}

/// How the bytes reach the reader: as they are, gzipped, gzipped then damaged, or named
/// `.gz` without being gzip.
#[derive(Debug, Clone, Copy)]
enum Wrap {
    Plain,
    Gzip,
    GzipDamaged(usize, u8),
    NotGzip,
}

fn wrap() -> impl Strategy<Value = Wrap> {
    prop_oneof![
        4 => Just(Wrap::Plain),
        2 => Just(Wrap::Gzip),
        1 => (any::<usize>(), 1..=255u8).prop_map(|(i, b)| Wrap::GzipDamaged(i, b)),
        1 => Just(Wrap::NotGzip),
    ]
}

/// Reads `text` and checks that every physical line is accounted for.
fn check(format: RawFormat, text: &[u8], wrap: Wrap) -> std::result::Result<(), TestCaseError> {
    let (bytes, gz) = match wrap {
        Wrap::Plain => (text.to_vec(), false),
        Wrap::Gzip => (gzip(text), true),
        Wrap::GzipDamaged(i, b) => {
            let mut g = gzip(text);
            let n = g.len();
            g[i % n] ^= b;
            (g, true)
        }
        Wrap::NotGzip => (text.to_vec(), true),
    };
    let o = ReadOptions::new(
        format,
        vec![FieldSpec::optional("a"), FieldSpec::optional("b")],
    );
    let read = read_bytes(bytes, gz, "p", "p", &o);
    // Err is for I/O only; a data problem is a whole-file reject.
    let read = read.map_err(|e| TestCaseError::fail(format!("error instead of a reject: {e}")))?;
    let decoded = match (&read, wrap) {
        (FileRead::Rejected { .. }, _) => return Ok(()),
        // A damaged gzip that still decodes is other text: nothing to compare lines with.
        (_, Wrap::GzipDamaged(..) | Wrap::NotGzip) => return Ok(()),
        _ => text,
    };
    let text = std::str::from_utf8(decoded)
        .map_err(|_| TestCaseError::fail("records from text that is not UTF-8"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split('\n').collect();
    let mut covered = vec![false; lines.len() + 1];
    let rows = rows_of(read, "p");
    for r in &rows {
        let first = r.line as usize;
        let last = first + r.record.matches('\n').count();
        prop_assert!(
            first >= 1 && last <= lines.len(),
            "line {first}..{last} of {}",
            lines.len()
        );
        for (l, seen) in covered.iter_mut().enumerate().take(last + 1).skip(first) {
            prop_assert!(!*seen, "line {l} in two records");
            *seen = true;
        }
    }
    let first_record = rows.iter().map(|r| r.line as usize).min();
    for (i, line) in lines.iter().enumerate() {
        let n = i + 1;
        if covered[n] || is_blank(line.as_bytes()) {
            continue;
        }
        // The only other place a line may go: the CSV header, before the first record.
        let header = format == RawFormat::Csv && first_record.is_none_or(|f| n < f);
        prop_assert!(header, "line {n} {line:?} is in no record");
    }
    Ok(())
}

proptest! {
    // No regression files in the repo: a failure prints its minimal input instead.
    #![proptest_config(ProptestConfig {
        cases: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn csv_lines_are_records_header_blank_or_a_whole_file_reject(
        text in input(RawFormat::Csv),
        w in wrap(),
    ) {
        check(RawFormat::Csv, &text, w)?;
    }

    #[test]
    fn jsonl_lines_are_records_blank_or_a_whole_file_reject(
        text in input(RawFormat::Jsonl),
        w in wrap(),
    ) {
        check(RawFormat::Jsonl, &text, w)?;
    }
}

/// The sample repeated, with random edits: long enough to need several pieces.
fn long_input(format: RawFormat) -> impl Strategy<Value = Vec<u8>> {
    (1..12usize, prop::collection::vec(edit(), 0..6)).prop_map(move |(times, edits)| {
        let mut text = Vec::new();
        if format == RawFormat::Csv {
            text.extend_from_slice(b"a,b\n");
        }
        for i in 0..times {
            let s = sample(format);
            // Every repetition after the first without its header line.
            let s = if format == RawFormat::Csv && i > 0 {
                s[4..].to_vec()
            } else {
                s
            };
            text.extend_from_slice(&s);
        }
        apply(text, &edits)
    })
}

/// Reads `text` whole (one block, one piece) and in tiny blocks and pieces: the same verdict,
/// the same message, the same rows.
fn same_in_pieces(
    format: RawFormat,
    text: &[u8],
    gzipped: bool,
    max_line: usize,
    block: usize,
    segment: usize,
) -> std::result::Result<(), TestCaseError> {
    let bytes = if gzipped { gzip(text) } else { text.to_vec() };
    let o = ReadOptions::new(
        format,
        vec![FieldSpec::required("a"), FieldSpec::optional("b")],
    );
    let read = |block: usize, segment: usize, chunk_bytes: usize| {
        let limits = Limits {
            max_line,
            chunk_bytes,
            block,
            segment,
        };
        match collect(bytes.as_slice(), gzipped, "p", "p", &o, limits) {
            Ok(FileRead::Rejected { code, message }) => Ok(Err((code, message))),
            Ok(records) => Ok(Ok(rows_of(records, "p"))),
            Err(e) => Err(TestCaseError::fail(format!(
                "error instead of a reject: {e}"
            ))),
        }
    };
    let whole = read(1 << 20, 1 << 30, 1 << 20)?;
    let pieces = read(block, segment, 7)?;
    prop_assert_eq!(&whole, &pieces);
    // Counting only (the read of a batch table its scan parses again): the same verdict and
    // message, the same number of records, no columns built.
    let counting = ReadOptions {
        count_only: true,
        ..o.clone()
    };
    let limits = Limits {
        max_line,
        chunk_bytes: 7,
        block,
        segment,
    };
    let counted = collect(bytes.as_slice(), gzipped, "p", "p", &counting, limits)
        .map_err(|e| TestCaseError::fail(format!("error instead of a reject: {e}")))?;
    match (whole, counted) {
        (Err(verdict), FileRead::Rejected { code, message }) => {
            prop_assert_eq!(verdict, (code, message));
        }
        (Ok(rows), FileRead::Records { batches, rows: n }) => {
            prop_assert_eq!(rows.len(), n);
            prop_assert!(batches.iter().all(|b| b.num_rows() == 0));
        }
        (whole, counted) => {
            return Err(TestCaseError::fail(format!(
                "parsed: {whole:?}; counted: {counted:?}"
            )));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 600,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_file_read_in_pieces_equals_the_file_read_whole(
        (format, text) in prop_oneof![Just(RawFormat::Csv), Just(RawFormat::Jsonl)]
            .prop_flat_map(|f| (Just(f), prop_oneof![input(f), long_input(f)])),
        gzipped in any::<bool>(),
        max_line in prop::sample::select(vec![6usize, 12, 40, MAX_LINE_BYTES]),
        block in 1..9usize,
        segment in 1..80usize,
    ) {
        same_in_pieces(format, &text, gzipped, max_line, block, segment)?;
    }
}
