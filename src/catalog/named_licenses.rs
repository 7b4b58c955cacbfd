//! Named licenses (README "Add-ons and named licenses"; Togai's NAMED_LICENSE add-on
//! type and `NamedLicenseUpdate`): a license whose quantity is the number of named
//! entities (e.g. user ids) an account has on it. A license rate card of `type`
//! NAMED_LICENSE prices it; its license id is the card's `id`, else its name.
//!
//! Each entity is active over `[effective_from, effective_until)`. Adding one writes
//! its row and a RELATIVE +1 license update from the same instant; removing one ends
//! its row and writes a RELATIVE -1 update, in one transaction. So the quantity at any
//! instant is the number of entities active then, and the bill run rates it exactly
//! as a LICENSE card's quantities (a day's quantity is the last of the day, seat
//! changes mid-cycle as `billrun_core::charges` bills them). Ordinary license updates
//! of a named license are refused ([`crate::catalog::licenses::record`]): the entities
//! are the only source of its quantity.

use std::collections::BTreeSet;

use billrun_core::FieldError;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use super::licenses::{check_max_quantity, LicenseUpdate, UpdateType};
use super::{check_id, CatalogError, Result};
use crate::store::OrgId;

/// Every license a NAMED_LICENSE card of some plan version of `org` prices (the
/// cards' ids, else names).
pub async fn named_licenses(conn: &mut PgConnection, org: &str) -> Result<BTreeSet<String>> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT coalesce(c->>'id', c->>'name') FROM price_plan_versions v \
         CROSS JOIN LATERAL jsonb_array_elements(CASE \
             WHEN jsonb_typeof(v.definition->'licenseRateCards') = 'array' \
             THEN v.definition->'licenseRateCards' ELSE '[]'::jsonb END) AS c \
         WHERE v.org_id = $1 AND c->>'type' = 'NAMED_LICENSE'",
    )
    .bind(org)
    .fetch_all(&mut *conn)
    .await?;
    Ok(ids.into_iter().collect())
}

/// Adding or removing a named entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Change {
    /// The entity becomes active (quantity +1).
    Add,
    /// The entity stops being active (quantity -1).
    Remove,
}

/// One entity of an account's named license.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct NamedEntry {
    /// The license (a NAMED_LICENSE card's id, else name).
    pub license_id: String,
    /// The account.
    pub account_id: String,
    /// The entity, e.g. a user id.
    pub name: String,
    /// Active from (inclusive, UTC).
    pub effective_from: DateTime<Utc>,
    /// Active until (exclusive, UTC); `None` while active.
    pub effective_until: Option<DateTime<Utc>>,
}

