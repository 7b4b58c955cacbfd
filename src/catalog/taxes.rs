//! Taxes' configuration (README "Taxes"): the organisation's tax rates, and the tax
//! id and treatment of customers and accounts. The rules (which rate applies,
//! rounding once per rate) are the core's [`billrun_core::tax`]; this module stores
//! what they read. Every change marks the organisation's (or the account's) DRAFT
//! invoices stale, so that the next cycle-close recomputes their taxes; finalized
//! invoices never change.

use billrun_core::tax::{TaxRate, TaxTreatment};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use super::{CatalogError, Result};
use crate::store::OrgId;

type RateRow = (
    String,
    String,
    String,
    Decimal,
    Option<NaiveDate>,
    Option<NaiveDate>,
    bool,
);

fn rate(r: RateRow) -> TaxRate {
    TaxRate {
        code: r.0,
        name: r.1,
        category: r.2,
        percentage: r.3.normalize(),
        valid_from: r.4,
        valid_until: r.5,
        is_default: r.6,
    }
}

/// The organisation's rates, by code then start date (none first). Rows are valid
/// by the table's checks.
pub async fn read_rates(
    conn: &mut PgConnection,
    org: &str,
) -> std::result::Result<Vec<TaxRate>, sqlx::Error> {
    let rows: Vec<RateRow> = sqlx::query_as(
        "SELECT code, name, category, percentage, valid_from, valid_until, is_default
         FROM tax_rates WHERE org_id = $1 ORDER BY code, valid_from NULLS FIRST",
    )
    .bind(org)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(rate).collect())
}

async fn ensure_org(conn: &mut PgConnection, org: &OrgId) -> Result<()> {
    // Locks the organisation's row: rate changes of one organisation are serialised,
    // so the overlap checks below see every other change.
    let found: Option<String> =
        sqlx::query_scalar("SELECT id FROM organisations WHERE id = $1 FOR UPDATE")
            .bind(org)
            .fetch_optional(&mut *conn)
            .await?;
    found.map(drop).ok_or_else(|| CatalogError::NotFound {
        what: "organisation",
        org: org.to_string(),
        id: org.to_string(),
    })
}

/// The organisation's rates ([`read_rates`]); errors: no such organisation.
pub async fn list_rates(pool: &PgPool, org: &OrgId) -> Result<Vec<TaxRate>> {
    let mut tx = pool.begin().await?;
    ensure_org(&mut tx, org).await?;
    let rates = read_rates(&mut tx, org).await?;
    tx.commit().await?;
    Ok(rates)
}

fn overlap(a: &TaxRate, b: &TaxRate) -> bool {
    let starts_before_end = |x: &TaxRate, y: &TaxRate| match (x.valid_from, y.valid_until) {
        (Some(f), Some(u)) => f < u,
        _ => true,
    };
    starts_before_end(a, b) && starts_before_end(b, a)
}

/// Creates or replaces the rate of `rate.code` starting `rate.valid_from` (a rate
/// change is a new row of the same code, and `valid_until` on the old one), in one
/// transaction. Errors: a field ([`TaxRate::check`]); a Conflict when two rows of a
/// code, or two default rows, would overlap in dates (the rate of a day must be
/// one); no such organisation. Marks the organisation's drafts stale.
pub async fn put_rate(pool: &PgPool, org: &OrgId, new: &TaxRate) -> Result<TaxRate> {
    new.check()?;
    let mut tx = pool.begin().await?;
    ensure_org(&mut tx, org).await?;
    let others: Vec<TaxRate> = read_rates(&mut tx, org)
        .await?
        .into_iter()
        .filter(|r| !(r.code == new.code && r.valid_from == new.valid_from))
        .collect();
    let span = |r: &TaxRate| {
        format!(
            "{} to {}",
            r.valid_from
                .map_or("the beginning".into(), |d| d.to_string()),
            r.valid_until
                .map_or("no end".into(), |d| format!("{d} (exclusive)"))
        )
    };
    if let Some(o) = others
        .iter()
        .find(|o| o.code == new.code && overlap(o, new))
    {
        return Err(CatalogError::Conflict(format!(
            "tax rate {:?} already has a row valid from {}: the rows of a code must not overlap (end the other with validUntil first)",
            new.code,
            span(o)
        )));
    }
    if new.is_default {
        if let Some(o) = others.iter().find(|o| o.is_default && overlap(o, new)) {
            return Err(CatalogError::Conflict(format!(
                "tax rate {:?} is the default from {}: only one default rate may apply on a day",
                o.code,
                span(o)
            )));
        }
    }
    sqlx::query(
        "INSERT INTO tax_rates (org_id, code, name, category, percentage, valid_from, valid_until, is_default)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (org_id, code, coalesce(valid_from, '-infinity'::date))
         DO UPDATE SET name = EXCLUDED.name, category = EXCLUDED.category,
             percentage = EXCLUDED.percentage, valid_until = EXCLUDED.valid_until,
             is_default = EXCLUDED.is_default, updated_at = now()",
    )
    .bind(org)
    .bind(&new.code)
    .bind(&new.name)
    .bind(&new.category)
    .bind(new.percentage)
    .bind(new.valid_from)
    .bind(new.valid_until)
    .bind(new.is_default)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE invoices SET stale = true WHERE org_id = $1 AND status = 'DRAFT'")
        .bind(org)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let mut stored = new.clone();
    stored.percentage = stored.percentage.normalize();
    Ok(stored)
}

