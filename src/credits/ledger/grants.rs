//! Requesting grants: validating a [`NewGrant`], and recording one ([`grant`]) or a
//! chunk's ([`grant_many`]) with their GRANTED transactions, once per idempotency key.

use billrun_core::Currency;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use super::{invalid, CreditError};

/// A grant as requested (by an operator, or derived from a rate card). The `grant` of
/// a `credit-grant` job's payload, shown by `billrun jobs show --json`: camelCase,
/// Togai's names (`effectiveFrom`, `applicableEntityIds`, `idempotencyKey`); the
/// snake_case names of jobs enqueued before are accepted too.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewGrant {
    /// The account.
    pub account: String,
    /// Amount, positive, in `currency`.
    pub amount: Decimal,
    /// Must be the account's invoice currency.
    pub currency: String,
    /// Why (shown on invoices).
    #[serde(default)]
    pub purpose: String,
    /// Lower is consumed first (default 1).
    #[serde(default = "default_priority")]
    pub priority: u32,
    /// Usable from (default: the job's `as_of`).
    #[serde(default, alias = "effective_from")]
    pub effective_from: Option<DateTime<Utc>>,
    /// Usable until (exclusive); none: no expiry.
    #[serde(default, alias = "effective_until")]
    pub effective_until: Option<DateTime<Utc>>,
    /// Togai's `applicableEntityIds` (empty: every line).
    #[serde(default, alias = "applicable_entity_ids")]
    pub applicable_entity_ids: Vec<String>,
    /// The same key twice grants once.
    #[serde(alias = "idempotency_key")]
    pub idempotency_key: String,
}

fn default_priority() -> u32 {
    1
}

impl NewGrant {
    /// Checks what can be checked without the database.
    pub fn validate(&self) -> Result<(), CreditError> {
        if self.amount <= Decimal::ZERO {
            return Err(invalid(
                "amount",
                format!(
                    "{} is not positive: a grant gives a positive amount",
                    self.amount
                ),
            ));
        }
        let currency =
            Currency::parse(&self.currency).map_err(|e| invalid("currency", e.message))?;
        if self.amount.normalize().scale() > currency.minor_units() {
            return Err(invalid(
                "amount",
                format!(
                    "{} has more decimals than {} allows ({})",
                    self.amount,
                    currency,
                    currency.minor_units()
                ),
            ));
        }
        if let (Some(from), Some(until)) = (self.effective_from, self.effective_until) {
            if until <= from {
                return Err(invalid(
                    "effectiveUntil",
                    format!("{until} is not after effectiveFrom {from}"),
                ));
            }
        }
        if self.idempotency_key.trim().is_empty() {
            return Err(invalid("idempotencyKey", "must not be empty"));
        }
        if self.account.trim().is_empty() {
            return Err(invalid("accountId", "must not be empty"));
        }
        Ok(())
    }
}

/// The outcome of a grant request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "grantId", rename_all = "snake_case")]
pub enum Granted {
    /// A new grant.
    New(String),
    /// The key was used before: that grant (nothing granted again).
    Existing(String),
}

impl Granted {
    /// The grant's id.
    pub fn id(&self) -> &str {
        match self {
            Granted::New(id) | Granted::Existing(id) => id,
        }
    }
}

