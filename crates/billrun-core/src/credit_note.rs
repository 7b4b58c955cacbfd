//! Credit notes: what a partial (or whole) correction of a finalized invoice credits,
//! line by line, with its tax per rate (README "Credit notes", issue 16 item 2).
//!
//! The model is Lago's (`app/services/credit_notes/create_service.rb`,
//! `app/models/credit_note.rb` in getlago/lago-api): a credit note has items, each an
//! amount **before tax** credited against one line of the invoice; its tax is
//! computed per rate on those amounts; its total is net + tax. Earlier credit notes of
//! the invoice count: a line can never be credited above its net amount, nor the
//! invoice above its gross amount (net + tax).
//!
//! The creditable lines of an invoice ([`creditable_lines`]) are its card lines, in
//! the order of the invoice tree (the groups' cards, in order), then the
//! minimum-commitment true-up; numbered from 1. Lines that sell credits (CREDIT_GRANT
//! cards) are not creditable: voiding the grant they sold is how that is undone.
//!
//! Tax: the EU rule the invoice used ([`crate::tax`]): per rate, the credited net
//! amounts times the percentage, rounded **once**, half away from zero; each line's
//! share allocated with [`round_parts`]. A credit note that leaves nothing of a rate
//! uncredited takes exactly the rate's tax not yet credited, so that credit notes
//! crediting a whole invoice add up to its tax to the cent, whatever the rounding of
//! the earlier ones.
//!
//! ```
//! use billrun_core::credit_note::{compute, CreditRequest, CreditableLine, RateRef};
//! use billrun_core::Currency;
//! use rust_decimal_macros::dec;
//!
//! let usd = Currency::parse("USD").unwrap();
//! let vat = RateRef { code: "DE".into(), name: "VAT 19%".into(), category: "S".into(), percentage: dec!(19) };
//! let lines = [CreditableLine { line: 1, card_name: Some("seats".into()), display_name: "Seats".into(),
//!     net: dec!(100.00), credited: dec!(0), rate: Some(vat.clone()), rate_tax: dec!(19.00), rate_credited_tax: dec!(0) }];
//! let note = compute(usd, &lines, &CreditRequest::Lines(vec![(1, dec!(10.00))]), dec!(119.00)).unwrap();
//! assert_eq!((note.net, note.tax, note.total), (dec!(10.00), dec!(1.90), dec!(11.90)));
//! ```

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::invoice::{InvoiceLines, LineItem, LineKind};
use crate::money::{round_parts, Currency, RoundingMode};
use crate::plan::CardKind;
use crate::tax::TaxTotal;

/// Why a credit note is issued: Lago's reasons (`CreditNote::REASON`), spelled
/// Togai-style in UPPER_SNAKE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason {
    /// The same charge was billed twice.
    DuplicatedCharge,
    /// The customer was not satisfied with the product.
    ProductUnsatisfactory,
    /// The order changed.
    OrderChange,
    /// The order was cancelled (a void's credit note uses this reason).
    OrderCancellation,
    /// A fraudulent charge.
    FraudulentCharge,
    /// Anything else (say what in the note's description).
    Other,
}

/// The accepted reasons, as the error messages list them.
pub const REASONS: &str = "DUPLICATED_CHARGE, PRODUCT_UNSATISFACTORY, ORDER_CHANGE, \
                           ORDER_CANCELLATION, FRAUDULENT_CHARGE or OTHER";

impl Reason {
    /// The UPPER_SNAKE spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::DuplicatedCharge => "DUPLICATED_CHARGE",
            Reason::ProductUnsatisfactory => "PRODUCT_UNSATISFACTORY",
            Reason::OrderChange => "ORDER_CHANGE",
            Reason::OrderCancellation => "ORDER_CANCELLATION",
            Reason::FraudulentCharge => "FRAUDULENT_CHARGE",
            Reason::Other => "OTHER",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Reason {
    type Err = String;
    /// Case-insensitive; the error says what was expected.
    fn from_str(s: &str) -> Result<Self, String> {
        let all = [
            Reason::DuplicatedCharge,
            Reason::ProductUnsatisfactory,
            Reason::OrderChange,
            Reason::OrderCancellation,
            Reason::FraudulentCharge,
            Reason::Other,
        ];
        all.into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown reason {s:?}: expected {REASONS}"))
    }
}

/// What becomes of the part of a credit note above the invoice's balance due (all of
/// it when the invoice is PAID): Lago's `credit_amount` / `refund_amount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Method {
    /// A credit grant for the account (usable on its next invoices).
    Credit,
    /// A refund, recorded (billrun pays nothing out).
    Refund,
}

