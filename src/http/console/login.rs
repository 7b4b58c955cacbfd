//! Signing in and out, accepting an invitation, the home page and the Profile page
//! of the console (README "Console"; Togai's Admin Center "Profile",
//! <https://docs.togai.com/docs/admin-center>).
//!
//! - `GET /console/login`: the form (email, password, organisation for an address
//!   that is a user of several); `POST` checks them with
//!   [`identity::users::authenticate`] and sets the session cookie, valid
//!   `[http] session_hours` as the API's sessions; a wrong email or password shows
//!   the form again, 401, with one message for both.
//! - `POST /console/logout`: ends the session (it authenticates nowhere after) and
//!   removes the cookie; audited as `session.end`.
//! - `GET/POST /console/invites/accept?token=bri_...`: the emailed link's page: a
//!   new password, then the user is ACTIVE ([`identity::users::accept`]) and signed
//!   in.
//! - `GET /console/profile`, `POST /console/profile/password`: the current password,
//!   then a new one twice ([`identity::sessions::change_password`], audited
//!   `user.password`).

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use chrono::Utc;
use serde::Deserialize;

use super::{
    cookie, form_token, message, page, safe_next, set_cookie, ConsoleSession, FORM_COOKIE,
    SESSION_COOKIE,
};
use crate::http::{audited, AppState, Change};
use crate::identity::{self, throttle, users, IdentityError, OrgId, Resource};

/// `?next=`: the console page to open after signing in.
#[derive(Debug, Deserialize)]
pub struct NextQuery {
    /// A console path (anything else opens the home page).
    pub next: Option<String>,
}

/// The sign-in form's fields.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoginForm {
    /// The user's email address.
    pub email: String,
    /// The user's password.
    pub password: String,
    /// The organisation's id: needed only when the address is a user of several.
    #[serde(default)]
    pub organisation: String,
    /// Where to go after (a console path).
    #[serde(default)]
    pub next: String,
}

/// The sign-in page with `ctx`'s values, setting the form cookie when new.
fn login_page(headers: &HeaderMap, status: StatusCode, mut ctx: tera::Context) -> Response {
    let (token, new) = form_token(headers);
    ctx.insert("form_token", &token);
    let mut res = page(status, "login.html", None, ctx);
    if let Some(t) = new {
        // No AppState here: the cookie's Secure flag is added by the caller's
        // `with_form_cookie`.
        res.extensions_mut().insert(NewFormCookie(t));
    }
    res
}

/// A form cookie to set on the answer.
#[derive(Debug, Clone)]
struct NewFormCookie(String);

fn with_form_cookie(state: &AppState, mut res: Response) -> Response {
    if let Some(NewFormCookie(t)) = res.extensions_mut().remove::<NewFormCookie>() {
        let c = set_cookie(state, FORM_COOKIE, &t, None);
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

/// `GET /console/login`: the form (signed in already: the home page).
#[utoipa::path(get, path = "/console/login", tag = "console",
    responses((status = 200, description = "the sign-in form (signed in: a redirect to `next`)", content_type = "text/html", body = String)))]
pub async fn show(
    State(state): State<AppState>,
    session: Option<Extension<ConsoleSession>>,
    Query(q): Query<NextQuery>,
    headers: HeaderMap,
) -> Response {
    let next = safe_next(q.next.as_deref());
    if session.is_some() {
        return Redirect::to(&next).into_response();
    }
    let mut ctx = tera::Context::new();
    ctx.insert("next", &next);
    ctx.insert("email", "");
    with_form_cookie(&state, login_page(&headers, StatusCode::OK, ctx))
}

/// The answer of a new session: the cookie, and a redirect to `next`.
fn signed_in(state: &AppState, token: &str, next: &str) -> Response {
    let age = i64::from(state.config.http.session_hours) * 3600;
    let mut res = Redirect::to(next).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, SESSION_COOKIE, token, Some(age)),
    );
    res
}

/// `POST /console/login`: checks the email and password, sets the session cookie
/// and opens `next`; else the form again with why (401 or 400).
#[utoipa::path(post, path = "/console/login", tag = "console",
    responses((status = 200, description = "a redirect with the session cookie; the form again, 401 or 400", content_type = "text/html", body = String)))]
