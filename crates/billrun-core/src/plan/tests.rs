//! Tests of `plan` (moved out of `mod.rs` to keep it readable in one sitting).

use super::*;
use crate::rating::PriceType;
use rust_decimal_macros::dec;
use serde_json::json;

/// The example of `billing-model.md` ("The JSON shape of a plan"), verbatim.
const EXAMPLE: &str = r#"
{
  "name": "growth",
  "type": "BILLING",
  "supportedCurrencies": ["USD", "EUR"],
  "pricingCycleConfig": {
"interval": "MONTHLY",
"startOffset": {"dayOffset": "1"},
"gracePeriod": 3,
"anniversaryCycle": false
  },
  "usageRateCards": [{
"name": "api_calls", "displayName": "API calls", "tag": "usage",
"usageMeterId": "api_calls_meter",
"ratePlan": {"pricingModel": "TIERED", "slabs": [
  {"order": 1, "startAfter": 0, "priceType": "PER_UNIT"},
  {"order": 2, "startAfter": 1000, "priceType": "PER_UNIT"},
  {"order": 3, "startAfter": 10000, "priceType": "PACKAGE", "slabConfig": {"packageSize": "100"}}
]},
"rateValues": [
  {"currency": "USD", "slabRates": [{"order": 1, "rate": 0.10}, {"order": 2, "rate": 0.05}, {"order": 3, "rate": 1.00}],
   "rateConfig": {"minimumRate": "5", "maximumRate": "5000"}},
  {"currency": "EUR", "slabRates": [{"order": 1, "rate": 0.09}, {"order": 2, "rate": 0.045}, {"order": 3, "rate": 0.90}]}
]
  }],
  "fixedFeeRateCards": [{
"id": "platform_fee", "name": "platform_fee", "displayName": "Platform fee",
"invoiceTiming": "IN_ADVANCE", "type": "RECURRING", "enableProration": true,
"recurrenceConfig": {"interval": 1, "offset": 0},
"rateValues": [{"currency": "USD", "rate": 99}, {"currency": "EUR", "rate": 89}]
  }],
  "licenseRateCards": [{
"id": "seats", "name": "seats", "displayName": "Seats", "type": "LICENSE",
"invoiceTiming": "IN_ARREARS", "enableProration": true, "usageCycle": "MONTHLY",
"config": {"maxQuantity": 500, "maxQuantityBreachAction": "DO_NOTHING"},
"ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
"rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": 10}]}]
  }],
  "minimumCommitment": {
"displayName": "Monthly minimum",
"rateValues": [{"currency": "USD", "rate": 1000}]
  },
  "creditGrantRateCards": [{
"id": "monthly_credits", "name": "monthly_credits", "invoiceTiming": "IN_ADVANCE",
"type": "RECURRING", "recurrenceConfig": {"interval": 1, "offset": 0},
"grantDetails": {"priority": 1, "expiryType": "PRICING_CYCLE",
                 "applicableEntityIds": ["ALL_USAGE_METER_RATE_CARDS"]},
"rateDetails": {"pricingModel": "TIERED", "currencySlabRateDetails": [
  {"currency": "USD", "creditAmount": 50,
   "slabDetails": [{"startAfter": 0, "priceType": "FLAT", "rate": 0}]}
]}
  }]
}
"#;

/// One `CardKind` serves the plan model, the invoice lines and the bulk operations:
/// its serde name is Togai's name, the one operations files and stored lines use.
#[test]
fn card_kinds_serialize_as_togai_names_them() {
    let names: Vec<Value> = CardKind::ALL
        .iter()
        .map(|k| serde_json::to_value(k).unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "USAGE",
            "FIXED_FEE",
            "LICENSE",
            "MINIMUM_COMMITMENT",
            "CREDIT_GRANT",
            "BILLING_ENTITLEMENT",
            "ENTITLEMENT_OVERAGE"
        ]
    );
    for kind in CardKind::ALL {
        assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        let back: CardKind = serde_json::from_value(json!(kind.as_str())).unwrap();
        assert_eq!(back, kind);
    }
}

fn example() -> Value {
    serde_json::from_str(EXAMPLE).unwrap()
}

