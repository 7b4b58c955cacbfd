//! The console's "Invoices" pages (issue 15): the organisation's invoices with
//! filters, one invoice with its lines, its PDF shown inline, and the buttons of the
//! actions the role and the status allow ([`super::invoice_actions`]). Over
//! [`crate::bill_run::invoices`] as `GET /invoices` and `GET /invoices/{invoice_id}`,
//! and [`crate::bill_run::render::document`] as `GET
//! /billrun/invoices/{invoice_id}/pdf`. Amounts and dates are formatted as on the
//! invoices (`billrun_render::money`: amounts `$1,234.50`, unit prices `$0.0015`,
//! quantities `15,000`; dates `1 Dec 2025`).
//!
//! Filters (`GET /console/invoices?status=&account=&number=`): a status (`DRAFT`,
//! `DUE`, `PAID`, `VOID`; none: all but MERGED), an account id, and a number or id
//! (which opens that invoice's page when it exists), and a period: invoices dated
//! (the invoice date) from `from` to `to`, both inclusive (`YYYY-MM-DD`). The list
//! shows 50 at a time (`size`: 1 to 50) in the API's order, with next and previous links: `after` is
//! the last invoice of the page before (the API's cursor) and `back` the `after`s of
//! the pages before that, comma-separated (empty for the first page), so "previous"
//! needs no state on the server.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{page, ConsoleSession};
use crate::bill_run::invoices::{self, InvoiceFilter, InvoiceView};
use crate::http::AppState;
use crate::store::status::InvoiceStatus;

/// The most invoices the list shows.
pub const LIST_LIMIT: i64 = 50;

/// The filters of the list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InvoiceQuery {
    /// `DRAFT`, `DUE`, `PAID` or `VOID` (empty: all but MERGED).
    #[serde(default)]
    pub status: String,
    /// An account's id (empty: every account).
    #[serde(default)]
    pub account: String,
    /// An invoice's number or id: opens it.
    #[serde(default)]
    pub number: String,
    /// Invoices dated on or after this day (`YYYY-MM-DD`; empty: no bound).
    #[serde(default)]
    pub from: String,
    /// Invoices dated on or before this day (`YYYY-MM-DD`; empty: no bound).
    #[serde(default)]
    pub to: String,
    /// The page starts after this invoice (an id; empty: the first page).
    #[serde(default)]
    pub after: String,
    /// The `after`s of the pages before this one, comma-separated (previous links).
    #[serde(default)]
    pub back: String,
    /// Invoices per page, 1 to 50 (empty or out of range: 50).
    #[serde(default)]
    pub size: String,
}

/// `field`'s day (`YYYY-MM-DD`), none when empty; a message naming the field else.
fn day(field: &str, value: &str) -> Result<Option<NaiveDate>, String> {
    match value.trim() {
        "" => Ok(None),
        v => NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| format!("{field} {v:?}: expected a date as YYYY-MM-DD")),
    }
}

/// The query string of the list with `after` and `back`, the filters kept.
fn list_query(q: &InvoiceQuery, after: &str, back: &str) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("status", q.status.trim()),
        ("account", q.account.trim()),
        ("from", q.from.trim()),
        ("to", q.to.trim()),
        ("size", q.size.trim()),
        ("after", after),
        ("back", back),
    ] {
        if !v.is_empty() {
            s.append_pair(k, v);
        }
    }
    s.finish()
}

/// An invoice as the pages show it.
#[derive(Debug, Serialize)]
struct Row {
    id: String,
    number: String,
    account: String,
    status: &'static str,
    invoice_date: String,
    due_date: String,
    period: String,
    total: String,
    currency: String,
}

fn date(d: Option<NaiveDate>) -> String {
    d.map(|d| d.format("%-d %b %Y").to_string())
        .unwrap_or_else(|| "—".into())
}

/// `value` in `currency` as on the invoices (`$1,234.50`).
pub(super) fn money(value: Decimal, currency: &str) -> String {
    match billrun_core::Currency::parse(currency) {
        Ok(c) => billrun_render::money::format_money(value, c),
        Err(_) => format!("{value} {currency}"),
    }
}

impl From<&InvoiceView> for Row {
    fn from(i: &InvoiceView) -> Self {
        let start = [i.closing_start, i.opening_start]
            .into_iter()
            .flatten()
            .min();
        let end = [i.closing_end, i.opening_end]
            .into_iter()
            .flatten()
            .max()
            .and_then(|e| e.pred_opt());
        Row {
            id: i.id.clone(),
            number: i.number.clone().unwrap_or_else(|| "(draft)".into()),
            account: i.account_id.clone(),
            status: i.status.as_str(),
            invoice_date: date(i.invoice_date.or(Some(i.boundary))),
            due_date: date(i.due_date),
            period: format!("{} – {}", date(start), date(end)),
            total: money(i.total, &i.currency),
            currency: i.currency.clone(),
        }
    }
}

