//! Jobs as an operator sees them: enqueue any kind, run one and wait, list, show,
//! retry, cancel (README "Jobs"); and running an operation's job until it is done
//! ([`run_operation`]), with a typed failure ([`JobFailure`]).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

use crate::config::Config;
use crate::error::{Classify, ErrorKind};
use crate::jobs::run::Interrupted;
use crate::paging::Page;
use crate::queue::admin::{self, AdminError, JobState, JobView, ListFilter};
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
    /// Running or waiting for the job failed: the database, the workers, or an
    /// interrupted wait ([`JobFailure::Interrupted`]).
    #[error(transparent)]
    Wait(#[from] JobFailure),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl Classify for JobsError {
    fn kind(&self) -> ErrorKind {
        match self {
            JobsError::Invalid(_) => ErrorKind::Invalid,
            JobsError::NotFound(_) | JobsError::Admin(AdminError::NotFound(_)) => {
                ErrorKind::NotFound
            }
            JobsError::Admin(AdminError::WrongState { .. }) => ErrorKind::Conflict,
            JobsError::Wait(e) => e.kind(),
            JobsError::Admin(_) | JobsError::Db(_) => ErrorKind::Unavailable,
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

/// Why an operator job did not end `done`, or could not be waited for.
///
/// The messages are the job's own (its last error) or the wait's, unchanged: a
/// front end prints them as they are.
#[derive(Debug, thiserror::Error)]
pub enum JobFailure {
    /// The payload was refused before anything was enqueued (a bug in the caller:
    /// the payloads built here are valid).
    #[error("{0}")]
    Request(String),
    /// The wait was interrupted (Ctrl-C): the job goes on in the queue. The message
    /// is [`Interrupted`]'s, which stays in the error's chain (the CLI exits 130).
    #[error("{0}")]
    Interrupted(#[source] Interrupted),
    /// The job could not be enqueued or waited for: the database failed, it did not
    /// finish within the time allowed, or a job it fanned out to is dead. The
    /// message says which (with the job's id).
    #[error("{0}")]
    Wait(String),
    /// The job finished without succeeding (dead after its attempts, or cancelled).
    #[error("{}", .last_error.clone().unwrap_or_else(|| format!("the {kind} job is {state}")))]
    NotDone {
        /// The job's kind.
        kind: JobKind,
        /// The state it ended in.
        state: JobState,
        /// Its last error (a fatal error's message names what was wrong).
        last_error: Option<String>,
    },
}

impl JobFailure {
    /// The failure of a wait ([`crate::jobs::run::wait_for_job`] or
    /// [`crate::jobs::run::run_to_completion`]): an interruption stays one, anything
    /// else is its message with its causes (`a: b`), as the CLI printed it.
    pub fn from_wait(err: anyhow::Error) -> Self {
        match err.downcast::<Interrupted>() {
            Ok(i) => JobFailure::Interrupted(i),
            Err(e) => JobFailure::Wait(format!("{e:#}")),
        }
    }
}

impl Classify for JobFailure {
    fn kind(&self) -> ErrorKind {
        match self {
            JobFailure::Request(_) => ErrorKind::Invalid,
            // The job's own refusals are checked before it is enqueued (each
            // operation checks what it can first): what is left is the database, the
            // mail server, a renderer, or the wait.
            JobFailure::Interrupted(_) => ErrorKind::Interrupted,
            JobFailure::Wait(_) | JobFailure::NotDone { .. } => ErrorKind::Unavailable,
        }
    }
}

/// Enqueues a `kind` job with `payload` for organisation `org`, acting as of `as_of`,
/// runs it (and everything it fans out to) and waits at most `timeout`. Returns the
/// job, `done`; any other end is a [`JobFailure`]. The common path of the operations that
/// do their work as a job (re-render, resend, credit grant).
pub async fn run_operation(
    pool: &PgPool,
    config: Arc<Config>,
    kind: JobKind,
    payload: Value,
    org: &OrgId,
    as_of: DateTime<Utc>,
    timeout: Duration,
) -> Result<JobView, JobFailure> {
    let req = crate::jobs::request(kind, payload, as_of, Some(org.to_string()))
        .map_err(JobFailure::Request)?;
    let job = crate::jobs::run::run_to_completion(pool, config, req, timeout)
        .await
        .map_err(JobFailure::from_wait)?;
    if job.state != JobState::Done {
        return Err(JobFailure::NotDone {
            kind,
            state: job.state,
            last_error: job.last_error,
        });
    }
    Ok(job)
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
    crate::jobs::run::run_to_completion(pool, config, req, timeout)
        .await
        .map_err(|e| JobFailure::from_wait(e).into())
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

    #[test]
    fn job_failures_are_classified_and_keep_their_messages() {
        let not_done = JobFailure::NotDone {
            kind: JobKind::RenderChunk,
            state: JobState::Cancelled,
            last_error: None,
        };
        assert_eq!(not_done.kind(), ErrorKind::Unavailable);
        assert_eq!(not_done.to_string(), "the render-chunk job is cancelled");
        let dead = JobFailure::NotDone {
            kind: JobKind::CreditGrant,
            state: JobState::Dead,
            last_error: Some("currency: no".into()),
        };
        assert_eq!(dead.to_string(), "currency: no");
        assert_eq!(JobFailure::Request("bad".into()).kind(), ErrorKind::Invalid);
        let wait = JobFailure::from_wait(anyhow::anyhow!("job 1 did not finish within 5s"));
        assert_eq!(wait.kind(), ErrorKind::Unavailable);
        assert_eq!(wait.to_string(), "job 1 did not finish within 5s");
    }

    #[test]
    fn an_interrupted_wait_stays_an_interruption_in_the_chain() {
        let failure = JobFailure::from_wait(Interrupted { job: "j1".into() }.into());
        assert!(matches!(failure, JobFailure::Interrupted(_)));
        let err = anyhow::Error::from(failure);
        assert!(err
            .chain()
            .any(|e| e.downcast_ref::<Interrupted>().is_some()));
        assert!(err
            .to_string()
            .starts_with("interrupted: stopped waiting for job j1"));
    }
}
