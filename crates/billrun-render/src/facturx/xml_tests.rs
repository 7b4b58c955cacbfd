//! The CII XML worked by hand: every amount below is computed in a comment from the
//! lines' net amounts (README "Taxes": tax per rate = round(sum of nets x % / 100),
//! once, half away from zero).

use std::collections::BTreeMap;

use billrun_core::charges::ChargeLine;
use billrun_core::invoice::InvoiceLines;
use billrun_core::plan::{CardKind, InvoiceTiming};
use billrun_core::tax::{TaxRate, TaxSetup, TaxTreatment};
use billrun_core::{Currency, Period};
use rust_decimal_macros::dec;

use super::*;
use crate::facturx::parties::iban;
use crate::facturx::EInvoiceKind;
use crate::model::Address;
use crate::sample::sample_parts;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn charge(card: &str, name: &str, quantity: Decimal, unit: Decimal, amount: Decimal) -> ChargeLine {
    ChargeLine {
        kind: CardKind::Usage,
        card_name: card.into(),
        display_name: name.into(),
        tag: None,
        timing: InvoiceTiming::InArrears,
        cycle_index: 0,
        period: Period::new(d("2026-01-01"), d("2026-02-01")),
        quantity,
        unit_price: Some(unit),
        description: String::new(),
        details: Vec::new(),
        amount,
    }
}

fn rate(code: &str, pct: Decimal, category: &str, default: bool) -> TaxRate {
    TaxRate {
        code: code.into(),
        name: format!("VAT {}%", pct.normalize()),
        category: category.into(),
        percentage: pct,
        valid_from: None,
        valid_until: None,
        is_default: default,
    }
}

/// A German seller: 19 % standard (default), 7 % reduced (`AA`) for the card
/// `books`.
fn german(treatment: TaxTreatment) -> TaxSetup {
    TaxSetup {
        rates: vec![
            rate("DE_STANDARD", dec!(19), "S", true),
            rate("DE_REDUCED", dec!(7), "AA", false),
        ],
        treatment,
        card_rates: BTreeMap::from([("books".to_string(), "DE_REDUCED".to_string())]),
    }
}

/// The sample's header (Northwind Cloud GmbH, Berlin, DE 811 907 980; Müller
/// Analytics GmbH, München) over `charges` and `true_up`, taxed by `setup`, with
/// `credits` applied after tax.
fn document(
    currency: Currency,
    charges: &[ChargeLine],
    true_up: Option<&ChargeLine>,
    setup: Option<&TaxSetup>,
    credits: Decimal,
) -> InvoiceDocument {
    let (header, _) = sample_parts(1, currency);
    let mut lines = InvoiceLines::build(currency, charges, true_up);
    if let Some(setup) = setup {
        lines.apply_taxes(setup, d("2026-02-01")).unwrap();
    }
    lines.total_credits.amount = credits;
    lines.recompute_taxes();
    InvoiceDocument::from_lines(header, &lines)
}

/// The German case: 120.05 at 19 %, 3 x 15.15 = 45.45 of books at 7 %, a true-up
/// of 34.50 at 19 %, 50.00 of credits.
fn german_invoice() -> InvoiceDocument {
    let mut true_up = charge(
        "minimum",
        "Minimum commitment",
        dec!(1),
        dec!(34.50),
        dec!(34.50),
    );
    true_up.kind = CardKind::MinimumCommitment;
    true_up.unit_price = None;
    document(
        Currency::EUR,
        &[
            charge(
                "platform",
                "Platform fee",
                dec!(1),
                dec!(120.05),
                dec!(120.05),
            ),
            charge("books", "Books", dec!(3), dec!(15.15), dec!(45.45)),
        ],
        Some(&true_up),
        Some(&german(TaxTreatment::Standard)),
        dec!(50.00),
    )
}

/// The XML without the indentation between tags, to compare whole blocks.
fn squashed(xml: &[u8]) -> String {
    let text = String::from_utf8(xml.to_vec()).unwrap();
    text.lines().map(str::trim).collect::<String>()
}

