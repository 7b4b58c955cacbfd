//! The invoice line-item tree and its totals.
//!
//! [`InvoiceLines::build`] turns the charge lines of one invoice (see
//! [`crate::charges::invoice_contents`]) into Togai's tree:
//!
//! ```text
//! GRAND_TOTAL                      what the invoice totals: = TOTAL
//! ├── GROUP "usage"                one per card tag, untagged cards under "Charges"
//! │   └── PRICE_PLAN "API calls"   one per card
//! │       ├── SLAB ...             one per slab reached
//! │       └── ADJUSTMENT           the min/max clamp, if any
//! ├── ...
//! ├── TRUE_UP                      minimum commitment shortfall (if any)
//! └── TOTAL_CREDITS                minus the credits applied (once any are)
//! SUB_TOTAL                        = the sum of the groups (the charges)
//! TRUE_UP                          minimum commitment shortfall (if any)
//! TOTAL_CREDITS                    credits applied, one child per grant (0 until applied)
//! TOTAL                            = SUB_TOTAL + TRUE_UP - TOTAL_CREDITS
//! ```
//!
//! Every parent equals the sum of its children, the root included: the grand total is
//! the one total of the invoice, the number every output (JSON, text, HTML, PDF, email)
//! shows as its total (Togai's "total amount"). The charge groups are
//! [`InvoiceLines::groups`]; the summary lines after the tree repeat its parts.
//!
//! Every amount is rounded to the currency's minor unit and carries exactly its
//! decimals (`5.00` USD, `5` JPY, `5.000` BHD). Amounts are rounded once per charge
//! line; its sub-lines are then made to add up to it with
//! [`round_parts`](crate::money::round_parts), so a parent
//! always equals the sum of its children and no sub-cent drift accumulates.
//!
//! The tree serialises to JSON with camelCase field names and SCREAMING_SNAKE_CASE
//! kinds, decimals as strings, for storage and rendering.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::charges::{ChargeDetail, ChargeLine, DetailKind, InvoiceContents};
use crate::credits::{Consumption, Payable};
use crate::money::{Currency, RoundingMode};
use crate::period::Period;
use crate::plan::CardKind;
use crate::tax::{LineTax, TaxTotal};

/// Display name of the group of cards without a tag.
pub const UNTAGGED_GROUP: &str = "Charges";

/// What a line of the tree stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LineKind {
    /// The root: every charge of the invoice.
    GrandTotal,
    /// The cards sharing a tag.
    Group,
    /// One rate card's charge (Togai's name for it).
    PricePlan,
    /// One slab of a rated quantity.
    Slab,
    /// The min/max clamp of a rated quantity.
    Adjustment,
    /// One license quantity over some days.
    LicensePeriod,
    /// Sum of the charges.
    SubTotal,
    /// Minimum commitment shortfall.
    TrueUp,
    /// Credits applied to the invoice.
    TotalCredits,
    /// What is due.
    Total,
    /// Tax of the invoice: one TAX child per rate (README "Taxes").
    TotalTax,
    /// The tax of one rate (quantity: its taxable amount; unit price: its percent).
    Tax,
}

/// One line of the invoice tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineItem {
    /// What the line stands for.
    pub kind: LineKind,
    /// The rate card's name (card lines and their sub-lines).
    pub card_name: Option<String>,
    /// The rate card's kind (card lines): what credits may pay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_kind: Option<CardKind>,
    /// What the invoice shows as the line's title.
    pub display_name: String,
    /// Detail shown under the title (slab bounds, proration...).
    pub description: Option<String>,
    /// Quantity billed, where meaningful.
    pub quantity: Option<Decimal>,
    /// Price per unit, where meaningful.
    pub unit_price: Option<Decimal>,
    /// Rounded to the currency's minor unit, with exactly its decimals.
    pub amount: Decimal,
    /// The days the line covers, where meaningful.
    pub period: Option<Period>,
    /// Sub-lines; when present their amounts add up to `amount`.
    pub children: Vec<LineItem>,
    /// The line's tax rate and share of its tax (card lines and the true-up of a
    /// taxed invoice; see [`crate::tax`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax: Option<LineTax>,
}

