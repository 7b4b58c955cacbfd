//! `/billrun/api_tokens`: the organisation's API tokens over HTTP, as `billrun token
//! ...` (Togai's Admin Center "API Tokens" tab: generate a token, its secret shown
//! once, list the older ones, deactivate and delete them,
//! <https://docs.togai.com/docs/admin-center>; Togai has no public API for it, hence
//! billrun's prefix). Each route calls [`crate::identity::tokens`], which checks,
//! changes and writes the audit row (`token.create`, `token.deactivate`,
//! `token.activate`, `token.delete`) in one transaction, as for the CLI.
//!
//! - `POST /billrun/api_tokens` `{"name", "role"}`: 201 with the token and its secret
//!   (`token`: `brt_<prefix>_<secret>`), shown this once; stored only as its SHA-256.
//! - `GET /billrun/api_tokens`, `GET .../{token_id}`: never the secret.
//! - `POST .../{token_id}/deactivate`, `.../activate`: 409 when it is so already.
//! - `DELETE .../{token_id}`: 200 with what it was.
//!
//! A token may not deactivate or delete itself: 409, with how to do it instead
//! (`identity::tokens::deactivate`). Another organisation's token id answers 404.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorBody};
use super::extract::Body;
use super::AppState;
use crate::identity::tokens::{self, NewToken, TokenView};
use crate::identity::{Principal, Role};

/// `POST /billrun/api_tokens`'s body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateApiTokenRequest {
    /// A name for people, 1 to 100 characters, unique in the organisation.
    pub name: String,
    /// `ADMINISTRATOR`, `ANALYST`, `DEVELOPER` or `PRODUCT_MANAGER`.
    #[schema(value_type = String)]
    pub role: Role,
}

/// An API token, without its secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiToken {
    /// The token's id (`tok_...`).
    pub id: String,
    /// Its name, unique in the organisation.
    pub name: String,
    /// `ADMINISTRATOR`, `ANALYST`, `DEVELOPER` or `PRODUCT_MANAGER`.
    #[schema(value_type = String)]
    pub role: Role,
    /// The 8 letters and digits after `brt_`, shown so that people can tell tokens
    /// apart (the token reads `brt_<prefix>_<secret>`).
    pub prefix: String,
    /// `ACTIVE` (authenticates) or `INACTIVE`.
    #[schema(value_type = String)]
    pub status: &'static str,
    /// When it was created (UTC).
    pub created_at: DateTime<Utc>,
    /// When it last authenticated (UTC, to the minute), `null` if never.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<TokenView> for ApiToken {
    fn from(t: TokenView) -> Self {
        ApiToken {
            id: t.id,
            name: t.name,
            role: t.role,
            prefix: t.prefix,
            status: t.status.as_str(),
            created_at: t.created_at,
            last_used_at: t.last_used_at,
        }
    }
}

/// A token just created: the token, and its secret, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedApiToken {
    /// The stored token.
    #[serde(flatten)]
    pub token_view: ApiToken,
    /// `brt_<prefix>_<secret>`: the bearer token. It cannot be shown again.
    pub token: String,
}

/// The organisation's tokens.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiTokenList {
    /// Every token of the organisation, oldest first (one page: an organisation has
    /// a handful).
    pub data: Vec<ApiToken>,
}

/// Creates an API token (audited as `token.create`); its secret is in this answer
/// only.
#[utoipa::path(post, path = "/billrun/api_tokens", tag = "billrun identity",
    request_body = CreateApiTokenRequest,
    responses(
        (status = 201, description = "created; `token` is shown this once", body = CreatedApiToken),
        (status = 400, description = "a name out of 1 to 100 characters, an unknown role", body = ErrorBody),
        (status = 409, description = "the organisation has a token of this name", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Body(req): Body<CreateApiTokenRequest>,
) -> Result<(StatusCode, Json<CreatedApiToken>), ApiError> {
    let NewToken { view, token } = tokens::create(
        &state.pool,
        &who.org,
        &req.name,
        req.role,
        &who.actor,
        Utc::now(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiToken {
            token_view: view.into(),
            token,
        }),
    ))
}

/// The organisation's API tokens, oldest first, never their secrets.
#[utoipa::path(get, path = "/billrun/api_tokens", tag = "billrun identity",
    responses((status = 200, description = "the tokens", body = ApiTokenList)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<ApiTokenList>, ApiError> {
    let rows = tokens::list(&state.pool, &who.org).await?;
    Ok(Json(ApiTokenList {
        data: rows.into_iter().map(ApiToken::from).collect(),
    }))
}

/// One API token of the organisation, without its secret.
#[utoipa::path(get, path = "/billrun/api_tokens/{token_id}", tag = "billrun identity",
    params(("token_id" = String, Path, description = "the token's id (`tok_...`)")),
    responses(
        (status = 200, description = "the token", body = ApiToken),
        (status = 404, description = "no such token in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<ApiToken>, ApiError> {
    Ok(Json(tokens::show(&state.pool, &who.org, &id).await?.into()))
}

/// Deactivates a token: it stops authenticating at once (audited as
/// `token.deactivate`).
#[utoipa::path(post, path = "/billrun/api_tokens/{token_id}/deactivate", tag = "billrun identity",
    params(("token_id" = String, Path, description = "the token's id (`tok_...`)")),
    responses(
        (status = 200, description = "the token, INACTIVE", body = ApiToken),
        (status = 404, description = "no such token in the organisation", body = ErrorBody),
        (status = 409, description = "inactive already, or the token making the request", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn deactivate(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<ApiToken>, ApiError> {
    let t = tokens::deactivate(&state.pool, &who.org, &id, &who.actor, Utc::now()).await?;
    Ok(Json(t.into()))
}

/// Activates a deactivated token again (audited as `token.activate`).
#[utoipa::path(post, path = "/billrun/api_tokens/{token_id}/activate", tag = "billrun identity",
    params(("token_id" = String, Path, description = "the token's id (`tok_...`)")),
    responses(
        (status = 200, description = "the token, ACTIVE", body = ApiToken),
        (status = 404, description = "no such token in the organisation", body = ErrorBody),
        (status = 409, description = "active already", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn activate(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<ApiToken>, ApiError> {
    let t = tokens::activate(&state.pool, &who.org, &id, &who.actor, Utc::now()).await?;
    Ok(Json(t.into()))
}

/// Deletes a token for good (audited as `token.delete`); answers what it was.
#[utoipa::path(delete, path = "/billrun/api_tokens/{token_id}", tag = "billrun identity",
    params(("token_id" = String, Path, description = "the token's id (`tok_...`)")),
    responses(
        (status = 200, description = "the token deleted", body = ApiToken),
        (status = 404, description = "no such token in the organisation", body = ErrorBody),
        (status = 409, description = "the token making the request", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<ApiToken>, ApiError> {
    let t = tokens::delete(&state.pool, &who.org, &id, &who.actor, Utc::now()).await?;
    Ok(Json(t.into()))
}
