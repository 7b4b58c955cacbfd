//! PDF output.
//!
//! Two routes, one per kind of template (see the crate docs for the choice):
//!
//! - [`render_pdf`]: the built-in layout, drawn directly with printpdf
//!   ([`layout`]). Well under a millisecond per page; used for the built-in
//!   template, whose HTML shows the same fields.
//! - [`render_pdf_from_html`] (feature `html-pdf`, on by default): any HTML, laid
//!   out by printpdf's HTML renderer (azul). Tens of milliseconds per invoice; used
//!   for organisation templates, so their PDF shows what their HTML says.
//!
//! Both embed DejaVu Sans (subset to the glyphs used).

pub mod canvas;
pub mod fonts;
#[cfg(feature = "html-pdf")]
mod from_html;
pub mod image;
pub mod layout;

use chrono::{DateTime, Utc};
use printpdf::{FontId, Mm, PdfDocument, PdfFont, PdfPage, PdfSaveOptions, XObject, XObjectId};

use crate::model::InvoiceDocument;
use canvas::FontIds;
use fonts::Fonts;
#[cfg(feature = "html-pdf")]
pub use from_html::render_pdf_from_html;
use layout::PlacedLogo;

/// Draws `doc` with the built-in layout and returns the PDF file. Its metadata
/// ([`PdfInfo`]): title "Invoice NUMBER", author the seller, creation date the
/// invoice's finalization.
pub fn render_pdf(doc: &InvoiceDocument) -> Vec<u8> {
    save(layout_document(doc))
}

/// [`render_pdf`]'s document before its streams are compressed and it is saved
/// (the Factur-X PDF adds its parts to it: `crate::facturx::render_facturx`).
pub(crate) fn layout_document(doc: &InvoiceDocument) -> lopdf::Document {
    let fonts = Fonts::get();
    let mut pdf = PdfDocument::new(&format!("{} {}", doc.title, doc.number));
    PdfInfo::of(doc).apply(&mut pdf);
    // Fixed resource names instead of printpdf's `add_font` / `add_xobject` ones,
    // which come from a process-wide counter (see [`file_id`]).
    let ids = FontIds {
        regular: FontId(REGULAR_FONT.to_string()),
        bold: FontId(BOLD_FONT.to_string()),
    };
    for (id, font) in [(&ids.regular, &fonts.regular), (&ids.bold, &fonts.bold)] {
        pdf.resources
            .fonts
            .map
            .insert(id.clone(), PdfFont::new(font.clone()));
    }
    let logo = doc.organisation.logo.as_ref().map(|l| {
        let id = XObjectId(LOGO.to_string());
        pdf.resources
            .xobjects
            .map
            .insert(id.clone(), XObject::External(l.pdf_image().clone()));
        PlacedLogo {
            id,
            px: (l.width(), l.height()),
        }
    });
    let pages = layout::draw(doc, &ids, logo.as_ref())
        .into_iter()
        .map(|ops| PdfPage::new(Mm(210.0), Mm(297.0), ops))
        .collect();
    pdf.with_pages(pages);
    let opts = PdfSaveOptions {
        subset_fonts: true,
        optimize: false,
        ..Default::default()
    };
    // Save warnings are informational (e.g. which glyphs were subset); the layout
    // only uses operations printpdf supports.
    let mut lo = pdf.to_lopdf_document(&opts, &mut Vec::new());
    set_file_id(&mut lo);
    lo
}

/// The resource name of the regular face. Its first six capitals are the subset
/// tag of the embedded font (`BRSANS+DejaVuSans`; ISO 32000-1 §9.6.4 asks six
/// upper-case letters), as the bold face's.
const REGULAR_FONT: &str = "BRSANS";
/// The resource name of the bold face.
const BOLD_FONT: &str = "BRBOLD";
/// The resource name of the logo image.
const LOGO: &str = "Logo";

/// The file identifier (the trailer's `/ID`, ISO 32000-1 §14.4) of a document laid
/// out by [`layout_document`]: a digest of its streams (the pages' drawing, the font
/// subsets, the logo) and its document information, both halves the same. printpdf
/// writes a random one and names fonts and images from a process-wide counter, so
/// re-rendering an invoice gave another file; with this and the fixed resource
/// names the same document gives the same bytes (README "PDF documents"), and
/// another document (another number, line or amount) another `/ID`.
pub fn file_id(lo: &lopdf::Document) -> String {
    let mut h = Fnv::default();
    for (id, object) in &lo.objects {
        match object {
            lopdf::Object::Stream(s) => h.write(&s.content),
            other => h.write(format!("{id:?}{other:?}").as_bytes()),
        }
    }
    format!(
        "{:016x}{:016x}",
        h.0,
        h.0.rotate_left(29) ^ 0x6269_6c6c_7275_6e00
    )
}

