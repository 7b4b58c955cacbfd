//! The CII XML (Factur-X / ZUGFeRD profile EN 16931) of an [`InvoiceDocument`].
//!
//! Element order follows the CII D16B schema the Factur-X 1.0 XSD restricts (the
//! order is checked by the XSD). Field mapping (EN 16931 business terms):
//! - BT-1 number, BT-2 invoice date, BT-3 type ([`EInvoiceKind`]), BT-22 the tax
//!   note (reverse charge...), BT-5 currency, BT-9 due date, BT-20 payment terms
//!   (`Net N days` and the payment instructions), BT-83 remittance (the number),
//!   BG-16/BT-84 credit transfer to the IBAN found in the payment instructions;
//! - seller (BG-4): BT-27 legal name, BG-5 address (BT-40 country: the address's,
//!   else the last address line's country name, else the VAT id's prefix), BT-34
//!   email, BG-6 contact (phone, email), BT-31 VAT id (spaces removed);
//! - buyer (BG-7): BT-44 the customer's name, BT-46 its billrun id, BG-8 the
//!   account's address (else the customer's), BT-49 the first billing email, BT-48
//!   the account's VAT id (else the customer's);
//! - one line (BG-25) per charge line, then the minimum-commitment true-up: BT-126
//!   1, 2..., BT-153 name, BT-154 description, BT-129 quantity (unit C62 "one"),
//!   BT-146 net price, BT-131 net amount, BG-26 its period, BT-151/BT-152 its VAT
//!   rate. The line's own quantity and unit price are written when they give its
//!   amount (`round(q x p) = amount`); otherwise (minimums, license periods,
//!   proration) quantity 1 at the line's amount, or -1 at its absolute value for a
//!   negative line (BR-27: a net price is never negative);
//! - VAT breakdown (BG-23) per category and rate: BT-116 the sum of its lines,
//!   BT-117 the invoice's tax at that rate (rounded once, README "Taxes"), BT-120 /
//!   BT-121 the exemption reason for E, AE, O, K, G;
//! - totals (BG-22): BT-106 = BT-109 sum of lines (no document allowances), BT-110
//!   tax, BT-112 = BT-109 + BT-110, BT-113 paid: credits applied (billrun applies
//!   credits after tax, as prepayments: they reduce what is due, not the VAT base,
//!   so they are a paid amount and not an allowance, which would lower the base)
//!   plus payments received, BT-115 = BT-112 - BT-113 (BR-CO-16).
//!
//! Categories: UNCL5305 `AA` (lower rate) is written `S` (EN 16931 has one
//! standard-rate category for every rate, BR-S-*). A line without a rate on a taxed
//! invoice sells credits (not taxed when sold, README "Taxes"): category `E`. Every
//! line of an untaxed invoice is `O` (not subject to VAT); with `O`, BR-O-02 forbids
//! VAT ids, so the seller's goes as a tax registration (BT-32, scheme `FC`) and the
//! buyer's is left out.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::parties::{address, buyer, electronic_address, iban, vat_id};
use super::writer::{amount, round, X};
use super::{EInvoiceError, EInvoiceKind};
use crate::model::{InvoiceDocument, InvoiceStatus, Line, PeriodView};

/// EN 16931 (Factur-X profile EN 16931) guideline id, BT-24.
pub const GUIDELINE: &str = "urn:cen.eu:en16931:2017";