pub async fn login(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(Some(&form.next));
    let org = Some(form.organisation.trim())
        .filter(|o| !o.is_empty())
        .map(OrgId::from);
    let now = Utc::now();
    // The client's IP as the connection shows it (behind a proxy: the proxy's;
    // X-Forwarded-For is not trusted).
    let ip = peer
        .map(|Extension(ConnectInfo(a))| a.ip().to_string())
        .unwrap_or_else(|| "-".into());
    match throttle::check(&state.pool, &form.email, &ip, now).await {
        Ok(Some(t)) => return throttled(&state, &headers, &form, &next, &ip, t).await,
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "could not read the sign-in failures"),
    }
    let valid_for = chrono::Duration::hours(i64::from(state.config.http.session_hours));
    let opened = users::authenticate(
        &state.pool,
        &form.email,
        &form.password,
        org.as_ref(),
        valid_for,
        now,
    )
    .await;
    match opened {
        Ok(session) => {
            if let Err(e) = throttle::clear(&state.pool, &form.email).await {
                tracing::warn!(error = %e, "could not clear the sign-in failures");
            }
            signed_in(&state, &session.token, &next)
        }
        Err(e) => {
            let status = match &e {
                IdentityError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
                IdentityError::Invalid(_) => StatusCode::BAD_REQUEST,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            if status == StatusCode::UNAUTHORIZED {
                if let Err(e) = throttle::record_failure(&state.pool, &form.email, &ip, now).await {
                    tracing::warn!(error = %e, "could not record a failed sign-in");
                }
            }
            let mut ctx = tera::Context::new();
            ctx.insert("next", &next);
            ctx.insert("email", form.email.trim());
            ctx.insert("organisation", form.organisation.trim());
            ctx.insert("error", &e.to_string());
            with_form_cookie(&state, login_page(&headers, status, ctx))
        }
    }
}

/// The 429 page of a throttled sign-in (README "Security"), saying until when; the
/// refusal is audited as `session.throttled` (FAILURE) in each organisation where the
/// address is a user.
async fn throttled(
    state: &AppState,
    headers: &HeaderMap,
    form: &LoginForm,
    next: &str,
    ip: &str,
    t: throttle::Throttled,
) -> Response {
    let email = form.email.trim().to_lowercase();
    let why = format!(
        "too many failed sign-ins ({} in {} minutes for this {}): try again after {} UTC",
        t.failures,
        throttle::WINDOW_MINUTES,
        if t.by == "email" {
            "address"
        } else {
            "network address"
        },
        t.until.format("%H:%M"),
    );
    for org in throttle::orgs_of(&state.pool, &email)
        .await
        .unwrap_or_default()
    {
        let who = identity::Principal {
            org,
            role: identity::Role::Analyst,
            actor: identity::Actor {
                kind: identity::ActorKind::User,
                id: email.clone(),
            },
        };
        let change = Change {
            action: "session.throttled",
            object_type: "user",
            object_id: &email,
        };
        let refused: Result<(), String> = Err(why.clone());
        let details = serde_json::json!({ "ip": ip, "by": t.by });
        let _ = audited(state, &who, change, details, refused).await;
    }
    let mut ctx = tera::Context::new();
    ctx.insert("next", next);
    ctx.insert("email", form.email.trim());
    ctx.insert("organisation", form.organisation.trim());
    ctx.insert("error", &why);
    let mut res = with_form_cookie(
        state,
        login_page(headers, StatusCode::TOO_MANY_REQUESTS, ctx),
    );
    let wait = (t.until - Utc::now()).num_seconds().max(1);
    res.headers_mut().insert(
        header::RETRY_AFTER,
        header::HeaderValue::from_str(&wait.to_string()).expect("digits"),
    );
    res
}

/// `POST /console/logout`: ends the session, removes the cookie, opens the sign-in
/// page.
#[utoipa::path(post, path = "/console/logout", tag = "console",
    responses((status = 200, description = "a redirect to the sign-in page, the cookie removed", content_type = "text/html", body = String)))]
pub async fn logout(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    headers: HeaderMap,
) -> Response {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        let who = &session.principal;
        let change = Change {
            action: "session.end",
            object_type: "user",
            object_id: &who.actor.id,
        };
        let ended = identity::sessions::end(&state.pool, &token).await;
        if let Err(e) = audited(&state, who, change, serde_json::json!({}), ended).await {
            return super::error_page(&session, e);
        }
    }
    let mut res = Redirect::to("/console/login").into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, SESSION_COOKIE, "", Some(0)),
    );
    res
}

