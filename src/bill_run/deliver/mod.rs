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
//! The handler queues the recipients and reads the chunk ([`load`]), decides without
//! I/O who sends, what each email says and what each attempt's outcome means for its
//! row ([`decide`]), and records each attempt in the transaction that holds its row
//! ([`write`]). It is the last step of the bill run: it enqueues nothing.
//!
//! Also the deliveries' reads and the resend's requeue: [`list`] (`billrun deliveries
//! list`) and [`requeue_recipients`] (`billrun invoice resend`).

mod credit_note;
mod decide;
mod list;
mod load;
mod write;

use serde_json::Value;

pub use credit_note::{
    credit_note_deliveries, deliver_credit_note, failed_credit_note_deliveries,
    requeue_credit_note, NoteDelivery,
};
pub use list::{list, DeliveryView};
pub use write::{queue_recipients, requeue_recipients};

use lettre::message::Mailbox;

use crate::mail::{build_message, render_email, Mailer};
use crate::queue::{JobContext, JobError};
use decide::{Attempt, Tally};

/// Sends the QUEUED deliveries of `invoice_ids` of `org` (after queueing their
/// recipients); `resend` marks the emails as copies. Returns `{"recipientsQueued",
/// "sent", "failed", "deferred", "resend"}`. Errors: retryable at the first deferred
/// delivery (`delivery deferred (N sent, M failed before it): ...`) or when the
/// database is; fatal when `[mail]` is unusable (its `from` is not an address, the
/// transport cannot be built) or the email templates fail.
pub async fn deliver_chunk(
    ctx: &JobContext,
    org: &str,
    invoice_ids: &[String],
    resend: bool,
) -> Result<Value, JobError> {
    let queued = queue_recipients(&mut *ctx.pool.acquire().await?, org, invoice_ids).await?;
    // Load.
    let (org_name, billing_email) = load::sender(&ctx.pool, org).await?;
    let invoices = load::invoices(&ctx.pool, org, invoice_ids).await?;

    // Decide who sends, and whether a transient failure is the last.
    let from = decide::from_address(
        ctx.config.mail.from.as_deref(),
        &org_name,
        billing_email.as_deref(),
    )
    .map_err(|e| JobError::Fatal(anyhow::anyhow!(e)))?;
    let mailer = if invoices.is_empty() {
        None
    } else {
        Some(Mailer::from_config(&ctx.config).map_err(JobError::Fatal)?)
    };
    let last_attempt = decide::is_last_attempt(ctx.attempt, ctx.config.retry.max_attempts);

    // Send, recording each attempt.
    let mut tally = Tally::default();
    for inv in &invoices {
        let view = decide::email_view(&org_name, inv, resend);
        let number = view.number.clone();
        let email = render_email(&view).map_err(|e| {
            JobError::Fatal(anyhow::anyhow!("email templates, invoice {number}: {e:?}"))
        })?;
        let doc = Outgoing {
            doc: Doc::Invoice,
            id: &inv.id,
            number: &number,
            email: &email,
            pdf: inv.pdf.as_deref().unwrap_or_default(),
        };
        let sender = Sender {
            from: from.as_ref(),
            mailer: mailer.as_ref().expect("a mailer when there is work"),
            last_attempt,
            resend,
        };
        if send_queued(ctx, org, &sender, &doc, &mut tally).await? {
            break;
        }
    }
    tally
        .result(queued, resend)
        .map_err(|e| JobError::Retryable(anyhow::anyhow!(e)))
}

/// Which kind of document a delivery row is for: its table, its attempts' table and
/// the column naming the document (README "Credit notes": a credit note's email is
/// delivered as an invoice's is, in tables of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Doc {
    /// `invoice_deliveries`, `invoice_delivery_attempts`, by `invoice_id`.
    Invoice,
    /// `credit_note_deliveries`, `credit_note_delivery_attempts`, by `credit_note_id`.
    CreditNote,
}

impl Doc {
    /// The table of the deliveries' current state.
    pub(crate) fn table(self) -> &'static str {
        match self {
            Doc::Invoice => "invoice_deliveries",
            Doc::CreditNote => "credit_note_deliveries",
        }
    }

    /// The append-only table of every attempt.
    pub(crate) fn attempts_table(self) -> &'static str {
        match self {
            Doc::Invoice => "invoice_delivery_attempts",
            Doc::CreditNote => "credit_note_delivery_attempts",
        }
    }

    /// The column naming the document in both tables.
    pub(crate) fn column(self) -> &'static str {
        match self {
            Doc::Invoice => "invoice_id",
            Doc::CreditNote => "credit_note_id",
        }
    }

    /// How logs name it.
    fn noun(self) -> &'static str {
        match self {
            Doc::Invoice => "invoice",
            Doc::CreditNote => "credit note",
        }
    }
}

/// Who sends, through what, and on which attempt of the job.
struct Sender<'a> {
    from: Option<&'a Mailbox>,
    mailer: &'a Mailer,
    last_attempt: bool,
    resend: bool,
}

/// One document's email: its rows, its number, its rendered subject, text and HTML,
/// and its PDF (the Factur-X XML inside it is attached too: [`build_message`]).
struct Outgoing<'a> {
    doc: Doc,
    id: &'a str,
    number: &'a str,
    email: &'a (String, String, String),
    pdf: &'a [u8],
}

/// Sends every QUEUED delivery of `out`, each under its row lock, recording each
/// attempt in the transaction that holds the lock (see the module's documentation);
/// `true` when the job stops here (a deferred delivery: the retry takes up where this
/// one stopped).
async fn send_queued(
    ctx: &JobContext,
    org: &str,
    sender: &Sender<'_>,
    out: &Outgoing<'_>,
    tally: &mut Tally,
) -> Result<bool, JobError> {
    let (subject, text, html) = out.email;
    for recipient in load::queued_recipients(&ctx.pool, out.doc, org, out.id).await? {
        // The Message-ID is chosen once per delivery and stored before the row is
        // locked for sending (see `write::claim_message_id`).
        let candidate =
            decide::message_id(out.number, &ulid::Ulid::generate().to_string(), sender.from);
        let Some(message_id) =
            write::claim_message_id(&ctx.pool, out.doc, org, out.id, &recipient, &candidate)
                .await?
        else {
            continue; // sent (or failed) meanwhile by another job
        };
        // The row lock: a concurrent job delivering the same row skips it.
        let mut tx = ctx.pool.begin().await?;
        if !write::lock_queued(&mut tx, out.doc, org, out.id, &recipient).await? {
            continue;
        }
        let result = match build_message(
            sender.from,
            &recipient,
            subject,
            text,
            html,
            out.number,
            out.pdf,
            &message_id,
        ) {
            Err(e) => Err(e),
            Ok(m) => sender.mailer.send(m).await,
        };
        let attempt = Attempt::of(result, sender.last_attempt);
        write::record(
            &mut tx,
            out.doc,
            org,
            out.id,
            &recipient,
            &message_id,
            &attempt,
            sender.resend,
        )
        .await?;
        tx.commit().await?;
        let what = out.doc.noun();
        let number = out.number;
        match &attempt {
            Attempt::Sent => {}
            Attempt::Failed { error, permanent } => {
                tracing::warn!(document = what, %number, %recipient, permanent = *permanent, error = %error, "email not sent")
            }
            Attempt::Deferred { error } => {
                tracing::warn!(document = what, %number, %recipient, permanent = false, error = %error, "email not sent")
            }
        }
        if tally.count(attempt) {
            return Ok(true);
        }
    }
    Ok(false)
}