/// Adds (or removes) `entity` to (from) the account's named license `license` at
/// `at`, and writes the matching RELATIVE +1 (-1) license update, in one
/// transaction. Answers the entity's row after the change.
///
/// Errors (nothing written): ids empty or with whitespace (invalid); the account
/// missing (not found); no plan version has a NAMED_LICENSE card for `license`
/// (invalid, listing the named licenses); adding an entity active at or after `at`
/// (invalid, naming it and since when), or removing one not active at `at` (invalid,
/// naming it); an add that would exceed the card's `maxQuantity` (as license updates).
pub async fn change(
    pool: &PgPool,
    org: &OrgId,
    account: &str,
    license: &str,
    entity: &str,
    change: Change,
    at: DateTime<Utc>,
) -> Result<NamedEntry> {
    check_id("accountId", account)?;
    check_id("licenseId", license)?;
    check_id("name", entity)?;
    let mut tx = pool.begin().await?;
    let exists: Option<String> =
        sqlx::query_scalar("SELECT id FROM accounts WHERE org_id = $1 AND id = $2 FOR UPDATE")
            .bind(org)
            .bind(account)
            .fetch_optional(&mut *tx)
            .await?;
    if exists.is_none() {
        return Err(CatalogError::NotFound {
            what: "account",
            org: org.to_string(),
            id: account.to_string(),
        });
    }
    let named = named_licenses(&mut tx, org).await?;
    if !named.contains(license) {
        return Err(FieldError::new(
            "licenseId",
            format!(
                "no price plan has a NAMED_LICENSE rate card {license:?} (named licenses: {})",
                if named.is_empty() {
                    "none".to_string()
                } else {
                    named.into_iter().collect::<Vec<_>>().join(", ")
                }
            ),
        )
        .into());
    }
    let since: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(&mut *tx)
        .await?;
    let what = format!("entity {entity:?} of license {license:?} of account {account:?}");
    let entry: NamedEntry = match change {
        Change::Add => {
            let active: Option<DateTime<Utc>> = sqlx::query_scalar(
                "SELECT effective_from FROM named_license_entries \
                 WHERE org_id = $1 AND account_id = $2 AND license_id = $3 AND entity = $4 \
                   AND (effective_until IS NULL OR effective_until > $5) \
                 ORDER BY effective_from LIMIT 1",
            )
            .bind(org)
            .bind(account)
            .bind(license)
            .bind(entity)
            .bind(at)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(from) = active {
                return Err(FieldError::new(
                    "name",
                    format!(
                        "{what} is already active (since {}): it cannot be added again",
                        from.to_rfc3339()
                    ),
                )
                .into());
            }
            sqlx::query_as(
                "INSERT INTO named_license_entries \
                 (org_id, account_id, license_id, entity, effective_from) \
                 VALUES ($1, $2, $3, $4, $5) \
                 RETURNING license_id, account_id, entity AS name, effective_from, effective_until",
            )
            .bind(org)
            .bind(account)
            .bind(license)
            .bind(entity)
            .bind(at)
            .fetch_one(&mut *tx)
            .await?
        }
        Change::Remove => {
            let ended: Option<NamedEntry> = sqlx::query_as(
                "UPDATE named_license_entries SET effective_until = $5 \
                 WHERE org_id = $1 AND account_id = $2 AND license_id = $3 AND entity = $4 \
                   AND effective_until IS NULL AND effective_from < $5 \
                 RETURNING license_id, account_id, entity AS name, effective_from, effective_until",
            )
            .bind(org)
            .bind(account)
            .bind(license)
            .bind(entity)
            .bind(at)
            .fetch_optional(&mut *tx)
            .await?;
            ended.ok_or_else(|| {
                FieldError::new(
                    "name",
                    format!(
                        "{what} is not active at {}: nothing to remove",
                        at.to_rfc3339()
                    ),
                )
            })?
        }
    };
    let (verb, quantity) = match change {
        Change::Add => ("add", Decimal::ONE),
        Change::Remove => ("remove", Decimal::NEGATIVE_ONE),
    };
    let update = LicenseUpdate {
        idempotency_key: format!(
            "named:{account}:{license}:{entity}:{verb}:{}",
            at.to_rfc3339()
        ),
        license_id: license.to_string(),
        account_id: account.to_string(),
        update_type: UpdateType::Relative,
        quantity,
        effective_from: at,
    };
    sqlx::query(
        "INSERT INTO license_updates (org_id, idempotency_key, license_id, account_id, \
         update_type, quantity, effective_from) VALUES ($1, $2, $3, $4, 'RELATIVE', $5, $6)",
    )
    .bind(org)
    .bind(&update.idempotency_key)
    .bind(license)
    .bind(account)
    .bind(quantity)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    if change == Change::Add {
        check_max_quantity(&mut tx, org, &update).await?;
    }
    crate::catalog::usage::late::after_license_updates(&mut tx, org, since).await?;
    tx.commit().await?;
    Ok(entry)
}

/// The entities of an account's named licenses (of `license` only when given), by
/// license, entity and start; ended ones too.
pub async fn entries(
    pool: &PgPool,
    org: &OrgId,
    account: &str,
    license: Option<&str>,
) -> Result<Vec<NamedEntry>> {
    Ok(sqlx::query_as(
        "SELECT license_id, account_id, entity AS name, effective_from, effective_until \
         FROM named_license_entries \
         WHERE org_id = $1 AND account_id = $2 AND ($3::text IS NULL OR license_id = $3) \
         ORDER BY license_id, entity, effective_from",
    )
    .bind(org)
    .bind(account)
    .bind(license)
    .fetch_all(pool)
    .await?)
}
