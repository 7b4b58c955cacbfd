//! The console's "Jobs" pages (issue 15, README "Console"): the organisation's jobs
//! by state (running, scheduled, pending, retrying, dead, and the last done), the
//! schedule's next fire times, one job with its live progress, retry and cancel after
//! a confirmation page, and the one-off jobs started from a form: a bill run as of a
//! date, a re-render, a resend.
//!
//! Over the application functions of the API: [`crate::app::org_jobs`] (as
//! `/billrun/jobs`: another organisation's job answers 404),
//! [`crate::app::togai_jobs::bill_run`] (as `POST /invoices/bill_runs`, audited
//! `bill_run.create`), [`crate::app::invoices::rerender`] (as `POST
//! /billrun/invoices/{invoice_id}/rerender`, `invoice.rerender`) and the invoice
//! page's resend ([`super::invoice_actions`], `invoice.resend`); the schedule is
//! [`crate::jobs::schedule::load_configured`]'s, as `billrun schedule list` prints it.
//!
//! Progress: a job's fan-out (a bill run's close, finalize, render and deliver chunks)
//! done / total, and for a bill run the accounts closed / total (the accounts of its
//! `close-chunk` jobs, those of done chunks closed). While the job or its fan-out is
//! unfinished the page reloads itself every 2 seconds (`<meta http-equiv="refresh">`,
//! no script); once a bill run is finished it lists the invoices it finalized (the
//! `invoices` of its `render-chunk` jobs) with their numbers and totals.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{page, ConsoleSession};
use crate::app::org_jobs;
use crate::http::{audited, AppState, Change};
use crate::identity::Resource;
use crate::queue::admin::{JobState, JobView};

/// The most jobs each state's table shows.
pub const PER_STATE: i64 = 20;
/// How many next fire times per schedule entry the page shows.
pub const NEXT_FIRES: usize = 3;

/// A job as the pages show it.
#[derive(Debug, Serialize)]
struct Row {
    id: String,
    kind: String,
    state: String,
    attempts: String,
    run_at: String,
    as_of: String,
    last_error: String,
    can_retry: bool,
    can_cancel: bool,
}

fn instant(t: DateTime<Utc>) -> String {
    t.format("%-d %b %Y %H:%M:%S UTC").to_string()
}

impl Row {
    fn of(j: &JobView, write: bool) -> Row {
        let as_of = j
            .request
            .as_ref()
            .and_then(|r| r.get("asOf").or_else(|| r.get("as_of")))
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| instant(t.with_timezone(&Utc)))
            .unwrap_or_default();
        Row {
            id: j.id.clone(),
            kind: j.kind.clone(),
            state: j.state.to_string(),
            attempts: format!("{} of {}", j.attempts, j.max_attempts),
            run_at: instant(j.run_at),
            as_of,
            last_error: j.last_error.clone().unwrap_or_default(),
            can_retry: write && matches!(j.state, JobState::Dead | JobState::Cancelled),
            can_cancel: write
                && matches!(
                    j.state,
                    JobState::Scheduled | JobState::Pending | JobState::Retrying
                ),
        }
    }
}

/// One table of the list: a title and its jobs.
#[derive(Debug, Serialize)]
struct Group {
    title: &'static str,
    state: &'static str,
    jobs: Vec<Row>,
}

/// A schedule entry and its next fire times.
#[derive(Debug, Serialize)]
struct Fire {
    name: String,
    job: String,
    cron: String,
    timezone: String,
    next: Vec<String>,
}

