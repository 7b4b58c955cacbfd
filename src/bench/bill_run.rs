//! `billrun bench bill-run`: a whole bill run (cycle close and finalization through the
//! queue) on generated data, against its floor measured in the same run (the same
//! month of usage aggregated and the same invoices, lines and cycles written by bare
//! set-based SQL), and where billrun's time goes ([`crate::timing`]'s counters).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgPool};

use super::floor::floor;
use super::peak_rss_mib;
use crate::config::Config;
use crate::jobs::{self, worker};
use crate::queue::{self, EnqueueOptions, JobKind};
use crate::timing::{Phase, Snapshot, Step};

/// The bench plan's usage slabs: where each starts (units already counted before it).
pub(super) const SLAB_STARTS: [i64; 3] = [0, 1_000, 10_000];
/// The price per unit of each slab, in USD.
pub(super) const SLAB_RATES: [&str; 3] = ["0.10", "0.05", "0.01"];
/// The bench plan's platform fee, USD per monthly cycle, billed in advance.
pub(super) const PLATFORM_FEE: i64 = 99;
/// The bench plan's minimum commitment, USD per monthly cycle.
pub(super) const MINIMUM_COMMITMENT: i64 = 300;
/// The instant the bench bills as of: January's cycles end, February's open.
pub(super) const AS_OF: &str = "2026-02-01T00:00:00Z";

