//! Issuing a credit note: one transaction that locks the invoice, computes the note
//! against what earlier notes left ([`billrun_core::credit_note::compute`]), numbers
//! it from the organisation's own gapless counter, settles it (the balance due first,
//! then a credit grant or a recorded refund) and stores it, with its email's job
//! (`credit-note-email`, README "Credit notes").

use std::collections::BTreeMap;

use billrun_core::credit_note::{
    compute, creditable_lines, settle, CreditRequest, Method, NoteAmounts, Reason,
};
use billrun_core::invoice::InvoiceLines;
use billrun_core::tax::TaxTotal;
use billrun_core::Currency;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgPool};

use super::{settings_on, CreditNoteError, CreditNoteView};
use crate::credits::{grant, NewGrant};
use crate::store::OrgId;

/// What to credit, as an operator gives it: amounts before tax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credit {
    /// Lines, each named by its 1-based number among the invoice's creditable lines
    /// (`billrun credit-note create` prints them when one is wrong) or by its rate
    /// card's name, with the net amount to credit.
    Lines(Vec<(String, Decimal)>),
    /// A net amount spread over the lines in proportion to what is left of each.
    Amount(Decimal),
}

/// A credit note as requested.
#[derive(Debug, Clone)]
pub struct NewCreditNote {
    /// The invoice's id or number.
    pub invoice: String,
    /// What to credit.
    pub credit: Credit,
    /// Why.
    pub reason: Reason,
    /// What the part above the balance due becomes (all of it for a PAID invoice).
    pub method: Method,
    /// Free text shown on the note.
    pub description: String,
    /// With a key, issuing is idempotent: the same key with the same request answers
    /// the note it issued first (nothing new is written); with another request it is
    /// refused ([`CreditNoteError::KeyReused`]). Keys are per organisation.
    pub idempotency_key: Option<String>,
}

/// A note issued by [`create`], or found under its idempotency key.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The note.
    pub note: CreditNoteView,
    /// True when the idempotency key named a note issued before: nothing was written.
    pub replayed: bool,
}

/// Issues a credit note as of `at` in one transaction (README "Credit notes"), with
/// its email's job, and returns it; a DUE invoice whose balance due it takes to 0
/// becomes PAID (settled by notes: no `invoice-paid` job). With an idempotency key
/// seen before, the note it issued (`replayed`). Errors: [`CreditNoteError`]: the
/// invoice not found or not DUE / PAID, a line not found, amounts refused (more than
/// is left to credit per line or in total), a key reused with another request;
/// nothing is written then.
pub async fn create(
    pool: &PgPool,
    org: &OrgId,
    req: &NewCreditNote,
    at: DateTime<Utc>,
) -> Result<Issued, CreditNoteError> {
    if let Some(k) = &req.idempotency_key {
        if k.trim().is_empty() || k.len() > 255 {
            return Err(CreditNoteError::Invalid {
                field: "idempotencyKey",
                message: "expected 1 to 255 characters".into(),
            });
        }
    }
    let mut tx = pool.begin().await?;
    let (id, replayed) = issue_on(&mut tx, org.as_str(), req, at, false).await?;
    tx.commit().await?;
    Ok(Issued {
        note: super::show(pool, org, &id).await?,
        replayed,
    })
}

/// The credit note of a void (README "Credit notes", "What a void does"): when the
/// organisation's `void_issues_credit_note` is on, a note for everything left to
/// credit of `invoice_id` (reason ORDER_CANCELLATION), issued in the void's
/// transaction; its part above the balance due is the credits the void gives back
/// (no new grant). Returns its number, or none (setting off, nothing left).
pub async fn void_credit_note(
    conn: &mut PgConnection,
    org: &str,
    invoice_id: &str,
    at: DateTime<Utc>,
) -> Result<Option<String>, sqlx::Error> {
    let fail = |e: CreditNoteError| match e {
        CreditNoteError::Db(e) => e,
        e => sqlx::Error::Protocol(format!("the void's credit note: {e}")),
    };
    if !settings_on(conn, org)
        .await
        .map_err(fail)?
        .void_issues_credit_note
    {
        return Ok(None);
    }
    let req = NewCreditNote {
        invoice: invoice_id.to_string(),
        credit: Credit::Amount(Decimal::ZERO),
        reason: Reason::OrderCancellation,
        method: Method::Credit,
        description: "Invoice voided".into(),
        idempotency_key: None,
    };
    match issue_on(conn, org, &req, at, true).await {
        Ok((id, _)) => Ok(sqlx::query_scalar(
            "SELECT number FROM credit_notes WHERE org_id = $1 AND id = $2",
        )
        .bind(org)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?),
        Err(CreditNoteError::Refused {
            source: billrun_core::credit_note::CreditNoteError::Nothing,
            ..
        }) => Ok(None),
        Err(e) => Err(fail(e)),
    }
}