#[test]
fn a_german_invoice_has_its_lines_vat_breakdown_and_totals() {
    let doc = german_invoice();
    let xml = squashed(&cii_xml(&doc, &EInvoiceKind::invoice()).unwrap());
    for part in [
        "<ram:GuidelineSpecifiedDocumentContextParameter><ram:ID>urn:cen.eu:en16931:2017</ram:ID>",
        "<rsm:ExchangedDocument><ram:ID>INV-2026-000042</ram:ID><ram:TypeCode>380</ram:TypeCode><ram:IssueDateTime><udt:DateTimeString format=\"102\">20260201</udt:DateTimeString></ram:IssueDateTime></rsm:ExchangedDocument>",
        // Line 1: 1 x 120.05 = 120.05 at S 19 %, January (1 Jan - 31 Jan inclusive).
        "<ram:LineID>1</ram:LineID></ram:AssociatedDocumentLineDocument><ram:SpecifiedTradeProduct><ram:Name>Platform fee</ram:Name></ram:SpecifiedTradeProduct><ram:SpecifiedLineTradeAgreement><ram:NetPriceProductTradePrice><ram:ChargeAmount>120.05</ram:ChargeAmount></ram:NetPriceProductTradePrice></ram:SpecifiedLineTradeAgreement><ram:SpecifiedLineTradeDelivery><ram:BilledQuantity unitCode=\"C62\">1</ram:BilledQuantity></ram:SpecifiedLineTradeDelivery><ram:SpecifiedLineTradeSettlement><ram:ApplicableTradeTax><ram:TypeCode>VAT</ram:TypeCode><ram:CategoryCode>S</ram:CategoryCode><ram:RateApplicablePercent>19</ram:RateApplicablePercent></ram:ApplicableTradeTax><ram:BillingSpecifiedPeriod><ram:StartDateTime><udt:DateTimeString format=\"102\">20260101</udt:DateTimeString></ram:StartDateTime><ram:EndDateTime><udt:DateTimeString format=\"102\">20260131</udt:DateTimeString></ram:EndDateTime></ram:BillingSpecifiedPeriod><ram:SpecifiedTradeSettlementLineMonetarySummation><ram:LineTotalAmount>120.05</ram:LineTotalAmount>",
        // Line 2: 3 x 15.15 = 45.45, AA (lower rate) written S at 7 %.
        "<ram:ChargeAmount>15.15</ram:ChargeAmount></ram:NetPriceProductTradePrice></ram:SpecifiedLineTradeAgreement><ram:SpecifiedLineTradeDelivery><ram:BilledQuantity unitCode=\"C62\">3</ram:BilledQuantity></ram:SpecifiedLineTradeDelivery><ram:SpecifiedLineTradeSettlement><ram:ApplicableTradeTax><ram:TypeCode>VAT</ram:TypeCode><ram:CategoryCode>S</ram:CategoryCode><ram:RateApplicablePercent>7</ram:RateApplicablePercent>",
        // Line 3: the true-up, 1 x 34.50 at 19 %.
        "<ram:LineID>3</ram:LineID></ram:AssociatedDocumentLineDocument><ram:SpecifiedTradeProduct><ram:Name>Minimum commitment true-up</ram:Name></ram:SpecifiedTradeProduct><ram:SpecifiedLineTradeAgreement><ram:NetPriceProductTradePrice><ram:ChargeAmount>34.5</ram:ChargeAmount>",
        // Seller: legal name, contact, address with its country, email, VAT id
        // without spaces.
        "<ram:SellerTradeParty><ram:Name>Northwind Cloud GmbH</ram:Name><ram:DefinedTradeContact><ram:TelephoneUniversalCommunication><ram:CompleteNumber>+49 30 1234 5670</ram:CompleteNumber></ram:TelephoneUniversalCommunication><ram:EmailURIUniversalCommunication><ram:URIID>billing@northwind.example</ram:URIID></ram:EmailURIUniversalCommunication></ram:DefinedTradeContact><ram:PostalTradeAddress><ram:PostcodeCode>10117</ram:PostcodeCode><ram:LineOne>Friedrichstraße 68</ram:LineOne><ram:CityName>Berlin</ram:CityName><ram:CountryID>DE</ram:CountryID></ram:PostalTradeAddress><ram:URIUniversalCommunication><ram:URIID schemeID=\"EM\">billing@northwind.example</ram:URIID></ram:URIUniversalCommunication><ram:SpecifiedTaxRegistration><ram:ID schemeID=\"VA\">DE811907980</ram:ID></ram:SpecifiedTaxRegistration></ram:SellerTradeParty>",
        // Buyer: the customer, the account's billing email (its address is the
        // customer's: the account has none).
        "<ram:BuyerTradeParty><ram:ID>mueller</ram:ID><ram:Name>Müller Analytics GmbH</ram:Name><ram:PostalTradeAddress><ram:PostcodeCode>80331</ram:PostcodeCode><ram:LineOne>Hauptstraße 5</ram:LineOne><ram:CityName>München</ram:CityName><ram:CountryID>DE</ram:CountryID></ram:PostalTradeAddress><ram:URIUniversalCommunication><ram:URIID schemeID=\"EM\">ap@mueller.example</ram:URIID></ram:URIUniversalCommunication></ram:BuyerTradeParty>",
        // The sample's IBAN, which passes mod 97: SEPA credit transfer (58, EUR).
        "<ram:SpecifiedTradeSettlementPaymentMeans><ram:TypeCode>58</ram:TypeCode><ram:PayeePartyCreditorFinancialAccount><ram:IBANID>DE89370400440532013000</ram:IBANID></ram:PayeePartyCreditorFinancialAccount></ram:SpecifiedTradeSettlementPaymentMeans>",
        // S 19 %: basis 120.05 + 34.50 = 154.55, tax 154.55 x 0.19 = 29.3645 -> 29.36.
        "<ram:ApplicableTradeTax><ram:CalculatedAmount>29.36</ram:CalculatedAmount><ram:TypeCode>VAT</ram:TypeCode><ram:BasisAmount>154.55</ram:BasisAmount><ram:CategoryCode>S</ram:CategoryCode><ram:RateApplicablePercent>19</ram:RateApplicablePercent></ram:ApplicableTradeTax>",
        // S 7 %: basis 45.45, tax 45.45 x 0.07 = 3.1815 -> 3.18.
        "<ram:ApplicableTradeTax><ram:CalculatedAmount>3.18</ram:CalculatedAmount><ram:TypeCode>VAT</ram:TypeCode><ram:BasisAmount>45.45</ram:BasisAmount><ram:CategoryCode>S</ram:CategoryCode><ram:RateApplicablePercent>7</ram:RateApplicablePercent></ram:ApplicableTradeTax>",
        // Both billed periods: January in arrears, February in advance.
        "<ram:BillingSpecifiedPeriod><ram:StartDateTime><udt:DateTimeString format=\"102\">20260101</udt:DateTimeString></ram:StartDateTime><ram:EndDateTime><udt:DateTimeString format=\"102\">20260228</udt:DateTimeString></ram:EndDateTime></ram:BillingSpecifiedPeriod>",
        "<ram:SpecifiedTradePaymentTerms><ram:Description>Net 30 days; Bank transfer to Northwind Cloud GmbH; IBAN DE89 3704 0044 0532 0130 00; BIC COBADEFFXXX; Reference: INV-2026-000042</ram:Description><ram:DueDateDateTime><udt:DateTimeString format=\"102\">20260303</udt:DateTimeString></ram:DueDateDateTime></ram:SpecifiedTradePaymentTerms>",
        // Lines 120.05 + 45.45 + 34.50 = 200.00; tax 29.36 + 3.18 = 32.54; grand
        // 232.54; credits 50.00 paid in advance; due 232.54 - 50.00 = 182.54.
        "<ram:SpecifiedTradeSettlementHeaderMonetarySummation><ram:LineTotalAmount>200.00</ram:LineTotalAmount><ram:TaxBasisTotalAmount>200.00</ram:TaxBasisTotalAmount><ram:TaxTotalAmount currencyID=\"EUR\">32.54</ram:TaxTotalAmount><ram:GrandTotalAmount>232.54</ram:GrandTotalAmount><ram:TotalPrepaidAmount>50.00</ram:TotalPrepaidAmount><ram:DuePayableAmount>182.54</ram:DuePayableAmount></ram:SpecifiedTradeSettlementHeaderMonetarySummation>",
    ] {
        assert!(xml.contains(part), "missing {part}\nin {xml}");
    }
    assert!(!xml.contains("InvoiceReferencedDocument"));
    assert!(!xml.contains("ExemptionReason"));
    // The view model agrees: what the PDF shows is what the XML says.
    assert_eq!(doc.total.value, dec!(182.54));
    assert_eq!(doc.gross_total.value, dec!(232.54));
}

