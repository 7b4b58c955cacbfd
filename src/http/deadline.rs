//! How long a request may take, and why it is never cut in half.
//!
//! Every routed request runs as a task of its own ([`tokio::spawn`]), so that neither
//! the deadline nor a client that hangs up cancels a handler half-way: a change it
//! started is finished and its audit row written, whatever happened to the connection.
//! The answer is bounded by `[http] request_timeout_secs` (default 30), and by
//! `[http] long_request_timeout_secs` (default 300) for the routes that wait for work
//! ([`WAITS_FOR_WORK`]: a job or the mail server, or a streamed upload). Past it the
//! caller gets 408 in Togai's error shape saying so; the request goes on to its end,
//! and what it changed is in the audit log (README "HTTP API").

use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::error::ApiError;
use super::AppState;

/// The routes that wait for work to be done before answering (method, path as in the
/// route table): they get `long_request_timeout_secs`.
pub const WAITS_FOR_WORK: &[(Method, &str)] = &[
    // The credit-grant job.
    (Method::POST, "/credits"),
    // Marking paid or voiding (the void job: credits given back, the cycle reissued).
    (Method::PATCH, "/invoices/{invoice_id}"),
    // The mail server, for every recipient.
    (Method::POST, "/billrun/invoices/{invoice_id}/resend"),
    // The render job.
    (Method::POST, "/billrun/invoices/{invoice_id}/rerender"),
    // The CSV file, streamed to disk.
    (Method::POST, "/billrun/imports"),
    // The console's void (the void job) and resend (the mail server).
    (Method::POST, "/console/invoices/{invoice_id}/void"),
    (Method::POST, "/console/invoices/{invoice_id}/resend"),
    // A credit note's resend (the mail server, for every recipient).
    (
        Method::POST,
        "/billrun/credit_notes/{credit_note_id}/resend",
    ),
];

/// The deadline of a request to the route `path` with `method`, in seconds.
pub fn deadline_secs(http: &crate::config::HttpConfig, method: &Method, path: &str) -> u64 {
    if WAITS_FOR_WORK
        .iter()
        .any(|(m, p)| m == method && *p == path)
    {
        http.long_request_timeout_secs
    } else {
        http.request_timeout_secs
    }
}

/// The middleware around every route (outside authentication): runs the rest of the
/// request as its own task and answers 408 when it outlives its deadline.
pub async fn run_to_the_end(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    req: Request,
    next: Next,
) -> Response {
    let path = matched.as_ref().map(|m| m.as_str()).unwrap_or("");
    let secs = deadline_secs(&state.config.http, req.method(), path);
    let task = tokio::spawn(next.run(req).in_current_span());
    match tokio::time::timeout(Duration::from_secs(secs), task).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "the request's task panicked");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
        Err(_) => {
            tracing::warn!(
                secs,
                "the request outlived its deadline; it goes on to its end"
            );
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "no answer within {secs} s ([http] request_timeout_secs, or \
                     long_request_timeout_secs for the routes that wait for work); the request \
                     goes on to its end: what it changes is in the audit log (GET /audit_log)"
                ),
            )
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_routes_that_wait_for_work_are_in_the_route_table_and_get_the_long_deadline() {
        let http = crate::config::HttpConfig {
            request_timeout_secs: 7,
            long_request_timeout_secs: 99,
            ..Default::default()
        };
        for (method, path) in WAITS_FOR_WORK {
            assert!(
                super::super::routes::find(method, path).is_some(),
                "{method} {path} is not a route"
            );
            assert_eq!(deadline_secs(&http, method, path), 99);
        }
        assert_eq!(
            deadline_secs(&http, &Method::GET, "/invoices/{invoice_id}"),
            7
        );
        assert_eq!(deadline_secs(&http, &Method::POST, "/customers"), 7);
    }
}
