use std::io::Write;
use std::path::PathBuf;

use datafusion::arrow::array::{Array, BooleanArray, Int64Array, StringViewArray};
use datafusion::arrow::datatypes::DataType;

use super::*;

/// One output row: line, record, malformed, field values.
#[derive(Debug, PartialEq)]
pub(super) struct Row {
    pub line: i64,
    pub record: String,
    malformed: bool,
    values: Vec<Option<String>>,
}

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write test file");
    path
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

fn opts(format: RawFormat, fields: &[(&str, bool)]) -> ReadOptions {
    ReadOptions::new(
        format,
        fields
            .iter()
            .map(|&(n, r)| FieldSpec {
                name: n.to_string(),
                required: r,
            })
            .collect(),
    )
}

fn read_named(name: &str, bytes: &[u8], o: &ReadOptions) -> FileRead {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(&dir, name, bytes);
    read_file(&path, name, o).expect("no I/O error")
}

pub(super) fn rows_of(read: FileRead, source: &str) -> Vec<Row> {
    let (batches, rows) = match read {
        FileRead::Records { batches, rows } => (batches, rows),
        FileRead::Rejected { code, message } => panic!("rejected {code}: {message}"),
    };
    let mut out = Vec::new();
    for b in &batches {
        assert_eq!(b.schema().field(0).name(), "source_file");
        let src = b
            .column(0)
            .as_any()
            .downcast_ref::<StringViewArray>()
            .unwrap();
        let line = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        let rec = b
            .column(2)
            .as_any()
            .downcast_ref::<StringViewArray>()
            .unwrap();
        let bad = b.column(3).as_any().downcast_ref::<BooleanArray>().unwrap();
        assert_eq!(bad.null_count(), 0);
        for r in 0..b.num_rows() {
            assert_eq!(src.value(r), source);
            let values = (4..b.num_columns())
                .map(|c| {
                    let a = b
                        .column(c)
                        .as_any()
                        .downcast_ref::<StringViewArray>()
                        .unwrap();
                    (!a.is_null(r)).then(|| a.value(r).to_string())
                })
                .collect();
            out.push(Row {
                line: line.value(r),
                record: rec.value(r).to_string(),
                malformed: bad.value(r),
                values,
            });
        }
    }
    assert_eq!(out.len(), rows);
    out
}

fn csv_rows(text: &str, fields: &[(&str, bool)]) -> Vec<Row> {
    rows_of(
        read_named("t.csv", text.as_bytes(), &opts(RawFormat::Csv, fields)),
        "t.csv",
    )
}

fn json_rows(text: &str, fields: &[(&str, bool)]) -> Vec<Row> {
    rows_of(
        read_named("t.jsonl", text.as_bytes(), &opts(RawFormat::Jsonl, fields)),
        "t.jsonl",
    )
}

fn rejected(read: FileRead) -> (String, String) {
    match read {
        FileRead::Rejected { code, message } => (code, message),
        FileRead::Records { rows, .. } => panic!("expected a rejection, got {rows} rows"),
    }
}

fn row(line: i64, record: &str, values: &[Option<&str>]) -> Row {
    Row {
        line,
        record: record.to_string(),
        malformed: false,
        values: values.iter().map(|v| v.map(str::to_string)).collect(),
    }
}

fn bad(line: i64, record: &str, nfields: usize) -> Row {
    Row {
        line,
        record: record.to_string(),
        malformed: true,
        values: vec![None; nfields],
    }
}

#[test]
fn schema_is_fixed_columns_then_utf8_fields() {
    let s = raw_schema(&[FieldSpec::required("a"), FieldSpec::optional("b")]);
    let names: Vec<&str> = s.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "source_file",
            "line_number",
            "record",
            "malformed",
            "a",
            "b"
        ]
    );
    assert_eq!(s.field(1).data_type(), &DataType::Int64);
    assert_eq!(s.field(3).data_type(), &DataType::Boolean);
    assert!(!s.field(3).is_nullable());
    assert_eq!(s.field(4).data_type(), &DataType::Utf8View);
    assert!(s.field(5).is_nullable());
}

