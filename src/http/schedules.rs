//! `/v2/accounts/{account_id}/schedules`, `/edit_schedules` and `/finalize_schedules`:
//! Togai's account schedules over billrun's plan associations
//! ([`crate::catalog::associations`], as `billrun account attach-plan`).
//!
//! Mapping (README "HTTP API"): a schedule is one association period: its `id` is
//! `<pricePlanId>@v<version>@<effectiveFrom>`, `startDate` is `effectiveFrom` at
//! 00:00 UTC and `endDate` the first date no longer billed (exclusive, as billrun's
//! `effective_until`) at 00:00 UTC, [`OPEN_END_DATE`] while open-ended.
//!
//! Togai's two steps (edit drafts, then finalize) are not kept: billrun has no draft
//! associations. `edit_schedules` validates every edit, then attaches them in order at
//! once, all or none (`associations::attach_all`, one transaction: an edit refused
//! after an earlier one leaves nothing attached; the error names the refused edit,
//! `edits[1]: ...`) and answers the
//! account's schedules; `finalize_schedules` changes nothing and answers the account's
//! schedules, as Togai's `SchedulesPaginatedResponse` (so a Togai client's
//! edit-then-finalize works), and `GET .../schedules?mode=DRAFT`
//! answers an empty page. An edit is `ASSOCIATE` (the default) with
//! `associationConfig.pricePlanId` (its latest ACTIVE version), `effectiveFrom` and
//! `effectiveUntil` (exclusive; `9999-12-31` or later: open-ended); attaching while
//! an open-ended period runs ends it there (a plan change). Not supported, answered
//! 400 naming the field: `DISASSOCIATE`, `scheduleId`,
//! `pricingCycleConfigOverride`, `retainStartOffsets: true`, `mergeSchedules: true`,
//! finalize's `mergeSchedules: true` and `preActions`. `?discard=true` discards
//! nothing (there are no drafts), and so does `DELETE .../discard_schedules`: it
//! answers Togai's `{"success": true}` for an account of the organisation and leaves
//! the applied edits as they are (undo one by editing again). Audited as
//! `account.edit_schedules` / `account.finalize_schedules` /
//! `account.discard_schedules`.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{ApiError, ErrorBody};
use super::extract::{Body, Params};
use super::price_plans::cycle_to_wire;
use super::{audited, AppState, Change};
use crate::catalog::associations::{self, Attachment, PlanAssociation};
use crate::catalog::{accounts, plans};
use crate::identity::Principal;

/// The `endDate` of an open-ended schedule, and the `effectiveUntil` from which an
/// edit is open-ended: 9999-12-31.
pub const OPEN_END_DATE: &str = "9999-12-31";

fn open_end_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(9999, 12, 31).expect("a valid date")
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).expect("midnight").and_utc()
}

/// Togai's `AssociationConfig`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssociationConfig {
    /// The plan to attach (its latest ACTIVE version).
    #[serde(default)]
    pub price_plan_id: Option<String>,
    /// Not supported (400).
    #[serde(default)]
    pub schedule_id: Option<String>,
    /// Not supported (400).
    #[serde(default)]
    pub pricing_cycle_config_override: Option<Value>,
    /// Only `false` supported.
    #[serde(default)]
    pub retain_start_offsets: Option<bool>,
}

/// Togai's `UpdateAccountScheduleV2Request`: one edit.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduleEdit {
    /// `ASSOCIATE` (default); `DISASSOCIATE` is not supported (400).
    #[serde(default)]
    pub mode: Option<String>,
    /// First local date billed on the plan.
    pub effective_from: NaiveDate,
    /// First local date no longer billed (exclusive); 9999-12-31 or later: open-ended.
    pub effective_until: NaiveDate,
    /// The plan.
    #[serde(default)]
    pub association_config: Option<AssociationConfig>,
    /// Only `false` supported.
    #[serde(default)]
    pub merge_schedules: Option<bool>,
}

/// Togai's `EditAccountScheduleRequest`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditSchedulesRequest {
    /// The edits (1 to 10), applied in order.
    pub edits: Vec<ScheduleEdit>,
}

/// `edit_schedules`' query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EditQuery {
    /// Discard the drafts first: there are none, so it changes nothing.
    #[serde(default)]
    pub discard: Option<bool>,
}

/// Togai's `FinalizeAccountSchedules`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FinalizeSchedulesRequest {
    /// Only `false` supported.
    #[serde(default)]
    pub merge_schedules: Option<bool>,
    /// Not supported when non-empty.
    #[serde(default)]
    pub pre_actions: Option<Vec<Value>>,
}

