//! Editing a plan by Togai's bulk rate card operations
//! ([`billrun_core::rate_card_ops`]), all or nothing ([`apply_rate_card_operations`]).

use billrun_core::rate_card_ops::{self, OperationErrors};
use serde_json::Value;
use sqlx::PgPool;

use super::*;
use crate::catalog::{CatalogError, Result};
use crate::error::{Classify, ErrorKind};
use crate::store::OrgId;

/// Why [`apply_rate_card_operations`] wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum RateCardsError {
    /// The plan, its versions or the database refused.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Some operations are wrong: one entry per failing operation (or card).
    #[error("the rate card operations were refused, nothing was changed:\n{0}")]
    Operations(OperationErrors),
}

impl From<sqlx::Error> for RateCardsError {
    fn from(e: sqlx::Error) -> Self {
        RateCardsError::Catalog(e.into())
    }
}

impl Classify for RateCardsError {
    fn kind(&self) -> ErrorKind {
        match self {
            RateCardsError::Catalog(e) => e.kind(),
            RateCardsError::Operations(_) => ErrorKind::Invalid,
        }
    }
}

/// Applies Togai's bulk rate card operations (`{"operations": [...]}`, see
/// [`billrun_core::rate_card_ops`]) to the plan's DRAFT, all or nothing.
///
/// If the plan's latest version is finalized (ACTIVE or ARCHIVED), the next version
/// is created as a DRAFT: a copy of that version with the operations applied. That
/// finalized version does not change (nor do the invoices computed from it); accounts
/// stay on it until they are attached to the new version. Either way it happens in
/// one transaction under the plan's row lock, and if any operation fails nothing is
/// written (no draft created or changed).
pub async fn apply_rate_card_operations(
    pool: &PgPool,
    org: &OrgId,
    plan_id: &str,
    operations: &Value,
) -> Result<Applied, RateCardsError> {
    edit_latest(pool, org, plan_id, false, |latest| {
        rate_card_ops::apply_operations(latest, operations).map_err(RateCardsError::Operations)
    })
    .await
}

/// Edits the plan's latest version with `edit` (its definition -> the new plan): in
/// the DRAFT, or in a new DRAFT after a finalized version (which does not change), in
/// one transaction under the plan's row lock; nothing is written if `edit` fails.
/// Shared by the rate card operations and the pricing rules (`pricing_rules.rs`).
/// With `keep_unchanged`, an edit that changes nothing creates no new DRAFT after a
/// finalized version either (the rate card operations always create one).
pub(super) async fn edit_latest<E: From<CatalogError> + From<sqlx::Error>>(
    pool: &PgPool,
    org: &OrgId,
    plan_id: &str,
    keep_unchanged: bool,
    edit: impl FnOnce(&Value) -> Result<billrun_core::plan::Plan, E>,
) -> Result<Applied, E> {
    let mut tx = pool.begin().await?;
    lock_plan(&mut tx, org, plan_id).await?;
    let latest: Option<VersionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM price_plan_versions WHERE org_id = $1 AND plan_id = $2 \
         ORDER BY version DESC LIMIT 1"
    )))
    .bind(org)
    .bind(plan_id)
    .fetch_optional(&mut *tx)
    .await?;
    let latest = latest
        .ok_or_else(|| plan_not_found(org, plan_id))?
        .into_version()?;
    let plan = edit(&latest.definition)?;
    crate::catalog::addons::check_plan(&mut tx, org, &plan).await?;
    // Edits change cards or rules only: name, currencies and cycle are the base's.
    let definition = plan.to_json();
    let (version, outcome) = if keep_unchanged && definition == latest.definition {
        (latest.version, ApplyOutcome::Unchanged)
    } else if latest.status == PlanStatus::Draft {
        if definition == latest.definition {
            (latest.version, ApplyOutcome::Unchanged)
        } else {
            sqlx::query(
                "UPDATE price_plan_versions SET definition = $4, updated_at = now() \
                 WHERE org_id = $1 AND plan_id = $2 AND version = $3",
            )
            .bind(org)
            .bind(plan_id)
            .bind(latest.version as i32)
            .bind(&definition)
            .execute(&mut *tx)
            .await?;
            (latest.version, ApplyOutcome::DraftUpdated)
        }
    } else {
        let next = latest.version + 1;
        sqlx::query(
            "INSERT INTO price_plan_versions (org_id, plan_id, version, status, definition) \
             VALUES ($1, $2, $3, 'DRAFT', $4)",
        )
        .bind(org)
        .bind(plan_id)
        .bind(next as i32)
        .bind(&definition)
        .execute(&mut *tx)
        .await?;
        (next, ApplyOutcome::Created)
    };
    tx.commit().await?;
    Ok(Applied {
        plan_id: plan_id.to_string(),
        version,
        status: PlanStatus::Draft,
        outcome,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_operations_are_invalid_and_catalog_errors_keep_their_kind() {
        assert_eq!(
            RateCardsError::Operations(OperationErrors(Vec::new())).kind(),
            ErrorKind::Invalid
        );
        let missing = CatalogError::NotFound {
            what: "price plan",
            org: "acme".into(),
            id: "growth".into(),
        };
        assert_eq!(RateCardsError::from(missing).kind(), ErrorKind::NotFound);
        assert_eq!(
            RateCardsError::from(sqlx::Error::PoolTimedOut).kind(),
            ErrorKind::Unavailable
        );
    }
}
