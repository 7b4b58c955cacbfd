//! The console (issue 15, README "Console"): Togai's Admin Center as server-rendered
//! pages for people, served by `billrun serve` under `/console`, on the same route
//! table, permission table, application functions and audit trail as the API.
//!
//! - **Templates**: Tera, compiled into the binary from `templates/console/*.html`,
//!   autoescaped (every value a page shows is escaped; no template marks one safe).
//! - **Sessions**: signing in ([`login`]) opens the same kind of session as the API's
//!   `POST /authenticate` (`brs_...`, valid `[http] session_hours`, the user's role
//!   read at every request), carried in the cookie [`SESSION_COOKIE`] (`HttpOnly`,
//!   `SameSite=Strict`, `Path=/console`, `Secure` when `[http] public_url` is https)
//!   instead of the `Authorization` header. One kind of session means one expiry, one
//!   way to end it and one place that authenticates it.
//! - **Authorisation** ([`guard`], called by [`super::auth::authorize`] for every path
//!   under `/console`): no valid session answers a redirect to the sign-in page (GET)
//!   or a 401 page (POST); a role the route's guard does not allow answers a 403 page
//!   (and, for a change, the same `request.forbidden` audit row as the API).
//! - **CSRF**: every POST carries the form field `csrf`, checked before the route's
//!   handler runs: on a route that needs a session, it must be
//!   [`identity::sessions::csrf_token`] of the session (a synchronizer token); on the
//!   public ones (signing in, accepting an invitation), it must equal the random
//!   cookie [`FORM_COOKIE`] set by the form's page (a double-submit token). A missing or wrong one answers a 403 page and
//!   nothing runs or is written.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::Serialize;

use super::routes::{self, Guard, Route};
use super::AppState;
use crate::error::Classify;
use crate::identity::{self, roles, users, Principal, Resource, Role};

pub mod aliases_page;
pub mod dashboard;
pub mod documents_page;
pub mod forms;
pub mod imports_page;
pub mod invoice_actions;
pub mod invoices;
pub mod jobs_page;
pub mod login;
pub mod migrations_page;
pub mod settings_page;
pub mod tokens;
pub mod users_page;

/// The cookie holding the session's token (`brs_...`).
pub const SESSION_COOKIE: &str = "billrun_session";
/// The cookie of the double-submit token of the forms used without a session.
pub const FORM_COOKIE: &str = "billrun_form";
/// The form field carrying the CSRF token.
pub const CSRF_FIELD: &str = "csrf";

/// A signed-in request: who, and the CSRF token its forms carry (a request
/// extension set by [`guard`]).
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    /// The user (organisation, role, email).
    pub principal: Principal,
    /// The session's CSRF token, for the pages' forms.
    pub csrf: String,
}

/// The console's templates, compiled once, autoescaped (`.html`).
fn engine() -> &'static tera::Tera {
    static ENGINE: std::sync::OnceLock<tera::Tera> = std::sync::OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut tera = tera::Tera::default();
        tera.add_raw_templates([
            (
                "base.html",
                include_str!("../../../templates/console/base.html"),
            ),
            (
                "login.html",
                include_str!("../../../templates/console/login.html"),
            ),
            (
                "home.html",
                include_str!("../../../templates/console/home.html"),
            ),
            (
                "message.html",
                include_str!("../../../templates/console/message.html"),
            ),
            (
                "confirm.html",
                include_str!("../../../templates/console/confirm.html"),
            ),
            (
                "tokens.html",
                include_str!("../../../templates/console/tokens.html"),
            ),
            (
                "token_created.html",
                include_str!("../../../templates/console/token_created.html"),
            ),
            (
                "users.html",
                include_str!("../../../templates/console/users.html"),
            ),
            (
                "profile.html",
                include_str!("../../../templates/console/profile.html"),
            ),
            (
                "accept.html",
                include_str!("../../../templates/console/accept.html"),
            ),
            (
                "invoices.html",
                include_str!("../../../templates/console/invoices.html"),
            ),
            (
                "invoice.html",
                include_str!("../../../templates/console/invoice.html"),
            ),
            (
                "jobs.html",
                include_str!("../../../templates/console/jobs.html"),
            ),
            (
                "job.html",
                include_str!("../../../templates/console/job.html"),
            ),
            (
                "imports.html",
                include_str!("../../../templates/console/imports.html"),
            ),
            (
                "import.html",
                include_str!("../../../templates/console/import.html"),
            ),
            (
                "migration_new.html",
                include_str!("../../../templates/console/migration_new.html"),
            ),
            (
                "migration.html",
                include_str!("../../../templates/console/migration.html"),
            ),
            (
                "settings.html",
                include_str!("../../../templates/console/settings.html"),
            ),
            (
                "aliases.html",
                include_str!("../../../templates/console/aliases.html"),
            ),
            (
                "logo.html",
                include_str!("../../../templates/console/logo.html"),
            ),
            (
                "billing_details.html",
                include_str!("../../../templates/console/billing_details.html"),
            ),
            (
                "billing_detail.html",
                include_str!("../../../templates/console/billing_detail.html"),
            ),
            (
                "profile_fields.html",
                include_str!("../../../templates/console/profile_fields.html"),
            ),
        ])
        .expect("the console's templates compile");
        tera.autoescape_on(vec![".html"]);
        tera
    })
}

