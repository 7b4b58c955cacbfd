//! Togai's jobs (`/jobs`, issue 14) over billrun: what Togai calls a job is, in
//! billrun, either a plan migration or a bill run (README "HTTP API", "Togai's
//! jobs").
//!
//! - `PRICE_PLAN`: each plan migration of the organisation ([`crate::plan_migration`]),
//!   with the migration's id as the job's id (`mig_...`): a migration that awaits
//!   confirmation has no queue job yet, yet Togai shows it as a job to confirm. Its
//!   entries are its accounts.
//! - `BILL_RUN`: each `cycle-close` job enqueued for the organisation (by
//!   `POST /invoices/bill_runs`, `billrun enqueue cycle-close --org`, ...), with the
//!   queue job's id. Its entries are the jobs it fanned out to (close, finalize, render
//!   and deliver chunks): billrun runs a bill run by chunks of accounts and invoices.
//! - Every other job kind (credit grants, imports, re-renders, the plan migration's
//!   own queue job, the scheduler's `cycle-close` for every organisation) has no
//!   Togai type and is not listed here: `/billrun/jobs` shows them
//!   ([`super::org_jobs`]). Togai's `EVENT_CORRECTIONS` has no billrun counterpart.
//!
//! Statuses are Togai's closed set; how billrun's map onto it is in [`JobStatus`].

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::jobs::{JobsError, NewJob};
use super::org_jobs;
use super::plan_migrations::{self, PlanMigrationError, Wait};
use crate::catalog::CatalogError;
use crate::config::Config;
use crate::error::{Classify, ErrorKind};
use crate::plan_migration::{self, MigrationView};
use crate::queue::admin::{JobState, JobView};
use crate::queue::JobKind;
use crate::store::status::{PlanMigrationEntryStatus, PlanMigrationStatus};
use crate::store::OrgId;

/// The most bill runs [`list`] reads (newest first): older ones are still found by
/// id and under `/billrun/jobs`.
pub const MAX_BILL_RUNS: i64 = 1000;

/// Why a Togai job operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TogaiJobError {
    /// No migration and no bill run of the organisation has this id.
    #[error("no job with id {0}")]
    NotFound(String),
    /// Confirm or reject of a bill run: bill runs never wait for a confirmation.
    #[error("job {0} is a bill run: only a plan migration awaiting confirmation can be {1}")]
    NotConfirmable(String, &'static str),
    /// The migration's refusal (not awaiting confirmation: a conflict) or failure.
    #[error(transparent)]
    Migration(#[from] PlanMigrationError),
    /// The queue's refusal or failure.
    #[error(transparent)]
    Jobs(#[from] JobsError),
}

impl Classify for TogaiJobError {
    /// NotFound 404-like, a bill run asked to be confirmed a conflict, the others
    /// their own kind.
    fn kind(&self) -> ErrorKind {
        match self {
            TogaiJobError::NotFound(_) => ErrorKind::NotFound,
            TogaiJobError::NotConfirmable(..) => ErrorKind::Conflict,
            TogaiJobError::Migration(e) => e.kind(),
            TogaiJobError::Jobs(e) => e.kind(),
        }
    }
}

impl From<CatalogError> for TogaiJobError {
    fn from(e: CatalogError) -> Self {
        TogaiJobError::Migration(e.into())
    }
}

/// Result of Togai job operations.
pub type Result<T, E = TogaiJobError> = std::result::Result<T, E>;

/// Togai's job types billrun has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobType {
    /// A plan migration.
    PricePlan,
    /// A bill run (`cycle-close` and its fan-out).
    BillRun,
}

impl JobType {
    /// Togai's name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobType::PricePlan => "PRICE_PLAN",
            JobType::BillRun => "BILL_RUN",
        }
    }
}

