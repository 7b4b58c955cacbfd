//! Credits end to end: grants through the CLI and jobs, application at finalization
//! to the cent, expiry, concurrency, PREPAID grants, bad input.

use std::time::Duration;

use rust_decimal_macros::dec;
use serde_json::{json, Value};

use billrun::queue::JobKind;

use crate::dates::utc;
use crate::env::TestEnv;
use crate::fixtures;
use crate::harness::*;

/// Monthly, no grace: 0.01 per API call (one slab) and a 20.00 fee, both in arrears.
/// 10,000 calls in January make a 120.00 invoice on Feb 1.
fn simple_plan(grace: u32) -> Value {
    json!({
        "name": "simple", "supportedCurrencies": ["USD"],
        "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "1"}, "gracePeriod": grace},
        "usageRateCards": [{
            "name": "api_calls", "displayName": "API calls", "usageMeterId": "api_calls",
            "ratePlan": {"pricingModel": "TIERED", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": "0.01"}]}]
        }],
        "fixedFeeRateCards": [{
            "name": "support", "displayName": "Support", "invoiceTiming": "IN_ARREARS", "type": "RECURRING",
            "rateValues": [{"currency": "USD", "rate": "20.00"}]
        }]
    })
}

async fn setup(env: &TestEnv, grace: u32) {
    env.org("acme")
        .number_format("INV-{SEQ:4}")
        .net_terms(30)
        .with_plan(simple_plan(grace))
        .await;
    env.account("acme", "a1")
        .on_plan("simple")
        .with_usage("e1", "2026-01-10T00:00:00Z", dec!(10000))
        .await;
}

struct Cli<'a> {
    db: &'a TestDb,
    config: std::path::PathBuf,
}

impl Cli<'_> {
    fn run(&self, args: &[&str]) -> std::process::Output {
        run({
            let mut c = billrun(&self.db.url, &self.config);
            c.args(args);
            c
        })
    }
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    }
    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }
    fn grant(&self, key: &str, amount: &str, extra: &[&str]) -> String {
        let mut args = vec![
            "credit",
            "grant",
            "--org",
            "acme",
            "--account",
            "a1",
            "--amount",
            amount,
            "--currency",
            "USD",
            "--from",
            "2026-01-01",
            "--key",
            key,
            "--json",
        ];
        args.extend_from_slice(extra);
        let v = self.json(&args);
        v["grant"]["id"].as_str().unwrap().to_string()
    }
    fn feb_invoice(&self) -> Value {
        self.json(&["invoice", "list", "--org", "acme", "--json"])
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["boundary"] == "2026-02-01")
            .cloned()
            .expect("the Feb 1 invoice")
    }
}

