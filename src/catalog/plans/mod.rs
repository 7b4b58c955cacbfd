//! Price plans and their versions.
//!
//! A plan is identified by its `name`. Its versions move DRAFT -> ACTIVE -> ARCHIVED:
//! - [`apply`] a plan file: the first creates version 1 as a DRAFT; on a plan whose
//!   latest version is a DRAFT it replaces that draft's definition; on a plan whose
//!   latest version is finalized it creates the next version as a DRAFT.
//! - [`finalize`] a draft: it becomes ACTIVE and immutable (a trigger refuses any
//!   later change of its definition), and can then be attached to accounts.
//! - [`apply_rate_card_operations`]: Togai's bulk rate card operations
//!   ([`billrun_core::rate_card_ops`]) on the plan's draft, all or nothing; on a plan
//!   whose latest version is finalized they open the next version as a DRAFT (a copy
//!   of that version with the operations applied).
//! - [`discard`] the draft: it is deleted; a plan that had only that draft is deleted
//!   with it (its name is free again).
//! - [`archive`] an ACTIVE version: ARCHIVED for good; accounts on it keep it.
//!
//! Finalized versions are never deleted: a trigger
//! (`migrations/20261121000010_plan_lifecycle.sql`) refuses it, except in a
//! transaction that purges a whole organisation ([`allow_organisation_purge`]).
//!
//! What is stored is the canonical JSON of the validated plan
//! ([`Plan::to_json`]), so a stored definition always parses back to the same plan.
//!
//! This module owns the lifecycle (apply, finalize, archive, discard); [`read`] lists
//! and reads versions, [`rate_cards`] edits a plan by rate card operations.

mod pricing_rules;
mod rate_cards;
mod read;

pub use pricing_rules::*;
pub use rate_cards::*;
pub use read::*;

use billrun_core::plan::Plan;
use billrun_core::FieldError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use super::{CatalogError, Result};
use crate::store::status::CatalogStatus;
use crate::store::OrgId;

/// Where a plan version is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PlanStatus {
    /// Editable; cannot be attached.
    Draft,
    /// Finalized: immutable, attachable.
    Active,
    /// Finalized and retired: accounts on it keep it, no new attachments.
    Archived,
}

impl PlanStatus {
    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanStatus::Draft => "DRAFT",
            PlanStatus::Active => "ACTIVE",
            PlanStatus::Archived => "ARCHIVED",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "DRAFT" => Some(PlanStatus::Draft),
            "ACTIVE" => Some(PlanStatus::Active),
            "ARCHIVED" => Some(PlanStatus::Archived),
            _ => None,
        }
    }
}

impl std::fmt::Display for PlanStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One version of a plan, as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanVersion {
    /// The plan (its name).
    pub plan_id: String,
    /// 1, 2, ...
    pub version: u32,
    /// DRAFT, ACTIVE or ARCHIVED.
    pub status: PlanStatus,
    /// The canonical Togai JSON of the plan.
    pub definition: Value,
    /// When the version was created.
    pub created_at: DateTime<Utc>,
    /// When its definition last changed (drafts only change).
    pub updated_at: DateTime<Utc>,
    /// When it was finalized; `None` for a draft.
    pub finalized_at: Option<DateTime<Utc>>,
}

impl PlanVersion {
    /// The typed plan. Stored definitions are canonical, so this fails only on a row
    /// written by something else.
    pub fn plan(&self) -> Result<Plan> {
        Plan::from_json(&self.definition).map_err(|e| CatalogError::Corrupt {
            what: format!("price plan {:?} version {}", self.plan_id, self.version),
            message: e.to_string(),
        })
    }
}

/// What [`apply`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ApplyOutcome {
    /// A new version was created as a DRAFT.
    Created,
    /// The existing draft's definition was replaced.
    DraftUpdated,
    /// The existing draft already had this definition.
    Unchanged,
}

/// The result of [`apply`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    /// The plan (its name).
    pub plan_id: String,
    /// The version written.
    pub version: u32,
    /// Always DRAFT.
    pub status: PlanStatus,
    /// What happened.
    pub outcome: ApplyOutcome,
}

#[derive(sqlx::FromRow)]
struct VersionRow {
    plan_id: String,
    version: i32,
    status: String,
    definition: Value,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    finalized_at: Option<DateTime<Utc>>,
}

impl VersionRow {
    fn into_version(self) -> Result<PlanVersion> {
        let what = format!("price plan {:?} version {}", self.plan_id, self.version);
        Ok(PlanVersion {
            version: u32::try_from(self.version).map_err(|_| CatalogError::Corrupt {
                what: what.clone(),
                message: "negative version".into(),
            })?,
            status: PlanStatus::parse(&self.status).ok_or_else(|| CatalogError::Corrupt {
                what,
                message: format!("unknown status {:?}", self.status),
            })?,
            plan_id: self.plan_id,
            definition: self.definition,
            created_at: self.created_at,
            updated_at: self.updated_at,
            finalized_at: self.finalized_at,
        })
    }
}

