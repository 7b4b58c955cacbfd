//! "Is this account entitled to this feature?" (Togai's `GET
//! /accounts/{account_id}/features/{feature_id}`, `GetFeatureCreditsResponse`;
//! `billrun entitlement check`): the allowance and use of the feature in the
//! account's cycle at an instant; every feature of the account's plan at once
//! ([`entitlements`], Togai's `GET /accounts/{account_id}/entitlements`); and whether
//! a quantity more may be used ([`Entitlement::allows`], Togai's `POST
//! /accounts/{account_id}/entitlements/{feature_id}`).

use billrun_core::charges::plan_allowance;
use billrun_core::plan::Plan;
use chrono::{DateTime, NaiveDate, Utc};
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

/// The billing cycle holding an instant: index, first billed day (local), first
/// instant, instant after, and the plan version (id, version, definition) of its
/// association.
type CycleRow = (
    i32,
    NaiveDate,
    DateTime<Utc>,
    DateTime<Utc>,
    String,
    i32,
    Value,
);

/// The account's billing cycle holding an instant, with its plan.
struct Cycle {
    index: u32,
    billed_start: NaiveDate,
    starts: DateTime<Utc>,
    ends: DateTime<Utc>,
    plan: Plan,
}

/// Errors unless the account is in the organisation.
async fn check_account(pool: &PgPool, org: &OrgId, account_id: &str) -> Result<()> {
    let account: Option<String> =
        sqlx::query_scalar("SELECT id FROM accounts WHERE org_id = $1 AND id = $2")
            .bind(org)
            .bind(account_id)
            .fetch_optional(pool)
            .await?;
    match account {
        Some(_) => Ok(()),
        None => Err(CatalogError::NotFound {
            what: "account",
            org: org.to_string(),
            id: account_id.to_string(),
        }),
    }
}

/// The billing cycle of the account holding `as_of` (opened by the bill run) and the
/// plan version its association names (overrides are not applied); `None` without
/// one.
async fn cycle_at(
    pool: &PgPool,
    org: &OrgId,
    account_id: &str,
    as_of: DateTime<Utc>,
) -> Result<Option<Cycle>> {
    let cycle: Option<CycleRow> = sqlx::query_as(
        "SELECT c.cycle_index, c.billed_start, c.starts_at, c.ends_at, v.plan_id, v.version, v.definition
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
    let Some((index, billed_start, starts, ends, plan_id, version, definition)) = cycle else {
        return Ok(None);
    };
    let plan = Plan::from_json(&definition).map_err(|err| CatalogError::Corrupt {
        what: format!("price plan {plan_id} v{version}"),
        message: err.to_string(),
    })?;
    Ok(Some(Cycle {
        index: index as u32,
        billed_start,
        starts,
        ends,
        plan,
    }))
}

/// An entitlement without a cycle: nothing granted, used or allowed.
fn nothing(account_id: &str, feature_id: &str) -> Entitlement {
    Entitlement {
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
    }
}

/// The entitlement to each of `features` in `cycle`, from the use and PREPAID grants
/// of its billed days.
async fn in_cycle(
    pool: &PgPool,
    org: &OrgId,
    account_id: &str,
    cycle: &Cycle,
    features: &[String],
) -> Result<Vec<Entitlement>> {
    let mut conn = pool.acquire().await?;
    let uses = super::ledger::feature_use(
        &mut conn,
        org,
        &[account_id],
        &[cycle.starts],
        &[cycle.ends],
    )
    .await?;
    Ok(features
        .iter()
        .map(|feature_id| {
            let fu = uses[0].get(feature_id).copied().unwrap_or_default();
            let mut e = nothing(account_id, feature_id);
            e.granted = plan_allowance(&cycle.plan, feature_id, cycle.index, cycle.billed_start)
                + fu.prepaid_granted;
            e.used = fu.used;
            e.balance = (e.granted - e.used).max(Decimal::ZERO);
            e.used_overage = (e.used - e.granted).max(Decimal::ZERO);
            e.overage_limit = match cycle
                .plan
                .overage_cards
                .iter()
                .find(|c| &c.feature_id == feature_id)
            {
                Some(card) => card.max_quantity,
                None => Some(Decimal::ZERO),
            };
            e.entitled =
                e.balance > Decimal::ZERO || e.overage_limit.is_none_or(|l| e.used_overage < l);
            e.cycle_starts_at = Some(cycle.starts);
            e.cycle_ends_at = Some(cycle.ends);
            e
        })
        .collect())
}

impl Entitlement {
    /// Whether `quantity` more units may be used now: what is left of the allowance
    /// plus what is left of the overage limit (`overageLimit - usedOverage`;
    /// unlimited when there is no limit) covers it. With 200 left of the allowance
    /// and 50 of an overage limit of 500, 250 are allowed and 251 are not.
    pub fn allows(&self, quantity: Decimal) -> bool {
        match self.overage_limit {
            None => true,
            Some(limit) => {
                quantity <= self.balance + (limit - self.used_overage).max(Decimal::ZERO)
            }
        }
    }
}

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
    check_account(pool, org, account_id).await?;
    let Some(cycle) = cycle_at(pool, org, account_id, as_of).await? else {
        return Ok(nothing(account_id, feature_id));
    };
    let mut all = in_cycle(pool, org, account_id, &cycle, &[feature_id.to_string()]).await?;
    Ok(all.remove(0))
}

/// The entitlements of `account_id` at `as_of` (UTC) to every feature its plan names
/// in the cycle holding `as_of` (the `featureId` of its entitlement and overage
/// cards), by feature id, as [`entitlement`] computes each; empty without a cycle.
/// Errors: the account not in the organisation, a stored plan that does not parse,
/// the database.
pub async fn entitlements(
    pool: &PgPool,
    org: &OrgId,
    account_id: &str,
    as_of: DateTime<Utc>,
) -> Result<Vec<Entitlement>> {
    check_account(pool, org, account_id).await?;
    let Some(cycle) = cycle_at(pool, org, account_id, as_of).await? else {
        return Ok(Vec::new());
    };
    let features: std::collections::BTreeSet<String> = cycle
        .plan
        .entitlement_cards
        .iter()
        .map(|c| c.feature_id.clone())
        .chain(
            cycle
                .plan
                .overage_cards
                .iter()
                .map(|c| c.feature_id.clone()),
        )
        .collect();
    let features: Vec<String> = features.into_iter().collect();
    in_cycle(pool, org, account_id, &cycle, &features).await
}