impl LineItem {
    pub(crate) fn summary(kind: LineKind, display_name: &str, amount: Decimal) -> Self {
        Self {
            kind,
            card_name: None,
            card_kind: None,
            display_name: display_name.to_string(),
            description: None,
            quantity: None,
            unit_price: None,
            amount,
            period: None,
            children: Vec::new(),
            tax: None,
        }
    }

    fn from_charge(line: &ChargeLine, kind: LineKind) -> Self {
        Self {
            kind,
            card_name: Some(line.card_name.clone()),
            card_kind: Some(line.kind),
            display_name: line.display_name.clone(),
            description: Some(line.description.clone()),
            quantity: Some(line.quantity),
            unit_price: line.unit_price,
            amount: line.amount,
            period: Some(line.period),
            children: line
                .details
                .iter()
                .map(|d| Self::from_detail(line, d))
                .collect(),
            tax: None,
        }
    }

    fn from_detail(line: &ChargeLine, d: &ChargeDetail) -> Self {
        let kind = match d.kind {
            DetailKind::Slab => LineKind::Slab,
            DetailKind::Adjustment => LineKind::Adjustment,
            DetailKind::LicensePeriod => LineKind::LicensePeriod,
        };
        Self {
            kind,
            card_name: Some(line.card_name.clone()),
            card_kind: None,
            display_name: line.display_name.clone(),
            description: Some(d.description.clone()),
            quantity: d.quantity,
            unit_price: d.unit_price,
            amount: d.amount,
            period: Some(d.period),
            children: Vec::new(),
            tax: None,
        }
    }
}

/// An invoice's lines: the tree of charges and the totals under it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceLines {
    /// The invoice currency; every amount is in it.
    pub currency: Currency,
    /// GRAND_TOTAL (= TOTAL) > the groups > cards > sub-lines, then the true-up and
    /// the credits (negative) as its last children.
    pub grand_total: LineItem,
    /// SUB_TOTAL, equal to the grand total of the charges.
    pub sub_total: LineItem,
    /// TRUE_UP of the minimum commitment, if the charges fell short of it.
    pub true_up: Option<LineItem>,
    /// TOTAL_CREDITS: 0 until credits are applied (a later stage fills it in).
    pub total_credits: LineItem,
    /// TOTAL = SUB_TOTAL + TRUE_UP + TOTAL_TAX - TOTAL_CREDITS.
    pub total: LineItem,
    /// TOTAL_TAX, one TAX child per rate; `None`: no rate applies (no tax lines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_tax: Option<LineItem>,
    /// The tax per rate, with its UNCL5305 category (empty when untaxed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taxes: Vec<TaxTotal>,
    /// The note the tax treatment requires (reverse charge, exempt...), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_note: Option<String>,
}

impl InvoiceLines {
    /// Builds the tree of the lines of one invoice.
    pub fn from_contents(contents: &InvoiceContents) -> Self {
        Self::build(
            contents.currency,
            &contents.lines,
            contents.true_up.as_ref(),
        )
    }

    /// Builds the tree from charge lines (rounded, as [`crate::charges`] makes them)
    /// and an optional true-up line. Groups come in the order of their first card.
    pub fn build(currency: Currency, lines: &[ChargeLine], true_up: Option<&ChargeLine>) -> Self {
        let zero = currency.round(Decimal::ZERO, RoundingMode::default());
        let sum = |items: &[LineItem]| items.iter().fold(zero, |acc, l| acc + l.amount);

        let mut groups: Vec<LineItem> = Vec::new();
        for line in lines {
            let tag = line.tag.as_deref().unwrap_or(UNTAGGED_GROUP);
            let index = match groups.iter().position(|g| g.display_name == tag) {
                Some(i) => i,
                None => {
                    groups.push(LineItem::summary(LineKind::Group, tag, zero));
                    groups.len() - 1
                }
            };
            groups[index]
                .children
                .push(LineItem::from_charge(line, LineKind::PricePlan));
        }
        for g in &mut groups {
            g.amount = sum(&g.children);
        }
        let true_up = true_up.map(|t| LineItem::from_charge(t, LineKind::TrueUp));
        Self::assemble(currency, groups, true_up)
    }

