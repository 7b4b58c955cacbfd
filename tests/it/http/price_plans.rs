//! `/v2/price_plans` (Togai's Price Plan V2) through a real `billrun serve`: a plan
//! created empty, cards added by bulk operations in Togai's wire shape, finalized,
//! a new version by PATCH, discarded; paging, errors, pricing rules, roles, another
//! organisation's 404, audit rows, and the stored plan compared with what `billrun
//! plan apply` stores from the equivalent file.

use billrun_core::plan::Plan;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{token, token_id, Server};
use crate::env::TestEnv;

fn new_plan(name: &str) -> Value {
    json!({
        "name": name,
        "type": "BILLING",
        "supportedCurrencies": ["USD"],
        "pricingCycleConfig": {"interval": "MONTHLY",
                               "startOffset": {"dayOffset": "1", "monthOffset": "NIL"},
                               "gracePeriod": 3, "anniversaryCycle": false}
    })
}

/// Togai's CREATE of a usage card on `meter`: TIERED 0 / 1000 / 10000 at 0.10 / 0.05 /
/// 0.01 USD per call.
fn usage_op(name: &str, meter: &str) -> Value {
    json!({
        "actionType": "CREATE", "rateCardName": name,
        "rateCard": {
            "billableId": meter, "type": "USAGE", "invoiceTiming": "IN_ARREARS",
            "displayName": "API calls",
            "rateCardDetails": {"usageRateCard": {
                "name": name, "usageMeterId": meter,
                "ratePlan": {"pricingModel": "TIERED", "slabs": [
                    {"order": 1, "startAfter": 0, "priceType": "PER_UNIT"},
                    {"order": 2, "startAfter": 1000, "priceType": "PER_UNIT"},
                    {"order": 3, "startAfter": 10000, "priceType": "PER_UNIT"}]},
                "rateValues": [{"currency": "USD", "slabRates": [
                    {"order": 1, "rate": 0.10}, {"order": 2, "rate": 0.05}, {"order": 3, "rate": 0.01}]}]
            }}
        }
    })
}

/// Togai's CREATE of a 99.00 USD recurring platform fee, in advance.
fn fee_op() -> Value {
    json!({
        "actionType": "CREATE", "rateCardName": "platform_fee",
        "rateCard": {
            "billableId": "platform", "type": "FIXED_FEE", "invoiceTiming": "IN_ADVANCE",
            "displayName": "Platform fee",
            "rateCardDetails": {"fixedFeeRateCard": {
                "id": "platform", "name": "platform_fee", "type": "RECURRING",
                "enableProration": true, "recurrenceConfig": {"interval": 1, "offset": 0},
                "rateValues": [{"currency": "USD", "rate": 99.00}]
            }}
        }
    })
}

/// The same plan as a `billrun plan apply` file.
fn equivalent_file() -> Value {
    json!({
        "name": "growth",
        "type": "BILLING",
        "supportedCurrencies": ["USD"],
        "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "1"},
                               "gracePeriod": 3, "anniversaryCycle": false},
        "usageRateCards": [{
            "name": "api_calls", "displayName": "API calls", "usageMeterId": "api_calls",
            "invoiceTiming": "IN_ARREARS",
            "ratePlan": {"pricingModel": "TIERED", "slabs": [
                {"order": 1, "startAfter": 0, "priceType": "PER_UNIT"},
                {"order": 2, "startAfter": 1000, "priceType": "PER_UNIT"},
                {"order": 3, "startAfter": 10000, "priceType": "PER_UNIT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [
                {"order": 1, "rate": "0.10"}, {"order": 2, "rate": "0.05"}, {"order": 3, "rate": "0.01"}]}]
        }],
        "fixedFeeRateCards": [{
            "id": "platform", "name": "platform_fee", "displayName": "Platform fee",
            "invoiceTiming": "IN_ADVANCE", "type": "RECURRING", "enableProration": true,
            "recurrenceConfig": {"interval": 1, "offset": 0},
            "rateValues": [{"currency": "USD", "rate": "99.00"}]
        }]
    })
}

