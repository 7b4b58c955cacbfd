//! Pricing rules (issue 17 item 5) through a real bill run and `billrun serve`: the
//! rules of the plan change the invoice's lines at rating, and
//! `GET /invoice/{id}/pricing_rules_logs` says which rule changed what; `PUT/GET
//! /v2/price_plans/{id}/pricing_rules` keep them in the plan's DRAFT and refuse a rule
//! that does not parse, naming the rule and the position.

use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

use super::{token, Server};
use crate::env::TestEnv;

/// "10 % off usage when usage exceeds 500.00" (an UPDATE of the usage card) and a
/// surcharge whose condition is false (fewer than 1,000 calls).
fn rules() -> Value {
    json!([
        {"name": "10 % off usage", "order": 1, "invoiceTiming": "IN_ARREARS",
         "condition": "{\">\": [{\"var\": \"revenue.api_calls\"}, 500]}",
         "computation": "{\"*\": [{\"var\": \"revenue.api_calls\"}, 0.9]}",
         "action": {"type": "UPDATE", "target": "api_calls"}},
        {"name": "low usage surcharge", "order": 2,
         "condition": "{\"<\": [{\"var\": \"usage.api_calls\"}, 1000]}",
         "computation": "25",
         "action": {"type": "ADD", "description": "Low usage surcharge"}}
    ])
}

fn dec_of(v: &Value) -> Decimal {
    match v {
        Value::String(s) => s.parse().unwrap(),
        other => other.to_string().parse().unwrap(),
    }
}

