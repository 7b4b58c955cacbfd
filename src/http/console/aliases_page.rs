//! The console's "Aliases" page (Togai's Admin Center: "You can remove aliases from
//! one account and assign them to a new account",
//! <https://docs.togai.com/docs/admin-center>), over [`crate::catalog::aliases`] as
//! `/aliases` and `/accounts/{account_id}/add_aliases`.
//!
//! - `GET /console/aliases`: every alias the organisation routed, with the account it
//!   routes to now (none when its ranges have ended) and since when; for the roles
//!   that may change accounts, a form to move it.
//! - `GET /console/aliases/{alias}/move?account=...`: asks first, saying what a move
//!   does; `POST` moves it ([`aliases::change_all`] with one range from now on: the
//!   range on the old account is closed now, so usage timestamped before the move
//!   stays with the old account and usage from the move on goes to the new one,
//!   whenever it is ingested). Audited `account.add_aliases` on the new account, as
//!   the API's move, with `{"alias", "from"}`.
//!
//! An alias the organisation never routed, or an account not of the organisation,
//! answers a 404 page.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::forms::{failed, ConsoleForm};
use super::{can_write, page, ConsoleSession};
use crate::catalog::aliases::{self, NewRange};
use crate::catalog::{accounts, CatalogError};
use crate::http::{audited, AppState, Change};
use crate::identity::Resource;

/// An alias as the page shows it.
#[derive(Debug, Serialize)]
struct Row {
    alias: String,
    /// The alias, percent-encoded for a path.
    path: String,
    account: Option<String>,
    since: String,
}

/// Where `alias` routes at `now` (its range covering it) and since when.
fn current(
    ranges: &[aliases::AliasRecord],
    alias: &str,
    now: DateTime<Utc>,
) -> Option<(String, DateTime<Utc>)> {
    ranges
        .iter()
        .filter(|r| r.range.alias == alias && r.range.covers(now))
        .map(|r| (r.range.account_id.clone(), r.range.effective_from))
        .next()
}

/// `?done=`.
#[derive(Debug, Deserialize)]
pub struct AliasesQuery {
    /// A notice's code.
    pub done: Option<String>,
}

/// `GET /console/aliases`.
#[utoipa::path(get, path = "/console/aliases", tag = "console",
    responses((status = 200, description = "the aliases page", content_type = "text/html", body = String)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    Query(q): Query<AliasesQuery>,
) -> Response {
    list_page(&state, &session, None, q.done.as_deref()).await
}

/// The aliases page: every alias, or only `only` (the move's form of one alias).
async fn list_page(
    state: &AppState,
    session: &ConsoleSession,
    only: Option<&str>,
    done: Option<&str>,
) -> Response {
    let (state, session) = (state.clone(), session.clone());
    let org = &session.principal.org;
    let records = match aliases::records_for_org(&state.pool, org).await {
        Ok(r) => r,
        Err(e) => return super::error_page(&session, e),
    };
    let accounts = match accounts::list(&state.pool, org, None).await {
        Ok(a) => a,
        Err(e) => return super::error_page(&session, e),
    };
    let now = Utc::now();
    let mut names: Vec<&str> = records.iter().map(|r| r.range.alias.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names.retain(|n| only.is_none_or(|o| o == *n));
    let rows: Vec<Row> = names
        .into_iter()
        .map(|alias| {
            let cur = current(&records, alias, now);
            Row {
                alias: alias.to_string(),
                path: url::form_urlencoded::byte_serialize(alias.as_bytes()).collect(),
                since: cur
                    .as_ref()
                    .map(|(_, f)| f.format("%Y-%m-%d %H:%M UTC").to_string())
                    .unwrap_or_default(),
                account: cur.map(|(a, _)| a),
            }
        })
        .collect();
    let ids: Vec<&str> = accounts.iter().map(|a| a.id.as_str()).collect();
    let mut ctx = tera::Context::new();
    ctx.insert("aliases", &rows);
    ctx.insert("accounts", &ids);
    ctx.insert("can_write", &can_write(&session, Resource::Accounts));
    if done == Some("moved") {
        ctx.insert(
            "notice",
            "The alias was moved: usage from now on goes to its new account.",
        );
    }
    page(StatusCode::OK, "aliases.html", Some(&session), ctx)
}

/// `?account=`: where to move the alias.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct MoveForm {
    /// The account's id.
    #[serde(default)]
    pub account: String,
}