/// `GET /console/jobs`: the jobs by state, the schedule, the one-off forms.
#[utoipa::path(get, path = "/console/jobs", tag = "console",
    responses((status = 200, description = "the jobs page", content_type = "text/html", body = String)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
) -> Response {
    let org = &session.principal.org;
    let write = super::can_write(&session, Resource::Jobs);
    let mut groups = Vec::new();
    for (title, st) in [
        ("Running", JobState::Running),
        ("Pending (due, waiting for a worker)", JobState::Pending),
        ("Scheduled", JobState::Scheduled),
        ("Retrying", JobState::Retrying),
        ("Dead", JobState::Dead),
        ("Cancelled", JobState::Cancelled),
        ("Done (the latest)", JobState::Done),
    ] {
        let limit = if st == JobState::Done { 10 } else { PER_STATE };
        match org_jobs::list(&state.pool, org, None, Some(st), limit, None).await {
            Ok(p) => groups.push(Group {
                title,
                state: st.as_str(),
                jobs: p.rows.iter().map(|j| Row::of(j, write)).collect(),
            }),
            Err(e) => return super::error_page(&session, e),
        }
    }
    let now = Utc::now();
    let (fires, schedule_error) =
        match crate::jobs::schedule::load_configured(state.config.schedule_file.as_deref()) {
            Ok((entries, _)) => (
                entries
                    .iter()
                    .map(|e| Fire {
                        name: e.name.clone(),
                        job: e.kind.name().to_string(),
                        cron: e.cron_text.clone(),
                        timezone: e.timezone.name().to_string(),
                        next: e
                            .next_fire_times(now, NEXT_FIRES)
                            .into_iter()
                            .map(instant)
                            .collect(),
                    })
                    .collect::<Vec<_>>(),
                None,
            ),
            Err(e) => (Vec::new(), Some(format!("{e:#}"))),
        };
    let mut ctx = tera::Context::new();
    ctx.insert("groups", &groups);
    ctx.insert("fires", &fires);
    if let Some(e) = schedule_error {
        ctx.insert("schedule_error", &e);
    }
    ctx.insert("can_write", &write);
    ctx.insert(
        "can_invoices",
        &super::can_write(&session, Resource::Invoices),
    );
    ctx.insert("today", &now.date_naive().to_string());
    page(StatusCode::OK, "jobs.html", Some(&session), ctx)
}

/// An invoice a bill run finalized.
#[derive(Debug, Serialize)]
struct Billed {
    id: String,
    number: String,
    account: String,
    total: String,
}

/// The ids of `payload`'s `field` (an array of strings).
fn ids(j: &JobView, field: &str) -> Vec<String> {
    j.request
        .as_ref()
        .and_then(|r| r["payload"][field].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// `GET /console/jobs/{job_id}`: one job, its progress; reloads while it runs.
#[utoipa::path(get, path = "/console/jobs/{job_id}", tag = "console",
    params(("job_id" = String, Path, description = "the job's id")),
    responses((status = 200, description = "the job's page; a 404 page", content_type = "text/html", body = String)))]
pub async fn show(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    Path(id): Path<String>,
) -> Response {
    let org = &session.principal.org;
    let job = match org_jobs::show(&state.pool, org, &id).await {
        Ok(j) => j,
        Err(e) => return super::error_page(&session, e),
    };
    let fan_out = match org_jobs::fan_out(&state.pool, org, &id).await {
        Ok(f) => f,
        Err(e) => return super::error_page(&session, e),
    };
    let write = super::can_write(&session, Resource::Jobs);
    let done = fan_out.iter().filter(|j| j.state == JobState::Done).count();
    let failed = fan_out
        .iter()
        .filter(|j| matches!(j.state, JobState::Dead | JobState::Cancelled))
        .count();
    let unfinished = fan_out.iter().filter(|j| !j.state.is_finished()).count();
    let running = !job.state.is_finished() || unfinished > 0;
    // Accounts: those of its close chunks; closed: those of its done close chunks.
    let closes: Vec<&JobView> = fan_out.iter().filter(|j| j.kind == "close-chunk").collect();
    let accounts_total: usize = closes.iter().map(|j| ids(j, "accounts").len()).sum();
    let accounts_closed: usize = closes
        .iter()
        .filter(|j| j.state == JobState::Done)
        .map(|j| ids(j, "accounts").len())
        .sum();
    let mut billed = Vec::new();
    if job.kind == "cycle-close" && !running {
        for r in fan_out.iter().filter(|j| {
            j.kind == "render-chunk"
                && !j
                    .request
                    .as_ref()
                    .is_some_and(|r| r["payload"]["rerender"] == Value::Bool(true))
        }) {
            for inv in ids(r, "invoices") {
                match crate::bill_run::invoices::show(&state.pool, org, &inv).await {
                    Ok(Some(i)) => billed.push(Billed {
                        id: i.id.clone(),
                        number: i.number.clone().unwrap_or_else(|| "(draft)".into()),
                        account: i.account_id.clone(),
                        total: super::invoices::money(i.total, &i.currency),
                    }),
                    Ok(None) => {}
                    Err(e) => return super::error_page(&session, e),
                }
            }
        }
        billed.sort_by(|a, b| a.number.cmp(&b.number));
    }
    let import = (job.kind == "csv-import")
        .then(|| {
            job.request
                .as_ref()
                .and_then(|r| r["payload"]["importId"].as_str().map(str::to_string))
        })
        .flatten();
    let mut ctx = tera::Context::new();
    ctx.insert("job", &Row::of(&job, write));
    ctx.insert(
        "fan_out",
        &fan_out
            .iter()
            .map(|j| Row::of(j, false))
            .collect::<Vec<_>>(),
    );
    ctx.insert("total", &fan_out.len());
    ctx.insert("done", &done);
    ctx.insert("failed", &failed);
    ctx.insert("unfinished", &unfinished);
    ctx.insert("accounts_total", &accounts_total);
    ctx.insert("accounts_closed", &accounts_closed);
    ctx.insert("running", &running);
    ctx.insert("billed", &billed);
    ctx.insert("is_bill_run", &(job.kind == "cycle-close"));
    ctx.insert("import", &import);
    ctx.insert("result", &job.result.as_ref().map(|r| r.to_string()));
    page(StatusCode::OK, "job.html", Some(&session), ctx)
}

