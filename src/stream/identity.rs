//! Which file the stream is reading: its device and inode, and a fingerprint of its first
//! bytes. A path alone is not an identity: a file replaced by a longer one would be read
//! from the old offset, mid-line, and a renamed file would be applied again from byte 0.
//!
//! Each commit stores, beside the byte offset, the file's identity twice: under its path
//! (to notice that the path now holds another file) and under its device and inode (to
//! notice that a file under a new name was read before). [`decide`] turns what is stored
//! and what is on disk into where to start, or a refusal in words.

use std::fs::File;

use sha2::{Digest, Sha256};

/// The fingerprint covers the first this many bytes (fewer while the file is shorter).
pub const FINGERPRINT_BYTES: u64 = 4096;

/// Device and inode of a file (both 0 where the platform has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    pub fn of(meta: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            FileId {
                dev: meta.dev(),
                ino: meta.ino(),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = meta;
            FileId { dev: 0, ino: 0 }
        }
    }
}

/// The fingerprint of the first `len` bytes: the first 8 bytes of their SHA-256 as a
/// non-negative i64 (a Delta application transaction stores one i64). Positional reads:
/// the handle's offset, shared with the reader's duplicate of it, is left alone.
pub fn fingerprint(file: &File, len: u64) -> std::io::Result<i64> {
    let mut buf = vec![0u8; len as usize];
    read_exact_at(file, &mut buf)?;
    let d = Sha256::digest(&buf);
    let mut v = [0u8; 8];
    v.copy_from_slice(&d[..8]);
    Ok(i64::from_be_bytes(v) & i64::MAX)
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8]) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, 0)
}

#[cfg(windows)]
fn read_exact_at(file: &File, buf: &mut [u8]) -> std::io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let n = std::os::windows::fs::FileExt::seek_read(file, &mut buf[done..], done as u64)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        done += n;
    }
    Ok(())
}

/// What a commit recorded about an input file (under its path or under its inode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stored {
    pub offset: u64,
    pub lines: u64,
    /// Absent in positions written before identities were recorded.
    pub id: Option<FileId>,
    /// (fingerprint, how many first bytes it covers).
    pub fingerprint: Option<(i64, u64)>,
}

/// Where a stream over a file starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Read from this offset (0 = a file never read). `note` says why, when it is not the
    /// plain case (a rename).
    Start {
        offset: u64,
        lines: u64,
        note: Option<String>,
    },
    /// The file at this path is not the one the stream read: the message says what happened
    /// and what to do.
    Refuse(String),
}

/// Decides where to start reading `path`, which is now the file `now` of `len` bytes.
/// `fingerprint(n)` is the fingerprint of the file's first `n` bytes.
pub fn decide(
    path: &str,
    now: FileId,
    len: u64,
    fingerprint: &dyn Fn(u64) -> std::io::Result<i64>,
    by_path: Option<Stored>,
    by_inode: Option<Stored>,
) -> Decision {
    let same_start = |s: &Stored| match s.fingerprint {
        None => true,
        Some((fp, n)) => n <= len && fingerprint(n).is_ok_and(|f| f == fp),
    };
    let truncated = |s: &Stored| {
        Decision::Refuse(format!(
            "{path} has {len} bytes but the stream already applied {} bytes of it: the file was \
             truncated; stream new events from a file with another name",
            s.offset
        ))
    };
    // This very file (same device and inode, same first bytes) was read before: under this
    // name, or under another one (renamed).
    if let Some(s) = by_inode.filter(same_start) {
        if len < s.offset {
            return truncated(&s);
        }
        let renamed = by_path.is_none_or(|p| p.id != Some(now));
        return Decision::Start {
            offset: s.offset,
            lines: s.lines,
            note: renamed.then(|| {
                format!(
                    "{path} was streamed before under another name (same device and inode, same \
                     first bytes): continuing at byte {} instead of reading it again",
                    s.offset
                )
            }),
        };
    }
    let Some(p) = by_path else {
        return Decision::Start {
            offset: 0,
            lines: 0,
            note: None,
        };
    };
    match p.id {
        // A position recorded before identities were: the path is all there is.
        None => {
            if len < p.offset {
                truncated(&p)
            } else {
                Decision::Start {
                    offset: p.offset,
                    lines: p.lines,
                    note: None,
                }
            }
        }
        Some(id) if id != now => Decision::Refuse(format!(
            "{path} is not the file the stream read before: it was replaced (device/inode \
             {}:{} then, {}:{} now); {} bytes of the old file were applied. If the new file \
             holds only new events, stream it under a new name; the old position is kept for \
             the old file",
            id.dev, id.ino, now.dev, now.ino, p.offset
        )),
        Some(_) if len < p.offset => truncated(&p),
        Some(_) => Decision::Refuse(format!(
            "{path} was rewritten in place: its first bytes are not those the stream read \
             before ({} bytes of it were applied); stream the new content from a file with \
             another name",
            p.offset
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: FileId = FileId { dev: 1, ino: 10 };
    const B: FileId = FileId { dev: 1, ino: 11 };

    fn stored(id: FileId, offset: u64, fp: i64) -> Option<Stored> {
        Some(Stored {
            offset,
            lines: 3,
            id: Some(id),
            fingerprint: Some((fp, 8)),
        })
    }

    fn start(d: &Decision) -> Option<u64> {
        match d {
            Decision::Start { offset, .. } => Some(*offset),
            Decision::Refuse(_) => None,
        }
    }

    #[test]
    fn same_renamed_replaced_truncated_rewritten_new() {
        let fp = |v: i64| move |_: u64| Ok::<i64, std::io::Error>(v);
        // The same file, grown: resume.
        let d = decide("f", A, 100, &fp(7), stored(A, 50, 7), stored(A, 50, 7));
        assert_eq!(
            d,
            Decision::Start {
                offset: 50,
                lines: 3,
                note: None
            }
        );
        // Renamed: nothing under the new path, the inode is known.
        let d = decide("g", A, 100, &fp(7), None, stored(A, 50, 7));
        assert_eq!(start(&d), Some(50));
        assert!(matches!(&d, Decision::Start { note: Some(n), .. } if n.contains("another name")));
        // Replaced by a longer file: another inode under the path.
        let d = decide("f", B, 100, &fp(9), stored(A, 50, 7), None);
        assert!(
            matches!(&d, Decision::Refuse(m) if m.contains("replaced")),
            "{d:?}"
        );
        // Truncated in place.
        let d = decide("f", A, 20, &fp(7), stored(A, 50, 7), stored(A, 50, 7));
        assert!(
            matches!(&d, Decision::Refuse(m) if m.contains("truncated")),
            "{d:?}"
        );
        // Rewritten in place (same inode, other first bytes).
        let d = decide("f", A, 100, &fp(8), stored(A, 50, 7), stored(A, 50, 7));
        assert!(
            matches!(&d, Decision::Refuse(m) if m.contains("rewritten")),
            "{d:?}"
        );
        // An inode reused by an unrelated new file under a new name: read from the start.
        let d = decide("h", A, 100, &fp(8), None, stored(A, 50, 7));
        assert_eq!(start(&d), Some(0));
        // A position from before identities: the path's offset.
        let legacy = Some(Stored {
            offset: 40,
            lines: 2,
            id: None,
            fingerprint: None,
        });
        assert_eq!(start(&decide("f", A, 100, &fp(1), legacy, None)), Some(40));
    }
}
