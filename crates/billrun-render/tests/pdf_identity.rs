//! The same document gives the same PDF file, byte for byte, however many PDFs the
//! process rendered before (README "PDF documents": "a re-render gives the same
//! file"); the file identifier (`/ID`) follows the content. printpdf 0.12 names
//! fonts and images and writes `/ID` from a process-wide counter, so without the
//! fixed names and [`billrun_render::pdf::file_id`] every render differed.

use billrun_render::{render_facturx, render_pdf, sample, sample_long, EInvoiceKind};

/// The trailer's `/ID` pair of a PDF file.
fn file_id(pdf: &[u8]) -> Vec<Vec<u8>> {
    let doc = lopdf::Document::load_mem(pdf).expect("the PDF parses");
    doc.trailer
        .get(b"ID")
        .and_then(|o| o.as_array())
        .expect("a /ID array")
        .iter()
        .map(|o| o.as_str().expect("a string").to_vec())
        .collect()
}

#[test]
fn a_rerender_gives_the_same_bytes_and_another_invoice_another_id() {
    let doc = sample();
    let first = render_pdf(&doc);
    // Other documents in between move printpdf's counter on.
    let _ = render_pdf(&sample_long());
    let second = render_pdf(&doc);
    assert!(first == second, "the same invoice rendered twice differs");
    let id = file_id(&first);
    assert_eq!(id.len(), 2);
    assert_eq!(id[0], id[1], "first written: both halves the same");
    assert_eq!(id[0].len(), 32, "{:?}", String::from_utf8_lossy(&id[0]));
    assert!(id[0].iter().all(u8::is_ascii_hexdigit));

    // Another number, or another amount: another file and another /ID.
    let mut other = sample();
    other.number = "INV-2026-000043".into();
    assert_ne!(file_id(&render_pdf(&other)), id);
    let mut other = sample();
    other.total.display = "$1.00".into();
    assert_ne!(file_id(&render_pdf(&other)), id);
    // Without a logo (no image resource) it is just as stable.
    let mut plain = sample();
    plain.organisation.logo = None;
    assert!(render_pdf(&plain) == render_pdf(&plain));
}

#[test]
fn a_facturx_rerender_gives_the_same_bytes() {
    let doc = sample();
    let (first, xml) = render_facturx(&doc, &EInvoiceKind::invoice()).unwrap();
    let _ = render_pdf(&sample_long());
    let (second, _) = render_facturx(&doc, &EInvoiceKind::invoice()).unwrap();
    assert!(
        first == second,
        "the same Factur-X invoice rendered twice differs"
    );
    assert_eq!(file_id(&first)[0].len(), 32);
    assert!(!xml.is_empty());
}
