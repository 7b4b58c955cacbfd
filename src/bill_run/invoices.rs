//! Invoices as operators see them: list, show, mark paid, void.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use sqlx::{FromRow, PgPool};

use crate::error::{Classify, ErrorKind};
use crate::store::status::InvoiceStatus;
use crate::store::OrgId;

/// One invoice, as `billrun invoice list|show --json` prints it (camelCase, Togai's
/// names where Togai's invoice has the field: `invoiceDate`, `dueDate`,
/// `netTermDays`). Amounts are decimal strings in the invoice's currency; dates are
/// local dates in the account's timezone (its own, else the organisation's);
/// `...At` instants are UTC.
#[derive(Debug, Clone, Serialize, FromRow)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceView {
    /// Invoice id.
    pub id: String,
    /// Organisation.
    pub org_id: String,
    /// Account billed.
    pub account_id: String,
    /// DRAFT, DUE, PAID or VOID (MERGED: its lines are on `merged_into`).
    pub status: InvoiceStatus,
    /// The number (finalized invoices only).
    pub number: Option<String>,
    /// Currency of every amount.
    pub currency: String,
    /// The cycle boundary the invoice is for.
    pub boundary: NaiveDate,
    /// Plan and version it was computed from.
    pub plan_id: String,
    /// Plan version.
    pub plan_version: i32,
    /// The in-arrears period (closing cycle), if any.
    pub closing_start: Option<NaiveDate>,
    /// End (exclusive) of the in-arrears period.
    pub closing_end: Option<NaiveDate>,
    /// The in-advance period (opening cycle), if any.
    pub opening_start: Option<NaiveDate>,
    /// End (exclusive) of the in-advance period.
    pub opening_end: Option<NaiveDate>,
    /// Sum of the charge lines.
    pub sub_total: Decimal,
    /// Minimum-commitment true-up.
    pub true_up: Decimal,
    /// Credits applied.
    pub credits: Decimal,
    /// Amount due: sub_total + true_up + tax - credits.
    pub total: Decimal,
    /// Amount due now: `total` less what credit notes took off it (README "Credit notes").
    pub amount_due: Decimal,
    /// Tax: the sum of the per-rate taxes (README "Taxes"); 0 when untaxed.
    pub tax: Decimal,
    /// Invoice date (finalized invoices).
    pub invoice_date: Option<NaiveDate>,
    /// Due date (finalized invoices).
    pub due_date: Option<NaiveDate>,
    /// Net term days used for the due date.
    pub net_term_days: Option<i32>,
    /// A draft whose usage changed since it was computed.
    pub stale: bool,
    /// When a draft becomes finalizable.
    pub grace_ends_at: DateTime<Utc>,
    /// When it was finalized.
    pub finalized_at: Option<DateTime<Utc>>,
    /// When it was paid.
    pub paid_at: Option<DateTime<Utc>>,
    /// When it was voided.
    pub voided_at: Option<DateTime<Utc>>,
    /// The VOID invoice this one re-issues (`billrun invoice reissue`), if any.
    pub reissue_of: Option<String>,
    /// The invoice that re-issues this VOID one, if any.
    pub reissued_by: Option<String>,
    /// The line-item tree.
    pub lines: Value,
    /// For a MERGED draft: the invoice that carries its lines (one invoice per account
    /// and boundary date, README "Invoices").
    pub merged_into: Option<String>,
}

const COLUMNS: &str = "id, org_id, account_id, status, number, currency, boundary, plan_id, plan_version,
    closing_start, closing_end, opening_start, opening_end, sub_total, true_up, credits, total, total - credited AS amount_due, tax,
    invoice_date, due_date, net_term_days, stale, grace_ends_at, finalized_at, paid_at, voided_at,
    reissue_of,
    (SELECT r.id FROM invoices r WHERE r.org_id = invoices.org_id AND r.reissue_of = invoices.id) AS reissued_by,
    lines, merged_into";

/// Filters of `billrun invoice list`.
#[derive(Debug)]
pub struct InvoiceFilter {
    /// Organisation (required: tenants are never mixed).
    pub org: OrgId,
    /// Only this account.
    pub account: Option<String>,
    /// Only this status (none: every status but MERGED, whose lines are on the invoice
    /// it was merged into).
    pub status: Option<InvoiceStatus>,
    /// At most this many (1 or more).
    pub limit: i64,
    /// Only invoices after this one (an invoice id) in the listing's order: the
    /// next page's `--after`.
    pub after: Option<String>,
    /// Only invoices dated (their boundary: the invoice date) from the first date to
    /// the second, both inclusive (the console's period filter); none: any date.
    pub period: Option<(chrono::NaiveDate, chrono::NaiveDate)>,
}

