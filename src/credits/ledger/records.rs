//! Grants as the HTTP API shows them (Togai's `Credit` and `CreditDetailsResponse`):
//! one grant with its customer and creation time ([`record`]), a keyset page of
//! grants ([`page`]) and one grant's ledger ([`grant_ledger`]).

use billrun_core::Currency;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool};

use super::{CreditError, GrantView, LedgerEntry, BALANCE};
use crate::store::OrgId;

/// A grant with its balance ([`GrantView`]), the customer of its account and when it
/// was recorded.
#[derive(Debug, Clone, Serialize, FromRow)]
#[serde(rename_all = "camelCase")]
pub struct GrantRecord {
    /// The grant, its balance at the currency's scale.
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub grant: GrantView,
    /// The customer owning the grant's account.
    pub customer_id: String,
    /// When the grant was recorded (UTC).
    pub created_at: DateTime<Utc>,
}

/// Which grants [`page`] lists; `None` fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct GrantFilter {
    /// Only this account's.
    pub account: Option<String>,
    /// Only grants in this status (`ACTIVE`, `CONSUMED`, `EXPIRED`, `VOIDED`).
    pub status: Option<String>,
    /// Only this grant.
    pub id: Option<String>,
}

fn select(filter_sql: &str) -> String {
    format!(
        "SELECT g.id, g.account_id, g.currency, g.amount, {BALANCE} AS balance, g.purpose, g.priority,
                g.effective_from, g.effective_until, g.applicable_entity_ids, g.status, g.idempotency_key,
                g.source_invoice_id, a.customer_id, g.created_at
         FROM credit_grants g JOIN accounts a ON a.org_id = g.org_id AND a.id = g.account_id
         WHERE g.org_id = $1 {filter_sql}"
    )
}

fn at_scale(mut r: GrantRecord) -> GrantRecord {
    // The currency's decimals (a zero NUMERIC reads back without its scale).
    if let Ok(c) = Currency::parse(&r.grant.currency) {
        r.grant.amount = c.round(r.grant.amount, Default::default());
        r.grant.balance = c.round(r.grant.balance, Default::default());
    }
    r
}

/// One grant of `org`. Errors: no such grant in `org` ([`CreditError::NotFound`]).
pub async fn record(pool: &PgPool, org: &OrgId, id: &str) -> Result<GrantRecord, CreditError> {
    let row: Option<GrantRecord> = sqlx::query_as(sqlx::AssertSqlSafe(select("AND g.id = $2")))
        .bind(org)
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.map(at_scale).ok_or_else(|| CreditError::NotFound {
        org: org.to_string(),
        what: "credit grant",
        id: id.to_string(),
    })
}

/// One page of `org`'s grants matching `filter`, by id (grant ids are ULIDs, so in
/// the order they were recorded), keyset paged: at most `limit` grants whose id sorts
/// after `after` (from the first when `None`).
pub async fn page(
    pool: &PgPool,
    org: &OrgId,
    filter: &GrantFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<GrantRecord>, CreditError> {
    let sql = select(
        "AND ($2::text IS NULL OR g.account_id = $2) AND ($3::text IS NULL OR g.status = $3)
         AND ($4::text IS NULL OR g.id = $4) AND ($5::text IS NULL OR g.id > $5)
         ORDER BY g.id LIMIT $6",
    );
    let rows: Vec<GrantRecord> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(&filter.account)
        .bind(&filter.status)
        .bind(&filter.id)
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(at_scale).collect())
}

/// The ledger of one grant of `org`, in the order its movements take effect (as
/// [`super::ledger`] orders an account's), amounts at the currency's scale.
pub async fn grant_ledger(
    pool: &PgPool,
    org: &OrgId,
    grant: &str,
) -> Result<Vec<LedgerEntry>, CreditError> {
    let rows: Vec<LedgerEntry> = sqlx::query_as(
        "SELECT t.id, t.grant_id, t.kind, t.amount, g.currency, t.invoice_id, t.at
         FROM credit_transactions t JOIN credit_grants g ON g.org_id = t.org_id AND g.id = t.grant_id
         WHERE t.org_id = $1 AND t.grant_id = $2
         ORDER BY t.at,
                  array_position(ARRAY['GRANTED', 'RESTORED', 'CONSUMED', 'EXPIRED', 'VOIDED'], t.kind),
                  t.id",
    )
    .bind(org)
    .bind(grant)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|mut e| {
            if let Ok(c) = Currency::parse(&e.currency) {
                e.amount = c.round(e.amount, Default::default());
            }
            e
        })
        .collect())
}
