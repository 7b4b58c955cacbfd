//! `billrun bench api`: the HTTP API measured against the real binary. In a fresh
//! database `billrun_bench_api` on the configured server, the bench organisation of
//! `bench bill-run` ([`super::bill_run::generate`]: a few accounts with January's
//! usage) is billed as of 1 Feb 2026 through the queue, so that real finalized
//! invoices exist; then this binary is started as `billrun serve` on a free loopback
//! port (a separate process, as in production) with an Administrator API token, and:
//! - (a) `GET /invoices/{id}` of one invoice, `requests` times by `concurrency`
//!   clients at once: requests per second;
//! - (b) `events` new usage events (February, the open cycle) through `POST
//!   /ingestBatch`, [`EVENTS_PER_REQUEST`] a request, one client: events per second;
//! - (c) as many other events (same accounts, instants and values, other ids) through
//!   the function `billrun usage ingest` calls ([`usage::ingest_json_lines`]), from
//!   the same JSON lines the command would read: events per second.
//!
//! It prints a table and the ratios (b / c, and HTTP's share of the time), and fails
//! unless every request was answered as expected and the database holds exactly the
//! events sent by each path (README "Benchmarks").

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::catalog::usage;
use crate::config::Config;
use crate::identity::{tokens, Actor, Role};
use crate::queue::JobKind;
use crate::store::OrgId;

/// Events per `/ingestBatch` request (Togai's largest batch).
pub const EVENTS_PER_REQUEST: usize = 1000;
/// Accounts of the bench organisation (the events are spread over them).
const ACCOUNTS: u64 = 20;
/// January events per account (billed before the measures, not timed).
const JANUARY_EVENTS: u64 = 10;
/// The database the bench creates (dropped first if it exists).
pub const DATABASE: &str = "billrun_bench_api";

/// What `billrun bench api` measured.
#[derive(Debug, Clone)]
pub struct ApiFigures {
    /// (a) Invoice reads answered, and how long they took.
    pub reads: u64,
    /// Seconds of (a).
    pub reads_secs: f64,
    /// (b) Events ingested through `/ingestBatch`.
    pub http_events: u64,
    /// Seconds of (b).
    pub http_secs: f64,
    /// (c) Events ingested through the CLI's function.
    pub cli_events: u64,
    /// Seconds of (c).
    pub cli_secs: f64,
}

/// Runs `billrun bench api` (see [`super::BenchCommand::Api`]) and prints its figures.
/// Errors: the database cannot be created, the server does not start, a request is
/// not answered as expected, or the events stored differ from the events sent.
pub async fn run(
    config: Arc<Config>,
    events: u64,
    requests: u64,
    concurrency: usize,
) -> Result<ApiFigures> {
    ensure!(events > 0, "--events: expected 1 or more");
    ensure!(requests > 0, "--requests: expected 1 or more");
    ensure!(concurrency > 0, "--concurrency: expected 1 or more");
    let (pool, url) = fresh_database(&config).await?;
    println!(
        "bench api: {requests} invoice reads by {concurrency} clients; {events} events through \
         /ingestBatch ({EVENTS_PER_REQUEST} a request) and as many through `usage ingest`'s \
         function"
    );
    let start = Instant::now();
    let invoice = billed_invoice(&pool, config.clone()).await?;
    let org = OrgId::from("bench");
    let token = tokens::create(
        &pool,
        &org,
        "bench-api",
        Role::Administrator,
        &Actor::cli("bench"),
        Utc::now(),
    )
    .await?
    .token;
    println!(
        "  set-up (data, bill run, token) in {:.1} s, not part of the figures below",
        start.elapsed().as_secs_f64()
    );

    let server = ServerProcess::start(&config, &url).await?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let base = format!("http://{}", server.addr);

    // (a) One invoice read, by `concurrency` clients.
    let path = format!("{base}/invoices/{invoice}");
    read_invoice(&client, &path, &token, &invoice).await?; // warm-up, not counted
    let next = Arc::new(AtomicU64::new(0));
    let t = Instant::now();
    let mut readers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (client, path, token, invoice, next) = (
            client.clone(),
            path.clone(),
            token.clone(),
            invoice.clone(),
            next.clone(),
        );
        readers.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < requests {
                read_invoice(&client, &path, &token, &invoice).await?;
            }
            anyhow::Ok(())
        }));
    }
    for r in readers {
        r.await??;
    }
    let reads_secs = t.elapsed().as_secs_f64();

    // (b) Events through /ingestBatch, one client.
    let http_events = bench_events("h", events);
    let t = Instant::now();
    for chunk in http_events.chunks(EVENTS_PER_REQUEST) {
        let res = client
            .post(format!("{base}/ingestBatch"))
            .bearer_auth(&token)
            .json(&json!({ "events": chunk }))
            .send()
            .await?;
        let status = res.status();
        let body: Value = res.json().await.context("/ingestBatch's answer")?;
        ensure!(
            status == reqwest::StatusCode::ACCEPTED
                && body["details"]["ingested"] == chunk.len() as u64,
            "/ingestBatch answered {status}: {body}"
        );
    }
    let http_secs = t.elapsed().as_secs_f64();
    drop(server);

    // (c) The same number of events through `billrun usage ingest`'s function, from
    // the JSON lines it would read.
    let mut lines = Vec::new();
    for e in bench_events("c", events) {
        serde_json::to_writer(&mut lines, &e)?;
        lines.push(b'\n');
    }
    let t = Instant::now();
    let report = usage::ingest_json_lines(&pool, &org, std::io::Cursor::new(lines)).await?;
    let cli_secs = t.elapsed().as_secs_f64();
    ensure!(
        report.ingest.inserted == events && report.rejected == 0 && report.conflicts == 0,
        "usage ingest: {} of {events} events inserted, {} rejected, {} in conflict",
        report.ingest.inserted,
        report.rejected,
        report.conflicts
    );

    let (stored_http, stored_cli): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE id LIKE 'h-%'), count(*) FILTER (WHERE id LIKE 'c-%')
         FROM usage_events WHERE org_id = 'bench'",
    )
    .fetch_one(&pool)
    .await?;
    ensure!(
        stored_http as u64 == events && stored_cli as u64 == events,
        "events stored: {stored_http} through HTTP and {stored_cli} through the CLI's \
         function; {events} sent each way"
    );
    let figures = ApiFigures {
        reads: requests,
        reads_secs,
        http_events: events,
        http_secs,
        cli_events: events,
        cli_secs,
    };
    print_figures(&figures, concurrency);
    println!(
        "  events stored: {stored_http} through /ingestBatch, {stored_cli} through usage ingest \
         (as sent)"
    );
    Ok(figures)
}

