//! `/v2/price_plans`: Togai's Price Plan V2 API (issue 14) over `catalog::plans`, the
//! same calls as `billrun plan ...` (`src/cli/plan.rs`). Shapes are Togai's
//! (`PricePlanV2`, `CreatePricePlanV2Request`, `UpdatePricePlanV2Request`,
//! `PricePlanV2PaginatedResponse`, `BaseSuccessResponse`,
//! `ValidatedEntityErrorsPaginatedResponse`, `PricingRulesPaginatedResponse`); rate
//! cards are in [`rate_cards`]. Every change is audited (`plan.create`, `plan.update`,
//! `plan.rate_cards`, `plan.finalize`, `plan.discard`, `plan.pricing_rules`), SUCCESS
//! or FAILURE. Errors are Togai's `{"message"}`: 400 for a bad request (naming the
//! field), 404 for a plan not in the caller's organisation, 409 for a state that
//! forbids the change (finalizing or discarding a plan without a DRAFT, creating a
//! name that exists).
//!
//! How billrun's plans appear in Togai's shape (README "HTTP API"):
//! - A plan is identified by its name: `id`, `name` and `referenceId` are all the
//!   plan's name. `version` is the version's number (1, 2, ...).
//! - `status` is Togai's DRAFT or ACTIVE: billrun's ARCHIVED (finalized and retired,
//!   accounts on it keep it) is answered as ACTIVE, since Togai's client knows only
//!   those two; `billrun plan versions` tells them apart.
//! - `type` is always BILLING (PURCHASE plans are refused); `deferredRevenue` and
//!   `allowOngoingCycleUpdates` are not supported (`true` is refused, they are not
//!   answered). `pricingCycleConfig` is required (billrun bills by cycles);
//!   `startOffset.monthOffset` is `"NIL"` for cycles without one (weekly, monthly),
//!   as Togai writes it, and `"NIL"` is accepted as "none".
//! - `createdAt`, `updatedAt` are the version's (UTC).
//! - Creating a plan carries no rate card: the plan is an empty DRAFT until rate card
//!   operations add cards (an empty plan is valid).
//! - Updating (PATCH) a plan whose latest version is finalized creates the next
//!   version as a DRAFT, as `billrun plan apply` does; so do rate card operations.
//! - Finalizing does not migrate accounts: `migrationMode` and `versionsToMigrate` are
//!   refused (400); migrate with a plan migration afterwards.
//! - Pricing rules (`rules`, issue 17) are kept in the plan version: replacing them
//!   edits the DRAFT (or creates the next one) like a rate card operation.
//! - The errors of a plan are what stands in the way of finalizing its DRAFT: usage
//!   cards whose usage meter does not exist (`entityType` RATE_CARD).

pub mod rate_cards;
mod rules;

pub use rules::*;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::error::{ApiError, ErrorBody};
use super::extract::{Body, Params};
use super::{audited, AppState, Change, PageQuery};
use crate::catalog::plans::{self, PlanStatus, PlanVersion};
use crate::identity::Principal;

/// Togai's `PricePlanV2`: one version of a plan.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PricePlanV2 {
    /// The plan's name (its id).
    pub name: String,
    /// Its description, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Always `BILLING`.
    #[serde(rename = "type")]
    pub plan_type: &'static str,
    /// Togai's `PricingCycleConfig` (`monthOffset` `"NIL"` when the cycle has none).
    #[schema(value_type = Object)]
    pub pricing_cycle_config: Value,
    /// ISO 4217 codes.
    pub supported_currencies: Vec<String>,
    /// The plan's name.
    pub id: String,
    /// The plan's name.
    pub reference_id: String,
    /// The version's number, from 1.
    pub version: u32,
    /// `DRAFT` or `ACTIVE` (billrun's ARCHIVED is answered as ACTIVE).
    pub status: &'static str,
    /// When the version was created (UTC).
    pub created_at: DateTime<Utc>,
    /// When its definition last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

