//! `billrun bench ...`: measurements on this machine (never timed assertions).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::Utc;
use clap::Subcommand;
use sqlx::PgPool;

use crate::config::Config;
use crate::jobs::{self, worker};
use crate::queue::{self, EnqueueOptions, JobKind, JobRequest};

pub mod api;
pub mod bill_run;
pub mod floor;
pub mod pipeline;

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
    /// HTML and PDF invoices per second (built-in layout, printpdf's HTML renderer),
    /// and the same HTML through WeasyPrint (`pip install weasyprint`) in the same run.
    Render {
        /// Documents per case for the direct routes.
        #[arg(long, default_value_t = 400)]
        iterations: usize,
        /// HTML files per case given to WeasyPrint (0 to skip it).
        #[arg(long, default_value_t = 10)]
        weasyprint: usize,
    },
    /// A whole bill run (cycle close and finalization through the queue) on generated
    /// data, in a fresh database `billrun_bench` on the configured server.
    BillRun {
        /// Accounts to bill.
        #[arg(long, default_value_t = 10_000)]
        accounts: u64,
        /// Usage events per account (in the billed month).
        #[arg(long, default_value_t = 100)]
        events_per_account: u64,
        /// Accounts per close-chunk job.
        #[arg(long, default_value_t = 500)]
        chunk_size: usize,
        /// Concurrency of close-chunk and finalize-chunk in the worker.
        #[arg(long, default_value_t = 2)]
        concurrency: usize,
        /// Meter the usage by a computation (`{"var": "attributes.calls"}`, the same
        /// quantity) instead of the simple SUM, to compare the two.
        #[arg(long)]
        computations: bool,
        /// Give the bench plan two pricing rules (README "Pricing rules"): an UPDATE
        /// of the usage card whose condition holds and whose computation gives the
        /// same amount, and an ADD whose condition is false; the same amounts, to
        /// measure their cost.
        #[arg(long)]
        pricing_rules: bool,
    },
    /// The whole pipeline through the queue (close, finalize, render, deliver to the
    /// file outbox), then every invoice emailed again through an SMTP sink on
    /// loopback: each stage's rate, peak memory and the documents' size, in a fresh
    /// database `billrun_bench_pipeline` (README "Benchmarks").
    Pipeline {
        /// Accounts to bill (2 invoices each).
        #[arg(long, default_value_t = 10_000)]
        accounts: u64,
        /// Usage events per account (in the billed month).
        #[arg(long, default_value_t = 100)]
        events_per_account: u64,
        /// Accounts per close-chunk job.
        #[arg(long, default_value_t = 500)]
        chunk_size: usize,
        /// Jobs run at once per step.
        #[arg(long, default_value_t = 2)]
        concurrency: usize,
        /// Skip the SMTP pass (it needs Debian's python3-aiosmtpd).
        #[arg(long)]
        no_smtp: bool,
    },
    /// A plan migration of every account (IMMEDIATE, with the cut of open cycles and
    /// credits back, then NEXT_CYCLE), against the same association changes made by
    /// two set-based statements, in a fresh database `billrun_bench_migration`.
    Migration {
        /// Accounts on the source plan.
        #[arg(long, default_value_t = 10_000)]
        accounts: u64,
        /// Accounts per transaction.
        #[arg(long, default_value_t = 500)]
        chunk_size: u32,
    },
    /// A usage CSV import end to end (store + `csv-import` job) against a plain COPY
    /// of the same rows into the same table, in a fresh database `billrun_bench_import`.
    Import {
        /// Usage events in the file.
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
    },
    /// The HTTP API (`billrun serve`, started from this binary on loopback): invoice
    /// reads per second, and events per second through `/ingestBatch` beside the same
    /// number through `usage ingest`'s function, in a fresh database
    /// `billrun_bench_api`.
    Api {
        /// Events through each ingest path.
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        /// `GET /invoices/{id}` requests.
        #[arg(long, default_value_t = 20_000)]
        requests: u64,
        /// Clients reading the invoice at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
}

