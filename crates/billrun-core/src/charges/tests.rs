//! Tests of `charges` (moved out of `mod.rs` to keep it readable in one sitting).

use super::*;
use crate::testing::d;
use rust_decimal_macros::dec;
use serde_json::json;

pub(super) fn p(a: &str, b: &str) -> Period {
    Period::new(d(a), d(b))
}

fn window(index: u32, full: Period, billed: Period) -> CycleWindow {
    CycleWindow {
        index,
        full,
        billed,
    }
}

pub(super) fn jan() -> Period {
    p("2026-01-01", "2026-02-01")
}

fn input(index: u32, billed: Period) -> CycleInput {
    CycleInput {
        window: window(index, jan(), billed),
        usage: BTreeMap::new(),
        features: Default::default(),
        earlier: Vec::new(),
        last: false,
        licenses: BTreeMap::new(),
    }
}

fn plan(cards: serde_json::Value) -> Plan {
    let mut v = json!({
        "name": "p",
        "supportedCurrencies": ["USD"],
        "pricingCycleConfig": {"interval": "MONTHLY"},
    });
    for (k, c) in cards.as_object().unwrap() {
        v[k] = c.clone();
    }
    Plan::from_json(&v).unwrap_or_else(|e| panic!("{e}"))
}

fn usd(rate: serde_json::Value) -> serde_json::Value {
    json!([{"currency": "USD", "slabRates": [{"order": 1, "rate": rate}]}])
}

fn per_unit_license(extra: serde_json::Value) -> Plan {
    let mut card = json!({
        "name": "seats",
        "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
        "rateValues": usd(json!(1)),
    });
    for (k, v) in extra.as_object().unwrap() {
        card[k] = v.clone();
    }
    plan(json!({"licenseRateCards": [card]}))
}

fn charge(plan: &Plan, input: &CycleInput) -> CycleCharges {
    cycle_charges(plan, Currency::USD, RoundingMode::default(), input).unwrap()
}

fn amounts(c: &CycleCharges) -> Vec<(String, String)> {
    c.lines
        .iter()
        .map(|l| (l.card_name.clone(), l.amount.to_string()))
        .collect()
}

fn seats(changes: &[(&str, i64)]) -> BTreeMap<String, Vec<LicenseChange>> {
    let list = changes
        .iter()
        .map(|(day, q)| LicenseChange {
            effective_from: d(day),
            quantity: Decimal::from(*q),
        })
        .collect();
    BTreeMap::from([("seats".to_string(), list)])
}

#[test]
fn usage_is_rated_and_billed_in_arrears() {
    let plan = plan(json!({"usageRateCards": [{
        "name": "calls", "usageMeterId": "calls_meter",
        "ratePlan": {"pricingModel": "TIERED", "slabs": [
            {"order": 1, "startAfter": 0, "priceType": "PER_UNIT"},
            {"order": 2, "startAfter": 1000, "priceType": "PER_UNIT"},
            {"order": 3, "startAfter": 10000, "priceType": "PER_UNIT"}]},
        "rateValues": [{"currency": "USD", "slabRates": [
            {"order": 1, "rate": "0.10"}, {"order": 2, "rate": "0.05"}, {"order": 3, "rate": "0.01"}],
            "rateConfig": {"maximumRate": "500"}}]
    }]}));
    let mut i = input(0, jan());
    i.usage.insert("calls_meter".into(), dec!(15000));
    let c = charge(&plan, &i);
    let line = &c.lines[0];
    assert_eq!(line.amount.to_string(), "500.00");
    let details: Vec<_> = line
        .details
        .iter()
        .map(|d| (d.kind, d.amount.to_string()))
        .collect();
    assert_eq!(
        details,
        [
            (DetailKind::Slab, "100.00".to_string()),
            (DetailKind::Slab, "450.00".to_string()),
            (DetailKind::Slab, "50.00".to_string()),
            (DetailKind::Adjustment, "-100.00".to_string()),
        ]
    );
    assert_eq!(c.in_arrears().count(), 1);
    // A meter with no events used nothing.
    let c = charge(&plan, &input(0, jan()));
    assert_eq!(c.lines[0].amount.to_string(), "0.00");
}

