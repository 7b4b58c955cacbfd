//! `/usage_meters`: create and list usage meters in Togai's shapes
//! (`CreateUsageMeterRequest`, `UsageMeter`, `UsageMeterPaginatedResponse`), through
//! `catalog::meters` as `billrun meter create` / `list`.
//!
//! Togai's request has no id (Togai makes one); billrun's meters are named by id in
//! rate cards, so the id is made from the name: lower case, each run of spaces as
//! `_`, at most 20 characters (Togai's limit); two names giving one id are a 409. The
//! answer's `id` is what rate cards name as `usageMeterId`. `type` is `COUNTER`;
//! `computations` are Togai's ordered JSON-logic `matcher` / `computation` pairs
//! (semantics: [`billrun_core::meter_logic`]; README "Usage meter computations"):
//! `COUNT` takes none or the computation `"1"`, `SUM` one; at most one
//! ([`meters::MAX_METER_COMPUTATIONS`], Togai's `UsageMeter` limit). The simple cases are
//! kept as before: `COUNT` with none or the single `"1"`, `SUM` with one computation
//! naming an attribute and no matcher ([`UsageMeter::simplify`]). A computation that
//! does not parse is a 400 naming the meter, `computations[i].matcher` or
//! `.computation` (its index as given) and the position or the operator.
//! A filter's `field` is a dimension of the schema (`region` or `dimensions.region`).
//!
//! A meter is ACTIVE once created (Togai's DRAFT is not kept). `PATCH` takes Togai's
//! `UpdateUsageMeterRequest`: each field given replaces the meter's (the id stays, also
//! when `name` changes); changing what it measures (`eventSchemaName`,
//! `aggregation`, `computations`, `filters`) is refused with 409 while a price plan
//! version names the meter, since bill runs would re-rate open cycles with the new
//! definition. `deactivate` and `DELETE` are refused (409) while a plan version names
//! it; an INACTIVE meter cannot be finalized into a plan; `activate` needs its schema
//! ACTIVE. The rules and their sources are [`crate::catalog::meters::changes`]'.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorBody};
use super::event_schemas::{self, status_filter, EventSchemaBody};
use super::extract::{Body, Params};
use super::jobs::SuccessBody;
use super::{audited, AppState, Change, PageContext, PageQuery};
use crate::catalog::meters::{self, changes, Aggregation, UsageMeter};
use crate::identity::Principal;
use crate::store::status::CatalogStatus;
use billrun_core::meter_logic::Computation;

/// The most characters of a usage meter's id (Togai's limit).
pub const MAX_METER_ID_CHARS: usize = 20;

/// Togai's `UsageMeterFilterEntry`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterEntry {
    /// A dimension of the event schema.
    pub field: String,
    /// The value an event's dimension must have.
    pub value: String,
}

/// Togai's `Computation`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComputationBody {
    /// An identifier of the pair (kept by Togai, ignored by billrun).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// JSON-logic condition over the event (`{"attributes": .., "dimensions": ..}`);
    /// absent: every event matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matcher: Option<String>,
    /// COUNT: `"1"`; SUM: a JSON-logic expression, or the bare name of the attribute summed.
    pub computation: String,
    /// The order of evaluation.
    pub order: i64,
}

/// Togai's `CreateUsageMeterRequest`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateUsageMeterRequest {
    /// The meter's name (its id is made from it).
    pub name: String,
    /// The name shown on invoices, if not `name` (not kept yet: must be absent).
    #[serde(default)]
    pub billable_name: Option<String>,
    /// Not kept yet: must be absent.
    #[serde(default)]
    pub description: Option<String>,
    /// Dimension filters.
    #[serde(default)]
    pub filters: Vec<FilterEntry>,
    /// `COUNTER`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `COUNT` or `SUM`.
    pub aggregation: String,
    /// See the module documentation.
    #[serde(default)]
    pub computations: Vec<ComputationBody>,
    /// The event schema the meter aggregates.
    pub event_schema_name: String,
}

/// Togai's `UsageMeter`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageMeterBody {
    /// The meter's id (rate cards' `usageMeterId`).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its name.
    pub display_name: String,
    /// Its filters.
    pub filters: Vec<FilterEntry>,
    /// `COUNTER`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `ACTIVE` or `INACTIVE`.
    pub status: &'static str,
    /// `COUNT` or `SUM`.
    pub aggregation: &'static str,
    /// SUM: the attribute summed, as one computation.
    pub computations: Vec<ComputationBody>,
    /// The event schema it measures (`GET /usage_meters/{id}?includeSchema=true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_schema: Option<EventSchemaBody>,
}

/// Togai's `UsageMeterPaginatedResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageMeterPage {
    /// The page's meters, by id.
    pub data: Vec<UsageMeterBody>,
    /// The token of the next page, absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// The page's size and order.
    pub context: PageContext,
}

