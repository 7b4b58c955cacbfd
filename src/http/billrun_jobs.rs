//! billrun's own job routes, under `/billrun/jobs` (not Togai's: Togai's `/jobs` shows
//! only plan migrations and bill runs, see [`super::jobs`]): enqueue a job of any kind
//! that stays within the caller's organisation, list, show (with its fan-out's
//! progress), retry and cancel, as `billrun jobs ...` does, over
//! [`crate::app::org_jobs`]. Another organisation's job (and a job for no
//! organisation) answers 404.
//!
//! A job is `billrun jobs show --json`'s shape (camelCase: `id`, `kind`,
//! `organisation`, `state` in lower case, `attempts`, `maxAttempts`, `runAt`,
//! `lastError`, `result`, `request`, ...; instants in UTC).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{ApiError, ErrorBody};
use super::extract::{Body, Params};
use super::{audited, AppState, Change};
use crate::app::org_jobs::{self, OrgJob};
use crate::identity::Principal;
use crate::queue::admin::{JobState, JobView};
use crate::queue::JobKind;

/// The request of `POST /billrun/jobs`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnqueueJobRequest {
    /// The kind's name (`billrun jobs kinds`): cycle-close, close-chunk,
    /// finalize-chunk, render-chunk, deliver-chunk, plan-migration, credit-grant,
    /// credit-expiry or invoice-paid.
    pub kind: String,
    /// Its payload (an object; its `organisation`, where the kind has one, is the
    /// caller's organisation, filled in when absent).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub payload: Value,
    /// The instant the job acts as of (RFC 3339; default now).
    #[serde(default)]
    pub as_of: Option<DateTime<Utc>>,
    /// Not before this instant (RFC 3339; default now).
    #[serde(default)]
    pub run_at: Option<DateTime<Utc>>,
    /// With a key, a second enqueue answers the first job (200 instead of 201).
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// How far a job's fan-out has got (a bill run's chunk jobs).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// Jobs it fanned out to.
    pub total: usize,
    /// Of which done.
    pub done: usize,
    /// Not finished yet.
    pub unfinished: usize,
    /// Dead or cancelled.
    pub failed: usize,
}

/// A job as `billrun jobs show --json` prints it, and (one job) its fan-out's
/// progress.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BillrunJob {
    /// The job (`billrun jobs show --json`'s fields).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub job: JobView,
    /// Its fan-out (absent in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
}

/// The query of `GET /billrun/jobs`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    /// Only this kind.
    pub kind: Option<String>,
    /// Only this state (scheduled, pending, running, done, retrying, dead, cancelled).
    pub state: Option<String>,
    /// The previous page's `nextToken`: the jobs older than it.
    pub next_token: Option<String>,
    /// Jobs per page, 1 to 50 (default 10).
    pub page_size: Option<u32>,
}

/// A page of jobs, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BillrunJobPage {
    /// The page's jobs, newest first (by id).
    pub data: Vec<BillrunJob>,
    /// The token of the next (older) page, absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// Jobs of the whole listing (its filters, no token).
    pub total: i64,
}

fn kind(name: &str) -> Result<JobKind, ApiError> {
    JobKind::parse(name).map_err(ApiError::invalid)
}