/// A usage card at 1.00 per unit with the given `rateConfig`, and a minimum
/// commitment of 10.00.
fn limited_usage_plan(rate_config: serde_json::Value) -> Plan {
    plan(json!({
        "usageRateCards": [{"name": "calls", "usageMeterId": "m",
            "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": "1.00"}],
                            "rateConfig": rate_config}]}],
        "minimumCommitment": {"rateValues": [{"currency": "USD", "rate": "10.00"}]}
    }))
}

/// August 2026 (31 days), billed `[aug_from, aug_until)`, with `units` used.
fn august(billed_from: &str, billed_until: &str, units: Decimal) -> CycleInput {
    let full = p("2026-08-01", "2026-09-01");
    CycleInput {
        window: window(0, full, p(billed_from, billed_until)),
        usage: BTreeMap::from([("m".to_string(), units)]),
        features: Default::default(),
        earlier: Vec::new(),
        last: false,
        licenses: BTreeMap::new(),
    }
}

fn usage_details(c: &CycleCharges) -> Vec<(DetailKind, String)> {
    c.lines[0]
        .details
        .iter()
        .map(|d| (d.kind, d.amount.to_string()))
        .collect()
}

#[test]
fn card_minimum_is_prorated_like_the_commitment_in_a_partial_cycle() {
    let plan = limited_usage_plan(json!({"minimumRate": "10.00"}));
    // On the plan Aug 1-15 ([Aug 1, Aug 16)): 15 of 31 days. The minimum is
    // 10.00 x 15/31 = 4.8387 -> 4.84; 2 units x 1.00 = 2.00, so the adjustment is
    // 4.84 - 2.00 = 2.84 and the line 4.84 (not 10.00).
    let c = charge(&plan, &august("2026-08-01", "2026-08-16", dec!(2)));
    assert_eq!(c.lines[0].amount.to_string(), "4.84");
    assert_eq!(
        usage_details(&c),
        [
            (DetailKind::Slab, "2.00".to_string()),
            (DetailKind::Adjustment, "2.84".to_string())
        ]
    );
    assert_eq!(
        c.lines[0].details[1].description,
        "minimum charge 4.84 (10.00 for 15 of 31 days)"
    );
    // The commitment of 10.00 is prorated by the same rule: 4.84 due, the
    // charges are the card's 4.84, so no true-up.
    assert!(c.true_up.is_none());
    // Without the card minimum the commitment alone tops 2.00 up to 4.84.
    let commitment_only = limited_usage_plan(json!({}));
    let c = charge(
        &commitment_only,
        &august("2026-08-01", "2026-08-16", dec!(2)),
    );
    assert_eq!(c.lines[0].amount.to_string(), "2.00");
    assert_eq!(c.true_up.unwrap().amount.to_string(), "2.84");
    // The last partial cycle too: on the plan Aug 17-31 ([Aug 17, Sep 1)), 15
    // days: the same 4.84.
    let c = charge(&plan, &august("2026-08-17", "2026-09-01", dec!(2)));
    assert_eq!(c.lines[0].amount.to_string(), "4.84");
}

#[test]
fn card_maximum_is_prorated_in_a_partial_cycle() {
    let plan = limited_usage_plan(json!({"maximumRate": "20.00"}));
    // Aug 1-15, 15 of 31 days: the maximum is 20.00 x 15/31 = 9.6774 -> 9.68;
    // 30 units x 1.00 = 30.00, so the adjustment is 9.68 - 30.00 = -20.32.
    let c = charge(&plan, &august("2026-08-01", "2026-08-16", dec!(30)));
    assert_eq!(c.lines[0].amount.to_string(), "9.68");
    assert_eq!(
        usage_details(&c),
        [
            (DetailKind::Slab, "30.00".to_string()),
            (DetailKind::Adjustment, "-20.32".to_string())
        ]
    );
    assert_eq!(
        c.lines[0].details[1].description,
        "maximum charge 9.68 (20.00 for 15 of 31 days)"
    );
}

