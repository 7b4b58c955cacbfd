//! "Is this account entitled to this feature?" (Togai's `GET
//! /accounts/{account_id}/features/{feature_id}`, `GetFeatureCreditsResponse`;
//! `billrun entitlement check`): the allowance and use of the feature in the
//! account's cycle at an instant.

use billrun_core::charges::plan_allowance;
use billrun_core::plan::Plan;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

use crate::catalog::{CatalogError, Result};
use crate::store::OrgId;

/// An account's entitlement to a feature in the cycle that holds `as_of`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entitlement {
    /// The account.
    pub account_id: String,
    /// The feature.
    pub feature_id: String,
    /// The cycle's allowance: the plan's IN_ADVANCE / IN_ARREARS entitlement cards
    /// granting in it, plus the ledger's PREPAID grants over it (units of the
    /// feature); 0 without a cycle.
    pub granted: Decimal,
    /// The feature's use in the cycle (all its events dated in the cycle).
    pub used: Decimal,
    /// `granted - used`, at least 0.
    pub balance: Decimal,
    /// The most overage allowed per cycle: the overage card's `maxQuantity`; `None`
    /// (JSON null) unlimited; 0 when the plan has no overage card for the feature.
    pub overage_limit: Option<Decimal>,
    /// `used - granted`, at least 0.
    pub used_overage: Decimal,
    /// Whether one more unit may be used: some balance left, or overage below its
    /// limit.
    pub entitled: bool,
    /// The cycle's first instant (UTC), if the account has a cycle at `as_of`.
    pub cycle_starts_at: Option<DateTime<Utc>>,
    /// The instant after the cycle (UTC).
    pub cycle_ends_at: Option<DateTime<Utc>>,
}

/// The billing cycle holding an instant: index, first instant, instant after, and the
/// plan version (id, version, definition) of its association.
type CycleRow = (i32, DateTime<Utc>, DateTime<Utc>, String, i32, Value);

/// The entitlement of `account_id` to `feature_id` at `as_of` (UTC), from the
/// billing cycle holding `as_of` (opened by the bill run) and the plan version its
/// association names (overrides are not applied). Errors: the feature or the
/// account not in the organisation ([`CatalogError::NotFound`]), a stored plan that
/// does not parse ([`CatalogError::Corrupt`]), the database.
pub async fn entitlement(
    pool: &PgPool,
    org: &OrgId,
    account_id: &str,
    feature_id: &str,
    as_of: DateTime<Utc>,
) -> Result<Entitlement> {
    super::features::get(pool, org, feature_id).await?;
    let account: Option<String> =
        sqlx::query_scalar("SELECT id FROM accounts WHERE org_id = $1 AND id = $2")
            .bind(org)
            .bind(account_id)
            .fetch_optional(pool)
            .await?;
    if account.is_none() {
        return Err(CatalogError::NotFound {
            what: "account",
            org: org.to_string(),
            id: account_id.to_string(),
        });
    }
    let cycle: Option<CycleRow> = sqlx::query_as(
        "SELECT c.cycle_index, c.starts_at, c.ends_at, v.plan_id, v.version, v.definition
         FROM billing_cycles c
         JOIN plan_associations p ON p.org_id = c.org_id AND p.account_id = c.account_id
                                 AND p.effective_from = c.association_from
         JOIN price_plan_versions v ON v.org_id = p.org_id AND v.plan_id = p.plan_id
                                   AND v.version = p.plan_version
         WHERE c.org_id = $1 AND c.account_id = $2 AND c.starts_at <= $3 AND c.ends_at > $3
         ORDER BY c.starts_at DESC LIMIT 1",
    )
    .bind(org)
    .bind(account_id)
    .bind(as_of)
    .fetch_optional(pool)
    .await?;
    let mut e = Entitlement {
        account_id: account_id.to_string(),
        feature_id: feature_id.to_string(),
        granted: Decimal::ZERO,
        used: Decimal::ZERO,
        balance: Decimal::ZERO,
        overage_limit: Some(Decimal::ZERO),
        used_overage: Decimal::ZERO,
        entitled: false,
        cycle_starts_at: None,
        cycle_ends_at: None,
    };
    let Some((index, starts, ends, plan_id, version, definition)) = cycle else {
        return Ok(e);
    };
    let plan = Plan::from_json(&definition).map_err(|err| CatalogError::Corrupt {
        what: format!("price plan {plan_id} v{version}"),
        message: err.to_string(),
    })?;
    let mut conn = pool.acquire().await?;
    let uses =
        super::ledger::feature_use(&mut conn, org, &[account_id], &[starts], &[ends]).await?;
    let fu = uses[0].get(feature_id).copied().unwrap_or_default();
    e.granted = plan_allowance(&plan, feature_id, index as u32) + fu.prepaid_granted;
    e.used = fu.used;
    e.balance = (e.granted - e.used).max(Decimal::ZERO);
    e.used_overage = (e.used - e.granted).max(Decimal::ZERO);
    e.overage_limit = match plan
        .overage_cards
        .iter()
        .find(|c| c.feature_id == feature_id)
    {
        Some(card) => card.max_quantity,
        None => Some(Decimal::ZERO),
    };
    e.entitled = e.balance > Decimal::ZERO || e.overage_limit.is_none_or(|l| e.used_overage < l);
    e.cycle_starts_at = Some(starts);
    e.cycle_ends_at = Some(ends);
    Ok(e)
}
