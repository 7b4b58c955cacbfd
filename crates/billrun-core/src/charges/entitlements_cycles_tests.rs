//! Table tests of the feature cards over several cycles: an overage card's
//! `billingConfig {interval, startOffset}` (overage of several cycles billed
//! together) and `featureConfigs` entries' `effectiveFrom` / `effectiveUntil`. Every
//! amount worked out by hand; the plan is [`super::entitlements_tests::plan`]'s: an
//! allowance of 1,000 API calls per monthly cycle, overage 0.05 per call for the
//! first 300, 0.02 after.

use std::collections::BTreeMap;

use chrono::Months;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

use super::entitlements_tests::{charges, line, plan};
use super::*;
use crate::plan::EffectiveAt;
use crate::testing::d;

/// The billed days of monthly cycle `index` from January 2026.
fn month(index: u32) -> CycleWindow {
    let start = d("2026-01-01") + Months::new(index);
    let p = Period::new(start, start + Months::new(1));
    CycleWindow {
        index,
        full: p,
        billed: p,
    }
}

fn uses(used: Decimal) -> BTreeMap<String, FeatureUse> {
    BTreeMap::from([(
        "api_calls".to_string(),
        FeatureUse {
            used,
            prepaid_granted: Decimal::ZERO,
        },
    )])
}

/// Closing cycle `index` of a plan association whose cycles used `used[0]`,
/// `used[1]`, ... (`used[index]` the closing one's), the earlier ones all given.
fn closing(index: u32, used: &[Decimal], last: bool) -> CycleInput {
    CycleInput {
        window: month(index),
        usage: BTreeMap::new(),
        features: uses(used[index as usize]),
        licenses: BTreeMap::new(),
        earlier: (0..index)
            .map(|i| EarlierCycle {
                window: month(i),
                features: uses(used[i as usize]),
            })
            .collect(),
        last,
    }
}

fn overage(plan: &Plan, input: &CycleInput) -> Option<(Decimal, Decimal)> {
    let c = charges(plan, input);
    line(&c, CardKind::EntitlementOverage).map(|l| (l.quantity, l.amount))
}

#[test]
fn the_cycles_an_overage_card_bills_follow_its_billing_config() {
    let card = |b: Value| {
        plan("IN_ADVANCE", Value::Null, json!({"billingConfig": b})).overage_cards[0].clone()
    };
    // Interval 3, offset 0: cycles 0, 3, 6, ... each the cycles since the last bill.
    let c = card(json!({"interval": 3, "startOffset": 0}));
    let billed: Vec<_> = (0..7).map(|i| c.cycles_billed_at(i, false)).collect();
    assert_eq!(
        billed,
        [
            Some(0..=0),
            None,
            None,
            Some(1..=3),
            None,
            None,
            Some(4..=6)
        ]
    );
    // The association ending with cycle 2 bills cycles 1 and 2 there.
    assert_eq!(c.cycles_billed_at(2, true), Some(1..=2));
    // Interval 3, offset 1: cycle 1 bills cycles 0 and 1, then 4 bills 2 to 4.
    let c = card(json!({"interval": 3, "startOffset": 1}));
    let billed: Vec<_> = (0..5).map(|i| c.cycles_billed_at(i, false)).collect();
    assert_eq!(billed, [None, Some(0..=1), None, None, Some(2..=4)]);
    assert_eq!(c.cycles_billed_at(0, true), Some(0..=0));
    // Without billingConfig (or {1, 0}): every cycle, itself.
    let c = plan("IN_ADVANCE", Value::Null, json!({})).overage_cards[0].clone();
    assert_eq!(c.cycles_billed_at(5, false), Some(5..=5));
}