/// Runs a benchmark and prints its figures.
pub async fn run(pool: &PgPool, config: Arc<Config>, command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Queue { jobs, concurrency } => {
            queue_bench(pool, config, jobs, concurrency).await
        }
        BenchCommand::BillRun {
            accounts,
            events_per_account,
            chunk_size,
            concurrency,
            computations,
            pricing_rules,
        } => {
            bill_run::run(
                config,
                accounts,
                events_per_account,
                chunk_size,
                concurrency,
                computations,
                pricing_rules,
            )
            .await
        }
        BenchCommand::Render {
            iterations,
            weasyprint,
        } => {
            let opts = billrun_render::BenchOptions {
                iterations,
                weasyprint_batch: weasyprint,
                ..Default::default()
            };
            let report = tokio::task::spawn_blocking(move || billrun_render::bench(&opts)).await?;
            println!("{report}");
            Ok(())
        }
        BenchCommand::Pipeline {
            accounts,
            events_per_account,
            chunk_size,
            concurrency,
            no_smtp,
        } => {
            pipeline::run(
                config,
                accounts,
                events_per_account,
                chunk_size,
                concurrency,
                !no_smtp,
            )
            .await
        }
        BenchCommand::Migration {
            accounts,
            chunk_size,
        } => plan_migration_bench(config, accounts, chunk_size).await,
        BenchCommand::Import { rows } => {
            crate::imports::bench::run(config, rows, peak_rss_mib).await
        }
        BenchCommand::Api {
            events,
            requests,
            concurrency,
        } => api::run(config, events, requests, concurrency)
            .await
            .map(drop),
    }
}

/// Drops and creates the database `name` on the configured server and migrates it: a
/// pool of `connections` on it, and its URL.
async fn fresh_database(config: &Config, name: &str, connections: u32) -> Result<(PgPool, String)> {
    use sqlx::postgres::PgConnectOptions;
    use sqlx::ConnectOptions;
    let url = crate::store::resolve_database_url(config, crate::store::Provision::Existing).await?;
    let opts: PgConnectOptions = url.parse()?;
    let mut admin = opts.clone().database("postgres").connect().await?;
    // `name` is one of the benches' constant database names, never input.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await?;
    let bench_url = opts.database(name).to_url_lossy().to_string();
    let pool = crate::store::connect(&bench_url, connections).await?;
    crate::store::migrate(&pool).await?;
    Ok((pool, bench_url))
}

/// Drops the database `name` on the configured server (a bench's data takes gigabytes).
async fn drop_database(config: &Config, name: &str) -> Result<()> {
    use sqlx::postgres::PgConnectOptions;
    use sqlx::ConnectOptions;
    let url = crate::store::resolve_database_url(config, crate::store::Provision::Existing).await?;
    let opts: PgConnectOptions = url.parse()?;
    let mut admin = opts.database("postgres").connect().await?;
    // `name` is one of the benches' constant database names, never input.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    Ok(())
}

/// Peak resident memory of this process so far, in MiB (Linux; 0 elsewhere).
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
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

