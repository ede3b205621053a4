//! Where the events come from: stdin, a file, or a file that keeps growing (`--follow`).
//! A reader thread turns bytes into lines and hands them over a bounded channel, so the
//! commit loop never blocks on input and input never waits on a commit longer than the
//! channel's slack.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::stream::error::StreamError;
use crate::stream::event::{self, Event};
use crate::stream::identity::FileId;
use crate::stream::kafka::KafkaSource;

/// A line's validation result: the event or its reason codes.
pub type Parsed = std::result::Result<Event, Vec<String>>;

/// The input of a stream.
#[derive(Debug, Clone)]
pub enum Input {
    Stdin,
    File(PathBuf),
    /// A Kafka topic (see [`crate::stream::kafka`]).
    Kafka(Box<KafkaSource>),
}

impl Input {
    /// How rejects and product_events name it.
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "stdin".into(),
            Input::File(p) => p.display().to_string(),
            Input::Kafka(k) => k.name(),
        }
    }
}

/// One non-blank input line, already validated (on the reader thread, so that parsing
/// overlaps the previous batch's commit).
#[derive(Debug)]
pub struct Line {
    pub parsed: Parsed,
    /// The line without its line ending (lossily decoded if it was not UTF-8).
    pub text: String,
    /// 1-based physical line number in the input (blank lines count).
    pub line_number: u64,
    /// Byte offset just after this line: where a restart continues.
    pub end_offset: u64,
    /// When the reader got it (for the lag statistic).
    pub read_at: Instant,
    /// Where a record from a broker came from (None for stdin and files). For a Kafka
    /// record `line_number` is its offset and `end_offset` the next offset.
    pub origin: Option<Origin>,
}

/// The topic-partition of a Kafka record.
#[derive(Debug, Clone)]
pub struct Origin {
    /// `kafka:<topic>/<partition>`, as product_events and rejects name it.
    pub source: std::sync::Arc<str>,
    pub partition: i32,
}

/// What the reader sends.
#[derive(Debug)]
pub enum Item {
    Line(Line),
    /// The input ended (never sent with `follow`). `unterminated`: bytes of a last line
    /// without its newline, left unread because the input is not known to be finished.
    End {
        unterminated: u64,
    },
    Failed(String),
}

/// An input file, opened once: the reader reads this handle, and its identity is this
/// handle's, whatever the path points to later.
#[derive(Debug)]
pub struct OpenedFile {
    pub file: std::fs::File,
    pub id: FileId,
    /// Its size when opened.
    pub len: u64,
}

impl OpenedFile {
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path)
            .map_err(|e| Error::io(format!("cannot open the event file {}", path.display()), e))?;
        let meta = file
            .metadata()
            .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
        if !meta.is_file() {
            return Err(StreamError::NotARegularFile(path.display().to_string()).into());
        }
        Ok(Self {
            file,
            id: FileId::of(&meta),
            len: meta.len(),
        })
    }
}

/// Where to start reading.
#[derive(Debug, Clone, Copy, Default)]
pub struct Position {
    pub offset: u64,
    /// Physical lines before `offset`.
    pub lines: u64,
}

/// Starts the reader thread. For a file (opened by the caller, who checked its identity),
/// reading starts at `start`. A last line without a newline is sent only when the input is
/// `finished` (stdin at its end always is); otherwise it waits for its newline.
/// `capacity`: lines the reader may run ahead (about one batch lets it validate the next
/// batch while the current one commits).
pub fn spawn(
    input: &Input,
    opened: Option<&OpenedFile>,
    start: Position,
    follow: bool,
    finished: bool,
    capacity: usize,
) -> Result<mpsc::Receiver<Item>> {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let (reader, watch): (Box<dyn Read + Send>, Option<Watch>) = match (input, opened) {
        (Input::File(p), Some(o)) => {
            let mut f = o
                .file
                .try_clone()
                .map_err(|e| Error::io(format!("cannot read {}", p.display()), e))?;
            f.seek(SeekFrom::Start(start.offset))
                .map_err(|e| Error::io(format!("cannot seek in {}", p.display()), e))?;
            let watch = Watch {
                path: p.clone(),
                id: o.id,
                file: o
                    .file
                    .try_clone()
                    .map_err(|e| Error::io(format!("cannot read {}", p.display()), e))?,
            };
            (Box::new(f), Some(watch))
        }
        (Input::File(p), None) => {
            return Err(StreamError::Internal(format!(
                "{} was not opened before reading",
                p.display()
            ))
            .into());
        }
        (Input::Stdin, _) => (Box::new(std::io::stdin()), None),
        (Input::Kafka(_), _) => {
            return Err(StreamError::Internal("a Kafka topic has no reader thread".into()).into());
        }
    };
    let finished = finished || matches!(input, Input::Stdin);
    std::thread::Builder::new()
        .name("stream-reader".into())
        .spawn(move || read_lines(reader, start, follow, finished, watch, tx))
        .map_err(|e| Error::io("cannot start the reader thread", e))?;
    Ok(rx)
}

