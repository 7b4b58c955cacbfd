//! Grants and ledger in the database.

use std::collections::HashMap;

use billrun_core::credits::{apply, Credit, Eligibility};
use billrun_core::invoice::InvoiceLines;
use billrun_core::plan::{ExpiryType, InvoiceTiming, Plan};
use billrun_core::Currency;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{FromRow, PgConnection, PgPool};

use crate::store::status::GrantStatus;

/// Why a grant or a credit operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum CreditError {
    /// A field of the request is wrong.
    #[error("{field}: {message}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// What was wrong and what was expected.
        message: String,
    },
    /// No such grant or account.
    #[error("organisation {org} has no {what} {id}")]
    NotFound {
        /// Organisation.
        org: String,
        /// "account" or "credit grant".
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The grant is not in a state the operation applies to.
    #[error("credit grant {id} is {status}: {action} applies only to ACTIVE grants")]
    WrongStatus {
        /// The grant.
        id: String,
        /// Its status.
        status: String,
        /// What was asked.
        action: &'static str,
    },
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

fn invalid(field: &'static str, message: impl Into<String>) -> CreditError {
    CreditError::Invalid {
        field,
        message: message.into(),
    }
}

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

/// Records a grant and its GRANTED transaction, once per idempotency key.
pub async fn grant(
    conn: &mut PgConnection,
    org: &str,
    g: &NewGrant,
    source: Option<(&str, &str)>,
    as_of: DateTime<Utc>,
) -> Result<Granted, CreditError> {
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
    // Stored at the currency's scale (validate() refused more decimals).
    let amount = Currency::parse(&g.currency)
        .map(|c| c.round(g.amount, Default::default()))
        .unwrap_or(g.amount);
    if let Some(until) = g.effective_until {
        if until <= from {
            return Err(invalid(
                "effectiveUntil",
                format!("{until} is not after effectiveFrom {from}"),
            ));
        }
    }
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

/// A grant's balance from its ledger (GRANTED and RESTORED add, the rest take away),
/// for a grant row `g`.
pub(super) const BALANCE: &str =
    "(SELECT coalesce(sum(CASE WHEN t.kind IN ('GRANTED', 'RESTORED') THEN t.amount ELSE -t.amount END), 0)
      FROM credit_transactions t WHERE t.org_id = g.org_id AND t.grant_id = g.id)";

/// Grants of an organisation (optionally of one account), oldest first.
pub async fn list(
    pool: &PgPool,
    org: &str,
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
    org: &str,
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
/// currency's scale.
pub async fn balance(
    pool: &PgPool,
    org: &str,
    account: &str,
) -> Result<Vec<(String, Decimal)>, CreditError> {
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

/// Voids an ACTIVE grant: what is left is recorded as VOIDED.
pub async fn void(
    pool: &PgPool,
    org: &str,
    grant_id: &str,
    as_of: DateTime<Utc>,
) -> Result<GrantView, CreditError> {
    let mut tx = pool.begin().await?;
    let status: Option<GrantStatus> = sqlx::query_scalar(
        "SELECT status FROM credit_grants WHERE org_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(org)
    .bind(grant_id)
    .fetch_optional(&mut *tx)
    .await?;
    match status {
        None => {
            return Err(CreditError::NotFound {
                org: org.into(),
                what: "credit grant",
                id: grant_id.into(),
            })
        }
        Some(GrantStatus::Active) => {}
        Some(s) => {
            return Err(CreditError::WrongStatus {
                id: grant_id.into(),
                status: s.to_string(),
                action: "void",
            })
        }
    }
    close_grants(&mut tx, org, &[grant_id.to_string()], "VOIDED", as_of).await?;
    tx.commit().await?;
    let view = list(pool, org, None)
        .await?
        .into_iter()
        .find(|g| g.id == grant_id);
    Ok(view.expect("the grant was just voided"))
}

/// Records the remaining balance of (locked) grants as `kind` and sets their status.
/// An expiry takes effect at the grant's end, a void at `as_of`.
async fn close_grants(
    conn: &mut PgConnection,
    org: &str,
    ids: &[String],
    kind: &'static str,
    as_of: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let sql = format!(
        "INSERT INTO credit_transactions (org_id, grant_id, kind, amount, at)
         SELECT g.org_id, g.id, '{kind}', b.balance,
                CASE WHEN '{kind}' = 'EXPIRED' THEN coalesce(g.effective_until, $3) ELSE $3 END
         FROM credit_grants g, LATERAL (SELECT {BALANCE} AS balance) b
         WHERE g.org_id = $1 AND g.id = ANY($2) AND b.balance > 0"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(ids)
        .bind(as_of)
        .execute(&mut *conn)
        .await?;
    Ok(sqlx::query("UPDATE credit_grants SET status = $3 WHERE org_id = $1 AND id = ANY($2) AND status = 'ACTIVE'")
        .bind(org)
        .bind(ids)
        .bind(kind)
        .execute(&mut *conn)
        .await?
        .rows_affected())
}

/// Expires every ACTIVE grant (of `org`, or all) whose end has passed at `as_of`,
/// recording what was left. Running it again expires nothing more.
///
/// A grant still waits while an invoice that may use it is not finalized yet: while
/// its account has an OPEN billing cycle or a DRAFT invoice whose in-arrears period
/// starts before the grant's end (the cycle's usage, billed after the cycle and its
/// grace period, may be paid by the cycle's credits: README "Credits"). It expires at
/// the first run after those invoices are finalized.
pub async fn expire(
    pool: &PgPool,
    org: Option<&str>,
    as_of: DateTime<Utc>,
) -> Result<u64, CreditError> {
    let mut tx = pool.begin().await?;
    let due: Vec<(String, String)> = sqlx::query_as(
        "SELECT g.org_id, g.id FROM credit_grants g
         WHERE g.status = 'ACTIVE' AND g.effective_until <= $1 AND ($2::text IS NULL OR g.org_id = $2)
           AND NOT EXISTS (SELECT 1 FROM billing_cycles c
                           WHERE c.org_id = g.org_id AND c.account_id = g.account_id
                             AND c.status = 'OPEN' AND c.starts_at < g.effective_until)
           AND NOT EXISTS (SELECT 1 FROM invoices i
                           WHERE i.org_id = g.org_id AND i.account_id = g.account_id
                             AND i.status = 'DRAFT' AND i.closing_starts_at < g.effective_until)
         ORDER BY g.org_id, g.id FOR UPDATE OF g",
    )
    .bind(as_of)
    .bind(org)
    .fetch_all(&mut *tx)
    .await?;
    let mut by_org: HashMap<String, Vec<String>> = HashMap::new();
    for (o, id) in due {
        by_org.entry(o).or_default().push(id);
    }
    let mut n = 0;
    for (o, ids) in by_org {
        n += close_grants(&mut tx, &o, &ids, "EXPIRED", as_of).await?;
    }
    tx.commit().await?;
    Ok(n)
}

/// A draft being finalized, as credits see it.
#[derive(Clone)]
pub struct Finalizing {
    /// Invoice id.
    pub id: String,
    /// Its account.
    pub account_id: String,
    /// Its lines (credits are applied to them in place).
    pub lines: InvoiceLines,
    /// The account's timezone: the local days of the lines' periods are read in it.
    pub timezone: chrono_tz::Tz,
}

/// Applies each account's usable grants to its invoices being finalized, in the
/// finalization's transaction: locks the grants, reads their balances from the
/// ledger, records CONSUMED transactions, marks emptied grants CONSUMED, and updates
/// the invoices' lines. Returns the credits applied per invoice.
///
/// Usable: ACTIVE (not consumed, voided or expired by `credit-expiry`), started at
/// `as_of`, and for each line valid during the days the line covers
/// ([`billrun_core::credits`]): a grant whose end has passed still pays the lines of
/// the cycle it was valid in (its invoice may be finalized after the end, at the end of
/// a grace period); `credit-expiry` waits for those invoices ([`expire`]).
pub async fn apply_at_finalization(
    conn: &mut PgConnection,
    org: &str,
    invoices: &mut [Finalizing],
    as_of: DateTime<Utc>,
) -> Result<Vec<Decimal>, sqlx::Error> {
    let mut applied = vec![Decimal::ZERO; invoices.len()];
    let accounts: Vec<String> = invoices.iter().map(|i| i.account_id.clone()).collect();
    #[derive(FromRow)]
    struct Row {
        id: String,
        account_id: String,
        currency: String,
        purpose: String,
        priority: i32,
        effective_from: DateTime<Utc>,
        effective_until: Option<DateTime<Utc>>,
        created_at: DateTime<Utc>,
        applicable_entity_ids: Vec<String>,
    }
    let grants: Vec<Row> = sqlx::query_as(
        "SELECT id, account_id, currency, purpose, priority, effective_from, effective_until, created_at,
                applicable_entity_ids
         FROM credit_grants
         WHERE org_id = $1 AND account_id = ANY($2) AND status = 'ACTIVE' AND effective_from <= $3
         ORDER BY id FOR UPDATE",
    )
    .bind(org)
    .bind(&accounts)
    .bind(as_of)
    .fetch_all(&mut *conn)
    .await?;
    if grants.is_empty() {
        return Ok(applied);
    }
    // Balances after the locks: a finalization that held them has committed.
    let ids: Vec<String> = grants.iter().map(|g| g.id.clone()).collect();
    let balances: HashMap<String, Decimal> = sqlx::query_as::<_, (String, Decimal)>(
        "SELECT grant_id, sum(CASE WHEN kind IN ('GRANTED', 'RESTORED') THEN amount ELSE -amount END)
         FROM credit_transactions WHERE org_id = $1 AND grant_id = ANY($2) GROUP BY grant_id",
    )
    .bind(org)
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    let mut credits: Vec<(String, String, String, Credit)> = grants
        .iter()
        .map(|g| {
            (
                g.account_id.clone(),
                g.currency.clone(),
                g.purpose.clone(),
                Credit {
                    grant_id: g.id.clone(),
                    priority: g.priority.max(0) as u32,
                    valid_from: g.effective_from,
                    expires_at: g.effective_until,
                    granted_at: g.created_at,
                    balance: balances.get(&g.id).copied().unwrap_or_default(),
                    eligibility: Eligibility::from_entity_ids(Some(&g.applicable_entity_ids)),
                },
            )
        })
        .collect();
    let (mut tx_grant, mut tx_amount, mut tx_invoice) = (Vec::new(), Vec::new(), Vec::new());
    for (k, inv) in invoices.iter_mut().enumerate() {
        let currency = inv.lines.currency.code().to_string();
        let usable: Vec<Credit> = credits
            .iter()
            .filter(|(a, c, _, cr)| {
                *a == inv.account_id && *c == currency && cr.balance > Decimal::ZERO
            })
            .map(|(.., cr)| cr.clone())
            .collect();
        if usable.is_empty() {
            continue;
        }
        let consumptions = apply(&inv.lines.payables(inv.timezone), &usable);
        if consumptions.is_empty() {
            continue;
        }
        for c in &consumptions {
            let entry = credits
                .iter_mut()
                .find(|(.., cr)| cr.grant_id == c.grant_id)
                .expect("a usable grant");
            entry.3.balance -= c.amount;
        }
        let purposes: HashMap<String, String> = credits
            .iter()
            .map(|(_, _, p, cr)| (cr.grant_id.clone(), p.clone()))
            .collect();
        let name = |id: &str| match purposes.get(id).map(String::as_str) {
            Some("") | None => "Credits".to_string(),
            Some(p) => format!("Credits: {p}"),
        };
        inv.lines.apply_credits(&consumptions, &name);
        applied[k] = inv.lines.total_credits.amount;
        // One ledger entry per grant and invoice.
        let mut per_grant: Vec<(String, Decimal)> = Vec::new();
        for c in &consumptions {
            match per_grant.iter_mut().find(|(g, _)| *g == c.grant_id) {
                Some((_, a)) => *a += c.amount,
                None => per_grant.push((c.grant_id.clone(), c.amount)),
            }
        }
        for (g, a) in per_grant {
            tx_grant.push(g);
            tx_amount.push(a);
            tx_invoice.push(inv.id.clone());
        }
    }
    if !tx_grant.is_empty() {
        sqlx::query(
            "INSERT INTO credit_transactions (org_id, grant_id, kind, amount, invoice_id, at)
             SELECT $1, u.grant_id, 'CONSUMED', u.amount, u.invoice_id, $5
             FROM unnest($2::text[], $3::numeric[], $4::text[]) AS u(grant_id, amount, invoice_id)",
        )
        .bind(org)
        .bind(&tx_grant)
        .bind(&tx_amount)
        .bind(&tx_invoice)
        .bind(as_of)
        .execute(&mut *conn)
        .await?;
        let emptied: Vec<String> = credits
            .iter()
            .filter(|(.., cr)| cr.balance.is_zero() && tx_grant.contains(&cr.grant_id))
            .map(|(.., cr)| cr.grant_id.clone())
            .collect();
        sqlx::query("UPDATE credit_grants SET status = 'CONSUMED' WHERE org_id = $1 AND id = ANY($2) AND status = 'ACTIVE'")
            .bind(org)
            .bind(&emptied)
            .execute(&mut *conn)
            .await?;
    }
    Ok(applied)
}

/// Grants the credits sold by an invoice's CREDIT_GRANT lines: at finalization for
/// IN_ADVANCE and IN_ARREARS cards (`paid = false`), once paid for PREPAID cards
/// (`paid = true`). Usable from the start of the period the line covers; until its end
/// (PRICING_CYCLE), never (NO_EXPIRY), or for `expiryDuration` (CUSTOM: a number of
/// days, or `{"unit": "DAYS" | "WEEKS" | "MONTHS" | "YEARS", "value": n}`). Idempotent
/// per invoice and card.
#[allow(clippy::too_many_arguments)]
pub async fn grant_from_invoice(
    conn: &mut PgConnection,
    org: &str,
    invoice_id: &str,
    account_id: &str,
    lines: &InvoiceLines,
    plan: &Plan,
    tz: chrono_tz::Tz,
    paid: bool,
    as_of: DateTime<Utc>,
) -> Result<u64, CreditError> {
    use billrun_core::cycle::local_start_instant;
    let mut n = 0;
    for line in lines.card_lines() {
        if line.card_kind != Some(billrun_core::plan::CardKind::CreditGrant) {
            continue;
        }
        let Some(card) = plan
            .credit_grant_cards
            .iter()
            .find(|c| Some(&c.card.name) == line.card_name.as_ref())
        else {
            continue;
        };
        if (card.card.invoice_timing == InvoiceTiming::Prepaid) != paid {
            continue;
        }
        let Some(rate) = card.rate_details.get(&lines.currency) else {
            continue;
        };
        let Some(period) = line.period else { continue };
        let from = local_start_instant(period.start, tz);
        let until = match card.grant_details.expiry_type {
            ExpiryType::PricingCycle => Some(local_start_instant(period.end, tz)),
            ExpiryType::NoExpiry => None,
            ExpiryType::Custom => custom_expiry(from, card.grant_details.expiry_duration.as_ref()),
        };
        let g = NewGrant {
            account: account_id.to_string(),
            // In the currency's minor units, like every amount of the ledger.
            amount: lines.currency.round(rate.credit_amount, Default::default()),
            currency: lines.currency.code().to_string(),
            purpose: card.card.display().to_string(),
            priority: card.grant_details.priority,
            effective_from: Some(from),
            effective_until: until,
            applicable_entity_ids: card.grant_details.applicable_entity_ids.clone(),
            idempotency_key: format!("invoice:{invoice_id}:card:{}", card.card.name),
        };
        if let Granted::New(_) =
            grant(conn, org, &g, Some((invoice_id, &card.card.name)), as_of).await?
        {
            n += 1;
        }
    }
    Ok(n)
}

fn custom_expiry(from: DateTime<Utc>, duration: Option<&Value>) -> Option<DateTime<Utc>> {
    let (unit, value) = match duration? {
        Value::Number(n) => ("DAYS", n.as_u64()?),
        Value::Object(o) => (o.get("unit")?.as_str()?, o.get("value")?.as_u64()?),
        _ => return None,
    };
    let months = |m: u64| from.checked_add_months(chrono::Months::new(m as u32));
    match unit {
        "DAYS" => Some(from + chrono::Duration::days(value as i64)),
        "WEEKS" => Some(from + chrono::Duration::weeks(value as i64)),
        "MONTHS" => months(value),
        "YEARS" => months(value * 12),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use serde_json::json;

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

    #[test]
    fn custom_expiry_durations() {
        let from: DateTime<Utc> = "2026-01-31T00:00:00Z".parse().unwrap();
        assert_eq!(
            custom_expiry(from, Some(&json!(30))).unwrap().to_rfc3339(),
            "2026-03-02T00:00:00+00:00"
        );
        assert_eq!(
            custom_expiry(from, Some(&json!({"unit": "MONTHS", "value": 1})))
                .unwrap()
                .to_rfc3339(),
            "2026-02-28T00:00:00+00:00"
        );
        assert_eq!(custom_expiry(from, Some(&json!("soon"))), None);
    }
}