#[test]
fn card_limits_are_whole_in_a_full_cycle() {
    // The whole of August: minimum 10.00, 2 units = 2.00 + 8.00 adjustment.
    let plan = limited_usage_plan(json!({"minimumRate": "10.00"}));
    let c = charge(&plan, &august("2026-08-01", "2026-09-01", dec!(2)));
    assert_eq!(
        usage_details(&c),
        [
            (DetailKind::Slab, "2.00".to_string()),
            (DetailKind::Adjustment, "8.00".to_string())
        ]
    );
    assert_eq!(c.lines[0].details[1].description, "minimum charge 10.00");
    // Maximum 20.00, 30 units = 30.00 - 10.00 adjustment.
    let plan = limited_usage_plan(json!({"maximumRate": "20.00"}));
    let c = charge(&plan, &august("2026-08-01", "2026-09-01", dec!(30)));
    assert_eq!(c.lines[0].amount.to_string(), "20.00");
    assert_eq!(usage_details(&c)[1].1, "-10.00");
}

#[test]
fn a_trial_ending_mid_cycle_bills_the_rest_of_the_cycle_prorated() {
    let plan = plan(json!({
        "fixedFeeRateCards": [
            {"name": "fee", "type": "RECURRING", "invoiceTiming": "IN_ADVANCE", "enableProration": true,
             "rateValues": [{"currency": "USD", "rate": "31.00"}]},
            {"name": "setup", "type": "ONE_TIME", "invoiceTiming": "IN_ADVANCE",
             "rateValues": [{"currency": "USD", "rate": "5.00"}]}],
        "usageRateCards": [{"name": "calls", "usageMeterId": "m",
            "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
            "rateValues": usd(json!("0.10"))}],
        "minimumCommitment": {"rateValues": [{"currency": "USD", "rate": "62.00"}]}
    }));
    // Attached Jan 1 with 7 free days: billed from Jan 8, 24 of 31 days.
    let (config, from) = plan.pricing_cycle.after_trial(d("2026-01-01"), 7);
    let first = config.window_at(from, None, 0).unwrap();
    let mut input = CycleInput {
        window: first,
        usage: BTreeMap::new(),
        features: Default::default(),
        earlier: Vec::new(),
        last: false,
        licenses: BTreeMap::new(),
    };
    let m = RoundingMode::default();
    // The invoice at the trial's end (Jan 8): the fee 31.00 x 24/31 = 24.00 and
    // the one-time setup 5.00 (the first paid cycle is cycle 0).
    let opening = invoice_contents(&plan, Currency::USD, m, None, Some(&input)).unwrap();
    let lines: Vec<_> = opening
        .lines
        .iter()
        .map(|l| (l.card_name.as_str(), l.amount.to_string(), l.period))
        .collect();
    assert_eq!(
        lines,
        [
            ("fee", "24.00".to_string(), p("2026-01-08", "2026-02-01")),
            ("setup", "5.00".to_string(), p("2026-01-08", "2026-02-01"))
        ]
    );
    // Feb 1 closes January: 100 calls after the trial x 0.10 = 10.00; the
    // commitment 62.00 x 24/31 = 48.00 against 24.00 + 5.00 + 10.00 = 39.00 is
    // a 9.00 true-up.
    input.usage.insert("m".into(), dec!(100));
    let closing = invoice_contents(&plan, Currency::USD, m, Some(&input), None).unwrap();
    assert_eq!(closing.lines[0].amount.to_string(), "10.00");
    assert_eq!(closing.true_up.unwrap().amount.to_string(), "9.00");
}