/// The canonical form billrun stores for [`EXAMPLE`]. Changing this changes the
/// meaning of stored plans: only ever extend it.
const GOLDEN: &str = r#"{
  "name": "growth",
  "type": "BILLING",
  "supportedCurrencies": ["USD", "EUR"],
  "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "1"},
                         "gracePeriod": 3, "anniversaryCycle": false},
  "usageRateCards": [{
    "name": "api_calls", "displayName": "API calls", "tag": "usage",
    "invoiceTiming": "IN_ARREARS", "usageMeterId": "api_calls_meter",
    "ratePlan": {"pricingModel": "TIERED", "slabs": [
      {"order": 1, "startAfter": "0", "priceType": "PER_UNIT"},
      {"order": 2, "startAfter": "1000", "priceType": "PER_UNIT"},
      {"order": 3, "startAfter": "10000", "priceType": "PACKAGE", "slabConfig": {"packageSize": "100"}}
    ]},
    "rateValues": [
      {"currency": "EUR", "slabRates": [{"order": 1, "rate": "0.09"}, {"order": 2, "rate": "0.045"}, {"order": 3, "rate": "0.9"}]},
      {"currency": "USD", "slabRates": [{"order": 1, "rate": "0.1"}, {"order": 2, "rate": "0.05"}, {"order": 3, "rate": "1"}],
       "rateConfig": {"minimumRate": "5", "maximumRate": "5000"}}
    ]
  }],
  "fixedFeeRateCards": [{
    "id": "platform_fee", "name": "platform_fee", "displayName": "Platform fee",
    "invoiceTiming": "IN_ADVANCE", "type": "RECURRING", "enableProration": true,
    "recurrenceConfig": {"interval": 1, "offset": 0},
    "rateValues": [{"currency": "EUR", "rate": "89"}, {"currency": "USD", "rate": "99"}]
  }],
  "licenseRateCards": [{
    "id": "seats", "name": "seats", "displayName": "Seats", "type": "LICENSE",
    "invoiceTiming": "IN_ARREARS", "enableProration": true, "usageCycle": "MONTHLY",
    "config": {"maxQuantity": "500", "maxQuantityBreachAction": "DO_NOTHING"},
    "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": "0", "priceType": "PER_UNIT"}]},
    "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": "10"}]}]
  }],
  "minimumCommitment": {
    "displayName": "Monthly minimum",
    "rateValues": [{"currency": "USD", "rate": "1000"}]
  },
  "creditGrantRateCards": [{
    "id": "monthly_credits", "name": "monthly_credits", "invoiceTiming": "IN_ADVANCE",
    "type": "RECURRING", "recurrenceConfig": {"interval": 1, "offset": 0},
    "grantDetails": {"priority": 1, "expiryType": "PRICING_CYCLE",
                     "applicableEntityIds": ["ALL_USAGE_METER_RATE_CARDS"]},
    "rateDetails": {"pricingModel": "TIERED", "currencySlabRateDetails": [
      {"currency": "USD", "creditAmount": "50",
       "slabDetails": [{"order": 1, "startAfter": "0", "priceType": "FLAT", "rate": "0"}]}
    ]}
  }]
}"#;

#[test]
fn example_plan_has_a_stable_canonical_form() {
    let plan = Plan::from_json(&example()).unwrap();
    let golden: Value = serde_json::from_str(GOLDEN).unwrap();
    assert_eq!(plan.to_json(), golden);
    let again = Plan::from_json(&plan.to_json()).unwrap();
    assert_eq!(again, plan);
    assert_eq!(again.to_json(), golden);
}

#[test]
fn example_plan_is_typed() {
    let plan = Plan::from_json(&example()).unwrap();
    assert_eq!(plan.supported_currencies, [Currency::USD, Currency::EUR]);
    let usage = &plan.usage_cards[0];
    assert_eq!(usage.card.tag.as_deref(), Some("usage"));
    assert_eq!(
        usage.rate_plan.slabs()[2].price_type,
        PriceType::Package {
            package_size: dec!(100)
        }
    );
    let usd = &usage.rate_values[&Currency::USD];
    assert_eq!(usd.slab_rates(), [dec!(0.1), dec!(0.05), dec!(1)]);
    assert_eq!(
        (usd.minimum_rate(), usd.maximum_rate()),
        (Some(dec!(5)), Some(dec!(5000)))
    );
    let fee = &plan.fixed_fee_cards[0];
    assert_eq!(
        fee.recurrence,
        Recurrence::Recurring {
            interval: 1,
            offset: 0
        }
    );
    assert_eq!(fee.card.invoice_timing, InvoiceTiming::InAdvance);
    assert_eq!(fee.rate_values[&Currency::EUR], dec!(89));
    let seats = &plan.license_cards[0];
    assert_eq!(
        (seats.license_id(), seats.usage_cycle),
        ("seats", Some(Interval::Monthly))
    );
    assert_eq!(seats.max_quantity, Some(dec!(500)));
    let mc = plan.minimum_commitment.as_ref().unwrap();
    assert_eq!(
        (mc.display(), mc.rate_values[&Currency::USD]),
        ("Monthly minimum", dec!(1000))
    );
    let grant = &plan.credit_grant_cards[0];
    assert_eq!(grant.rate_details[&Currency::USD].credit_amount, dec!(50));
    assert_eq!(grant.grant_details.expiry_type, ExpiryType::PricingCycle);
}