#[test]
fn a_credit_note_is_381_and_names_the_invoice_it_credits() {
    let doc = german_invoice();
    let kind = EInvoiceKind::credit_note("INV-2026-000041", Some(d("2026-01-01")));
    let xml = squashed(&cii_xml(&doc, &kind).unwrap());
    assert!(xml.contains("<ram:TypeCode>381</ram:TypeCode>"));
    assert!(xml.contains(
        "</ram:SpecifiedTradeSettlementHeaderMonetarySummation><ram:InvoiceReferencedDocument><ram:IssuerAssignedID>INV-2026-000041</ram:IssuerAssignedID><ram:FormattedIssueDateTime><qdt:DateTimeString format=\"102\">20260101</qdt:DateTimeString></ram:FormattedIssueDateTime></ram:InvoiceReferencedDocument></ram:ApplicableHeaderTradeSettlement>"
    ));
}

#[test]
fn reverse_charge_is_ae_at_zero_with_its_reason_and_both_vat_ids() {
    let mut doc = document(
        Currency::EUR,
        &[charge(
            "platform",
            "Platform fee",
            dec!(4),
            dec!(250),
            dec!(1000.00),
        )],
        None,
        Some(&german(TaxTreatment::ReverseCharge)),
        Decimal::ZERO,
    );
    doc.account.tax_id = Some("FR 12 345678901".into());
    let xml = squashed(&cii_xml(&doc, &EInvoiceKind::invoice()).unwrap());
    let note = billrun_core::tax::REVERSE_CHARGE_NOTE;
    for part in [
        format!("<ram:IncludedNote><ram:Content>{note}</ram:Content></ram:IncludedNote>"),
        // 4 x 250 = 1000.00 at AE 0 %: tax 0.00.
        "<ram:BilledQuantity unitCode=\"C62\">4</ram:BilledQuantity>".to_string(),
        format!("<ram:ApplicableTradeTax><ram:CalculatedAmount>0.00</ram:CalculatedAmount><ram:TypeCode>VAT</ram:TypeCode><ram:ExemptionReason>{note}</ram:ExemptionReason><ram:BasisAmount>1000.00</ram:BasisAmount><ram:CategoryCode>AE</ram:CategoryCode><ram:ExemptionReasonCode>VATEX-EU-AE</ram:ExemptionReasonCode><ram:RateApplicablePercent>0</ram:RateApplicablePercent></ram:ApplicableTradeTax>"),
        "<ram:ID schemeID=\"VA\">DE811907980</ram:ID>".to_string(),
        "<ram:ID schemeID=\"VA\">FR12345678901</ram:ID>".to_string(),
        "<ram:GrandTotalAmount>1000.00</ram:GrandTotalAmount><ram:DuePayableAmount>1000.00</ram:DuePayableAmount>".to_string(),
    ] {
        assert!(xml.contains(&part), "missing {part}\nin {xml}");
    }
}

