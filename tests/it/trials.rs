//! Free trials through the real `billrun` binary: `account attach-plan
//! --trial-period-days N` frees the period's first N days, and the bill run starts
//! billing the day after, prorated by days.

use rust_decimal_macros::dec;
use serde_json::json;

use crate::env::TestEnv;
use crate::fixtures;
use crate::harness::Cli;

/// Monthly (day 1, no grace period): a 31.00 fee in advance, prorated, and API calls
/// at 0.10 each.
fn starter_plan() -> serde_json::Value {
    json!({
        "name": "starter",
        "supportedCurrencies": ["USD"],
        "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "1"}, "gracePeriod": 0},
        "fixedFeeRateCards": [{
            "name": "platform_fee", "invoiceTiming": "IN_ADVANCE", "type": "RECURRING",
            "enableProration": true, "recurrenceConfig": {"interval": 1, "offset": 0},
            "rateValues": [{"currency": "USD", "rate": "31.00"}]}],
        "usageRateCards": [{
            "name": "api_calls", "usageMeterId": "api_calls",
            "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": "0.10"}]}]}]
    })
}

/// A customer `customer` named `name` and its USD account `account` in acme, through
/// the CLI, with no plan yet (each test attaches its own, with or without a trial).
fn customer_and_account(c: &Cli, customer: &str, name: &str, account: &str) {
    c.ok(&[
        "customer", "create", "--org", "acme", customer, "--name", name,
    ]);
    c.ok(&[
        "account",
        "create",
        "--org",
        "acme",
        account,
        "--customer",
        customer,
        "--invoice-currency",
        "USD",
    ]);
}