#[test]
fn csv_columns_any_order_case_and_extras() {
    let rows = csv_rows(
        " Qty ,extra,ID\n5,x,a1\n7,y,a2\n",
        &[("id", true), ("qty", true), ("note", false)],
    );
    assert_eq!(
        rows,
        vec![
            row(2, "5,x,a1", &[Some("a1"), Some("5"), None]),
            row(3, "7,y,a2", &[Some("a2"), Some("7"), None]),
        ]
    );
}

#[test]
fn csv_quoted_multiline_records_keep_line_numbers() {
    let text = "id,note,n\n1,\"a, b\",2\n2,\"line one\nline \"\"two\"\"\n\",3\n\n3,plain,4\n4,\"x\"\"y\",5";
    let rows = csv_rows(text, &[("id", true), ("note", true), ("n", true)]);
    assert_eq!(
        rows,
        vec![
            row(2, "1,\"a, b\",2", &[Some("1"), Some("a, b"), Some("2")]),
            row(
                3,
                "2,\"line one\nline \"\"two\"\"\n\",3",
                &[Some("2"), Some("line one\nline \"two\""), Some("3")]
            ),
            row(7, "3,plain,4", &[Some("3"), Some("plain"), Some("4")]),
            row(8, "4,\"x\"\"y\",5", &[Some("4"), Some("x\"y"), Some("5")]),
        ]
    );
}

#[test]
fn csv_quote_rules_follow_csv_core() {
    // Text after a closing quote is appended; a quote inside an unquoted field is data.
    let rows = csv_rows("a,b\n\"ab\"c,x\"y\"\n", &[("a", true), ("b", true)]);
    assert_eq!(
        rows,
        vec![row(2, "\"ab\"c,x\"y\"", &[Some("abc"), Some("x\"y\"")])]
    );
}

#[test]
fn csv_wrong_field_count_is_malformed_with_raw_text() {
    let rows = csv_rows("a,b\n1,2\n1,2,3\n9\n3,4\n", &[("a", true), ("b", true)]);
    assert_eq!(
        rows,
        vec![
            row(2, "1,2", &[Some("1"), Some("2")]),
            bad(3, "1,2,3", 2),
            bad(4, "9", 2),
            row(5, "3,4", &[Some("3"), Some("4")]),
        ]
    );
}

#[test]
fn csv_unclosed_quote_is_one_malformed_line_and_reading_goes_on() {
    let rows = csv_rows("a,b\n1,\"oops\n2,3\n4,5\n", &[("a", true), ("b", true)]);
    assert_eq!(
        rows,
        vec![
            bad(2, "1,\"oops", 2),
            row(3, "2,3", &[Some("2"), Some("3")]),
            row(4, "4,5", &[Some("4"), Some("5")]),
        ]
    );
}

#[test]
fn csv_bom_crlf_and_blank_lines() {
    let text = "\u{feff}ID,v\r\n\r\n1,x\r\n \t\x0B\r\n2,\"multi\r\nline\"\r\n\n3,z";
    let rows = csv_rows(text, &[("id", true), ("v", true)]);
    assert_eq!(
        rows,
        vec![
            row(3, "1,x", &[Some("1"), Some("x")]),
            row(
                5,
                "2,\"multi\r\nline\"",
                &[Some("2"), Some("multi\r\nline")]
            ),
            row(8, "3,z", &[Some("3"), Some("z")]),
        ]
    );
}

#[test]
fn csv_leading_blank_lines_before_header() {
    let rows = csv_rows("\n  \na\n1\n", &[("a", true)]);
    assert_eq!(rows, vec![row(4, "1", &[Some("1")])]);
}