#[tokio::test]
async fn grants_of_100_and_50_pay_an_invoice_of_120_in_priority_order() {
    let env = TestEnv::new().await;
    let db = env.db();
    setup(&env, 0).await;
    let cli = Cli {
        db,
        config: env.config().to_path_buf(),
    };
    let first = cli.grant(
        "g1",
        "100.00",
        &[
            "--priority",
            "1",
            "--until",
            "2026-02-02",
            "--purpose",
            "Welcome",
        ],
    );
    let second = cli.grant("g2", "50.00", &["--priority", "2"]);
    // The same request with the same key again (a retry) grants nothing more.
    let again = cli.json(&[
        "credit",
        "grant",
        "--org",
        "acme",
        "--account",
        "a1",
        "--amount",
        "50.00",
        "--currency",
        "USD",
        "--from",
        "2026-01-01",
        "--priority",
        "2",
        "--key",
        "g2",
        "--json",
    ]);
    assert_eq!(again["outcome"], "existing");
    assert_eq!(again["grant"]["id"], second.as_str());
    // The key with another request is refused, naming what differs; nothing is
    // granted and no job is left dead.
    let out = cli.run(&[
        "credit",
        "grant",
        "--org",
        "acme",
        "--account",
        "a1",
        "--amount",
        "50.00",
        "--currency",
        "USD",
        "--from",
        "2026-01-01",
        "--priority",
        "2",
        "--purpose",
        "other",
        "--key",
        "g2",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "idempotency key \"g2\" was already used for credit grant {second}, which differs: \
             purpose"
        )),
        "{err}"
    );
    let grants: i64 = sqlx::query_scalar("SELECT count(*) FROM credit_grants")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(grants, 2);

    cli.ok(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    let inv = cli.feb_invoice();
    assert_eq!(
        (
            inv["subTotal"].as_str(),
            inv["credits"].as_str(),
            inv["total"].as_str()
        ),
        (Some("120.00"), Some("120.00"), Some("0.00"))
    );
    // Nothing left to collect: paid at finalization (README "Invoices").
    assert_eq!(inv["status"], "PAID");
    let credit_lines = inv["lines"]["totalCredits"]["children"].as_array().unwrap();
    let paid: Vec<(&str, &str)> = credit_lines
        .iter()
        .map(|l| {
            (
                l["cardName"].as_str().unwrap(),
                l["amount"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        paid,
        [(first.as_str(), "100.00"), (second.as_str(), "20.00")],
        "which grants paid, and how much"
    );
    assert_eq!(credit_lines[0]["displayName"], "Credits: Welcome");

    let grants = cli.json(&["credit", "list", "--org", "acme", "--json"]);
    let state: Vec<(&str, &str)> = grants
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["status"].as_str().unwrap(),
                g["balance"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(state, [("CONSUMED", "0.00"), ("ACTIVE", "30.00")]);
    assert_eq!(
        cli.json(&[
            "credit",
            "balance",
            "--org",
            "acme",
            "--account",
            "a1",
            "--json"
        ]),
        json!({"USD": "30.00"})
    );
    let ledger = cli.json(&[
        "credit",
        "ledger",
        "--org",
        "acme",
        "--account",
        "a1",
        "--json",
    ]);
    let moves: Vec<(&str, &str)> = ledger
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["amount"].as_str().unwrap()))
        .collect();
    assert_eq!(
        moves,
        [
            ("GRANTED", "100.00"),
            ("GRANTED", "50.00"),
            ("CONSUMED", "100.00"),
            ("CONSUMED", "20.00")
        ]
    );
}

#[tokio::test]
async fn a_grant_restricted_to_fixed_fees_pays_only_those_and_an_expired_grant_pays_nothing() {
    let env = TestEnv::new().await;
    let db = env.db();
    setup(&env, 0).await;
    let cli = Cli {
        db,
        config: env.config().to_path_buf(),
    };
    let fees_only = cli.grant(
        "fees",
        "100.00",
        &[
            "--priority",
            "1",
            "--applies-to",
            "ALL_FIXED_FEE_RATE_CARDS",
        ],
    );
    let usage_only = cli.grant(
        "usage",
        "50.00",
        &["--priority", "2", "--applies-to", "api_calls"],
    );
    // Valid only in December: it ended before any day January's invoice bills.
    let expired = cli.json(&[
        "credit",
        "grant",
        "--org",
        "acme",
        "--account",
        "a1",
        "--amount",
        "500.00",
        "--currency",
        "USD",
        "--from",
        "2025-12-01",
        "--until",
        "2026-01-01",
        "--priority",
        "0",
        "--key",
        "old",
        "--json",
    ])["grant"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = cli.json(&[
        "run",
        "credit-expiry",
        "--now",
        "2026-02-01T00:00:00Z",
        "--json",
    ]);
    assert_eq!(out["result"]["expired"], 1);
    cli.ok(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);

    let inv = cli.feb_invoice();
    // Support 20.00 from the fee grant, API calls 50.00 of 100.00 from the usage grant.
    assert_eq!(
        (inv["credits"].as_str(), inv["total"].as_str()),
        (Some("70.00"), Some("50.00"))
    );
    let paid: Vec<(String, String)> = inv["lines"]["totalCredits"]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["cardName"].as_str().unwrap().to_string(),
                l["amount"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        paid,
        [
            (fees_only.clone(), "20.00".to_string()),
            (usage_only.clone(), "50.00".to_string())
        ]
    );
    let ledger = cli.json(&[
        "credit",
        "ledger",
        "--org",
        "acme",
        "--account",
        "a1",
        "--json",
    ]);
    let expiry: Vec<&Value> = ledger
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "EXPIRED")
        .collect();
    assert_eq!(expiry.len(), 1);
    assert_eq!(
        (expiry[0]["grantId"].as_str(), expiry[0]["amount"].as_str()),
        (Some(expired.as_str()), Some("500.00"))
    );
    // Running the expiry again records nothing more.
    let out = cli.json(&[
        "run",
        "credit-expiry",
        "--now",
        "2026-02-02T00:00:00Z",
        "--json",
    ]);
    assert_eq!(out["result"]["expired"], 0);
    assert_eq!(
        cli.json(&[
            "credit",
            "balance",
            "--org",
            "acme",
            "--account",
            "a1",
            "--json"
        ]),
        json!({"USD": "80.00"})
    );
    // A voided grant is gone from the balance, and its void is in the ledger.
    cli.ok(&["credit", "void", "--org", "acme", &fees_only]);
    assert_eq!(
        cli.json(&[
            "credit",
            "balance",
            "--org",
            "acme",
            "--account",
            "a1",
            "--json"
        ]),
        json!({}),
        "nothing usable left"
    );
    let again = cli.run(&["credit", "void", "--org", "acme", &fees_only]);
    assert!(
        stderr(&again).contains("is VOIDED: void applies only to ACTIVE grants"),
        "{}",
        stderr(&again)
    );
}

#[tokio::test]
async fn concurrent_finalizations_of_one_account_never_spend_a_credit_twice() {
    let env = TestEnv::with_config(
        "[worker]\nheartbeat_secs = 1\nmissed_heartbeats = 3\npoll_interval_ms = 20\n[worker.concurrency]\n\"finalize-chunk\" = 2\n\
         [retry]\nmax_attempts = 5\nbackoff_base_ms = 400\nbackoff_max_secs = 5\n",
    )
    .await;
    let db = env.db();
    setup(&env, 40).await; // long grace: the bill run leaves a draft
    let cli = Cli {
        db,
        config: env.config().to_path_buf(),
    };
    cli.grant("big", "1000.00", &[]);
    cli.ok(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    // 20 drafts of 120.00 for the one account: the real one and 19 copies of it.
    sqlx::query(
        "INSERT INTO invoices (org_id, id, account_id, association_from, boundary, plan_id, plan_version, currency,
             closing_index, sub_total, true_up, credits, total, lines, grace_ends_at, computed_at)
         SELECT org_id, 'copy' || g, account_id, association_from, boundary + g, plan_id, plan_version, currency,
                closing_index, sub_total, true_up, credits, total, lines, grace_ends_at, computed_at
         FROM invoices, generate_series(1, 19) g WHERE org_id = 'acme' AND status = 'DRAFT'",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM invoices WHERE status = 'DRAFT' ORDER BY id")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(ids.len(), 20);
    for id in &ids {
        env.enqueue(
            JobKind::FinalizeChunk,
            json!({"organisation": "acme", "invoices": [id]}),
            "2026-03-15T00:00:00Z",
        )
        .await;
    }
    let _workers = env.workers(2, &["--no-scheduler", "--kinds", "finalize-chunk"]);
    wait_for(
        Duration::from_secs(60),
        "every invoice finalized",
        || async {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM invoices WHERE status = 'DRAFT'")
                .fetch_one(&db.pool)
                .await
                .unwrap();
            (n == 0).then_some(())
        },
    )
    .await;
    let (credits, negative): (rust_decimal::Decimal, i64) =
        sqlx::query_as("SELECT sum(credits), count(*) FILTER (WHERE total < 0) FROM invoices")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        credits,
        dec!(1000.00),
        "exactly the grant was spent across the invoices"
    );
    assert_eq!(negative, 0);
    let (granted, consumed): (rust_decimal::Decimal, rust_decimal::Decimal) = sqlx::query_as(
        "SELECT sum(amount) FILTER (WHERE kind = 'GRANTED'), sum(amount) FILTER (WHERE kind = 'CONSUMED')
         FROM credit_transactions",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        (granted, consumed),
        (dec!(1000.00), dec!(1000.00)),
        "the ledger balances"
    );
    let mismatched: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM invoices i
         WHERE i.credits <> coalesce((SELECT sum(amount) FROM credit_transactions t WHERE t.invoice_id = i.id), 0)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        mismatched, 0,
        "every invoice's credits are its ledger entries"
    );
}