/// The query of `GET /usage_meters`: Togai's paging and filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    /// Only meters of this status: `ACTIVE` or `INACTIVE` (`DRAFT`, `ARCHIVED`: none).
    pub status: Option<String>,
    /// Only meters of this aggregation (`COUNT` or `SUM`).
    pub aggregations: Option<String>,
    /// The `nextToken` of the previous page.
    pub next_token: Option<String>,
    /// Rows per page, 1 to 50 (default 10).
    pub page_size: Option<u32>,
}

/// The id of a meter named `name`: lower case, runs of whitespace as `_`, at most
/// [`MAX_METER_ID_CHARS`] characters.
pub fn meter_id(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join("_")
        .to_lowercase()
        .chars()
        .take(MAX_METER_ID_CHARS)
        .collect()
}

fn body(m: UsageMeter) -> UsageMeterBody {
    UsageMeterBody {
        id: m.id,
        display_name: m.name.clone(),
        name: m.name,
        filters: m
            .filters
            .into_iter()
            .map(|(field, value)| FilterEntry { field, value })
            .collect(),
        kind: "COUNTER",
        status: m.status.as_str(),
        aggregation: m.aggregation.as_str(),
        computations: if m.computations.is_empty() {
            m.attribute
                .map(|a| ComputationBody {
                    id: None,
                    matcher: None,
                    computation: a,
                    order: 1,
                })
                .into_iter()
                .collect()
        } else {
            m.computations
                .into_iter()
                .map(|c| ComputationBody {
                    id: c.id,
                    matcher: c.matcher,
                    computation: c.computation,
                    order: c.order,
                })
                .collect()
        },
        event_schema: None,
    }
}

/// billrun's meter from Togai's request (see the module documentation).
fn meter(req: CreateUsageMeterRequest) -> Result<UsageMeter, ApiError> {
    for (field, given) in [
        ("billableName", &req.billable_name),
        ("description", &req.description),
    ] {
        if given.is_some() {
            return Err(ApiError::invalid(format!("{field}: not supported yet")));
        }
    }
    if req.kind != "COUNTER" {
        return Err(ApiError::invalid(format!(
            "type {:?}: expected COUNTER",
            req.kind
        )));
    }
    let (aggregation, computations) = measure(&req.aggregation, req.computations)?;
    let filters = filter_map(req.filters)?;
    Ok(UsageMeter {
        id: meter_id(&req.name),
        name: req.name,
        event_schema_name: req.event_schema_name,
        aggregation,
        attribute: None,
        filters,
        computations,
        status: CatalogStatus::Active,
    }
    .simplify())
}

/// The aggregation and the computations, from Togai's `aggregation` and
/// `computations`, as given (the caller brings them to the simple case with
/// [`UsageMeter::simplify`]; `catalog::meters` checks them).
fn measure(
    aggregation: &str,
    computations: Vec<ComputationBody>,
) -> Result<(Aggregation, Vec<Computation>), ApiError> {
    let aggregation = Aggregation::parse("aggregation", aggregation)
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let computations = computations
        .into_iter()
        .map(|c| Computation {
            id: c.id,
            matcher: c.matcher,
            computation: c.computation,
            order: c.order,
        })
        .collect();
    Ok((aggregation, computations))
}

/// Togai's filters as dimension -> value. Errors: a dimension filtered twice.
fn filter_map(given: Vec<FilterEntry>) -> Result<BTreeMap<String, String>, ApiError> {
    let mut filters = BTreeMap::new();
    for f in given {
        let field = f
            .field
            .strip_prefix("dimensions.")
            .unwrap_or(&f.field)
            .to_string();
        if filters.insert(field.clone(), f.value).is_some() {
            return Err(ApiError::invalid(format!(
                "filters: {field:?} is filtered twice"
            )));
        }
    }
    Ok(filters)
}