/// Runs `billrun bench bill-run` (see [`super::BenchCommand::BillRun`]) and prints
/// its figures. Fails if the bill run and its floor do not bill the same amounts.
pub async fn run(
    config: Arc<Config>,
    accounts: u64,
    events_per_account: u64,
    chunk_size: usize,
    concurrency: usize,
    computations: bool,
    pricing_rules: bool,
) -> Result<()> {
    use sqlx::postgres::PgConnectOptions;
    use sqlx::ConnectOptions;
    let url =
        crate::store::resolve_database_url(&config, crate::store::Provision::Existing).await?;
    let opts: PgConnectOptions = url.parse()?;
    let mut admin = opts.clone().database("postgres").connect().await?;
    sqlx::raw_sql("DROP DATABASE IF EXISTS billrun_bench WITH (FORCE)")
        .execute(&mut admin)
        .await?;
    sqlx::raw_sql("CREATE DATABASE billrun_bench")
        .execute(&mut admin)
        .await?;
    let bench_url = opts.database("billrun_bench").to_url_lossy().to_string();
    let pool = crate::store::connect(&bench_url, 16).await?;
    crate::store::migrate(&pool).await?;

    println!("bench bill-run: {accounts} accounts x {events_per_account} events, chunks of {chunk_size}, concurrency {concurrency}");
    let start = Instant::now();
    generate(&pool, accounts, events_per_account).await?;
    if computations {
        // The same quantity through a computation: every event matches (no matcher)
        // and gives its `calls` (README "Usage meter computations").
        sqlx::raw_sql(
            r#"UPDATE usage_meters SET attribute = NULL,
                   computations = '[{"computation": "{\"var\": \"attributes.calls\"}", "order": 1}]'
               WHERE org_id = 'bench' AND id = 'api_calls'"#,
        )
        .execute(&pool)
        .await?;
        println!("  meter api_calls by a computation ({{\"var\": \"attributes.calls\"}})");
    }
    if pricing_rules {
        // Evaluated on every closing invoice, changing no amount (README "Pricing
        // rules"): an UPDATE to the same amount (condition true) and an ADD whose
        // condition is false: version 2 of the bench plan, which every account is put
        // on before any invoice exists (version 1 is finalized: it never changes).
        sqlx::raw_sql(
            r#"INSERT INTO price_plan_versions (org_id, plan_id, version, status, definition, finalized_at)
               SELECT org_id, plan_id, 2, 'ACTIVE', definition || jsonb_build_object('pricingRules', '[
                 {"name": "same usage", "order": 1,
                  "condition": "{\">=\": [{\"var\": \"revenue.api_calls\"}, 0]}",
                  "computation": "{\"*\": [{\"var\": \"revenue.api_calls\"}, 1]}",
                  "action": {"type": "UPDATE", "target": "api_calls"}},
                 {"name": "never", "order": 2,
                  "condition": "{\">\": [{\"var\": \"usage.api_calls\"}, 1000000000000]}",
                  "computation": "1", "action": {"type": "ADD"}}]'::jsonb), now()
               FROM price_plan_versions WHERE org_id = 'bench' AND plan_id = 'bench' AND version = 1;
               UPDATE plan_associations SET plan_version = 2 WHERE org_id = 'bench';"#,
        )
        .execute(&pool)
        .await?;
        println!("  plan with 2 pricing rules (an UPDATE to the same amount, an ADD whose condition is false)");
    }
    println!(
        "  data generated in {:.1} s (server-side, not part of the figures below)",
        start.elapsed().as_secs_f64()
    );

    // The floor first, twice (the best counts: the machine may be busy), each rolled
    // back; their dead rows vacuumed away (not timed), so that the bill run starts
    // from the same tables, on a cache the floor has warmed.
    let floors = [floor(&pool).await?, floor(&pool).await?];
    sqlx::raw_sql("VACUUM ANALYZE billing_cycles, invoices, invoice_number_sequences")
        .execute(&pool)
        .await?;
    let floor_secs = floors
        .iter()
        .map(|f| f.elapsed.as_secs_f64())
        .fold(f64::INFINITY, f64::min);
    let floor = floors[0].clone();
    let rss_before = peak_rss_mib();

    // Only the steps measured: cycle close and finalization. Later steps (documents,
    // delivery) are left pending and deleted with the bench database.
    let mut cfg = (*config).clone();
    cfg.worker.default_concurrency = 0;
    for kind in [
        JobKind::CycleClose,
        JobKind::CloseChunk,
        JobKind::FinalizeChunk,
    ] {
        cfg.worker
            .concurrency
            .insert(kind.name().into(), concurrency);
    }
    cfg.worker.poll_interval_ms = 20;
    let as_of = as_of();
    let req = jobs::request(
        JobKind::CycleClose,
        serde_json::json!({ "organisation": "bench", "chunkSize": chunk_size }),
        as_of,
        Some("bench".into()),
    )
    .map_err(anyhow::Error::msg)?;
    let opts = EnqueueOptions {
        max_attempts: 3,
        ..Default::default()
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let counters = Snapshot::now();
    let start = Instant::now();
    queue::enqueue(&mut *pool.acquire().await?, &req, &opts).await?;
    let workers = tokio::spawn(worker::run(
        pool.clone(),
        Arc::new(cfg),
        JobKind::ALL.to_vec(),
        worker::process_name(),
        async move {
            let _ = stop_rx.await;
        },
    ));
    // Every account gets its opening and its Feb 1 invoice, and both end finalized
    // (DUE, or PAID when there is nothing to collect).
    let expected = 2 * accounts as i64;
    loop {
        let due: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM invoices WHERE org_id = 'bench' AND status IN ('DUE', 'PAID')",
        )
        .fetch_one(&pool)
        .await?;
        if due >= expected {
            break;
        }
        let dead: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM apalis.jobs WHERE status = 'Failed' AND attempts >= max_attempts",
        )
        .fetch_one(&pool)
        .await?;
        anyhow::ensure!(
            dead == 0,
            "{dead} bill-run jobs are dead: see billrun jobs list --state dead"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    let _ = stop_tx.send(());
    workers.await??;
    let profile = Snapshot::now().since(&counters);
    let peak_rss = peak_rss_mib();

    let billed = totals(&mut *pool.acquire().await?).await?;
    anyhow::ensure!(
        billed.same_bill(&floor.totals),
        "the floor does not bill what billrun bills, so it is no floor: billrun {billed:?}, floor {:?}",
        floor.totals
    );
    let events = accounts * events_per_account;
    println!(
        "  floor:      {floor_secs:.2} s (best of {:.2} s and {:.2} s): the same usage aggregated and the same invoices (lines, numbers, DUE), cycles and counter written by 3 set-based statements, rolled back",
        floors[0].elapsed.as_secs_f64(),
        floors[1].elapsed.as_secs_f64()
    );
    println!(
        "  bill run:   {secs:.1} s for {} invoices ({} finalized, numbered), cycle close + finalization: {:.1}x the floor",
        billed.invoices,
        billed.finalized,
        secs / floor_secs
    );
    println!("  accounts/s: {:.0}", accounts as f64 / secs);
    println!("  events/s:   {:.0}", events as f64 / secs);
    println!(
        "  lines JSON: {} bytes per invoice (floor: {}), total billed {} USD (floor: the same)",
        billed.lines_bytes, floor.totals.lines_bytes, billed.total
    );
    println!("  peak RSS:   {peak_rss:.0} MiB (before the run: {rss_before:.0} MiB)");
    print_profile(&pool, &profile, secs).await?;
    // The generated data takes gigabytes at full size: drop it.
    pool.close().await;
    sqlx::raw_sql("DROP DATABASE IF EXISTS billrun_bench WITH (FORCE)")
        .execute(&mut admin)
        .await?;
    Ok(())
}

fn as_of() -> DateTime<Utc> {
    AS_OF.parse().expect("a valid instant")
}

/// Prints where the bill run's time went: per step, the phases summed over its jobs
/// (jobs run at the same time, so sums can exceed the wall time), the queue's own
/// work, and how much of the wall time some bill-run job was held by a worker.
async fn print_profile(pool: &PgPool, p: &Snapshot, wall: f64) -> Result<()> {
    println!("  where the time goes (phases summed over jobs, which run at the same time):");
    for step in [Step::Close, Step::Finalize, Step::Scan] {
        let job = p.time(step, Phase::Job).as_secs_f64();
        let jobs = p.count(step, Phase::Job);
        let mut line = format!("    {:<15}{jobs:>5} jobs {job:>7.2} s:", step.name());
        if step == Step::Scan {
            println!("{line} the scan for due work and its fan-out (not split)");
            continue;
        }
        let mut timed = 0.0;
        for phase in [
            Phase::Lock,
            Phase::Read,
            Phase::Core,
            Phase::Write,
            Phase::Enqueue,
            Phase::Commit,
        ] {
            let t = p.time(step, phase).as_secs_f64();
            if p.count(step, phase) > 0 {
                timed += t;
                line.push_str(&format!(" {} {t:.2} ({:.0}%),", phase.name(), pct(t, job)));
            }
        }
        let other = (job - timed).max(0.0);
        line.push_str(&format!(" other {other:.2} ({:.0}%)", pct(other, job)));
        println!("{line}");
    }
    let mut line = String::from("    queue:              ");
    for phase in [Phase::Claim, Phase::EmptyPoll, Phase::Ack] {
        line.push_str(&format!(
            " {} x{} {:.2} s,",
            phase.name(),
            p.count(Step::Queue, phase),
            p.time(Step::Queue, phase).as_secs_f64()
        ));
    }
    println!("{}", line.trim_end_matches(','));
    // From the queue's own instants: when some bill-run job was claimed or running.
    let held: Option<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM sum(upper(r) - lower(r)))::float8
         FROM unnest((SELECT range_agg(tstzrange(lock_at, done_at)) FROM apalis.jobs
                      WHERE job_type = ANY($1) AND lock_at IS NOT NULL AND done_at IS NOT NULL)) AS r",
    )
    .bind(
        [JobKind::CycleClose, JobKind::CloseChunk, JobKind::FinalizeChunk]
            .map(|k| k.queue())
            .to_vec(),
    )
    .fetch_one(pool)
    .await?;
    let held = held.unwrap_or(0.0);
    println!(
        "    some job held by a worker {held:.2} s of the {wall:.2} s ({:.0}%); the rest is start-up, polling and the bench's own 50 ms check",
        pct(held, wall)
    );
    Ok(())
}

