//! Taxes (VAT, sales tax) on an invoice: which rate applies to which line, and the
//! tax per rate.
//!
//! Configuration (README "Taxes"):
//! - an organisation's [`TaxRate`]s: a `code` it chooses (`"DE_STANDARD"`), a name
//!   shown on invoices (`"VAT 19%"`), a UNCL5305 `category` (`S` standard, `AA`
//!   lower rate, `Z` zero rated, `E` exempt, `AE` reverse charge, `O` outside the
//!   scope) kept on every per-rate total so an EN 16931 e-invoice can be built from
//!   it, a `percentage` (`19` for 19 %), and effective dates `[valid_from,
//!   valid_until)` (local dates, `valid_until` exclusive; `None` = unbounded). Rows
//!   flagged `is_default` are the rate of every line without a rate of its own;
//!   several rows may share a code with different dates (a rate change);
//! - a customer's or account's [`TaxTreatment`] (the account's overrides the
//!   customer's): `STANDARD` (the rates above), `EXEMPT`, `REVERSE_CHARGE` (EU B2B
//!   across borders) or `OUTSIDE_SCOPE` (e.g. a non-EU customer of an EU seller);
//! - a rate card's own rate code (`taxRateCode` in the plan JSON, billrun's field),
//!   e.g. a reduced rate, used instead of the default under `STANDARD`.
//!
//! The rate of a line is the one valid on its **tax point**: the last day the line
//! covers (`period.end - 1 day`, the day the supply is complete), or the invoice's
//! boundary date for a line without a period.
//!
//! Rounding (the EU rule, VAT Directive 2006/112/EC art. 226(8) and EN 16931
//! BR-CO-17 / BR-S-09: the VAT of a category is its taxable amount times its rate,
//! rounded at document level): lines are grouped per rate, and each rate's tax is
//! `round(sum of the lines' net amounts x percentage / 100)`, rounded **once**, half
//! away from zero, to the currency's minor unit. Each line shows its share of that
//! tax, allocated with [`round_parts`] so the lines' taxes add up to the rate's.
//!
//! Order (as Lago and Stripe do): charges and the minimum-commitment true-up are
//! the taxable base (the true-up is a charge: taxed at the default rate); credits
//! are applied **after** tax, to the gross amount (they reduce what is due, not the
//! taxable base): Lago "New calculation method for invoices"
//! (<https://getlago.com/changelog/nvoice-calculation-method>) deducts prepaid
//! credits after tax; Stripe applies a customer's invoice balance to the amount due
//! (<https://docs.stripe.com/billing/customer/balance>). billrun has no discounts;
//! a discount would come before tax (Lago "Coupons applied before tax"). Lines
//! selling credits (credit-grant cards) are not taxed: a purchase of credits is an
//! advance payment, taxed when the credits pay taxed lines (Lago's rule, same page).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::invoice::{InvoiceLines, LineItem, LineKind};
use crate::money::{round_parts, RoundingMode};
use crate::plan::CardKind;
use crate::FieldError;

/// UNCL5305 duty/tax category codes billrun accepts (EN 16931's VAT categories).
pub const CATEGORIES: &[&str] = &["S", "AA", "Z", "E", "AE", "K", "G", "O", "L", "M"];

/// The note an invoice carries under reverse charge (VAT Directive art. 226(11a)).
pub const REVERSE_CHARGE_NOTE: &str =
    "Reverse charge: VAT to be accounted for by the recipient (Article 196, Council Directive 2006/112/EC).";
/// The note of an exempt customer's invoice.
pub const EXEMPT_NOTE: &str = "Exempt from VAT.";
/// The note of a customer outside the scope of the seller's VAT.
pub const OUTSIDE_SCOPE_NOTE: &str = "Not subject to VAT: supply outside the scope of EU VAT.";

/// How a customer (or account) is taxed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaxTreatment {
    /// The organisation's rates (default and rate cards' own).
    #[default]
    Standard,
    /// No tax (category `E`, 0 %), with the exempt note.
    Exempt,
    /// No tax charged (category `AE`, 0 %), with the reverse-charge note.
    ReverseCharge,
    /// No tax (category `O`, 0 %): not taxable where the seller is.
    OutsideScope,
}