/// One line of the line tree, flattened with its depth.
#[derive(Debug, Serialize)]
struct Line {
    depth: usize,
    name: String,
    quantity: String,
    unit_price: String,
    amount: String,
}

fn flatten(node: &serde_json::Value, depth: usize, currency: &str, out: &mut Vec<Line>) {
    let Some(children) = node["children"].as_array() else {
        return;
    };
    for c in children {
        let amount = c["amount"]
            .as_str()
            .and_then(|a| a.parse::<Decimal>().ok())
            .map(|a| money(a, currency))
            .unwrap_or_default();
        out.push(Line {
            depth,
            name: c["displayName"].as_str().unwrap_or("").to_string(),
            quantity: c["quantity"]
                .as_str()
                .and_then(|q| q.parse::<Decimal>().ok())
                .map(billrun_render::money::format_quantity)
                .unwrap_or_default(),
            unit_price: c["unitPrice"]
                .as_str()
                .and_then(|u| u.parse::<Decimal>().ok())
                .and_then(|u| {
                    billrun_core::Currency::parse(currency)
                        .ok()
                        .map(|cur| billrun_render::money::Amount::unit_price(u, cur).display)
                })
                .unwrap_or_default(),
            amount,
        });
        flatten(c, depth + 1, currency, out);
    }
}

/// `GET /console/invoices`: the list with its filters.
#[utoipa::path(get, path = "/console/invoices", tag = "console", params(InvoiceQuery),
    responses((status = 200, description = "the invoices page", content_type = "text/html", body = String)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    Query(q): Query<InvoiceQuery>,
) -> Response {
    let org = &session.principal.org;
    let number = q.number.trim();
    if !number.is_empty() {
        return match invoices::show(&state.pool, org, number).await {
            Ok(Some(i)) => Redirect::to(&format!("/console/invoices/{}", i.id)).into_response(),
            Ok(None) => super::message(
                StatusCode::NOT_FOUND,
                Some(&session),
                "Not found",
                &format!("number: organisation {org} has no invoice {number}"),
            ),
            Err(e) => super::error_page(&session, e),
        };
    }
    let status = match q.status.trim() {
        "" => None,
        s => match InvoiceStatus::ALL.iter().copied().find(|x| x.as_str() == s) {
            Some(x) => Some(x),
            None => {
                return super::message(
                    StatusCode::BAD_REQUEST,
                    Some(&session),
                    "Please check the filters",
                    &format!("status {s:?}: expected DRAFT, DUE, PAID, VOID or MERGED"),
                )
            }
        },
    };
    let account = Some(q.account.trim().to_string()).filter(|a| !a.is_empty());
    let period = match (day("from", &q.from), day("to", &q.to)) {
        (Ok(f), Ok(t)) => match (f, t) {
            (None, None) => None,
            (f, t) => Some((f.unwrap_or(NaiveDate::MIN), t.unwrap_or(NaiveDate::MAX))),
        },
        (Err(e), _) | (_, Err(e)) => {
            return super::message(
                StatusCode::BAD_REQUEST,
                Some(&session),
                "Please check the filters",
                &e,
            )
        }
    };
    let after = Some(q.after.trim().to_string()).filter(|a| !a.is_empty());
    let size = q
        .size
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|n| (1..=LIST_LIMIT).contains(n))
        .unwrap_or(LIST_LIMIT);
    let filter = InvoiceFilter {
        org: org.clone(),
        account,
        status,
        limit: size,
        after: after.clone(),
        period,
    };
    let found = match invoices::list(&state.pool, &filter).await {
        Ok(p) => p,
        Err(e) => return super::error_page(&session, e),
    };
    let rows: Vec<Row> = found.rows.iter().map(Row::from).collect();
    let mut ctx = tera::Context::new();
    ctx.insert("invoices", &rows);
    ctx.insert("more", &found.next.is_some());
    // Next: after this page's last; its `back` is this page's `back` plus this
    // page's own `after` (empty for the first page). Previous: the last of `back`.
    let back: Vec<&str> = if q.back.is_empty() {
        Vec::new()
    } else {
        q.back.split(',').collect()
    };
    if let Some(next) = &found.next {
        let mut b = back.clone();
        b.push(after.as_deref().unwrap_or(""));
        ctx.insert(
            "next_href",
            &format!("/console/invoices?{}", list_query(&q, next, &b.join(","))),
        );
    }
    if after.is_some() {
        let (prev, rest) = back.split_last().map_or(("", &[][..]), |(p, r)| (*p, r));
        ctx.insert(
            "prev_href",
            &format!(
                "/console/invoices?{}",
                list_query(&q, prev, &rest.join(","))
            ),
        );
    }
    ctx.insert("page_size", &size);
    ctx.insert("from", q.from.trim());
    ctx.insert("to", q.to.trim());
    ctx.insert("status", q.status.trim());
    ctx.insert("account", q.account.trim());
    ctx.insert("statuses", &["DRAFT", "DUE", "PAID", "VOID", "MERGED"]);
    page(StatusCode::OK, "invoices.html", Some(&session), ctx)
}

