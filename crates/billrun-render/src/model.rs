//! The invoice view model: everything a document shows, already formatted.
//!
//! Templates and the PDF layout read only this. Every amount comes as an
//! [`Amount`] (`value` exact, `display` formatted per currency) and every date as a
//! [`Day`] (`iso` and `display`), so a template never formats numbers or dates
//! itself and the HTML and PDF cannot disagree. The field-by-field reference for
//! template authors is the crate's README.

use billrun_core::invoice::LineKind;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::logo::Logo;
use crate::money::Amount;

/// One invoice, ready to render.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvoiceDocument {
    /// The organisation issuing the invoice.
    pub organisation: Organisation,
    /// The billing-details profile the template uses (seller's legal identity).
    pub billing_details: BillingDetails,
    /// The customer billed.
    pub customer: Party,
    /// The customer's account the invoice is for.
    pub account: Party,
    /// The invoice number, or `"DRAFT"` for an invoice not finalized yet.
    pub number: String,
    /// Lifecycle status.
    pub status: InvoiceStatus,
    /// Human label of the status ("Due", "Paid", ...).
    pub status_label: String,
    /// Invoice date (finalized invoices).
    pub invoice_date: Option<Day>,
    /// When the invoice was finalized (UTC; none for a draft): the PDF's creation
    /// date.
    pub finalized_at: Option<DateTime<Utc>>,
    /// Due date (finalized invoices).
    pub due_date: Option<Day>,
    /// Net terms in days (`30` for "Net 30").
    pub net_term_days: Option<u32>,
    /// The billed periods: in arrears (the cycle that closed), in advance (the cycle
    /// that opened); one or both.
    pub periods: Vec<BilledPeriod>,
    /// The invoice currency; every amount is in it.
    pub currency: CurrencyInfo,
    /// The charges, grouped by rate-card tag, in invoice order.
    pub groups: Vec<LineGroup>,
    /// Number of charge lines over all groups (sub-lines not counted).
    pub line_count: usize,
    /// Sum of the charges.
    pub sub_total: Amount,
    /// Minimum-commitment true-up: the shortfall, if the charges fell short of the
    /// commitment. (Not `true_up`: Tera reads a name starting with `true` as the
    /// boolean.)
    pub commitment_true_up: Option<Amount>,
    /// Credits applied (zero until credits are applied). `value` is positive;
    /// `display` is written as a deduction (`"-$12.00"`, or `"$0.00"`).
    pub credits: Amount,
    /// Whether any credits were applied (`credits` is not zero): the built-in
    /// template shows a Credits row only then.
    pub has_credits: bool,
    /// Whether the invoice carries taxes (any rate applies, even at 0 %): the
    /// built-in template shows net / tax per rate / gross then (README "Taxes").
    pub has_tax: bool,
    /// Net: sub-total + true-up, before tax and credits.
    pub net_total: Amount,
    /// The tax per rate (EN 16931's VAT breakdown), in invoice order.
    pub taxes: Vec<TaxLine>,
    /// Sum of the taxes.
    pub tax_total: Amount,
    /// Gross: net + tax, before credits.
    pub gross_total: Amount,
    /// The note the tax treatment requires (reverse charge, exempt...), if any.
    pub tax_note: Option<String>,
    /// The VAT rate of the true-up, if it is taxed (for the e-invoice).
    pub commitment_true_up_vat: Option<VatRate>,
    /// Gross - credits: what the invoice totals.
    pub total: Amount,
    /// What remains to be paid: the total, less payments; zero once PAID or VOID.
    pub amount_due: Amount,
    /// What the document is: `"Invoice"`, or `"Credit note"` (README "Credit notes").
    /// The PDF's and HTML's title, and the PDF layout's heading (upper-cased).
    pub title: String,
    /// For a credit note, the invoice it credits and why; none for an invoice.
    pub credit_note: Option<CreditedInvoice>,
}

/// What a credit note's document says about the invoice it credits (EN 16931 BG-3,
/// README "Credit notes").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreditedInvoice {
    /// The credited invoice's number (BT-25).
    pub invoice_number: String,
    /// Its invoice date (BT-26), if known.
    pub invoice_date: Option<Day>,
    /// The reason code (`ORDER_CHANGE`...), as stored.
    pub reason: String,
    /// The reason as the documents print it: the code in words (`Order change`).
    pub reason_label: String,
    /// The operator's free text (may be empty), printed in the CREDIT block.
    pub description: String,
    /// How the note was applied, one line per part ("Off the invoice's balance:
    /// $50.00", "Refunded: $22.97"); empty when the data does not say
    /// ([`crate::credit_note::applied_lines`]).
    pub applied: Vec<String>,
    /// `"Credit note CN-2026-0001 for invoice INV-2026-0001"`.
    pub summary: String,
}

