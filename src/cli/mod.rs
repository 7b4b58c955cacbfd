//! The `billrun` command line: parsing, and one function per command.
//!
//! Only this layer (and the scheduler) reads the wall clock: every job is enqueued
//! with its `as_of` instant, `--now` / `--at` or the current time.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use serde_json::Value;
use sqlx::PgPool;

use crate::catalog::input::parse_time;
use crate::config::Config;
use crate::jobs::{self, schedule, worker};
use crate::queue::admin::{self, JobView, ListFilter};
use crate::queue::JobKind;
use crate::queue::{self, EnqueueOptions, Enqueued};
use crate::store;

pub mod exit;
pub mod output;
pub mod plan_migration;

/// billrun: usage-based billing on Postgres.
#[derive(Parser, Debug)]
#[command(name = "billrun", version, about)]
pub struct Cli {
    /// Configuration file (default: $BILLRUN_CONFIG, else ./billrun.toml if present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log as JSON lines instead of text.
    #[arg(long, global = true)]
    pub log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create the database if it is missing and apply the application's and the job
    /// queue's migrations (with `demo`, the only command that creates or migrates).
    Migrate,
    /// Internal: render one organisation template request (JSON on stdin) under
    /// limits and answer on stdout (see `documents::sandbox`).
    #[command(hide = true, name = "render-sandbox")]
    RenderSandbox,
    /// Run jobs of every kind (and the cron scheduler) until Ctrl-C / SIGTERM.
    Worker {
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
    },
    /// Enqueue a job and print its id.
    Enqueue {
        /// Job kind (see `billrun jobs kinds`).
        kind: String,
        /// Payload: JSON text, or @FILE.
        payload: Option<String>,
        /// Run at (and act as of) this time instead of now: RFC 3339 or YYYY-MM-DD.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// Idempotency key: a second enqueue with the same key returns the first job.
        #[arg(long)]
        key: Option<String>,
        /// Organisation the job is for (for logs).
        #[arg(long)]
        org: Option<String>,
    },
    /// Run a job in this process, through the worker's code path, and wait for it.
    Run {
        /// Job kind (see `billrun jobs kinds`).
        kind: String,
        /// Payload: JSON text, or @FILE.
        payload: Option<String>,
        /// The instant the job acts for: RFC 3339 or YYYY-MM-DD (default now).
        #[arg(long, value_name = "TIME")]
        now: Option<String>,
        /// Organisation the job is for (for logs).
        #[arg(long)]
        org: Option<String>,
        /// Give up waiting after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
        /// Print the job as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Inspect and manage jobs.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// The cron schedule.
    Schedule {
        #[command(subcommand)]
        command: ScheduleCommand,
    },
    /// Plan migrations: create, confirm, reject, show, list, entries.
    #[command(visible_alias = "migration")]
    Migrations {
        #[command(subcommand)]
        command: plan_migration::MigrationCommand,
    },
    /// Credits: grant, void, list, balance, ledger.
    Credit {
        #[command(subcommand)]
        command: crate::credits::commands::CreditCommand,
    },
    /// Invoices: list, show, mark paid, void.
    Invoice {
        #[command(subcommand)]
        command: crate::bill_run::commands::InvoiceCommand,
    },
    /// Email deliveries of invoices.
    Deliveries {
        #[command(subcommand)]
        command: crate::bill_run::commands::DeliveriesCommand,
    },
    /// Organisations and their billing settings.
    Org {
        #[command(subcommand)]
        command: crate::catalog::commands::OrgCommand,
    },
    /// The organisation's logo on invoices: set, show, remove.
    Logo {
        #[command(subcommand)]
        command: crate::documents::commands::LogoCommand,
    },
    /// Billing-details profiles (who invoices are from): create, update, list, show.
    BillingDetails {
        #[command(subcommand)]
        command: crate::documents::commands::BillingDetailsCommand,
    },
    /// Invoice templates: add, update, list, show, set-default.
    Template {
        #[command(subcommand)]
        command: crate::documents::commands::TemplateCommand,
    },
    /// Customers.
    Customer {
        #[command(subcommand)]
        command: crate::catalog::commands::CustomerCommand,
    },
    /// Accounts, their aliases and plans.
    Account {
        #[command(subcommand)]
        command: crate::catalog::commands::AccountCommand,
    },
    /// Price plans and their versions.
    Plan {
        #[command(subcommand)]
        command: crate::catalog::commands::PlanCommand,
    },
    /// Event schemas and usage meters.
    Meter {
        #[command(subcommand)]
        command: crate::catalog::commands::MeterCommand,
    },
    /// Usage events.
    Usage {
        #[command(subcommand)]
        command: crate::catalog::commands::UsageCommand,
    },
    /// License quantities.
    License {
        #[command(subcommand)]
        command: crate::catalog::commands::LicenseCommand,
    },
    /// Import a CSV file (accounts, usage or licenses) through a `csv-import` job;
    /// `billrun import sample <kind>` prints a sample file.
    Import(crate::imports::commands::ImportArgs),
    /// CSV imports: show, errors, list.
    Imports {
        #[command(subcommand)]
        command: crate::imports::commands::ImportsCommand,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        command: crate::bench::BenchCommand,
    },
    /// A complete bill run on built-in sample data (a private PostgreSQL if none is
    /// configured or reachable), then a summary of the invoices it produced.
    Demo,
    /// The database billrun uses.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
}

#[derive(Subcommand, Debug)]
enum JobsCommand {
    /// Jobs, newest first.
    List {
        /// Only this kind.
        #[arg(long)]
        kind: Option<String>,
        /// Only this state: scheduled, pending, running, done, retrying, dead, cancelled.
        #[arg(long)]
        state: Option<String>,
        /// Only jobs for this organisation.
        #[arg(long)]
        org: Option<String>,
        /// At most this many; when more match, stderr says how many and the
        /// `--after` of the next page.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// The next page: the jobs older than this job id (the cursor printed as
        /// `next page: --after ...`; with --json, the last element's `id`).
        #[arg(long, value_name = "CURSOR")]
        after: Option<String>,
        /// JSON instead of a table (an array of the page's jobs).
        #[arg(long)]
        json: bool,
    },
    /// One job: state, attempts, last error, timings, request.
    Show {
        /// Job id.
        id: String,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Give a dead or cancelled job new attempts, now.
    Retry {
        /// Job id.
        id: String,
    },
    /// Cancel a job that has not started, waits for a retry, or was claimed by a
    /// worker that is gone (missed its heartbeats).
    Cancel {
        /// Job id.
        id: String,
    },
    /// The job kinds and their payloads.
    Kinds {
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ScheduleCommand {
    /// Each schedule with its next fire times.
    List {
        /// How many fire times per schedule.
        #[arg(long, default_value_t = 3)]
        count: usize,
        /// Fire times after this instant instead of now: RFC 3339 or YYYY-MM-DD.
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
        /// Schedule file (default: `schedule_file`, else the built-in schedule).
        #[arg(long, value_name = "FILE")]
        schedule: Option<PathBuf>,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum DbCommand {
    /// Print the database URL billrun resolves to (starting the private server if it
    /// exists and is stopped; creating nothing).
    Url,
    /// Stop the private PostgreSQL server, if it runs.
    Stop,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    // Like other Unix tools, end quietly when the reader of our output goes away
    // (`billrun invoice list | head`) instead of panicking on a broken pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of a signal, before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let _ = ORG_FLAG.set(org_flag(&matches));
    if matches!(cli.command, Command::RenderSandbox) {
        // No configuration, database, logging or runtime: only the render.
        return crate::documents::sandbox::child_main();
    }
    init_tracing(cli.log_json);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            let (code, message) = exit::for_error(&e);
            if exit::interrupted(&e) {
                // Do not wait for what the interrupted wait left running.
                runtime.shutdown_background();
            }
            eprintln!("{message}");
            code
        }
    }
}

fn init_tracing(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,sqlx=warn,apalis=warn,apalis_core=warn,apalis_postgres=warn")
    });
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// The `--org` the command was given, if any (whatever the subcommand).
static ORG_FLAG: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// The value of `--org` on the innermost subcommand that has one.
fn org_flag(matches: &clap::ArgMatches) -> Option<String> {
    let mut m = matches;
    let mut found = None;
    loop {
        if let Ok(Some(org)) = m.try_get_one::<String>("org") {
            found = Some(org.clone());
        }
        match m.subcommand() {
            Some((_, sub)) => m = sub,
            None => return found,
        }
    }
}

/// The configuration and a pool on a database with exactly this binary's schema.
struct Env {
    config: Arc<Config>,
    pool: PgPool,
}

/// Opens the database for a command. Only `migrate` and `demo` pass
/// [`store::Provision::Create`] (create the database if missing, apply the
/// migrations); every other command uses what exists and fails, naming the database
/// and the fix, when it is missing or its schema is not this binary's.
async fn open_with(
    cli_config: Option<&std::path::Path>,
    max_connections: u32,
    provision: store::Provision,
) -> Result<Env> {
    let config = Config::load(cli_config)?;
    let url = store::resolve_database_url(&config, provision).await?;
    let pool = store::connect(&url, max_connections).await?;
    match provision {
        store::Provision::Create => {
            store::migrate(&pool).await?;
        }
        store::Provision::Existing => store::check(&pool).await?,
    }
    // Every command aimed at an organisation fails when there is none of that id,
    // instead of printing an empty listing (nothing succeeds silently).
    if let Some(Some(org)) = ORG_FLAG.get() {
        if crate::catalog::orgs::find(&pool, org).await?.is_none() {
            bail!("organisation {org:?} does not exist (billrun org list shows the organisations)");
        }
    }
    Ok(Env {
        config: Arc::new(config),
        pool,
    })
}

/// [`open_with`] for every command but `migrate` and `demo`: creates nothing.
async fn open(cli_config: Option<&std::path::Path>, max_connections: u32) -> Result<Env> {
    open_with(cli_config, max_connections, store::Provision::Existing).await
}

async fn dispatch(cli: Cli) -> Result<ExitCode> {
    let cfg_path = cli.config.as_deref();
    match cli.command {
        Command::RenderSandbox => unreachable!("handled in main before the runtime starts"),
        Command::Migrate => {
            let config = Config::load(cfg_path)?;
            let url = store::resolve_database_url(&config, store::Provision::Create).await?;
            let pool = store::connect(&url, 2).await?;
            let applied = store::migrate(&pool).await?;
            println!(
                "{}: {applied} migration(s) applied, the schema is up to date",
                store::redact(&url)
            );
        }
        Command::Worker {
            kinds,
            no_scheduler,
            schedule,
            shutdown_timeout,
        } => {
            let env = open(cfg_path, 16).await?;
            let kinds = parse_kinds(&kinds)?;
            let shutdown = shutdown_signals(shutdown_timeout.map(Duration::from_secs))?;
            run_worker(env, kinds, !no_scheduler, schedule, shutdown).await?;
        }
        Command::Enqueue {
            kind,
            payload,
            at,
            key,
            org,
        } => {
            let kind = JobKind::parse(&kind).map_err(anyhow::Error::msg)?;
            let payload = parse_payload(payload.as_deref())?;
            let at = at.as_deref().map(parse_time).transpose()?;
            let req = jobs::request(kind, payload, at.unwrap_or_else(Utc::now), org)
                .map_err(anyhow::Error::msg)?;
            let env = open(cfg_path, 2).await?;
            let opts = EnqueueOptions {
                run_at: at,
                idempotency_key: key,
                max_attempts: env.config.retry.max_attempts,
            };
            match queue::enqueue(&mut *env.pool.acquire().await?, &req, &opts).await? {
                Enqueued::New(id) => println!("{id}"),
                Enqueued::Existing(id) => {
                    eprintln!("a job with this idempotency key exists already");
                    println!("{id}");
                }
            }
        }
        Command::Run {
            kind,
            payload,
            now,
            org,
            timeout,
            json,
        } => {
            let kind = JobKind::parse(&kind).map_err(anyhow::Error::msg)?;
            let payload = parse_payload(payload.as_deref())?;
            let as_of = now
                .as_deref()
                .map(parse_time)
                .transpose()?
                .unwrap_or_else(Utc::now);
            let req = jobs::request(kind, payload, as_of, org).map_err(anyhow::Error::msg)?;
            let env = open(cfg_path, 8).await?;
            let job = jobs::run::run_to_completion(
                &env.pool,
                env.config.clone(),
                req,
                Duration::from_secs(timeout),
            )
            .await?;
            print_job(&job, json);
            if job.state != admin::JobState::Done {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Jobs { command } => return jobs_command(cfg_path, command).await,
        Command::Schedule {
            command:
                ScheduleCommand::List {
                    count,
                    from,
                    schedule,
                    json,
                },
        } => {
            let config = Config::load(cfg_path)?;
            let from = from.as_deref().map(parse_time).transpose()?;
            let file = schedule.or(config.schedule_file);
            schedule_list(file.as_deref(), count, from.unwrap_or_else(Utc::now), json)?;
        }
        Command::Migrations { command } => {
            let env = open(cfg_path, 8).await?;
            plan_migration::run(&env.pool, env.config.clone(), command).await?;
        }
        Command::Credit { command } => {
            let env = open(cfg_path, 8).await?;
            crate::credits::commands::run_credit(&env.pool, env.config.clone(), command).await?;
        }
        Command::Invoice { command } => {
            let env = open(cfg_path, 4).await?;
            match command {
                crate::bill_run::commands::InvoiceCommand::Rerender { org, invoice } => {
                    crate::bill_run::commands::run_rerender(
                        &env.pool,
                        env.config.clone(),
                        &org,
                        &invoice,
                    )
                    .await?
                }
                crate::bill_run::commands::InvoiceCommand::Resend { org, invoice } => {
                    crate::bill_run::commands::run_resend(
                        &env.pool,
                        env.config.clone(),
                        &org,
                        &invoice,
                    )
                    .await?
                }
                crate::bill_run::commands::InvoiceCommand::Void {
                    org,
                    invoice,
                    at,
                    json,
                } => {
                    crate::bill_run::commands::run_void(
                        &env.pool,
                        env.config.clone(),
                        &org,
                        &invoice,
                        at.as_deref(),
                        json,
                    )
                    .await?
                }
                crate::bill_run::commands::InvoiceCommand::Reissue {
                    org,
                    invoice,
                    at,
                    json,
                } => {
                    crate::bill_run::commands::run_reissue(
                        &env.pool,
                        env.config.clone(),
                        &org,
                        &invoice,
                        at.as_deref(),
                        json,
                    )
                    .await?
                }
                command => crate::bill_run::commands::run_invoice(&env.pool, command).await?,
            }
        }
        Command::Deliveries { command } => {
            crate::bill_run::commands::run_deliveries(&open(cfg_path, 4).await?.pool, command)
                .await?
        }
        Command::Org { command } => {
            crate::catalog::commands::run_org(&open(cfg_path, 4).await?.pool, command).await?
        }
        Command::Logo { command } => {
            crate::documents::commands::run_logo(&open(cfg_path, 4).await?.pool, command).await?
        }
        Command::BillingDetails { command } => {
            crate::documents::commands::run_billing_details(&open(cfg_path, 4).await?.pool, command)
                .await?
        }
        Command::Template { command } => {
            crate::documents::commands::run_template(&open(cfg_path, 4).await?.pool, command)
                .await?
        }
        Command::Customer { command } => {
            crate::catalog::commands::run_customer(&open(cfg_path, 4).await?.pool, command).await?
        }
        Command::Account { command } => {
            crate::catalog::commands::run_account(&open(cfg_path, 4).await?.pool, command).await?
        }
        Command::Plan { command } => {
            crate::catalog::commands::run_plan(&open(cfg_path, 4).await?.pool, command).await?
        }
        Command::Meter { command } => {
            crate::catalog::commands::run_meter(&open(cfg_path, 4).await?.pool, command).await?
        }
        Command::Usage { command } => {
            crate::catalog::commands::run_usage(&open(cfg_path, 4).await?.pool, command).await?
        }
        Command::License { command } => {
            crate::catalog::commands::run_license(&open(cfg_path, 4).await?.pool, command).await?
        }
        Command::Import(args) => {
            if !crate::imports::commands::needs_database(&args) {
                crate::imports::commands::sample(&args.file)?;
                return Ok(ExitCode::SUCCESS);
            }
            let env = open(cfg_path, 4).await?;
            return crate::imports::commands::run_import(&env.pool, env.config.clone(), args).await;
        }
        Command::Imports { command } => {
            let env = open(cfg_path, 2).await?;
            return crate::imports::commands::run_imports(&env.pool, command).await;
        }
        Command::Bench { command } => {
            let env = open(cfg_path, 16).await?;
            crate::bench::run(&env.pool, env.config.clone(), command).await?;
        }
        Command::Demo => {
            let env = open_with(cfg_path, 8, store::Provision::Create).await?;
            demo(&env).await?;
        }
        Command::Db { command } => {
            let config = Config::load(cfg_path)?;
            match command {
                DbCommand::Url => println!(
                    "{}",
                    store::redact(
                        &store::resolve_database_url(&config, store::Provision::Existing).await?,
                    )
                ),
                DbCommand::Stop => {
                    if store::private_pg::stop(&config.data_dir.join("pg"))? {
                        println!("private PostgreSQL stopped");
                    } else {
                        println!("no private PostgreSQL running");
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_kinds(names: &[String]) -> Result<Vec<JobKind>> {
    if names.is_empty() {
        return Ok(JobKind::ALL.to_vec());
    }
    names
        .iter()
        .map(|n| JobKind::parse(n.trim()).map_err(anyhow::Error::msg))
        .collect()
}

/// Parses a payload argument: JSON text, or `@FILE` holding JSON.
fn parse_payload(arg: Option<&str>) -> Result<Value> {
    let Some(arg) = arg else {
        return Ok(Value::Null);
    };
    let (text, origin) = match arg.strip_prefix('@') {
        Some(path) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("reading payload file {path}"))?,
            format!("payload file {path}"),
        ),
        None => (arg.to_string(), "payload".to_string()),
    };
    serde_json::from_str(&text)
        .with_context(|| format!("{origin} is not JSON: expected e.g. '{{\"key\": \"value\"}}'"))
}

async fn run_worker(
    env: Env,
    kinds: Vec<JobKind>,
    scheduler: bool,
    schedule_file: Option<PathBuf>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let process = worker::process_name();
    tracing::info!(process, kinds = ?kinds.iter().map(|k| k.name()).collect::<Vec<_>>(), "worker starting");
    if scheduler && env.config.worker.scheduler {
        let file = schedule_file.or_else(|| env.config.schedule_file.clone());
        let (entries, from) = schedule::load_configured(file.as_deref())?;
        tracing::info!(schedules = entries.len(), "scheduler running {from}");
        tokio::spawn(schedule::run(
            env.pool.clone(),
            entries,
            env.config.retry.max_attempts,
        ));
    }
    worker::run(env.pool, env.config, kinds, process, shutdown).await
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

async fn jobs_command(
    cfg_path: Option<&std::path::Path>,
    command: JobsCommand,
) -> Result<ExitCode> {
    if let JobsCommand::Kinds { json } = command {
        if json {
            let kinds: Vec<_> = JobKind::ALL
                .iter()
                .map(|k| serde_json::json!({"kind": k.name(), "queue": k.queue(), "description": k.describe()}))
                .collect();
            println!("{}", serde_json::to_string_pretty(&kinds)?);
        } else {
            for k in JobKind::ALL {
                println!("{:<18} {}", k.name(), k.describe());
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let env = open(cfg_path, 2).await?;
    match command {
        JobsCommand::List {
            kind,
            state,
            org,
            limit,
            after,
            json,
        } => {
            crate::paging::check_limit(limit)?;
            // A job cursor is compared, not looked up (a job pruned since still
            // positions the page): it must at least be a job id.
            if let Some(a) = &after {
                if ulid::Ulid::from_string(a).is_err() {
                    bail!(
                        "--after {a}: expected a job id (26 characters, as `billrun jobs list` \
                         prints them)"
                    );
                }
            }
            let state = state
                .map(|s| s.parse::<admin::JobState>())
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let filter = ListFilter {
                kind: kind
                    .as_deref()
                    .map(JobKind::parse)
                    .transpose()
                    .map_err(anyhow::Error::msg)?,
                state,
                organisation: org,
                limit,
                after,
            };
            let page = admin::list(&env.pool, &filter).await?;
            let jobs = &page.rows;
            if json {
                println!("{}", serde_json::to_string_pretty(jobs)?);
            } else {
                // Times in UTC, said so (`Z`).
                println!(
                    "{:<26} {:<16} {:<14} {:<9} {:>8} {:<20} LAST ERROR",
                    "ID", "KIND", "ORG", "STATE", "ATTEMPTS", "RUN AT (UTC)"
                );
                for j in jobs {
                    println!(
                        "{:<26} {:<16} {:<14} {:<9} {:>8} {:<20} {}",
                        j.id,
                        j.kind,
                        j.organisation.as_deref().unwrap_or("-"),
                        j.state,
                        format!("{}/{}", j.attempts, j.max_attempts),
                        j.run_at.format("%Y-%m-%dT%H:%M:%SZ"),
                        j.last_error
                            .as_deref()
                            .unwrap_or("")
                            .lines()
                            .next()
                            .unwrap_or("")
                    );
                }
            }
            // On stderr, so that the table and the JSON stay parseable.
            if let Some(note) = page.note("jobs") {
                eprintln!("{note}");
            }
        }
        JobsCommand::Show { id, json } => match admin::show(&env.pool, &id).await? {
            Some(job) => print_job(&job, json),
            None => bail!("no job with id {id}"),
        },
        JobsCommand::Retry { id } => {
            let job = admin::retry(&env.pool, &id).await?;
            println!(
                "job {} will run again ({} attempts allowed)",
                job.id, job.max_attempts
            );
        }
        JobsCommand::Cancel { id } => {
            let w = &env.config.worker;
            let gone_after =
                Duration::from_secs(w.heartbeat_secs.max(1) * w.missed_heartbeats.max(1) as u64);
            let job = admin::cancel(&env.pool, &id, gone_after).await?;
            println!("job {} cancelled", job.id);
        }
        JobsCommand::Kinds { .. } => unreachable!("handled above"),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_job(job: &JobView, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(job).expect("a job view serialises")
        );
        return;
    }
    let t = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_else(|| "-".into());
    println!("id:           {}", job.id);
    println!("kind:         {}", job.kind);
    println!("state:        {} (apalis status {})", job.state, job.status);
    println!("attempts:     {}/{}", job.attempts, job.max_attempts);
    println!("run at:       {}", job.run_at.to_rfc3339());
    println!(
        "claimed at:   {} by {}",
        t(job.locked_at),
        job.locked_by.as_deref().unwrap_or("-")
    );
    println!("finished at:  {}", t(job.done_at));
    if let Some(k) = &job.idempotency_key {
        println!("key:          {k}");
    }
    if let Some(r) = &job.request {
        println!("request:      {r}");
    }
    if let Some(r) = &job.result {
        println!("result:       {r}");
    }
    if let Some(e) = &job.last_error {
        println!("last error:   {e}");
    }
}

fn schedule_list(
    file: Option<&std::path::Path>,
    count: usize,
    now: DateTime<Utc>,
    json: bool,
) -> Result<()> {
    let (entries, _) = schedule::load_configured(file)?;
    if json {
        let out: Vec<_> = entries
            .iter()
            .map(|e| {
                serde_json::json!({
                    "name": e.name, "cron": e.cron_text, "timezone": e.timezone.name(),
                    "job": e.kind.name(), "payload": e.payload,
                    "next": e.next_fire_times(now, count),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    for e in &entries {
        println!(
            "{} ({} {}, job {})",
            e.name,
            e.cron_text,
            e.timezone.name(),
            e.kind
        );
        for t in e.next_fire_times(now, count) {
            println!(
                "  {}  ({})",
                t.to_rfc3339(),
                t.with_timezone(&e.timezone).format("%Y-%m-%d %H:%M:%S %Z")
            );
        }
    }
    Ok(())
}

/// The demo: sample data, then the bill run through the queue, then a summary.
async fn demo(env: &Env) -> Result<()> {
    let (accounts, events) = crate::demo::load_sample_data(&env.pool).await?;
    let as_of = crate::demo::as_of();
    println!(
        "billrun demo: organisation {:?} (Europe/Berlin, USD and EUR): {accounts} accounts on 3 plans, \
         {events} usage events from 1 Jan to 14 Feb 2026",
        crate::demo::ORG
    );
    println!("bill run as of {as_of} (15 Feb 2026, 00:00 in Berlin): cycle-close, close-chunk, finalize-chunk, render-chunk, deliver-chunk jobs");
    let req = jobs::request(
        JobKind::CycleClose,
        serde_json::json!({"organisation": crate::demo::ORG}),
        as_of,
        Some(crate::demo::ORG.into()),
    )
    .map_err(anyhow::Error::msg)?;
    let job =
        jobs::run::run_to_completion(&env.pool, env.config.clone(), req, crate::demo::RUN_TIMEOUT)
            .await?;
    if job.state != admin::JobState::Done {
        bail!(
            "the bill run's cycle-close job is {}: {}",
            job.state,
            job.last_error.unwrap_or_default()
        );
    }
    crate::demo::print_summary(&env.pool).await?;
    crate::demo::print_documents(&env.pool, &env.config).await?;
    println!(
        "\nsee one: billrun invoice show --org {} INV-2026-00028 [--pdf invoice.pdf]",
        crate::demo::ORG
    );
    println!("\n{}", crate::demo::CATCH_UP_WARNING);
    Ok(())
}
