//! `/aliases` and `/aliases/{alias}`: Togai's organisation-wide aliases over
//! billrun's alias ranges ([`crate::catalog::aliases`]).
//!
//! Mapping (README "HTTP API"): billrun keeps an alias only as ranges routing it to
//! an account; it has no standalone alias. So:
//! - `GET /aliases` lists every alias the organisation ever routed (any account), one
//!   page (`nextToken` and `pageSize` are accepted; the answer has no `nextToken`),
//!   by name; `createdAt` is when its first range was recorded.
//! - `GET /aliases/{alias}` answers one of them; 404 when the organisation never
//!   routed it.
//! - `POST /aliases` (create standalone aliases) answers 400 naming what is not
//!   supported: add aliases to an account with `/accounts/{account_id}/add_aliases`.
//! - `DELETE /aliases/{alias}` answers 404 for an unknown alias, else 400: an alias
//!   routed to an account is ended with `/accounts/{account_id}/remove_aliases`
//!   (billrun keeps its ranges: past usage was routed by them).
//!
//! Both writes are audited (FAILURE) as `alias.create` / `alias.delete`.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorBody};
use super::extract::{Body, Params};
use super::price_plans::SuccessBody;
use super::{audited, AppState, Change};
use crate::catalog::aliases::{self, AliasRecord};
use crate::catalog::CatalogError;
use crate::identity::Principal;

/// Togai's `CreateAliasRequest`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAlias {
    /// The alias.
    pub value: String,
}

/// Togai's `CreateBulkAliasRequest`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBulkAliasRequest {
    /// The aliases (1 to 100).
    pub aliases: Vec<CreateAlias>,
}

/// Togai's `Alias`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AliasBody {
    /// The alias.
    pub value: String,
    /// When its first range was recorded (UTC).
    pub created_at: DateTime<Utc>,
}

/// Togai's `AliasPaginatedResponse` (every alias on one page).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AliasPage {
    /// The organisation's aliases, by name.
    pub data: Vec<AliasBody>,
}

/// `GET /aliases`'s query (accepted; one page holds every alias).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AliasQuery {
    /// Ignored: there is never a next page.
    #[serde(default)]
    pub next_token: Option<String>,
    /// Ignored: the page holds every alias.
    #[serde(default)]
    pub page_size: Option<String>,
}

/// One alias per name from ranges sorted by alias: the earliest `createdAt`.
pub fn aliases_of(records: Vec<AliasRecord>) -> Vec<AliasBody> {
    let mut out: Vec<AliasBody> = Vec::new();
    for r in records {
        match out.last_mut() {
            Some(last) if last.value == r.range.alias => {
                last.created_at = last.created_at.min(r.created_at);
            }
            _ => out.push(AliasBody {
                value: r.range.alias,
                created_at: r.created_at,
            }),
        }
    }
    out
}

/// The alias `alias` of the organisation. Errors: 404 when never routed.
async fn find(state: &AppState, who: &Principal, alias: &str) -> Result<AliasBody, ApiError> {
    let records = aliases::records_for_alias(&state.pool, &who.org, alias).await?;
    aliases_of(records).pop().ok_or_else(|| {
        ApiError::from(CatalogError::NotFound {
            what: "alias",
            org: who.org.to_string(),
            id: alias.to_string(),
        })
    })
}

/// Standalone aliases: not supported (400, audited as a FAILURE).
#[utoipa::path(post, path = "/aliases", tag = "aliases",
    request_body = CreateBulkAliasRequest,
    responses(
        (status = 400, description = "billrun keeps aliases only on accounts", body = ErrorBody),
        (status = 403, description = "the role may not change accounts", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Body(req): Body<CreateBulkAliasRequest>,
) -> Result<Json<AliasPage>, ApiError> {
    let names: Vec<&str> = req.aliases.iter().map(|a| a.value.as_str()).collect();
    let done: Result<Json<AliasPage>, ApiError> = Err(ApiError::invalid(format!(
        "aliases: standalone aliases (not attached to an account) are not supported by \
         billrun; add {names:?} to an account with POST /accounts/{{account_id}}/add_aliases"
    )));
    audited(
        &state,
        &who,
        Change {
            action: "alias.create",
            object_type: "alias",
            object_id: &names.join(","),
        },
        serde_json::json!({ "aliases": names }),
        done,
    )
    .await
}

/// The organisation's aliases (one page).
#[utoipa::path(get, path = "/aliases", tag = "aliases",
    params(AliasQuery),
    responses(
        (status = 200, description = "every alias the organisation routed", body = AliasPage),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Params(_q): Params<AliasQuery>,
) -> Result<Json<AliasPage>, ApiError> {
    let records = aliases::records_for_org(&state.pool, &who.org).await?;
    Ok(Json(AliasPage {
        data: aliases_of(records),
    }))
}

/// One alias of the organisation.
#[utoipa::path(get, path = "/aliases/{alias}", tag = "aliases",
    params(("alias" = String, Path, description = "the alias")),
    responses(
        (status = 200, description = "the alias", body = AliasBody),
        (status = 404, description = "the organisation never routed it", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(alias): Path<String>,
) -> Result<Json<AliasBody>, ApiError> {
    Ok(Json(find(&state, &who, &alias).await?))
}

/// Deleting an alias: 404 when unknown, else 400 (end it on its account with
/// `remove_aliases`); audited as a FAILURE either way.
#[utoipa::path(delete, path = "/aliases/{alias}", tag = "aliases",
    params(("alias" = String, Path, description = "the alias")),
    responses(
        (status = 400, description = "the alias routes to an account: use remove_aliases", body = ErrorBody),
        (status = 403, description = "the role may not change accounts", body = ErrorBody),
        (status = 404, description = "the organisation never routed it", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(alias): Path<String>,
) -> Result<Json<SuccessBody>, ApiError> {
    let done: Result<Json<SuccessBody>, ApiError> = match find(&state, &who, &alias).await {
        Err(e) => Err(e),
        Ok(_) => Err(ApiError::invalid(format!(
            "alias: deleting an alias is not supported by billrun (it keeps an alias's \
             ranges); end {alias:?} on its account with \
             POST /accounts/{{account_id}}/remove_aliases"
        ))),
    };
    audited(
        &state,
        &who,
        Change {
            action: "alias.delete",
            object_type: "alias",
            object_id: &alias,
        },
        serde_json::json!({}),
        done,
    )
    .await
}