/// What a followed file is checked against while the reader waits for more.
struct Watch {
    path: PathBuf,
    id: FileId,
    file: std::fs::File,
}

impl Watch {
    /// Why the followed file is no longer the one being read, in words; None while it is.
    fn changed(&self, offset: u64) -> Option<String> {
        let path = self.path.display();
        if let Ok(m) = self.file.metadata()
            && m.len() < offset
        {
            return Some(format!(
                "{path} was truncated while it was followed ({} bytes now, {offset} read); the \
                 events up to the last commit are applied; stream new events from a file with \
                 another name",
                m.len()
            ));
        }
        match std::fs::metadata(&self.path) {
            Ok(m) if FileId::of(&m) == self.id => None,
            Ok(_) => Some(format!(
                "{path} was replaced while it was followed (another file has that name now); the \
                 old file was read to byte {offset}; run the stream again on the new file"
            )),
            Err(_) => Some(format!(
                "{path} was renamed or deleted while it was followed; the file was read to byte \
                 {offset}; run the stream on its new name to go on from there"
            )),
        }
    }
}

fn read_lines(
    reader: Box<dyn Read + Send>,
    start: Position,
    follow: bool,
    finished: bool,
    watch: Option<Watch>,
    tx: mpsc::Sender<Item>,
) {
    let mut r = BufReader::with_capacity(1 << 20, reader);
    let mut buf: Vec<u8> = Vec::with_capacity(256);
    let mut offset = start.offset;
    let mut line_number = start.lines;
    let mut idle_polls = 0u32;
    loop {
        match r.read_until(b'\n', &mut buf) {
            Ok(0) => {
                // End of what is there now. A partial last line waits for its newline when
                // following, or when the input is not known to be finished.
                if follow {
                    std::thread::sleep(Duration::from_millis(20));
                    if tx.is_closed() {
                        return;
                    }
                    // About once a second: is it still the same file, not truncated?
                    idle_polls += 1;
                    if idle_polls.is_multiple_of(50)
                        && let Some(why) = watch.as_ref().and_then(|w| w.changed(offset))
                    {
                        let _ = tx.blocking_send(Item::Failed(why));
                        return;
                    }
                    continue;
                }
                let mut unterminated = 0;
                if !buf.is_empty() {
                    if finished {
                        let n = buf.len() as u64;
                        line_number += 1;
                        offset += n;
                        if !send_line(&tx, &mut buf, line_number, offset) {
                            return;
                        }
                    } else {
                        unterminated = buf.len() as u64;
                    }
                }
                let _ = tx.blocking_send(Item::End { unterminated });
                return;
            }
            Ok(_) => {
                idle_polls = 0;
                if buf.last() != Some(&b'\n') {
                    // Partial line at the current end: keep it and read on.
                    if !follow {
                        continue;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
                line_number += 1;
                offset += buf.len() as u64;
                if !send_line(&tx, &mut buf, line_number, offset) {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = tx.blocking_send(Item::Failed(format!("cannot read the input: {e}")));
                return;
            }
        }
    }
}

/// Sends `buf` as a line (unless blank) and clears it; false when the receiver is gone.
fn send_line(
    tx: &mpsc::Sender<Item>,
    buf: &mut Vec<u8>,
    line_number: u64,
    end_offset: u64,
) -> bool {
    let mut bytes: &[u8] = buf;
    while let Some((&last, rest)) = bytes.split_last() {
        if last == b'\n' || last == b'\r' {
            bytes = rest;
        } else {
            break;
        }
    }
    if line_number == 1 && bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes = &bytes[3..];
    }
    let blank = bytes
        .iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c));
    let ok = if blank {
        true
    } else {
        let (text, parsed) = parse_bytes(bytes);
        tx.blocking_send(Item::Line(Line {
            parsed,
            text,
            line_number,
            end_offset,
            read_at: Instant::now(),
            origin: None,
        }))
        .is_ok()
    };
    buf.clear();
    ok
}

