//! Status changes of a finalized invoice: mark paid (DUE -> PAID) and void.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgPool;

use super::{show, InvoiceView};
use crate::error::{Classify, ErrorKind};
use crate::store::status::InvoiceStatus;
use crate::store::OrgId;

/// Why a status change was refused.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// No such invoice.
    #[error("organisation {org} has no invoice {id}")]
    NotFound {
        /// Organisation.
        org: String,
        /// Id or number asked for.
        id: String,
    },
    /// Not allowed from its current status.
    #[error("invoice {id} is {status}: {action} applies only to {allowed} invoices")]
    WrongStatus {
        /// The invoice.
        id: String,
        /// Its status.
        status: String,
        /// What was asked.
        action: &'static str,
        /// Where it applies.
        allowed: &'static str,
    },
    /// A VOID invoice whose cycle was already re-issued by a finalized invoice.
    #[error("invoice {id} was already re-issued as {by}")]
    AlreadyReissued {
        /// The invoice.
        id: String,
        /// Its reissue (number, else id).
        by: String,
    },
    /// A VOID invoice that carried the lines of MERGED drafts (a plan change on its
    /// date): re-issuing recomputes one plan period only, so it is refused rather than
    /// leave the other period's charges out.
    #[error(
        "invoice {id} carries the lines of {merged} merged draft(s) of another plan period \
         (one invoice per account and date): re-issuing such an invoice is not supported yet"
    )]
    MergedReissue {
        /// The invoice.
        id: String,
        /// How many drafts were merged into it.
        merged: i64,
    },
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl Classify for StatusError {
    fn kind(&self) -> ErrorKind {
        match self {
            StatusError::NotFound { .. } => ErrorKind::NotFound,
            StatusError::WrongStatus { .. }
            | StatusError::AlreadyReissued { .. }
            | StatusError::MergedReissue { .. } => ErrorKind::Conflict,
            StatusError::Db(e) => e.kind(),
        }
    }
}

/// DUE -> PAID (terminal), and, in the same transaction, an `invoice-paid` job that
/// grants the PREPAID credits the invoice sold: a payment recorded is never without
/// its follow-up, and paying twice is refused. `id` is the invoice's id or number;
/// `at` (UTC) is recorded as its `paid_at` and is the job's `as_of`. Errors:
/// [`StatusError::NotFound`], [`StatusError::WrongStatus`] (not DUE), the database.
pub async fn mark_paid(
    pool: &PgPool,
    org: &OrgId,
    id: &str,
    at: DateTime<Utc>,
) -> Result<InvoiceView, StatusError> {
    let invoice = show(pool, org, id)
        .await?
        .ok_or_else(|| StatusError::NotFound {
            org: org.to_string(),
            id: id.into(),
        })?;
    let mut tx = pool.begin().await?;
    let changed = sqlx::query(
        "UPDATE invoices SET status = 'PAID', paid_at = $3 WHERE org_id = $1 AND id = $2 AND status = 'DUE'",
    )
    .bind(org)
    .bind(&invoice.id)
    .bind(at)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed == 0 {
        return Err(StatusError::WrongStatus {
            id: id.into(),
            status: invoice.status.to_string(),
            action: "mark-paid",
            allowed: "DUE",
        });
    }
    let req = crate::queue::JobRequest {
        kind: crate::queue::JobKind::InvoicePaid,
        as_of: at,
        organisation: Some(org.to_string()),
        payload: serde_json::json!({ "organisation": org, "invoice": invoice.id }),
        root: None,
    };
    let opts = crate::queue::EnqueueOptions {
        run_at: None,
        idempotency_key: Some(format!("{org}:{}", invoice.id)),
        max_attempts: 8,
    };
    crate::queue::enqueue(&mut tx, &req, &opts).await?;
    tx.commit().await?;
    Ok(show(pool, org, &invoice.id)
        .await?
        .expect("it was just there"))
}

/// The outcome of [`void`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Voided {
    /// The invoice, as it is now (VOID).
    pub invoice: InvoiceView,
    /// False when it was already VOID: nothing was done again.
    pub changed: bool,
    /// The credit movements the void recorded (all zero when `changed` is false).
    pub credits: crate::credits::VoidedCredits,
    /// The `render-chunk` job that re-renders its documents marked VOID (enqueued in
    /// the void's transaction), when `changed`.
    pub render_job: Option<String>,
    /// The number of the credit note the void issued (organisation setting
    /// `void_issues_credit_note`, README "Credit notes"), if any.
    pub credit_note: Option<String>,
}

