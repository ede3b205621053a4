//! The warehouse directory layout (see docs/pipelines.md#the-warehouse): one place that knows where
//! landing, archive, rejected, tables and runs live.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct Warehouse {
    root: PathBuf,
}

impl Warehouse {
    /// Opens (and creates if needed) the warehouse rooted at `root`: a local directory, or
    /// `s3://bucket/prefix` (see [`crate::storage`]); any other scheme is an error.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        let root = match crate::storage::open_location(root.as_ref())? {
            crate::storage::Location::Object(b) => {
                return Ok(Self {
                    root: b.root().to_path_buf(),
                });
            }
            crate::storage::Location::Local(p) => p,
        };
        let root = root.as_path();
        std::fs::create_dir_all(root.join("tables")).map_err(|e| {
            Error::io(
                format!(
                    "cannot create warehouse at {} (give --warehouse a directory you can write)",
                    root.display()
                ),
                e,
            )
        })?;
        let root = std::fs::canonicalize(root)
            .map_err(|e| Error::io(format!("cannot open warehouse {}", root.display()), e))?;
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn tables_dir(&self) -> PathBuf {
        self.root.join("tables")
    }

    /// Directory of the Delta table `name` (it may not exist yet).
    pub fn table_dir(&self, name: &str) -> PathBuf {
        self.tables_dir().join(name)
    }

    pub fn landing_dir(&self, pipeline: &str) -> PathBuf {
        self.root.join("landing").join(pipeline)
    }

    pub fn archive_dir(&self, pipeline: &str, run_id: &str) -> PathBuf {
        self.root.join("archive").join(pipeline).join(run_id)
    }

    pub fn rejected_dir(&self, pipeline: &str, run_id: &str) -> PathBuf {
        self.root.join("rejected").join(pipeline).join(run_id)
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.root.join("runs")
    }

    /// True when `tables/<name>/_delta_log` exists: the cheap test used for lazy registration.
    pub fn is_table(&self, name: &str) -> bool {
        valid_table_name(name)
            && crate::storage::dir_exists(&self.table_dir(name).join("_delta_log"))
    }

    /// Names of the Delta tables, sorted. Reads one directory, no Delta log.
    pub fn table_names(&self) -> Vec<String> {
        let Ok(entries) = crate::storage::list_dir(&self.tables_dir()) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .into_iter()
            .filter(|e| e.is_dir && valid_table_name(&e.name))
            .filter(|e| crate::storage::dir_exists(&e.path.join("_delta_log")))
            .map(|e| e.name)
            .collect();
        names.sort();
        names
    }
}

/// Table names are plain identifiers: they become directory names, so nothing that could
/// escape `tables/` (`..`, `/`) is accepted.
pub fn valid_table_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !name.starts_with('-')
}
