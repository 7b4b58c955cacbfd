//! `billrun bench pipeline`: the whole bill run as it runs in production, every step
//! through the queue in one worker process: cycle close, finalization, documents
//! (HTML and PDF, stored) and email delivery to the file outbox; then every invoice
//! emailed again through an SMTP server on loopback (aiosmtpd's `Sink`, which takes
//! each message and drops it). It prints each stage's rate, the process's peak
//! memory, and the space the documents and emails take (README "Benchmarks").
//!
//! The data is `bench bill-run`'s (the same plan, accounts and January usage:
//! [`super::bill_run::generate`]), with the demo's billing details and logo, and one
//! billing email per account, in a fresh database `billrun_bench_pipeline`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use sqlx::PgPool;

use super::peak_rss_mib;
use crate::config::{Config, MailTransport};
use crate::jobs::{self, worker};
use crate::queue::{self, EnqueueOptions, JobKind};

/// The database the bench creates (dropped first if it exists, and at the end).
pub const DATABASE: &str = "billrun_bench_pipeline";
/// Invoices per `deliver-chunk` job of the SMTP pass (as `render-chunk` enqueues them).
const SMTP_CHUNK: usize = 200;

/// The stages, in the order an invoice goes through them, with the job kind that does
/// each and the count that says how far it got.
const STAGES: [(&str, JobKind, &str); 4] = [
    (
        "close",
        JobKind::CloseChunk,
        "SELECT count(*) FROM invoices WHERE org_id = 'bench'",
    ),
    (
        "finalize",
        JobKind::FinalizeChunk,
        "SELECT count(*) FROM invoices WHERE org_id = 'bench' AND status IN ('DUE', 'PAID')",
    ),
    (
        "render",
        JobKind::RenderChunk,
        "SELECT count(*) FROM invoice_documents WHERE org_id = 'bench'",
    ),
    (
        "deliver",
        JobKind::DeliverChunk,
        "SELECT count(*) FROM invoice_deliveries WHERE org_id = 'bench' AND status = 'SENT'",
    ),
];