/// Whom a tax setting is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaxParty {
    /// A customer (its accounts inherit it unless they have their own).
    Customer,
    /// An account (overrides its customer's).
    Account,
}

impl TaxParty {
    fn what(self) -> &'static str {
        match self {
            TaxParty::Customer => "customer",
            TaxParty::Account => "account",
        }
    }
}

/// A customer's or account's tax id and treatment (`None`: not set; an account's
/// unset treatment is its customer's, a customer's is STANDARD).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaxSettings {
    /// The customer's or account's id.
    pub id: String,
    /// Its VAT / tax id as printed on invoices (e.g. `"FR40303265045"`).
    pub tax_id: Option<String>,
    /// Its treatment, if set.
    pub tax_treatment: Option<TaxTreatment>,
}

/// Sets (replaces) the tax id and treatment of a customer or account; marks the
/// drafts of the accounts concerned stale. Errors: a tax id longer than 64
/// characters or with control characters (field `taxId`); no such customer/account.
pub async fn set_tax(
    pool: &PgPool,
    org: &OrgId,
    party: TaxParty,
    id: &str,
    settings: &TaxSettings,
) -> Result<TaxSettings> {
    let tax_id = settings
        .tax_id
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    if let Some(t) = tax_id {
        if t.chars().count() > 64 || t.chars().any(char::is_control) {
            return Err(billrun_core::FieldError::new(
                "taxId",
                format!("{t:?} is not a tax id: expected at most 64 printable characters (e.g. \"DE123456789\")"),
            )
            .into());
        }
    }
    let mut tx = pool.begin().await?;
    let (update, stale) = match party {
        TaxParty::Customer => (
            "UPDATE customers SET tax_id = $3, tax_treatment = $4 WHERE org_id = $1 AND id = $2",
            "UPDATE invoices SET stale = true WHERE org_id = $1 AND status = 'DRAFT'
               AND account_id IN (SELECT id FROM accounts WHERE org_id = $1 AND customer_id = $2)",
        ),
        TaxParty::Account => (
            "UPDATE accounts SET tax_id = $3, tax_treatment = $4 WHERE org_id = $1 AND id = $2",
            "UPDATE invoices SET stale = true WHERE org_id = $1 AND status = 'DRAFT' AND account_id = $2",
        ),
    };
    let done = sqlx::query(update)
        .bind(org)
        .bind(id)
        .bind(tax_id)
        .bind(settings.tax_treatment.map(|t| t.as_str()))
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(CatalogError::NotFound {
            what: party.what(),
            org: org.to_string(),
            id: id.to_string(),
        });
    }
    sqlx::query(stale)
        .bind(org)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(TaxSettings {
        id: id.to_string(),
        tax_id: tax_id.map(str::to_string),
        tax_treatment: settings.tax_treatment,
    })
}

/// A customer's or account's tax settings. Errors: no such customer/account.
pub async fn get_tax(pool: &PgPool, org: &OrgId, party: TaxParty, id: &str) -> Result<TaxSettings> {
    let select = match party {
        TaxParty::Customer => {
            "SELECT tax_id, tax_treatment FROM customers WHERE org_id = $1 AND id = $2"
        }
        TaxParty::Account => {
            "SELECT tax_id, tax_treatment FROM accounts WHERE org_id = $1 AND id = $2"
        }
    };
    let row: Option<(Option<String>, Option<String>)> = sqlx::query_as(select)
        .bind(org)
        .bind(id)
        .fetch_optional(pool)
        .await?;
    let (tax_id, treatment) = row.ok_or_else(|| CatalogError::NotFound {
        what: party.what(),
        org: org.to_string(),
        id: id.to_string(),
    })?;
    Ok(TaxSettings {
        id: id.to_string(),
        tax_id,
        tax_treatment: treatment.map(|t| TaxTreatment::parse(&t)).transpose()?,
    })
}