#[test]
fn requirements_and_currency_coverage() {
    let plan = Plan::from_json(&example()).unwrap();
    let needs = plan.requirements();
    assert_eq!(
        needs.usage_meter_ids.into_iter().collect::<Vec<_>>(),
        ["api_calls_meter"]
    );
    assert_eq!(needs.license_ids.into_iter().collect::<Vec<_>>(), ["seats"]);
    assert!(plan.cards_without_rate(Currency::USD).is_empty());
    assert_eq!(
        plan.cards_without_rate(Currency::EUR),
        ["seats", "monthly_credits"]
    );
}

/// The errors of the example after `change`, as "path: message".
fn errors_after(change: impl FnOnce(&mut Value)) -> Vec<String> {
    let mut v = example();
    change(&mut v);
    match Plan::from_json(&v) {
        Ok(_) => Vec::new(),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

fn assert_error(errors: &[String], path: &str, fragment: &str) {
    let prefix = format!("{path}: ");
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with(&prefix) && e.contains(fragment)),
        "no error at {path} containing {fragment:?} in {errors:#?}"
    );
}

#[test]
fn invalid_plans_are_refused_naming_the_field() {
    type Change = fn(&mut Value);
    let cases: &[(Change, &str, &str)] = &[
        (
            |v| v["fooRateCards"] = json!([]),
            "fooRateCards",
            "unknown field",
        ),
        (
            |v| v["billingEntitlementRateCards"] = json!([{"name": "calls"}]),
            "billingEntitlementRateCards[0].featureId",
            "is required",
        ),
        (
            |v| {
                v["entitlementOverageRateCards"] =
                    json!([{"name": "over", "featureId": "f", "billingConfig": {"interval": 0}}])
            },
            "entitlementOverageRateCards[0].billingConfig.interval",
            "at least 1",
        ),
        (
            |v| v["usageRateCards"][0]["type"] = json!("METERED"),
            "usageRateCards[0].type",
            "expected USAGE",
        ),
        (
            |v| v["licenseRateCards"][0]["type"] = json!("SEATS"),
            "licenseRateCards[0].type",
            "expected one of LICENSE, NAMED_LICENSE",
        ),
        (
            |v| v["usageRateCards"][0]["colour"] = json!("red"),
            "usageRateCards[0].colour",
            "unknown field",
        ),
        (
            |v| v["usageRateCards"][0]["name"] = json!(" "),
            "usageRateCards[0].name",
            "must not be empty",
        ),
        (
            |v| v["fixedFeeRateCards"][0]["name"] = json!("api_calls"),
            "fixedFeeRateCards[0].name",
            "already the name of usageRateCards[0]",
        ),
        (
            |v| v["usageRateCards"][0]["ratePlan"]["slabs"][2]["startAfter"] = json!(500),
            "usageRateCards[0].ratePlan.slabs[2].startAfter",
            "ascending",
        ),
        (
            |v| v["usageRateCards"][0]["ratePlan"]["slabs"][1]["order"] = json!(1),
            "usageRateCards[0].ratePlan.slabs[1].order",
            "ascending",
        ),
        (
            |v| v["usageRateCards"][0]["ratePlan"]["slabs"] = json!([]),
            "usageRateCards[0].ratePlan.slabs",
            "expected 1 to 100",
        ),
        (
            |v| v["usageRateCards"][0]["ratePlan"]["slabs"][2]["slabConfig"] = Value::Null,
            "usageRateCards[0].ratePlan.slabs[2].slabConfig.packageSize",
            "positive packageSize",
        ),
        (
            |v| {
                v["usageRateCards"][0]["ratePlan"]["slabs"][2]["slabConfig"]["packageSize"] =
                    json!("0")
            },
            "usageRateCards[0].ratePlan.slabs[2].slabConfig.packageSize",
            "positive packageSize",
        ),
        (
            |v| {
                v["usageRateCards"][0]["ratePlan"]["slabs"][0]["slabConfig"] =
                    json!({"packageSize": 5})
            },
            "usageRateCards[0].ratePlan.slabs[0].slabConfig.packageSize",
            "only a PACKAGE slab",
        ),
        (
            |v| v["usageRateCards"][0]["ratePlan"]["pricingModel"] = json!("STAIRSTEP"),
            "usageRateCards[0].ratePlan.pricingModel",
            "TIERED, VOLUME",
        ),
        (
            |v| v["supportedCurrencies"] = json!(["USD", "EUR", "GBP"]),
            "usageRateCards[0].rateValues",
            "no rate for GBP, which the plan supports",
        ),
        (
            |v| v["supportedCurrencies"] = json!(["USD", "EUR", "GBP"]),
            "minimumCommitment.rateValues",
            "no rate for GBP",
        ),
        (
            |v| v["supportedCurrencies"] = json!(["USD", "USD"]),
            "supportedCurrencies[1]",
            "listed twice",
        ),
        (
            |v| v["supportedCurrencies"] = json!(["USD", "usd"]),
            "supportedCurrencies[1]",
            "ISO 4217",
        ),
        (
            |v| v["fixedFeeRateCards"][0]["rateValues"][1]["currency"] = json!("JPY"),
            "fixedFeeRateCards[0].rateValues",
            "JPY, which is not in the plan's supportedCurrencies",
        ),
        (
            |v| v["usageRateCards"][0]["rateValues"][0]["slabRates"][1]["rate"] = json!(-0.01),
            "usageRateCards[0].rateValues[0].slabRates[1].rate",
            "must not be negative",
        ),
        (
            |v| v["fixedFeeRateCards"][0]["rateValues"][0]["rate"] = json!("-1"),
            "fixedFeeRateCards[0].rateValues[0].rate",
            "must not be negative",
        ),
        (
            |v| v["usageRateCards"][0]["rateValues"][0]["rateConfig"]["minimumRate"] = json!(6000),
            "usageRateCards[0].rateValues[0].rateConfig.minimumRate",
            "above the maximumRate",
        ),
        (
            |v| {
                v["usageRateCards"][0]["rateValues"][1]["slabRates"] =
                    json!([{"order": 1, "rate": 1}])
            },
            "usageRateCards[0].rateValues[1].slabRates",
            "no rate for slab order 2",
        ),
        (
            |v| v["usageRateCards"][0]["invoiceTiming"] = json!("IN_ADVANCE"),
            "usageRateCards[0].invoiceTiming",
            "not possible for this card",
        ),
        (
            |v| v["fixedFeeRateCards"][0]["invoiceTiming"] = json!("LATER"),
            "fixedFeeRateCards[0].invoiceTiming",
            "IN_ADVANCE, IN_ARREARS, PREPAID",
        ),
        (
            |v| v["fixedFeeRateCards"][0]["type"] = json!("MONTHLY"),
            "fixedFeeRateCards[0].type",
            "ONE_TIME, RECURRING",
        ),
        (
            |v| v["fixedFeeRateCards"][0]["recurrenceConfig"]["interval"] = json!(0),
            "fixedFeeRateCards[0].recurrenceConfig.interval",
            "at least 1",
        ),
        (
            |v| v["fixedFeeRateCards"][0]["type"] = json!("ONE_TIME"),
            "fixedFeeRateCards[0].recurrenceConfig",
            "only a RECURRING card",
        ),
        (
            |v| v["licenseRateCards"][0]["usageCycle"] = json!("ANNUALLY"),
            "licenseRateCards[0].usageCycle",
            "longer than the plan's MONTHLY",
        ),
        (
            |v| v["usageRateCards"][0]["usageMeterId"] = Value::Null,
            "usageRateCards[0].usageMeterId",
            "is required",
        ),
        (
            |v| v["pricingCycleConfig"]["interval"] = json!("DAILY"),
            "pricingCycleConfig.interval",
            "WEEKLY",
        ),
        (
            |v| v["creditGrantRateCards"][0]["grantDetails"]["expiryType"] = json!("CUSTOM"),
            "creditGrantRateCards[0].grantDetails.expiryDuration",
            "required when expiryType is CUSTOM",
        ),
        (
            |v| {
                v["creditGrantRateCards"][0]["rateDetails"]["currencySlabRateDetails"][0]
                    ["slabDetails"][0]["rate"] = json!(-2)
            },
            "creditGrantRateCards[0].rateDetails.currencySlabRateDetails[0].slabDetails[0].rate",
            "must not be negative",
        ),
        (
            |v| {
                v["creditGrantRateCards"][0]["rateDetails"]["currencySlabRateDetails"][0]
                    ["slabDetails"] = json!([])
            },
            "creditGrantRateCards[0].rateDetails.currencySlabRateDetails[0].slabDetails",
            "expected 1 to 100",
        ),
        (|v| v["type"] = json!("ENTITLEMENT"), "type", "BILLING"),
        (
            |v| {
                v.as_object_mut().unwrap().remove("name");
            },
            "name",
            "is required",
        ),
    ];
    for (change, path, fragment) in cases {
        assert_error(&errors_after(change), path, fragment);
    }
}

