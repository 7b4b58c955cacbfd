//! Voiding an invoice: what it does to the credits the invoice used and sold, its
//! documents, and re-issuing its cycle. Values worked out by hand in the comments.

use rust_decimal_macros::dec;
use serde_json::{json, Value};

use crate::env::TestEnv;
use crate::fixtures;
use crate::harness::*;

/// Monthly (day 1, no grace), a 20.00 support fee in advance; with `usage`, 1.00 per
/// API call; with `credits`, a credit-grant card selling 50 credits for 10.00 in
/// advance every month (no expiry, usage lines only).
fn plan(usage: bool, credits: bool) -> Value {
    let mut p = json!({
        "name": "fee", "supportedCurrencies": ["USD"],
        "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "1"}, "gracePeriod": 0},
        "fixedFeeRateCards": [{
            "name": "support", "displayName": "Support", "invoiceTiming": "IN_ADVANCE", "type": "RECURRING",
            "recurrenceConfig": {"interval": 1, "offset": 0},
            "rateValues": [{"currency": "USD", "rate": "20.00"}]
        }]
    });
    if usage {
        p["usageRateCards"] = json!([{
            "name": "api_calls", "displayName": "API calls", "usageMeterId": "api_calls",
            "ratePlan": {"pricingModel": "TIERED", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": "1.00"}]}]
        }]);
    }
    if credits {
        p["creditGrantRateCards"] = json!([{
            "id": "monthly_credits", "name": "monthly_credits", "displayName": "Monthly credits",
            "invoiceTiming": "IN_ADVANCE", "type": "RECURRING", "recurrenceConfig": {"interval": 1, "offset": 0},
            "grantDetails": {"priority": 1, "expiryType": "NO_EXPIRY",
                             "applicableEntityIds": ["ALL_USAGE_METER_RATE_CARDS"]},
            "rateDetails": {"pricingModel": "TIERED", "currencySlabRateDetails": [
                {"currency": "USD", "creditAmount": 50, "slabDetails": [{"startAfter": 0, "priceType": "FLAT", "rate": 10}]}]}
        }]);
    }
    p
}

async fn setup(usage: bool, credits: bool) -> TestEnv {
    let env = TestEnv::new().await;
    env.org("acme")
        .number_format("INV-{SEQ:4}")
        .net_terms(30)
        .with_plan(plan(usage, credits))
        .await;
    env.account("acme", "a1").on_plan("fee").await;
    env
}

impl Cli {
    fn balance(&self) -> Value {
        self.json(&[
            "credit",
            "balance",
            "--org",
            "acme",
            "--account",
            "a1",
            "--json",
        ])
    }
    fn ledger(&self) -> Vec<Value> {
        self.json(&[
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
        .clone()
    }
    fn invoice_at(&self, boundary: &str) -> Value {
        self.json(&["invoice", "list", "--org", "acme", "--json"])
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["boundary"] == boundary && i["status"] != "VOID")
            .cloned()
            .unwrap_or_else(|| panic!("a live invoice at {boundary}"))
    }
    fn void(&self, number: &str, at: &str) -> Value {
        self.json(&[
            "invoice", "void", "--org", "acme", number, "--at", at, "--json",
        ])
    }
}

/// (kind, amount, invoice) of each ledger entry, in the ledger's order.
fn moves(ledger: &[Value]) -> Vec<(String, String, String)> {
    ledger
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["amount"].as_str().unwrap().to_string(),
                e["invoiceId"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn voiding_an_invoice_gives_back_the_credits_it_consumed() {
    let cli = setup(false, false).await;
    // 50.00 from 2025-12-01, no expiry.
    cli.ok(&[
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
        "2025-12-01",
        "--key",
        "welcome",
    ]);
    cli.ok(&["run", "cycle-close", "--now", "2026-01-01T00:00:00Z"]);
    // January's fee 20.00 in advance, paid by the grant: 20.00 - 20.00 = 0.00 due,
    // 50.00 - 20.00 = 30.00 left.
    let jan = cli.invoice_at("2026-01-01");
    assert_eq!(
        (
            jan["subTotal"].as_str(),
            jan["credits"].as_str(),
            jan["total"].as_str()
        ),
        (Some("20.00"), Some("20.00"), Some("0.00"))
    );
    assert_eq!(cli.balance(), json!({"USD": "30.00"}));

    let out = cli.void(jan["number"].as_str().unwrap(), "2026-01-10T00:00:00Z");
    assert_eq!(out["changed"], true);
    assert_eq!(out["invoice"]["status"], "VOID");
    assert_eq!(out["credits"]["restored"], "20.00");
    // 30.00 + 20.00 given back = 50.00.
    assert_eq!(cli.balance(), json!({"USD": "50.00"}));
    let id = jan["id"].as_str().unwrap().to_string();
    assert_eq!(
        moves(&cli.ledger()),
        [
            ("GRANTED".into(), "50.00".into(), "-".into()),
            ("CONSUMED".into(), "20.00".into(), id.clone()),
            ("RESTORED".into(), "20.00".into(), id.clone()),
        ]
    );
    // Voiding again does nothing more.
    let again = cli.void(&id, "2026-01-11T00:00:00Z");
    assert_eq!(again["changed"], false);
    assert_eq!(cli.balance(), json!({"USD": "50.00"}));
    assert_eq!(cli.ledger().len(), 3);

    // February's fee is paid from the restored balance: 50.00 - 20.00 = 30.00.
    cli.ok(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    let feb = cli.invoice_at("2026-02-01");
    assert_eq!(
        (feb["credits"].as_str(), feb["total"].as_str()),
        (Some("20.00"), Some("0.00"))
    );
    assert_eq!(cli.balance(), json!({"USD": "30.00"}));
}

#[tokio::test]
async fn voiding_revokes_the_unused_credits_an_invoice_sold_and_keeps_what_was_used() {
    let cli = setup(true, true).await;
    cli.ok(&["run", "cycle-close", "--now", "2026-01-01T00:00:00Z"]);
    // Jan 1: support 20.00 + 50 credits for 10.00 = 30.00 due; grant A of 50.00.
    let jan = cli.invoice_at("2026-01-01");
    assert_eq!(jan["total"], "30.00");
    fixtures::event(
        &cli.db.pool,
        "acme",
        "e1",
        "a1",
        "2026-01-15T00:00:00Z",
        dec!(30),
    )
    .await;
    cli.ok(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    // Feb 1: 30 calls x 1.00 = 30.00 paid by A (A: 50.00 - 30.00 = 20.00 left),
    // support 20.00 + credits 10.00 (grant B of 50.00): 60.00 - 30.00 = 30.00 due.
    let feb = cli.invoice_at("2026-02-01");
    assert_eq!(
        (
            feb["subTotal"].as_str(),
            feb["credits"].as_str(),
            feb["total"].as_str()
        ),
        (Some("60.00"), Some("30.00"), Some("30.00"))
    );
    // A 20.00 + B 50.00.
    assert_eq!(cli.balance(), json!({"USD": "70.00"}));

    // Void Jan 1 first: A, which it sold, has 20.00 unused (revoked) and 30.00
    // already used on Feb 1 (kept: Feb 1 does not change). Left: B 50.00.
    let out = cli.void(jan["number"].as_str().unwrap(), "2026-02-10T00:00:00Z");
    assert_eq!(
        (
            out["credits"]["restored"].as_str(),
            out["credits"]["revoked"].as_str(),
            out["credits"]["soldAlreadyUsed"].as_str()
        ),
        (Some("0.00"), Some("20.00"), Some("30.00"))
    );
    assert_eq!(cli.balance(), json!({"USD": "50.00"}));
    assert_eq!(cli.invoice_at("2026-02-01")["total"], "30.00");

    // Then Feb 1: the 30.00 it consumed go back to A, which is VOIDED since: voided
    // again at once (balance +30.00 - 30.00 = 0); B, sold by Feb 1 and unused, is
    // revoked (50.00). Nothing usable is left.
    let out = cli.void(feb["number"].as_str().unwrap(), "2026-02-11T00:00:00Z");
    assert_eq!(
        (
            out["credits"]["restored"].as_str(),
            out["credits"]["restoredUnusable"].as_str(),
            out["credits"]["revoked"].as_str(),
            out["credits"]["soldAlreadyUsed"].as_str()
        ),
        (Some("30.00"), Some("30.00"), Some("50.00"), Some("0.00"))
    );
    assert_eq!(cli.balance(), json!({}));
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
    assert_eq!(state, [("VOIDED", "0.00"), ("VOIDED", "0.00")]);
    let (jan_id, feb_id) = (
        jan["id"].as_str().unwrap().to_string(),
        feb["id"].as_str().unwrap().to_string(),
    );
    let s = |k: &str, a: &str, i: &str| (k.to_string(), a.to_string(), i.to_string());
    // In the order the movements took effect: A granted Jan 1, B Feb 1, A consumed
    // on Feb 1, then the two voids.
    assert_eq!(
        moves(&cli.ledger()),
        [
            s("GRANTED", "50.00", "-"),
            s("GRANTED", "50.00", "-"),
            s("CONSUMED", "30.00", &feb_id),
            s("VOIDED", "20.00", &jan_id),
            s("RESTORED", "30.00", &feb_id),
            s("VOIDED", "30.00", &feb_id),
            s("VOIDED", "50.00", &feb_id),
        ]
    );
}

impl Cli {
    /// The text of an invoice's stored PDF (pdftotext -layout).
    fn pdf_text(&self, number: &str) -> String {
        let pdf = self.scratch.path().join(format!("{number}.pdf"));
        self.ok(&[
            "invoice",
            "show",
            "--org",
            "acme",
            number,
            "--pdf",
            pdf.to_str().unwrap(),
        ]);
        let out = std::process::Command::new("pdftotext")
            .args(["-layout"])
            .arg(&pdf)
            .arg("-")
            .output()
            .expect("pdftotext (apt-get install poppler-utils)");
        assert!(
            out.status.success(),
            "pdftotext failed on {}",
            pdf.display()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

#[tokio::test]
async fn a_void_invoice_reads_void_and_its_cycle_is_reissued_with_the_next_number() {
    let cli = setup(true, false).await;
    let pool = &cli.db.pool;
    cli.ok(&["run", "cycle-close", "--now", "2026-01-01T00:00:00Z"]);
    fixtures::event(pool, "acme", "e1", "a1", "2026-01-15T00:00:00Z", dec!(30)).await;
    cli.ok(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    // INV-0002: 30 calls x 1.00 = 30.00 + February's support 20.00 = 50.00, due
    // Feb 1 + 30 days = Mar 3.
    let feb = cli.json(&["invoice", "show", "--org", "acme", "INV-0002", "--json"]);
    assert_eq!(
        (feb["total"].as_str(), feb["dueDate"].as_str()),
        (Some("50.00"), Some("2026-03-03"))
    );
    let before = cli.pdf_text("INV-0002");
    assert!(
        before.contains("Due by") && !before.contains("VOID"),
        "{before}"
    );

    // Void: the stored PDF is rendered again at once and no longer reads payable.
    cli.void("INV-0002", "2026-02-05T00:00:00Z");
    let after = cli.pdf_text("INV-0002");
    for gone in ["Due by", "Due date"] {
        assert!(!after.contains(gone), "{gone:?} in the VOID PDF:\n{after}");
    }
    assert!(
        after.contains("VOID") && after.contains("INV-0002"),
        "{after}"
    );
    // Nothing due (the band and the totals); the lines and total are still shown.
    let due: Vec<&str> = after.lines().filter(|l| l.contains("Amount due")).collect();
    assert!(
        !due.is_empty()
            && due
                .iter()
                .all(|l| l.contains("$0.00") && !l.contains("$50.00")),
        "{due:?}"
    );
    assert!(after.contains("$50.00"), "{after}");

    // Usage that arrived late for January (10 calls) is billed by the reissue,
    // recomputed from current data: 40 x 1.00 = 40.00 + support 20.00 = 60.00.
    fixtures::event(pool, "acme", "e2", "a1", "2026-01-20T00:00:00Z", dec!(10)).await;
    // Only a VOID invoice can be re-issued.
    let e = cli.fails(&["invoice", "reissue", "--org", "acme", "INV-0001"]);
    assert!(e.contains("reissue applies only to VOID invoices"), "{e}");
    let new = cli.json(&[
        "invoice",
        "reissue",
        "--org",
        "acme",
        "INV-0002",
        "--at",
        "2026-02-06T00:00:00Z",
        "--json",
    ]);
    // The next number; invoice date Feb 6, due Feb 6 + 30 days = Mar 8.
    assert_eq!(
        (
            new["number"].as_str(),
            new["status"].as_str(),
            new["total"].as_str(),
            new["invoiceDate"].as_str(),
            new["dueDate"].as_str(),
            new["boundary"].as_str(),
            new["reissueOf"].as_str(),
        ),
        (
            Some("INV-0003"),
            Some("DUE"),
            Some("60.00"),
            Some("2026-02-06"),
            Some("2026-03-08"),
            Some("2026-02-01"),
            feb["id"].as_str(),
        )
    );
    let old = cli.json(&["invoice", "show", "--org", "acme", "INV-0002", "--json"]);
    assert_eq!(old["reissuedBy"], new["id"]);
    assert_eq!(old["status"], "VOID");
    let text = cli.ok(&["invoice", "show", "--org", "acme", "INV-0002"]);
    assert!(
        text.contains(&format!("re-issued by: {}", new["id"].as_str().unwrap())),
        "{text}"
    );
    let doc = cli.pdf_text("INV-0003");
    assert!(
        doc.contains("INV-0003") && doc.contains("$60.00") && !doc.contains("VOID"),
        "{doc}"
    );
    // Once is enough.
    let e = cli.fails(&["invoice", "reissue", "--org", "acme", "INV-0002"]);
    assert!(e.contains("was already re-issued as INV-0003"), "{e}");

    // The bill run goes on: nothing more for Feb 1, March's invoice is INV-0004.
    cli.ok(&["run", "cycle-close", "--now", "2026-03-01T00:00:00Z"]);
    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT boundary::text, status, number FROM invoices WHERE org_id = 'acme' ORDER BY number",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let s = |b: &str, st: &str, n: &str| (b.to_string(), st.to_string(), Some(n.to_string()));
    assert_eq!(
        rows,
        [
            s("2026-01-01", "DUE", "INV-0001"),
            s("2026-02-01", "VOID", "INV-0002"),
            s("2026-02-01", "DUE", "INV-0003"),
            s("2026-03-01", "DUE", "INV-0004"),
        ]
    );
    // At most one live invoice per cycle, at the database.
    let e = sqlx::query("UPDATE invoices SET status = 'DUE' WHERE number = 'INV-0002'")
        .execute(pool)
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("invoices_one_live_per_account_cycle"),
        "{e}"
    );
}

#[tokio::test]
async fn voiding_a_paid_invoice_with_nothing_paid_revokes_its_prepaid_credits() {
    let cli = TestEnv::new().await;
    // A free starter pack of 50 credits, PREPAID: granted once its invoice is paid.
    let plan = json!({
        "name": "fee", "supportedCurrencies": ["USD"],
        "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "1"}, "gracePeriod": 0},
        "usageRateCards": plan(true, false)["usageRateCards"].clone(),
        "creditGrantRateCards": [{
            "id": "starter_pack", "name": "starter_pack", "invoiceTiming": "PREPAID", "type": "ONE_TIME",
            "grantDetails": {"priority": 1, "expiryType": "NO_EXPIRY"},
            "rateDetails": {"pricingModel": "TIERED", "currencySlabRateDetails": [
                {"currency": "USD", "creditAmount": 50, "slabDetails": [{"startAfter": 0, "priceType": "FLAT", "rate": 0}]}]}
        }]
    });
    cli.org("acme")
        .number_format("INV-{SEQ:4}")
        .net_terms(30)
        .with_plan(plan)
        .await;
    cli.account("acme", "a1").on_plan("fee").await;
    cli.ok(&["run", "cycle-close", "--now", "2026-01-01T00:00:00Z"]);
    // The pack's line is 0.00: the invoice's total is 0.00.
    let jan = cli.invoice_at("2026-01-01");
    assert_eq!(jan["total"], "0.00");
    let id = jan["id"].as_str().unwrap().to_string();
    if jan["status"] == "DUE" {
        cli.ok(&["invoice", "mark-paid", "--org", "acme", &id]);
    }
    let paid = json!({"organisation": "acme", "invoice": id}).to_string();
    cli.ok(&["run", "invoice-paid", &paid]);
    assert_eq!(cli.balance(), json!({"USD": "50.00"}));

    // PAID with nothing collected can be voided: the unused 50.00 are revoked.
    let out = cli.void(&id, "2026-01-05T00:00:00Z");
    assert_eq!(out["credits"]["revoked"], "50.00");
    assert_eq!(cli.balance(), json!({}));
    // The payment follow-up run again grants nothing for a VOID invoice.
    let again = cli.json(&["run", "invoice-paid", &paid, "--json"]);
    assert_eq!(again["result"]["grantsCreated"], 0);
    assert_eq!(cli.balance(), json!({}));
}
