//! The deliveries' reads: [`list`] (`billrun deliveries list`), one page of an
//! organisation's deliveries with each one's attempts.

use serde::Serialize;

use crate::store::status::DeliveryStatus;
use crate::store::OrgId;

/// One delivery, as `billrun deliveries list` shows it (`--json`: camelCase,
/// `invoiceId`, `lastError`, `messageId`, `sentAt`, `updatedAt`; instants in UTC).
#[derive(Debug, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    /// The invoice emailed.
    pub invoice_id: String,
    /// Its number (every emailed invoice is finalized, so numbered).
    pub number: Option<String>,
    /// One email address.
    pub recipient: String,
    /// QUEUED, SENT or FAILED.
    pub status: DeliveryStatus,
    /// Sending attempts so far (reset to 0 by a resend).
    pub attempts: i32,
    /// The last attempt's error, if it failed.
    pub last_error: Option<String>,
    /// The message id of the email sent (SENT rows).
    pub message_id: Option<String>,
    /// When it was sent (UTC).
    pub sent_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When the row last changed (UTC).
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// Every attempt, oldest first: `at`, `outcome` (SENT, DEFERRED, FAILED),
    /// `messageId`, `error`, `resend`.
    pub history: sqlx::types::Json<Vec<serde_json::Value>>,
}

/// The deliveries of an organisation, optionally of one status, one page: in the
/// order of `billrun invoice list` (newest billing period first, then by account,
/// then newest invoice first), each invoice's recipients alphabetically. Every
/// column of that order is fixed once a delivery is written (a retry or a resend
/// updates the row, never moves it), so `after` pages stably (see
/// [`crate::paging`]). The cursor of a page is its last row's `INVOICE_ID:RECIPIENT`;
/// `limit` is at least 1 (checked by the caller). Errors: a cursor that is malformed
/// or names no invoice of `org` ([`crate::paging::ListError::BadCursor`]), the database.
pub async fn list(
    pool: &sqlx::PgPool,
    org: &OrgId,
    status: Option<DeliveryStatus>,
    limit: i64,
    after: Option<&str>,
) -> Result<crate::paging::Page<DeliveryView>, crate::paging::ListError> {
    use crate::paging::ListError;
    const FILTER: &str = "v.org_id = $1 AND ($2::text IS NULL OR v.status = $2)";
    // The cursor's row precedes, or is, every row "up to the cursor".
    const UP_TO_CURSOR: &str = "(i.boundary > $3 OR (i.boundary = $3 AND (i.account_id < $4
           OR (i.account_id = $4 AND (v.invoice_id > $5
               OR (v.invoice_id = $5 AND v.recipient <= $6))))))";
    let mut tx = crate::paging::snapshot(pool).await?;
    let mut cursor: Option<(chrono::NaiveDate, String, String, String)> = None;
    if let Some(after) = after {
        // Invoice ids are ULIDs (no ':'); a recipient may hold anything.
        let Some((invoice, recipient)) = after.split_once(':') else {
            return Err(ListError::BadCursor {
                after: after.into(),
                reason: "expected INVOICE_ID:RECIPIENT".into(),
            });
        };
        let (boundary, account): (chrono::NaiveDate, String) = sqlx::query_as(
            "SELECT boundary, account_id FROM invoices WHERE org_id = $1 AND id = $2",
        )
        .bind(org)
        .bind(invoice)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| ListError::BadCursor {
            after: after.into(),
            reason: format!("organisation {org} has no invoice {invoice}"),
        })?;
        cursor = Some((boundary, account, invoice.into(), recipient.into()));
    }
    let (cb, ca, ci, cr) = match &cursor {
        Some((b, a, i, r)) => (
            Some(*b),
            Some(a.as_str()),
            Some(i.as_str()),
            Some(r.as_str()),
        ),
        None => (None, None, None, None),
    };
    let rows: Vec<DeliveryView> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT v.invoice_id, i.number, v.recipient, v.status, v.attempts, v.last_error,
                v.message_id, v.sent_at, v.updated_at,
                coalesce((SELECT json_agg(json_build_object('at', a.at, 'outcome', a.outcome,
                                   'messageId', a.message_id, 'error', a.error, 'resend', a.resend)
                                   ORDER BY a.id)
                          FROM invoice_delivery_attempts a
                          WHERE a.org_id = v.org_id AND a.invoice_id = v.invoice_id
                            AND a.recipient = v.recipient), '[]') AS history
         FROM invoice_deliveries v
         JOIN invoices i ON i.org_id = v.org_id AND i.id = v.invoice_id
         WHERE {FILTER} AND ($3::date IS NULL OR NOT {UP_TO_CURSOR})
         ORDER BY i.boundary DESC, i.account_id, v.invoice_id DESC, v.recipient
         LIMIT $7"
    )))
    .bind(org)
    .bind(status)
    .bind(cb)
    .bind(ca)
    .bind(ci)
    .bind(cr)
    .bind(crate::paging::fetch_limit(limit))
    .fetch_all(&mut *tx)
    .await?;
    let (total, before): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT count(*), count(*) FILTER (WHERE $3::date IS NOT NULL AND {UP_TO_CURSOR})
         FROM invoice_deliveries v
         JOIN invoices i ON i.org_id = v.org_id AND i.id = v.invoice_id
         WHERE {FILTER}"
    )))
    .bind(org)
    .bind(status)
    .bind(cb)
    .bind(ca)
    .bind(ci)
    .bind(cr)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(crate::paging::Page::new(
        rows,
        limit,
        total,
        before,
        |d: &DeliveryView| format!("{}:{}", d.invoice_id, d.recipient),
    ))
}
