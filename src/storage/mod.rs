//! Where things live: the warehouse's files on local disk or in an object store (S3).
//!
//! Every file operation of the warehouse (tables, `landing/`, `archive/`, `rejected/`, `runs/`,
//! the external-table catalog) goes through the functions of this module instead of `std::fs`.
//! They take the same paths as before: a warehouse opened from `s3://bucket/prefix` has the
//! *path-shaped* root `s3://bucket/prefix` (so `root.join("runs")` and every message that
//! displays a path read as the object's URL), and [`Warehouse::open`](crate::Warehouse::open)
//! registers the store behind that root. A path under a registered root is an object; any
//! other path is a local file and goes to `std::fs` exactly as before (local fast paths: atomic
//! renames, OS file locks, appends).
//!
//! A new backend (GCS, Azure) is one more arm in [`object::ObjectBackend::open`]: the rest of
//! the program only sees paths.

mod blocking;
pub mod error;
pub mod lock;
mod object;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use url::Url;

use crate::error::{Error, Result};
use crate::storage::error::StorageError;
pub use object::ObjectBackend;

/// The object stores opened in this process, by their path-shaped root.
static OPENED: RwLock<Vec<Arc<ObjectBackend>>> = RwLock::new(Vec::new());

/// What a warehouse location names.
pub enum Location {
    /// A local directory (as given; the warehouse creates and canonicalizes it).
    Local(PathBuf),
    /// An object store: its path-shaped root (`s3://bucket/prefix`).
    Object(Arc<ObjectBackend>),
}

/// Parses a warehouse location: a local directory, `file://…`, or `s3://bucket/prefix`
/// (opened, checked and registered). Any other `scheme:` is refused, never taken as a local
/// folder named `s3:`.
pub fn open_location(raw: &Path) -> Result<Location> {
    let text = raw.to_string_lossy();
    let Some(scheme) = url_scheme(&text) else {
        return Ok(Location::Local(raw.to_path_buf()));
    };
    match scheme.as_str() {
        "file" => {
            let url = Url::parse(&text).map_err(|e| Error::UnsupportedLocation {
                location: text.to_string(),
                reason: format!("not a file URL ({e})"),
            })?;
            let path = url
                .to_file_path()
                .map_err(|()| Error::UnsupportedLocation {
                    location: text.to_string(),
                    reason: "a file URL must name an absolute local path".into(),
                })?;
            Ok(Location::Local(path))
        }
        "s3" | "s3a" => {
            let backend = Arc::new(ObjectBackend::open_s3(&text)?);
            backend.check_reachable()?;
            let mut opened = OPENED.write().unwrap_or_else(|e| e.into_inner());
            opened.retain(|b| b.root() != backend.root());
            opened.push(backend.clone());
            Ok(Location::Object(backend))
        }
        other => Err(Error::UnsupportedLocation {
            location: text.to_string(),
            reason: format!(
                "the scheme '{other}:' is not supported by this build \
                 (use a local directory, file://… or s3://bucket/prefix)"
            ),
        }),
    }
}

/// `Some(scheme)` when `text` starts like a URL (`name:` with a name of two or more
/// characters, so a Windows drive letter `C:` stays a path).
fn url_scheme(text: &str) -> Option<String> {
    let (scheme, _) = text.split_once(':')?;
    let ok = scheme.len() >= 2
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    ok.then(|| scheme.to_ascii_lowercase())
}

/// True when `path` is written like a URL (`s3://…`, `gs://…`): such a path that is under no
/// opened store must not become a local folder named `s3:`.
pub fn is_url(path: &Path) -> bool {
    url_scheme(&path.to_string_lossy()).is_some()
}

/// Refuses a URL-like path that is under no opened store (a bucket this process did not
/// open); for call sites that then read the local path themselves.
pub fn check_local(path: &Path) -> Result<()> {
    if is_object(path) {
        return Ok(());
    }
    local(path).map(|_| ())
}

/// Refuses a URL-like path on the local branch (a bucket this process did not open).
fn local(path: &Path) -> Result<&Path> {
    if is_url(path) {
        return Err(Error::UnsupportedLocation {
            location: path.display().to_string(),
            reason: "not under the warehouse's own bucket; only the warehouse location \
                     (--warehouse) opens a bucket"
                .into(),
        });
    }
    Ok(path)
}