fn message(body: &Value) -> &str {
    body["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message: {body}"))
}

#[tokio::test]
async fn a_plan_is_created_empty_filled_by_bulk_operations_finalized_and_versioned() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    let server = Server::start(&env).await;
    let pm = token(&env, "acme", "pm", "product-manager");
    let pm_id = token_id(&env, "acme", "pm");
    let post = Method::POST;

    // An empty DRAFT, version 1.
    let (status, plan) = server
        .send(
            post.clone(),
            "/v2/price_plans",
            &pm,
            Some(&new_plan("growth")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(plan["id"], "growth");
    assert_eq!(plan["name"], "growth");
    assert_eq!(plan["referenceId"], "growth");
    assert_eq!(plan["type"], "BILLING");
    assert_eq!(plan["version"], 1);
    assert_eq!(plan["status"], "DRAFT");
    assert_eq!(plan["supportedCurrencies"], json!(["USD"]));
    assert_eq!(
        plan["pricingCycleConfig"],
        json!({"interval": "MONTHLY", "startOffset": {"dayOffset": "1", "monthOffset": "NIL"},
               "gracePeriod": 3, "anniversaryCycle": false})
    );
    assert!(
        plan["createdAt"].is_string() && plan["updatedAt"].is_string(),
        "{plan}"
    );
    let (status, body) = server
        .send(
            post.clone(),
            "/v2/price_plans",
            &pm,
            Some(&new_plan("growth")),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, cards) = server
        .get("/v2/price_plans/growth/rate_cards", Some(&pm))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cards, json!({"data": []}));

    // Bulk CREATE of a usage card with slabs and a fixed fee.
    let ops = json!({"operations": [usage_op("api_calls", "api_calls"), fee_op()]});
    let (status, body) = server
        .send(
            post.clone(),
            "/v2/price_plans/growth/rate_cards",
            &pm,
            Some(&ops),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cards = body["rateCards"].as_array().unwrap();
    assert_eq!(cards.len(), 2, "{body}");
    let usage = &cards[0];
    assert_eq!(usage["name"], "api_calls");
    assert_eq!(usage["type"], "USAGE");
    assert_eq!(usage["billableId"], "api_calls");
    assert_eq!(usage["displayName"], "API calls");
    assert_eq!(usage["invoiceTiming"], "IN_ARREARS");
    assert_eq!(usage["pricePlanId"], "growth");
    assert_eq!(usage["referenceType"], "PRICE_PLAN");
    assert_eq!(usage["currencies"], json!(["USD"]));
    let details = &usage["rateCardDetails"]["usageRateCard"];
    assert_eq!(details["ratePlan"]["slabs"][1]["startAfter"], json!(1000));
    let rates: Vec<f64> = details["rateValues"][0]["slabRates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rate"].as_f64().expect("rates are JSON numbers"))
        .collect();
    assert_eq!(rates, [0.1, 0.05, 0.01]);
    let fee = &cards[1];
    assert_eq!(fee["name"], "platform_fee");
    assert_eq!(fee["type"], "FIXED_FEE");
    assert_eq!(fee["billableId"], "platform");
    assert_eq!(fee["invoiceTiming"], "IN_ADVANCE");
    assert_eq!(
        fee["rateCardDetails"]["fixedFeeRateCard"]["rateValues"][0]["rate"],
        json!(99)
    );
    let (_, listed) = server
        .get("/v2/price_plans/growth/rate_cards?pageSize=1", Some(&pm))
        .await;
    assert_eq!(listed["data"][0]["name"], "api_calls", "{listed}");
    assert_eq!(listed["nextToken"], "api_calls", "{listed}");
    let (_, listed) = server
        .get(
            "/v2/price_plans/growth/rate_cards?pageSize=1&nextToken=api_calls",
            Some(&pm),
        )
        .await;
    assert_eq!(listed["data"][0]["name"], "platform_fee", "{listed}");
    assert!(listed.get("nextToken").is_none(), "{listed}");

    // A bad card: 400 naming the operation and the field as sent; nothing changes.
    let mut bad = usage_op("eu_calls", "api_calls");
    bad["rateCard"]["rateCardDetails"]["usageRateCard"]["rateValues"][0]["currency"] = json!("EUR");
    let (status, body) = server
        .send(
            post.clone(),
            "/v2/price_plans/growth/rate_cards",
            &pm,
            Some(&json!({"operations": [bad]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        message(&body).contains("operations[0] (CREATE eu_calls)"),
        "{body}"
    );
    assert!(
        message(&body)
            .contains("rateCard.rateCardDetails.usageRateCard.rateValues: has a rate for EUR"),
        "{body}"
    );
    let entitlement = json!({"operations": [{"actionType": "CREATE", "rateCardName": "seats_ent",
        "rateCard": {"billableId": "seats", "type": "BILLING_ENTITLEMENT", "invoiceTiming": "IN_ADVANCE",
                     "rateCardDetails": {"billingEntitlementRateCard": {"featureId": "seats"}}}}]});
    let (status, body) = server
        .send(
            post.clone(),
            "/v2/price_plans/growth/rate_cards",
            &pm,
            Some(&entitlement),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(message(&body).contains("seats_ent"), "{body}");
    assert!(
        message(&body).contains("billingEntitlementRateCard.featureConfigs"),
        "{body}"
    );
    let (_, listed) = server
        .get("/v2/price_plans/growth/rate_cards", Some(&pm))
        .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);

    // A card on a meter that does not exist: an error of the plan, finalizing refused.
    let (status, body) = server
        .send(
            post.clone(),
            "/v2/price_plans/growth/rate_cards",
            &pm,
            Some(&json!({"operations": [usage_op("storage", "storage_gb")]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, errors) = server.get("/v2/price_plans/growth/errors", Some(&pm)).await;
    assert_eq!(status, StatusCode::OK);
    let data = errors["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{errors}");
    assert_eq!(data[0]["referenceId"], "growth");
    assert_eq!(data[0]["entityId"], "storage");
    assert_eq!(data[0]["entityType"], "RATE_CARD");
    assert!(
        data[0]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("\"storage_gb\" does not exist"),
        "{errors}"
    );
    let (status, body) = server
        .send(
            post.clone(),
            "/v2/price_plans/growth/finalize",
            &pm,
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        message(&body).contains("usageRateCards[1].usageMeterId"),
        "{body}"
    );
    let delete = json!({"operations": [{"actionType": "DELETE", "rateCardName": "storage"}]});
    let (status, body) = server
        .send(
            post.clone(),
            "/v2/price_plans/growth/rate_cards",
            &pm,
            Some(&delete),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        server
            .get("/v2/price_plans/growth/errors", Some(&pm))
            .await
            .1,
        json!({"data": []})
    );

    // Finalize: ACTIVE, and stored as `billrun plan apply` stores the equivalent file.
    let (status, body) = server
        .send(
            post.clone(),
            "/v2/price_plans/growth/finalize",
            &pm,
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"success": true}));
    let (_, plan) = server.get("/v2/price_plans/growth", Some(&pm)).await;
    assert_eq!(
        (plan["version"].clone(), plan["status"].clone()),
        (json!(1), json!("ACTIVE"))
    );
    let shown = env.json(&["plan", "show", "growth", "--org", "acme", "--json"]);
    assert_eq!(shown["status"], "ACTIVE");
    assert_eq!(
        shown["definition"],
        Plan::from_json(&equivalent_file()).unwrap().to_json()
    );
    env.org("globex").await;
    let file = env.scratch().join("growth.json");
    std::fs::write(&file, equivalent_file().to_string()).unwrap();
    env.ok(&["plan", "apply", file.to_str().unwrap(), "--org", "globex"]);
    let applied = env.json(&["plan", "show", "growth", "--org", "globex", "--json"]);
    assert_eq!(shown["definition"], applied["definition"]);

    // PATCH after finalizing: version 2, a DRAFT; versions page by number.
    let (status, v2) = server
        .send(
            Method::PATCH,
            "/v2/price_plans/growth",
            &pm,
            Some(&json!({"description": "Growth, 2027 prices"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v2}");
    assert_eq!(
        (v2["version"].clone(), v2["status"].clone()),
        (json!(2), json!("DRAFT"))
    );
    assert_eq!(v2["description"], "Growth, 2027 prices");
    let (_, v1) = server
        .get("/v2/price_plans/growth?version=1", Some(&pm))
        .await;
    assert!(v1.get("description").is_none(), "{v1}");
    let (_, page) = server
        .get("/v2/price_plans/growth/versions?pageSize=1", Some(&pm))
        .await;
    assert_eq!(page["data"][0]["version"], 1, "{page}");
    let next = page["nextToken"].as_str().unwrap().to_string();
    let (_, page) = server
        .get(
            &format!("/v2/price_plans/growth/versions?pageSize=1&nextToken={next}"),
            Some(&pm),
        )
        .await;
    assert_eq!(page["data"][0]["version"], 2, "{page}");
    assert_eq!(page["data"][0]["status"], "DRAFT");
    assert!(page.get("nextToken").is_none(), "{page}");
    let (status, body) = server
        .get("/v2/price_plans/growth?version=x", Some(&pm))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        server
            .get("/v2/price_plans/growth?version=7", Some(&pm))
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    // Discard the DRAFT: version 1 is left; discarding again is a conflict.
    let (status, body) = server
        .send(Method::DELETE, "/v2/price_plans/growth/discard", &pm, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"success": true}));
    let (_, versions) = server
        .get("/v2/price_plans/growth/versions", Some(&pm))
        .await;
    assert_eq!(versions["data"].as_array().unwrap().len(), 1, "{versions}");
    let (status, _) = server
        .send(Method::DELETE, "/v2/price_plans/growth/discard", &pm, None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Pricing rules: none yet; a rule that is not one is refused, naming it; an empty
    // list equal to the plan's changes nothing (no new DRAFT).
    let (status, rules) = server
        .get("/v2/price_plans/growth/pricing_rules", Some(&pm))
        .await;
    assert_eq!((status, rules), (StatusCode::OK, json!({"data": []})));
    let rule = json!({"pricingRules": [{"name": "r", "order": 1, "computation": "{}",
                                        "action": {"type": "USAGE"}}]});
    let (status, body) = server
        .send(
            Method::PUT,
            "/v2/price_plans/growth/pricing_rules",
            &pm,
            Some(&rule),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        message(&body).contains("pricingRules[0]: not a pricing rule: unknown variant `USAGE`"),
        "{body}"
    );
    let (status, body) = server
        .send(
            Method::PUT,
            "/v2/price_plans/growth/pricing_rules",
            &pm,
            Some(&json!({"pricingRules": []})),
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"data": []})));

    // The audit rows, in order.
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT actor_id, action, object_id, outcome FROM audit_log
         WHERE org_id = 'acme' AND action LIKE 'plan.%' ORDER BY id",
    )
    .fetch_all(env.pool())
    .await
    .unwrap();
    let t = |a: &str, out: &str| {
        (
            pm_id.clone(),
            a.to_string(),
            "growth".to_string(),
            out.to_string(),
        )
    };
    assert_eq!(
        rows,
        [
            t("plan.create", "SUCCESS"),
            t("plan.create", "FAILURE"),
            t("plan.rate_cards", "SUCCESS"),
            t("plan.rate_cards", "FAILURE"),
            t("plan.rate_cards", "FAILURE"),
            t("plan.rate_cards", "SUCCESS"),
            t("plan.finalize", "FAILURE"),
            t("plan.rate_cards", "SUCCESS"),
            t("plan.finalize", "SUCCESS"),
            t("plan.update", "SUCCESS"),
            t("plan.discard", "SUCCESS"),
            t("plan.discard", "FAILURE"),
            t("plan.pricing_rules", "FAILURE"),
            t("plan.pricing_rules", "SUCCESS"),
        ]
    );
}

#[tokio::test]
async fn plans_page_by_name_roles_decide_and_other_organisations_plans_are_not_found() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    env.org("globex").await;
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "admin", "administrator");
    let analyst = token(&env, "acme", "reader", "analyst");
    let developer = token(&env, "acme", "dev", "developer");
    let globex = token(&env, "globex", "admin", "administrator");

    for name in ["pro", "basic", "growth"] {
        let (status, body) = server
            .send(
                Method::POST,
                "/v2/price_plans",
                &admin,
                Some(&new_plan(name)),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, page) = server
        .get("/v2/price_plans?pageSize=2", Some(&analyst))
        .await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["basic", "growth"]);
    assert_eq!(page["nextToken"], "growth");
    let (_, page) = server
        .get(
            "/v2/price_plans?pageSize=2&nextToken=growth",
            Some(&analyst),
        )
        .await;
    assert_eq!(page["data"][0]["id"], "pro");
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert!(page.get("nextToken").is_none(), "{page}");

    // A Developer neither reads nor writes plans; an Analyst reads only.
    let (status, body) = server
        .send(
            Method::POST,
            "/v2/price_plans",
            &developer,
            Some(&new_plan("dev")),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(message(&body).contains("Developer"), "{body}");
    assert_eq!(
        server.get("/v2/price_plans", Some(&developer)).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, _) = server
        .send(
            Method::POST,
            "/v2/price_plans/growth/finalize",
            &analyst,
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        server.get("/v2/price_plans/growth", Some(&analyst)).await.0,
        StatusCode::OK
    );

    // Another organisation's plan is not found, and stays as it was.
    let (status, body) = server.get("/v2/price_plans/growth", Some(&globex)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(message(&body).contains("growth"), "{body}");
    for (method, path, body) in [
        (
            Method::POST,
            "/v2/price_plans/growth/finalize",
            Some(json!({})),
        ),
        (Method::DELETE, "/v2/price_plans/growth/discard", None),
        (
            Method::PATCH,
            "/v2/price_plans/growth",
            Some(json!({"description": "x"})),
        ),
        (
            Method::POST,
            "/v2/price_plans/growth/rate_cards",
            Some(json!({"operations": [usage_op("api_calls", "api_calls")]})),
        ),
        (Method::GET, "/v2/price_plans/growth/rate_cards", None),
        (Method::GET, "/v2/price_plans/growth/versions", None),
        (Method::GET, "/v2/price_plans/growth/errors", None),
        (Method::GET, "/v2/price_plans/growth/pricing_rules", None),
    ] {
        let (status, answer) = server
            .send(method.clone(), path, &globex, body.as_ref())
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
    }
    let (_, plan) = server.get("/v2/price_plans/growth", Some(&admin)).await;
    assert_eq!(
        (plan["status"].clone(), plan["description"].clone()),
        (json!("DRAFT"), Value::Null)
    );
    assert_eq!(
        server
            .get("/v2/price_plans/growth/rate_cards", Some(&admin))
            .await
            .1,
        json!({"data": []})
    );

    // Requests billrun cannot honour are refused by name, not dropped.
    let mut purchase = new_plan("p2");
    purchase["type"] = json!("PURCHASE");
    let mut deferred = new_plan("p3");
    deferred["deferredRevenue"] = json!(true);
    let mut ongoing = new_plan("p5");
    ongoing["allowOngoingCycleUpdates"] = json!(true);
    let mut no_cycle = new_plan("p4");
    no_cycle
        .as_object_mut()
        .unwrap()
        .remove("pricingCycleConfig");
    for (body, field) in [
        (purchase, "type"),
        (deferred, "deferredRevenue"),
        (no_cycle, "pricingCycleConfig"),
        (
            ongoing,
            "allowOngoingCycleUpdates: not supported by billrun",
        ),
    ] {
        let (status, answer) = server
            .send(Method::POST, "/v2/price_plans", &admin, Some(&body))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert!(message(&answer).contains(field), "{answer}");
    }
    let (status, body) = server
        .send(
            Method::POST,
            "/v2/price_plans/growth/finalize",
            &admin,
            Some(&json!({"migrationMode": "IMMEDIATE"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(message(&body).contains("migrationMode"), "{body}");
}
