//! Tests of `rate_card_ops` (moved out of `mod.rs` to keep it readable in one sitting).

use super::*;
use serde_json::json;

fn plan() -> Value {
    let v = json!({
        "name": "growth",
        "supportedCurrencies": ["USD", "EUR"],
        "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "1"},
                               "gracePeriod": 3, "anniversaryCycle": false},
        "usageRateCards": [{
            "name": "api_calls", "displayName": "API calls", "usageMeterId": "api_calls_meter",
            "ratePlan": {"pricingModel": "TIERED", "slabs": [
                {"order": 1, "startAfter": 0, "priceType": "PER_UNIT"},
                {"order": 2, "startAfter": 1000, "priceType": "PER_UNIT"}]},
            "rateValues": [
                {"currency": "USD", "slabRates": [{"order": 1, "rate": "0.1"}, {"order": 2, "rate": "0.05"}]},
                {"currency": "EUR", "slabRates": [{"order": 1, "rate": "0.09"}, {"order": 2, "rate": "0.045"}]}]
        }],
        "fixedFeeRateCards": [{
            "name": "platform_fee", "displayName": "Platform fee", "invoiceTiming": "IN_ADVANCE",
            "type": "RECURRING", "enableProration": true, "recurrenceConfig": {"interval": 1, "offset": 0},
            "rateValues": [{"currency": "USD", "rate": 99}, {"currency": "EUR", "rate": 89}]
        }],
        "licenseRateCards": [{
            "name": "seats", "displayName": "Seats", "invoiceTiming": "IN_ARREARS",
            "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": 10}]}]
        }],
        "minimumCommitment": {"displayName": "Monthly minimum", "rateValues": [{"currency": "USD", "rate": 300}]}
    });
    Plan::from_json(&v).unwrap().to_json()
}

fn usage_card(name: &str, usd: &str) -> Value {
    json!({
        "name": name, "displayName": name, "usageMeterId": "storage_meter",
        "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
        "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": usd}]}]
    })
}

fn fee(name: &str, usd: u32) -> Value {
    json!({
        "name": name, "invoiceTiming": "IN_ADVANCE", "type": "RECURRING",
        "recurrenceConfig": {"interval": 1, "offset": 0},
        "rateValues": [{"currency": "USD", "rate": usd}]
    })
}

fn ops(list: Value) -> Value {
    json!({ "operations": list })
}

fn ok(list: Value) -> Value {
    apply_operations(&plan(), &ops(list))
        .unwrap_or_else(|e| panic!("{e}"))
        .to_json()
}

fn errs(list: Value) -> Vec<OperationError> {
    match apply_operations(&plan(), &ops(list)) {
        Ok(p) => panic!("should fail, got {}", p.to_json()),
        Err(e) => e.0,
    }
}

