//! License updates: quantities that persist across cycles (seats).
//!
//! An update is RELATIVE (adds to the quantity, may be negative) or ABSOLUTE (sets
//! it), effective from an instant. Its idempotency key makes a retried request
//! harmless: the same key with the same update is accepted again without effect; the
//! same key with a different update is refused. Turning updates into daily quantities
//! (several updates of one day collapse to one) is the bill run's job.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

use billrun_core::FieldError;

use super::{check_id, check_key, CatalogError, Result};
use crate::store::OrgId;

/// How an update changes the quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UpdateType {
    /// Adds `quantity` (negative removes).
    Relative,
    /// Sets the quantity to `quantity`.
    Absolute,
}

impl UpdateType {
    /// As stored and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateType::Relative => "RELATIVE",
            UpdateType::Absolute => "ABSOLUTE",
        }
    }

    /// Parses `RELATIVE` or `ABSOLUTE`.
    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        match s {
            "RELATIVE" => Ok(UpdateType::Relative),
            "ABSOLUTE" => Ok(UpdateType::Absolute),
            _ => Err(FieldError::new(
                field,
                format!("unknown update type {s:?}: expected RELATIVE or ABSOLUTE"),
            )),
        }
    }
}

/// A license update (Togai's shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenseUpdate {
    /// Makes the request idempotent within the organisation.
    pub idempotency_key: String,
    /// The license (a license rate card's id).
    pub license_id: String,
    /// The account.
    pub account_id: String,
    /// RELATIVE or ABSOLUTE.
    pub update_type: UpdateType,
    /// The quantity added or set.
    pub quantity: Decimal,
    /// From when it applies.
    pub effective_from: DateTime<Utc>,
}

/// Whether [`record`] stored the update or found it already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Recorded {
    /// Stored now.
    New,
    /// The same update was stored before under this key.
    AlreadyRecorded,
}

#[derive(sqlx::FromRow)]
struct UpdateRow {
    idempotency_key: String,
    license_id: String,
    account_id: String,
    update_type: String,
    quantity: Decimal,
    effective_from: DateTime<Utc>,
}

impl UpdateRow {
    fn into_update(self) -> Result<LicenseUpdate> {
        Ok(LicenseUpdate {
            update_type: UpdateType::parse("", &self.update_type).map_err(|e| {
                CatalogError::Corrupt {
                    what: format!("license_updates.update_type of {:?}", self.idempotency_key),
                    message: e.to_string(),
                }
            })?,
            idempotency_key: self.idempotency_key,
            license_id: self.license_id,
            account_id: self.account_id,
            quantity: self.quantity,
            effective_from: self.effective_from,
        })
    }
}

const COLUMNS: &str =
    "idempotency_key, license_id, account_id, update_type, quantity, effective_from";

/// Every license some plan of the organisation prices: the license rate cards'
/// ids (else names) in any version of any plan, DRAFT, ACTIVE or ARCHIVED (a seat
/// count may be recorded before its plan is finalized, and an archived version
/// still bills the accounts on it).
pub async fn known_licenses(conn: &mut PgConnection, org: &str) -> Result<BTreeSet<String>> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT coalesce(c->>'id', c->>'name') FROM price_plan_versions v \
         CROSS JOIN LATERAL jsonb_array_elements(CASE \
             WHEN jsonb_typeof(v.definition->'licenseRateCards') = 'array' \
             THEN v.definition->'licenseRateCards' ELSE '[]'::jsonb END) AS c \
         WHERE v.org_id = $1",
    )
    .bind(org)
    .fetch_all(&mut *conn)
    .await?;
    Ok(ids.into_iter().collect())
}

/// The one check that a license update names a license some plan prices
/// ([`known_licenses`]), for every way in (`license update`, the licenses CSV
/// import, the API to come): an update for a license no plan has would never be
/// billed. The message names the license and lists the known ones.
pub fn check_license_known(license_id: &str, known: &BTreeSet<String>) -> Result<(), String> {
    if known.contains(license_id) {
        return Ok(());
    }
    Err(format!(
        "no price plan has a license rate card {license_id:?}, so its quantities would never \
         be billed (licenses: {})",
        if known.is_empty() {
            "none yet: add a licenseRateCards entry to a plan first".to_string()
        } else {
            known.iter().cloned().collect::<Vec<_>>().join(", ")
        }
    ))
}

