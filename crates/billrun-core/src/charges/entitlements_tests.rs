//! Table tests of the feature cards' charges (the rules in [`crate::charges`]'s
//! docs), every amount worked out by hand.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

use super::*;
use crate::testing::d;

fn jan() -> Period {
    Period::new(d("2026-01-01"), d("2026-02-01"))
}

fn input(index: u32, used: Decimal, prepaid_granted: Decimal) -> CycleInput {
    CycleInput {
        window: CycleWindow {
            index,
            full: jan(),
            billed: jan(),
        },
        usage: BTreeMap::new(),
        features: BTreeMap::from([(
            "api_calls".to_string(),
            FeatureUse {
                used,
                prepaid_granted,
            },
        )]),
        licenses: BTreeMap::new(),
        earlier: Vec::new(),
        last: false,
    }
}

/// An allowance of 1,000 API calls for 49.00 (one FLAT slab), and the overage card:
/// TIERED, 0.05 per call for the first 300 over, 0.02 after.
pub(super) fn plan(timing: &str, recurrence: Value, overage_extra: Value) -> Plan {
    let mut overage = json!({
        "name": "api_overage", "displayName": "API calls over the allowance",
        "featureId": "api_calls",
        "ratePlan": {"pricingModel": "TIERED", "slabs": [
            {"order": 1, "startAfter": 0, "priceType": "PER_UNIT"},
            {"order": 2, "startAfter": 300, "priceType": "PER_UNIT"}]},
        "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": "0.05"}, {"order": 2, "rate": "0.02"}]}]
    });
    for (k, v) in overage_extra.as_object().unwrap() {
        overage[k] = v.clone();
    }
    let mut entitlement = json!({
        "name": "api_allowance", "featureId": "api_calls", "invoiceTiming": timing,
        "featureConfigs": [{"effectiveUntil": "P1M", "featureCreditLimit": 1000}],
        "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "FLAT"}]},
        "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": 49}]}]
    });
    if !recurrence.is_null() {
        entitlement["recurrenceConfig"] = recurrence;
    }
    let v = json!({
        "name": "api", "supportedCurrencies": ["USD"],
        "pricingCycleConfig": {"interval": "MONTHLY"},
        "billingEntitlementRateCards": [entitlement],
        "entitlementOverageRateCards": [overage],
    });
    Plan::from_json(&v).unwrap_or_else(|e| panic!("{e}"))
}

pub(super) fn charges(plan: &Plan, input: &CycleInput) -> CycleCharges {
    cycle_charges(plan, Currency::USD, RoundingMode::default(), input).unwrap()
}

pub(super) fn line(c: &CycleCharges, kind: CardKind) -> Option<&ChargeLine> {
    c.lines.iter().find(|l| l.kind == kind)
}

#[test]
fn an_allowance_of_1000_with_1400_used_bills_400_at_the_overage_slabs() {
    let plan = plan("IN_ADVANCE", Value::Null, json!({}));
    let c = charges(&plan, &input(0, dec!(1400), dec!(0)));
    let over = line(&c, CardKind::EntitlementOverage).unwrap();
    // 1,400 - 1,000 = 400 over: 300 x 0.05 + 100 x 0.02 = 15.00 + 2.00 = 17.00.
    assert_eq!(over.quantity, dec!(400));
    assert_eq!(over.amount, dec!(17.00));
    let slabs: Vec<_> = over.details.iter().map(|d| d.amount).collect();
    assert_eq!(slabs, [dec!(15.00), dec!(2.00)]);
    assert_eq!(over.timing, InvoiceTiming::InArrears);
    assert_eq!(over.description, "1,400 used, 1,000 included: 400 over");
    // The allowance's price: one FLAT slab of 49.00, billed in advance.
    let allowance = line(&c, CardKind::BillingEntitlement).unwrap();
    assert_eq!(
        (allowance.quantity, allowance.amount),
        (dec!(1000), dec!(49.00))
    );
    // Its description names no feature id ("api_calls"): the display name does.
    assert_eq!(allowance.description, "1,000 included");
    assert!(allowance.timing.is_billed_in_advance());
    // Within the allowance nothing is over: 900 used is a line of 0.00.
    let c = charges(&plan, &input(0, dec!(900), dec!(0)));
    let over = line(&c, CardKind::EntitlementOverage).unwrap();
    assert_eq!((over.quantity, over.amount), (dec!(0), dec!(0.00)));
}

