//! CSV bulk imports: customers and accounts, usage events, license quantities.
//!
//! `billrun import <kind> FILE` checks the file's header, stores the file in
//! Postgres (so any worker on any machine can read it) and enqueues a `csv-import`
//! job, in one transaction. The job streams the file a chunk at a time, validates
//! every row, and loads the good ones in batches: COPY into a staging table, then a
//! set-based merge into the catalog, with the import's checkpoint and counters in
//! the same transaction. Bad rows are kept with their line, column and reason, and
//! come back as CSV from `billrun imports errors`.
//!
//! - [`columns`]: the kinds, their columns, `--map`, the header check (pure).
//! - [`split`]: CSV records out of a file read in slices (pure).
//! - [`rows`]: one record into a typed row, or why it is bad (pure).
//! - [`pgcopy`]: COPY text encoding (pure).
//! - [`store`]: the stored file and what `billrun imports` lists.
//! - [`report`]: one import with its job, and its errors file.
//! - [`merge`]: staging and merging a batch, per kind.
//! - [`job`]: the `csv-import` job.
//! - [`bench`]: `billrun bench import`.
//!
//! Importing a file and following its job is `crate::app::imports`; the command line
//! is `crate::cli::import` (`billrun import ...` and `billrun imports ...`).

pub mod bench;
pub mod columns;
pub mod job;
pub mod merge;
pub mod pgcopy;
pub mod report;
pub mod rows;
pub mod split;
pub mod store;

use crate::error::{Classify, ErrorKind};

pub use columns::{ImportKind, Mapping};

/// Why an import was refused or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file was refused before anything was written (not CSV, bad header...).
    #[error("{0}")]
    Refused(String),
    /// The import or the organisation does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The import cannot succeed as stored (its header no longer checks, ...).
    #[error("{0}")]
    Invalid(String),
    /// Another run of the same import committed past this run's batch (a worker
    /// presumed dead was not): this run stops, the other carries on.
    #[error("another run of this import is ahead of this one")]
    Superseded,
    /// A database error: retried by the queue.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<crate::catalog::CatalogError> for ImportError {
    /// A database failure stays retryable; any other catalog refusal means the
    /// import cannot succeed as stored.
    fn from(e: crate::catalog::CatalogError) -> Self {
        match e {
            crate::catalog::CatalogError::Database(e) => ImportError::Database(e),
            other => ImportError::Invalid(other.to_string()),
        }
    }
}

impl Classify for ImportError {
    fn kind(&self) -> ErrorKind {
        match self {
            ImportError::Refused(_) | ImportError::Invalid(_) => ErrorKind::Invalid,
            ImportError::NotFound(_) => ErrorKind::NotFound,
            ImportError::Superseded => ErrorKind::Conflict,
            ImportError::Database(e) => e.kind(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ImportError;
    use crate::error::{Classify, ErrorKind};

    #[test]
    fn each_import_error_has_its_kind() {
        let cases = [
            (
                ImportError::Refused("a.csv: no header".into()),
                ErrorKind::Invalid,
            ),
            (
                ImportError::Invalid("the header no longer checks".into()),
                ErrorKind::Invalid,
            ),
            (
                ImportError::NotFound("no import \"x\"".into()),
                ErrorKind::NotFound,
            ),
            (ImportError::Superseded, ErrorKind::Conflict),
            (
                ImportError::Database(sqlx::Error::PoolTimedOut),
                ErrorKind::Unavailable,
            ),
        ];
        for (err, kind) in cases {
            assert_eq!(err.kind(), kind, "{err}");
        }
    }
}
