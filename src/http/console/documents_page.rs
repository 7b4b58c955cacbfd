//! The console's "Logo" and "Billing details" pages (Togai's Admin Center: "upload
//! your logo to be used in your invoice template", "Togai supports multiple billing
//! information configurations", <https://docs.togai.com/docs/admin-center>), over
//! [`crate::documents::settings`] as `/billrun/logo` and `/billrun/billing_details`
//! (README "Logo, billing details and templates").
//!
//! - `GET /console/logo`: the current logo (version, file, format, size), shown from
//!   `GET /console/logo/image`; `POST /console/logo` uploads a new one
//!   (`multipart/form-data`, the file in the field `logo`, the CSRF token in `csrf`),
//!   checked by [`settings::check_logo`] ([`settings::LOGO_RULES`]; anything else is a
//!   422 page naming the rule), a new version that invoices rendered from then on
//!   show. Audited `logo.set`.
//! - `GET /console/billing_details`: the profiles, which one the default template
//!   uses (the profile on invoices of accounts without their own template), and a
//!   form to create one; `GET /console/billing_details/{profile_id}`: its form;
//!   `POST` saves it (an emptied field is cleared); `POST .../default` makes it the
//!   profile of the organisation's default template
//!   ([`settings::update_template`], audited `template.update`). Creating and
//!   changing are audited `billing_details.create` / `billing_details.update`.

use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::forms::{failed, invalid, ConsoleForm};
use super::{can_write, page, ConsoleSession};
use crate::catalog::customers::Address;
use crate::documents::settings::{self, Profile, ProfileChanges, TemplateChanges};
use crate::http::{audited, AppState, Change};
use crate::identity::Resource;

/// `?done=`.
#[derive(Debug, Deserialize)]
pub struct DoneQuery {
    /// A notice's code.
    pub done: Option<String>,
}

/// `GET /console/logo`.
#[utoipa::path(get, path = "/console/logo", tag = "console",
    responses((status = 200, description = "the logo page", content_type = "text/html", body = String)))]
pub async fn logo(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    Query(q): Query<DoneQuery>,
) -> Response {
    let mut ctx = tera::Context::new();
    match settings::current_logo(&state.pool, &session.principal.org).await {
        Ok(Some((info, _))) => {
            ctx.insert("logo", &info);
            ctx.insert(
                "uploaded",
                &info.uploaded_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            );
        }
        Ok(None) => {}
        Err(e) => return super::error_page(&session, e),
    }
    ctx.insert("rules", settings::LOGO_RULES);
    ctx.insert("can_write", &can_write(&session, Resource::Settings));
    if q.done.as_deref() == Some("uploaded") {
        ctx.insert(
            "notice",
            "The logo was saved: invoices rendered from now on show it.",
        );
    }
    page(StatusCode::OK, "logo.html", Some(&session), ctx)
}

/// `GET /console/logo/image`: the current logo's bytes (404 page without one).
#[utoipa::path(get, path = "/console/logo/image", tag = "console",
    responses((status = 200, description = "the image", content_type = "image/png", body = Vec<u8>)))]
pub async fn logo_image(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
) -> Response {
    match settings::current_logo(&state.pool, &session.principal.org).await {
        Ok(Some((info, bytes))) => (
            [
                (header::CONTENT_TYPE, format!("image/{}", info.format)),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
            bytes,
        )
            .into_response(),
        Ok(None) => super::message(
            StatusCode::NOT_FOUND,
            Some(&session),
            "Not found",
            &format!("organisation {} has no logo", session.principal.org),
        ),
        Err(e) => super::error_page(&session, e),
    }
}

/// `POST /console/logo` (multipart: `logo`, the file; `csrf`).
#[utoipa::path(post, path = "/console/logo", tag = "console",
    responses((status = 200, description = "a redirect to the logo page; a 422 page naming the rule", content_type = "text/html", body = String)))]
pub async fn upload_logo(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let Ok(mut multipart) = multipart else {
        return invalid(
            &session,
            "logo",
            "expected a multipart/form-data form with the file in the field logo",
        );
    };
    let mut file = None;
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) if field.name() == Some("logo") => {
                let name = field.file_name().unwrap_or("logo").to_string();
                match field.bytes().await {
                    Ok(b) => file = Some((name, b)),
                    Err(e) => {
                        return invalid(
                            &session,
                            "logo",
                            &format!("the file could not be read: {e}"),
                        )
                    }
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                return invalid(
                    &session,
                    "logo",
                    &format!("the form could not be read: {e}"),
                )
            }
        }
    }
    let Some((name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return invalid(
            &session,
            "logo",
            &format!("required: choose a file ({})", settings::LOGO_RULES),
        );
    };
    let who = &session.principal;
    let stored = settings::set_logo(&state.pool, &who.org, &name, &bytes).await;
    let change = Change {
        action: "logo.set",
        object_type: "logo",
        object_id: who.org.as_str(),
    };
    let details = serde_json::json!({ "fileName": name, "bytes": bytes.len() });
    match audited(&state, who, change, details, stored).await {
        Ok(_) => Redirect::to("/console/logo?done=uploaded").into_response(),
        Err(e) => failed(&session, e),
    }
}

