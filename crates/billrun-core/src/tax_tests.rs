//! Taxes worked by hand (README "Taxes"). Every figure in a comment is computed by
//! hand from the lines' net amounts: tax per rate = round(sum of nets x % / 100)
//! once, half away from zero; each line's share allocated so the shares add up.

use super::*;
use crate::charges::ChargeLine;
use crate::credits::{apply, Credit, Eligibility};
use crate::money::Currency;
use crate::period::Period;
use crate::plan::{CardKind, InvoiceTiming};
use crate::testing::{d, utc};
use rust_decimal_macros::dec;

fn jan() -> Period {
    Period::new(d("2026-01-01"), d("2026-02-01"))
}

fn charge(kind: CardKind, name: &str, amount: Decimal) -> ChargeLine {
    ChargeLine {
        kind,
        card_name: name.into(),
        display_name: name.into(),
        tag: None,
        timing: InvoiceTiming::InArrears,
        cycle_index: 0,
        period: jan(),
        quantity: Decimal::ONE,
        unit_price: None,
        description: String::new(),
        details: Vec::new(),
        amount,
    }
}

fn usage(name: &str, amount: Decimal) -> ChargeLine {
    charge(CardKind::Usage, name, amount)
}

fn rate(code: &str, pct: Decimal, category: &str, default: bool) -> TaxRate {
    TaxRate {
        code: code.into(),
        name: format!("VAT {}%", pct.normalize()),
        category: category.into(),
        percentage: pct,
        valid_from: None,
        valid_until: None,
        is_default: default,
    }
}

/// A German seller: 19 % standard (default), 7 % reduced.
fn german(treatment: TaxTreatment) -> TaxSetup {
    TaxSetup {
        rates: vec![
            rate("DE_STANDARD", dec!(19), "S", true),
            rate("DE_REDUCED", dec!(7), "AA", false),
        ],
        treatment,
        card_rates: BTreeMap::from([("books".to_string(), "DE_REDUCED".to_string())]),
    }
}

fn taxed(
    currency: Currency,
    lines: &[ChargeLine],
    true_up: Option<&ChargeLine>,
    setup: &TaxSetup,
) -> InvoiceLines {
    let mut inv = InvoiceLines::build(currency, lines, true_up);
    inv.apply_taxes(setup, d("2026-02-01")).unwrap();
    check(&inv);
    inv
}

/// Parents equal the sum of their children; total = net + tax - credits; shares
/// add up to each rate's tax.
fn check(inv: &InvoiceLines) {
    fn walk(l: &LineItem) {
        if !l.children.is_empty() {
            let sum: Decimal = l.children.iter().map(|c| c.amount).sum();
            assert_eq!(l.amount, sum, "{:?} {}", l.kind, l.display_name);
        }
        l.children.iter().for_each(walk);
    }
    walk(&inv.grand_total);
    assert_eq!(inv.grand_total.amount, inv.total.amount);
    assert_eq!(
        inv.total.amount,
        inv.gross_amount() - inv.total_credits.amount
    );
    for t in &inv.taxes {
        let mut shares: Vec<Decimal> = inv
            .card_lines()
            .filter_map(|l| l.tax.as_ref())
            .filter(|x| x.code == t.code)
            .map(|x| x.amount)
            .collect();
        shares.extend(
            inv.true_up
                .iter()
                .filter_map(|l| l.tax.as_ref())
                .filter(|x| x.code == t.code)
                .map(|x| x.amount),
        );
        assert_eq!(
            shares.iter().copied().sum::<Decimal>(),
            t.amount,
            "{}",
            t.code
        );
    }
}

fn shares(inv: &InvoiceLines) -> Vec<String> {
    inv.card_lines()
        .map(|l| l.tax.as_ref().map_or("-".into(), |t| t.amount.to_string()))
        .collect()
}

