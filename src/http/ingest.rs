//! `/ingest` and `/ingestBatch`: usage events in Togai's shapes (`IngestEventRequest`,
//! `IngestBatchEventRequest`, `Event`, `IngestEventResponse`), through the same
//! function as `billrun usage ingest` ([`usage::ingest_json_values`], the JSON-lines
//! ingest without the lines): the same validation and messages, routing by account id
//! or alias in the caller's organisation (another organisation's account is unknown),
//! idempotency by event id (a retried request counts nothing twice), and late usage
//! (dated in a cycle already finalized: kept, flagged late, never changing that
//! invoice; README "Billing model").
//!
//! Answers (Togai's `IngestEventResponse`, `details` being billrun's counts and the
//! refused events, [`IngestDetails`]):
//! - `/ingestBatch` (1 to [`MAX_BATCH_EVENTS`] events): **202** when every event was
//!   ingested or was already recorded with the same values, **207** when any event
//!   was refused (even all of them), each refused event in `details.failures` with
//!   its index in `events`, its id, Togai's `IngestionStatus` code and the reason.
//!   The good events of a 207 are kept.
//! - `/ingest` (one event): **202** when ingested or already recorded with the same
//!   values; **400** naming the field when refused (as the batch's reason); **409**
//!   when its id is recorded with other values.
//!
//! One audit row per request, not per event (`usage.ingest`, `usage.ingest_batch`,
//! object type `usage_events`, object id the request's `x-request-id`), with the
//! counts; FAILURE when no event was accepted.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{ApiError, ErrorBody};
use super::extract::Body;
use super::{audited, AppState, Change};
use crate::catalog::usage::{self, LinesReport};
use crate::identity::Principal;

/// The most events of one `/ingestBatch` request (Togai's `IngestBatchEventRequest`:
/// `maxItems` 1000). A request of 1,000 events of the size Togai documents fits in the
/// default `[http] body_limit_bytes` (README "HTTP API").
pub const MAX_BATCH_EVENTS: usize = 1000;

/// The most characters of an event failure's `statusDescription` (Togai's
/// `IngestionStatus`).
const MAX_STATUS_DESCRIPTION_CHARS: usize = 250;

/// Togai's `IngestEventRequest`: one event.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestEventRequest {
    /// Togai's `Event`: `id`, `schemaName`, `timestamp` (RFC 3339 with an offset),
    /// `accountId` (an account id or an alias) or `alias`, `attributes` (`name`,
    /// `value` as a decimal string or number, `unit`, ignored), `dimensions` (an object
    /// of strings). Checked field by field as `billrun usage ingest` checks a line.
    #[schema(value_type = Object)]
    pub event: Value,
}

/// Togai's `IngestBatchEventRequest`: 1 to [`MAX_BATCH_EVENTS`] events.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestBatchEventRequest {
    /// The events, each as in [`IngestEventRequest::event`].
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Value>,
}

/// Togai's `IngestEventResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngestEventResponse {
    /// Whether every event was accepted (ingested, or already recorded as sent).
    pub success: bool,
    /// The HTTP status answered (202 or 207).
    pub status_code: u16,
    /// `INGESTION_ACCEPTED` (202) or `INGESTION_PARTIALLY_ACCEPTED` (207).
    pub name: &'static str,
    /// The counts in words (at most 500 characters).
    pub message: String,
    /// The counts and the refused events.
    pub details: IngestDetails,
}

/// What a request did: counts of events, and each refused one.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngestDetails {
    /// Events in the request.
    pub received: u64,
    /// Events stored by this request.
    pub ingested: u64,
    /// Events whose id was already recorded with the same values: accepted, not
    /// stored again (a retried request).
    pub duplicates: u64,
    /// Of the events stored, those dated in a cycle whose invoice is already
    /// finalized: kept and flagged late (`billrun usage late`), never billed on it.
    pub late: u64,
    /// Events refused: `failures` lists them.
    pub failed: u64,
    /// Each refused event, in request order.
    pub failures: Vec<EventFailure>,
}

