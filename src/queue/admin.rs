//! What operators see and do with jobs: list, show, retry, cancel.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{FromRow, PgPool};

use crate::queue::JobKind;

/// One job as `billrun jobs list/show` (and `billrun run`) print it. `--json` is
/// camelCase (`maxAttempts`, `runAt`, `lastError`, ...; instants in UTC); `request`
/// and `result` are the job's stored JSON as it was written (camelCase for jobs
/// enqueued by this version; a job enqueued by an older one keeps its snake_case
/// names, e.g. `as_of`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    /// Job id (a ULID).
    pub id: String,
    /// Job kind (or the raw queue name of a foreign queue).
    pub kind: String,
    /// The organisation the job is for, if any (from its request).
    pub organisation: Option<String>,
    /// Derived state (see the module doc of [`crate::queue`]).
    pub state: JobState,
    /// apalis's raw status.
    pub status: String,
    /// Executions started so far.
    pub attempts: i32,
    /// Executions allowed.
    pub max_attempts: i32,
    /// Not before (the next attempt, when retrying).
    pub run_at: DateTime<Utc>,
    /// When a worker claimed it last.
    pub locked_at: Option<DateTime<Utc>>,
    /// The worker that claimed it last.
    pub locked_by: Option<String>,
    /// When it finished (done, failed attempt, or cancelled).
    pub done_at: Option<DateTime<Utc>>,
    /// The last error, if the last attempt failed.
    pub last_error: Option<String>,
    /// The result of the last successful attempt.
    pub result: Option<Value>,
    /// Idempotency key, if it was enqueued with one.
    pub idempotency_key: Option<String>,
    /// The request: `as_of`, organisation, payload.
    pub request: Option<Value>,
}

#[derive(FromRow)]
struct JobRow {
    id: String,
    job_type: String,
    status: String,
    attempts: i32,
    max_attempts: i32,
    run_at: DateTime<Utc>,
    lock_at: Option<DateTime<Utc>>,
    lock_by: Option<String>,
    done_at: Option<DateTime<Utc>>,
    last_result: Option<Value>,
    idempotency_key: Option<String>,
    job: Vec<u8>,
    now: DateTime<Utc>,
}

const SELECT: &str =
    "SELECT id, job_type, status, attempts, max_attempts, run_at, lock_at, lock_by,
        done_at, last_result, idempotency_key, job, now() AS now FROM apalis.jobs";

/// A job's state as billrun shows it, derived from apalis's `status`, its attempts
/// and `run_at` (the module doc of [`crate::queue`]); printed in lower case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Pending, with `run_at` in the future.
    Scheduled,
    /// Pending, due: waits for a worker.
    Pending,
    /// Claimed by a worker (apalis Queued or Running).
    Running,
    /// Finished successfully.
    Done,
    /// Failed, attempts left: waits for its backoff.
    Retrying,
    /// Failed, no attempts left.
    Dead,
    /// Cancelled by an operator (apalis Killed).
    Cancelled,
    /// An apalis status this binary does not know: shown as is (`status`), never
    /// taken for another state.
    Unknown,
}

impl JobState {
    /// The states `--state` accepts, in lifecycle order.
    pub const ALL: &'static [JobState] = &[
        JobState::Scheduled,
        JobState::Pending,
        JobState::Running,
        JobState::Done,
        JobState::Retrying,
        JobState::Dead,
        JobState::Cancelled,
    ];

    /// The name printed and accepted by `--state`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Scheduled => "scheduled",
            JobState::Pending => "pending",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Retrying => "retrying",
            JobState::Dead => "dead",
            JobState::Cancelled => "cancelled",
            JobState::Unknown => "unknown",
        }
    }

    /// Finished for good: done, dead or cancelled.
    pub fn is_finished(self) -> bool {
        matches!(self, JobState::Done | JobState::Dead | JobState::Cancelled)
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for JobState {
    type Err = String;

    /// Parses a `--state` value; the error lists the known ones.
    fn from_str(s: &str) -> Result<Self, String> {
        JobState::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<_> = JobState::ALL.iter().map(|k| k.as_str()).collect();
                format!("unknown state {s:?}: expected one of {}", known.join(", "))
            })
    }
}

