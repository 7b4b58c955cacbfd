//! Sample invoices for tests, benchmarks and template authors' previews.
//!
//! The line tree is built by the core's own [`InvoiceLines::build`] from charge
//! lines shaped like the core's (slabs, a minimum-charge adjustment, prorated license
//! periods, fixed fees), so a sample is an invoice billrun could really issue.
//! Everything is deterministic: the same arguments give the same document.

use billrun_core::charges::{ChargeDetail, ChargeLine, DetailKind};
use billrun_core::invoice::InvoiceLines;
use billrun_core::plan::{CardKind, InvoiceTiming};
use billrun_core::{Currency, Period, RoundingMode};
use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::convert::InvoiceHeader;
use crate::logo::Logo;
use crate::model::*;

/// The sample logo (480x128 PNG with transparency).
pub const SAMPLE_LOGO_PNG: &[u8] = include_bytes!("../assets/sample-logo.png");
/// The same logo as a JPEG.
pub const SAMPLE_LOGO_JPEG: &[u8] = include_bytes!("../assets/sample-logo.jpg");

/// A typical invoice: 10 charge lines in USD, with slabs, an adjustment, license
/// periods, a true-up, a logo, and a customer named "Müller".
pub fn sample() -> InvoiceDocument {
    sample_with(10, Currency::USD)
}

/// A long invoice: 120 charge lines in USD (several pages).
pub fn sample_long() -> InvoiceDocument {
    sample_with(120, Currency::USD)
}

/// A sample with `lines` charge lines in `currency`.
pub fn sample_with(lines: usize, currency: Currency) -> InvoiceDocument {
    let (header, lines) = sample_parts(lines, currency);
    InvoiceDocument::from_lines(header, &lines)
}

fn d(s: &str) -> NaiveDate {
    s.parse().expect("sample dates are valid")
}

/// The header and line tree behind [`sample_with`].
pub fn sample_parts(lines: usize, currency: Currency) -> (InvoiceHeader, InvoiceLines) {
    let jan = Period::new(d("2026-01-01"), d("2026-02-01"));
    let feb = Period::new(d("2026-02-01"), d("2026-03-01"));
    let header = InvoiceHeader {
        organisation_name: "Northwind Cloud".into(),
        logo: Some(Logo::from_bytes(SAMPLE_LOGO_PNG).expect("the sample logo is valid")),
        billing_details: BillingDetails {
            legal_name: "Northwind Cloud GmbH".into(),
            address_lines: vec![
                "Friedrichstraße 68".into(),
                "10117 Berlin".into(),
                "Germany".into(),
            ],
            tax_id: Some("DE 811 907 980".into()),
            email: Some("billing@northwind.example".into()),
            phone: Some("+49 30 1234 5670".into()),
            payment_instructions: vec![
                "Bank transfer to Northwind Cloud GmbH".into(),
                "IBAN DE89 3704 0044 0532 0130 00".into(),
                "BIC COBADEFFXXX".into(),
                "Reference: INV-2026-000042".into(),
            ],
            footer_note: Some(
                "Thank you for your business. Questions about this invoice: billing@northwind.example"
                    .into(),
            ),
            address: Some(Address {
                line1: Some("Friedrichstraße 68".into()),
                postal_code: Some("10117".into()),
                city: Some("Berlin".into()),
                country: Some("DE".into()),
                ..Default::default()
            }),
        },
        customer: Party {
            id: "mueller".into(),
            name: "Müller Analytics GmbH".into(),
            address_lines: vec![
                "Hauptstraße 5".into(),
                "80331 München".into(),
                "Germany".into(),
            ],
            emails: vec!["accounts@mueller.example".into()],
            tax_id: None,
            address: Some(Address {
                line1: Some("Hauptstraße 5".into()),
                postal_code: Some("80331".into()),
                city: Some("München".into()),
                country: Some("DE".into()),
                ..Default::default()
            }),
        },
        account: Party {
            id: "mueller-prod".into(),
            name: "Müller – Production".into(),
            address_lines: vec![],
            emails: vec!["ap@mueller.example".into()],
            tax_id: None,
            address: None,
        },
        number: Some("INV-2026-000042".into()),
        status: InvoiceStatus::Due,
        invoice_date: Some(d("2026-02-01")),
        due_date: Some(d("2026-03-03")),
        finalized_at: d("2026-02-01")
            .and_hms_opt(6, 30, 0)
            .map(|t| t.and_utc()),
        net_term_days: Some(30),
        in_arrears: Some(jan),
        in_advance: Some(feb),
        amount_paid: Decimal::ZERO,
    };
    let charges: Vec<ChargeLine> = (0..lines)
        .map(|i| charge(i, lines, currency, jan, feb))
        .collect();
    let true_up = charge_line(
        CardKind::MinimumCommitment,
        "Minimum commitment",
        None,
        InvoiceTiming::InArrears,
        jan,
        Decimal::ONE,
    );
    let true_up = ChargeLine {
        unit_price: Some(scale(Decimal::from(2500), currency)),
        amount: round(scale(Decimal::new(25000, 2), currency), currency),
        description: "minimum commitment shortfall".into(),
        ..true_up
    };
    (
        header,
        InvoiceLines::build(currency, &charges, Some(&true_up)),
    )
}

