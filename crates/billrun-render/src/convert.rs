//! Building an [`InvoiceDocument`] from the core's line tree and header data.
//!
//! This is the one place where billrun's stored shapes (the `InvoiceLines` JSON,
//! status strings, periods) become the view model, so the application maps a stored
//! invoice row into an [`InvoiceHeader`] and calls [`InvoiceDocument::from_lines`].

use billrun_core::invoice::{InvoiceLines, LineItem, LineKind};
use billrun_core::tax::TaxTotal;
use billrun_core::{Currency, Period};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::describe;
use crate::logo::Logo;
use crate::model::*;
use crate::money::{format_quantity, Amount};

/// Everything about an invoice that is not in its line tree.
#[derive(Debug, Clone, PartialEq)]
pub struct InvoiceHeader {
    /// The organisation's name.
    pub organisation_name: String,
    /// The organisation's logo, if any.
    pub logo: Option<Logo>,
    /// The billing-details profile of the template used.
    pub billing_details: BillingDetails,
    /// The customer.
    pub customer: Party,
    /// The account billed.
    pub account: Party,
    /// The number; `None` for a draft (shown as "DRAFT").
    pub number: Option<String>,
    /// Status.
    pub status: InvoiceStatus,
    /// Invoice date (finalized invoices).
    pub invoice_date: Option<NaiveDate>,
    /// Due date (finalized invoices).
    pub due_date: Option<NaiveDate>,
    /// When it was finalized (none for a draft): the PDF's creation date.
    pub finalized_at: Option<DateTime<Utc>>,
    /// Net term days the due date came from.
    pub net_term_days: Option<u32>,
    /// The in-arrears period (the cycle closing at the invoice's boundary).
    pub in_arrears: Option<Period>,
    /// The in-advance period (the cycle opening there).
    pub in_advance: Option<Period>,
    /// Payments received so far (zero until payments are recorded).
    pub amount_paid: Decimal,
}

impl InvoiceDocument {
    /// The view model of an invoice: `header` plus its line tree.
    pub fn from_lines(header: InvoiceHeader, lines: &InvoiceLines) -> InvoiceDocument {
        let c = lines.currency;
        let money = |d: Decimal| Amount::money(d, c);
        let groups: Vec<LineGroup> = lines
            .groups()
            .map(|g| LineGroup {
                name: readable_name(&g.display_name),
                amount: money(g.amount),
                lines: g.children.iter().map(|l| line(l, c)).collect(),
            })
            .collect();
        let total = lines.total.amount;
        let amount_due = match header.status {
            InvoiceStatus::Paid | InvoiceStatus::Void | InvoiceStatus::UnCollectible => {
                Decimal::ZERO
            }
            _ => (total - header.amount_paid).max(Decimal::ZERO),
        };
        let periods = [
            ("IN_ARREARS", "In arrears", header.in_arrears),
            ("IN_ADVANCE", "In advance", header.in_advance),
        ]
        .into_iter()
        .filter_map(|(timing, label, p)| {
            p.map(|p| BilledPeriod {
                timing,
                label,
                period: p.into(),
            })
        })
        .collect();
        InvoiceDocument {
            organisation: Organisation {
                name: header.organisation_name,
                logo: header.logo,
            },
            billing_details: header.billing_details,
            customer: header.customer,
            account: header.account,
            number: header.number.unwrap_or_else(|| "DRAFT".to_string()),
            status: header.status,
            status_label: header.status.label().to_string(),
            invoice_date: header.invoice_date.map(Day::from),
            finalized_at: header.finalized_at,
            due_date: header.due_date.map(Day::from),
            net_term_days: header.net_term_days,
            periods,
            currency: CurrencyInfo {
                code: c.code().to_string(),
                symbol: c.symbol().to_string(),
                minor_units: c.minor_units(),
            },
            line_count: groups.iter().map(|g| g.lines.len()).sum(),
            groups,
            sub_total: money(lines.sub_total.amount),
            commitment_true_up: lines.true_up.as_ref().map(|t| money(t.amount)),
            commitment_true_up_vat: lines.true_up.as_ref().and_then(vat_rate),
            has_tax: !lines.taxes.is_empty(),
            net_total: money(lines.net_amount()),
            taxes: lines.taxes.iter().map(|t| tax_line(t, c)).collect(),
            tax_total: money(lines.tax_amount()),
            gross_total: money(lines.gross_amount()),
            tax_note: lines.tax_note.clone(),
            credits: deduction(lines.total_credits.amount, c),
            has_credits: !lines.total_credits.amount.is_zero(),
            total: money(total),
            amount_due: money(amount_due),
            title: "Invoice".to_string(),
            credit_note: None,
        }
    }