impl TaxTreatment {
    /// The stored and API spelling (`"REVERSE_CHARGE"`).
    pub fn as_str(self) -> &'static str {
        match self {
            TaxTreatment::Standard => "STANDARD",
            TaxTreatment::Exempt => "EXEMPT",
            TaxTreatment::ReverseCharge => "REVERSE_CHARGE",
            TaxTreatment::OutsideScope => "OUTSIDE_SCOPE",
        }
    }

    /// Parses [`TaxTreatment::as_str`]'s spelling; the error names what is expected.
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        Ok(match s {
            "STANDARD" => TaxTreatment::Standard,
            "EXEMPT" => TaxTreatment::Exempt,
            "REVERSE_CHARGE" => TaxTreatment::ReverseCharge,
            "OUTSIDE_SCOPE" => TaxTreatment::OutsideScope,
            other => {
                return Err(FieldError::new(
                    "taxTreatment",
                    format!(
                        "{other:?} is not a tax treatment: expected STANDARD, EXEMPT, REVERSE_CHARGE or OUTSIDE_SCOPE"
                    ),
                ))
            }
        })
    }

    /// The fixed 0 % rate and note of a non-standard treatment.
    fn fixed(self) -> Option<(LineTax, &'static str)> {
        let (code, name, category, note) = match self {
            TaxTreatment::Standard => return None,
            TaxTreatment::Exempt => ("EXEMPT", "VAT exempt", "E", EXEMPT_NOTE),
            TaxTreatment::ReverseCharge => (
                "REVERSE_CHARGE",
                "Reverse charge",
                "AE",
                REVERSE_CHARGE_NOTE,
            ),
            TaxTreatment::OutsideScope => (
                "OUTSIDE_SCOPE",
                "Not subject to VAT",
                "O",
                OUTSIDE_SCOPE_NOTE,
            ),
        };
        Some((
            LineTax {
                code: code.into(),
                name: name.into(),
                category: category.into(),
                percentage: Decimal::ZERO,
                amount: Decimal::ZERO,
            },
            note,
        ))
    }
}

/// One of an organisation's tax rates (a row of `tax_rates`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaxRate {
    /// The organisation's code for it (`"DE_STANDARD"`); rate cards name it.
    pub code: String,
    /// Shown on invoices (`"VAT 19%"`).
    pub name: String,
    /// UNCL5305 category ([`CATEGORIES`]).
    pub category: String,
    /// Percent: `19` is 19 %; 0..=100.
    pub percentage: Decimal,
    /// First local date it applies to (inclusive); `None`: always before.
    pub valid_from: Option<NaiveDate>,
    /// First local date it no longer applies to (exclusive); `None`: open-ended.
    pub valid_until: Option<NaiveDate>,
    /// Whether it is the organisation's default rate (in its validity dates).
    pub is_default: bool,
}

impl TaxRate {
    /// Whether it applies on the local date `day`.
    pub fn valid_on(&self, day: NaiveDate) -> bool {
        self.valid_from.is_none_or(|f| f <= day) && self.valid_until.is_none_or(|u| day < u)
    }

    /// Checks the fields of a rate; the error names the field and what was expected.
    pub fn check(&self) -> Result<(), FieldError> {
        let ok_code = !self.code.is_empty()
            && self.code.len() <= 64
            && self
                .code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok_code {
            return Err(FieldError::new(
                "code",
                format!(
                    "{:?} is not a tax rate code: expected 1 to 64 letters, digits, '_' or '-'",
                    self.code
                ),
            ));
        }
        if self.name.trim().is_empty() {
            return Err(FieldError::new(
                "name",
                "a tax rate needs a name (e.g. \"VAT 19%\")",
            ));
        }
        if !CATEGORIES.contains(&self.category.as_str()) {
            return Err(FieldError::new(
                "category",
                format!(
                    "{:?} is not a UNCL5305 tax category: expected one of {}",
                    self.category,
                    CATEGORIES.join(", ")
                ),
            ));
        }
        if self.percentage < Decimal::ZERO || self.percentage > Decimal::ONE_HUNDRED {
            return Err(FieldError::new(
                "percentage",
                format!(
                    "{} is not a percentage: expected 0 to 100 (19 for 19 %)",
                    self.percentage
                ),
            ));
        }
        if let (Some(f), Some(u)) = (self.valid_from, self.valid_until) {
            if u <= f {
                return Err(FieldError::new(
                    "validUntil",
                    format!("{u} is not after validFrom {f}: validUntil is the first day the rate no longer applies"),
                ));
            }
        }
        Ok(())
    }
}

