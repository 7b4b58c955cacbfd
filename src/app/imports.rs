//! Importing a CSV file: store it and enqueue its `csv-import` job ([`upload`]), then,
//! if the caller waits, run that job in this process and follow it until it ends
//! ([`run_here`]). What an import did is its [`ImportView`] (status and row counts).

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::config::Config;
use crate::error::{Classify, ErrorKind};
use crate::imports::store::{self, Created, ImportView};
use crate::imports::{ImportError, ImportKind, Mapping};
use crate::jobs::run::Interrupted;
use crate::jobs::worker;
use crate::queue::admin;
use crate::queue::JobKind;
use crate::store::OrgId;

/// How often [`run_here`] reads the import's progress.
const POLL: Duration = Duration::from_millis(200);

/// How an upload is stored and run.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The file's column names mapped onto billrun's (`--map`).
    pub mapping: Mapping,
    /// Attempts the `csv-import` job gets before it is dead (the configuration's
    /// `retry.max_attempts`).
    pub max_attempts: u32,
}

/// Stores the CSV file at `path` as an import of `kind` into `org` (its header
/// checked first) and enqueues its `csv-import` job acting as of `as_of`, in one
/// transaction: a refused file stores nothing. Returns the import's and the job's
/// ids; a worker runs the job (or [`run_here`]). Errors: the file unreadable, not
/// CSV, a bad header or changed while read (Refused), no such organisation
/// (NotFound), the database.
pub async fn upload(
    pool: &PgPool,
    org: &OrgId,
    kind: ImportKind,
    path: &Path,
    options: &ImportOptions,
    as_of: DateTime<Utc>,
) -> Result<Created, ImportError> {
    store::create(
        pool,
        org,
        kind,
        path,
        &options.mapping,
        options.max_attempts,
        as_of,
    )
    .await
}

/// Why following an import in this process stopped before it ended.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// The import is gone, or another import refusal.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// The import did not end within the timeout; it goes on in the workers.
    #[error("import {import} did not finish within {secs}s; it goes on in the workers")]
    TimedOut {
        /// The import.
        import: String,
        /// The timeout, in seconds.
        secs: u64,
    },
    /// The caller's `interrupt` fired (Ctrl-C): the import goes on in the queue. The
    /// message is [`Interrupted`]'s, which is also the error's source (so the CLI
    /// exits with the status of an interrupted wait).
    #[error("{0}")]
    Interrupted(#[source] Interrupted),
    /// The workers this process ran for the import failed.
    #[error(transparent)]
    Worker(anyhow::Error),
    /// The database failed while the import was followed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl Classify for WaitError {
    fn kind(&self) -> ErrorKind {
        match self {
            WaitError::Import(e) => e.kind(),
            WaitError::Database(e) => e.kind(),
            WaitError::Interrupted(_) => ErrorKind::Interrupted,
            WaitError::TimedOut { .. } | WaitError::Worker(_) => ErrorKind::Unavailable,
        }
    }
}

/// Runs workers for the import `import_id` in this process (they claim its job only,
/// never another pending one; workers elsewhere may run it too) and follows it until
/// it ends, or its job is dead or cancelled. `on_progress` gets the import as read
/// every 200 ms, the last time as it ended. Returns the import as it ended: whether
/// it succeeded is [`ImportView::succeeded`] (a DONE import may have rejected rows).
///
/// Errors: no such import (Import NotFound); `timeout` elapsed (TimedOut, the workers
/// of this process stopped); `interrupt` resolved first (Interrupted, the workers
/// of this process dropped at once: another worker picks the job up once their
/// heartbeats are missed); the workers failed; the database.
pub async fn run_here(
    pool: &PgPool,
    config: Arc<Config>,
    import_id: &str,
    timeout: Duration,
    interrupt: impl Future<Output = ()>,
    mut on_progress: impl FnMut(&ImportView),
) -> Result<ImportView, WaitError> {
    let vanished = || ImportError::NotFound("the import vanished".into());
    let job_id = store::get(pool, import_id)
        .await?
        .ok_or_else(vanished)?
        .job_id;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let workers = tokio::spawn(worker::run_jobs(
        pool.clone(),
        config,
        vec![JobKind::CsvImport],
        worker::process_name(),
        Some(job_id.clone().unwrap_or_else(|| import_id.to_string())),
        async move {
            let _ = stop_rx.await;
        },
    ));
    let mut interrupt = std::pin::pin!(interrupt);
    let deadline = tokio::time::Instant::now() + timeout;
    let view = loop {
        let view = store::get(pool, import_id).await?.ok_or_else(vanished)?;
        on_progress(&view);
        if view.finished() {
            break view;
        }
        if let Some(job) = view.job_id.as_deref() {
            if let Some(j) = admin::show(pool, job).await? {
                if matches!(j.state, admin::JobState::Dead | admin::JobState::Cancelled) {
                    break view;
                }
            }
        }
        if tokio::time::Instant::now() > deadline {
            let _ = stop_tx.send(());
            return Err(WaitError::TimedOut {
                import: import_id.to_string(),
                secs: timeout.as_secs(),
            });
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = &mut interrupt => {
                workers.abort();
                return Err(WaitError::Interrupted(Interrupted {
                    job: job_id.unwrap_or_else(|| import_id.to_string()),
                }));
            }
        }
    };
    let _ = stop_tx.send(());
    workers
        .await
        .map_err(|e| WaitError::Worker(e.into()))?
        .map_err(WaitError::Worker)?;
    Ok(view)
}

#[cfg(test)]
mod tests {
    use super::WaitError;
    use crate::error::{Classify, ErrorKind};
    use crate::imports::ImportError;
    use crate::jobs::run::Interrupted;

    #[test]
    fn each_wait_error_has_its_kind() {
        let cases = [
            (
                WaitError::Import(ImportError::NotFound("the import vanished".into())),
                ErrorKind::NotFound,
            ),
            (
                WaitError::Import(ImportError::Refused("a.csv: no header".into())),
                ErrorKind::Invalid,
            ),
            (
                WaitError::TimedOut {
                    import: "01J".into(),
                    secs: 5,
                },
                ErrorKind::Unavailable,
            ),
            (
                WaitError::Interrupted(Interrupted { job: "01J".into() }),
                ErrorKind::Interrupted,
            ),
            (
                WaitError::Worker(anyhow::anyhow!("worker stopped")),
                ErrorKind::Unavailable,
            ),
            (
                WaitError::Database(sqlx::Error::PoolTimedOut),
                ErrorKind::Unavailable,
            ),
        ];
        for (err, kind) in cases {
            assert_eq!(err.kind(), kind, "{err}");
        }
    }

    #[test]
    fn an_interrupted_wait_says_so_and_is_found_in_the_chain() {
        let err = anyhow::Error::from(WaitError::Interrupted(Interrupted { job: "J1".into() }));
        assert_eq!(
            err.to_string(),
            Interrupted { job: "J1".into() }.to_string()
        );
        // What the CLI looks for to exit with the status of an interrupted wait.
        assert!(crate::cli::exit::interrupted(&err));
    }
}