    /// Like [`InvoiceDocument::from_lines`], from the stored JSON of the line tree
    /// (the `lines` column).
    pub fn from_stored_lines(
        header: InvoiceHeader,
        lines: &serde_json::Value,
    ) -> Result<InvoiceDocument, serde_json::Error> {
        let lines: InvoiceLines = serde_json::from_value(lines.clone())?;
        Ok(Self::from_lines(header, &lines))
    }
}

/// One rate's tax as the documents print it: "VAT 19% on $43.34", its taxable
/// amount and tax (invoices and credit notes alike). The rate is printed once: a
/// name that already says it ("VAT 19%") is printed as it is, any other name
/// gets it in parentheses ("Sales tax (7%) on $20.00"). See [`tax_label`].
pub(crate) fn tax_line(t: &TaxTotal, c: Currency) -> TaxLine {
    let money = |d: Decimal| Amount::money(d, c);
    TaxLine {
        code: t.code.clone(),
        label: tax_label(&t.name, t.percentage, &money(t.taxable_amount).display),
        category: t.category.clone(),
        percentage: t.percentage.normalize().to_string(),
        taxable: money(t.taxable_amount),
        amount: money(t.amount),
    }
}

/// "NAME on TAXABLE" when the name already says the rate ("VAT 19%" at 19 %),
/// else "NAME (RATE%) on TAXABLE": the rate is printed once (issue 16).
fn tax_label(name: &str, percentage: Decimal, taxable: &str) -> String {
    let rate = format!("{}%", percentage.normalize());
    let says_rate = name
        .split_whitespace()
        .any(|word| word == rate || word.trim_matches(|ch| ch == '(' || ch == ')') == rate);
    if says_rate {
        format!("{name} on {taxable}")
    } else {
        format!("{name} ({rate}) on {taxable}")
    }
}

/// Credits are shown as what they are, a deduction: `-$12.00` (or `$0.00`).
fn deduction(value: Decimal, c: Currency) -> Amount {
    let mut a = Amount::money(value, c);
    if !value.is_zero() {
        a.display = format!("-{}", a.display);
    }
    a
}

/// A charge line or sub-line of the view model. What a reader needs beyond the
/// core's tree (issue 16, "readable lines"):
/// - a line without a unit price of its own whose slabs all have the same one (a
///   single PER_UNIT slab, a VOLUME price) shows it: 41 x $0.001;
/// - a license line shows its periods as sub-lines, each "N licenses x D of W
///   days (1 Jan – 12 Jan 2026)" with the price of one license for the usage
///   window, and no quantity
///   or unit price of its own unless all its periods share one price (the peak
///   count the core keeps as its quantity reads as if it were billed);
/// - a name that is an identifier (`monthly_credits`: a card without a display
///   name) is written as words ([`readable_name`]).
fn line(item: &LineItem, c: Currency) -> Line {
    let is_license = !item.children.is_empty()
        && item
            .children
            .iter()
            .all(|l| l.kind == LineKind::LicensePeriod);
    let unit_price = item.unit_price.or_else(|| shared_unit_price(item));
    Line {
        kind: item.kind,
        display_name: match &item.card_name {
            Some(card) if *card == item.display_name => readable_name(&item.display_name),
            _ => item.display_name.clone(),
        },
        description: match (item.kind, describe::description(item, c), item.period) {
            _ if is_license => None,
            // A license period names its days: "21 licenses x 12 of 31 days (1 Jan –
            // 12 Jan 2026)".
            (LineKind::LicensePeriod, Some(d), Some(p)) => Some(format!("{d} ({})", short_days(p))),
            (_, d, _) => d,
        },
        quantity: if is_license {
            None
        } else {
            item.quantity.map(format_quantity)
        },
        unit_price: unit_price.map(|u| Amount::unit_price(u, c)),
        amount: Amount::money(item.amount, c),
        period: item.period.map(PeriodView::from),
        sub_lines: if adds_nothing(item) {
            Vec::new()
        } else {
            item.children.iter().map(|l| line(l, c)).collect()
        },
        tax: item
            .tax
            .as_ref()
            .map(|t| format!("{}: {}", t.name, Amount::money(t.amount, c).display)),
        quantity_value: if is_license { None } else { item.quantity },
        vat: vat_rate(item),
    }
}

