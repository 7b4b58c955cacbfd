//! `/event_schema`: create and list event schemas in Togai's shapes
//! (`CreateEventSchemaRequest`, `EventSchema`, `EventSchemaListPaginatedResponse`),
//! through `catalog::meters` as `billrun meter schema-create` / `schemas`.
//!
//! billrun keeps one version of a schema, usable once created: it is answered as
//! `version` 1, `status` `ACTIVE`. Togai's `description`, `enrichments`,
//! `filterFields` and `eventIdTemplate` are not kept yet and are refused (400),
//! as is an attribute's `defaultUnit`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorBody};
use super::extract::{Body, Params};
use super::{audited, AppState, Change, PageContext, PageQuery};
use crate::catalog::meters::{self, EventSchema};
use crate::identity::Principal;

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
    /// Always 1.
    pub version: u32,
    /// Always `ACTIVE`.
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
    /// Only schemas of this status (billrun's are all `ACTIVE`).
    pub status: Option<String>,
    /// The `nextToken` of the previous page.
    pub next_token: Option<String>,
    /// Rows per page, 1 to 50 (default 10).
    pub page_size: Option<u32>,
}

fn body(s: EventSchema) -> EventSchemaBody {
    EventSchemaBody {
        name: s.name,
        version: 1,
        status: "ACTIVE",
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
    let schema = EventSchema {
        name: req.name,
        attributes: req.attributes.into_iter().map(|a| a.name).collect(),
        dimensions: req.dimensions.into_iter().map(|d| d.name).collect(),
    };
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
    let all = match q.status.as_deref() {
        None | Some("ACTIVE") => meters::schemas(&state.pool, &who.org).await?,
        Some(_) => Vec::new(),
    };
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