#[test]
fn interval_3_offset_0_bills_cycle_0_then_the_overage_of_cycles_1_to_3_in_cycle_3() {
    let plan = plan(
        "IN_ADVANCE",
        Value::Null,
        json!({"billingConfig": {"interval": 3, "startOffset": 0}}),
    );
    let used = [dec!(1400), dec!(1200), dec!(900), dec!(1300)];
    // Cycle 0 is billed alone: 1,400 - 1,000 = 400 over:
    // 300 x 0.05 + 100 x 0.02 = 15.00 + 2.00 = 17.00.
    assert_eq!(
        overage(&plan, &closing(0, &used, false)),
        Some((dec!(400), dec!(17.00)))
    );
    // Cycles 1 and 2 bill no overage (it accumulates).
    assert_eq!(overage(&plan, &closing(1, &used, false)), None);
    assert_eq!(overage(&plan, &closing(2, &used, false)), None);
    // Cycle 3 bills cycles 1 to 3, each against its own allowance of 1,000:
    // (1,200 - 1,000) + 0 (900 is under: its 100 unused do not offset) + (1,300 -
    // 1,000) = 200 + 0 + 300 = 500 over: 300 x 0.05 + 200 x 0.02 = 15.00 + 4.00 = 19.00.
    let c = charges(&plan, &closing(3, &used, false));
    let over = line(&c, CardKind::EntitlementOverage).unwrap();
    assert_eq!((over.quantity, over.amount), (dec!(500), dec!(19.00)));
    assert_eq!(
        over.description,
        "cycle 1: 1,200 used, 1,000 included; cycle 2: 900 used, 1,000 included; \
         cycle 3: 1,300 used, 1,000 included: 500 over"
    );
    assert_eq!(over.cycle_index, 3);
    // The allowance itself is still sold every cycle: 49.00 in each.
    assert_eq!(
        line(&c, CardKind::BillingEntitlement).map(|l| l.amount),
        Some(dec!(49.00))
    );
}

#[test]
fn interval_3_offset_1_bills_cycles_0_and_1_in_cycle_1() {
    let plan = plan(
        "IN_ADVANCE",
        Value::Null,
        json!({"billingConfig": {"interval": 3, "startOffset": 1}}),
    );
    let used = [dec!(1400), dec!(1100), dec!(1250)];
    // Cycle 0: nothing billed yet.
    assert_eq!(overage(&plan, &closing(0, &used, false)), None);
    // Cycle 1 bills cycles 0 and 1: 400 + 100 = 500 over:
    // 300 x 0.05 + 200 x 0.02 = 15.00 + 4.00 = 19.00.
    assert_eq!(
        overage(&plan, &closing(1, &used, false)),
        Some((dec!(500), dec!(19.00)))
    );
    // Cycle 2: nothing (the next bill is cycle 4) ...
    assert_eq!(overage(&plan, &closing(2, &used, false)), None);
    // ... unless the association ends with it: cycle 2 alone, 1,250 - 1,000 = 250
    // over: 250 x 0.05 = 12.50.
    assert_eq!(
        overage(&plan, &closing(2, &used, true)),
        Some((dec!(250), dec!(12.50)))
    );
}

#[test]
fn max_quantity_caps_the_overage_of_the_cycles_billed_together() {
    let plan = plan(
        "IN_ADVANCE",
        Value::Null,
        json!({"billingConfig": {"interval": 3, "startOffset": 0}, "maxQuantity": 350}),
    );
    let used = [dec!(1000), dec!(1200), dec!(900), dec!(1300)];
    // Cycles 1 to 3: 200 + 0 + 300 = 500 over, capped at 350:
    // 300 x 0.05 + 50 x 0.02 = 15.00 + 1.00 = 16.00.
    let c = charges(&plan, &closing(3, &used, false));
    let over = line(&c, CardKind::EntitlementOverage).unwrap();
    assert_eq!((over.quantity, over.amount), (dec!(350), dec!(16.00)));
    assert!(over
        .description
        .ends_with(": 500 over, 350 billed (the most per cycle)"));
}

#[test]
fn an_earlier_cycle_missing_from_the_input_counts_no_overage() {
    let plan = plan(
        "IN_ADVANCE",
        Value::Null,
        json!({"billingConfig": {"interval": 3, "startOffset": 0}}),
    );
    // Cycle 3 with only cycle 3 itself known (e.g. the plan attached in cycle 3's
    // association): 1,300 - 1,000 = 300 over = 300 x 0.05 = 15.00.
    let mut input = closing(3, &[dec!(0), dec!(0), dec!(0), dec!(1300)], false);
    input.earlier.clear();
    assert_eq!(overage(&plan, &input), Some((dec!(300), dec!(15.00))));
}

/// An allowance card priced 0.04 per call, with `configs` as its featureConfigs.
fn dated_plan(configs: Value) -> Result<Plan, String> {
    let v = json!({
        "name": "api", "supportedCurrencies": ["USD"],
        "pricingCycleConfig": {"interval": "MONTHLY"},
        "billingEntitlementRateCards": [{
            "name": "api_allowance", "featureId": "api_calls", "invoiceTiming": "IN_ADVANCE",
            "featureConfigs": configs,
            "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": "0.04"}]}]
        }],
    });
    Plan::from_json(&v).map_err(|e| e.to_string())
}

