//! The console's "Settings" page (Togai's Admin Center: Currencies, Net term days,
//! Invoice sequencing format, <https://docs.togai.com/docs/admin-center>), over the
//! same functions as `/settings` ([`crate::http::settings`]: each setting parsed and
//! checked as the API does, [`crate::catalog::orgs::configure`] storing it, audited
//! `setting.update` with the setting's id).
//!
//! - `GET /console/settings`: the base and enabled currencies, the net term days, the
//!   invoice number format and a preview of the next invoice number
//!   ([`crate::app::settings::next_invoice_number`], dated today in the
//!   organisation's timezone); `?format=` previews another format without saving it.
//! - `POST /console/settings/currencies` (`base_currency`, `enabled_currencies`: codes
//!   separated by commas or spaces), one change of both (the base currency is always
//!   kept enabled).
//! - `POST /console/settings/net_term_days` (`net_term_days`: whole days from invoice
//!   date to due date, for invoices finalized from now on).
//! - `POST /console/settings/invoice_number_format` (`format`, e.g.
//!   `INV-{YYYY}-{SEQ:6}`).
//! - `POST /console/settings/credit_notes` (`number_format`, e.g. `CN-{YYYY}-{SEQ:4}`;
//!   `void_issues_credit_note`: a checkbox, absent when unticked): the settings of
//!   `billrun credit-note configure` (README "Credit notes").
//!
//! A bad value answers a 422 page naming the field and what was expected, and
//! changes nothing.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use chrono::Utc;
use serde::Deserialize;

use super::forms::{api_failed, failed, ConsoleForm};
use super::{can_write, page, ConsoleSession};
use crate::catalog::orgs::{self, OrgChanges};
use crate::http::settings::{change, known, setting};
use crate::http::{audited, AppState, Change};
use crate::identity::Resource;

/// `?format=` (a format to preview) and `?done=` (what the last form did).
#[derive(Debug, Default, Deserialize)]
pub struct SettingsQuery {
    /// A number format to preview, not saved.
    pub format: Option<String>,
    /// A notice's code.
    pub done: Option<String>,
}

fn notice(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "currencies" => Some("The currencies were saved."),
        "net_term_days" => {
            Some("The net term days were saved: invoices finalized from now on use them.")
        }
        "invoice_number_format" => {
            Some("The invoice number format was saved: invoices finalized from now on use it.")
        }
        "credit_notes" => Some("The credit note settings were saved."),
        _ => None,
    }
}

/// `GET /console/settings`.
#[utoipa::path(get, path = "/console/settings", tag = "console",
    responses((status = 200, description = "the settings page", content_type = "text/html", body = String)))]
pub async fn show(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    Query(q): Query<SettingsQuery>,
) -> Response {
    let who = &session.principal;
    let org = match orgs::get(&state.pool, &who.org).await {
        Ok(o) => o,
        Err(e) => return super::error_page(&session, e),
    };
    let today = Utc::now().with_timezone(&org.timezone).date_naive();
    let mut ctx = tera::Context::new();
    let (format, preview_error) = match q.format.as_deref().map(str::trim).filter(|f| !f.is_empty())
    {
        Some(f) => match billrun_core::numbering::NumberFormat::parse(f) {
            Ok(parsed) => (parsed, None),
            Err(e) => (
                org.invoice_number_format.clone(),
                Some(format!("format {f:?}: {e}")),
            ),
        },
        None => (org.invoice_number_format.clone(), None),
    };
    let previewing = q.format.is_some() && preview_error.is_none();
    let next = match crate::app::settings::next_invoice_number(
        &state.pool,
        &who.org,
        &format,
        today,
    )
    .await
    {
        Ok(n) => n,
        Err(e) => return super::error_page(&session, e),
    };
    if let Some(e) = &preview_error {
        ctx.insert("preview_error", e);
    }
    ctx.insert("previewing", &previewing);
    ctx.insert("preview_format", &format.to_string());
    ctx.insert("next_number", &next);
    ctx.insert("today", &today.format("%-d %b %Y").to_string());
    ctx.insert("timezone", &org.timezone.to_string());
    ctx.insert("base_currency", org.base_currency.code());
    let enabled: Vec<&str> = org.enabled_currencies.iter().map(|c| c.code()).collect();
    ctx.insert("enabled_currencies", &enabled.join(", "));
    ctx.insert("enabled_list", &enabled);
    ctx.insert("net_term_days", &org.net_term_days);
    ctx.insert(
        "invoice_number_format",
        &org.invoice_number_format.to_string(),
    );
    ctx.insert(
        "credit_note_number_format",
        &org.credit_note_number_format.to_string(),
    );
    ctx.insert("void_issues_credit_note", &org.void_issues_credit_note);
    ctx.insert("can_write", &can_write(&session, Resource::Settings));
    if let Some(n) = notice(q.done.as_deref()) {
        ctx.insert("notice", n);
    }
    let status = if preview_error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    page(status, "settings.html", Some(&session), ctx)
}

