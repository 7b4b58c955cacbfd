//! `/features` and `/accounts/{account_id}/features/{feature_id}` (README
//! "Entitlements"): Togai's shapes (quantities as JSON numbers, 200 on create),
//! errors naming the field, another organisation's feature a 404, audited.

use chrono::Utc;
use reqwest::Method;
use rust_decimal_macros::dec;
use serde_json::json;

use super::{audit, row, token, Server};
use crate::env::TestEnv;

#[tokio::test]
async fn features_and_the_entitlement_check_over_http() {
    let env = TestEnv::new().await;
    let now = Utc::now();
    let today = now.date_naive().to_string();
    let plan = json!({
        "name": "api", "supportedCurrencies": ["USD"],
        "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "1"}, "gracePeriod": 0},
        "billingEntitlementRateCards": [{
            "name": "api_allowance", "featureId": "api_calls", "invoiceTiming": "IN_ADVANCE",
            "featureConfigs": [{"effectiveUntil": "P1M", "featureCreditLimit": 1000}],
            "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "FLAT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": 49}]}]
        }],
        "entitlementOverageRateCards": [{
            "name": "api_overage", "featureId": "api_calls", "maxQuantity": 500,
            "ratePlan": {"pricingModel": "TIERED", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": "0.05"}]}]
        }]
    });
    env.org("acme").with_plan(plan).await;
    env.org("other").await;
    env.account("acme", "a1")
        .on_plan("api")
        .from(&today)
        .with_usage("e1", &format!("{today}T00:00:01Z"), dec!(1400))
        .await;
    env.ok(&["run", "cycle-close", "--now", &now.to_rfc3339()]);
    env.ok(&[
        "feature",
        "create",
        "--org",
        "other",
        "secret",
        "--schema",
        "api.calls",
    ]);
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "admin", "administrator");

    let (status, body) = server
        .send(
            Method::POST,
            "/features",
            &admin,
            Some(&json!({"name": "api_calls", "billableName": "API calls",
                         "schemaAssociations": [{"schemaName": "api", "attributeName": "calls"}]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], "api_calls");
    assert_eq!(body["displayName"], "API calls");
    let (status, body) = server
        .send(
            Method::POST,
            "/features",
            &admin,
            Some(&json!({"name": "bad",
                         "schemaAssociations": [{"schemaName": "nope", "attributeName": "calls"}]})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string()
            .contains("schemaAssociations[0].schemaName"),
        "{body}"
    );
    let (status, body) = server.get("/features", Some(&admin)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"][0]["schemaCount"], 1, "{body}");
    assert_eq!(body["data"].as_array().unwrap().len(), 1, "only acme's");
    let (status, _) = server.get("/features/secret", Some(&admin)).await;
    assert_eq!(status, 404, "another organisation's feature");

    // 1,400 used of 1,000: balance 0, 400 over of at most 500.
    let (status, body) = server
        .get("/accounts/a1/features/api_calls", Some(&admin))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"accountId": "a1", "featureId": "api_calls", "granted": 1000, "balance": 0,
               "overageLimit": 500, "usedOverage": 400})
    );
    let (status, _) = server
        .get("/accounts/a1/features/secret", Some(&admin))
        .await;
    assert_eq!(status, 404);

    let expected = vec![
        row("feature.create", "api_calls", "SUCCESS"),
        row("feature.create", "bad", "FAILURE"),
    ];
    let mut rows = Vec::new();
    for _ in 0..50 {
        rows = audit(&env, &["feature.create"]).await;
        if rows.len() >= expected.len() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(rows, expected);
}

#[tokio::test]
async fn feature_update_entitlement_values_and_the_validate_check_over_http() {
    let env = TestEnv::new().await;
    let now = Utc::now();
    let today = now.date_naive().to_string();
    let plan = json!({
        "name": "api", "supportedCurrencies": ["USD"],
        "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "1"}, "gracePeriod": 0},
        "billingEntitlementRateCards": [{
            "name": "api_allowance", "featureId": "api_calls", "invoiceTiming": "IN_ADVANCE",
            "featureConfigs": [{"effectiveUntil": "P1M", "featureCreditLimit": 1000}],
            "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "FLAT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": 49}]}]
        }],
        "entitlementOverageRateCards": [{
            "name": "api_overage", "featureId": "api_calls", "maxQuantity": 500,
            "ratePlan": {"pricingModel": "TIERED", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": "0.05"}]}]
        }]
    });
    env.org("acme").with_plan(plan).await;
    env.org("other").await;
    env.account("acme", "a1")
        .on_plan("api")
        .from(&today)
        .with_usage("e1", &format!("{today}T00:00:01Z"), dec!(400))
        .await;
    env.ok(&["run", "cycle-close", "--now", &now.to_rfc3339()]);
    env.ok(&[
        "feature",
        "create",
        "--org",
        "acme",
        "api_calls",
        "--schema",
        "api.calls",
    ]);
    env.ok(&[
        "feature",
        "create",
        "--org",
        "other",
        "secret",
        "--schema",
        "api.calls",
    ]);
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "admin", "administrator");

    let (status, body) = server
        .send(
            Method::PATCH,
            "/features/api_calls",
            &admin,
            Some(&json!({"billableName": "API calls"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["id"], &body["name"], &body["displayName"]),
        (
            &json!("api_calls"),
            &json!("api_calls"),
            &json!("API calls")
        )
    );
    assert!(body["updatedAt"].is_string(), "{body}");
    let (status, body) = server
        .send(
            Method::PATCH,
            "/features/api_calls",
            &admin,
            Some(
                &json!({"schemaAssociations": [{"schemaName": "nope", "attributeName": "calls"}]}),
            ),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string()
            .contains("schemaAssociations[0].schemaName"),
        "{body}"
    );
    let (status, _) = server
        .send(
            Method::PATCH,
            "/features/secret",
            &admin,
            Some(&json!({"name": "x"})),
        )
        .await;
    assert_eq!(status, 404, "another organisation's feature");

    // 400 used of 1,000: 600 left, as Togai's string value.
    let (status, body) = server.get("/accounts/a1/entitlements", Some(&admin)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"data": [{"featureId": "api_calls", "value": "600"}]})
    );
    let (status, body) = server
        .get("/accounts/a1/entitlements/api_calls", Some(&admin))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"data": [{"featureId": "api_calls", "value": "600"}]})
    );
    let (status, _) = server
        .get("/accounts/a1/entitlements/secret", Some(&admin))
        .await;
    assert_eq!(status, 404);

    // 600 left + 500 of overage = 1,100 more allowed: 1100 yes, 1100.5 no.
    for (value, success) in [("1100", true), ("1100.5", false), ("0", true)] {
        let (status, body) = server
            .post(
                "/accounts/a1/entitlements/api_calls",
                &admin,
                &json!({"value": value}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({"success": success}), "{value}");
    }
    let (status, body) = server
        .post(
            "/accounts/a1/entitlements/api_calls",
            &admin,
            &json!({"value": "-1"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");

    let expected = vec![
        row("feature.update", "api_calls", "SUCCESS"),
        row("feature.update", "api_calls", "FAILURE"),
        row("feature.update", "secret", "FAILURE"),
    ];
    let mut rows = Vec::new();
    for _ in 0..50 {
        rows = audit(&env, &["feature.update"]).await;
        if rows.len() >= expected.len() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(rows, expected);
}
