//! Where the events come from: stdin, a file, or a file that keeps growing (`--follow`).
//! A reader thread turns bytes into lines and hands them over a bounded channel, so the
//! commit loop never blocks on input and input never waits on a commit longer than the
//! channel's slack.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::stream::event::{self, Event};

/// A line's validation result: the event or its reason codes.
pub type Parsed = std::result::Result<Event, Vec<String>>;

/// The input of a stream.
#[derive(Debug, Clone)]
pub enum Input {
    Stdin,
    File(PathBuf),
}

impl Input {
    /// How rejects and product_events name it.
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "stdin".into(),
            Input::File(p) => p.display().to_string(),
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
}

/// What the reader sends.
#[derive(Debug)]
pub enum Item {
    Line(Line),
    /// The input ended (never sent with `follow`).
    End,
    Failed(String),
}

/// Where to start reading.
#[derive(Debug, Clone, Copy, Default)]
pub struct Position {
    pub offset: u64,
    /// Physical lines before `offset`.
    pub lines: u64,
}

/// Starts the reader thread. For a file, reading starts at `start`; a file shorter than
/// `start.offset` is an error (it is not the file that was streamed).
/// `capacity`: lines the reader may run ahead (about one batch lets it validate the next
/// batch while the current one commits).
pub fn spawn(
    input: &Input,
    start: Position,
    follow: bool,
    capacity: usize,
) -> Result<mpsc::Receiver<Item>> {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let reader: Box<dyn Read + Send> = match input {
        Input::Stdin => Box::new(std::io::stdin()),
        Input::File(p) => {
            let mut f = std::fs::File::open(p)
                .map_err(|e| Error::io(format!("cannot open the event file {}", p.display()), e))?;
            let len = f
                .metadata()
                .map_err(|e| Error::io(format!("cannot read {}", p.display()), e))?
                .len();
            if len < start.offset {
                return Err(Error::Invalid(format!(
                    "{} has {len} bytes but the stream already consumed {} bytes of it: the file \
                     was truncated or replaced; stream new events from a file with another name",
                    p.display(),
                    start.offset
                )));
            }
            f.seek(SeekFrom::Start(start.offset))
                .map_err(|e| Error::io(format!("cannot seek in {}", p.display()), e))?;
            Box::new(f)
        }
    };
    std::thread::Builder::new()
        .name("stream-reader".into())
        .spawn(move || read_lines(reader, start, follow, tx))
        .map_err(|e| Error::io("cannot start the reader thread", e))?;
    Ok(rx)
}

fn read_lines(reader: Box<dyn Read + Send>, start: Position, follow: bool, tx: mpsc::Sender<Item>) {
    let mut r = BufReader::with_capacity(1 << 20, reader);
    let mut buf: Vec<u8> = Vec::with_capacity(256);
    let mut offset = start.offset;
    let mut line_number = start.lines;
    loop {
        match r.read_until(b'\n', &mut buf) {
            Ok(0) => {
                // End of what is there now. A partial last line waits for its newline when
                // following; otherwise it is the last line.
                if follow {
                    std::thread::sleep(Duration::from_millis(20));
                    if tx.is_closed() {
                        return;
                    }
                    continue;
                }
                if !buf.is_empty() {
                    let n = buf.len() as u64;
                    line_number += 1;
                    offset += n;
                    if !send_line(&tx, &mut buf, line_number, offset) {
                        return;
                    }
                }
                let _ = tx.blocking_send(Item::End);
                return;
            }
            Ok(_) => {
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
        let (text, parsed) = match std::str::from_utf8(bytes) {
            Ok(s) => (s.to_string(), event::parse(s)),
            // Not UTF-8: kept (lossily) for the reject, never parsed.
            Err(_) => (
                String::from_utf8_lossy(bytes).into_owned(),
                Err(vec!["MALFORMED".to_string()]),
            ),
        };
        tx.blocking_send(Item::Line(Line {
            parsed,
            text,
            line_number,
            end_offset,
            read_at: Instant::now(),
        }))
        .is_ok()
    };
    buf.clear();
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(content: &[u8], start: Position) -> Vec<(String, u64, u64)> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.jsonl");
        std::fs::write(&p, content).unwrap();
        let mut rx = spawn(&Input::File(p), start, false, 16).unwrap();
        let mut out = Vec::new();
        while let Some(item) = rx.blocking_recv() {
            match item {
                Item::Line(l) => out.push((l.text, l.line_number, l.end_offset)),
                Item::End => break,
                Item::Failed(e) => panic!("{e}"),
            }
        }
        out
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
}