async fn invoices(pool: &sqlx::PgPool) -> Vec<(String, String, Option<String>, String)> {
    sqlx::query_as(
        "SELECT account_id, boundary::text, opening_start::text, total::text FROM invoices \
         WHERE org_id = 'acme' ORDER BY boundary, account_id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn seven_free_days_of_january_bill_the_fee_prorated_from_the_trial_end_and_no_trial_usage() {
    let c = TestEnv::new().await;
    c.org("acme").await;
    let pool = &c.db.pool;
    let plan = c.write("starter.json", &starter_plan().to_string());
    c.ok(&["plan", "apply", "--org", "acme", &plan]);
    c.ok(&["plan", "finalize", "--org", "acme", "starter"]);
    for (account, trial) in [("trial", Some("7")), ("paid", None)] {
        let customer = format!("cust-{account}");
        customer_and_account(&c, &customer, account, account);
        let mut args = vec![
            "account",
            "attach-plan",
            "--org",
            "acme",
            account,
            "--plan",
            "starter",
            "--from",
            "2026-01-01",
        ];
        if let Some(days) = trial {
            args.extend(["--trial-period-days", days]);
        }
        let out = c.ok(&args);
        if trial.is_some() {
            assert!(
                out.contains("free trial of 7 days: billed from 2026-01-08"),
                "{out}"
            );
        }
        // 500 calls in the trial (Jan 5), 200 after it (Jan 20).
        let (early, late) = (format!("{account}-early"), format!("{account}-late"));
        fixtures::event(
            pool,
            "acme",
            &early,
            account,
            "2026-01-05T10:00:00Z",
            dec!(500),
        )
        .await;
        fixtures::event(
            pool,
            "acme",
            &late,
            account,
            "2026-01-20T10:00:00Z",
            dec!(200),
        )
        .await;
    }
    let shown = c.ok(&["account", "show", "--org", "acme", "trial"]);
    assert!(shown.contains("free trial of 7 days"), "{shown}");

    // Jan 1: the paid account's January fee in advance; nothing for the trial.
    c.ok(&["run", "cycle-close", "--now", "2026-01-01T00:00:00Z"]);
    assert_eq!(
        invoices(pool).await,
        [(
            "paid".into(),
            "2026-01-01".into(),
            Some("2026-01-01".into()),
            "31.00".into()
        )]
    );
    // Jan 8, the trial's end: the fee for Jan 8-31, 31.00 x 24/31 = 24.00.
    c.ok(&["run", "cycle-close", "--now", "2026-01-08T00:00:00Z"]);
    c.ok(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    assert_eq!(
        invoices(pool).await,
        [
            (
                "paid".into(),
                "2026-01-01".into(),
                Some("2026-01-01".into()),
                "31.00".into()
            ),
            (
                "trial".into(),
                "2026-01-08".into(),
                Some("2026-01-08".into()),
                "24.00".into()
            ),
            // 700 calls x 0.10 = 70.00, and February's fee 31.00.
            (
                "paid".into(),
                "2026-02-01".into(),
                Some("2026-02-01".into()),
                "101.00".into()
            ),
            // Only the 200 calls after the trial: 20.00, and February's fee 31.00.
            (
                "trial".into(),
                "2026-02-01".into(),
                Some("2026-02-01".into()),
                "51.00".into()
            ),
        ]
    );
}

#[tokio::test]
async fn a_trial_is_refused_when_absurdly_long() {
    let c = TestEnv::new().await;
    c.org("acme").with_plan(starter_plan()).await;
    customer_and_account(&c, "cust", "c", "a1");
    let err = c.fails(&[
        "account",
        "attach-plan",
        "--org",
        "acme",
        "a1",
        "--plan",
        "starter",
        "--from",
        "2026-01-01",
        "--trial-period-days",
        "5000",
    ]);
    assert!(
        err.contains("trialPeriodDays: must be at most 3660 days"),
        "{err}"
    );
}

#[tokio::test]
async fn a_migration_leaves_an_account_in_its_trial_and_moves_it_after() {
    let c = TestEnv::new().await;
    let mut target = starter_plan();
    target["name"] = json!("starter2");
    c.org("acme")
        .with_plan(starter_plan())
        .with_plan(target)
        .await;
    customer_and_account(&c, "cust", "c", "t1");
    c.ok(&[
        "account",
        "attach-plan",
        "--org",
        "acme",
        "t1",
        "--plan",
        "starter",
        "--from",
        "2026-01-01",
        "--trial-period-days",
        "7",
    ]);
    let migrate = |at: &str| {
        c.json(&[
            "migrations",
            "create",
            "--org",
            "acme",
            "--source",
            "starter",
            "--target",
            "starter2",
            "--mode",
            "IMMEDIATE",
            "--at",
            at,
            "--wait",
            "--json",
        ])
    };
    // Jan 5 is inside the trial (Jan 1-7): nothing to migrate yet.
    let m = migrate("2026-01-05T00:00:00Z");
    assert_eq!(
        m["counts"],
        json!({"total": 1, "pending": 0, "completed": 0, "failed": 1})
    );
    let failed = c.json(&[
        "migrations",
        "entries",
        "--org",
        "acme",
        m["id"].as_str().unwrap(),
        "--json",
    ]);
    assert_eq!(
        failed[0]["reason"],
        "it is in its trial until 2026-01-07 (billed from 2026-01-08): nothing to migrate yet"
    );
    // After the trial it moves like any account.
    c.ok(&["run", "cycle-close", "--now", "2026-01-08T00:00:00Z"]);
    let m = migrate("2026-01-16T00:00:00Z");
    assert_eq!(
        m["counts"],
        json!({"total": 1, "pending": 0, "completed": 1, "failed": 0})
    );
}

#[tokio::test]
async fn a_trial_is_never_billed_and_a_period_ending_in_it_is_never_due() {
    let c = TestEnv::new().await;
    let pool = &c.db.pool;
    c.org("acme").with_plan(starter_plan()).await;
    customer_and_account(&c, "cust", "c", "t1");
    // On the plan Jan 1-9 ([Jan 1, Jan 10)) with 14 free days: all of it is trial.
    c.ok(&[
        "account",
        "attach-plan",
        "--org",
        "acme",
        "t1",
        "--plan",
        "starter",
        "--from",
        "2026-01-01",
        "--until",
        "2026-01-10",
        "--trial-period-days",
        "14",
    ]);
    fixtures::event(pool, "acme", "e1", "t1", "2026-01-05T10:00:00Z", dec!(500)).await;
    for now in [
        "2026-01-05T00:00:00Z",
        "2026-01-20T00:00:00Z",
        "2026-02-01T00:00:00Z",
    ] {
        let out = c.json(&["run", "cycle-close", "--now", now, "--json"]);
        // Nothing due: the trial's days are never opened or billed.
        assert!(out.to_string().contains("\"accounts\":0"), "{now}: {out}");
    }
    assert_eq!(invoices(pool).await, []);
}