/// Togai's `PricePlanV2PaginatedResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PricePlanV2Page {
    /// The page's plans (or versions).
    pub data: Vec<PricePlanV2>,
    /// The token of the next page, absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// Togai's `CreatePricePlanV2Request`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreatePricePlanV2Request {
    /// The plan's name: its id, unique in the organisation (at most 50 characters).
    pub name: String,
    /// A description (at most 255 characters).
    #[serde(default)]
    pub description: Option<String>,
    /// `BILLING` (billrun has no PURCHASE plans).
    #[serde(rename = "type")]
    pub plan_type: String,
    /// Togai's `PricingCycleConfig`; required by billrun.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub pricing_cycle_config: Option<Value>,
    /// ISO 4217 codes, each enabled for the organisation.
    pub supported_currencies: Vec<String>,
    /// Not supported: `true` is refused.
    #[serde(default)]
    pub deferred_revenue: Option<bool>,
    /// Not supported: `true` is refused.
    #[serde(default)]
    pub allow_ongoing_cycle_updates: Option<bool>,
}

/// Togai's `UpdatePricePlanV2Request`: the fields given replace the latest version's.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdatePricePlanV2Request {
    /// A new description.
    #[serde(default)]
    pub description: Option<String>,
    /// A new pricing cycle.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub pricing_cycle_config: Option<Value>,
    /// New currencies (every card must still price only these).
    #[serde(default)]
    pub supported_currencies: Option<Vec<String>>,
}

/// Togai's `FinalizePricePlanRequest`: billrun accepts it empty only.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FinalizePricePlanRequest {
    /// Refused: billrun migrates accounts by plan migrations, not on finalizing.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub migration_mode: Option<Value>,
    /// Refused, as `migrationMode`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub versions_to_migrate: Option<Value>,
}

/// Togai's `BaseSuccessResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SuccessBody {
    /// Always true (a failure is an error status).
    pub success: bool,
}

/// Togai's `ValidatedEntityError`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValidatedEntityError {
    /// The plan's name.
    pub reference_id: String,
    /// The rate card's name.
    pub entity_id: String,
    /// `RATE_CARD`.
    pub entity_type: &'static str,
    /// What is wrong, with the field's path in the plan.
    pub error_message: String,
}

/// Togai's `ValidatedEntityErrorsPaginatedResponse` (one page: all of them).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorsPage {
    /// The errors, in the plan's order.
    pub data: Vec<ValidatedEntityError>,
}

/// `?version=` of Togai's GET routes: a version number, the latest when absent.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct VersionQuery {
    /// The version (1, 2, ...); the latest when absent.
    pub version: Option<String>,
}

impl VersionQuery {
    fn number(&self) -> Result<Option<u32>, ApiError> {
        self.version
            .as_deref()
            .map(|v| {
                v.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    ApiError::invalid(format!(
                        "version {v:?}: expected a version number (1, 2, ...)"
                    ))
                })
            })
            .transpose()
    }
}

/// The pricing cycle as Togai writes it: `monthOffset` `"NIL"` when the cycle has none.
pub fn cycle_to_wire(cycle: &Value) -> Value {
    let mut cycle = cycle.clone();
    if let Some(start) = cycle.get_mut("startOffset").and_then(Value::as_object_mut) {
        start.entry("monthOffset").or_insert_with(|| json!("NIL"));
    }
    cycle
}

/// The pricing cycle as billrun reads it: Togai's `monthOffset` `"NIL"` is "none".
pub fn cycle_from_wire(cycle: &Value) -> Value {
    let mut cycle = cycle.clone();
    if let Some(start) = cycle.get_mut("startOffset").and_then(Value::as_object_mut) {
        if start.get("monthOffset").and_then(Value::as_str) == Some("NIL") {
            start.remove("monthOffset");
        }
    }
    cycle
}