/// The structured VAT rate of a line, if it has one.
fn vat_rate(item: &LineItem) -> Option<VatRate> {
    item.tax.as_ref().map(|t| VatRate {
        category: t.category.clone(),
        percentage: t.percentage.normalize(),
    })
}

/// The days of `p` in short: `"1 Jan – 12 Jan 2026"` (the year once when both ends
/// share it), else as [`PeriodView`] writes them.
fn short_days(p: Period) -> String {
    let v = PeriodView::from(p);
    if v.start.iso.year() == v.end.iso.year() {
        format!("{} – {}", v.start.iso.format("%-d %b"), v.end.display)
    } else {
        v.display.to_string()
    }
}

/// The unit price every priced sub-line of `item` shares (its slabs, or its
/// license periods), if they all have one and it is the same; the min/max
/// adjustment has none and does not count.
fn shared_unit_price(item: &LineItem) -> Option<Decimal> {
    let mut priced = item
        .children
        .iter()
        .filter(|l| l.kind != LineKind::Adjustment);
    let first = priced.next()?.unit_price?;
    priced.all(|l| l.unit_price == Some(first)).then_some(first)
}

/// A name as people read it: an identifier in lower case (`monthly_credits`,
/// `usage`: a card without a display name, a tag) becomes words with a capital
/// (`Monthly credits`, `Usage`); any other name (with a capital, a space or other
/// characters) is kept as written.
pub fn readable_name(name: &str) -> String {
    let identifier = !name.is_empty()
        && name
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_' || ch == '-');
    if !identifier {
        return name.to_string();
    }
    let words = name.replace(['_', '-'], " ");
    let mut chars = words.trim().chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => name.to_string(),
    }
}

