//! Plan migrations end to end: each mode's invoices before and after, to the cent,
//! for an account with overrides and one without; retainStartOffsets; confirmation;
//! a 10,000-account migration killed halfway.
//!
//! The scenario (organisation in UTC, monthly cycles on the 1st, no grace period):
//! - `basic` v1: API calls 0.10 each, platform fee 90.00 in advance, support 30.00 in
//!   arrears, both prorated by day.
//! - `pro` v1: API calls 0.05 each, platform fee 150.00 in advance, prorated.
//! - `plain` is on basic from Jan 1; `custom` too, with overrides: platform fee
//!   60.00, API calls 0.08, support 20.00 (pro has no support card: dropped).
//! - Both use 1,000 calls on Jan 10 and 500 on Jan 20. Bill runs on Jan 1, Jan 16
//!   and Feb 1; the migration's instant is Jan 16, 00:00 UTC.

use std::time::Duration;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::env::TestEnv;
use crate::fixtures;
use crate::harness::*;

fn basic() -> Value {
    json!({
        "name": "basic", "supportedCurrencies": ["USD"],
        "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "1"}, "gracePeriod": 0},
        "usageRateCards": [{
            "name": "api_calls", "displayName": "API calls", "usageMeterId": "api_calls",
            "ratePlan": {"pricingModel": "TIERED", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": "0.10"}]}]
        }],
        "fixedFeeRateCards": [
            {"name": "platform_fee", "displayName": "Platform fee", "invoiceTiming": "IN_ADVANCE",
             "type": "RECURRING", "enableProration": true, "recurrenceConfig": {"interval": 1, "offset": 0},
             "rateValues": [{"currency": "USD", "rate": 90}]},
            {"name": "support", "displayName": "Support", "invoiceTiming": "IN_ARREARS",
             "type": "RECURRING", "enableProration": true, "recurrenceConfig": {"interval": 1, "offset": 0},
             "rateValues": [{"currency": "USD", "rate": 30}]}
        ]
    })
}

fn pro(name: &str, cycle: Value) -> Value {
    json!({
        "name": name, "supportedCurrencies": ["USD"],
        "pricingCycleConfig": cycle,
        "usageRateCards": [{
            "name": "api_calls", "displayName": "API calls", "usageMeterId": "api_calls",
            "ratePlan": {"pricingModel": "TIERED", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": "0.05"}]}]
        }],
        "fixedFeeRateCards": [
            {"name": "platform_fee", "displayName": "Platform fee", "invoiceTiming": "IN_ADVANCE",
             "type": "RECURRING", "enableProration": true, "recurrenceConfig": {"interval": 1, "offset": 0},
             "rateValues": [{"currency": "USD", "rate": 150}]}
        ]
    })
}

fn monthly(day: &str) -> Value {
    json!({"interval": "MONTHLY", "startOffset": {"dayOffset": day}, "gracePeriod": 0})
}

fn custom_overrides() -> Value {
    json!({"rateCards": [
        {"name": "platform_fee", "rateValues": [{"currency": "USD", "rate": 60}]},
        {"name": "api_calls", "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": "0.08"}]}]},
        {"name": "support", "rateValues": [{"currency": "USD", "rate": 20}]}
    ]})
}

async fn scenario(db: &TestDb) {
    let pool = &db.pool;
    fixtures::org(pool, "acme", "UTC", "INV-{SEQ:4}", 15).await;
    fixtures::plan(pool, "acme", &basic()).await;
    fixtures::plan(pool, "acme", &pro("pro", monthly("1"))).await;
    fixtures::plan(pool, "acme", &pro("pro15", monthly("15"))).await;
    fixtures::plan(
        pool,
        "acme",
        &pro(
            "pro_quarterly",
            json!({"interval": "QUARTERLY", "startOffset": {"dayOffset": "1", "monthOffset": "FIRST"}}),
        ),
    )
    .await;
    for account in ["plain", "custom"] {
        fixtures::account(pool, "acme", account, "basic", "2026-01-01", None).await;
        let e1 = format!("{account}-1");
        let e2 = format!("{account}-2");
        fixtures::event(
            pool,
            "acme",
            &e1,
            account,
            "2026-01-10T12:00:00Z",
            dec!(1000),
        )
        .await;
        fixtures::event(
            pool,
            "acme",
            &e2,
            account,
            "2026-01-20T12:00:00Z",
            dec!(500),
        )
        .await;
    }
    sqlx::query("UPDATE plan_associations SET overrides = $1 WHERE account_id = 'custom'")
        .bind(custom_overrides())
        .execute(pool)
        .await
        .unwrap();
}

fn bill_run(db: &TestDb, config: &std::path::Path, now: &str) {
    let mut c = billrun(&db.url, config);
    c.args(["run", "cycle-close", "--now", now, "--json"]);
    let out = run(c);
    assert!(out.status.success(), "bill run at {now}: {}", stderr(&out));
}