fn names(plan: &Value, key: &str) -> Vec<String> {
    plan[key]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| c["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn paths(e: &OperationError) -> Vec<&str> {
    e.errors.iter().map(|e| e.path.as_str()).collect()
}

#[test]
fn create_update_delete_in_one_batch() {
    let out = ok(json!([
        {"actionType": "CREATE", "rateCard": {"type": "USAGE", "rateCardDetails": usage_card("storage", "0.02")}},
        {"actionType": "UPDATE", "rateCardName": "platform_fee", "rateCard": {"type": "FIXED_FEE", "rateCardDetails": fee("platform_fee", 149)}},
        {"actionType": "DELETE", "rateCardName": "seats"}
    ]));
    assert_eq!(names(&out, "usageRateCards"), ["api_calls", "storage"]);
    assert_eq!(names(&out, "fixedFeeRateCards"), ["platform_fee"]);
    assert_eq!(out.get("licenseRateCards"), None);
    assert_eq!(
        out["fixedFeeRateCards"][0]["rateValues"],
        json!([{"currency": "USD", "rate": "149"}])
    );
    // UPDATE replaces: what was not given (EUR, displayName, proration) is gone.
    assert_eq!(out["fixedFeeRateCards"][0].get("displayName"), None);
    // The rest of the plan is untouched, and the result is canonical.
    let before = plan();
    assert_eq!(out["usageRateCards"][0], before["usageRateCards"][0]);
    assert_eq!(out["minimumCommitment"], before["minimumCommitment"]);
    assert_eq!(out["pricingCycleConfig"], before["pricingCycleConfig"]);
    assert_eq!(Plan::from_json(&out).unwrap().to_json(), out);
}

#[test]
fn the_result_is_the_canonical_plan() {
    let out = ok(
        json!([{"actionType": "CREATE", "rateCard": {"type": "FIXED_FEE",
        "rateCardDetails": {"name": "setup", "type": "ONE_TIME", "invoiceTiming": "IN_ADVANCE",
            "rateValues": [{"currency": "USD", "rate": 10.50}]}}}]),
    );
    assert_eq!(out["fixedFeeRateCards"][1]["rateValues"][0]["rate"], "10.5");
    assert_eq!(out["fixedFeeRateCards"][1]["name"], "setup");
}

#[test]
fn update_without_type_or_name_keeps_kind_and_name_and_position() {
    let mut card = usage_card("ignored", "0.2");
    card.as_object_mut().unwrap().remove("name");
    card["usageMeterId"] = json!("api_calls_meter");
    let out = ok(json!([
        {"actionType": "CREATE", "rateCard": {"type": "USAGE", "rateCardDetails": usage_card("storage", "0.02")}},
        {"actionType": "UPDATE", "rateCardName": "api_calls", "rateCard": {"rateCardDetails": card}}
    ]));
    assert_eq!(names(&out, "usageRateCards"), ["api_calls", "storage"]);
    assert_eq!(
        out["usageRateCards"][0]["rateValues"][0]["slabRates"][0]["rate"],
        "0.2"
    );
}

#[test]
fn update_may_rename_to_a_free_name_only() {
    let out = ok(
        json!([{"actionType": "UPDATE", "rateCardName": "platform_fee",
        "rateCard": {"rateCardDetails": fee("base_fee", 99)}}]),
    );
    assert_eq!(names(&out, "fixedFeeRateCards"), ["base_fee"]);

    let e = errs(
        json!([{"actionType": "UPDATE", "rateCardName": "platform_fee",
        "rateCard": {"rateCardDetails": fee("seats", 99)}}]),
    );
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].operation, Some(0));
    assert_eq!(paths(&e[0]), ["rateCard.rateCardDetails.name"]);
    assert!(e[0].errors[0].message.contains("LICENSE"), "{}", e[0]);
}

#[test]
fn update_cannot_change_the_kind() {
    let e = errs(
        json!([{"actionType": "UPDATE", "rateCardName": "platform_fee",
        "rateCard": {"type": "USAGE", "rateCardDetails": usage_card("platform_fee", "1")}}]),
    );
    assert_eq!(paths(&e[0]), ["rateCard.type"]);
    assert!(e[0].errors[0].message.contains("DELETE it and CREATE"));
}

#[test]
fn operations_apply_in_order() {
    // Delete then re-create under the same name (of another kind), and update a
    // card created earlier in the batch.
    let out = ok(json!([
        {"actionType": "DELETE", "rateCardName": "seats"},
        {"actionType": "CREATE", "rateCard": {"type": "FIXED_FEE", "rateCardDetails": fee("seats", 5)}},
        {"actionType": "UPDATE", "rateCardName": "seats", "rateCard": {"rateCardDetails": fee("seats", 7)}}
    ]));
    assert_eq!(names(&out, "fixedFeeRateCards"), ["platform_fee", "seats"]);
    assert_eq!(out["fixedFeeRateCards"][1]["rateValues"][0]["rate"], "7");
}

#[test]
fn create_takes_the_name_from_rate_card_name_or_details_which_must_agree() {
    let mut card = fee("x", 5);
    card.as_object_mut().unwrap().remove("name");
    let out = ok(json!([{"actionType": "CREATE", "rateCardName": "setup",
        "rateCard": {"type": "FIXED_FEE", "rateCardDetails": card}}]));
    assert_eq!(names(&out, "fixedFeeRateCards"), ["platform_fee", "setup"]);
    ok(json!([{"actionType": "CREATE", "rateCardName": "setup",
        "rateCard": {"type": "FIXED_FEE", "rateCardDetails": fee("setup", 5)}}]));

    let e = errs(json!([{"actionType": "CREATE", "rateCardName": "setup",
        "rateCard": {"type": "FIXED_FEE", "rateCardDetails": fee("other", 5)}}]));
    assert_eq!(paths(&e[0]), ["rateCardName"]);
    let e = errs(json!([{"actionType": "CREATE",
        "rateCard": {"type": "FIXED_FEE", "rateCardDetails": card}}]));
    assert_eq!(paths(&e[0]), ["rateCard.rateCardDetails.name"]);
}

