//! `/billrun/credit_notes`: credit notes over HTTP, as `billrun credit-note create |
//! list | show` (README "Credit notes"). Togai 1.0.3 has no credit notes: these are
//! billrun's own routes; the shapes are camelCase like the rest, and the request is
//! Lago's (items with amounts before tax, a reason) spelled Togai-style.
//!
//! The invoice is named by id or number, in the caller's organisation only (another
//! organisation's answers 404). Creating one is audited (`credit_note.create`),
//! SUCCESS or FAILURE. Over-credit, an invoice that is not DUE or PAID and an
//! `idempotencyKey` reused with another request answer 409, a bad field 400; the
//! same key with the same request answers 200 with the note issued first. `POST
//! .../resend` emails a note again (`credit_note.resend`); a `.../pdf` whose document
//! cannot be made answers 409 naming why.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use billrun_core::credit_note::{Method, Reason};
use chrono::Utc;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorBody};
use super::extract::{Body, Params};
use super::{audited, AppState, Change};
use crate::credits::credit_notes::{self as notes, Credit, CreditNoteView, NewCreditNote};
use crate::identity::Principal;

/// One line to credit.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreditNoteLineRequest {
    /// The line: its number among the invoice's creditable lines ("1", "2"...) or its
    /// rate card's name.
    pub line: String,
    /// Net amount to credit (before tax), decimal string.
    #[schema(value_type = String)]
    pub amount: Decimal,
}

/// The body of `POST /billrun/credit_notes`: `lines` or `amount` (one of them).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateCreditNoteRequest {
    /// The invoice's id or number.
    pub invoice_id: String,
    /// Lines and the net amounts to credit of each.
    #[serde(default)]
    pub lines: Option<Vec<CreditNoteLineRequest>>,
    /// A net amount spread over the lines in proportion to what is left of each.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub amount: Option<Decimal>,
    /// DUPLICATED_CHARGE, PRODUCT_UNSATISFACTORY, ORDER_CHANGE, ORDER_CANCELLATION,
    /// FRAUDULENT_CHARGE or OTHER.
    pub reason: String,
    /// CREDIT (default) or REFUND: what the part above the balance due becomes.
    #[serde(default)]
    pub method: Option<String>,
    /// Free text shown on the note.
    #[serde(default)]
    pub description: Option<String>,
    /// Makes a retry safe (as `billrun credit-note create --idempotency-key`): the
    /// same key with the same request answers 200 with the note issued first; with
    /// another request, 409 naming what differs.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// A credit note (`CreditNoteView`: see `billrun credit-note show --json`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct CreditNoteBody(pub CreditNoteView);

/// Credit notes, oldest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreditNoteList {
    /// The notes.
    pub data: Vec<CreditNoteBody>,
}

/// The query of `GET /billrun/credit_notes`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct CreditNoteQuery {
    /// Only this invoice's (id or number).
    pub invoice_id: Option<String>,
    /// At most this many (1 to 1000, default 200).
    pub limit: Option<i64>,
}

fn request(req: CreateCreditNoteRequest) -> Result<NewCreditNote, ApiError> {
    let reason: Reason = req
        .reason
        .parse()
        .map_err(|e| ApiError::invalid(format!("reason: {e}")))?;
    let method = match req.method.as_deref() {
        None | Some("CREDIT") => Method::Credit,
        Some("REFUND") => Method::Refund,
        Some(m) => {
            return Err(ApiError::invalid(format!(
                "method: expected CREDIT or REFUND, got {m:?}"
            )))
        }
    };
    let credit = match (req.lines, req.amount) {
        (Some(lines), None) if !lines.is_empty() => {
            Credit::Lines(lines.into_iter().map(|l| (l.line, l.amount)).collect())
        }
        (None, Some(a)) => Credit::Amount(a),
        _ => {
            return Err(ApiError::invalid(
                "lines, amount: expected one of them: a non-empty lines array or an amount",
            ))
        }
    };
    Ok(NewCreditNote {
        invoice: req.invoice_id,
        credit,
        reason,
        method,
        description: req.description.unwrap_or_default(),
        idempotency_key: req.idempotency_key,
    })
}

/// Issues a credit note now (audited as `credit_note.create`, object: the invoice);
/// with an `idempotencyKey` seen before and the same request, answers 200 with the
/// note issued first.
#[utoipa::path(post, path = "/billrun/credit_notes", tag = "billrun",
    request_body = CreateCreditNoteRequest,
    responses(
        (status = 201, description = "issued", body = CreditNoteBody),
        (status = 200, description = "issued before under this idempotency key", body = CreditNoteBody),
        (status = 400, description = "a field is invalid or missing", body = ErrorBody),
        (status = 404, description = "no such invoice in the organisation", body = ErrorBody),
        (status = 409, description = "not DUE or PAID, more than is left to credit, or the idempotency key used with another request", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Body(req): Body<CreateCreditNoteRequest>,
) -> Result<(StatusCode, Json<CreditNoteBody>), ApiError> {
    let invoice = req.invoice_id.clone();
    let change = Change {
        action: "credit_note.create",
        object_type: "invoice",
        object_id: &invoice,
    };
    let now = Utc::now();
    let result = match request(req) {
        Ok(r) => notes::create(&state.pool, &who.org, &r, now)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    let details = match &result {
        Ok(i) => serde_json::json!({ "creditNote": i.note.number, "total": i.note.total,
                                     "replayed": i.replayed, "at": now }),
        Err(_) => serde_json::json!({ "at": now }),
    };
    let issued = audited(&state, &who, change, details, result).await?;
    let n = issued.note;
    // The document, now the note has committed; if this fails the first
    // `GET .../pdf` renders it (README "Credit notes").
    if let Err(e) =
        crate::bill_run::render::credit_note_document(&state.pool, &who.org, &n.id, now).await
    {
        tracing::warn!(credit_note = %n.number, "credit note document: {e}");
    }
    let status = if issued.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(CreditNoteBody(n))))
}

