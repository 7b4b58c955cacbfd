//! `/invites/accept`: accepting an invitation over HTTP (billrun's route; README
//! "Identity"). The invitation email's link is `<[http] public_url>/invites/accept?
//! token=bri_...` (`billrun user invite`); both methods are public (the invitation's
//! secret is the credential), and acceptance is `identity::users::accept`: single
//! use, within its validity, the password stored as argon2id, audit row `user.accept`.
//!
//! - `GET /invites/accept?token=...` changes nothing: for a usable invitation it
//!   answers a minimal HTML form (the token hidden, a password field) posting back
//!   here, or with `Accept: application/json`, JSON saying what to POST. An unknown,
//!   used, replaced or expired invitation answers 401 in Togai's error shape.
//! - `POST /invites/accept` with `{"token": "bri_...", "password": "..."}` (JSON, or
//!   the form's `application/x-www-form-urlencoded`) accepts it: 200 with the user
//!   (`email`, `role`, `status` ACTIVE); then `POST /authenticate` opens a session.
//!   Errors: 401 for an unusable invitation (also the second time), 400 for a
//!   password shorter than 10 characters or over 1024 bytes.

use axum::extract::{FromRequest, Request, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::{Form, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorBody};
use super::extract::{Body, Params};
use super::AppState;
use crate::identity::users::{self, MIN_PASSWORD_CHARS};
use crate::identity::{IdentityError, Role};

/// The path of both routes (the link's path).
pub const ACCEPT_PATH: &str = "/invites/accept";

/// `?token=bri_...`: the invitation's secret, from the email's link.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InviteQuery {
    /// The invitation's secret (`bri_...`).
    pub token: String,
}

/// What to POST to accept (`GET` with `Accept: application/json`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InviteInfo {
    /// The invited address.
    pub email: String,
    /// The organisation's id.
    pub organisation: String,
    /// The role the user will have.
    #[schema(value_type = String)]
    pub role: Role,
    /// The end of the invitation's validity (UTC, exclusive).
    pub expires_at: DateTime<Utc>,
    /// `POST`.
    pub method: &'static str,
    /// `/invites/accept`.
    pub path: &'static str,
    /// The body's fields: `token` (this invitation's) and `password` (at least 10
    /// characters).
    pub fields: Vec<&'static str>,
}

/// `POST /invites/accept`'s body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptBody {
    /// The invitation's secret (`bri_...`).
    pub token: String,
    /// The new password: at least 10 characters, at most 1024 bytes.
    pub password: String,
}

/// The accepted user.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcceptedUser {
    /// The user's address.
    pub email: String,
    /// The user's role.
    #[schema(value_type = String)]
    pub role: Role,
    /// `ACTIVE`.
    pub status: String,
}

/// An identity error as answered here: an unusable invitation is 401.
fn refused(e: IdentityError) -> ApiError {
    match e {
        IdentityError::Unauthenticated(m) => ApiError::unauthenticated(m),
        other => ApiError::from(other),
    }
}

fn wants_json(req: &Request) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// Escapes `s` for HTML text and attribute values.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The invitation of the link: an HTML form to set a password, or JSON saying what
/// to POST. Changes nothing.
#[utoipa::path(get, path = "/invites/accept", tag = "authentication",
    params(InviteQuery),
    responses(
        (status = 200, description = "an HTML form (or, with Accept: application/json, what to POST)", body = InviteInfo),
        (status = 401, description = "unknown, used, replaced or expired invitation", body = ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    Params(q): Params<InviteQuery>,
    req: Request,
) -> Result<Response, ApiError> {
    let invite = users::pending(&state.pool, &q.token, Utc::now())
        .await
        .map_err(refused)?;
    if wants_json(&req) {
        return Ok(Json(InviteInfo {
            email: invite.email,
            organisation: invite.org_id.to_string(),
            role: invite.role,
            expires_at: invite.expires_at,
            method: "POST",
            path: ACCEPT_PATH,
            fields: vec!["token", "password"],
        })
        .into_response());
    }
    let page = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Accept your invitation</title></head>\n\
         <body>\n<h1>Join {org} on billrun</h1>\n<p>{email}, as {role}; valid until {until}.</p>\n\
         <form method=\"post\" action=\"{ACCEPT_PATH}\">\n\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">\n\
         <label>Password (at least {MIN_PASSWORD_CHARS} characters) \
         <input type=\"password\" name=\"password\" minlength=\"{MIN_PASSWORD_CHARS}\" required></label>\n\
         <button type=\"submit\">Set my password</button>\n</form>\n</body></html>\n",
        org = escape(invite.org_id.as_ref()),
        email = escape(&invite.email),
        role = invite.role.title(),
        until = invite.expires_at.format("%Y-%m-%d %H:%M UTC"),
        token = escape(&q.token),
    );
    Ok(Html(page).into_response())
}

/// Accepts the invitation with a password (JSON or the form's body).
#[utoipa::path(post, path = "/invites/accept", tag = "authentication",
    request_body = AcceptBody,
    responses(
        (status = 200, description = "the user, ACTIVE", body = AcceptedUser),
        (status = 400, description = "a password out of bounds", body = ErrorBody),
        (status = 401, description = "unknown, used, replaced or expired invitation", body = ErrorBody),
    ))]
pub async fn accept(State(state): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let body: AcceptBody = if form {
        Form::<AcceptBody>::from_request(req, &state)
            .await
            .map_err(|r| ApiError::invalid(r.body_text()))?
            .0
    } else {
        Body::<AcceptBody>::from_request(req, &state).await?.0
    };
    let user = users::accept(&state.pool, &body.token, &body.password, Utc::now())
        .await
        .map_err(refused)?;
    if form {
        return Ok(Html(format!(
            "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Welcome</title></head>\n\
             <body><p>{} is active: sign in with POST /authenticate.</p></body></html>\n",
            escape(&user.email)
        ))
        .into_response());
    }
    Ok(Json(AcceptedUser {
        email: user.email,
        role: user.role,
        status: user.status,
    })
    .into_response())
}