/// Retry or cancel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobAction {
    /// New attempts for a dead or cancelled job.
    Retry,
    /// Cancel a job that has not started.
    Cancel,
}

impl JobAction {
    fn slug(self) -> &'static str {
        match self {
            JobAction::Retry => "retry",
            JobAction::Cancel => "cancel",
        }
    }
}

/// The confirmation page of `action` on the job `id`.
async fn confirm(
    state: &AppState,
    session: &ConsoleSession,
    id: &str,
    action: JobAction,
) -> Response {
    let job = match org_jobs::show(&state.pool, &session.principal.org, id).await {
        Ok(j) => j,
        Err(e) => return super::error_page(session, e),
    };
    let (title, question) = match action {
        JobAction::Retry => (
            "Retry the job",
            format!(
                "Give the {} job {} (now {}) new attempts, starting now?",
                job.kind, job.id, job.state
            ),
        ),
        JobAction::Cancel => (
            "Cancel the job",
            format!(
                "Cancel the {} job {} (now {})? It will not run; it can be retried later.",
                job.kind, job.id, job.state
            ),
        ),
    };
    let mut ctx = tera::Context::new();
    ctx.insert("title", title);
    ctx.insert("question", &question);
    ctx.insert(
        "action",
        &format!("/console/jobs/{}/{}", job.id, action.slug()),
    );
    ctx.insert("button", title);
    ctx.insert("cancel", &format!("/console/jobs/{}", job.id));
    page(StatusCode::OK, "confirm.html", Some(session), ctx)
}

/// Does `action` on the job `id`, audited as the API's (`job.retry`, `job.cancel`).
async fn act(state: &AppState, session: &ConsoleSession, id: &str, action: JobAction) -> Response {
    let who = &session.principal;
    let done = match action {
        JobAction::Retry => org_jobs::retry(&state.pool, &who.org, id).await,
        JobAction::Cancel => org_jobs::cancel(&state.pool, &state.config, &who.org, id).await,
    };
    let change = Change {
        action: match action {
            JobAction::Retry => "job.retry",
            JobAction::Cancel => "job.cancel",
        },
        object_type: "job",
        object_id: id,
    };
    match audited(state, who, change, serde_json::json!({}), done).await {
        Ok(j) => Redirect::to(&format!("/console/jobs/{}", j.id)).into_response(),
        Err(e) => super::error_page(session, e),
    }
}

macro_rules! job_handlers {
    ($confirm:ident, $act:ident, $action:expr, $path:literal) => {
        #[doc = concat!("`GET ", $path, "`: the confirmation page.")]
        #[utoipa::path(get, path = $path, tag = "console",
            params(("job_id" = String, Path, description = "the job's id")),
            responses((status = 200, description = "the confirmation page; a 404 page", content_type = "text/html", body = String)))]
        pub async fn $confirm(
            State(state): State<AppState>,
            Extension(session): Extension<ConsoleSession>,
            Path(id): Path<String>,
        ) -> Response {
            confirm(&state, &session, &id, $action).await
        }

        #[doc = concat!("`POST ", $path, "`: does it; the job's page after (a 409 page when its state does not allow it).")]
        #[utoipa::path(post, path = $path, tag = "console",
            params(("job_id" = String, Path, description = "the job's id")),
            responses((status = 303, description = "to the job's page; a 404 or 409 page", content_type = "text/html", body = String)))]
        pub async fn $act(
            State(state): State<AppState>,
            Extension(session): Extension<ConsoleSession>,
            Path(id): Path<String>,
        ) -> Response {
            act(&state, &session, &id, $action).await
        }
    };
}

job_handlers!(
    confirm_retry,
    retry,
    JobAction::Retry,
    "/console/jobs/{job_id}/retry"
);
job_handlers!(
    confirm_cancel,
    cancel,
    JobAction::Cancel,
    "/console/jobs/{job_id}/cancel"
);

/// The bill run form: the day it acts as of.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct BillRunForm {
    /// `YYYY-MM-DD`: the bill run acts as of 00:00 UTC that day.
    #[serde(default)]
    pub as_of: String,
}

