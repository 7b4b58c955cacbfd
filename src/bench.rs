//! `billrun bench ...`: measurements on this machine (never timed assertions).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::Utc;
use clap::Subcommand;
use sqlx::PgPool;

use crate::config::Config;
use crate::jobs::{JobKind, JobRequest};
use crate::queue::{self, worker, EnqueueOptions};

/// The benchmarks.
#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Enqueue and completion rates of no-op jobs through the real queue and workers.
    Queue {
        /// Number of jobs.
        #[arg(long, default_value_t = 5000)]
        jobs: usize,
        /// Concurrency of the no-op worker.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
}

/// Runs a benchmark and prints its figures.
pub async fn run(pool: &PgPool, config: Arc<Config>, command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Queue { jobs, concurrency } => {
            queue_bench(pool, config, jobs, concurrency).await
        }
    }
}

async fn queue_bench(
    pool: &PgPool,
    config: Arc<Config>,
    jobs: usize,
    concurrency: usize,
) -> Result<()> {
    sqlx::query("DELETE FROM apalis.jobs WHERE job_type = $1")
        .bind(JobKind::Noop.queue())
        .execute(pool)
        .await?;
    let req = JobRequest {
        kind: JobKind::Noop,
        as_of: Utc::now(),
        organisation: None,
        payload: serde_json::Value::Null,
        root: None,
    };
    let opts = EnqueueOptions {
        max_attempts: 1,
        ..Default::default()
    };
    // One insert per job, each its own transaction: the cost of an enqueue from a CLI
    // or a job step.
    let mut conn = pool.acquire().await?;
    let start = Instant::now();
    for _ in 0..jobs {
        queue::enqueue(&mut conn, &req, &opts).await?;
    }
    let enqueue_secs = start.elapsed().as_secs_f64();

    let mut cfg = (*config).clone();
    cfg.worker
        .concurrency
        .insert(JobKind::Noop.name().into(), concurrency);
    cfg.worker.poll_interval_ms = cfg.worker.poll_interval_ms.min(50);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let start = Instant::now();
    let workers = tokio::spawn(worker::run(
        pool.clone(),
        Arc::new(cfg),
        vec![JobKind::Noop],
        worker::process_name(),
        async move {
            let _ = stop_rx.await;
        },
    ));
    loop {
        let left: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM apalis.jobs WHERE job_type = $1 AND status <> 'Done'",
        )
        .bind(JobKind::Noop.queue())
        .fetch_one(pool)
        .await?;
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let complete_secs = start.elapsed().as_secs_f64();
    let _ = stop_tx.send(());
    workers.await??;
    sqlx::query("DELETE FROM apalis.jobs WHERE job_type = $1")
        .bind(JobKind::Noop.queue())
        .execute(pool)
        .await?;
    println!("bench queue: {jobs} no-op jobs, worker concurrency {concurrency}");
    println!(
        "  enqueue:    {:>9.0} jobs/s  ({enqueue_secs:.2} s, one insert per job)",
        jobs as f64 / enqueue_secs
    );
    println!(
        "  completion: {:>9.0} jobs/s  ({complete_secs:.2} s, claim + run + ack)",
        jobs as f64 / complete_secs
    );
    Ok(())
}