#[test]
fn csv_trims_ascii_whitespace_and_empty_is_null() {
    let text = "a,b,c,d\n \t1\x0B\x0C , ,\"  \",\" q \"\n";
    let rows = csv_rows(text, &[("a", true), ("b", true), ("c", true), ("d", false)]);
    assert_eq!(
        rows,
        vec![row(
            2,
            " \t1\x0B\x0C , ,\"  \",\" q \"",
            &[Some("1"), None, None, Some("q")]
        )]
    );
    // Non-ASCII whitespace is data, not trimmed.
    let rows = csv_rows("a\n\u{a0}x\u{a0}\n", &[("a", true)]);
    assert_eq!(rows[0].values, vec![Some("\u{a0}x\u{a0}".to_string())]);
}

#[test]
fn csv_nul_byte_record_is_malformed() {
    let rows = csv_rows("a,b\n1\0,2\n3,4\n", &[("a", true), ("b", true)]);
    assert_eq!(
        rows,
        vec![bad(2, "1\0,2", 2), row(3, "3,4", &[Some("3"), Some("4")])]
    );
}

#[test]
fn csv_missing_required_column_rejects_file() {
    let o = opts(
        RawFormat::Csv,
        &[("id", true), ("qty", true), ("note", false)],
    );
    let (code, msg) = rejected(read_named("t.csv", b"ID,price\n1,2\n", &o));
    assert_eq!(code, "MISSING_COLUMNS");
    assert!(
        msg.contains("qty") && msg.contains("price") && msg.contains("t.csv"),
        "{msg}"
    );
    assert!(!msg.contains("note"), "{msg}");
    // A missing optional column is all NULL.
    let rows = csv_rows(
        "qty,id\n3,1\n",
        &[("id", true), ("qty", true), ("note", false)],
    );
    assert_eq!(rows, vec![row(2, "3,1", &[Some("1"), Some("3"), None])]);
}

#[test]
fn csv_empty_files() {
    let o = opts(RawFormat::Csv, &[("a", true)]);
    for text in ["", "a,b\n", "a,b", "a\n\n \r\n", "\n\n", " \t\r\n"] {
        let (code, msg) = rejected(read_named("t.csv", text.as_bytes(), &o));
        assert_eq!(code, "EMPTY", "{text:?}: {msg}");
    }
}

#[test]
fn csv_header_with_unclosed_quote_is_unreadable() {
    let o = opts(RawFormat::Csv, &[("a", false)]);
    let (code, _) = rejected(read_named("t.csv", b"a,\"b\n1,2\n", &o));
    assert_eq!(code, "UNREADABLE");
}

#[test]
fn invalid_utf8_is_rejected_with_position() {
    for (format, name) in [(RawFormat::Csv, "t.csv"), (RawFormat::Jsonl, "t.jsonl")] {
        let o = opts(format, &[("a", false)]);
        let (code, msg) = rejected(read_named(name, b"a\n1\n2\xff3\n", &o));
        assert_eq!(code, "NOT_UTF8");
        assert!(msg.contains("byte 5") && msg.contains("line 3"), "{msg}");
    }
    let o = opts(RawFormat::Csv, &[("a", false)]);
    let (code, msg) = rejected(read_named("t.csv", b"\xff\xfea\x00\n\x00", &o));
    assert_eq!(code, "NOT_UTF8");
    assert!(msg.contains("UTF-16"), "{msg}");
}

#[test]
fn other_compression_is_unreadable() {
    let o = opts(RawFormat::Csv, &[("a", false)]);
    let (code, msg) = rejected(read_named("t.csv", &gz(b"a\n1\n"), &o));
    assert_eq!(code, "UNREADABLE");
    assert!(msg.contains(".gz"), "{msg}");
    let (code, _) = rejected(read_named(
        "t.csv",
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00\xff\xfe",
        &o,
    ));
    assert_eq!(code, "UNREADABLE");
}