/// A card of the home page.
#[derive(Debug, serde::Serialize)]
struct Card {
    title: &'static str,
    href: &'static str,
    text: &'static str,
}

/// `GET /console`: what the role may open, and the dashboard's counts: invoices DUE
/// and overdue, failed deliveries (roles that read invoices), dead jobs (roles that
/// read jobs).
#[utoipa::path(get, path = "/console", tag = "console",
    responses((status = 200, description = "the home page", content_type = "text/html", body = String)))]
pub async fn home(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
) -> Response {
    use crate::identity::roles::{allows, Access};
    let role = session.principal.role;
    let mut cards = Vec::new();
    if allows(role, Resource::Invoices, Access::Read) {
        cards.push(Card {
            title: "Invoices",
            href: "/console/invoices",
            text: "Find invoices by status, account or number; their lines and PDF.",
        });
    }
    if allows(role, Resource::ApiTokens, Access::Read) {
        cards.push(Card {
            title: "API tokens",
            href: "/console/api_tokens",
            text: "Tokens for programs calling the API: create, deactivate, delete.",
        });
    }
    if allows(role, Resource::Users, Access::Read) {
        cards.push(Card {
            title: "Users",
            href: "/console/users",
            text: "People of the organisation, active and invited; invite someone.",
        });
    }
    cards.push(Card {
        title: "Profile",
        href: "/console/profile",
        text: "Your address, organisation and role; change your password.",
    });
    let mut ctx = tera::Context::new();
    let org = &session.principal.org;
    // The dashboard's counts, for the roles that may read them.
    if allows(role, Resource::Invoices, Access::Read) {
        let today = Utc::now().date_naive();
        let counts = crate::bill_run::overview::due_counts(&state.pool, org, today).await;
        let failed = crate::bill_run::deliver::list(
            &state.pool,
            org,
            Some(crate::store::status::DeliveryStatus::Failed),
            1,
            None,
        )
        .await;
        match (counts, failed) {
            (Ok((due, overdue)), Ok(failed)) => {
                ctx.insert("due", &due);
                ctx.insert("overdue", &overdue);
                ctx.insert("failed_deliveries", &failed.total);
            }
            (Err(e), _) => return super::error_page(&session, e),
            (_, Err(e)) => return super::error_page(&session, e),
        }
        // The chart: the last 12 months billed, in the base currency.
        let base = match crate::catalog::orgs::get(&state.pool, org).await {
            Ok(o) => o.base_currency.code().to_string(),
            Err(e) => return super::error_page(&session, e),
        };
        match crate::app::dashboard::billed_by_month(&state.pool, org, &base, today, 12).await {
            Ok((months, others)) => {
                ctx.insert("bars", &super::dashboard::bars(&months, &base));
                ctx.insert("chart_width", &super::dashboard::WIDTH);
                ctx.insert("base_currency", &base);
                ctx.insert("other_currency_invoices", &others);
            }
            Err(e) => return super::error_page(&session, e),
        }
    }
    if allows(role, Resource::Jobs, Access::Read) {
        let filter = crate::queue::admin::ListFilter {
            kind: None,
            state: Some(crate::queue::admin::JobState::Dead),
            organisation: Some(org.to_string()),
            limit: 1,
            after: None,
        };
        match crate::queue::admin::list(&state.pool, &filter).await {
            Ok(page) => ctx.insert("dead_jobs", &page.total),
            Err(e) => return super::error_page(&session, e),
        }
    }
    ctx.insert("cards", &cards);
    page(StatusCode::OK, "home.html", Some(&session), ctx)
}

/// `?done=`: what the previous form did (a fixed notice; nothing is echoed).
#[derive(Debug, Deserialize)]
pub struct DoneQuery {
    /// A notice's code.
    pub done: Option<String>,
}

/// `GET /console/profile`: the user, and the password form.
#[utoipa::path(get, path = "/console/profile", tag = "console",
    responses((status = 200, description = "the profile page", content_type = "text/html", body = String)))]
pub async fn profile(
    Extension(session): Extension<ConsoleSession>,
    Query(q): Query<DoneQuery>,
) -> Response {
    let mut ctx = tera::Context::new();
    if q.done.as_deref() == Some("password") {
        ctx.insert("notice", "Your password was changed.");
    }
    ctx.insert("min_chars", &users::MIN_PASSWORD_CHARS);
    page(StatusCode::OK, "profile.html", Some(&session), ctx)
}