#[test]
fn fixed_fees_follow_their_recurrence() {
    let plan = plan(json!({"fixedFeeRateCards": [
        {"name": "setup", "type": "ONE_TIME", "rateValues": [{"currency": "USD", "rate": 50}]},
        {"name": "quarterly", "type": "RECURRING", "recurrenceConfig": {"interval": 3, "offset": 1},
         "rateValues": [{"currency": "USD", "rate": 30}]},
        {"name": "monthly", "type": "RECURRING", "rateValues": [{"currency": "USD", "rate": 10}]}
    ]}));
    let names = |index| -> Vec<String> {
        charge(&plan, &input(index, jan()))
            .lines
            .into_iter()
            .map(|l| l.card_name)
            .collect()
    };
    assert_eq!(names(0), ["setup", "monthly"]);
    assert_eq!(names(1), ["quarterly", "monthly"]);
    assert_eq!(names(2), ["monthly"]);
    assert_eq!(names(4), ["quarterly", "monthly"]);
}

#[test]
fn fixed_fee_proration_in_a_partial_cycle() {
    let plan = plan(json!({"fixedFeeRateCards": [
        {"name": "prorated", "type": "RECURRING", "enableProration": true, "rateValues": [{"currency": "USD", "rate": 99}]},
        {"name": "whole", "type": "RECURRING", "rateValues": [{"currency": "USD", "rate": 99}]},
        {"name": "setup", "type": "ONE_TIME", "enableProration": true, "rateValues": [{"currency": "USD", "rate": 50}]}
    ]}));
    // Attached on 22 Jan: 10 of 31 days.
    let c = charge(&plan, &input(0, p("2026-01-22", "2026-02-01")));
    assert_eq!(
        amounts(&c),
        [
            ("prorated".into(), "31.94".into()),
            ("whole".into(), "99.00".into()),
            ("setup".into(), "50.00".into())
        ]
    );
    assert_eq!(c.lines[0].period, p("2026-01-22", "2026-02-01"));
    // 99 x 10 / 31 = 31.935...: the fee is the unit price, the note the days.
    assert_eq!(c.lines[0].unit_price, Some(dec!(99)));
    assert_eq!(c.lines[0].description, "prorated for 10 of 31 days");
}

#[test]
fn license_weekly_usage_cycle_over_four_weeks_is_four_windows() {
    let plan = per_unit_license(json!({"usageCycle": "WEEKLY"}));
    let feb = p("2027-02-01", "2027-03-01"); // 28 days
    let mut i = input(0, feb);
    i.window = window(0, feb, feb);
    i.licenses = seats(&[("2027-01-15", 1)]);
    let c = charge(&plan, &i);
    assert_eq!(c.lines[0].amount.to_string(), "4.00");
    assert_eq!(c.lines[0].details.len(), 4);
    // Without a usage cycle, the month is one window.
    let plan = per_unit_license(json!({}));
    assert_eq!(charge(&plan, &i).lines[0].amount.to_string(), "1.00");
}

#[test]
fn license_tail_window_with_and_without_proration() {
    // January: 4 whole weeks and a 3-day tail.
    let mut i = input(0, jan());
    i.licenses = seats(&[("2025-12-01", 7)]);
    let without = per_unit_license(json!({"usageCycle": "WEEKLY"}));
    assert_eq!(charge(&without, &i).lines[0].amount.to_string(), "35.00");
    let with = per_unit_license(json!({"usageCycle": "WEEKLY", "enableProration": true}));
    // 4 x 7 + 7 x 3/7 = 31
    assert_eq!(charge(&with, &i).lines[0].amount.to_string(), "31.00");
}

