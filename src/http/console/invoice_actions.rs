//! The console's invoice actions, each asked first on a confirmation page (`GET`)
//! and done by its form (`POST`), as the API's and with the same audit rows:
//!
//! - **Mark paid** (`.../mark_paid`): a DUE invoice's payment recorded
//!   ([`crate::bill_run::invoices::mark_paid`], `invoice.mark_paid`), as `PATCH
//!   /invoices/{invoice_id}` `{"status": "PAID"}`.
//! - **Void** (`.../void`): [`crate::app::invoices::void`] (`invoice.void`; credits
//!   given back, the documents re-rendered VOID before the answer), as `PATCH ...`
//!   `{"status": "VOID"}` (README "Invoices", "What a void does").
//! - **Resend** (`.../resend`): the invoice emailed again to every recipient,
//!   [`crate::app::invoices::resend`] (`invoice.resend`), as `POST
//!   /billrun/invoices/{invoice_id}/resend`.
//!
//! A refusal (a DRAFT, VOID already, no document, no recipient) answers its page with
//! the API's status and message; the POSTs wait for their job as the API's do
//! (`[http] long_request_timeout_secs`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use chrono::Utc;

use super::{page, ConsoleSession};
use crate::app::invoices as ops;
use crate::bill_run::invoices;
use crate::http::{audited, AppState, Change};

/// One of the three actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Record the payment.
    MarkPaid,
    /// Void the invoice.
    Void,
    /// Email it again.
    Resend,
}

impl Action {
    fn slug(self) -> &'static str {
        match self {
            Action::MarkPaid => "mark_paid",
            Action::Void => "void",
            Action::Resend => "resend",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Action::MarkPaid => "Mark the invoice paid",
            Action::Void => "Void the invoice",
            Action::Resend => "Email the invoice again",
        }
    }

    fn question(self, name: &str, total: &str) -> String {
        match self {
            Action::MarkPaid => format!(
                "Record that {name} ({total}) was paid in full today? Its status becomes PAID."
            ),
            Action::Void => format!(
                "Void {name} ({total})? It is no longer owed, the credits it used are given \
                 back and its documents are rendered again marked VOID. This cannot be undone."
            ),
            Action::Resend => format!(
                "Email {name} ({total}) again to every recipient of its account? This waits \
                 for the mail server."
            ),
        }
    }

    fn done(self) -> &'static str {
        match self {
            Action::MarkPaid => "paid",
            Action::Void => "voided",
            Action::Resend => "resent",
        }
    }
}

/// The confirmation page of `action` on the invoice `id`.
pub async fn confirm(
    state: &AppState,
    session: &ConsoleSession,
    id: &str,
    action: Action,
) -> Response {
    let org = &session.principal.org;
    let inv = match invoices::show(&state.pool, org, id).await {
        Ok(Some(i)) => i,
        Ok(None) => {
            return super::message(
                StatusCode::NOT_FOUND,
                Some(session),
                "Not found",
                &format!("organisation {org} has no invoice {id}"),
            )
        }
        Err(e) => return super::error_page(session, e),
    };
    let name = inv.number.clone().unwrap_or_else(|| inv.id.clone());
    let total = super::invoices::money(inv.total, &inv.currency);
    let mut ctx = tera::Context::new();
    ctx.insert("title", action.title());
    ctx.insert("question", &action.question(&name, &total));
    ctx.insert(
        "action",
        &format!("/console/invoices/{}/{}", inv.id, action.slug()),
    );
    ctx.insert("button", action.title());
    ctx.insert("cancel", &format!("/console/invoices/{}", inv.id));
    page(StatusCode::OK, "confirm.html", Some(session), ctx)
}

/// Does `action` on the invoice `id`, audited as the API's; the invoice's page after.
pub async fn act(state: &AppState, session: &ConsoleSession, id: &str, action: Action) -> Response {
    let who = &session.principal;
    let now = Utc::now();
    let change = Change {
        action: match action {
            Action::MarkPaid => "invoice.mark_paid",
            Action::Void => "invoice.void",
            Action::Resend => "invoice.resend",
        },
        object_type: "invoice",
        object_id: id,
    };
    let at = serde_json::json!({ "at": now });
    let done: Result<String, Response> = match action {
        Action::MarkPaid => {
            let paid = invoices::mark_paid(&state.pool, &who.org, id, now).await;
            audited(state, who, change, at, paid)
                .await
                .map(|i| i.id)
                .map_err(|e| super::error_page(session, e))
        }
        Action::Void => {
            let voided = ops::void(&state.pool, state.config.clone(), &who.org, id, now).await;
            match audited(state, who, change, at, voided).await {
                Ok(v) if v.changed => Ok(v.invoice.id),
                Ok(v) => Err(super::message(
                    StatusCode::CONFLICT,
                    Some(session),
                    "Not possible now",
                    &format!(
                        "invoice {id} is VOID already: nothing done ({})",
                        v.invoice.id
                    ),
                )),
                Err(e) => Err(super::error_page(session, e)),
            }
        }
        Action::Resend => {
            let sent = ops::resend(&state.pool, state.config.clone(), &who.org, id, now).await;
            let details = match &sent {
                Ok(r) => serde_json::json!({ "recipients": r.recipients, "sent": r.sent,
                                             "failed": r.failed }),
                Err(_) => serde_json::Value::Null,
            };
            audited(state, who, change, details, sent)
                .await
                .map(|r| r.invoice.id)
                .map_err(|e| super::error_page(session, e))
        }
    };
    match done {
        Ok(invoice) => Redirect::to(&format!(
            "/console/invoices/{invoice}?done={}",
            action.done()
        ))
        .into_response(),
        Err(page) => page,
    }
}

macro_rules! handlers {
    ($confirm:ident, $act:ident, $action:expr, $path:literal) => {
        #[doc = concat!("`GET ", $path, "`: the confirmation page.")]
        #[utoipa::path(get, path = $path, tag = "console",
            params(("invoice_id" = String, Path, description = "the invoice's id or number")),
            responses((status = 200, description = "the confirmation page; a 404 page", content_type = "text/html", body = String)))]
        pub async fn $confirm(
            State(state): State<AppState>,
            Extension(session): Extension<ConsoleSession>,
            Path(id): Path<String>,
        ) -> Response {
            confirm(&state, &session, &id, $action).await
        }

        #[doc = concat!("`POST ", $path, "`: does it; the invoice's page after.")]
        #[utoipa::path(post, path = $path, tag = "console",
            params(("invoice_id" = String, Path, description = "the invoice's id or number")),
            responses((status = 200, description = "a redirect to the invoice; a 404 or 409 page", content_type = "text/html", body = String)))]
        pub async fn $act(
            State(state): State<AppState>,
            Extension(session): Extension<ConsoleSession>,
            Path(id): Path<String>,
        ) -> Response {
            act(&state, &session, &id, $action).await
        }
    };
}

handlers!(
    confirm_mark_paid,
    mark_paid,
    Action::MarkPaid,
    "/console/invoices/{invoice_id}/mark_paid"
);
handlers!(
    confirm_void,
    void,
    Action::Void,
    "/console/invoices/{invoice_id}/void"
);
handlers!(
    confirm_resend,
    resend,
    Action::Resend,
    "/console/invoices/{invoice_id}/resend"
);
