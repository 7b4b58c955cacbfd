//! Settings that feed invoice documents, and their command line.
//!
//! - [`settings`]: storage of the organisation's logo (one current logo, every
//!   upload kept as an immutable version), billing-details profiles, invoice
//!   templates (the built-in one plus the organisation's, each upload an immutable
//!   version), the organisation's default template and accounts' own templates; and
//!   [`settings::ChunkSettings`], what `render-chunk` loads once per chunk.
//! - [`sandbox`]: organisation templates rendered (and checked on upload) in a
//!   child process with limits.
//! - [`sample`]: the demo's billing details and logo (also `bench pipeline`'s).
//! - [`store`]: where rendered documents live (the database, or files).
//! - [`DocumentError`]: why a settings operation was refused or failed.
//!
//! The command line is `crate::cli::documents` (`billrun logo|billing-details|template
//! ...` and `billrun account set-template`). Tables:
//! `migrations/20261121000008_document_settings.sql`. Rendering itself is
//! `crate::bill_run::render`.

pub mod sample;
pub mod sandbox;
pub mod settings;
pub mod store;

use crate::error::{Classify, ErrorKind};

/// Why a document-settings operation (logo, billing-details profile, template, an
/// account's template) was refused or failed. Each message names the file, field or
/// object and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// A value or a file was refused: a logo that is not a PNG or JPEG within the
    /// limits, a template that does not compile or render, a field too long, an id
    /// that is not one.
    #[error("{0}")]
    Invalid(String),
    /// The organisation, or the profile, template, template version or account the
    /// request names, does not exist in it.
    #[error("{0}")]
    NotFound(String),
    /// The request contradicts the stored state: a profile or template id that exists
    /// already.
    #[error("{0}")]
    Conflict(String),
    /// The database failed (its message as it is, without a prefix).
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<billrun_core::FieldError> for DocumentError {
    /// A field check that failed: the message names the field.
    fn from(e: billrun_core::FieldError) -> Self {
        DocumentError::Invalid(e.to_string())
    }
}

impl Classify for DocumentError {
    fn kind(&self) -> ErrorKind {
        match self {
            DocumentError::Invalid(_) => ErrorKind::Invalid,
            DocumentError::NotFound(_) => ErrorKind::NotFound,
            DocumentError::Conflict(_) => ErrorKind::Conflict,
            DocumentError::Database(e) => e.kind(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DocumentError;
    use crate::error::{Classify, ErrorKind};

    #[test]
    fn each_document_error_has_its_kind() {
        let cases = [
            (
                DocumentError::Invalid("logo file x refused".into()),
                ErrorKind::Invalid,
            ),
            (
                DocumentError::NotFound("no such template".into()),
                ErrorKind::NotFound,
            ),
            (
                DocumentError::Conflict("exists already".into()),
                ErrorKind::Conflict,
            ),
            (
                DocumentError::Database(sqlx::Error::PoolTimedOut),
                ErrorKind::Unavailable,
            ),
            (
                DocumentError::Database(sqlx::Error::RowNotFound),
                ErrorKind::NotFound,
            ),
            (
                billrun_core::FieldError::new("email", "must not be empty").into(),
                ErrorKind::Invalid,
            ),
        ];
        for (err, kind) in cases {
            assert_eq!(err.kind(), kind, "{err}");
        }
    }

    #[test]
    fn a_database_error_reads_as_the_database_says() {
        let e = DocumentError::from(sqlx::Error::PoolTimedOut);
        assert_eq!(e.to_string(), sqlx::Error::PoolTimedOut.to_string());
    }
}
