//! `/addons` and `/addons/{addon_id}`: add-ons in Togai's shapes (togai-client 1.0.3
//! `AddOnsApi`: `create_add_on` POST /addons, `get_add_ons` GET /addons (status,
//! nextToken, pageSize), `get_add_on` GET, `update_add_on` PATCH and `delete_add_on`
//! DELETE /addons/{addon_id} ("Archive an addOn", answering `BaseSuccessResponse`);
//! `AddOn`, `AddOnPaginatedResponse`, `CreateAddOnRequest`, `UpdateAddOnRequest`), over
//! crate::catalog::addons as `billrun addon ...` (README "Add-ons and named licenses").
//!
//! An add-on's id is its name at creation. Another organisation's add-on answers 404.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::customer_changes::Success;
use super::error::{ApiError, ErrorBody};
use super::extract::{Body, Params};
use super::{audited, AppState, Change, PageContext, PageQuery};
use crate::catalog::addons::{self, AddOn, AddOnType};
use crate::identity::Principal;

/// Togai's `AddOn`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddOnBody {
    /// Its id (its name at creation).
    pub id: String,
    /// Its name.
    pub name: String,
    /// LICENSE, FIXED_FEE, CREDIT_GRANT or NAMED_LICENSE.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub add_on_type: AddOnType,
    /// Shown on invoices instead of the name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billable_name: Option<String>,
    /// `billableName`, else `name`.
    pub display_name: String,
    /// ACTIVE or ARCHIVED.
    pub status: String,
    /// When it was created (UTC).
    pub created_at: DateTime<Utc>,
}

impl From<AddOn> for AddOnBody {
    fn from(a: AddOn) -> Self {
        Self {
            display_name: a.display_name().to_string(),
            id: a.id,
            name: a.name,
            add_on_type: a.add_on_type,
            billable_name: a.billable_name,
            status: a.status,
            created_at: a.created_at,
        }
    }
}

/// Togai's `AddOnPaginatedResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddOnPage {
    /// The page's add-ons, by id.
    pub data: Vec<AddOnBody>,
    /// Where the next page starts; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// Page size and order.
    pub context: PageContext,
}

/// `GET /addons`'s query: Togai's `status` filter and paging.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct AddOnQuery {
    /// Only add-ons of this status (ACTIVE or ARCHIVED).
    pub status: Option<String>,
    /// The `nextToken` of the previous page.
    pub next_token: Option<String>,
    /// Rows per page, 1 to 50 (default 10).
    pub page_size: Option<u32>,
}

/// Togai's `CreateAddOnRequest`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateAddOnRequest {
    /// Name, and id (at most 50 characters, no whitespace).
    pub name: String,
    /// LICENSE, FIXED_FEE, CREDIT_GRANT or NAMED_LICENSE.
    #[serde(rename = "type")]
    pub add_on_type: String,
    /// Shown on invoices instead of the name.
    #[serde(default)]
    pub billable_name: Option<String>,
}

/// Togai's `UpdateAddOnRequest`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateAddOnRequest {
    /// The new name.
    #[serde(default)]
    pub name: Option<String>,
    /// The new billable name.
    #[serde(default)]
    pub billable_name: Option<String>,
}