/// Togai's job statuses. From a migration: AWAITING_CONFIRMATION is
/// `WaitingForConfirmation`, PENDING `Pending`, RUNNING `InProgress`, COMPLETED
/// `Completed`, REJECTED `Cancelled`; a migration whose queue job is dead is `Failed`
/// (cancelled: `Cancelled`). From a bill run's `cycle-close` job: scheduled
/// `Scheduled`, pending `Pending`, running, retrying or an unknown queue status
/// `InProgress`, dead `Failed`, cancelled `Cancelled`; done is `InProgress` while
/// jobs of its fan-out are unfinished, `Failed` if one of them is dead, else
/// `Completed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// SCHEDULED.
    Scheduled,
    /// PENDING.
    Pending,
    /// WAITING_FOR_CONFIRMATION.
    WaitingForConfirmation,
    /// IN_PROGRESS.
    InProgress,
    /// COMPLETED.
    Completed,
    /// FAILED.
    Failed,
    /// CANCELLED.
    Cancelled,
}

impl JobStatus {
    /// Togai's name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Scheduled => "SCHEDULED",
            JobStatus::Pending => "PENDING",
            JobStatus::WaitingForConfirmation => "WAITING_FOR_CONFIRMATION",
            JobStatus::InProgress => "IN_PROGRESS",
            JobStatus::Completed => "COMPLETED",
            JobStatus::Failed => "FAILED",
            JobStatus::Cancelled => "CANCELLED",
        }
    }

    /// A queue job's state as an entry's or a job's status (a done job is
    /// `Completed`: fan-outs are judged by [`bill_run_job`]).
    fn of_state(state: JobState) -> JobStatus {
        match state {
            JobState::Scheduled => JobStatus::Scheduled,
            JobState::Pending => JobStatus::Pending,
            JobState::Running | JobState::Retrying | JobState::Unknown => JobStatus::InProgress,
            JobState::Done => JobStatus::Completed,
            JobState::Dead => JobStatus::Failed,
            JobState::Cancelled => JobStatus::Cancelled,
        }
    }
}

/// One Togai job (Togai's `GetJobResponse`).
#[derive(Debug, Clone)]
pub struct TogaiJob {
    /// The migration's id, or the `cycle-close` job's id.
    pub id: String,
    /// Its type.
    pub job_type: JobType,
    /// Its status.
    pub status: JobStatus,
    /// When it last changed (UTC): a migration's completion, decision or creation; a
    /// bill run's last job's end, claim or start.
    pub updated_at: DateTime<Utc>,
    /// When it ended for good (UTC), if it has.
    pub settled_at: Option<DateTime<Utc>>,
    /// Entries: accounts of a migration, jobs of a bill run's fan-out.
    pub total: i64,
    /// Entries not finished.
    pub pending: i64,
    /// Entries failed (a bill run: dead or cancelled jobs).
    pub failed: i64,
    /// Entries done.
    pub completed: i64,
    /// What else billrun knows, as strings: a migration's `sourceId`,
    /// `sourceVersion` (absent: all), `targetId`, `targetVersion`, `migrationMode`,
    /// `retainStartOffsets`, `jobId` (its queue job, once enqueued); a bill run's
    /// `asOf` (RFC 3339) and `state` (the queue's).
    pub metadata: BTreeMap<String, String>,
}

/// One entry of a Togai job (Togai's `JobEntriesResponse`).
#[derive(Debug, Clone)]
pub struct TogaiJobEntry {
    /// A migration's account, or a bill run's fan-out job.
    pub entity_id: String,
    /// The Togai job's id.
    pub job_id: String,
    /// PENDING, IN_PROGRESS, COMPLETED, FAILED or CANCELLED.
    pub status: JobStatus,
    /// A migration's entry: the migration's creation (billrun keeps no time per
    /// entry); a fan-out job: its creation (from its ULID).
    pub created_at: DateTime<Utc>,
    /// A migration's entry: `sourceVersion`, `sourceFrom`, and when known
    /// `switchDate`, `credited`, `reason`, `droppedOverrides` (comma-separated); a
    /// job: `kind`, and `lastError` when it has one.
    pub metadata: BTreeMap<String, String>,
}

fn migration_job_status(m: &MigrationView, job: Option<&JobView>) -> JobStatus {
    match (m.status, job.map(|j| j.state)) {
        (PlanMigrationStatus::Completed, _) => JobStatus::Completed,
        (PlanMigrationStatus::Rejected, _) => JobStatus::Cancelled,
        (PlanMigrationStatus::AwaitingConfirmation, _) => JobStatus::WaitingForConfirmation,
        (_, Some(JobState::Dead)) => JobStatus::Failed,
        (_, Some(JobState::Cancelled)) => JobStatus::Cancelled,
        (PlanMigrationStatus::Pending, _) => JobStatus::Pending,
        (PlanMigrationStatus::Running, _) => JobStatus::InProgress,
    }
}