#[test]
fn a_feature_config_grants_in_the_cycles_in_force_on_their_first_day() {
    // 1,000 every cycle (P0D to P1M after each cycle's first day), plus 500 from
    // 2026-02-01 (inclusive) to 2026-04-01 (exclusive): February and March.
    let plan = dated_plan(json!([
        {"effectiveFrom": "P0D", "effectiveUntil": "P1M", "featureCreditLimit": 1000},
        {"effectiveFrom": "2026-02-01", "effectiveUntil": "2026-04-01", "featureCreditLimit": 500}
    ]))
    .unwrap();
    let allowance: Vec<_> = (0..4)
        .map(|i| plan_allowance(&plan, "api_calls", i, month(i).billed.start))
        .collect();
    assert_eq!(allowance, [dec!(1000), dec!(1500), dec!(1500), dec!(1000)]);
    // Its price per cycle: January 1,000 x 0.04 = 40.00; February 1,500 x 0.04 = 60.00.
    let price = |i: u32| {
        let c = charges(&plan, &closing(i, &[dec!(0); 4], false));
        line(&c, CardKind::BillingEntitlement).map(|l| (l.quantity, l.amount))
    };
    assert_eq!(price(0), Some((dec!(1000), dec!(40.00))));
    assert_eq!(price(1), Some((dec!(1500), dec!(60.00))));
    assert_eq!(price(3), Some((dec!(1000), dec!(40.00))));
    // A card whose only entry ended before January grants and charges nothing there.
    let plan = dated_plan(json!([
        {"effectiveFrom": "2025-01-01", "effectiveUntil": "2026-01-01", "featureCreditLimit": 700}
    ]))
    .unwrap();
    assert_eq!(
        plan_allowance(&plan, "api_calls", 0, d("2026-01-01")),
        dec!(0)
    );
    assert_eq!(
        plan_allowance(&plan, "api_calls", 0, d("2025-12-01")),
        dec!(700)
    );
    let c = charges(&plan, &closing(0, &[dec!(0)], false));
    assert!(line(&c, CardKind::BillingEntitlement).is_none());
    // Durations: P2W and P1Y6M parse; 15 days still covers the first day.
    assert_eq!(
        EffectiveAt::parse("P1Y6M"),
        Ok(EffectiveAt::AfterCycleStart {
            months: 18,
            days: 0
        })
    );
    assert_eq!(
        EffectiveAt::parse("P2W3D"),
        Ok(EffectiveAt::AfterCycleStart {
            months: 0,
            days: 17
        })
    );
    let plan = dated_plan(json!([{"effectiveUntil": "P15D", "featureCreditLimit": 100}])).unwrap();
    assert_eq!(
        plan_allowance(&plan, "api_calls", 7, d("2026-08-01")),
        dec!(100)
    );
}

#[test]
fn feature_configs_and_billing_configs_that_would_never_apply_are_refused() {
    let e = dated_plan(
        json!([{"effectiveFrom": "P1D", "effectiveUntil": "P1M", "featureCreditLimit": 1}]),
    )
    .unwrap_err();
    assert!(
        e.contains("billingEntitlementRateCards[0].featureConfigs[0].effectiveFrom")
            && e.contains("use P0D"),
        "{e}"
    );
    let e =
        dated_plan(json!([{"effectiveUntil": "one month", "featureCreditLimit": 1}])).unwrap_err();
    assert!(
        e.contains("featureConfigs[0].effectiveUntil")
            && e.contains("neither an ISO-8601 duration"),
        "{e}"
    );
    let e = dated_plan(json!([
        {"effectiveFrom": "2026-03-01", "effectiveUntil": "2026-03-01", "featureCreditLimit": 1}
    ]))
    .unwrap_err();
    assert!(e.contains("is not after effectiveFrom"), "{e}");
    for bad in ["P", "P1", "PM", "P1D1M", "P1H", "2026-02-30"] {
        assert!(EffectiveAt::parse(bad).is_err(), "{bad}");
    }
    let v = json!({
        "name": "api", "supportedCurrencies": ["USD"],
        "pricingCycleConfig": {"interval": "MONTHLY"},
        "entitlementOverageRateCards": [{
            "name": "api_overage", "featureId": "api_calls",
            "billingConfig": {"interval": 0, "startOffset": 2},
            "ratePlan": {"pricingModel": "TIERED", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": "0.05"}]}]
        }],
    });
    let e = Plan::from_json(&v).unwrap_err().to_string();
    assert!(
        e.contains("entitlementOverageRateCards[0].billingConfig.interval")
            && e.contains("at least 1"),
        "{e}"
    );
}