impl Method {
    /// The UPPER_SNAKE spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Credit => "CREDIT",
            Method::Refund => "REFUND",
        }
    }
}

/// A tax rate as a line carries it (the invoice's [`crate::tax::LineTax`] without
/// its amount).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateRef {
    /// The rate's code.
    pub code: String,
    /// Its name as invoices show it.
    pub name: String,
    /// UNCL5305 category.
    pub category: String,
    /// Percent (19 = 19 %).
    pub percentage: Decimal,
}

/// One creditable line of an invoice, with what earlier credit notes took of it.
/// Amounts are in the invoice currency, with its minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditableLine {
    /// 1-based position among the creditable lines (see the module's doc).
    pub line: u32,
    /// The rate card's name (none for the true-up).
    pub card_name: Option<String>,
    /// The line's title.
    pub display_name: String,
    /// The line's net amount (before tax).
    pub net: Decimal,
    /// What earlier credit notes credited of it (net).
    pub credited: Decimal,
    /// Its tax rate, if taxed.
    pub rate: Option<RateRef>,
    /// The invoice's tax at the line's rate (the rate's total).
    pub rate_tax: Decimal,
    /// What earlier credit notes credited of that rate's tax.
    pub rate_credited_tax: Decimal,
}

impl CreditableLine {
    /// The net amount still creditable.
    pub fn remaining(&self) -> Decimal {
        self.net - self.credited
    }
}

/// The creditable lines of `lines` (card lines in tree order, then the true-up),
/// numbered from 1, with `credited` (net per line number) and `credited_taxes` (per
/// rate) taken by earlier credit notes.
pub fn creditable_lines(
    lines: &InvoiceLines,
    credited: &dyn Fn(u32) -> Decimal,
    credited_taxes: &[TaxTotal],
) -> Vec<CreditableLine> {
    let mut items: Vec<&LineItem> = Vec::new();
    for g in &lines.grand_total.children {
        match g.kind {
            LineKind::Group => items.extend(
                g.children
                    .iter()
                    .filter(|l| l.card_kind != Some(CardKind::CreditGrant)),
            ),
            LineKind::TrueUp => items.push(g),
            _ => {}
        }
    }
    let same = |t: &TaxTotal, r: &RateRef| {
        t.code == r.code && t.category == r.category && t.percentage == r.percentage
    };
    items
        .into_iter()
        .zip(1u32..)
        .map(|(l, n)| {
            let rate = l.tax.as_ref().map(|t| RateRef {
                code: t.code.clone(),
                name: t.name.clone(),
                category: t.category.clone(),
                percentage: t.percentage,
            });
            let of = |list: &[TaxTotal]| {
                rate.as_ref()
                    .and_then(|r| list.iter().find(|t| same(t, r)))
                    .map_or(Decimal::ZERO, |t| t.amount)
            };
            CreditableLine {
                line: n,
                card_name: l.card_name.clone(),
                display_name: l.display_name.clone(),
                net: l.amount,
                credited: credited(n),
                rate_tax: of(&lines.taxes),
                rate_credited_tax: of(credited_taxes),
                rate,
            }
        })
        .collect()
}

/// What to credit: amounts before tax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreditRequest {
    /// These lines (1-based numbers), these net amounts each.
    Lines(Vec<(u32, Decimal)>),
    /// This net amount, spread over the lines in proportion to what remains
    /// creditable of each (largest remainder to the cent, so the parts add up).
    Amount(Decimal),
    /// Everything still creditable (a void's credit note).
    Rest,
}

