//! The landing directory of a run: which files belong to it ([`discover`]), reading them
//! ([`read_batch`]: each file read once, hashed for the ledger and parsed, on every core), and
//! where they go afterwards ([`move_files`]: archive, or rejected with a reason file).
//!
//! What an upstream system may drop there is not trusted:
//! - only regular files are read; a symbolic link, FIFO, socket, device or directory is
//!   rejected whole (`NOT_A_REGULAR_FILE`) and moved aside without being followed or opened
//!   (the type comes from `lstat`, and the open itself refuses links and never blocks);
//! - a file larger than `max_file_bytes` (decompressed) is rejected whole (`TOO_LARGE`),
//!   checked before and while reading, so a batch holds at most that many raw bytes per file
//!   being read;
//! - the upload convention: dot-files and `*.tmp` / `*.part` are still being written and are
//!   not taken; a file is taken once its size and mtime have been stable for `settle`.

use std::collections::HashSet;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::exec::scratch::{Scratch, ScratchTable, ScratchWriter};
use crate::ingest::{
    FileRead, ReadOptions, Streamed, codes, constant_text, raw_schema, read_bytes, stream_file,
};
use crate::parallel::parallel_map;
use crate::pipeline::landing_scan::TakenFile;
use crate::pipeline::manifest::Pipeline;
use crate::pipeline::summary::{FileStatus, FileSummary, RunSummary};

/// A landing entry of the run.
pub(crate) struct Input {
    pub path: PathBuf,
    pub name: String,
    /// `None` for a regular file; otherwise what it is ("a symbolic link", …): rejected whole.
    pub not_regular: Option<&'static str>,
    /// The real name is not UTF-8 (`name` is its lossy form): rejected whole, unread.
    pub bad_name: bool,
    /// Where the file really is when landing is in a bucket: `path` is then a local copy
    /// (the readers read local files), and the move to archive/rejected starts here.
    pub origin: Option<PathBuf>,
    /// Keeps the local copies' directory until the run is done with them.
    pub _staged: Option<Arc<Staging>>,
}

/// A local directory holding copies of a bucket's landing files during one run; removed when
/// the last input that needs it is dropped.
#[derive(Debug)]
pub(crate) struct Staging(PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What an entry is, from its `lstat` type (links are not followed). `None` = regular file.
fn irregular_kind(t: &std::fs::FileType) -> Option<&'static str> {
    #[cfg(unix)]
    use std::os::unix::fs::FileTypeExt;
    if t.is_file() {
        return None;
    }
    Some(if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a directory"
    } else {
        #[cfg(unix)]
        {
            if t.is_fifo() {
                "a FIFO"
            } else if t.is_socket() {
                "a socket"
            } else if t.is_block_device() || t.is_char_device() {
                "a device"
            } else {
                "not a regular file"
            }
        }
        #[cfg(not(unix))]
        "not a regular file"
    })
}

/// Opens a landing file for reading without following a symbolic link and without blocking
/// on a FIFO (the entry may have been swapped since [`discover`] looked at it); the caller
/// checks the opened file's type again.
fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    o.open(path)
}

/// Where [`read_batch`] leaves a batch's records.
#[derive(Clone, Copy)]
pub(crate) enum Keep<'a> {
    /// Nowhere: each scan of a batch table parses its files again.
    Rescan,
    /// In memory, every file parsed at once.
    Memory,
    /// In Parquet files in the run's scratch directory (`--memory-limit`).
    Spill(&'a Scratch),
}

/// One batch table (`batch_raw`, or one per input type): the raw columns plus `file_hash`.
pub(crate) struct BatchTable {
    pub name: String,
    pub schema: SchemaRef,
    pub data: BatchData,
}

/// Where a batch table's rows are.
pub(crate) enum BatchData {
    Memory(Vec<RecordBatch>),
    /// In the landing files themselves, parsed again by every scan
    /// ([`crate::pipeline::landing_scan`]).
    Landing(Arc<dyn datafusion::catalog::TableProvider>),
    /// Under `--memory-limit`: Parquet files in the run's scratch directory, one per landing
    /// file, written as the file is streamed.
    Spilled(Box<ScratchTable>),
}

/// What reading the landing files produced: one summary per input (in input order) and the
/// batch tables to register.
pub(crate) struct ReadBatch {
    pub files: Vec<FileSummary>,
    pub tables: Vec<BatchTable>,
}

