//! The console's "API tokens" page (Togai's Admin Center "API Tokens" tab: generate a
//! token, its secret shown once, list the older ones, deactivate and delete them,
//! <https://docs.togai.com/docs/admin-center>), over [`crate::identity::tokens`] as
//! `/billrun/api_tokens` (each change writes its audit row there: `token.create`,
//! `token.deactivate`, `token.activate`, `token.delete`).
//!
//! The secret of a new token is in the answer of the `POST` only (a page, not a
//! redirect, so that it is in no URL or history entry, and `Cache-Control:
//! no-store`). Deleting asks first (`GET .../delete`, then `POST`). Another
//! organisation's token id answers a 404 page. Roles that may only read see the list
//! without forms or buttons.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::login::DoneQuery;
use super::{can_write, page, ConsoleSession};
use crate::http::AppState;
use crate::identity::tokens::{self, TokenView};
use crate::identity::{Resource, Role};

/// A token as the page shows it.
#[derive(Debug, Serialize)]
struct Row {
    id: String,
    name: String,
    role: &'static str,
    prefix: String,
    status: &'static str,
    active: bool,
    created: String,
    last_used: String,
}

impl From<TokenView> for Row {
    fn from(t: TokenView) -> Self {
        let status = t.status.as_str();
        Row {
            id: t.id,
            name: t.name,
            role: t.role.title(),
            prefix: t.prefix,
            status,
            active: status == "ACTIVE",
            created: t.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            last_used: t
                .last_used_at
                .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_else(|| "never".into()),
        }
    }
}

/// A role as a choice of a form.
#[derive(Debug, Serialize)]
pub(super) struct RoleChoice {
    value: &'static str,
    title: &'static str,
}

/// The four roles, for a form's select.
pub(super) fn role_choices() -> Vec<RoleChoice> {
    Role::ALL
        .into_iter()
        .map(|r| RoleChoice {
            value: r.as_str(),
            title: r.title(),
        })
        .collect()
}

/// The notice of `?done=`.
fn notice(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "deactivated" => Some("The token was deactivated: it authenticates no more."),
        "activated" => Some("The token was activated."),
        "deleted" => Some("The token was deleted."),
        _ => None,
    }
}

/// `GET /console/api_tokens`: the list, and (for a role that may) the forms.
#[utoipa::path(get, path = "/console/api_tokens", tag = "console",
    responses((status = 200, description = "the tokens page", content_type = "text/html", body = String)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    Query(q): Query<DoneQuery>,
) -> Response {
    let rows = match tokens::list(&state.pool, &session.principal.org).await {
        Ok(r) => r,
        Err(e) => return super::error_page(&session, e),
    };
    let rows: Vec<Row> = rows.into_iter().map(Row::from).collect();
    let mut ctx = tera::Context::new();
    ctx.insert("tokens", &rows);
    ctx.insert("can_write", &can_write(&session, Resource::ApiTokens));
    ctx.insert("roles", &role_choices());
    if let Some(n) = notice(q.done.as_deref()) {
        ctx.insert("notice", n);
    }
    page(StatusCode::OK, "tokens.html", Some(&session), ctx)
}

/// The create form's fields.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateForm {
    /// 1 to 100 characters, unique in the organisation.
    pub name: String,
    /// `ADMINISTRATOR`, `ANALYST`, `DEVELOPER` or `PRODUCT_MANAGER`.
    pub role: String,
}

/// `POST /console/api_tokens`: creates the token and shows its secret, this once.
#[utoipa::path(post, path = "/console/api_tokens", tag = "console",
    responses((status = 200, description = "201: the new token, its secret shown once", content_type = "text/html", body = String)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    Form(form): Form<CreateForm>,
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
    let created = tokens::create(
        &state.pool,
        &who.org,
        form.name.trim(),
        role,
        &who.actor,
        Utc::now(),
    )
    .await;
    match created {
        Ok(new) => {
            let mut ctx = tera::Context::new();
            ctx.insert("token", &Row::from(new.view));
            ctx.insert("secret", &new.token);
            page(
                StatusCode::CREATED,
                "token_created.html",
                Some(&session),
                ctx,
            )
        }
        Err(e) => super::error_page(&session, e),
    }
}

/// `POST /console/api_tokens/{token_id}/deactivate`.
#[utoipa::path(post, path = "/console/api_tokens/{token_id}/deactivate", tag = "console",
    params(("token_id" = String, Path, description = "the token's id (`tok_...`)")),
    responses((status = 200, description = "a redirect to the list; a 404 or 409 page", content_type = "text/html", body = String)))]
pub async fn deactivate(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    Path(id): Path<String>,
) -> Response {
    let who = &session.principal;
    match tokens::deactivate(&state.pool, &who.org, &id, &who.actor, Utc::now()).await {
        Ok(_) => Redirect::to("/console/api_tokens?done=deactivated").into_response(),
        Err(e) => super::error_page(&session, e),
    }
}

/// `POST /console/api_tokens/{token_id}/activate`.
#[utoipa::path(post, path = "/console/api_tokens/{token_id}/activate", tag = "console",
    params(("token_id" = String, Path, description = "the token's id (`tok_...`)")),
    responses((status = 200, description = "a redirect to the list; a 404 or 409 page", content_type = "text/html", body = String)))]
pub async fn activate(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    Path(id): Path<String>,
) -> Response {
    let who = &session.principal;
    match tokens::activate(&state.pool, &who.org, &id, &who.actor, Utc::now()).await {
        Ok(_) => Redirect::to("/console/api_tokens?done=activated").into_response(),
        Err(e) => super::error_page(&session, e),
    }
}

/// `GET /console/api_tokens/{token_id}/delete`: asks before deleting.
#[utoipa::path(get, path = "/console/api_tokens/{token_id}/delete", tag = "console",
    params(("token_id" = String, Path, description = "the token's id (`tok_...`)")),
    responses((status = 200, description = "the confirmation page; a 404 page", content_type = "text/html", body = String)))]
pub async fn confirm_delete(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    Path(id): Path<String>,
) -> Response {
    let t = match tokens::show(&state.pool, &session.principal.org, &id).await {
        Ok(t) => t,
        Err(e) => return super::error_page(&session, e),
    };
    let mut ctx = tera::Context::new();
    ctx.insert("title", "Delete an API token");
    ctx.insert(
        "question",
        &format!(
            "Delete the token {} (brt_{}…, {})? Programs using it stop authenticating at \
             once; this cannot be undone.",
            t.name,
            t.prefix,
            t.role.title()
        ),
    );
    ctx.insert("action", &format!("/console/api_tokens/{}/delete", t.id));
    ctx.insert("button", "Delete the token");
    ctx.insert("cancel", "/console/api_tokens");
    page(StatusCode::OK, "confirm.html", Some(&session), ctx)
}

/// `POST /console/api_tokens/{token_id}/delete`: deletes it for good.
#[utoipa::path(post, path = "/console/api_tokens/{token_id}/delete", tag = "console",
    params(("token_id" = String, Path, description = "the token's id (`tok_...`)")),
    responses((status = 200, description = "a redirect to the list; a 404 or 409 page", content_type = "text/html", body = String)))]
pub async fn delete(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    Path(id): Path<String>,
) -> Response {
    let who = &session.principal;
    match tokens::delete(&state.pool, &who.org, &id, &who.actor, Utc::now()).await {
        Ok(_) => Redirect::to("/console/api_tokens?done=deleted").into_response(),
        Err(e) => super::error_page(&session, e),
    }
}
