//! The invoice tree's tests.

use super::*;
use crate::charges::{cycle_charges, CycleInput, LicenseChange};
use crate::cycle::CycleWindow;
use crate::plan::Plan;
use crate::testing::d;
use chrono::NaiveDate;
use proptest::prelude::*;
use rust_decimal_macros::dec;
use serde_json::json;
use std::collections::BTreeMap;

fn plan() -> Plan {
    Plan::from_json(&json!({
        "name": "p",
        "supportedCurrencies": ["USD", "JPY", "BHD"],
        "pricingCycleConfig": {"interval": "MONTHLY"},
        "usageRateCards": [{
            "name": "calls", "displayName": "API calls", "tag": "usage", "usageMeterId": "m",
            "ratePlan": {"pricingModel": "TIERED", "slabs": [
                {"order": 1, "startAfter": 0, "priceType": "PER_UNIT"},
                {"order": 2, "startAfter": 1000, "priceType": "PER_UNIT"},
                {"order": 3, "startAfter": 10000, "priceType": "PER_UNIT"}]},
            "rateValues": [
                {"currency": "USD", "slabRates": [{"order": 1, "rate": "0.10"}, {"order": 2, "rate": "0.05"}, {"order": 3, "rate": "0.01"}],
                 "rateConfig": {"minimumRate": "5"}},
                {"currency": "JPY", "slabRates": [{"order": 1, "rate": "15.5"}, {"order": 2, "rate": "7.25"}, {"order": 3, "rate": "1.333"}]},
                {"currency": "BHD", "slabRates": [{"order": 1, "rate": "0.0377"}, {"order": 2, "rate": "0.0188"}, {"order": 3, "rate": "0.00377"}]}
            ]
        }],
        "fixedFeeRateCards": [{
            "name": "platform", "type": "RECURRING", "enableProration": true, "invoiceTiming": "IN_ADVANCE",
            "rateValues": [{"currency": "USD", "rate": 99}, {"currency": "JPY", "rate": 15000}, {"currency": "BHD", "rate": "37.125"}]
        }],
        "licenseRateCards": [{
            "name": "seats", "tag": "usage", "enableProration": true,
            "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": 10}]},
                           {"currency": "JPY", "slabRates": [{"order": 1, "rate": 1500}]},
                           {"currency": "BHD", "slabRates": [{"order": 1, "rate": "3.77"}]}]
        }],
        "minimumCommitment": {"rateValues": [{"currency": "USD", "rate": 1000}, {"currency": "JPY", "rate": 150000}, {"currency": "BHD", "rate": 377}]}
    }))
    .unwrap()
}

fn input(
    calls: Decimal,
    seat_changes: Vec<(NaiveDate, Decimal)>,
    billed_from: NaiveDate,
) -> CycleInput {
    let full = Period::new(d("2026-01-01"), d("2026-02-01"));
    CycleInput {
        window: CycleWindow {
            index: 0,
            full,
            billed: Period::new(billed_from, full.end),
        },
        usage: BTreeMap::from([("m".to_string(), calls)]),
        features: Default::default(),
        earlier: Vec::new(),
        last: false,
        licenses: BTreeMap::from([(
            "seats".to_string(),
            seat_changes
                .into_iter()
                .map(|(effective_from, quantity)| LicenseChange {
                    effective_from,
                    quantity,
                })
                .collect(),
        )]),
    }
}

fn lines_for(currency: Currency, input: &CycleInput) -> InvoiceLines {
    let charges = cycle_charges(&plan(), currency, RoundingMode::default(), input).unwrap();
    InvoiceLines::build(currency, &charges.lines, charges.true_up.as_ref())
}

/// The invariants every invoice keeps.
fn check(lines: &InvoiceLines) {
    fn walk(l: &LineItem, dp: u32) {
        assert_eq!(
            l.amount.scale(),
            dp,
            "{:?} {} has {}",
            l.kind,
            l.display_name,
            l.amount
        );
        if !l.children.is_empty() {
            let sum: Decimal = l.children.iter().map(|c| c.amount).sum();
            assert_eq!(l.amount, sum, "{:?} {}", l.kind, l.display_name);
        }
        for c in &l.children {
            walk(c, dp);
        }
    }
    let dp = lines.currency.minor_units();
    walk(&lines.grand_total, dp);
    for l in [&lines.sub_total, &lines.total_credits, &lines.total]
        .into_iter()
        .chain(&lines.true_up)
    {
        walk(l, dp);
    }
    // One total: the grand total is the total, and the groups sum to the subtotal.
    assert_eq!(lines.grand_total.amount, lines.total.amount);
    let groups: Decimal = lines.groups().map(|g| g.amount).sum();
    assert_eq!(lines.sub_total.amount, groups);
    let true_up = lines.true_up.as_ref().map_or(Decimal::ZERO, |t| t.amount);
    assert_eq!(
        lines.total.amount,
        lines.sub_total.amount + true_up + lines.tax_amount() - lines.total_credits.amount
    );
    assert!(lines.total.amount >= Decimal::ZERO);
}

