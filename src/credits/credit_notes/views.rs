//! Reading credit notes: one, or an organisation's (optionally one invoice's).

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use sqlx::{FromRow, PgPool};

use super::CreditNoteError;
use crate::store::OrgId;

/// A credit note, as `billrun credit-note show --json` and the API print it
/// (camelCase). Amounts are decimal strings in the invoice's currency, with its minor
/// units; `issueDate` is a local date in the account's timezone; `createdAt` is UTC.
#[derive(Debug, Clone, Serialize, FromRow)]
#[serde(rename_all = "camelCase")]
pub struct CreditNoteView {
    /// Its id (`cn_...`).
    pub id: String,
    /// Organisation.
    pub org_id: String,
    /// Its number, from the organisation's credit-note format.
    pub number: String,
    /// The invoice it corrects.
    pub invoice_id: String,
    /// That invoice's number.
    pub invoice_number: Option<String>,
    /// The account.
    pub account_id: String,
    /// Currency of every amount.
    pub currency: String,
    /// DUPLICATED_CHARGE, PRODUCT_UNSATISFACTORY, ORDER_CHANGE, ORDER_CANCELLATION,
    /// FRAUDULENT_CHARGE or OTHER.
    pub reason: String,
    /// Free text.
    pub description: String,
    /// CREDIT or REFUND: what the part above the balance due became.
    pub method: String,
    /// Issued by a void.
    pub from_void: bool,
    /// Its date (local, the account's timezone).
    pub issue_date: NaiveDate,
    /// Net credited (before tax).
    pub net: Decimal,
    /// Tax credited (per rate in `lines.taxes`).
    pub tax: Decimal,
    /// `net + tax`.
    pub total: Decimal,
    /// Of the total, what it took off the invoice's balance due.
    pub balance_amount: Decimal,
    /// Of the total, what was granted as credits (`creditGrantId`).
    pub credit_amount: Decimal,
    /// Of the total, what was recorded as a refund (paid out outside billrun).
    pub refund_amount: Decimal,
    /// The credit grant it created, if any.
    pub credit_grant_id: Option<String>,
    /// The invoice's amount due now (its total less what credit notes took off it).
    pub invoice_amount_due: Decimal,
    /// The invoice's status now (PAID once notes took its balance due to 0).
    pub invoice_status: String,
    /// Lines, taxes per rate and totals (`billrun_core::credit_note::NoteAmounts`).
    pub lines: Value,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "n.id, n.org_id, n.number, n.invoice_id, i.number AS invoice_number, n.account_id,
    n.currency, n.reason, n.description, n.method, n.from_void, n.issue_date, n.net, n.tax, n.total,
    n.balance_amount, n.credit_amount, n.refund_amount, n.credit_grant_id,
    i.total - i.credited AS invoice_amount_due, i.status AS invoice_status, n.lines, n.created_at
    FROM credit_notes n JOIN invoices i ON i.org_id = n.org_id AND i.id = n.invoice_id";

impl CreditNoteView {
    fn scaled(mut self) -> Self {
        if let Ok(c) = billrun_core::Currency::parse(&self.currency) {
            for a in [
                &mut self.net,
                &mut self.tax,
                &mut self.total,
                &mut self.balance_amount,
                &mut self.credit_amount,
                &mut self.refund_amount,
                &mut self.invoice_amount_due,
            ] {
                *a = c.round(*a, Default::default());
            }
        }
        self
    }
}

/// One credit note of `org` by id or number. Errors: [`CreditNoteError::NotFound`]
/// (also for another organisation's), the database.
pub async fn show(pool: &PgPool, org: &OrgId, id: &str) -> Result<CreditNoteView, CreditNoteError> {
    let sql = format!("SELECT {COLUMNS} WHERE n.org_id = $1 AND (n.id = $2 OR n.number = $2)");
    let row: Option<CreditNoteView> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.map(CreditNoteView::scaled)
        .ok_or_else(|| CreditNoteError::NotFound {
            org: org.to_string(),
            what: "credit note",
            id: id.to_string(),
        })
}

/// The credit notes of `org`, oldest first (by number within a date), at most
/// `limit`; with `invoice` (id or number), only that invoice's (an invoice the
/// organisation does not have is [`CreditNoteError::NotFound`]).
pub async fn list(
    pool: &PgPool,
    org: &OrgId,
    invoice: Option<&str>,
    limit: i64,
) -> Result<Vec<CreditNoteView>, CreditNoteError> {
    if let Some(inv) = invoice {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT id FROM invoices WHERE org_id = $1 AND (id = $2 OR number = $2)",
        )
        .bind(org)
        .bind(inv)
        .fetch_optional(pool)
        .await?;
        if found.is_none() {
            return Err(CreditNoteError::NotFound {
                org: org.to_string(),
                what: "invoice",
                id: inv.to_string(),
            });
        }
    }
    let sql = format!(
        "SELECT {COLUMNS} WHERE n.org_id = $1 AND ($2::text IS NULL OR i.id = $2 OR i.number = $2)
         ORDER BY n.created_at, n.id LIMIT $3"
    );
    let rows: Vec<CreditNoteView> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(invoice)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(CreditNoteView::scaled).collect())
}