#[test]
fn gzip_is_transparent_and_corrupt_gzip_is_rejected() {
    let o = opts(RawFormat::Csv, &[("a", true)]);
    let rows = rows_of(read_named("t.csv.gz", &gz(b"a\n1\n2\n"), &o), "t.csv.gz");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1], row(3, "2", &[Some("2")]));

    // Several members (e.g. `cat a.gz b.gz`) are one stream.
    let mut two = gz(b"a\n1\n");
    two.extend(gz(b"2\n"));
    let rows = rows_of(read_named("t.CSV.GZ", &two, &o), "t.CSV.GZ");
    assert_eq!(rows.len(), 2);

    let good = gz(b"a\n1\n2\n3\n");
    let truncated = &good[..good.len() - 6];
    let (code, msg) = rejected(read_named("t.csv.gz", truncated, &o));
    assert_eq!(code, "BAD_GZIP", "{msg}");
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0xff;
    let (code, _) = rejected(read_named("t.csv.gz", &flipped, &o));
    assert_eq!(code, "BAD_GZIP");
    let (code, _) = rejected(read_named("t.csv.gz", b"a\n1\n", &o));
    assert_eq!(code, "BAD_GZIP");
    let (code, _) = rejected(read_named("t.csv.gz", b"", &o));
    assert_eq!(code, "EMPTY");
    let (code, _) = rejected(read_named("t.csv.gz", &gz(b""), &o));
    assert_eq!(code, "EMPTY");
}

