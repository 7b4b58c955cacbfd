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
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;
use rust_decimal::{Decimal, RoundingStrategy};

use super::{EInvoiceError, EInvoiceKind};
use crate::model::{Address, InvoiceDocument, InvoiceStatus, Line, Party, PeriodView};

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

fn buyer(x: &mut X, doc: &InvoiceDocument, outside_scope: bool) {
    let (customer, account): (&Party, &Party) = (&doc.customer, &doc.account);
    x.open("ram:BuyerTradeParty");
    x.text("ram:ID", &customer.id);
    x.text("ram:Name", &customer.name);
    let (postal, printed) = match (&account.address, &customer.address) {
        (Some(a), _) => (Some(a), &account.address_lines),
        (None, Some(c)) => (Some(c), &customer.address_lines),
        (None, None) if !account.address_lines.is_empty() => (None, &account.address_lines),
        (None, None) => (None, &customer.address_lines),
    };
    let tax_id = account.tax_id.as_deref().or(customer.tax_id.as_deref());
    address(x, postal, printed, tax_id);
    if let Some(email) = account.emails.first().or(customer.emails.first()) {
        electronic_address(x, email);
    }
    // BR-O-02: no buyer VAT id on an invoice with "not subject to VAT" lines.
    if let Some(id) = tax_id.map(vat_id).filter(|_| !outside_scope) {
        x.open("ram:SpecifiedTaxRegistration");
        x.text_with("ram:ID", &[("schemeID", "VA")], &id);
        x.close("ram:SpecifiedTaxRegistration");
    }
    x.close("ram:BuyerTradeParty");
}

/// A postal address (BG-5, BG-8): field by field when known, else the printed
/// lines; the country from the address, else the last printed line's country name,
/// else the VAT id's prefix. Written only when something is known.
fn address(x: &mut X, postal: Option<&Address>, printed: &[String], tax_id: Option<&str>) {
    fn known(s: &Option<String>) -> Option<&str> {
        s.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }
    let country = postal
        .and_then(|a| known(&a.country))
        .and_then(|c| crate::countries::country_name(c).map(|_| c.to_ascii_uppercase()))
        .or_else(|| {
            printed
                .last()
                .and_then(|l| crate::countries::country_code(l))
        })
        .or_else(|| tax_id.and_then(vat_country));
    if postal.is_none() && printed.is_empty() && country.is_none() {
        return;
    }
    x.open("ram:PostalTradeAddress");
    match postal {
        Some(a) => {
            if let Some(p) = known(&a.postal_code) {
                x.text("ram:PostcodeCode", p);
            }
            if let Some(l) = known(&a.line1) {
                x.text("ram:LineOne", l);
            }
            if let Some(l) = known(&a.line2) {
                x.text("ram:LineTwo", l);
            }
            if let Some(c) = known(&a.city) {
                x.text("ram:CityName", c);
            }
        }
        None => {
            // Printed lines without the country line: up to three.
            let body: Vec<&String> = printed
                .iter()
                .filter(|l| crate::countries::country_code(l).is_none())
                .take(3)
                .collect();
            for (tag, l) in ["ram:LineOne", "ram:LineTwo", "ram:LineThree"]
                .iter()
                .zip(body)
            {
                x.text(tag, l);
            }
        }
    }
    if let Some(c) = &country {
        x.text("ram:CountryID", c);
    }
    if let Some(s) = postal.and_then(|a| known(&a.state)) {
        x.text("ram:CountrySubDivisionName", s);
    }
    x.close("ram:PostalTradeAddress");
}

fn electronic_address(x: &mut X, email: &str) {
    x.open("ram:URIUniversalCommunication");
    x.text_with("ram:URIID", &[("schemeID", "EM")], email);
    x.close("ram:URIUniversalCommunication");
}

fn period(x: &mut X, start: NaiveDate, end: NaiveDate) {
    x.open("ram:BillingSpecifiedPeriod");
    x.date("ram:StartDateTime", "udt", start);
    x.date("ram:EndDateTime", "udt", end);
    x.close("ram:BillingSpecifiedPeriod");
}