/// The invoice as a note needs it.
#[derive(sqlx::FromRow)]
struct Locked {
    id: String,
    status: String,
    account_id: String,
    currency: String,
    total: Decimal,
    credited: Decimal,
    lines: sqlx::types::Json<InvoiceLines>,
    timezone: String,
}

/// Issues a note on `conn` (inside the caller's transaction); `from_void`: the void's
/// note (the invoice is VOID already; everything left is credited). Returns its id,
/// and whether it was issued before under the request's idempotency key.
async fn issue_on(
    conn: &mut PgConnection,
    org: &str,
    req: &NewCreditNote,
    at: DateTime<Utc>,
    from_void: bool,
) -> Result<(String, bool), CreditNoteError> {
    let inv: Option<Locked> = sqlx::query_as(
        "SELECT i.id, i.status, i.account_id, i.currency, i.total, i.credited, i.lines,
                coalesce(a.timezone, o.timezone) AS timezone
         FROM invoices i JOIN accounts a ON a.org_id = i.org_id AND a.id = i.account_id
              JOIN organisations o ON o.id = i.org_id
         WHERE i.org_id = $1 AND (i.id = $2 OR i.number = $2) FOR UPDATE OF i",
    )
    .bind(org)
    .bind(&req.invoice)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(inv) = inv else {
        return Err(CreditNoteError::NotFound {
            org: org.to_string(),
            what: "invoice",
            id: req.invoice.clone(),
        });
    };
    // Under the invoice's lock: a concurrent retry with the key waits here and then
    // finds the note the first one committed.
    let fingerprint = fingerprint(req, &inv.id);
    if let Some(key) = &req.idempotency_key {
        if let Some(id) = keyed(conn, org, key, &fingerprint).await? {
            return Ok((id, true));
        }
    }
    let allowed = if from_void {
        inv.status == "VOID"
    } else {
        inv.status == "DUE" || inv.status == "PAID"
    };
    if !allowed {
        return Err(CreditNoteError::WrongStatus {
            invoice: req.invoice.clone(),
            status: inv.status,
        });
    }
    let currency = Currency::parse(&inv.currency).map_err(|e| CreditNoteError::Invalid {
        field: "currency",
        message: e.message,
    })?;
    let refused = |source| CreditNoteError::Refused {
        invoice: req.invoice.clone(),
        source,
    };
    // What earlier notes took: net per line, tax per rate, totals.
    let earlier: Vec<sqlx::types::Json<NoteAmounts>> =
        sqlx::query_scalar("SELECT lines FROM credit_notes WHERE org_id = $1 AND invoice_id = $2")
            .bind(org)
            .bind(&inv.id)
            .fetch_all(&mut *conn)
            .await?;
    let mut per_line: BTreeMap<u32, Decimal> = BTreeMap::new();
    let mut taxes: Vec<TaxTotal> = Vec::new();
    let mut done = Decimal::ZERO;
    for n in &earlier {
        done += n.total;
        for l in &n.lines {
            *per_line.entry(l.line).or_default() += l.net;
        }
        for t in &n.taxes {
            match taxes.iter_mut().find(|x| {
                x.code == t.code && x.category == t.category && x.percentage == t.percentage
            }) {
                Some(x) => x.amount += t.amount,
                None => taxes.push(t.clone()),
            }
        }
    }
    let lines = creditable_lines(
        &inv.lines,
        &|n| per_line.get(&n).copied().unwrap_or_default(),
        &taxes,
    );
    let request = if from_void {
        CreditRequest::Rest
    } else {
        match &req.credit {
            Credit::Amount(a) => CreditRequest::Amount(*a),
            Credit::Lines(items) => {
                let mut out = Vec::new();
                for (key, amount) in items {
                    out.push((resolve(&lines, &req.invoice, key)?, *amount));
                }
                CreditRequest::Lines(out)
            }
        }
    };
    let remaining = inv.lines.gross_amount() - done;
    let note = compute(currency, &lines, &request, remaining).map_err(refused)?;
    let due = if inv.status == "PAID" {
        Decimal::ZERO
    } else {
        inv.total - inv.credited
    };
    let (balance, rest) = settle(note.total, due);
    // Numbered from the organisation's own counter, in this transaction.
    let settings = settings_on(conn, org).await?;
    let tz: chrono_tz::Tz = inv.timezone.parse().unwrap_or(chrono_tz::UTC);
    let date = at.with_timezone(&tz).date_naive();
    let key = settings.number_format.sequence_key(date);
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO credit_note_number_sequences (org_id, sequence_key, last_value) VALUES ($1, $2, 1)
         ON CONFLICT (org_id, sequence_key) DO UPDATE SET last_value = credit_note_number_sequences.last_value + 1
         RETURNING last_value",
    )
    .bind(org)
    .bind(&key)
    .fetch_one(&mut *conn)
    .await?;
    let number = settings.number_format.render(date, seq as u64);
    let id = format!("cn_{}", ulid::Ulid::generate());
    let (credit, refund) = match req.method {
        Method::Credit => (rest, Decimal::ZERO),
        Method::Refund => (Decimal::ZERO, rest),
    };
    let grant_id = if credit > Decimal::ZERO && !from_void {
        let g = NewGrant {
            account: inv.account_id.clone(),
            amount: credit,
            currency: inv.currency.clone(),
            purpose: format!("Credit note {number}"),
            priority: 1,
            effective_from: Some(at),
            effective_until: None,
            applicable_entity_ids: Vec::new(),
            idempotency_key: format!("credit-note:{id}"),
        };
        Some(grant(conn, org, &g, None, at).await?.id().to_string())
    } else {
        None
    };
    sqlx::query(
        "INSERT INTO credit_notes (org_id, id, number, invoice_id, account_id, currency, reason,
             description, method, from_void, issue_date, net, tax, total, balance_amount,
             credit_amount, refund_amount, credit_grant_id, lines, created_at, idempotency_key, request)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
                 $21, $22)",
    )
    .bind(org)
    .bind(&id)
    .bind(&number)
    .bind(&inv.id)
    .bind(&inv.account_id)
    .bind(&inv.currency)
    .bind(req.reason.as_str())
    .bind(&req.description)
    .bind(req.method.as_str())
    .bind(from_void)
    .bind(date)
    .bind(note.net)
    .bind(note.tax)
    .bind(note.total)
    .bind(balance)
    .bind(credit)
    .bind(refund)
    .bind(&grant_id)
    .bind(sqlx::types::Json(&note))
    .bind(at)
    .bind(&req.idempotency_key)
    .bind(sqlx::types::Json(&fingerprint))
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE invoices SET credited = credited + $3 WHERE org_id = $1 AND id = $2")
        .bind(org)
        .bind(&inv.id)
        .bind(balance)
        .execute(&mut *conn)
        .await?;
    // Nothing left to pay: the notes settled the invoice (Lago's InvoiceSettlements:
    // an invoice whose due amount credit notes took to 0 is paid). PAID without a
    // payment, so no `invoice-paid` job: the PREPAID credits and entitlements it sold
    // were not paid for and are not granted.
    if inv.status == "DUE" && due - balance <= Decimal::ZERO {
        sqlx::query(
            "UPDATE invoices SET status = 'PAID', paid_at = $3, paid_by_credit_notes = true
             WHERE org_id = $1 AND id = $2 AND status = 'DUE'",
        )
        .bind(org)
        .bind(&inv.id)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    }
    enqueue_email(conn, org, &id, at).await?;
    Ok((id, false))
}

