//! The invoice operations that run jobs and wait for them: re-render, resend, void
//! and reissue (README "Invoices"). The reads and the changes that only write
//! (`list`, `show`, `mark_paid`, and the void's and reissue's own transactions) are
//! [`crate::bill_run::invoices`]'s.
//!
//! Each takes the organisation, the invoice's id or number as the operator gave it
//! (messages repeat it as given) and the instant to act as of, runs its job in this
//! process (see [`crate::jobs::run`]) and returns what happened, or an
//! [`InvoiceError`].

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::jobs::{self as job, JobFailure};
use crate::bill_run::invoices::{self, InvoiceView, StatusError, Voided};
use crate::bill_run::{deliver, render};
use crate::config::Config;
use crate::error::{Classify, ErrorKind};
use crate::queue::JobKind;
use crate::store::status::InvoiceStatus;
use crate::store::OrgId;

/// How long a re-render (and a void's re-render) is waited for.
const RENDER_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a resend, and a reissue with everything it fans out to, are waited for.
const SEND_TIMEOUT: Duration = Duration::from_secs(300);

/// Why an invoice operation failed. The messages name the invoice as it was asked
/// for (id or number).
#[derive(Debug, thiserror::Error)]
pub enum InvoiceError {
    /// No such invoice, a status the operation does not apply to, a reissue refused
    /// ([`StatusError`]'s cases), or the database.
    #[error(transparent)]
    Status(#[from] StatusError),
    /// Re-render of a DRAFT: documents are rendered once it is finalized.
    #[error("invoice {invoice} is a DRAFT: documents are rendered once it is finalized")]
    Draft {
        /// The invoice as asked for.
        invoice: String,
    },
    /// Resend of an invoice without documents yet: it is emailed once rendered.
    #[error(
        "invoice {invoice} has no document yet (status {status}): it is emailed once rendered"
    )]
    NoDocument {
        /// The invoice as asked for.
        invoice: String,
        /// Its status.
        status: InvoiceStatus,
    },
    /// Resend of an invoice with nobody to send it to.
    #[error(
        "invoice {invoice} has no recipient: its account has no billing or additional emails \
         and its customer no primary email"
    )]
    NoRecipient {
        /// The invoice as asked for.
        invoice: String,
    },
    /// The operation's job failed or could not be waited for (interrupted, timed out,
    /// dead).
    #[error(transparent)]
    Job(#[from] JobFailure),
    /// The invoice is VOID (the void committed), but the re-render of its documents
    /// did not end well: they still show it as it was.
    #[error(
        "invoice {invoice} is VOID, but its documents were not rendered again: {reason} \
         (`billrun jobs show {job}`, then `billrun invoice rerender`)"
    )]
    VoidNotRendered {
        /// The invoice as asked for.
        invoice: String,
        /// The `render-chunk` job.
        job: String,
        /// What went wrong with it.
        reason: String,
    },
    /// The reissue's job could not be waited for, or a job it fanned out to is dead.
    #[error("re-issuing invoice {invoice}: {reason}")]
    ReissueWait {
        /// The VOID invoice as asked for.
        invoice: String,
        /// What went wrong.
        reason: String,
    },
    /// The reissue's draft disappeared while its job ran.
    #[error("re-issuing invoice {invoice}: the reissue {reissue} is gone")]
    ReissueGone {
        /// The VOID invoice as asked for.
        invoice: String,
        /// The reissue's id.
        reissue: String,
    },
    /// The reissue's draft could not be billed (its `close-chunk` job recorded why):
    /// it stays a DRAFT; fixing the cause and reissuing again takes it up.
    #[error(
        "invoice {invoice} was not re-issued: its draft {draft} could not be billed as of {at} \
         (close-chunk job {job}: {failures}); fix the cause and run `billrun invoice reissue` again"
    )]
    NotReissued {
        /// The VOID invoice as asked for.
        invoice: String,
        /// The reissue, still a DRAFT.
        draft: String,
        /// The reissue's instant.
        at: DateTime<Utc>,
        /// The `close-chunk` job.
        job: String,
        /// The job's `failures` (JSON), as it recorded them.
        failures: String,
    },
    /// The `[mail]` configuration cannot send (resend): the message names the setting.
    #[error("cannot send email: {0}")]
    Mail(String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl Classify for InvoiceError {
    fn kind(&self) -> ErrorKind {
        match self {
            InvoiceError::Status(e) => e.kind(),
            InvoiceError::Draft { .. }
            | InvoiceError::NoDocument { .. }
            | InvoiceError::NoRecipient { .. }
            | InvoiceError::ReissueGone { .. }
            | InvoiceError::NotReissued { .. } => ErrorKind::Conflict,
            InvoiceError::Job(e) => e.kind(),
            InvoiceError::VoidNotRendered { .. }
            | InvoiceError::ReissueWait { .. }
            | InvoiceError::Mail(_) => ErrorKind::Unavailable,
            InvoiceError::Db(e) => e.kind(),
        }
    }
}

/// The invoice `invoice` (id or number) of `org`, or [`StatusError::NotFound`].
async fn find(pool: &PgPool, org: &OrgId, invoice: &str) -> Result<InvoiceView, InvoiceError> {
    invoices::show(pool, org, invoice).await?.ok_or_else(|| {
        StatusError::NotFound {
            org: org.to_string(),
            id: invoice.to_string(),
        }
        .into()
    })
}

/// Renders a finalized invoice's documents again (the `render-chunk` job with
/// `rerender`, as of `as_of`), with the template version, billing details and logo
/// recorded when it was first rendered, and waits. Returns the invoice.
///
/// Errors: not found, a DRAFT ([`InvoiceError::Draft`]), the job ([`JobFailure`]).
pub async fn rerender(
    pool: &PgPool,
    config: Arc<Config>,
    org: &OrgId,
    invoice: &str,
    as_of: DateTime<Utc>,
) -> Result<InvoiceView, InvoiceError> {
    let inv = find(pool, org, invoice).await?;
    if inv.status == InvoiceStatus::Draft {
        return Err(InvoiceError::Draft {
            invoice: invoice.to_string(),
        });
    }
    let payload =
        serde_json::json!({ "organisation": org, "invoices": [inv.id], "rerender": true });
    job::run_operation(
        pool,
        config,
        JobKind::RenderChunk,
        payload,
        org,
        as_of,
        RENDER_TIMEOUT,
    )
    .await?;
    Ok(inv)
}

/// What a resend did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resent {
    /// The invoice.
    pub invoice: InvoiceView,
    /// Its recipients, each put back to QUEUED.
    pub recipients: u64,
    /// Recipients the email was sent to.
    pub sent: u64,
    /// Recipients it failed for (their rows are FAILED, with the error; `billrun
    /// deliveries list --status FAILED`).
    pub failed: u64,
}