/// A VAT id as exchanged: without spaces, dots or dashes (`"DE 811 907 980"` ->
/// `"DE811907980"`).
pub fn vat_id(id: &str) -> String {
    id.chars()
        .filter(|c| !c.is_whitespace() && *c != '.' && *c != '-')
        .collect()
}

/// The country of an EU-style VAT id: its two-letter prefix (`EL` is Greece, `GR`).
fn vat_country(id: &str) -> Option<String> {
    let id = vat_id(id).to_ascii_uppercase();
    let prefix = id
        .get(..2)
        .filter(|p| p.chars().all(|c| c.is_ascii_alphabetic()))?;
    let code = if prefix == "EL" { "GR" } else { prefix };
    crate::countries::country_name(code).map(|_| code.to_string())
}

/// The IBAN of a payment-instruction line (`"IBAN DE89 3704 0044 0532 0130 00"`):
/// the text after "IBAN" without spaces, if it passes the ISO 13616 check (mod 97).
pub fn iban(line: &str) -> Option<String> {
    let upper = line.to_ascii_uppercase();
    let at = upper.find("IBAN")?;
    let rest = upper[at + 4..].trim_start_matches([':', ' ']);
    let candidate: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == ' ')
        .filter(|c| *c != ' ')
        .collect();
    let valid = (15..=34).contains(&candidate.len())
        && candidate[..2].chars().all(|c| c.is_ascii_alphabetic())
        && candidate[2..4].chars().all(|c| c.is_ascii_digit())
        && {
            let rearranged = candidate[4..].chars().chain(candidate[..4].chars());
            let mut rem: u32 = 0;
            for c in rearranged {
                let v = c.to_digit(36).unwrap_or(0);
                rem = if v >= 10 {
                    (rem * 100 + v) % 97
                } else {
                    (rem * 10 + v) % 97
                };
            }
            rem == 1
        };
    valid.then_some(candidate)
}

/// `d` rounded half away from zero to `minor` decimals.
fn round(d: Decimal, minor: u32) -> Decimal {
    d.round_dp_with_strategy(minor, RoundingStrategy::MidpointAwayFromZero)
}

/// An amount as CII writes it: exactly `minor` decimals (`"120.05"`).
fn amount(d: Decimal, minor: u32) -> String {
    let mut v = round(d, minor);
    v.rescale(minor);
    v.to_string()
}

/// A small writer over quick-xml (which escapes text and attribute values); writing
/// to memory cannot fail.
struct X(Writer<Vec<u8>>);

const MEMORY: &str = "writing XML to memory cannot fail";

impl X {
    fn new() -> X {
        let mut w = Writer::new_with_indent(Vec::with_capacity(16 * 1024), b' ', 2);
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
            .expect(MEMORY);
        X(w)
    }
    fn open(&mut self, name: &str) {
        self.open_with(name, &[]);
    }
    fn open_with(&mut self, name: &str, attrs: &[(&str, &str)]) {
        let mut e = BytesStart::new(name);
        for a in attrs {
            e.push_attribute(*a);
        }
        self.0.write_event(Event::Start(e)).expect(MEMORY);
    }
    fn close(&mut self, name: &str) {
        self.0
            .write_event(Event::End(BytesEnd::new(name)))
            .expect(MEMORY);
    }
    fn empty(&mut self, name: &str) {
        self.0
            .write_event(Event::Empty(BytesStart::new(name)))
            .expect(MEMORY);
    }
    fn text(&mut self, name: &str, text: &str) {
        self.text_with(name, &[], text);
    }
    fn text_with(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) {
        self.open_with(name, attrs);
        self.0
            .write_event(Event::Text(BytesText::new(text)))
            .expect(MEMORY);
        self.close(name);
    }
    /// A date in format 102 (`20260201`), `prefix` `udt` or `qdt`.
    fn date(&mut self, name: &str, prefix: &str, d: NaiveDate) {
        self.open(name);
        self.text_with(
            &format!("{prefix}:DateTimeString"),
            &[("format", "102")],
            &d.format("%Y%m%d").to_string(),
        );
        self.close(name);
    }
    fn finish(self) -> Vec<u8> {
        let mut out = self.0.into_inner();
        out.push(b'\n');
        out
    }
}

#[cfg(test)]
#[path = "xml_tests.rs"]
mod tests;