async fn migration_job(pool: &PgPool, m: MigrationView) -> Result<TogaiJob> {
    let job = match (&m.job_id, m.status) {
        (Some(id), PlanMigrationStatus::Pending | PlanMigrationStatus::Running) => {
            super::jobs::show(pool, id).await.ok()
        }
        _ => None,
    };
    let status = migration_job_status(&m, job.as_ref());
    let updated_at = m.completed_at.or(m.decided_at).unwrap_or(m.created_at);
    let settled_at = match status {
        JobStatus::Completed => m.completed_at,
        JobStatus::Cancelled => m.decided_at.or(job.as_ref().and_then(|j| j.done_at)),
        JobStatus::Failed => job.as_ref().and_then(|j| j.done_at),
        _ => None,
    };
    let mut metadata = BTreeMap::new();
    metadata.insert("sourceId".to_string(), m.source_id.clone());
    if let Some(v) = m.source_version {
        metadata.insert("sourceVersion".to_string(), v.to_string());
    }
    metadata.insert("targetId".to_string(), m.target_id.clone());
    metadata.insert("targetVersion".to_string(), m.target_version.to_string());
    metadata.insert("migrationMode".to_string(), m.migration_mode.clone());
    metadata.insert(
        "retainStartOffsets".to_string(),
        m.retain_start_offsets.to_string(),
    );
    if let Some(j) = &m.job_id {
        metadata.insert("jobId".to_string(), j.clone());
    }
    Ok(TogaiJob {
        id: m.id,
        job_type: JobType::PricePlan,
        status,
        updated_at,
        settled_at,
        total: m.counts.total,
        pending: m.counts.pending,
        failed: m.counts.failed,
        completed: m.counts.completed,
        metadata,
    })
}

/// The Togai job of a `cycle-close` job and its fan-out.
fn bill_run_job(job: &JobView, fan_out: &[JobView]) -> TogaiJob {
    let count = |f: fn(JobState) -> bool| fan_out.iter().filter(|j| f(j.state)).count() as i64;
    let pending = count(|s| !s.is_finished());
    let failed = count(|s| matches!(s, JobState::Dead | JobState::Cancelled));
    let dead = count(|s| s == JobState::Dead);
    let completed = count(|s| s == JobState::Done);
    let status = match JobStatus::of_state(job.state) {
        JobStatus::Completed if pending > 0 => JobStatus::InProgress,
        JobStatus::Completed if dead > 0 => JobStatus::Failed,
        s => s,
    };
    let last = |j: &JobView| j.done_at.or(j.locked_at).unwrap_or(j.run_at);
    let updated_at = fan_out
        .iter()
        .map(last)
        .chain([last(job)])
        .max()
        .unwrap_or(job.run_at);
    let settled_at = match status {
        JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled => Some(updated_at),
        _ => None,
    };
    let mut metadata = BTreeMap::new();
    if let Some(as_of) = job
        .request
        .as_ref()
        .and_then(|r| r.get("asOf").or_else(|| r.get("as_of")))
        .and_then(|v| v.as_str())
    {
        metadata.insert("asOf".to_string(), as_of.to_string());
    }
    metadata.insert("state".to_string(), job.state.to_string());
    TogaiJob {
        id: job.id.clone(),
        job_type: JobType::BillRun,
        status,
        updated_at,
        settled_at,
        total: fan_out.len() as i64,
        pending,
        failed,
        completed,
        metadata,
    }
}

