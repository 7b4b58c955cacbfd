//! The `billrun` command line: parsing, and one function per command.
//!
//! Only this layer (and the scheduler) reads the wall clock: every job is enqueued
//! with its `as_of` instant, `--now` / `--at` or the current time.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use sqlx::PgPool;

use crate::config::Config;
use crate::store;

pub mod account;
pub mod addon;
pub mod audit;
pub mod credit;
pub mod credit_note;
pub mod customer;
pub mod deliveries;
mod demo;
pub mod documents;
pub mod exit;
pub mod feature;
pub mod flags;
pub mod identity;
pub mod import;
pub mod invoice;
mod jobs;
pub mod license;
pub mod meter;
pub mod org;
pub mod output;
pub mod plan;
pub mod plan_migration;
mod schedule;
mod serve;
pub mod tax;
pub mod usage;
mod worker;

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
    /// Who is acting, as the audit trail records each change (default: the OS user).
    #[arg(long, global = true, value_name = "NAME")]
    pub actor: Option<String>,
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
    /// Run jobs of every kind (and the cron scheduler) until Ctrl-C / SIGTERM; with
    /// `--serve`, the HTTP API too, in the same process.
    Worker(worker::WorkerArgs),
    /// Serve the HTTP API (Togai's paths and shapes) until Ctrl-C / SIGTERM.
    Serve(serve::ServeArgs),
    /// Enqueue a job and print its id.
    Enqueue(jobs::EnqueueArgs),
    /// Run a job in this process, through the worker's code path, and wait for it.
    Run(jobs::RunArgs),
    /// Inspect and manage jobs.
    Jobs {
        #[command(subcommand)]
        command: jobs::JobsCommand,
    },
    /// The cron schedule.
    Schedule {
        #[command(subcommand)]
        command: schedule::ScheduleCommand,
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
        command: credit::CreditCommand,
    },
    /// Invoices: list, show, rerender, resend, mark paid, void, reissue.
    Invoice {
        #[command(subcommand)]
        command: invoice::InvoiceCommand,
    },
    /// Email deliveries of invoices.
    Deliveries {
        #[command(subcommand)]
        command: deliveries::DeliveriesCommand,
    },
    /// Organisations and their billing settings.
    Org {
        #[command(subcommand)]
        command: org::OrgCommand,
    },
    /// The organisation's logo on invoices: set, show, remove.
    Logo {
        #[command(subcommand)]
        command: documents::LogoCommand,
    },
    /// Billing-details profiles (who invoices are from): create, update, list, show.
    BillingDetails {
        #[command(subcommand)]
        command: documents::BillingDetailsCommand,
    },
    /// Invoice templates: add, update, list, show, set-default.
    Template {
        #[command(subcommand)]
        command: documents::TemplateCommand,
    },
    /// Customers.
    Customer {
        #[command(subcommand)]
        command: customer::CustomerCommand,
    },
    /// Accounts, their aliases and plans.
    Account {
        #[command(subcommand)]
        command: account::AccountCommand,
    },
    /// Price plans and their versions.
    Plan {
        #[command(subcommand)]
        command: plan::PlanCommand,
    },
    /// Event schemas and usage meters.
    Meter {
        #[command(subcommand)]
        command: meter::MeterCommand,
    },
    /// Usage events.
    Usage {
        #[command(subcommand)]
        command: usage::UsageCommand,
    },
    /// License quantities.
    License {
        #[command(subcommand)]
        command: license::LicenseCommand,
    },
    /// Import a CSV file (accounts, usage or licenses) through a `csv-import` job;
    /// `billrun import sample <kind>` prints a sample file.
    Import(import::ImportArgs),
    /// CSV imports: show, errors, list.
    Imports {
        #[command(subcommand)]
        command: import::ImportsCommand,
    },
    /// API tokens: create (shown once), list, deactivate, activate, delete.
    Token {
        #[command(subcommand)]
        command: identity::TokenCommand,
    },
    /// Users: invite (by email), list, set-role, remove.
    User {
        #[command(subcommand)]
        command: identity::UserCommand,
    },
    /// The audit trail of changes.
    Audit {
        #[command(subcommand)]
        command: identity::AuditCommand,
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
    /// Taxes: the organisation's tax rates, customers' and accounts' tax ids and
    /// treatments.
    Tax {
        #[command(subcommand)]
        command: tax::TaxCommand,
    },
    /// Credit notes: create (against a DUE or PAID invoice), list, show, configure.
    CreditNote {
        #[command(subcommand)]
        command: credit_note::CreditNoteCommand,
    },
    /// Features (what entitlement and overage cards name): create, list, show.
    Feature {
        #[command(subcommand)]
        command: feature::FeatureCommand,
    },
    /// Entitlements: check an account's entitlement to a feature; its PREPAID grants.
    Entitlement {
        #[command(subcommand)]
        command: feature::EntitlementCommand,
    },
    /// Add-ons (what fixed fee, license and credit grant cards name as addOnId):
    /// create, list, show, update, archive.
    Addon {
        #[command(subcommand)]
        command: addon::AddonCommand,
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
    let planned = audit::plan(&matches);
    let actor = identity::ActorArgs {
        actor: cli.actor.clone(),
    }
    .actor();
    let outcome = runtime.block_on(async {
        let result = dispatch(cli).await;
        audit::record(planned, &actor, &result).await;
        result
    });
    match outcome {
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
    audit::set_pool(&pool);
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
        Command::Worker(args) => {
            let env = open(cfg_path, 16).await?;
            worker::run(env.pool, env.config, args).await?;
        }
        Command::Serve(args) => {
            let env = open(cfg_path, 16).await?;
            serve::run(env.pool, env.config, args).await?;
        }
        Command::Enqueue(args) => {
            let job = jobs::parse_enqueue(args)?;
            let env = open(cfg_path, 2).await?;
            jobs::enqueue(&env.pool, &env.config, job).await?;
        }
        Command::Run(args) => {
            let job = jobs::parse_run(args)?;
            let env = open(cfg_path, 8).await?;
            return jobs::run(&env.pool, env.config.clone(), job).await;
        }
        Command::Jobs { command } => {
            if let jobs::JobsCommand::Kinds { output } = command {
                jobs::kinds(output)?;
            } else {
                let env = open(cfg_path, 2).await?;
                jobs::run_jobs(&env.pool, &env.config, command).await?;
            }
        }
        Command::Schedule { command } => schedule::run(cfg_path, command)?,
        Command::Migrations { command } => {
            let env = open(cfg_path, 8).await?;
            plan_migration::run(&env.pool, env.config.clone(), command).await?;
        }
        Command::Credit { command } => {
            let env = open(cfg_path, 8).await?;
            credit::run(&env.pool, env.config.clone(), command).await?;
        }
        Command::Invoice { command } => {
            let env = open(cfg_path, 4).await?;
            invoice::run(&env.pool, env.config.clone(), command).await?;
        }
        Command::Deliveries { command } => {
            deliveries::run(&open(cfg_path, 4).await?.pool, command).await?
        }
        Command::Org { command } => org::run(&open(cfg_path, 4).await?.pool, command).await?,
        Command::Logo { command } => {
            documents::run_logo(&open(cfg_path, 4).await?.pool, command).await?
        }
        Command::BillingDetails { command } => {
            documents::run_billing_details(&open(cfg_path, 4).await?.pool, command).await?
        }
        Command::Template { command } => {
            documents::run_template(&open(cfg_path, 4).await?.pool, command).await?
        }
        Command::Customer { command } => {
            customer::run(&open(cfg_path, 4).await?.pool, command).await?
        }
        Command::Account { command } => {
            account::run(&open(cfg_path, 4).await?.pool, command).await?
        }
        Command::Plan { command } => plan::run(&open(cfg_path, 4).await?.pool, command).await?,
        Command::Meter { command } => meter::run(&open(cfg_path, 4).await?.pool, command).await?,
        Command::Usage { command } => usage::run(&open(cfg_path, 4).await?.pool, command).await?,
        Command::License { command } => {
            license::run(&open(cfg_path, 4).await?.pool, command).await?
        }
        Command::Feature { command } => {
            feature::run_feature(&open(cfg_path, 2).await?.pool, command).await?
        }
        Command::Entitlement { command } => {
            feature::run_entitlement(&open(cfg_path, 2).await?.pool, command).await?
        }
        Command::Addon { command } => addon::run(&open(cfg_path, 2).await?.pool, command).await?,
        Command::Import(args) => {
            if !import::needs_database(&args) {
                import::sample(&args.file)?;
                return Ok(ExitCode::SUCCESS);
            }
            let env = open(cfg_path, 4).await?;
            return import::run_import(&env.pool, env.config.clone(), args).await;
        }
        Command::Imports { command } => {
            let env = open(cfg_path, 2).await?;
            return import::run_imports(&env.pool, command).await;
        }
        Command::Token { command } => {
            identity::run_token(&open(cfg_path, 2).await?.pool, command).await?
        }
        Command::User { command } => {
            let env = open(cfg_path, 2).await?;
            identity::run_user(&env.pool, &env.config, command).await?
        }
        Command::Audit { command } => {
            identity::run_audit(&open(cfg_path, 2).await?.pool, command).await?
        }
        Command::Bench { command } => {
            let env = open(cfg_path, 16).await?;
            crate::bench::run(&env.pool, env.config.clone(), command).await?;
        }
        Command::Tax { command } => tax::run(&open(cfg_path, 4).await?.pool, command).await?,
        Command::CreditNote { command } => {
            let env = open(cfg_path, 4).await?;
            credit_note::run(&env.pool, env.config.clone(), command).await?
        }
        Command::Demo => {
            let env = open_with(cfg_path, 8, store::Provision::Create).await?;
            demo::run(&env.pool, env.config.clone()).await?;
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
