//! What an executor lets a statement do. The REPL, `run-sql`, `query` and pipelines run with
//! [`Policy::default`] (everything: the user owns the machine); `stockroom serve` runs every
//! connection with a restricted policy, because its clients are other people.
//!
//! The check is made on the *whole* planned statement, subqueries and EXPLAIN inputs
//! included ([`Policy::check_plan`]), not on its first keyword: `EXPLAIN ANALYZE COPY …`,
//! `PREPARE p AS INSERT …` and a `SET` hidden anywhere are caught the same way as the plain
//! statement.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::logical_expr::{DdlStatement, LogicalPlan, Statement};

use crate::error::{Error, Result};
use crate::exec::error::ExecError;

/// Which local files a statement may read or write by path (`SELECT * FROM 'x.csv'`,
/// `CREATE EXTERNAL TABLE … LOCATION`, `COPY … TO`).
#[derive(Debug, Clone, Default)]
pub enum FileAccess {
    /// Any path the process can reach (the command-line front ends).
    #[default]
    Any,
    /// Only paths inside these directories (canonical, so `..` and symlinks cannot leave
    /// them). Empty: no file paths at all.
    Within(Arc<Vec<PathBuf>>),
}

impl FileAccess {
    /// Canonicalises the directories once, so later checks compare real paths.
    pub fn within(dirs: &[PathBuf]) -> Result<Self> {
        let mut canon = Vec::with_capacity(dirs.len());
        for d in dirs {
            let c = d
                .canonicalize()
                .map_err(|e| Error::io(format!("--allow-files {}", d.display()), e))?;
            if !c.is_dir() {
                return Err(ExecError::AllowFilesNotDir(d.display().to_string()).into());
            }
            canon.push(c);
        }
        Ok(FileAccess::Within(Arc::new(canon)))
    }

    /// Refuses `location` (a path, a glob or a URL) unless it lies inside the allowed
    /// directories. `what` names the use, for the message.
    pub fn check(&self, location: &str, what: &str) -> Result<()> {
        let FileAccess::Within(dirs) = self else {
            return Ok(());
        };
        let refuse = |why: &str| {
            let allowed = if dirs.is_empty() {
                "this server reads no files by path (start it with --allow-files DIR to allow a \
                 directory); query the warehouse's tables by name"
                    .to_string()
            } else {
                format!(
                    "allowed: {}",
                    dirs.iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            Err(Error::FileAccess(format!(
                "{what} '{location}' {why}; {allowed}"
            )))
        };
        if dirs.is_empty() {
            return refuse("refused");
        }
        let path = match location.split_once("://") {
            Some(("file", rest)) => rest,
            Some(_) => return refuse("is a URL, not a local path"),
            None => location,
        };
        // A glob: check its fixed prefix, and that the pattern cannot climb out of it.
        let glob_at = path.find(['*', '?', '[', '{']).unwrap_or(path.len());
        let (fixed, pattern) = path.split_at(glob_at);
        if Path::new(pattern)
            .components()
            .any(|c| matches!(c, Component::ParentDir))
            || pattern.contains("..")
        {
            return refuse("climbs out of its directory");
        }
        let base = if pattern.is_empty() {
            Path::new(fixed).to_path_buf()
        } else {
            // `dir/sales_*.csv` → `dir`; `dir/*` → `dir`.
            match fixed.rfind('/') {
                Some(i) => Path::new(&fixed[..=i]).to_path_buf(),
                None => PathBuf::from("."),
            }
        };
        // A path that does not exist yet (COPY TO a new file): check its directory.
        let real = match base.canonicalize() {
            Ok(r) => r,
            Err(_) => match (base.parent(), base.file_name()) {
                (Some(p), Some(name)) => {
                    let parent = if p.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        p
                    };
                    match parent.canonicalize() {
                        Ok(r) => r.join(name),
                        Err(_) => return refuse("does not exist"),
                    }
                }
                _ => return refuse("does not exist"),
            },
        };
        if dirs.iter().any(|d| real.starts_with(d)) {
            Ok(())
        } else {
            refuse("is outside the allowed directories")
        }
    }
}

/// The rules one executor applies to every statement.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Refuse every statement that would change a table, the catalog or a file.
    pub read_only: bool,
    /// Refuse `SET` / `RESET` of DataFusion settings (runtime, memory, spill directory,
    /// catalog …). The server answers the few settings a client may change itself.
    pub settings_locked: bool,
    /// Which paths may be read or written as files.
    pub files: FileAccess,
}