#[test]
fn an_untaxed_us_invoice_is_o_without_vat_ids_and_a_negative_line_is_minus_one() {
    let mut doc = document(
        Currency::USD,
        &[
            charge("api", "API calls", dec!(41), dec!(0.001), dec!(10.00)),
            charge(
                "refund",
                "Goodwill adjustment",
                dec!(1),
                dec!(-20.00),
                dec!(-20.00),
            ),
            charge("seats", "Seats", dec!(12), dec!(9.99), dec!(119.88)),
        ],
        None,
        None,
        Decimal::ZERO,
    );
    doc.customer.tax_id = Some("US 12-3456789".into());
    doc.customer.address = Some(Address {
        city: Some("Springfield".into()),
        state: Some("IL".into()),
        country: Some("US".into()),
        ..Default::default()
    });
    let xml = squashed(&cii_xml(&doc, &EInvoiceKind::invoice()).unwrap());
    for part in [
        // 41 x 0.001 = 0.041 -> 0.04, not the line's 10.00 (a minimum): 1 x 10.00.
        "<ram:ChargeAmount>10</ram:ChargeAmount></ram:NetPriceProductTradePrice></ram:SpecifiedLineTradeAgreement><ram:SpecifiedLineTradeDelivery><ram:BilledQuantity unitCode=\"C62\">1</ram:BilledQuantity>",
        // -20.00: a net price is never negative (BR-27): -1 x 20.00.
        "<ram:ChargeAmount>20</ram:ChargeAmount></ram:NetPriceProductTradePrice></ram:SpecifiedLineTradeAgreement><ram:SpecifiedLineTradeDelivery><ram:BilledQuantity unitCode=\"C62\">-1</ram:BilledQuantity>",
        "<ram:LineTotalAmount>-20.00</ram:LineTotalAmount>",
        // 12 x 9.99 = 119.88.
        "<ram:ChargeAmount>9.99</ram:ChargeAmount></ram:NetPriceProductTradePrice></ram:SpecifiedLineTradeAgreement><ram:SpecifiedLineTradeDelivery><ram:BilledQuantity unitCode=\"C62\">12</ram:BilledQuantity>",
        // O at 0 %: basis 10.00 - 20.00 + 119.88 = 109.88.
        "<ram:ApplicableTradeTax><ram:CalculatedAmount>0.00</ram:CalculatedAmount><ram:TypeCode>VAT</ram:TypeCode><ram:ExemptionReason>Not subject to VAT</ram:ExemptionReason><ram:BasisAmount>109.88</ram:BasisAmount><ram:CategoryCode>O</ram:CategoryCode><ram:ExemptionReasonCode>VATEX-EU-O</ram:ExemptionReasonCode><ram:RateApplicablePercent>0</ram:RateApplicablePercent></ram:ApplicableTradeTax>",
        // BR-O-02: the seller's VAT id as a tax registration, the buyer's left out.
        "<ram:ID schemeID=\"FC\">DE811907980</ram:ID>",
        "<ram:PostalTradeAddress><ram:CityName>Springfield</ram:CityName><ram:CountryID>US</ram:CountryID><ram:CountrySubDivisionName>IL</ram:CountrySubDivisionName></ram:PostalTradeAddress>",
        "<ram:LineTotalAmount>109.88</ram:LineTotalAmount><ram:TaxBasisTotalAmount>109.88</ram:TaxBasisTotalAmount><ram:TaxTotalAmount currencyID=\"USD\">0.00</ram:TaxTotalAmount><ram:GrandTotalAmount>109.88</ram:GrandTotalAmount><ram:DuePayableAmount>109.88</ram:DuePayableAmount>",
        // USD: a credit transfer (30), not SEPA.
        "<ram:TypeCode>30</ram:TypeCode><ram:PayeePartyCreditorFinancialAccount>",
    ] {
        assert!(xml.contains(part), "missing {part}\nin {xml}");
    }
    assert!(!xml.contains("schemeID=\"VA\""));
    assert!(!xml.contains("US123456789"));
}