#[test]
fn json_values_are_raw_json_text() {
    let text = concat!(
        "{\"a\": 100.0, \"b\": \"100\", \"c\": null, \"x\": [1, {\"y\": 2}]}\n",
        "{\"a\":1e2,\"b\":true,\"c\":{\"k\": [1, 2]},\"a\":7}\n",
        "{\"\\u0061\": -0, \"b\": \"caf\\u00e9 \\\"q\\\"\"}\n",
    );
    let rows = json_rows(
        text,
        &[("a", true), ("b", true), ("c", false), ("d", false)],
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        rows,
        vec![
            row(1, lines[0], &[Some("100.0"), Some("\"100\""), None, None]),
            // Last duplicate key wins.
            row(
                2,
                lines[1],
                &[Some("7"), Some("true"), Some("{\"k\": [1, 2]}"), None]
            ),
            row(
                3,
                lines[2],
                &[Some("-0"), Some(r#""caf\u00e9 \"q\"""#), None, None]
            ),
        ]
    );
}

#[test]
fn json_malformed_lines() {
    let text = "{\"a\":1}\n[1,2]\n42\n\"s\"\n{\"a\":NaN}\n{\"a\":Infinity}\n{\"a\":-Infinity}\n{\"a\":1} x\n{\"a\":1,}\n{'a':1}\nnull\n{\"a\":\"\x01\"}\n{\"a\":1}\0\n\u{0}\n{\"a\":2}\r\n";
    let rows = json_rows(text, &[("a", true)]);
    assert_eq!(rows.len(), 15);
    let good: Vec<(i64, Option<String>)> = rows
        .iter()
        .filter(|r| !r.malformed)
        .map(|r| (r.line, r.values[0].clone()))
        .collect();
    assert_eq!(good, vec![(1, Some("1".into())), (15, Some("2".into()))]);
    assert!(
        rows.iter()
            .filter(|r| r.malformed)
            .all(|r| r.values == [None])
    );
    assert_eq!(rows[4].record, "{\"a\":NaN}");
    assert_eq!(rows[14].record, "{\"a\":2}");
}

#[test]
fn json_bom_crlf_blank_lines() {
    let text = "\u{feff}{\"a\":1}\r\n\r\n  \t\n{\"a\": \"x\" }\r\n";
    let rows = json_rows(text, &[("a", true)]);
    assert_eq!(
        rows,
        vec![
            row(1, "{\"a\":1}", &[Some("1")]),
            row(4, "{\"a\": \"x\" }", &[Some("\"x\"")]),
        ]
    );
}

#[test]
fn json_required_field_absent_from_every_object_rejects() {
    let o = opts(RawFormat::Jsonl, &[("a", true), ("b", true), ("c", false)]);
    let text = b"{\"a\":1,\"zz\":2}\nnot json\n{\"a\":2}\n";
    let (code, msg) = rejected(read_named("t.jsonl", text, &o));
    assert_eq!(code, "MISSING_COLUMNS");
    assert!(
        msg.contains(" b ") && msg.contains("zz") && !msg.contains("c,"),
        "{msg}"
    );

    // Present in some objects (even as null) → no rejection; NULL where absent.
    let rows = json_rows(
        "{\"a\":1}\n{\"a\":2,\"b\":null}\n",
        &[("a", true), ("b", true)],
    );
    assert_eq!(rows.len(), 2);
    let rows = json_rows(
        "{\"a\":1}\n{\"a\":2,\"b\":3}\n",
        &[("a", true), ("b", true)],
    );
    assert_eq!(rows[0].values, vec![Some("1".to_string()), None]);
    assert_eq!(
        rows[1].values,
        vec![Some("2".to_string()), Some("3".to_string())]
    );

    // A field asked for twice gets the value twice.
    let rows = json_rows("{\"a\":1}\n", &[("a", true), ("a", false)]);
    assert_eq!(
        rows[0].values,
        vec![Some("1".to_string()), Some("1".to_string())]
    );

    // No object at all: every record is kept, malformed.
    let rows = json_rows("nope\n[1]\n", &[("a", true)]);
    assert_eq!(rows, vec![bad(1, "nope", 1), bad(2, "[1]", 1)]);
}

#[test]
fn json_empty_files() {
    let o = opts(RawFormat::Jsonl, &[("a", true)]);
    for text in ["", "\n", "  \r\n\t\n", "\u{feff}"] {
        let (code, _) = rejected(read_named("t.jsonl", text.as_bytes(), &o));
        assert_eq!(code, "EMPTY", "{text:?}");
    }
}

#[test]
fn json_gz() {
    let o = opts(RawFormat::Jsonl, &[("a", true)]);
    let rows = rows_of(
        read_named("t.jsonl.gz", &gz(b"{\"a\":1}\n{\"a\":2}"), &o),
        "t.jsonl.gz",
    );
    assert_eq!(rows[1], row(2, "{\"a\":2}", &[Some("2")]));
}

#[test]
fn long_lines_are_rejected() {
    let o = opts(RawFormat::Jsonl, &[("a", false)]);
    let text = b"{\"a\":1}\n{\"a\":\"0123456789\"}\n".to_vec();
    let read = collect(
        text.as_slice(),
        false,
        "t.jsonl",
        "t.jsonl",
        &o,
        Limits {
            max_line: 16,
            chunk_bytes: 1 << 20,
            ..Limits::DEFAULT
        },
    )
    .unwrap();
    let (code, msg) = rejected(read);
    assert_eq!(code, "LINE_TOO_LONG");
    assert!(msg.contains("line 2"), "{msg}");
    let read = collect(
        text.as_slice(),
        false,
        "t.jsonl",
        "t.jsonl",
        &o,
        Limits {
            max_line: 64,
            chunk_bytes: 1 << 20,
            ..Limits::DEFAULT
        },
    )
    .unwrap();
    assert_eq!(rows_of(read, "t.jsonl").len(), 2);

    // A quoted CSV record spanning lines counts as a whole.
    let o = opts(RawFormat::Csv, &[("a", false)]);
    let text = b"a\n\"0123\n4567\n89ab\ncdef\"\n".to_vec();
    let read = collect(
        text.as_slice(),
        false,
        "t.csv",
        "t.csv",
        &o,
        Limits {
            max_line: 16,
            chunk_bytes: 1 << 20,
            ..Limits::DEFAULT
        },
    )
    .unwrap();
    assert_eq!(rejected(read).0, "LINE_TOO_LONG");
}

#[test]
fn batches_are_cut_at_batch_rows() {
    let mut o = opts(RawFormat::Csv, &[("a", true)]);
    o.batch_rows = 2;
    let read = read_named("t.csv", b"a\n1\n2\n3\n4\n5\n", &o);
    match &read {
        FileRead::Records { batches, rows } => {
            assert_eq!(*rows, 5);
            let sizes: Vec<usize> = batches.iter().map(|b| b.num_rows()).collect();
            assert_eq!(sizes, [2, 2, 1]);
        }
        FileRead::Rejected { message, .. } => panic!("{message}"),
    }
    let lines: Vec<i64> = rows_of(read, "t.csv").iter().map(|r| r.line).collect();
    assert_eq!(lines, [2, 3, 4, 5, 6]);
}

#[test]
fn io_errors_and_directories() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(RawFormat::Csv, &[("a", false)]);
    assert!(read_file(&dir.path().join("absent.csv"), "absent.csv", &o).is_err());
    let (code, _) = rejected(read_file(dir.path(), "dir", &o).unwrap());
    assert_eq!(code, "UNREADABLE");
}

#[test]
fn format_from_path() {
    let f = |p: &str| RawFormat::from_path(std::path::Path::new(p));
    assert_eq!(f("landing/pos/day1.CSV.gz"), Some(RawFormat::Csv));
    assert_eq!(f("x.jsonl"), Some(RawFormat::Jsonl));
    assert_eq!(f("x.json.gz"), Some(RawFormat::Jsonl));
    assert_eq!(f("x.txt"), None);
}

/// Deterministic junk never panics, and every non-blank line of quote-free text is a record.
#[test]
fn binary_junk_never_panics_and_nothing_is_dropped() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"a,\"\n\r \t{}[]:1\x00\x0be\\";
    for round in 0..300 {
        let len = (next() % 200) as usize;
        let bytes: Vec<u8> = if round % 3 == 0 {
            (0..len).map(|_| next() as u8).collect()
        } else {
            (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect()
        };
        for format in [RawFormat::Csv, RawFormat::Jsonl] {
            let o = opts(format, &[("a", false), ("b", false)]);
            let read = read_bytes(bytes.clone(), round % 5 == 0, "junk", "junk", &o).unwrap();
            let quote_free = !bytes.contains(&b'"');
            if let (FileRead::Records { rows, .. }, Ok(text)) = (&read, std::str::from_utf8(&bytes))
            {
                let nonblank = text.split('\n').filter(|l| !is_blank(l.as_bytes())).count();
                match format {
                    RawFormat::Jsonl => assert_eq!(*rows, nonblank),
                    // minus the header
                    RawFormat::Csv if quote_free => assert_eq!(*rows, nonblank - 1),
                    RawFormat::Csv => {}
                }
            }
        }
    }
}

/// A large CSV is parsed in chunks cut at line starts; whatever the cuts, the rows must be
/// those of parsing the text in one piece (multi-line quoted records across a cut, blank
/// lines, CRLF, an unclosed quote, wrong field counts, doubled quotes).
#[test]
fn csv_chunks_give_the_rows_of_one_piece() {
    let text = "\u{feff}id,note,n\r\n1,\"a, b\",2\r\n\r\n2,\"line one\nline \"\"two\"\"\n\n\",3\n\
                \n \t\n3,plain,4\n4,\"x\"\"y\",5\n5,6\n7,\"multi\r\nline\",8\n9,a\"b,10\n\
                11,\"oops,12\n13,c,14\n15,d,16";
    let o = opts(RawFormat::Csv, &[("id", true), ("note", true), ("n", true)]);
    let read = |chunk_bytes: usize| {
        let limits = Limits {
            max_line: MAX_LINE_BYTES,
            chunk_bytes,
            ..Limits::DEFAULT
        };
        let r =
            collect(text.as_bytes(), false, "t.csv", "t.csv", &o, limits).expect("no I/O error");
        rows_of(r, "t.csv")
    };
    let whole = read(usize::MAX);
    assert_eq!(whole.len(), 10, "{whole:#?}");
    assert_eq!(whole[1].line, 4);
    assert_eq!(
        whole[1].values[1].as_deref(),
        Some("line one\nline \"two\"")
    );
    assert!(whole[7].malformed && whole[7].line == 16, "{:?}", whole[7]);
    for chunk_bytes in 1..=text.len() {
        assert_eq!(read(chunk_bytes), whole, "chunks of {chunk_bytes} bytes");
    }
}
