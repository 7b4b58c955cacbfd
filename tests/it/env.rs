//! The test environment most tests start from: a fresh database, a config and a
//! scratch folder ([`Cli`] holds the three), with builders of billing data (an
//! organisation with a plan, an account with usage), worker processes (and other
//! background commands: [`Spawned`], with their log, signals and exit status), and
//! the queue, either through workers or one job step run directly in the test
//! process. Tests drive a `billrun` process by hand only where the process itself is
//! under test (a database it must refuse, say).

use std::future::{Future, IntoFuture};
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use billrun::queue::{JobContext, JobError, JobKind, JobRequest};
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::PgPool;

use crate::dates::utc;
use crate::fixtures;
use crate::harness::{billrun, Cli, Proc, TestDb};

/// A fresh database, a config pointing the binary at it and a scratch folder, with
/// builders and the queue. The database is created by [`Cli::new`] (in turn
/// [`TestDb::new`]), nowhere else.
pub struct TestEnv {
    cli: Cli,
    spawned: AtomicUsize,
}

/// A `TestEnv` is also its command line: `env.ok(..)`, `env.json(..)`, `env.db`,
/// and the helpers test modules add to [`Cli`].
impl Deref for TestEnv {
    type Target = Cli;

    fn deref(&self) -> &Cli {
        &self.cli
    }
}

impl TestEnv {
    /// The default config of [`crate::harness::Scratch::config`] (fast heartbeats,
    /// polls and backoff), no schedule.
    pub async fn new() -> TestEnv {
        TestEnv {
            cli: Cli::new().await,
            spawned: AtomicUsize::new(0),
        }
    }

    /// Like [`TestEnv::new`], with `extra` TOML in the config (a `[worker]` or
    /// `[retry]` table there replaces the fast defaults).
    pub async fn with_config(extra: &str) -> TestEnv {
        let mut env = TestEnv::new().await;
        env.configure(extra, None);
        env
    }

    /// Like [`TestEnv::with_config`], with `schedule` (TOML, `[[schedule]]` entries)
    /// as the configured schedule file.
    pub async fn with_schedule(extra: &str, schedule: &str) -> TestEnv {
        let mut env = TestEnv::new().await;
        env.configure(extra, Some(schedule));
        env
    }

    /// Like [`TestEnv::new`], with the database on the PostgreSQL server `server`
    /// (a URL without a database name) instead of the shared test server.
    pub async fn on_server(server: &str) -> TestEnv {
        TestEnv {
            cli: Cli::with_db(TestDb::on_server(server).await),
            spawned: AtomicUsize::new(0),
        }
    }

    /// Rewrites the config file: the fast defaults plus `extra` TOML, and `schedule`
    /// as the schedule file (none: an empty one); for a config that names files of
    /// the scratch folder, written once the folder exists.
    pub fn configure(&mut self, extra: &str, schedule: Option<&str>) {
        self.cli.config = self.cli.scratch.config(extra, schedule);
    }

    /// Points the binary at the config file `path` instead (one the test wrote
    /// itself, e.g. without a `schedule_file`).
    pub fn use_config_file(&mut self, path: PathBuf) {
        self.cli.config = path;
    }

    /// The command line, pointed at this database and config.
    pub fn cli(&self) -> &Cli {
        &self.cli
    }

    /// The database.
    pub fn db(&self) -> &TestDb {
        &self.cli.db
    }

    /// Its pool.
    pub fn pool(&self) -> &PgPool {
        &self.cli.db.pool
    }

    /// The config file.
    pub fn config(&self) -> &Path {
        &self.cli.config
    }

    /// The scratch folder (logs, files to import).
    pub fn scratch(&self) -> &Path {
        self.cli.scratch.path()
    }