fn migrate(db: &TestDb, config: &std::path::Path, args: &[&str]) -> Value {
    let mut c = billrun(&db.url, config);
    c.args(["migrations", "create", "--org", "acme", "--json"]);
    c.args(args);
    let out = run(c);
    assert!(out.status.success(), "migration {args:?}: {}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

/// An invoice as the test compares it: account, plan, boundary, status, its card
/// lines (name and amount), credits and total.
#[derive(Debug, PartialEq)]
struct Bill {
    account: String,
    plan: String,
    boundary: String,
    status: String,
    lines: Vec<(String, Decimal)>,
    credits: Decimal,
    total: Decimal,
}

fn bill(
    account: &str,
    plan: &str,
    boundary: &str,
    lines: &[(&str, Decimal)],
    credits: Decimal,
    total: Decimal,
) -> Bill {
    Bill {
        account: account.into(),
        plan: plan.into(),
        boundary: boundary.into(),
        status: "DUE".into(),
        lines: lines.iter().map(|(n, a)| (n.to_string(), *a)).collect(),
        credits,
        total,
    }
}

async fn bills(pool: &PgPool, account: &str) -> Vec<Bill> {
    let rows: Vec<(String, String, String, Value, Decimal, Decimal)> = sqlx::query_as(
        "SELECT plan_id, boundary::text, status, lines, credits, total FROM invoices
         WHERE org_id = 'acme' AND account_id = $1 ORDER BY boundary, plan_id DESC",
    )
    .bind(account)
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(plan, boundary, status, lines, credits, total)| {
            let mut cards = Vec::new();
            for group in lines["grandTotal"]["children"].as_array().unwrap() {
                for card in group["children"].as_array().unwrap() {
                    let amount: Decimal = card["amount"].as_str().map_or_else(
                        || card["amount"].to_string().parse().unwrap(),
                        |s| s.parse().unwrap(),
                    );
                    cards.push((card["cardName"].as_str().unwrap().to_string(), amount));
                }
            }
            Bill {
                account: account.into(),
                plan,
                boundary,
                status,
                lines: cards,
                credits,
                total,
            }
        })
        .collect()
}

/// A draft whose lines went onto the invoice of the same account and date (one
/// invoice per account and boundary date, README "Invoices").
fn merged(b: Bill) -> Bill {
    Bill {
        status: "MERGED".into(),
        ..b
    }
}

async fn periods(
    pool: &PgPool,
    account: &str,
) -> Vec<(String, String, Option<String>, Option<Value>)> {
    sqlx::query_as(
        "SELECT plan_id, effective_from::text, effective_until::text, overrides
         FROM plan_associations WHERE org_id = 'acme' AND account_id = $1 ORDER BY effective_from",
    )
    .bind(account)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Runs the scenario with one migration (mode and extra flags); returns the
/// migration as shown.
async fn run_scenario(
    db: &TestDb,
    config: &std::path::Path,
    target: &str,
    flags: &[&str],
) -> Value {
    scenario(db).await;
    bill_run(db, config, "2026-01-01T00:00:00Z");
    let mut args = vec![
        "--source",
        "basic",
        "--target",
        target,
        "--at",
        "2026-01-16T00:00:00Z",
        "--wait",
    ];
    args.extend_from_slice(flags);
    let m = migrate(db, config, &args);
    assert_eq!(m["status"], "COMPLETED", "{m}");
    assert_eq!(
        m["counts"],
        json!({"total": 2, "pending": 0, "completed": 2, "failed": 0})
    );
    bill_run(db, config, "2026-01-16T00:00:00Z");
    bill_run(db, config, "2026-02-01T00:00:00Z");
    m
}

async fn entries(db: &TestDb, config: &std::path::Path, id: &str) -> Value {
    let mut c = billrun(&db.url, config);
    c.args(["migrations", "entries", "--org", "acme", id, "--json"]);
    let out = run(c);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

#[tokio::test]
async fn immediate_splits_the_cycle_and_credits_the_unused_advance_fee() {
    let db = TestDb::new().await;
    let scratch = Scratch::new();
    let config = scratch.config("", None);
    let m = run_scenario(&db, &config, "pro", &["--mode", "IMMEDIATE"]).await;

    // plain. Before: January's fee in advance; then Jan 1-15 on basic: 1,000 calls x
    // 0.10, support 30 x 15/31 = 14.52, less the credit for basic's unused days,
    // 90 x 16/31 = 46.45 (the first invoice finalized after the switch). After:
    // pro's fee for Jan 16-31, 150 x 16/31 = 77.42; then February on pro. Jan 16 is one
    // invoice: 100.00 + 14.52 + 77.42 - 46.45 = 145.49, pro's draft merged into it.
    assert_eq!(
        bills(&db.pool, "plain").await,
        vec![
            bill(
                "plain",
                "basic",
                "2026-01-01",
                &[("platform_fee", dec!(90.00))],
                dec!(0.00),
                dec!(90.00)
            ),
            merged(bill(
                "plain",
                "pro",
                "2026-01-16",
                &[("platform_fee", dec!(77.42))],
                dec!(0.00),
                dec!(77.42),
            )),
            bill(
                "plain",
                "basic",
                "2026-01-16",
                &[
                    ("api_calls", dec!(100.00)),
                    ("support", dec!(14.52)),
                    ("platform_fee", dec!(77.42))
                ],
                dec!(46.45),
                dec!(145.49),
            ),
            bill(
                "plain",
                "pro",
                "2026-02-01",
                &[("api_calls", dec!(25.00)), ("platform_fee", dec!(150.00))],
                dec!(0.00),
                dec!(175.00),
            ),
        ]
    );
    // custom keeps its prices on pro: platform fee 60 (60 x 16/31 = 30.97), API
    // calls 0.08; support has no card on pro. Credited back: 60 x 16/31 = 30.97. Jan 16:
    // 80.00 + 9.68 + 30.97 - 30.97 = 89.68.
    assert_eq!(
        bills(&db.pool, "custom").await,
        vec![
            bill(
                "custom",
                "basic",
                "2026-01-01",
                &[("platform_fee", dec!(60.00))],
                dec!(0.00),
                dec!(60.00)
            ),
            merged(bill(
                "custom",
                "pro",
                "2026-01-16",
                &[("platform_fee", dec!(30.97))],
                dec!(0.00),
                dec!(30.97),
            )),
            bill(
                "custom",
                "basic",
                "2026-01-16",
                &[
                    ("api_calls", dec!(80.00)),
                    ("support", dec!(9.68)),
                    ("platform_fee", dec!(30.97))
                ],
                dec!(30.97),
                dec!(89.68),
            ),
            bill(
                "custom",
                "pro",
                "2026-02-01",
                &[("api_calls", dec!(40.00)), ("platform_fee", dec!(60.00))],
                dec!(0.00),
                dec!(100.00),
            ),
        ]
    );
    // One number on Jan 16, its lines grouped by plan period.
    let (numbers, groups): (Vec<String>, Value) = sqlx::query_as(
        "SELECT array_agg(number) FILTER (WHERE number IS NOT NULL),
                (array_agg(lines) FILTER (WHERE status = 'DUE'))[1] -> 'grandTotal' -> 'children'
         FROM invoices WHERE account_id = 'plain' AND boundary = '2026-01-16'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(numbers.len(), 1, "{numbers:?}");
    let names: Vec<&str> = groups
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["kind"] == "GROUP")
        .map(|g| g["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["basic v1: Charges", "pro v1: Charges"]);
    let e = entries(&db, &config, m["id"].as_str().unwrap()).await;
    assert_eq!(e[0]["accountId"], "custom");
    assert_eq!(e[0]["switchDate"], "2026-01-16");
    assert_eq!(e[0]["droppedOverrides"], json!(["support"]));
    assert_eq!(e[0]["credited"], json!("30.97"));
    assert_eq!(e[1]["accountId"], "plain");
    assert_eq!(e[1]["droppedOverrides"], json!([]));
    let custom = periods(&db.pool, "custom").await;
    assert_eq!(custom[0].2.as_deref(), Some("2026-01-16"));
    assert_eq!(
        (
            custom[1].0.as_str(),
            custom[1].1.as_str(),
            custom[1].2.as_deref()
        ),
        ("pro", "2026-01-16", None)
    );
    assert_eq!(
        custom[1].3.as_ref().unwrap()["rateCards"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn immediate_ignoring_overrides_bills_the_target_list_prices() {
    let db = TestDb::new().await;
    let scratch = Scratch::new();
    let config = scratch.config("", None);
    run_scenario(
        &db,
        &config,
        "pro",
        &["--mode", "IMMEDIATE_IGNORE_OVERRIDE"],
    )
    .await;
    // Before the switch custom is still billed with its overrides (less the 30.97
    // credited back); after, pro's list prices: 77.42, then 500 x 0.05 + 150. Jan 16:
    // 80.00 + 9.68 + 77.42 - 30.97 = 136.13.
    assert_eq!(
        bills(&db.pool, "custom").await,
        vec![
            bill(
                "custom",
                "basic",
                "2026-01-01",
                &[("platform_fee", dec!(60.00))],
                dec!(0.00),
                dec!(60.00)
            ),
            merged(bill(
                "custom",
                "pro",
                "2026-01-16",
                &[("platform_fee", dec!(77.42))],
                dec!(0.00),
                dec!(77.42),
            )),
            bill(
                "custom",
                "basic",
                "2026-01-16",
                &[
                    ("api_calls", dec!(80.00)),
                    ("support", dec!(9.68)),
                    ("platform_fee", dec!(77.42))
                ],
                dec!(30.97),
                dec!(136.13),
            ),
            bill(
                "custom",
                "pro",
                "2026-02-01",
                &[("api_calls", dec!(25.00)), ("platform_fee", dec!(150.00))],
                dec!(0.00),
                dec!(175.00),
            ),
        ]
    );
    assert_eq!(
        periods(&db.pool, "custom").await[1].3,
        None,
        "no overrides carried"
    );
    // plain has no overrides: the same as IMMEDIATE.
    assert_eq!(bills(&db.pool, "plain").await[2].total, dec!(145.49));
}

#[tokio::test]
async fn next_cycle_bills_the_current_cycle_whole_on_the_old_plan() {
    let db = TestDb::new().await;
    let scratch = Scratch::new();
    let config = scratch.config("", None);
    let m = run_scenario(&db, &config, "pro", &["--mode", "NEXT_CYCLE"]).await;
    // January whole on basic (1,500 calls x 0.10 + support 30), then pro from Feb 1,
    // on one Feb 1 invoice: 150.00 + 30.00 + 150.00 = 330.00 (custom: 120.00 + 20.00
    // + 60.00 = 200.00).
    assert_eq!(
        bills(&db.pool, "plain").await,
        vec![
            bill(
                "plain",
                "basic",
                "2026-01-01",
                &[("platform_fee", dec!(90.00))],
                dec!(0.00),
                dec!(90.00)
            ),
            merged(bill(
                "plain",
                "pro",
                "2026-02-01",
                &[("platform_fee", dec!(150.00))],
                dec!(0.00),
                dec!(150.00)
            )),
            bill(
                "plain",
                "basic",
                "2026-02-01",
                &[
                    ("api_calls", dec!(150.00)),
                    ("support", dec!(30.00)),
                    ("platform_fee", dec!(150.00))
                ],
                dec!(0.00),
                dec!(330.00),
            ),
        ]
    );
    assert_eq!(
        bills(&db.pool, "custom").await,
        vec![
            bill(
                "custom",
                "basic",
                "2026-01-01",
                &[("platform_fee", dec!(60.00))],
                dec!(0.00),
                dec!(60.00)
            ),
            merged(bill(
                "custom",
                "pro",
                "2026-02-01",
                &[("platform_fee", dec!(60.00))],
                dec!(0.00),
                dec!(60.00)
            )),
            bill(
                "custom",
                "basic",
                "2026-02-01",
                &[
                    ("api_calls", dec!(120.00)),
                    ("support", dec!(20.00)),
                    ("platform_fee", dec!(60.00))
                ],
                dec!(0.00),
                dec!(200.00),
            ),
        ]
    );
    let e = entries(&db, &config, m["id"].as_str().unwrap()).await;
    assert_eq!(e[0]["switchDate"], "2026-02-01");
    assert_eq!(
        e[0]["credited"],
        Value::Null,
        "nothing billed in advance is unused"
    );
    assert_eq!(e[0]["droppedOverrides"], json!(["support"]));
}

#[tokio::test]
async fn next_cycle_ignoring_overrides_bills_list_prices_from_the_next_cycle() {
    let db = TestDb::new().await;
    let scratch = Scratch::new();
    let config = scratch.config("", None);
    run_scenario(
        &db,
        &config,
        "pro",
        &["--mode", "NEXT_CYCLE_IGNORE_OVERRIDE"],
    )
    .await;
    assert_eq!(
        bills(&db.pool, "custom").await,
        vec![
            bill(
                "custom",
                "basic",
                "2026-01-01",
                &[("platform_fee", dec!(60.00))],
                dec!(0.00),
                dec!(60.00)
            ),
            merged(bill(
                "custom",
                "pro",
                "2026-02-01",
                &[("platform_fee", dec!(150.00))],
                dec!(0.00),
                dec!(150.00)
            )),
            // 120.00 + 20.00 + 150.00
            bill(
                "custom",
                "basic",
                "2026-02-01",
                &[
                    ("api_calls", dec!(120.00)),
                    ("support", dec!(20.00)),
                    ("platform_fee", dec!(150.00))
                ],
                dec!(0.00),
                dec!(290.00),
            ),
        ]
    );
    assert_eq!(bills(&db.pool, "plain").await[2].total, dec!(330.00));
}

#[tokio::test]
async fn retained_start_offsets_keep_the_cycle_alignment_and_differing_intervals_are_refused() {
    // pro15's cycles start on the 15th. Retaining basic's offsets, the account keeps
    // cycles on the 1st: Jan 16-31 costs 150 x 16/31 = 77.42.
    let db = TestDb::new().await;
    let scratch = Scratch::new();
    let config = scratch.config("", None);
    run_scenario(
        &db,
        &config,
        "pro15",
        &["--mode", "IMMEDIATE", "--retain-start-offsets"],
    )
    .await;
    let plain = bills(&db.pool, "plain").await;
    assert_eq!(
        plain[1],
        merged(bill(
            "plain",
            "pro15",
            "2026-01-16",
            &[("platform_fee", dec!(77.42))],
            dec!(0.00),
            dec!(77.42)
        ))
    );
    // One Jan 16 invoice: 100.00 + 14.52 + 77.42 - 46.45.
    assert_eq!(
        (plain[2].credits, plain[2].total),
        (dec!(46.45), dec!(145.49))
    );
    assert_eq!(
        plain[3].boundary, "2026-02-01",
        "cycles still end on the 1st: {plain:?}"
    );

    // Without retaining: pro15's own cycle Jan 15 - Feb 15 (31 days), billed from Jan
    // 16: 150 x 30/31 = 145.16.
    let db = TestDb::new().await;
    run_scenario(&db, &config, "pro15", &["--mode", "IMMEDIATE"]).await;
    let plain = bills(&db.pool, "plain").await;
    assert_eq!(
        plain[1],
        merged(bill(
            "plain",
            "pro15",
            "2026-01-16",
            &[("platform_fee", dec!(145.16))],
            dec!(0.00),
            dec!(145.16)
        ))
    );
    assert_eq!(plain.len(), 3, "no pro15 boundary before Feb 15: {plain:?}");

    // A monthly plan's offsets cannot be kept on a quarterly one: refused, nothing made.
    let mut c = billrun(&db.url, &config);
    c.args([
        "migrations",
        "create",
        "--org",
        "acme",
        "--source",
        "basic",
        "--target",
        "pro_quarterly",
        "--mode",
        "NEXT_CYCLE",
        "--retain-start-offsets",
    ]);
    let out = run(c);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("retainStartOffsets is refused")
            && err.contains("MONTHLY")
            && err.contains("QUARTERLY"),
        "{err}"
    );
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM plan_migrations WHERE target_plan_id = 'pro_quarterly'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn a_migration_awaiting_confirmation_does_nothing_until_confirmed_and_a_rejected_one_nothing_at_all(
) {
    let db = TestDb::new().await;
    let scratch = Scratch::new();
    let config = scratch.config("", None);
    scenario(&db).await;
    let before_plain = periods(&db.pool, "plain").await;
    let waiting = migrate(
        &db,
        &config,
        &[
            "--source",
            "basic",
            "--target",
            "pro",
            "--mode",
            "NEXT_CYCLE",
            "--require-confirmation",
            "--at",
            "2026-01-16T00:00:00Z",
        ],
    );
    assert_eq!(waiting["status"], "AWAITING_CONFIRMATION");
    assert_eq!(waiting["jobId"], Value::Null, "no job until confirmed");
    let id = waiting["id"].as_str().unwrap().to_string();
    // Even the job run by hand does nothing while it waits.
    let mut c = billrun(&db.url, &config);
    c.args([
        "run",
        "plan-migration",
        "--json",
        &json!({"organisation": "acme", "migration": id}).to_string(),
    ]);
    let out = run(c);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(periods(&db.pool, "plain").await, before_plain);
    let mut c = billrun(&db.url, &config);
    c.args(["migrations", "show", "--org", "acme", &id, "--json"]);
    let shown: Value = serde_json::from_str(&stdout(&run(c))).unwrap();
    assert_eq!(shown["status"], "AWAITING_CONFIRMATION");
    assert_eq!(shown["counts"]["total"], 0);

    // A second one, rejected: it can no longer be confirmed and changes nothing.
    let other = migrate(
        &db,
        &config,
        &[
            "--source",
            "basic",
            "--target",
            "pro15",
            "--mode",
            "IMMEDIATE",
            "--require-confirmation",
        ],
    );
    let other_id = other["id"].as_str().unwrap();
    let mut c = billrun(&db.url, &config);
    c.args(["migrations", "reject", "--org", "acme", other_id, "--json"]);
    let out = run(c);
    assert!(out.status.success(), "{}", stderr(&out));
    let rejected: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(rejected["status"], "REJECTED");
    let mut c = billrun(&db.url, &config);
    c.args(["migrations", "confirm", "--org", "acme", other_id]);
    let out = run(c);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is REJECTED"), "{}", stderr(&out));
    assert_eq!(periods(&db.pool, "plain").await, before_plain);

    // Confirmed: it runs.
    let mut c = billrun(&db.url, &config);
    c.args([
        "migrations",
        "confirm",
        "--org",
        "acme",
        &id,
        "--wait",
        "--json",
    ]);
    let out = run(c);
    assert!(out.status.success(), "{}", stderr(&out));
    let done: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(
        done["counts"],
        json!({"total": 2, "pending": 0, "completed": 2, "failed": 0})
    );
    let plain = periods(&db.pool, "plain").await;
    assert_eq!(plain.len(), 2);
    assert_eq!(
        (plain[1].0.as_str(), plain[1].1.as_str()),
        ("pro", "2026-02-01")
    );
    let list_count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM plan_associations WHERE plan_id = 'pro15'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(list_count, 0, "the rejected migration did nothing");
}

#[tokio::test]
async fn accounts_that_cannot_move_fail_with_a_reason_and_the_rest_move() {
    let db = TestDb::new().await;
    let scratch = Scratch::new();
    let config = scratch.config("", None);
    scenario(&db).await;
    // An account invoicing in EUR cannot be billed on pro (USD only).
    fixtures::account(&db.pool, "acme", "late", "basic", "2026-01-01", None).await;
    sqlx::query("UPDATE accounts SET invoice_currency = 'EUR' WHERE id = 'late'")
        .execute(&db.pool)
        .await
        .unwrap();
    let m = migrate(
        &db,
        &config,
        &[
            "--source",
            "basic",
            "--target",
            "pro",
            "--mode",
            "IMMEDIATE",
            "--at",
            "2026-01-16T00:00:00Z",
            "--wait",
        ],
    );
    assert_eq!(
        m["counts"],
        json!({"total": 3, "pending": 0, "completed": 2, "failed": 1})
    );
    let mut c = billrun(&db.url, &config);
    c.args([
        "migrations",
        "entries",
        "--org",
        "acme",
        m["id"].as_str().unwrap(),
        "--status",
        "FAILED",
        "--json",
    ]);
    let failed: Value = serde_json::from_str(&stdout(&run(c))).unwrap();
    assert_eq!(failed[0]["accountId"], "late");
    assert!(
        failed[0]["reason"].as_str().unwrap().contains("EUR"),
        "{failed}"
    );
    assert_eq!(periods(&db.pool, "late").await.len(), 1, "left on basic");
}

#[tokio::test]
async fn ten_thousand_accounts_killed_halfway_are_each_migrated_exactly_once() {
    let env = TestEnv::new().await;
    let (db, config) = (env.db(), env.config());
    let pool = &db.pool;
    env.org("acme")
        .number_format("INV-{SEQ:6}")
        .with_plan(basic())
        .with_plan(pro("pro", monthly("1")))
        .await;
    sqlx::query(
        "INSERT INTO customers (org_id, id, name)
         SELECT 'acme', 'c' || n, 'Customer ' || n FROM generate_series(1, 10000) n",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO accounts (org_id, id, customer_id, name, invoice_currency)
         SELECT 'acme', 'a' || lpad(n::text, 5, '0'), 'c' || n, 'Account ' || n, 'USD'
         FROM generate_series(1, 10000) n",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO plan_associations (org_id, account_id, plan_id, plan_version, effective_from)
         SELECT 'acme', id, 'basic', 1, DATE '2026-01-01' FROM accounts WHERE org_id = 'acme'",
    )
    .execute(pool)
    .await
    .unwrap();
    // January's cycles are open (as a bill run on Jan 1 leaves them, their fee
    // billed in advance), so the migration also cuts them and credits them back.
    sqlx::query(
        "INSERT INTO billing_cycles (org_id, account_id, association_from, cycle_index, full_start,
             full_end, billed_start, billed_end, starts_at, ends_at, status)
         SELECT 'acme', id, DATE '2026-01-01', 0, DATE '2026-01-01', DATE '2026-02-01',
                DATE '2026-01-01', DATE '2026-02-01', TIMESTAMPTZ '2026-01-01 00:00Z',
                TIMESTAMPTZ '2026-02-01 00:00Z', 'OPEN'
         FROM accounts WHERE org_id = 'acme'",
    )
    .execute(pool)
    .await
    .unwrap();

    let m = migrate(
        db,
        config,
        &[
            "--source",
            "basic",
            "--target",
            "pro",
            "--mode",
            "IMMEDIATE",
            "--at",
            "2026-01-16T00:00:00Z",
            "--chunk-size",
            "100",
        ],
    );
    let id = m["id"].as_str().unwrap().to_string();
    let counts = |pool: PgPool, id: String| async move {
        sqlx::query_as::<_, (i64, i64, i64)>(
            "SELECT count(*) FILTER (WHERE status = 'PENDING'), count(*) FILTER (WHERE status = 'COMPLETED'),
                    count(*) FROM plan_migration_entries WHERE migration_id = $1",
        )
        .bind(&id)
        .fetch_one(&pool)
        .await
        .unwrap()
    };

    let mut first = env.worker().no_scheduler().spawn();
    wait_for(
        Duration::from_secs(120),
        "a third of the accounts migrated",
        || {
            let (pool, id) = (db.pool.clone(), id.clone());
            async move {
                let (_, completed, _) = counts(pool, id).await;
                (completed >= 3000).then_some(())
            }
        },
    )
    .await;
    first.kill9();
    let (pending, completed, total) = counts(db.pool.clone(), id.clone()).await;
    assert_eq!(total, 10_000);
    assert!(pending > 0, "killed before the end: {completed} completed");
    assert_eq!(pending + completed, total, "no account failed");

    let mut second = env.worker().no_scheduler().spawn();
    wait_for(Duration::from_secs(300), "the migration completed", || {
        let pool = db.pool.clone();
        let id = id.clone();
        async move {
            let status: String =
                sqlx::query_scalar("SELECT status FROM plan_migrations WHERE id = $1")
                    .bind(&id)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            (status == "COMPLETED").then_some(())
        }
    })
    .await;
    second.terminate();

    let (pending, completed, total) = counts(db.pool.clone(), id.clone()).await;
    assert_eq!((pending, completed, total), (0, 10_000, 10_000));
    // Every account: basic until Jan 16, pro from Jan 16, nothing else.
    let shapes: Vec<(String, i64)> = sqlx::query_as(
        "SELECT string_agg(plan_id || ':' || effective_from || ':' || coalesce(effective_until::text, '-'), ' '
                           ORDER BY effective_from), count(*)
         FROM plan_associations WHERE org_id = 'acme' GROUP BY account_id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(shapes.len(), 10_000);
    let expected = "basic:2026-01-01:2026-01-16 pro:2026-01-16:-";
    assert!(
        shapes.iter().all(|(s, n)| s == expected && *n == 2),
        "{:?}",
        shapes.iter().find(|(s, _)| s != expected)
    );
    // One credit each for basic's unused 16 days: 90 x 16/31 = 46.45.
    let grants: (i64, Decimal, i64) = sqlx::query_as(
        "SELECT count(*), sum(amount), count(DISTINCT account_id) FROM credit_grants WHERE org_id = 'acme'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(grants, (10_000, dec!(464500.00), 10_000));

    // Running it again migrates nobody twice.
    let out = env.run(&[
        "run",
        "plan-migration",
        "--json",
        &json!({"organisation": "acme", "migration": id}).to_string(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let associations: i64 =
        sqlx::query_scalar("SELECT count(*) FROM plan_associations WHERE org_id = 'acme'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(associations, 20_000);
    let cut: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM billing_cycles WHERE org_id = 'acme' AND billed_end = DATE '2026-01-16'
           AND ends_at = TIMESTAMPTZ '2026-01-16 00:00Z' AND status = 'OPEN'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(cut, 10_000, "each open cycle now ends at the switch");
}

#[tokio::test]
async fn a_next_cycle_migration_dated_before_an_opened_cycle_fails_for_those_accounts() {
    // The bill run of Feb 1 opened February on basic (its fee billed in advance): a
    // NEXT_CYCLE migration dated Jan 16 would switch on Feb 1, which is too late.
    let db = TestDb::new().await;
    let scratch = Scratch::new();
    let config = scratch.config("", None);
    scenario(&db).await;
    bill_run(&db, &config, "2026-02-01T00:00:00Z");
    let m = migrate(
        &db,
        &config,
        &[
            "--source",
            "basic",
            "--target",
            "pro",
            "--mode",
            "NEXT_CYCLE",
            "--at",
            "2026-01-16T00:00:00Z",
            "--wait",
        ],
    );
    assert_eq!(m["status"], "COMPLETED");
    assert_eq!(
        m["counts"],
        json!({"total": 2, "pending": 0, "completed": 0, "failed": 2})
    );
    let e = entries(&db, &config, m["id"].as_str().unwrap()).await;
    let reason = e[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("cycle from 2026-02-01 has already been opened"),
        "{reason}"
    );
    assert_eq!(periods(&db.pool, "plain").await.len(), 1, "left on basic");
}

#[tokio::test]
async fn overrides_are_checked_against_the_plan_on_attach_and_stored_canonical() {
    let cli = Cli::new().await;
    let pool = &cli.db.pool;
    fixtures::org(pool, "acme", "UTC", "INV-{SEQ:4}", 15).await;
    fixtures::plan(pool, "acme", &basic()).await;
    sqlx::query("INSERT INTO customers (org_id, id, name) VALUES ('acme', 'c', 'C')")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO accounts (org_id, id, customer_id, name, invoice_currency)
         VALUES ('acme', 'a1', 'c', 'A1', 'USD')",
    )
    .execute(pool)
    .await
    .unwrap();
    let attach = |file: &str| -> Vec<String> {
        [
            "account",
            "attach-plan",
            "a1",
            "--org",
            "acme",
            "--plan",
            "basic",
            "--from",
            "2026-01-01",
            "--overrides",
            file,
        ]
        .map(str::to_string)
        .to_vec()
    };
    // A card the plan lacks, a field that cannot be overridden, a rate that is no number.
    let bad = cli.write(
        "bad.json",
        &json!({"rateCards": [
            {"name": "seats", "rateValues": []},
            {"name": "platform_fee", "usageMeterId": "x"}
        ]})
        .to_string(),
    );
    let err = cli.fails(&strs(&attach(&bad)));
    assert!(err.contains("overrides.rateCards[1].usageMeterId"), "{err}");
    let bad = cli.write(
        "bad2.json",
        &json!({"rateCards": [{"name": "seats", "rateValues": []}]}).to_string(),
    );
    let err = cli.fails(&strs(&attach(&bad)));
    assert!(
        err.contains("overrides.rateCards[0].name") && err.contains("no rate card named \"seats\""),
        "{err}"
    );
    let bad = cli.write(
        "bad3.json",
        &json!({"rateCards": [{"name": "platform_fee", "rateValues": [{"currency": "USD", "rate": "lots"}]}]})
            .to_string(),
    );
    let err = cli.fails(&strs(&attach(&bad)));
    assert!(err.contains("fixedFeeRateCards[0].rateValues"), "{err}");
    assert!(periods(pool, "a1").await.is_empty(), "nothing attached");

    let good = cli.write("good.json", &custom_overrides().to_string());
    cli.ok(&strs(&attach(&good)));
    let shown = cli.json(&["account", "show", "--org", "acme", "a1", "--json"]);
    let stored = &shown["planAssociations"][0]["overrides"];
    assert_eq!(stored["rateCards"].as_array().unwrap().len(), 3, "{shown}");
    assert_eq!(stored["rateCards"][0]["name"], "platform_fee");
    assert_eq!(stored["rateCards"][0]["rateValues"][0]["rate"], 60);
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[tokio::test]
async fn immediate_prorates_licenses_and_credits_seats_paid_in_advance() {
    // seats_basic bills 5 seats at 10.00 in advance; seats_pro at 12.00 in arrears,
    // both prorated by day. IMMEDIATE on Jan 16: January's 50.00 paid in advance
    // is credited back for 16 of 31 days, 25.81; pro bills Jan 16-31 in arrears,
    // 5 x 12 x 16/31 = 30.97, and the credit pays 25.81 of it.
    let db = TestDb::new().await;
    let scratch = Scratch::new();
    let config = scratch.config("", None);
    let pool = &db.pool;
    fixtures::org(pool, "acme", "UTC", "INV-{SEQ:4}", 15).await;
    let seats = |name: &str, timing: &str, rate: u32| {
        json!({
            "name": name, "supportedCurrencies": ["USD"],
            "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "1"}, "gracePeriod": 0},
            "licenseRateCards": [{
                "id": "seats", "name": "seats", "displayName": "Seats", "invoiceTiming": timing,
                "enableProration": true,
                "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
                "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": rate}]}]
            }]
        })
    };
    fixtures::plan(pool, "acme", &seats("seats_basic", "IN_ADVANCE", 10)).await;
    fixtures::plan(pool, "acme", &seats("seats_pro", "IN_ARREARS", 12)).await;
    fixtures::account(pool, "acme", "s1", "seats_basic", "2026-01-01", None).await;
    sqlx::query(
        "INSERT INTO license_updates (org_id, idempotency_key, license_id, account_id, update_type,
             quantity, effective_from)
         VALUES ('acme', 'k1', 'seats', 's1', 'ABSOLUTE', 5, '2026-01-01T00:00:00Z')",
    )
    .execute(pool)
    .await
    .unwrap();
    bill_run(&db, &config, "2026-01-01T00:00:00Z");
    let m = migrate(
        &db,
        &config,
        &[
            "--source",
            "seats_basic",
            "--target",
            "seats_pro",
            "--mode",
            "IMMEDIATE",
            "--at",
            "2026-01-16T00:00:00Z",
            "--wait",
        ],
    );
    assert_eq!(m["counts"]["completed"], 1, "{m}");
    bill_run(&db, &config, "2026-01-16T00:00:00Z");
    bill_run(&db, &config, "2026-02-01T00:00:00Z");
    assert_eq!(
        bills(pool, "s1").await,
        vec![
            bill(
                "s1",
                "seats_basic",
                "2026-01-01",
                &[("seats", dec!(50.00))],
                dec!(0.00),
                dec!(50.00)
            ),
            // The old plan's last cycle, Jan 1-15, bills nothing in arrears, and the
            // new plan nothing in advance: no Jan 16 invoice.
            bill(
                "s1",
                "seats_pro",
                "2026-02-01",
                &[("seats", dec!(30.97))],
                dec!(25.81),
                dec!(5.16)
            ),
        ]
    );
    let e = entries(&db, &config, m["id"].as_str().unwrap()).await;
    assert_eq!(e[0]["credited"], json!("25.81"));
}
