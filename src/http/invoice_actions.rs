//! What is done to one invoice over the API: Togai's `PATCH /invoices/{invoice_id}`
//! (`UpdateInvoiceRequest` with `status` `PAID` or `VOID`: `billrun invoice mark-paid`
//! and `billrun invoice void`), and billrun's own routes (README "HTTP API",
//! "billrun's own routes"): the stored documents (`GET
//! /billrun/invoices/{invoice_id}/pdf|html`, as `billrun invoice show --pdf|--html`),
//! `resend` and `rerender` (`billrun invoice resend|rerender`).
//!
//! The invoice is named by id or number, in the caller's organisation only (another
//! organisation's invoice answers 404). A status that refuses the action answers 409
//! (marking a VOID invoice paid, voiding a DRAFT or an invoice already VOID, resending
//! an invoice without documents). Every change is audited (`invoice.mark_paid`,
//! `invoice.void`, `invoice.resend`, `invoice.rerender`), SUCCESS or FAILURE.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorBody};
use super::extract::Body;
use super::invoices::{summary, InvoiceSummary};
use super::{audited, AppState, Change};
use crate::app::invoices as ops;
use crate::bill_run::invoices::{self, InvoiceView};
use crate::identity::Principal;

/// Togai's `UpdateInvoiceRequest`. billrun applies `status` only: `PAID` (a DUE
/// invoice's payment is recorded) or `VOID` (a DUE invoice, or a PAID one with a total
/// of 0, is voided: README "Invoices", "What a void does"). The other fields, and the
/// statuses `DUE`, `UN_COLLECTIBLE` and `REFUND_INITIATED`, answer 400.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateInvoiceRequest {
    /// Not supported (400).
    #[schema(value_type = Option<String>)]
    pub start_date: Option<serde_json::Value>,
    /// Not supported (400).
    #[schema(value_type = Option<String>)]
    pub end_date: Option<serde_json::Value>,
    /// `PAID` or `VOID`.
    pub status: Option<String>,
    /// Not supported (400).
    #[schema(value_type = Option<Vec<Object>>)]
    pub line_items: Option<serde_json::Value>,
    /// Not supported (400).
    pub auto_advance: Option<bool>,
}

/// The invoice `id` (id or number) of the caller's organisation, or 404.
async fn find(state: &AppState, who: &Principal, id: &str) -> Result<InvoiceView, ApiError> {
    invoices::show(&state.pool, &who.org, id)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("organisation {} has no invoice {id}", who.org),
            )
        })
}