#[test]
fn one_error_per_failing_operation_with_every_field_error() {
    let mut bad_usage = usage_card("storage", "0.02");
    bad_usage["ratePlan"]["slabs"] = json!([
        {"order": 1, "startAfter": 0, "priceType": "PER_UNIT"},
        {"order": 2, "startAfter": -5, "priceType": "PER_UNIT"}]);
    bad_usage["invoiceTiming"] = json!("SOMETIMES");
    let mut bad_fee = fee("platform_fee", 99);
    bad_fee["rateValues"][0]["rate"] = json!("lots");
    let e = errs(json!([
        {"actionType": "CREATE", "rateCard": {"type": "USAGE", "rateCardDetails": bad_usage}},
        {"actionType": "CREATE", "rateCard": {"type": "FIXED_FEE", "rateCardDetails": fee("fine", 1)}},
        {"actionType": "UPDATE", "rateCardName": "platform_fee", "rateCard": {"rateCardDetails": bad_fee}},
        {"actionType": "DELETE", "rateCardName": "nope"},
        {"actionType": "CREATE", "rateCard": {"type": "FIXED_FEE", "rateCardDetails": fee("api_calls", 1)}}
    ]));
    let ops: Vec<_> = e.iter().map(|e| e.operation).collect();
    assert_eq!(ops, [Some(0), Some(2), Some(3), Some(4)], "{e:#?}");
    assert_eq!(e[0].action_type, Some(ActionType::Create));
    assert_eq!(e[0].rate_card_name.as_deref(), Some("storage"));
    let p0 = paths(&e[0]);
    assert!(
        p0.contains(&"rateCard.rateCardDetails.invoiceTiming")
            && p0
                .iter()
                .any(|p| p.starts_with("rateCard.rateCardDetails.ratePlan.slabs[1]")),
        "{}",
        e[0]
    );
    assert_eq!(e[1].rate_card_name.as_deref(), Some("platform_fee"));
    assert!(paths(&e[1])
        .iter()
        .all(|p| p.starts_with("rateCard.rateCardDetails.rateValues[0]")));
    assert_eq!(paths(&e[2]), ["rateCardName"]);
    assert!(e[2].errors[0]
        .message
        .contains("no rate card named \"nope\""));
    assert!(e[2].errors[0].message.contains("api_calls, platform_fee"));
    assert_eq!(paths(&e[3]), ["rateCard.rateCardDetails.name"]);
    assert!(e[3].errors[0].message.contains("USAGE"));
    let text = OperationErrors(e).to_string();
    assert!(
        text.contains("operations[3] (DELETE nope):\n  rateCardName: "),
        "{text}"
    );
}

#[test]
fn unknown_names_for_update_and_delete() {
    for action in ["UPDATE", "DELETE"] {
        let mut op = json!({"actionType": action, "rateCardName": "ghost"});
        if action == "UPDATE" {
            op["rateCard"] = json!({"rateCardDetails": fee("ghost", 1)});
        }
        let e = errs(json!([op]));
        assert_eq!(e.len(), 1);
        assert_eq!(paths(&e[0]), ["rateCardName"]);
    }
}

#[test]
fn malformed_operations_are_reported_per_operation() {
    let e = errs(json!([
        {"actionType": "UPSERT", "rateCardName": "a"},
        {"rateCardName": "a"},
        {"actionType": "CREATE", "rateCard": {"rateCardDetails": fee("a", 1)}},
        {"actionType": "CREATE", "rateCard": {"type": "WIDGET", "rateCardDetails": fee("a", 1)}},
        {"actionType": "CREATE", "rateCard": {"type": "ENTITLEMENT", "rateCardDetails": {}}},
        {"actionType": "CREATE", "rateCard": {"type": "USAGE"}},
        {"actionType": "CREATE", "rateCard": {"type": "USAGE", "rateCardDetails": [1]}},
        {"actionType": "CREATE"},
        {"actionType": "UPDATE", "rateCard": {"rateCardDetails": fee("a", 1)}},
        {"actionType": "UPDATE", "rateCardName": "seats"},
        {"actionType": "DELETE"},
        {"actionType": "DELETE", "rateCardName": "seats", "rateCard": {"rateCardDetails": {}}},
        {"actionType": "DELETE", "rateCardName": "", "extra": 1},
        {"actionType": "CREATE", "rateCard": {"type": "USAGE", "displayName": "x", "rateCardDetails": usage_card("s", "1")}},
        "DELETE seats"
    ]));
    let expected: Vec<(usize, Vec<&str>)> = vec![
        (0, vec!["actionType"]),
        (1, vec!["actionType"]),
        (2, vec!["rateCard.type"]),
        (3, vec!["rateCard.type"]),
        (4, vec!["rateCard.type"]),
        (5, vec!["rateCard.rateCardDetails"]),
        (6, vec!["rateCard.rateCardDetails"]),
        (7, vec!["rateCard"]),
        (8, vec!["rateCardName"]),
        (9, vec!["rateCard"]),
        (10, vec!["rateCardName"]),
        (11, vec!["rateCard"]),
        (12, vec!["extra", "rateCardName"]),
        (13, vec!["rateCard.displayName"]),
        (14, vec![""]),
    ];
    let got: Vec<(usize, Vec<&str>)> = e
        .iter()
        .map(|e| {
            let mut p = paths(e);
            p.sort();
            (e.operation.unwrap(), p)
        })
        .collect();
    assert_eq!(got, expected, "{}", OperationErrors(e.clone()));
    assert!(e[4].errors[0]
        .message
        .contains("unknown rate card type \"ENTITLEMENT\""));
}