/// Creates a usage meter in the caller's organisation (audited as
/// `usage_meter.create`).
#[utoipa::path(post, path = "/usage_meters", tag = "usage meters",
    request_body = CreateUsageMeterRequest,
    responses(
        (status = 201, description = "created", body = UsageMeterBody),
        (status = 400, description = "a field is invalid or not supported yet", body = ErrorBody),
        (status = 403, description = "the role may not change usage meters", body = ErrorBody),
        (status = 409, description = "the id exists", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Body(req): Body<CreateUsageMeterRequest>,
) -> Result<(StatusCode, Json<UsageMeterBody>), ApiError> {
    let id = meter_id(&req.name);
    let created = match meter(req) {
        Ok(m) => meters::create_meter(&state.pool, &who.org, &m)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    let m = audited(
        &state,
        &who,
        Change {
            action: "usage_meter.create",
            object_type: "usage_meter",
            object_id: &id,
        },
        serde_json::json!({}),
        created,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(body(m))))
}

/// The caller's organisation's usage meters, by id, a page at a time.
#[utoipa::path(get, path = "/usage_meters", tag = "usage meters",
    params(ListQuery),
    responses(
        (status = 200, description = "a page of usage meters", body = UsageMeterPage),
        (status = 401, description = "no valid credential", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Params(q): Params<ListQuery>,
) -> Result<Json<UsageMeterPage>, ApiError> {
    let aggregation = q
        .aggregations
        .as_deref()
        .map(|a| {
            Aggregation::parse("aggregations", a).map_err(|e| ApiError::invalid(e.to_string()))
        })
        .transpose()?;
    let status = status_filter(q.status.as_deref())?;
    let all = match status {
        Some(None) => Vec::new(),
        _ => meters::meters(&state.pool, &who.org).await?,
    };
    let all = all
        .into_iter()
        .filter(|m| aggregation.is_none_or(|a| m.aggregation == a))
        .filter(|m| status.is_none_or(|wanted| wanted == Some(m.status)))
        .collect();
    let paging = PageQuery {
        next_token: q.next_token,
        page_size: q.page_size,
    };
    let (rows, next_token, context) = paging.page(all, |m| m.id.as_str())?;
    Ok(Json(UsageMeterPage {
        data: rows.into_iter().map(body).collect(),
        next_token,
        context,
    }))
}

/// The path of the routes on one meter.
#[derive(Debug, Deserialize)]
pub struct MeterPath {
    /// The meter's id.
    pub usage_meter_id: String,
}

/// The query of `GET /usage_meters/{usage_meter_id}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct GetQuery {
    /// Also answer the event schema it measures (`eventSchema`).
    pub include_schema: Option<bool>,
}

/// Togai's `UpdateUsageMeterRequest`: each field given replaces the meter's.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateUsageMeterRequest {
    /// Its display name (its id stays).
    #[serde(default)]
    pub name: Option<String>,
    /// Not kept yet: must be absent.
    #[serde(default)]
    pub billable_name: Option<String>,
    /// Not kept yet: must be absent.
    #[serde(default)]
    pub description: Option<String>,
    /// The event schema it measures.
    #[serde(default)]
    pub event_schema_name: Option<String>,
    /// `COUNTER`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// `COUNT` or `SUM`; with a new aggregation, absent `computations` are none.
    #[serde(default)]
    pub aggregation: Option<String>,
    /// As at creation.
    #[serde(default)]
    pub computations: Option<Vec<ComputationBody>>,
    /// Dimension filters (all of them).
    #[serde(default)]
    pub filters: Option<Vec<FilterEntry>>,
}

/// `current` with the fields of `req` (see [`UpdateUsageMeterRequest`]).
fn updated(current: &UsageMeter, req: UpdateUsageMeterRequest) -> Result<UsageMeter, ApiError> {
    for (field, given) in [
        ("billableName", &req.billable_name),
        ("description", &req.description),
    ] {
        if given.is_some() {
            return Err(ApiError::invalid(format!("{field}: not supported yet")));
        }
    }
    if let Some(kind) = req.kind.as_deref().filter(|k| *k != "COUNTER") {
        return Err(ApiError::invalid(format!(
            "type {kind:?}: expected COUNTER"
        )));
    }
    let mut next = current.clone();
    if let Some(name) = req.name {
        next.name = name;
    }
    if let Some(schema) = req.event_schema_name {
        next.event_schema_name = schema;
    }
    if req.aggregation.is_some() || req.computations.is_some() {
        let aggregation = req
            .aggregation
            .unwrap_or_else(|| current.aggregation.as_str().to_string());
        let computations = match req.computations {
            Some(c) => c,
            None if aggregation != current.aggregation.as_str() => Vec::new(),
            None => body(current.clone()).computations,
        };
        (next.aggregation, next.computations) = measure(&aggregation, computations)?;
        next.attribute = None;
        next = next.simplify();
    }
    if let Some(filters) = req.filters {
        next.filters = filter_map(filters)?;
    }
    Ok(next)
}