/// Everything that decides the taxes of one invoice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaxSetup {
    /// The organisation's rates (none: no tax under `STANDARD`).
    pub rates: Vec<TaxRate>,
    /// The account's treatment, else the customer's.
    pub treatment: TaxTreatment,
    /// Rate card name -> the code of its own rate (`taxRateCode`).
    pub card_rates: BTreeMap<String, String>,
}

impl TaxSetup {
    /// The tax (amount 0, filled in later) of a line of `card` (`None`: the true-up)
    /// with tax point `day`; `None`: the line is not taxed. Errors when a card names
    /// a code with no rate valid on `day`.
    pub fn rate_for(
        &self,
        card: Option<&str>,
        day: NaiveDate,
    ) -> Result<Option<LineTax>, FieldError> {
        if let Some((fixed, _)) = self.treatment.fixed() {
            return Ok(Some(fixed));
        }
        let own = card.and_then(|c| self.card_rates.get(c).map(|code| (c, code)));
        let rate = match own {
            Some((c, code)) => Some(
                self.rates
                    .iter()
                    .find(|r| &r.code == code && r.valid_on(day))
                    .ok_or_else(|| {
                        FieldError::new(
                            format!("rate card {c:?}.taxRateCode"),
                            format!("no tax rate {code:?} applies on {day}: expected the code of one of the organisation's tax rates valid that day"),
                        )
                    })?,
            ),
            None => self.rates.iter().find(|r| r.is_default && r.valid_on(day)),
        };
        Ok(rate.map(|r| LineTax {
            code: r.code.clone(),
            name: r.name.clone(),
            category: r.category.clone(),
            percentage: r.percentage,
            amount: Decimal::ZERO,
        }))
    }
}

/// The tax of one line: its rate and its share of that rate's tax.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineTax {
    /// The rate's code.
    pub code: String,
    /// The rate's name.
    pub name: String,
    /// UNCL5305 category.
    pub category: String,
    /// Percent (19 = 19 %).
    pub percentage: Decimal,
    /// The line's share of the rate's tax (allocated, minor units of the currency).
    pub amount: Decimal,
}

/// The tax of one rate on an invoice (EN 16931's VAT breakdown, BG-23).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaxTotal {
    /// The rate's code.
    pub code: String,
    /// The rate's name.
    pub name: String,
    /// UNCL5305 category (BT-118).
    pub category: String,
    /// Percent (BT-119).
    pub percentage: Decimal,
    /// Sum of the net amounts of the lines taxed at it (BT-116).
    pub taxable_amount: Decimal,
    /// `round(taxable_amount x percentage / 100)`, once (BT-117).
    pub amount: Decimal,
}

impl InvoiceLines {
    /// Assigns each charge line and the true-up its rate under `setup` (tax point:
    /// its last day, else `boundary`), then computes the taxes
    /// ([`InvoiceLines::recompute_taxes`]). Call before credits are applied.
    pub fn apply_taxes(&mut self, setup: &TaxSetup, boundary: NaiveDate) -> Result<(), FieldError> {
        let tax_point = |l: &LineItem| {
            l.period
                .and_then(|p| p.end.pred_opt().filter(|d| *d >= p.start))
                .unwrap_or(boundary)
        };
        for g in self.grand_total.children.iter_mut() {
            match g.kind {
                LineKind::Group => {
                    for l in g.children.iter_mut() {
                        // Credits sold are an advance payment, not taxed when sold:
                        // the credits then pay taxed lines (Lago's rule, see above).
                        l.tax = if l.card_kind == Some(CardKind::CreditGrant) {
                            None
                        } else {
                            setup.rate_for(l.card_name.as_deref(), tax_point(l))?
                        };
                    }
                }
                LineKind::TrueUp => g.tax = setup.rate_for(None, tax_point(g))?,
                _ => {}
            }
        }
        if let Some(t) = self.true_up.as_mut() {
            t.tax = setup.rate_for(None, tax_point(t))?;
        }
        self.tax_note = setup.treatment.fixed().map(|(_, note)| note.to_string());
        self.recompute_taxes();
        Ok(())
    }

