//! The bill run end to end: cycle close, invoices to the cent, finalization with
//! gapless numbers, and its guarantees under re-runs, concurrency and crashes.

use std::time::Duration;

use rust_decimal_macros::dec;
use serde_json::Value;

use billrun::queue::JobKind;

use crate::env::TestEnv;
use crate::fixtures::{self, InvoiceRow};
use crate::harness::*;

fn cycle_close(env: &TestEnv, now: &str) -> std::process::Command {
    let mut c = env.command();
    c.args(["run", "cycle-close", "--now", now, "--json"]);
    c
}

/// `[account, boundary, number, sub_total, true_up, total, invoice_date, due_date]`
/// of a DUE invoice.
fn row(f: [&str; 8]) -> InvoiceRow {
    (
        f[0].into(),
        f[1].into(),
        "DUE".into(),
        Some(f[2].into()),
        f[3].into(),
        f[4].into(),
        f[5].into(),
        Some(f[6].into()),
        Some(f[7].into()),
    )
}

/// acme (UTC, INV-{YYYY}-{SEQ:4}, net 15): a1 and a3 from Jan 1, a2 from Jan 16 with
/// net 30; a1 used 15,000 calls in January and 2,000 in February, a2 2,500 in January.
async fn acme(env: &TestEnv) {
    env.org("acme").with_plan(fixtures::growth_plan(0)).await;
    env.account("acme", "a1")
        .with_usage("e1", "2026-01-05T10:00:00Z", dec!(5000))
        .with_usage("e2", "2026-01-20T10:00:00Z", dec!(9000))
        .with_usage("e3", "2026-01-31T23:59:59Z", dec!(1000))
        .with_usage("e4", "2026-02-01T00:00:00Z", dec!(2000))
        .await;
    env.account("acme", "a2")
        .from("2026-01-16")
        .net_terms(30)
        .with_usage("e5", "2026-01-20T12:00:00Z", dec!(2500))
        .await;
    env.account("acme", "a3").await;
}

fn january_invoices() -> Vec<InvoiceRow> {
    vec![
        // Opening invoices: January's platform fee in advance (a2 prorated 16/31).
        row([
            "a1",
            "2026-01-01",
            "INV-2026-0001",
            "99.00",
            "0",
            "99.00",
            "2026-02-01",
            "2026-02-16",
        ]),
        row([
            "a3",
            "2026-01-01",
            "INV-2026-0002",
            "99.00",
            "0",
            "99.00",
            "2026-02-01",
            "2026-02-16",
        ]),
        row([
            "a2",
            "2026-01-16",
            "INV-2026-0003",
            "51.10",
            "0",
            "51.10",
            "2026-02-01",
            "2026-03-03",
        ]),
        // Feb 1: January's usage in arrears + February's fee in advance.
        // a1: 1000 x 0.10 + 9000 x 0.05 + 5000 x 0.01 = 600.00, + 99.00.
        row([
            "a1",
            "2026-02-01",
            "INV-2026-0004",
            "699.00",
            "0",
            "699.00",
            "2026-02-01",
            "2026-02-16",
        ]),
        // a2: 1000 x 0.10 + 1500 x 0.05 = 175.00, + 99.00; Jan (226.10) is above
        // the prorated minimum (300 x 16/31 = 154.84): no true-up.
        row([
            "a2",
            "2026-02-01",
            "INV-2026-0005",
            "274.00",
            "0",
            "274.00",
            "2026-02-01",
            "2026-03-03",
        ]),
        // a3: no usage; January cost 99.00 < 300.00: true-up 201.00.
        row([
            "a3",
            "2026-02-01",
            "INV-2026-0006",
            "99.00",
            "201.00",
            "300.00",
            "2026-02-01",
            "2026-02-16",
        ]),
    ]
}

fn normalise(rows: Vec<InvoiceRow>) -> Vec<InvoiceRow> {
    // NUMERIC text keeps the scale it was written with: "0" vs "0.00".
    rows.into_iter()
        .map(|mut r| {
            if r.5 == "0.00" {
                r.5 = "0".into();
            }
            r
        })
        .collect()
}

