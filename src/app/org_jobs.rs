//! The jobs of one organisation, as the HTTP API serves them (`/billrun/jobs`, README
//! "HTTP API"): enqueue, list, show, retry and cancel, each refusing another
//! organisation's jobs as if they did not exist (README "Identity": tenants are
//! isolated).
//!
//! A job belongs to the organisation named in its request (`organisation`, set by
//! whoever enqueued it; a bill run's fan-out carries its organisation). A job that
//! names none (the scheduler's maintenance jobs, a `cycle-close` for every
//! organisation) belongs to no organisation and is seen only through the CLI.
//!
//! Enqueueing for an organisation ([`enqueue_for`]) accepts only the kinds whose
//! effects stay within one organisation ([`ORG_KINDS`]); the payload's
//! `organisation`, where the kind has one, is the caller's (filled in when absent,
//! refused when it names another).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

use super::jobs::{self, JobsError, NewJob};
use crate::config::Config;
use crate::paging::Page;
use crate::queue::admin::{self, JobState, JobView, ListFilter};
use crate::queue::{Enqueued, JobKind};
use crate::store::OrgId;

/// The kinds an organisation may enqueue for itself, and whether their payload names
/// the organisation (`true`: `organisation` is filled in or checked). Left out:
/// `probe`, `noop` and `queue-retention` (diagnostics and maintenance of the whole
/// queue), and `csv-import` (its `importId` is checked by `billrun import`, not
/// here: imports have their own commands).
pub const ORG_KINDS: &[JobKind] = &[
    JobKind::CycleClose,
    JobKind::CloseChunk,
    JobKind::FinalizeChunk,
    JobKind::RenderChunk,
    JobKind::DeliverChunk,
    JobKind::PlanMigration,
    JobKind::CreditGrant,
    JobKind::CreditExpiry,
    JobKind::InvoicePaid,
    JobKind::CreditNoteEmail,
];

/// A job an organisation asks for: its kind, payload, the instant it acts as of,
/// when to run it (now when `None`) and an idempotency key.
#[derive(Debug, Clone)]
pub struct OrgJob {
    /// The kind (one of [`ORG_KINDS`]).
    pub kind: JobKind,
    /// Its payload (`null` or an object).
    pub payload: Value,
    /// The instant it acts as of (UTC).
    pub as_of: DateTime<Utc>,
    /// Not before this instant (UTC); now when `None`.
    pub run_at: Option<DateTime<Utc>>,
    /// With a key, a second enqueue returns the first job.
    pub idempotency_key: Option<String>,
}

/// Enqueues `job` for `org`: the request's organisation is `org`, and so is the
/// payload's `organisation` (filled in when the payload has none). Returns the job
/// and whether it is new (an idempotency key seen before returns the first job).
///
/// Errors: [`JobsError::Invalid`] for a kind not in [`ORG_KINDS`], a payload that is
/// not an object or names another organisation, or one that does not fit the kind
/// (the message names the field); the database.
pub async fn enqueue_for(
    pool: &PgPool,
    config: &Config,
    org: &OrgId,
    job: OrgJob,
) -> Result<(JobView, bool), JobsError> {
    if !ORG_KINDS.contains(&job.kind) {
        let kinds: Vec<&str> = ORG_KINDS.iter().map(|k| k.name()).collect();
        return Err(JobsError::Invalid(format!(
            "kind {:?} is not for one organisation: expected one of {}",
            job.kind.name(),
            kinds.join(", ")
        )));
    }
    let mut payload = match job.payload {
        Value::Null => serde_json::Map::new(),
        Value::Object(m) => m,
        other => {
            return Err(JobsError::Invalid(format!(
                "payload {other}: expected an object"
            )))
        }
    };
    match payload.get("organisation") {
        None | Some(Value::Null) => {
            payload.insert("organisation".into(), Value::String(org.to_string()));
        }
        Some(Value::String(o)) if o == org.as_str() => {}
        Some(other) => {
            return Err(JobsError::Invalid(format!(
                "payload organisation {other}: a job is for the caller's organisation \
                 {:?} only",
                org.as_str()
            )))
        }
    }
    let new = NewJob {
        kind: job.kind,
        payload: Value::Object(payload),
        as_of: job.as_of,
        organisation: Some(org.clone()),
    };
    new.check()?;
    let enqueued = jobs::enqueue(pool, config, new, job.run_at, job.idempotency_key).await?;
    let fresh = matches!(enqueued, Enqueued::New(_));
    let view = show(pool, org, enqueued.id()).await?;
    Ok((view, fresh))
}

/// The organisation's jobs, newest first, `limit` per page, after the job `after`
/// (the previous page's last id), optionally of one kind and state.
///
/// Errors: the database.
pub async fn list(
    pool: &PgPool,
    org: &OrgId,
    kind: Option<JobKind>,
    state: Option<JobState>,
    limit: i64,
    after: Option<String>,
) -> Result<Page<JobView>, JobsError> {
    jobs::list(
        pool,
        &ListFilter {
            kind,
            state,
            organisation: Some(org.to_string()),
            limit,
            after,
        },
    )
    .await
}

/// One job of the organisation.
///
/// Errors: [`JobsError::NotFound`] for an unknown id and for another organisation's
/// (or no organisation's) job; the database.
pub async fn show(pool: &PgPool, org: &OrgId, id: &str) -> Result<JobView, JobsError> {
    let job = jobs::show(pool, id).await?;
    if job.organisation.as_deref() != Some(org.as_str()) {
        return Err(JobsError::NotFound(id.to_string()));
    }
    Ok(job)
}

/// Gives the organisation's dead or cancelled job new attempts, now
/// ([`jobs::retry`]).
///
/// Errors: as [`show`]; [`JobsError::Admin`] (a conflict) for a job in another state.
pub async fn retry(pool: &PgPool, org: &OrgId, id: &str) -> Result<JobView, JobsError> {
    show(pool, org, id).await?;
    jobs::retry(pool, id).await
}

/// Cancels the organisation's job that has not started, waits for a retry, or whose
/// worker is gone ([`jobs::cancel`]).
///
/// Errors: as [`show`]; [`JobsError::Admin`] (a conflict) for a job in another state.
pub async fn cancel(
    pool: &PgPool,
    config: &Config,
    org: &OrgId,
    id: &str,
) -> Result<JobView, JobsError> {
    show(pool, org, id).await?;
    jobs::cancel(pool, config, id).await
}

/// The jobs of the organisation's job `id`'s fan-out, oldest first (none for a job
/// that fans out to nothing).
///
/// Errors: as [`show`].
pub async fn fan_out(pool: &PgPool, org: &OrgId, id: &str) -> Result<Vec<JobView>, JobsError> {
    show(pool, org, id).await?;
    Ok(admin::fan_out(pool, id).await?)
}