#[test]
fn max_quantity_caps_the_overage_billed() {
    let plan = plan("IN_ARREARS", Value::Null, json!({"maxQuantity": 350}));
    let c = charges(&plan, &input(0, dec!(1400), dec!(0)));
    let over = line(&c, CardKind::EntitlementOverage).unwrap();
    // 400 over, capped at 350: 300 x 0.05 + 50 x 0.02 = 15.00 + 1.00 = 16.00.
    assert_eq!((over.quantity, over.amount), (dec!(350), dec!(16.00)));
    assert_eq!(
        over.description,
        "1,400 used, 1,000 included: 400 over, 350 billed (the most per cycle)"
    );
}

#[test]
fn a_prepaid_allowance_counts_only_once_granted_by_the_ledger() {
    let plan = plan("PREPAID", Value::Null, json!({}));
    assert_eq!(
        plan_allowance(&plan, "api_calls", 0, d("2026-01-01")),
        dec!(0)
    );
    // Not paid: nothing granted, all 1,400 are over:
    // 300 x 0.05 + 1,100 x 0.02 = 15.00 + 22.00 = 37.00.
    let c = charges(&plan, &input(0, dec!(1400), dec!(0)));
    let over = line(&c, CardKind::EntitlementOverage).unwrap();
    assert_eq!((over.quantity, over.amount), (dec!(1400), dec!(37.00)));
    // Paid: the ledger's grant of 1,000 makes it 400 over, 17.00 as above.
    let c = charges(&plan, &input(0, dec!(1400), dec!(1000)));
    let over = line(&c, CardKind::EntitlementOverage).unwrap();
    assert_eq!((over.quantity, over.amount), (dec!(400), dec!(17.00)));
    // The price of a PREPAID allowance goes on the invoice that opens the cycle.
    let allowance = line(&c, CardKind::BillingEntitlement).unwrap();
    assert_eq!(allowance.timing, InvoiceTiming::Prepaid);
    assert!(c
        .in_advance()
        .any(|l| l.kind == CardKind::BillingEntitlement));
}

#[test]
fn recurrence_selects_the_cycles_that_grant_and_bill_the_allowance() {
    let plan = plan("IN_ADVANCE", json!({"interval": 2, "offset": 0}), json!({}));
    assert_eq!(
        plan_allowance(&plan, "api_calls", 0, d("2026-01-01")),
        dec!(1000)
    );
    assert_eq!(
        plan_allowance(&plan, "api_calls", 1, d("2026-01-01")),
        dec!(0)
    );
    assert_eq!(
        plan_allowance(&plan, "api_calls", 2, d("2026-01-01")),
        dec!(1000)
    );
    // Cycle 1 grants nothing and bills no allowance: 1,400 over = 37.00 (as above).
    let c = charges(&plan, &input(1, dec!(1400), dec!(0)));
    assert!(line(&c, CardKind::BillingEntitlement).is_none());
    assert_eq!(
        line(&c, CardKind::EntitlementOverage).unwrap().amount,
        dec!(37.00)
    );
}

#[test]
fn the_boundary_invoice_holds_the_closing_overage_and_the_opening_allowance() {
    let plan = plan("IN_ADVANCE", Value::Null, json!({}));
    let m = RoundingMode::default();
    let closing = input(0, dec!(1400), dec!(0));
    let opening = input(1, dec!(0), dec!(0));
    let contents =
        invoice_contents(&plan, Currency::USD, m, Some(&closing), Some(&opening)).unwrap();
    let lines: Vec<_> = contents
        .lines
        .iter()
        .map(|l| (l.kind, l.cycle_index, l.amount))
        .collect();
    // Cycle 0's overage (17.00, above), then cycle 1's allowance (49.00).
    assert_eq!(
        lines,
        [
            (CardKind::EntitlementOverage, 0, dec!(17.00)),
            (CardKind::BillingEntitlement, 1, dec!(49.00)),
        ]
    );
}

#[test]
fn an_overage_card_without_a_rate_in_the_invoice_currency_is_an_error() {
    let plan = plan("IN_ADVANCE", Value::Null, json!({}));
    let e = cycle_charges(
        &plan,
        Currency::parse("EUR").unwrap(),
        RoundingMode::default(),
        &input(0, dec!(1), dec!(0)),
    )
    .unwrap_err();
    assert!(matches!(e, ChargeError::UnsupportedCurrency { .. }));
    assert_eq!(
        plan.cards_without_rate(Currency::USD),
        Vec::<&str>::new(),
        "both feature cards price USD"
    );
}