/// Runs `billrun bench pipeline` (see [`super::BenchCommand::Pipeline`]). Errors: the
/// database cannot be made, a job dies, a stage does not reach every invoice, or
/// `/usr/bin/python3 -m aiosmtpd` cannot be started (without `--no-smtp`).
pub async fn run(
    config: Arc<Config>,
    accounts: u64,
    events_per_account: u64,
    chunk_size: usize,
    concurrency: usize,
    smtp: bool,
) -> Result<()> {
    ensure!(accounts > 0, "--accounts: expected 1 or more");
    ensure!(concurrency > 0, "--concurrency: expected 1 or more");
    let (pool, _url) = super::fresh_database(&config, DATABASE, 16).await?;
    let scratch =
        std::env::temp_dir().join(format!("billrun-bench-pipeline-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    println!(
        "bench pipeline: {accounts} accounts x {events_per_account} events, chunks of {chunk_size}, \
         concurrency {concurrency} per step; outbox {}",
        scratch.join("outbox").display()
    );
    let t = Instant::now();
    super::bill_run::generate(&pool, accounts, events_per_account).await?;
    let mut tx = pool.begin().await?;
    crate::documents::sample::document_settings(&mut tx, "bench").await?;
    sqlx::raw_sql(
        "UPDATE accounts SET billing_emails = ARRAY[id || '@customers.example'] WHERE org_id = 'bench';
         UPDATE organisations SET billing_email = 'billing@bench.example' WHERE id = 'bench'",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    sqlx::raw_sql("ANALYZE").execute(&pool).await?;
    println!(
        "  data generated in {:.1} s (not part of the figures below)",
        t.elapsed().as_secs_f64()
    );
    let rss_before = peak_rss_mib();

    // Pass 1: the bill run, every step, emails to the outbox.
    let expected = 2 * accounts as i64; // the opening invoice and Feb 1's, per account
    let mut cfg = worker_config(&config, concurrency);
    cfg.mail.transport = MailTransport::File;
    cfg.mail.outbox_dir = Some(scratch.join("outbox"));
    let req = jobs::request(
        JobKind::CycleClose,
        serde_json::json!({ "organisation": "bench", "chunkSize": chunk_size }),
        super::bill_run::AS_OF.parse()?,
        Some("bench".into()),
    )
    .map_err(anyhow::Error::msg)?;
    let start = Instant::now();
    queue::enqueue(&mut *pool.acquire().await?, &req, &retrying()).await?;
    let finished = run_until(&pool, cfg, expected, start).await?;
    let wall = start.elapsed().as_secs_f64();
    println!("  pass 1, the bill run (close, finalize, render, deliver to the outbox): {wall:.1} s, {:.0} accounts/s", accounts as f64 / wall);
    println!("    stage     invoices  done at   busy      invoices/s of busy time");
    for ((name, kind, _), done_at) in STAGES.iter().zip(&finished) {
        let busy = busy_secs(&pool, &[*kind]).await?;
        println!(
            "    {name:<9} {expected:>8} {done_at:>7.1} s {busy:>7.1} s  {:>8.0}",
            expected as f64 / busy.max(1e-9)
        );
    }
    let billed = super::bill_run::totals(&mut *pool.acquire().await?).await?;
    println!(
        "  billed: {} invoices, {} finalized, {} USD in all",
        billed.invoices, billed.finalized, billed.total
    );
    let peak_after_pass1 = peak_rss_mib();
    let (docs, pdf_bytes, html_bytes, table_bytes): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), coalesce(sum(octet_length(pdf)), 0)::bigint, coalesce(sum(octet_length(html)), 0)::bigint,
                pg_total_relation_size('invoice_documents')
         FROM invoice_documents WHERE org_id = 'bench'",
    )
    .fetch_one(&pool)
    .await?;
    let outbox_bytes = dir_bytes(&scratch.join("outbox"))?;
    let n = docs.max(1) as f64;
    println!(
        "  documents: {docs} stored; PDF {:.1} KiB and HTML {:.1} KiB each on average; the table \
         invoice_documents takes {:.1} MiB ({:.1} KiB per invoice, TOAST and index included)",
        pdf_bytes as f64 / n / 1024.0,
        html_bytes as f64 / n / 1024.0,
        table_bytes as f64 / 1048576.0,
        table_bytes as f64 / n / 1024.0
    );
    println!(
        "  outbox: {:.1} MiB of .eml files ({:.1} KiB per email, the PDF attached in base64)",
        outbox_bytes as f64 / 1048576.0,
        outbox_bytes as f64 / n / 1024.0
    );

    // Pass 2: every invoice emailed again, through SMTP on loopback.
    if smtp {
        let sink = SmtpSink::start(&scratch)?;
        let mut cfg = worker_config(&config, concurrency);
        cfg.mail.transport = MailTransport::Smtp;
        cfg.mail.smtp_url = Some(format!("smtp://127.0.0.1:{}?tls=none", sink.port));
        // Set-up, not timed: every delivery back to QUEUED, and the jobs enqueued.
        sqlx::raw_sql(
            "UPDATE invoice_deliveries SET status = 'QUEUED', attempts = 0, last_error = NULL,
                    message_id = NULL, updated_at = now() WHERE org_id = 'bench'",
        )
        .execute(&pool)
        .await?;
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM invoices WHERE org_id = 'bench' ORDER BY id")
                .fetch_all(&pool)
                .await?;
        let mut conn = pool.acquire().await?;
        for chunk in ids.chunks(SMTP_CHUNK) {
            let req = jobs::request(
                JobKind::DeliverChunk,
                serde_json::json!({ "organisation": "bench", "invoices": chunk, "resend": true }),
                chrono::Utc::now(),
                Some("bench".into()),
            )
            .map_err(anyhow::Error::msg)?;
            queue::enqueue(&mut conn, &req, &retrying()).await?;
        }
        drop(conn);
        let start = Instant::now();
        let before = busy_secs(&pool, &[JobKind::DeliverChunk]).await?;
        run_until_sent(&pool, cfg, expected).await?;
        let secs = start.elapsed().as_secs_f64();
        let busy = busy_secs(&pool, &[JobKind::DeliverChunk]).await? - before;
        println!(
            "  pass 2, every invoice emailed again through SMTP on loopback (aiosmtpd Sink): {expected} emails in {secs:.1} s, {:.0}/s ({:.0}/s of busy time)",
            expected as f64 / secs,
            expected as f64 / busy.max(1e-9)
        );
        drop(sink);
    }
    println!(
        "  peak RSS:  {:.0} MiB after pass 1, {:.0} MiB at the end (before the run: {rss_before:.0} MiB)",
        peak_after_pass1,
        peak_rss_mib()
    );
    pool.close().await;
    super::drop_database(&config, DATABASE).await?;
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

/// This configuration with every bill-run step (and delivery) at `concurrency`, the
/// other kinds off, and a short poll.
fn worker_config(config: &Config, concurrency: usize) -> Config {
    let mut cfg = config.clone();
    cfg.worker.default_concurrency = 0;
    for kind in [
        JobKind::CycleClose,
        JobKind::CloseChunk,
        JobKind::FinalizeChunk,
        JobKind::RenderChunk,
        JobKind::DeliverChunk,
    ] {
        cfg.worker
            .concurrency
            .insert(kind.name().into(), concurrency);
    }
    cfg.worker.poll_interval_ms = 20;
    cfg
}

fn retrying() -> EnqueueOptions {
    EnqueueOptions {
        max_attempts: 3,
        ..Default::default()
    }
}

/// Runs a worker until every stage's count reaches `expected`; the seconds since
/// `start` at which each stage got there (polled every 100 ms).
async fn run_until(pool: &PgPool, cfg: Config, expected: i64, start: Instant) -> Result<Vec<f64>> {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let workers = tokio::spawn(worker::run(
        pool.clone(),
        Arc::new(cfg),
        JobKind::ALL.to_vec(),
        worker::process_name(),
        async move {
            let _ = stop_rx.await;
        },
    ));
    let mut done: Vec<Option<f64>> = vec![None; STAGES.len()];
    while done.iter().any(Option::is_none) {
        for (i, (_, _, count)) in STAGES.iter().enumerate() {
            if done[i].is_none() {
                let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(*count))
                    .fetch_one(pool)
                    .await?;
                if n >= expected {
                    done[i] = Some(start.elapsed().as_secs_f64());
                }
            }
        }
        no_dead_jobs(pool).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop_tx.send(());
    workers.await??;
    Ok(done.into_iter().flatten().collect())
}

/// Runs a worker until `expected` deliveries are SENT.
async fn run_until_sent(pool: &PgPool, cfg: Config, expected: i64) -> Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let workers = tokio::spawn(worker::run(
        pool.clone(),
        Arc::new(cfg),
        vec![JobKind::DeliverChunk],
        worker::process_name(),
        async move {
            let _ = stop_rx.await;
        },
    ));
    loop {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(STAGES[3].2))
            .fetch_one(pool)
            .await?;
        if n >= expected {
            break;
        }
        no_dead_jobs(pool).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop_tx.send(());
    workers.await??;
    Ok(())
}