/// Checks a grant as [`grant`] would record it as of `as_of`, without writing: the
/// request itself ([`NewGrant::validate`]), the account (it must exist in `org`:
/// [`CreditError::NotFound`]), its invoice currency (the grant's, else the grant could
/// never be used), and the end after the start (`effectiveFrom`, default `as_of`).
/// What an operator's request is checked with before its `credit-grant` job is
/// enqueued, so that a refusal is an answer, not a dead job.
pub async fn check_grant(
    conn: &mut PgConnection,
    org: &str,
    g: &NewGrant,
    as_of: DateTime<Utc>,
) -> Result<(), CreditError> {
    g.validate()?;
    let currency: Option<String> =
        sqlx::query_scalar("SELECT invoice_currency FROM accounts WHERE org_id = $1 AND id = $2")
            .bind(org)
            .bind(&g.account)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(currency) = currency else {
        return Err(CreditError::NotFound {
            org: org.into(),
            what: "account",
            id: g.account.clone(),
        });
    };
    if currency != g.currency {
        return Err(invalid(
            "currency",
            format!(
                "account {} invoices in {currency}; a grant in {} could never be used",
                g.account, g.currency
            ),
        ));
    }
    let from = g.effective_from.unwrap_or(as_of);
    if let Some(until) = g.effective_until {
        if until <= from {
            return Err(invalid(
                "effectiveUntil",
                format!("{until} is not after effectiveFrom {from}"),
            ));
        }
    }
    check_key(conn, org, g).await
}

/// An idempotency key names one grant: a request that reuses the key of a recorded
/// grant must ask for the same grant (a retry), else it is refused
/// ([`CreditError::KeyReused`]) instead of silently answering with the other grant.
/// `effectiveFrom` is compared only when the request gives one (absent, it is the
/// instant of the request, which a retry does not repeat).
async fn check_key(conn: &mut PgConnection, org: &str, g: &NewGrant) -> Result<(), CreditError> {
    type Stored = (
        String,
        String,
        String,
        Decimal,
        String,
        i32,
        DateTime<Utc>,
        Option<DateTime<Utc>>,
        Vec<String>,
    );
    let stored: Option<Stored> = sqlx::query_as(
        "SELECT id, account_id, currency, amount, purpose, priority, effective_from,
                effective_until, applicable_entity_ids
         FROM credit_grants WHERE org_id = $1 AND idempotency_key = $2",
    )
    .bind(org)
    .bind(&g.idempotency_key)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((id, account, currency, amount, purpose, priority, from, until, applies)) = stored
    else {
        return Ok(());
    };
    let mut differs = Vec::new();
    if account != g.account {
        differs.push(format!("account {account}, not {}", g.account));
    }
    if currency != g.currency {
        differs.push(format!("currency {currency}, not {}", g.currency));
    }
    if amount != g.amount {
        differs.push(format!("amount {amount}, not {}", g.amount));
    }
    if purpose != g.purpose {
        differs.push(format!("purpose {purpose:?}, not {:?}", g.purpose));
    }
    if priority != g.priority as i32 {
        differs.push(format!("priority {priority}, not {}", g.priority));
    }
    if g.effective_from.is_some_and(|f| f != from) {
        differs.push(format!("effectiveFrom {from}"));
    }
    if until != g.effective_until {
        differs.push("effectiveUntil".to_string());
    }
    if applies != g.applicable_entity_ids {
        differs.push("applicableEntityIds".to_string());
    }
    if differs.is_empty() {
        Ok(())
    } else {
        Err(CreditError::KeyReused {
            key: g.idempotency_key.clone(),
            grant: id,
            differs: differs.join(", "),
        })
    }
}

