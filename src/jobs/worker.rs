//! `billrun worker`: one apalis worker per job kind, supervised by a monitor.
//!
//! What the crate does not do by itself, and this module adds:
//! - **Unique names.** Every process, and every restart of a worker inside it, has
//!   its own name (`host/pid/ulid/kind/restart`). A restarted worker that kept its
//!   old name would keep heartbeating for the jobs its dead predecessor held, and
//!   those jobs would stay "running" forever.
//! - **Backoff.** apalis re-fetches a failed job at once. Before a failed attempt is
//!   acknowledged, the handler moves the job's `run_at` forward by the backoff
//!   (`base * 2^(attempt-1)`, capped), so the next attempt waits in the database,
//!   not in a worker's memory. A fatal error lowers `max_attempts` to the attempt
//!   just made: the job is dead at once, with its error.
//! - **Restarts.** A database error stops an apalis worker; the monitor restarts it
//!   (after a pause) under a new name, so a worker survives a database restart.
//! - **Uncut transactions.** Workers read the queue through
//!   [`crate::queue::backend::QueueBackend`]: apalis-postgres's queries, each run to its
//!   end in a task of its own, so stopping a worker never drops a transaction.
//! - **Orphans.** A worker that stops heartbeating for `heartbeat_secs *
//!   missed_heartbeats` loses its running jobs to the others (apalis's re-enqueue).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use apalis::prelude::*;
use apalis_core::backend::ext::poll_strategy::{PollSnapshot, PollStrategy, PollWith};
use serde_json::Value;
use sqlx::PgPool;

use crate::config::Config;
use crate::jobs;
use crate::queue::backend::QueueBackend;
use crate::queue::{JobContext, JobError, JobKind, JobRequest};
use crate::timing::{Phase, Step};

/// A name no other process, anywhere, has: host, pid, and a ULID.
pub fn process_name() -> String {
    let host = hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "host".to_string());
    format!("{host}/{}/{}", std::process::id(), ulid::Ulid::generate())
}