/// Replaces printpdf's random `/ID` with [`file_id`].
fn set_file_id(lo: &mut lopdf::Document) {
    let id = lopdf::Object::String(file_id(lo).into_bytes(), lopdf::StringFormat::Literal);
    lo.trailer
        .set("ID", lopdf::Object::Array(vec![id.clone(), id]));
}

/// FNV-1a, 64 bits, fed in pieces: an identifier, not a security digest.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Compresses `lo`'s streams ([`compress_fast`]) and writes it out.
pub(crate) fn save(mut lo: lopdf::Document) -> Vec<u8> {
    compress_fast(&mut lo);
    let mut out = Vec::with_capacity(64 * 1024);
    lo.save_to(&mut out)
        .expect("writing a PDF to memory cannot fail");
    out
}

/// The document information a PDF reader shows, for both PDF routes: title
/// `"Invoice NUMBER"`, author the seller (its legal name, else the organisation's
/// name), creator and producer `billrun`, and as creation and modification date the
/// invoice's finalization instant (UTC): the document is what the invoice was then,
/// whenever it is (re-)rendered, so the same invoice always gives the same file. A
/// draft has no finalization: its date is left at printpdf's default (the Unix
/// epoch), never the clock, for the same reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdfInfo {
    /// `"Invoice INV-2026-0042"`.
    pub title: String,
    /// The seller.
    pub author: String,
    /// When the invoice was finalized.
    pub created: Option<DateTime<Utc>>,
}

impl PdfInfo {
    /// The information of `doc`'s PDF.
    pub fn of(doc: &InvoiceDocument) -> PdfInfo {
        PdfInfo {
            title: format!("{} {}", doc.title, doc.number),
            author: if doc.billing_details.legal_name.trim().is_empty() {
                doc.organisation.name.clone()
            } else {
                doc.billing_details.legal_name.clone()
            },
            created: doc.finalized_at,
        }
    }

    /// The same from a document serialised as a template context (what the render
    /// sandbox receives); missing fields are left empty.
    pub fn of_context(v: &serde_json::Value) -> PdfInfo {
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().trim().to_string();
        let legal = text(&v["billing_details"]["legal_name"]);
        PdfInfo {
            title: format!(
                "{} {}",
                v["title"].as_str().unwrap_or("Invoice"),
                text(&v["number"])
            ),
            author: if legal.is_empty() {
                text(&v["organisation"]["name"])
            } else {
                legal
            },
            created: v["finalized_at"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc)),
        }
    }

    /// Writes it into `pdf`'s document information.
    pub fn apply(&self, pdf: &mut PdfDocument) {
        let info = &mut pdf.metadata.info;
        info.document_title = self.title.clone();
        info.author = self.author.clone();
        info.creator = "billrun".to_string();
        info.producer = "billrun".to_string();
        if let Some(t) = self
            .created
            .and_then(|t| printpdf::OffsetDateTime::from_unix_timestamp(t.timestamp()).ok())
        {
            info.creation_date = t;
            info.modification_date = t;
            info.metadata_date = t;
        }
    }
}

/// Flate-compresses every stream not compressed yet, at zlib's fastest level.
/// printpdf's `optimize` uses lopdf's `Compression::best()`, which took more than
/// half of an invoice's time; level 1 costs a fraction of that for files a few
/// percent larger (content streams and font subsets compress easily).
pub(crate) fn compress_fast(doc: &mut lopdf::Document) {
    use flate2::{write::ZlibEncoder, Compression};
    use std::io::Write;
    for obj in doc.objects.values_mut() {
        if let lopdf::Object::Stream(stream) = obj {
            if !stream.allows_compression || stream.dict.get(b"Filter").is_ok() {
                continue;
            }
            let mut e = ZlibEncoder::new(Vec::new(), Compression::fast());
            if e.write_all(&stream.content).is_ok() {
                if let Ok(packed) = e.finish() {
                    if packed.len() < stream.content.len() {
                        stream.dict.set("Filter", "FlateDecode");
                        stream.set_content(packed);
                    }
                }
            }
        }
    }
}