/// Records a grant and its GRANTED transaction, once per idempotency key, after
/// [`check_grant`]. It is usable from its `effectiveFrom`, else `as_of`; `source` is
/// the invoice and rate card that sold it, if any.
pub async fn grant(
    conn: &mut PgConnection,
    org: &str,
    g: &NewGrant,
    source: Option<(&str, &str)>,
    as_of: DateTime<Utc>,
) -> Result<Granted, CreditError> {
    check_grant(conn, org, g, as_of).await?;
    let from = g.effective_from.unwrap_or(as_of);
    // Stored at the currency's scale (validate() refused more decimals).
    let amount = Currency::parse(&g.currency)
        .map(|c| c.round(g.amount, Default::default()))
        .unwrap_or(g.amount);
    let id = format!("cg_{}", ulid::Ulid::generate());
    let inserted: Option<String> = sqlx::query_scalar(
        "INSERT INTO credit_grants (org_id, id, account_id, currency, amount, purpose, priority,
             effective_from, effective_until, applicable_entity_ids, idempotency_key,
             source_invoice_id, source_card, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
         ON CONFLICT ON CONSTRAINT credit_grants_key_unique DO NOTHING
         RETURNING id",
    )
    .bind(org)
    .bind(&id)
    .bind(&g.account)
    .bind(&g.currency)
    .bind(amount)
    .bind(&g.purpose)
    .bind(g.priority as i32)
    .bind(from)
    .bind(g.effective_until)
    .bind(&g.applicable_entity_ids)
    .bind(&g.idempotency_key)
    .bind(source.map(|s| s.0))
    .bind(source.map(|s| s.1))
    .bind(as_of)
    .fetch_optional(&mut *conn)
    .await?;
    match inserted {
        Some(id) => {
            sqlx::query(
                "INSERT INTO credit_transactions (org_id, grant_id, kind, amount, at) VALUES ($1, $2, 'GRANTED', $3, $4)",
            )
            .bind(org)
            .bind(&id)
            .bind(amount)
            // A grant takes effect when it becomes usable.
            .bind(from)
            .execute(&mut *conn)
            .await?;
            Ok(Granted::New(id))
        }
        None => {
            let id: String = sqlx::query_scalar(
                "SELECT id FROM credit_grants WHERE org_id = $1 AND idempotency_key = $2",
            )
            .bind(org)
            .bind(&g.idempotency_key)
            .fetch_one(&mut *conn)
            .await?;
            Ok(Granted::Existing(id))
        }
    }
}