#[test]
fn the_document_itself_must_be_operations() {
    for (doc, path) in [
        (json!([]), ""),
        (json!({}), "operations"),
        (json!({"operations": {}}), "operations"),
        (json!({"operations": []}), "operations"),
        (json!({"operations": [], "ops": []}), "ops"),
    ] {
        let e = apply_operations(&plan(), &doc).unwrap_err().0;
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].operation, None);
        assert!(paths(&e[0]).contains(&path), "{doc}: {}", e[0]);
    }
}

#[test]
fn duplicate_names_across_kinds_are_refused_on_create() {
    for name in ["api_calls", "platform_fee", "seats", "minimum_commitment"] {
        let e = errs(json!([{"actionType": "CREATE",
            "rateCard": {"type": "FIXED_FEE", "rateCardDetails": fee(name, 1)}}]));
        assert_eq!(e.len(), 1, "{name}");
        assert_eq!(paths(&e[0]), ["rateCard.rateCardDetails.name"]);
    }
    // Twice in one batch: the second fails.
    let e = errs(json!([
        {"actionType": "CREATE", "rateCard": {"type": "FIXED_FEE", "rateCardDetails": fee("x", 1)}},
        {"actionType": "CREATE", "rateCard": {"type": "USAGE", "rateCardDetails": usage_card("x", "1")}}
    ]));
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].operation, Some(1));
}

#[test]
fn minimum_commitment_by_its_default_name() {
    let out = ok(
        json!([{"actionType": "UPDATE", "rateCardName": "minimum_commitment",
        "rateCard": {"type": "MINIMUM_COMMITMENT",
                     "rateCardDetails": {"rateValues": [{"currency": "USD", "rate": 500}]}}}]),
    );
    assert_eq!(
        out["minimumCommitment"],
        json!({"rateValues": [{"currency": "USD", "rate": "500"}]})
    );
    let out = ok(json!([{"actionType": "DELETE", "rateCardName": "minimum_commitment"}]));
    assert_eq!(out.get("minimumCommitment"), None);

    let commitment = json!({"name": "floor", "rateValues": [{"currency": "USD", "rate": 50}]});
    let e = errs(json!([{"actionType": "CREATE",
        "rateCard": {"type": "MINIMUM_COMMITMENT", "rateCardDetails": commitment}}]));
    assert_eq!(paths(&e[0]), ["rateCard.type"]);
    assert!(e[0].errors[0]
        .message
        .contains("minimum commitment already"));
    let out = ok(json!([
        {"actionType": "DELETE", "rateCardName": "minimum_commitment"},
        {"actionType": "CREATE", "rateCard": {"type": "MINIMUM_COMMITMENT", "rateCardDetails": commitment}}
    ]));
    assert_eq!(out["minimumCommitment"]["name"], "floor");
    // Its errors map back too (no list index in its path).
    let e = errs(
        json!([{"actionType": "UPDATE", "rateCardName": "minimum_commitment",
        "rateCard": {"rateCardDetails": {"rateValues": [{"currency": "USD", "rate": -1}]}}}]),
    );
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].operation, Some(0));
    assert!(paths(&e[0])[0].starts_with("rateCard.rateCardDetails.rateValues[0]"));
}