async fn find(
    state: &AppState,
    session: &ConsoleSession,
    id: &str,
) -> Result<InvoiceView, Response> {
    let org = &session.principal.org;
    match invoices::show(&state.pool, org, id).await {
        Ok(Some(i)) => Ok(i),
        Ok(None) => Err(super::message(
            StatusCode::NOT_FOUND,
            Some(session),
            "Not found",
            &format!("organisation {org} has no invoice {id}"),
        )),
        Err(e) => Err(super::error_page(session, e)),
    }
}

/// `GET /console/invoices/{invoice_id}`: the invoice, its lines and its PDF.
#[utoipa::path(get, path = "/console/invoices/{invoice_id}", tag = "console",
    params(("invoice_id" = String, Path, description = "the invoice's id or number")),
    responses((status = 200, description = "the invoice's page; a 404 page", content_type = "text/html", body = String)))]
pub async fn show(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    Path(id): Path<String>,
    Query(q): Query<super::login::DoneQuery>,
) -> Response {
    let inv = match find(&state, &session, &id).await {
        Ok(i) => i,
        Err(page) => return page,
    };
    let has_pdf = match crate::bill_run::render::has_document(
        &state.pool,
        session.principal.org.as_ref(),
        &inv.id,
    )
    .await
    {
        Ok(b) => b,
        Err(e) => return super::error_page(&session, e),
    };
    let mut lines = Vec::new();
    flatten(&inv.lines["grandTotal"], 0, &inv.currency, &mut lines);
    let mut ctx = tera::Context::new();
    ctx.insert("invoice", &Row::from(&inv));
    ctx.insert("lines", &lines);
    ctx.insert("sub_total", &money(inv.sub_total, &inv.currency));
    ctx.insert("credits", &money(inv.credits, &inv.currency));
    ctx.insert("has_pdf", &has_pdf);
    // The actions the role may take and the status allows (README "Invoices").
    let write = super::can_write(&session, crate::identity::Resource::Invoices);
    let due = inv.status == InvoiceStatus::Due;
    let paid_free = inv.status == InvoiceStatus::Paid && inv.total.is_zero();
    ctx.insert("can_mark_paid", &(write && due));
    ctx.insert("can_void", &(write && (due || paid_free)));
    ctx.insert("can_resend", &(write && has_pdf));
    let notice = match q.done.as_deref() {
        Some("paid") => Some("The invoice was marked paid."),
        Some("voided") => Some("The invoice was voided."),
        Some("resent") => Some("The invoice was emailed again."),
        Some("rerendered") => Some("The invoice's documents were rendered again."),
        _ => None,
    };
    if let Some(n) = notice {
        ctx.insert("notice", n);
    }
    page(StatusCode::OK, "invoice.html", Some(&session), ctx)
}

/// `GET /console/invoices/{invoice_id}/pdf`: the stored PDF, inline; a 409 page
/// before it is rendered (a DRAFT).
#[utoipa::path(get, path = "/console/invoices/{invoice_id}/pdf", tag = "console",
    params(("invoice_id" = String, Path, description = "the invoice's id or number")),
    responses((status = 200, description = "the PDF; a 404 or 409 page", content_type = "application/pdf", body = Vec<u8>)))]
pub async fn pdf(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    Path(id): Path<String>,
) -> Response {
    let inv = match find(&state, &session, &id).await {
        Ok(i) => i,
        Err(page) => return page,
    };
    match crate::bill_run::render::document(&state.pool, &session.principal.org, &inv.id).await {
        Ok(Some((_, bytes))) => {
            let name = inv.number.as_deref().unwrap_or(&inv.id).replace('"', "");
            (
                [
                    (header::CONTENT_TYPE, "application/pdf".to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("inline; filename=\"{name}.pdf\""),
                    ),
                ],
                bytes,
            )
                .into_response()
        }
        Ok(None) => super::message(
            StatusCode::CONFLICT,
            Some(&session),
            "No document yet",
            &format!(
                "invoice {id} has no PDF yet: documents are rendered after finalization \
                 (status {})",
                inv.status
            ),
        ),
        Err(e) => super::error_page(&session, e),
    }
}
