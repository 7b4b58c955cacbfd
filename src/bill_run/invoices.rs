//! Invoices as operators see them: list, show, mark paid, void.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use sqlx::{FromRow, PgPool};

/// One invoice.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct InvoiceView {
    /// Invoice id.
    pub id: String,
    /// Organisation.
    pub org_id: String,
    /// Account billed.
    pub account_id: String,
    /// DRAFT, DUE, PAID or VOID.
    pub status: String,
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
    /// Amount due.
    pub total: Decimal,
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
    /// The line-item tree.
    pub lines: Value,
    /// For a MERGED draft: the invoice that carries its lines (one invoice per account
    /// and boundary date, README "Invoices").
    pub merged_into: Option<String>,
}

const COLUMNS: &str = "id, org_id, account_id, status, number, currency, boundary, plan_id, plan_version,
    closing_start, closing_end, opening_start, opening_end, sub_total, true_up, credits, total,
    invoice_date, due_date, net_term_days, stale, grace_ends_at, finalized_at, paid_at, voided_at, lines,
    merged_into";

/// Filters of `billrun invoice list`.
#[derive(Debug, Default)]
pub struct InvoiceFilter {
    /// Organisation (required: tenants are never mixed).
    pub org: String,
    /// Only this account.
    pub account: Option<String>,
    /// Only this status (none: every status but MERGED, whose lines are on the invoice
    /// it was merged into).
    pub status: Option<String>,
    /// At most this many.
    pub limit: i64,
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
        }
        self
    }
}

/// Invoices of an organisation, by boundary then account.
pub async fn list(pool: &PgPool, f: &InvoiceFilter) -> Result<Vec<InvoiceView>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM invoices WHERE org_id = $1
           AND ($2::text IS NULL OR account_id = $2)
           AND (($3::text IS NULL AND status <> 'MERGED') OR status = $3)
         ORDER BY boundary, account_id LIMIT $4"
    );
    let rows: Vec<InvoiceView> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&f.org)
        .bind(&f.account)
        .bind(&f.status)
        .bind(f.limit)
        .fetch_all(pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(InvoiceView::with_currency_scale)
        .collect())
}

/// One invoice by id or number.
pub async fn show(
    pool: &PgPool,
    org: &str,
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
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

async fn transition(
    pool: &PgPool,
    org: &str,
    id: &str,
    sql: &'static str,
    at: DateTime<Utc>,
    action: &'static str,
    allowed: &'static str,
) -> Result<InvoiceView, StatusError> {
    let invoice = show(pool, org, id)
        .await?
        .ok_or_else(|| StatusError::NotFound {
            org: org.into(),
            id: id.into(),
        })?;
    let changed = sqlx::query(sql)
        .bind(org)
        .bind(&invoice.id)
        .bind(at)
        .execute(pool)
        .await?
        .rows_affected();
    if changed == 0 {
        return Err(StatusError::WrongStatus {
            id: id.into(),
            status: invoice.status,
            action,
            allowed,
        });
    }
    Ok(show(pool, org, &invoice.id)
        .await?
        .expect("it was just there"))
}

/// DUE -> PAID (terminal), and, in the same transaction, an `invoice-paid` job that
/// grants the PREPAID credits the invoice sold: a payment recorded is never without
/// its follow-up, and paying twice is refused.
pub async fn mark_paid(
    pool: &PgPool,
    org: &str,
    id: &str,
    at: DateTime<Utc>,
) -> Result<InvoiceView, StatusError> {
    let invoice = show(pool, org, id)
        .await?
        .ok_or_else(|| StatusError::NotFound {
            org: org.into(),
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
            status: invoice.status,
            action: "mark-paid",
            allowed: "DUE",
        });
    }
    let req = crate::jobs::JobRequest {
        kind: crate::jobs::JobKind::InvoicePaid,
        as_of: at,
        organisation: Some(org.into()),
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

/// DUE -> VOID (a finalized invoice keeps its number: voiding never leaves a gap).
pub async fn void(
    pool: &PgPool,
    org: &str,
    id: &str,
    at: DateTime<Utc>,
) -> Result<InvoiceView, StatusError> {
    transition(
        pool,
        org,
        id,
        "UPDATE invoices SET status = 'VOID', voided_at = $3 WHERE org_id = $1 AND id = $2 AND status = 'DUE'",
        at,
        "void",
        "DUE",
    )
    .await
}
