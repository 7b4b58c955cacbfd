//! Seats changed mid-cycle on an IN_ADVANCE license (issue 17 item 4), the license's
//! `maxQuantity` (DO_NOTHING refuses the update), and the plan flags `plan apply`
//! refuses (item 7), through the real `billrun` binary.

use serde_json::{json, Value};

use crate::env::TestEnv;
use crate::harness::*;

/// Seats at 10.00 each per month, billed in advance, prorated by day, at most 20,
/// removed seats refunded as credits; no grace period.
fn seats_plan() -> Value {
    json!({
        "name": "seats", "supportedCurrencies": ["USD"],
        "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "1"}, "gracePeriod": 0},
        "licenseRateCards": [{
            "id": "seats", "name": "seats", "displayName": "Seats", "invoiceTiming": "IN_ADVANCE",
            "enableProration": true, "proratedRefundMode": "CREDITS",
            "config": {"maxQuantity": 20, "maxQuantityBreachAction": "DO_NOTHING"},
            "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": 10}]}]
        }]
    })
}

/// `billrun license update` of account a1's seats.
fn seats(env: &TestEnv, kind: &str, qty: &str, from: &str, key: &str) -> std::process::Output {
    env.cli().run(&[
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
    ])
}

fn close(env: &TestEnv, now: &str) {
    let out = env.cli().run(&["run", "cycle-close", "--now", now]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// (total, lines JSON) of the invoice at `boundary`.
async fn invoice(env: &TestEnv, boundary: &str) -> (String, String, Value) {
    sqlx::query_as::<_, (String, String, Value)>(
        "SELECT id, total::text, lines FROM invoices WHERE boundary = $1::date",
    )
    .bind(boundary)
    .fetch_one(env.pool())
    .await
    .unwrap()
}

/// Every (description, amount) of a stored invoice's card lines.
fn card_lines(lines: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<(String, String)>) {
        if v.get("cardName").is_some_and(|n| !n.is_null()) {
            let text = v["description"].as_str().unwrap_or_default().to_string();
            let amount = match &v["amount"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.push((text, amount));
        }
        for key in ["grandTotal", "children"] {
            match v.get(key) {
                Some(Value::Array(items)) => items.iter().for_each(|i| walk(i, out)),
                Some(o @ Value::Object(_)) => walk(o, out),
                _ => {}
            }
        }
    }
    walk(lines, &mut out);
    out
}

#[tokio::test]
async fn seats_added_mid_cycle_are_charged_on_the_next_invoice_and_removed_ones_refunded_as_credits(
) {
    let env = TestEnv::new().await;
    env.org("acme").with_plan(seats_plan()).await;
    env.account("acme", "a1")
        .on_plan("seats")
        .from("2026-04-01")
        .await;
    let ok = |o: std::process::Output| assert!(o.status.success(), "{}", stderr(&o));

    // April (30 days) opens with 10 seats: 10 x 10.00 = 100.00 in advance.
    ok(seats(&env, "ABSOLUTE", "10", "2026-04-01", "k1"));
    close(&env, "2026-04-01T00:00:00Z");
    assert_eq!(invoice(&env, "2026-04-01").await.1, "100.00");

    // 15 seats from April 16, day 16 of 30: days 16..30 are 15 days, so the 5 seats
    // added cost 5 x 10.00 x 15/30 = 25.00 on the next invoice, with May's 15 seats
    // in advance, 15 x 10.00 = 150.00: 175.00.
    ok(seats(&env, "ABSOLUTE", "15", "2026-04-16", "k2"));
    close(&env, "2026-05-01T00:00:00Z");
    let (_, total, lines) = invoice(&env, "2026-05-01").await;
    assert_eq!(total, "175.00");
    let lines = card_lines(&lines);
    assert!(
        lines.contains(&("Seats added: 5 x 15/30 days".into(), "25.00".into())),
        "{lines:?}"
    );

    // June (30 days) opens with 15 seats (150.00); 10 from June 16: 5 seats x 10.00 x
    // 15/30 = 25.00 refunded as credits, granted with the July invoice (July's 10 seats
    // in advance, 100.00), which they pay once it is finalized: 100.00 - 25.00 = 75.00.
    close(&env, "2026-06-01T00:00:00Z");
    assert_eq!(invoice(&env, "2026-06-01").await.1, "150.00");
    ok(seats(&env, "ABSOLUTE", "10", "2026-06-16", "k3"));
    close(&env, "2026-07-01T00:00:00Z");
    close(&env, "2026-07-01T00:00:00Z"); // a second run grants nothing twice
    let (july, total, lines) = invoice(&env, "2026-07-01").await;
    assert!(
        !card_lines(&lines)
            .iter()
            .any(|(d, _)| d.starts_with("Seats removed")),
        "CREDITS refunds no line: {lines}"
    );
    type Grant = (String, String, Option<String>, Option<String>, String);
    let grants: Vec<Grant> = sqlx::query_as(
        "SELECT amount::text, purpose, source_invoice_id, source_card, effective_from::text
         FROM credit_grants WHERE account_id = 'a1'",
    )
    .fetch_all(env.pool())
    .await
    .unwrap();
    assert_eq!(
        grants,
        [(
            "25.00".into(),
            "Seats: Seats removed: 5 x 15/30 days".into(),
            Some(july.clone()),
            Some("seats".into()),
            "2026-07-01 00:00:00+00".into()
        )]
    );
    let granted: Vec<String> =
        sqlx::query_scalar("SELECT amount::text FROM credit_transactions WHERE kind = 'GRANTED'")
            .fetch_all(env.pool())
            .await
            .unwrap();
    assert_eq!(granted, ["25.00"]);
    assert_eq!(total, "75.00", "{lines}");
}

#[tokio::test]
async fn a_license_update_above_max_quantity_is_refused_naming_the_quantity_and_the_max() {
    let env = TestEnv::new().await;
    env.org("acme").with_plan(seats_plan()).await;
    env.account("acme", "a1").on_plan("seats").await;
    assert!(seats(&env, "ABSOLUTE", "20", "2026-01-01", "k1")
        .status
        .success());
    for (kind, qty, makes) in [("ABSOLUTE", "21", "21"), ("RELATIVE", "1", "21")] {
        let out = seats(&env, kind, qty, "2026-01-10", &format!("k-{kind}"));
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "quantity: {kind} {qty} would make license \"seats\" of account a1 {makes}"
            )) && err.contains("above the maxQuantity 20 of rate card \"seats\" of plan seats v1"),
            "{err}"
        );
    }
    // Nothing was recorded by the refused updates; 20 seats is still allowed.
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM license_updates")
        .fetch_one(env.pool())
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert!(seats(&env, "RELATIVE", "-5", "2026-01-10", "k2")
        .status
        .success());
    assert!(seats(&env, "RELATIVE", "5", "2026-01-20", "k3")
        .status
        .success());
}

