//! Plan associations: which plan version an account is billed on, over which local
//! dates.
//!
//! A period is `[effective_from, effective_until)` in local dates of the account's
//! timezone, like the billing core's [`billrun_core::Period`]; `effective_until`
//! `None` means "until further notice". An account's periods never overlap (checked
//! here with a precise message, and by the exclusion constraint
//! `plan_associations_no_overlap` against races). Only ACTIVE versions are attached,
//! and only versions that can price the account's invoice currency.
//!
//! Attaching a plan from a date on which the account has an open-ended period closes
//! that period on that date: a plan change.

use billrun_core::FieldError;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use billrun_core::overrides::Overrides;

use super::plans::PlanStatus;
use super::{CatalogError, Result};
use crate::store::OrgId;

/// One period of an account on a plan version.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanAssociation {
    /// The account.
    pub account_id: String,
    /// The plan.
    pub plan_id: String,
    /// The version of the plan.
    pub plan_version: u32,
    /// First local date billed on this version.
    pub effective_from: NaiveDate,
    /// First local date no longer billed on it; `None` while current.
    pub effective_until: Option<NaiveDate>,
    /// The account's overrides of the plan (`billrun_core::overrides`).
    pub overrides: Option<Value>,
    /// A free trial: its first days, `[effectiveFrom, effectiveFrom +
    /// trialPeriodDays)`, are not billed (Stripe's `trial_period_days`; see README
    /// "Trial periods"). `None`: no trial.
    pub trial_period_days: Option<u32>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
}

impl PlanAssociation {
    /// Whether local `date` is billed on this association.
    pub fn covers(&self, date: NaiveDate) -> bool {
        self.effective_from <= date && self.effective_until.is_none_or(|u| date < u)
    }

    /// Whether this period shares a day with `[from, until)`.
    pub fn overlaps(&self, from: NaiveDate, until: Option<NaiveDate>) -> bool {
        let starts_before_other_ends = until.is_none_or(|u| self.effective_from < u);
        let ends_after_other_starts = self.effective_until.is_none_or(|e| from < e);
        starts_before_other_ends && ends_after_other_starts
    }
}

/// A plan to attach to an account.
#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    /// The account.
    pub account_id: String,
    /// The plan.
    pub plan_id: String,
    /// The version; `None` means the latest ACTIVE one.
    pub version: Option<u32>,
    /// First local date billed on it.
    pub effective_from: NaiveDate,
    /// First local date no longer billed on it.
    pub effective_until: Option<NaiveDate>,
    /// The account's overrides of the plan (`billrun_core::overrides`), validated
    /// against the plan version before they are stored.
    pub overrides: Option<Value>,
    /// Free days at the start (README "Trial periods"); `None` or 0: no trial.
    pub trial_period_days: Option<u32>,
}

/// What [`attach`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attached {
    /// The new period.
    pub association: PlanAssociation,
    /// The open-ended period it closed (a plan change), if any.
    pub closed: Option<PlanAssociation>,
}

#[derive(sqlx::FromRow)]
struct AssociationRow {
    account_id: String,
    plan_id: String,
    plan_version: i32,
    effective_from: NaiveDate,
    effective_until: Option<NaiveDate>,
    overrides: Option<Value>,
    trial_period_days: Option<i32>,
    created_at: DateTime<Utc>,
}

impl From<AssociationRow> for PlanAssociation {
    fn from(r: AssociationRow) -> Self {
        PlanAssociation {
            account_id: r.account_id,
            plan_id: r.plan_id,
            // The foreign key to price_plan_versions (version >= 1) keeps this positive.
            plan_version: r.plan_version.max(0) as u32,
            effective_from: r.effective_from,
            effective_until: r.effective_until,
            overrides: r.overrides,
            // The check constraint keeps this positive.
            trial_period_days: r.trial_period_days.map(|t| t.max(0) as u32),
            created_at: r.created_at,
        }
    }
}

const COLUMNS: &str = "account_id, plan_id, plan_version, effective_from, effective_until, \
     overrides, trial_period_days, created_at";

fn describe(a: &PlanAssociation) -> String {
    let until = a
        .effective_until
        .map_or("open-ended".to_string(), |u| format!("until {u}"));
    format!(
        "{} v{} from {} ({until})",
        a.plan_id, a.plan_version, a.effective_from
    )
}

