//! The job queue: apalis-postgres tables (`apalis.jobs`), written and read by billrun.
//!
//! Jobs are inserted with plain SQL (the same columns apalis's own sink writes) so
//! that a step can enqueue its successor in the transaction that records its own
//! effect, and so that an idempotency key conflict is a no-op rather than an error.
//! The job types ([`job`]) live here, at the bottom of the layering; the registry of
//! handlers, the workers (apalis workers) and the cron scheduler (which only enqueues)
//! are in [`crate::jobs`], above every handler.
//!
//! Job states as billrun shows them, derived from apalis's `status`:
//! `scheduled` (Pending, run_at in the future), `pending`, `running` (Queued or
//! Running: claimed by a worker), `done`, `retrying` (Failed, attempts left: waits
//! for its backoff), `dead` (Failed, no attempts left), `cancelled` (Killed).

pub mod admin;
pub mod backend;
pub mod job;

pub use job::{JobContext, JobError, JobKind, JobRequest};

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// How a job is enqueued.
#[derive(Debug, Clone, Default)]
pub struct EnqueueOptions {
    /// Not before this instant (default: now).
    pub run_at: Option<DateTime<Utc>>,
    /// At most one job of the kind with this key, ever (until pruned).
    pub idempotency_key: Option<String>,
    /// Attempts before the job is dead.
    pub max_attempts: u32,
}

/// The outcome of an enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// A new job with this id.
    New(String),
    /// A job with the same idempotency key already existed: its id.
    Existing(String),
}

impl Enqueued {
    /// The job's id, new or existing.
    pub fn id(&self) -> &str {
        match self {
            Enqueued::New(id) | Enqueued::Existing(id) => id,
        }
    }
}

/// Inserts a job. With an idempotency key that already exists for the kind, inserts
/// nothing and returns the existing job's id. `conn` may be a transaction: the job
/// then exists only if the transaction commits (a step enqueues its successor in the
/// transaction that records its own effect). A request with a `root` is recorded in
/// the job's metadata, so that `billrun run` can wait for a whole fan-out.
pub async fn enqueue(
    conn: &mut PgConnection,
    req: &JobRequest,
    opts: &EnqueueOptions,
) -> Result<Enqueued, sqlx::Error> {
    let id = ulid::Ulid::generate().to_string();
    let job = serde_json::to_vec(req).expect("a job request always serialises");
    let inserted: Option<String> = sqlx::query_scalar(
        "INSERT INTO apalis.jobs
             (id, job_type, job, status, attempts, max_attempts, run_at, priority, idempotency_key,
              metadata)
         VALUES ($1, $2, $3, 'Pending', 0, $4, COALESCE($5, now()), 0, $6,
                 CASE WHEN $7::text IS NULL THEN NULL ELSE hstore('root', $7::text) END)
         ON CONFLICT (job_type, idempotency_key) DO NOTHING
         RETURNING id",
    )
    .bind(&id)
    .bind(req.kind.queue())
    .bind(job)
    .bind(opts.max_attempts.max(1) as i32)
    .bind(opts.run_at)
    .bind(&opts.idempotency_key)
    .bind(&req.root)
    .fetch_optional(&mut *conn)
    .await?;
    match inserted {
        Some(id) => Ok(Enqueued::New(id)),
        None => {
            let existing: String = sqlx::query_scalar(
                "SELECT id FROM apalis.jobs WHERE job_type = $1 AND idempotency_key = $2",
            )
            .bind(req.kind.queue())
            .bind(&opts.idempotency_key)
            .fetch_one(&mut *conn)
            .await?;
            Ok(Enqueued::Existing(existing))
        }
    }
}
