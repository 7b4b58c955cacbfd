//! Togai's jobs: `GET /jobs`, `GET /jobs/{job_id}`, `POST /jobs/{job_id}/confirm` and
//! `/reject`, `GET /jobs/{job_id}/entries` (Togai's `JobsPaginatedResponse`,
//! `GetJobResponse`, `JobEntriesPaginatedResponse`), with the two requests that make
//! jobs: `POST /v2/price_plans/migration` (a plan migration, Togai's
//! `CreatePricePlanMigrationRequest`, answered 201 `{"success": true}` as Togai does: the
//! job is found through `GET /jobs`) and `POST /invoices/bill_runs` (a bill run,
//! answered 200 `{"success": true}`).
//!
//! What a Togai job is in billrun (a plan migration, type `PRICE_PLAN`, or a bill run,
//! type `BILL_RUN`) and how statuses map is [`crate::app::togai_jobs`]'s.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{ApiError, ErrorBody};
use super::extract::{Body, Params};
use super::{audited, AppState, Change, PageContext, PageQuery};
use crate::app::plan_migrations::{self, MigrationRequest, Wait};
use crate::app::togai_jobs::{self, TogaiJob, TogaiJobEntry};
use crate::identity::Principal;

/// Togai's `GetJobResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobBody {
    /// The migration's id (`mig_...`) or the bill run's `cycle-close` job id.
    pub id: String,
    /// `PRICE_PLAN` or `BILL_RUN`.
    #[serde(rename = "type")]
    pub job_type: &'static str,
    /// When it ended for good (UTC), absent while it has not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settled_at: Option<DateTime<Utc>>,
    /// When it last changed (UTC).
    pub updated_at: DateTime<Utc>,
    /// SCHEDULED, PENDING, WAITING_FOR_CONFIRMATION, IN_PROGRESS, COMPLETED, FAILED or
    /// CANCELLED.
    pub status: &'static str,
    /// Entries: a migration's accounts, a bill run's chunk jobs.
    pub total_job_entries: i64,
    /// Entries not finished.
    pub pending_job_entries: i64,
    /// Entries failed.
    pub failed_job_entries: i64,
    /// Entries done.
    pub completed_job_entries: i64,
    /// What else billrun knows (strings; see the README).
    pub metadata: BTreeMap<String, String>,
}

impl From<TogaiJob> for JobBody {
    fn from(j: TogaiJob) -> JobBody {
        JobBody {
            id: j.id,
            job_type: j.job_type.as_str(),
            settled_at: j.settled_at,
            updated_at: j.updated_at,
            status: j.status.as_str(),
            total_job_entries: j.total,
            pending_job_entries: j.pending,
            failed_job_entries: j.failed,
            completed_job_entries: j.completed,
            metadata: j.metadata,
        }
    }
}

/// Togai's `JobsWithoutStatusInfoResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobSummary {
    /// The job's id.
    pub id: String,
    /// `PRICE_PLAN` or `BILL_RUN`.
    #[serde(rename = "type")]
    pub job_type: &'static str,
    /// Its status (as [`JobBody::status`]).
    pub status: &'static str,
    /// When it last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

/// Togai's `JobsPaginatedResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobPage {
    /// The page's jobs, by id.
    pub data: Vec<JobSummary>,
    /// The token of the next page, absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// The page's size and order.
    pub context: PageContext,
}

/// Togai's `JobEntriesResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobEntryBody {
    /// The account (a migration) or the chunk job (a bill run).
    pub entity_id: String,
    /// The job's id.
    pub job_id: String,
    /// PENDING, IN_PROGRESS, COMPLETED, FAILED or CANCELLED.
    pub status: &'static str,
    /// When it was made (UTC; a migration's entries: the migration's creation).
    pub created_at: DateTime<Utc>,
    /// What else billrun knows (strings; see the README).
    pub metadata: BTreeMap<String, String>,
}

impl From<TogaiJobEntry> for JobEntryBody {
    fn from(e: TogaiJobEntry) -> JobEntryBody {
        JobEntryBody {
            entity_id: e.entity_id,
            job_id: e.job_id,
            status: e.status.as_str(),
            created_at: e.created_at,
            metadata: e.metadata,
        }
    }
}

/// Togai's `JobEntriesPaginatedResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobEntryPage {
    /// The page's entries, by entity id.
    pub data: Vec<JobEntryBody>,
    /// The token of the next page, absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// The page's size and order.
    pub context: PageContext,
}

/// Togai's `BaseSuccessResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SuccessBody {
    /// Always true.
    pub success: bool,
}

