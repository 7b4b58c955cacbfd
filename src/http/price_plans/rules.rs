//! `/v2/price_plans/{id}/pricing_rules`: a plan's pricing rules in Togai's shapes
//! (`PricingRulesPaginatedResponse` of `PricingRule`, `UpdatePricingRulesRequest` of
//! `CreatePricingRule`), over `catalog::plans::{pricing_rules_of,
//! replace_pricing_rules}`; semantics in [`billrun_core::pricing_rules`] and README
//! "Price plans", "Pricing rules". A rule's `id` is its name (unique in the plan) and
//! its `version` the plan version's number.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{change, VersionQuery};
use crate::catalog::plans::{self, PlanVersion};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Body, Params};
use crate::http::{audited, AppState};
use crate::identity::Principal;

/// Togai's `PricingRulesPaginatedResponse` (one page: all of them).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PricingRulesPage {
    /// Togai's `PricingRule`s, in the order given: `id` (the name), `name`,
    /// `version`, `invoiceTiming`, `order`, `condition`, `computation`, `action`.
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<Value>,
}

/// Togai's `UpdatePricingRulesRequest`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdatePricingRulesRequest {
    /// Togai's `CreatePricingRule`s (`name`, `order`, `invoiceTiming`, `condition`,
    /// `computation`, `action{type, target, description}`); absent or `[]`: none.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub pricing_rules: Option<Vec<Value>>,
}

fn page(version: &PlanVersion) -> Result<PricingRulesPage, ApiError> {
    let rules = plans::pricing_rules_of(version)?;
    Ok(PricingRulesPage {
        data: rules
            .iter()
            .map(|r| {
                let mut v = json!(r);
                v["id"] = json!(r.name);
                v["version"] = json!(version.version);
                v["invoiceTiming"] = json!(r.timing().as_str());
                v
            })
            .collect(),
    })
}

/// The pricing rules of a plan version (`?version=`, else the latest).
#[utoipa::path(get, path = "/v2/price_plans/{price_plan_id}/pricing_rules", tag = "price plans",
    params(("price_plan_id" = String, Path, description = "the plan's name"), VersionQuery),
    responses(
        (status = 200, description = "the rules, in the order given", body = PricingRulesPage),
        (status = 404, description = "no such plan or version in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn pricing_rules(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Params(q): Params<VersionQuery>,
) -> Result<Json<PricingRulesPage>, ApiError> {
    let version = plans::get_version(&state.pool, &who.org, &id, q.number()?).await?;
    Ok(Json(page(&version)?))
}

/// Replaces the plan's pricing rules (audited as `plan.pricing_rules`) in its DRAFT,
/// or in a new DRAFT after a finalized version. Rules that do not parse are refused
/// with 400 naming `pricingRules[i].<field>`, the rule and the position; nothing
/// changes.
#[utoipa::path(put, path = "/v2/price_plans/{price_plan_id}/pricing_rules", tag = "price plans",
    params(("price_plan_id" = String, Path, description = "the plan's name")),
    request_body = UpdatePricingRulesRequest,
    responses(
        (status = 200, description = "the DRAFT's rules", body = PricingRulesPage),
        (status = 400, description = "a rule does not parse", body = ErrorBody),
        (status = 404, description = "no such plan in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn update_pricing_rules(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Body(req): Body<UpdatePricingRulesRequest>,
) -> Result<Json<PricingRulesPage>, ApiError> {
    let rules = req.pricing_rules.unwrap_or_default();
    let count = rules.len();
    let applied = plans::replace_pricing_rules(&state.pool, &who.org, &id, &rules)
        .await
        .map_err(ApiError::from);
    let details = match &applied {
        Ok(a) => json!({ "pricingRules": count, "version": a.version }),
        Err(_) => json!({ "pricingRules": count }),
    };
    let applied = audited(
        &state,
        &who,
        change("plan.pricing_rules", &id),
        details,
        applied,
    )
    .await?;
    let version = plans::get_version(&state.pool, &who.org, &id, Some(applied.version)).await?;
    Ok(Json(page(&version)?))
}