/// A stored version in Togai's shape (see the module documentation).
pub fn plan_body(v: &PlanVersion) -> PricePlanV2 {
    let d = &v.definition;
    let currencies = d["supportedCurrencies"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    PricePlanV2 {
        name: v.plan_id.clone(),
        description: d["description"].as_str().map(str::to_string),
        plan_type: "BILLING",
        pricing_cycle_config: cycle_to_wire(&d["pricingCycleConfig"]),
        supported_currencies: currencies,
        id: v.plan_id.clone(),
        reference_id: v.plan_id.clone(),
        version: v.version,
        status: match v.status {
            PlanStatus::Draft => "DRAFT",
            PlanStatus::Active | PlanStatus::Archived => "ACTIVE",
        },
        created_at: v.created_at,
        updated_at: v.updated_at,
    }
}

/// The plan JSON (billrun's file shape, no cards) of a create request. Errors: a
/// PURCHASE plan, a missing `pricingCycleConfig`, `deferredRevenue` or
/// `allowOngoingCycleUpdates` true.
fn plan_json(req: &CreatePricePlanV2Request) -> Result<Value, ApiError> {
    if req.plan_type != "BILLING" {
        return Err(ApiError::invalid(format!(
            "type {:?}: billrun has BILLING price plans only",
            req.plan_type
        )));
    }
    // The same refusals, and words, as the plan parser's (`plan apply`).
    let [(deferred, deferred_why), (ongoing, ongoing_why)] = billrun_core::plan::REFUSED_PLAN_FLAGS;
    if req.deferred_revenue == Some(true) {
        return Err(ApiError::invalid(format!("{deferred}: {deferred_why}")));
    }
    if req.allow_ongoing_cycle_updates == Some(true) {
        return Err(ApiError::invalid(format!("{ongoing}: {ongoing_why}")));
    }
    let Some(cycle) = &req.pricing_cycle_config else {
        return Err(ApiError::invalid(
            "pricingCycleConfig: required by billrun (interval, startOffset, gracePeriod)",
        ));
    };
    let mut plan = json!({
        "name": req.name,
        "type": "BILLING",
        "supportedCurrencies": req.supported_currencies,
        "pricingCycleConfig": cycle_from_wire(cycle),
    });
    if let Some(d) = &req.description {
        plan["description"] = json!(d);
    }
    Ok(plan)
}

fn change<'a>(action: &'a str, plan_id: &'a str) -> Change<'a> {
    Change {
        action,
        object_type: "price_plan",
        object_id: plan_id,
    }
}

/// Creates a plan: version 1, an empty DRAFT (audited as `plan.create`).
#[utoipa::path(post, path = "/v2/price_plans", tag = "price plans",
    request_body = CreatePricePlanV2Request,
    responses(
        (status = 200, description = "created, a DRAFT without rate cards", body = PricePlanV2),
        (status = 400, description = "a field is invalid or not supported", body = ErrorBody),
        (status = 403, description = "the role may not change price plans", body = ErrorBody),
        (status = 409, description = "a plan of that name exists", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Body(req): Body<CreatePricePlanV2Request>,
) -> Result<Json<PricePlanV2>, ApiError> {
    let created = match plan_json(&req) {
        Ok(plan) => plans::create(&state.pool, &who.org, &plan)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    let applied = audited(
        &state,
        &who,
        change("plan.create", &req.name),
        json!({ "supportedCurrencies": req.supported_currencies }),
        created,
    )
    .await?;
    let v = plans::get_version(
        &state.pool,
        &who.org,
        &applied.plan_id,
        Some(applied.version),
    )
    .await?;
    Ok(Json(plan_body(&v)))
}

/// The organisation's plans, each as its latest version, by name, a page at a time.
#[utoipa::path(get, path = "/v2/price_plans", tag = "price plans",
    params(PageQuery),
    responses(
        (status = 200, description = "a page of plans", body = PricePlanV2Page),
        (status = 400, description = "pageSize out of 1..=50", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Params(q): Params<PageQuery>,
) -> Result<Json<PricePlanV2Page>, ApiError> {
    let all = plans::list_latest(&state.pool, &who.org).await?;
    let (rows, next_token, _) = q.page(all, |v| v.plan_id.as_str())?;
    Ok(Json(PricePlanV2Page {
        data: rows.iter().map(plan_body).collect(),
        next_token,
    }))
}

/// One version of a plan: `?version=`, else the latest.
#[utoipa::path(get, path = "/v2/price_plans/{price_plan_id}", tag = "price plans",
    params(("price_plan_id" = String, Path, description = "the plan's name"), VersionQuery),
    responses(
        (status = 200, description = "the version", body = PricePlanV2),
        (status = 400, description = "version is not a number", body = ErrorBody),
        (status = 404, description = "no such plan or version in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Params(q): Params<VersionQuery>,
) -> Result<Json<PricePlanV2>, ApiError> {
    let v = plans::get_version(&state.pool, &who.org, &id, q.number()?).await?;
    Ok(Json(plan_body(&v)))
}

/// Changes the plan's description, cycle or currencies (audited as `plan.update`):
/// on its DRAFT, or, when its latest version is finalized, on a new DRAFT version
/// copied from it. Answers the DRAFT.
#[utoipa::path(patch, path = "/v2/price_plans/{price_plan_id}", tag = "price plans",
    params(("price_plan_id" = String, Path, description = "the plan's name")),
    request_body = UpdatePricePlanV2Request,
    responses(
        (status = 200, description = "the DRAFT", body = PricePlanV2),
        (status = 400, description = "the plan would be invalid (every problem named)", body = ErrorBody),
        (status = 404, description = "no such plan in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Body(req): Body<UpdatePricePlanV2Request>,
) -> Result<Json<PricePlanV2>, ApiError> {
    let updated = async {
        let latest = plans::get_version(&state.pool, &who.org, &id, None).await?;
        let mut plan = latest.definition.clone();
        if let Some(d) = &req.description {
            plan["description"] = json!(d);
        }
        if let Some(c) = &req.pricing_cycle_config {
            plan["pricingCycleConfig"] = cycle_from_wire(c);
        }
        if let Some(c) = &req.supported_currencies {
            plan["supportedCurrencies"] = json!(c);
        }
        Ok::<_, ApiError>(plans::apply(&state.pool, &who.org, &plan).await?)
    }
    .await;
    let applied = audited(
        &state,
        &who,
        change("plan.update", &id),
        json!({
            "description": req.description,
            "pricingCycleConfig": req.pricing_cycle_config,
            "supportedCurrencies": req.supported_currencies,
        }),
        updated,
    )
    .await?;
    let v = plans::get_version(&state.pool, &who.org, &id, Some(applied.version)).await?;
    Ok(Json(plan_body(&v)))
}

/// Deletes the plan's DRAFT (audited as `plan.discard`); a plan with no other
/// version is deleted with it.
#[utoipa::path(delete, path = "/v2/price_plans/{price_plan_id}/discard", tag = "price plans",
    params(("price_plan_id" = String, Path, description = "the plan's name")),
    responses(
        (status = 200, description = "discarded", body = SuccessBody),
        (status = 404, description = "no such plan in the organisation", body = ErrorBody),
        (status = 409, description = "the plan has no DRAFT", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn discard(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<SuccessBody>, ApiError> {
    let discarded = plans::discard(&state.pool, &who.org, &id).await;
    let details = match &discarded {
        Ok(d) => json!({ "version": d.version, "planDeleted": d.plan_deleted }),
        Err(_) => json!({}),
    };
    audited(
        &state,
        &who,
        change("plan.discard", &id),
        details,
        discarded,
    )
    .await?;
    Ok(Json(SuccessBody { success: true }))
}

/// Makes the plan's DRAFT ACTIVE (audited as `plan.finalize`). Every usage meter its
/// cards price must exist (else 400 naming the card's field).
#[utoipa::path(post, path = "/v2/price_plans/{price_plan_id}/finalize", tag = "price plans",
    params(("price_plan_id" = String, Path, description = "the plan's name")),
    request_body = FinalizePricePlanRequest,
    responses(
        (status = 200, description = "finalized", body = SuccessBody),
        (status = 400, description = "a usage meter is missing, or a migration was asked for", body = ErrorBody),
        (status = 404, description = "no such plan in the organisation", body = ErrorBody),
        (status = 409, description = "the plan has no DRAFT", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn finalize(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Body(req): Body<FinalizePricePlanRequest>,
) -> Result<Json<SuccessBody>, ApiError> {
    let finalized = if req.migration_mode.is_some() || req.versions_to_migrate.is_some() {
        Err(ApiError::invalid(
            "migrationMode, versionsToMigrate: billrun does not migrate accounts when \
             finalizing; create a plan migration (POST /v2/price_plans/migration) afterwards",
        ))
    } else {
        plans::finalize(&state.pool, &who.org, &id, None)
            .await
            .map_err(ApiError::from)
    };
    let details = match &finalized {
        Ok(v) => json!({ "version": v.version }),
        Err(_) => json!({}),
    };
    audited(
        &state,
        &who,
        change("plan.finalize", &id),
        details,
        finalized,
    )
    .await?;
    Ok(Json(SuccessBody { success: true }))
}

/// The plan's versions, oldest first, a page at a time.
#[utoipa::path(get, path = "/v2/price_plans/{price_plan_id}/versions", tag = "price plans",
    params(("price_plan_id" = String, Path, description = "the plan's name"), PageQuery),
    responses(
        (status = 200, description = "a page of versions", body = PricePlanV2Page),
        (status = 404, description = "no such plan in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn versions(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Params(q): Params<PageQuery>,
) -> Result<Json<PricePlanV2Page>, ApiError> {
    let all = plans::versions(&state.pool, &who.org, &id).await?;
    // Keys in version order: zero-padded numbers.
    let keyed: Vec<(String, PlanVersion)> = all
        .into_iter()
        .map(|v| (format!("{:010}", v.version), v))
        .collect();
    let (rows, next_token, _) = q.page(keyed, |(k, _)| k.as_str())?;
    Ok(Json(PricePlanV2Page {
        data: rows.iter().map(|(_, v)| plan_body(v)).collect(),
        next_token,
    }))
}

/// What stands in the way of finalizing the plan's DRAFT (none once finalized).
#[utoipa::path(get, path = "/v2/price_plans/{price_plan_id}/errors", tag = "price plans",
    params(("price_plan_id" = String, Path, description = "the plan's name")),
    responses(
        (status = 200, description = "the errors, all on one page", body = ErrorsPage),
        (status = 404, description = "no such plan in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn errors(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<ErrorsPage>, ApiError> {
    let problems = plans::finalize_problems(&state.pool, &who.org, &id).await?;
    Ok(Json(ErrorsPage {
        data: problems
            .into_iter()
            .map(|(card, e)| ValidatedEntityError {
                reference_id: id.clone(),
                entity_id: card,
                entity_type: "RATE_CARD",
                error_message: e.to_string(),
            })
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_offsets_are_nil_on_the_wire_when_the_cycle_has_none() {
        let stored = json!({"interval": "MONTHLY", "startOffset": {"dayOffset": "1"},
                            "gracePeriod": 3, "anniversaryCycle": false});
        let wire = cycle_to_wire(&stored);
        assert_eq!(wire["startOffset"]["monthOffset"], "NIL");
        assert_eq!(cycle_from_wire(&wire), stored);
        let quarterly = json!({"interval": "QUARTERLY",
                               "startOffset": {"dayOffset": "1", "monthOffset": "2"}});
        assert_eq!(cycle_to_wire(&quarterly), quarterly);
        assert_eq!(cycle_from_wire(&quarterly), quarterly);
    }

    #[test]
    fn versions_are_whole_numbers_from_one() {
        let q = |v: &str| VersionQuery {
            version: Some(v.into()),
        };
        assert_eq!(q("2").number().unwrap(), Some(2));
        assert!(q("0").number().is_err());
        assert!(q("latest").number().is_err());
        assert_eq!(VersionQuery::default().number().unwrap(), None);
    }
}
