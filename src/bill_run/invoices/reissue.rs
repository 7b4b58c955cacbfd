//! Re-issuing the cycle of a VOID invoice.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::StatusError;
use crate::store::status::InvoiceStatus;
use crate::store::OrgId;

/// A reissue under way: the DRAFT that re-issues a VOID invoice, and the
/// `close-chunk` job (enqueued with it) that recomputes and finalizes it.
#[derive(Debug, Clone)]
pub struct Reissue {
    /// The VOID invoice.
    pub voided_id: String,
    /// The new invoice (a DRAFT until the job has run).
    pub reissue_id: String,
    /// The `close-chunk` job for the account, as of the reissue's instant.
    pub job_id: String,
}

/// Starts re-issuing the cycle of a VOID invoice as of `at`, in one transaction
/// (README "Invoices", "Re-issuing"): a new DRAFT for the same account, association
/// and boundary (`reissue_of` = the VOID invoice, `reissue_no` one more than its),
/// marked stale and finalizable from `at` (or the voided one's grace end if
/// earlier), and a `close-chunk` job for the account as of `at`, which recomputes it
/// from current data (usage, licenses, plan) and enqueues its finalization; it is then
/// numbered (the next number of the gapless sequence), credited, rendered and emailed
/// like any invoice. Idempotent: if a reissue is still a DRAFT (the job has not run,
/// or could not bill the account), it is taken up again with a new job.
///
/// Refused: an invoice that is not VOID, one already re-issued by a finalized
/// invoice (re-issue that one after voiding it, if need be).
pub async fn start_reissue(
    pool: &PgPool,
    org: &OrgId,
    id: &str,
    at: DateTime<Utc>,
) -> Result<Reissue, StatusError> {
    let mut tx = pool.begin().await?;
    let row: Option<(String, InvoiceStatus, String)> = sqlx::query_as(
        "SELECT id, status, account_id FROM invoices
         WHERE org_id = $1 AND (id = $2 OR number = $2) FOR UPDATE",
    )
    .bind(org)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((voided_id, status, account)) = row else {
        return Err(StatusError::NotFound {
            org: org.to_string(),
            id: id.into(),
        });
    };
    if status != InvoiceStatus::Void {
        return Err(StatusError::WrongStatus {
            id: id.into(),
            status: status.to_string(),
            action: "reissue",
            allowed: "VOID",
        });
    }
    let merged: i64 =
        sqlx::query_scalar("SELECT count(*) FROM invoices WHERE org_id = $1 AND merged_into = $2")
            .bind(org)
            .bind(&voided_id)
            .fetch_one(&mut *tx)
            .await?;
    if merged > 0 {
        return Err(StatusError::MergedReissue {
            id: id.into(),
            merged,
        });
    }
    let existing: Option<(String, InvoiceStatus, Option<String>)> = sqlx::query_as(
        "SELECT id, status, number FROM invoices WHERE org_id = $1 AND reissue_of = $2",
    )
    .bind(org)
    .bind(&voided_id)
    .fetch_optional(&mut *tx)
    .await?;
    let reissue_id = match existing {
        Some((rid, InvoiceStatus::Draft, _)) => {
            sqlx::query("UPDATE invoices SET stale = true WHERE org_id = $1 AND id = $2")
                .bind(org)
                .bind(&rid)
                .execute(&mut *tx)
                .await?;
            rid
        }
        Some((rid, _, number)) => {
            return Err(StatusError::AlreadyReissued {
                id: id.into(),
                by: number.unwrap_or(rid),
            })
        }
        None => {
            let rid = ulid::Ulid::generate().to_string();
            // The amounts are placeholders until close-chunk recomputes the draft
            // (stale): a stale draft is never finalized.
            sqlx::query(
                "INSERT INTO invoices (org_id, id, account_id, association_from, boundary, plan_id, plan_version,
                     kind, status, currency, closing_index, closing_start, closing_end, closing_starts_at,
                     closing_ends_at, opening_index, opening_start, opening_end, sub_total, true_up, credits,
                     total, lines, grace_ends_at, stale, computed_at, reissue_of, reissue_no, tax)
                 SELECT org_id, $3, account_id, association_from, boundary, plan_id, plan_version,
                     kind, 'DRAFT', currency, closing_index, closing_start, closing_end, closing_starts_at,
                     closing_ends_at, opening_index, opening_start, opening_end, sub_total, true_up, credits,
                     total, lines, least(grace_ends_at, $4), true, $4, id, reissue_no + 1, tax
                 FROM invoices WHERE org_id = $1 AND id = $2",
            )
            .bind(org)
            .bind(&voided_id)
            .bind(&rid)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            rid
        }
    };
    let req = crate::queue::JobRequest {
        kind: crate::queue::JobKind::CloseChunk,
        as_of: at,
        organisation: Some(org.to_string()),
        payload: serde_json::json!({ "organisation": org, "accounts": [account] }),
        root: None,
    };
    let opts = crate::queue::EnqueueOptions {
        run_at: None,
        idempotency_key: None,
        max_attempts: 8,
    };
    let job = crate::queue::enqueue(&mut tx, &req, &opts).await?;
    tx.commit().await?;
    Ok(Reissue {
        voided_id,
        reissue_id,
        job_id: job.id().to_string(),
    })
}