#[tokio::test]
async fn prepaid_credits_are_granted_once_the_invoice_is_paid_and_only_once() {
    let env = TestEnv::new().await;
    let db = env.db();
    let pool = env.pool();
    let mut plan = simple_plan(0);
    plan["creditGrantRateCards"] = json!([{
        "id": "starter_pack", "name": "starter_pack", "invoiceTiming": "PREPAID", "type": "ONE_TIME",
        "grantDetails": {"priority": 1, "expiryType": "NO_EXPIRY"},
        "rateDetails": {"pricingModel": "TIERED", "currencySlabRateDetails": [
            {"currency": "USD", "creditAmount": 50, "slabDetails": [{"startAfter": 0, "priceType": "FLAT", "rate": 45}]}]}
    }]);
    env.org("acme")
        .number_format("INV-{SEQ:4}")
        .net_terms(30)
        .with_plan(plan)
        .await;
    env.account("acme", "a1").on_plan("simple").await;
    let cli = Cli {
        db,
        config: env.config().to_path_buf(),
    };
    cli.ok(&["run", "cycle-close", "--now", "2026-01-01T00:00:00Z"]);
    let list = cli.json(&["invoice", "list", "--org", "acme", "--json"]);
    assert_eq!(
        list[0]["total"], "45.00",
        "the pack is sold on the opening invoice"
    );
    let number = list[0]["number"].as_str().unwrap().to_string();
    assert_eq!(
        cli.json(&["credit", "list", "--org", "acme", "--json"]),
        json!([]),
        "no credit before payment"
    );

    cli.ok(&["invoice", "mark-paid", "--org", "acme", &number]);
    let _worker = env.workers(1, &["--no-scheduler"]);
    wait_for(Duration::from_secs(30), "the prepaid grant", || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM credit_grants")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        (n > 0).then_some(())
    })
    .await;
    let again = cli.run(&["invoice", "mark-paid", "--org", "acme", &number]);
    assert!(!again.status.success(), "paying twice is refused");
    let id: String = sqlx::query_scalar("SELECT id FROM invoices")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let rerun = cli.json(&[
        "run",
        "invoice-paid",
        &json!({"organisation": "acme", "invoice": id}).to_string(),
        "--json",
    ]);
    assert_eq!(
        rerun["result"]["grantsCreated"], 0,
        "the follow-up run again grants nothing"
    );
    let grants = cli.json(&["credit", "list", "--org", "acme", "--json"]);
    assert_eq!(grants.as_array().unwrap().len(), 1);
    assert_eq!(
        (
            grants[0]["amount"].as_str(),
            grants[0]["sourceInvoiceId"].as_str()
        ),
        (Some("50.00"), Some(id.as_str()))
    );
    // The 50 credits pay the next invoice (10,000 calls + support = 120.00).
    fixtures::event(
        pool,
        "acme",
        "e1",
        "a1",
        "2026-01-10T00:00:00Z",
        dec!(10000),
    )
    .await;
    cli.ok(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    let inv = cli.feb_invoice();
    assert_eq!(
        (inv["credits"].as_str(), inv["total"].as_str()),
        (Some("50.00"), Some("70.00"))
    );
}