/// Sets the settings `values` (id, value) in one change, audited `setting.update`
/// per setting (FAILURE for each when refused); redirects to the page.
async fn set_all(
    state: &AppState,
    session: &ConsoleSession,
    values: &[(&str, String)],
    done: &str,
) -> Response {
    let who = &session.principal;
    let mut all = OrgChanges::default();
    let mut parsed = Ok(());
    for (id, value) in values {
        match known(id).and_then(|_| change(id, value)) {
            Ok(c) => {
                all.base_currency = all.base_currency.or(c.base_currency);
                all.enabled_currencies = all.enabled_currencies.or(c.enabled_currencies);
                all.net_term_days = all.net_term_days.or(c.net_term_days);
                all.invoice_number_format = all.invoice_number_format.or(c.invoice_number_format);
                all.credit_note_number_format = all
                    .credit_note_number_format
                    .or(c.credit_note_number_format);
                all.void_issues_credit_note =
                    all.void_issues_credit_note.or(c.void_issues_credit_note);
            }
            Err(e) => {
                parsed = Err(e);
                break;
            }
        }
    }
    let done_org = match parsed {
        Ok(()) => orgs::configure(&state.pool, &who.org, &all)
            .await
            .map_err(crate::http::error::ApiError::from),
        Err(e) => Err(e),
    };
    let mut result = Ok(());
    for (id, _) in values {
        let details = match (&done_org, known(id)) {
            (Ok(org), Ok(k)) => serde_json::json!({ "value": setting(org, k).value }),
            _ => serde_json::json!({}),
        };
        let one = done_org.as_ref().map(drop).map_err(|e| e.clone());
        let c = Change {
            action: "setting.update",
            object_type: "setting",
            object_id: id,
        };
        if let Err(e) = audited(state, who, c, details, one).await {
            result = Err(e);
        }
    }
    match result {
        Ok(()) => Redirect::to(&format!("/console/settings?done={done}")).into_response(),
        Err(e) => api_failed(session, e),
    }
}

/// The currencies form.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CurrenciesForm {
    /// ISO 4217 code of the base currency (kept enabled).
    pub base_currency: String,
    /// ISO 4217 codes separated by commas or spaces.
    #[serde(default)]
    pub enabled_currencies: String,
}

/// `POST /console/settings/currencies`.
#[utoipa::path(post, path = "/console/settings/currencies", tag = "console",
    responses((status = 200, description = "a redirect to the settings; a 422 page naming a bad code", content_type = "text/html", body = String)))]
pub async fn currencies(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    ConsoleForm(form): ConsoleForm<CurrenciesForm>,
) -> Response {
    let base = form.base_currency.trim().to_uppercase();
    let mut codes: Vec<String> = form
        .enabled_currencies
        .split(|c: char| c == ',' || c.is_whitespace())
        .map(|c| c.trim().to_uppercase())
        .filter(|c| !c.is_empty())
        .collect();
    if !codes.contains(&base) {
        codes.insert(0, base.clone());
    }
    let enabled = serde_json::to_string(&codes).expect("strings serialize");
    set_all(
        &state,
        &session,
        &[("baseCurrency", base), ("enabledCurrencies", enabled)],
        "currencies",
    )
    .await
}

/// The net term days form.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NetTermForm {
    /// Whole days, 0 or more.
    pub net_term_days: String,
}

/// `POST /console/settings/net_term_days`.
#[utoipa::path(post, path = "/console/settings/net_term_days", tag = "console",
    responses((status = 200, description = "a redirect to the settings; a 422 page", content_type = "text/html", body = String)))]
pub async fn net_term_days(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    ConsoleForm(form): ConsoleForm<NetTermForm>,
) -> Response {
    let value = form.net_term_days.trim().to_string();
    if value.parse::<u32>().is_err() {
        return super::forms::invalid(
            &session,
            "net term days",
            &format!("{value:?} is not a whole number of days (0 or more)"),
        );
    }
    set_all(&state, &session, &[("netTermDays", value)], "net_term_days").await
}

/// The invoice number format form.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NumberFormatForm {
    /// E.g. `INV-{YYYY}-{SEQ:6}`.
    pub format: String,
}

/// `POST /console/settings/invoice_number_format`.
#[utoipa::path(post, path = "/console/settings/invoice_number_format", tag = "console",
    responses((status = 200, description = "a redirect to the settings; a 422 page", content_type = "text/html", body = String)))]
pub async fn invoice_number_format(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    ConsoleForm(form): ConsoleForm<NumberFormatForm>,
) -> Response {
    let value = form.format.trim().to_string();
    if let Err(e) = billrun_core::numbering::NumberFormat::parse(&value) {
        return failed(&session, crate::catalog::CatalogError::from(e));
    }
    set_all(
        &state,
        &session,
        &[("invoiceNumberFormat", value)],
        "invoice_number_format",
    )
    .await
}

/// The credit notes form.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreditNotesForm {
    /// E.g. `CN-{YYYY}-{SEQ:4}`.
    pub number_format: String,
    /// Present (any value) when the checkbox is ticked.
    #[serde(default)]
    pub void_issues_credit_note: Option<String>,
}

/// `POST /console/settings/credit_notes`.
#[utoipa::path(post, path = "/console/settings/credit_notes", tag = "console",
    responses((status = 200, description = "a redirect to the settings; a 422 page", content_type = "text/html", body = String)))]
pub async fn credit_notes(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    ConsoleForm(form): ConsoleForm<CreditNotesForm>,
) -> Response {
    let format = form.number_format.trim().to_string();
    if let Err(e) = billrun_core::numbering::NumberFormat::parse(&format) {
        return super::forms::invalid(&session, "credit note number format", &e.message);
    }
    let void = form.void_issues_credit_note.is_some().to_string();
    set_all(
        &state,
        &session,
        &[
            ("creditNoteNumberFormat", format),
            ("voidIssuesCreditNote", void),
        ],
        "credit_notes",
    )
    .await
}
