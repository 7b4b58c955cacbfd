//! `credit-note-email`: a credit note's email (README "Credit notes"), delivered as an
//! invoice's is ([`super`]): one `credit_note_deliveries` row per recipient (the
//! account's `billing_emails` and `additional_emails`, else the customer's
//! `primary_email`), inserted QUEUED once, each sent under its row lock and marked
//! SENT in the transaction that records it, so a retried job never sends a SENT row
//! again; permanent refusals FAILED at once, transient ones retried with the queue's
//! backoff. The message carries the note's Factur-X PDF (`NUMBER.pdf`) and the XML
//! inside it (`factur-x.xml`).
//!
//! Enqueued in the note's own transaction (`credit_notes::create`, and a void's note),
//! so a note committed always has its email to come, and one rolled back never
//! does. The job renders the note's document first when it is not stored yet
//! ([`crate::bill_run::render::credit_note_document`]: the same document whoever
//! renders it). `billrun credit-note resend` puts every row back to QUEUED
//! ([`requeue_credit_note`]) and runs the job with `resend`.

use rust_decimal::Decimal;
use serde_json::Value;

use super::decide::{self, Tally};
use super::{send_queued, Doc, Outgoing, Sender};
use crate::credits::credit_notes::{CreditNoteError, CreditNoteView, EMAIL_JOB_ATTEMPTS};
use crate::mail::{render_credit_note_email, CreditNoteEmailView, Mailer};
use crate::queue::{JobContext, JobError};
use crate::store::OrgId;

/// Sends the QUEUED deliveries of credit note `id` of `org` (after rendering its
/// document if needed and queueing its recipients); `resend` marks the emails as
/// copies. Returns `{"recipientsQueued", "sent", "failed", "deferred", "resend"}`.
/// Errors: retryable at the first deferred delivery or when the database is; fatal
/// when the note does not exist, its document cannot be made (the message says why),
/// `[mail]` is unusable or the templates fail.
pub async fn deliver_credit_note(
    ctx: &JobContext,
    org: &str,
    id: &str,
    resend: bool,
) -> Result<Value, JobError> {
    let fatal = |e: CreditNoteError| match e {
        CreditNoteError::Db(e) => JobError::from(e),
        e @ CreditNoteError::Render(_) => JobError::Retryable(anyhow::anyhow!(e)),
        e => JobError::Fatal(anyhow::anyhow!(e)),
    };
    let org_id = OrgId::new(org);
    let document = crate::bill_run::render::credit_note_document(&ctx.pool, &org_id, id, ctx.as_of)
        .await
        .map_err(fatal)?;
    let note = &document.note;
    let queued = queue_recipients(&mut *ctx.pool.acquire().await?, org, &note.id).await?;

    let (org_name, billing_email) = super::load::sender(&ctx.pool, org).await?;
    let account: String =
        sqlx::query_scalar("SELECT name FROM accounts WHERE org_id = $1 AND id = $2")
            .bind(org)
            .bind(&note.account_id)
            .fetch_one(&ctx.pool)
            .await?;
    let from = decide::from_address(
        ctx.config.mail.from.as_deref(),
        &org_name,
        billing_email.as_deref(),
    )
    .map_err(|e| JobError::Fatal(anyhow::anyhow!(e)))?;
    let mut tally = Tally::default();
    let pending = super::load::queued_recipients(&ctx.pool, Doc::CreditNote, org, &note.id).await?;
    if !pending.is_empty() {
        let mailer = Mailer::from_config(&ctx.config).map_err(JobError::Fatal)?;
        let view = email_view(&org_name, &account, note, resend);
        let email = render_credit_note_email(&view).map_err(|e| {
            JobError::Fatal(anyhow::anyhow!(
                "email templates, credit note {}: {e:?}",
                note.number
            ))
        })?;
        // The job's own attempts are EMAIL_JOB_ATTEMPTS (set when the note enqueued
        // it); a configuration allowing fewer ends sooner.
        let max = ctx.config.retry.max_attempts.min(EMAIL_JOB_ATTEMPTS);
        let sender = Sender {
            from: from.as_ref(),
            mailer: &mailer,
            last_attempt: decide::is_last_attempt(ctx.attempt, max),
            resend,
        };
        let out = Outgoing {
            doc: Doc::CreditNote,
            id: &note.id,
            number: &note.number,
            email: &email,
            pdf: &document.pdf,
        };
        send_queued(ctx, org, &sender, &out, &mut tally).await?;
    }
    tally
        .result(queued, resend)
        .map_err(|e| JobError::Retryable(anyhow::anyhow!(e)))
}

/// Inserts the QUEUED rows of credit note `id`'s recipients (once: existing rows are
/// kept): the recipients of its invoice's email (the account's billing and
/// additional emails, else its customer's primary email). Returns how many were new.
pub(super) async fn queue_recipients(
    conn: &mut sqlx::PgConnection,
    org: &str,
    id: &str,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "INSERT INTO credit_note_deliveries (org_id, credit_note_id, recipient, status, attempts, updated_at)
         SELECT DISTINCT n.org_id, n.id, btrim(r.email), 'QUEUED', 0, now()
         FROM credit_notes n
         JOIN accounts a ON a.org_id = n.org_id AND a.id = n.account_id
         JOIN customers c ON c.org_id = a.org_id AND c.id = a.customer_id
         CROSS JOIN LATERAL unnest(
             CASE WHEN cardinality(a.billing_emails) + cardinality(a.additional_emails) > 0
                  THEN a.billing_emails || a.additional_emails
                  ELSE ARRAY[c.primary_email] END) AS r(email)
         WHERE n.org_id = $1 AND n.id = $2
           AND r.email IS NOT NULL AND btrim(r.email) <> ''
         ON CONFLICT ON CONSTRAINT credit_note_deliveries_pkey DO NOTHING",
    )
    .bind(org)
    .bind(id)
    .execute(conn)
    .await?
    .rows_affected())
}