fn pct(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        100.0 * part / whole
    } else {
        0.0
    }
}

/// What a bill run of the bench organisation left in the database, or what its floor
/// wrote: enough to tell that both billed the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Billed {
    /// Invoices of the organisation.
    pub invoices: i64,
    /// Of which finalized (DUE or PAID, with a number).
    pub finalized: i64,
    /// Billing cycles recorded.
    pub cycles: i64,
    /// Of which closed.
    pub closed_cycles: i64,
    /// Sum of the invoices' charges, USD.
    pub sub_total: Decimal,
    /// Sum of their minimum-commitment true-ups, USD.
    pub true_up: Decimal,
    /// Sum of their totals, USD.
    pub total: Decimal,
    /// Mean size of an invoice's stored lines (JSON text), bytes.
    pub lines_bytes: i64,
}

impl Billed {
    /// The same invoices, cycles and amounts (the size of the lines aside).
    pub fn same_bill(&self, other: &Billed) -> bool {
        Billed {
            lines_bytes: 0,
            ..self.clone()
        } == Billed {
            lines_bytes: 0,
            ..other.clone()
        }
    }
}

/// What the bench organisation's invoices and cycles add up to, as stored (read in
/// `conn`'s transaction, if any).
pub async fn totals(conn: &mut PgConnection) -> Result<Billed> {
    let (invoices, finalized, sub_total, true_up, total, lines_bytes): (
        i64,
        i64,
        Decimal,
        Decimal,
        Decimal,
        i64,
    ) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE status IN ('DUE', 'PAID') AND number IS NOT NULL),
                coalesce(sum(sub_total), 0), coalesce(sum(true_up), 0), coalesce(sum(total), 0),
                coalesce(avg(octet_length(lines::text)), 0)::bigint
         FROM invoices WHERE org_id = 'bench'",
    )
    .fetch_one(&mut *conn)
    .await?;
    let (cycles, closed_cycles): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE status = 'CLOSED')
         FROM billing_cycles WHERE org_id = 'bench'",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(Billed {
        invoices,
        finalized,
        cycles,
        closed_cycles,
        sub_total,
        true_up,
        total,
        lines_bytes,
    })
}