/// Togai's `PlanOverride`: one schedule in an edit's answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanOverrideBody {
    /// `<pricePlanId>@v<version>@<effectiveFrom>`.
    pub id: String,
    /// The plan.
    pub price_plan_id: String,
    /// The plan's name (billrun's plan id).
    pub price_plan_name: String,
    /// `effectiveFrom` at 00:00 UTC.
    pub start_date: DateTime<Utc>,
    /// First date no longer billed at 00:00 UTC; 9999-12-31 when open-ended.
    pub end_date: DateTime<Utc>,
}

/// Togai's `UpdatePricingScheduleResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EditSchedulesResponse {
    /// The account.
    pub account_id: String,
    /// Its name.
    pub account_name: String,
    /// Every period of the account, oldest first.
    pub pricing_schedules: Vec<PlanOverrideBody>,
}

/// Togai's `PricePlanInfo`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PricePlanInfo {
    /// The plan's name.
    pub name: String,
    /// Its description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Togai's `ScheduleInfo`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleInfo {
    /// The plan version's currencies.
    pub supported_currencies: Vec<String>,
    /// Its `PricingCycleConfig` (`monthOffset` `"NIL"` when none).
    pub pricing_cycle_config: Value,
}

/// Togai's `AccountSchedule`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountScheduleBody {
    /// `<pricePlanId>@v<version>@<effectiveFrom>`.
    pub id: String,
    /// The account.
    pub account_id: String,
    /// The plan.
    pub price_plan_id: String,
    /// The plan version.
    pub version: u32,
    /// Always false (billrun bills no deferred revenue).
    pub deferred_revenue: bool,
    /// The plan's name and description.
    pub price_plan_info: PricePlanInfo,
    /// The version's currencies and cycle.
    pub account_schedule_info: ScheduleInfo,
    /// Whether the account overrides the plan.
    pub is_overridden: bool,
    /// `effectiveFrom` at 00:00 UTC.
    pub start_date: DateTime<Utc>,
    /// First date no longer billed at 00:00 UTC; 9999-12-31 when open-ended.
    pub end_date: DateTime<Utc>,
    /// Always false.
    pub allow_ongoing_cycle_updates: bool,
}

/// Togai's `SchedulesPaginatedResponse` (every schedule on one page).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SchedulesPage {
    /// The schedules, oldest first.
    pub data: Vec<AccountScheduleBody>,
}

/// `GET .../schedules`' query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `ACTIVE` (the periods; the default) or `DRAFT` (always empty).
    #[serde(default)]
    pub mode: Option<String>,
    /// Ignored: one page holds every schedule.
    #[serde(default)]
    pub next_token: Option<String>,
    /// Ignored: one page holds every schedule.
    #[serde(default)]
    pub page_size: Option<String>,
}

/// A schedule's id.
pub fn schedule_id(a: &PlanAssociation) -> String {
    format!("{}@v{}@{}", a.plan_id, a.plan_version, a.effective_from)
}

fn end_date(a: &PlanAssociation) -> DateTime<Utc> {
    midnight(a.effective_until.unwrap_or_else(open_end_date))
}

/// The attachment `edit` asks for, or what is not supported (400).
pub fn attachment(account: &str, i: usize, edit: ScheduleEdit) -> Result<Attachment, ApiError> {
    let bad = |what: &str| {
        ApiError::invalid(format!(
            "edits[{i}].{what} is not supported by billrun (schedules are plan \
             associations; see README \"HTTP API\")"
        ))
    };
    match edit.mode.as_deref() {
        None | Some("ASSOCIATE") => {}
        Some("DISASSOCIATE") => return Err(bad("mode DISASSOCIATE")),
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "edits[{i}].mode: {other:?} is not ASSOCIATE or DISASSOCIATE"
            )))
        }
    }
    if edit.merge_schedules == Some(true) {
        return Err(bad("mergeSchedules true"));
    }
    let Some(config) = edit.association_config else {
        return Err(ApiError::invalid(format!(
            "edits[{i}].associationConfig.pricePlanId: required to associate"
        )));
    };
    if config.schedule_id.is_some() {
        return Err(bad("associationConfig.scheduleId"));
    }
    if config.pricing_cycle_config_override.is_some() {
        return Err(bad("associationConfig.pricingCycleConfigOverride"));
    }
    if config.retain_start_offsets == Some(true) {
        return Err(bad("associationConfig.retainStartOffsets true"));
    }
    let Some(plan_id) = config.price_plan_id else {
        return Err(ApiError::invalid(format!(
            "edits[{i}].associationConfig.pricePlanId: required to associate"
        )));
    };
    let until = (edit.effective_until < open_end_date()).then_some(edit.effective_until);
    if until.is_some_and(|u| u <= edit.effective_from) {
        return Err(ApiError::invalid(format!(
            "edits[{i}].effectiveUntil: must be after effectiveFrom"
        )));
    }
    Ok(Attachment {
        account_id: account.to_string(),
        plan_id,
        version: None,
        effective_from: edit.effective_from,
        effective_until: until,
        overrides: None,
        trial_period_days: None,
    })
}