/// A profile as the pages show it.
#[derive(Debug, Default, Serialize)]
struct ProfileView {
    id: String,
    /// The id, percent-encoded for a path.
    path: String,
    legal_name: String,
    line1: String,
    line2: String,
    postal_code: String,
    city: String,
    state: String,
    country: String,
    tax_id: String,
    email: String,
    phone: String,
    payment_instructions: String,
    footer_note: String,
    is_default: bool,
}

fn view(p: Profile, default: Option<&str>) -> ProfileView {
    let a = p.address.unwrap_or_default();
    let s = |v: Option<String>| v.unwrap_or_default();
    ProfileView {
        is_default: default == Some(p.id.as_str()),
        path: enc(&p.id),
        id: p.id,
        legal_name: p.legal_name,
        line1: s(a.line1),
        line2: s(a.line2),
        postal_code: s(a.postal_code),
        city: s(a.city),
        state: s(a.state),
        country: s(a.country),
        tax_id: s(p.tax_id),
        email: s(p.email),
        phone: s(p.phone),
        payment_instructions: p.payment_instructions.join("\n"),
        footer_note: s(p.footer_note),
    }
}

/// The organisation's default template's id and the profile it uses.
async fn default_template(
    state: &AppState,
    session: &ConsoleSession,
) -> Result<(String, Option<String>), Response> {
    let all = settings::templates(&state.pool, &session.principal.org)
        .await
        .map_err(|e| super::error_page(session, e))?;
    Ok(all
        .into_iter()
        .find(|t| t.default)
        .map(|t| (t.id, t.billing_details))
        .unwrap_or_else(|| (settings::BUILTIN.to_string(), None)))
}

fn notice(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "created" => Some("The profile was created."),
        "saved" => Some("The profile was saved."),
        "default" => Some(
            "The default template now uses this profile: invoices rendered from now on show it.",
        ),
        _ => None,
    }
}

/// `GET /console/billing_details`.
#[utoipa::path(get, path = "/console/billing_details", tag = "console",
    responses((status = 200, description = "the billing details page", content_type = "text/html", body = String)))]
pub async fn profiles(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    Query(q): Query<DoneQuery>,
) -> Response {
    let (template, default) = match default_template(&state, &session).await {
        Ok(d) => d,
        Err(page) => return page,
    };
    let all = match settings::profiles(&state.pool, &session.principal.org).await {
        Ok(p) => p,
        Err(e) => return super::error_page(&session, e),
    };
    let rows: Vec<ProfileView> = all
        .into_iter()
        .map(|p| view(p, default.as_deref()))
        .collect();
    let mut ctx = tera::Context::new();
    ctx.insert("profiles", &rows);
    ctx.insert("default_template", &template);
    // The create form's fields (profile_fields.html shows `p`).
    ctx.insert("p", &ProfileView::default());
    ctx.insert("can_write", &can_write(&session, Resource::Settings));
    if let Some(n) = notice(q.done.as_deref()) {
        ctx.insert("notice", n);
    }
    page(StatusCode::OK, "billing_details.html", Some(&session), ctx)
}

/// `GET /console/billing_details/{profile_id}`: its form.
#[utoipa::path(get, path = "/console/billing_details/{profile_id}", tag = "console",
    params(("profile_id" = String, Path, description = "the profile's id")),
    responses((status = 200, description = "the profile's page; a 404 page", content_type = "text/html", body = String)))]
pub async fn profile(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Response {
    let (template, default) = match default_template(&state, &session).await {
        Ok(d) => d,
        Err(page) => return page,
    };
    let p = match settings::profile(&state.pool, &session.principal.org, &id).await {
        Ok(p) => p,
        Err(e) => return super::error_page(&session, e),
    };
    let mut ctx = tera::Context::new();
    let shown = view(p, default.as_deref());
    ctx.insert("p", &shown);
    ctx.insert("profile", &shown);
    ctx.insert("default_template", &template);
    ctx.insert("can_write", &can_write(&session, Resource::Settings));
    if let Some(n) = notice(q.done.as_deref()) {
        ctx.insert("notice", n);
    }
    page(StatusCode::OK, "billing_detail.html", Some(&session), ctx)
}

/// A profile's form (every field text; empty: none).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ProfileForm {
    /// The id (creating only).
    pub id: String,
    /// The seller's legal name (required).
    pub legal_name: String,
    /// Address line 1.
    pub line1: String,
    /// Address line 2.
    pub line2: String,
    /// Postal code.
    pub postal_code: String,
    /// City.
    pub city: String,
    /// State or region.
    pub state: String,
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
    /// Tax / VAT id.
    pub tax_id: String,
    /// Billing contact email.
    pub email: String,
    /// Billing contact phone.
    pub phone: String,
    /// How to pay, one line each.
    pub payment_instructions: String,
    /// Closing note.
    pub footer_note: String,
}

