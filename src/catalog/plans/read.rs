//! Reading plan versions: one, a plan's, the latest of each plan, the latest ACTIVE.

use sqlx::PgPool;

use super::*;
use crate::catalog::Result;
use crate::store::OrgId;

/// Every version of a plan, oldest first.
pub async fn versions(pool: &PgPool, org: &OrgId, plan_id: &str) -> Result<Vec<PlanVersion>> {
    let rows: Vec<VersionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM price_plan_versions WHERE org_id = $1 AND plan_id = $2 \
         ORDER BY version"
    )))
    .bind(org)
    .bind(plan_id)
    .fetch_all(pool)
    .await?;
    if rows.is_empty() {
        return Err(plan_not_found(org, plan_id));
    }
    rows.into_iter().map(VersionRow::into_version).collect()
}

/// One version of a plan; the latest (draft or not) if `version` is `None`.
pub async fn get_version(
    pool: &PgPool,
    org: &OrgId,
    plan_id: &str,
    version: Option<u32>,
) -> Result<PlanVersion> {
    let row: Option<VersionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM price_plan_versions WHERE org_id = $1 AND plan_id = $2 \
         AND ($3::int IS NULL OR version = $3) ORDER BY version DESC LIMIT 1"
    )))
    .bind(org)
    .bind(plan_id)
    .bind(version.map(|v| v as i32))
    .fetch_optional(pool)
    .await?;
    match (row, version) {
        (Some(r), _) => r.into_version(),
        (None, Some(v)) => Err(version_not_found(org, plan_id, v)),
        (None, None) => Err(plan_not_found(org, plan_id)),
    }
}

/// The latest ACTIVE version of a plan, if any.
pub async fn latest_active(pool: &PgPool, org: &str, plan_id: &str) -> Result<Option<PlanVersion>> {
    let row: Option<VersionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM price_plan_versions WHERE org_id = $1 AND plan_id = $2 \
         AND status = 'ACTIVE' ORDER BY version DESC LIMIT 1"
    )))
    .bind(org)
    .bind(plan_id)
    .fetch_optional(pool)
    .await?;
    row.map(VersionRow::into_version).transpose()
}

/// Several versions at once, by `(plan_id, version)`: what a bill run loads for the
/// associations of a batch of accounts. Versions that do not exist are absent.
pub async fn load_versions(
    pool: &PgPool,
    org: &str,
    keys: &[(String, u32)],
) -> Result<Vec<PlanVersion>> {
    let plan_ids: Vec<&str> = keys.iter().map(|(p, _)| p.as_str()).collect();
    let numbers: Vec<i32> = keys.iter().map(|(_, v)| *v as i32).collect();
    let rows: Vec<VersionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM price_plan_versions \
         WHERE org_id = $1 AND (plan_id, version) IN \
               (SELECT * FROM UNNEST($2::text[], $3::int[])) \
         ORDER BY plan_id, version"
    )))
    .bind(org)
    .bind(&plan_ids)
    .bind(&numbers)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(VersionRow::into_version).collect()
}

/// The latest version of every plan of the organisation, by plan id.
pub async fn list_latest(pool: &PgPool, org: &OrgId) -> Result<Vec<PlanVersion>> {
    let rows: Vec<VersionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT DISTINCT ON (plan_id) {COLUMNS} FROM price_plan_versions \
         WHERE org_id = $1 ORDER BY plan_id, version DESC"
    )))
    .bind(org)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(VersionRow::into_version).collect()
}
