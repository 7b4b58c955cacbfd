//! Features and entitlements end to end (issue 17 items 1 and 2, README
//! "Entitlements"): a feature counting the `api` schema's `calls`, an allowance of
//! 1,000 calls a month sold for 49.00, and an overage card rating calls beyond it
//! (TIERED: 0.05 each for the first 300 over, 0.02 after); the overage billed at
//! cycle close, a PREPAID allowance granted only once its invoice is paid, and the
//! entitlement check of the CLI.

use rust_decimal_macros::dec;
use serde_json::{json, Value};

use crate::env::TestEnv;

/// The plan `api` (monthly from day 1, no grace): the allowance card with `timing`,
/// and the overage card.
fn api_plan(timing: &str) -> Value {
    json!({
        "name": "api", "supportedCurrencies": ["USD"],
        "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "1"}, "gracePeriod": 0},
        "billingEntitlementRateCards": [{
            "name": "api_allowance", "displayName": "API calls included", "featureId": "api_calls",
            "invoiceTiming": timing,
            "featureConfigs": [{"effectiveUntil": "P1M", "featureCreditLimit": 1000}],
            "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "FLAT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": 49}]}]
        }],
        "entitlementOverageRateCards": [{
            "name": "api_overage", "displayName": "API calls over", "featureId": "api_calls",
            "ratePlan": {"pricingModel": "TIERED", "slabs": [
                {"order": 1, "startAfter": 0, "priceType": "PER_UNIT"},
                {"order": 2, "startAfter": 300, "priceType": "PER_UNIT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": "0.05"}, {"order": 2, "rate": "0.02"}]}]
        }]
    })
}

/// acme with the plan, the feature `api_calls` (the `api` schema's `calls`) and the
/// account a1 on the plan from 2026-01-01 with 1,000 + 400 calls in January.
async fn setup(env: &TestEnv, timing: &str) {
    env.org("acme")
        .number_format("INV-{SEQ:4}")
        .net_terms(30)
        .with_plan(api_plan(timing))
        .await;
    env.account("acme", "a1")
        .on_plan("api")
        .with_usage("e1", "2026-01-10T00:00:00Z", dec!(1000))
        .with_usage("e2", "2026-01-20T00:00:00Z", dec!(400))
        .await;
    env.ok(&[
        "feature",
        "create",
        "--org",
        "acme",
        "api_calls",
        "--schema",
        "api.calls",
    ]);
}

fn check(env: &TestEnv, at: &str) -> Value {
    env.json(&[
        "entitlement",
        "check",
        "--org",
        "acme",
        "--account",
        "a1",
        "--feature",
        "api_calls",
        "--at",
        at,
        "--json",
    ])
}