/// The object store and key of `path`, when it lies under an opened object store's root.
fn object(path: &Path) -> Option<(Arc<ObjectBackend>, object_store::path::Path)> {
    let opened = OPENED.read().unwrap_or_else(|e| e.into_inner());
    opened
        .iter()
        .find_map(|b| b.key(path).map(|k| (b.clone(), k)))
}

/// True when `path` is an object (not a local file).
pub fn is_object(path: &Path) -> bool {
    object(path).is_some()
}

/// Registers every opened object store with a DataFusion runtime, so scans of the tables'
/// Parquet files (and `SELECT … FROM 's3://…'`) resolve `s3://bucket/` to it.
pub fn register_with(runtime: &datafusion::execution::runtime_env::RuntimeEnv) {
    let opened = OPENED.read().unwrap_or_else(|e| e.into_inner());
    for b in opened.iter() {
        runtime.register_object_store(b.bucket_url(), b.store());
    }
}

/// The URL deltalake opens a table directory with: `file:///…/` on disk, `s3://bucket/…/` in
/// a bucket (deltalake's `s3` log store commits there with a create-only put).
pub fn dir_url(dir: &Path) -> Result<Url> {
    if let Some((b, key)) = object(dir) {
        return b.url_of(&key);
    }
    Url::from_directory_path(dir).map_err(|_| Error::NotAbsolute(dir.display().to_string()))
}

/// One entry of a directory listing.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub path: PathBuf,
    pub is_dir: bool,
    pub size: u64,
    pub modified: Option<std::time::SystemTime>,
}

/// The entries directly in `dir` (empty when it does not exist).
pub fn list_dir(dir: &Path) -> Result<Vec<Entry>> {
    if let Some((b, key)) = object(dir) {
        return b.list_dir(dir, &key);
    }
    let Ok(entries) = std::fs::read_dir(local(dir)?) else {
        return Ok(Vec::new());
    };
    Ok(entries
        .flatten()
        .map(|e| {
            let meta = e.metadata().ok();
            Entry {
                name: e.file_name().to_string_lossy().into_owned(),
                path: e.path(),
                is_dir: meta.as_ref().is_some_and(|m| m.is_dir()),
                size: meta.as_ref().map(|m| m.len()).unwrap_or(0),
                modified: meta.and_then(|m| m.modified().ok()),
            }
        })
        .collect())
}

/// Every file under `dir`, recursively, with sizes (for table sizes in the report).
pub fn list_files_recursive(dir: &Path) -> Result<Vec<Entry>> {
    if let Some((b, key)) = object(dir) {
        return b.list_recursive(dir, &key);
    }
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in list_dir(&d)? {
            if e.is_dir {
                todo.push(e.path);
            } else {
                out.push(e);
            }
        }
    }
    Ok(out)
}

/// True when `dir` holds anything (a directory on disk; any object under the prefix).
pub fn dir_exists(dir: &Path) -> bool {
    match object(dir) {
        Some((b, key)) => b.prefix_exists(&key).unwrap_or(false),
        None => dir.is_dir(),
    }
}

/// True when the file exists.
pub fn exists(path: &Path) -> Result<bool> {
    match object(path) {
        Some((b, key)) => Ok(b.head(&key)?.is_some()),
        None => Ok(std::fs::symlink_metadata(path).is_ok()),
    }
}

/// Creates `dir` and its parents on disk; nothing to do in an object store (prefixes exist
/// when objects do).
pub fn create_dir_all(dir: &Path) -> Result<()> {
    if is_object(dir) {
        return Ok(());
    }
    std::fs::create_dir_all(local(dir)?)
        .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))
}

/// The whole file; `None` when it does not exist.
pub fn read(path: &Path) -> Result<Option<Vec<u8>>> {
    if let Some((b, key)) = object(path) {
        return b.get(&key);
    }
    match std::fs::read(local(path)?) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("cannot read {}", path.display()), e)),
    }
}

/// The whole file as text; `None` when it does not exist.
pub fn read_to_string(path: &Path) -> Result<Option<String>> {
    match read(path)? {
        None => Ok(None),
        Some(b) => String::from_utf8(b)
            .map(Some)
            .map_err(|_| StorageError::NotUtf8(path.display().to_string()).into()),
    }
}