    /// The tree over `groups` and an optional true-up, no credits applied yet.
    fn assemble(currency: Currency, groups: Vec<LineItem>, true_up: Option<LineItem>) -> Self {
        let zero = currency.round(Decimal::ZERO, RoundingMode::default());
        let sum = |items: &[LineItem]| items.iter().fold(zero, |acc, l| acc + l.amount);
        let sub_total = LineItem::summary(LineKind::SubTotal, "Subtotal", sum(&groups));
        let true_up_amount = true_up.as_ref().map_or(zero, |t| t.amount);
        let total_credits = LineItem::summary(LineKind::TotalCredits, "Credits", zero);
        let total = LineItem::summary(
            LineKind::Total,
            "Total",
            sub_total.amount + true_up_amount - total_credits.amount,
        );
        let mut grand_total = LineItem::summary(LineKind::GrandTotal, "Total", total.amount);
        grand_total.children = groups;
        grand_total.children.extend(true_up.clone());
        Self {
            currency,
            grand_total,
            sub_total,
            true_up,
            total_credits,
            total,
            total_tax: None,
            taxes: Vec::new(),
            tax_note: None,
        }
    }

    /// One invoice of several plan periods' lines (an account's plan changing at a
    /// cycle boundary: the old plan's closing part and the new plan's opening part
    /// share one invoice, README "Invoices"). `parts` are each period's label (e.g.
    /// `"basic v1"`) and its lines, in invoice order, before credits. The groups are
    /// kept per plan period, each named `"<label>: <group>"` with the label as its
    /// description; the true-ups add up under one TRUE_UP line (its children the
    /// periods' own, when there are several).
    pub fn merge(parts: &[(String, InvoiceLines)]) -> Self {
        let currency = parts.first().map_or(Currency::USD, |(_, l)| l.currency);
        let mut groups = Vec::new();
        let mut true_ups = Vec::new();
        for (label, lines) in parts {
            for g in lines.groups() {
                let mut g = g.clone();
                g.display_name = format!("{label}: {}", g.display_name);
                g.description = Some(label.clone());
                groups.push(g);
            }
            true_ups.extend(lines.true_up.clone());
        }
        let true_up = match true_ups.len() {
            0 => None,
            1 => true_ups.pop(),
            _ => {
                let amount = true_ups.iter().map(|t| t.amount).sum();
                let mut t = LineItem::summary(LineKind::TrueUp, "Minimum commitment", amount);
                t.children = true_ups;
                Some(t)
            }
        };
        let mut merged = Self::assemble(currency, groups, true_up);
        // Taxes per document: the rates on the lines, rounded once per rate over all.
        if parts.iter().any(|(_, l)| l.total_tax.is_some()) {
            if let Some(t) = merged.true_up.as_mut() {
                if t.tax.is_none() {
                    t.tax = t.children.iter().find_map(|c| c.tax.clone());
                }
                let tax = t.tax.clone();
                if let Some(g) = merged
                    .grand_total
                    .children
                    .iter_mut()
                    .find(|l| l.kind == LineKind::TrueUp)
                {
                    g.tax = tax;
                }
            }
            merged.tax_note = parts.iter().find_map(|(_, l)| l.tax_note.clone());
            merged.recompute_taxes();
        }
        merged
    }