/// One line's bytes (without its line ending): the text kept for a reject, and the event.
fn parse_bytes(bytes: &[u8]) -> (String, Parsed) {
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_string(), event::parse(s)),
        // Not UTF-8: kept (lossily) for the reject, never parsed.
        Err(_) => (
            String::from_utf8_lossy(bytes).into_owned(),
            Err(vec!["MALFORMED".to_string()]),
        ),
    }
}

/// A broker record's value: one event, like one line of a file (trailing line endings
/// ignored). An empty or blank value is an event too — it is rejected as MALFORMED rather
/// than skipped, so every record has a seq and its offset is accounted for.
pub fn parse_record(value: &[u8]) -> (String, Parsed) {
    let mut bytes = value;
    while let Some((&last, rest)) = bytes.split_last() {
        if last == b'\n' || last == b'\r' {
            bytes = rest;
        } else {
            break;
        }
    }
    parse_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect_finished(
        content: &[u8],
        start: Position,
        finished: bool,
    ) -> (Vec<(String, u64, u64)>, u64) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.jsonl");
        std::fs::write(&p, content).unwrap();
        let opened = OpenedFile::open(&p).unwrap();
        let mut rx = spawn(&Input::File(p), Some(&opened), start, false, finished, 16).unwrap();
        let mut out = Vec::new();
        while let Some(item) = rx.blocking_recv() {
            match item {
                Item::Line(l) => out.push((l.text, l.line_number, l.end_offset)),
                Item::End { unterminated } => return (out, unterminated),
                Item::Failed(e) => panic!("{e}"),
            }
        }
        (out, 0)
    }

    fn collect(content: &[u8], start: Position) -> Vec<(String, u64, u64)> {
        collect_finished(content, start, true).0
    }

    #[test]
    fn an_unterminated_last_line_waits_unless_the_file_is_finished() {
        let (lines, unterminated) = collect_finished(b"a\nbb\nccc", Position::default(), false);
        assert_eq!(
            lines,
            vec![("a".to_string(), 1, 2), ("bb".to_string(), 2, 5)]
        );
        assert_eq!(unterminated, 3);
    }

    #[test]
    fn lines_offsets_blank_lines_and_resume() {
        let content = b"\xEF\xBB\xBFa\r\n\n  \nbb\nccc";
        let all = collect(content, Position::default());
        assert_eq!(
            all,
            vec![
                ("a".to_string(), 1, 6),
                ("bb".to_string(), 4, 13),
                ("ccc".to_string(), 5, 16)
            ]
        );
        let rest = collect(
            content,
            Position {
                offset: 13,
                lines: 4,
            },
        );
        assert_eq!(rest, vec![("ccc".to_string(), 5, 16)]);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 64,
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// Any bytes: no panic; every physical line is an event line or blank; offsets end
        /// where the line does; an unterminated tail is held back unless the file is finished.
        #[test]
        fn every_physical_line_is_an_event_line_or_blank(
            bytes in proptest::collection::vec(
                proptest::sample::select(b"{}\"a:,1 \t\r\n\xff\xef\xbb\xbfP".to_vec()),
                0..300,
            ),
            finished in proptest::bool::ANY,
        ) {
            let (lines, unterminated) = collect_finished(&bytes, Position::default(), finished);
            let mut physical: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
            let tail = physical.pop().unwrap_or_default();
            if finished && !tail.is_empty() {
                physical.push(tail);
            } else {
                proptest::prop_assert_eq!(unterminated, tail.len() as u64);
            }
            let blank = |l: &[u8]| {
                let l = l.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(l);
                l.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c))
            };
            let nonblank: Vec<u64> = physical
                .iter()
                .enumerate()
                .filter(|(i, l)| !(blank(l) && (*i == 0 || !l.starts_with(b"\xEF\xBB\xBF"))))
                .map(|(i, _)| i as u64 + 1)
                .collect();
            let got: Vec<u64> = lines.iter().map(|l| l.1).collect();
            proptest::prop_assert_eq!(got, nonblank);
            let mut end = 0u64;
            for (i, l) in physical.iter().enumerate() {
                end += l.len() as u64 + u64::from(i + 1 < physical.len() || !finished || tail.is_empty());
                if let Some(line) = lines.iter().find(|x| x.1 == i as u64 + 1) {
                    proptest::prop_assert_eq!(line.2, end.min(bytes.len() as u64));
                }
            }
        }
    }
}
