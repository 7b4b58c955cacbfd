//! The credit note's document (README "Credit notes"): the view model of a credit
//! note, made from its invoice's view model (parties, currency, seller) and the
//! note's stored amounts (lines credited, tax per rate, totals). The same layout
//! and template draw it; its e-invoice is type 381 with BT-25 the invoice's number
//! ([`crate::EInvoiceKind::credit_note`]).

use billrun_core::credit_note::NoteAmounts;
use billrun_core::invoice::LineKind;
use billrun_core::money::Currency;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::model::{
    BillingDetails, CreditedInvoice, Day, InvoiceDocument, InvoiceStatus, Line, LineGroup, VatRate,
};
use crate::money::Amount;

/// What a credit note adds to its invoice's document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditNoteHeader {
    /// Its number (`CN-2026-0001`).
    pub number: String,
    /// Its issue date (local, the account's timezone).
    pub issue_date: NaiveDate,
    /// When it was issued (UTC): the PDF's creation date.
    pub issued_at: DateTime<Utc>,
    /// The reason code (`ORDER_CHANGE`...).
    pub reason: String,
    /// Free text (may be empty); printed in the note's CREDIT block.
    pub description: String,
    /// How much of the total went off the invoice's balance (invoice currency).
    pub balance_amount: Decimal,
    /// How much became account credits (a grant).
    pub credit_amount: Decimal,
    /// How much is refunded.
    pub refund_amount: Decimal,
}

/// How a note's total was applied, as the document says it: one line per
/// non-zero part, in the order balance, refund, credits ("Off the invoice's
/// balance: $50.00", "Refunded: $22.97", "Added to the account's credits: $5.00").
/// None when all three are zero (the data does not say).
pub fn applied_lines(note: &CreditNoteHeader, currency: Currency) -> Vec<String> {
    [
        ("Off the invoice's balance", note.balance_amount),
        ("Refunded", note.refund_amount),
        ("Added to the account's credits", note.credit_amount),
    ]
    .into_iter()
    .filter(|(_, amount)| !amount.is_zero())
    .map(|(what, amount)| format!("{what}: {}", Amount::money(amount, currency).display))
    .collect()
}

impl InvoiceDocument {
    /// The view model of a credit note: `invoice`'s parties, seller, logo and
    /// currency (the finalized invoice's document, `invoice.number` its number), with
    /// `note`'s number and date, one line per credited line (net, its VAT rate), the
    /// tax per rate and the totals of `amounts` (amounts positive, as on the invoice:
    /// EN 16931 type 381). Status PAID-like: nothing is due on a note (amount due 0);
    /// no due date, no billed periods, no credits. `currency` is the invoice's.
    ///
    /// Nothing is to be paid on a note, so the seller's payment instructions are
    /// left out: the note's CREDIT block (PDF and HTML, where the invoice has its
    /// PAYMENT block) prints its free text and how it was applied
    /// ([`applied_lines`]). The seller's closing note is worded for a credit note:
    /// "this invoice" in it reads "this credit note" (issue 16).
    pub fn credit_note(
        invoice: &InvoiceDocument,
        note: &CreditNoteHeader,
        amounts: &NoteAmounts,
        currency: Currency,
    ) -> InvoiceDocument {
        let money = |d: Decimal| Amount::money(d, currency);
        let lines: Vec<Line> = amounts
            .lines
            .iter()
            .map(|l| Line {
                kind: LineKind::PricePlan,
                // A card without a display name is its name as words, as on the
                // invoice.
                display_name: crate::convert::readable_name(&l.display_name),
                description: None,
                quantity: None,
                unit_price: None,
                amount: money(l.net),
                period: None,
                sub_lines: Vec::new(),
                tax: l
                    .rate
                    .as_ref()
                    .map(|r| format!("{}: {}", r.name, money(l.tax).display)),
                quantity_value: None,
                vat: l.rate.as_ref().map(|r| VatRate {
                    category: r.category.clone(),
                    percentage: r.percentage.normalize(),
                }),
            })
            .collect();
        let summary = format!("Credit note {} for invoice {}", note.number, invoice.number);
        InvoiceDocument {
            number: note.number.clone(),
            status: InvoiceStatus::Due,
            status_label: "Issued".to_string(),
            invoice_date: Some(Day::from(note.issue_date)),
            finalized_at: Some(note.issued_at),
            due_date: None,
            net_term_days: None,
            periods: Vec::new(),
            line_count: lines.len(),
            groups: vec![LineGroup {
                name: "Credited".to_string(),
                amount: money(amounts.net),
                lines,
            }],
            sub_total: money(amounts.net),
            commitment_true_up: None,
            commitment_true_up_vat: None,
            credits: Amount::money(Decimal::ZERO, currency),
            has_credits: false,
            has_tax: !amounts.taxes.is_empty(),
            net_total: money(amounts.net),
            taxes: amounts
                .taxes
                .iter()
                .map(|t| crate::convert::tax_line(t, currency))
                .collect(),
            tax_total: money(amounts.tax),
            gross_total: money(amounts.total),
            total: money(amounts.total),
            amount_due: Amount::money(Decimal::ZERO, currency),
            title: "Credit note".to_string(),
            credit_note: Some(CreditedInvoice {
                invoice_number: invoice.number.clone(),
                invoice_date: invoice.invoice_date,
                reason: note.reason.clone(),
                reason_label: crate::convert::readable_name(&note.reason.to_ascii_lowercase()),
                description: note.description.trim().to_string(),
                applied: applied_lines(note, currency),
                summary,
            }),
            billing_details: BillingDetails {
                payment_instructions: Vec::new(),
                footer_note: invoice
                    .billing_details
                    .footer_note
                    .as_ref()
                    .map(|n| n.replace("this invoice", "this credit note")),
                ..invoice.billing_details.clone()
            },
            ..invoice.clone()
        }
    }
}