/// `as_of`'s instant: 00:00 UTC of the day `YYYY-MM-DD`; the message names the field.
pub fn as_of_instant(as_of: &str) -> Result<DateTime<Utc>, String> {
    NaiveDate::parse_from_str(as_of.trim(), "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
        .map_err(|_| format!("as of {:?}: expected a date as YYYY-MM-DD", as_of.trim()))
}

/// `POST /console/jobs/bill_run`: a bill run acting as of 00:00 UTC of the day given
/// (cycles ended by then, in each account's timezone, are closed); its job's page.
#[utoipa::path(post, path = "/console/jobs/bill_run", tag = "console",
    responses((status = 303, description = "to the bill run's job page; a 400 page", content_type = "text/html", body = String)))]
pub async fn bill_run(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    Form(form): Form<BillRunForm>,
) -> Response {
    let who = &session.principal;
    let as_of = match as_of_instant(&form.as_of) {
        Ok(t) => t,
        Err(e) => {
            return super::message(
                StatusCode::BAD_REQUEST,
                Some(&session),
                "Please check the form",
                &e,
            )
        }
    };
    let enqueued =
        crate::app::togai_jobs::bill_run(&state.pool, &state.config, &who.org, as_of).await;
    let id = enqueued.as_ref().map(|j| j.id.clone()).unwrap_or_default();
    let change = Change {
        action: "bill_run.create",
        object_type: "job",
        object_id: &id,
    };
    let details = serde_json::json!({ "asOf": as_of });
    match audited(&state, who, change, details, enqueued).await {
        Ok(j) => Redirect::to(&format!("/console/jobs/{}", j.id)).into_response(),
        Err(e) => super::error_page(&session, e),
    }
}

/// The re-render and resend forms: an invoice's number or id.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct InvoiceForm {
    /// The invoice's number or id.
    #[serde(default)]
    pub invoice: String,
}

/// The form's invoice, trimmed; none when empty.
fn invoice_field(form: &InvoiceForm) -> Option<String> {
    Some(form.invoice.trim().to_string()).filter(|i| !i.is_empty())
}

/// The page of an empty invoice field.
fn no_invoice(session: &ConsoleSession) -> Response {
    super::message(
        StatusCode::BAD_REQUEST,
        Some(session),
        "Please check the form",
        "invoice: required (an invoice's number or id)",
    )
}

/// `POST /console/jobs/rerender`: renders an invoice's documents again and waits
/// (as the API's, audited `invoice.rerender`); the invoice's page after.
#[utoipa::path(post, path = "/console/jobs/rerender", tag = "console",
    responses((status = 303, description = "to the invoice's page; a 400, 404 or 409 page", content_type = "text/html", body = String)))]
pub async fn rerender(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    Form(form): Form<InvoiceForm>,
) -> Response {
    let Some(invoice) = invoice_field(&form) else {
        return no_invoice(&session);
    };
    let who = &session.principal;
    let now = Utc::now();
    let done =
        crate::app::invoices::rerender(&state.pool, state.config.clone(), &who.org, &invoice, now)
            .await;
    let change = Change {
        action: "invoice.rerender",
        object_type: "invoice",
        object_id: &invoice,
    };
    match audited(&state, who, change, serde_json::json!({ "at": now }), done).await {
        Ok(i) => {
            Redirect::to(&format!("/console/invoices/{}?done=rerendered", i.id)).into_response()
        }
        Err(e) => super::error_page(&session, e),
    }
}

/// `POST /console/jobs/resend`: emails an invoice again to every recipient and waits
/// (the invoice page's resend, audited `invoice.resend`); the invoice's page after.
#[utoipa::path(post, path = "/console/jobs/resend", tag = "console",
    responses((status = 303, description = "to the invoice's page; a 400, 404 or 409 page", content_type = "text/html", body = String)))]
pub async fn resend(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    Form(form): Form<InvoiceForm>,
) -> Response {
    match invoice_field(&form) {
        Some(invoice) => {
            super::invoice_actions::act(
                &state,
                &session,
                &invoice,
                super::invoice_actions::Action::Resend,
            )
            .await
        }
        None => no_invoice(&session),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bill_run_acts_as_of_midnight_utc_of_its_day() {
        assert_eq!(
            as_of_instant(" 2026-02-01 ").unwrap().to_rfc3339(),
            "2026-02-01T00:00:00+00:00"
        );
        assert_eq!(
            as_of_instant("1 Feb 2026").unwrap_err(),
            "as of \"1 Feb 2026\": expected a date as YYYY-MM-DD"
        );
    }
}
