//! `/billrun/users`: the organisation's users over HTTP, as `billrun user ...`
//! (Togai's Admin Center "Users" tab: active users and users invited who have not
//! accepted yet, and "Invite New User", <https://docs.togai.com/docs/admin-center>;
//! Togai has no public API for it, hence billrun's prefix). A user is known by its
//! email address (lower case), which is its id.
//!
//! - `POST /billrun/users/invite` `{"email", "role", "acceptUrl"?, "validHours"?}`:
//!   through [`crate::app::users::invite`], as the CLI: the invitation is emailed
//!   through the configured mailer (the link's secret is never answered) before
//!   anything is stored; 201 with the user INVITED and the link's expiry. 409 for an
//!   ACTIVE user; an INVITED one is invited again (its role set, the earlier link
//!   replaced). 503 when the mail transport fails (nothing stored).
//! - `GET /billrun/users`, `GET .../{email}`: active and invited users.
//! - `PATCH .../{email}` `{"role"}`: another role, at once.
//! - `DELETE .../{email}`: removes a user (its sessions end) or revokes an invitation.
//!
//! The organisation's last ACTIVE Administrator can be neither removed nor demoted
//! (409; [`crate::identity::user_admin`]). Every change writes its audit row in its
//! own transaction (`user.invite`, `user.set_role`, `user.remove`), FAILURE rows for
//! refusals. Another organisation's user answers 404.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorBody};
use super::extract::Body;
use super::AppState;
use crate::app::users::{self as app_users, InviteRequest};
use crate::identity::users::{self, UserView};
use crate::identity::{user_admin, Principal, Role};

/// `POST /billrun/users/invite`'s body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InviteUserRequest {
    /// The address to invite (any case; stored lower case).
    pub email: String,
    /// `ADMINISTRATOR`, `ANALYST`, `DEVELOPER` or `PRODUCT_MANAGER`.
    #[schema(value_type = String)]
    pub role: Role,
    /// The page that accepts invitations, an absolute http(s) URL; the link is
    /// `<acceptUrl>?token=bri_...` (default: this API's `/invites/accept` at `[http]
    /// public_url`).
    #[serde(default)]
    pub accept_url: Option<String>,
    /// How long the link can be used, in hours: 1 to 8760 (default 72).
    #[serde(default)]
    pub valid_hours: Option<u32>,
}

/// `PATCH /billrun/users/{email}`'s body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// The new role: `ADMINISTRATOR`, `ANALYST`, `DEVELOPER` or `PRODUCT_MANAGER`.
    #[schema(value_type = String)]
    pub role: Role,
}

/// A user of the organisation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The email address (lower case): the user's id.
    pub email: String,
    /// `ADMINISTRATOR`, `ANALYST`, `DEVELOPER` or `PRODUCT_MANAGER`.
    #[schema(value_type = String)]
    pub role: Role,
    /// `INVITED` (has not accepted yet) or `ACTIVE`.
    pub status: String,
    /// When first invited (UTC).
    pub created_at: DateTime<Utc>,
}

impl From<UserView> for User {
    fn from(u: UserView) -> Self {
        User {
            email: u.email,
            role: u.role,
            status: u.status,
            created_at: u.created_at,
        }
    }
}

/// An invitation sent: the user, and the end of the link's validity.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvitedUser {
    /// The user, INVITED.
    #[serde(flatten)]
    pub user: User,
    /// The end of the emailed link's validity (UTC, exclusive).
    pub expires_at: DateTime<Utc>,
}

/// The organisation's users.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserList {
    /// Every user, active and invited, by email (one page: an organisation has a
    /// handful).
    pub data: Vec<User>,
}

/// Invites a user by email: the invitation is emailed (audited as `user.invite`).
#[utoipa::path(post, path = "/billrun/users/invite", tag = "billrun identity",
    request_body = InviteUserRequest,
    responses(
        (status = 201, description = "emailed; the user is INVITED", body = InvitedUser),
        (status = 400, description = "an address, role, acceptUrl or validHours that is not one; no From address configured", body = ErrorBody),
        (status = 409, description = "an active user already", body = ErrorBody),
        (status = 503, description = "the mail transport failed: nothing stored", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn invite(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Body(req): Body<InviteUserRequest>,
) -> Result<(StatusCode, Json<InvitedUser>), ApiError> {
    let request = InviteRequest {
        email: req.email,
        role: req.role,
        accept_url: req.accept_url,
        valid_hours: req.valid_hours,
    };
    let invitation = app_users::invite(
        &state.pool,
        &state.config,
        &who.org,
        request,
        &who.actor,
        Utc::now(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(InvitedUser {
            user: invitation.user.into(),
            expires_at: invitation.expires_at,
        }),
    ))
}

/// The organisation's users, active and invited, by email.
#[utoipa::path(get, path = "/billrun/users", tag = "billrun identity",
    responses((status = 200, description = "the users", body = UserList)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<UserList>, ApiError> {
    let rows = users::list(&state.pool, &who.org).await?;
    Ok(Json(UserList {
        data: rows.into_iter().map(User::from).collect(),
    }))
}

/// One user of the organisation.
#[utoipa::path(get, path = "/billrun/users/{email}", tag = "billrun identity",
    params(("email" = String, Path, description = "the user's email address")),
    responses(
        (status = 200, description = "the user", body = User),
        (status = 404, description = "no such user in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(email): Path<String>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(
        user_admin::show(&state.pool, &who.org, &email)
            .await?
            .into(),
    ))
}

/// Gives a user (active or invited) another role, at once (audited as
/// `user.set_role`).
#[utoipa::path(patch, path = "/billrun/users/{email}", tag = "billrun identity",
    params(("email" = String, Path, description = "the user's email address")),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "the user with its new role", body = User),
        (status = 404, description = "no such user in the organisation", body = ErrorBody),
        (status = 409, description = "the organisation's last active Administrator", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(email): Path<String>,
    Body(req): Body<UpdateUserRequest>,
) -> Result<Json<User>, ApiError> {
    let u = user_admin::set_role(
        &state.pool,
        &who.org,
        &email,
        req.role,
        &who.actor,
        Utc::now(),
    )
    .await?;
    Ok(Json(u.into()))
}

/// Removes a user (its sessions end at once) or revokes an invitation (audited as
/// `user.remove`); answers what the user was.
#[utoipa::path(delete, path = "/billrun/users/{email}", tag = "billrun identity",
    params(("email" = String, Path, description = "the user's email address")),
    responses(
        (status = 200, description = "the user removed", body = User),
        (status = 404, description = "no such user in the organisation", body = ErrorBody),
        (status = 409, description = "the organisation's last active Administrator", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(email): Path<String>,
) -> Result<Json<User>, ApiError> {
    let u = user_admin::remove(&state.pool, &who.org, &email, &who.actor, Utc::now()).await?;
    Ok(Json(u.into()))
}
