//! `/features` and `/accounts/{account_id}/features/{feature_id}`: features and the
//! entitlement check in Togai's shapes (togai-client 1.0.3: `FeatureApi`
//! `create_feature`, `get_features`, `get_feature` answering `Feature` /
//! `FeaturePaginatedListData` with 200; `EntitlementsApi.get_feature_credits`
//! answering `GetFeatureCreditsResponse`), over crate::entitlements as `billrun
//! feature ...` and `billrun entitlement check` (README "Entitlements").
//!
//! A feature's id is its name. The list is one page (`nextToken` absent). The check
//! counts the account's cycle holding the time of the request; quantities are JSON
//! numbers, digit for digit; `overageLimit` is null when the overage is unlimited.
//! Another organisation's feature or account answers 404.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::error::{ApiError, ErrorBody};
use super::extract::Body;
use super::money::number;
use super::{audited, AppState, Change};
use crate::entitlements::{self, features, Feature, SchemaAssociation};
use crate::identity::Principal;

/// Togai's `Feature`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeatureBody {
    /// Its id (its name).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Shown on invoices instead of the name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billable_name: Option<String>,
    /// `billableName`, else `name`.
    pub display_name: String,
    /// The schema attributes whose sum is its use.
    #[schema(value_type = Vec<Object>)]
    pub schema_associations: Vec<SchemaAssociation>,
    /// When it was created (UTC).
    pub created_at: DateTime<Utc>,
    /// When it last changed (UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<Feature> for FeatureBody {
    fn from(f: Feature) -> Self {
        Self {
            display_name: f.display_name().to_string(),
            id: f.id,
            name: f.name,
            billable_name: f.billable_name,
            schema_associations: f.schema_associations,
            created_at: f.created_at,
            updated_at: f.updated_at,
        }
    }
}

/// Togai's `FeatureListResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeatureListItem {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Shown on invoices instead of the name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billable_name: Option<String>,
    /// `billableName`, else `name`.
    pub display_name: String,
    /// How many schemas it counts.
    pub schema_count: usize,
    /// When it was created (UTC).
    pub created_at: DateTime<Utc>,
    /// When it last changed (UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

/// Togai's `FeaturePaginatedListData` (one page).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeatureList {
    /// Every feature, by id.
    pub data: Vec<FeatureListItem>,
}

/// Togai's `CreateFeatureRequest`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateFeatureRequest {
    /// Name, and id (at most 50 characters, no whitespace).
    pub name: String,
    /// Shown on invoices instead of the name.
    #[serde(default)]
    pub billable_name: Option<String>,
    /// `[{"schemaName", "attributeName"}]`, at most 50.
    #[schema(value_type = Vec<Object>)]
    #[serde(default)]
    pub schema_associations: Vec<SchemaAssociation>,
}

/// Togai's `GetFeatureCreditsResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeatureCreditsBody {
    /// The account.
    pub account_id: String,
    /// The feature.
    pub feature_id: String,
    /// The cycle's allowance.
    #[schema(value_type = f64)]
    pub granted: Box<RawValue>,
    /// What is left of it.
    #[schema(value_type = f64)]
    pub balance: Box<RawValue>,
    /// The most overage allowed per cycle; null: unlimited.
    #[schema(value_type = Option<f64>)]
    pub overage_limit: Option<Box<RawValue>>,
    /// Use beyond the allowance.
    #[schema(value_type = f64)]
    pub used_overage: Box<RawValue>,
}

/// Creates a feature (audited as `feature.create`).
#[utoipa::path(post, path = "/features", tag = "features",
    request_body = CreateFeatureRequest,
    responses(
        (status = 200, description = "created", body = FeatureBody),
        (status = 400, description = "a field is invalid", body = ErrorBody),
        (status = 409, description = "the id is taken", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Body(req): Body<CreateFeatureRequest>,
) -> Result<Json<FeatureBody>, ApiError> {
    let change = Change {
        action: "feature.create",
        object_type: "feature",
        object_id: &req.name,
    };
    let details = serde_json::json!({ "schemaAssociations": req.schema_associations });
    let created = features::create(
        &state.pool,
        &who.org,
        &req.name,
        req.billable_name.as_deref(),
        &req.schema_associations,
        Utc::now(),
    )
    .await
    .map_err(ApiError::from);
    let created = audited(&state, &who, change, details, created).await?;
    Ok(Json(created.into()))
}

/// The organisation's features.
#[utoipa::path(get, path = "/features", tag = "features",
    responses((status = 200, description = "the features", body = FeatureList)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<FeatureList>, ApiError> {
    let list = features::list(&state.pool, &who.org).await?;
    Ok(Json(FeatureList {
        data: list
            .into_iter()
            .map(|f| FeatureListItem {
                display_name: f.display_name().to_string(),
                schema_count: f.schema_associations.len(),
                id: f.id,
                name: f.name,
                billable_name: f.billable_name,
                created_at: f.created_at,
                updated_at: f.updated_at,
            })
            .collect(),
    }))
}

/// One feature.
#[utoipa::path(get, path = "/features/{feature_id}", tag = "features",
    params(("feature_id" = String, Path, description = "the feature's id")),
    responses(
        (status = 200, description = "the feature", body = FeatureBody),
        (status = 404, description = "no such feature in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<FeatureBody>, ApiError> {
    Ok(Json(
        features::get(&state.pool, &who.org, &id).await?.into(),
    ))
}

/// The account's allowance, balance and overage of the feature now.
#[utoipa::path(get, path = "/accounts/{account_id}/features/{feature_id}", tag = "features",
    params(
        ("account_id" = String, Path, description = "the account"),
        ("feature_id" = String, Path, description = "the feature"),
    ),
    responses(
        (status = 200, description = "the entitlement", body = FeatureCreditsBody),
        (status = 404, description = "no such account or feature in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn credits(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((account_id, feature_id)): Path<(String, String)>,
) -> Result<Json<FeatureCreditsBody>, ApiError> {
    let e = entitlements::entitlement(&state.pool, &who.org, &account_id, &feature_id, Utc::now())
        .await?;
    Ok(Json(FeatureCreditsBody {
        account_id: e.account_id,
        feature_id: e.feature_id,
        granted: number(e.granted),
        balance: number(e.balance),
        overage_limit: e.overage_limit.map(number),
        used_overage: number(e.used_overage),
    }))
}