async fn edit_response(
    state: &AppState,
    who: &Principal,
    id: &str,
) -> Result<EditSchedulesResponse, ApiError> {
    let account = accounts::get(&state.pool, &who.org, id).await?;
    let periods = associations::for_account(&state.pool, &who.org, id).await?;
    Ok(EditSchedulesResponse {
        account_id: account.id,
        account_name: account.name,
        pricing_schedules: periods
            .iter()
            .map(|a| PlanOverrideBody {
                id: schedule_id(a),
                price_plan_id: a.plan_id.clone(),
                price_plan_name: a.plan_id.clone(),
                start_date: midnight(a.effective_from),
                end_date: end_date(a),
            })
            .collect(),
    })
}

async fn apply(
    state: &AppState,
    who: &Principal,
    id: &str,
    edits: Vec<ScheduleEdit>,
) -> Result<Vec<String>, ApiError> {
    accounts::get(&state.pool, &who.org, id).await?;
    if edits.is_empty() || edits.len() > 10 {
        return Err(ApiError::invalid("edits: expected 1 to 10 edits"));
    }
    let wanted = edits
        .into_iter()
        .enumerate()
        .map(|(i, e)| attachment(id, i, e))
        .collect::<Result<Vec<_>, _>>()?;
    let attached = associations::attach_all(&state.pool, &who.org, &wanted)
        .await
        .map_err(|(i, e)| {
            let mut err = ApiError::from(e);
            if let Some(i) = i {
                err.message = format!("edits[{i}]: {}", err.message);
            }
            err
        })?;
    Ok(attached
        .iter()
        .map(|done| schedule_id(&done.association))
        .collect())
}

