//! Entitlements over several cycles, end to end (README "Entitlements"): an overage
//! card with `billingConfig {interval, startOffset}` billing the overage of several
//! monthly cycles on one invoice, `featureConfigs` entries with dates granting only in
//! the cycles they are in force on, and the CLI's `feature update` / `entitlement
//! list` / `entitlement check --quantity`. The feature counts the `api` schema's
//! `calls`; the allowance is 1,000 calls a month; the overage is TIERED, 0.05 each
//! for the first 300 over, 0.02 after.

use rust_decimal_macros::dec;
use serde_json::{json, Value};

use crate::env::TestEnv;

/// The plan `api` (monthly from day 1, no grace): an IN_ADVANCE allowance with
/// `configs` priced `allowance_price` (a slab JSON: FLAT 49.00, or PER_UNIT), and the
/// overage card with `overage_extra` merged in.
fn api_plan(configs: Value, allowance_slab: Value, rate: &str, overage_extra: Value) -> Value {
    let mut overage = json!({
        "name": "api_overage", "displayName": "API calls over", "featureId": "api_calls",
        "ratePlan": {"pricingModel": "TIERED", "slabs": [
            {"order": 1, "startAfter": 0, "priceType": "PER_UNIT"},
            {"order": 2, "startAfter": 300, "priceType": "PER_UNIT"}]},
        "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": "0.05"}, {"order": 2, "rate": "0.02"}]}]
    });
    for (k, v) in overage_extra.as_object().unwrap() {
        overage[k] = v.clone();
    }
    json!({
        "name": "api", "supportedCurrencies": ["USD"],
        "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "1"}, "gracePeriod": 0},
        "billingEntitlementRateCards": [{
            "name": "api_allowance", "displayName": "API calls included", "featureId": "api_calls",
            "invoiceTiming": "IN_ADVANCE",
            "featureConfigs": configs,
            "ratePlan": {"pricingModel": "VOLUME", "slabs": [allowance_slab]},
            "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": rate}]}]
        }],
        "entitlementOverageRateCards": [overage]
    })
}

fn monthly_1000() -> Value {
    json!([{"effectiveUntil": "P1M", "featureCreditLimit": 1000}])
}

fn flat() -> Value {
    json!({"order": 1, "startAfter": 0, "priceType": "FLAT"})
}

/// acme with `plan`, the feature, and a1 on the plan from 2026-01-01 using `calls[i]`
/// calls on the 10th of month i (0 = January 2026).
async fn setup(env: &TestEnv, plan: Value, calls: &[rust_decimal::Decimal]) {
    env.org("acme")
        .number_format("INV-{SEQ:4}")
        .net_terms(30)
        .with_plan(plan)
        .await;
    let mut a = env.account("acme", "a1").on_plan("api");
    for (i, c) in calls.iter().enumerate() {
        a = a.with_usage(
            &format!("e{i}"),
            &format!("2026-{:02}-10T00:00:00Z", i + 1),
            *c,
        );
    }
    a.await;
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

/// Closes the cycles up to each boundary in turn, then the totals of the invoices at
/// each boundary, in order.
fn totals(env: &TestEnv, boundaries: &[&str]) -> Vec<String> {
    for b in boundaries {
        env.ok(&["run", "cycle-close", "--now", &format!("{b}T00:00:00Z")]);
    }
    let list = env.json(&["invoice", "list", "--org", "acme", "--json"]);
    boundaries
        .iter()
        .map(|b| {
            let i = list
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["boundary"] == *b)
                .unwrap_or_else(|| panic!("no invoice at {b}: {list}"));
            i["total"].as_str().unwrap().to_string()
        })
        .collect()
}

#[tokio::test]
async fn interval_3_offset_0_bills_january_then_february_to_april_together() {
    let env = TestEnv::new().await;
    let plan = api_plan(
        monthly_1000(),
        flat(),
        "49",
        json!({"billingConfig": {"interval": 3, "startOffset": 0}}),
    );
    setup(&env, plan, &[dec!(1400), dec!(1200), dec!(900), dec!(1300)]).await;
    let t = totals(
        &env,
        &[
            "2026-01-01",
            "2026-02-01",
            "2026-03-01",
            "2026-04-01",
            "2026-05-01",
        ],
    );
    // Jan 1: January's allowance, 49.00.
    // Feb 1: January (cycle 0) billed alone: 1,400 - 1,000 = 400 over =
    //        300 x 0.05 + 100 x 0.02 = 15.00 + 2.00 = 17.00; + 49.00 = 66.00.
    // Mar 1, Apr 1: February and March accumulate: 49.00 each.
    // May 1: cycles 1 to 3 (February to April): 200 + 0 + 300 = 500 over =
    //        300 x 0.05 + 200 x 0.02 = 15.00 + 4.00 = 19.00; + 49.00 = 68.00.
    assert_eq!(t, ["49.00", "66.00", "49.00", "49.00", "68.00"]);
}

