//! Jobs as an operator sees them: enqueue any kind, run one and wait, list, show,
//! retry, cancel (README "Jobs").

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

use crate::config::Config;
use crate::error::{Classify, ErrorKind};
use crate::paging::Page;
use crate::queue::admin::{self, AdminError, JobView, ListFilter};
use crate::queue::{self, EnqueueOptions, Enqueued, JobKind};
use crate::store::OrgId;

/// Why a job operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    /// The payload does not fit the kind (the message names the field and what the
    /// kind expects).
    #[error("{0}")]
    Invalid(String),
    /// No job has that id.
    #[error("no job with id {0}")]
    NotFound(String),
    /// Retry or cancel does not apply to the job's state.
    #[error(transparent)]
    Admin(#[from] AdminError),
    /// The wait for the job was interrupted (Ctrl-C); the job goes on.
    #[error(transparent)]
    Interrupted(crate::jobs::run::Interrupted),
    /// Running or waiting for the job failed (the database, the workers).
    #[error(transparent)]
    Run(anyhow::Error),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl From<anyhow::Error> for JobsError {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<crate::jobs::run::Interrupted>() {
            Ok(i) => JobsError::Interrupted(i),
            Err(e) => JobsError::Run(e),
        }
    }
}

impl Classify for JobsError {
    fn kind(&self) -> ErrorKind {
        match self {
            JobsError::Invalid(_) => ErrorKind::Invalid,
            JobsError::NotFound(_) | JobsError::Admin(AdminError::NotFound(_)) => {
                ErrorKind::NotFound
            }
            JobsError::Admin(AdminError::WrongState { .. }) => ErrorKind::Conflict,
            JobsError::Interrupted(_) => ErrorKind::Interrupted,
            JobsError::Admin(_) | JobsError::Run(_) | JobsError::Db(_) => ErrorKind::Unavailable,
        }
    }
}

/// What to enqueue: a kind, its payload (checked against the kind's payload type),
/// the instant the job acts as of, and for whom.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// The kind.
    pub kind: JobKind,
    /// Its payload (`null` for kinds without one).
    pub payload: Value,
    /// The instant the job acts as of (UTC).
    pub as_of: DateTime<Utc>,
    /// The organisation it is for (logs, `jobs list --org`).
    pub organisation: Option<OrgId>,
}

impl NewJob {
    /// Fails as [`enqueue`] and [`run`] would on this job's kind and payload, without
    /// the database: front ends check before they open it.
    pub fn check(&self) -> Result<(), JobsError> {
        crate::jobs::validate_payload(self.kind, &self.payload).map_err(JobsError::Invalid)
    }

    fn request(self) -> Result<queue::JobRequest, JobsError> {
        crate::jobs::request(
            self.kind,
            self.payload,
            self.as_of,
            self.organisation.map(|o| o.as_str().to_string()),
        )
        .map_err(JobsError::Invalid)
    }
}

/// Enqueues `job` to run at `run_at` (now when `None`); with an idempotency `key`,
/// a second enqueue returns the first job ([`Enqueued::Existing`]).
pub async fn enqueue(
    pool: &PgPool,
    config: &Config,
    job: NewJob,
    run_at: Option<DateTime<Utc>>,
    key: Option<String>,
) -> Result<Enqueued, JobsError> {
    let req = job.request()?;
    let opts = EnqueueOptions {
        run_at,
        idempotency_key: key,
        max_attempts: config.retry.max_attempts,
    };
    Ok(queue::enqueue(&mut *pool.acquire().await?, &req, &opts).await?)
}

/// Enqueues `job` and runs workers in this process until it and its fan-out are
/// finished, or `timeout` passes; returns the job as it ended (any state: the caller
/// decides what a job that is not done means).
pub async fn run(
    pool: &PgPool,
    config: Arc<Config>,
    job: NewJob,
    timeout: Duration,
) -> Result<JobView, JobsError> {
    let req = job.request()?;
    Ok(crate::jobs::run::run_to_completion(pool, config, req, timeout).await?)
}

/// One page of jobs, newest first (see [`admin::list`]).
pub async fn list(pool: &PgPool, filter: &ListFilter) -> Result<Page<JobView>, JobsError> {
    Ok(admin::list(pool, filter).await?)
}

/// One job.
pub async fn show(pool: &PgPool, id: &str) -> Result<JobView, JobsError> {
    admin::show(pool, id)
        .await?
        .ok_or_else(|| JobsError::NotFound(id.to_string()))
}

/// Gives a dead or cancelled job new attempts, now.
pub async fn retry(pool: &PgPool, id: &str) -> Result<JobView, JobsError> {
    Ok(admin::retry(pool, id).await?)
}

/// Cancels a job that has not started, waits for a retry, or was claimed by a worker
/// that is gone: one that missed `worker.missed_heartbeats` heartbeats of
/// `worker.heartbeat_secs` (the configuration's).
pub async fn cancel(pool: &PgPool, config: &Config, id: &str) -> Result<JobView, JobsError> {
    let w = &config.worker;
    let gone_after =
        Duration::from_secs(w.heartbeat_secs.max(1) * w.missed_heartbeats.max(1) as u64);
    Ok(admin::cancel(pool, id, gone_after).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_errors_have_the_kinds_an_api_answers_with() {
        assert_eq!(JobsError::Invalid("x".into()).kind(), ErrorKind::Invalid);
        assert_eq!(JobsError::NotFound("x".into()).kind(), ErrorKind::NotFound);
        assert_eq!(
            JobsError::Admin(AdminError::NotFound("x".into())).kind(),
            ErrorKind::NotFound
        );
        let wrong = AdminError::WrongState {
            id: "x".into(),
            state: "done".into(),
            action: "cancel",
            allowed: "pending",
        };
        assert_eq!(JobsError::Admin(wrong).kind(), ErrorKind::Conflict);
    }
}
