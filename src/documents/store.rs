//! Where rendered invoice documents (HTML and PDF) live: in PostgreSQL, in the row of
//! `invoice_documents` (the default), or as files in a folder, the row then holding
//! each file's URL and SHA-256 (`[documents] store = "files"`; README "Where
//! documents live").
//!
//! Every row says where its own documents are, so changing the setting applies to
//! documents rendered from then on, and earlier ones stay readable. Files are named by
//! their content (`<dir>/<org>/<YYYY>/<MM>/<invoice id>.<first 16 hex digits of the
//! SHA-256>.<ext>`, the month of rendering, UTC), written to a temporary name, flushed
//! to the disk and renamed before the transaction that records them commits: a row
//! never points at a file that is not whole, a retried or doubled render writes the
//! same name again, and a re-render writes a new file beside the one that was sent
//! (kept: it is what the customer received). Reading a file checks its hash: a file
//! changed or missing is an error naming it, never a wrong document.
//!
//! Another backend (an S3-compatible object store) is one more [`DocumentStore`]
//! variant and URL scheme; it is not built (README "Where documents live").

use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, Utc};
use sha2::{Digest, Sha256};

use crate::config::{Config, DocumentsStore};

/// Where `render-chunk` puts the documents it renders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentStore {
    /// In the `invoice_documents` row (`html`, `pdf` columns).
    Postgres,
    /// As files under this folder (absolute); the row holds `file://` URLs.
    Files(PathBuf),
}

/// A document written to a file: its `file://` URL and the SHA-256 of its bytes (64
/// lowercase hex digits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    /// `file:///...`, absolute.
    pub url: String,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
}

impl DocumentStore {
    /// The store `[documents]` names; a relative `dir` is taken from the current
    /// directory (default `<data_dir>/documents`). Errors: the current directory
    /// cannot be read.
    pub fn from_config(config: &Config) -> std::io::Result<DocumentStore> {
        Ok(match config.documents.store {
            DocumentsStore::Postgres => DocumentStore::Postgres,
            DocumentsStore::Files => {
                let dir = config
                    .documents
                    .dir
                    .clone()
                    .unwrap_or_else(|| config.data_dir.join("documents"));
                DocumentStore::Files(std::path::absolute(dir)?)
            }
        })
    }

    /// Writes the documents `(invoice id, extension, bytes)` of organisation `org`
    /// rendered at `at`, each to its file, and makes them durable (one `syncfs` for
    /// the batch, not one flush per file); `None` for [`DocumentStore::Postgres`]
    /// (the bytes go into the row). Errors: the folder cannot be made or written,
    /// naming the file.
    pub async fn put_all(
        &self,
        org: &str,
        at: DateTime<Utc>,
        docs: Vec<(String, &'static str, Vec<u8>)>,
    ) -> std::io::Result<Option<Vec<StoredFile>>> {
        let DocumentStore::Files(dir) = self else {
            return Ok(None);
        };
        let folder = dir
            .join(org)
            .join(format!("{:04}", at.year()))
            .join(format!("{:02}", at.month()));
        tokio::task::spawn_blocking(move || write_files(&folder, docs))
            .await
            .map_err(std::io::Error::other)?
            .map(Some)
    }
}

/// The blocking part of [`DocumentStore::put_all`].
fn write_files(
    folder: &Path,
    docs: Vec<(String, &'static str, Vec<u8>)>,
) -> std::io::Result<Vec<StoredFile>> {
    let named = |path: &Path, e: std::io::Error| {
        std::io::Error::new(e.kind(), format!("document file {}: {e}", path.display()))
    };
    std::fs::create_dir_all(folder).map_err(|e| named(folder, e))?;
    let mut stored = Vec::with_capacity(docs.len());
    for (invoice, ext, bytes) in docs {
        let sha256 = sha256_hex(&bytes);
        let path = folder.join(format!("{invoice}.{}.{ext}", &sha256[..16]));
        let tmp = folder.join(format!(".{invoice}.{}.{ext}.tmp", &sha256[..16]));
        std::fs::write(&tmp, &bytes).map_err(|e| named(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| named(&path, e))?;
        stored.push(StoredFile {
            url: url::Url::from_file_path(&path)
                .map_err(|()| named(&path, std::io::Error::other("not an absolute path")))?
                .to_string(),
            sha256,
        });
    }
    // The files' data and the renames on the disk before the row that names them
    // commits: one flush of the file system for the batch.
    let dir = std::fs::File::open(folder).map_err(|e| named(folder, e))?;
    syncfs(&dir).map_err(|e| named(folder, e))?;
    Ok(stored)
}

/// Flushes the file system holding `file` to the disk (Linux `syncfs(2)`).
fn syncfs(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: `syncfs` only reads the descriptor, which `file` keeps open.
    if unsafe { libc::syncfs(file.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// SHA-256 of `bytes`, 64 lowercase hex digits.
fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Reads a document stored as a file: its bytes, after checking they hash to
/// `sha256`. Errors (naming the URL): not a `file://` URL, the file cannot be read, or
/// its content is not the one recorded.
pub async fn read_file(url: &str, sha256: &str) -> std::io::Result<Vec<u8>> {
    let bad = |what: String| std::io::Error::other(format!("document {url}: {what}"));
    let path = url::Url::parse(url)
        .ok()
        .filter(|u| u.scheme() == "file")
        .and_then(|u| u.to_file_path().ok())
        .ok_or_else(|| bad("expected a file:// URL".into()))?;
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("document {url}: {e}")))?;
    let actual = sha256_hex(&bytes);
    if actual != sha256 {
        return Err(bad(format!(
            "its content changed since it was stored (SHA-256 {actual}, recorded {sha256})"
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_file_is_written_whole_named_by_its_content_and_read_back_checked() {
        let dir = std::env::temp_dir().join(format!("billrun-store-{}", ulid::Ulid::generate()));
        let store = DocumentStore::Files(dir.clone());
        let at: DateTime<Utc> = "2026-02-01T10:00:00Z".parse().unwrap();
        let stored = store
            .put_all(
                "acme",
                at,
                vec![("inv_1".into(), "pdf", b"%PDF-1.7 x".to_vec())],
            )
            .await
            .unwrap()
            .unwrap();
        let expected = sha256_hex(b"%PDF-1.7 x");
        assert_eq!(stored[0].sha256, expected);
        let path = dir.join(format!("acme/2026/02/inv_1.{}.pdf", &expected[..16]));
        assert_eq!(
            stored[0].url,
            url::Url::from_file_path(&path).unwrap().to_string()
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"%PDF-1.7 x");
        // No temporary file is left beside it.
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
        assert_eq!(
            read_file(&stored[0].url, &expected).await.unwrap(),
            b"%PDF-1.7 x"
        );

        // Changed on the disk: refused, naming the file.
        std::fs::write(&path, b"%PDF-1.7 y").unwrap();
        let err = read_file(&stored[0].url, &expected)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("inv_1.") && err.contains("content changed"),
            "{err}"
        );
        // Gone: refused, naming the file.
        std::fs::remove_file(&path).unwrap();
        let err = read_file(&stored[0].url, &expected)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("inv_1.") && err.contains("No such file"),
            "{err}"
        );
        assert_eq!(
            store.clone().put_all("acme", at, vec![]).await.unwrap(),
            Some(vec![])
        );
        assert_eq!(
            DocumentStore::Postgres
                .put_all("acme", at, vec![])
                .await
                .unwrap(),
            None
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