/// What an idempotency key stands for: the invoice (its id, however it was named),
/// what to credit (amounts normalised: `10.0` is `10`), reason, method, description.
fn fingerprint(req: &NewCreditNote, invoice_id: &str) -> serde_json::Value {
    let credit = match &req.credit {
        Credit::Lines(items) => serde_json::json!({
            "lines": items.iter().map(|(k, a)| serde_json::json!([k, a.normalize().to_string()]))
                .collect::<Vec<_>>()
        }),
        Credit::Amount(a) => serde_json::json!({ "amount": a.normalize().to_string() }),
    };
    serde_json::json!({
        "invoice": invoice_id,
        "credit": credit,
        "reason": req.reason.as_str(),
        "method": req.method.as_str(),
        "description": req.description,
    })
}

/// The note issued under `key`, when its request was `fingerprint`; none when the key
/// is new. Errors: [`CreditNoteError::KeyReused`] naming what differs.
async fn keyed(
    conn: &mut PgConnection,
    org: &str,
    key: &str,
    fingerprint: &serde_json::Value,
) -> Result<Option<String>, CreditNoteError> {
    let stored: Option<(String, String, Option<serde_json::Value>)> = sqlx::query_as(
        "SELECT id, number, request FROM credit_notes WHERE org_id = $1 AND idempotency_key = $2",
    )
    .bind(org)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((id, number, request)) = stored else {
        return Ok(None);
    };
    let request = request.unwrap_or_default();
    let differs: Vec<&str> = ["invoice", "credit", "reason", "method", "description"]
        .into_iter()
        .filter(|f| request.get(*f) != fingerprint.get(*f))
        .collect();
    if differs.is_empty() {
        Ok(Some(id))
    } else {
        Err(CreditNoteError::KeyReused {
            key: key.to_string(),
            note: number,
            differs: differs.join(", "),
        })
    }
}