#[test]
fn license_proration_charges_each_quantity_for_its_days() {
    let plan = per_unit_license(json!({"enableProration": true, "rateValues": usd(json!(31))}));
    let mut i = input(0, jan());
    // 10 seats until the 11th, then 20; two updates on the 21st, 30 then 5: the
    // 21st counts 30 (its largest), the days after carry 5 (its last). Changes
    // may come unsorted across days.
    i.licenses = seats(&[
        ("2026-01-21", 30),
        ("2025-12-01", 10),
        ("2026-01-21", 5),
        ("2026-01-11", 20),
    ]);
    let line = &charge(&plan, &i).lines[0];
    let runs: Vec<_> = line
        .details
        .iter()
        .map(|d| {
            (
                d.quantity.unwrap().to_string(),
                d.period.days(),
                d.amount.to_string(),
            )
        })
        .collect();
    assert_eq!(
        runs,
        [
            ("10".to_string(), 10, "100.00".to_string()),
            ("20".to_string(), 10, "200.00".to_string()),
            ("30".to_string(), 1, "30.00".to_string()),
            ("5".to_string(), 10, "50.00".to_string()),
        ]
    );
    assert_eq!(line.amount.to_string(), "380.00");
    assert_eq!(line.quantity, dec!(30));
    // Each run reads as licenses x days, priced per license for the month:
    // 10 x $31 x 10/31 = $100.00.
    let read: Vec<_> = line
        .details
        .iter()
        .map(|d| (d.description.as_str(), d.unit_price))
        .collect();
    assert_eq!(
        read,
        [
            ("10 licenses x 10 of 31 days", Some(dec!(31))),
            ("20 licenses x 10 of 31 days", Some(dec!(31))),
            ("30 licenses x 1 of 31 days", Some(dec!(31))),
            ("5 licenses x 10 of 31 days", Some(dec!(31))),
        ]
    );
}

#[test]
fn license_without_proration_rates_the_peak() {
    let plan = per_unit_license(json!({"rateValues": usd(json!(10))}));
    let mut i = input(0, jan());
    i.licenses = seats(&[("2025-12-01", 3), ("2026-01-10", 8), ("2026-01-12", 2)]);
    assert_eq!(charge(&plan, &i).lines[0].amount.to_string(), "80.00");
    // Before any change there are no seats.
    let mut i = input(0, jan());
    i.licenses = seats(&[("2026-03-01", 3)]);
    assert_eq!(charge(&plan, &i).lines[0].amount.to_string(), "0.00");
}

#[test]
fn license_in_a_partial_cycle_counts_only_billed_days() {
    let plan = per_unit_license(json!({"enableProration": true, "rateValues": usd(json!(31))}));
    let mut i = input(0, p("2026-01-22", "2026-02-01"));
    i.licenses = seats(&[("2025-12-01", 100), ("2026-01-22", 2)]);
    assert_eq!(charge(&plan, &i).lines[0].amount.to_string(), "20.00");
}

#[test]
fn in_advance_license_prices_the_opening_quantity() {
    let plan =
        per_unit_license(json!({"invoiceTiming": "IN_ADVANCE", "rateValues": usd(json!(10))}));
    let mut i = input(0, jan());
    i.licenses = seats(&[("2025-12-01", 3), ("2026-01-01", 4), ("2026-01-10", 9)]);
    let c = charge(&plan, &i);
    assert_eq!(c.lines[0].amount.to_string(), "40.00");
    assert_eq!(c.in_advance().count(), 1);
}

#[test]
fn true_up_tops_up_to_the_commitment() {
    let plan = plan(json!({
        "fixedFeeRateCards": [{"name": "fee", "type": "RECURRING", "invoiceTiming": "IN_ADVANCE", "enableProration": true,
                               "rateValues": [{"currency": "USD", "rate": 300}]}],
        "usageRateCards": [{"name": "calls", "usageMeterId": "m",
            "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
            "rateValues": usd(json!(1))}],
        "minimumCommitment": {"displayName": "Monthly minimum", "rateValues": [{"currency": "USD", "rate": 1000}]}
    }));
    let mut i = input(0, jan());
    i.usage.insert("m".into(), dec!(450.5));
    let t = charge(&plan, &i).true_up.unwrap();
    // 1000 - (300 + 450.50)
    assert_eq!(
        (t.amount.to_string(), t.display_name.as_str()),
        ("249.50".to_string(), "Monthly minimum")
    );
    i.usage.insert("m".into(), dec!(700));
    assert!(charge(&plan, &i).true_up.is_none());
    i.usage.insert("m".into(), dec!(800));
    assert!(charge(&plan, &i).true_up.is_none(), "never negative");
    // Partial: 10 of 31 days. Commitment 322.58, fee 96.77, usage 100.
    let mut i = input(0, p("2026-01-22", "2026-02-01"));
    i.usage.insert("m".into(), dec!(100));
    assert_eq!(
        charge(&plan, &i).true_up.unwrap().amount.to_string(),
        "125.81"
    );
}

