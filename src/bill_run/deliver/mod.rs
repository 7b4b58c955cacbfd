//! `deliver-chunk`: email delivery of finalized invoices.
//!
//! Enqueued by `render-chunk` in the transaction that stores an invoice's first
//! documents (not by re-renders), and by `billrun invoice resend`. For each invoice,
//! one `invoice_deliveries` row per recipient (the account's `billing_emails` and
//! `additional_emails`, else the customer's `primary_email`), inserted QUEUED once.
//! Then each QUEUED row is sent under a row lock and marked SENT with its message id
//! in the same transaction, right after the transport accepted it: a retried or
//! doubled job never sends a SENT row again. The one window left is a crash between
//! the transport's acceptance and that commit (the row stays QUEUED and is sent again
//! by the retry): delivery is at least once, and exactly once otherwise.
//!
//! Failures: a permanent refusal (SMTP 5xx, an unusable address) makes the row
//! FAILED, never retried by the job. Anything else (connection refused, timeout, SMTP
//! 4xx, a file-system error) leaves it QUEUED with `attempts` + 1 and `last_error`,
//! and the job fails retryably, so the queue's backoff tries again; on the job's last
//! attempt such rows become FAILED too.
//!
//! Also the deliveries' reads and the resend's requeue: [`list`] (`billrun deliveries
//! list`) and [`requeue_recipients`] (`billrun invoice resend`).

use lettre::message::Mailbox;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{json, Value};

use crate::mail::{build_message, render_email, EmailView, Mailer};
use crate::queue::{JobContext, JobError};
use crate::store::status::{DeliveryStatus, InvoiceStatus};
use crate::store::OrgId;

#[derive(sqlx::FromRow)]
struct InvoiceRow {
    id: String,
    number: Option<String>,
    invoice_date: Option<chrono::NaiveDate>,
    due_date: Option<chrono::NaiveDate>,
    total: Decimal,
    currency: String,
    status: InvoiceStatus,
    account_name: String,
    customer_name: String,
    pdf: Vec<u8>,
}

/// Inserts the QUEUED rows of `invoice_ids`' recipients (once: existing rows are kept).
pub async fn queue_recipients(
    conn: &mut sqlx::PgConnection,
    org: &str,
    invoice_ids: &[String],
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "INSERT INTO invoice_deliveries (org_id, invoice_id, recipient, status, attempts, updated_at)
         SELECT DISTINCT i.org_id, i.id, btrim(r.email), 'QUEUED', 0, now()
         FROM invoices i
         JOIN accounts a ON a.org_id = i.org_id AND a.id = i.account_id
         JOIN customers c ON c.org_id = a.org_id AND c.id = a.customer_id
         CROSS JOIN LATERAL unnest(
             CASE WHEN cardinality(a.billing_emails) + cardinality(a.additional_emails) > 0
                  THEN a.billing_emails || a.additional_emails
                  ELSE ARRAY[c.primary_email] END) AS r(email)
         WHERE i.org_id = $1 AND i.id = ANY($2) AND i.status NOT IN ('DRAFT', 'MERGED')
           AND r.email IS NOT NULL AND btrim(r.email) <> ''
         ON CONFLICT ON CONSTRAINT invoice_deliveries_pkey DO NOTHING",
    )
    .bind(org)
    .bind(invoice_ids)
    .execute(conn)
    .await?
    .rows_affected())
}

/// Puts every recipient of a finalized invoice back to QUEUED for a resend, in one
/// transaction: the rows of recipients added since it was first sent are inserted
/// ([`queue_recipients`]), then every row is reset (no attempts, no error, no message
/// id). Returns how many recipients the invoice has now (0: its account has no
/// billing or additional emails and its customer no primary email; nothing to send).
pub async fn requeue_recipients(
    pool: &sqlx::PgPool,
    org: &OrgId,
    invoice_id: &str,
) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    queue_recipients(&mut tx, org, &[invoice_id.to_string()]).await?;
    let n = sqlx::query(
        "UPDATE invoice_deliveries SET status = 'QUEUED', attempts = 0, last_error = NULL,
                message_id = NULL, updated_at = now()
         WHERE org_id = $1 AND invoice_id = $2",
    )
    .bind(org)
    .bind(invoice_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(n)
}

