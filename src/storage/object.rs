//! An object store behind a warehouse root (S3 and S3-compatible servers), through
//! `object_store`. Credentials and endpoint come from the standard AWS variables; they are
//! never printed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use url::Url;

use super::{Entry, blocking};
use crate::error::{Error, Result};
use crate::storage::error::StorageError;

/// An opened bucket + prefix.
#[derive(Debug)]
pub struct ObjectBackend {
    /// Path-shaped root, e.g. `s3://lake/wh` (what the warehouse joins paths onto).
    root: PathBuf,
    /// `s3://lake/` (what DataFusion resolves object URLs by).
    bucket_url: Url,
    bucket: String,
    prefix: Key,
    store: Arc<dyn ObjectStore>,
}

impl ObjectBackend {
    /// `s3://bucket/prefix` with the AWS_* variables. Fails, before any request, when no
    /// credentials are set (the SDK's fallbacks would ask an instance-metadata service).
    pub fn open_s3(location: &str) -> Result<Self> {
        let url = Url::parse(location).map_err(|e| Error::UnsupportedLocation {
            location: location.into(),
            reason: format!("not a URL ({e})"),
        })?;
        let bucket = url.host_str().unwrap_or_default().to_string();
        if bucket.is_empty() {
            return Err(Error::UnsupportedLocation {
                location: location.into(),
                reason: "no bucket: write s3://BUCKET/PREFIX".into(),
            });
        }
        let signed = std::env::var("AWS_SKIP_SIGNATURE").is_ok_and(|v| v == "true");
        if !signed
            && (std::env::var_os("AWS_ACCESS_KEY_ID").is_none()
                || std::env::var_os("AWS_SECRET_ACCESS_KEY").is_none())
        {
            return Err(Error::StorageConfig(format!(
                "warehouse {location}: no credentials for bucket '{bucket}': set \
                 AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_REGION, and \
                 AWS_ENDPOINT_URL for an S3-compatible server)"
            )));
        }
        // Fail fast on an unreachable endpoint: a few retries, not object_store's three
        // minutes.
        let retry = object_store::RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(20),
            ..Default::default()
        };
        let store = AmazonS3Builder::from_env()
            .with_url(location)
            .with_retry(retry)
            .build()
            .map_err(|e| Error::StorageConfig(format!("warehouse {location}: {e}")))?;
        let prefix = Key::from(url.path().trim_matches('/'));
        let root = PathBuf::from(format!(
            "{}://{bucket}{}",
            url.scheme(),
            if prefix.as_ref().is_empty() {
                String::new()
            } else {
                format!("/{prefix}")
            }
        ));
        let bucket_url = Url::parse(&format!("{}://{bucket}/", url.scheme())).map_err(|e| {
            Error::UnsupportedLocation {
                location: location.into(),
                reason: e.to_string(),
            }
        })?;
        Ok(Self {
            root,
            bucket_url,
            bucket,
            prefix,
            store: Arc::new(store),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn bucket_url(&self) -> &Url {
        &self.bucket_url
    }

    pub fn store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// One listing of the prefix: a missing bucket, refused credentials or an unreachable
    /// endpoint are found when the warehouse opens, not halfway through a run.
    pub fn check_reachable(&self) -> Result<()> {
        let prefix = self.prefix.clone();
        self.run("open the warehouse at", &self.root.clone(), async move {
            self.store
                .list_with_delimiter(Some(&prefix))
                .await
                .map(|_| ())
        })
    }

    /// The key of `path` when it lies under this root.
    pub fn key(&self, path: &Path) -> Option<Key> {
        let rel = path.strip_prefix(&self.root).ok()?;
        let mut parts: Vec<String> = self
            .prefix
            .parts()
            .map(|p| p.as_ref().to_string())
            .collect();
        for c in rel.components() {
            match c {
                std::path::Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
                std::path::Component::CurDir => {}
                // `..` could leave the root: such a path is not ours.
                _ => return None,
            }
        }
        Some(Key::from_iter(parts))
    }

    fn path_of(&self, key: &Key) -> PathBuf {
        let mut p = self.root.clone();
        let skip = self.prefix.parts().count();
        for part in key.parts().skip(skip) {
            p.push(part.as_ref());
        }
        p
    }

    /// `s3://bucket/key/` (a directory URL, as deltalake wants a table root).
    pub fn url_of(&self, key: &Key) -> Result<Url> {
        let text = format!("{}{key}/", self.bucket_url);
        Url::parse(&text).map_err(|error| StorageError::NotAUrl { text, error }.into())
    }

    /// Runs one request and turns its failure into an error that names the bucket and what
    /// to set.
    fn run<T: Send>(
        &self,
        what: &str,
        path: &Path,
        f: impl std::future::Future<Output = object_store::Result<T>> + Send,
    ) -> Result<T> {
        match blocking::wait(f) {
            Some(Ok(v)) => Ok(v),
            Some(Err(e)) => Err(self.error(what, path, e)),
            None => Err(Error::StorageConfig(format!(
                "cannot {what} {}: no async runtime could be started",
                path.display()
            ))),
        }
    }

    pub(super) fn error(&self, what: &str, path: &Path, e: object_store::Error) -> Error {
        Error::Storage {
            context: format!("cannot {what} {}", path.display()),
            hint: hint(&self.bucket, &e),
            cause: cause(&e),
            store_error: Box::new(e),
        }
    }

    pub fn list_dir(&self, dir: &Path, key: &Key) -> Result<Vec<Entry>> {
        let key = key.clone();
        let listed = self.run("list", dir, async move {
            self.store.list_with_delimiter(Some(&key)).await
        })?;
        let mut out: Vec<Entry> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| {
                let name = p.filename()?.to_string();
                Some(Entry {
                    path: dir.join(&name),
                    name,
                    is_dir: true,
                    size: 0,
                    modified: None,
                })
            })
            .collect();
        out.extend(listed.objects.iter().filter_map(|o| {
            let name = o.location.filename()?.to_string();
            Some(Entry {
                path: dir.join(&name),
                name,
                is_dir: false,
                size: o.size,
                modified: Some(o.last_modified.into()),
            })
        }));
        Ok(out)
    }

    pub fn list_recursive(&self, dir: &Path, key: &Key) -> Result<Vec<Entry>> {
        let key = key.clone();
        let objects: Vec<_> = self.run("list", dir, async move {
            self.store.list(Some(&key)).try_collect::<Vec<_>>().await
        })?;
        Ok(objects
            .into_iter()
            .map(|o| Entry {
                name: o.location.filename().unwrap_or_default().to_string(),
                path: self.path_of(&o.location),
                is_dir: false,
                size: o.size,
                modified: Some(o.last_modified.into()),
            })
            .collect())
    }

    /// True when at least one object lies under `key/` (one LIST request, first page only).
    pub fn prefix_exists(&self, key: &Key) -> Result<bool> {
        let key = key.clone();
        let path = self.path_of(&key);
        self.run("list", &path, async move {
            let mut s = self.store.list(Some(&key));
            Ok(s.try_next().await?.is_some())
        })
    }

    pub fn head(&self, key: &Key) -> Result<Option<object_store::ObjectMeta>> {
        let k = key.clone();
        self.run("read", &self.path_of(key), async move {
            match self.store.head(&k).await {
                Ok(m) => Ok(Some(m)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    pub fn get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        Ok(self.get_versioned(key)?.map(|(b, _)| b))
    }

    /// The object's bytes and the version to guard a write-back with.
    pub(super) fn get_versioned(&self, key: &Key) -> Result<Option<(Vec<u8>, UpdateVersion)>> {
        let k = key.clone();
        self.run("read", &self.path_of(key), async move {
            match self.store.get(&k).await {
                Ok(r) => {
                    let version = UpdateVersion {
                        e_tag: r.meta.e_tag.clone(),
                        version: r.meta.version.clone(),
                    };
                    Ok(Some((r.bytes().await?.to_vec(), version)))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    pub fn put(&self, key: &Key, bytes: Vec<u8>) -> Result<()> {
        let k = key.clone();
        self.run("write", &self.path_of(key), async move {
            self.store
                .put(&k, PutPayload::from(bytes))
                .await
                .map(|_| ())
        })
    }

    /// Creates the object only if none exists: `Ok(false)` when one does.
    pub fn put_if_absent(&self, key: &Key, bytes: Vec<u8>) -> Result<bool> {
        Ok(self.put_versioned(key, bytes, PutMode::Create)?.is_some())
    }

    /// Writes with `mode`: the new version, or `None` when the condition failed (the object
    /// exists, or changed since it was read).
    pub fn put_versioned(
        &self,
        key: &Key,
        bytes: Vec<u8>,
        mode: PutMode,
    ) -> Result<Option<UpdateVersion>> {
        let k = key.clone();
        self.run("write", &self.path_of(key), async move {
            let opts = PutOptions {
                mode,
                ..Default::default()
            };
            match self.store.put_opts(&k, PutPayload::from(bytes), opts).await {
                Ok(r) => Ok(Some(UpdateVersion {
                    e_tag: r.e_tag,
                    version: r.version,
                })),
                Err(
                    object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. },
                ) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    /// Read, add the line, write back if the object did not change meanwhile; retried.
    pub fn append_line(&self, key: &Key, line: &str) -> Result<()> {
        for _ in 0..20 {
            let (mut bytes, mode) = match self.get_versioned(key)? {
                Some((b, v)) => (b, PutMode::Update(v)),
                None => (Vec::new(), PutMode::Create),
            };
            bytes.extend_from_slice(line.as_bytes());
            bytes.push(b'\n');
            if self.put_versioned(key, bytes, mode)?.is_some() {
                return Ok(());
            }
        }
        Err(StorageError::AppendContended(self.path_of(key).display().to_string()).into())
    }

    pub fn copy(&self, from: &Key, to: &Key) -> Result<()> {
        let (f, t) = (from.clone(), to.clone());
        self.run("copy", &self.path_of(from), async move {
            self.store.copy(&f, &t).await
        })
    }

    pub fn delete(&self, key: &Key) -> Result<()> {
        let k = key.clone();
        self.run("delete", &self.path_of(key), async move {
            match self.store.delete(&k).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        })
    }

    pub fn delete_prefix(&self, key: &Key) -> Result<()> {
        let k = key.clone();
        self.run("delete", &self.path_of(key), async move {
            let keys: Vec<_> = self.store.list(Some(&k)).try_collect::<Vec<_>>().await?;
            for o in keys {
                match self.store.delete(&o.location).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })
    }
}

/// The innermost cause in one line: S3's `<Code>` and `<Message>` when the server answered,
/// the connection error otherwise.
fn cause(e: &object_store::Error) -> String {
    let mut inner: &(dyn std::error::Error + 'static) = e;
    while let Some(s) = inner.source() {
        inner = s;
    }
    let text = inner.to_string();
    let tag = |t: &str| {
        let open = format!("<{t}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&format!("</{t}>"))? + start;
        Some(text[start..end].to_string())
    };
    match (tag("Code"), tag("Message")) {
        (Some(c), Some(m)) => format!("S3 answered {c}: {m}"),
        (Some(c), None) => format!("S3 answered {c}"),
        _ => text.lines().next().unwrap_or_default().to_string(),
    }
}

/// What to do about a failed request, in S3's terms. Never includes a credential.
fn hint(bucket: &str, e: &object_store::Error) -> String {
    let mut text = e.to_string();
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        text.push_str(&format!(" {s}"));
        src = s.source();
    }
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .or_else(|_| std::env::var("AWS_ENDPOINT"))
        .unwrap_or_else(|_| "the AWS default endpoint".into());
    if text.contains("NoSuchBucket") || text.contains("bucket does not exist") {
        format!(
            "the bucket '{bucket}' does not exist at {endpoint}: create it, or fix \
             --warehouse / STOCKROOM_WAREHOUSE (or AWS_ENDPOINT_URL)"
        )
    } else if text.contains("InvalidAccessKeyId")
        || text.contains("SignatureDoesNotMatch")
        || text.contains("AccessDenied")
        || text.contains("403")
        || text.contains("ExpiredToken")
    {
        format!(
            "the credentials were refused for bucket '{bucket}': check AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN, AWS_REGION)"
        )
    } else if text.contains("error sending request")
        || text.contains("onnect")
        || text.contains("dns")
        || text.contains("timed out")
        || text.contains("builder error")
    {
        format!(
            "cannot reach the S3 endpoint {endpoint} for bucket '{bucket}': check \
             AWS_ENDPOINT_URL (and AWS_ALLOW_HTTP=true for an http:// endpoint)"
        )
    } else {
        format!("bucket '{bucket}' at {endpoint}")
    }
}