/// The CII XML of `doc` as `kind`, UTF-8. Errors: `doc` is a draft
/// ([`EInvoiceError::Draft`]: no number or invoice date).
pub fn cii_xml(doc: &InvoiceDocument, kind: &EInvoiceKind) -> Result<Vec<u8>, EInvoiceError> {
    let issued = match (&doc.invoice_date, doc.status) {
        (Some(d), s) if s != InvoiceStatus::Draft => d.iso,
        _ => return Err(EInvoiceError::Draft(doc.number.clone())),
    };
    let minor = doc.currency.minor_units;
    let lines = lines(doc);
    let outside_scope = lines.iter().any(|l| l.category == "O");
    let mut x = X::new();
    x.open_with(
        "rsm:CrossIndustryInvoice",
        &[
            (
                "xmlns:rsm",
                "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
            ),
            (
                "xmlns:qdt",
                "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
            ),
            (
                "xmlns:ram",
                "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
            ),
            ("xmlns:xs", "http://www.w3.org/2001/XMLSchema"),
            (
                "xmlns:udt",
                "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
            ),
        ],
    );
    x.open("rsm:ExchangedDocumentContext");
    x.open("ram:GuidelineSpecifiedDocumentContextParameter");
    x.text("ram:ID", GUIDELINE);
    x.close("ram:GuidelineSpecifiedDocumentContextParameter");
    x.close("rsm:ExchangedDocumentContext");

    x.open("rsm:ExchangedDocument");
    x.text("ram:ID", &doc.number);
    x.text("ram:TypeCode", kind.document_type.code());
    x.date("ram:IssueDateTime", "udt", issued);
    if let Some(note) = doc.tax_note.as_deref().filter(|n| !n.trim().is_empty()) {
        x.open("ram:IncludedNote");
        x.text("ram:Content", note);
        x.close("ram:IncludedNote");
    }
    x.close("rsm:ExchangedDocument");

    x.open("rsm:SupplyChainTradeTransaction");
    for (i, l) in lines.iter().enumerate() {
        line(&mut x, i + 1, l, minor);
    }

    x.open("ram:ApplicableHeaderTradeAgreement");
    x.open("ram:SellerTradeParty");
    let details = &doc.billing_details;
    let seller_name = if details.legal_name.trim().is_empty() {
        &doc.organisation.name
    } else {
        &details.legal_name
    };
    x.text("ram:Name", seller_name);
    if details.phone.is_some() || details.email.is_some() {
        x.open("ram:DefinedTradeContact");
        if let Some(phone) = &details.phone {
            x.open("ram:TelephoneUniversalCommunication");
            x.text("ram:CompleteNumber", phone);
            x.close("ram:TelephoneUniversalCommunication");
        }
        if let Some(email) = &details.email {
            x.open("ram:EmailURIUniversalCommunication");
            x.text("ram:URIID", email);
            x.close("ram:EmailURIUniversalCommunication");
        }
        x.close("ram:DefinedTradeContact");
    }
    address(
        &mut x,
        details.address.as_ref(),
        &details.address_lines,
        details.tax_id.as_deref(),
    );
    if let Some(email) = &details.email {
        electronic_address(&mut x, email);
    }
    if let Some(id) = details.tax_id.as_deref().map(vat_id) {
        x.open("ram:SpecifiedTaxRegistration");
        x.text_with(
            "ram:ID",
            &[("schemeID", if outside_scope { "FC" } else { "VA" })],
            &id,
        );
        x.close("ram:SpecifiedTaxRegistration");
    }
    x.close("ram:SellerTradeParty");
    buyer(&mut x, doc, outside_scope);
    x.close("ram:ApplicableHeaderTradeAgreement");

    // No delivery information (BG-13): the element is required, empty is allowed.
    x.empty("ram:ApplicableHeaderTradeDelivery");

    x.open("ram:ApplicableHeaderTradeSettlement");
    x.text("ram:PaymentReference", &doc.number);
    x.text("ram:InvoiceCurrencyCode", &doc.currency.code);
    if let Some(iban) = details.payment_instructions.iter().find_map(|l| iban(l)) {
        x.open("ram:SpecifiedTradeSettlementPaymentMeans");
        // 58: SEPA credit transfer (euro only); 30: credit transfer (UNTDID 4461).
        x.text(
            "ram:TypeCode",
            if doc.currency.code == "EUR" {
                "58"
            } else {
                "30"
            },
        );
        x.open("ram:PayeePartyCreditorFinancialAccount");
        x.text("ram:IBANID", &iban);
        x.close("ram:PayeePartyCreditorFinancialAccount");
        x.close("ram:SpecifiedTradeSettlementPaymentMeans");
    }
    for b in breakdown(doc, &lines) {
        x.open("ram:ApplicableTradeTax");
        x.text("ram:CalculatedAmount", &amount(b.tax, minor));
        x.text("ram:TypeCode", "VAT");
        let reason = exemption(&b.category, doc.tax_note.as_deref(), b.credits_sold);
        if let Some((text, _)) = &reason {
            x.text("ram:ExemptionReason", text);
        }
        x.text("ram:BasisAmount", &amount(b.basis, minor));
        x.text("ram:CategoryCode", &b.category);
        if let Some((_, Some(code))) = &reason {
            x.text("ram:ExemptionReasonCode", code);
        }
        x.text(
            "ram:RateApplicablePercent",
            &b.percent.normalize().to_string(),
        );
        x.close("ram:ApplicableTradeTax");
    }
    let starts = doc.periods.iter().map(|p| p.period.start.iso).min();
    let ends = doc.periods.iter().map(|p| p.period.end.iso).max();
    if let (Some(start), Some(end)) = (starts, ends) {
        period(&mut x, start, end);
    }
    let mut terms = Vec::new();
    if let Some(n) = doc.net_term_days {
        terms.push(format!("Net {n} days"));
    }
    terms.extend(details.payment_instructions.iter().cloned());
    if !terms.is_empty() || doc.due_date.is_some() {
        x.open("ram:SpecifiedTradePaymentTerms");
        if !terms.is_empty() {
            x.text("ram:Description", &terms.join("; "));
        }
        if let Some(due) = &doc.due_date {
            x.date("ram:DueDateDateTime", "udt", due.iso);
        }
        x.close("ram:SpecifiedTradePaymentTerms");
    }
    let totals = Totals::of(doc, &lines);
    x.open("ram:SpecifiedTradeSettlementHeaderMonetarySummation");
    x.text("ram:LineTotalAmount", &amount(totals.lines, minor));
    x.text("ram:TaxBasisTotalAmount", &amount(totals.lines, minor));
    x.text_with(
        "ram:TaxTotalAmount",
        &[("currencyID", &doc.currency.code)],
        &amount(totals.tax, minor),
    );
    x.text("ram:GrandTotalAmount", &amount(totals.grand, minor));
    if !totals.prepaid.is_zero() {
        x.text("ram:TotalPrepaidAmount", &amount(totals.prepaid, minor));
    }
    x.text("ram:DuePayableAmount", &amount(totals.due, minor));
    x.close("ram:SpecifiedTradeSettlementHeaderMonetarySummation");
    if let Some((number, issued)) = &kind.preceding_invoice {
        x.open("ram:InvoiceReferencedDocument");
        x.text("ram:IssuerAssignedID", number);
        if let Some(d) = issued {
            x.date("ram:FormattedIssueDateTime", "qdt", *d);
        }
        x.close("ram:InvoiceReferencedDocument");
    }
    x.close("ram:ApplicableHeaderTradeSettlement");
    x.close("rsm:SupplyChainTradeTransaction");
    x.close("rsm:CrossIndustryInvoice");
    Ok(x.finish())
}