/// Enqueues a job for the caller's organisation (audited as `job.enqueue`): 201 with
/// the job, or 200 with the existing one for an idempotency key seen before.
#[utoipa::path(post, path = "/billrun/jobs", tag = "billrun jobs",
    request_body = EnqueueJobRequest,
    responses(
        (status = 201, description = "enqueued", body = BillrunJob),
        (status = 200, description = "the job of this idempotency key", body = BillrunJob),
        (status = 400, description = "an unknown kind, one not for one organisation, a payload that does not fit", body = ErrorBody),
        (status = 403, description = "only administrators change jobs", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn enqueue(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Body(req): Body<EnqueueJobRequest>,
) -> Result<(StatusCode, Json<BillrunJob>), ApiError> {
    let details = serde_json::json!({ "kind": req.kind, "payload": req.payload });
    let enqueued = match kind(&req.kind) {
        Ok(k) => {
            let job = OrgJob {
                kind: k,
                payload: req.payload,
                as_of: req.as_of.unwrap_or_else(Utc::now),
                run_at: req.run_at,
                idempotency_key: req.idempotency_key,
            };
            org_jobs::enqueue_for(&state.pool, &state.config, &who.org, job)
                .await
                .map_err(ApiError::from)
        }
        Err(e) => Err(e),
    };
    let id = enqueued
        .as_ref()
        .map(|(j, _)| j.id.clone())
        .unwrap_or_default();
    let change = Change {
        action: "job.enqueue",
        object_type: "job",
        object_id: &id,
    };
    let (job, fresh) = audited(&state, &who, change, details, enqueued).await?;
    let status = if fresh {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(BillrunJob {
            job,
            progress: None,
        }),
    ))
}

/// The organisation's jobs, newest first, a page at a time.
#[utoipa::path(get, path = "/billrun/jobs", tag = "billrun jobs",
    params(ListQuery),
    responses(
        (status = 200, description = "a page of jobs", body = BillrunJobPage),
        (status = 400, description = "an unknown kind or state, pageSize out of 1 to 50", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Params(q): Params<ListQuery>,
) -> Result<Json<BillrunJobPage>, ApiError> {
    let kind = q.kind.as_deref().map(kind).transpose()?;
    let job_state = q
        .state
        .as_deref()
        .map(|s| s.parse::<JobState>().map_err(ApiError::invalid))
        .transpose()?;
    let size = q.page_size.unwrap_or(10);
    if !(1..=50).contains(&size) {
        return Err(ApiError::invalid(format!(
            "pageSize {size}: expected 1 to 50"
        )));
    }
    let page = org_jobs::list(
        &state.pool,
        &who.org,
        kind,
        job_state,
        i64::from(size),
        q.next_token,
    )
    .await?;
    Ok(Json(BillrunJobPage {
        data: page
            .rows
            .into_iter()
            .map(|job| BillrunJob {
                job,
                progress: None,
            })
            .collect(),
        next_token: page.next,
        total: page.total,
    }))
}

/// One job of the organisation, with its fan-out's progress (404 for any other id).
#[utoipa::path(get, path = "/billrun/jobs/{job_id}", tag = "billrun jobs",
    params(("job_id" = String, Path, description = "the job's id")),
    responses(
        (status = 200, description = "the job", body = BillrunJob),
        (status = 404, description = "no such job in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<BillrunJob>, ApiError> {
    let job = org_jobs::show(&state.pool, &who.org, &id).await?;
    let fan_out = org_jobs::fan_out(&state.pool, &who.org, &id).await?;
    let count = |f: fn(JobState) -> bool| fan_out.iter().filter(|j| f(j.state)).count();
    let progress = Progress {
        total: fan_out.len(),
        done: count(|s| s == JobState::Done),
        unfinished: count(|s| !s.is_finished()),
        failed: count(|s| matches!(s, JobState::Dead | JobState::Cancelled)),
    };
    Ok(Json(BillrunJob {
        job,
        progress: Some(progress),
    }))
}

/// Gives a dead or cancelled job of the organisation new attempts, now (audited as
/// `job.retry`).
#[utoipa::path(post, path = "/billrun/jobs/{job_id}/retry", tag = "billrun jobs",
    params(("job_id" = String, Path, description = "the job's id")),
    responses(
        (status = 200, description = "retried", body = BillrunJob),
        (status = 404, description = "no such job in the organisation", body = ErrorBody),
        (status = 409, description = "the job is not dead or cancelled", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn retry(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<BillrunJob>, ApiError> {
    let done = org_jobs::retry(&state.pool, &who.org, &id).await;
    let change = Change {
        action: "job.retry",
        object_type: "job",
        object_id: &id,
    };
    let job = audited(&state, &who, change, serde_json::json!({}), done).await?;
    Ok(Json(BillrunJob {
        job,
        progress: None,
    }))
}

/// Cancels a job of the organisation that has not started, waits for a retry, or
/// whose worker is gone (audited as `job.cancel`).
#[utoipa::path(post, path = "/billrun/jobs/{job_id}/cancel", tag = "billrun jobs",
    params(("job_id" = String, Path, description = "the job's id")),
    responses(
        (status = 200, description = "cancelled", body = BillrunJob),
        (status = 404, description = "no such job in the organisation", body = ErrorBody),
        (status = 409, description = "the job is running, done, dead or cancelled", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<BillrunJob>, ApiError> {
    let done = org_jobs::cancel(&state.pool, &state.config, &who.org, &id).await;
    let change = Change {
        action: "job.cancel",
        object_type: "job",
        object_id: &id,
    };
    let job = audited(&state, &who, change, serde_json::json!({}), done).await?;
    Ok(Json(BillrunJob {
        job,
        progress: None,
    }))
}