/// Creates an add-on (audited as `addon.create`).
#[utoipa::path(post, path = "/addons", tag = "addons",
    request_body = CreateAddOnRequest,
    responses(
        (status = 200, description = "created", body = AddOnBody),
        (status = 400, description = "a field is invalid", body = ErrorBody),
        (status = 409, description = "the id is taken", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Body(req): Body<CreateAddOnRequest>,
) -> Result<Json<AddOnBody>, ApiError> {
    let change = Change {
        action: "addon.create",
        object_type: "addon",
        object_id: &req.name,
    };
    let details = serde_json::json!({ "type": req.add_on_type, "billableName": req.billable_name });
    let created = match AddOnType::parse("type", &req.add_on_type) {
        Ok(t) => addons::create(
            &state.pool,
            &who.org,
            &req.name,
            t,
            req.billable_name.as_deref(),
            Utc::now(),
        )
        .await
        .map_err(ApiError::from),
        Err(e) => Err(ApiError::from(crate::catalog::CatalogError::from(e))),
    };
    let created = audited(&state, &who, change, details, created).await?;
    Ok(Json(created.into()))
}

/// The organisation's add-ons, by id, a page at a time.
#[utoipa::path(get, path = "/addons", tag = "addons",
    params(AddOnQuery),
    responses(
        (status = 200, description = "a page of add-ons", body = AddOnPage),
        (status = 400, description = "status or pageSize invalid", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Params(q): Params<AddOnQuery>,
) -> Result<Json<AddOnPage>, ApiError> {
    if let Some(s) = &q.status {
        if s != "ACTIVE" && s != "ARCHIVED" {
            return Err(ApiError::invalid(format!(
                "status {s:?}: expected ACTIVE or ARCHIVED"
            )));
        }
    }
    let rows: Vec<AddOn> = addons::list(&state.pool, &who.org)
        .await?
        .into_iter()
        .filter(|a| q.status.as_ref().is_none_or(|s| &a.status == s))
        .collect();
    let paging = PageQuery {
        next_token: q.next_token,
        page_size: q.page_size,
    };
    let (rows, next_token, context) = paging.page(rows, |a| a.id.as_str())?;
    Ok(Json(AddOnPage {
        data: rows.into_iter().map(AddOnBody::from).collect(),
        next_token,
        context,
    }))
}

/// One add-on.
#[utoipa::path(get, path = "/addons/{addon_id}", tag = "addons",
    params(("addon_id" = String, Path, description = "the add-on's id")),
    responses(
        (status = 200, description = "the add-on", body = AddOnBody),
        (status = 404, description = "no such add-on in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<AddOnBody>, ApiError> {
    Ok(Json(addons::get(&state.pool, &who.org, &id).await?.into()))
}

/// Changes an add-on's name and/or billable name (audited as `addon.update`).
#[utoipa::path(patch, path = "/addons/{addon_id}", tag = "addons",
    params(("addon_id" = String, Path, description = "the add-on's id")),
    request_body = UpdateAddOnRequest,
    responses(
        (status = 200, description = "the add-on as changed", body = AddOnBody),
        (status = 400, description = "a field is invalid", body = ErrorBody),
        (status = 404, description = "no such add-on in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Body(req): Body<UpdateAddOnRequest>,
) -> Result<Json<AddOnBody>, ApiError> {
    let change = Change {
        action: "addon.update",
        object_type: "addon",
        object_id: &id,
    };
    let details = serde_json::json!({ "name": req.name, "billableName": req.billable_name });
    let updated = addons::update(
        &state.pool,
        &who.org,
        &id,
        req.name.as_deref(),
        req.billable_name.as_deref(),
        Utc::now(),
    )
    .await
    .map_err(ApiError::from);
    let updated = audited(&state, &who, change, details, updated).await?;
    Ok(Json(updated.into()))
}

/// Archives an add-on (audited as `addon.archive`); answers `{"success": true}`.
#[utoipa::path(delete, path = "/addons/{addon_id}", tag = "addons",
    params(("addon_id" = String, Path, description = "the add-on's id")),
    responses(
        (status = 200, description = "archived", body = Success),
        (status = 404, description = "no such add-on in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn archive(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Success>, ApiError> {
    let change = Change {
        action: "addon.archive",
        object_type: "addon",
        object_id: &id,
    };
    let archived = addons::archive(&state.pool, &who.org, &id, Utc::now())
        .await
        .map_err(ApiError::from);
    audited(&state, &who, change, serde_json::json!({}), archived).await?;
    Ok(Json(Success { success: true }))
}