/// Rates are written in USD; other currencies get a plausible exchange factor so
/// JPY samples have yen-sized numbers.
fn scale(usd: Decimal, c: Currency) -> Decimal {
    let factor = match c.code() {
        "JPY" => Decimal::from(150),
        "EUR" => Decimal::new(92, 2),
        "BHD" => Decimal::new(377, 3),
        _ => Decimal::ONE,
    };
    usd * factor
}

fn round(x: Decimal, c: Currency) -> Decimal {
    c.round(x, RoundingMode::default())
}

fn charge_line(
    kind: CardKind,
    name: &str,
    tag: Option<&str>,
    timing: InvoiceTiming,
    period: Period,
    quantity: Decimal,
) -> ChargeLine {
    ChargeLine {
        kind,
        card_name: name.to_lowercase().replace(' ', "-"),
        display_name: name.into(),
        tag: tag.map(String::from),
        timing,
        cycle_index: 1,
        period,
        quantity,
        unit_price: None,
        description: String::new(),
        details: Vec::new(),
        amount: Decimal::ZERO,
    }
}

const NAMES: [&str; 10] = [
    "API calls",
    "Platform fee",
    "Analyst seats",
    "Storage (GB-month)",
    "Data egress (GB)",
    "Webhooks delivered",
    "Premium support",
    "Compute minutes",
    "Admin seats",
    "Search queries",
];