    /// An organisation `id` ([`fixtures::org`]: schema `api`, meter `api_calls`),
    /// by default in UTC, numbered `INV-{YYYY}-{SEQ:4}`, net 15 days, without plans.
    pub fn org<'a>(&'a self, id: &str) -> OrgBuilder<'a> {
        OrgBuilder {
            pool: self.pool(),
            id: id.to_string(),
            timezone: "UTC".into(),
            number_format: "INV-{YYYY}-{SEQ:4}".into(),
            net_terms: 15,
            plans: Vec::new(),
        }
    }

    /// An account `id` of `org` ([`fixtures::account`]), by default on plan
    /// `growth` v1 from 2026-01-01 with the organisation's net terms, no usage.
    pub fn account<'a>(&'a self, org: &str, id: &str) -> AccountBuilder<'a> {
        AccountBuilder {
            pool: self.pool(),
            org: org.to_string(),
            id: id.to_string(),
            plan: "growth".into(),
            from: "2026-01-01".into(),
            net_terms: None,
            usage: Vec::new(),
        }
    }

    /// A `billrun` command pointed at this database and config (no arguments yet).
    pub fn command(&self) -> std::process::Command {
        billrun(&self.cli.db.url, &self.cli.config)
    }

    /// Spawns `n` `billrun worker` processes with `args` after `worker` (e.g.
    /// `["--no-scheduler", "--kinds", "finalize-chunk"]`), each logging to its own
    /// file of the scratch folder; each is killed (SIGKILL) when dropped.
    pub fn workers(&self, n: usize, args: &[&str]) -> Vec<Spawned> {
        (0..n).map(|_| self.worker().args(args).spawn()).collect()
    }

    /// One `billrun worker` to spawn, by default with the scheduler and every kind;
    /// its flags, environment and folder are set on the builder, then
    /// [`WorkerBuilder::spawn`].
    pub fn worker(&self) -> WorkerBuilder<'_> {
        WorkerBuilder {
            env: self,
            command: self.command(),
            args: vec!["worker".into()],
        }
    }

    /// Spawns `billrun` with `args` (e.g. `["run", "probe", ..]`) in the background,
    /// logging its stdout and stderr to `{args[0]}-{i}.log` of the scratch folder; it
    /// is killed (SIGKILL) when dropped. For a command under test that the test
    /// signals or waits for, not for workers ([`TestEnv::worker`]).
    pub fn spawn(&self, args: &[&str]) -> Spawned {
        let mut c = self.command();
        c.args(args);
        self.spawn_logged(c, args.first().copied().unwrap_or("billrun"))
    }

    fn spawn_logged(&self, command: std::process::Command, name: &str) -> Spawned {
        let i = self.spawned.fetch_add(1, Ordering::SeqCst);
        let log = self.scratch().join(format!("{name}-{i}.log"));
        Spawned {
            proc: Proc::spawn(command, &log),
            log,
        }
    }

    /// The log file of the `i`-th process this environment spawned (from 0), if it
    /// was a worker.
    pub fn worker_log(&self, i: usize) -> PathBuf {
        self.scratch().join(format!("worker-{i}.log"))
    }

    /// The configuration the binary reads, as the library loads it.
    pub fn load_config(&self) -> billrun::config::Config {
        let mut config = billrun::config::Config::load(Some(self.config()))
            .unwrap_or_else(|e| panic!("test config: {e:#}"));
        config.database_url = Some(self.cli.db.url.clone());
        config
    }

    /// Enqueues a job of `kind` with `payload` acting for `as_of` (RFC 3339), as
    /// `billrun enqueue` does (the payload checked against the kind, the attempts of
    /// the config); its id. The organisation of the request is the payload's
    /// `organisation`, if any.
    pub async fn enqueue(&self, kind: JobKind, payload: Value, as_of: &str) -> String {
        self.enqueue_request(request(kind, payload, as_of)).await
    }

    /// [`TestEnv::enqueue`] for organisation `org` (as `billrun enqueue --org`), for
    /// a kind whose payload names none (e.g. `probe`).
    pub async fn enqueue_for(
        &self,
        org: &str,
        kind: JobKind,
        payload: Value,
        as_of: &str,
    ) -> String {
        let req = billrun::jobs::request(kind, payload, utc(as_of), Some(org.to_string()))
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        self.enqueue_request(req).await
    }

    async fn enqueue_request(&self, req: JobRequest) -> String {
        let kind = req.kind;
        let opts = billrun::queue::EnqueueOptions {
            max_attempts: self.load_config().retry.max_attempts,
            ..Default::default()
        };
        let mut conn = self.pool().acquire().await.unwrap();
        billrun::queue::enqueue(&mut conn, &req, &opts)
            .await
            .unwrap_or_else(|e| panic!("enqueue {kind}: {e}"))
            .id()
            .to_string()
    }

    /// Runs ONE job step of `kind` with `payload` acting for `as_of` (RFC 3339) in
    /// this process, through the library's registry ([`billrun::jobs::execute`]),
    /// without a worker and without the queue holding it: the jobs it enqueues go to
    /// the queue (with this step as their root) and stay there. Its result; panics
    /// with the job's error if it fails.
    pub async fn run_step(&self, kind: JobKind, payload: Value, as_of: &str) -> Value {
        self.try_run_step(kind, payload, as_of)
            .await
            .unwrap_or_else(|e| panic!("{kind} step failed: {e}"))
    }

    /// [`TestEnv::run_step`], returning the job's error instead of panicking.
    pub async fn try_run_step(
        &self,
        kind: JobKind,
        payload: Value,
        as_of: &str,
    ) -> Result<Value, JobError> {
        let id = format!("step-{}", ulid::Ulid::generate());
        self.run_attempt(kind, payload, as_of, &id, 1).await
    }

    /// Attempt `attempt` of the job step `job_id` (as [`TestEnv::try_run_step`]): the
    /// same id again is what a worker runs when it retries a job whose earlier
    /// attempt may have committed (a worker that died before recording the outcome).
    pub async fn run_attempt(
        &self,
        kind: JobKind,
        payload: Value,
        as_of: &str,
        job_id: &str,
        attempt: u32,
    ) -> Result<Value, JobError> {
        let req = request(kind, payload, as_of);
        let ctx = JobContext {
            pool: self.pool().clone(),
            config: Arc::new(self.load_config()),
            job_id: job_id.to_string(),
            attempt,
            worker: "test-process".into(),
            as_of: req.as_of,
            root: job_id.to_string(),
        };
        billrun::jobs::execute(&ctx, &req).await
    }

    /// The jobs of `kind` in the queue as (id, request), in the order they were
    /// enqueued (ids are ULIDs).
    pub async fn queued(&self, kind: JobKind) -> Vec<(String, JobRequest)> {
        let jobs: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT id, job FROM apalis.jobs WHERE job_type = $1 ORDER BY id")
                .bind(kind.queue())
                .fetch_all(self.pool())
                .await
                .unwrap();
        jobs.into_iter()
            .map(|(id, j)| {
                (
                    id,
                    serde_json::from_slice(&j).expect("a stored job request"),
                )
            })
            .collect()
    }
}