const COLUMNS: &str = "plan_id, version, status, definition, created_at, updated_at, finalized_at";

/// Validates a Togai plan JSON and writes it as a draft version of the plan it names.
///
/// Every problem of the file is reported at once ([`CatalogError::InvalidPlan`]),
/// each with its field path. The plan's currencies must be enabled for the
/// organisation, and each card's `addOnId` must name an ACTIVE add-on of a fitting
/// type ([`crate::catalog::addons::check_plan`]).
pub async fn apply(pool: &PgPool, org: &OrgId, json: &Value) -> Result<Applied> {
    write_draft(pool, org, json, false).await
}

/// Creates a new plan from a Togai plan JSON: version 1, a DRAFT, as [`apply`] would,
/// except that a plan of that name must not exist yet ([`CatalogError::Conflict`]
/// otherwise; Togai's `POST /v2/price_plans` creates, it never edits). The plan may
/// have no rate card at all: cards come later by [`apply_rate_card_operations`].
pub async fn create(pool: &PgPool, org: &OrgId, json: &Value) -> Result<Applied> {
    write_draft(pool, org, json, true).await
}

/// [`apply`], or [`create`] when `must_be_new`.
async fn write_draft(
    pool: &PgPool,
    org: &OrgId,
    json: &Value,
    must_be_new: bool,
) -> Result<Applied> {
    let plan = Plan::from_json(json)?;
    let definition = plan.to_json();

    let mut tx = pool.begin().await?;
    let enabled: Option<Vec<String>> =
        sqlx::query_scalar("SELECT enabled_currencies FROM organisations WHERE id = $1")
            .bind(org)
            .fetch_optional(&mut *tx)
            .await?;
    let enabled = enabled.ok_or_else(|| CatalogError::NotFound {
        what: "organisation",
        org: org.to_string(),
        id: org.to_string(),
    })?;
    for (i, c) in plan.supported_currencies.iter().enumerate() {
        if !enabled.iter().any(|e| e == c.code()) {
            return Err(FieldError::new(
                format!("supportedCurrencies[{i}]"),
                format!(
                    "{c} is not enabled for organisation {org:?} (enabled: {})",
                    enabled.join(", "),
                    org = org.as_str()
                ),
            )
            .into());
        }
    }
    crate::catalog::addons::check_plan(&mut tx, org, &plan).await?;
    let inserted =
        sqlx::query("INSERT INTO price_plans (org_id, id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(org)
            .bind(&plan.name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    if must_be_new && inserted == 0 {
        return Err(CatalogError::Conflict(format!(
            "price plan {:?} exists already: edit it (PATCH, rate card operations) instead",
            plan.name
        )));
    }
    // The plan row is the lock that orders concurrent applies and finalizes of one plan.
    sqlx::query("SELECT 1 FROM price_plans WHERE org_id = $1 AND id = $2 FOR UPDATE")
        .bind(org)
        .bind(&plan.name)
        .execute(&mut *tx)
        .await?;
    let latest: Option<VersionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM price_plan_versions WHERE org_id = $1 AND plan_id = $2 \
         ORDER BY version DESC LIMIT 1"
    )))
    .bind(org)
    .bind(&plan.name)
    .fetch_optional(&mut *tx)
    .await?;
    let latest = latest.map(VersionRow::into_version).transpose()?;
    let (version, outcome) = match latest {
        Some(draft) if draft.status == PlanStatus::Draft => {
            if draft.definition == definition {
                (draft.version, ApplyOutcome::Unchanged)
            } else {
                sqlx::query(
                    "UPDATE price_plan_versions SET definition = $4, updated_at = now() \
                     WHERE org_id = $1 AND plan_id = $2 AND version = $3",
                )
                .bind(org)
                .bind(&plan.name)
                .bind(draft.version as i32)
                .bind(&definition)
                .execute(&mut *tx)
                .await?;
                (draft.version, ApplyOutcome::DraftUpdated)
            }
        }
        finalized => {
            let next = finalized.map_or(1, |v| v.version + 1);
            sqlx::query(
                "INSERT INTO price_plan_versions (org_id, plan_id, version, status, definition) \
                 VALUES ($1, $2, $3, 'DRAFT', $4)",
            )
            .bind(org)
            .bind(&plan.name)
            .bind(next as i32)
            .bind(&definition)
            .execute(&mut *tx)
            .await?;
            (next, ApplyOutcome::Created)
        }
    };
    tx.commit().await?;
    Ok(Applied {
        plan_id: plan.name,
        version,
        status: PlanStatus::Draft,
        outcome,
    })
}