/// `periods` in Togai's `AccountSchedule` shape (each with its plan version's
/// description, currencies and cycle).
async fn schedules_of(
    state: &AppState,
    who: &Principal,
    periods: Vec<PlanAssociation>,
) -> Result<Vec<AccountScheduleBody>, ApiError> {
    let mut data = Vec::new();
    for a in periods {
        let v = plans::get_version(&state.pool, &who.org, &a.plan_id, Some(a.plan_version)).await?;
        let d = &v.definition;
        data.push(AccountScheduleBody {
            id: schedule_id(&a),
            account_id: a.account_id.clone(),
            price_plan_id: a.plan_id.clone(),
            version: a.plan_version,
            deferred_revenue: false,
            price_plan_info: PricePlanInfo {
                name: a.plan_id.clone(),
                description: d["description"].as_str().map(str::to_string),
            },
            account_schedule_info: ScheduleInfo {
                supported_currencies: d["supportedCurrencies"]
                    .as_array()
                    .map(|c| {
                        c.iter()
                            .filter_map(|c| c.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
                pricing_cycle_config: cycle_to_wire(&d["pricingCycleConfig"]),
            },
            is_overridden: a.overrides.is_some(),
            start_date: midnight(a.effective_from),
            end_date: end_date(&a),
            allow_ongoing_cycle_updates: false,
        });
    }
    Ok(data)
}

/// Attaches price plans to an account of the caller's organisation, at once (see the
/// module documentation).
#[utoipa::path(post, path = "/v2/accounts/{account_id}/edit_schedules", tag = "schedules",
    params(("account_id" = String, Path, description = "the account's id"), EditQuery),
    request_body = EditSchedulesRequest,
    responses(
        (status = 200, description = "the account's schedules", body = EditSchedulesResponse),
        (status = 400, description = "an edit is invalid or not supported", body = ErrorBody),
        (status = 403, description = "the role may not change schedules", body = ErrorBody),
        (status = 404, description = "no such account or plan in the organisation", body = ErrorBody),
        (status = 409, description = "the period overlaps another", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn edit(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Params(_q): Params<EditQuery>,
    Body(req): Body<EditSchedulesRequest>,
) -> Result<Json<EditSchedulesResponse>, ApiError> {
    let done = apply(&state, &who, &id, req.edits).await;
    let details = match &done {
        Ok(attached) => serde_json::json!({ "attached": attached }),
        Err(_) => serde_json::json!({}),
    };
    audited(
        &state,
        &who,
        Change {
            action: "account.edit_schedules",
            object_type: "account",
            object_id: &id,
        },
        details,
        done,
    )
    .await?;
    Ok(Json(edit_response(&state, &who, &id).await?))
}

/// Finalizes an account's schedules: edits are already applied, so this changes
/// nothing and answers the account's schedules, as `GET .../schedules?mode=ACTIVE`
/// (404 for an unknown account; 400 for what is not supported).
#[utoipa::path(post, path = "/v2/accounts/{account_id}/finalize_schedules", tag = "schedules",
    params(("account_id" = String, Path, description = "the account's id")),
    request_body = FinalizeSchedulesRequest,
    responses(
        (status = 200, description = "the account's schedules (nothing changed)", body = SchedulesPage),
        (status = 400, description = "mergeSchedules or preActions given", body = ErrorBody),
        (status = 403, description = "the role may not change schedules", body = ErrorBody),
        (status = 404, description = "no such account in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn finalize(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Body(req): Body<FinalizeSchedulesRequest>,
) -> Result<Json<SchedulesPage>, ApiError> {
    let done = match accounts::get(&state.pool, &who.org, &id).await {
        Err(e) => Err(ApiError::from(e)),
        Ok(_) if req.merge_schedules == Some(true) => Err(ApiError::invalid(
            "mergeSchedules true is not supported by billrun (edits are applied at once)",
        )),
        Ok(_) if req.pre_actions.as_ref().is_some_and(|p| !p.is_empty()) => {
            Err(ApiError::invalid("preActions are not supported by billrun"))
        }
        Ok(_) => Ok(()),
    };
    audited(
        &state,
        &who,
        Change {
            action: "account.finalize_schedules",
            object_type: "account",
            object_id: &id,
        },
        serde_json::json!({}),
        done,
    )
    .await?;
    let periods = associations::for_account(&state.pool, &who.org, &id).await?;
    Ok(Json(SchedulesPage {
        data: schedules_of(&state, &who, periods).await?,
    }))
}

/// An account's schedules: `mode=ACTIVE` its plan periods, oldest first (one page);
/// `mode=DRAFT` none. Without `mode`: ACTIVE.
#[utoipa::path(get, path = "/v2/accounts/{account_id}/schedules", tag = "schedules",
    params(("account_id" = String, Path, description = "the account's id"), ListQuery),
    responses(
        (status = 200, description = "the schedules", body = SchedulesPage),
        (status = 400, description = "mode is not ACTIVE or DRAFT", body = ErrorBody),
        (status = 404, description = "no such account in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Params(q): Params<ListQuery>,
) -> Result<Json<SchedulesPage>, ApiError> {
    accounts::get(&state.pool, &who.org, &id).await?;
    let periods = match q.mode.as_deref().unwrap_or("ACTIVE") {
        "ACTIVE" => associations::for_account(&state.pool, &who.org, &id).await?,
        "DRAFT" => Vec::new(),
        other => {
            return Err(ApiError::invalid(format!(
                "mode: {other:?} is not ACTIVE or DRAFT"
            )))
        }
    };
    Ok(Json(SchedulesPage {
        data: schedules_of(&state, &who, periods).await?,
    }))
}

/// Discards an account's draft schedules: billrun has none (edits are applied at
/// once), so nothing changes and applied edits stay; answers Togai's
/// `BaseSuccessResponse` (404 for an unknown account; audited as
/// `account.discard_schedules`).
#[utoipa::path(delete, path = "/v2/accounts/{account_id}/discard_schedules", tag = "schedules",
    params(("account_id" = String, Path, description = "the account's id")),
    responses(
        (status = 200, description = "nothing to discard", body = super::customer_changes::Success),
        (status = 403, description = "the role may not change schedules", body = ErrorBody),
        (status = 404, description = "no such account in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn discard(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<super::customer_changes::Success>, ApiError> {
    let found = accounts::get(&state.pool, &who.org, &id)
        .await
        .map(|_| ())
        .map_err(ApiError::from);
    audited(
        &state,
        &who,
        Change {
            action: "account.discard_schedules",
            object_type: "account",
            object_id: &id,
        },
        serde_json::json!({ "discarded": 0 }),
        found,
    )
    .await?;
    Ok(Json(super::customer_changes::Success { success: true }))
}