/// The organisation's credit notes (optionally one invoice's).
#[utoipa::path(get, path = "/billrun/credit_notes", tag = "billrun",
    params(CreditNoteQuery),
    responses(
        (status = 200, description = "the notes", body = CreditNoteList),
        (status = 400, description = "a parameter is invalid", body = ErrorBody),
        (status = 404, description = "no such invoice in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Params(q): Params<CreditNoteQuery>,
) -> Result<Json<CreditNoteList>, ApiError> {
    let limit = q.limit.unwrap_or(200);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "limit: expected 1 to 1000, got {limit}"
        )));
    }
    let rows = notes::list(&state.pool, &who.org, q.invoice_id.as_deref(), limit).await?;
    Ok(Json(CreditNoteList {
        data: rows.into_iter().map(CreditNoteBody).collect(),
    }))
}

/// One credit note, by id or number.
#[utoipa::path(get, path = "/billrun/credit_notes/{credit_note_id}", tag = "billrun",
    params(("credit_note_id" = String, Path, description = "the note's id or number")),
    responses(
        (status = 200, description = "the note", body = CreditNoteBody),
        (status = 404, description = "no such credit note in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<CreditNoteBody>, ApiError> {
    Ok(Json(CreditNoteBody(
        notes::show(&state.pool, &who.org, &id).await?,
    )))
}

/// A credit note's Factur-X PDF (type 381, BT-25 the invoice's number), as stored;
/// rendered and stored on first request if it was not after the note was issued.
#[utoipa::path(get, path = "/billrun/credit_notes/{credit_note_id}/pdf", tag = "billrun",
    params(("credit_note_id" = String, Path, description = "the note's id or number")),
    responses(
        (status = 200, description = "the PDF", content_type = "application/pdf", body = Vec<u8>),
        (status = 404, description = "no such credit note in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn pdf(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let d = crate::bill_run::render::credit_note_document(&state.pool, &who.org, &id, Utc::now())
        .await?;
    let name = d.note.number.replace('"', "");
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/pdf".to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{name}.pdf\""),
            ),
        ],
        d.pdf,
    )
        .into_response())
}

/// What a credit note's resend did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreditNoteResendResponse {
    /// The note's id.
    pub credit_note_id: String,
    /// Its number.
    pub number: String,
    /// Recipients queued again.
    pub recipients: u64,
    /// Recipients the email was sent to.
    pub sent: u64,
    /// Recipients it failed for.
    pub failed: u64,
    /// The failed ones: `{"recipient", "error"}`.
    #[schema(value_type = Vec<Object>)]
    pub failures: Vec<serde_json::Value>,
}

/// Emails a credit note again to every recipient and waits for the sending (audited
/// as `credit_note.resend`), as `billrun credit-note resend`. A recipient the mail
/// server refused is counted in `failed`, not an error. 409: no recipient; 503: the
/// `[mail]` configuration cannot send.
#[utoipa::path(post, path = "/billrun/credit_notes/{credit_note_id}/resend", tag = "billrun",
    params(("credit_note_id" = String, Path, description = "the note's id or number")),
    responses(
        (status = 200, description = "sent (see the counts)", body = CreditNoteResendResponse),
        (status = 403, description = "the role may not change invoices", body = ErrorBody),
        (status = 404, description = "no such credit note in the organisation", body = ErrorBody),
        (status = 409, description = "no recipient", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn resend(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<CreditNoteResendResponse>, ApiError> {
    let now = Utc::now();
    let sent =
        crate::app::credit_notes::resend(&state.pool, state.config.clone(), &who.org, &id, now)
            .await;
    let details = match &sent {
        Ok(r) => {
            serde_json::json!({ "recipients": r.recipients, "sent": r.sent, "failed": r.failed })
        }
        Err(_) => serde_json::Value::Null,
    };
    let change = Change {
        action: "credit_note.resend",
        object_type: "credit_note",
        object_id: &id,
    };
    let r = audited(&state, &who, change, details, sent).await?;
    Ok(Json(CreditNoteResendResponse {
        credit_note_id: r.credit_note.id.clone(),
        number: r.credit_note.number.clone(),
        recipients: r.recipients,
        sent: r.sent,
        failed: r.failed,
        failures: r
            .failures
            .iter()
            .map(|(to, e)| serde_json::json!({ "recipient": to, "error": e }))
            .collect(),
    }))
}
