//! Invoices as operators see them: list and show here; mark paid and void in
//! [`status`]; re-issuing a VOID invoice in [`reissue`].

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use sqlx::{FromRow, PgPool};

use crate::store::status::InvoiceStatus;
use crate::store::OrgId;

mod reissue;
mod status;

pub use reissue::{start_reissue, Reissue};
pub use status::{mark_paid, void, StatusError, Voided};

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
    /// True when credit notes took the invoice's balance to 0 and so made it PAID
    /// (README "Credit notes"): nothing was received; false otherwise (never paid,
    /// or marked paid). billrun's own field (`paidByCreditNotes`).
    pub paid_by_credit_notes: bool,
}

const COLUMNS: &str = "id, org_id, account_id, status, number, currency, boundary, plan_id, plan_version,
    closing_start, closing_end, opening_start, opening_end, sub_total, true_up, credits, total, total - credited AS amount_due, tax,
    invoice_date, due_date, net_term_days, stale, grace_ends_at, finalized_at, paid_at, voided_at,
    reissue_of,
    (SELECT r.id FROM invoices r WHERE r.org_id = invoices.org_id AND r.reissue_of = invoices.id) AS reissued_by,
    lines, merged_into, paid_by_credit_notes";

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