    /// Recomputes the per-rate totals, each line's share, TOTAL_TAX and the total
    /// from the rates already on the lines (EU rounding: once per rate). An invoice
    /// whose lines carry no rate has no tax lines (older invoices stay as they were).
    pub fn recompute_taxes(&mut self) {
        let c = self.currency;
        let mode = RoundingMode::HalfAwayFromZero;
        let zero = c.round(Decimal::ZERO, mode);
        // Taxable lines: card lines, then the true-up (its summary copy mirrors it).
        let mut lines: Vec<&mut LineItem> = Vec::new();
        for g in self.grand_total.children.iter_mut() {
            match g.kind {
                LineKind::Group => lines.extend(g.children.iter_mut()),
                LineKind::TrueUp => lines.push(g),
                _ => {}
            }
        }
        let mut totals: Vec<TaxTotal> = Vec::new();
        let mut members: Vec<Vec<usize>> = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            let Some(t) = &l.tax else { continue };
            let k = match totals.iter().position(|r| {
                r.code == t.code && r.category == t.category && r.percentage == t.percentage
            }) {
                Some(k) => k,
                None => {
                    totals.push(TaxTotal {
                        code: t.code.clone(),
                        name: t.name.clone(),
                        category: t.category.clone(),
                        percentage: t.percentage,
                        taxable_amount: zero,
                        amount: zero,
                    });
                    members.push(Vec::new());
                    totals.len() - 1
                }
            };
            totals[k].taxable_amount += l.amount;
            members[k].push(i);
        }
        for (total, idx) in totals.iter_mut().zip(&members) {
            let exact: Vec<Decimal> = idx
                .iter()
                .map(|&i| lines[i].amount * total.percentage / Decimal::ONE_HUNDRED)
                .collect();
            // round_parts rounds the exact sum once and makes the parts add up to it.
            let shares = round_parts(&exact, c, mode);
            for (&i, s) in idx.iter().zip(&shares) {
                if let Some(t) = lines[i].tax.as_mut() {
                    t.amount = *s;
                }
            }
            total.amount = c.round(shares.iter().copied().sum(), mode);
            total.taxable_amount = c.round(total.taxable_amount, mode);
        }
        let mirrored = self
            .grand_total
            .children
            .iter()
            .find(|l| l.kind == LineKind::TrueUp)
            .and_then(|l| l.tax.clone());
        if let Some(t) = self.true_up.as_mut() {
            t.tax = mirrored;
        }
        let tax = totals.iter().fold(zero, |a, t| a + t.amount);
        self.total_tax = (!totals.is_empty()).then(|| {
            let mut line = LineItem::summary(LineKind::TotalTax, "Tax", tax);
            line.children = totals
                .iter()
                .map(|t| {
                    let mut l = LineItem::summary(LineKind::Tax, &t.name, t.amount);
                    l.description = Some(format!(
                        "{} {}% ({})",
                        t.code,
                        t.percentage.normalize(),
                        t.category
                    ));
                    l.quantity = Some(t.taxable_amount);
                    l.unit_price = Some(t.percentage);
                    l
                })
                .collect();
            line
        });
        self.taxes = totals;
        // The tree: TOTAL_TAX after the charges and true-up, before the credits.
        self.grand_total
            .children
            .retain(|l| l.kind != LineKind::TotalTax);
        if let Some(t) = &self.total_tax {
            let at = self
                .grand_total
                .children
                .iter()
                .position(|l| l.kind == LineKind::TotalCredits)
                .unwrap_or(self.grand_total.children.len());
            self.grand_total.children.insert(at, t.clone());
        }
        let true_up = self.true_up.as_ref().map_or(zero, |t| t.amount);
        self.total.amount = c.round(
            self.sub_total.amount + true_up + tax - self.total_credits.amount,
            mode,
        );
        self.grand_total.amount = self.total.amount;
    }

    /// The tax of the invoice (0 with the currency's decimals when untaxed).
    pub fn tax_amount(&self) -> Decimal {
        let zero = self.currency.round(Decimal::ZERO, RoundingMode::default());
        self.total_tax.as_ref().map_or(zero, |t| t.amount)
    }

    /// Net: the charges plus the true-up, before tax and credits.
    pub fn net_amount(&self) -> Decimal {
        self.sub_total.amount + self.true_up.as_ref().map_or(Decimal::ZERO, |t| t.amount)
    }

    /// Gross: net plus tax, before credits.
    pub fn gross_amount(&self) -> Decimal {
        self.net_amount() + self.tax_amount()
    }
}

#[cfg(test)]
#[path = "tax_tests.rs"]
mod tests;
