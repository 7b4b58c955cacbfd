//! The credit-note operation that runs a job and waits for it: resend (README "Credit
//! notes"). Issuing, reading and the settings are
//! [`crate::credits::credit_notes`]'s; the first email goes out through the
//! `credit-note-email` job the note enqueued in its own transaction.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::jobs::{self as job, JobFailure};
use crate::bill_run::deliver;
use crate::config::Config;
use crate::credits::credit_notes::{self as notes, CreditNoteError, CreditNoteView};
use crate::error::{Classify, ErrorKind};
use crate::queue::JobKind;
use crate::store::OrgId;

/// How long a resend is waited for.
const SEND_TIMEOUT: Duration = Duration::from_secs(300);

/// Why a credit-note resend failed. The messages name the note as asked for.
#[derive(Debug, thiserror::Error)]
pub enum CreditNoteOpError {
    /// No such credit note, or the database ([`CreditNoteError`]).
    #[error(transparent)]
    Note(#[from] CreditNoteError),
    /// Nobody to send it to.
    #[error(
        "credit note {note} has no recipient: its account has no billing or additional emails \
         and its customer no primary email"
    )]
    NoRecipient {
        /// The note as asked for.
        note: String,
    },
    /// The `[mail]` configuration cannot send: the message names the setting.
    #[error("cannot send email: {0}")]
    Mail(String),
    /// The job failed or could not be waited for.
    #[error(transparent)]
    Job(#[from] JobFailure),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl Classify for CreditNoteOpError {
    fn kind(&self) -> ErrorKind {
        match self {
            CreditNoteOpError::Note(e) => e.kind(),
            CreditNoteOpError::NoRecipient { .. } => ErrorKind::Conflict,
            CreditNoteOpError::Mail(_) => ErrorKind::Unavailable,
            CreditNoteOpError::Job(e) => e.kind(),
            CreditNoteOpError::Db(e) => e.kind(),
        }
    }
}

/// What a resend did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NoteResent {
    /// The credit note.
    pub credit_note: CreditNoteView,
    /// Its recipients, each put back to QUEUED.
    pub recipients: u64,
    /// Recipients the email was sent to.
    pub sent: u64,
    /// Recipients it failed for (their rows are FAILED, with the error).
    pub failed: u64,
    /// The FAILED deliveries: recipient and the error that failed it.
    pub failures: Vec<(String, String)>,
}

/// Emails credit note `note` (id or number) of `org` again to every recipient: each
/// delivery back to QUEUED, then the `credit-note-email` job (`resend`, as of
/// `as_of`), run and waited for. Recipients the server refused are counted in
/// `failed`, not an error.
///
/// Errors: not found, no recipient ([`CreditNoteOpError::NoRecipient`]), a `[mail]`
/// that cannot send ([`CreditNoteOpError::Mail`], nothing requeued), the job.
pub async fn resend(
    pool: &PgPool,
    config: Arc<Config>,
    org: &OrgId,
    note: &str,
    as_of: DateTime<Utc>,
) -> Result<NoteResent, CreditNoteOpError> {
    let n = notes::show(pool, org, note).await?;
    crate::mail::Mailer::from_config(&config)
        .map_err(|e| CreditNoteOpError::Mail(format!("{e:#}")))?;
    let recipients = deliver::requeue_credit_note(pool, org, &n.id).await?;
    if recipients == 0 {
        return Err(CreditNoteOpError::NoRecipient {
            note: note.to_string(),
        });
    }
    let payload = serde_json::json!({ "organisation": org, "creditNote": n.id, "resend": true });
    let job = job::run_operation(
        pool,
        config,
        JobKind::CreditNoteEmail,
        payload,
        org,
        as_of,
        SEND_TIMEOUT,
    )
    .await?;
    let count = |k: &str| job.result.as_ref().and_then(|r| r[k].as_u64()).unwrap_or(0);
    let failures = deliver::failed_credit_note_deliveries(pool, org, &n.id).await?;
    Ok(NoteResent {
        credit_note: n,
        recipients,
        sent: count("sent"),
        failed: count("failed"),
        failures,
    })
}