/// Finalizes a draft (the plan's draft if `version` is `None`): it becomes ACTIVE.
///
/// Every usage meter the plan's usage cards price must exist in the organisation:
/// once finalized, the plan can no longer be fixed.
pub async fn finalize(
    pool: &PgPool,
    org: &OrgId,
    plan_id: &str,
    version: Option<u32>,
) -> Result<PlanVersion> {
    let mut tx = pool.begin().await?;
    let plan_row: Option<String> =
        sqlx::query_scalar("SELECT id FROM price_plans WHERE org_id = $1 AND id = $2 FOR UPDATE")
            .bind(org)
            .bind(plan_id)
            .fetch_optional(&mut *tx)
            .await?;
    if plan_row.is_none() {
        return Err(plan_not_found(org, plan_id));
    }
    let row: Option<VersionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM price_plan_versions WHERE org_id = $1 AND plan_id = $2 \
         AND ($3::int IS NULL AND status = 'DRAFT' OR version = $3)"
    )))
    .bind(org)
    .bind(plan_id)
    .bind(version.map(|v| v as i32))
    .fetch_optional(&mut *tx)
    .await?;
    let current = match row {
        Some(r) => r.into_version()?,
        None => {
            return Err(match version {
                Some(v) => version_not_found(org, plan_id, v),
                None => CatalogError::Conflict(format!(
                    "price plan {plan_id:?} has no DRAFT version to finalize"
                )),
            })
        }
    };
    if current.status != PlanStatus::Draft {
        return Err(CatalogError::Conflict(format!(
            "price plan {plan_id:?} version {} is {} already: only a DRAFT can be finalized",
            current.version, current.status
        )));
    }
    let plan = current.plan()?;
    if let Some((_, first)) = missing_meters(&mut tx, org, &plan)
        .await?
        .into_iter()
        .next()
    {
        return Err(first.into());
    }
    let row: VersionRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE price_plan_versions SET status = 'ACTIVE', finalized_at = now() \
         WHERE org_id = $1 AND plan_id = $2 AND version = $3 RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(plan_id)
    .bind(current.version as i32)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    row.into_version()
}

/// The usage cards of `plan` whose usage meter does not exist in the organisation or
/// is INACTIVE (what [`finalize`] refuses), each as `(card name, error)` with the error's path in
/// the plan (`usageRateCards[i].usageMeterId`), in the plan's order.
async fn missing_meters(
    conn: &mut PgConnection,
    org: &str,
    plan: &Plan,
) -> Result<Vec<(String, FieldError)>> {
    let meter_ids: Vec<String> = plan.requirements().usage_meter_ids.into_iter().collect();
    // FOR SHARE: a meter cannot be deactivated or deleted while the plan is finalized.
    let known: Vec<(String, CatalogStatus)> = sqlx::query_as(
        "SELECT id, status FROM usage_meters WHERE org_id = $1 AND id = ANY ($2) FOR SHARE",
    )
    .bind(org)
    .bind(&meter_ids)
    .fetch_all(&mut *conn)
    .await?;
    Ok(plan
        .usage_cards
        .iter()
        .enumerate()
        .filter_map(|(i, card)| {
            let id = &card.usage_meter_id;
            let message = match known.iter().find(|(k, _)| k == id) {
                Some((_, CatalogStatus::Active)) => return None,
                Some((_, CatalogStatus::Inactive)) => format!(
                    "usage meter {id:?} is INACTIVE: activate it (or name another) before \
                     finalizing"
                ),
                None => format!(
                    "usage meter {id:?} does not exist in organisation {org:?}: create it \
                     (billrun meter create) before finalizing"
                ),
            };
            let error = FieldError::new(format!("usageRateCards[{i}].usageMeterId"), message);
            Some((card.card.name.clone(), error))
        })
        .collect())
}

/// What stands in the way of finalizing the plan's latest version (Togai's "errors of
/// a price plan"): `(card name, error)` for each usage card whose meter is INACTIVE or
/// does not exist in the organisation. Empty when the latest version is finalized already (it was
/// checked then) or when nothing is wrong. Errors: the plan does not exist (not
/// found).
pub async fn finalize_problems(
    pool: &PgPool,
    org: &OrgId,
    plan_id: &str,
) -> Result<Vec<(String, FieldError)>> {
    let latest = get_version(pool, org, plan_id, None).await?;
    if latest.status != PlanStatus::Draft {
        return Ok(Vec::new());
    }
    let plan = latest.plan()?;
    let mut conn = pool.acquire().await?;
    missing_meters(&mut conn, org, &plan).await
}