/// One usage meter, with its event schema when `includeSchema=true`.
#[utoipa::path(get, path = "/usage_meters/{usage_meter_id}", tag = "usage meters",
    params(("usage_meter_id" = String, Path, description = "the meter's id"), GetQuery),
    responses(
        (status = 200, description = "the meter", body = UsageMeterBody),
        (status = 404, description = "no such meter in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(p): Path<MeterPath>,
    Params(q): Params<GetQuery>,
) -> Result<Json<UsageMeterBody>, ApiError> {
    let m = meters::get_meter(&state.pool, &who.org, &p.usage_meter_id).await?;
    let schema = if q.include_schema == Some(true) {
        let s = meters::get_schema(&state.pool, &who.org, &m.event_schema_name).await?;
        Some(event_schemas::body(s))
    } else {
        None
    };
    let mut b = body(m);
    b.event_schema = schema;
    Ok(Json(b))
}

/// Changes a usage meter (audited as `usage_meter.update`).
#[utoipa::path(patch, path = "/usage_meters/{usage_meter_id}", tag = "usage meters",
    params(("usage_meter_id" = String, Path, description = "the meter's id")),
    request_body = UpdateUsageMeterRequest,
    responses(
        (status = 200, description = "the meter as changed", body = UsageMeterBody),
        (status = 400, description = "a field is invalid or not supported yet", body = ErrorBody),
        (status = 404, description = "no such meter in the organisation", body = ErrorBody),
        (status = 409, description = "what it measures would change while a price plan names it; or its schema is INACTIVE", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(p): Path<MeterPath>,
    Body(req): Body<UpdateUsageMeterRequest>,
) -> Result<Json<UsageMeterBody>, ApiError> {
    let id = p.usage_meter_id;
    let done = async {
        let current = meters::get_meter(&state.pool, &who.org, &id).await?;
        let next = updated(&current, req)?;
        Ok::<_, ApiError>(changes::update_meter(&state.pool, &who.org, &current, &next).await?)
    }
    .await;
    let m = audited(
        &state,
        &who,
        Change {
            action: "usage_meter.update",
            object_type: "usage_meter",
            object_id: &id,
        },
        serde_json::json!({}),
        done,
    )
    .await?;
    Ok(Json(body(m)))
}

async fn set_status(
    state: &AppState,
    who: &Principal,
    id: &str,
    status: CatalogStatus,
) -> Result<Json<UsageMeterBody>, ApiError> {
    let done = changes::set_meter_status(&state.pool, &who.org, id, status).await;
    let action = match status {
        CatalogStatus::Active => "usage_meter.activate",
        CatalogStatus::Inactive => "usage_meter.deactivate",
    };
    let m = audited(
        state,
        who,
        Change {
            action,
            object_type: "usage_meter",
            object_id: id,
        },
        serde_json::json!({}),
        done,
    )
    .await?;
    Ok(Json(body(m)))
}

/// Activates a usage meter (audited as `usage_meter.activate`; an ACTIVE meter is
/// answered unchanged).
#[utoipa::path(post, path = "/usage_meters/{usage_meter_id}/activate", tag = "usage meters",
    params(("usage_meter_id" = String, Path, description = "the meter's id")),
    responses(
        (status = 200, description = "the meter, ACTIVE", body = UsageMeterBody),
        (status = 404, description = "no such meter in the organisation", body = ErrorBody),
        (status = 409, description = "its event schema is INACTIVE", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn activate(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(p): Path<MeterPath>,
) -> Result<Json<UsageMeterBody>, ApiError> {
    set_status(&state, &who, &p.usage_meter_id, CatalogStatus::Active).await
}

/// Deactivates a usage meter (audited as `usage_meter.deactivate`).
#[utoipa::path(post, path = "/usage_meters/{usage_meter_id}/deactivate", tag = "usage meters",
    params(("usage_meter_id" = String, Path, description = "the meter's id")),
    responses(
        (status = 200, description = "the meter, INACTIVE", body = UsageMeterBody),
        (status = 404, description = "no such meter in the organisation", body = ErrorBody),
        (status = 409, description = "a price plan version names it", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn deactivate(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(p): Path<MeterPath>,
) -> Result<Json<UsageMeterBody>, ApiError> {
    set_status(&state, &who, &p.usage_meter_id, CatalogStatus::Inactive).await
}

/// Deletes a usage meter (audited as `usage_meter.delete`).
#[utoipa::path(delete, path = "/usage_meters/{usage_meter_id}", tag = "usage meters",
    params(("usage_meter_id" = String, Path, description = "the meter's id")),
    responses(
        (status = 200, description = "deleted", body = SuccessBody),
        (status = 404, description = "no such meter in the organisation", body = ErrorBody),
        (status = 409, description = "a price plan version names it", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(p): Path<MeterPath>,
) -> Result<Json<SuccessBody>, ApiError> {
    let id = p.usage_meter_id;
    let done = changes::delete_meter(&state.pool, &who.org, &id).await;
    audited(
        &state,
        &who,
        Change {
            action: "usage_meter.delete",
            object_type: "usage_meter",
            object_id: &id,
        },
        serde_json::json!({}),
        done,
    )
    .await?;
    Ok(Json(SuccessBody { success: true }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_meter_id_is_made_from_its_name() {
        assert_eq!(meter_id("API calls"), "api_calls");
        assert_eq!(meter_id("  Storage   GB "), "storage_gb");
        assert_eq!(meter_id("a very long meter name indeed").len(), 20);
    }
}