/// Attempts of a credit note's `credit-note-email` job (the queue's backoff between
/// them); its last attempt marks the deliveries still deferred FAILED.
pub const EMAIL_JOB_ATTEMPTS: u32 = 8;

/// Enqueues the `credit-note-email` job of note `id` (as of `at`) in the note's
/// transaction: the note is emailed exactly when it commits. Keyed by the note, so
/// it is enqueued once.
async fn enqueue_email(
    conn: &mut PgConnection,
    org: &str,
    id: &str,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let req = crate::queue::JobRequest {
        kind: crate::queue::JobKind::CreditNoteEmail,
        as_of: at,
        organisation: Some(org.to_string()),
        payload: serde_json::json!({ "organisation": org, "creditNote": id }),
        root: None,
    };
    let opts = crate::queue::EnqueueOptions {
        run_at: None,
        idempotency_key: Some(format!("credit-note-email:{org}:{id}")),
        max_attempts: EMAIL_JOB_ATTEMPTS,
    };
    crate::queue::enqueue(conn, &req, &opts).await.map(drop)
}

/// The line number `key` names: a number from 1, or a rate card's name (unique on the
/// invoice). The error lists the lines.
fn resolve(
    lines: &[billrun_core::credit_note::CreditableLine],
    invoice: &str,
    key: &str,
) -> Result<u32, CreditNoteError> {
    let by_name: Vec<u32> = lines
        .iter()
        .filter(|l| l.card_name.as_deref() == Some(key))
        .map(|l| l.line)
        .collect();
    if let [one] = by_name.as_slice() {
        return Ok(*one);
    }
    if let Ok(n) = key.parse::<u32>() {
        if lines.iter().any(|l| l.line == n) {
            return Ok(n);
        }
    }
    let list: Vec<String> = lines
        .iter()
        .map(|l| {
            format!(
                "{} {} ({} left)",
                l.line,
                l.card_name.as_deref().unwrap_or(&l.display_name),
                l.remaining()
            )
        })
        .collect();
    Err(CreditNoteError::Line {
        invoice: invoice.to_string(),
        key: key.to_string(),
        message: format!(
            "expected a creditable line's number or its rate card's name{}: {}",
            if by_name.len() > 1 {
                " (that name is on several lines: give the number)"
            } else {
                ""
            },
            if list.is_empty() {
                "the invoice has none".to_string()
            } else {
                list.join(", ")
            }
        ),
    })
}
