//! Invoice documents for billrun: one view model, rendered to HTML and PDF.
//!
//! No database and no I/O: callers pass the data in and get bytes back (like
//! Meteroid's `meteroid-invoicing`). The application maps a stored invoice into an
//! [`InvoiceHeader`] plus its line tree and calls [`InvoiceDocument::from_lines`];
//! everything else works from the [`InvoiceDocument`].
//!
//! ```
//! use billrun_render::{render_html, render_pdf, sample};
//!
//! let doc = sample(); // an InvoiceDocument; the app builds one with from_lines
//! let html = render_html(&doc).unwrap();
//! assert!(html.contains("INV-2026-000042"));
//! let pdf = render_pdf(&doc);
//! assert!(pdf.starts_with(b"%PDF"));
//! ```
//!
//! # Templates and the PDF
//! - The **built-in template** (`templates/invoice.html.tera`) gives the HTML; its
//!   PDF is drawn directly with printpdf by [`pdf::layout`], which shows the same
//!   fields in the same order. Well over 200 PDFs per second on 2 cores.
//! - An **organisation template** ([`Template::parse`]) gives the HTML, and its PDF
//!   goes through printpdf's HTML renderer (feature `html-pdf`, on by default), so
//!   the PDF shows what that template says. It costs tens of milliseconds per
//!   invoice (see [`bench()`] and the README for measured figures).
//!
//! Logos are checked on upload by [`Logo::from_bytes`].

#![warn(missing_docs)]

pub mod bench;
mod convert;
pub mod countries;
pub mod credit_note;
mod describe;
pub mod facturx;
pub mod html;
pub mod logo;
pub mod model;
pub mod money;
pub mod pdf;
pub mod sample;
pub mod sandbox;

pub use bench::{bench, BenchOptions, BenchReport};
pub use convert::{readable_name, InvoiceHeader};
pub use credit_note::CreditNoteHeader;
pub use describe::description as describe_line;
pub use facturx::{cii_xml, render_facturx, DocumentType, EInvoiceError, EInvoiceKind};
pub use html::{
    check_policy, context_value, render_html, render_html_with, Template, BUILTIN_TEMPLATE,
    MAX_RANGE,
};
pub use logo::{Logo, LogoError, LogoFormat};
pub use model::*;
pub use money::{format_money, format_quantity, Amount};
#[cfg(feature = "html-pdf")]
pub use pdf::render_pdf_from_html;
pub use pdf::{render_pdf, PdfInfo};
pub use sample::{sample, sample_long, sample_with};

/// Why a document could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The template does not compile, or names something the view model lacks.
    #[error("template: {0}")]
    Template(String),
    /// The template does something organisation templates may not (see
    /// [`html::check_policy`]): the reasons, `; `-separated.
    #[error("template refused: {0}")]
    Forbidden(String),
    /// printpdf's HTML renderer failed on an organisation template's HTML.
    #[error("HTML to PDF: {0}")]
    HtmlLayout(String),
}