/// One file after the parallel phase.
enum Parsed {
    /// Already in the ledger: not parsed.
    Known,
    /// Its name matches no input type.
    Unrouted,
    /// Rejected whole before its bytes were parsed (not a regular file, too large).
    Refused { code: &'static str, message: String },
    /// Read into memory.
    Read { table: usize, read: FileRead },
    /// Hashed and parsed, the records dropped: a scan parses the file again.
    Checked {
        table: usize,
        verdict: Streamed,
        file: TakenFile,
    },
    /// Streamed into `part` of its table's scratch files (kept only if the file is taken).
    Streamed {
        verdict: Streamed,
        part: Box<ScratchWriter>,
    },
}

/// A file not parsed: known to the ledger, or (when it is not) of no input type.
fn unread(hash: String, known: &HashSet<String>) -> (String, Parsed) {
    let parsed = if known.contains(&hash) {
        Parsed::Known
    } else {
        Parsed::Unrouted
    };
    (hash, parsed)
}

/// Opens a landing entry for reading if it is (still) a regular file: the file and its size,
/// or what it is instead. The read opens each entry so, and a scan of the batch again.
pub(crate) fn open_regular(
    path: &Path,
) -> Result<std::result::Result<(std::fs::File, u64), &'static str>> {
    let file = match open_no_follow(path) {
        Ok(f) => f,
        // ELOOP: the entry became a symbolic link after discovery.
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Ok(Err("a symbolic link")),
        Err(e) => {
            return Err(Error::io(format!("cannot read {}", path.display()), e));
        }
    };
    let meta = file
        .metadata()
        .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
    if let Some(what) = irregular_kind(&meta.file_type()) {
        return Ok(Err(what));
    }
    Ok(Ok((file, meta.len())))
}

/// `b` (a parsed piece of a landing file) with the file's `file_hash` column added, as a
/// batch of its table's `schema`. Every way of keeping a batch (memory, scratch, scan) adds it.
pub(crate) fn with_file_hash(
    b: &RecordBatch,
    hash: &str,
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    let mut cols = b.columns().to_vec();
    cols.push(Arc::new(constant_text(hash, b.num_rows())));
    Ok(RecordBatch::try_new(schema.clone(), cols)?)
}

/// The SHA-256 (hex) of everything `r` yields, and how many bytes that was.
fn hash_reader(mut r: impl Read) -> std::io::Result<(String, u64)> {
    let mut h = Hashing::new(&mut r);
    let n = std::io::copy(&mut h, &mut std::io::sink())?;
    Ok((h.hex(), n))
}

/// A reader that hashes and counts what passes through it.
pub(crate) struct Hashing<R> {
    inner: R,
    sha: Sha256,
    pub bytes: u64,
}

impl<R> Hashing<R> {
    pub fn new(inner: R) -> Self {
        Hashing {
            inner,
            sha: Sha256::new(),
            bytes: 0,
        }
    }