/// One link of the navigation.
#[derive(Debug, Serialize)]
struct NavItem {
    label: &'static str,
    href: &'static str,
}

/// The navigation `role` sees: only the pages its role may read.
fn navigation(role: Role) -> Vec<NavItem> {
    let mut nav = vec![NavItem {
        label: "Home",
        href: "/console",
    }];
    if roles::allows(role, Resource::Invoices, roles::Access::Read) {
        nav.push(NavItem {
            label: "Invoices",
            href: "/console/invoices",
        });
    }
    if roles::allows(role, Resource::Jobs, roles::Access::Read) {
        nav.push(NavItem {
            label: "Jobs",
            href: "/console/jobs",
        });
    }
    if roles::allows(role, Resource::Imports, roles::Access::Read) {
        nav.push(NavItem {
            label: "Imports",
            href: "/console/imports",
        });
    }
    if roles::allows(role, Resource::Schedules, roles::Access::Read) {
        nav.push(NavItem {
            label: "Plan migrations",
            href: "/console/migrations",
        });
    }
    if roles::allows(role, Resource::ApiTokens, roles::Access::Read) {
        nav.push(NavItem {
            label: "API tokens",
            href: "/console/api_tokens",
        });
    }
    if roles::allows(role, Resource::Users, roles::Access::Read) {
        nav.push(NavItem {
            label: "Users",
            href: "/console/users",
        });
    }
    nav.push(NavItem {
        label: "Profile",
        href: "/console/profile",
    });
    if roles::allows(role, Resource::Settings, roles::Access::Read) {
        nav.push(NavItem {
            label: "Settings",
            href: "/console/settings",
        });
        nav.push(NavItem {
            label: "Logo",
            href: "/console/logo",
        });
        nav.push(NavItem {
            label: "Billing details",
            href: "/console/billing_details",
        });
    }
    if roles::allows(role, Resource::Accounts, roles::Access::Read) {
        nav.push(NavItem {
            label: "Aliases",
            href: "/console/aliases",
        });
    }
    nav
}

/// Whether the session's role may change `resource` (the pages show write buttons
/// and forms only then).
pub fn can_write(session: &ConsoleSession, resource: Resource) -> bool {
    roles::allows(session.principal.role, resource, roles::Access::Write)
}