/// Records a license update once per idempotency key. Refuses an update of a
/// license that no plan prices ([`check_license_known`]), of a named license
/// ([`super::named_licenses`]: its entities set its quantity), and one that would
/// take the quantity above a `maxQuantity` ([`check_max_quantity`]).
pub async fn record(pool: &PgPool, org: &OrgId, u: &LicenseUpdate) -> Result<Recorded> {
    check_key("idempotencyKey", &u.idempotency_key)?;
    check_id("licenseId", &u.license_id)?;
    check_id("accountId", &u.account_id)?;
    if u.update_type == UpdateType::Absolute && u.quantity.is_sign_negative() {
        return Err(FieldError::new(
            "quantity",
            format!(
                "an ABSOLUTE quantity must not be negative, got {}",
                u.quantity
            ),
        )
        .into());
    }
    let exists: Option<String> =
        sqlx::query_scalar("SELECT id FROM accounts WHERE org_id = $1 AND id = $2")
            .bind(org)
            .bind(&u.account_id)
            .fetch_optional(pool)
            .await?;
    if exists.is_none() {
        return Err(CatalogError::NotFound {
            what: "account",
            org: org.to_string(),
            id: u.account_id.clone(),
        });
    }
    let known = known_licenses(&mut *pool.acquire().await?, org).await?;
    check_license_known(&u.license_id, &known).map_err(|m| FieldError::new("licenseId", m))?;
    let named = super::named_licenses::named_licenses(&mut *pool.acquire().await?, org).await?;
    if named.contains(&u.license_id) {
        return Err(FieldError::new(
            "licenseId",
            format!(
                "license {:?} is priced by a NAMED_LICENSE card: its quantity is the number of \
                 named entities (billrun license named add|remove), not updates",
                u.license_id
            ),
        )
        .into());
    }
    // The update and what it means for drafts already computed, together.
    let mut tx = pool.begin().await?;
    let since: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(&mut *tx)
        .await?;
    let inserted = sqlx::query(
        "INSERT INTO license_updates (org_id, idempotency_key, license_id, account_id, \
         update_type, quantity, effective_from) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (org_id, idempotency_key) DO NOTHING",
    )
    .bind(org)
    .bind(&u.idempotency_key)
    .bind(&u.license_id)
    .bind(&u.account_id)
    .bind(u.update_type.as_str())
    .bind(u.quantity)
    .bind(u.effective_from)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 1 {
        // Refused (and rolled back with the transaction) above a card's maxQuantity.
        check_max_quantity(&mut tx, org, u).await?;
        crate::catalog::usage::late::after_license_updates(&mut tx, org, since).await?;
        tx.commit().await?;
        return Ok(Recorded::New);
    }
    tx.commit().await?;
    let stored: UpdateRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM license_updates WHERE org_id = $1 AND idempotency_key = $2"
    )))
    .bind(org)
    .bind(&u.idempotency_key)
    .fetch_one(pool)
    .await?;
    let stored = stored.into_update()?;
    // NUMERIC keeps the scale given ("5.0" vs "5"): compare values, not digits.
    let same = LicenseUpdate {
        quantity: u.quantity.normalize(),
        ..u.clone()
    } == LicenseUpdate {
        quantity: stored.quantity.normalize(),
        ..stored.clone()
    };
    if same {
        Ok(Recorded::AlreadyRecorded)
    } else {
        Err(CatalogError::Conflict(format!(
            "idempotency key {:?} was already used for a different license update \
             ({} {} of license {} for account {} from {})",
            u.idempotency_key,
            stored.update_type.as_str(),
            stored.quantity,
            stored.license_id,
            stored.account_id,
            stored.effective_from.to_rfc3339()
        )))
    }
}