/// The totals of BG-22, in the invoice currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// BT-106 = BT-109: the sum of the lines' net amounts.
    pub lines: Decimal,
    /// BT-110: the invoice's tax.
    pub tax: Decimal,
    /// BT-112: lines + tax.
    pub grand: Decimal,
    /// BT-113: credits applied, plus payments received (not for a void or
    /// uncollectible invoice, which is written as it was issued).
    pub prepaid: Decimal,
    /// BT-115: grand - prepaid.
    pub due: Decimal,
}

impl Totals {
    fn of(doc: &InvoiceDocument, lines: &[XLine]) -> Totals {
        let sum: Decimal = lines.iter().map(|l| l.net).sum();
        let grand = sum + doc.tax_total.value;
        let prepaid = match doc.status {
            InvoiceStatus::Void | InvoiceStatus::UnCollectible => doc.credits.value,
            _ => grand - doc.amount_due.value,
        };
        Totals {
            lines: sum,
            tax: doc.tax_total.value,
            grand,
            prepaid,
            due: grand - prepaid,
        }
    }
}

/// One e-invoice line (BG-25).
#[derive(Debug, Clone, PartialEq)]
struct XLine {
    name: String,
    description: Option<String>,
    quantity: Decimal,
    price: Decimal,
    net: Decimal,
    category: String,
    percent: Decimal,
    period: Option<PeriodView>,
}