impl Resent {
    /// Recipients it was not sent to (failed, or left unsent).
    pub fn unsent(&self) -> u64 {
        self.recipients.saturating_sub(self.sent)
    }
}

/// Emails a finalized invoice again to every recipient: each recipient's delivery back
/// to QUEUED ([`deliver::requeue_recipients`]), then the `deliver-chunk` job for the
/// invoice (`resend`, as of `as_of`), run and waited for. A job that ran out of
/// attempts on a transient failure is done, with its rows FAILED: the outcome counts
/// them ([`Resent::failed`]), it is not an error.
///
/// Errors: not found, no document yet ([`InvoiceError::NoDocument`]), no recipient
/// ([`InvoiceError::NoRecipient`]), the job ([`JobFailure`]).
pub async fn resend(
    pool: &PgPool,
    config: Arc<Config>,
    org: &OrgId,
    invoice: &str,
    as_of: DateTime<Utc>,
) -> Result<Resent, InvoiceError> {
    let inv = find(pool, org, invoice).await?;
    if !render::has_document(pool, org, &inv.id).await? {
        return Err(InvoiceError::NoDocument {
            invoice: invoice.to_string(),
            status: inv.status,
        });
    }
    // A mail configuration that cannot send fails here, before the rows are queued
    // again for a job that would die on it.
    crate::mail::Mailer::from_config(&config).map_err(|e| InvoiceError::Mail(format!("{e:#}")))?;
    let recipients = deliver::requeue_recipients(pool, org, &inv.id).await?;
    if recipients == 0 {
        return Err(InvoiceError::NoRecipient {
            invoice: invoice.to_string(),
        });
    }
    let payload = serde_json::json!({ "organisation": org, "invoices": [inv.id], "resend": true });
    let job = job::run_operation(
        pool,
        config,
        JobKind::DeliverChunk,
        payload,
        org,
        as_of,
        SEND_TIMEOUT,
    )
    .await?;
    // What actually happened, from the job's result.
    let count = |k: &str| job.result.as_ref().and_then(|r| r[k].as_u64()).unwrap_or(0);
    Ok(Resent {
        invoice: inv,
        recipients,
        sent: count("sent"),
        failed: count("failed"),
    })
}

/// Voids a finalized invoice as of `at` ([`invoices::void`]: one transaction that
/// also undoes its credit movements and enqueues the re-render of its documents),
/// then waits for that re-render, so that the documents read VOID when this returns.
/// An invoice already VOID is returned unchanged (`changed` false, nothing waited
/// for).
///
/// Errors: [`StatusError`] (not found, a DRAFT, a PAID invoice with a total above 0),
/// [`InvoiceError::VoidNotRendered`] (the void stands; the re-render failed).
pub async fn void(
    pool: &PgPool,
    config: Arc<Config>,
    org: &OrgId,
    invoice: &str,
    at: DateTime<Utc>,
) -> Result<Voided, InvoiceError> {
    let v = invoices::void(pool, org, invoice, at).await?;
    if let Some(job) = &v.render_job {
        crate::jobs::run::wait_for_job(pool, config, job, RENDER_TIMEOUT)
            .await
            .map_err(|e| InvoiceError::VoidNotRendered {
                invoice: invoice.to_string(),
                job: job.clone(),
                reason: e.to_string(),
            })?;
    }
    Ok(v)
}

