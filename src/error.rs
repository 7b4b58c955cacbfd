//! What kind of failure an application error is, for the front ends.
//!
//! Each area has its own error type (`catalog::CatalogError`, `credits::CreditError`,
//! `imports::ImportError`, ...), whose messages name the field, row or object and what
//! was expected. The front ends do not match on those types one by one: each area
//! error says which [`ErrorKind`] it is ([`Classify`]), and the CLI maps kinds to exit
//! statuses in one place (`cli::exit`), the HTTP API to status codes.

/// The kinds of failure, as a caller must react to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request was wrong: a field, a row, a file (HTTP 400).
    Invalid,
    /// What the request names does not exist in the caller's organisation (HTTP 404).
    NotFound,
    /// The request contradicts the stored state: a duplicate id, a transition the
    /// object's status forbids (HTTP 409).
    Conflict,
    /// Something billrun depends on failed: the database, the mail server (HTTP 503 /
    /// 500); the request may succeed when retried.
    Unavailable,
    /// A front end stopped waiting for a job (Ctrl-C): the job goes on in the queue.
    Interrupted,
}

/// An application error that knows its [`ErrorKind`].
pub trait Classify {
    /// What kind of failure this is.
    fn kind(&self) -> ErrorKind;
}

impl Classify for sqlx::Error {
    fn kind(&self) -> ErrorKind {
        match self {
            sqlx::Error::RowNotFound => ErrorKind::NotFound,
            _ => ErrorKind::Unavailable,
        }
    }
}