    /// The hash (hex) of what was read.
    pub fn hex(self) -> String {
        hex::encode(self.sha.finalize())
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Reads every input: hashes it (a file whose hash is `known`, or that repeats an earlier
/// file of this batch, is a duplicate), routes it to its batch table and parses it. Files are
/// read and parsed on all cores; the outcome does not depend on which worker took which file.
///
/// Held in memory ([`Keep::Memory`], and under [`Keep::Rescan`] the tables it does not
/// rescan) every file is read whole and parsed at once. A rescanned table's files are hashed
/// and parsed for their verdict only, records counted but not built
/// ([`crate::pipeline::landing_scan`]). With a scratch
/// directory ([`Keep::Spill`]) each file is streamed into Parquet parts (see [`crate::ingest::stream_file`]),
/// one file per core at a time: memory holds a few pieces of a file per core, whatever the
/// files' sizes.
pub(crate) fn read_batch(
    p: &Pipeline,
    inputs: &[Input],
    known: &HashSet<String>,
    max_file_bytes: u64,
    keep: Keep<'_>,
) -> Result<ReadBatch> {
    let spill = match keep {
        Keep::Spill(s) => Some(s),
        _ => None,
    };
    let formats = p.batch_formats()?;
    let specs = p.batch_tables();
    // Per batch table: parsed again by its one read instead of held in memory. A table read
    // more than once stays held (pos reads `batch_raw` four times: see `reads_in_validate`).
    let rescanned: Vec<bool> = specs
        .iter()
        .map(|(name, _)| matches!(keep, Keep::Rescan) && reads_in_validate(p, name) <= 1)
        .collect();
    let schemas: Vec<SchemaRef> = specs
        .iter()
        .map(|(_, fields)| {
            let mut with_hash: Vec<Arc<Field>> =
                raw_schema(fields).fields().iter().cloned().collect();
            with_hash.push(Arc::new(Field::new("file_hash", DataType::Utf8View, false)));
            Arc::new(Schema::new(with_hash))
        })
        .collect();
    let scratch_tables: Option<Vec<ScratchTable>> = spill
        .map(|s| {
            specs
                .iter()
                .zip(&schemas)
                .map(|((name, _), schema)| s.table(name, schema.clone()))
                .collect::<Result<_>>()
        })
        .transpose()?;
    let streamed = scratch_tables.as_deref();
    let options = |t: usize| ReadOptions {
        format: formats[t],
        fields: specs[t].1.clone(),
        batch_rows: 65536,
        max_file_bytes,
        count_only: false,
    };

    let not_regular = |input: &Input, what: &str| Parsed::Refused {
        code: codes::NOT_A_REGULAR_FILE,
        message: format!(
            "{}: is {what}; only regular files are ingested (it was moved aside, not followed \
             or opened); drop the file itself",
            input.name
        ),
    };
    let too_large = |input: &Input, size: u64| Parsed::Refused {
        code: codes::TOO_LARGE,
        message: format!(
            "{}: {size} bytes, over the limit of {max_file_bytes} bytes (--max-file-bytes); \
             split the file, or raise the limit if the machine has the memory for it",
            input.name
        ),
    };
    let read_one = |input: &Input| -> Result<(String, Parsed)> {
        let started = Instant::now();
        if input.bad_name {
            return Ok((
                String::new(),
                Parsed::Refused {
                    code: codes::BAD_NAME,
                    message: format!(
                        "{}: the file name is not UTF-8; rename the file (UTF-8) and drop it again",
                        input.name
                    ),
                },
            ));
        }
        if let Some(what) = input.not_regular {
            return Ok((String::new(), not_regular(input, what)));
        }
        if !p.accepts(&input.name) {
            // Taken only to be rejected (`reject_unmatched`): unread, so not in the ledger,
            // and the same content dropped again under a right name is read then.
            return Ok((
                String::new(),
                Parsed::Refused {
                    code: "UNKNOWN_TYPE",
                    message: format!(
                        "{}: the name matches none of the patterns {}; rename the file",
                        input.name,
                        p.manifest.input.patterns.join(", ")
                    ),
                },
            ));
        }
        let (file, size) = match open_regular(&input.path)? {
            Ok(f) => f,
            Err(what) => return Ok((String::new(), not_regular(input, what))),
        };
        if size > max_file_bytes {
            return Ok((String::new(), too_large(input, size)));
        }
        let gzip = input
            .path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
        let label = input
            .origin
            .as_ref()
            .unwrap_or(&input.path)
            .display()
            .to_string();
        let typed = p.route(&input.name);
        let route = |hash: &str| typed.filter(|_| !known.contains(hash));
        if typed.map_or(matches!(keep, Keep::Rescan), |t| rescanned[t]) {
            // Hashed and parsed in one read, the records counted but not built: only the
            // verdict is kept, for the scans to compare with.
            let cannot_read = |e| Error::io(format!("cannot read {}", input.path.display()), e);
            let mut reader = Hashing::new((&file).take(max_file_bytes.saturating_add(1)));
            let verdict = match typed {
                Some(t) => {
                    let mut drop_records = |_: Vec<RecordBatch>| Ok(());
                    let opts = ReadOptions {
                        count_only: true,
                        ..options(t)
                    };
                    Some(stream_file(
                        &mut reader,
                        gzip,
                        &label,
                        &input.name,
                        &opts,
                        &mut drop_records,
                    )?)
                }
                None => None,
            };
            std::io::copy(&mut reader, &mut std::io::sink()).map_err(cannot_read)?;
            if reader.bytes > max_file_bytes {
                return Ok((String::new(), too_large(input, reader.bytes)));
            }
            let hash = reader.hex();
            let (Some(t), Some(verdict)) = (route(&hash), verdict) else {
                return Ok(unread(hash, known));
            };
            let rows = match verdict {
                Streamed::Taken { rows } => rows,
                Streamed::Rejected { .. } => 0,
            };
            tracing::debug!(
                file = %input.name,
                bytes = size,
                seconds = started.elapsed().as_secs_f64(),
                "landing file checked"
            );
            let file = TakenFile {
                path: input.path.clone(),
                name: input.name.clone(),
                label,
                gzip,
                size,
                hash: hash.clone(),
                rows,
                _staged: input._staged.clone(),
            };
            return Ok((
                hash,
                Parsed::Checked {
                    table: t,
                    verdict,
                    file,
                },
            ));
        }
        let Some(tables) = streamed else {
            // In memory: read once, hashed, parsed from the bytes.
            // At most the limit plus one byte is read, even if the file grows meanwhile.
            let mut bytes = Vec::with_capacity(size as usize);
            file.take(max_file_bytes.saturating_add(1))
                .read_to_end(&mut bytes)
                .map_err(|e| Error::io(format!("cannot read {}", input.path.display()), e))?;
            if bytes.len() as u64 > max_file_bytes {
                return Ok((String::new(), too_large(input, bytes.len() as u64)));
            }
            let loaded = started.elapsed().as_secs_f64();
            let hash = hex::encode(Sha256::digest(&bytes));
            let Some(t) = route(&hash) else {
                return Ok(unread(hash, known));
            };
            let size = bytes.len();
            let read = read_bytes(bytes, gzip, &label, &input.name, &options(t))?;
            tracing::debug!(
                file = %input.name,
                bytes = size,
                read = loaded,
                parse = started.elapsed().as_secs_f64() - loaded,
                "landing file read (seconds)"
            );
            return Ok((hash, Parsed::Read { table: t, read }));
        };
        // Streamed: the content hash first (the ledger decides whether to parse at all),
        // then the file again, parsed piece by piece into a Parquet part of its table and
        // hashed once more: a file changed in between is an error, never half of each.
        let cannot_read = |e| Error::io(format!("cannot read {}", input.path.display()), e);
        let (hash, size) =
            hash_reader((&file).take(max_file_bytes.saturating_add(1))).map_err(cannot_read)?;
        if size > max_file_bytes {
            return Ok((String::new(), too_large(input, size)));
        }
        let Some(t) = route(&hash) else {
            return Ok(unread(hash, known));
        };
        // The same open file again from its start (no second open and type check: the entry
        // cannot be swapped under us); a write in place is caught by the second hash.
        (&file)
            .seek(std::io::SeekFrom::Start(0))
            .map_err(cannot_read)?;
        let mut reader = Hashing::new((&file).take(max_file_bytes.saturating_add(1)));
        let part = Box::new(tables[t].part()?);
        let schema = schemas[t].clone();
        // Parquet is encoded on a thread of its own while the next piece is parsed; the
        // channel holds a few batches, so memory stays a few pieces per file.
        let (verdict, part) = std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<RecordBatch>(4);
            let writer = scope.spawn(move || -> Result<Box<ScratchWriter>> {
                let mut part = part;
                for batch in rx {
                    part.write(&batch)?;
                }
                Ok(part)
            });
            let mut sink = |batches: Vec<RecordBatch>| -> Result<()> {
                for b in batches {
                    if tx.send(with_file_hash(&b, &hash, &schema)?).is_err() {
                        // The writer stopped on an error; its join below says which.
                        return Err(Error::Internal("the scratch writer stopped"));
                    }
                }
                Ok(())
            };
            let verdict = stream_file(
                &mut reader,
                gzip,
                &label,
                &input.name,
                &options(t),
                &mut sink,
            );
            drop(tx);
            let part = writer
                .join()
                .map_err(|_| Error::Internal("the scratch writer thread panicked"))??;
            Ok::<_, Error>((verdict?, part))
        })?;
        // The rest of the file (a rejected file stops being parsed early) for the hash.
        std::io::copy(&mut reader, &mut std::io::sink()).map_err(cannot_read)?;
        if reader.hex() != hash {
            part.discard()?;
            return Err(Error::LandingFileChanged(input.name.clone()));
        }
        tracing::debug!(
            file = %input.name,
            bytes = size,
            seconds = started.elapsed().as_secs_f64(),
            "landing file streamed"
        );
        Ok((hash, Parsed::Streamed { verdict, part }))
    };
    let mut files = Vec::with_capacity(inputs.len());
    let mut memory: Vec<Vec<RecordBatch>> = specs.iter().map(|_| Vec::new()).collect();
    let mut taken: Vec<Vec<TakenFile>> = specs.iter().map(|_| Vec::new()).collect();
    // In memory every file is parsed at once (fastest); streamed, one file per core at a time.
    let chunk = match streamed {
        Some(_) => std::thread::available_parallelism().map_or(1, |n| n.get()),
        None => inputs.len().max(1),
    };
    let mut seen_in_batch: HashSet<String> = HashSet::new();
    for chunk_inputs in inputs.chunks(chunk) {
        let parsed = parallel_map(chunk_inputs, read_one);
        for (input, result) in chunk_inputs.iter().zip(parsed) {
            let (hash, parsed) = result?;
            let mut f = FileSummary {
                file: input.name.clone(),
                file_hash: hash.clone(),
                ..Default::default()
            };
            // Refused entries have no content hash: they are neither duplicates nor in the ledger.
            let first_in_batch = hash.is_empty() || seen_in_batch.insert(hash.clone());
            let rejected = |f: &mut FileSummary, code: &str, message: &str| {
                f.status = FileStatus::Rejected;
                f.reject_reason = Some(format!("{code}: {message}"));
            };
            match parsed {
                Parsed::Known => f.status = FileStatus::Duplicate,
                Parsed::Streamed { part, .. } if !first_in_batch => {
                    part.discard()?;
                    f.status = FileStatus::Duplicate;
                }
                _ if !first_in_batch => f.status = FileStatus::Duplicate,
                Parsed::Refused { code, message } => rejected(&mut f, code, &message),
                Parsed::Unrouted => {
                    let prefixes: Vec<&str> = p
                        .manifest
                        .input
                        .types
                        .iter()
                        .map(|t| t.prefix.as_str())
                        .collect();
                    let message = format!(
                        "{}: the name starts with none of {}; rename the file",
                        input.name,
                        prefixes.join(", ")
                    );
                    rejected(&mut f, "UNKNOWN_TYPE", &message);
                }
                Parsed::Read {
                    read: FileRead::Rejected { code, message },
                    ..
                } => rejected(&mut f, &code, &message),
                Parsed::Read {
                    table,
                    read: FileRead::Records { batches, .. },
                } => {
                    for b in batches {
                        memory[table].push(with_file_hash(&b, &hash, &schemas[table])?);
                    }
                    f.status = FileStatus::Read;
                }
                Parsed::Checked {
                    verdict: Streamed::Rejected { code, message },
                    ..
                } => rejected(&mut f, &code, &message),
                Parsed::Checked {
                    table,
                    verdict: Streamed::Taken { .. },
                    file,
                } => {
                    taken[table].push(file);
                    f.status = FileStatus::Read;
                }
                Parsed::Streamed {
                    verdict: Streamed::Rejected { code, message },
                    part,
                    ..
                } => {
                    part.discard()?;
                    rejected(&mut f, &code, &message);
                }
                Parsed::Streamed {
                    verdict: Streamed::Taken { .. },
                    part,
                    ..
                } => {
                    part.close()?;
                    f.status = FileStatus::Read;
                }
            }
            files.push(f);
        }
    }
    let tables = match scratch_tables {
        Some(scratch) => specs
            .iter()
            .zip(&schemas)
            .zip(scratch)
            .map(|(((name, _), schema), t)| BatchTable {
                name: name.clone(),
                schema: schema.clone(),
                data: BatchData::Spilled(Box::new(t)),
            })
            .collect(),
        None => {
            let partitions = std::thread::available_parallelism().map_or(1, |n| n.get());
            let mut tables = Vec::with_capacity(specs.len());
            let per_table = specs.iter().zip(memory).zip(taken).enumerate();
            for (t, (((name, _), batches), files)) in per_table {
                // A table with no file stays an (empty) in-memory table: a scan needs a file.
                let data = if rescanned[t] && !files.is_empty() {
                    BatchData::Landing(crate::pipeline::landing_scan::table(
                        schemas[t].clone(),
                        files,
                        options(t),
                        partitions,
                    )?)
                } else {
                    BatchData::Memory(batches)
                };
                tables.push(BatchTable {
                    name: name.clone(),
                    schema: schemas[t].clone(),
                    data,
                });
            }
            tables
        }
    };
    Ok(ReadBatch { files, tables })
}

/// How many times the validate files name `table` (as a word, comments included). A batch
/// table read once is parsed again by that read instead of being held; one read several
/// times (pos reads `batch_raw` four times) is held in memory, where parsing it again for
/// every read would cost more than it saves (5M pos rows: 8.2–8.6 s and 1.21 GB peak
/// parsed four times, 5.9–6.2 s and 1.78 GB held).
fn reads_in_validate(p: &Pipeline, table: &str) -> usize {
    p.manifest
        .validate
        .iter()
        .filter_map(|f| p.sql.get(f))
        .flat_map(|text| crate::pipeline::model::sql_words(text))
        .filter(|w| w.eq_ignore_ascii_case(table))
        .count()
}

/// What [`discover`] found.
#[derive(Default)]
pub(crate) struct Discovered {
    /// Entries to read in this run, in name (code-point) order.
    pub inputs: Vec<Input>,
    /// Files that changed within the settle time: still arriving, left for a later run.
    pub arriving: Vec<String>,
}

/// `(size, mtime)` of an entry, without following a link.
fn size_and_mtime(path: &Path) -> Option<(u64, SystemTime)> {
    let m = std::fs::symlink_metadata(path).ok()?;
    Some((m.len(), m.modified().ok()?))
}

/// Entries in landing that belong to the pipeline (see [`Pipeline::takes`]). A regular
/// file modified less than `settle` ago is looked at again once it is `settle` old: taken if
/// its size and mtime did not change meanwhile, else left in landing for a later run (an
/// upload in progress). Non-regular entries are returned too, to be rejected whole.
pub(crate) async fn discover(landing: &Path, p: &Pipeline, settle: Duration) -> Result<Discovered> {
    if crate::storage::is_object(landing) {
        return discover_objects(landing, p, settle).await;
    }
    crate::storage::check_local(landing)?;
    let Ok(entries) = std::fs::read_dir(landing) else {
        return Ok(Discovered::default());
    };
    let now = SystemTime::now();
    let mut out = Discovered::default();
    // (index in out.inputs, size and mtime when first seen, age)
    let mut fresh: Vec<(usize, (u64, SystemTime), Duration)> = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        // A name that is not UTF-8 is matched in its lossy form and rejected whole: left
        // in landing, its records would reach no table, ever.
        let raw_name = e.file_name();
        let bad_name = raw_name.to_str().is_none();
        let name = raw_name.to_string_lossy().into_owned();
        if !p.takes(&name) {
            continue;
        }
        // DirEntry::file_type does not follow links.
        let Ok(file_type) = e.file_type() else {
            continue;
        };
        let not_regular = irregular_kind(&file_type);
        if not_regular.is_none()
            && !settle.is_zero()
            && let Some(seen) = size_and_mtime(&path)
        {
            // An mtime in the future (clock skew) counts as just now.
            let age = now.duration_since(seen.1).unwrap_or(Duration::ZERO);
            if age < settle {
                fresh.push((out.inputs.len(), seen, age));
            }
        }
        out.inputs.push(Input {
            path,
            name,
            not_regular,
            bad_name,
            origin: None,
            _staged: None,
        });
    }
    if let Some(youngest) = fresh.iter().map(|f| f.2).min() {
        // Unchanged from first sight until now = unchanged for at least `settle`.
        tokio::time::sleep(settle - youngest).await;
        let mut arriving = HashSet::new();
        for (i, seen, _) in &fresh {
            if size_and_mtime(&out.inputs[*i].path) != Some(*seen) {
                arriving.insert(*i);
            }
        }
        let inputs = std::mem::take(&mut out.inputs);
        for (i, input) in inputs.into_iter().enumerate() {
            if arriving.contains(&i) {
                tracing::info!(
                    file = %input.name,
                    "still arriving (changed within the settle time); left for a later run"
                );
                out.arriving.push(input.name);
            } else {
                out.inputs.push(input);
            }
        }
    }
    out.inputs.sort_by(|a, b| a.name.cmp(&b.name));
    out.arriving.sort();
    Ok(out)
}