/// Line `i` of `n`: ten kinds of charge in turn; beyond ten lines each name gets a
/// project suffix so every line of a long invoice is distinguishable.
fn charge(i: usize, n: usize, c: Currency, jan: Period, feb: Period) -> ChargeLine {
    let base = NAMES[i % NAMES.len()];
    let name = if n > NAMES.len() {
        format!("{base} · project {:03}", i / NAMES.len() + 1)
    } else {
        base.to_string()
    };
    let k = Decimal::from(i as u64 + 1);
    match i % NAMES.len() {
        1 | 6 => {
            let fee = scale(if i % 10 == 1 { 499.into() } else { 150.into() }, c);
            let mut l = charge_line(
                CardKind::FixedFee,
                &name,
                Some("Platform"),
                InvoiceTiming::InAdvance,
                feb,
                Decimal::ONE,
            );
            l.unit_price = Some(fee);
            l.description = format!("{fee}");
            l.amount = round(fee, c);
            l
        }
        2 | 8 => {
            let rate = scale(if i % 10 == 2 { 49.into() } else { 19.into() }, c);
            let (q1, q2) = (Decimal::from(12) + k, Decimal::from(15) + k);
            let mut l = charge_line(
                CardKind::License,
                &name,
                Some("Seats"),
                InvoiceTiming::InArrears,
                jan,
                q2,
            );
            let p1 = Period::new(jan.start, d("2026-01-11"));
            let p2 = Period::new(d("2026-01-11"), jan.end);
            let parts = [
                (q1, p1, rate * q1 * Decimal::from(10) / Decimal::from(31)),
                (q2, p2, rate * q2 * Decimal::from(21) / Decimal::from(31)),
            ];
            settle(
                &mut l,
                c,
                parts.iter().map(|(q, p, a)| {
                    (
                        ChargeDetail {
                            kind: DetailKind::LicensePeriod,
                            description: format!("{q} licenses x {} of 31 days", p.days()),
                            quantity: Some(*q),
                            unit_price: Some(rate),
                            amount: Decimal::ZERO,
                            period: *p,
                        },
                        *a,
                    )
                }),
            );
            l.description = format!("up to {q2} licenses");
            l
        }
        5 => {
            // Below its minimum: one slab plus the adjustment up to the minimum.
            let q = Decimal::from(4200) + k * Decimal::from(10);
            let rate = scale(Decimal::new(1, 3), c);
            let minimum = scale(Decimal::from(25), c);
            let mut l = usage(&name, jan, q);
            let slab = rate * q;
            settle(
                &mut l,
                c,
                [
                    (slab_detail(1, 0.into(), q, rate, jan), slab),
                    (
                        ChargeDetail {
                            kind: DetailKind::Adjustment,
                            description: format!("minimum charge {minimum}"),
                            quantity: None,
                            unit_price: None,
                            amount: Decimal::ZERO,
                            period: jan,
                        },
                        minimum - slab,
                    ),
                ]
                .into_iter(),
            );
            l
        }
        0 | 9 => {
            // Tiered over three slabs.
            let q = if i % 10 == 0 {
                Decimal::from(1_184_500)
            } else {
                Decimal::from(684_500)
            } + k * Decimal::from(1_000);
            let bounds = [
                Decimal::ZERO,
                Decimal::from(100_000),
                Decimal::from(1_000_000),
            ];
            let rates = [
                scale(Decimal::new(2, 3), c),
                scale(Decimal::new(15, 4), c),
                scale(Decimal::new(1, 3), c),
            ];
            let mut l = usage(&name, jan, q);
            let reached = if q > bounds[2] { 3 } else { 2 };
            let details = (0..reached).map(|s| {
                let upper = bounds.get(s + 1).copied().unwrap_or(q).min(q);
                let qty = upper - bounds[s];
                (
                    slab_detail(s + 1, bounds[s], qty, rates[s], jan),
                    qty * rates[s],
                )
            });
            settle(&mut l, c, details);
            l
        }
        _ => {
            // Volume: one slab at one rate.
            let q = Decimal::new(23_405, 1) + k;
            let rate = scale(Decimal::new(23, 3), c);
            let mut l = usage(&name, jan, q);
            settle(
                &mut l,
                c,
                [(slab_detail(1, 0.into(), q, rate, jan), q * rate)].into_iter(),
            );
            l
        }
    }
}

fn usage(name: &str, jan: Period, q: Decimal) -> ChargeLine {
    let mut l = charge_line(
        CardKind::Usage,
        name,
        Some("Usage"),
        InvoiceTiming::InArrears,
        jan,
        q,
    );
    l.description = format!("{q} units");
    l
}

fn slab_detail(
    order: usize,
    start_after: Decimal,
    q: Decimal,
    rate: Decimal,
    p: Period,
) -> ChargeDetail {
    ChargeDetail {
        kind: DetailKind::Slab,
        description: format!("slab {order} (above {start_after}: {q} x {rate})"),
        quantity: Some(q),
        unit_price: Some(rate),
        amount: Decimal::ZERO,
        period: p,
    }
}

/// Rounds the details so they add up to the rounded line, as the core does.
fn settle(
    line: &mut ChargeLine,
    c: Currency,
    details: impl Iterator<Item = (ChargeDetail, Decimal)>,
) {
    let (mut details, exact): (Vec<ChargeDetail>, Vec<Decimal>) = details.unzip();
    let rounded = billrun_core::money::round_parts(&exact, c, RoundingMode::default());
    for (d, a) in details.iter_mut().zip(rounded) {
        d.amount = a;
    }
    line.amount = round(exact.iter().copied().sum(), c);
    line.details = details;
}