#[test]
fn a_draft_has_no_e_invoice() {
    let mut doc = german_invoice();
    doc.status = InvoiceStatus::Draft;
    doc.number = "DRAFT".into();
    assert_eq!(
        cii_xml(&doc, &EInvoiceKind::invoice()),
        Err(EInvoiceError::Draft("DRAFT".into()))
    );
}

#[test]
fn names_are_escaped_and_countries_come_from_what_is_known() {
    let mut doc = german_invoice();
    doc.billing_details.legal_name = "Smith & <Sons> Ltd".into();
    doc.billing_details.address = None;
    doc.billing_details.address_lines = vec!["1 High St".into(), "Paris".into(), "France".into()];
    let xml = squashed(&cii_xml(&doc, &EInvoiceKind::invoice()).unwrap());
    assert!(xml.contains("<ram:Name>Smith &amp; &lt;Sons&gt; Ltd</ram:Name>"));
    // The printed lines, the country line as its code.
    assert!(xml.contains("<ram:PostalTradeAddress><ram:LineOne>1 High St</ram:LineOne><ram:LineTwo>Paris</ram:LineTwo><ram:CountryID>FR</ram:CountryID></ram:PostalTradeAddress>"));
    // Nothing but a VAT id: its prefix (Greece writes EL).
    doc.billing_details.address_lines.clear();
    doc.billing_details.tax_id = Some("EL 123456789".into());
    let xml = squashed(&cii_xml(&doc, &EInvoiceKind::invoice()).unwrap());
    assert!(xml.contains(
        "<ram:PostalTradeAddress><ram:CountryID>GR</ram:CountryID></ram:PostalTradeAddress>"
    ));
}

#[test]
fn ibans_pass_mod_97_or_are_not_taken() {
    assert_eq!(
        iban("IBAN DE89 3704 0044 0532 0130 00").as_deref(),
        Some("DE89370400440532013000")
    );
    assert_eq!(
        iban("iban: GB82 WEST 1234 5698 7654 32").as_deref(),
        Some("GB82WEST12345698765432")
    );
    // One digit changed: 97 no longer divides it.
    assert_eq!(iban("IBAN DE89 3704 0044 0532 0130 01"), None);
    assert_eq!(iban("BIC COBADEFFXXX"), None);
}