/// Changes an invoice's status (audited as `invoice.mark_paid` or `invoice.void`).
/// `PAID`: a DUE invoice is marked paid now (409 for any other status). `VOID`: the
/// invoice is voided now, its credit movements undone and its documents rendered
/// again reading VOID before the answer (409 for a DRAFT, a PAID invoice with a total
/// above 0, or an invoice already VOID). Answers the invoice as `GET
/// /invoices/{invoice_id}` does.
#[utoipa::path(patch, path = "/invoices/{invoice_id}", tag = "invoices",
    params(("invoice_id" = String, Path, description = "the invoice's id or number")),
    request_body = UpdateInvoiceRequest,
    responses(
        (status = 200, description = "the invoice, changed", body = InvoiceSummary),
        (status = 400, description = "a field or status billrun does not apply", body = ErrorBody),
        (status = 403, description = "the role may not change invoices", body = ErrorBody),
        (status = 404, description = "no such invoice in the organisation", body = ErrorBody),
        (status = 409, description = "its status refuses the change", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Body(req): Body<UpdateInvoiceRequest>,
) -> Result<Json<InvoiceSummary>, ApiError> {
    for (name, given) in [
        ("startDate", req.start_date.is_some()),
        ("endDate", req.end_date.is_some()),
        ("lineItems", req.line_items.is_some()),
        ("autoAdvance", req.auto_advance.is_some()),
    ] {
        if given {
            return Err(ApiError::invalid(format!(
                "{name}: not supported: billrun changes an invoice's status only (PAID or VOID)"
            )));
        }
    }
    let now = Utc::now();
    match req.status.as_deref() {
        Some("PAID") => {
            let paid = invoices::mark_paid(&state.pool, &who.org, &id, now).await;
            let inv = audited(
                &state,
                &who,
                change("invoice.mark_paid", &id),
                serde_json::json!({ "at": now }),
                paid,
            )
            .await?;
            Ok(Json(summary(&inv)))
        }
        Some("VOID") => {
            let voided = ops::void(&state.pool, state.config.clone(), &who.org, &id, now)
                .await
                .map_err(ApiError::from)
                .and_then(|v| {
                    if v.changed {
                        Ok(v)
                    } else {
                        Err(ApiError::new(
                            StatusCode::CONFLICT,
                            format!(
                                "invoice {id} is VOID already (since {}): nothing done",
                                v.invoice
                                    .voided_at
                                    .map(|t| t.to_rfc3339())
                                    .unwrap_or_default()
                            ),
                        ))
                    }
                });
            let v = audited(
                &state,
                &who,
                change("invoice.void", &id),
                serde_json::json!({ "at": now }),
                voided,
            )
            .await?;
            Ok(Json(summary(&v.invoice)))
        }
        Some(other) => Err(ApiError::invalid(format!(
            "status {other:?}: billrun applies PAID or VOID"
        ))),
        None => Err(ApiError::invalid(
            "status: required (PAID or VOID): billrun changes an invoice's status only",
        )),
    }
}

fn change<'a>(action: &'a str, id: &'a str) -> Change<'a> {
    Change {
        action,
        object_type: "invoice",
        object_id: id,
    }
}

/// An invoice's stored document (`pdf`: the PDF, else the HTML), or 409 when it has
/// none yet (documents are rendered after finalization).
async fn document(
    state: &AppState,
    who: &Principal,
    id: &str,
    pdf: bool,
) -> Result<Response, ApiError> {
    let inv = find(state, who, id).await?;
    let Some((html, bytes)) =
        crate::bill_run::render::document(&state.pool, &who.org, &inv.id).await?
    else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "invoice {id} has no document yet: documents are rendered after finalization \
                 (status {})",
                inv.status
            ),
        ));
    };
    let name = inv.number.as_deref().unwrap_or(&inv.id).replace('"', "");
    let (kind, ext, body) = if pdf {
        ("application/pdf", "pdf", bytes)
    } else {
        ("text/html; charset=utf-8", "html", html.into_bytes())
    };
    Ok((
        [
            (header::CONTENT_TYPE, kind.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{name}.{ext}\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// An invoice's PDF, as stored when it was last rendered (`application/pdf`).
#[utoipa::path(get, path = "/billrun/invoices/{invoice_id}/pdf", tag = "billrun",
    params(("invoice_id" = String, Path, description = "the invoice's id or number")),
    responses(
        (status = 200, description = "the PDF", content_type = "application/pdf", body = Vec<u8>),
        (status = 404, description = "no such invoice in the organisation", body = ErrorBody),
        (status = 409, description = "no document yet (a DRAFT)", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn pdf(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    document(&state, &who, &id, true).await
}

/// An invoice's HTML, as stored when it was last rendered (`text/html`).
#[utoipa::path(get, path = "/billrun/invoices/{invoice_id}/html", tag = "billrun",
    params(("invoice_id" = String, Path, description = "the invoice's id or number")),
    responses(
        (status = 200, description = "the HTML", content_type = "text/html", body = String),
        (status = 404, description = "no such invoice in the organisation", body = ErrorBody),
        (status = 409, description = "no document yet (a DRAFT)", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn html(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    document(&state, &who, &id, false).await
}

/// What a resend did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResendResponse {
    /// The invoice's id.
    pub invoice_id: String,
    /// Its number.
    pub number: Option<String>,
    /// Recipients queued again.
    pub recipients: u64,
    /// Recipients the email was sent to.
    pub sent: u64,
    /// Recipients it failed for (their deliveries are FAILED, with the error:
    /// `billrun deliveries list --status FAILED`).
    pub failed: u64,
}

/// Emails a finalized invoice again to every recipient and waits for the sending
/// (audited as `invoice.resend`). A recipient the mail server refused is counted in
/// `failed`, not an error. 409: no document yet, or no recipient; 503: the `[mail]`
/// configuration cannot send.
#[utoipa::path(post, path = "/billrun/invoices/{invoice_id}/resend", tag = "billrun",
    params(("invoice_id" = String, Path, description = "the invoice's id or number")),
    responses(
        (status = 200, description = "sent (see the counts)", body = ResendResponse),
        (status = 403, description = "the role may not change invoices", body = ErrorBody),
        (status = 404, description = "no such invoice in the organisation", body = ErrorBody),
        (status = 409, description = "no document yet, or no recipient", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn resend(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<ResendResponse>, ApiError> {
    let now = Utc::now();
    let sent = ops::resend(&state.pool, state.config.clone(), &who.org, &id, now).await;
    let details = match &sent {
        Ok(r) => {
            serde_json::json!({ "recipients": r.recipients, "sent": r.sent, "failed": r.failed })
        }
        Err(_) => serde_json::Value::Null,
    };
    let r = audited(&state, &who, change("invoice.resend", &id), details, sent).await?;
    Ok(Json(ResendResponse {
        invoice_id: r.invoice.id.clone(),
        number: r.invoice.number.clone(),
        recipients: r.recipients,
        sent: r.sent,
        failed: r.failed,
    }))
}

/// What a re-render did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RerenderResponse {
    /// The invoice's id.
    pub invoice_id: String,
    /// Its number.
    pub number: Option<String>,
    /// When it was rendered again (UTC).
    pub rendered_at: DateTime<Utc>,
}

/// Renders a finalized invoice's documents again, with the template version, billing
/// details and logo recorded when it was first rendered, and waits (audited as
/// `invoice.rerender`). 409: a DRAFT.
#[utoipa::path(post, path = "/billrun/invoices/{invoice_id}/rerender", tag = "billrun",
    params(("invoice_id" = String, Path, description = "the invoice's id or number")),
    responses(
        (status = 200, description = "rendered again", body = RerenderResponse),
        (status = 403, description = "the role may not change invoices", body = ErrorBody),
        (status = 404, description = "no such invoice in the organisation", body = ErrorBody),
        (status = 409, description = "a DRAFT: rendered once finalized", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn rerender(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<RerenderResponse>, ApiError> {
    let now = Utc::now();
    let done = ops::rerender(&state.pool, state.config.clone(), &who.org, &id, now).await;
    let inv = audited(
        &state,
        &who,
        change("invoice.rerender", &id),
        serde_json::json!({ "at": now }),
        done,
    )
    .await?;
    Ok(Json(RerenderResponse {
        invoice_id: inv.id,
        number: inv.number,
        rendered_at: now,
    }))
}