async fn no_dead_jobs(pool: &PgPool) -> Result<()> {
    let dead: Option<String> = sqlx::query_scalar(
        "SELECT job_type || ': ' || coalesce(last_result::text, '') FROM apalis.jobs
         WHERE status = 'Failed' AND attempts >= max_attempts LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    ensure!(
        dead.is_none(),
        "a bench job is dead ({}): see billrun jobs list --state dead",
        dead.unwrap_or_default()
    );
    Ok(())
}

/// Seconds of wall time some job of `kinds` was held by a worker (the union of their
/// claimed-to-done intervals, from the queue's own instants).
async fn busy_secs(pool: &PgPool, kinds: &[JobKind]) -> Result<f64> {
    let held: Option<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM sum(upper(r) - lower(r)))::float8
         FROM unnest((SELECT range_agg(tstzrange(lock_at, done_at)) FROM apalis.jobs
                      WHERE job_type = ANY($1) AND lock_at IS NOT NULL AND done_at IS NOT NULL)) AS r",
    )
    .bind(kinds.iter().map(|k| k.queue()).collect::<Vec<_>>())
    .fetch_one(pool)
    .await?;
    Ok(held.unwrap_or(0.0))
}

/// Bytes of the files directly in `dir` (0 if it does not exist).
fn dir_bytes(dir: &Path) -> Result<u64> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    let mut total = 0;
    for e in entries {
        total += e?.metadata()?.len();
    }
    Ok(total)
}

/// aiosmtpd's `Sink` handler (takes every message, keeps none) on a free loopback
/// port, started with Debian's `/usr/bin/python3` (package python3-aiosmtpd); killed
/// when dropped.
struct SmtpSink {
    child: Child,
    port: u16,
}

impl SmtpSink {
    fn start(scratch: &Path) -> Result<SmtpSink> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let python = PathBuf::from("/usr/bin/python3");
        let log = std::fs::File::create(scratch.join("smtp-sink.log"))?;
        let child = Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink"])
            .arg("-l")
            .arg(format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting the SMTP sink `/usr/bin/python3 -m aiosmtpd` (apt-get install python3-aiosmtpd, or pass --no-smtp)")?;
        let mut sink = SmtpSink { child, port };
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = sink.child.try_wait()? {
                anyhow::bail!(
                    "the SMTP sink `/usr/bin/python3 -m aiosmtpd` exited ({status}): see {} (apt-get install python3-aiosmtpd, or pass --no-smtp)",
                    scratch.join("smtp-sink.log").display()
                );
            }
            ensure!(
                Instant::now() < deadline,
                "the SMTP sink did not listen on 127.0.0.1:{port} within 15 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(sink)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
