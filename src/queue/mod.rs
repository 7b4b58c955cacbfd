//! The job queue: apalis-postgres tables (`apalis.jobs`), written and read by billrun.
//!
//! Jobs are inserted with plain SQL (the same columns apalis's own sink writes) so
//! that a step can enqueue its successor in the transaction that records its own
//! effect, and so that an idempotency key conflict is a no-op rather than an error.
//! Workers ([`worker`]) are apalis workers; the cron scheduler ([`schedule`]) only
//! enqueues.
//!
//! Job states as billrun shows them, derived from apalis's `status`:
//! `scheduled` (Pending, run_at in the future), `pending`, `running` (Queued or
//! Running: claimed by a worker), `done`, `retrying` (Failed, attempts left: waits
//! for its backoff), `dead` (Failed, no attempts left), `cancelled` (Killed).

pub mod admin;
pub mod backend;
pub mod schedule;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use chrono::{DateTime, Utc};
use sqlx::PgPool;

use self::admin::JobView;
use crate::config::Config;
use serde_json::Value;
use sqlx::PgConnection;

use crate::jobs::{JobKind, JobRequest};

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

/// Builds a request, checking the payload against the kind.
pub fn request(
    kind: JobKind,
    payload: Value,
    as_of: DateTime<Utc>,
    organisation: Option<String>,
) -> Result<JobRequest, String> {
    kind.validate_payload(&payload)?;
    Ok(JobRequest {
        kind,
        as_of,
        organisation,
        payload,
        root: None,
    })
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

/// Enqueues `req` and runs workers in this process until the job and every job it
/// fanned out to are finished (done, dead or cancelled). The jobs go through the
/// queue like any other, so workers elsewhere may run some; either way this waits.
pub async fn run_to_completion(
    pool: &PgPool,
    config: Arc<Config>,
    req: JobRequest,
    timeout: Duration,
) -> Result<JobView> {
    let opts = EnqueueOptions {
        run_at: None,
        idempotency_key: None,
        max_attempts: config.retry.max_attempts,
    };
    let id = enqueue(&mut *pool.acquire().await?, &req, &opts)
        .await?
        .id()
        .to_string();
    wait_for_job(pool, config, &id, timeout).await
}

/// Waiting for a job was stopped by Ctrl-C (SIGINT): the job itself goes on in the
/// queue. The command exits with status 130 and this message.
#[derive(Debug)]
pub struct Interrupted {
    /// The job waited for.
    pub job: String,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "interrupted: stopped waiting for job {job}. It stays in the queue: a worker runs it \
             (one this process ran is picked up again once its heartbeats are missed). \
             Follow it with `billrun jobs show {job}`",
            job = self.job
        )
    }
}

impl std::error::Error for Interrupted {}

/// Runs workers in this process until job `id` and every job it fanned out to are
/// finished (done, dead or cancelled): the job is already in the queue. These
/// workers claim only that job and its fan-out, never another pending job.
pub async fn wait_for_job(
    pool: &PgPool,
    config: Arc<Config>,
    id: &str,
    timeout: Duration,
) -> Result<JobView> {
    let id = id.to_string();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let workers = tokio::spawn(worker::run_jobs(
        pool.clone(),
        config.clone(),
        JobKind::ALL.to_vec(),
        worker::process_name(),
        Some(id.clone()),
        async move {
            let _ = stop_rx.await;
        },
    ));
    let deadline = tokio::time::Instant::now() + timeout;
    let mut interrupt = std::pin::pin!(tokio::signal::ctrl_c());
    let job = loop {
        if let Some(job) = admin::show(pool, &id).await? {
            if matches!(job.state.as_str(), "done" | "dead" | "cancelled") {
                // Then every job it fanned out to.
                let (unfinished, dead) = admin::descendants(pool, &id).await?;
                if unfinished == 0 {
                    if dead > 0 {
                        let _ = stop_tx.send(());
                        let _ = workers.await;
                        bail!("job {id} finished, but {dead} of the jobs it enqueued are dead: see `billrun jobs list --state dead`");
                    }
                    break job;
                }
            }
        }
        if tokio::time::Instant::now() > deadline {
            let _ = stop_tx.send(());
            bail!("job {id} did not finish within {}s", timeout.as_secs());
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = &mut interrupt => {
                // Stop at once: the jobs this process runs are dropped (their
                // transactions roll back) and recovered by other workers.
                workers.abort();
                return Err(Interrupted { job: id }.into());
            }
        }
    };
    let _ = stop_tx.send(());
    workers.await??;
    Ok(job)
}

/// Runs one operator job (`kind` with `payload`, acting now) through the queue, waits,
/// and fails with the job's last error unless it is done: the common path of CLI
/// commands that do their work as a job (`credit grant`, `invoice rerender`, ...).
pub async fn run_operator_job(
    pool: &PgPool,
    config: Arc<Config>,
    kind: crate::jobs::JobKind,
    payload: Value,
    organisation: &str,
    timeout: Duration,
) -> Result<JobView> {
    let req = request(kind, payload, Utc::now(), Some(organisation.to_string()))
        .map_err(anyhow::Error::msg)?;
    let job = run_to_completion(pool, config, req, timeout).await?;
    if job.state != "done" {
        bail!(
            "{}",
            job.last_error
                .unwrap_or_else(|| format!("the {kind} job is {}", job.state))
        );
    }
    Ok(job)
}
