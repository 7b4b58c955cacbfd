//! Credit notes (README "Credit notes", issue 16 item 2): partial or whole corrections
//! of finalized invoices, with their own gapless numbering, and what they settle (the
//! invoice's balance due, then credits or a refund). The amounts are
//! [`billrun_core::credit_note`]'s; this area stores them, numbers them, records the
//! credit grant a note creates, and reads them back.

mod issue;
mod settings;
mod views;

pub use issue::*;
pub use settings::*;
pub use views::*;

use crate::error::{Classify, ErrorKind};

/// Why a credit note (or its settings) was refused. Messages name the invoice as asked
/// for, the line or the field, and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum CreditNoteError {
    /// No such invoice or credit note in the organisation.
    #[error("organisation {org} has no {what} {id}")]
    NotFound {
        /// Organisation.
        org: String,
        /// `invoice` or `credit note`.
        what: &'static str,
        /// The id or number asked for.
        id: String,
    },
    /// The invoice is not DUE or PAID.
    #[error("invoice {invoice} is {status}: credit notes apply only to DUE and PAID invoices")]
    WrongStatus {
        /// The invoice as asked for.
        invoice: String,
        /// Its status.
        status: String,
    },
    /// A `--line` / `lines[].line` naming no creditable line.
    #[error("invoice {invoice}: line {key:?}: {message}")]
    Line {
        /// The invoice as asked for.
        invoice: String,
        /// The line as given.
        key: String,
        /// What was expected.
        message: String,
    },
    /// The amounts were refused (over-credit, an amount of 0, ...).
    #[error("invoice {invoice}: {source}")]
    Refused {
        /// The invoice as asked for.
        invoice: String,
        /// Why.
        source: billrun_core::credit_note::CreditNoteError,
    },
    /// A settings value is wrong.
    #[error("{field}: {message}")]
    Invalid {
        /// The field (`creditNoteNumberFormat`, `reason`...).
        field: &'static str,
        /// What was wrong and what was expected.
        message: String,
    },
    /// The idempotency key was used for a note with another request.
    #[error(
        "idempotency key {key:?} was already used for credit note {note}, whose request differs \
         in: {differs} (a retry must repeat the request; a new note needs a new key)"
    )]
    KeyReused {
        /// The key.
        key: String,
        /// The note issued with it.
        note: String,
        /// The request's fields that differ (invoice, credit, reason, method,
        /// description).
        differs: String,
    },
    /// Recording the credit grant failed.
    #[error(transparent)]
    Grant(#[from] super::CreditError),
    /// The note's document cannot be made from what is stored (the invoice is not
    /// finalized, its recorded document settings or the note's stored amounts do not
    /// make a document, the renderer refused them): retrying does not help until
    /// the cause named is fixed (`crate::bill_run::render::credit_note`).
    #[error("credit note {note}: its document cannot be made: {reason}")]
    Document {
        /// The note's number.
        note: String,
        /// What failed, and why.
        reason: String,
    },
    /// Making the note's document failed for a reason outside it (reading the
    /// document settings or logo, the renderer's thread): it may succeed when retried.
    #[error("credit note document: {0}")]
    Render(String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl Classify for CreditNoteError {
    fn kind(&self) -> ErrorKind {
        match self {
            CreditNoteError::NotFound { .. } => ErrorKind::NotFound,
            CreditNoteError::Line { .. } | CreditNoteError::Invalid { .. } => ErrorKind::Invalid,
            CreditNoteError::WrongStatus { .. }
            | CreditNoteError::Refused { .. }
            | CreditNoteError::KeyReused { .. } => ErrorKind::Conflict,
            CreditNoteError::Grant(e) => e.kind(),
            CreditNoteError::Document { .. } => ErrorKind::Conflict,
            CreditNoteError::Render(_) => ErrorKind::Unavailable,
            CreditNoteError::Db(e) => e.kind(),
        }
    }
}