/// `bench migration`: see [`BenchCommand::Migration`].
async fn plan_migration_bench(config: Arc<Config>, accounts: u64, chunk_size: u32) -> Result<()> {
    use crate::plan_migration::{self, NewMigration, SourceVersion};
    use billrun_core::plan_migration::MigrationMode;
    use sqlx::postgres::PgConnectOptions;
    use sqlx::ConnectOptions;
    let url =
        crate::store::resolve_database_url(&config, crate::store::Provision::Existing).await?;
    let opts: PgConnectOptions = url.parse()?;
    let mut admin = opts.clone().database("postgres").connect().await?;
    sqlx::raw_sql("DROP DATABASE IF EXISTS billrun_bench_migration WITH (FORCE)")
        .execute(&mut admin)
        .await?;
    sqlx::raw_sql("CREATE DATABASE billrun_bench_migration")
        .execute(&mut admin)
        .await?;
    let bench_url = opts
        .database("billrun_bench_migration")
        .to_url_lossy()
        .to_string();
    let pool = crate::store::connect(&bench_url, 16).await?;
    crate::store::migrate(&pool).await?;
    bill_run::generate(&pool, accounts, 0).await?;
    // A second plan to move to, and January's cycles open (their fee billed in
    // advance) so that IMMEDIATE cuts them and credits the unused days back.
    let target = serde_json::json!({
        "name": "bench_pro", "supportedCurrencies": ["USD"],
        "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "1"}, "gracePeriod": 0},
        "fixedFeeRateCards": [{
            "name": "platform_fee", "displayName": "Platform fee", "invoiceTiming": "IN_ADVANCE",
            "type": "RECURRING", "enableProration": true, "rateValues": [{"currency": "USD", "rate": 149}]
        }]
    });
    let target = billrun_core::plan::Plan::from_json(&target)
        .map_err(|e| anyhow::anyhow!("bench target plan: {e}"))?;
    sqlx::query("INSERT INTO price_plans (org_id, id) VALUES ('bench', 'bench_pro')")
        .execute(&pool)
        .await?;
    sqlx::query(
        "INSERT INTO price_plan_versions (org_id, plan_id, version, status, definition, finalized_at)
         VALUES ('bench', 'bench_pro', 1, 'ACTIVE', $1, now())",
    )
    .bind(target.to_json())
    .execute(&pool)
    .await?;
    sqlx::query(
        "INSERT INTO billing_cycles (org_id, account_id, association_from, cycle_index, full_start,
             full_end, billed_start, billed_end, starts_at, ends_at, status)
         SELECT 'bench', id, DATE '2026-01-01', 0, DATE '2026-01-01', DATE '2026-02-01',
                DATE '2026-01-01', DATE '2026-02-01', TIMESTAMPTZ '2026-01-01 00:00Z',
                TIMESTAMPTZ '2026-02-01 00:00Z', 'OPEN'
         FROM accounts WHERE org_id = 'bench'",
    )
    .execute(&pool)
    .await?;
    println!("bench migration: {accounts} accounts, chunks of {chunk_size}");

    // The floor: the same plan-period changes as two set-based statements (rolled back).
    let start = Instant::now();
    let mut tx = pool.begin().await?;
    sqlx::raw_sql(
        "UPDATE plan_associations SET effective_until = DATE '2026-01-16' WHERE org_id = 'bench';
         INSERT INTO plan_associations (org_id, account_id, plan_id, plan_version, effective_from)
         SELECT org_id, account_id, 'bench_pro', 1, DATE '2026-01-16' FROM plan_associations
         WHERE org_id = 'bench' AND plan_id = 'bench';",
    )
    .execute(&mut *tx)
    .await?;
    tx.rollback().await?;
    let floor = start.elapsed().as_secs_f64();
    println!(
        "  two set-based statements: {floor:.2} s ({:.0} accounts/s), no checks, no entries, no credits",
        accounts as f64 / floor
    );

    let mut results = Vec::new();
    for (mode, source, target, at) in [
        (
            MigrationMode::Immediate,
            "bench",
            "bench_pro",
            "2026-01-16T00:00:00Z",
        ),
        (
            MigrationMode::NextCycle,
            "bench_pro",
            "bench",
            "2026-01-20T00:00:00Z",
        ),
    ] {
        let request = NewMigration {
            source_plan: source.into(),
            source_version: SourceVersion::Latest,
            target_plan: target.into(),
            target_version: None,
            mode,
            retain_start_offsets: false,
            require_confirmation: false,
            effective_at: Some(chrono::DateTime::parse_from_rfc3339(at)?.with_timezone(&Utc)),
            chunk_size: Some(chunk_size),
        };
        let start = Instant::now();
        let created =
            plan_migration::create(&pool, 3, &"bench".into(), &request, Utc::now()).await?;
        let job = created
            .job_id
            .clone()
            .ok_or_else(|| anyhow::anyhow!("the migration has no job"))?;
        let done =
            jobs::run::wait_for_job(&pool, config.clone(), &job, Duration::from_secs(3600)).await?;
        let secs = start.elapsed().as_secs_f64();
        anyhow::ensure!(
            done.state == crate::queue::admin::JobState::Done,
            "the migration job is {}",
            done.state
        );
        let view = plan_migration::get(&pool, &"bench".into(), &created.id).await?;
        anyhow::ensure!(
            view.counts.completed == accounts as i64,
            "{} of {accounts} accounts migrated",
            view.counts.completed
        );
        println!(
            "  {mode:<10} {secs:.2} s ({:.0} accounts/s): {} completed, {} failed; {:.1}x the floor",
            accounts as f64 / secs,
            view.counts.completed,
            view.counts.failed,
            secs / floor
        );
        results.push(secs);
    }
    let credits: i64 =
        sqlx::query_scalar("SELECT count(*) FROM credit_grants WHERE org_id = 'bench'")
            .fetch_one(&pool)
            .await?;
    println!("  credits granted back by IMMEDIATE: {credits}");
    println!("  peak RSS: {:.0} MiB", peak_rss_mib());
    pool.close().await;
    sqlx::raw_sql("DROP DATABASE IF EXISTS billrun_bench_migration WITH (FORCE)")
        .execute(&mut admin)
        .await?;
    Ok(())
}