/// Writes the whole file so that readers see the old or the new content, never half: on
/// disk a temp file renamed over it; in an object store one PUT (atomic by itself).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some((b, key)) = object(path) {
        return b.put(&key, bytes.to_vec());
    }
    let dir = local(path)?.parent().unwrap_or(Path::new("."));
    create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes)
        .map_err(|e| Error::io(format!("cannot write {}", tmp.display()), e))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))
}

/// Writes the whole file (plain write on disk, one PUT in an object store).
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some((b, key)) = object(path) {
        return b.put(&key, bytes.to_vec());
    }
    std::fs::write(path, bytes)
        .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))
}

/// Appends a line to a log file. On disk an O_APPEND write; an object store cannot append,
/// so the object is read and written back, guarded by its ETag (a concurrent appender makes
/// one of the two retry, so no line is lost).
pub fn append_line(path: &Path, line: &str) -> Result<()> {
    if let Some((b, key)) = object(path) {
        return b.append_line(&key, line);
    }
    use std::io::Write;
    if let Some(dir) = local(path)?.parent() {
        create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
    writeln!(f, "{line}").map_err(|e| Error::io(format!("cannot write {}", path.display()), e))
}

/// Moves a file. On disk one atomic rename. In an object store a copy, then a delete of the
/// source: a crash between them leaves the file in both places (never in neither), and the
/// caller's ledger decides what the surviving source copy means (the pipelines' file hashes
/// make it a duplicate). A local source moved into an object store is uploaded, then removed.
pub fn move_file(from: &Path, to: &Path) -> Result<()> {
    match (object(from), object(to)) {
        (None, None) => std::fs::rename(local(from)?, local(to)?).map_err(|e| {
            Error::io(
                format!("cannot move {} to {}", from.display(), to.display()),
                e,
            )
        }),
        (Some((b, f)), Some((b2, t))) if Arc::ptr_eq(&b, &b2) => {
            b.copy(&f, &t)?;
            b.delete(&f)
        }
        (src, dst) => {
            let bytes = match &src {
                Some((b, f)) => b.get(f)?,
                None => read(from)?,
            }
            .ok_or_else(|| StorageError::GoneBeforeMove(from.display().to_string()))?;
            match &dst {
                Some((b, t)) => b.put(t, bytes)?,
                None => write(to, &bytes)?,
            }
            remove_file(from)
        }
    }
}

/// Removes a file (a missing one is not an error).
pub fn remove_file(path: &Path) -> Result<()> {
    if let Some((b, key)) = object(path) {
        return b.delete(&key);
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("cannot remove {}", path.display()), e)),
    }
}

/// Removes a directory and everything under it (every object under the prefix).
pub fn remove_dir_all(dir: &Path) -> Result<()> {
    if let Some((b, key)) = object(dir) {
        return b.delete_prefix(&key);
    }
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("cannot remove {}", dir.display()), e)),
    }
}

/// Copies a landing object to a local file for the readers (which read local files).
pub fn download(from: &Path, to: &Path) -> Result<()> {
    let bytes = read(from)?.ok_or_else(|| StorageError::Vanished(from.display().to_string()))?;
    std::fs::write(to, bytes).map_err(|e| Error::io(format!("cannot write {}", to.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_are_recognised_and_drive_letters_are_not() {
        assert_eq!(url_scheme("s3://b/p").as_deref(), Some("s3"));
        assert_eq!(url_scheme("gs://b").as_deref(), Some("gs"));
        assert_eq!(url_scheme("foo:bar").as_deref(), Some("foo"));
        assert_eq!(url_scheme("C:\\wh"), None);
        assert_eq!(url_scheme("./warehouse"), None);
        assert_eq!(url_scheme("/tmp/a:b"), None);
    }

    #[test]
    fn unsupported_schemes_are_errors_not_folders() {
        for loc in ["gs://lake/wh", "foo://x", "azure:thing"] {
            let e = open_location(Path::new(loc)).err().map(|e| e.to_string());
            assert!(
                e.as_deref().is_some_and(|m| m.contains("not supported")),
                "{loc}: {e:?}"
            );
        }
        assert!(matches!(
            open_location(Path::new("file:///tmp/wh")),
            Ok(Location::Local(p)) if p == Path::new("/tmp/wh")
        ));
    }
}