#[test]
fn invoice_at_a_boundary_holds_arrears_of_the_closing_and_advance_of_the_opening() {
    let plan = plan(json!({
        "fixedFeeRateCards": [{"name": "fee", "type": "RECURRING", "invoiceTiming": "IN_ADVANCE",
                               "rateValues": [{"currency": "USD", "rate": 20}]}],
        "usageRateCards": [{"name": "calls", "usageMeterId": "m",
            "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
            "rateValues": usd(json!(1))}],
        "minimumCommitment": {"rateValues": [{"currency": "USD", "rate": 100}]}
    }));
    let mut closing = input(0, jan());
    closing.usage.insert("m".into(), dec!(30));
    let feb = p("2026-02-01", "2026-03-01");
    let opening = CycleInput {
        window: window(1, feb, feb),
        usage: BTreeMap::new(),
        features: Default::default(),
        earlier: Vec::new(),
        last: false,
        licenses: BTreeMap::new(),
    };
    let m = RoundingMode::default();
    let first = invoice_contents(&plan, Currency::USD, m, None, Some(&closing)).unwrap();
    assert_eq!(
        first
            .lines
            .iter()
            .map(|l| l.card_name.as_str())
            .collect::<Vec<_>>(),
        ["fee"]
    );
    assert!(first.true_up.is_none());
    let boundary =
        invoice_contents(&plan, Currency::USD, m, Some(&closing), Some(&opening)).unwrap();
    let lines: Vec<_> = boundary
        .lines
        .iter()
        .map(|l| (l.card_name.as_str(), l.cycle_index))
        .collect();
    assert_eq!(lines, [("calls", 0), ("fee", 1)]);
    // The true-up counts the fee billed in advance for January: 100 - 20 - 30.
    assert_eq!(boundary.true_up.unwrap().amount.to_string(), "50.00");
    let last = invoice_contents(&plan, Currency::USD, m, Some(&closing), None).unwrap();
    assert_eq!(last.lines.len(), 1);
}

#[test]
fn credit_grants_are_priced_and_billed_in_advance() {
    let plan = plan(json!({"creditGrantRateCards": [{
        "name": "credits", "type": "ONE_TIME", "invoiceTiming": "PREPAID",
        "grantDetails": {"priority": 1, "expiryType": "NO_EXPIRY"},
        "rateDetails": {"pricingModel": "TIERED", "currencySlabRateDetails": [
            {"currency": "USD", "creditAmount": 500, "slabDetails": [{"startAfter": 0, "priceType": "PER_UNIT", "rate": "0.9"}]}]}
    }]}));
    let c = charge(&plan, &input(0, jan()));
    assert_eq!(
        (c.lines[0].quantity, c.lines[0].amount.to_string()),
        (dec!(500), "450.00".to_string())
    );
    assert_eq!(c.in_advance().count(), 1);
    assert!(charge(&plan, &input(1, jan())).lines.is_empty());
}

#[test]
fn currencies_the_plan_or_a_card_lacks_are_errors() {
    let plan = per_unit_license(json!({}));
    let e = cycle_charges(
        &plan,
        Currency::EUR,
        RoundingMode::default(),
        &input(0, jan()),
    )
    .unwrap_err();
    assert_eq!(
        e,
        ChargeError::UnsupportedCurrency {
            currency: Currency::EUR
        }
    );
    let mut v = plan.to_json();
    v["supportedCurrencies"] = json!(["USD", "EUR"]);
    v["fixedFeeRateCards"] = json!([{"name": "fee", "type": "RECURRING", "rateValues": [{"currency": "EUR", "rate": 1}]}]);
    let plan = Plan::from_json(&v).unwrap();
    let e = cycle_charges(
        &plan,
        Currency::EUR,
        RoundingMode::default(),
        &input(0, jan()),
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "rate card \"seats\" has no rate in EUR");
}