/// The alias's current account, or the 404 page when the organisation never routed
/// it.
async fn routed(
    state: &AppState,
    session: &ConsoleSession,
    alias: &str,
) -> Result<Option<String>, Response> {
    let org = &session.principal.org;
    let records = aliases::records_for_alias(&state.pool, org, alias)
        .await
        .map_err(|e| super::error_page(session, e))?;
    if records.is_empty() {
        return Err(super::error_page(
            session,
            CatalogError::NotFound {
                what: "alias",
                org: org.to_string(),
                id: alias.to_string(),
            },
        ));
    }
    Ok(current(&records, alias, Utc::now()).map(|(a, _)| a))
}

/// `GET /console/aliases/{alias}/move?account=`: asks first.
#[utoipa::path(get, path = "/console/aliases/{alias}/move", tag = "console",
    params(("alias" = String, Path, description = "the alias")),
    responses((status = 200, description = "the confirmation page; a 404 or 422 page", content_type = "text/html", body = String)))]
pub async fn confirm_move(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    Path(alias): Path<String>,
    Query(q): Query<MoveForm>,
) -> Response {
    let from = match routed(&state, &session, &alias).await {
        Ok(f) => f,
        Err(page) => return page,
    };
    let to = q.account.trim();
    if to.is_empty() {
        // No account chosen yet: the alias's row with its form.
        return list_page(&state, &session, Some(&alias), None).await;
    }
    if let Err(e) = accounts::get(&state.pool, &session.principal.org, to).await {
        return super::error_page(&session, e);
    }
    if from.as_deref() == Some(to) {
        return super::forms::invalid(
            &session,
            "account",
            &format!("the alias {alias} routes to {to} already: choose another account"),
        );
    }
    let mut ctx = tera::Context::new();
    ctx.insert("title", "Move an alias");
    ctx.insert(
        "question",
        &format!(
            "Move the alias {alias} from {} to the account {to}? Usage timestamped from now \
             on goes to {to}; usage timestamped before stays with {}.",
            from.as_deref()
                .map(|a| format!("the account {a}"))
                .unwrap_or_else(|| "no account".into()),
            from.as_deref().unwrap_or("the accounts it routed to"),
        ),
    );
    let path: String = url::form_urlencoded::byte_serialize(alias.as_bytes()).collect();
    ctx.insert("action", &format!("/console/aliases/{path}/move"));
    ctx.insert("button", "Move the alias");
    ctx.insert("cancel", "/console/aliases");
    ctx.insert("hidden_name", "account");
    ctx.insert("hidden_value", to);
    page(StatusCode::OK, "confirm.html", Some(&session), ctx)
}

/// `POST /console/aliases/{alias}/move`: moves it now.
#[utoipa::path(post, path = "/console/aliases/{alias}/move", tag = "console",
    params(("alias" = String, Path, description = "the alias")),
    responses((status = 200, description = "a redirect to the list; a 404, 409 or 422 page", content_type = "text/html", body = String)))]
pub async fn move_alias(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    Path(alias): Path<String>,
    ConsoleForm(form): ConsoleForm<MoveForm>,
) -> Response {
    let from = match routed(&state, &session, &alias).await {
        Ok(f) => f,
        Err(page) => return page,
    };
    let to = form.account.trim().to_string();
    if to.is_empty() {
        return super::forms::invalid(
            &session,
            "account",
            "required: the account to move the alias to",
        );
    }
    let who = &session.principal;
    let range = NewRange {
        alias: alias.clone(),
        from: Utc::now(),
        until: None,
    };
    let done = aliases::change_all(&state.pool, &who.org, &to, &[range], &[]).await;
    let change = Change {
        action: "account.add_aliases",
        object_type: "account",
        object_id: &to,
    };
    let details = serde_json::json!({ "alias": alias, "from": from });
    match audited(&state, who, change, details, done).await {
        Ok(_) => Redirect::to("/console/aliases?done=moved").into_response(),
        Err(e) => failed(&session, e),
    }
}
