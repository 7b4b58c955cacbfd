//! Authentication and authorisation of every request, and `POST /authenticate`.
//!
//! A request carries `Authorization: Bearer <token>`: an API token (`brt_...`,
//! [`tokens::authenticate`]) or a session token (`brs_...`, [`users::session`]). A
//! missing, malformed, unknown, wrong, deactivated or deleted credential, or an
//! expired session, is answered 401 in Togai's error shape. The credential's
//! [`Principal`] then decides everything: its organisation is the only one the request
//! can see (another organisation's ids answer 404, because every application function
//! is given this organisation), and its role must allow the route's resource and
//! access in identity's permission table ([`roles::allows`]), else 403.

use axum::body::Bytes;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorBody};
use super::routes::{self, Guard};
use super::AppState;
use crate::identity::{roles, token_sessions, tokens, users, IdentityError, OrgId, Principal};

/// The middleware of every route: finds the route in [`routes::ROUTES`], lets public
/// routes through, and for the others authenticates the bearer credential, checks
/// its role, and hands the [`Principal`] to the handler (a request extension). The
/// console's routes (`/console...`) are guarded by [`super::console::guard`] instead:
/// the same table and permission check, but a session cookie and a CSRF token.
pub async fn authorize(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let path = matched.as_ref().map(|m| m.as_str()).unwrap_or("");
    let Some(route) = routes::find(req.method(), path) else {
        tracing::error!(method = %req.method(), path, "a route is missing from the route table");
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "this route is not in the route table",
        ));
    };
    if path == "/console" || path.starts_with("/console/") {
        return Ok(super::console::guard(&state, route, req, next).await);
    }
    let (resource, access) = match route.guard {
        Guard::Public => return Ok(next.run(req).await),
        Guard::SignedIn => {
            let principal = authenticate(&state, bearer(req.headers())?).await?;
            req.extensions_mut().insert(principal);
            return Ok(next.run(req).await);
        }
        Guard::Needs(resource, access) => (resource, access),
    };
    let token = bearer(req.headers())?;
    let principal = authenticate(&state, token).await?;
    if !roles::allows(principal.role, resource, access) {
        let message = format!(
            "the role {} may not {} {}",
            principal.role.title(),
            match access {
                roles::Access::Read => "read",
                roles::Access::Write => "change",
            },
            routes::resource_name(resource),
        );
        if access == roles::Access::Write {
            record_forbidden_change(&state, &principal, route, req.uri().path(), &message).await;
        }
        return Err(ApiError::forbidden(message));
    }
    tracing::debug!(actor = %principal.actor, org = %principal.org, "authorised");
    req.extensions_mut().insert(principal);
    Ok(next.run(req).await)
}

/// The audit row of a change its caller's role may not make (README "Identity"):
/// action `request.forbidden`, object type `route`, object id the route as the table
/// has it (`PATCH /invoices/{invoice_id}`), outcome `FAILURE` with `details.error` the
/// 403's message and the request's method and path (with the ids it named): `the role
/// Analyst may not change invoices: PATCH /invoices/inv_1`. Refused reads are not
/// changes and write no row.
pub(super) async fn record_forbidden_change(
    state: &AppState,
    who: &Principal,
    route: &routes::Route,
    path: &str,
    message: &str,
) {
    let object_id = format!("{} {}", route.method, route.path);
    let change = crate::app::audit::Change {
        action: "request.forbidden",
        object_type: "route",
        object_id: &object_id,
    };
    let refused: Result<(), String> = Err(format!("{message}: {} {path}", route.method));
    let _ = crate::app::audit::record_result(
        &state.pool,
        Utc::now(),
        &who.org,
        &who.actor,
        change,
        serde_json::Value::Null,
        refused,
    )
    .await;
}

/// The token of `Authorization: Bearer <token>`, or 401.
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthenticated("missing Authorization: Bearer <token>"))?;
    value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthenticated("expected Authorization: Bearer <token>"))
}

/// The principal of an API token or a session token, at the current time; 401 when
/// neither authenticates.
async fn authenticate(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let now = Utc::now();
    let found = if token.starts_with("brs_") {
        match token_sessions::find(&state.pool, token, now).await {
            Ok(Some(principal)) => Ok(principal),
            Ok(None) => users::session(&state.pool, token, now).await,
            Err(e) => Err(e),
        }
    } else {
        tokens::authenticate(&state.pool, token, now).await
    };
    found.map_err(|e| match e {
        IdentityError::Unauthenticated(m) => ApiError::unauthenticated(m),
        other => ApiError::from(other),
    })
}

/// `POST /authenticate`: an email and a password (and the organisation, when the
/// address is a user of several).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Credentials {
    /// The user's email address.
    pub email: String,
    /// The user's password.
    pub password: String,
    /// The organisation's id, when the address is a user of several.
    #[serde(default)]
    pub org_id: Option<String>,
}

/// Togai's `TokenResponse`: a bearer token.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// A session token (`brs_...`), valid for `[http] session_hours`.
    pub token: String,
}

/// Opens a session: the token to send as `Authorization: Bearer`, valid for `[http]
/// session_hours`. With a body, a user's email and password. Without one, as Togai's
/// client calls it (`AuthenticationApi.authenticate()`), the bearer credential: an API
/// token gets a session acting as that token ([`token_sessions`]); a session token is
/// answered back unchanged (Togai: "for JWT bearer auth, returns the same JWT token").
#[utoipa::path(post, path = "/authenticate", tag = "authentication",
    request_body(content = Option<Credentials>, description = "a user's email and password; none: the bearer credential"),
    responses(
        (status = 200, description = "a session token", body = TokenResponse),
        (status = 401, description = "wrong email or password, or no valid bearer credential", body = ErrorBody),
    ))]
pub async fn authenticate_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<TokenResponse>, ApiError> {
    let valid_for = chrono::Duration::hours(i64::from(state.config.http.session_hours));
    if body.iter().all(u8::is_ascii_whitespace) {
        let token = bearer(&headers)?;
        let principal = authenticate(&state, token).await?;
        if token.starts_with("brs_") {
            return Ok(Json(TokenResponse {
                token: token.to_string(),
            }));
        }
        let session = token_sessions::open(&state.pool, &principal, valid_for, Utc::now()).await?;
        return Ok(Json(TokenResponse {
            token: session.token,
        }));
    }
    let creds: Credentials = serde_json::from_slice(&body).map_err(|e| {
        ApiError::invalid(format!(
            "the body: expected {{\"email\", \"password\"[, \"orgId\"]}} or none: {e}"
        ))
    })?;
    let org = creds.org_id.map(OrgId::from);
    let session = users::authenticate(
        &state.pool,
        &creds.email,
        &creds.password,
        org.as_ref(),
        valid_for,
        Utc::now(),
    )
    .await
    .map_err(|e| match e {
        IdentityError::Unauthenticated(m) => ApiError::unauthenticated(m),
        other => ApiError::from(other),
    })?;
    Ok(Json(TokenResponse {
        token: session.token,
    }))
}
