//! Waiting for jobs from a command: `billrun run`, and the commands that do their work
//! as a job (`credit grant`, `invoice rerender`, `import`, ...). The jobs go through
//! the queue like any other; this process runs workers for exactly the job waited for
//! and its fan-out.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use sqlx::PgPool;

use super::worker;
use crate::config::Config;
use crate::queue::admin::{self, JobView};
use crate::queue::{enqueue, EnqueueOptions, JobKind, JobRequest};

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
            if job.state.is_finished() {
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