/// The organisation's `cycle-close` job `id`, or None when it has no such job (or
/// the job is of another kind).
async fn bill_run_view(pool: &PgPool, org: &OrgId, id: &str) -> Result<Option<JobView>> {
    match org_jobs::show(pool, org, id).await {
        Ok(j) if j.kind == JobKind::CycleClose.name() => Ok(Some(j)),
        Ok(_) | Err(JobsError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The organisation's Togai jobs, by id (ascending): its plan migrations and its
/// newest [`MAX_BILL_RUNS`] bill runs.
///
/// Errors: the database.
pub async fn list(pool: &PgPool, org: &OrgId) -> Result<Vec<TogaiJob>> {
    let mut out = Vec::new();
    for m in plan_migration::list(pool, org).await? {
        out.push(migration_job(pool, m).await?);
    }
    let runs = org_jobs::list(
        pool,
        org,
        Some(JobKind::CycleClose),
        None,
        MAX_BILL_RUNS,
        None,
    )
    .await?;
    for job in runs.rows {
        let fan_out = org_jobs::fan_out(pool, org, &job.id).await?;
        out.push(bill_run_job(&job, &fan_out));
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// One Togai job of the organisation: a migration, else a bill run.
///
/// Errors: [`TogaiJobError::NotFound`] when the organisation has neither with this id;
/// the database.
pub async fn get(pool: &PgPool, org: &OrgId, id: &str) -> Result<TogaiJob> {
    match plan_migration::get(pool, org, id).await {
        Ok(m) => return migration_job(pool, m).await,
        Err(CatalogError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let job = bill_run_view(pool, org, id)
        .await?
        .ok_or_else(|| TogaiJobError::NotFound(id.to_string()))?;
    let fan_out = org_jobs::fan_out(pool, org, id).await?;
    Ok(bill_run_job(&job, &fan_out))
}

/// The entries of the organisation's Togai job `id` (see [`TogaiJobEntry`]): a
/// migration's accounts by account id, a bill run's fan-out jobs oldest first.
///
/// Errors: as [`get`].
pub async fn entries(pool: &PgPool, org: &OrgId, id: &str) -> Result<Vec<TogaiJobEntry>> {
    match plan_migration::get(pool, org, id).await {
        Ok(m) => {
            let rows = plan_migration::entries(pool, org, id, None).await?;
            return Ok(rows
                .into_iter()
                .map(|e| {
                    let mut metadata = BTreeMap::new();
                    metadata.insert("sourceVersion".to_string(), e.source_version.to_string());
                    metadata.insert("sourceFrom".to_string(), e.source_from.to_string());
                    if let Some(d) = e.switch_date {
                        metadata.insert("switchDate".to_string(), d.to_string());
                    }
                    if let Some(c) = e.credited {
                        metadata.insert("credited".to_string(), c.to_string());
                    }
                    if let Some(r) = e.reason {
                        metadata.insert("reason".to_string(), r);
                    }
                    if !e.dropped_overrides.is_empty() {
                        metadata.insert(
                            "droppedOverrides".to_string(),
                            e.dropped_overrides.join(","),
                        );
                    }
                    TogaiJobEntry {
                        entity_id: e.account_id,
                        job_id: m.id.clone(),
                        status: match e.status {
                            PlanMigrationEntryStatus::Pending => JobStatus::Pending,
                            PlanMigrationEntryStatus::Completed => JobStatus::Completed,
                            PlanMigrationEntryStatus::Failed => JobStatus::Failed,
                        },
                        created_at: m.created_at,
                        metadata,
                    }
                })
                .collect());
        }
        Err(CatalogError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    bill_run_view(pool, org, id)
        .await?
        .ok_or_else(|| TogaiJobError::NotFound(id.to_string()))?;
    let fan_out = org_jobs::fan_out(pool, org, id).await?;
    Ok(fan_out
        .into_iter()
        .map(|j| {
            let mut metadata = BTreeMap::new();
            metadata.insert("kind".to_string(), j.kind.clone());
            if let Some(e) = &j.last_error {
                metadata.insert("lastError".to_string(), e.clone());
            }
            let created_at = ulid::Ulid::from_string(&j.id)
                .ok()
                .map(|u| DateTime::<Utc>::from(u.datetime()))
                .unwrap_or(j.run_at);
            TogaiJobEntry {
                entity_id: j.id,
                job_id: id.to_string(),
                status: JobStatus::of_state(j.state),
                created_at,
                metadata,
            }
        })
        .collect())
}

/// Confirms the organisation's plan migration `id` at `now`
/// ([`plan_migrations::confirm`], not waiting: workers run its job).
///
/// Errors: [`TogaiJobError::NotConfirmable`] for a bill run; the migration's (not
/// awaiting confirmation: a conflict); [`TogaiJobError::NotFound`].
pub async fn confirm(
    pool: &PgPool,
    config: Arc<Config>,
    org: &OrgId,
    id: &str,
    now: DateTime<Utc>,
) -> Result<TogaiJob> {
    decide(pool, org, id, "confirmed").await?;
    let m = plan_migrations::confirm(pool, config, org, id, now, Wait::No).await?;
    migration_job(pool, m).await
}

/// Rejects the organisation's plan migration `id` at `now`
/// ([`plan_migrations::reject`]): it ends CANCELLED, having done nothing.
///
/// Errors: as [`confirm`].
pub async fn reject(pool: &PgPool, org: &OrgId, id: &str, now: DateTime<Utc>) -> Result<TogaiJob> {
    decide(pool, org, id, "rejected").await?;
    let m = plan_migrations::reject(pool, org, id, now).await?;
    migration_job(pool, m).await
}

/// Checks that `id` is a migration of `org` (Ok), a bill run (refused), or nothing.
async fn decide(pool: &PgPool, org: &OrgId, id: &str, verb: &'static str) -> Result<()> {
    match plan_migration::get(pool, org, id).await {
        Ok(_) => Ok(()),
        Err(CatalogError::NotFound { .. }) => match bill_run_view(pool, org, id).await? {
            Some(_) => Err(TogaiJobError::NotConfirmable(id.to_string(), verb)),
            None => Err(TogaiJobError::NotFound(id.to_string())),
        },
        Err(e) => Err(e.into()),
    }
}

/// Enqueues a bill run of the organisation acting as of `as_of`: one `cycle-close`
/// job for it (as `billrun enqueue cycle-close --org ORG`), which closes every cycle
/// of its accounts ended by then and finalizes drafts past their grace period.
/// Returns the job (its id is the Togai job's).
///
/// Errors: the database.
pub async fn bill_run(
    pool: &PgPool,
    config: &Config,
    org: &OrgId,
    as_of: DateTime<Utc>,
) -> Result<JobView> {
    let job = NewJob {
        kind: JobKind::CycleClose,
        payload: serde_json::json!({ "organisation": org.as_str() }),
        as_of,
        organisation: Some(org.clone()),
    };
    let enqueued = super::jobs::enqueue(pool, config, job, None, None).await?;
    Ok(org_jobs::show(pool, org, enqueued.id()).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, state: JobState) -> JobView {
        JobView {
            id: id.into(),
            kind: "close-chunk".into(),
            organisation: Some("acme".into()),
            state,
            status: String::new(),
            attempts: 1,
            max_attempts: 3,
            run_at: DateTime::UNIX_EPOCH,
            locked_at: None,
            locked_by: None,
            done_at: None,
            last_error: None,
            result: None,
            idempotency_key: None,
            request: None,
        }
    }

    #[test]
    fn a_bill_run_is_done_when_its_fan_out_is() {
        let root = job("r", JobState::Done);
        let t = bill_run_job(
            &root,
            &[job("a", JobState::Done), job("b", JobState::Pending)],
        );
        assert_eq!(t.status, JobStatus::InProgress);
        assert_eq!((t.total, t.pending, t.completed, t.failed), (2, 1, 1, 0));
        let t = bill_run_job(&root, &[job("a", JobState::Done), job("b", JobState::Dead)]);
        assert_eq!(t.status, JobStatus::Failed);
        assert_eq!((t.total, t.pending, t.completed, t.failed), (2, 0, 1, 1));
        let t = bill_run_job(&root, &[job("a", JobState::Done)]);
        assert_eq!(t.status, JobStatus::Completed);
        assert!(t.settled_at.is_some());
        let t = bill_run_job(&job("r", JobState::Retrying), &[]);
        assert_eq!(t.status, JobStatus::InProgress);
        assert_eq!(t.job_type.as_str(), "BILL_RUN");
    }

    #[test]
    fn errors_have_the_kinds_the_api_answers_with() {
        assert_eq!(
            TogaiJobError::NotFound("x".into()).kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            TogaiJobError::NotConfirmable("x".into(), "confirmed").kind(),
            ErrorKind::Conflict
        );
    }
}