/// Archives an ACTIVE version: accounts on it keep it, it can no longer be attached.
pub async fn archive(
    pool: &PgPool,
    org: &OrgId,
    plan_id: &str,
    version: u32,
) -> Result<PlanVersion> {
    let row: Option<VersionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE price_plan_versions SET status = 'ARCHIVED' \
         WHERE org_id = $1 AND plan_id = $2 AND version = $3 AND status = 'ACTIVE' \
         RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(plan_id)
    .bind(version as i32)
    .fetch_optional(pool)
    .await?;
    match row {
        Some(r) => r.into_version(),
        None => {
            let v = get_version(pool, org, plan_id, Some(version)).await?;
            Err(CatalogError::Conflict(format!(
                "price plan {plan_id:?} version {version} is {}: only an ACTIVE version can be \
                 archived",
                v.status
            )))
        }
    }
}

fn plan_not_found(org: &str, plan_id: &str) -> CatalogError {
    CatalogError::NotFound {
        what: "price plan",
        org: org.to_string(),
        id: plan_id.to_string(),
    }
}

fn version_not_found(org: &str, plan_id: &str, version: u32) -> CatalogError {
    CatalogError::NotFound {
        what: "price plan version",
        org: org.to_string(),
        id: format!("{plan_id} v{version}"),
    }
}

/// What [`discard`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Discarded {
    /// The plan (its name).
    pub plan_id: String,
    /// The draft version deleted.
    pub version: u32,
    /// The plan had no other version, so it was deleted too.
    pub plan_deleted: bool,
}

/// Deletes the plan's DRAFT version. Only a draft can be discarded (finalized
/// versions are archived, never deleted). If the plan had no other version, the plan
/// is deleted with it: it disappears from listings and its name can be applied
/// afresh as version 1. Otherwise the draft's version number is free again: the next
/// draft takes it.
pub async fn discard(pool: &PgPool, org: &OrgId, plan_id: &str) -> Result<Discarded> {
    let mut tx = pool.begin().await?;
    lock_plan(&mut tx, org, plan_id).await?;
    let version: Option<i32> = sqlx::query_scalar(
        "DELETE FROM price_plan_versions WHERE org_id = $1 AND plan_id = $2 AND status = 'DRAFT' \
         RETURNING version",
    )
    .bind(org)
    .bind(plan_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(version) = version else {
        return Err(CatalogError::Conflict(format!(
            "price plan {plan_id:?} has no DRAFT version to discard (finalized versions are \
             never deleted: archive them)"
        )));
    };
    let plan_deleted = sqlx::query(
        "DELETE FROM price_plans p WHERE org_id = $1 AND id = $2 AND NOT EXISTS \
         (SELECT 1 FROM price_plan_versions v WHERE v.org_id = p.org_id AND v.plan_id = p.id)",
    )
    .bind(org)
    .bind(plan_id)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    tx.commit().await?;
    Ok(Discarded {
        plan_id: plan_id.to_string(),
        version: version as u32,
        plan_deleted,
    })
}

/// Locks the plan row (what orders concurrent applies, edits, finalizes and discards
/// of one plan); not found if the plan does not exist.
async fn lock_plan(conn: &mut PgConnection, org: &str, plan_id: &str) -> Result<()> {
    let found: Option<String> =
        sqlx::query_scalar("SELECT id FROM price_plans WHERE org_id = $1 AND id = $2 FOR UPDATE")
            .bind(org)
            .bind(plan_id)
            .fetch_optional(&mut *conn)
            .await?;
    found
        .map(|_| ())
        .ok_or_else(|| plan_not_found(org, plan_id))
}

/// Fails with "price plan ... does not exist" ([`CatalogError::NotFound`]) unless the
/// organisation has the plan: for refusals that would otherwise blame its versions
/// ("no ACTIVE version") when the id itself is wrong.
pub async fn require(conn: &mut PgConnection, org: &str, plan_id: &str) -> Result<()> {
    let found: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM price_plans WHERE org_id = $1 AND id = $2)",
    )
    .bind(org)
    .bind(plan_id)
    .fetch_one(&mut *conn)
    .await?;
    if found {
        Ok(())
    } else {
        Err(plan_not_found(org, plan_id))
    }
}

/// Lets the current transaction delete the organisation's finalized plan versions,
/// which the database otherwise refuses: for deleting a whole organisation's data
/// (the demo replacing its previous run), and nothing else.
pub async fn allow_organisation_purge(conn: &mut PgConnection, org: &str) -> Result<()> {
    sqlx::query("SELECT set_config('billrun.purge_organisation', $1, true)")
        .bind(org)
        .execute(conn)
        .await?;
    Ok(())
}