/// Refuses `u` (just inserted in `conn`'s transaction) if, with it, the account's
/// quantity of the license would exceed the `config.maxQuantity` of a license rate
/// card of a plan version the account is attached to (an association not ended by
/// the update's UTC day) whose `maxQuantityBreachAction` is DO_NOTHING (Togai's only
/// action, "refrain from granting any new licenses"; an absent action is read as it).
/// The quantities checked are those from the update's effective time on (the updates
/// applied in order, as [`page`] computes them), so a RELATIVE update before a later
/// ABSOLUTE one is checked against what it changes. Plan overrides are not consulted.
///
/// Errors: a [`FieldError`] on `quantity` naming the quantity it would make, the
/// maximum, the card and the plan version.
pub async fn check_max_quantity(
    conn: &mut PgConnection,
    org: &str,
    u: &LicenseUpdate,
) -> Result<()> {
    let limits: Vec<(Decimal, String, String, i32)> = sqlx::query_as(
        "SELECT (c->'config'->>'maxQuantity')::numeric AS max, c->>'name', a.plan_id, a.plan_version \
         FROM plan_associations a \
         JOIN price_plan_versions v ON v.org_id = a.org_id AND v.plan_id = a.plan_id \
              AND v.version = a.plan_version \
         CROSS JOIN LATERAL jsonb_array_elements(CASE \
             WHEN jsonb_typeof(v.definition->'licenseRateCards') = 'array' \
             THEN v.definition->'licenseRateCards' ELSE '[]'::jsonb END) AS c \
         WHERE a.org_id = $1 AND a.account_id = $2 AND coalesce(c->>'id', c->>'name') = $3 \
           AND c->'config'->>'maxQuantity' IS NOT NULL \
           AND coalesce(c->'config'->>'maxQuantityBreachAction', 'DO_NOTHING') = 'DO_NOTHING' \
           AND (a.effective_until IS NULL OR a.effective_until > $4::date) \
         ORDER BY max, a.plan_id, a.plan_version LIMIT 1",
    )
    .bind(org)
    .bind(&u.account_id)
    .bind(&u.license_id)
    .bind(u.effective_from.date_naive())
    .fetch_all(&mut *conn)
    .await?;
    let Some((max, card, plan, version)) = limits.into_iter().next() else {
        return Ok(());
    };
    let updates: Vec<(String, Decimal, DateTime<Utc>)> = sqlx::query_as(
        "SELECT update_type, quantity, effective_from FROM license_updates \
         WHERE org_id = $1 AND account_id = $2 AND license_id = $3 \
         ORDER BY effective_from, created_at, idempotency_key",
    )
    .bind(org)
    .bind(&u.account_id)
    .bind(&u.license_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut quantity = Decimal::ZERO;
    for (kind, q, from) in updates {
        quantity = if kind == "RELATIVE" {
            (quantity + q).max(Decimal::ZERO)
        } else {
            q
        };
        if from >= u.effective_from && quantity > max {
            return Err(FieldError::new(
                "quantity",
                format!(
                    "{} {} would make license {:?} of account {} {} from {}, above the maxQuantity {} \
                     of rate card {card:?} of plan {plan} v{version} (maxQuantityBreachAction \
                     DO_NOTHING refuses the update)",
                    u.update_type.as_str(),
                    u.quantity,
                    u.license_id,
                    u.account_id,
                    quantity.normalize(),
                    from.to_rfc3339(),
                    max.normalize()
                ),
            )
            .into());
        }
    }
    Ok(())
}

/// An account's updates of every license effective before `until`, by license, then
/// in the order they apply (effective time, then recording order).
pub async fn updates_for_account(
    pool: &PgPool,
    org: &str,
    account: &str,
    until: DateTime<Utc>,
) -> Result<Vec<LicenseUpdate>> {
    let rows: Vec<UpdateRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM license_updates \
         WHERE org_id = $1 AND account_id = $2 AND effective_from < $3 \
         ORDER BY license_id, effective_from, created_at, idempotency_key"
    )))
    .bind(org)
    .bind(account)
    .bind(until)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(UpdateRow::into_update).collect()
}

/// A recorded license update with the quantity in effect from it on and when it was
/// recorded (what the API answers: Togai's `LicenseUpdateResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenseRecord {
    /// The update as requested.
    #[serde(flatten)]
    pub update: LicenseUpdate,
    /// The license's absolute quantity for the account from this update on: the
    /// updates of the account and license applied in order (effective time, then
    /// recording order, then key), an ABSOLUTE one setting the quantity, a RELATIVE
    /// one adding to it (from 0 before any ABSOLUTE update).
    pub absolute_quantity: Decimal,
    /// When it was recorded (UTC).
    pub created_at: DateTime<Utc>,
}