/// The derived state of a job.
pub fn state_of(status: &str, attempts: i32, max_attempts: i32, run_at_future: bool) -> JobState {
    match status {
        "Pending" if run_at_future => JobState::Scheduled,
        "Pending" => JobState::Pending,
        "Queued" | "Running" => JobState::Running,
        "Done" => JobState::Done,
        "Failed" if attempts < max_attempts => JobState::Retrying,
        "Failed" => JobState::Dead,
        "Killed" => JobState::Cancelled,
        _ => JobState::Unknown,
    }
}

impl From<JobRow> for JobView {
    fn from(r: JobRow) -> Self {
        let (last_error, result) = match r.last_result {
            Some(Value::Object(m)) if m.contains_key("Err") => {
                let e = match &m["Err"] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (Some(e), None)
            }
            Some(Value::Object(m)) if m.contains_key("Ok") => (None, Some(m["Ok"].clone())),
            other => (None, other),
        };
        let request: Option<Value> = serde_json::from_slice(&r.job).ok();
        JobView {
            organisation: request
                .as_ref()
                .and_then(|q| q.get("organisation"))
                .and_then(Value::as_str)
                .map(str::to_string),
            kind: JobKind::from_queue(&r.job_type)
                .map(|k| k.name().to_string())
                .unwrap_or(r.job_type),
            state: state_of(&r.status, r.attempts, r.max_attempts, r.run_at > r.now),
            id: r.id,
            status: r.status,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            run_at: r.run_at,
            locked_at: r.lock_at,
            locked_by: r.lock_by,
            done_at: r.done_at,
            last_error,
            result,
            idempotency_key: r.idempotency_key,
            request,
        }
    }
}

/// Filters of `billrun jobs list`.
#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    /// Only this kind.
    pub kind: Option<JobKind>,
    /// Only this derived state.
    pub state: Option<JobState>,
    /// Only jobs for this organisation.
    pub organisation: Option<String>,
    /// At most this many, newest first.
    pub limit: i64,
    /// Only jobs older than this job id (the next page's `--after`): job ids are
    /// ULIDs, so id order is creation order and never changes.
    pub after: Option<String>,
}

/// Jobs matching `filter`, one page, newest first (id descending), with the count
/// of the whole listing (see [`crate::paging`]); the cursor of a page is its last
/// job's id.
pub async fn list(
    pool: &PgPool,
    filter: &ListFilter,
) -> Result<crate::paging::Page<JobView>, sqlx::Error> {
    let status_clause = match filter.state {
        None => "TRUE",
        Some(JobState::Scheduled) => "status = 'Pending' AND run_at > now()",
        Some(JobState::Pending) => "status = 'Pending' AND run_at <= now()",
        Some(JobState::Running) => "status IN ('Queued', 'Running')",
        Some(JobState::Done) => "status = 'Done'",
        Some(JobState::Retrying) => "status = 'Failed' AND attempts < max_attempts",
        Some(JobState::Dead) => "status = 'Failed' AND attempts >= max_attempts",
        Some(JobState::Cancelled) => "status = 'Killed'",
        Some(JobState::Unknown) => {
            "status NOT IN ('Pending', 'Queued', 'Running', 'Done', 'Failed', 'Killed')"
        }
    };
    let filter_sql = format!(
        "($1::text IS NULL OR job_type = $1) AND {status_clause}
           AND ($2::text IS NULL OR convert_from(job, 'UTF8')::jsonb ->> 'organisation' = $2)"
    );
    let mut tx = crate::paging::snapshot(pool).await?;
    let rows: Vec<JobRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE {filter_sql} AND ($3::text IS NULL OR id < $3)
         ORDER BY id DESC LIMIT $4"
    )))
    .bind(filter.kind.map(|k| k.queue()))
    .bind(&filter.organisation)
    .bind(&filter.after)
    .bind(crate::paging::fetch_limit(filter.limit))
    .fetch_all(&mut *tx)
    .await?;
    let (total, before): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT count(*), count(*) FILTER (WHERE id >= $3) FROM apalis.jobs WHERE {filter_sql}"
    )))
    .bind(filter.kind.map(|k| k.queue()))
    .bind(&filter.organisation)
    .bind(&filter.after)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(crate::paging::Page::new(
        rows.into_iter().map(JobView::from).collect(),
        filter.limit,
        total,
        before,
        |j: &JobView| j.id.clone(),
    ))
}