#[tokio::test]
async fn a_bill_run_produces_exactly_the_expected_invoices_to_the_cent() {
    let env = TestEnv::new().await;
    let db = env.db();
    acme(&env).await;
    let out = run(cycle_close(&env, "2026-02-01T00:00:00Z"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        normalise(fixtures::invoices(&db.pool, "acme").await),
        january_invoices()
    );

    // The invoice's line tree: the usage line with its slabs, summing to the total.
    let lines: Value = sqlx::query_scalar(
        "SELECT lines FROM invoices WHERE org_id = 'acme' AND account_id = 'a1' AND boundary = '2026-02-01'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let text = lines.to_string();
    assert!(
        text.contains("\"API calls\"") && text.contains("\"Platform fee\""),
        "{text}"
    );
    assert_eq!(lines["total"]["amount"], "699.00");

    // Open cycles are February's: one per account.
    let open: Vec<(String, String)> = sqlx::query_as(
        "SELECT account_id, billed_start::text FROM billing_cycles WHERE status = 'OPEN' ORDER BY account_id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        open,
        [
            ("a1".into(), "2026-02-01".into()),
            ("a2".into(), "2026-02-01".into()),
            ("a3".into(), "2026-02-01".into())
        ]
    );
}

#[tokio::test]
async fn running_it_again_or_twice_at_once_bills_no_one_twice() {
    let env = TestEnv::new().await;
    let db = env.db();
    acme(&env).await;
    assert!(run(cycle_close(&env, "2026-02-01T00:00:00Z"))
        .status
        .success());
    let out = run(cycle_close(&env, "2026-02-01T00:00:00Z"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        normalise(fixtures::invoices(&db.pool, "acme").await),
        january_invoices(),
        "a re-run changes nothing"
    );

    // A replay for the same instant still bills what is new since (a new account).
    env.account("acme", "a4").await;
    let out = run(cycle_close(&env, "2026-02-01T00:00:00Z"));
    assert!(out.status.success(), "{}", stderr(&out));
    let a4: Vec<(String, String)> = fixtures::invoices(&db.pool, "acme")
        .await
        .into_iter()
        .filter(|r| r.0 == "a4")
        .map(|r| (r.1, r.6))
        .collect();
    assert_eq!(
        a4,
        [
            ("2026-01-01".into(), "99.00".into()),
            ("2026-02-01".into(), "300.00".into())
        ]
    );

    // Two bill runs for March 1 at the same time.
    let mut a = cycle_close(&env, "2026-03-01T00:00:00Z");
    let mut b = cycle_close(&env, "2026-03-01T00:00:00Z");
    let (ha, hb) = (a.spawn().unwrap(), b.spawn().unwrap());
    let (oa, ob) = (
        ha.wait_with_output().unwrap(),
        hb.wait_with_output().unwrap(),
    );
    assert!(
        oa.status.success() && ob.status.success(),
        "{} {}",
        stderr(&oa),
        stderr(&ob)
    );
    let march: Vec<InvoiceRow> = normalise(fixtures::invoices(&db.pool, "acme").await)
        .into_iter()
        .filter(|r| r.1 == "2026-03-01")
        .collect();
    // a1: Feb usage 2,000 = 150.00, + 99.00 = 249.00 < 300: true-up 51.00.
    // a2, a3: no Feb usage: 99.00 + true-up 201.00.
    assert_eq!(
        march,
        vec![
            row([
                "a1",
                "2026-03-01",
                "INV-2026-0009",
                "249.00",
                "51.00",
                "300.00",
                "2026-03-01",
                "2026-03-16"
            ]),
            row([
                "a2",
                "2026-03-01",
                "INV-2026-0010",
                "99.00",
                "201.00",
                "300.00",
                "2026-03-01",
                "2026-03-31"
            ]),
            row([
                "a3",
                "2026-03-01",
                "INV-2026-0011",
                "99.00",
                "201.00",
                "300.00",
                "2026-03-01",
                "2026-03-16"
            ]),
            row([
                "a4",
                "2026-03-01",
                "INV-2026-0012",
                "99.00",
                "201.00",
                "300.00",
                "2026-03-01",
                "2026-03-16"
            ]),
        ]
    );

    // The database itself refuses a second invoice for the same boundary.
    let dup = sqlx::query(
        "INSERT INTO invoices (org_id, id, account_id, association_from, boundary, plan_id, plan_version,
             currency, sub_total, total, lines, grace_ends_at, computed_at)
         VALUES ('acme', 'X', 'a1', '2026-01-01', '2026-03-01', 'growth', 1, 'USD', 0, 0, '{}', now(), now())",
    )
    .execute(&db.pool)
    .await
    .unwrap_err();
    assert!(
        dup.to_string().contains("invoices_one_per_account_cycle"),
        "{dup}"
    );
}

#[tokio::test]
async fn a_missed_month_is_caught_up_in_order() {
    let env = TestEnv::new().await;
    let db = env.db();
    acme(&env).await;
    // No bill run in February at all: the run of March 1 closes January and February.
    let out = run(cycle_close(&env, "2026-03-01T00:00:00Z"));
    assert!(out.status.success(), "{}", stderr(&out));
    let rows = fixtures::invoices(&db.pool, "acme").await;
    let boundaries: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| (r.0.clone(), r.1.clone(), r.6.clone()))
        .collect();
    assert_eq!(
        boundaries,
        [
            ("a1", "2026-01-01", "99.00"),
            ("a3", "2026-01-01", "99.00"),
            ("a2", "2026-01-16", "51.10"),
            ("a1", "2026-02-01", "699.00"),
            ("a2", "2026-02-01", "274.00"),
            ("a3", "2026-02-01", "300.00"),
            ("a1", "2026-03-01", "300.00"),
            ("a2", "2026-03-01", "300.00"),
            ("a3", "2026-03-01", "300.00"),
        ]
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    );
    let numbers: Vec<String> = rows.iter().map(|r| r.3.clone().unwrap()).collect();
    let expected: Vec<String> = (1..=9).map(|n| format!("INV-2026-{n:04}")).collect();
    assert_eq!(numbers, expected);
}

#[tokio::test]
async fn finalizing_2000_invoices_with_4_concurrent_workers_leaves_no_gap_and_no_duplicate() {
    let env = TestEnv::with_config(
        "[worker]\nheartbeat_secs = 1\nmissed_heartbeats = 3\npoll_interval_ms = 20\n\
         [worker.concurrency]\n\"finalize-chunk\" = 2\n\
         [retry]\nmax_attempts = 5\nbackoff_base_ms = 400\nbackoff_max_secs = 5\n",
    )
    .await;
    let pool = env.pool();
    env.org("bulk")
        .number_format("B-{SEQ:5}")
        .net_terms(30)
        .with_plan(fixtures::growth_plan(0))
        .await;
    sqlx::query("INSERT INTO customers (org_id, id, name) VALUES ('bulk', 'c', 'c')")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO accounts (org_id, id, customer_id, name, invoice_currency)
         SELECT 'bulk', 'acc' || lpad(g::text, 4, '0'), 'c', 'acc', 'USD' FROM generate_series(1, 2000) g",
    )
    .execute(pool)
    .await
    .unwrap();
    // An empty invoice's line tree (finalization reads the lines to apply credits).
    let empty = billrun_core::invoice::InvoiceLines::build(billrun_core::Currency::USD, &[], None);
    sqlx::query(
        "INSERT INTO invoices (org_id, id, account_id, association_from, boundary, plan_id, plan_version,
             currency, sub_total, total, lines, grace_ends_at, computed_at)
         SELECT 'bulk', 'inv' || lpad(g::text, 4, '0'), 'acc' || lpad(g::text, 4, '0'), '2026-01-01', '2026-02-01',
                'growth', 1, 'USD', 0, 0, $1, '2026-02-01', '2026-02-01'
         FROM generate_series(1, 2000) g",
    )
    .bind(serde_json::to_value(empty).unwrap())
    .execute(pool)
    .await
    .unwrap();
    // 80 chunks of 50 invoices, every invoice in two chunks, in shuffled order.
    for round in 0..2 {
        for c in 0..40 {
            let ids: Vec<String> = (0..50)
                .map(|i| {
                    let n = if round == 0 {
                        c * 50 + i
                    } else {
                        (i * 40 + c) % 2000
                    };
                    format!("inv{:04}", n + 1)
                })
                .collect();
            env.enqueue(
                JobKind::FinalizeChunk,
                serde_json::json!({"organisation": "bulk", "invoices": ids}),
                "2026-02-01T00:00:00Z",
            )
            .await;
        }
    }
    let _workers = env.workers(2, &["--no-scheduler", "--kinds", "finalize-chunk"]);
    wait_for(
        Duration::from_secs(120),
        "every chunk to be done",
        || async {
            // The finalize chunks (they enqueue render chunks, which these workers do
            // not run).
            let left: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM apalis.jobs
                 WHERE job_type = 'billrun:finalize-chunk' AND status <> 'Done'",
            )
            .fetch_one(pool)
            .await
            .unwrap();
            (left == 0).then_some(())
        },
    )
    .await;
    let numbers: Vec<String> =
        sqlx::query_scalar("SELECT number FROM invoices WHERE org_id = 'bulk' ORDER BY number")
            .fetch_all(pool)
            .await
            .unwrap();
    let expected: Vec<String> = (1..=2000).map(|n| format!("B-{n:05}")).collect();
    assert_eq!(numbers.len(), 2000, "every invoice finalized");
    assert_eq!(numbers, expected, "numbers 1..2000, no gap, no duplicate");
    let last: i64 =
        sqlx::query_scalar("SELECT last_value FROM invoice_number_sequences WHERE org_id = 'bulk'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(last, 2000);
}

