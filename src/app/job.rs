//! Running one operator job and waiting for it, with a typed failure: what the
//! application functions that do their work as a job (re-render, resend, credit
//! grant) share.
//!
//! The job goes through the queue like any other (see [`crate::jobs::run`]): this
//! process runs workers for exactly that job and its fan-out until they are
//! finished, so workers elsewhere may run some of them too.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

use crate::config::Config;
use crate::error::{Classify, ErrorKind};
use crate::jobs::run::Interrupted;
use crate::queue::admin::{JobState, JobView};
use crate::queue::JobKind;
use crate::store::OrgId;

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
            JobFailure::Interrupted(_) | JobFailure::Wait(_) | JobFailure::NotDone { .. } => {
                ErrorKind::Unavailable
            }
        }
    }
}

/// Enqueues a `kind` job with `payload` for organisation `org`, acting as of `as_of`,
/// runs it (and everything it fans out to) and waits at most `timeout`. Returns the
/// job, `done`; any other end is a [`JobFailure`].
pub async fn run(
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

#[cfg(test)]
mod tests {
    use super::JobFailure;
    use crate::error::{Classify, ErrorKind};
    use crate::jobs::run::Interrupted;
    use crate::queue::admin::JobState;
    use crate::queue::JobKind;

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