/// The longest trial `attach` accepts, in days (ten years).
pub const MAX_TRIAL_DAYS: u32 = 3_660;

/// Attaches a plan version to an account from a local date.
pub async fn attach(pool: &PgPool, org: &OrgId, a: &Attachment) -> Result<Attached> {
    let mut tx = pool.begin().await?;
    let attached = attach_in(&mut tx, org, a).await?;
    tx.commit().await?;
    Ok(attached)
}

/// Attaches every one of `all`, in order, or none (one transaction): the first refusal
/// is answered with its index in `all`, and nothing is attached. Togai's
/// `edit_schedules` applies its edits this way.
pub async fn attach_all(
    pool: &PgPool,
    org: &OrgId,
    all: &[Attachment],
) -> std::result::Result<Vec<Attached>, (Option<usize>, CatalogError)> {
    let mut tx = pool.begin().await.map_err(|e| (None, e.into()))?;
    let mut attached = Vec::with_capacity(all.len());
    for (i, a) in all.iter().enumerate() {
        attached.push(attach_in(&mut tx, org, a).await.map_err(|e| (Some(i), e))?);
    }
    tx.commit().await.map_err(|e| (None, e.into()))?;
    Ok(attached)
}

/// [`attach`] on `tx`, inside the caller's transaction (nothing is committed here).
async fn attach_in(tx: &mut PgConnection, org: &OrgId, a: &Attachment) -> Result<Attached> {
    if a.effective_until.is_some_and(|u| u <= a.effective_from) {
        return Err(FieldError::new("effectiveUntil", "must be after effectiveFrom").into());
    }
    if a.trial_period_days.is_some_and(|t| t > MAX_TRIAL_DAYS) {
        return Err(FieldError::new(
            "trialPeriodDays",
            format!("must be at most {MAX_TRIAL_DAYS} days"),
        )
        .into());
    }
    // The account row orders concurrent attachments to one account.
    let currency: Option<String> = sqlx::query_scalar(
        "SELECT invoice_currency FROM accounts WHERE org_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(org)
    .bind(&a.account_id)
    .fetch_optional(&mut *tx)
    .await?;
    let currency = currency.ok_or_else(|| CatalogError::NotFound {
        what: "account",
        org: org.to_string(),
        id: a.account_id.clone(),
    })?;

    // FOR SHARE: the version cannot be archived while it is being attached.
    let version: Option<(i32, String, Value)> = sqlx::query_as(
        "SELECT version, status, definition FROM price_plan_versions \
         WHERE org_id = $1 AND plan_id = $2 \
           AND (($3::int IS NULL AND status = 'ACTIVE') OR version = $3) \
         ORDER BY version DESC LIMIT 1 FOR SHARE",
    )
    .bind(org)
    .bind(&a.plan_id)
    .bind(a.version.map(|v| v as i32))
    .fetch_optional(&mut *tx)
    .await?;
    let Some((number, status, definition)) = version else {
        super::plans::require(tx, org, &a.plan_id).await?;
        return Err(match a.version {
            Some(v) => CatalogError::NotFound {
                what: "price plan version",
                org: org.to_string(),
                id: format!("{} v{v}", a.plan_id),
            },
            None => CatalogError::Conflict(format!(
                "price plan {:?} has no ACTIVE version in organisation {org:?}: finalize one \
                 first (billrun plan finalize --org {org} {})",
                a.plan_id,
                a.plan_id,
                org = org.as_str()
            )),
        });
    };
    if status != PlanStatus::Active.as_str() {
        return Err(CatalogError::Conflict(format!(
            "price plan {:?} version {number} is {status}: only an ACTIVE version can be \
             attached{}",
            a.plan_id,
            if status == "DRAFT" {
                " (finalize it first)"
            } else {
                ""
            }
        )));
    }
    // The plan as this account is billed on it: overrides applied and validated, so
    // an override naming a card the plan lacks, or with bad rates, is refused here.
    let overrides = Overrides::from_json(a.overrides.as_ref().unwrap_or(&Value::Null))?;
    let plan = overrides.apply_to(&definition)?;
    let priced = plan
        .supported_currencies
        .iter()
        .any(|c| c.code() == currency);
    let missing = plan
        .supported_currencies
        .iter()
        .find(|c| c.code() == currency)
        .map(|c| plan.cards_without_rate(*c))
        .unwrap_or_default();
    if !priced || !missing.is_empty() {
        let why = if priced {
            format!("cards without a {currency} rate: {}", missing.join(", "))
        } else {
            "not in its supportedCurrencies".to_string()
        };
        return Err(CatalogError::Conflict(format!(
            "account {:?} invoices in {currency} but price plan {:?} version {number} cannot \
             price {currency} ({why})",
            a.account_id, a.plan_id
        )));
    }

    let existing: Vec<PlanAssociation> =
        sqlx::query_as::<_, AssociationRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM plan_associations WHERE org_id = $1 AND account_id = $2 \
             ORDER BY effective_from"
        )))
        .bind(org)
        .bind(&a.account_id)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(PlanAssociation::from)
        .collect();
    let mut closed = None;
    for e in &existing {
        if e.effective_until.is_none() && e.effective_from < a.effective_from {
            // A plan change: the open period ends where the new one begins.
            sqlx::query(
                "UPDATE plan_associations SET effective_until = $3 \
                 WHERE org_id = $1 AND account_id = $2 AND effective_from = $4",
            )
            .bind(org)
            .bind(&a.account_id)
            .bind(a.effective_from)
            .bind(e.effective_from)
            .execute(&mut *tx)
            .await?;
            closed = Some(PlanAssociation {
                effective_until: Some(a.effective_from),
                ..e.clone()
            });
        } else if e.overlaps(a.effective_from, a.effective_until) {
            return Err(CatalogError::Conflict(format!(
                "account {:?} is already on {} which overlaps {} from {}: an account's plan \
                 periods must not overlap",
                a.account_id,
                describe(e),
                a.plan_id,
                a.effective_from
            )));
        }
    }
    let row: AssociationRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO plan_associations (org_id, account_id, plan_id, plan_version, \
         effective_from, effective_until, overrides, trial_period_days) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(&a.account_id)
    .bind(&a.plan_id)
    .bind(number)
    .bind(a.effective_from)
    .bind(a.effective_until)
    .bind(Some(overrides.to_json()).filter(|o| !o.is_null()))
    .bind(
        a.trial_period_days.filter(|t| *t > 0).map(|t| t as i32), // at most MAX_TRIAL_DAYS
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(Attached {
        association: row.into(),
        closed,
    })
}