#[tokio::test]
async fn bad_grants_are_refused_with_a_clear_message_and_nothing_written() {
    let env = TestEnv::new().await;
    let db = env.db();
    setup(&env, 0).await;
    let cli = Cli {
        db,
        config: env.config().to_path_buf(),
    };
    let base = [
        "credit",
        "grant",
        "--org",
        "acme",
        "--account",
        "a1",
        "--key",
        "k",
    ];
    let cases: &[(&[&str], &str)] = &[
        (
            &["--amount", "-5", "--currency", "USD"],
            "amount: -5 is not positive",
        ),
        (
            &["--amount", "ten", "--currency", "USD"],
            "amount: \"ten\" is not a decimal number",
        ),
        (
            &["--amount", "5", "--currency", "EUR"],
            "currency: account a1 invoices in USD",
        ),
        (
            &["--amount", "5", "--currency", "XYZ"],
            "currency: unknown currency \"XYZ\"",
        ),
        (
            &[
                "--amount",
                "5",
                "--currency",
                "USD",
                "--from",
                "2026-02-01",
                "--until",
                "2026-01-01",
            ],
            "effectiveUntil: ",
        ),
    ];
    for (extra, expected) in cases {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        let out = cli.run(&args);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {} should contain {expected}",
            stderr(&out)
        );
    }
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM credit_grants")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn grants_made_in_bulk_are_recorded_once_per_key_and_checked_for_currency() {
    let env = TestEnv::new().await;
    let pool = env.pool();
    env.org("acme")
        .number_format("INV-{SEQ:4}")
        .with_plan(fixtures::growth_plan(0))
        .await;
    env.account("acme", "a1").await;
    env.account("acme", "a2").await;
    let grant = |account: &str, amount, currency: &str, key: &str| billrun::credits::NewGrant {
        account: account.into(),
        amount,
        currency: currency.into(),
        purpose: "bulk".into(),
        priority: 0,
        effective_from: None,
        effective_until: None,
        applicable_entity_ids: vec!["platform_fee".into()],
        idempotency_key: key.into(),
    };
    let now = utc("2026-01-16T00:00:00Z");
    let batch = [
        grant("a1", dec!(46.45), "USD", "k1"),
        grant("a2", dec!(30.97), "USD", "k2"),
    ];
    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(
        billrun::credits::grant_many(&mut conn, "acme", &batch, now)
            .await
            .unwrap(),
        2
    );
    // The same keys again (one new): only the new one is granted.
    let again = [
        grant("a1", dec!(46.45), "USD", "k1"),
        grant("a1", dec!(5.00), "USD", "k3"),
    ];
    assert_eq!(
        billrun::credits::grant_many(&mut conn, "acme", &again, now)
            .await
            .unwrap(),
        1
    );
    let rows: Vec<(String, rust_decimal::Decimal, Vec<String>, rust_decimal::Decimal)> = sqlx::query_as(
        "SELECT g.account_id, g.amount, g.applicable_entity_ids,
                (SELECT sum(amount) FROM credit_transactions t WHERE t.grant_id = g.id AND t.kind = 'GRANTED')
         FROM credit_grants g ORDER BY g.idempotency_key",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        vec![
            (
                "a1".into(),
                dec!(46.45),
                vec!["platform_fee".to_string()],
                dec!(46.45)
            ),
            (
                "a2".into(),
                dec!(30.97),
                vec!["platform_fee".to_string()],
                dec!(30.97)
            ),
            (
                "a1".into(),
                dec!(5.00),
                vec!["platform_fee".to_string()],
                dec!(5.00)
            ),
        ]
    );
    // A grant in another currency than the account's is refused, naming it; nothing
    // of the batch is written.
    let bad = [
        grant("a2", dec!(1.00), "USD", "k4"),
        grant("a1", dec!(1.00), "EUR", "k5"),
    ];
    let err = billrun::credits::grant_many(&mut conn, "acme", &bad, now)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("account a1 invoices in USD"), "{err}");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM credit_grants")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(count, 3);
}