#[tokio::test]
async fn interval_3_offset_1_bills_january_and_february_together_in_february() {
    let env = TestEnv::new().await;
    let plan = api_plan(
        monthly_1000(),
        flat(),
        "49",
        json!({"billingConfig": {"interval": 3, "startOffset": 1}}),
    );
    setup(&env, plan, &[dec!(1400), dec!(1100), dec!(1250)]).await;
    let t = totals(
        &env,
        &["2026-01-01", "2026-02-01", "2026-03-01", "2026-04-01"],
    );
    // Jan 1: 49.00. Feb 1: cycle 0 is not billed yet: 49.00.
    // Mar 1: cycles 0 and 1: 400 + 100 = 500 over = 15.00 + 4.00 = 19.00; + 49.00 = 68.00.
    // Apr 1: cycle 2 (March, 250 over) waits for cycle 4: 49.00.
    assert_eq!(t, ["49.00", "49.00", "68.00", "49.00"]);
}

#[tokio::test]
async fn a_dated_feature_config_grants_and_is_priced_only_in_the_cycles_it_covers() {
    let env = TestEnv::new().await;
    // 1,000 every month, plus 500 from 2026-02-01 until 2026-03-01 (February only);
    // the allowance is priced 0.04 per call.
    let configs = json!([
        {"effectiveFrom": "P0D", "effectiveUntil": "P1M", "featureCreditLimit": 1000},
        {"effectiveFrom": "2026-02-01", "effectiveUntil": "2026-03-01", "featureCreditLimit": 500}
    ]);
    let per_unit = json!({"order": 1, "startAfter": 0, "priceType": "PER_UNIT"});
    setup(
        &env,
        api_plan(configs, per_unit, "0.04", json!({})),
        &[dec!(1400), dec!(1400)],
    )
    .await;
    let t = totals(&env, &["2026-01-01", "2026-02-01", "2026-03-01"]);
    // Jan 1: January's 1,000 x 0.04 = 40.00.
    // Feb 1: January 400 over = 17.00; February's 1,500 x 0.04 = 60.00; 77.00.
    // Mar 1: February 1,400 of 1,500: 0 over (0.00); March's 1,000 x 0.04 = 40.00.
    assert_eq!(t, ["40.00", "77.00", "40.00"]);
    let e = env.json(&[
        "entitlement",
        "check",
        "--org",
        "acme",
        "--account",
        "a1",
        "--feature",
        "api_calls",
        "--at",
        "2026-02-15T00:00:00Z",
        "--json",
    ]);
    // February: 1,500 granted, 1,400 used, 100 left.
    assert_eq!(
        (&e["granted"], &e["used"], &e["balance"]),
        (&json!("1500"), &json!("1400"), &json!("100")),
        "{e}"
    );
}

#[tokio::test]
async fn features_are_updated_and_entitlements_listed_and_validated_from_the_cli() {
    let env = TestEnv::new().await;
    let plan = api_plan(monthly_1000(), flat(), "49", json!({"maxQuantity": 500}));
    setup(&env, plan, &[dec!(1400)]).await;
    env.ok(&["run", "cycle-close", "--now", "2026-01-01T00:00:00Z"]);
    env.ok(&[
        "feature",
        "update",
        "--org",
        "acme",
        "api_calls",
        "--name",
        "API calls",
        "--billable-name",
        "Calls",
    ]);
    let shown = env.json(&["feature", "show", "--org", "acme", "api_calls", "--json"]);
    assert_eq!(
        (&shown["id"], &shown["name"]),
        (&json!("api_calls"), &json!("API calls"))
    );
    assert_eq!(shown["billableName"], "Calls");
    assert!(shown["updatedAt"].is_string(), "{shown}");
    let err = env.fails(&[
        "feature",
        "update",
        "--org",
        "acme",
        "api_calls",
        "--schema",
        "api.bytes",
    ]);
    assert!(err.contains("schemaAssociations[0].attributeName"), "{err}");
    let err = env.fails(&["feature", "update", "--org", "acme", "nope", "--name", "x"]);
    assert!(err.contains("feature \"nope\" does not exist"), "{err}");

    let list = env.json(&[
        "entitlement",
        "list",
        "--org",
        "acme",
        "--account",
        "a1",
        "--at",
        "2026-01-25T00:00:00Z",
        "--json",
    ]);
    // 1,400 used of 1,000: balance 0, 400 over of at most 500.
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(
        (
            &list[0]["featureId"],
            &list[0]["balance"],
            &list[0]["usedOverage"]
        ),
        (&json!("api_calls"), &json!("0"), &json!("400"))
    );
    let allowed = |q: &str| {
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
            "2026-01-25T00:00:00Z",
            "--quantity",
            q,
            "--json",
        ])["allowed"]
            .clone()
    };
    // 500 - 400 = 100 more overage allowed: 100 yes, 101 no.
    assert_eq!(allowed("100"), json!(true));
    assert_eq!(allowed("101"), json!(false));
    let audit: Vec<(String, String)> = sqlx::query_as(
        "SELECT action, outcome FROM audit_log WHERE action = 'feature.update' ORDER BY id",
    )
    .fetch_all(env.pool())
    .await
    .unwrap();
    assert_eq!(
        audit,
        [
            ("feature.update".to_string(), "SUCCESS".to_string()),
            ("feature.update".to_string(), "FAILURE".to_string()),
            ("feature.update".to_string(), "FAILURE".to_string()),
        ]
    );
}