#[test]
fn german_customer_pays_19_percent_rounded_once() {
    let lines = [
        usage("api", dec!(1234.56)),
        charge(CardKind::FixedFee, "platform", dec!(99.99)),
        charge(CardKind::License, "seats", dec!(0.05)),
    ];
    let inv = taxed(Currency::EUR, &lines, None, &german(TaxTreatment::Standard));
    // Net 1234.56 + 99.99 + 0.05 = 1334.60; tax 1334.60 x 19 % = 253.574 -> 253.57.
    // (Rounding each line would give 234.57 + 19.00 + 0.01 = 253.58: one cent more.)
    assert_eq!(inv.net_amount().to_string(), "1334.60");
    assert_eq!(inv.tax_amount().to_string(), "253.57");
    assert_eq!(inv.taxes.len(), 1);
    let t = &inv.taxes[0];
    assert_eq!((t.code.as_str(), t.category.as_str()), ("DE_STANDARD", "S"));
    assert_eq!(t.taxable_amount.to_string(), "1334.60");
    // Shares: exact 234.5664, 18.9981, 0.0095; rounded 234.57, 19.00, 0.01 is one
    // cent over: the most over-rounded (api, by 0.0036) gives it back -> 234.56.
    assert_eq!(shares(&inv), ["234.56", "19.00", "0.01"]);
    // Gross 1334.60 + 253.57 = 1588.17, all due.
    assert_eq!(inv.gross_amount().to_string(), "1588.17");
    assert_eq!(inv.total.amount.to_string(), "1588.17");
    assert_eq!(inv.tax_note, None);
    // The tree: TOTAL_TAX after the charges, one TAX line per rate.
    let last = inv.grand_total.children.last().unwrap();
    assert_eq!(last.kind, LineKind::TotalTax);
    assert_eq!(last.children[0].kind, LineKind::Tax);
    assert_eq!(last.children[0].quantity, Some(dec!(1334.60)));
}

#[test]
fn eu_business_customer_is_reverse_charged_with_the_note() {
    let lines = [usage("api", dec!(1234.56)), usage("books", dec!(100.04))];
    let inv = taxed(
        Currency::EUR,
        &lines,
        None,
        &german(TaxTreatment::ReverseCharge),
    );
    // Net 1334.60; reverse charge: 0 % (category AE) on all of it, even the reduced
    // card; due 1334.60; the note.
    assert_eq!(inv.tax_amount().to_string(), "0.00");
    assert_eq!(inv.taxes.len(), 1);
    let t = &inv.taxes[0];
    assert_eq!((t.category.as_str(), t.percentage), ("AE", Decimal::ZERO));
    assert_eq!(t.taxable_amount.to_string(), "1334.60");
    assert_eq!(inv.total.amount.to_string(), "1334.60");
    assert_eq!(inv.tax_note.as_deref(), Some(REVERSE_CHARGE_NOTE));
    assert_eq!(shares(&inv), ["0.00", "0.00"]);
}

#[test]
fn us_customer_pays_no_tax() {
    let lines = [usage("api", dec!(600.00)), usage("seats", dec!(129.00))];
    // A German seller's US customer: outside the scope, 0 % category O, the note.
    let inv = taxed(
        Currency::USD,
        &lines,
        None,
        &german(TaxTreatment::OutsideScope),
    );
    assert_eq!(inv.tax_amount().to_string(), "0.00");
    assert_eq!(inv.taxes[0].category, "O");
    assert_eq!(inv.total.amount.to_string(), "729.00");
    assert_eq!(inv.tax_note.as_deref(), Some(OUTSIDE_SCOPE_NOTE));
    // A US seller without tax rates: no tax lines at all, 729.00 due, as before taxes.
    let inv = taxed(Currency::USD, &lines, None, &TaxSetup::default());
    assert!(inv.taxes.is_empty() && inv.total_tax.is_none() && inv.tax_note.is_none());
    assert_eq!(inv.tax_amount().to_string(), "0.00");
    assert_eq!(inv.total.amount.to_string(), "729.00");
    let v = serde_json::to_value(&inv).unwrap();
    assert!(v.get("taxes").is_none() && v.get("totalTax").is_none());
    assert!(v["grandTotal"]["children"][0]["children"][0]
        .get("tax")
        .is_none());
}