impl ProfileForm {
    /// The changes: given fields set, empty ones cleared when `editing`.
    fn changes(self, editing: bool) -> ProfileChanges {
        let mut clear = Vec::new();
        let mut opt = |name: &str, v: String| {
            let v = v.trim().to_string();
            if v.is_empty() {
                if editing {
                    clear.push(name.to_string());
                }
                None
            } else {
                Some(v)
            }
        };
        let tax_id = opt("tax-id", self.tax_id);
        let email = opt("email", self.email);
        let phone = opt("phone", self.phone);
        let footer_note = opt("footer-note", self.footer_note);
        let lines: Vec<String> = self
            .payment_instructions
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        let s = |v: String| Some(v.trim().to_string()).filter(|v| !v.is_empty());
        let address = Address {
            line1: s(self.line1),
            line2: s(self.line2),
            postal_code: s(self.postal_code),
            city: s(self.city),
            state: s(self.state),
            country: s(self.country.to_uppercase()),
        };
        if editing {
            // The address is replaced as a whole: cleared, then the given lines set.
            clear.push("address".to_string());
            if lines.is_empty() {
                clear.push("payment-instructions".to_string());
            }
        }
        ProfileChanges {
            legal_name: Some(self.legal_name.trim().to_string()),
            address,
            tax_id,
            email,
            phone,
            payment_instructions: (!lines.is_empty()).then_some(lines),
            footer_note,
            clear,
        }
    }
}

/// `POST /console/billing_details`: creates a profile.
#[utoipa::path(post, path = "/console/billing_details", tag = "console",
    responses((status = 200, description = "a redirect to the profile; a 409 or 422 page", content_type = "text/html", body = String)))]
pub async fn create_profile(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    ConsoleForm(form): ConsoleForm<ProfileForm>,
) -> Response {
    let id = form.id.trim().to_string();
    if id.is_empty() {
        return invalid(&session, "id", "required: the profile's id, e.g. acme-eu");
    }
    if form.legal_name.trim().is_empty() {
        return invalid(&session, "legal name", "required: the seller's legal name");
    }
    let who = &session.principal;
    let created =
        settings::create_profile(&state.pool, &who.org, &id, form.changes(false), Utc::now()).await;
    let change = Change {
        action: "billing_details.create",
        object_type: "billing_details",
        object_id: &id,
    };
    match audited(&state, who, change, serde_json::json!({}), created).await {
        Ok(p) => Redirect::to(&format!(
            "/console/billing_details/{}?done=created",
            enc(&p.id)
        ))
        .into_response(),
        Err(e) => failed(&session, e),
    }
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `POST /console/billing_details/{profile_id}`: saves the profile's form.
#[utoipa::path(post, path = "/console/billing_details/{profile_id}", tag = "console",
    params(("profile_id" = String, Path, description = "the profile's id")),
    responses((status = 200, description = "a redirect to the profile; a 404 or 422 page", content_type = "text/html", body = String)))]
pub async fn update_profile(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    Path(id): Path<String>,
    ConsoleForm(form): ConsoleForm<ProfileForm>,
) -> Response {
    if form.legal_name.trim().is_empty() {
        return invalid(&session, "legal name", "required: the seller's legal name");
    }
    let who = &session.principal;
    // The address is replaced: cleared, then set from the form (one transaction).
    let changes = form.changes(true);
    let updated = settings::update_profile(&state.pool, &who.org, &id, changes, Utc::now()).await;
    let change = Change {
        action: "billing_details.update",
        object_type: "billing_details",
        object_id: &id,
    };
    match audited(&state, who, change, serde_json::json!({}), updated).await {
        Ok(_) => Redirect::to(&format!("/console/billing_details/{}?done=saved", enc(&id)))
            .into_response(),
        Err(e) => failed(&session, e),
    }
}

/// `POST /console/billing_details/{profile_id}/default`: the default template uses
/// it.
#[utoipa::path(post, path = "/console/billing_details/{profile_id}/default", tag = "console",
    params(("profile_id" = String, Path, description = "the profile's id")),
    responses((status = 200, description = "a redirect to the profile; a 404 page", content_type = "text/html", body = String)))]
pub async fn make_default(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    Path(id): Path<String>,
) -> Response {
    let (template, _) = match default_template(&state, &session).await {
        Ok(d) => d,
        Err(page) => return page,
    };
    let who = &session.principal;
    let changes = TemplateChanges {
        billing_details: Some(id.clone()),
        ..TemplateChanges::default()
    };
    let done = settings::update_template(&state.pool, &who.org, &template, changes).await;
    let change = Change {
        action: "template.update",
        object_type: "template",
        object_id: &template,
    };
    let details = serde_json::json!({ "billingDetails": id });
    match audited(&state, who, change, details, done).await {
        Ok(_) => Redirect::to(&format!(
            "/console/billing_details/{}?done=default",
            enc(&id)
        ))
        .into_response(),
        Err(e) => failed(&session, e),
    }
}
