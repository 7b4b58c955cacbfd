//! The foundation's guarantees: jobs run, ticks are enqueued once, crashes and
//! database restarts lose nothing, failures back off and die visibly.

use std::time::Duration;

use billrun::queue::JobKind;
use serde_json::{json, Value};

use crate::env::{Spawned, TestEnv};
use crate::harness::*;

/// The instant the probes enqueued without `--at` act for (they record it only).
const AS_OF: &str = "2026-02-01T00:00:00Z";

async fn probe_results(db: &TestDb, key: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM probe_results WHERE key = $1")
        .bind(key)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

/// `billrun enqueue args`: its output, the job's id. Through the command line on
/// purpose, for the tests of what `enqueue` itself does (its id, `--at`, `--key`);
/// the others enqueue with [`TestEnv::enqueue`].
fn enqueue(env: &TestEnv, args: &[&str]) -> String {
    let out = env.run(&[&["enqueue"], args].concat());
    assert!(out.status.success(), "enqueue failed: {}", stderr(&out));
    stdout(&out).trim().to_string()
}

/// A probe job with `payload`, enqueued as the library does, acting for [`AS_OF`];
/// its id.
async fn probe(env: &TestEnv, payload: Value) -> String {
    env.enqueue(JobKind::Probe, payload, AS_OF).await
}

#[tokio::test]
async fn a_job_enqueued_from_the_cli_is_run_by_a_worker() {
    let env = TestEnv::new().await;
    let db = env.db();
    let id = enqueue(
        &env,
        &["probe", r#"{"key":"cli"}"#, "--at", "2026-02-01T00:00:00Z"],
    );
    assert_eq!(id.len(), 26, "a ULID: {id}");
    assert_eq!(job_state(&db.pool, &id).await.as_deref(), Some("pending"));

    let worker = env.worker().spawn();
    wait_for(
        Duration::from_secs(30),
        "the probe job to be done",
        || async { (job_state(&db.pool, &id).await.as_deref() == Some("done")).then_some(()) },
    )
    .await;
    let as_of: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT as_of FROM probe_results WHERE key = 'cli'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        as_of.to_rfc3339(),
        "2026-02-01T00:00:00+00:00",
        "the job acts as of --at"
    );
    let log = worker.log();
    assert!(
        log.contains(&id) && log.contains("outcome=\"done\"") && log.contains("duration_ms"),
        "one log line per job run with id, kind, duration and outcome:\n{log}"
    );
}

#[tokio::test]
async fn two_workers_enqueue_each_tick_exactly_once() {
    let schedule = r#"
        [[schedule]]
        name = "every-second"
        cron = "* * * * * *"
        job = "probe"
        payload = { key = "tick" }
    "#;
    let env = TestEnv::with_schedule("", schedule).await;
    let db = env.db();
    let mut workers = env.workers(2, &[]);
    tokio::time::sleep(Duration::from_secs(7)).await;
    for w in &mut workers {
        w.terminate();
    }
    // A tick enqueued just before the shutdown is left pending (a stopping worker
    // claims nothing more): a worker without a scheduler runs what is left, so that
    // every tick is executed, and exactly once.
    let mut drain = env.worker().no_scheduler().spawn();
    wait_for(Duration::from_secs(30), "every tick executed", || async {
        let left: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM apalis.jobs WHERE job_type = 'billrun:probe' AND status <> 'Done'",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        (left == 0).then_some(())
    })
    .await;
    drain.terminate();

    let ticks: Vec<(String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT idempotency_key, run_at FROM apalis.jobs WHERE job_type = 'billrun:probe' ORDER BY run_at",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert!(
        ticks.len() >= 4,
        "a tick per second for several seconds: {ticks:?}"
    );
    // None lost: consecutive seconds from the first tick to the last.
    for pair in ticks.windows(2) {
        assert_eq!(
            (pair[1].1 - pair[0].1).num_seconds(),
            1,
            "a tick was lost or doubled: {ticks:?}"
        );
    }
    // Exactly once: every tick ran once (a second job for a tick would run again).
    let executions: Vec<(chrono::DateTime<chrono::Utc>, i64)> = sqlx::query_as(
        "SELECT r.as_of, (SELECT count(*) FROM probe_executions e WHERE e.job_id = r.job_id)
         FROM probe_results r ORDER BY r.as_of",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let total_executions: i64 = sqlx::query_scalar("SELECT count(*) FROM probe_executions")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        total_executions as usize,
        ticks.len(),
        "one execution per tick"
    );
    assert!(executions.iter().all(|(_, n)| *n == 1));
    // Both processes ran the scheduler (each logged as a worker with its own name).
    for w in &workers {
        let log = w.log();
        assert!(log.contains("worker starting"), "{log}");
    }
}

#[tokio::test]
async fn a_job_of_a_killed_worker_is_finished_by_another_once() {
    let env = TestEnv::new().await;
    let db = env.db();
    let id = probe(&env, json!({"key": "crash", "sleepMs": 2500})).await;
    let mut first = env.worker().no_scheduler().spawn();
    wait_for(
        Duration::from_secs(20),
        "the first worker to start the job",
        || async {
            let n: i64 =
                sqlx::query_scalar("SELECT count(*) FROM probe_executions WHERE key = 'crash'")
                    .fetch_one(&db.pool)
                    .await
                    .unwrap();
            (n == 1).then_some(())
        },
    )
    .await;
    first.kill9();
    assert_eq!(
        probe_results(db, "crash").await,
        0,
        "killed before its effect"
    );
    assert_eq!(job_state(&db.pool, &id).await.as_deref(), Some("running"));

    let _second = env.worker().no_scheduler().spawn();
    wait_for(
        Duration::from_secs(40),
        "the second worker to finish the job",
        || async { (job_state(&db.pool, &id).await.as_deref() == Some("done")).then_some(()) },
    )
    .await;
    assert_eq!(
        probe_results(db, "crash").await,
        1,
        "the effect happened once"
    );
    let workers: Vec<String> =
        sqlx::query_scalar("SELECT worker FROM probe_executions WHERE key = 'crash' ORDER BY id")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(workers.len(), 2);
    assert_ne!(
        workers[0], workers[1],
        "each process has its own worker name"
    );
}

#[tokio::test]
async fn a_failing_job_backs_off_then_is_dead_with_its_error() {
    // 4 attempts, backoff 400 ms, 800 ms, 1600 ms.
    let env = TestEnv::new().await;
    let db = env.db();
    let id = probe(&env, json!({"key": "doomed", "fail": true})).await;
    let _worker = env.worker().no_scheduler().spawn();
    wait_for(Duration::from_secs(30), "the job to be dead", || async {
        (job_state(&db.pool, &id).await.as_deref() == Some("dead")).then_some(())
    })
    .await;
    let starts: Vec<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
        "SELECT started_at FROM probe_executions WHERE key = 'doomed' ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(starts.len(), 4, "max_attempts executions, then no more");
    for (i, pair) in starts.windows(2).enumerate() {
        let gap = (pair[1] - pair[0]).num_milliseconds();
        let backoff = 400 * (1 << i);
        assert!(
            gap >= backoff,
            "attempt {} came {gap} ms after the previous, backoff is {backoff} ms",
            i + 2
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM probe_executions WHERE key = 'doomed'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(n, 4, "a dead job is not tried again");

    let out = env.run(&["jobs", "list", "--state", "dead", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let jobs: Vec<Value> = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["id"], id.as_str());
    assert_eq!(jobs[0]["state"], "dead");
    assert_eq!(jobs[0]["attempts"], 4);
    assert!(jobs[0]["lastError"]
        .as_str()
        .unwrap()
        .contains("asked to fail (attempt 4)"));

    // An operator retries it: it gets a fresh set of attempts.
    let out = env.run(&["jobs", "retry", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for(
        Duration::from_secs(30),
        "the retried job to run again",
        || async {
            let n: i64 =
                sqlx::query_scalar("SELECT count(*) FROM probe_executions WHERE key = 'doomed'")
                    .fetch_one(&db.pool)
                    .await
                    .unwrap();
            (n > 4).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn run_twice_with_the_same_now_gives_the_same_result() {
    let env = TestEnv::new().await;
    let db = env.db();
    let snapshot = || async {
        sqlx::query_as::<_, (String, chrono::DateTime<chrono::Utc>)>(
            "SELECT key, as_of FROM probe_results ORDER BY key, as_of",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap()
    };
    let mut states = Vec::new();
    for _ in 0..2 {
        let out = env.run(&[
            "run",
            "probe",
            r#"{"key":"replay"}"#,
            "--now",
            "2026-03-01T00:00:00Z",
            "--json",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let job: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(job["state"], "done");
        assert_eq!(job["request"]["asOf"], "2026-03-01T00:00:00Z");
        states.push(snapshot().await);
    }
    assert_eq!(states[0].len(), 1);
    assert_eq!(states[0], states[1], "a second run changes nothing");
}

#[tokio::test]
async fn bad_kinds_payloads_and_times_are_refused_with_what_was_expected() {
    let env = TestEnv::new().await;
    let db = env.db();
    let cases: &[(&[&str], &str)] = &[
        (
            &["enqueue", "cycle-closer"],
            "unknown job kind \"cycle-closer\": expected one of cycle-close, close-chunk",
        ),
        (&["enqueue", "probe", "{not json"], "payload is not JSON"),
        (
            &["enqueue", "probe", r#"{"kee":"x"}"#],
            "unknown field `kee`",
        ),
        (
            &["enqueue", "probe", r#"{"key":"x"}"#, "--at", "tomorrow"],
            "bad time \"tomorrow\": expected RFC 3339",
        ),
        (
            &["run", "probe", r#"{"key":"x"}"#, "--now", "2026-13-01"],
            "bad time \"2026-13-01\"",
        ),
        (
            &["jobs", "list", "--state", "zombie"],
            "unknown state \"zombie\": expected one of",
        ),
        (
            &["jobs", "show", "01ARZ3NDEKTSV4RRFFQ69G5FAV"],
            "no job with id",
        ),
    ];
    for (args, expected) in cases {
        let out = env.run(args);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {} should contain {expected}",
            stderr(&out)
        );
    }
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM apalis.jobs")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(jobs, 0, "nothing enqueued by a refused command");
}

#[tokio::test]
async fn idempotency_keys_cancel_and_scheduled_jobs() {
    let env = TestEnv::new().await;
    let db = env.db();
    let a = enqueue(
        &env,
        &[
            "probe",
            r#"{"key":"k"}"#,
            "--key",
            "once",
            "--at",
            "2099-01-01",
        ],
    );
    let b = enqueue(
        &env,
        &[
            "probe",
            r#"{"key":"k"}"#,
            "--key",
            "once",
            "--at",
            "2099-01-01",
        ],
    );
    assert_eq!(a, b, "the same key enqueues once");
    assert_eq!(job_state(&db.pool, &a).await.as_deref(), Some("scheduled"));
    let out = env.run(&["jobs", "cancel", &a]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(job_state(&db.pool, &a).await.as_deref(), Some("cancelled"));
    let out = env.run(&["jobs", "cancel", &a]);
    assert!(
        stderr(&out).contains("is cancelled: cancel applies only to"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn queue_retention_prunes_old_finished_jobs_only() {
    let env = TestEnv::with_config("[retention]\ndone_days = 7\ndead_days = 30\n").await;
    let db = env.db();
    for (id, status, attempts, days_ago) in [
        ("01AAAAAAAAAAAAAAAAAAAAAAA1", "Done", 1, 8),
        ("01AAAAAAAAAAAAAAAAAAAAAAA2", "Done", 1, 6),
        ("01AAAAAAAAAAAAAAAAAAAAAAA3", "Failed", 4, 31),
        ("01AAAAAAAAAAAAAAAAAAAAAAA4", "Failed", 4, 8),
        ("01AAAAAAAAAAAAAAAAAAAAAAA5", "Failed", 1, 40),
    ] {
        sqlx::query(
            "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, done_at)
             VALUES ($1, 'billrun:noop', '\\x7b7d', $2, $3, 4, '2026-06-30T00:00:00Z'::timestamptz - $4 * interval '1 day')",
        )
        .bind(id)
        .bind(status)
        .bind(attempts)
        .bind(days_ago)
        .execute(&db.pool)
        .await
        .unwrap();
    }
    for round in 0..2 {
        let out = env.run(&[
            "run",
            "queue-retention",
            "--now",
            "2026-06-30T00:00:00Z",
            "--json",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let job: Value = serde_json::from_str(&stdout(&out)).unwrap();
        let expected = if round == 0 { (1, 1) } else { (0, 0) };
        assert_eq!(job["result"]["deletedDone"], expected.0, "{job}");
        assert_eq!(job["result"]["deletedDead"], expected.1, "{job}");
    }
    let left: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM apalis.jobs WHERE job_type = 'billrun:noop' ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        left,
        [
            "01AAAAAAAAAAAAAAAAAAAAAAA2",
            "01AAAAAAAAAAAAAAAAAAAAAAA4",
            "01AAAAAAAAAAAAAAAAAAAAAAA5"
        ],
        "recent done, recent dead and retrying jobs stay"
    );
}

#[tokio::test]
async fn an_idle_worker_picks_up_new_jobs_without_waiting_for_its_heartbeat() {
    // Heartbeats 30 s apart, polls every 50 ms. apalis 1.0's interval strategy, used
    // as is, only woke an idle worker on its heartbeat: this job would wait 30 s.
    let env = TestEnv::with_config(
        "[worker]\nheartbeat_secs = 30\nmissed_heartbeats = 3\npoll_interval_ms = 50\n",
    )
    .await;
    let db = env.db();
    let _worker = env.worker().no_scheduler().spawn();
    // Let it go idle (several empty polls) before there is anything to do.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for key in ["idle-1", "idle-2"] {
        let id = probe(&env, json!({ "key": key })).await;
        wait_for(
            Duration::from_secs(15),
            "an idle worker to notice the job",
            || async { (job_state(&db.pool, &id).await.as_deref() == Some("done")).then_some(()) },
        )
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A writer into a shared buffer, to read what the code under test logged.
#[derive(Clone, Default)]
struct LogBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A worker that stops drops its claim in flight (apalis does so on shutdown). The
/// claim's transaction must still end exactly once (no ROLLBACK after its COMMIT:
/// PostgreSQL's "there is no transaction in progress"), and a job it claimed must
/// not be stranded, locked by a worker that will never run it. Drops the claim at
/// 400 points from 0 to 4 ms after it starts, to hit every stage of its transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_dropped_mid_flight_ends_its_transaction_once_and_strands_no_job() {
    use apalis_core::backend::persistence::Persistence;
    let env = TestEnv::new().await;
    let db = env.db();
    let log = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_writer({
            let log = log.clone();
            move || log.clone()
        })
        .finish();
    // Global: the claim runs on the runtime's threads. No other test of this binary
    // installs one.
    let _ = tracing::subscriber::set_global_default(subscriber);

    let id = probe(&env, json!({"key": "claimed"})).await;
    let config = apalis_postgres::Config::default()
        .queue(billrun::queue::JobKind::Probe.queue())
        .batch_size(1);
    let mut stranded = 0;
    for i in 0..400u64 {
        let mut persistence =
            billrun::queue::backend::DetachedPersistence::new(&db.pool, config.clone());
        let worker = apalis_core::worker::context::WorkerContext::new(&format!("test/{i}"));
        let claim = tokio::spawn(async move { persistence.fetch_next(&worker).await });
        // Drop it (abort the task) i * 10 microseconds later, wherever it is.
        std::thread::sleep(Duration::from_micros(i * 10));
        claim.abort();
        let finished = claim.await.is_ok();
        // Let a claim that was left running end.
        tokio::time::sleep(Duration::from_millis(15)).await;
        let (status, lock_by): (String, Option<String>) =
            sqlx::query_as("SELECT status, lock_by FROM apalis.jobs WHERE id = $1")
                .bind(&id)
                .fetch_one(&db.pool)
                .await
                .unwrap();
        if !finished && status != "Pending" {
            stranded += 1;
        }
        if lock_by.is_some() {
            // A claim that was not dropped holds it: give it back for the next round.
            sqlx::query(
                "UPDATE apalis.jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL WHERE id = $1",
            )
            .bind(&id)
            .execute(&db.pool)
            .await
            .unwrap();
        }
    }
    // Every connection back through the pool flushes what was queued on it.
    for _ in 0..5 {
        sqlx::query("SELECT 1").execute(&db.pool).await.unwrap();
    }
    let log = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(
        !log.contains("there is no transaction in progress"),
        "a transaction was ended twice:\n{log}"
    );
    assert_eq!(
        stranded, 0,
        "claims dropped mid-flight left the job claimed"
    );
}

/// A worker of probes only, without the scheduler.
fn spawn_worker(env: &TestEnv) -> Spawned {
    env.worker().kinds("probe").no_scheduler().spawn()
}

/// A job whose handler aborts its worker process: each claim counts an attempt, so
/// with max_attempts = 3 it runs exactly 3 times (3 executions recorded, one per
/// worker it kills) and is then dead, while a job of another organisation enqueued
/// beside it completes.
#[tokio::test]
async fn a_job_that_kills_its_worker_goes_dead_after_its_attempts() {
    let env = TestEnv::with_config(
        "[retry]\nmax_attempts = 3\nbackoff_base_ms = 100\nbackoff_max_secs = 1\n",
    )
    .await;
    let db = env.db();
    for org in ["a", "b"] {
        env.org(org)
            .number_format("INV-{SEQ:4}")
            .net_terms(30)
            .await;
    }
    let poison = env
        .enqueue_for(
            "a",
            JobKind::Probe,
            json!({"key": "poison", "abort": true}),
            AS_OF,
        )
        .await;
    let fine = env
        .enqueue_for("b", JobKind::Probe, json!({"key": "fine"}), AS_OF)
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let mut restarts = 0;
    while job_state(&db.pool, &poison).await.as_deref() != Some("dead") {
        assert!(
            std::time::Instant::now() < deadline,
            "the poison job never went dead ({restarts} workers started): {:?}",
            job_state(&db.pool, &poison).await
        );
        // Restarted in a loop, as a supervisor (systemd, Kubernetes) would.
        let mut w = spawn_worker(&env);
        restarts += 1;
        for _ in 0..100 {
            if w.exited().is_some() || job_state(&db.pool, &poison).await.as_deref() == Some("dead")
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        w.kill9();
    }
    let executions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM probe_executions WHERE key = 'poison'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(executions, 3, "one execution per attempt, 3 attempts");
    let job = billrun::queue::admin::show(&db.pool, &poison)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((job.attempts, job.max_attempts), (3, 3));
    assert!(
        job.last_error
            .as_deref()
            .unwrap_or("")
            .contains("worker stopped"),
        "{:?}",
        job.last_error
    );
    // The other organisation's job, enqueued beside it, is done, once.
    let _w = spawn_worker(&env);
    wait_for(
        Duration::from_secs(30),
        "the other job to be done",
        || async { (job_state(&db.pool, &fine).await.as_deref() == Some("done")).then_some(()) },
    )
    .await;
    assert_eq!(probe_results(db, "fine").await, 1);
}

/// A job claimed by a worker that died cannot be cancelled while that worker could
/// still be alive (its heartbeats are not yet missed: 1 s x 3), and can once it is
/// gone.
#[tokio::test]
async fn a_job_of_a_dead_worker_can_be_cancelled() {
    let env = TestEnv::new().await;
    let db = env.db();
    let stuck = probe(&env, json!({"key": "stuck", "abort": true})).await;
    let mut w = spawn_worker(&env);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while w.exited().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker never aborted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        job_state(&db.pool, &stuck).await.as_deref(),
        Some("running")
    );
    let cancel = |env: &TestEnv| env.run(&["jobs", "cancel", &stuck]);
    let refused = cancel(&env);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("running"), "{}", stderr(&refused));
    tokio::time::sleep(Duration::from_secs(4)).await;
    let out = cancel(&env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        job_state(&db.pool, &stuck).await.as_deref(),
        Some("cancelled")
    );
}

/// `billrun run` runs the job it was given and its fan-out only: a pending job of
/// another kind and organisation, due now, is left pending for the workers.
#[tokio::test]
async fn run_leaves_other_pending_jobs_alone() {
    let env = TestEnv::new().await;
    let db = env.db();
    env.org("b")
        .number_format("INV-{SEQ:4}")
        .net_terms(30)
        .await;
    let other = env
        .enqueue_for("b", JobKind::Probe, json!({"key": "other"}), AS_OF)
        .await;
    let out = env.run(&[
        "run",
        "cycle-close",
        "--now",
        "2026-02-01T00:00:00Z",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let job: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(job["state"], "done");
    assert_eq!(
        job_state(&db.pool, &other).await.as_deref(),
        Some("pending")
    );
    assert_eq!(probe_results(db, "other").await, 0);
}

/// Waits until the probe `key` has started executing.
async fn probe_started(db: &TestDb, key: &str) {
    wait_for(Duration::from_secs(30), "the probe to start", || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM probe_executions WHERE key = $1")
            .bind(key)
            .fetch_one(&db.pool)
            .await
            .unwrap();
        (n > 0).then_some(())
    })
    .await;
}

/// Ctrl-C during `billrun run` (a job of 60 s) stops waiting at once, exits 130 and
/// says how to follow the job, which stays in the queue.
#[tokio::test]
async fn ctrl_c_stops_waiting_and_says_how_to_follow_the_job() {
    let env = TestEnv::new().await;
    let db = env.db();
    // `billrun run` itself is under test (its signal handling and exit status): a
    // process of its own, signalled.
    let mut p = env.spawn(&["run", "probe", r#"{"key":"slow","sleepMs":60000}"#]);
    probe_started(db, "slow").await;
    p.signal(libc::SIGINT);
    let status = p
        .exits_within(Duration::from_secs(5))
        .await
        .expect("billrun run still waits after Ctrl-C");
    assert_eq!(status.code(), Some(130));
    let id: String = sqlx::query_scalar("SELECT id FROM apalis.jobs")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let text = p.log();
    assert!(text.contains(&format!("billrun jobs show {id}")), "{text}");
    assert_ne!(job_state(&db.pool, &id).await.as_deref(), Some("done"));
}

/// `billrun worker`: the first SIGINT lets the running job (60 s) go on, a second one
/// stops the process at once (130); SIGTERM with `--shutdown-timeout 1` stops it
/// after about a second (status 1).
#[tokio::test]
async fn worker_stops_gracefully_then_at_once_on_a_second_signal_or_timeout() {
    let env = TestEnv::new().await;
    let db = env.db();
    // The worker's signal handling and exit statuses are under test: signalled
    // directly, its status read.
    probe(&env, json!({"key": "w1", "sleepMs": 60000})).await;
    let mut w = spawn_worker(&env);
    probe_started(db, "w1").await;
    w.signal(libc::SIGINT);
    assert!(
        w.exits_within(Duration::from_secs(2)).await.is_none(),
        "the first signal waits for the running job"
    );
    w.signal(libc::SIGINT);
    let status = w
        .exits_within(Duration::from_secs(5))
        .await
        .expect("a second signal stops the worker at once");
    assert_eq!(status.code(), Some(130));

    probe(&env, json!({"key": "w2", "sleepMs": 60000})).await;
    let mut w = env
        .worker()
        .kinds("probe")
        .no_scheduler()
        .shutdown_timeout(1)
        .spawn();
    probe_started(db, "w2").await;
    w.signal(libc::SIGTERM);
    let status = w
        .exits_within(Duration::from_secs(6))
        .await
        .expect("--shutdown-timeout 1 bounds the graceful wait");
    assert_eq!(status.code(), Some(1));
}

#[tokio::test]
async fn a_job_whose_id_is_not_a_ulid_goes_dead_with_the_reason_and_the_worker_runs_the_rest() {
    let env = TestEnv::new().await;
    // Inserted by hand, not through `enqueue`: an id apalis cannot take.
    let job =
        br#"{"kind":"probe","asOf":"2026-03-01T00:00:00Z","payload":{"key":"hand","sleepMs":1}}"#;
    sqlx::query(
        "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority)
         VALUES ('by-hand-1', 'billrun:probe', $1, 'Pending', 0, 3, now() - interval '1 second', 1)",
    )
    .bind(&job[..])
    .execute(env.pool())
    .await
    .unwrap();
    let good = env
        .enqueue(
            JobKind::Probe,
            json!({"key": "good", "sleepMs": 1}),
            "2026-03-01T00:00:00Z",
        )
        .await;
    let _worker = env.workers(1, &["--no-scheduler"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while job_state(env.pool(), &good).await.as_deref() != Some("done") {
        assert!(
            std::time::Instant::now() < deadline,
            "the good job is {:?}:\n{}",
            job_state(env.pool(), &good).await,
            std::fs::read_to_string(env.worker_log(0)).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let bad = billrun::queue::admin::show(env.pool(), "by-hand-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bad.state.to_string(), "dead");
    assert_eq!(bad.attempts, bad.max_attempts);
    assert!(
        bad.last_error
            .as_deref()
            .unwrap()
            .starts_with("job id by-hand-1 is not a ULID"),
        "{:?}",
        bad.last_error
    );
}
