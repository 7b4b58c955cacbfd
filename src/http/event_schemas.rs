//! `/event_schema`: event schemas in Togai's shapes (`CreateEventSchemaRequest`,
//! `UpdateEventSchemaRequest`, `EventSchema`, `EventSchemaListPaginatedResponse`,
//! `EventSchemaVersionsResponse`), through `catalog::meters` as `billrun meter ...`.
//!
//! A schema is ACTIVE once created (Togai's DRAFT is not kept: there is nothing to
//! finalize). `PATCH` may add attributes and dimensions, never remove one (409), and
//! each change makes the next `version`; `GET .../versions` answers every version,
//! the current one with the schema's status and those it replaced `ARCHIVED`.
//! `deactivate` is refused while an ACTIVE usage meter measures the schema (409), and
//! an INACTIVE schema's events are refused at ingest; `DELETE` is refused while a
//! meter measures it or events are recorded with it (409). The rules and their
//! sources are [`crate::catalog::meters::changes`]'. Togai's `description`,
//! `enrichments`, `filterFields` and `eventIdTemplate` are not kept yet and are
//! refused (400), as is an attribute's `defaultUnit`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorBody};
use super::extract::{Body, Params};
use super::jobs::SuccessBody;
use super::{audited, AppState, Change, PageContext, PageQuery};
use crate::catalog::meters::changes::{self, SchemaChange, SchemaVersion};
use crate::catalog::meters::{self, EventSchema};
use crate::identity::Principal;
use crate::store::status::CatalogStatus;

/// Togai's `EventAttributeSchema` (a numeric attribute).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Attribute {
    /// The attribute's name.
    pub name: String,
}

/// Togai's `DimensionsSchema` (a string dimension).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Dimension {
    /// The dimension's name.
    pub name: String,
}

/// Togai's `CreateEventSchemaRequest`, less what billrun does not keep yet.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEventSchemaRequest {
    /// The schema's name, unique in the organisation (events carry it).
    pub name: String,
    /// Numeric attributes.
    pub attributes: Vec<Attribute>,
    /// String dimensions.
    pub dimensions: Vec<Dimension>,
}

/// Togai's `EventSchema` (and `EventSchemaListData`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventSchemaBody {
    /// The schema's name.
    pub name: String,
    /// The version: 1 at creation, the next after each change of its attributes or
    /// dimensions.
    pub version: u32,
    /// `ACTIVE` or `INACTIVE`; `ARCHIVED` for a version that was replaced.
    pub status: &'static str,
    /// Numeric attributes.
    pub attributes: Vec<Attribute>,
    /// String dimensions.
    pub dimensions: Vec<Dimension>,
}

/// Togai's `EventSchemaListPaginatedResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventSchemaPage {
    /// The page's schemas, by name.
    pub data: Vec<EventSchemaBody>,
    /// The token of the next page, absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// The page's size and order.
    pub context: PageContext,
}

/// The query of `GET /event_schema`: Togai's paging and `status`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    /// Only schemas of this status: `ACTIVE` or `INACTIVE` (`DRAFT` and `ARCHIVED`:
    /// none, billrun lists current versions and keeps no drafts).
    pub status: Option<String>,
    /// The `nextToken` of the previous page.
    pub next_token: Option<String>,
    /// Rows per page, 1 to 50 (default 10).
    pub page_size: Option<u32>,
}

/// Togai's `EventSchema` of `s`.
pub fn body(s: EventSchema) -> EventSchemaBody {
    EventSchemaBody {
        name: s.name,
        version: s.version,
        status: s.status.as_str(),
        attributes: s
            .attributes
            .into_iter()
            .map(|name| Attribute { name })
            .collect(),
        dimensions: s
            .dimensions
            .into_iter()
            .map(|name| Dimension { name })
            .collect(),
    }
}

/// Creates an event schema in the caller's organisation (audited as
/// `event_schema.create`).
#[utoipa::path(post, path = "/event_schema", tag = "event schemas",
    request_body = CreateEventSchemaRequest,
    responses(
        (status = 201, description = "created", body = EventSchemaBody),
        (status = 400, description = "a field is invalid", body = ErrorBody),
        (status = 403, description = "the role may not change event schemas", body = ErrorBody),
        (status = 409, description = "the name exists", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Body(req): Body<CreateEventSchemaRequest>,
) -> Result<(StatusCode, Json<EventSchemaBody>), ApiError> {
    let schema = EventSchema::new(
        req.name,
        req.attributes.into_iter().map(|a| a.name).collect(),
        req.dimensions.into_iter().map(|d| d.name).collect(),
    );
    let created = meters::create_schema(&state.pool, &who.org, &schema).await;
    let s = audited(
        &state,
        &who,
        Change {
            action: "event_schema.create",
            object_type: "event_schema",
            object_id: &schema.name,
        },
        serde_json::json!({ "attributes": schema.attributes, "dimensions": schema.dimensions }),
        created,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(body(s))))
}