/// A page: `template` with `ctx`, and the frame's values (the user, the navigation,
/// the CSRF token) when signed in.
pub fn page(
    status: StatusCode,
    template: &str,
    session: Option<&ConsoleSession>,
    mut ctx: tera::Context,
) -> Response {
    let active = match template {
        "home.html" => "/console",
        "tokens.html" | "token_created.html" => "/console/api_tokens",
        "users.html" => "/console/users",
        "profile.html" => "/console/profile",
        "invoices.html" | "invoice.html" => "/console/invoices",
        "jobs.html" | "job.html" => "/console/jobs",
        "imports.html" | "import.html" => "/console/imports",
        "migration_new.html" | "migration.html" => "/console/migrations",
        "settings.html" => "/console/settings",
        "aliases.html" => "/console/aliases",
        "logo.html" => "/console/logo",
        "billing_details.html" | "billing_detail.html" => "/console/billing_details",
        _ => "",
    };
    ctx.insert("active_href", active);
    if let Some(s) = session {
        ctx.insert("signed_in", &true);
        ctx.insert("user_email", &s.principal.actor.id);
        ctx.insert("user_role", s.principal.role.title());
        ctx.insert("org", s.principal.org.as_ref());
        ctx.insert("nav", &navigation(s.principal.role));
        ctx.insert("csrf", &s.csrf);
    } else {
        ctx.insert("signed_in", &false);
    }
    match engine().render(template, &ctx) {
        Ok(html) => {
            let mut res = (status, Html(html)).into_response();
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(e) => {
            tracing::error!(template, error = ?e, "a console template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

/// A page saying `message` under `title`, with the status `status`.
pub fn message(
    status: StatusCode,
    session: Option<&ConsoleSession>,
    title: &str,
    message: &str,
) -> Response {
    let mut ctx = tera::Context::new();
    ctx.insert("title", title);
    ctx.insert("message", message);
    page(status, "message.html", session, ctx)
}

/// An error of an area as a page, its status decided as the API's
/// ([`super::error::status_of`]).
pub fn error_page<E: Classify + std::fmt::Display>(session: &ConsoleSession, e: E) -> Response {
    let api = super::error::ApiError::from_app(e);
    let title = match api.status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::CONFLICT => "Not possible now",
        StatusCode::BAD_REQUEST => "Please check the form",
        _ => "Something went wrong",
    };
    message(api.status, Some(session), title, &api.message)
}

/// The value of the cookie `name`, if the request has it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value for the console: `HttpOnly; SameSite=Strict; Path=/console`,
/// `Secure` when `[http] public_url` is https, and `Max-Age` when given (0 removes
/// it).
pub fn set_cookie(state: &AppState, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let secure = state
        .config
        .http
        .public_url
        .as_deref()
        .is_some_and(|u| u.to_ascii_lowercase().starts_with("https://"));
    let mut c = format!("{name}={value}; HttpOnly; SameSite=Strict; Path=/console");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).expect("a cookie of token characters")
}

/// The double-submit token of a form shown without a session: the request's
/// [`FORM_COOKIE`] if it has one, else a new random one to set (the second value).
pub fn form_token(headers: &HeaderMap) -> (String, Option<String>) {
    match cookie(headers, FORM_COOKIE) {
        Some(t) if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) => (t, None),
        _ => {
            let t = identity::random_secret();
            (t.clone(), Some(t))
        }
    }
}

/// Where a `next` parameter may send the browser after signing in: a console path,
/// never another site.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if (n == "/console" || n.starts_with("/console/") || n.starts_with("/console?"))
                && !n.contains("//")
                && !n.contains('\\') =>
        {
            n.to_string()
        }
        _ => "/console".to_string(),
    }
}

/// The guard of every console route (see the module's documentation): the session
/// cookie, the CSRF token of a POST, then the route's guard in the permission table.
pub async fn guard(state: &AppState, route: &Route, req: Request, next: Next) -> Response {
    let now = Utc::now();
    let token = cookie(req.headers(), SESSION_COOKIE).filter(|t| t.starts_with("brs_"));
    let principal = match &token {
        Some(t) => users::session(&state.pool, t, now).await.ok(),
        None => None,
    };
    let session = match (principal, token) {
        (Some(principal), Some(t)) => Some(ConsoleSession {
            principal,
            csrf: identity::sessions::csrf_token(&t),
        }),
        _ => None,
    };
    let is_post = req.method() == Method::POST;
    if session.is_none() && route.guard != Guard::Public {
        if is_post {
            return message(
                StatusCode::UNAUTHORIZED,
                None,
                "Please sign in",
                "your session is missing or has ended: sign in again at /console/login",
            );
        }
        let here = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        let target = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("next", &here)
            .finish();
        return Redirect::to(&format!("/console/login?{target}")).into_response();
    }
    let mut req = req;
    if is_post {
        // The forms used without a session (public routes) carry the double-submit
        // token, also when the browser has a session (an invitation opened while
        // signed in).
        let expected = match (&session, route.guard) {
            (Some(s), Guard::Needs(..) | Guard::SignedIn) => Some(s.csrf.clone()),
            _ => cookie(req.headers(), FORM_COOKIE),
        };
        match checked_csrf(state, req, expected, session.as_ref()).await {
            Ok(r) => req = r,
            Err(refusal) => return refusal,
        }
    }
    if let (Guard::Needs(resource, access), Some(s)) = (route.guard, &session) {
        if !roles::allows(s.principal.role, resource, access) {
            let text = format!(
                "the role {} may not {} {}",
                s.principal.role.title(),
                match access {
                    roles::Access::Read => "read",
                    roles::Access::Write => "change",
                },
                routes::resource_name(resource),
            );
            if access == roles::Access::Write {
                super::auth::record_forbidden_change(
                    state,
                    &s.principal,
                    route,
                    req.uri().path(),
                    &text,
                )
                .await;
            }
            return message(StatusCode::FORBIDDEN, Some(s), "Not allowed", &text);
        }
    }
    if let Some(s) = session {
        req.extensions_mut().insert(s.principal.clone());
        req.extensions_mut().insert(s);
    }
    next.run(req).await
}