/// A breakdown of one slab with the line's own quantity and amount (a VOLUME or
/// single-slab price) repeats the line: it is left out.
fn adds_nothing(item: &LineItem) -> bool {
    match item.children.as_slice() {
        [only] => {
            only.kind == LineKind::Slab
                && only.amount == item.amount
                && only.quantity == item.quantity
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tax_label_prints_the_rate_once() {
        // Issue 16: "VAT 19% (19%) on $43.34" printed the rate twice.
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(tax_label("VAT 19%", d("19"), "$43.34"), "VAT 19% on $43.34");
        assert_eq!(tax_label("VAT 7%", d("7.00"), "$20.00"), "VAT 7% on $20.00");
        assert_eq!(
            tax_label("Sales tax", d("8.875"), "$100.00"),
            "Sales tax (8.875%) on $100.00"
        );
        // A name with another rate in it still gets the rate it is taxed at.
        assert_eq!(
            tax_label("VAT 19%", d("7"), "$1.00"),
            "VAT 19% (7%) on $1.00"
        );
    }

    #[test]
    fn sample_maps_every_group_line_and_total() {
        let doc = crate::sample::sample();
        assert_eq!(doc.number, "INV-2026-000042");
        assert_eq!(doc.status, InvoiceStatus::Due);
        assert_eq!(doc.line_count, 10);
        let sum: Decimal = doc.groups.iter().map(|g| g.amount.value).sum();
        assert_eq!(sum, doc.sub_total.value);
        for g in &doc.groups {
            let lines: Decimal = g.lines.iter().map(|l| l.amount.value).sum();
            assert_eq!(lines, g.amount.value, "group {}", g.name);
            for l in &g.lines {
                if !l.sub_lines.is_empty() {
                    let subs: Decimal = l.sub_lines.iter().map(|s| s.amount.value).sum();
                    assert_eq!(subs, l.amount.value, "line {}", l.display_name);
                }
            }
        }
        let expected = doc.sub_total.value
            + doc
                .commitment_true_up
                .as_ref()
                .map_or(Decimal::ZERO, |t| t.value)
            - doc.credits.value;
        assert_eq!(doc.total.value, expected);
        assert_eq!(doc.amount_due, doc.total);
        assert_eq!(doc.periods.len(), 2);
        assert_eq!(
            doc.periods[0].period.display.to_string(),
            "1 Jan 2026 – 31 Jan 2026"
        );
    }

    #[test]
    fn drafts_have_no_number_and_paid_invoices_owe_nothing() {
        let (mut header, lines) = crate::sample::sample_parts(10, Currency::USD);
        header.number = None;
        header.status = InvoiceStatus::Draft;
        header.invoice_date = None;
        header.due_date = None;
        let doc = InvoiceDocument::from_lines(header.clone(), &lines);
        assert_eq!(doc.number, "DRAFT");
        assert!(doc.invoice_date.is_none());
        header.status = InvoiceStatus::Paid;
        let doc = InvoiceDocument::from_lines(header, &lines);
        assert!(doc.amount_due.value.is_zero());
        assert_eq!(doc.amount_due.display, "$0.00");
    }

    #[test]
    fn stored_json_round_trips_into_the_same_document() {
        let (header, lines) = crate::sample::sample_parts(10, Currency::EUR);
        let json = serde_json::to_value(&lines).unwrap();
        let a = InvoiceDocument::from_stored_lines(header.clone(), &json).unwrap();
        assert_eq!(a, InvoiceDocument::from_lines(header, &lines));
        assert!(a.total.display.starts_with('€'));
    }

    #[test]
    fn a_breakdown_that_repeats_its_line_is_left_out() {
        let doc = crate::sample::sample();
        let storage = &doc.groups[0].lines[1];
        assert_eq!(storage.display_name, "Storage (GB-month)");
        assert!(storage.sub_lines.is_empty());
        let calls = &doc.groups[0].lines[0];
        assert_eq!(calls.sub_lines.len(), 3);
        let webhooks = doc.groups[0]
            .lines
            .iter()
            .find(|l| l.display_name == "Webhooks delivered")
            .unwrap();
        assert_eq!(
            webhooks.sub_lines.len(),
            2,
            "a slab and the minimum-charge adjustment"
        );
    }

    #[test]
    fn addresses_become_lines() {
        let a: Address = serde_json::from_value(serde_json::json!({
            "line1": "Hauptstraße 5", "postalCode": "10115", "city": "Berlin", "country": "DE"
        }))
        .unwrap();
        assert_eq!(a.lines(), ["Hauptstraße 5", "10115 Berlin", "Germany"]);
        let written: Address = serde_json::from_value(serde_json::json!({
            "city": "Springfield", "state": "IL", "country": "Freedonia"
        }))
        .unwrap();
        assert_eq!(written.lines(), ["Springfield", "IL", "Freedonia"]);
        assert!(Address::default().lines().is_empty());
    }

    fn item(
        kind: LineKind,
        name: &str,
        quantity: &str,
        unit: Option<&str>,
        amount: &str,
    ) -> LineItem {
        LineItem {
            kind,
            card_name: Some(name.to_string()),
            card_kind: None,
            display_name: name.to_string(),
            description: None,
            quantity: Some(quantity.parse().unwrap()),
            unit_price: unit.map(|u| u.parse().unwrap()),
            amount: amount.parse().unwrap(),
            period: None,
            children: Vec::new(),
            tax: None,
        }
    }

    fn jan(from: u32, to_exclusive: u32) -> Option<Period> {
        let d = |day: u32| {
            NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new(day as u64 - 1)
        };
        Some(Period::new(d(from), d(to_exclusive)))
    }

    #[test]
    fn a_single_slab_or_volume_line_shows_its_slabs_unit_price() {
        // 41 requests at $0.001 = $0.041 -> $0.04, then the minimum charge of $10.00
        // adds $9.96: the line shows 41 x $0.001 = $10.00.
        let mut l = item(LineKind::PricePlan, "requests", "41", None, "10.00");
        l.display_name = "Inference requests".into();
        l.description = Some("41 units".into());
        l.children = vec![
            item(LineKind::Slab, "requests", "41", Some("0.001"), "0.04"),
            item(LineKind::Adjustment, "requests", "0", None, "9.96"),
        ];
        l.children[1].quantity = None;
        let v = line(&l, Currency::USD);
        assert_eq!(v.quantity.as_deref(), Some("41"));
        assert_eq!(v.unit_price.unwrap().display, "$0.001");
        assert_eq!(v.amount.display, "$10.00");
        assert_eq!(v.description, None, "\"41 units\" repeats the quantity");
        // Two slabs at different prices: each sub-line has its own, the line none.
        l.children[1] = item(LineKind::Slab, "requests", "9000", Some("0.0005"), "4.50");
        assert_eq!(line(&l, Currency::USD).unit_price, None);
    }

    #[test]
    fn a_prorated_fee_shows_the_fee_as_unit_price_and_its_days() {
        // $99.00 for 11 of 31 days: 99 x 11 / 31 = 35.129... -> $35.13.
        let mut fee = item(
            LineKind::PricePlan,
            "platform_fee",
            "1",
            Some("99"),
            "35.13",
        );
        fee.display_name = "Platform fee".into();
        fee.period = jan(21, 32);
        fee.description = Some("prorated for 11 of 31 days".into());
        let v = line(&fee, Currency::USD);
        assert_eq!(v.unit_price.unwrap().display, "$99.00");
        assert_eq!(v.description.as_deref(), Some("prorated for 11 of 31 days"));
        assert_eq!(
            v.period.unwrap().display.to_string(),
            "21 Jan 2026 – 31 Jan 2026"
        );
        // As stored before the fee moved to the unit-price column: the same words.
        fee.description = Some("99 prorated for 11 of 31 days".into());
        let v = line(&fee, Currency::USD);
        assert_eq!(v.description.as_deref(), Some("prorated for 11 of 31 days"));
    }

    #[test]
    fn a_license_line_shows_licenses_times_days_per_period() {
        // $10.00 a license a month: 21 x 10 x 12/31 = 81.290... -> $81.29 and
        // 25 x 10 x 19/31 = 153.225... -> $153.23 (rounded together to $234.52).
        let mut seats = item(LineKind::PricePlan, "seats", "25", None, "234.52");
        seats.display_name = "Seats".into();
        seats.description = Some("up to 25 licenses".into());
        let mut a = item(LineKind::LicensePeriod, "seats", "21", Some("10"), "81.29");
        a.description = Some("21 licenses x 12 of 31 days".into());
        a.period = jan(1, 13);
        let mut b = item(LineKind::LicensePeriod, "seats", "25", Some("10"), "153.23");
        b.description = Some("25 licenses x 19 of 31 days".into());
        b.period = jan(13, 32);
        seats.children = vec![a, b];
        let v = line(&seats, Currency::USD);
        assert_eq!(v.quantity, None, "the peak is not what is billed");
        assert_eq!(v.description, None);
        assert_eq!(v.unit_price.as_ref().unwrap().display, "$10.00");
        let subs: Vec<_> = v
            .sub_lines
            .iter()
            .map(|s| {
                (
                    s.description.clone().unwrap(),
                    s.quantity.clone().unwrap(),
                    s.unit_price.clone().unwrap().display,
                    s.amount.display.clone(),
                )
            })
            .collect();
        assert_eq!(
            subs,
            [
                (
                    "21 licenses x 12 of 31 days (1 Jan – 12 Jan 2026)".to_string(),
                    "21".to_string(),
                    "$10.00".to_string(),
                    "$81.29".to_string()
                ),
                (
                    "25 licenses x 19 of 31 days (13 Jan – 31 Jan 2026)".to_string(),
                    "25".to_string(),
                    "$10.00".to_string(),
                    "$153.23".to_string()
                ),
            ]
        );
    }

    #[test]
    fn identifiers_are_written_as_words_other_names_as_given() {
        assert_eq!(readable_name("monthly_credits"), "Monthly credits");
        assert_eq!(readable_name("usage"), "Usage");
        assert_eq!(readable_name("api-calls-v2"), "Api calls v2");
        assert_eq!(readable_name("AI"), "AI");
        assert_eq!(
            readable_name("LLM tokens (large model)"),
            "LLM tokens (large model)"
        );
        assert_eq!(readable_name("Müller"), "Müller");
        // A card without a display name shows its name as words; one with a display
        // name equal to its name keeps it.
        let credits = item(LineKind::PricePlan, "monthly_credits", "50", None, "0.00");
        assert_eq!(
            line(&credits, Currency::USD).display_name,
            "Monthly credits"
        );
    }

    #[test]
    fn statuses_parse_from_storage() {
        assert_eq!(InvoiceStatus::parse("DUE"), Some(InvoiceStatus::Due));
        assert_eq!(
            InvoiceStatus::parse("PARTIALLY_PAID"),
            Some(InvoiceStatus::PartiallyPaid)
        );
        assert_eq!(InvoiceStatus::parse("due"), None);
    }
}