#[tokio::test]
async fn a_worker_killed_mid_run_then_restarted_bills_like_an_uninterrupted_run() {
    async fn setup(env: &TestEnv) {
        env.org("big")
            .timezone("Europe/Berlin")
            .number_format("INV-{SEQ:6}")
            .net_terms(14)
            .with_plan(fixtures::growth_plan(0))
            .await;
        for i in 0..300 {
            env.account("big", &format!("acc{i:03}"))
                .with_usage(
                    &format!("ev{i:03}"),
                    "2026-01-10T12:00:00Z",
                    rust_decimal::Decimal::from(i * 100),
                )
                .await;
        }
    }
    let summary = |db: &TestDb| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_as::<_, (String, String, String, String)>(
                "SELECT account_id, boundary::text, status, total::text FROM invoices WHERE org_id = 'big'
                 ORDER BY account_id, boundary",
            )
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    let reference_env = TestEnv::new().await;
    let reference = reference_env.db();
    setup(&reference_env).await;
    let out = run({
        let mut c = reference_env.command();
        c.args([
            "run",
            "cycle-close",
            r#"{"chunkSize": 10}"#,
            "--now",
            "2026-02-01T00:00:00+01:00",
        ]);
        c
    });
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = summary(reference).await;
    assert_eq!(expected.len(), 600);

    let env = TestEnv::new().await;
    let db = env.db();
    setup(&env).await;
    env.enqueue(
        JobKind::CycleClose,
        serde_json::json!({"chunkSize": 10}),
        "2026-02-01T00:00:00+01:00",
    )
    .await;
    let mut first = env.workers(1, &["--no-scheduler"]).remove(0);
    wait_for(Duration::from_secs(60), "some invoices", || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM invoices")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        (n > 0).then_some(())
    })
    .await;
    first.kill9();
    let partial: i64 = sqlx::query_scalar("SELECT count(*) FROM invoices")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let _second = env.workers(1, &["--no-scheduler"]);
    wait_for(
        Duration::from_secs(120),
        "the run to finish after the restart",
        || async {
            let left: i64 =
                sqlx::query_scalar("SELECT count(*) FROM apalis.jobs WHERE status NOT IN ('Done')")
                    .fetch_one(&db.pool)
                    .await
                    .unwrap();
            let drafts: i64 =
                sqlx::query_scalar("SELECT count(*) FROM invoices WHERE status = 'DRAFT'")
                    .fetch_one(&db.pool)
                    .await
                    .unwrap();
            (left == 0 && drafts == 0).then_some(())
        },
    )
    .await;
    assert_eq!(
        summary(db).await,
        expected,
        "same invoices as the uninterrupted run (killed after {partial})"
    );
    let numbers: Vec<String> =
        sqlx::query_scalar("SELECT number FROM invoices WHERE org_id = 'big' ORDER BY number")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let gapless: Vec<String> = (1..=600).map(|n| format!("INV-{n:06}")).collect();
    assert_eq!(numbers, gapless);
}