/// The request again, once its form's `csrf` field equals `expected`; else the 403
/// page. The body (a urlencoded form, at most `[http] body_limit_bytes`) is read
/// here and handed on unchanged.
async fn checked_csrf(
    state: &AppState,
    req: Request,
    expected: Option<String>,
    session: Option<&ConsoleSession>,
) -> Result<Request, Response> {
    let refuse = |why: &str| {
        message(
            StatusCode::FORBIDDEN,
            session,
            "Form refused",
            &format!(
                "the form's CSRF token (field {CSRF_FIELD}) is {why}: reload the page and \
                 submit the form again"
            ),
        )
    };
    // A large file upload (`multipart/form-data`, the Imports page) is streamed to its
    // handler unread: its form carries the token in its action's query (`?csrf=`),
    // checked the same way. Only paths are logged, never queries. A small one (the
    // logo) carries it as a field, read below.
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    let in_query = req.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == CSRF_FIELD)
            .map(|(_, v)| v.into_owned())
    });
    if let (true, Some(sent)) = (multipart, in_query) {
        return match expected {
            Some(e) if identity::constant_time_eq(&sent, &e) => Ok(req),
            _ => Err(refuse("wrong")),
        };
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, state.config.http.body_limit_bytes)
        .await
        .map_err(|_| refuse("unreadable (the form is too large)"))?;
    let multipart = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"))
        .map(str::to_string);
    let sent = match multipart {
        // A file upload (the logo): the token is the form's field `csrf`, whatever
        // its position.
        Some(content_type) => multipart_field(&content_type, bytes.clone(), CSRF_FIELD).await,
        None => url::form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == CSRF_FIELD)
            .map(|(_, v)| v.into_owned()),
    };
    match (sent, expected) {
        (None, _) => return Err(refuse("missing")),
        (Some(s), Some(e)) if identity::constant_time_eq(&s, &e) => {}
        _ => return Err(refuse("wrong")),
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// The text of the field `name` of a `multipart/form-data` body, if it has one.
async fn multipart_field(
    content_type: &str,
    bytes: axum::body::Bytes,
    name: &str,
) -> Option<String> {
    use axum::extract::FromRequest;
    let req = Request::builder()
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(bytes))
        .ok()?;
    let mut form = axum::extract::Multipart::from_request(req, &())
        .await
        .ok()?;
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some(name) {
            return field.text().await.ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_templates_compile_and_escape_what_they_show() {
        let mut ctx = tera::Context::new();
        ctx.insert("title", "<b>t</b>");
        ctx.insert("message", "a & \"b\"");
        let res = message(StatusCode::BAD_REQUEST, None, "<b>t</b>", "a & \"b\"");
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let html = engine().render("message.html", &{
            let mut c = ctx.clone();
            c.insert("signed_in", &false);
            c.insert("active_href", "");
            c
        });
        let html = html.unwrap();
        assert!(html.contains("&lt;b&gt;t&lt;&#x2F;b&gt;"), "{html}");
        assert!(html.contains("a &amp; &quot;b&quot;"), "{html}");
        assert!(!html.contains("<b>t</b>"));
    }

    #[test]
    fn every_page_template_is_compiled_in() {
        let names: Vec<&str> = engine().get_template_names().collect();
        for f in
            std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/console")).unwrap()
        {
            let name = f.unwrap().file_name().into_string().unwrap();
            assert!(names.contains(&name.as_str()), "{name} is not in engine()");
        }
    }

    #[test]
    fn next_stays_in_the_console() {
        assert_eq!(safe_next(Some("/console/users")), "/console/users");
        assert_eq!(safe_next(Some("/console?x=1")), "/console?x=1");
        for bad in [
            "https://evil.test/",
            "//evil.test",
            "/console//evil.test",
            "/consolex",
            "/health",
            "/console/\\evil",
        ] {
            assert_eq!(safe_next(Some(bad)), "/console", "{bad}");
        }
        assert_eq!(safe_next(None), "/console");
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; billrun_session=brs_x; billrun_form="),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("brs_x"));
        assert_eq!(cookie(&h, FORM_COOKIE), None, "empty is none");
        assert_eq!(cookie(&h, "b"), None);
    }
}