/// The lines: every charge line, then the true-up.
fn lines(doc: &InvoiceDocument) -> Vec<XLine> {
    let minor = doc.currency.minor_units;
    let rate = |vat: Option<&crate::model::VatRate>| match vat {
        Some(v) if v.category == "AA" => ("S".to_string(), v.percentage),
        Some(v) => (v.category.clone(), v.percentage),
        None if doc.has_tax => ("E".to_string(), Decimal::ZERO),
        None => ("O".to_string(), Decimal::ZERO),
    };
    let mut out: Vec<XLine> = doc
        .groups
        .iter()
        .flat_map(|g| &g.lines)
        .map(|l: &Line| {
            let (quantity, price) = quantity_and_price(l, minor);
            let (category, percent) = rate(l.vat.as_ref());
            XLine {
                name: l.display_name.clone(),
                description: l.description.clone(),
                quantity,
                price,
                net: l.amount.value,
                category,
                percent,
                period: l.period,
            }
        })
        .collect();
    if let Some(t) = &doc.commitment_true_up {
        let (category, percent) = rate(doc.commitment_true_up_vat.as_ref());
        let (quantity, price) = whole(t.value);
        out.push(XLine {
            name: "Minimum commitment true-up".into(),
            description: None,
            quantity,
            price,
            net: t.value,
            category,
            percent,
            period: None,
        });
    }
    out
}

/// The line's quantity and unit price if they give its amount, else one unit at
/// the amount (see the module docs).
fn quantity_and_price(l: &Line, minor: u32) -> (Decimal, Decimal) {
    match (l.quantity_value, l.unit_price.as_ref().map(|p| p.value)) {
        (Some(q), Some(p)) if !p.is_sign_negative() && round(q * p, minor) == l.amount.value => {
            (q, p)
        }
        _ => whole(l.amount.value),
    }
}

/// Quantity 1 at `amount`, or -1 at `-amount` when it is negative.
fn whole(amount: Decimal) -> (Decimal, Decimal) {
    if amount.is_sign_negative() && !amount.is_zero() {
        (Decimal::NEGATIVE_ONE, -amount)
    } else {
        (Decimal::ONE, amount)
    }
}