#[tokio::test]
async fn plan_apply_refuses_plan_flags_and_wallet_refunds_with_the_reason() {
    let c = Cli::new().await;
    crate::fixtures::org(&c.db.pool, "acme", "UTC", "INV-{YYYY}-{SEQ:4}", 15).await;
    let cases = [
        ("deferredRevenue", json!(true), "deferredRevenue: not supported by billrun (revenue is computed when a cycle closes)"),
        ("allowOngoingCycleUpdates", json!(true), "allowOngoingCycleUpdates: not supported by billrun (a finalized version never changes)"),
    ];
    for (flag, value, message) in cases {
        let mut plan = seats_plan();
        plan[flag] = value;
        let file = c.write("plan.json", &plan.to_string());
        let err = c.fails(&["plan", "apply", "--org", "acme", &file]);
        assert!(err.contains(message), "{err}");
    }
    let mut plan = seats_plan();
    plan["licenseRateCards"][0]["proratedRefundMode"] = json!("WALLET");
    let file = c.write("plan.json", &plan.to_string());
    let err = c.fails(&["plan", "apply", "--org", "acme", &file]);
    assert!(
        err.contains("licenseRateCards[0].proratedRefundMode: WALLET is not supported: billrun has no wallet"),
        "{err}"
    );
}

#[tokio::test]
async fn http_license_updates_above_max_quantity_are_refused_and_audited() {
    use crate::http::{audit, row, token, Server};
    let env = TestEnv::new().await;
    env.org("acme").with_plan(seats_plan()).await;
    env.account("acme", "a1").on_plan("seats").await;
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "admin", "administrator");
    let update = |key: &str, qty: u32| {
        json!({"licenseId": "seats", "accountId": "a1", "updateType": "ABSOLUTE",
               "quantity": qty, "effectiveFrom": "2026-01-05T00:00:00Z", "idempotencyKey": key})
    };
    let (status, body) = server
        .post("/license_updates", &admin, &update("k1", 20))
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    let (status, body) = server
        .post("/license_updates", &admin, &update("k2", 25))
        .await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("ABSOLUTE 25 would make license \"seats\" of account a1 25")
            && message.contains("above the maxQuantity 20"),
        "{message}"
    );
    assert_eq!(
        audit(&env, &["license_update.create"]).await,
        [
            row("license_update.create", "a1/seats", "SUCCESS"),
            row("license_update.create", "a1/seats", "FAILURE"),
        ]
    );
}