/// The caller's organisation's event schemas, by name, a page at a time.
#[utoipa::path(get, path = "/event_schema", tag = "event schemas",
    params(ListQuery),
    responses(
        (status = 200, description = "a page of event schemas", body = EventSchemaPage),
        (status = 401, description = "no valid credential", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Params(q): Params<ListQuery>,
) -> Result<Json<EventSchemaPage>, ApiError> {
    let status = status_filter(q.status.as_deref())?;
    let all = match status {
        Some(None) => Vec::new(),
        _ => meters::schemas(&state.pool, &who.org).await?,
    };
    let all = all
        .into_iter()
        .filter(|s| status.is_none_or(|wanted| wanted == Some(s.status)))
        .collect();
    let paging = PageQuery {
        next_token: q.next_token,
        page_size: q.page_size,
    };
    let (rows, next_token, context) = paging.page(all, |s| s.name.as_str())?;
    Ok(Json(EventSchemaPage {
        data: rows.into_iter().map(body).collect(),
        next_token,
        context,
    }))
}

/// A list's `status` query: `None` for every status, `Some(Some(s))` for one,
/// `Some(None)` for Togai's `DRAFT` and `ARCHIVED` (which no current schema or meter
/// is). Errors: any other value (400, naming the field).
pub fn status_filter(given: Option<&str>) -> Result<Option<Option<CatalogStatus>>, ApiError> {
    match given {
        None => Ok(None),
        Some("ACTIVE") => Ok(Some(Some(CatalogStatus::Active))),
        Some("INACTIVE") => Ok(Some(Some(CatalogStatus::Inactive))),
        Some("DRAFT" | "ARCHIVED") => Ok(Some(None)),
        Some(other) => Err(ApiError::invalid(format!(
            "status {other:?}: expected ACTIVE, INACTIVE, DRAFT or ARCHIVED"
        ))),
    }
}

/// The path of the routes on one schema.
#[derive(Debug, Deserialize)]
pub struct SchemaPath {
    /// The schema's name.
    pub event_schema_name: String,
}

/// The query of `GET /event_schema/{event_schema_name}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct GetQuery {
    /// A version to answer (default: the current one).
    pub version: Option<u32>,
}

/// Togai's `UpdateEventSchemaRequest`, less what billrun does not keep yet.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateEventSchemaRequest {
    /// Not kept yet: must be absent.
    #[serde(default)]
    pub description: Option<String>,
    /// Every attribute after the change (each current one, and those added); absent:
    /// unchanged.
    #[serde(default)]
    pub attributes: Option<Vec<Attribute>>,
    /// Every dimension after the change (each current one, and those added); absent:
    /// unchanged.
    #[serde(default)]
    pub dimensions: Option<Vec<Dimension>>,
    /// Not kept yet: must be absent.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub enrichments: Option<serde_json::Value>,
    /// Not kept yet: must be absent.
    #[serde(default)]
    pub filter_fields: Option<Vec<String>>,
    /// Not kept yet: must be absent.
    #[serde(default)]
    pub event_id_template: Option<String>,
}

/// Togai's `EventSchemaVersionsResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventSchemaVersions {
    /// Every version, oldest first.
    pub data: Vec<EventSchemaBody>,
}

fn version_body(v: SchemaVersion) -> EventSchemaBody {
    let current = v.current;
    let mut b = body(v.schema);
    if !current {
        b.status = "ARCHIVED";
    }
    b
}

/// One event schema: its current version, or `version`.
#[utoipa::path(get, path = "/event_schema/{event_schema_name}", tag = "event schemas",
    params(("event_schema_name" = String, Path, description = "the schema's name"), GetQuery),
    responses(
        (status = 200, description = "the schema", body = EventSchemaBody),
        (status = 404, description = "no such schema or version in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(p): Path<SchemaPath>,
    Params(q): Params<GetQuery>,
) -> Result<Json<EventSchemaBody>, ApiError> {
    let name = p.event_schema_name;
    let Some(version) = q.version else {
        return Ok(Json(body(
            meters::get_schema(&state.pool, &who.org, &name).await?,
        )));
    };
    let versions = changes::schema_versions(&state.pool, &who.org, &name).await?;
    let found = versions.into_iter().find(|v| v.schema.version == version);
    match found {
        Some(v) => Ok(Json(version_body(v))),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("event schema {name:?} has no version {version}"),
        )),
    }
}

