//! `billrun worker`: run jobs (and the cron scheduler) until a signal.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use sqlx::PgPool;

use crate::config::Config;
use crate::jobs::{schedule, worker};
use crate::queue::JobKind;

/// `billrun worker`.
#[derive(clap::Args, Debug)]
pub struct WorkerArgs {
    /// Only these kinds (comma-separated); default all.
    #[arg(long, value_delimiter = ',')]
    kinds: Vec<String>,
    /// Do not run the cron scheduler in this process.
    #[arg(long)]
    no_scheduler: bool,
    /// Schedule file (default: `schedule_file`, else the built-in schedule).
    #[arg(long, value_name = "FILE")]
    schedule: Option<PathBuf>,
    /// After the first SIGINT/SIGTERM, wait at most this long for running jobs,
    /// then stop anyway (default: wait for them; a second signal stops at once).
    #[arg(long, value_name = "SECS")]
    shutdown_timeout: Option<u64>,
    /// Also serve the HTTP API in this process (as `billrun serve`); the first
    /// SIGINT/SIGTERM stops both: the server finishes its requests in flight, the
    /// worker its running jobs.
    #[arg(long)]
    serve: bool,
    /// With `--serve`: the address to listen on (default: `[http] listen`).
    #[arg(long, value_name = "HOST:PORT", requires = "serve")]
    listen: Option<String>,
}

/// Runs `billrun worker` until a signal (see [`shutdown_signals`]); refuses to start
/// with a `[mail]` configuration it cannot send with (no `smtp_url`, a bad URL or
/// scheme, an unreadable `ca_file`).
pub async fn run(pool: PgPool, config: Arc<Config>, args: WorkerArgs) -> Result<()> {
    use futures::FutureExt;
    let kinds = super::jobs::parse_kinds(&args.kinds)?;
    // A mail configuration it cannot use stops the worker now, not every
    // deliver-chunk (and user invitation) later.
    crate::mail::Mailer::from_config(&config).context("the worker cannot send email")?;
    let shutdown = shutdown_signals(args.shutdown_timeout.map(Duration::from_secs))?.shared();
    let server = if args.serve {
        let listen = super::serve::listen_address(&config, args.listen.as_deref())?;
        let listener = crate::http::bind(listen).await?;
        Some(tokio::spawn(crate::http::serve_on(
            listener,
            pool.clone(),
            config.clone(),
            shutdown.clone(),
        )))
    } else {
        None
    };
    let worked = run_worker(
        pool,
        config,
        kinds,
        !args.no_scheduler,
        args.schedule,
        shutdown,
    )
    .await;
    if let Some(server) = server {
        server.await.context("the HTTP API task")??;
    }
    worked
}

async fn run_worker(
    pool: PgPool,
    config: Arc<Config>,
    kinds: Vec<JobKind>,
    scheduler: bool,
    schedule_file: Option<PathBuf>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let process = worker::process_name();
    tracing::info!(process, kinds = ?kinds.iter().map(|k| k.name()).collect::<Vec<_>>(), "worker starting");
    if scheduler && config.worker.scheduler {
        let file = schedule_file.or_else(|| config.schedule_file.clone());
        let (entries, from) = schedule::load_configured(file.as_deref())?;
        tracing::info!(schedules = entries.len(), "scheduler running {from}");
        tokio::spawn(schedule::run(
            pool.clone(),
            entries,
            config.retry.max_attempts,
        ));
    }
    worker::run(pool, config, kinds, process, shutdown).await
}

/// The worker's signals. Returns a future that resolves on the first SIGINT or
/// SIGTERM (graceful: stop claiming, let running jobs finish). After it, a second
/// signal, or `timeout` elapsing, ends the process at once (status 130 and 1): the
/// jobs still running are picked up by other workers once this one's heartbeats are
/// missed (their attempt counted).
fn shutdown_signals(
    timeout: Option<Duration>,
) -> Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        tracing::info!(
            "shutting down: finishing running jobs (a second Ctrl-C / SIGTERM stops at once)"
        );
        let _ = first_tx.send(());
        let limit = async {
            match timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = term.recv() => {
                eprintln!("second signal: stopping at once; running jobs go to other workers once this one's heartbeats are missed");
                std::process::exit(130);
            }
            _ = int.recv() => {
                eprintln!("second signal: stopping at once; running jobs go to other workers once this one's heartbeats are missed");
                std::process::exit(130);
            }
            _ = limit => {
                eprintln!("shutdown timeout reached: stopping with jobs still running; they go to other workers once this one's heartbeats are missed");
                std::process::exit(1);
            }
        }
    });
    Ok(async move {
        let _ = first_rx.await;
    })
}
