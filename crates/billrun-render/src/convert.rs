//! Building an [`InvoiceDocument`] from the core's line tree and header data.
//!
//! This is the one place where billrun's stored shapes (the `InvoiceLines` JSON,
//! status strings, periods) become the view model, so the application maps a stored
//! invoice row into an [`InvoiceHeader`] and calls [`InvoiceDocument::from_lines`].

use billrun_core::invoice::{InvoiceLines, LineItem, LineKind};
use billrun_core::{Currency, Period};
use chrono::NaiveDate;
use rust_decimal::Decimal;

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
                name: g.display_name.clone(),
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
            credits: deduction(lines.total_credits.amount, c),
            total: money(total),
            amount_due: money(amount_due),
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

/// Credits are shown as what they are, a deduction: `-$12.00` (or `$0.00`).
fn deduction(value: Decimal, c: Currency) -> Amount {
    let mut a = Amount::money(value, c);
    if !value.is_zero() {
        a.display = format!("-{}", a.display);
    }
    a
}

fn line(item: &LineItem, c: Currency) -> Line {
    let quantity = item.quantity.map(format_quantity);
    Line {
        kind: item.kind,
        display_name: item.display_name.clone(),
        description: description(item),
        quantity,
        unit_price: item.unit_price.map(|u| Amount::unit_price(u, c)),
        amount: Amount::money(item.amount, c),
        period: item.period.map(PeriodView::from),
        sub_lines: if adds_nothing(item) {
            Vec::new()
        } else {
            item.children.iter().map(|l| line(l, c)).collect()
        },
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

/// The core's description, unless it only repeats the quantity ("12500 units") or
/// the fee ("99"), which the quantity and unit-price columns already show.
fn description(item: &LineItem) -> Option<String> {
    let d = item.description.as_deref()?.trim();
    let repeats_quantity = item
        .quantity
        .is_some_and(|q| d == format!("{q} units") || d == format!("{} units", q.normalize()));
    let is_bare_number = d.parse::<Decimal>().is_ok();
    let is_sub_line = matches!(
        item.kind,
        LineKind::Slab | LineKind::Adjustment | LineKind::LicensePeriod
    );
    if d.is_empty() || (!is_sub_line && (repeats_quantity || is_bare_number)) {
        None
    } else {
        Some(d.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(a.lines(), ["Hauptstraße 5", "10115 Berlin", "DE"]);
        assert!(Address::default().lines().is_empty());
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
