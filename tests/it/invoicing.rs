//! Invoicing rules found wrong by replayed bug reports (issue 11): a cycle's credits
//! pay that cycle's lines, invoices are dated in the account's timezone, nothing is
//! invoiced where nothing is billed and nothing is collected where nothing is due,
//! and every output gives the same total.

use rust_decimal_macros::dec;
use serde_json::{json, Value};

use crate::env::TestEnv;
use crate::fixtures;
use crate::harness::*;

/// Monthly (day 1): 1.00 per API call in arrears, and 50 credits granted in advance
/// each cycle at price 0, for usage only, expiring with the pricing cycle.
fn credits_plan(grace: u32) -> Value {
    json!({
        "name": "calls", "supportedCurrencies": ["USD"],
        "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "1"}, "gracePeriod": grace},
        "usageRateCards": [{
            "name": "calls", "displayName": "API calls", "usageMeterId": "api_calls",
            "ratePlan": {"pricingModel": "TIERED", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": "1.00"}]}]
        }],
        "creditGrantRateCards": [{
            "name": "monthly_credits", "displayName": "Monthly credits", "invoiceTiming": "IN_ADVANCE",
            "type": "RECURRING", "recurrenceConfig": {"interval": 1, "offset": 0},
            "grantDetails": {"priority": 1, "expiryType": "PRICING_CYCLE",
                             "applicableEntityIds": ["ALL_USAGE_METER_RATE_CARDS"]},
            "rateDetails": {"pricingModel": "TIERED", "currencySlabRateDetails": [
                {"currency": "USD", "creditAmount": 50,
                 "slabDetails": [{"startAfter": 0, "priceType": "FLAT", "rate": 0}]}]}
        }]
    })
}

async fn credits_setup(env: &TestEnv, grace: u32) {
    env.org("acme")
        .number_format("INV-{SEQ:4}")
        .net_terms(30)
        .with_plan(credits_plan(grace))
        .await;
    env.account("acme", "a1")
        .on_plan("calls")
        .with_usage("e1", "2026-01-15T12:00:00Z", dec!(30))
        .await;
}

fn invoice_at(cli: &Cli, boundary: &str) -> Value {
    cli.json(&["invoice", "list", "--org", "acme", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["boundary"] == boundary)
        .cloned()
        .unwrap_or_else(|| panic!("an invoice at {boundary}"))
}

/// (kind, amount) of each ledger movement of `grant`, in ledger order.
fn movements(cli: &Cli, grant: &str) -> Vec<(String, String)> {
    cli.json(&[
        "credit",
        "ledger",
        "--org",
        "acme",
        "--account",
        "a1",
        "--json",
    ])
    .as_array()
    .unwrap()
    .iter()
    .filter(|e| e["grantId"] == grant)
    .map(|e| {
        (
            e["kind"].as_str().unwrap().to_string(),
            e["amount"].as_str().unwrap().to_string(),
        )
    })
    .collect()
}

/// The grants of a1 as (id, effective from), oldest first.
async fn grants(cli: &Cli) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT id, effective_from::text FROM credit_grants WHERE org_id = 'acme' ORDER BY effective_from",
    )
    .fetch_all(&cli.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_cycles_credit_grant_pays_that_cycles_usage_on_the_invoice_that_closes_it() {
    let cli = TestEnv::new().await;
    credits_setup(&cli, 0).await;
    // Jan 1: the opening invoice sells January's 50 credits at 0.00.
    cli.ok(&["run", "cycle-close", "--now", "2026-01-01T00:00:00Z"]);
    let jan = invoice_at(&cli, "2026-01-01");
    assert_eq!(jan["total"], "0.00");
    // Feb 1: 30 calls x 1.00 = 30.00 of January's usage, paid by January's credits
    // (valid Jan 1 - Feb 1, the days the usage line covers): 30.00 - 30.00 = 0.00.
    cli.ok(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    let feb = invoice_at(&cli, "2026-02-01");
    assert_eq!(
        (
            feb["subTotal"].as_str(),
            feb["credits"].as_str(),
            feb["total"].as_str()
        ),
        (Some("30.00"), Some("30.00"), Some("0.00"))
    );
    let g = grants(&cli).await;
    assert_eq!(g.len(), 2, "January's and February's grants: {g:?}");
    let (january, february) = (&g[0].0, &g[1].0);
    assert_eq!(
        feb["lines"]["totalCredits"]["children"][0]["cardName"],
        january.as_str()
    );
    // What is left of January's grant expires with its cycle: 50.00 - 30.00 = 20.00.
    let out = cli.json(&[
        "run",
        "credit-expiry",
        "--now",
        "2026-02-01T00:30:00Z",
        "--json",
    ]);
    assert_eq!(out["result"]["expired"], 1);
    let jan_moves = movements(&cli, january);
    assert_eq!(
        jan_moves,
        [
            ("GRANTED".to_string(), "50.00".to_string()),
            ("CONSUMED".to_string(), "30.00".to_string()),
            ("EXPIRED".to_string(), "20.00".to_string()),
        ]
    );
    // February's credits are untouched (they are for February's usage).
    assert_eq!(
        movements(&cli, february),
        [("GRANTED".to_string(), "50.00".to_string())]
    );
}

#[tokio::test]
async fn a_cycles_credits_wait_for_its_invoice_through_the_grace_period() {
    let cli = TestEnv::new().await;
    credits_setup(&cli, 3).await;
    cli.ok(&["run", "cycle-close", "--now", "2026-01-01T00:00:00Z"]);
    cli.ok(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    // The Feb 1 invoice is a draft until Feb 4: January's grant has ended but may
    // still pay it, so the expiry job leaves it alone.
    let out = cli.json(&[
        "run",
        "credit-expiry",
        "--now",
        "2026-02-02T00:00:00Z",
        "--json",
    ]);
    assert_eq!(out["result"]["expired"], 0);
    assert_eq!(invoice_at(&cli, "2026-02-01")["status"], "DRAFT");
    cli.ok(&["run", "cycle-close", "--now", "2026-02-04T00:00:00Z"]);
    let feb = invoice_at(&cli, "2026-02-01");
    assert_eq!(
        (feb["credits"].as_str(), feb["total"].as_str()),
        (Some("30.00"), Some("0.00"))
    );
    let out = cli.json(&[
        "run",
        "credit-expiry",
        "--now",
        "2026-02-04T01:00:00Z",
        "--json",
    ]);
    assert_eq!(out["result"]["expired"], 1, "20.00 of January's left");
    let january = &grants(&cli).await[0].0;
    // In the order they take effect: the expiry at the grant's end (Feb 1), the
    // consumption at the finalization (Feb 4); 50.00 - 30.00 = 20.00 expired.
    assert_eq!(
        movements(&cli, january),
        [
            ("GRANTED".to_string(), "50.00".to_string()),
            ("EXPIRED".to_string(), "20.00".to_string()),
            ("CONSUMED".to_string(), "30.00".to_string()),
        ]
    );
}

/// Monthly (day 1): a 10.00 fee in advance, not prorated.
fn fee_plan() -> Value {
    json!({
        "name": "fee", "supportedCurrencies": ["USD"],
        "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "1"}},
        "fixedFeeRateCards": [{
            "name": "fee", "displayName": "Fee", "invoiceTiming": "IN_ADVANCE", "type": "RECURRING",
            "rateValues": [{"currency": "USD", "rate": "10.00"}]
        }]
    })
}

/// (account, boundary, invoice date, due date, number) of every invoice.
async fn dated(cli: &Cli) -> Vec<(String, String, String, String, String)> {
    sqlx::query_as(
        "SELECT account_id, boundary::text, invoice_date::text, due_date::text, number FROM invoices
         WHERE org_id = 'acme' ORDER BY number",
    )
    .fetch_all(&cli.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn invoices_are_dated_in_the_accounts_timezone_and_numbered_in_their_dates_year() {
    let cli = TestEnv::new().await;
    let pool = &cli.db.pool;
    cli.org("acme")
        .number_format("INV-{YYYY}-{SEQ:3}")
        .net_terms(30)
        .with_plan(fee_plan())
        .await;
    cli.account("acme", "tokyo")
        .on_plan("fee")
        .from("2025-12-01")
        .await;
    cli.account("acme", "la")
        .on_plan("fee")
        .from("2025-12-31")
        .await;
    for (account, tz) in [("tokyo", "Asia/Tokyo"), ("la", "America/Los_Angeles")] {
        sqlx::query("UPDATE accounts SET timezone = $2 WHERE org_id = 'acme' AND id = $1")
            .bind(account)
            .bind(tz)
            .execute(pool)
            .await
            .unwrap();
    }
    // Dec 1 00:00 in Tokyo is Nov 30 15:00 UTC: tokyo's first cycle has begun.
    cli.ok(&["run", "cycle-close", "--now", "2025-12-01T00:00:00Z"]);
    // 2025-12-31 20:00 UTC is Jan 1 05:00 in Tokyo (tokyo's Jan 1 boundary has come)
    // and Dec 31 12:00 in Los Angeles (la's first day has begun). One run, two years:
    // each invoice is dated on its own account's calendar and counted in that year.
    cli.ok(&["run", "cycle-close", "--now", "2025-12-31T20:00:00Z"]);
    let s = |x: &str| x.to_string();
    assert_eq!(
        dated(&cli).await,
        [
            // due = invoice date + 30 days
            (
                s("tokyo"),
                s("2025-12-01"),
                s("2025-12-01"),
                s("2025-12-31"),
                s("INV-2025-001")
            ),
            (
                s("la"),
                s("2025-12-31"),
                s("2025-12-31"),
                s("2026-01-30"),
                s("INV-2025-002")
            ),
            (
                s("tokyo"),
                s("2026-01-01"),
                s("2026-01-01"),
                s("2026-01-31"),
                s("INV-2026-001")
            ),
        ]
    );
}

/// Monthly (day 1): 1.00 per API call in arrears and nothing else.
fn usage_plan() -> Value {
    json!({
        "name": "usage", "supportedCurrencies": ["USD"],
        "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "1"}},
        "usageRateCards": [{
            "name": "calls", "displayName": "API calls", "usageMeterId": "api_calls",
            "ratePlan": {"pricingModel": "TIERED", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": "1.00"}]}]
        }]
    })
}

#[tokio::test]
async fn no_invoice_without_a_line_and_nothing_to_collect_is_paid_at_once() {
    let cli = TestEnv::new().await;
    let pool = &cli.db.pool;
    cli.org("acme")
        .number_format("INV-{SEQ:4}")
        .net_terms(30)
        .with_plan(fee_plan())
        .with_plan(usage_plan())
        .await;
    // "detached" pays its fee in advance for January and leaves the plan on Feb 1:
    // nothing in arrears closes there, so there is no Feb 1 invoice.
    cli.account("acme", "detached").on_plan("fee").await;
    sqlx::query(
        "UPDATE plan_associations SET effective_until = '2026-02-01' WHERE account_id = 'detached'",
    )
    .execute(pool)
    .await
    .unwrap();
    // "idle" uses nothing in January: 0 calls x 1.00 = 0.00, finalized straight to PAID.
    cli.account("acme", "idle").on_plan("usage").await;
    cli.ok(&["run", "cycle-close", "--now", "2026-01-01T00:00:00Z"]);
    cli.ok(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    let rows = fixtures::invoices(pool, "acme").await;
    let summary: Vec<(&str, &str, &str, Option<&str>, rust_decimal::Decimal)> = rows
        .iter()
        .map(|r| {
            (
                r.0.as_str(),
                r.1.as_str(),
                r.2.as_str(),
                r.3.as_deref(),
                r.6.parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "detached",
                "2026-01-01",
                "DUE",
                Some("INV-0001"),
                dec!(10.00)
            ),
            ("idle", "2026-02-01", "PAID", Some("INV-0002"), dec!(0)),
        ],
        "no Feb 1 invoice for the detached account; the idle one paid at once"
    );
    let paid_at: Option<String> =
        sqlx::query_scalar("SELECT paid_at::text FROM invoices WHERE account_id = 'idle'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(paid_at.as_deref(), Some("2026-02-01 00:00:00+00"));
    // The document says so: paid, nothing to pay, no due date to meet.
    let pdf = cli.scratch.path().join("idle.pdf");
    cli.ok(&[
        "invoice",
        "show",
        "--org",
        "acme",
        "INV-0002",
        "--pdf",
        pdf.to_str().unwrap(),
    ]);
    let text = pdf_text(&pdf);
    assert!(text.contains("PAID"), "{text}");
    assert!(text.contains("Paid: nothing to pay"), "{text}");
    assert!(!text.contains("Due by"), "{text}");
}

/// The text of a PDF (poppler's pdftotext, layout kept).
pub fn pdf_text(pdf: &std::path::Path) -> String {
    let out = std::process::Command::new("pdftotext")
        .args(["-layout", pdf.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext (poppler-utils) installed");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn every_output_gives_the_one_total_of_an_invoice_with_a_true_up_and_credits() {
    let cli = TestEnv::new().await;
    let pool = &cli.db.pool;
    let mut plan = usage_plan();
    plan["minimumCommitment"] = json!({"displayName": "Monthly minimum",
                                       "rateValues": [{"currency": "USD", "rate": 1000}]});
    cli.org("acme")
        .number_format("INV-{SEQ:4}")
        .net_terms(30)
        .with_plan(plan)
        .await;
    cli.account("acme", "a1").on_plan("usage").await;
    for sql in [
        "UPDATE accounts SET billing_emails = '{ap@a1.test}' WHERE id = 'a1'",
        "UPDATE organisations SET billing_email = 'billing@acme.test'",
    ] {
        sqlx::query(sql).execute(pool).await.unwrap();
    }
    fixtures::event(pool, "acme", "e1", "a1", "2026-01-15T00:00:00Z", dec!(600)).await;
    cli.ok(&[
        "credit",
        "grant",
        "--org",
        "acme",
        "--account",
        "a1",
        "--amount",
        "100.00",
        "--currency",
        "USD",
        "--from",
        "2026-01-01",
        "--key",
        "k1",
    ]);
    cli.ok(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    // 600 calls x 1.00 = 600.00; true-up 1000.00 - 600.00 = 400.00; credits 100.00:
    // total 600.00 + 400.00 - 100.00 = 900.00.
    let inv = invoice_at(&cli, "2026-02-01");
    let lines = &inv["lines"];
    assert_eq!(
        (
            lines["subTotal"]["amount"].as_str(),
            lines["trueUp"]["amount"].as_str(),
            lines["totalCredits"]["amount"].as_str(),
            lines["total"]["amount"].as_str(),
            lines["grandTotal"]["amount"].as_str(),
            inv["total"].as_str(),
        ),
        (
            Some("600.00"),
            Some("400.00"),
            Some("100.00"),
            Some("900.00"),
            Some("900.00"),
            Some("900.00")
        )
    );
    // The grand total adds up: the group, the true-up, minus the credits.
    let children: Vec<(&str, &str)> = lines["grandTotal"]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["kind"].as_str().unwrap(), c["amount"].as_str().unwrap()))
        .collect();
    assert_eq!(
        children,
        [
            ("GROUP", "600.00"),
            ("TRUE_UP", "400.00"),
            ("TOTAL_CREDITS", "-100.00")
        ]
    );
    // Text.
    let text = cli.ok(&["invoice", "show", "--org", "acme", "INV-0001"]);
    assert!(text.contains("total:        900.00 USD"), "{text}");
    assert!(text.contains("credits:      100.00 USD"), "{text}");
    // HTML and PDF: every line that says "Total" or "Amount due" says $900.00.
    let (pdf, html) = (
        cli.scratch.path().join("i.pdf"),
        cli.scratch.path().join("i.html"),
    );
    cli.ok(&[
        "invoice",
        "show",
        "--org",
        "acme",
        "INV-0001",
        "--pdf",
        pdf.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    let pdf_text = pdf_text(&pdf);
    let totals: Vec<&str> = pdf_text
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            t.starts_with("Total") || t.contains("Amount due")
        })
        .collect();
    assert!(totals.len() >= 2, "{pdf_text}");
    for l in &totals {
        assert!(l.contains("$900.00"), "{l:?} in\n{pdf_text}");
    }
    // Credits were applied: their row shows the deduction (a PDF without credits
    // has no such row, tests/it/documents.rs).
    let credits = pdf_text
        .lines()
        .find(|l| l.trim_start().starts_with("Credits"))
        .unwrap_or_else(|| panic!("no Credits row in\n{pdf_text}"));
    assert!(credits.ends_with("-$100.00"), "{credits:?}");
    let html = std::fs::read_to_string(&html).unwrap();
    assert!(html.contains("$900.00"), "{html}");
    assert!(!html.contains("$1,000.00"), "no other total: {html}");
    // Email.
    let outbox = cli.scratch.path().join("data").join("outbox");
    let eml = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .next()
        .expect("the invoice email");
    // Formatted as the PDF formats it.
    assert!(eml.contains("Amount due:     $900.00"), "{eml}");
    let pdf_date = pdf_text
        .lines()
        .find_map(|l| l.split_once("Invoice date").map(|(_, d)| d.trim()))
        .expect("the PDF's invoice date");
    assert!(
        eml.contains(&format!("Invoice date:   {pdf_date}\r\n")),
        "{pdf_date:?} in {eml}"
    );
}
