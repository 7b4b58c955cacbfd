//! The parties of the CII XML (seller and buyer addresses, electronic addresses,
//! VAT ids) and the IBAN of the payment instructions; see [`super::xml`] for the
//! mapping.

use super::writer::X;
use crate::model::{Address, InvoiceDocument, Party};

pub(super) fn buyer(x: &mut X, doc: &InvoiceDocument, outside_scope: bool) {
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
pub(super) fn address(
    x: &mut X,
    postal: Option<&Address>,
    printed: &[String],
    tax_id: Option<&str>,
) {
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

pub(super) fn electronic_address(x: &mut X, email: &str) {
    x.open("ram:URIUniversalCommunication");
    x.text_with("ram:URIID", &[("schemeID", "EM")], email);
    x.close("ram:URIUniversalCommunication");
}

/// A VAT id as exchanged: without spaces, dots or dashes (`"DE 811 907 980"` ->
/// `"DE811907980"`).
pub fn vat_id(id: &str) -> String {
    id.chars()
        .filter(|c| !c.is_whitespace() && *c != '.' && *c != '-')
        .collect()
}

/// The country of an EU-style VAT id: its two-letter prefix (`EL` is Greece, `GR`).
pub(super) fn vat_country(id: &str) -> Option<String> {
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