/// One job by id.
pub async fn show(pool: &PgPool, id: &str) -> Result<Option<JobView>, sqlx::Error> {
    let sql = format!("{SELECT} WHERE id = $1");
    let row: Option<JobRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(JobView::from))
}

/// Why an operator action was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No job has that id.
    #[error("no job with id {0}")]
    NotFound(String),
    /// The job is in a state the action does not apply to.
    #[error("job {id} is {state}: {action} applies only to {allowed} jobs")]
    WrongState {
        /// The job.
        id: String,
        /// Its state.
        state: String,
        /// retry or cancel.
        action: &'static str,
        /// The states it applies to.
        allowed: &'static str,
    },
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Gives a dead or cancelled job a fresh set of attempts, to run now.
pub async fn retry(pool: &PgPool, id: &str) -> Result<JobView, AdminError> {
    let n = sqlx::query(
        "UPDATE apalis.jobs
         SET status = 'Pending', attempts = 0, run_at = now(), lock_by = NULL, lock_at = NULL,
             done_at = NULL
         WHERE id = $1 AND (status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts))",
    )
    .bind(id)
    .execute(pool)
    .await?
    .rows_affected();
    finish_action(pool, id, n, "retry", "dead or cancelled").await
}

/// Cancels a job that has not started (or waits for its next attempt), or one
/// claimed by a worker that is gone: whose last heartbeat is `worker_gone_after`
/// old or more (`heartbeat_secs * missed_heartbeats`), such as a worker its own
/// job killed. A job running on a live worker is refused.
pub async fn cancel(
    pool: &PgPool,
    id: &str,
    worker_gone_after: std::time::Duration,
) -> Result<JobView, AdminError> {
    let n = sqlx::query(
        "UPDATE apalis.jobs
         SET status = 'Killed', done_at = now(), lock_by = NULL,
             last_result = '{\"Err\": \"cancelled by an operator\"}'
         WHERE id = $1
           AND (status = 'Pending' OR (status = 'Failed' AND attempts < max_attempts)
                OR (status IN ('Queued', 'Running')
                    AND NOT EXISTS (SELECT 1 FROM apalis.workers w
                                    WHERE w.id = apalis.jobs.lock_by
                                      AND now() - w.last_seen < $2 * interval '1 millisecond')))",
    )
    .bind(id)
    .bind(worker_gone_after.as_millis() as i64)
    .execute(pool)
    .await?
    .rows_affected();
    finish_action(
        pool,
        id,
        n,
        "cancel",
        "scheduled, pending or retrying, or running on a worker that is gone",
    )
    .await
}

async fn finish_action(
    pool: &PgPool,
    id: &str,
    changed: u64,
    action: &'static str,
    allowed: &'static str,
) -> Result<JobView, AdminError> {
    let job = show(pool, id)
        .await?
        .ok_or_else(|| AdminError::NotFound(id.to_string()))?;
    if changed == 0 {
        return Err(AdminError::WrongState {
            id: id.to_string(),
            state: job.state.to_string(),
            action,
            allowed,
        });
    }
    Ok(job)
}

/// The jobs of `root`'s fan-out (every job enqueued with metadata `root`: a bill
/// run's close, finalize, render and deliver chunks), oldest first (by id).
pub async fn fan_out(pool: &PgPool, root: &str) -> Result<Vec<JobView>, sqlx::Error> {
    let rows: Vec<JobRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE metadata -> 'root' = $1 ORDER BY id"
    )))
    .bind(root)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(JobView::from).collect())
}

/// Jobs of a fan-out (enqueued with `root`) that are not finished yet, and those
/// that are dead.
pub async fn descendants(pool: &PgPool, root: &str) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status IN ('Pending', 'Queued', 'Running')
                                   OR (status = 'Failed' AND attempts < max_attempts)),
                count(*) FILTER (WHERE status = 'Failed' AND attempts >= max_attempts)
         FROM apalis.jobs WHERE metadata -> 'root' = $1",
    )
    .bind(root)
    .fetch_one(pool)
    .await
}