/// One line of a credit note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NoteLine {
    /// The invoice line it credits (1-based, see [`creditable_lines`]).
    pub line: u32,
    /// The rate card's name (none for the true-up).
    pub card_name: Option<String>,
    /// The line's title.
    pub display_name: String,
    /// Net amount credited.
    pub net: Decimal,
    /// Its rate, if taxed.
    pub rate: Option<RateRef>,
    /// Its share of the rate's tax credited.
    pub tax: Decimal,
}

/// A computed credit note: its lines, its tax per rate, its totals (`net + tax =
/// total`, each line's tax summing to its rate's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NoteAmounts {
    /// Lines with an amount above 0, in line order.
    pub lines: Vec<NoteLine>,
    /// Tax per rate (taxable amount: the credited net at that rate).
    pub taxes: Vec<TaxTotal>,
    /// Sum of the lines' net amounts.
    pub net: Decimal,
    /// Sum of the per-rate taxes.
    pub tax: Decimal,
    /// `net + tax`.
    pub total: Decimal,
}

/// Why a credit note was refused. Messages name the line and the amounts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditNoteError {
    /// A line number the invoice does not have.
    #[error("line {line}: the invoice has no such creditable line (lines 1 to {count})")]
    NoSuchLine {
        /// The number asked for.
        line: u32,
        /// How many creditable lines there are.
        count: usize,
    },
    /// An amount of 0 or below, or with more decimals than the currency has.
    #[error("{field}: expected an amount above 0 with at most {decimals} decimals, got {amount}")]
    BadAmount {
        /// `line N` or `amount`.
        field: String,
        /// The amount given.
        amount: Decimal,
        /// The currency's minor units.
        decimals: u32,
    },
    /// More than a line has left to credit.
    #[error(
        "line {line} ({name}): {asked} is more than the {remaining} left to credit of its {net} \
         (earlier credit notes took {credited})"
    )]
    LineExceeded {
        /// The line.
        line: u32,
        /// Its title.
        name: String,
        /// Asked for.
        asked: Decimal,
        /// Left to credit.
        remaining: Decimal,
        /// The line's net amount.
        net: Decimal,
        /// Taken by earlier notes.
        credited: Decimal,
    },
    /// More than the invoice has left to credit.
    #[error("the credit note's total {total} is more than the {remaining} left to credit of the invoice")]
    TotalExceeded {
        /// The note's total (net + tax).
        total: Decimal,
        /// What remains creditable of the invoice's gross amount.
        remaining: Decimal,
    },
    /// Nothing left to credit (or nothing asked).
    #[error("nothing to credit: the invoice has nothing left to credit")]
    Nothing,
}