impl Policy {
    /// The server's policy.
    pub fn server(read_only: bool, files: FileAccess) -> Self {
        Policy {
            read_only,
            settings_locked: true,
            files,
        }
    }

    /// Walks the whole plan (inputs and subqueries) and refuses what this policy forbids.
    /// `kind` names the statement as the user wrote it, for the message.
    pub fn check_plan(&self, plan: &LogicalPlan, kind: &str) -> Result<()> {
        let mut refused: Option<Error> = None;
        plan.apply_with_subqueries(|node| {
            if let Some(e) = self.check_node(node, kind) {
                refused = Some(e);
                return Ok(TreeNodeRecursion::Stop);
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        match refused {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn check_node(&self, node: &LogicalPlan, kind: &str) -> Option<Error> {
        match node {
            LogicalPlan::Dml(_) | LogicalPlan::Ddl(_) | LogicalPlan::Copy(_) if self.read_only => {
                Some(Error::ReadOnly(kind.to_string()))
            }
            LogicalPlan::Copy(c) => self.files.check(&c.output_url, "COPY TO").err(),
            LogicalPlan::Ddl(DdlStatement::CreateExternalTable(c)) => c
                .locations
                .iter()
                .find_map(|l| self.files.check(l, "CREATE EXTERNAL TABLE LOCATION").err()),
            LogicalPlan::Statement(Statement::SetVariable(s)) if self.settings_locked => Some(
                Error::SettingRefused(format!("SET {}", s.variable.to_ascii_lowercase())),
            ),
            LogicalPlan::Statement(Statement::ResetVariable(s)) if self.settings_locked => Some(
                Error::SettingRefused(format!("RESET {}", s.variable.to_ascii_lowercase())),
            ),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_outside_the_allowed_directories_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let allowed = root.path().join("allowed");
        let other = root.path().join("other");
        std::fs::create_dir_all(&allowed).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(allowed.join("a.csv"), "x\n1\n").unwrap();
        std::fs::write(other.join("b.csv"), "x\n1\n").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(other.join("b.csv"), allowed.join("link.csv")).unwrap();
        let access = FileAccess::within(std::slice::from_ref(&allowed)).unwrap();
        let ok = |p: &Path| access.check(&p.display().to_string(), "read");
        assert!(ok(&allowed.join("a.csv")).is_ok());
        assert!(ok(&allowed).is_ok());
        assert!(
            access
                .check(&format!("{}/*.csv", allowed.display()), "read")
                .is_ok()
        );
        assert!(
            access
                .check(
                    &format!("file://{}", allowed.join("a.csv").display()),
                    "read"
                )
                .is_ok()
        );
        // COPY TO a file that does not exist yet, inside.
        assert!(ok(&allowed.join("new.csv")).is_ok());
        for bad in [
            other.join("b.csv"),
            allowed.join("../other/b.csv"),
            PathBuf::from("/"),
            allowed.join("missing/deeper.csv"),
        ] {
            let e = ok(&bad).unwrap_err().to_string();
            assert!(e.contains(&bad.display().to_string()), "{e}");
        }
        #[cfg(unix)]
        assert!(ok(&allowed.join("link.csv")).is_err());
        assert!(
            access
                .check(&format!("{}/../*/b.csv", allowed.display()), "read")
                .is_err()
        );
        assert!(access.check("s3://bucket/x.csv", "read").is_err());
        let none = FileAccess::within(&[]).unwrap();
        let e = none.check("a.csv", "read").unwrap_err().to_string();
        assert!(e.contains("--allow-files"), "{e}");
    }
}