#[test]
fn reduced_rate_card_beside_a_standard_one() {
    let lines = [
        usage("api", dec!(100.10)),
        usage("books", dec!(45.45)),
        usage("support", dec!(19.95)),
    ];
    let inv = taxed(Currency::EUR, &lines, None, &german(TaxTreatment::Standard));
    // 19 %: net 100.10 + 19.95 = 120.05 -> 22.8095 -> 22.81 (shares 19.019 -> 19.02,
    // 3.7905 -> 3.79). 7 %: net 45.45 -> 3.1815 -> 3.18.
    let per_rate: Vec<_> = inv
        .taxes
        .iter()
        .map(|t| {
            (
                t.code.as_str(),
                t.category.as_str(),
                t.taxable_amount.to_string(),
                t.amount.to_string(),
            )
        })
        .collect();
    assert_eq!(
        per_rate,
        [
            (
                "DE_STANDARD",
                "S",
                "120.05".to_string(),
                "22.81".to_string()
            ),
            ("DE_REDUCED", "AA", "45.45".to_string(), "3.18".to_string())
        ]
    );
    assert_eq!(shares(&inv), ["19.02", "3.18", "3.79"]);
    // Tax 22.81 + 3.18 = 25.99; net 165.50; gross 191.49.
    assert_eq!(inv.tax_amount().to_string(), "25.99");
    assert_eq!(inv.net_amount().to_string(), "165.50");
    assert_eq!(inv.total.amount.to_string(), "191.49");
}

fn grant(id: &str, balance: Decimal) -> Credit {
    Credit {
        grant_id: id.into(),
        priority: 1,
        valid_from: utc("2025-01-01T00:00:00Z"),
        expires_at: None,
        granted_at: utc("2025-01-01T00:00:00Z"),
        balance,
        eligibility: Eligibility {
            all: true,
            ..Default::default()
        },
    }
}

#[test]
fn credits_and_a_true_up_on_a_taxed_invoice() {
    let lines = [
        usage("api", dec!(600.00)),
        charge(CardKind::License, "seats", dec!(129.00)),
    ];
    // Commitment 1000.00 - charges 729.00 = true-up 271.00, taxed at the default.
    let true_up = charge(CardKind::MinimumCommitment, "minimum", dec!(271.00));
    let setup = german(TaxTreatment::Standard);
    let base = taxed(Currency::EUR, &lines, Some(&true_up), &setup);
    // Taxable 729.00 + 271.00 = 1000.00 -> tax 190.00 (114.00 + 24.51 + 51.49);
    // gross 1190.00.
    assert_eq!(base.taxes[0].taxable_amount.to_string(), "1000.00");
    assert_eq!(base.tax_amount().to_string(), "190.00");
    assert_eq!(shares(&base), ["114.00", "24.51"]);
    assert_eq!(
        base.true_up
            .as_ref()
            .unwrap()
            .tax
            .as_ref()
            .unwrap()
            .amount
            .to_string(),
        "51.49"
    );
    assert_eq!(base.total.amount.to_string(), "1190.00");

    // Credits come after tax: they pay gross lines (714.00, 153.51, 322.49).
    let mut inv = base.clone();
    let payables = inv.payables(chrono_tz::UTC);
    let gross: Vec<_> = payables.iter().map(|p| p.amount.to_string()).collect();
    assert_eq!(gross, ["714.00", "153.51", "322.49"]);
    let used = apply(&payables, &[grant("g1", dec!(500.00))]);
    inv.apply_credits(&used, &|_| "Prepaid".into());
    check(&inv);
    // 500.00 of the api line's 714.00; tax unchanged at 190.00; due 1190.00 - 500.00.
    assert_eq!(inv.tax_amount().to_string(), "190.00");
    assert_eq!(inv.total_credits.amount.to_string(), "500.00");
    assert_eq!(inv.total.amount.to_string(), "690.00");

    // A larger grant pays everything, tax included: 1190.00, nothing due, never < 0.
    let mut inv = base.clone();
    let used = apply(&inv.payables(chrono_tz::UTC), &[grant("g2", dec!(2000.00))]);
    inv.apply_credits(&used, &|_| "Prepaid".into());
    check(&inv);
    assert_eq!(inv.total_credits.amount.to_string(), "1190.00");
    assert_eq!(inv.total.amount.to_string(), "0.00");
    // TOTAL_TAX stays before the (negative) credits in the tree.
    let kinds: Vec<_> = inv.grand_total.children.iter().map(|l| l.kind).collect();
    assert_eq!(
        kinds[kinds.len() - 2..],
        [LineKind::TotalTax, LineKind::TotalCredits]
    );
}