/// The organisation's Togai jobs (plan migrations and bill runs), by id, a page at a
/// time.
#[utoipa::path(get, path = "/jobs", tag = "jobs",
    params(PageQuery),
    responses(
        (status = 200, description = "a page of jobs", body = JobPage),
        (status = 400, description = "pageSize out of 1 to 50", body = ErrorBody),
        (status = 403, description = "the role may not read schedules", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Params(q): Params<PageQuery>,
) -> Result<Json<JobPage>, ApiError> {
    let all = togai_jobs::list(&state.pool, &who.org).await?;
    let (rows, next_token, context) = q.page(all, |j| j.id.as_str())?;
    Ok(Json(JobPage {
        data: rows
            .into_iter()
            .map(|j| JobSummary {
                id: j.id,
                job_type: j.job_type.as_str(),
                status: j.status.as_str(),
                updated_at: j.updated_at,
            })
            .collect(),
        next_token,
        context,
    }))
}

/// One Togai job of the organisation (404 for any other id).
#[utoipa::path(get, path = "/jobs/{job_id}", tag = "jobs",
    params(("job_id" = String, Path, description = "a migration's id or a bill run's job id")),
    responses(
        (status = 200, description = "the job", body = JobBody),
        (status = 404, description = "no such job in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<JobBody>, ApiError> {
    Ok(Json(
        togai_jobs::get(&state.pool, &who.org, &id).await?.into(),
    ))
}

/// A Togai job's entries (a migration's accounts, a bill run's chunk jobs), a page at
/// a time.
#[utoipa::path(get, path = "/jobs/{job_id}/entries", tag = "jobs",
    params(("job_id" = String, Path, description = "the job's id"), PageQuery),
    responses(
        (status = 200, description = "a page of entries", body = JobEntryPage),
        (status = 404, description = "no such job in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn entries(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Params(q): Params<PageQuery>,
) -> Result<Json<JobEntryPage>, ApiError> {
    let mut all = togai_jobs::entries(&state.pool, &who.org, &id).await?;
    all.sort_by(|a, b| a.entity_id.cmp(&b.entity_id));
    let (rows, next_token, context) = q.page(all, |e| e.entity_id.as_str())?;
    Ok(Json(JobEntryPage {
        data: rows.into_iter().map(JobEntryBody::from).collect(),
        next_token,
        context,
    }))
}

/// Confirms a plan migration awaiting confirmation: its job is enqueued, and workers
/// run it (audited as `plan_migration.confirm`).
#[utoipa::path(post, path = "/jobs/{job_id}/confirm", tag = "jobs",
    params(("job_id" = String, Path, description = "the migration's id")),
    responses(
        (status = 200, description = "confirmed", body = JobBody),
        (status = 403, description = "the role may not change schedules", body = ErrorBody),
        (status = 404, description = "no such job in the organisation", body = ErrorBody),
        (status = 409, description = "not a migration awaiting confirmation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn confirm(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<JobBody>, ApiError> {
    let done =
        togai_jobs::confirm(&state.pool, state.config.clone(), &who.org, &id, Utc::now()).await;
    let change = Change {
        action: "plan_migration.confirm",
        object_type: "plan_migration",
        object_id: &id,
    };
    let job = audited(&state, &who, change, serde_json::json!({}), done).await?;
    Ok(Json(job.into()))
}

/// Rejects a plan migration awaiting confirmation: it ends CANCELLED having done
/// nothing (audited as `plan_migration.reject`).
#[utoipa::path(post, path = "/jobs/{job_id}/reject", tag = "jobs",
    params(("job_id" = String, Path, description = "the migration's id")),
    responses(
        (status = 200, description = "rejected", body = JobBody),
        (status = 403, description = "the role may not change schedules", body = ErrorBody),
        (status = 404, description = "no such job in the organisation", body = ErrorBody),
        (status = 409, description = "not a migration awaiting confirmation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn reject(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<JobBody>, ApiError> {
    let done = togai_jobs::reject(&state.pool, &who.org, &id, Utc::now()).await;
    let change = Change {
        action: "plan_migration.reject",
        object_type: "plan_migration",
        object_id: &id,
    };
    let job = audited(&state, &who, change, serde_json::json!({}), done).await?;
    Ok(Json(job.into()))
}

/// Togai's `CreatePricePlanMigrationRequest`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateMigrationRequest {
    /// The plan accounts leave.
    pub source_id: String,
    /// Which of its versions: a number, `"LATEST"` or `"ALL"` (absent: the latest).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub source_version: Option<Value>,
    /// The plan they move to.
    pub target_id: String,
    /// Its version (absent: the latest ACTIVE one).
    #[serde(default)]
    pub target_version: Option<u32>,
    /// IMMEDIATE, IMMEDIATE_IGNORE_OVERRIDE, NEXT_CYCLE or NEXT_CYCLE_IGNORE_OVERRIDE
    /// (Togai's START_OF_CURRENT_CYCLE is refused).
    pub migration_mode: String,
    /// Keep each account's cycle alignment (default false).
    #[serde(default)]
    pub retain_start_offsets: Option<bool>,
    /// Accepted and ignored: billrun's plans are Togai's v2 plans.
    #[serde(default)]
    pub is_price_plan_v2_migration: Option<bool>,
    /// Wait for `POST /jobs/{id}/confirm` before doing anything (default false).
    #[serde(default)]
    pub require_confirmation: Option<bool>,
}

/// Creates a plan migration, as `billrun migrations create` does: its job is
/// enqueued at once unless it requires confirmation (audited as
/// `plan_migration.create`). Answers Togai's 201 `{"success": true}`.
#[utoipa::path(post, path = "/v2/price_plans/migration", tag = "price plans",
    request_body = CreateMigrationRequest,
    responses(
        (status = 201, description = "created; find it through GET /jobs", body = SuccessBody),
        (status = 400, description = "a field is invalid (START_OF_CURRENT_CYCLE is not a billrun mode)", body = ErrorBody),
        (status = 403, description = "the role may not change schedules", body = ErrorBody),
        (status = 404, description = "no such plan or version", body = ErrorBody),
        (status = 409, description = "the target is not ACTIVE, or the cycles differ with retainStartOffsets", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn create_migration(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Body(body): Body<CreateMigrationRequest>,
) -> Result<(StatusCode, Json<SuccessBody>), ApiError> {
    let req = MigrationRequest {
        source_id: body.source_id,
        source_version: body.source_version,
        target_id: body.target_id,
        target_version: body.target_version,
        migration_mode: body.migration_mode,
        retain_start_offsets: body.retain_start_offsets.unwrap_or(false),
        require_confirmation: body.require_confirmation.unwrap_or(false),
    };
    let details = serde_json::json!({
        "sourceId": &req.source_id, "targetId": &req.target_id,
        "migrationMode": &req.migration_mode, "requireConfirmation": req.require_confirmation,
    });
    let created = match req.into_new() {
        Ok(new) => {
            plan_migrations::create(
                &state.pool,
                state.config.clone(),
                &who.org,
                &new,
                Utc::now(),
                Wait::No,
            )
            .await
        }
        Err(e) => Err(e),
    };
    let id = created.as_ref().map(|m| m.id.clone()).unwrap_or_default();
    let change = Change {
        action: "plan_migration.create",
        object_type: "plan_migration",
        object_id: &id,
    };
    audited(&state, &who, change, details, created).await?;
    Ok((StatusCode::CREATED, Json(SuccessBody { success: true })))
}

/// The query of `POST /invoices/bill_runs`: Togai's `require_confirmation`, and
/// billrun's `asOf`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct BillRunQuery {
    /// Togai's: start only after a confirmation. billrun's bill runs never wait:
    /// `true` is refused (400).
    pub require_confirmation: Option<bool>,
    /// billrun's: the instant the bill run acts as of (RFC 3339; default now). Cycles
    /// ended by then (in each account's timezone) are closed.
    #[serde(rename = "asOf")]
    pub as_of: Option<DateTime<Utc>>,
}

/// Runs a bill run for the organisation's accounts: enqueues one `cycle-close` job
/// acting as of `asOf` (default now), as `billrun enqueue cycle-close --org`; workers
/// close every ended cycle, write, finalize, render and deliver the invoices. The job
/// is `GET /jobs`' `BILL_RUN` (audited as `bill_run.create`, with the job's id).
#[utoipa::path(post, path = "/invoices/bill_runs", tag = "invoices",
    params(BillRunQuery),
    responses(
        (status = 200, description = "enqueued; find it through GET /jobs", body = SuccessBody),
        (status = 400, description = "require_confirmation=true, or a malformed asOf", body = ErrorBody),
        (status = 403, description = "the role may not change invoices", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn bill_run(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Params(q): Params<BillRunQuery>,
) -> Result<Json<SuccessBody>, ApiError> {
    if q.require_confirmation == Some(true) {
        let refused: Result<(), ApiError> = Err(ApiError::invalid(
            "require_confirmation=true is not supported: billrun's bill runs start at once \
             (plan migrations can wait for a confirmation)",
        ));
        let change = Change {
            action: "bill_run.create",
            object_type: "job",
            object_id: "",
        };
        audited(&state, &who, change, serde_json::json!({}), refused).await?;
    }
    let as_of = q.as_of.unwrap_or_else(Utc::now);
    let enqueued = togai_jobs::bill_run(&state.pool, &state.config, &who.org, as_of).await;
    let id = enqueued.as_ref().map(|j| j.id.clone()).unwrap_or_default();
    let change = Change {
        action: "bill_run.create",
        object_type: "job",
        object_id: &id,
    };
    let details = serde_json::json!({ "asOf": as_of });
    audited(&state, &who, change, details, enqueued).await?;
    Ok(Json(SuccessBody { success: true }))
}