/// The bench organisation, its plan (TIERED usage, an in-advance fee, a minimum
/// commitment: `SLAB_*`, `PLATFORM_FEE`, `MINIMUM_COMMITMENT`), `accounts` accounts
/// (`acc0000001`... on the plan from 1 Jan 2026, UTC, USD) and `events_per_account`
/// events each in January 2026 (event `e` of account `a` at a spread second of the
/// month, `calls` = `(31 a + 17 e) mod 400`), generated by the server in a fresh
/// database.
pub async fn generate(pool: &PgPool, accounts: u64, events_per_account: u64) -> Result<()> {
    let slabs: Vec<serde_json::Value> = SLAB_STARTS
        .iter()
        .enumerate()
        .map(|(i, start)| serde_json::json!({"order": i + 1, "startAfter": start, "priceType": "PER_UNIT"}))
        .collect();
    let rates: Vec<serde_json::Value> = SLAB_RATES
        .iter()
        .enumerate()
        .map(|(i, rate)| serde_json::json!({"order": i + 1, "rate": rate}))
        .collect();
    let plan = serde_json::json!({
        "name": "bench", "supportedCurrencies": ["USD"],
        "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "1"}, "gracePeriod": 0},
        "usageRateCards": [{
            "name": "api_calls", "displayName": "API calls", "usageMeterId": "api_calls",
            "ratePlan": {"pricingModel": "TIERED", "slabs": slabs},
            "rateValues": [{"currency": "USD", "slabRates": rates}]
        }],
        "fixedFeeRateCards": [{
            "name": "platform_fee", "displayName": "Platform fee", "invoiceTiming": "IN_ADVANCE",
            "type": "RECURRING", "rateValues": [{"currency": "USD", "rate": PLATFORM_FEE}]
        }],
        "minimumCommitment": {"rateValues": [{"currency": "USD", "rate": MINIMUM_COMMITMENT}]}
    });
    let plan = billrun_core::plan::Plan::from_json(&plan)
        .map_err(|e| anyhow::anyhow!("bench plan: {e}"))?;
    let mut tx = pool.begin().await?;
    sqlx::raw_sql(
        "INSERT INTO organisations (id, name, base_currency, enabled_currencies, invoice_number_format)
             VALUES ('bench', 'Bench', 'USD', '{USD}', 'B-{YYYY}-{SEQ:7}');
         INSERT INTO event_schemas (org_id, name, attributes, dimensions) VALUES ('bench', 'api', '{calls}', '{region}');
         INSERT INTO usage_meters (org_id, id, name, event_schema, aggregation, attribute)
             VALUES ('bench', 'api_calls', 'API calls', 'api', 'SUM', 'calls');
         INSERT INTO price_plans (org_id, id) VALUES ('bench', 'bench');
         INSERT INTO customers (org_id, id, name) VALUES ('bench', 'c', 'Bench customer');",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO price_plan_versions (org_id, plan_id, version, status, definition, finalized_at)
         VALUES ('bench', 'bench', 1, 'ACTIVE', $1, now())",
    )
    .bind(plan.to_json())
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO accounts (org_id, id, customer_id, name, invoice_currency)
         SELECT 'bench', 'acc' || lpad(g::text, 7, '0'), 'c', 'Account ' || g, 'USD' FROM generate_series(1, $1) g",
    )
    .bind(accounts as i64)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO plan_associations (org_id, account_id, plan_id, plan_version, effective_from)
         SELECT 'bench', 'acc' || lpad(g::text, 7, '0'), 'bench', 1, '2026-01-01' FROM generate_series(1, $1) g",
    )
    .bind(accounts as i64)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    // Events in slices of accounts, so no transaction grows with the data set.
    let slice = 5_000i64;
    let mut first = 1i64;
    while first <= accounts as i64 {
        let last = (first + slice - 1).min(accounts as i64);
        sqlx::query(
            "INSERT INTO usage_events (org_id, id, account_id, schema_name, ts, attributes, dimensions)
             SELECT 'bench', 'e' || a || '-' || e, 'acc' || lpad(a::text, 7, '0'), 'api',
                    '2026-01-01'::timestamptz + ((a * 7919 + e * 104729) % 2678400) * interval '1 second',
                    jsonb_build_object('calls', ((a * 31 + e * 17) % 400)::text), '{\"region\": \"eu\"}'
             FROM generate_series($1::bigint, $2::bigint) a, generate_series(1::bigint, $3::bigint) e",
        )
        .bind(first)
        .bind(last)
        .bind(events_per_account as i64)
        .execute(pool)
        .await?;
        first = last + 1;
    }
    sqlx::raw_sql("ANALYZE").execute(pool).await?;
    Ok(())
}
