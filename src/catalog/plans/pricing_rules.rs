//! A plan's pricing rules (Togai's `PUT /v2/price_plans/{id}/pricing_rules`,
//! README "Price plans", "Pricing rules"): kept in the version's definition
//! (`pricingRules`), so a finalized version's rules never change, and replaced as a
//! whole ([`replace_pricing_rules`]) in the DRAFT like a rate card operation.

use billrun_core::plan::Plan;
use billrun_core::pricing_rules::PricingRule;
use serde_json::Value;
use sqlx::PgPool;

use super::rate_cards::edit_latest;
use super::{Applied, PlanVersion};
use crate::catalog::{CatalogError, Result};
use crate::store::OrgId;

/// Replaces the pricing rules of the plan's latest version with `rules` (Togai's
/// `CreatePricingRule` objects; `[]` removes them): in its DRAFT, or in a new DRAFT
/// after a finalized version, as [`super::apply_rate_card_operations`] does (rules
/// equal to the latest version's change nothing and create no DRAFT). Rules
/// that do not parse are refused ([`CatalogError::InvalidPlan`], each error naming
/// `pricingRules[i].<field>`, the rule and the position) and nothing is written.
pub async fn replace_pricing_rules(
    pool: &PgPool,
    org: &OrgId,
    plan_id: &str,
    rules: &[Value],
) -> Result<Applied> {
    edit_latest(pool, org, plan_id, true, |latest| {
        let mut definition = latest.clone();
        if let Some(obj) = definition.as_object_mut() {
            if rules.is_empty() {
                obj.remove("pricingRules");
            } else {
                obj.insert("pricingRules".into(), Value::Array(rules.to_vec()));
            }
        }
        Plan::from_json(&definition).map_err(CatalogError::InvalidPlan)
    })
    .await
}

/// The pricing rules of a stored version, in the order given.
pub fn pricing_rules_of(version: &PlanVersion) -> Result<Vec<PricingRule>> {
    Ok(version.plan()?.pricing_rules)
}