/// Voids a finalized invoice as of `at`, in one transaction (README "Invoices", "What
/// a void does"):
/// - DUE, or PAID with a total of 0 (nothing was collected), -> VOID; it keeps its
///   number (voiding never leaves a gap in the sequence);
/// - the credit movements it caused are undone
///   ([`crate::credits::undo_invoice_credits`]);
/// - a `render-chunk` re-render of its documents is enqueued (they then read VOID,
///   with nothing due and no due date, using the template and billing details
///   recorded when they were first rendered).
///
/// Idempotent: an invoice already VOID is returned unchanged (`changed = false`).
/// Refused: a DRAFT (nothing to void: it is recomputed until finalized) and a PAID
/// invoice with a total above 0 (money was received: refund it outside billrun).
pub async fn void(
    pool: &PgPool,
    org: &OrgId,
    id: &str,
    at: DateTime<Utc>,
) -> Result<Voided, StatusError> {
    let mut tx = pool.begin().await?;
    let row: Option<(String, InvoiceStatus, Decimal, String)> = sqlx::query_as(
        "SELECT id, status, total, currency FROM invoices
         WHERE org_id = $1 AND (id = $2 OR number = $2) FOR UPDATE",
    )
    .bind(org)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((invoice_id, status, total, currency)) = row else {
        return Err(StatusError::NotFound {
            org: org.to_string(),
            id: id.into(),
        });
    };
    use InvoiceStatus::{Due, Paid, Void};
    let voidable = status == Due || (status == Paid && total.is_zero());
    if status == Void {
        tx.commit().await?;
        let invoice = show(pool, org, &invoice_id).await?.expect("it is there");
        return Ok(Voided {
            invoice,
            changed: false,
            credits: Default::default(),
            render_job: None,
            credit_note: None,
        });
    }
    if !voidable {
        return Err(StatusError::WrongStatus {
            id: id.into(),
            status: if status == Paid {
                format!("PAID with a total of {total} {currency}")
            } else {
                status.to_string()
            },
            action: "void",
            allowed: "DUE and zero-total PAID",
        });
    }
    sqlx::query(
        "UPDATE invoices SET status = 'VOID', voided_at = $3 WHERE org_id = $1 AND id = $2",
    )
    .bind(org)
    .bind(&invoice_id)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    let mut credits = crate::credits::undo_invoice_credits(&mut tx, org, &invoice_id, at).await?;
    let credit_note =
        crate::credits::credit_notes::void_credit_note(&mut tx, org, &invoice_id, at).await?;
    if let Ok(c) = billrun_core::Currency::parse(&currency) {
        for a in [
            &mut credits.restored,
            &mut credits.restored_unusable,
            &mut credits.revoked,
            &mut credits.sold_already_used,
        ] {
            *a = c.round(*a, Default::default());
        }
    }
    let req = crate::queue::JobRequest {
        kind: crate::queue::JobKind::RenderChunk,
        as_of: at,
        organisation: Some(org.to_string()),
        payload: serde_json::json!({ "organisation": org, "invoices": [invoice_id], "rerender": true }),
        root: None,
    };
    let opts = crate::queue::EnqueueOptions {
        run_at: None,
        idempotency_key: Some(format!("void:{org}:{invoice_id}")),
        max_attempts: 8,
    };
    let job = crate::queue::enqueue(&mut tx, &req, &opts).await?;
    tx.commit().await?;
    Ok(Voided {
        invoice: show(pool, org, &invoice_id).await?.expect("it is there"),
        changed: true,
        credits,
        render_job: Some(job.id().to_string()),
        credit_note,
    })
}

#[cfg(test)]
mod tests {
    use super::StatusError;
    use crate::error::{Classify, ErrorKind};

    #[test]
    fn status_errors_are_classified() {
        let not_found = StatusError::NotFound {
            org: "acme".into(),
            id: "INV-1".into(),
        };
        assert_eq!(not_found.kind(), ErrorKind::NotFound);
        let wrong = StatusError::WrongStatus {
            id: "INV-1".into(),
            status: "DRAFT".into(),
            action: "void",
            allowed: "DUE",
        };
        assert_eq!(wrong.kind(), ErrorKind::Conflict);
        let reissued = StatusError::AlreadyReissued {
            id: "INV-1".into(),
            by: "INV-2".into(),
        };
        assert_eq!(reissued.kind(), ErrorKind::Conflict);
        let merged = StatusError::MergedReissue {
            id: "INV-1".into(),
            merged: 1,
        };
        assert_eq!(merged.kind(), ErrorKind::Conflict);
        assert_eq!(
            StatusError::Db(sqlx::Error::PoolTimedOut).kind(),
            ErrorKind::Unavailable
        );
    }
}