#[tokio::test]
async fn pricing_rules_change_the_invoice_at_rating_and_are_logged() {
    let env = TestEnv::new().await;
    let mut plan = crate::fixtures::growth_plan(0);
    plan["pricingRules"] = rules();
    env.org("acme").with_plan(plan).await;
    env.org("globex").await;
    env.account("acme", "a1")
        .with_usage("e1", "2026-01-05T10:00:00Z", dec!(15000))
        .await;
    env.ok(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);

    // January's 15,000 calls: 1,000 x 0.10 + 9,000 x 0.05 + 5,000 x 0.01
    // = 100.00 + 450.00 + 50.00 = 600.00 > 500 -> x 0.9 = 540.00 (an ADJUSTMENT of
    // -60.00 under the card). 15,000 is not < 1,000: no surcharge. The invoice of
    // 2026-02-01: 540.00 + February's platform fee 99.00 = 639.00 (January's 600.00 +
    // 99.00 = 699.00 of charges is above the 300.00 minimum: no true-up).
    let (id, total, lines): (String, Decimal, Value) = sqlx::query_as(
        "SELECT id, total, lines FROM invoices WHERE org_id = 'acme' AND boundary = '2026-02-01'",
    )
    .fetch_one(env.pool())
    .await
    .unwrap();
    assert_eq!(total, dec!(639.00));
    let usage = lines["grandTotal"]["children"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["children"].as_array().unwrap().iter())
        .find(|l| l["cardName"] == "api_calls")
        .unwrap()
        .clone();
    assert_eq!(dec_of(&usage["amount"]), dec!(540.00), "{usage}");
    let adjustment = usage["children"].as_array().unwrap().last().unwrap();
    assert_eq!(adjustment["kind"], "ADJUSTMENT");
    assert_eq!(dec_of(&adjustment["amount"]), dec!(-60.00));
    assert_eq!(adjustment["description"], "pricing rule 10 % off usage");
    assert!(
        usage["description"]
            .as_str()
            .unwrap()
            .contains("pricing rule 10 % off usage: 600.00 -> 540.00"),
        "{usage}"
    );

    let server = Server::start(&env).await;
    let analyst = token(&env, "acme", "analyst", "analyst");
    let (status, body) = server
        .get(&format!("/invoice/{id}/pricing_rules_logs"), Some(&analyst))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let log = body["data"].as_array().unwrap();
    assert_eq!(log.len(), 2, "{body}");
    assert_eq!(log[0]["type"], "CONDITION_TRUE");
    assert_eq!(log[0]["order"], 1);
    assert_eq!(log[0]["changes"]["key"], "api_calls");
    assert_eq!(log[0]["changes"]["keyName"], "API calls");
    assert_eq!(dec_of(&log[0]["changes"]["oldRevenue"]), dec!(600.00));
    assert_eq!(dec_of(&log[0]["changes"]["newRevenue"]), dec!(540.00));
    assert_eq!(dec_of(&log[0]["changes"]["oldUsage"]), dec!(15000));
    assert_eq!(
        log[0]["variablesValue"]["revenue.api_calls"],
        json!({"name": "revenue.api_calls", "value": "600"})
    );
    assert_eq!(log[0]["rule"]["name"], "10 % off usage");
    assert_eq!(log[1]["type"], "CONDITION_FALSE");
    assert_eq!(log[1]["changes"]["key"], "low usage surcharge");
    assert_eq!(dec_of(&log[1]["changes"]["newRevenue"]), dec!(0));
    // The opening invoice of January has no arrears part: no rule ran.
    let (first,): (String,) =
        sqlx::query_as("SELECT id FROM invoices WHERE org_id = 'acme' AND boundary = '2026-01-01'")
            .fetch_one(env.pool())
            .await
            .unwrap();
    let (_, body) = server
        .get(
            &format!("/invoice/{first}/pricing_rules_logs"),
            Some(&analyst),
        )
        .await;
    assert_eq!(body, json!({"data": []}));
    // Another organisation's invoice is not found.
    let other = token(&env, "globex", "analyst", "analyst");
    let (status, _) = server
        .get(&format!("/invoice/{id}/pricing_rules_logs"), Some(&other))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn pricing_rules_are_put_in_the_draft_and_refused_naming_the_rule_and_position() {
    let env = TestEnv::new().await;
    env.org("acme")
        .with_plan(crate::fixtures::growth_plan(0))
        .await;
    let server = Server::start(&env).await;
    let pm = token(&env, "acme", "pm", "product-manager");
    let path = "/v2/price_plans/growth/pricing_rules";

    // A condition cut short: refused, naming the rule, the field and the position.
    let mut bad = rules();
    bad[1]["condition"] = json!("{\"<\": [1,");
    let (status, body) = server
        .send(Method::PUT, path, &pm, Some(&json!({"pricingRules": bad})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("pricingRules[1].condition: rule \"low usage surcharge\": not JSON-logic")
            && message.contains("line 1, column 9"),
        "{message}"
    );
    // An UPDATE of a card the plan lacks.
    let mut bad = rules();
    bad[0]["action"]["target"] = json!("sms");
    let (status, body) = server
        .send(Method::PUT, path, &pm, Some(&json!({"pricingRules": bad})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("pricingRules[0].action.target"),
        "{body}"
    );
    let (_, versions) = server
        .get("/v2/price_plans/growth/versions", Some(&pm))
        .await;
    assert_eq!(
        versions["data"].as_array().unwrap().len(),
        1,
        "nothing written"
    );

    // Put: version 1 is ACTIVE, so the rules go to a new DRAFT, version 2.
    let (status, body) = server
        .send(
            Method::PUT,
            path,
            &pm,
            Some(&json!({"pricingRules": rules()})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["id"], "10 % off usage");
    assert_eq!(data[0]["version"], 2);
    assert_eq!(data[1]["invoiceTiming"], "IN_ARREARS");
    assert_eq!(
        data[1]["action"],
        json!({"type": "ADD", "description": "Low usage surcharge"})
    );
    let (_, latest) = server.get(path, Some(&pm)).await;
    assert_eq!(latest, body);
    let (_, v1) = server.get(&format!("{path}?version=1"), Some(&pm)).await;
    assert_eq!(v1, json!({"data": []}));
}