/// The password form's fields.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PasswordForm {
    /// The password now.
    pub current: String,
    /// The new password.
    pub new: String,
    /// The new password again.
    pub confirm: String,
}

/// `POST /console/profile/password`: changes the password; the profile again.
#[utoipa::path(post, path = "/console/profile/password", tag = "console",
    responses((status = 200, description = "a redirect to the profile; a 400 page for a wrong current password", content_type = "text/html", body = String)))]
pub async fn change_password(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    Form(form): Form<PasswordForm>,
) -> Response {
    if form.new != form.confirm {
        return message(
            StatusCode::BAD_REQUEST,
            Some(&session),
            "Please check the form",
            "new password and confirmation: they differ; type the same password twice",
        );
    }
    let who = &session.principal;
    match identity::sessions::change_password(
        &state.pool,
        &who.org,
        &who.actor.id,
        &form.current,
        &form.new,
        Utc::now(),
    )
    .await
    {
        Ok(()) => Redirect::to("/console/profile?done=password").into_response(),
        Err(e) => super::error_page(&session, e),
    }
}

/// `?token=bri_...`.
#[derive(Debug, Deserialize)]
pub struct InviteQuery {
    /// The invitation's secret.
    pub token: String,
}

/// `GET /console/invites/accept`: the invitation and the password form; an unusable
/// invitation answers 401 saying why.
#[utoipa::path(get, path = "/console/invites/accept", tag = "console",
    responses((status = 200, description = "the password form; a 401 page for an unusable invitation", content_type = "text/html", body = String)))]
pub async fn show_invite(
    State(state): State<AppState>,
    Query(q): Query<InviteQuery>,
    headers: HeaderMap,
) -> Response {
    let invite = match users::pending(&state.pool, &q.token, Utc::now()).await {
        Ok(i) => i,
        Err(e) => {
            return message(
                StatusCode::UNAUTHORIZED,
                None,
                "This invitation cannot be used",
                &e.to_string(),
            )
        }
    };
    let (token, new) = form_token(&headers);
    let mut ctx = tera::Context::new();
    ctx.insert("form_token", &token);
    ctx.insert("invite_token", &q.token);
    ctx.insert("email", &invite.email);
    ctx.insert("invite_org", invite.org_id.as_ref());
    ctx.insert("role", invite.role.title());
    ctx.insert(
        "expires",
        &invite.expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
    );
    ctx.insert("min_chars", &users::MIN_PASSWORD_CHARS);
    let mut res = page(StatusCode::OK, "accept.html", None, ctx);
    if let Some(t) = new {
        let c = set_cookie(&state, FORM_COOKIE, &t, None);
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

/// The invitation form's fields.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AcceptForm {
    /// The invitation's secret.
    pub token: String,
    /// The new password.
    pub password: String,
    /// The new password again.
    pub confirm: String,
}

/// `POST /console/invites/accept`: sets the password, signs the user in and opens
/// the home page.
#[utoipa::path(post, path = "/console/invites/accept", tag = "console",
    responses((status = 200, description = "signed in: a redirect to the console; a 400 or 401 page", content_type = "text/html", body = String)))]
pub async fn accept_invite(
    State(state): State<AppState>,
    Form(form): Form<AcceptForm>,
) -> Response {
    if form.password != form.confirm {
        return message(
            StatusCode::BAD_REQUEST,
            None,
            "Please check the form",
            "password and confirmation: they differ; go back and type the same password twice",
        );
    }
    let now = Utc::now();
    let refused = |e: IdentityError| {
        let status = match e {
            IdentityError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            IdentityError::Invalid(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        message(
            status,
            None,
            "The invitation was not accepted",
            &e.to_string(),
        )
    };
    // The invitation's organisation: the session opened after is in that one.
    let org = match users::pending(&state.pool, &form.token, now).await {
        Ok(invite) => invite.org_id,
        Err(e) => return refused(e),
    };
    let user = match users::accept(&state.pool, &form.token, &form.password, now).await {
        Ok(u) => u,
        Err(e) => return refused(e),
    };
    let valid_for = chrono::Duration::hours(i64::from(state.config.http.session_hours));
    match users::authenticate(
        &state.pool,
        &user.email,
        &form.password,
        Some(&org),
        valid_for,
        now,
    )
    .await
    {
        Ok(session) => signed_in(&state, &session.token, "/console"),
        Err(_) => Redirect::to("/console/login").into_response(),
    }
}
