//! The console's "Users" page (Togai's Admin Center "Users" tab: active users, users
//! invited who have not accepted yet, and "Invite New User",
//! <https://docs.togai.com/docs/admin-center>), over [`crate::identity::users::list`]
//! and [`crate::app::users::invite`] as `/billrun/users` (the invitation is emailed
//! through the configured mailer before anything is stored; audit row
//! `user.invite`).
//!
//! The emailed link opens the console's own accept page
//! (`<public_url>/console/invites/accept?token=...`, [`accept_url`]), which sets the
//! password and signs the user in.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::login::DoneQuery;
use super::tokens::role_choices;
use super::{can_write, page, ConsoleSession};
use crate::app::users::{self as app_users, InviteRequest};
use crate::config::HttpConfig;
use crate::http::AppState;
use crate::identity::{users, Resource, Role};

/// A user as the page shows it.
#[derive(Debug, Serialize)]
struct Row {
    email: String,
    role: &'static str,
    since: String,
}

/// The console's invitation page: `<public_url>/console/invites/accept`, else
/// `http://<listen>/console/invites/accept`.
pub fn accept_url(http: &HttpConfig) -> String {
    let base = match &http.public_url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => format!("http://{}", http.listen),
    };
    format!("{base}/console/invites/accept")
}

/// `GET /console/users`: the active users, the invited ones, and (for a role that
/// may) the invitation form.
#[utoipa::path(get, path = "/console/users", tag = "console",
    responses((status = 200, description = "the users page", content_type = "text/html", body = String)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    Query(q): Query<DoneQuery>,
) -> Response {
    let all = match users::list(&state.pool, &session.principal.org).await {
        Ok(r) => r,
        Err(e) => return super::error_page(&session, e),
    };
    let (mut active, mut invited) = (Vec::new(), Vec::new());
    for u in all {
        let row = Row {
            email: u.email,
            role: u.role.title(),
            since: u.created_at.format("%Y-%m-%d").to_string(),
        };
        if u.status == "ACTIVE" {
            active.push(row);
        } else {
            invited.push(row);
        }
    }
    let mut ctx = tera::Context::new();
    ctx.insert("active", &active);
    ctx.insert("invited", &invited);
    ctx.insert("can_write", &can_write(&session, Resource::Users));
    ctx.insert("roles", &role_choices());
    if q.done.as_deref() == Some("invited") {
        ctx.insert(
            "notice",
            "The invitation was emailed; the user is listed as invited until they accept.",
        );
    }
    page(StatusCode::OK, "users.html", Some(&session), ctx)
}

/// The invitation form's fields.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct InviteForm {
    /// The address to invite.
    pub email: String,
    /// `ADMINISTRATOR`, `ANALYST`, `DEVELOPER` or `PRODUCT_MANAGER`.
    pub role: String,
}

/// `POST /console/users/invite`: emails the invitation, then the list again.
#[utoipa::path(post, path = "/console/users/invite", tag = "console",
    responses((status = 200, description = "a redirect to the list once emailed; a 400, 409 or 503 page", content_type = "text/html", body = String)))]
pub async fn invite(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    Form(form): Form<InviteForm>,
) -> Response {
    let Some(role) = Role::ALL.into_iter().find(|r| r.as_str() == form.role) else {
        return super::message(
            StatusCode::BAD_REQUEST,
            Some(&session),
            "Please check the form",
            &format!(
                "role {:?}: expected ADMINISTRATOR, ANALYST, DEVELOPER or PRODUCT_MANAGER",
                form.role
            ),
        );
    };
    let who = &session.principal;
    let request = InviteRequest {
        email: form.email,
        role,
        accept_url: Some(accept_url(&state.config.http)),
        valid_hours: None,
    };
    match app_users::invite(
        &state.pool,
        &state.config,
        &who.org,
        request,
        &who.actor,
        Utc::now(),
    )
    .await
    {
        Ok(_) => Redirect::to("/console/users?done=invited").into_response(),
        Err(e) => super::error_page(&session, e),
    }
}