/// Records many grants at once (one statement for the grants, one for their
/// GRANTED entries), each once per idempotency key, like [`grant`]: what a job that
/// grants to a whole chunk of accounts uses. Each account's invoice currency must be
/// the grant's (checked in the same statement: a grant that does not match is an
/// error naming the account). Returns how many were new.
pub async fn grant_many(
    conn: &mut PgConnection,
    org: &str,
    grants: &[NewGrant],
    as_of: DateTime<Utc>,
) -> Result<u64, CreditError> {
    if grants.is_empty() {
        return Ok(0);
    }
    for g in grants {
        g.validate()?;
    }
    let accounts: Vec<&str> = grants.iter().map(|g| g.account.as_str()).collect();
    let currencies: Vec<&str> = grants.iter().map(|g| g.currency.as_str()).collect();
    let mismatched: Vec<(String, String)> = sqlx::query_as(
        "SELECT u.account_id, coalesce(a.invoice_currency, 'none: no such account')
         FROM unnest($2::text[], $3::text[]) AS u(account_id, currency)
         LEFT JOIN accounts a ON a.org_id = $1 AND a.id = u.account_id
         WHERE a.invoice_currency IS DISTINCT FROM u.currency",
    )
    .bind(org)
    .bind(&accounts)
    .bind(&currencies)
    .fetch_all(&mut *conn)
    .await?;
    if let Some((account, currency)) = mismatched.first() {
        return Err(invalid(
            "currency",
            format!("account {account} invoices in {currency}; a grant in another currency could never be used"),
        ));
    }
    let ids: Vec<String> = grants
        .iter()
        .map(|_| format!("cg_{}", ulid::Ulid::generate()))
        .collect();
    let amounts: Vec<Decimal> = grants
        .iter()
        .map(|g| {
            Currency::parse(&g.currency)
                .map(|c| c.round(g.amount, Default::default()))
                .unwrap_or(g.amount)
        })
        .collect();
    let purposes: Vec<&str> = grants.iter().map(|g| g.purpose.as_str()).collect();
    let priorities: Vec<i32> = grants.iter().map(|g| g.priority as i32).collect();
    let froms: Vec<DateTime<Utc>> = grants
        .iter()
        .map(|g| g.effective_from.unwrap_or(as_of))
        .collect();
    let untils: Vec<Option<DateTime<Utc>>> = grants.iter().map(|g| g.effective_until).collect();
    // Arrays of arrays must be rectangular: applicable ids travel as JSON.
    let applicable: Vec<serde_json::Value> = grants
        .iter()
        .map(|g| serde_json::json!(g.applicable_entity_ids))
        .collect();
    let keys: Vec<&str> = grants.iter().map(|g| g.idempotency_key.as_str()).collect();
    let inserted: Vec<(String, Decimal, DateTime<Utc>)> = sqlx::query_as(
        "INSERT INTO credit_grants (org_id, id, account_id, currency, amount, purpose, priority,
             effective_from, effective_until, applicable_entity_ids, idempotency_key, created_at)
         SELECT $1, u.id, u.account_id, u.currency, u.amount, u.purpose, u.priority, u.effective_from,
                u.effective_until, ARRAY(SELECT jsonb_array_elements_text(u.applicable)), u.key, $12
         FROM unnest($2::text[], $3::text[], $4::text[], $5::numeric[], $6::text[], $7::int[],
                     $8::timestamptz[], $9::timestamptz[], $10::jsonb[], $11::text[])
           AS u(id, account_id, currency, amount, purpose, priority, effective_from, effective_until,
                applicable, key)
         ON CONFLICT ON CONSTRAINT credit_grants_key_unique DO NOTHING
         RETURNING id, amount, effective_from",
    )
    .bind(org)
    .bind(&ids)
    .bind(&accounts)
    .bind(&currencies)
    .bind(&amounts)
    .bind(&purposes)
    .bind(&priorities)
    .bind(&froms)
    .bind(&untils)
    .bind(&applicable)
    .bind(&keys)
    .bind(as_of)
    .fetch_all(&mut *conn)
    .await?;
    let mut new_ids = Vec::with_capacity(inserted.len());
    let mut new_amounts = Vec::with_capacity(inserted.len());
    let mut new_froms = Vec::with_capacity(inserted.len());
    for (id, amount, from) in inserted {
        new_ids.push(id);
        new_amounts.push(amount);
        new_froms.push(from);
    }
    // Each GRANTED entry takes effect when its grant becomes usable.
    sqlx::query(
        "INSERT INTO credit_transactions (org_id, grant_id, kind, amount, at)
         SELECT $1, u.id, 'GRANTED', u.amount, u.at
         FROM unnest($2::text[], $3::numeric[], $4::timestamptz[]) AS u(id, amount, at)",
    )
    .bind(org)
    .bind(&new_ids)
    .bind(&new_amounts)
    .bind(&new_froms)
    .execute(&mut *conn)
    .await?;
    Ok(new_ids.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn g(amount: Decimal, currency: &str) -> NewGrant {
        NewGrant {
            account: "a".into(),
            amount,
            currency: currency.into(),
            purpose: String::new(),
            priority: 1,
            effective_from: None,
            effective_until: None,
            applicable_entity_ids: vec![],
            idempotency_key: "k".into(),
        }
    }

    #[test]
    fn bad_grants_are_refused_naming_the_field() {
        let e = g(dec!(-5), "USD").validate().unwrap_err();
        assert!(
            e.to_string().starts_with("amount: -5 is not positive"),
            "{e}"
        );
        let e = g(dec!(1.001), "USD").validate().unwrap_err();
        assert!(e.to_string().contains("more decimals than USD"), "{e}");
        let e = g(dec!(5), "XYZ").validate().unwrap_err();
        assert!(
            e.to_string().starts_with("currency: unknown currency"),
            "{e}"
        );
        let mut bad = g(dec!(5), "USD");
        bad.effective_from = Some("2026-02-01T00:00:00Z".parse().unwrap());
        bad.effective_until = Some("2026-01-01T00:00:00Z".parse().unwrap());
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("effectiveUntil: "));
        assert!(g(dec!(5), "JPY").validate().is_ok());
    }
}
