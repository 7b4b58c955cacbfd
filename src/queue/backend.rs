//! The queue backend of billrun's workers: apalis-postgres's tables and queries, with
//! every database operation of the worker machinery run to its end whatever happens
//! to the worker.
//!
//! apalis-postgres's own storage runs each operation (claim a batch, heartbeat, ack
//! results) as `BEGIN; ...; COMMIT` inside a future that apalis drops when a worker
//! stops: a claim in flight at shutdown is dropped mid-transaction. Dropped while its
//! `COMMIT` was on the wire, sqlx still thinks the transaction is open and queues a
//! `ROLLBACK` after the committed `COMMIT` (PostgreSQL warns "there is no transaction
//! in progress"), and the batch it had just claimed stays locked by a worker that
//! will never run it until the orphan timeout.
//!
//! Here each operation runs in a task of its own ([`detached`]): the caller's future
//! only waits for its result, so dropping it never interrupts a transaction. A claim
//! whose caller is gone by the time it commits gives its jobs back at once.
//! The SQL is apalis-postgres's (its public `queries`), so the tables, states and
//! every other reader (`billrun jobs`, apalis's own tooling) are unchanged.

use std::future::Future;
use std::marker::PhantomData;
use std::task::{Context, Poll};

use apalis_codec::json::JsonCodec;
use apalis_core::backend::persistence::{Persisted, Persistence, TaskEvent, TaskPersistLayer};
use apalis_core::backend::{finalize::Durable, Backend, BackendConfig, WireFormatBackend};
use apalis_core::worker::context::WorkerContext;
use apalis_postgres::{queries, Config, Error, PgTask};
use serde_json::Value;
use sqlx::PgPool;
use ulid::Ulid;

use crate::timing::{Phase, Step};

/// Runs `fut` in its own task and waits for it. Dropping the returned future does not
/// stop `fut`: a transaction inside it always ends with its own COMMIT or ROLLBACK.
async fn detached<T: Send + 'static>(
    fut: impl Future<Output = Result<T, Error>> + Send + 'static,
) -> Result<T, Error> {
    match tokio::spawn(fut).await {
        Ok(r) => r,
        Err(e) => Err(Error::Database(sqlx::Error::Protocol(format!(
            "a queue operation did not finish: {e}"
        )))),
    }
}

/// apalis-postgres's persistence, each operation [`detached`].
#[derive(Debug, Clone)]
pub struct DetachedPersistence {
    pool: PgPool,
    config: Config,
    root: Option<String>,
}

impl DetachedPersistence {
    /// The persistence of queue `config.queue` in `pool`.
    pub fn new(pool: &PgPool, config: Config) -> Self {
        Self {
            pool: pool.clone(),
            config,
            root: None,
        }
    }

    /// Claims only job `root` and the jobs of its fan-out (whose metadata `root` is
    /// it): what `billrun run` and `--wait` run in their own process.
    pub fn only_root(mut self, root: Option<String>) -> Self {
        self.root = root;
        self
    }
}

impl Persistence for DetachedPersistence {
    type Compact = Vec<u8>;
    type Response = Value;
    type Error = Error;