/// A refused event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventFailure {
    /// Its 0-based position in the request's `events`.
    pub index: u64,
    /// Its `id`, when it has one that is a string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Togai's `IngestionStatus.status`: `INGESTION_FAILED_NO_EVENT_ID`,
    /// `INGESTION_FAILED_SCHEMA_NOT_DEFINED`, `INGESTION_FAILED_ACCOUNT_NOT_FOUND`,
    /// `INGESTION_FAILED_DUPLICATE_EVENT` (its id is recorded with other values) or
    /// `INGESTION_FAILED` (any other field).
    pub status: &'static str,
    /// Why, naming the field as `billrun usage ingest` does (at most 250 characters).
    pub status_description: String,
}

/// Togai's `IngestionStatus` code of a refusal, from the reason
/// [`usage::ingest_json_values`] gives (its field comes first).
fn failure_status(reason: &str) -> &'static str {
    if reason.starts_with("missing field \"id\"") || reason.starts_with("id: must not be empty") {
        "INGESTION_FAILED_NO_EVENT_ID"
    } else if reason.starts_with("schemaName: unknown event schema") {
        "INGESTION_FAILED_SCHEMA_NOT_DEFINED"
    } else if reason.starts_with("accountId: unknown")
        || reason.starts_with("alias: unknown")
        || reason.contains("routes to no account")
    {
        "INGESTION_FAILED_ACCOUNT_NOT_FOUND"
    } else {
        "INGESTION_FAILED"
    }
}

fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// The details of `report` for `events`: its counts, and each refused or
/// conflicting event by position.
fn details(events: &[Value], report: &LinesReport) -> IngestDetails {
    let id_at = |line: u64| {
        events
            .get(line as usize - 1)
            .and_then(|e| e.get("id"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let mut failures: Vec<EventFailure> = report
        .rejected_lines
        .iter()
        .map(|r| EventFailure {
            index: r.line - 1,
            id: id_at(r.line),
            status: failure_status(&r.reason),
            status_description: cut(&r.reason, MAX_STATUS_DESCRIPTION_CHARS),
        })
        .chain(report.conflict_lines.iter().map(|c| EventFailure {
            index: c.line - 1,
            id: Some(c.id.clone()),
            status: "INGESTION_FAILED_DUPLICATE_EVENT",
            status_description: cut(&c.reason, MAX_STATUS_DESCRIPTION_CHARS),
        }))
        .collect();
    failures.sort_by_key(|f| f.index);
    IngestDetails {
        received: events.len() as u64,
        ingested: report.ingest.inserted,
        duplicates: report.ingest.duplicates,
        late: report.ingest.late,
        failed: failures.len() as u64,
        failures,
    }
}

/// The counts in words.
fn counts(d: &IngestDetails) -> String {
    format!(
        "{} events: {} ingested, {} already recorded, {} refused, {} late",
        d.received, d.ingested, d.duplicates, d.failed, d.late
    )
}

/// The audit row's details: the counts, without the failures.
fn audit_details(d: &IngestDetails) -> Value {
    serde_json::json!({
        "received": d.received,
        "ingested": d.ingested,
        "duplicates": d.duplicates,
        "failed": d.failed,
        "late": d.late,
    })
}

fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string()
}

/// Ingests `events` for the caller and writes the request's audit row: the details,
/// or the error that stopped the request (the database).
async fn ingest_audited(
    state: &AppState,
    who: &Principal,
    action: &str,
    request_id: &str,
    events: &[Value],
) -> Result<IngestDetails, ApiError> {
    let change = || Change {
        action,
        object_type: "usage_events",
        object_id: request_id,
    };
    let report = match usage::ingest_json_values(&state.pool, &who.org, events).await {
        Ok(r) => r,
        Err(e) => {
            let e = ApiError::from(e);
            let failed: Result<(), ApiError> = Err(e.clone());
            let _ = audited(state, who, change(), Value::Null, failed).await;
            return Err(e);
        }
    };
    let d = details(events, &report);
    let accepted = d.ingested + d.duplicates;
    let outcome: Result<(), String> = if accepted == 0 && d.failed > 0 {
        Err(format!(
            "{}; first refusal (event {}): {}",
            counts(&d),
            d.failures[0].index,
            d.failures[0].status_description
        ))
    } else {
        Ok(())
    };
    let _ = audited(state, who, change(), audit_details(&d), outcome).await;
    Ok(d)
}

/// Ingests one usage event (Togai's `/ingest`), as one line of `billrun usage ingest`.
#[utoipa::path(post, path = "/ingest", tag = "usage",
    request_body = IngestEventRequest,
    responses(
        (status = 202, description = "ingested, or already recorded with the same values", body = IngestEventResponse),
        (status = 400, description = "the event is refused: the message names the field", body = ErrorBody),
        (status = 401, description = "no valid credential", body = ErrorBody),
        (status = 403, description = "the role may not write usage events", body = ErrorBody),
        (status = 409, description = "its id is recorded with other values", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn ingest(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    Body(req): Body<IngestEventRequest>,
) -> Result<(StatusCode, Json<IngestEventResponse>), ApiError> {
    let events = [req.event];
    let d = ingest_audited(&state, &who, "usage.ingest", &request_id(&headers), &events).await?;
    if let Some(f) = d.failures.first() {
        let status = if f.status == "INGESTION_FAILED_DUPLICATE_EVENT" {
            StatusCode::CONFLICT
        } else {
            StatusCode::BAD_REQUEST
        };
        return Err(ApiError::new(
            status,
            format!("event: {}", f.status_description),
        ));
    }
    Ok((StatusCode::ACCEPTED, Json(answer(d))))
}

/// Ingests a batch of usage events (Togai's `/ingestBatch`): the good ones are kept,
/// each refused one is reported (207).
#[utoipa::path(post, path = "/ingestBatch", tag = "usage",
    request_body = IngestBatchEventRequest,
    responses(
        (status = 202, description = "every event ingested or already recorded", body = IngestEventResponse),
        (status = 207, description = "some events refused, listed in details.failures; the others kept", body = IngestEventResponse),
        (status = 400, description = "no events, more than 1,000, or a malformed body", body = ErrorBody),
        (status = 401, description = "no valid credential", body = ErrorBody),
        (status = 403, description = "the role may not write usage events", body = ErrorBody),
        (status = 413, description = "the body is over [http] body_limit_bytes", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn ingest_batch(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    Body(req): Body<IngestBatchEventRequest>,
) -> Result<(StatusCode, Json<IngestEventResponse>), ApiError> {
    let n = req.events.len();
    if n == 0 || n > MAX_BATCH_EVENTS {
        let e = ApiError::invalid(format!(
            "events: {n} events; expected 1 to {MAX_BATCH_EVENTS}"
        ));
        let change = Change {
            action: "usage.ingest_batch",
            object_type: "usage_events",
            object_id: &request_id(&headers),
        };
        return audited(&state, &who, change, Value::Null, Err(e)).await;
    }
    let d = ingest_audited(
        &state,
        &who,
        "usage.ingest_batch",
        &request_id(&headers),
        &req.events,
    )
    .await?;
    let body = answer(d);
    Ok((
        StatusCode::from_u16(body.status_code).unwrap_or(StatusCode::ACCEPTED),
        Json(body),
    ))
}

/// The answer of `d`: 202 when nothing was refused, else 207.
fn answer(d: IngestDetails) -> IngestEventResponse {
    let partial = d.failed > 0;
    IngestEventResponse {
        success: !partial,
        status_code: if partial { 207 } else { 202 },
        name: if partial {
            "INGESTION_PARTIALLY_ACCEPTED"
        } else {
            "INGESTION_ACCEPTED"
        },
        message: cut(&counts(&d), super::error::MAX_MESSAGE_CHARS),
        details: d,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_togais_ingestion_statuses() {
        assert_eq!(
            failure_status("missing field \"id\""),
            "INGESTION_FAILED_NO_EVENT_ID"
        );
        assert_eq!(
            failure_status("schemaName: unknown event schema \"web\" (schemas: api)"),
            "INGESTION_FAILED_SCHEMA_NOT_DEFINED"
        );
        assert_eq!(
            failure_status("accountId: unknown account or alias \"x\""),
            "INGESTION_FAILED_ACCOUNT_NOT_FOUND"
        );
        assert_eq!(
            failure_status("alias: alias \"x\" routes to no account at 2026-01-01T00:00:00+00:00"),
            "INGESTION_FAILED_ACCOUNT_NOT_FOUND"
        );
        assert_eq!(
            failure_status("timestamp: expected a UTC offset"),
            "INGESTION_FAILED"
        );
    }
}
