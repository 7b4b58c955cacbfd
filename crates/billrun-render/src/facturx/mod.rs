//! E-invoices: the EN 16931 XML (UN/CEFACT CII, Factur-X profile EN 16931) of an
//! invoice or credit note, and the Factur-X PDF that carries it (PDF/A-3 with the
//! XML as an associated file, `factur-x.xml`).
//!
//! Everything maps from the same [`InvoiceDocument`] as the PDF and HTML
//! ([`cii_xml`], field by field in [`xml`]); [`embed`] adds the XML, the PDF/A-3
//! metadata (XMP with the Factur-X extension schema) and an sRGB output intent to a
//! PDF. [`render_facturx`] does both for the built-in layout. Sources: EN 16931-1
//! (semantic model, business terms BT-n and rules BR-n), the Factur-X 1.0.07
//! specification (FNFE-MPE / FeRD, <https://fnfe-mpe.org/factur-x/>), and the
//! reference `factur-x` library (<https://github.com/akretion/factur-x>), whose XSD
//! checks the tests run. README "E-invoices (Factur-X)" lists the choices.

pub mod embed;
mod parties;
mod writer;
pub mod xml;

use chrono::NaiveDate;

use crate::model::InvoiceDocument;

pub use embed::{embed, extract};
pub use parties::iban;
pub use xml::cii_xml;

/// The name of the XML inside the PDF and attached to emails (Factur-X 1.0 §6.2.2).
pub const FILE_NAME: &str = "factur-x.xml";

/// The document type (EN 16931 BT-3, UNTDID 1001).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentType {
    /// `380`: commercial invoice.
    Invoice,
    /// `381`: credit note (amounts positive, as on the invoice they credit).
    CreditNote,
}

impl DocumentType {
    /// The UNTDID 1001 code (`"380"`, `"381"`).
    pub fn code(self) -> &'static str {
        match self {
            DocumentType::Invoice => "380",
            DocumentType::CreditNote => "381",
        }
    }
}

/// What kind of e-invoice to write: its type, and for a credit note the invoice it
/// credits (EN 16931 BG-3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EInvoiceKind {
    /// BT-3.
    pub document_type: DocumentType,
    /// BT-25 (the preceding invoice's number) and BT-26 (its issue date).
    pub preceding_invoice: Option<(String, Option<NaiveDate>)>,
}

impl EInvoiceKind {
    /// A commercial invoice (380) referring to no other invoice.
    pub fn invoice() -> Self {
        EInvoiceKind {
            document_type: DocumentType::Invoice,
            preceding_invoice: None,
        }
    }

    /// A credit note (381) for the invoice numbered `number`, issued on `issued`.
    pub fn credit_note(number: &str, issued: Option<NaiveDate>) -> Self {
        EInvoiceKind {
            document_type: DocumentType::CreditNote,
            preceding_invoice: Some((number.to_string(), issued)),
        }
    }
}

/// Why an e-invoice could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EInvoiceError {
    /// The document is a draft: it has no number, issue date or finalization yet
    /// (EN 16931 BT-1 and BT-2 are mandatory).
    #[error("invoice {0} is not finalized: a draft has no e-invoice")]
    Draft(String),
    /// The PDF to embed the XML in could not be read.
    #[error("the PDF to embed factur-x.xml in does not parse: {0}")]
    Pdf(String),
}

/// The built-in layout's PDF of `doc` ([`crate::render_pdf`]) as a Factur-X PDF:
/// the CII XML of `doc` as `kind` ([`cii_xml`]) embedded by [`embed`]. Returns the
/// PDF and the XML (the email attaches it). Errors: a draft
/// ([`EInvoiceError::Draft`]).
pub fn render_facturx(
    doc: &InvoiceDocument,
    kind: &EInvoiceKind,
) -> Result<(Vec<u8>, Vec<u8>), EInvoiceError> {
    let xml = cii_xml(doc, kind)?;
    let mut lo = crate::pdf::layout_document(doc);
    embed::embed_into(&mut lo, &xml, &crate::PdfInfo::of(doc))?;
    Ok((crate::pdf::save(lo), xml))
}