#[tokio::test]
async fn drafts_are_recomputed_during_grace_and_late_usage_never_changes_a_due_invoice() {
    let env = TestEnv::new().await;
    let db = env.db();
    env.org("acme").with_plan(fixtures::growth_plan(3)).await;
    env.account("acme", "a1")
        .with_usage("e1", "2026-01-05T10:00:00Z", dec!(5000))
        .await;
    let feb1 = |db: &TestDb| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_as::<_, (String, Option<String>, String, bool)>(
                "SELECT status, number, total::text, stale FROM invoices WHERE boundary = '2026-02-01'",
            )
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let ingest = |line: &str, name: &str| {
        let path = env.scratch().join(name);
        std::fs::write(&path, format!("{line}\n")).unwrap();
        let out = run({
            let mut c = env.command();
            c.args(["usage", "ingest", "--org", "acme"]).arg(&path);
            c
        });
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };

    assert!(run(cycle_close(&env, "2026-02-01T00:00:00Z"))
        .status
        .success());
    // 5,000 calls = 300.00, + February's fee 99.00; in grace until Feb 4.
    assert_eq!(
        feb1(db).await,
        ("DRAFT".into(), None, "399.00".into(), false)
    );

    let report = ingest(
        r#"{"schemaName":"api","id":"e2","timestamp":"2026-01-20T10:00:00Z","accountId":"a1","attributes":[{"name":"calls","value":2000}],"dimensions":{"region":"eu"}}"#,
        "grace.jsonl",
    );
    assert!(report.contains("drafts to recompute 1"), "{report}");
    assert!(feb1(db).await.3, "the draft is stale");

    assert!(run(cycle_close(&env, "2026-02-02T00:00:00Z"))
        .status
        .success());
    // 7,000 calls = 100.00 + 300.00; still in grace.
    assert_eq!(
        feb1(db).await,
        ("DRAFT".into(), None, "499.00".into(), false)
    );

    assert!(run(cycle_close(&env, "2026-02-04T00:00:00Z"))
        .status
        .success());
    assert_eq!(
        feb1(db).await,
        (
            "DUE".into(),
            Some("INV-2026-0002".into()),
            "499.00".into(),
            false
        )
    );

    let report = ingest(
        r#"{"schemaName":"api","id":"e3","timestamp":"2026-01-25T10:00:00Z","accountId":"a1","attributes":[{"name":"calls","value":1000}],"dimensions":{"region":"eu"}}"#,
        "late.jsonl",
    );
    assert!(report.contains("late 1"), "{report}");
    assert!(run(cycle_close(&env, "2026-02-05T00:00:00Z"))
        .status
        .success());
    assert_eq!(
        feb1(db).await,
        (
            "DUE".into(),
            Some("INV-2026-0002".into()),
            "499.00".into(),
            false
        ),
        "a DUE invoice never changes"
    );

    let out = run({
        let mut c = env.command();
        c.args(["usage", "late", "--org", "acme", "--json"]);
        c
    });
    assert!(out.status.success(), "{}", stderr(&out));
    let late: Vec<Value> = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(late.len(), 1);
    assert_eq!(late[0]["id"], "e3");
}