#[test]
fn jpy_tax_has_no_decimals() {
    let setup = TaxSetup {
        rates: vec![rate("JP", dec!(10), "S", true)],
        ..Default::default()
    };
    let lines = [
        usage("calls", dec!(15507)),
        usage("seats", dec!(2036)),
        usage("fee", dec!(1005)),
    ];
    let inv = taxed(Currency::JPY, &lines, None, &setup);
    // Net 15507 + 2036 + 1005 = 18548; 10 % = 1854.8 -> 1855. Shares: 1550.7 -> 1551,
    // 203.6 -> 204, 100.5 -> 101 make 1856: the most over-rounded (fee, by 0.5)
    // gives one back -> 100. Gross 18548 + 1855 = 20403.
    assert_eq!(inv.tax_amount().to_string(), "1855");
    assert_eq!(shares(&inv), ["1551", "204", "100"]);
    assert_eq!(inv.total.amount.to_string(), "20403");
}

#[test]
fn bhd_tax_has_three_decimals() {
    let setup = TaxSetup {
        rates: vec![rate("BH", dec!(10), "S", true)],
        ..Default::default()
    };
    let lines = [
        usage("fee", dec!(19.161)),
        usage("calls", dec!(47.109)),
        usage("tiny", dec!(0.005)),
    ];
    let inv = taxed(Currency::BHD, &lines, None, &setup);
    // Net 19.161 + 47.109 + 0.005 = 66.275; 10 % = 6.6275 -> 6.628 (half away from
    // zero). Shares 1.9161 -> 1.916, 4.7109 -> 4.711, 0.0005 -> 0.001 = 6.628.
    // Gross 66.275 + 6.628 = 72.903.
    assert_eq!(inv.tax_amount().to_string(), "6.628");
    assert_eq!(shares(&inv), ["1.916", "4.711", "0.001"]);
    assert_eq!(inv.total.amount.to_string(), "72.903");
}

#[test]
fn the_rate_valid_on_the_last_day_of_the_line_applies() {
    // Germany's 16 % from 1 Jul 2020 to 31 Dec 2020 (valid_until 2021-01-01).
    let mut low = rate("DE_STANDARD", dec!(16), "S", true);
    low.valid_from = Some(d("2020-07-01"));
    low.valid_until = Some(d("2021-01-01"));
    let mut before = rate("DE_STANDARD", dec!(19), "S", true);
    before.valid_until = Some(d("2020-07-01"));
    let mut after = rate("DE_STANDARD", dec!(19), "S", true);
    after.valid_from = Some(d("2021-01-01"));
    let setup = TaxSetup {
        rates: vec![before, low, after],
        ..Default::default()
    };
    let pct = |day: &str| {
        setup
            .rate_for(Some("api"), d(day))
            .unwrap()
            .unwrap()
            .percentage
    };
    assert_eq!(pct("2020-06-30"), dec!(19));
    assert_eq!(pct("2020-07-01"), dec!(16));
    assert_eq!(pct("2020-12-31"), dec!(16));
    assert_eq!(pct("2021-01-01"), dec!(19));
    // December 2020's line (tax point 31 Dec): 100.00 x 16 % = 16.00.
    let mut l = usage("api", dec!(100.00));
    l.period = Period::new(d("2020-12-01"), d("2021-01-01"));
    let mut inv = InvoiceLines::build(Currency::EUR, &[l], None);
    inv.apply_taxes(&setup, d("2021-01-01")).unwrap();
    assert_eq!(inv.tax_amount().to_string(), "16.00");
}

#[test]
fn a_card_naming_an_unknown_rate_is_an_error_naming_it() {
    let mut setup = german(TaxTreatment::Standard);
    setup.card_rates.insert("api".into(), "FR_REDUCED".into());
    let mut inv = InvoiceLines::build(Currency::EUR, &[usage("api", dec!(1))], None);
    let e = inv.apply_taxes(&setup, d("2026-02-01")).unwrap_err();
    assert!(e.path.contains("api"), "{e}");
    assert!(
        e.message.contains("FR_REDUCED") && e.message.contains("2026-01-31"),
        "{e}"
    );
}