/// The organisation issuing the invoice.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Organisation {
    /// Its name (trading name; the legal name is in [`BillingDetails`]).
    pub name: String,
    /// Its logo, if it uploaded one.
    pub logo: Option<Logo>,
}

/// A billing-details profile: who the seller is, legally, and how to pay it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingDetails {
    /// Legal name ("Northwind Cloud GmbH").
    pub legal_name: String,
    /// Postal address, one line per entry.
    #[serde(default)]
    pub address_lines: Vec<String>,
    /// Tax / VAT id.
    #[serde(default)]
    pub tax_id: Option<String>,
    /// Billing contact email.
    #[serde(default)]
    pub email: Option<String>,
    /// Billing contact phone.
    #[serde(default)]
    pub phone: Option<String>,
    /// How to pay (bank, IBAN, reference...), one line per entry.
    #[serde(default)]
    pub payment_instructions: Vec<String>,
    /// A closing note printed at the bottom ("Thank you for your business").
    #[serde(default)]
    pub footer_note: Option<String>,
    /// The postal address [`BillingDetails::address_lines`] was printed from, field
    /// by field, for the e-invoice's seller address (EN 16931 BG-5, the country
    /// BT-40); none in details recorded before it was kept.
    #[serde(default)]
    pub address: Option<Address>,
}

/// A customer or an account: who is billed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    /// Its id in billrun.
    pub id: String,
    /// Its name, as written (drawn literally in the PDF, escaped in HTML).
    pub name: String,
    /// Postal address, one line per entry (see [`Address::lines`]).
    #[serde(default)]
    pub address_lines: Vec<String>,
    /// Where invoices go (account billing emails, or the customer's primary one).
    #[serde(default)]
    pub emails: Vec<String>,
    /// Its VAT / tax id (README "Taxes"), if any.
    #[serde(default)]
    pub tax_id: Option<String>,
    /// The postal address [`Party::address_lines`] was printed from, field by field,
    /// for the e-invoice's buyer address (EN 16931 BG-8, the country BT-55).
    #[serde(default)]
    pub address: Option<Address>,
}

/// The VAT rate of a line, structured for the e-invoice (EN 16931 BT-151, BT-152).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VatRate {
    /// UNCL5305 category, as configured (`S`, `AA`, `AE`...).
    pub category: String,
    /// Percent (`19` for 19 %).
    pub percentage: rust_decimal::Decimal,
}

/// The tax of one rate on an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaxLine {
    /// The rate's code (`"DE_STANDARD"`).
    pub code: String,
    /// What the invoice writes: `"VAT 19% on €1,334.60"` (the rate in
    /// parentheses only when the name does not say it: `"Sales tax (7%) on $20.00"`).
    pub label: String,
    /// UNCL5305 category (`S`, `AE`...).
    pub category: String,
    /// Percent, as written (`"19"`, `"7"`, `"0"`).
    pub percentage: String,
    /// The net amount taxed at it.
    pub taxable: Amount,
    /// Its tax, rounded once.
    pub amount: Amount,
}

/// A postal address in Togai's shape, as billrun stores it (camelCase JSON), to
/// turn into [`Party::address_lines`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    /// First line.
    pub line1: Option<String>,
    /// Second line.
    pub line2: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// City.
    pub city: Option<String>,
    /// State or region.
    pub state: Option<String>,
    /// ISO 3166-1 alpha-2 country code (printed by name, see [`Address::lines`]).
    pub country: Option<String>,
}

impl Address {
    /// The lines to print: line 1, line 2, "postal code city", state, country;
    /// empty parts left out. The country is printed by its name (`"DE"` ->
    /// `"Germany"`, [`crate::countries::country_name`]); a value that is not an
    /// ISO 3166-1 alpha-2 code is printed as written.
    pub fn lines(&self) -> Vec<String> {
        fn non_empty(s: &Option<String>) -> Option<&str> {
            s.as_deref().map(str::trim).filter(|s| !s.is_empty())
        }
        let city = [non_empty(&self.postal_code), non_empty(&self.city)]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        [
            non_empty(&self.line1).map(String::from),
            non_empty(&self.line2).map(String::from),
            (!city.is_empty()).then_some(city),
            non_empty(&self.state).map(String::from),
            non_empty(&self.country)
                .map(|c| crate::countries::country_name(c).map_or(c.to_string(), String::from)),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// Invoice status, as billrun stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InvoiceStatus {
    /// Not finalized: no number, amounts may still change.
    Draft,
    /// Finalized and awaiting payment.
    Due,
    /// Paid in full.
    Paid,
    /// Paid in part.
    PartiallyPaid,
    /// Cancelled (keeps its number).
    Void,
    /// Written off.
    UnCollectible,
}

impl InvoiceStatus {
    /// Parses the stored status (`"DUE"`).
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }

    /// The label shown on the document.
    pub fn label(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "Draft",
            InvoiceStatus::Due => "Due",
            InvoiceStatus::Paid => "Paid",
            InvoiceStatus::PartiallyPaid => "Partially paid",
            InvoiceStatus::Void => "Void",
            InvoiceStatus::UnCollectible => "Uncollectible",
        }
    }
}