/// [`discover`] for a landing prefix in a bucket: its objects (a bucket has no links, FIFOs or
/// devices; "sub-directories" are other prefixes and not taken), settled on their size and
/// last-modified time, then copied to a local staging directory for the readers.
async fn discover_objects(landing: &Path, p: &Pipeline, settle: Duration) -> Result<Discovered> {
    let listed = |landing: &Path| -> Result<Vec<crate::storage::Entry>> {
        let mut v: Vec<_> = crate::storage::list_dir(landing)?
            .into_iter()
            .filter(|e| !e.is_dir && p.accepts(&e.name))
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    };
    let mut entries = listed(landing)?;
    let mut out = Discovered::default();
    if entries.is_empty() {
        return Ok(out);
    }
    let now = SystemTime::now();
    let youngest = entries
        .iter()
        .filter_map(|e| e.modified)
        .map(|m| now.duration_since(m).unwrap_or(Duration::ZERO))
        .min()
        .unwrap_or(settle);
    if !settle.is_zero() && youngest < settle {
        tokio::time::sleep(settle - youngest).await;
        let again = listed(landing)?;
        let first: std::collections::HashMap<_, _> = entries
            .iter()
            .map(|e| (e.name.clone(), (e.size, e.modified)))
            .collect();
        entries = Vec::new();
        for e in again {
            let fresh = e
                .modified
                .is_some_and(|m| now.duration_since(m).unwrap_or(Duration::ZERO) < settle);
            if fresh && first.get(&e.name) != Some(&(e.size, e.modified)) {
                out.arriving.push(e.name);
            } else {
                entries.push(e);
            }
        }
    }
    static STAGED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = STAGED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("stockroom-landing-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    let staging = Arc::new(Staging(dir.clone()));
    for e in entries {
        // A listed name has no '/' (that would be a prefix); the copy keeps it, so its
        // extension (`.gz`) reads the same as on disk.
        let local = dir.join(&e.name);
        crate::storage::download(&e.path, &local)?;
        out.inputs.push(Input {
            path: local,
            name: e.name,
            not_regular: None,
            bad_name: false,
            origin: Some(e.path),
            _staged: Some(staging.clone()),
        });
    }
    out.arriving.sort();
    Ok(out)
}

/// Moves the batch's files: whole-file rejects (and, on a failed run, every file) to
/// `rejected/<pipeline>/<run_id>/` with `<name>.reason.json`, the rest to `archive/…`.
pub(crate) fn move_files(
    wh: &crate::warehouse::Warehouse,
    pipeline: &str,
    run_id: &str,
    inputs: &[Input],
    summary: &RunSummary,
    failed_run: bool,
) -> Result<()> {
    for (input, f) in inputs.iter().zip(&summary.files) {
        let reject =
            f.status == FileStatus::Rejected || (failed_run && f.status != FileStatus::Duplicate);
        let dir = if reject {
            wh.rejected_dir(pipeline, run_id)
        } else {
            wh.archive_dir(pipeline, run_id)
        };
        crate::storage::create_dir_all(&dir)?;
        // Two lossy names can be equal: never overwrite an entry moved before.
        let mut dest_name = f.file.clone();
        let mut n = 1;
        while crate::storage::exists(&dir.join(&dest_name))? {
            dest_name = format!("{}.{n}", f.file);
            n += 1;
        }
        let dest = dir.join(&dest_name);
        if reject {
            let reason = serde_json::json!({
                "file": f.file,
                "run_id": run_id,
                "reason": f.reject_reason.clone().unwrap_or_else(|| "no valid record in the batch".into()),
                "rows_read": f.rows_read,
                "reasons": f.reasons,
            });
            let rp = dir.join(format!("{dest_name}.reason.json"));
            crate::storage::write(&rp, &serde_json::to_vec_pretty(&reason)?)?;
        }
        // On disk one rename; in a bucket copy-then-delete (a crash between them leaves
        // the file in landing too, and the ledger makes it a duplicate next run).
        crate::storage::move_file(input.origin.as_ref().unwrap_or(&input.path), &dest)?;
    }
    Ok(())
}