/// Which updates [`page`] lists; `None` fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct LicenseFilter {
    /// Only this account's.
    pub account: Option<String>,
    /// Only this license's.
    pub license: Option<String>,
    /// Only updates effective at or after this instant.
    pub effective_from: Option<DateTime<Utc>>,
    /// Only the update recorded under this idempotency key.
    pub key: Option<String>,
}

#[derive(sqlx::FromRow)]
struct RecordRow {
    #[sqlx(flatten)]
    update: UpdateRow,
    absolute_quantity: Decimal,
    created_at: DateTime<Utc>,
}

/// One page of `org`'s license updates matching `filter`, keyset paged by idempotency
/// key: at most `limit` updates whose key sorts after `after` (from the first when
/// `None`), each with its absolute quantity ([`LicenseRecord`]).
pub async fn page(
    pool: &PgPool,
    org: &OrgId,
    filter: &LicenseFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<LicenseRecord>> {
    // Within an account's license, each ABSOLUTE update starts a segment; the sum of a
    // segment's quantities up to an update is the quantity from that update on.
    let rows: Vec<RecordRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH ordered AS ( \
             SELECT {COLUMNS}, created_at, row_number() OVER w AS n, \
                    count(*) FILTER (WHERE update_type = 'ABSOLUTE') OVER w AS segment \
             FROM license_updates \
             WHERE org_id = $1 AND ($2::text IS NULL OR account_id = $2) \
               AND ($3::text IS NULL OR license_id = $3) \
             WINDOW w AS (PARTITION BY account_id, license_id \
                          ORDER BY effective_from, created_at, idempotency_key)), \
         quantities AS ( \
             SELECT *, sum(quantity) OVER (PARTITION BY account_id, license_id, segment \
                                           ORDER BY n) AS absolute_quantity \
             FROM ordered) \
         SELECT {COLUMNS}, absolute_quantity, created_at FROM quantities \
         WHERE ($4::timestamptz IS NULL OR effective_from >= $4) \
           AND ($5::text IS NULL OR idempotency_key = $5) \
           AND ($6::text IS NULL OR idempotency_key > $6) \
         ORDER BY idempotency_key LIMIT $7"
    )))
    .bind(org)
    .bind(&filter.account)
    .bind(&filter.license)
    .bind(filter.effective_from)
    .bind(&filter.key)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(LicenseRecord {
                update: r.update.into_update()?,
                absolute_quantity: r.absolute_quantity,
                created_at: r.created_at,
            })
        })
        .collect()
}

/// The license update of `license` for `account` of `org` effective exactly at `at`
/// (Togai names an entry so: `PATCH /license_updates/{license_id}` with `accountId`
/// and `effectiveFrom`), with its absolute quantity; of several at that instant, the
/// one recorded last (the one the quantity from then on comes from). Errors:
/// [`CatalogError::NotFound`] when there is none.
pub async fn entry_at(
    pool: &PgPool,
    org: &OrgId,
    license: &str,
    account: &str,
    at: DateTime<Utc>,
) -> Result<LicenseRecord> {
    let filter = LicenseFilter {
        account: Some(account.to_string()),
        license: Some(license.to_string()),
        effective_from: Some(at),
        key: None,
    };
    let mut found = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let rows = page(pool, org, &filter, after.as_deref(), 500).await?;
        let last = rows.last().map(|r| r.update.idempotency_key.clone());
        found.extend(rows.into_iter().filter(|r| r.update.effective_from == at));
        match last {
            Some(key) => after = Some(key),
            None => break,
        }
    }
    found
        .into_iter()
        .max_by_key(|r| (r.created_at, r.update.idempotency_key.clone()))
        .ok_or_else(|| CatalogError::NotFound {
            what: "license update",
            org: org.to_string(),
            id: format!(
                "{license} of account {account} effective from {}",
                at.to_rfc3339()
            ),
        })
}