fn line(x: &mut X, id: usize, l: &XLine, minor: u32) {
    x.open("ram:IncludedSupplyChainTradeLineItem");
    x.open("ram:AssociatedDocumentLineDocument");
    x.text("ram:LineID", &id.to_string());
    x.close("ram:AssociatedDocumentLineDocument");
    x.open("ram:SpecifiedTradeProduct");
    x.text("ram:Name", &l.name);
    if let Some(d) = &l.description {
        x.text("ram:Description", d);
    }
    x.close("ram:SpecifiedTradeProduct");
    x.open("ram:SpecifiedLineTradeAgreement");
    x.open("ram:NetPriceProductTradePrice");
    x.text("ram:ChargeAmount", &l.price.normalize().to_string());
    x.close("ram:NetPriceProductTradePrice");
    x.close("ram:SpecifiedLineTradeAgreement");
    x.open("ram:SpecifiedLineTradeDelivery");
    x.text_with(
        "ram:BilledQuantity",
        &[("unitCode", "C62")],
        &l.quantity.normalize().to_string(),
    );
    x.close("ram:SpecifiedLineTradeDelivery");
    x.open("ram:SpecifiedLineTradeSettlement");
    x.open("ram:ApplicableTradeTax");
    x.text("ram:TypeCode", "VAT");
    x.text("ram:CategoryCode", &l.category);
    x.text(
        "ram:RateApplicablePercent",
        &l.percent.normalize().to_string(),
    );
    x.close("ram:ApplicableTradeTax");
    if let Some(p) = &l.period {
        period(x, p.start.iso, p.end.iso);
    }
    x.open("ram:SpecifiedTradeSettlementLineMonetarySummation");
    x.text("ram:LineTotalAmount", &amount(l.net, minor));
    x.close("ram:SpecifiedTradeSettlementLineMonetarySummation");
    x.close("ram:SpecifiedLineTradeSettlement");
    x.close("ram:IncludedSupplyChainTradeLineItem");
}

/// One VAT breakdown (BG-23).
struct Breakdown {
    category: String,
    percent: Decimal,
    basis: Decimal,
    tax: Decimal,
    /// Its lines sell credits (category E on a taxed invoice).
    credits_sold: bool,
}

/// One breakdown per category and rate, in the order of the lines: the basis sums
/// its lines, the tax is the invoice's at that rate (rates sharing a category and
/// percent are added).
fn breakdown(doc: &InvoiceDocument, lines: &[XLine]) -> Vec<Breakdown> {
    let mut out: Vec<Breakdown> = Vec::new();
    for l in lines {
        match out
            .iter_mut()
            .find(|b| b.category == l.category && b.percent == l.percent)
        {
            Some(b) => b.basis += l.net,
            None => out.push(Breakdown {
                category: l.category.clone(),
                percent: l.percent,
                basis: l.net,
                tax: Decimal::ZERO,
                credits_sold: doc.has_tax && l.category == "E" && doc.tax_note.is_none(),
            }),
        }
    }
    for t in &doc.taxes {
        let category = if t.category == "AA" { "S" } else { &t.category };
        let percent: Decimal = t.percentage.parse().unwrap_or_default();
        if let Some(b) = out
            .iter_mut()
            .find(|b| b.category == category && b.percent == percent)
        {
            b.tax += t.amount.value;
        }
    }
    out
}

/// The exemption reason (BT-120) and its VATEX code (BT-121) a category needs
/// (BR-E-10, BR-AE-10, BR-O-10, BR-IC-10, BR-G-10): the invoice's tax note, else a
/// default text.
fn exemption(
    category: &str,
    note: Option<&str>,
    credits_sold: bool,
) -> Option<(String, Option<&'static str>)> {
    let (default, code) = match category {
        "E" if credits_sold => (
            "Credits sold: an advance payment, taxed when the credits are used",
            None,
        ),
        "E" => ("Exempt from VAT", None),
        "AE" => ("Reverse charge", Some("VATEX-EU-AE")),
        "O" => ("Not subject to VAT", Some("VATEX-EU-O")),
        "K" => ("Intra-community supply", Some("VATEX-EU-IC")),
        "G" => ("Export outside the EU", Some("VATEX-EU-G")),
        _ => return None,
    };
    let text = match note {
        Some(n) if !credits_sold && !n.trim().is_empty() => n.to_string(),
        _ => default.to_string(),
    };
    Some((text, code))
}

fn period(x: &mut X, start: NaiveDate, end: NaiveDate) {
    x.open("ram:BillingSpecifiedPeriod");
    x.date("ram:StartDateTime", "udt", start);
    x.date("ram:EndDateTime", "udt", end);
    x.close("ram:BillingSpecifiedPeriod");
}

#[cfg(test)]
#[path = "xml_tests.rs"]
mod tests;
