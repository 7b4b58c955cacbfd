//! `/features`, `/accounts/{account_id}/features/{feature_id}` and
//! `/accounts/{account_id}/entitlements[/{feature_id}]`: features and the
//! entitlement check in Togai's shapes (togai-client 1.0.3: `FeatureApi`
//! `create_feature`, `get_features`, `get_feature` answering `Feature` /
//! `FeaturePaginatedListData` with 200; `EntitlementsApi.get_feature_credits`
//! answering `GetFeatureCreditsResponse`; `FeatureApi.update_feature` (PATCH);
//! `EntitlementsApi.get_entitlements` / `get_entitlement_value` answering
//! `GetEntitlementValuesResponse` and `validate_entitlement_value` answering
//! `BaseSuccessResponse`), over crate::entitlements as `billrun feature ...` and
//! `billrun entitlement ...` (README "Entitlements").
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

/// Togai's `UpdateFeatureRequest`: each field given replaces the stored one.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateFeatureRequest {
    /// The new name (the id does not change).
    #[serde(default)]
    pub name: Option<String>,
    /// The new name shown on invoices.
    #[serde(default)]
    pub billable_name: Option<String>,
    /// `[{"schemaName", "attributeName"}]`, at most 50, replacing all.
    #[schema(value_type = Option<Vec<Object>>)]
    #[serde(default)]
    pub schema_associations: Option<Vec<SchemaAssociation>>,
}

/// Updates a feature (audited as `feature.update`).
#[utoipa::path(patch, path = "/features/{feature_id}", tag = "features",
    params(("feature_id" = String, Path, description = "the feature's id")),
    request_body = UpdateFeatureRequest,
    responses(
        (status = 200, description = "updated", body = FeatureBody),
        (status = 400, description = "a field is invalid", body = ErrorBody),
        (status = 404, description = "no such feature in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Body(req): Body<UpdateFeatureRequest>,
) -> Result<Json<FeatureBody>, ApiError> {
    let change = Change {
        action: "feature.update",
        object_type: "feature",
        object_id: &id,
    };
    let patch = features::FeaturePatch {
        name: req.name,
        billable_name: req.billable_name,
        schema_associations: req.schema_associations,
    };
    let details = serde_json::json!({
        "name": patch.name,
        "billableName": patch.billable_name,
        "schemaAssociations": patch.schema_associations,
    });
    let updated = features::update(&state.pool, &who.org, &id, &patch, Utc::now())
        .await
        .map_err(ApiError::from);
    let updated = audited(&state, &who, change, details, updated).await?;
    Ok(Json(updated.into()))
}

/// One entry of Togai's `GetEntitlementValuesResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntitlementValue {
    /// The feature.
    pub feature_id: String,
    /// What is left of the cycle's allowance (`balance`), a decimal number as a
    /// string, digit for digit ("600").
    pub value: String,
}

/// Togai's `GetEntitlementValuesResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EntitlementValues {
    /// One entry per feature, by feature id.
    pub data: Vec<EntitlementValue>,
}

fn values(list: Vec<entitlements::Entitlement>) -> EntitlementValues {
    EntitlementValues {
        data: list
            .into_iter()
            .map(|e| EntitlementValue {
                value: e.balance.normalize().to_string(),
                feature_id: e.feature_id,
            })
            .collect(),
    }
}

/// The balance of every feature the account's plan names, now.
#[utoipa::path(get, path = "/accounts/{account_id}/entitlements", tag = "features",
    params(("account_id" = String, Path, description = "the account")),
    responses(
        (status = 200, description = "each feature's balance", body = EntitlementValues),
        (status = 404, description = "no such account in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn entitlement_values(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(account_id): Path<String>,
) -> Result<Json<EntitlementValues>, ApiError> {
    let list = entitlements::entitlements(&state.pool, &who.org, &account_id, Utc::now()).await?;
    Ok(Json(values(list)))
}

/// The balance of one feature of the account, now.
#[utoipa::path(get, path = "/accounts/{account_id}/entitlements/{feature_id}", tag = "features",
    params(
        ("account_id" = String, Path, description = "the account"),
        ("feature_id" = String, Path, description = "the feature"),
    ),
    responses(
        (status = 200, description = "the feature's balance", body = EntitlementValues),
        (status = 404, description = "no such account or feature in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn entitlement_value(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((account_id, feature_id)): Path<(String, String)>,
) -> Result<Json<EntitlementValues>, ApiError> {
    let e = entitlements::entitlement(&state.pool, &who.org, &account_id, &feature_id, Utc::now())
        .await?;
    Ok(Json(values(vec![e])))
}

/// Togai's `ValidateEntitlementValueRequest`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateEntitlementValueRequest {
    /// The quantity the account wants to use, a decimal number >= 0 as a string.
    pub value: String,
}

/// Togai's `BaseSuccessResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SuccessBody {
    /// Whether the account may use the quantity.
    pub success: bool,
}

/// May the account use `value` more units of the feature now? `success` is true when
/// the balance plus what is left of the overage limit covers it
/// ([`entitlements::Entitlement::allows`]). Changes nothing.
#[utoipa::path(post, path = "/accounts/{account_id}/entitlements/{feature_id}", tag = "features",
    params(
        ("account_id" = String, Path, description = "the account"),
        ("feature_id" = String, Path, description = "the feature"),
    ),
    request_body = ValidateEntitlementValueRequest,
    responses(
        (status = 200, description = "whether the quantity is allowed", body = SuccessBody),
        (status = 400, description = "value is not a number >= 0", body = ErrorBody),
        (status = 404, description = "no such account or feature in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn validate_value(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((account_id, feature_id)): Path<(String, String)>,
    Body(req): Body<ValidateEntitlementValueRequest>,
) -> Result<Json<SuccessBody>, ApiError> {
    let quantity: rust_decimal::Decimal = req
        .value
        .trim()
        .parse()
        .ok()
        .filter(|q: &rust_decimal::Decimal| !q.is_sign_negative())
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "value: {:?} is not a quantity (a decimal number >= 0, e.g. \"250\")",
                req.value
            ))
        })?;
    let e = entitlements::entitlement(&state.pool, &who.org, &account_id, &feature_id, Utc::now())
        .await?;
    Ok(Json(SuccessBody {
        success: e.allows(quantity),
    }))
}