    /// The charge groups (GROUP lines under the grand total), in invoice order.
    pub fn groups(&self) -> impl Iterator<Item = &LineItem> {
        self.grand_total
            .children
            .iter()
            .filter(|l| l.kind == LineKind::Group)
    }

    /// Every rate card's line (PRICE_PLAN lines of the groups), in invoice order.
    pub fn card_lines(&self) -> impl Iterator<Item = &LineItem> {
        self.groups().flat_map(|g| &g.children)
    }

    /// What is due.
    pub fn total_amount(&self) -> Decimal {
        self.total.amount
    }

    /// The lines credits may pay, in invoice order: every card line, then the
    /// true-up (as the minimum commitment's line). Each carries the instants its period
    /// covers, its local days read in `tz` (the account's timezone), which decide the
    /// grants valid for it (see [`crate::credits`]).
    pub fn payables(&self, tz: chrono_tz::Tz) -> Vec<Payable> {
        let service = |l: &LineItem| {
            l.period.map(|p| {
                (
                    crate::cycle::local_start_instant(p.start, tz),
                    crate::cycle::local_start_instant(p.end, tz),
                )
            })
        };
        let mut out: Vec<Payable> = self
            .card_lines()
            .filter_map(|l| {
                Some(Payable {
                    kind: l.card_kind?,
                    card_name: l.card_name.clone()?,
                    // Credits pay the gross amount (after tax, README "Taxes").
                    amount: l.amount + l.tax.as_ref().map_or(Decimal::ZERO, |t| t.amount),
                    service: service(l),
                })
            })
            .collect();
        if let Some(t) = &self.true_up {
            out.push(Payable {
                kind: CardKind::MinimumCommitment,
                card_name: t.card_name.clone().unwrap_or_default(),
                amount: t.amount + t.tax.as_ref().map_or(Decimal::ZERO, |x| x.amount),
                service: service(t),
            });
        }
        out
    }

    /// Records credits applied: one TOTAL_CREDITS sub-line per grant (in the order
    /// given, amounts summed per grant), and the total reduced by them. `grants` gives
    /// each grant id its display name (e.g. the grant's purpose).
    pub fn apply_credits(&mut self, consumptions: &[Consumption], grants: &dyn Fn(&str) -> String) {
        let zero = self.currency.round(Decimal::ZERO, RoundingMode::default());
        let mut children: Vec<LineItem> = Vec::new();
        for c in consumptions {
            match children
                .iter_mut()
                .find(|l| l.card_name.as_deref() == Some(&c.grant_id))
            {
                Some(l) => l.amount += c.amount,
                None => {
                    let mut l =
                        LineItem::summary(LineKind::TotalCredits, &grants(&c.grant_id), c.amount);
                    l.card_name = Some(c.grant_id.clone());
                    l.description = Some(format!("credit grant {}", c.grant_id));
                    children.push(l);
                }
            }
        }
        // Amounts are exact already; rounding only gives each the currency's decimals.
        let exact = |a: Decimal| self.currency.round(a, RoundingMode::default());
        for l in &mut children {
            l.amount = exact(l.amount);
        }
        let credits = exact(children.iter().fold(zero, |acc, l| acc + l.amount));
        self.total_credits.amount = credits;
        self.total_credits.children = children;
        let true_up = self.true_up.as_ref().map_or(zero, |t| t.amount);
        let tax = self.total_tax.as_ref().map_or(zero, |t| t.amount);
        self.total.amount = exact(self.sub_total.amount + true_up + tax - credits);
        // The grand total's last child: the credits, as the deduction they are.
        self.grand_total
            .children
            .retain(|l| l.kind != LineKind::TotalCredits);
        if !credits.is_zero() {
            self.grand_total.children.push(LineItem::summary(
                LineKind::TotalCredits,
                "Credits",
                -credits,
            ));
        }
        self.grand_total.amount = self.total.amount;
    }
}

#[cfg(test)]
#[path = "invoice_tests.rs"]
mod tests;