#[test]
fn too_many_slabs_are_refused() {
    let errors = errors_after(|v| {
        let slabs: Vec<_> = (1..=101)
            .map(|i| json!({"order": i, "startAfter": i * 10, "priceType": "PER_UNIT"}))
            .collect();
        v["licenseRateCards"][0]["ratePlan"]["slabs"] = json!(slabs);
    });
    assert_error(
        &errors,
        "licenseRateCards[0].ratePlan.slabs",
        "has 101 slabs: expected 1 to 100",
    );
}

#[test]
fn all_errors_are_reported_at_once() {
    let errors = errors_after(|v| {
        v["name"] = json!("");
        v["usageRateCards"][0]["ratePlan"]["slabs"][2]["startAfter"] = json!(10);
        v["fixedFeeRateCards"][0]["type"] = json!("SOMETIMES");
        v["licenseRateCards"][0]["rateValues"][0]["slabRates"][0]["rate"] = json!(-1);
    });
    assert_eq!(errors.len(), 4, "{errors:#?}");
}

#[test]
fn minimal_plan_gets_defaults() {
    let plan = Plan::from_json(&json!({
        "name": "tiny",
        "supportedCurrencies": ["JPY"],
        "pricingCycleConfig": {"interval": "WEEKLY"},
        "fixedFeeRateCards": [{"name": "base", "type": "ONE_TIME", "rateValues": [{"currency": "JPY", "rate": 500}]}]
    }))
    .unwrap();
    let fee = &plan.fixed_fee_cards[0];
    assert_eq!(fee.recurrence, Recurrence::OneTime);
    assert_eq!(fee.card.invoice_timing, InvoiceTiming::InArrears);
    assert!(!fee.enable_proration);
    assert_eq!(fee.card.display(), "base");
    assert_eq!(Plan::from_json(&plan.to_json()).unwrap(), plan);
}