    fn register(
        &mut self,
        worker: &WorkerContext,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        let (pool, config, worker) = (self.pool.clone(), self.config.clone(), worker.clone());
        detached(async move {
            let mut tx = pool.begin().await?;
            let queue = config.queue.as_ref();
            recover_orphans(&mut tx, queue, config.orphaned_duration()).await?;
            let now = chrono::Utc::now().timestamp();
            queries::register_worker(&mut *tx, queue, &worker, &now.into(), "PgStorage").await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn heartbeat(
        &mut self,
        worker: &WorkerContext,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        let (pool, config, worker) = (self.pool.clone(), self.config.clone(), worker.clone());
        detached(async move {
            let mut tx = pool.begin().await?;
            let queue = config.queue.as_ref();
            queries::keep_alive(&mut *tx, queue, &worker).await?;
            recover_orphans(&mut tx, queue, config.orphaned_duration()).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn fetch_next(
        &mut self,
        worker: &WorkerContext,
    ) -> impl Future<Output = Result<Vec<PgTask>, Error>> + Send {
        let (pool, config, worker) = (self.pool.clone(), self.config.clone(), worker.clone());
        let root = self.root.clone();
        let (tx_result, rx_result) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let claimed = async {
                let mut tx = pool.begin().await?;
                let tasks = claim(&mut tx, &config, worker.name(), root.as_deref()).await?;
                tx.commit().await?;
                Ok::<_, Error>(tasks)
            }
            .await;
            let phase = match &claimed {
                Ok(tasks) if !tasks.is_empty() => Phase::Claim,
                _ => Phase::EmptyPoll,
            };
            crate::timing::add(Step::Queue, phase, started.elapsed());
            if let Err(Ok(tasks)) = tx_result.send(claimed) {
                // The worker stopped waiting (it is shutting down): give the jobs back.
                let ids: Vec<String> = tasks
                    .iter()
                    .filter_map(|t| t.task_id().map(|id| id.to_string()))
                    .collect();
                if let Err(e) = release(&pool, worker.name(), &ids).await {
                    tracing::warn!(
                        worker = worker.name(),
                        "could not release claimed jobs: {e}"
                    );
                }
            }
        });
        async move {
            rx_result.await.unwrap_or_else(|_| {
                Err(Error::Database(sqlx::Error::Protocol(
                    "a queue claim did not finish".into(),
                )))
            })
        }
    }

    fn reenqueue_abandoned(
        &mut self,
        tasks: Vec<PgTask>,
        worker: &WorkerContext,
    ) -> impl Future<Output = Result<u64, Error>> + Send {
        let (pool, worker) = (self.pool.clone(), worker.clone());
        let ids: Vec<String> = tasks
            .iter()
            .filter_map(|t| t.task_id().map(|id| id.to_string()))
            .collect();
        detached(async move { release(&pool, worker.name(), &ids).await })
    }

    fn handle_events(
        &mut self,
        messages: Vec<TaskEvent<Value>>,
        worker: &WorkerContext,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        let (pool, worker) = (self.pool.clone(), worker.clone());
        detached(async move {
            let acks: Vec<&queries::ResultPayload> = messages
                .iter()
                .filter_map(|m| match m {
                    TaskEvent::Complete(payload) => Some(payload),
                    _ => None,
                })
                .collect();
            let acked: std::collections::HashSet<String> =
                acks.iter().map(|p| p.task_id().to_string()).collect();
            let locks: Vec<String> = messages
                .iter()
                .filter_map(|m| match m {
                    TaskEvent::Lock { task_id } => Some(task_id.to_string()),
                    _ => None,
                })
                .filter(|id| !acked.contains(id))
                .collect();
            if acks.is_empty() && locks.is_empty() {
                return Ok(());
            }
            let started = std::time::Instant::now();
            let mut tx = pool.begin().await?;
            if !acks.is_empty() {
                queries::handle_results(&mut *tx, &acks, worker.name()).await?;
            }
            if !locks.is_empty() {
                queries::lock_tasks(&mut *tx, &locks, worker.name()).await?;
            }
            tx.commit().await?;
            crate::timing::add(Step::Queue, Phase::Ack, started.elapsed());
            Ok(())
        })
    }

    fn push_tasks(&mut self, tasks: Vec<PgTask>) -> impl Future<Output = Result<(), Error>> + Send {
        let (pool, config) = (self.pool.clone(), self.config.clone());
        detached(async move {
            let mut tx = pool.begin().await?;
            queries::push_tasks(&mut *tx, config.queue.as_ref(), tasks).await?;
            tx.commit().await?;
            Ok(())
        })
    }
}

/// Claims up to `config.batch_size` due jobs of the queue for `worker` (with `root`:
/// only that job and its fan-out), and counts
/// the attempt **now**: a job whose handler kills its worker process (it never
/// acknowledges anything) has still used an attempt, so it goes dead after
/// `max_attempts` instead of being claimed forever. The tasks carry the attempts
/// made before this one (apalis adds the current one when the handler starts, and
/// writes that number back with the result).
async fn claim(
    conn: &mut sqlx::PgConnection,
    config: &Config,
    worker: &str,
    root: Option<&str>,
) -> Result<Vec<PgTask>, Error> {
    use apalis_core::task::{builder::TaskBuilder, metadata::MetadataStore, task_id::TaskId};
    type Row = (
        String,
        Vec<u8>,
        String,
        i32,
        i32,
        i64,
        i32,
        Option<String>,
        Option<sqlx::postgres::types::PgHstore>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "UPDATE apalis.jobs
         SET status = 'Queued', lock_by = $1, lock_at = now(), attempts = attempts + 1
         WHERE id IN (SELECT id FROM apalis.jobs
                      WHERE (status = 'Pending' OR (status = 'Failed' AND attempts < max_attempts))
                        AND run_at < now() AND job_type = $2
                        AND ($4::text IS NULL OR id = $4 OR metadata -> 'root' = $4)
                      ORDER BY priority DESC, run_at ASC
                      LIMIT $3 FOR UPDATE SKIP LOCKED)
         RETURNING id, job, job_type, attempts - 1, max_attempts,
                   extract(epoch FROM run_at)::bigint, priority, idempotency_key, metadata",
    )
    .bind(worker)
    .bind(config.queue.as_ref())
    .bind(config.batch_size.max(1) as i32)
    .bind(root)
    .fetch_all(&mut *conn)
    .await?;
    // A job whose id is not a ULID (inserted by hand, not through `enqueue`) cannot
    // be handed to apalis: it goes dead at once with the reason, instead of failing
    // the whole claim (which would leave the batch locked by this worker and stop
    // the worker, again after every restart).
    let (rows, bad): (Vec<Row>, Vec<Row>) = rows
        .into_iter()
        .partition(|r| Ulid::from_string(&r.0).is_ok());
    for (id, ..) in &bad {
        tracing::error!(job_id = %id, "job id is not a ULID: the job goes dead without running");
        sqlx::query(
            "UPDATE apalis.jobs
             SET status = 'Failed', attempts = max_attempts, done_at = now(), lock_by = NULL,
                 last_result = jsonb_build_object('Err', format(
                     'job id %s is not a ULID (26 characters of Crockford base 32, as billrun \
                      enqueue makes them): enqueue the job again with billrun enqueue', id))
             WHERE id = $1",
        )
        .bind(id)
        .execute(&mut *conn)
        .await?;
    }
    rows.into_iter()
        .map(
            |(id, job, queue, before, max, run_at, priority, key, meta)| {
                let id = Ulid::from_string(&id).map_err(|e| {
                    Error::Database(sqlx::Error::Decode(
                        format!("job id {id:?} is not a ULID: {e}").into(),
                    ))
                })?;
                let meta = meta
                    .map(|m| m.into_iter().filter_map(|(k, v)| Some((k, v?))).collect())
                    .unwrap_or_default();
                let mut task = TaskBuilder::new(job)
                    .task_id(TaskId::from_ulid(id))
                    .queue(queue.into())
                    .status(apalis_core::task::status::Status::Queued)
                    .attempt(before.max(0) as usize)
                    .max_attempts(max.max(1) as usize)
                    .run_at_timestamp(run_at.max(0) as u64)
                    .lock_by(Some(worker.to_string()))
                    .priority(priority.max(0) as usize)
                    .with_metadata(MetadataStore::from_map(meta));
                if let Some(key) = key {
                    task = task.idempotency_key(key);
                }
                Ok(task.build())
            },
        )
        .collect()
}

/// Gives the jobs of workers of `queue` that missed their heartbeats for `dead_for`
/// to the others. Their attempt was counted when they were claimed: a job with
/// attempts left goes back to `pending`, one without is dead (`Failed` with no
/// attempt left), with the reason as its last error.
pub async fn recover_orphans(
    conn: &mut sqlx::PgConnection,
    queue: &str,
    dead_for: std::time::Duration,
) -> Result<u64, Error> {
    let done = sqlx::query(
        "WITH stale AS (
             SELECT jobs.id FROM apalis.jobs
             JOIN apalis.workers ON jobs.lock_by = workers.id
             WHERE jobs.status IN ('Running', 'Queued') AND workers.worker_type = $2
               AND now() - workers.last_seen >= $1 * interval '1 millisecond'
             FOR UPDATE OF jobs SKIP LOCKED)
         UPDATE apalis.jobs SET
             status = CASE WHEN attempts < max_attempts THEN 'Pending' ELSE 'Failed' END,
             done_at = CASE WHEN attempts < max_attempts THEN NULL ELSE now() END,
             lock_by = NULL, lock_at = NULL,
             last_result = jsonb_build_object('Err', format(
                 'attempt %s of %s: its worker stopped (missed its heartbeats) before it finished',
                 attempts, max_attempts))
         FROM stale WHERE apalis.jobs.id = stale.id",
    )
    .bind(dead_for.as_millis() as i64)
    .bind(queue)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// Gives jobs claimed by `worker` but never started back to the queue, as if never
/// claimed (the attempt counted by the claim is taken back: none was made).
async fn release(pool: &PgPool, worker: &str, ids: &[String]) -> Result<u64, Error> {
    if ids.is_empty() {
        return Ok(0);
    }
    let done = sqlx::query(
        "UPDATE apalis.jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL,
                                attempts = greatest(attempts - 1, 0)
         WHERE id = ANY($1) AND lock_by = $2 AND status = 'Queued'",
    )
    .bind(ids)
    .bind(worker)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// A queue of `apalis.jobs` for one kind, read by a worker through
/// [`DetachedPersistence`]. Built like `apalis_postgres::PostgresStorage`.
pub struct QueueBackend<Args> {
    persistence: Persisted<DetachedPersistence>,
    codec: JsonCodec,
    _marker: PhantomData<Args>,
}

impl<Args> QueueBackend<Args> {
    /// The queue `config.queue` of `pool`; with `root`, only that job and its fan-out
    /// are claimed.
    pub fn new(pool: &PgPool, config: Config, root: Option<String>) -> Self {
        Self {
            persistence: Persisted::new(DetachedPersistence::new(pool, config).only_root(root)),
            codec: JsonCodec::default(),
            _marker: PhantomData,
        }
    }
}

impl<Args> Backend for QueueBackend<Args> {
    type Task = PgTask;
    type Error = Error;

    fn poll_ready(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Result<(), Error>> {
        let interval = self.persistence.config.heartbeat_interval;
        self.persistence.poll_ready(cx, worker, interval)
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Option<Result<PgTask, Error>>> {
        self.persistence.poll_next(cx, worker)
    }

    fn poll_close(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Result<(), Error>> {
        self.persistence.poll_close(cx, worker)
    }
}

impl<Args> BackendConfig for QueueBackend<Args> {
    type Args = Args;
    type Kind = Durable;
    type Id = Ulid;
    type Config = Config;
    type Layer = TaskPersistLayer<JsonCodec<Value>, Value>;

    fn config(&self) -> &Config {
        &self.persistence.config
    }

    fn middleware(&mut self, _: &mut WorkerContext) -> Self::Layer {
        let config = self.persistence.config.clone();
        self.persistence
            .layer(JsonCodec::<Value>::default(), config.batch_size)
            .persist_results(config.persist_results)
            .lock_tasks(config.lock_tasks)
    }
}

impl<Args> WireFormatBackend for QueueBackend<Args> {
    type Codec = JsonCodec;
    type Compact = Vec<u8>;

    fn codec(&self) -> &Self::Codec {
        &self.codec
    }
}