/// Prints the table and the ratios.
fn print_figures(f: &ApiFigures, concurrency: usize) {
    let rate = |n: u64, secs: f64| n as f64 / secs.max(1e-9);
    println!(
        "  {:<44} {:>9} {:>9} {:>12}",
        "path", "count", "seconds", "per second"
    );
    println!(
        "  {:<44} {:>9} {:>9.3} {:>12.0}",
        format!("(a) GET /invoices/{{id}}, {concurrency} clients"),
        f.reads,
        f.reads_secs,
        rate(f.reads, f.reads_secs)
    );
    println!(
        "  {:<44} {:>9} {:>9.3} {:>12.0}",
        format!("(b) POST /ingestBatch, {EVENTS_PER_REQUEST} events a request"),
        f.http_events,
        f.http_secs,
        rate(f.http_events, f.http_secs)
    );
    println!(
        "  {:<44} {:>9} {:>9.3} {:>12.0}",
        "(c) usage ingest (the CLI's function)",
        f.cli_events,
        f.cli_secs,
        rate(f.cli_events, f.cli_secs)
    );
    let ratio = rate(f.http_events, f.http_secs) / rate(f.cli_events, f.cli_secs);
    println!(
        "  ratio (b)/(c): {ratio:.2}x the CLI path's events/s ({:.0}% of (b)'s time is \
         HTTP: JSON, the request, the server)",
        100.0 * (f.http_secs - f.cli_secs).max(0.0) / f.http_secs.max(1e-9)
    );
}

/// Drops and creates [`DATABASE`] on the configured server and migrates it: a pool on
/// it and its URL.
async fn fresh_database(config: &Config) -> Result<(PgPool, String)> {
    super::fresh_database(config, DATABASE, 8).await
}