/// Puts every recipient of credit note `id` back to QUEUED for a resend, in one
/// transaction (recipients added since are inserted; every row is reset: no attempts,
/// no error, no message id). Returns how many recipients it has now (0: nobody to
/// send it to).
pub async fn requeue_credit_note(
    pool: &sqlx::PgPool,
    org: &OrgId,
    id: &str,
) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    queue_recipients(&mut tx, org, id).await?;
    let n = sqlx::query(
        "UPDATE credit_note_deliveries SET status = 'QUEUED', attempts = 0, last_error = NULL,
                message_id = NULL, updated_at = now()
         WHERE org_id = $1 AND credit_note_id = $2",
    )
    .bind(org)
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(n)
}

/// One recipient's delivery of a credit note, as `billrun credit-note deliveries`
/// prints it (camelCase in JSON).
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct NoteDelivery {
    /// The address.
    pub recipient: String,
    /// QUEUED, SENT or FAILED.
    pub status: String,
    /// Attempts since it was (re)queued.
    pub attempts: i32,
    /// Why the last attempt did not send it (none once SENT).
    pub last_error: Option<String>,
    /// The Message-ID of its message.
    pub message_id: Option<String>,
    /// When the transport accepted it (UTC).
    pub sent_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The deliveries of credit note `id` (its id, not its number) of `org`, by
/// recipient (none before its job first ran).
pub async fn credit_note_deliveries(
    pool: &sqlx::PgPool,
    org: &OrgId,
    id: &str,
) -> Result<Vec<NoteDelivery>, sqlx::Error> {
    sqlx::query_as(
        "SELECT recipient, status, attempts, last_error, message_id, sent_at
         FROM credit_note_deliveries WHERE org_id = $1 AND credit_note_id = $2 ORDER BY recipient",
    )
    .bind(org)
    .bind(id)
    .fetch_all(pool)
    .await
}

/// The FAILED deliveries of credit note `id` of `org`: (recipient, last error),
/// alphabetically.
pub async fn failed_credit_note_deliveries(
    pool: &sqlx::PgPool,
    org: &OrgId,
    id: &str,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT recipient, coalesce(last_error, '') FROM credit_note_deliveries
         WHERE org_id = $1 AND credit_note_id = $2 AND status = 'FAILED' ORDER BY recipient",
    )
    .bind(org)
    .bind(id)
    .fetch_all(pool)
    .await
}

/// What the email of `note` says, from `org_name` to account `account`: amounts as
/// the note's PDF writes them (`"$72.97"`), its date as `"5 Feb 2026"`, the reason in
/// words; the parts of the settlement that are 0 are left out.
pub(super) fn email_view(
    org_name: &str,
    account: &str,
    note: &CreditNoteView,
    resend: bool,
) -> CreditNoteEmailView {
    let currency = billrun_core::Currency::parse(&note.currency).ok();
    let money = |d: Decimal| match currency {
        Some(c) => billrun_render::format_money(c.round(d, Default::default()), c),
        None => format!("{d} {}", note.currency),
    };
    let part = |d: Decimal| (d > Decimal::ZERO).then(|| money(d));
    CreditNoteEmailView {
        organisation: org_name.to_string(),
        account: account.to_string(),
        number: note.number.clone(),
        invoice_number: note
            .invoice_number
            .clone()
            .unwrap_or_else(|| note.invoice_id.clone()),
        issue_date: billrun_render::Day::from(note.issue_date)
            .display
            .to_string(),
        reason: reason_in_words(&note.reason),
        description: note.description.clone(),
        net: money(note.net),
        tax: money(note.tax),
        total: money(note.total),
        balance: part(note.balance_amount),
        credit: part(note.credit_amount),
        refund: part(note.refund_amount),
        invoice_amount_due: money(note.invoice_amount_due),
        voided: note.from_void,
        resend,
    }
}

/// `DUPLICATED_CHARGE` -> `Duplicated charge`.
fn reason_in_words(reason: &str) -> String {
    let lower = reason.replace('_', " ").to_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn the_email_formats_amounts_and_dates_like_the_pdf_and_drops_zero_parts() {
        let note = CreditNoteView {
            id: "cn_1".into(),
            org_id: "acme".into(),
            number: "CN-2026-0001".into(),
            invoice_id: "inv_1".into(),
            invoice_number: Some("INV-0001".into()),
            account_id: "a1".into(),
            currency: "USD".into(),
            reason: "DUPLICATED_CHARGE".into(),
            description: String::new(),
            method: "CREDIT".into(),
            from_void: false,
            issue_date: chrono::NaiveDate::from_ymd_opt(2026, 2, 5).unwrap(),
            net: dec!(63.34),
            tax: dec!(9.63),
            total: dec!(72.97),
            balance_amount: dec!(72.97),
            credit_amount: dec!(0.00),
            refund_amount: dec!(0.00),
            credit_grant_id: None,
            invoice_amount_due: dec!(1154.16),
            invoice_status: "DUE".into(),
            lines: serde_json::json!({}),
            created_at: chrono::Utc::now(),
        };
        let v = email_view("Acme", "Main", &note, false);
        assert_eq!(
            (
                v.issue_date.as_str(),
                v.reason.as_str(),
                v.total.as_str(),
                v.balance.as_deref(),
                v.credit.as_deref(),
                v.invoice_amount_due.as_str()
            ),
            (
                "5 Feb 2026",
                "Duplicated charge",
                "$72.97",
                Some("$72.97"),
                None,
                "$1,154.16"
            )
        );
    }
}