/// Every version of an event schema, oldest first.
#[utoipa::path(get, path = "/event_schema/{event_schema_name}/versions", tag = "event schemas",
    params(("event_schema_name" = String, Path, description = "the schema's name")),
    responses(
        (status = 200, description = "its versions", body = EventSchemaVersions),
        (status = 404, description = "no such schema in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn versions(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(p): Path<SchemaPath>,
) -> Result<Json<EventSchemaVersions>, ApiError> {
    let versions = changes::schema_versions(&state.pool, &who.org, &p.event_schema_name).await?;
    Ok(Json(EventSchemaVersions {
        data: versions.into_iter().map(version_body).collect(),
    }))
}

/// billrun's change from Togai's request: 400 for what is not kept yet.
fn schema_change(req: UpdateEventSchemaRequest) -> Result<SchemaChange, ApiError> {
    for (field, given) in [
        ("description", req.description.is_some()),
        ("enrichments", req.enrichments.is_some()),
        ("filterFields", req.filter_fields.is_some()),
        ("eventIdTemplate", req.event_id_template.is_some()),
    ] {
        if given {
            return Err(ApiError::invalid(format!("{field}: not supported yet")));
        }
    }
    Ok(SchemaChange {
        attributes: req
            .attributes
            .map(|a| a.into_iter().map(|a| a.name).collect()),
        dimensions: req
            .dimensions
            .map(|d| d.into_iter().map(|d| d.name).collect()),
    })
}

/// Adds attributes or dimensions to an event schema: its next version (audited as
/// `event_schema.update`).
#[utoipa::path(patch, path = "/event_schema/{event_schema_name}", tag = "event schemas",
    params(("event_schema_name" = String, Path, description = "the schema's name")),
    request_body = UpdateEventSchemaRequest,
    responses(
        (status = 200, description = "the schema as changed", body = EventSchemaBody),
        (status = 400, description = "a field is invalid or not supported yet", body = ErrorBody),
        (status = 404, description = "no such schema in the organisation", body = ErrorBody),
        (status = 409, description = "an attribute or dimension would be removed", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(p): Path<SchemaPath>,
    Body(req): Body<UpdateEventSchemaRequest>,
) -> Result<Json<EventSchemaBody>, ApiError> {
    let name = p.event_schema_name;
    let change = schema_change(req);
    let details = match &change {
        Ok(c) => serde_json::json!({ "attributes": c.attributes, "dimensions": c.dimensions }),
        Err(_) => serde_json::json!({}),
    };
    let done = match change {
        Ok(c) => changes::update_schema(&state.pool, &who.org, &name, &c)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    let s = audited(
        &state,
        &who,
        Change {
            action: "event_schema.update",
            object_type: "event_schema",
            object_id: &name,
        },
        details,
        done,
    )
    .await?;
    Ok(Json(body(s)))
}

async fn set_status(
    state: &AppState,
    who: &Principal,
    name: &str,
    status: CatalogStatus,
) -> Result<Json<EventSchemaBody>, ApiError> {
    let done = changes::set_schema_status(&state.pool, &who.org, name, status).await;
    let action = match status {
        CatalogStatus::Active => "event_schema.activate",
        CatalogStatus::Inactive => "event_schema.deactivate",
    };
    let s = audited(
        state,
        who,
        Change {
            action,
            object_type: "event_schema",
            object_id: name,
        },
        serde_json::json!({}),
        done,
    )
    .await?;
    Ok(Json(body(s)))
}

/// Activates an event schema: it accepts events again (audited as
/// `event_schema.activate`; an ACTIVE schema is answered unchanged).
#[utoipa::path(post, path = "/event_schema/{event_schema_name}/activate", tag = "event schemas",
    params(("event_schema_name" = String, Path, description = "the schema's name")),
    responses(
        (status = 200, description = "the schema, ACTIVE", body = EventSchemaBody),
        (status = 404, description = "no such schema in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn activate(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(p): Path<SchemaPath>,
) -> Result<Json<EventSchemaBody>, ApiError> {
    set_status(&state, &who, &p.event_schema_name, CatalogStatus::Active).await
}

/// Deactivates an event schema: its events are refused at ingest (audited as
/// `event_schema.deactivate`).
#[utoipa::path(post, path = "/event_schema/{event_schema_name}/deactivate", tag = "event schemas",
    params(("event_schema_name" = String, Path, description = "the schema's name")),
    responses(
        (status = 200, description = "the schema, INACTIVE", body = EventSchemaBody),
        (status = 404, description = "no such schema in the organisation", body = ErrorBody),
        (status = 409, description = "an ACTIVE usage meter measures it", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn deactivate(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(p): Path<SchemaPath>,
) -> Result<Json<EventSchemaBody>, ApiError> {
    set_status(&state, &who, &p.event_schema_name, CatalogStatus::Inactive).await
}

/// Deletes an event schema and its versions (audited as `event_schema.delete`).
#[utoipa::path(delete, path = "/event_schema/{event_schema_name}", tag = "event schemas",
    params(("event_schema_name" = String, Path, description = "the schema's name")),
    responses(
        (status = 200, description = "deleted", body = SuccessBody),
        (status = 404, description = "no such schema in the organisation", body = ErrorBody),
        (status = 409, description = "a usage meter measures it, or events are recorded with it", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(p): Path<SchemaPath>,
) -> Result<Json<SuccessBody>, ApiError> {
    let name = p.event_schema_name;
    let done = changes::delete_schema(&state.pool, &who.org, &name).await;
    audited(
        &state,
        &who,
        Change {
            action: "event_schema.delete",
            object_type: "event_schema",
            object_id: &name,
        },
        serde_json::json!({}),
        done,
    )
    .await?;
    Ok(Json(SuccessBody { success: true }))
}