impl InvoiceView {
    /// Amounts with exactly the currency's decimals (sqlx writes a zero `Decimal` to
    /// NUMERIC without its scale, so `0.00` would read back as `0`).
    fn with_currency_scale(mut self) -> Self {
        if let Ok(c) = billrun_core::Currency::parse(&self.currency) {
            let r = |a: Decimal| c.round(a, Default::default());
            self.sub_total = r(self.sub_total);
            self.true_up = r(self.true_up);
            self.credits = r(self.credits);
            self.total = r(self.total);
            self.amount_due = r(self.amount_due);
            self.tax = r(self.tax);
        }
        self
    }
}

/// Invoices of an organisation, one page: newest billing period first (boundary
/// descending), then by account, then newest first (id descending: ids are ULIDs,
/// so creation order); every column of that order is fixed once an invoice is
/// written, so `after` pages stably (see [`crate::paging`]). The cursor of a page is
/// its last invoice's id. An `account` filter naming no account of the organisation is
/// [`ListError::NotFound`](crate::paging::ListError::NotFound), not an empty page.
pub async fn list(
    pool: &PgPool,
    f: &InvoiceFilter,
) -> Result<crate::paging::Page<InvoiceView>, crate::paging::ListError> {
    const FILTER: &str = "org_id = $1
           AND ($2::text IS NULL OR account_id = $2)
           AND (($3::text IS NULL AND status <> 'MERGED') OR status = $3)
           AND ($7::date IS NULL OR boundary >= $7) AND ($8::date IS NULL OR boundary <= $8)";
    // The cursor's row precedes, or is, every row "up to the cursor".
    const UP_TO_CURSOR: &str = "(boundary > $4 OR (boundary = $4 AND (account_id < $5
           OR (account_id = $5 AND id >= $6))))";
    let mut tx = crate::paging::snapshot(pool).await?;
    if let Some(account) = &f.account {
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM accounts WHERE org_id = $1 AND id = $2)",
        )
        .bind(&f.org)
        .bind(account)
        .fetch_one(&mut *tx)
        .await?;
        if !exists {
            return Err(crate::paging::ListError::NotFound {
                what: "account",
                org: f.org.to_string(),
                id: account.clone(),
            });
        }
    }
    let cursor: Option<(chrono::NaiveDate, String, String)> = match &f.after {
        None => None,
        Some(after) => Some(
            sqlx::query_as(
                "SELECT boundary, account_id, id FROM invoices WHERE org_id = $1 AND id = $2",
            )
            .bind(&f.org)
            .bind(after)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| crate::paging::ListError::BadCursor {
                after: after.clone(),
                reason: format!("organisation {} has no invoice with that id", f.org),
            })?,
        ),
    };
    let (cb, ca, ci) = match &cursor {
        Some((b, a, i)) => (Some(*b), Some(a.as_str()), Some(i.as_str())),
        None => (None, None, None),
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM invoices WHERE {FILTER}
           AND ($4::date IS NULL OR NOT {UP_TO_CURSOR})
         ORDER BY boundary DESC, account_id, id DESC LIMIT $9"
    );
    let rows: Vec<InvoiceView> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&f.org)
        .bind(&f.account)
        .bind(f.status)
        .bind(cb)
        .bind(ca)
        .bind(ci)
        .bind(f.period.map(|p| p.0))
        .bind(f.period.map(|p| p.1))
        .bind(crate::paging::fetch_limit(f.limit))
        .fetch_all(&mut *tx)
        .await?;
    let (total, before): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT count(*), count(*) FILTER (WHERE $4::date IS NOT NULL AND {UP_TO_CURSOR})
         FROM invoices WHERE {FILTER}"
    )))
    .bind(&f.org)
    .bind(&f.account)
    .bind(f.status)
    .bind(cb)
    .bind(ca)
    .bind(ci)
    .bind(f.period.map(|p| p.0))
    .bind(f.period.map(|p| p.1))
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    let rows = rows
        .into_iter()
        .map(InvoiceView::with_currency_scale)
        .collect();
    Ok(crate::paging::Page::new(
        rows,
        f.limit,
        total,
        before,
        |i: &InvoiceView| i.id.clone(),
    ))
}

/// One invoice of `org` by id or number (none: the organisation has no such invoice).
pub async fn show(
    pool: &PgPool,
    org: &OrgId,
    id_or_number: &str,
) -> Result<Option<InvoiceView>, sqlx::Error> {
    let sql =
        format!("SELECT {COLUMNS} FROM invoices WHERE org_id = $1 AND (id = $2 OR number = $2)");
    let row: Option<InvoiceView> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(id_or_number)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(InvoiceView::with_currency_scale))
}

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