#[test]
fn usd_invoice_tree() {
    let lines = lines_for(
        Currency::USD,
        &input(
            dec!(15000),
            vec![(d("2025-12-20"), dec!(3))],
            d("2026-01-01"),
        ),
    );
    check(&lines);
    let groups: Vec<_> = lines
        .groups()
        .map(|g| (g.display_name.as_str(), g.amount.to_string()))
        .collect();
    // usage: 600.00 calls + 30.00 seats; platform fee untagged.
    assert_eq!(
        groups,
        [
            ("usage", "630.00".to_string()),
            ("Charges", "99.00".to_string())
        ]
    );
    let calls = &lines.grand_total.children[0].children[0];
    assert_eq!(calls.kind, LineKind::PricePlan);
    let slabs: Vec<_> = calls
        .children
        .iter()
        .map(|s| s.amount.to_string())
        .collect();
    assert_eq!(slabs, ["100.00", "450.00", "50.00"]);
    assert_eq!(lines.sub_total.amount.to_string(), "729.00");
    let true_up = lines.true_up.as_ref().unwrap();
    assert_eq!(true_up.amount.to_string(), "271.00");
    assert_eq!(lines.total_credits.amount.to_string(), "0.00");
    assert_eq!(lines.total.amount.to_string(), "1000.00");
}

#[test]
fn minimum_rate_shows_as_an_adjustment_line() {
    let lines = lines_for(Currency::USD, &input(dec!(12), vec![], d("2026-01-01")));
    check(&lines);
    let calls = &lines.grand_total.children[0].children[0];
    let kinds: Vec<_> = calls
        .children
        .iter()
        .map(|c| (c.kind, c.amount.to_string()))
        .collect();
    assert_eq!(
        kinds,
        [
            (LineKind::Slab, "1.20".to_string()),
            (LineKind::Adjustment, "3.80".to_string())
        ]
    );
    assert_eq!(calls.amount.to_string(), "5.00");
}

#[test]
fn jpy_has_no_decimals() {
    let lines = lines_for(
        Currency::JPY,
        &input(
            dec!(1001),
            vec![(d("2026-01-11"), dec!(2))],
            d("2026-01-01"),
        ),
    );
    check(&lines);
    let calls = &lines.grand_total.children[0].children[0];
    // 1000 x 15.5 + 1 x 7.25 = 15507.25 -> 15507
    assert_eq!(calls.amount.to_string(), "15507");
    // 2 seats x 1500 for 21 of 31 days = 2032.258... -> 2032
    let seats = &lines.grand_total.children[0].children[1];
    assert_eq!(seats.amount.to_string(), "2032");
    assert_eq!(lines.total.amount.to_string(), "150000");
}

#[test]
fn bhd_has_three_decimals() {
    // Attached on 16 Jan: the platform fee is prorated 16/31.
    let lines = lines_for(
        Currency::BHD,
        &input(
            dec!(1500.5),
            vec![(d("2026-01-16"), dec!(1))],
            d("2026-01-16"),
        ),
    );
    check(&lines);
    let fee = &lines.grand_total.children[1].children[0];
    // 37.125 x 16/31 = 19.16129... -> 19.161
    assert_eq!(fee.amount.to_string(), "19.161");
    let calls = &lines.grand_total.children[0].children[0];
    // 1000 x 0.0377 + 500.5 x 0.0188 = 37.7 + 9.4094 = 47.1094 -> 47.109
    assert_eq!(calls.amount.to_string(), "47.109");
    // The commitment of 377 is prorated too: 377 x 16/31 = 194.580...
    assert_eq!(lines.total.amount.to_string(), "194.581");
}

#[test]
fn serialises_with_stable_camel_case_names() {
    let lines = lines_for(Currency::USD, &input(dec!(10), vec![], d("2026-01-01")));
    let v = serde_json::to_value(&lines).unwrap();
    let keys: Vec<_> = v.as_object().unwrap().keys().map(String::as_str).collect();
    // serde_json orders keys alphabetically.
    assert_eq!(
        keys,
        [
            "currency",
            "grandTotal",
            "subTotal",
            "total",
            "totalCredits",
            "trueUp"
        ]
    );
    let card = &v["grandTotal"]["children"][0]["children"][0];
    assert_eq!(card["kind"], "PRICE_PLAN");
    assert_eq!(card["cardName"], "calls");
    assert_eq!(card["displayName"], "API calls");
    assert_eq!(card["amount"], "5.00");
    assert_eq!(
        card["period"],
        json!({"start": "2026-01-01", "end": "2026-02-01"})
    );
    assert_eq!(card["children"][1]["kind"], "ADJUSTMENT");
    assert_eq!(v["totalCredits"]["kind"], "TOTAL_CREDITS");
    let back: InvoiceLines = serde_json::from_value(v).unwrap();
    assert_eq!(back, lines);
}

fn currency() -> impl Strategy<Value = Currency> {
    prop_oneof![
        Just(Currency::USD),
        Just(Currency::JPY),
        Just(Currency::BHD)
    ]
}

proptest! {
    #[test]
    fn invoices_keep_their_invariants(
        currency in currency(),
        calls in (0i64..50_000_000).prop_map(|q| Decimal::new(q, 3)),
        seats in prop::collection::vec((0u32..40, 0u32..60), 0..6),
        attach_day in 0u32..31,
    ) {
        let changes = seats.into_iter().map(|(day, q)| (d("2025-12-25") + chrono::Days::new(day.into()), Decimal::from(q))).collect();
        let billed_from = d("2026-01-01") + chrono::Days::new(attach_day.into());
        check(&lines_for(currency, &input(calls, changes, billed_from)));
    }
}