/// (card name, amount) of an invoice's card lines, from `invoice show --json`.
fn card_amounts(env: &TestEnv, number: &str) -> Vec<(String, String)> {
    let shown = env.json(&["invoice", "show", "--org", "acme", number, "--json"]);
    let mut out = Vec::new();
    let mut stack = vec![shown["lines"].clone()];
    while let Some(v) = stack.pop() {
        if let (Some(card), Some(kind)) = (v["cardName"].as_str(), v["cardKind"].as_str()) {
            if kind.contains("ENTITLEMENT") {
                out.push((
                    card.to_string(),
                    v["amount"].as_str().unwrap_or("").to_string(),
                ));
            }
        }
        for key in ["children", "groups"] {
            if let Some(children) = v[key].as_array() {
                stack.extend(children.iter().cloned());
            }
        }
        if let Some(obj) = v.as_object() {
            for (k, child) in obj {
                if k != "children" && k != "groups" && (child.is_object() || child.is_array()) {
                    if let Some(items) = child.as_array() {
                        stack.extend(items.iter().cloned());
                    } else {
                        stack.push(child.clone());
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn invoices(env: &TestEnv) -> Vec<Value> {
    env.json(&["invoice", "list", "--org", "acme", "--json"])
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn an_allowance_of_1000_with_1400_used_bills_400_over_at_the_overage_slabs() {
    let env = TestEnv::new().await;
    setup(&env, "IN_ADVANCE").await;
    env.ok(&["run", "cycle-close", "--now", "2026-01-01T00:00:00Z"]);
    // The opening invoice sells January's allowance: one FLAT slab of 49.00.
    let list = invoices(&env);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["total"], "49.00");

    // Mid-January, 1,400 calls of 1,000: entitled (the overage is unlimited), 400 over.
    let e = check(&env, "2026-01-25T00:00:00Z");
    assert_eq!(
        (&e["granted"], &e["used"], &e["balance"], &e["usedOverage"]),
        (&json!("1000"), &json!("1400"), &json!("0"), &json!("400")),
        "{e}"
    );
    assert_eq!(e["overageLimit"], Value::Null);
    assert_eq!(e["entitled"], true);

    env.ok(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    let list = invoices(&env);
    assert_eq!(list.len(), 2);
    let feb = list
        .iter()
        .find(|i| i["total"] != "49.00")
        .expect("the Feb 1 invoice");
    // January's overage: 400 over = 300 x 0.05 + 100 x 0.02 = 15.00 + 2.00 = 17.00;
    // February's allowance 49.00; total 17.00 + 49.00 = 66.00.
    assert_eq!(feb["total"], "66.00", "{feb}");
    let number = feb["number"].as_str().unwrap();
    assert_eq!(
        card_amounts(&env, number),
        [
            ("api_allowance".to_string(), "49.00".to_string()),
            ("api_overage".to_string(), "17.00".to_string()),
        ]
    );
}

#[tokio::test]
async fn a_prepaid_allowance_is_granted_only_once_its_invoice_is_paid() {
    let env = TestEnv::new().await;
    setup(&env, "PREPAID").await;
    env.ok(&["run", "cycle-close", "--now", "2026-01-01T00:00:00Z"]);
    let list = invoices(&env);
    assert_eq!(list[0]["total"], "49.00", "the allowance is sold up front");
    let number = list[0]["number"].as_str().unwrap().to_string();

    // Not paid: nothing granted, all 1,400 calls are overage.
    let e = check(&env, "2026-01-25T00:00:00Z");
    assert_eq!(
        (&e["granted"], &e["usedOverage"]),
        (&json!("0"), &json!("1400"))
    );
    let grants = env.json(&[
        "entitlement",
        "grants",
        "--org",
        "acme",
        "--account",
        "a1",
        "--json",
    ]);
    assert_eq!(grants, json!([]));

    env.ok(&["invoice", "mark-paid", "--org", "acme", &number]);
    let id: String = sqlx::query_scalar("SELECT id FROM invoices")
        .fetch_one(env.pool())
        .await
        .unwrap();
    let payload = json!({"organisation": "acme", "invoice": id}).to_string();
    let ran = env.json(&["run", "invoice-paid", &payload, "--json"]);
    assert_eq!(ran["result"]["entitlementGrantsCreated"], 1, "{ran}");
    let again = env.json(&["run", "invoice-paid", &payload, "--json"]);
    assert_eq!(
        again["result"]["entitlementGrantsCreated"], 0,
        "granted once"
    );

    // Paid: 1,000 granted for January, 400 over.
    let e = check(&env, "2026-01-25T00:00:00Z");
    assert_eq!(
        (&e["granted"], &e["balance"], &e["usedOverage"]),
        (&json!("1000"), &json!("0"), &json!("400")),
        "{e}"
    );
    let grants = env.json(&[
        "entitlement",
        "grants",
        "--org",
        "acme",
        "--account",
        "a1",
        "--json",
    ]);
    assert_eq!(grants[0]["quantity"], "1000");
    assert_eq!(grants[0]["effectiveFrom"], "2026-01-01T00:00:00Z");
    assert_eq!(grants[0]["effectiveUntil"], "2026-02-01T00:00:00Z");

    // At close, the PREPAID grant counts: 400 over = 17.00 (as above), and
    // February's allowance 49.00: 66.00.
    env.ok(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    let list = invoices(&env);
    let feb = list
        .iter()
        .find(|i| i["number"] != number.as_str())
        .unwrap();
    assert_eq!(feb["total"], "66.00", "{feb}");
}

#[tokio::test]
async fn features_are_listed_shown_and_checked_with_clear_errors() {
    let env = TestEnv::new().await;
    setup(&env, "IN_ADVANCE").await;
    let shown = env.json(&["feature", "show", "--org", "acme", "api_calls", "--json"]);
    assert_eq!(
        shown["schemaAssociations"],
        json!([{"schemaName": "api", "attributeName": "calls"}])
    );
    let listed = env.json(&["feature", "list", "--org", "acme", "--json"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let err = env.fails(&[
        "feature",
        "create",
        "--org",
        "acme",
        "bad",
        "--schema",
        "api.bytes",
    ]);
    assert!(
        err.contains("schemaAssociations[0].attributeName") && err.contains("calls"),
        "{err}"
    );
    let err = env.fails(&[
        "feature",
        "create",
        "--org",
        "acme",
        "api_calls",
        "--schema",
        "api.calls",
    ]);
    assert!(err.contains("exists already"), "{err}");
    let err = env.fails(&[
        "entitlement",
        "check",
        "--org",
        "acme",
        "--account",
        "a1",
        "--feature",
        "nope",
    ]);
    assert!(err.contains("feature \"nope\" does not exist"), "{err}");
    // Before the bill run opened a cycle, nothing is granted: not entitled.
    let e = check(&env, "2026-01-25T00:00:00Z");
    assert_eq!(
        (&e["granted"], &e["entitled"]),
        (&json!("0"), &json!(false))
    );
}