/// A finished reissue.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reissued {
    /// The VOID invoice's id.
    pub voided_id: String,
    /// The new invoice, finalized (DUE, or PAID when nothing is due).
    pub invoice: InvoiceView,
}

/// Re-issues the cycle of a VOID invoice as of `at`: the reissue's draft and its
/// `close-chunk` job ([`invoices::start_reissue`], one transaction), then the job and
/// everything it fans out to (finalization, rendering, email), waited for. `at` is
/// the new invoice's date and the instant of the bill run that recomputes it.
///
/// Errors: [`StatusError`] (not found, not VOID, already re-issued, merged drafts),
/// [`InvoiceError::ReissueWait`] (the wait), [`InvoiceError::NotReissued`] (the
/// draft could not be billed: it stays a DRAFT, and running this again takes it up).
pub async fn reissue(
    pool: &PgPool,
    config: Arc<Config>,
    org: &OrgId,
    invoice: &str,
    at: DateTime<Utc>,
) -> Result<Reissued, InvoiceError> {
    let r = invoices::start_reissue(pool, org, invoice, at).await?;
    let job = crate::jobs::run::wait_for_job(pool, config, &r.job_id, SEND_TIMEOUT)
        .await
        .map_err(|e| InvoiceError::ReissueWait {
            invoice: invoice.to_string(),
            reason: e.to_string(),
        })?;
    let Some(new) = invoices::show(pool, org, &r.reissue_id).await? else {
        return Err(InvoiceError::ReissueGone {
            invoice: invoice.to_string(),
            reissue: r.reissue_id,
        });
    };
    if new.status == InvoiceStatus::Draft {
        let failures = job
            .result
            .as_ref()
            .map(|v| v["failures"].to_string())
            .unwrap_or_default();
        return Err(InvoiceError::NotReissued {
            invoice: invoice.to_string(),
            draft: r.reissue_id,
            at,
            job: r.job_id,
            failures,
        });
    }
    Ok(Reissued {
        voided_id: r.voided_id,
        invoice: new,
    })
}

#[cfg(test)]
mod tests {
    use super::InvoiceError;
    use crate::app::jobs::JobFailure;
    use crate::bill_run::invoices::StatusError;
    use crate::error::{Classify, ErrorKind};
    use crate::store::status::InvoiceStatus;

    #[test]
    fn invoice_errors_are_classified() {
        let s = |e: InvoiceError| e.kind();
        assert_eq!(
            s(StatusError::NotFound {
                org: "acme".into(),
                id: "INV-9".into()
            }
            .into()),
            ErrorKind::NotFound
        );
        assert_eq!(
            s(StatusError::WrongStatus {
                id: "INV-1".into(),
                status: "DRAFT".into(),
                action: "void",
                allowed: "DUE",
            }
            .into()),
            ErrorKind::Conflict
        );
        let invoice = || "INV-1".to_string();
        assert_eq!(
            s(InvoiceError::Draft { invoice: invoice() }),
            ErrorKind::Conflict
        );
        assert_eq!(
            s(InvoiceError::NoDocument {
                invoice: invoice(),
                status: InvoiceStatus::Draft
            }),
            ErrorKind::Conflict
        );
        assert_eq!(
            s(InvoiceError::NoRecipient { invoice: invoice() }),
            ErrorKind::Conflict
        );
        assert_eq!(
            s(InvoiceError::ReissueGone {
                invoice: invoice(),
                reissue: "r".into()
            }),
            ErrorKind::Conflict
        );
        assert_eq!(
            s(InvoiceError::NotReissued {
                invoice: invoice(),
                draft: "d".into(),
                at: chrono::DateTime::UNIX_EPOCH,
                job: "j".into(),
                failures: "[]".into(),
            }),
            ErrorKind::Conflict
        );
        assert_eq!(
            s(JobFailure::Wait("job j did not finish within 120s".into()).into()),
            ErrorKind::Unavailable
        );
        assert_eq!(
            s(InvoiceError::VoidNotRendered {
                invoice: invoice(),
                job: "j".into(),
                reason: "r".into()
            }),
            ErrorKind::Unavailable
        );
        assert_eq!(
            s(InvoiceError::ReissueWait {
                invoice: invoice(),
                reason: "r".into()
            }),
            ErrorKind::Unavailable
        );
        assert_eq!(
            s(InvoiceError::Db(sqlx::Error::PoolTimedOut)),
            ErrorKind::Unavailable
        );
        assert_eq!(
            s(InvoiceError::Db(sqlx::Error::RowNotFound)),
            ErrorKind::NotFound
        );
    }

    #[test]
    fn messages_are_the_commands_messages() {
        assert_eq!(
            InvoiceError::Draft {
                invoice: "INV-1".into()
            }
            .to_string(),
            "invoice INV-1 is a DRAFT: documents are rendered once it is finalized"
        );
        assert_eq!(
            InvoiceError::from(StatusError::NotFound {
                org: "acme".into(),
                id: "INV-9".into()
            })
            .to_string(),
            "organisation acme has no invoice INV-9"
        );
    }
}