/// A calendar date: ISO for machines, a display form for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Day {
    /// `2026-02-01`.
    pub iso: NaiveDate,
    /// `1 Feb 2026` (unambiguous in every locale).
    pub display: DayDisplay,
}

/// The display form of a [`Day`], serialised as a string (`"1 Feb 2026"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayDisplay(NaiveDate);

impl std::fmt::Display for DayDisplay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.format("%-d %b %Y"))
    }
}

impl Serialize for DayDisplay {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl From<NaiveDate> for Day {
    fn from(d: NaiveDate) -> Self {
        Day {
            iso: d,
            display: DayDisplay(d),
        }
    }
}

/// Days a line or the invoice covers, both ends inclusive as printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PeriodView {
    /// First day.
    pub start: Day,
    /// Last day (inclusive: a January cycle ends 31 Jan).
    pub end: Day,
    /// `"1 Jan 2026 – 31 Jan 2026"`.
    pub display: PeriodDisplay,
}

/// The display form of a [`PeriodView`], serialised as a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeriodDisplay(NaiveDate, NaiveDate);

impl std::fmt::Display for PeriodDisplay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} – {}", DayDisplay(self.0), DayDisplay(self.1))
    }
}

impl Serialize for PeriodDisplay {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl From<billrun_core::Period> for PeriodView {
    fn from(p: billrun_core::Period) -> Self {
        let last = p.last_day().max(p.start);
        PeriodView {
            start: p.start.into(),
            end: last.into(),
            display: PeriodDisplay(p.start, last),
        }
    }
}

/// A billed period of the invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BilledPeriod {
    /// `"IN_ARREARS"` or `"IN_ADVANCE"`.
    pub timing: &'static str,
    /// `"In arrears"` or `"In advance"`.
    pub label: &'static str,
    /// The days.
    pub period: PeriodView,
}

/// The invoice currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CurrencyInfo {
    /// ISO 4217 code (`"EUR"`).
    pub code: String,
    /// Symbol (`"€"`), or the code when it has none.
    pub symbol: String,
    /// Decimals of the minor unit (JPY 0, EUR 2, BHD 3).
    pub minor_units: u32,
}

/// The charges of one rate-card tag ("usage", "platform"; untagged ones under
/// "Charges").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineGroup {
    /// The tag.
    pub name: String,
    /// Sum of its lines.
    pub amount: Amount,
    /// One line per rate card.
    pub lines: Vec<Line>,
}

/// A charge line (one rate card) or one of its sub-lines.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    /// `PRICE_PLAN` for a charge line; `SLAB`, `ADJUSTMENT` or `LICENSE_PERIOD`
    /// for sub-lines; `TRUE_UP` for the true-up.
    pub kind: LineKind,
    /// The rate card's display name.
    pub display_name: String,
    /// Detail: slab bounds, proration, the min/max clamp... (may be empty).
    pub description: Option<String>,
    /// Quantity billed, formatted (`"12,500"`), where meaningful.
    pub quantity: Option<String>,
    /// Price per unit, where meaningful (keeps the rate's own decimals).
    pub unit_price: Option<Amount>,
    /// Amount of the line.
    pub amount: Amount,
    /// Days covered, where meaningful.
    pub period: Option<PeriodView>,
    /// Sub-lines whose amounts add up to `amount` (slabs, adjustment, license
    /// periods); empty for a line without breakdown.
    pub sub_lines: Vec<Line>,
    /// The line's tax: `"VAT 19%: €234.56"` (its share of its rate's tax), if taxed.
    pub tax: Option<String>,
    /// The quantity billed, exact (what `quantity` formats), for the e-invoice.
    pub quantity_value: Option<rust_decimal::Decimal>,
    /// The line's VAT rate, if taxed (none for an untaxed invoice's lines and for
    /// credits sold, which are not taxed: README "Taxes").
    pub vat: Option<VatRate>,
}