#[tokio::test]
async fn the_ledger_lists_movements_when_they_take_effect_at_the_currency_scale() {
    let env = TestEnv::new().await;
    let db = env.db();
    setup(&env, 0).await;
    let pool = &db.pool;
    // Two more accounts, without plans, in JPY (0 decimals) and BHD (3 decimals).
    sqlx::query(
        "UPDATE organisations SET enabled_currencies = '{USD,EUR,JPY,BHD}' WHERE id = 'acme'",
    )
    .execute(pool)
    .await
    .unwrap();
    for (id, cur) in [("a2", "JPY"), ("a3", "BHD")] {
        sqlx::query(
            "INSERT INTO accounts (org_id, id, customer_id, name, invoice_currency) VALUES ('acme', $1, 'cust-a1', $1, $2)",
        )
        .bind(id)
        .bind(cur)
        .execute(pool)
        .await
        .unwrap();
    }
    let cli = Cli {
        db,
        config: env.config().to_path_buf(),
    };
    // Granted now (the wall clock, late 2026), usable from Jan 1: amounts without
    // decimals.
    let main = cli.grant("main", "80", &["--priority", "2"]);
    let short = cli.grant("short", "30", &["--priority", "1", "--until", "2026-01-20"]);
    let balance = |account: &str| {
        cli.ok(&["credit", "balance", "--org", "acme", "--account", account])
            .trim()
            .to_string()
    };
    // 80.00 + 30.00 = 110.00, at USD's two decimals.
    assert_eq!(balance("a1"), "110.00 USD");
    let out = cli.json(&[
        "run",
        "credit-expiry",
        "--now",
        "2026-02-01T00:00:00Z",
        "--json",
    ]);
    assert_eq!(out["result"]["expired"], 1);
    assert_eq!(balance("a1"), "80.00 USD");
    // Feb 1: 10,000 calls x 0.01 = 100.00 + support 20.00 = 120.00; the 80.00 grant
    // pays 80.00: 40.00 due, nothing left.
    cli.ok(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    let inv = cli.feb_invoice();
    assert_eq!(
        (inv["credits"].as_str(), inv["total"].as_str()),
        (Some("80.00"), Some("40.00"))
    );
    assert_eq!(balance("a1"), "no usable credits");
    let ledger = cli.json(&[
        "credit",
        "ledger",
        "--org",
        "acme",
        "--account",
        "a1",
        "--json",
    ]);
    let moves: Vec<(&str, &str, &str, &str)> = ledger
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap(),
                e["grantId"].as_str().unwrap(),
                e["amount"].as_str().unwrap(),
                e["at"].as_str().unwrap(),
            )
        })
        .collect();
    // Grants when usable (Jan 1, not the wall clock), the short one's expiry at its
    // end (Jan 20, not the expiry job's Feb 1), the consumption at the bill run.
    assert_eq!(
        moves,
        [
            ("GRANTED", main.as_str(), "80.00", "2026-01-01T00:00:00Z"),
            ("GRANTED", short.as_str(), "30.00", "2026-01-01T00:00:00Z"),
            ("EXPIRED", short.as_str(), "30.00", "2026-01-20T00:00:00Z"),
            ("CONSUMED", main.as_str(), "80.00", "2026-02-01T00:00:00Z"),
        ]
    );
    let text = cli.ok(&["credit", "ledger", "--org", "acme", "--account", "a1"]);
    assert!(
        text.contains("80.00 USD") && !text.contains(" 80 "),
        "{text}"
    );

    // Other scales: JPY has none, BHD three.
    for (account, key, shown, json_amount) in [
        ("a2", "yen", "80 JPY", "80"),
        ("a3", "dinar", "80.000 BHD", "80.000"),
    ] {
        let cur = &shown[shown.len() - 3..];
        cli.ok(&[
            "credit",
            "grant",
            "--org",
            "acme",
            "--account",
            account,
            "--amount",
            "80",
            "--currency",
            cur,
            "--from",
            "2026-01-01",
            "--key",
            key,
        ]);
        assert_eq!(balance(account), shown);
        assert_eq!(
            cli.json(&[
                "credit",
                "balance",
                "--org",
                "acme",
                "--account",
                account,
                "--json"
            ]),
            json!({ cur: json_amount })
        );
        let ledger = cli.json(&[
            "credit",
            "ledger",
            "--org",
            "acme",
            "--account",
            account,
            "--json",
        ]);
        assert_eq!(ledger[0]["amount"], json_amount);
        let list = cli.json(&[
            "credit",
            "list",
            "--org",
            "acme",
            "--account",
            account,
            "--json",
        ]);
        assert_eq!(
            (list[0]["amount"].as_str(), list[0]["balance"].as_str()),
            (Some(json_amount), Some(json_amount))
        );
    }
}