#[test]
fn recurrence_schedules() {
    let every_third_from_two = Recurrence::Recurring {
        interval: 3,
        offset: 2,
    };
    let charged: Vec<u32> = (0..10)
        .filter(|i| every_third_from_two.applies_in(*i))
        .collect();
    assert_eq!(charged, [2, 5, 8]);
    let once: Vec<u32> = (0..5)
        .filter(|i| Recurrence::OneTime.applies_in(*i))
        .collect();
    assert_eq!(once, [0]);
}

#[test]
fn add_on_ids_and_named_licenses_parse_and_write_back() {
    let mut v = example();
    v["fixedFeeRateCards"][0]["addOnId"] = json!("priority_support");
    v["licenseRateCards"][0]["addOnId"] = json!("named_seats");
    v["licenseRateCards"][0]["type"] = json!("NAMED_LICENSE");
    v["creditGrantRateCards"][0]["addOnId"] = json!("credit_pack");
    let plan = Plan::from_json(&v).unwrap();
    assert_eq!(
        plan.fixed_fee_cards[0].card.add_on_id.as_deref(),
        Some("priority_support")
    );
    assert!(plan.license_cards[0].named);
    assert_eq!(
        plan.credit_grant_cards[0].card.add_on_id.as_deref(),
        Some("credit_pack")
    );
    let written = plan.to_json();
    assert_eq!(
        written["licenseRateCards"][0]["type"],
        json!("NAMED_LICENSE")
    );
    assert_eq!(
        written["licenseRateCards"][0]["addOnId"],
        json!("named_seats")
    );
    assert_eq!(Plan::from_json(&written).unwrap(), plan);
    // A plain license card stays LICENSE, and a usage card cannot hold an add-on.
    assert!(!Plan::from_json(&example()).unwrap().license_cards[0].named);
    let errors = errors_after(|v| v["usageRateCards"][0]["addOnId"] = json!("x"));
    assert_error(&errors, "usageRateCards[0].addOnId", "unknown field");
}