/// Sends the QUEUED deliveries of `invoice_ids` (after queueing their recipients).
pub async fn deliver_chunk(
    ctx: &JobContext,
    org: &str,
    invoice_ids: &[String],
    resend: bool,
) -> Result<Value, JobError> {
    let queued = queue_recipients(&mut *ctx.pool.acquire().await?, org, invoice_ids).await?;
    let (org_name, billing_email): (String, Option<String>) =
        sqlx::query_as("SELECT name, billing_email FROM organisations WHERE id = $1")
            .bind(org)
            .fetch_one(&ctx.pool)
            .await?;
    let invoices: Vec<InvoiceRow> = sqlx::query_as(
        "SELECT i.id, i.number, i.invoice_date, i.due_date, i.total, i.currency, i.status,
                a.name AS account_name, c.name AS customer_name, d.pdf
         FROM invoices i
         JOIN accounts a ON a.org_id = i.org_id AND a.id = i.account_id
         JOIN customers c ON c.org_id = a.org_id AND c.id = a.customer_id
         JOIN invoice_documents d ON d.org_id = i.org_id AND d.invoice_id = i.id
         WHERE i.org_id = $1 AND i.id = ANY($2)
           AND EXISTS (SELECT 1 FROM invoice_deliveries v
                       WHERE v.org_id = i.org_id AND v.invoice_id = i.id AND v.status = 'QUEUED')
         ORDER BY i.id",
    )
    .bind(org)
    .bind(invoice_ids)
    .fetch_all(&ctx.pool)
    .await?;

    let from = match ctx.config.mail.from.as_deref() {
        Some(f) => Some(f.parse::<Mailbox>().map_err(|e| {
            JobError::Fatal(anyhow::anyhow!("[mail] from {f:?} is not an address: {e}"))
        })?),
        None => billing_email
            .as_deref()
            .and_then(|a| a.trim().parse().ok())
            .map(|a| Mailbox::new(Some(org_name.clone()), a)),
    };
    let mailer = if invoices.is_empty() {
        None
    } else {
        Some(Mailer::from_config(&ctx.config).map_err(JobError::Fatal)?)
    };
    let last_attempt = ctx.attempt >= ctx.config.retry.max_attempts.max(1);

    let (mut sent, mut failed, mut deferred) = (0u64, 0u64, 0u64);
    let mut transient: Option<String> = None;
    'invoices: for inv in &invoices {
        let number = inv.number.clone().unwrap_or_else(|| inv.id.clone());
        let view = EmailView {
            organisation: org_name.clone(),
            account: inv.account_name.clone(),
            customer: inv.customer_name.clone(),
            number: number.clone(),
            invoice_date: inv.invoice_date.map(|d| d.to_string()).unwrap_or_default(),
            due_date: inv.due_date.map(|d| d.to_string()),
            total: inv.total.to_string(),
            currency: inv.currency.clone(),
            paid: inv.status == InvoiceStatus::Paid,
            resend,
        };
        let (subject, text, html) = render_email(&view).map_err(|e| {
            JobError::Fatal(anyhow::anyhow!("email templates, invoice {number}: {e:?}"))
        })?;
        let recipients: Vec<String> = sqlx::query_scalar(
            "SELECT recipient FROM invoice_deliveries
             WHERE org_id = $1 AND invoice_id = $2 AND status = 'QUEUED' ORDER BY recipient",
        )
        .bind(org)
        .bind(&inv.id)
        .fetch_all(&ctx.pool)
        .await?;
        for recipient in recipients {
            // The Message-ID is chosen once per delivery and stored before the row is
            // locked for sending (autocommit): a retry after a crash between the
            // server's acceptance and the SENT commit sends the same Message-ID, so
            // receivers can recognise the copy. Only `invoice resend` clears it.
            let candidate = format!(
                "<{}.{}@{}>",
                number.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_"),
                ulid::Ulid::generate().to_string().to_lowercase(),
                from.as_ref()
                    .map(|m| m.email.domain().to_string())
                    .unwrap_or_else(|| "billrun.invalid".into()),
            );
            let stored: Option<String> = sqlx::query_scalar(
                "UPDATE invoice_deliveries SET message_id = coalesce(message_id, $4)
                 WHERE org_id = $1 AND invoice_id = $2 AND recipient = $3 AND status = 'QUEUED'
                 RETURNING message_id",
            )
            .bind(org)
            .bind(&inv.id)
            .bind(&recipient)
            .bind(&candidate)
            .fetch_optional(&ctx.pool)
            .await?;
            let Some(message_id) = stored else {
                continue; // sent (or failed) meanwhile by another job
            };
            // The row lock: a concurrent job delivering the same row skips it.
            let mut tx = ctx.pool.begin().await?;
            let locked: Option<String> = sqlx::query_scalar(
                "SELECT recipient FROM invoice_deliveries
                 WHERE org_id = $1 AND invoice_id = $2 AND recipient = $3 AND status = 'QUEUED'
                 FOR UPDATE SKIP LOCKED",
            )
            .bind(org)
            .bind(&inv.id)
            .bind(&recipient)
            .fetch_optional(&mut *tx)
            .await?;
            if locked.is_none() {
                continue;
            }
            let outcome = match build_message(
                from.as_ref(),
                &recipient,
                &subject,
                &text,
                &html,
                &number,
                &inv.pdf,
                &message_id,
            ) {
                Err(e) => Err(e),
                Ok(m) => {
                    mailer
                        .as_ref()
                        .expect("a mailer when there is work")
                        .send(m)
                        .await
                }
            };
            match outcome {
                Ok(()) => {
                    sqlx::query(
                        "UPDATE invoice_deliveries
                         SET status = 'SENT', attempts = attempts + 1, message_id = $4,
                             sent_at = now(), last_error = NULL, updated_at = now()
                         WHERE org_id = $1 AND invoice_id = $2 AND recipient = $3",
                    )
                    .bind(org)
                    .bind(&inv.id)
                    .bind(&recipient)
                    .bind(&message_id)
                    .execute(&mut *tx)
                    .await?;
                    record_attempt(
                        &mut tx,
                        org,
                        &inv.id,
                        &recipient,
                        "SENT",
                        &message_id,
                        None,
                        resend,
                    )
                    .await?;
                    tx.commit().await?;
                    sent += 1;
                }
                Err(e) => {
                    let give_up = e.permanent || last_attempt;
                    sqlx::query(
                        "UPDATE invoice_deliveries
                         SET status = CASE WHEN $5 THEN 'FAILED' ELSE 'QUEUED' END,
                             attempts = attempts + 1, last_error = $4, updated_at = now()
                         WHERE org_id = $1 AND invoice_id = $2 AND recipient = $3",
                    )
                    .bind(org)
                    .bind(&inv.id)
                    .bind(&recipient)
                    .bind(&e.message)
                    .bind(give_up)
                    .execute(&mut *tx)
                    .await?;
                    let outcome = if give_up { "FAILED" } else { "DEFERRED" };
                    record_attempt(
                        &mut tx,
                        org,
                        &inv.id,
                        &recipient,
                        outcome,
                        &message_id,
                        Some(&e.message),
                        resend,
                    )
                    .await?;
                    tx.commit().await?;
                    tracing::warn!(invoice = %number, %recipient, permanent = e.permanent, error = %e.message, "invoice email not sent");
                    if give_up {
                        failed += 1;
                    } else {
                        // The server is likely unreachable for the others too: the
                        // retry (with backoff) takes up where this one stopped.
                        deferred += 1;
                        transient = Some(e.message);
                        break 'invoices;
                    }
                }
            }
        }
    }
    if let Some(e) = transient {
        return Err(JobError::Retryable(anyhow::anyhow!(
            "delivery deferred ({sent} sent, {failed} failed before it): {e}"
        )));
    }
    Ok(json!({
        "recipientsQueued": queued,
        "sent": sent,
        "failed": failed,
        "deferred": deferred,
        "resend": resend,
    }))
}

/// One row of `invoice_delivery_attempts`, in the transaction that records the
/// delivery's new state: every attempt is kept (a resend or retry never overwrites
/// the first one's time and Message-ID).
#[allow(clippy::too_many_arguments)]
async fn record_attempt(
    tx: &mut sqlx::PgConnection,
    org: &str,
    invoice: &str,
    recipient: &str,
    outcome: &str,
    message_id: &str,
    error: Option<&str>,
    resend: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO invoice_delivery_attempts (org_id, invoice_id, recipient, outcome, message_id, error, resend)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(org)
    .bind(invoice)
    .bind(recipient)
    .bind(outcome)
    .bind(message_id)
    .bind(error)
    .bind(resend)
    .execute(tx)
    .await
    .map(drop)
}

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