/// A `billrun worker` to spawn ([`TestEnv::worker`]): flags, environment and
/// working folder, then [`WorkerBuilder::spawn`].
pub struct WorkerBuilder<'a> {
    env: &'a TestEnv,
    command: std::process::Command,
    args: Vec<String>,
}

impl WorkerBuilder<'_> {
    /// `--no-scheduler`: it runs jobs only, enqueues no scheduled ones.
    pub fn no_scheduler(self) -> Self {
        self.args(&["--no-scheduler"])
    }

    /// `--kinds kinds`: only these job kinds (comma-separated, e.g. `probe`).
    pub fn kinds(self, kinds: &str) -> Self {
        self.args(&["--kinds", kinds])
    }

    /// `--shutdown-timeout secs`: after the first SIGINT/SIGTERM, wait at most
    /// `secs` seconds for running jobs.
    pub fn shutdown_timeout(self, secs: u64) -> Self {
        self.args(&["--shutdown-timeout", &secs.to_string()])
    }

    /// Further arguments after `worker`, as given.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// The environment variable `key` set to `value` in the worker's process.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.command.env(key, value);
        self
    }

    /// Runs the worker in folder `dir` (default: the test's own).
    pub fn current_dir(mut self, dir: &Path) -> Self {
        self.command.current_dir(dir);
        self
    }

    /// Spawns it, logging its stdout and stderr to `worker-{i}.log` of the scratch
    /// folder ([`TestEnv::worker_log`]); it is killed (SIGKILL) when dropped.
    pub fn spawn(mut self) -> Spawned {
        self.command.args(&self.args);
        self.env.spawn_logged(self.command, "worker")
    }
}

/// A background `billrun` process of a [`TestEnv`] (a worker, or a command under
/// test) and its log: stdout and stderr, in one file. Killed (SIGKILL) when dropped;
/// derefs to its [`Proc`] (`kill9`, `terminate`: SIGTERM then a wait of up to 15 s).
pub struct Spawned {
    proc: Proc,
    log: PathBuf,
}