/// The bench organisation with January's usage, billed as of 1 Feb 2026 through the
/// queue (cycle close and finalization, as `billrun run cycle-close`): the id of one
/// of its finalized invoices with usage.
async fn billed_invoice(pool: &PgPool, config: Arc<Config>) -> Result<String> {
    super::bill_run::generate(pool, ACCOUNTS, JANUARY_EVENTS).await?;
    let req = crate::jobs::request(
        JobKind::CycleClose,
        json!({ "organisation": "bench" }),
        super::bill_run::AS_OF.parse::<DateTime<Utc>>()?,
        Some("bench".into()),
    )
    .map_err(anyhow::Error::msg)?;
    // Only cycle close and finalization run (as in `bench bill-run`): documents and
    // deliveries are left pending, deleted with the bench database.
    let mut cfg = (*config).clone();
    cfg.worker.default_concurrency = 0;
    for kind in [
        JobKind::CycleClose,
        JobKind::CloseChunk,
        JobKind::FinalizeChunk,
    ] {
        cfg.worker.concurrency.insert(kind.name().into(), 2);
    }
    cfg.worker.poll_interval_ms = 20;
    let opts = crate::queue::EnqueueOptions {
        max_attempts: 3,
        ..Default::default()
    };
    crate::queue::enqueue(&mut *pool.acquire().await?, &req, &opts).await?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let workers = tokio::spawn(crate::jobs::worker::run(
        pool.clone(),
        Arc::new(cfg),
        JobKind::ALL.to_vec(),
        crate::jobs::worker::process_name(),
        async move {
            let _ = stop_rx.await;
        },
    ));
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let finalized: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM invoices WHERE org_id = 'bench' AND status IN ('DUE', 'PAID')",
        )
        .fetch_one(pool)
        .await?;
        if finalized >= 2 * ACCOUNTS as i64 {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the bench bill run did not finalize its invoices in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop_tx.send(());
    workers.await??;
    let id: Option<String> = sqlx::query_scalar(
        "SELECT id FROM invoices WHERE org_id = 'bench' AND status = 'DUE'
         ORDER BY boundary DESC, account_id LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    id.context("the bench bill run finalized no invoice")
}

/// `n` Togai events `{prefix}-{i}` for February 2026 (the open cycle), spread over the
/// accounts and the month, `calls` = i mod 400: what both ingest paths receive.
fn bench_events(prefix: &str, n: u64) -> Vec<Value> {
    let feb = super::bill_run::AS_OF
        .parse::<DateTime<Utc>>()
        .expect("a fixed instant");
    (0..n)
        .map(|i| {
            let ts = feb + chrono::Duration::seconds(((i * 7919) % (27 * 86_400)) as i64);
            json!({
                "id": format!("{prefix}-{i}"),
                "schemaName": "api",
                "timestamp": ts.to_rfc3339(),
                "accountId": format!("acc{:07}", i % ACCOUNTS + 1),
                "attributes": [{"name": "calls", "value": (i % 400).to_string()}],
                "dimensions": {"region": "eu"}
            })
        })
        .collect()
}

/// One `GET /invoices/{id}`: fails unless it answers 200 with that invoice.
async fn read_invoice(
    client: &reqwest::Client,
    path: &str,
    token: &str,
    invoice: &str,
) -> Result<()> {
    let res = client.get(path).bearer_auth(token).send().await?;
    let status = res.status();
    let body: Value = res.json().await.context("the invoice's answer")?;
    if status != reqwest::StatusCode::OK || body["id"] != invoice {
        bail!("GET {path} answered {status}: {body}");
    }
    Ok(())
}

/// `billrun serve` (this binary) on a free loopback port, on the bench database; its
/// log in a temporary file. Stopped (SIGTERM, then SIGKILL) when dropped.
struct ServerProcess {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl ServerProcess {
    async fn start(config: &Config, database_url: &str) -> Result<ServerProcess> {
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            l.local_addr()?
        };
        let dir = std::env::temp_dir().join(format!("billrun-bench-api-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        // The server's configuration: this one's `[http]` limits (the database comes
        // from DATABASE_URL).
        let cfg = dir.join("billrun.toml");
        let mut f = std::fs::File::create(&cfg)?;
        writeln!(
            f,
            "[http]\nbody_limit_bytes = {}\nrequest_timeout_secs = {}",
            config.http.body_limit_bytes, config.http.request_timeout_secs
        )?;
        let log = std::fs::File::create(dir.join("serve.log"))?;
        let child = Command::new(std::env::current_exe()?)
            .arg("--config")
            .arg(&cfg)
            .args(["serve", "--listen", &addr.to_string()])
            .env("DATABASE_URL", database_url)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting billrun serve")?;
        let mut server = ServerProcess { child, addr, dir };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.get(format!("http://{addr}/health")).send().await {
                if r.status() == reqwest::StatusCode::OK {
                    return Ok(server);
                }
            }
            if let Some(status) = server.child.try_wait()? {
                bail!("billrun serve exited ({status}): {}", server.log());
            }
            if Instant::now() > deadline {
                bail!(
                    "billrun serve did not answer /health in 30 s: {}",
                    server.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("serve.log")).unwrap_or_default()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // SAFETY: signalling the child this process started, by its id.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_dir_all(&self.dir);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