/// Computes a credit note of `request` over `lines` in `currency`; `remaining_total`
/// is what remains creditable of the invoice (its gross, net + tax, minus earlier
/// notes' totals). Errors: [`CreditNoteError`]; nothing is partly computed.
pub fn compute(
    currency: Currency,
    lines: &[CreditableLine],
    request: &CreditRequest,
    remaining_total: Decimal,
) -> Result<NoteAmounts, CreditNoteError> {
    let mode = RoundingMode::HalfAwayFromZero;
    let decimals = currency.minor_units();
    let check = |field: String, amount: Decimal| {
        if amount <= Decimal::ZERO || currency.round(amount, mode) != amount {
            Err(CreditNoteError::BadAmount {
                field,
                amount,
                decimals,
            })
        } else {
            Ok(())
        }
    };
    let mut asked = vec![Decimal::ZERO; lines.len()];
    match request {
        CreditRequest::Lines(items) => {
            for (n, amount) in items {
                check(format!("line {n}"), *amount)?;
                let i =
                    lines
                        .iter()
                        .position(|l| l.line == *n)
                        .ok_or(CreditNoteError::NoSuchLine {
                            line: *n,
                            count: lines.len(),
                        })?;
                asked[i] += amount;
            }
        }
        CreditRequest::Amount(amount) => {
            check("amount".into(), *amount)?;
            let remaining: Decimal = lines.iter().map(|l| l.remaining()).sum();
            if *amount > remaining {
                return Err(CreditNoteError::TotalExceeded {
                    total: *amount,
                    remaining,
                });
            }
            let exact: Vec<Decimal> = lines
                .iter()
                .map(|l| *amount * l.remaining() / remaining)
                .collect();
            asked = round_parts(&exact, currency, mode);
        }
        CreditRequest::Rest => asked = lines.iter().map(|l| l.remaining()).collect(),
    }
    for (l, a) in lines.iter().zip(&asked) {
        if *a > l.remaining() {
            return Err(CreditNoteError::LineExceeded {
                line: l.line,
                name: l.display_name.clone(),
                asked: *a,
                remaining: l.remaining(),
                net: l.net,
                credited: l.credited,
            });
        }
    }
    let mut out: Vec<NoteLine> = lines
        .iter()
        .zip(&asked)
        .filter(|(_, a)| **a > Decimal::ZERO)
        .map(|(l, a)| NoteLine {
            line: l.line,
            card_name: l.card_name.clone(),
            display_name: l.display_name.clone(),
            net: *a,
            rate: l.rate.clone(),
            tax: currency.round(Decimal::ZERO, mode),
        })
        .collect();
    if out.is_empty() {
        return Err(CreditNoteError::Nothing);
    }
    // Tax per rate, rounded once.
    let mut taxes: Vec<TaxTotal> = Vec::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    for (i, l) in out.iter().enumerate() {
        let Some(r) = &l.rate else { continue };
        let k = match taxes.iter().position(|t| {
            t.code == r.code && t.category == r.category && t.percentage == r.percentage
        }) {
            Some(k) => k,
            None => {
                taxes.push(TaxTotal {
                    code: r.code.clone(),
                    name: r.name.clone(),
                    category: r.category.clone(),
                    percentage: r.percentage,
                    taxable_amount: Decimal::ZERO,
                    amount: Decimal::ZERO,
                });
                members.push(Vec::new());
                taxes.len() - 1
            }
        };
        taxes[k].taxable_amount += l.net;
        members[k].push(i);
    }
    for (t, idx) in taxes.iter_mut().zip(&members) {
        let at_rate = |l: &CreditableLine| {
            l.rate.as_ref().is_some_and(|r| {
                r.code == t.code && r.category == t.category && r.percentage == t.percentage
            })
        };
        let first = lines.iter().find(|l| at_rate(l)).expect("a line has it");
        let tax_left = first.rate_tax - first.rate_credited_tax;
        // Nothing of the rate left uncredited after this note: its tax is the rest.
        let closes = lines
            .iter()
            .zip(&asked)
            .filter(|(l, _)| at_rate(l))
            .all(|(l, a)| *a == l.remaining());
        let rounded = currency.round(t.taxable_amount * t.percentage / Decimal::ONE_HUNDRED, mode);
        let amount = if closes {
            tax_left
        } else {
            rounded.min(tax_left).max(Decimal::ZERO)
        };
        let exact: Vec<Decimal> = idx.iter().map(|&i| out[i].net).collect();
        let weight: Decimal = exact.iter().copied().sum();
        let parts: Vec<Decimal> = exact.iter().map(|n| amount * n / weight).collect();
        for (&i, s) in idx.iter().zip(round_parts(&parts, currency, mode)) {
            out[i].tax = s;
        }
        t.amount = currency.round(amount, mode);
        t.taxable_amount = currency.round(t.taxable_amount, mode);
    }
    let net = currency.round(out.iter().map(|l| l.net).sum(), mode);
    let tax = currency.round(taxes.iter().map(|t| t.amount).sum(), mode);
    let total = net + tax;
    if total > remaining_total {
        return Err(CreditNoteError::TotalExceeded {
            total,
            remaining: remaining_total,
        });
    }
    Ok(NoteAmounts {
        lines: out,
        taxes,
        net,
        tax,
        total,
    })
}

/// How a note's `total` is settled against an invoice whose balance due is
/// `balance_due` (0 when PAID): `(balance reduction, the rest)`. The balance is
/// reduced first, up to what is due; the rest becomes credits or a refund
/// ([`Method`]): it is what the customer already paid (in money or credits).
pub fn settle(total: Decimal, balance_due: Decimal) -> (Decimal, Decimal) {
    let balance = total.min(balance_due.max(Decimal::ZERO));
    (balance, total - balance)
}

#[cfg(test)]
#[path = "credit_note_tests.rs"]
mod tests;