impl Spawned {
    /// Its log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// What it has logged so far (stdout and stderr, interleaved as written).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log)
            .unwrap_or_else(|e| panic!("log {}: {e}", self.log.display()))
    }

    /// Sends it signal `sig` (e.g. `libc::SIGINT`), without waiting.
    pub fn signal(&self, sig: libc::c_int) {
        unsafe {
            libc::kill(self.proc.0.id() as libc::pid_t, sig);
        }
    }

    /// Its exit status if it has exited, without waiting.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.proc.0.try_wait().unwrap()
    }

    /// Waits up to `timeout` for it to exit; its status, or `None` if it still runs.
    pub async fn exits_within(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

impl Deref for Spawned {
    type Target = Proc;

    fn deref(&self) -> &Proc {
        &self.proc
    }
}

impl DerefMut for Spawned {
    fn deref_mut(&mut self) -> &mut Proc {
        &mut self.proc
    }
}

/// A request as the CLI builds one: the payload checked against the kind.
fn request(kind: JobKind, payload: Value, as_of: &str) -> JobRequest {
    let organisation = payload
        .get("organisation")
        .and_then(Value::as_str)
        .map(str::to_string);
    billrun::jobs::request(kind, payload, utc(as_of), organisation)
        .unwrap_or_else(|e| panic!("{kind}: {e}"))
}

type Build<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// An organisation to create: awaiting it writes it (and its plans).
pub struct OrgBuilder<'a> {
    pool: &'a PgPool,
    id: String,
    timezone: String,
    number_format: String,
    net_terms: i32,
    plans: Vec<Value>,
}

impl OrgBuilder<'_> {
    /// Its IANA timezone (default UTC).
    pub fn timezone(mut self, tz: &str) -> Self {
        self.timezone = tz.into();
        self
    }

    /// Its invoice number format (default `INV-{YYYY}-{SEQ:4}`).
    pub fn number_format(mut self, format: &str) -> Self {
        self.number_format = format.into();
        self
    }

    /// Its net terms in days (default 15).
    pub fn net_terms(mut self, days: i32) -> Self {
        self.net_terms = days;
        self
    }

    /// A plan (Togai JSON) stored as version 1, ACTIVE ([`fixtures::plan`]).
    pub fn with_plan(mut self, plan: Value) -> Self {
        self.plans.push(plan);
        self
    }
}

impl<'a> IntoFuture for OrgBuilder<'a> {
    type Output = ();
    type IntoFuture = Build<'a>;

    fn into_future(self) -> Build<'a> {
        Box::pin(async move {
            fixtures::org(
                self.pool,
                &self.id,
                &self.timezone,
                &self.number_format,
                self.net_terms,
            )
            .await;
            for plan in &self.plans {
                fixtures::plan(self.pool, &self.id, plan).await;
            }
        })
    }
}

/// An account to create: awaiting it writes it, its customer, its plan
/// association and its usage.
pub struct AccountBuilder<'a> {
    pool: &'a PgPool,
    org: String,
    id: String,
    plan: String,
    from: String,
    net_terms: Option<i32>,
    usage: Vec<(String, String, Decimal)>,
}

impl AccountBuilder<'_> {
    /// On plan `plan` v1 (default `growth`).
    pub fn on_plan(mut self, plan: &str) -> Self {
        self.plan = plan.into();
        self
    }

    /// From local date `from` (`YYYY-MM-DD`, default 2026-01-01).
    pub fn from(mut self, from: &str) -> Self {
        self.from = from.into();
        self
    }

    /// Its own net terms in days (default: the organisation's).
    pub fn net_terms(mut self, days: i32) -> Self {
        self.net_terms = Some(days);
        self
    }

    /// One `api` event `id` of `calls` calls at `ts` (RFC 3339, [`fixtures::event`]).
    pub fn with_usage(mut self, id: &str, ts: &str, calls: Decimal) -> Self {
        self.usage.push((id.into(), ts.into(), calls));
        self
    }
}

impl<'a> IntoFuture for AccountBuilder<'a> {
    type Output = ();
    type IntoFuture = Build<'a>;

    fn into_future(self) -> Build<'a> {
        Box::pin(async move {
            fixtures::account(
                self.pool,
                &self.org,
                &self.id,
                &self.plan,
                &self.from,
                self.net_terms,
            )
            .await;
            for (id, ts, calls) in &self.usage {
                fixtures::event(self.pool, &self.org, id, &self.id, ts, *calls).await;
            }
        })
    }
}
