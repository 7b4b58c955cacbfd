//! What `deliver-chunk` (and `billrun invoice resend`) writes: the recipients' QUEUED
//! rows ([`queue_recipients`], [`requeue_recipients`]), each delivery's Message-ID
//! ([`claim_message_id`]), its row lock ([`lock_queued`]) and what one attempt did to
//! it ([`record`]).

use sqlx::PgConnection;

use super::decide::Attempt;
use super::Doc;
use crate::store::OrgId;

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

/// The Message-ID of a QUEUED delivery: the one it has, else `candidate`, stored now
/// (autocommit, before the row is locked for sending), so a retry after a crash
/// between the server's acceptance and the SENT commit sends the same Message-ID and
/// receivers can recognise the copy (only a resend clears it). None when the row is
/// no longer QUEUED (sent or failed meanwhile by another job).
pub(super) async fn claim_message_id(
    pool: &sqlx::PgPool,
    doc: Doc,
    org: &str,
    invoice: &str,
    recipient: &str,
    candidate: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "UPDATE {} SET message_id = coalesce(message_id, $4)
         WHERE org_id = $1 AND {} = $2 AND recipient = $3 AND status = 'QUEUED'
         RETURNING message_id",
        doc.table(),
        doc.column()
    )))
    .bind(org)
    .bind(invoice)
    .bind(recipient)
    .bind(candidate)
    .fetch_optional(pool)
    .await
}

/// Locks a QUEUED delivery row in `tx` for sending; `false` when it is not QUEUED any
/// more or a concurrent job holds it (that job sends it).
pub(super) async fn lock_queued(
    tx: &mut PgConnection,
    doc: Doc,
    org: &str,
    invoice: &str,
    recipient: &str,
) -> Result<bool, sqlx::Error> {
    let locked: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT recipient FROM {}
         WHERE org_id = $1 AND {} = $2 AND recipient = $3 AND status = 'QUEUED'
         FOR UPDATE SKIP LOCKED",
        doc.table(),
        doc.column()
    )))
    .bind(org)
    .bind(invoice)
    .bind(recipient)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(locked.is_some())
}

/// Records `attempt` on the delivery row of `doc`, in the transaction that holds its lock:
/// SENT with `message_id` and the time; FAILED, or QUEUED again when deferred, with
/// the error; `attempts` + 1 either way. The attempt is kept in
/// `invoice_delivery_attempts` too (`resend`: part of a resend).
#[allow(clippy::too_many_arguments)]
pub(super) async fn record(
    tx: &mut PgConnection,
    doc: Doc,
    org: &str,
    invoice: &str,
    recipient: &str,
    message_id: &str,
    attempt: &Attempt,
    resend: bool,
) -> Result<(), sqlx::Error> {
    match attempt {
        Attempt::Sent => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {}
                 SET status = 'SENT', attempts = attempts + 1, message_id = $4,
                     sent_at = now(), last_error = NULL, updated_at = now()
                 WHERE org_id = $1 AND {} = $2 AND recipient = $3",
                doc.table(),
                doc.column()
            )))
            .bind(org)
            .bind(invoice)
            .bind(recipient)
            .bind(message_id)
            .execute(&mut *tx)
            .await?;
        }
        Attempt::Failed { error, .. } | Attempt::Deferred { error } => {
            let give_up = matches!(attempt, Attempt::Failed { .. });
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {}
                 SET status = CASE WHEN $5 THEN 'FAILED' ELSE 'QUEUED' END,
                     attempts = attempts + 1, last_error = $4, updated_at = now()
                 WHERE org_id = $1 AND {} = $2 AND recipient = $3",
                doc.table(),
                doc.column()
            )))
            .bind(org)
            .bind(invoice)
            .bind(recipient)
            .bind(error)
            .bind(give_up)
            .execute(&mut *tx)
            .await?;
        }
    }
    record_attempt(
        tx,
        doc,
        org,
        invoice,
        recipient,
        attempt.outcome(),
        message_id,
        attempt.error(),
        resend,
    )
    .await
}

/// One row of `invoice_delivery_attempts`, in the transaction that records the
/// delivery's new state: every attempt is kept (a resend or retry never overwrites
/// the first one's time and Message-ID).
#[allow(clippy::too_many_arguments)]
async fn record_attempt(
    tx: &mut PgConnection,
    doc: Doc,
    org: &str,
    invoice: &str,
    recipient: &str,
    outcome: &str,
    message_id: &str,
    error: Option<&str>,
    resend: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {} (org_id, {}, recipient, outcome, message_id, error, resend)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        doc.attempts_table(),
        doc.column()
    )))
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