/// Wakes an idle worker every `period` to look for jobs.
///
/// apalis 1.0's own `IntervalStrategy` re-arms its timer without polling it, so no
/// wake-up is registered: wrapped in `PollWith` (which ignores its result), an idle
/// worker only looked again on its next heartbeat, seconds later. This one polls the
/// re-armed timer once, which registers the task's waker for the next tick.
struct Ticker {
    period: Duration,
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl Ticker {
    fn new(period: Duration) -> Self {
        Self {
            period,
            sleep: Box::pin(tokio::time::sleep(period)),
        }
    }
}

impl PollStrategy for Ticker {
    fn poll_drive(
        &mut self,
        cx: &mut std::task::Context<'_>,
        _: &PollSnapshot,
    ) -> std::task::Poll<Option<()>> {
        use std::future::Future;
        if self.sleep.as_mut().poll(cx).is_pending() {
            return std::task::Poll::Pending;
        }
        self.sleep
            .as_mut()
            .reset(tokio::time::Instant::now() + self.period);
        let _ = self.sleep.as_mut().poll(cx);
        std::task::Poll::Ready(Some(()))
    }
}

/// What every handler of this process shares.
#[derive(Clone)]
struct Runtime {
    pool: PgPool,
    config: Arc<Config>,
}

/// Runs workers for `kinds` until `shutdown` resolves, then lets running jobs finish.
pub async fn run(
    pool: PgPool,
    config: Arc<Config>,
    kinds: Vec<JobKind>,
    process: String,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    run_jobs(pool, config, kinds, process, None, shutdown).await
}

/// [`run`], claiming only job `root` and the jobs it fanned out to (metadata `root`)
/// when `root` is given: `billrun run` and `--wait` never run anyone else's jobs.
pub async fn run_jobs(
    pool: PgPool,
    config: Arc<Config>,
    kinds: Vec<JobKind>,
    process: String,
    root: Option<String>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let mut monitor = Monitor::new().should_restart(|ctx, error| {
        tracing::warn!(worker = ctx.name(), "worker stopped: {error}; restarting");
        // The database is likely down: do not spin. This callback is synchronous.
        std::thread::sleep(Duration::from_millis(500));
        true
    });
    for kind in kinds {
        let concurrency = config.worker.concurrency_of(kind.name());
        if concurrency == 0 {
            continue;
        }
        let rt = Runtime {
            pool: pool.clone(),
            config: config.clone(),
        };
        let base = format!("{process}/{}", kind.name());
        let root = root.clone();
        monitor = monitor.register(move |restarts| {
            let w = &rt.config.worker;
            let queue_config = apalis_postgres::Config::default()
                .queue(kind.queue())
                // One job per claim: a worker claims a job only when it has a free
                // slot, so a worker that dies holds only the jobs it was running.
                .batch_size(1)
                .heartbeat_interval(Duration::from_secs(w.heartbeat_secs.max(1)))
                .missed_heartbeats(w.missed_heartbeats.max(1));
            let storage = QueueBackend::<JobRequest>::new(&rt.pool, queue_config, root.clone());
            let poll = Ticker::new(Duration::from_millis(w.poll_interval_ms.max(10)));
            WorkerBuilder::new(format!("{base}/{restarts}"))
                .backend(PollWith::new(storage, poll))
                .concurrency(concurrency)
                .data(rt.clone())
                .parallelize(tokio::spawn)
                .build(handle)
        });
    }
    monitor
        .run_with_signal(async move {
            shutdown.await;
            Ok(())
        })
        .await?;
    Ok(())
}

/// The apalis handler of every kind: runs the job, logs one line, and arranges the
/// retry of a failure.
async fn handle(
    req: JobRequest,
    task_id: TaskId,
    attempt: Attempt,
    rt: Data<Runtime>,
    worker: WorkerContext,
) -> Result<Value, BoxDynError> {
    let job_id = task_id.to_string();
    let attempt = attempt.current() as u32;
    let ctx = JobContext {
        pool: rt.pool.clone(),
        config: rt.config.clone(),
        job_id: job_id.clone(),
        attempt,
        worker: worker.name().to_string(),
        as_of: req.as_of,
        root: req.root.clone().unwrap_or_else(|| job_id.clone()),
    };
    let started = Instant::now();
    let result = jobs::execute(&ctx, &req).await;
    let elapsed = started.elapsed();
    let step = match req.kind {
        JobKind::CycleClose => Some(Step::Scan),
        JobKind::CloseChunk => Some(Step::Close),
        JobKind::FinalizeChunk => Some(Step::Finalize),
        _ => None,
    };
    if let Some(step) = step {
        crate::timing::add(step, Phase::Job, elapsed);
    }
    let duration_ms = elapsed.as_millis() as u64;
    let organisation = req.organisation.as_deref().unwrap_or("-");
    match result {
        Ok(value) => {
            tracing::info!(job_id, kind = %req.kind, organisation, attempt, duration_ms, outcome = "done", "job run");
            Ok(value)
        }
        Err(error) => {
            let outcome = match schedule_retry(&rt, &job_id, attempt, &error).await {
                Ok(Some(delay)) => format!("retry in {}ms", delay.as_millis()),
                Ok(None) => "dead".to_string(),
                Err(e) => format!("failed (could not schedule the retry: {e})"),
            };
            tracing::warn!(job_id, kind = %req.kind, organisation, attempt, duration_ms, outcome, error = %error, "job run");
            Err(Box::new(error))
        }
    }
}

/// Moves a failed job's next attempt to `now + backoff`, or makes it dead at once
/// if the error is fatal. Returns the delay, or `None` when no attempt is left.
async fn schedule_retry(
    rt: &Runtime,
    job_id: &str,
    attempt: u32,
    error: &JobError,
) -> Result<Option<Duration>, sqlx::Error> {
    if let JobError::Fatal(_) = error {
        sqlx::query("UPDATE apalis.jobs SET max_attempts = $2 WHERE id = $1")
            .bind(job_id)
            .bind(attempt as i32)
            .execute(&rt.pool)
            .await?;
        return Ok(None);
    }
    let delay = rt.config.retry.backoff(attempt);
    let max_attempts: Option<i32> = sqlx::query_scalar(
        "UPDATE apalis.jobs
         SET run_at = CASE WHEN $3 < max_attempts
                           THEN clock_timestamp() + $2 * interval '1 millisecond'
                           ELSE run_at END
         WHERE id = $1 RETURNING max_attempts",
    )
    .bind(job_id)
    .bind(delay.as_millis() as i64)
    .bind(attempt as i32)
    .fetch_optional(&rt.pool)
    .await?;
    Ok(match max_attempts {
        Some(max) if (attempt as i32) < max => Some(delay),
        _ => None,
    })
}
