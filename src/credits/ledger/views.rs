//! Reading grants: a list with balances ([`list`]), an account's ledger ([`ledger`])
//! and its balance per currency ([`balance`]), all derived from the ledger.

use billrun_core::Currency;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{FromRow, PgPool};

use super::{CreditError, BALANCE};
use crate::store::status::GrantStatus;
use crate::store::OrgId;

/// A grant with its balance, as listed.
#[derive(Debug, Clone, Serialize, FromRow)]
#[serde(rename_all = "camelCase")]
pub struct GrantView {
    /// Grant id.
    pub id: String,
    /// Account.
    pub account_id: String,
    /// Currency.
    pub currency: String,
    /// Amount granted.
    pub amount: Decimal,
    /// What is left (from the ledger).
    pub balance: Decimal,
    /// Why.
    pub purpose: String,
    /// Lower is consumed first.
    pub priority: i32,
    /// Usable from.
    pub effective_from: DateTime<Utc>,
    /// Usable until.
    pub effective_until: Option<DateTime<Utc>>,
    /// Lines it may pay.
    pub applicable_entity_ids: Vec<String>,
    /// ACTIVE, CONSUMED, EXPIRED, VOIDED.
    pub status: GrantStatus,
    /// Its idempotency key.
    pub idempotency_key: String,
    /// The invoice that sold it, if any.
    pub source_invoice_id: Option<String>,
}

/// Grants of an organisation (optionally of one account), oldest first, each with its
/// balance from the ledger; amounts at the currency's scale. An unknown account has
/// no grants (an empty list).
pub async fn list(
    pool: &PgPool,
    org: &OrgId,
    account: Option<&str>,
) -> Result<Vec<GrantView>, CreditError> {
    let sql = format!(
        "SELECT g.id, g.account_id, g.currency, g.amount, {BALANCE} AS balance, g.purpose, g.priority,
                g.effective_from, g.effective_until, g.applicable_entity_ids, g.status, g.idempotency_key,
                g.source_invoice_id
         FROM credit_grants g WHERE g.org_id = $1 AND ($2::text IS NULL OR g.account_id = $2)
         ORDER BY g.created_at, g.id"
    );
    let grants: Vec<GrantView> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(account)
        .fetch_all(pool)
        .await?;
    Ok(grants
        .into_iter()
        .map(|mut g| {
            // The currency's decimals (a zero NUMERIC reads back without its scale).
            if let Ok(c) = Currency::parse(&g.currency) {
                g.amount = c.round(g.amount, Default::default());
                g.balance = c.round(g.balance, Default::default());
            }
            g
        })
        .collect())
}

/// One movement of the ledger.
#[derive(Debug, Clone, Serialize, FromRow)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntry {
    /// The entry's id (the order it was recorded in; the ledger is listed by `at`).
    pub id: i64,
    /// The grant.
    pub grant_id: String,
    /// GRANTED, CONSUMED (on an invoice), RESTORED (given back by the invoice's void),
    /// EXPIRED, VOIDED (with an invoice when that invoice's void caused it).
    pub kind: String,
    /// Positive amount, at the currency's scale (USD 80.00, JPY 80, BHD 80.000);
    /// a string in JSON, like every amount.
    pub amount: Decimal,
    /// The grant's currency.
    pub currency: String,
    /// The invoice: for CONSUMED and RESTORED, and for EXPIRED / VOIDED entries a
    /// void caused.
    pub invoice_id: Option<String>,
    /// When the movement takes effect (UTC): a grant when it becomes usable (its
    /// effectiveFrom, else the granting job's as_of), a consumption at the
    /// finalization's as_of, an expiry at the grant's end, an operator's void or an
    /// invoice's void (and what it gives back or takes away) at the void's as_of.
    pub at: DateTime<Utc>,
}

/// The ledger of an account's grants, in the order the movements take effect: by
/// `at`, then GRANTED, RESTORED, CONSUMED, EXPIRED, VOIDED (a grant before what uses
/// it, what a void gives back before what it takes away), then the order they were recorded in.
pub async fn ledger(
    pool: &PgPool,
    org: &OrgId,
    account: &str,
) -> Result<Vec<LedgerEntry>, CreditError> {
    Ok(sqlx::query_as(
        "SELECT t.id, t.grant_id, t.kind, t.amount, g.currency, t.invoice_id, t.at
         FROM credit_transactions t JOIN credit_grants g ON g.org_id = t.org_id AND g.id = t.grant_id
         WHERE t.org_id = $1 AND g.account_id = $2
         ORDER BY t.at,
                  array_position(ARRAY['GRANTED', 'RESTORED', 'CONSUMED', 'EXPIRED', 'VOIDED'], t.kind),
                  t.id",
    )
    .bind(org)
    .bind(account)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|mut e: LedgerEntry| {
        e.amount = at_scale(&e.currency, e.amount);
        e
    })
    .collect())
}

/// `amount` with exactly the currency's decimals (a NUMERIC written without its
/// scale, e.g. an old `80`, reads back as `80`).
fn at_scale(currency: &str, amount: Decimal) -> Decimal {
    match Currency::parse(currency) {
        Ok(c) => c.round(amount, Default::default()),
        Err(_) => amount,
    }
}

/// Balance of an account's ACTIVE grants per currency, from the ledger, at the
/// currency's scale: `(currency, amount)` by currency code (empty: no usable credits).
/// An account that does not exist in the organisation is [`CreditError::NotFound`].
pub async fn balance(
    pool: &PgPool,
    org: &OrgId,
    account: &str,
) -> Result<Vec<(String, Decimal)>, CreditError> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM accounts WHERE org_id = $1 AND id = $2)")
            .bind(org)
            .bind(account)
            .fetch_one(pool)
            .await?;
    if !exists {
        return Err(CreditError::NotFound {
            org: org.to_string(),
            what: "account",
            id: account.to_string(),
        });
    }
    let sql = format!(
        "SELECT g.currency, coalesce(sum({BALANCE}), 0) FROM credit_grants g
         WHERE g.org_id = $1 AND g.account_id = $2 AND g.status = 'ACTIVE' GROUP BY g.currency ORDER BY 1"
    );
    let rows: Vec<(String, Decimal)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(account)
        .fetch_all(pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(c, a)| {
            let a = at_scale(&c, a);
            (c, a)
        })
        .collect())
}