#[test]
fn merged_drafts_round_tax_once_over_the_document() {
    let setup = german(TaxTreatment::Standard);
    let a = taxed(Currency::EUR, &[usage("api", dec!(0.03))], None, &setup);
    let b = taxed(Currency::EUR, &[usage("api", dec!(0.03))], None, &setup);
    // Alone each: 0.03 x 19 % = 0.0057 -> 0.01. Together: 0.06 x 19 % = 0.0114 -> 0.01.
    assert_eq!(a.tax_amount().to_string(), "0.01");
    let m = InvoiceLines::merge(&[("p v1".into(), a), ("p v2".into(), b)]);
    check(&m);
    assert_eq!(m.tax_amount().to_string(), "0.01");
    // Total 0.06 + 0.01 = 0.07.
    assert_eq!(m.total.amount.to_string(), "0.07");
}

#[test]
fn old_invoice_json_stays_valid_and_taxed_json_round_trips() {
    let old = InvoiceLines::build(Currency::USD, &[usage("api", dec!(5.00))], None);
    let mut v = serde_json::to_value(&old).unwrap();
    v.as_object_mut().unwrap().remove("taxes");
    let back: InvoiceLines = serde_json::from_value(v).unwrap();
    assert_eq!(back.tax_amount().to_string(), "0.00");
    assert_eq!(back.total.amount.to_string(), "5.00");
    let inv = taxed(
        Currency::EUR,
        &[usage("api", dec!(10.00))],
        None,
        &german(TaxTreatment::Standard),
    );
    let v = serde_json::to_value(&inv).unwrap();
    assert_eq!(v["taxes"][0]["category"], "S");
    assert_eq!(v["taxes"][0]["amount"], "1.90");
    assert_eq!(v["totalTax"]["kind"], "TOTAL_TAX");
    assert_eq!(serde_json::from_value::<InvoiceLines>(v).unwrap(), inv);
}

#[test]
fn rates_are_checked_field_by_field() {
    let ok = rate("DE_STANDARD", dec!(19), "S", true);
    assert!(ok.check().is_ok());
    let mut r = ok.clone();
    r.category = "X".into();
    assert_eq!(r.check().unwrap_err().path, "category");
    let mut r = ok.clone();
    r.percentage = dec!(101);
    assert_eq!(r.check().unwrap_err().path, "percentage");
    let mut r = ok.clone();
    r.valid_from = Some(d("2026-01-01"));
    r.valid_until = Some(d("2026-01-01"));
    assert_eq!(r.check().unwrap_err().path, "validUntil");
    let mut r = ok;
    r.code = "a b".into();
    assert_eq!(r.check().unwrap_err().path, "code");
    assert_eq!(
        TaxTreatment::parse("REVERSE_CHARGE").unwrap(),
        TaxTreatment::ReverseCharge
    );
    assert!(TaxTreatment::parse("reverse").is_err());
}

#[test]
fn credits_sold_are_not_taxed_and_cards_name_their_rate_in_the_plan() {
    let lines = [
        usage("api", dec!(100.00)),
        charge(CardKind::CreditGrant, "pack", dec!(50.00)),
    ];
    let inv = taxed(Currency::EUR, &lines, None, &german(TaxTreatment::Standard));
    // Only api is taxed: 100.00 x 19 % = 19.00; the pack's 50.00 is untaxed.
    // Total 150.00 + 19.00 = 169.00.
    assert_eq!(shares(&inv), ["19.00", "-"]);
    assert_eq!(inv.taxes[0].taxable_amount.to_string(), "100.00");
    assert_eq!(inv.total.amount.to_string(), "169.00");

    let plan = crate::plan::Plan::from_json(&serde_json::json!({
        "name": "p", "supportedCurrencies": ["EUR"],
        "pricingCycleConfig": {"interval": "MONTHLY"},
        "fixedFeeRateCards": [{"name": "books", "type": "RECURRING", "taxRateCode": "DE_REDUCED",
            "rateValues": [{"currency": "EUR", "rate": 10}]}]
    }))
    .unwrap();
    assert_eq!(
        plan.tax_rate_codes(),
        BTreeMap::from([("books".to_string(), "DE_REDUCED".to_string())])
    );
    let back = crate::plan::Plan::from_json(&plan.to_json()).unwrap();
    assert_eq!(back, plan);
}