/// An account's periods, oldest first.
pub async fn for_account(
    pool: &PgPool,
    org: &OrgId,
    account: &str,
) -> Result<Vec<PlanAssociation>> {
    let rows: Vec<AssociationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM plan_associations WHERE org_id = $1 AND account_id = $2 \
         ORDER BY effective_from"
    )))
    .bind(org)
    .bind(account)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(PlanAssociation::from).collect())
}

/// Every period of the organisation's accounts that shares a day with
/// `[from, until)` (open-ended if `until` is `None`), by account then date: what a
/// bill run over that span has to look at.
pub async fn overlapping(
    pool: &PgPool,
    org: &str,
    from: NaiveDate,
    until: Option<NaiveDate>,
) -> Result<Vec<PlanAssociation>> {
    let rows: Vec<AssociationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM plan_associations WHERE org_id = $1 \
         AND daterange(effective_from, effective_until) && daterange($2, $3) \
         ORDER BY account_id, effective_from"
    )))
    .bind(org)
    .bind(from)
    .bind(until)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(PlanAssociation::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use billrun_core::testing::d;

    fn period(from: &str, until: Option<&str>) -> PlanAssociation {
        PlanAssociation {
            account_id: "a".into(),
            plan_id: "p".into(),
            plan_version: 1,
            effective_from: d(from),
            effective_until: until.map(d),
            overrides: None,
            trial_period_days: None,
            created_at: DateTime::<Utc>::MIN_UTC,
        }
    }

    #[test]
    fn periods_are_half_open() {
        let jan = period("2026-01-01", Some("2026-02-01"));
        assert!(jan.covers(d("2026-01-31")));
        assert!(!jan.covers(d("2026-02-01")));
        assert!(!jan.overlaps(d("2026-02-01"), None));
        assert!(jan.overlaps(d("2026-01-31"), Some(d("2026-02-05"))));
        assert!(!jan.overlaps(d("2025-12-01"), Some(d("2026-01-01"))));
        let open = period("2026-03-01", None);
        assert!(open.overlaps(d("2027-01-01"), None));
        assert!(!open.overlaps(d("2026-01-01"), Some(d("2026-03-01"))));
    }
}