#[test]
fn credit_grant_and_license_cards() {
    let grant = json!({
        "name": "credits", "invoiceTiming": "IN_ADVANCE", "type": "RECURRING",
        "recurrenceConfig": {"interval": 1, "offset": 0},
        "grantDetails": {"priority": 1, "expiryType": "NO_EXPIRY"},
        "rateDetails": {"pricingModel": "TIERED", "currencySlabRateDetails": [
            {"currency": "USD", "creditAmount": 50,
             "slabDetails": [{"startAfter": 0, "priceType": "FLAT", "rate": 0}]}]}
    });
    let out = ok(json!([
        {"actionType": "CREATE", "rateCard": {"type": "CREDIT_GRANT", "rateCardDetails": grant}},
        {"actionType": "UPDATE", "rateCardName": "seats", "rateCard": {"type": "LICENSE", "rateCardDetails": {
            "name": "seats", "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": 12}]}]}}}
    ]));
    assert_eq!(names(&out, "creditGrantRateCards"), ["credits"]);
    assert_eq!(
        out["licenseRateCards"][0]["rateValues"][0]["slabRates"][0]["rate"],
        "12"
    );
    // A cross-card rule (usageCycle longer than the plan's cycle) maps to its card.
    let e = errs(
        json!([{"actionType": "CREATE", "rateCard": {"type": "LICENSE", "rateCardDetails": {
        "name": "admins", "usageCycle": "ANNUALLY",
        "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
        "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": 1}]}]}}}]),
    );
    assert_eq!(e.len(), 1);
    assert_eq!(paths(&e[0]), ["rateCard.rateCardDetails.usageCycle"]);
}

#[test]
fn a_rate_in_an_unsupported_currency_maps_to_its_card() {
    let mut card = usage_card("storage", "1");
    card["rateValues"] = json!([{"currency": "GBP", "slabRates": [{"order": 1, "rate": 1}]}]);
    let e = errs(json!([{"actionType": "CREATE",
        "rateCard": {"type": "USAGE", "rateCardDetails": card}}]));
    assert_eq!(e.len(), 1);
    assert_eq!(paths(&e[0]), ["rateCard.rateCardDetails.rateValues"]);
}

#[test]
fn errors_of_untouched_cards_are_reported_under_their_names() {
    // EUR is priced by api_calls and platform_fee only: removing both leaves EUR
    // unpriced, which the plan reports on every remaining card.
    let e = errs(json!([
        {"actionType": "DELETE", "rateCardName": "api_calls"},
        {"actionType": "DELETE", "rateCardName": "platform_fee"}
    ]));
    let labels: Vec<_> = e
        .iter()
        .map(|e| (e.operation, e.rate_card_name.clone()))
        .collect();
    assert_eq!(
        labels,
        [
            (None, Some("seats".to_string())),
            (None, Some("minimum_commitment".to_string()))
        ],
        "{e:#?}"
    );
    assert!(e[0].errors[0].message.contains("no rate for EUR"));
    assert!(OperationErrors(e)
        .to_string()
        .starts_with("rate card seats (not changed by any operation):"));
}

#[test]
fn nothing_is_partially_applied() {
    // The input is never modified; an error anywhere means no plan at all.
    let before = plan();
    let res = apply_operations(
        &before,
        &ops(json!([
            {"actionType": "DELETE", "rateCardName": "seats"},
            {"actionType": "DELETE", "rateCardName": "ghost"}
        ])),
    );
    assert!(res.is_err());
    assert_eq!(before, plan());
}

#[test]
fn errors_serialize_for_scripts() {
    let e = apply_operations(
        &plan(),
        &ops(json!([{"actionType": "DELETE", "rateCardName": "ghost"}])),
    )
    .unwrap_err();
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(v[0]["operation"], 0);
    assert_eq!(v[0]["actionType"], "DELETE");
    assert_eq!(v[0]["rateCardName"], "ghost");
    assert_eq!(v[0]["errors"][0]["path"], "rateCardName");
}

#[test]
fn locate_paths() {
    assert_eq!(
        locate("usageRateCards[12].ratePlan.slabs[1]"),
        Some((CardKind::Usage, 12, ".ratePlan.slabs[1]"))
    );
    assert_eq!(
        locate("creditGrantRateCards[0]"),
        Some((CardKind::CreditGrant, 0, ""))
    );
    assert_eq!(
        locate("minimumCommitment.rateValues"),
        Some((CardKind::MinimumCommitment, 0, ".rateValues"))
    );
    assert_eq!(locate("pricingCycleConfig.interval"), None);
    assert_eq!(locate("usageRateCards"), None);
}

#[test]
fn a_plan_that_is_not_an_object_is_refused() {
    let e = apply_operations(&json!(3), &ops(json!([]))).unwrap_err().0;
    assert_eq!(e[0].operation, None);
    assert_eq!(e[0].errors[0].path, "");
}