#[tokio::test]
async fn invoices_are_listed_shown_paid_and_voided_from_the_cli() {
    let env = TestEnv::new().await;
    let db = env.db();
    acme(&env).await;
    assert!(run(cycle_close(&env, "2026-02-01T00:00:00Z"))
        .status
        .success());
    let cli = |args: &[&str]| env.cli().run(args);

    let out = cli(&[
        "invoice",
        "list",
        "--org",
        "acme",
        "--account",
        "a1",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let list: Vec<Value> = serde_json::from_str(&stdout(&out)).unwrap();
    let numbers: Vec<&str> = list.iter().map(|i| i["number"].as_str().unwrap()).collect();
    // Newest billing period first.
    assert_eq!(numbers, ["INV-2026-0004", "INV-2026-0001"]);

    let out = cli(&[
        "invoice",
        "show",
        "--org",
        "acme",
        "INV-2026-0004",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let inv: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(inv["total"], "699.00");
    assert_eq!(inv["closingStart"], "2026-01-01");
    assert_eq!(inv["openingStart"], "2026-02-01");
    assert_eq!(inv["dueDate"], "2026-02-16");
    let text = stdout(&cli(&["invoice", "show", "--org", "acme", "INV-2026-0004"]));
    assert!(
        text.contains("API calls")
            && text.contains("600.00")
            && text.contains("total:        699.00 USD"),
        "{text}"
    );

    let out = cli(&["invoice", "mark-paid", "--org", "acme", "INV-2026-0004"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let again = cli(&["invoice", "mark-paid", "--org", "acme", "INV-2026-0004"]);
    assert!(
        stderr(&again).contains("is PAID: mark-paid applies only to DUE invoices"),
        "{}",
        stderr(&again)
    );
    let void_paid = cli(&["invoice", "void", "--org", "acme", "INV-2026-0004"]);
    assert!(!void_paid.status.success());
    let out = cli(&["invoice", "void", "--org", "acme", "INV-2026-0006"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let statuses: Vec<(String, String)> =
        sqlx::query_as("SELECT number, status FROM invoices WHERE number IN ('INV-2026-0004', 'INV-2026-0006') ORDER BY number")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        statuses,
        [
            ("INV-2026-0004".into(), "PAID".into()),
            ("INV-2026-0006".into(), "VOID".into())
        ]
    );
    // Another organisation (one that exists) never sees acme's invoices.
    env.org("globex").await;
    let other = cli(&["invoice", "show", "--org", "globex", "INV-2026-0004"]);
    assert!(
        stderr(&other).contains("organisation globex has no invoice INV-2026-0004"),
        "{}",
        stderr(&other)
    );
}

#[tokio::test]
async fn a_seat_change_during_grace_recomputes_the_draft() {
    let env = TestEnv::new().await;
    let db = env.db();
    // Seats at 10.00 each per month, prorated by day; 3 days of grace.
    let plan = serde_json::json!({
        "name": "seats", "supportedCurrencies": ["USD"],
        "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "1"}, "gracePeriod": 3},
        "licenseRateCards": [{
            "id": "seats", "name": "seats", "displayName": "Seats", "invoiceTiming": "IN_ARREARS",
            "enableProration": true,
            "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": 10}]}]
        }]
    });
    env.org("acme")
        .number_format("INV-{SEQ:4}")
        .with_plan(plan)
        .await;
    env.account("acme", "a1").on_plan("seats").await;
    let cli = |args: &[&str]| {
        let out = env.cli().run(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    };
    let seats = |kind: &str, qty: &str, from: &str, key: &str| {
        cli(&[
            "license",
            "update",
            "--org",
            "acme",
            "--account",
            "a1",
            "--license",
            "seats",
            "--type",
            kind,
            "--quantity",
            qty,
            "--from",
            from,
            "--key",
            key,
        ]);
    };
    let draft = || async {
        sqlx::query_as::<_, (String, String, bool)>(
            "SELECT status, total::text, stale FROM invoices WHERE boundary = '2026-02-01'",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap()
    };
    seats("ABSOLUTE", "5", "2026-01-01", "k1");
    cli(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    assert_eq!(
        draft().await,
        ("DRAFT".into(), "50.00".into(), false),
        "5 seats for January"
    );

    // Five more seats from Jan 20, recorded during the grace period.
    seats("RELATIVE", "5", "2026-01-20", "k2");
    assert!(draft().await.2, "the draft is stale");
    cli(&["run", "cycle-close", "--now", "2026-02-02T00:00:00Z"]);
    // 5 x 10 x 19/31 + 10 x 10 x 12/31 = 69.354... -> 69.35.
    assert_eq!(draft().await, ("DRAFT".into(), "69.35".into(), false));

    cli(&["run", "cycle-close", "--now", "2026-02-04T00:00:00Z"]);
    assert_eq!(draft().await.0, "DUE");
    seats("ABSOLUTE", "50", "2026-01-25", "k3");
    cli(&["run", "cycle-close", "--now", "2026-02-05T00:00:00Z"]);
    assert_eq!(
        draft().await,
        ("DUE".into(), "69.35".into(), false),
        "a DUE invoice never changes"
    );
}
