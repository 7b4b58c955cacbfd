//! Factur-X files checked by the reference library, `factur-x` (Akretion,
//! <https://github.com/akretion/factur-x>), in Python: the XML against the Factur-X
//! EN 16931 XSD (`xml_check_xsd`), the XML extracted back from the PDF
//! (`get_facturx_xml_from_pdf`, which checks it against the XSD again) and compared
//! byte for byte, its profile detected as `en16931`; and with pypdf (its
//! dependency) the PDF/A-3 parts: `/AF` with `/AFRelationship /Alternative`, the
//! XMP (`pdfaid:part 3`, conformance B, the Factur-X properties), the sRGB output
//! intent, the document information.
//!
//! The virtual environment is `target/facturx-venv` (or `$BILLRUN_FACTURX_VENV`).
//! `.ci/run` creates it; when it is missing, the first test here creates it
//! (`python3 -m venv`, then `pip install factur-x==7.8`), which needs the package
//! index. These tests fail (not skip) when it cannot be made.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use billrun_core::tax::{TaxRate, TaxSetup, TaxTreatment};
use billrun_core::Currency;
use billrun_render::facturx::{embed, extract};
use billrun_render::sample::sample_parts;
use billrun_render::{
    cii_xml, render_facturx, render_pdf_from_html, EInvoiceKind, InvoiceDocument, PdfInfo,
};
use rust_decimal_macros::dec;

/// The library's version the checks run with.
const FACTURX: &str = "factur-x==7.8";

/// Serialises the creation of the virtual environment between tests.
static VENV: Mutex<()> = Mutex::new(());

/// The checks, run as `python check.py XML PDF`; prints `ok LEVEL`.
const CHECK: &str = r#"
import io, sys
import facturx, pypdf
from lxml import etree
xml = open(sys.argv[1], 'rb').read()
pdf = open(sys.argv[2], 'rb').read()
facturx.xml_check_xsd(xml, flavor='factur-x', level='en16931')
name, extracted = facturx.get_facturx_xml_from_pdf(pdf, check_xsd=True)
assert name == 'factur-x.xml', 'no valid factur-x.xml in the PDF: %r' % (name,)
assert extracted == xml, 'the XML in the PDF is not the XML'
level = facturx.get_level(etree.fromstring(xml))
assert level == 'en16931', level
reader = pypdf.PdfReader(io.BytesIO(pdf))
root = reader.trailer['/Root']
spec = root['/AF'][0].get_object()
assert spec['/AFRelationship'] == '/Alternative', spec
assert spec['/EF']['/F'].get_object()['/Subtype'] == '/text/xml'
xmp = root['/Metadata'].get_object().get_data().decode('utf-8')
for part in ('<pdfaid:part>3</pdfaid:part>', '<pdfaid:conformance>B</pdfaid:conformance>',
             '<fx:DocumentType>INVOICE</fx:DocumentType>',
             '<fx:DocumentFileName>factur-x.xml</fx:DocumentFileName>',
             '<fx:Version>1.0</fx:Version>',
             '<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>'):
    assert part in xmp, part
intent = root['/OutputIntents'][0].get_object()
assert intent['/S'] == '/GTS_PDFA1', intent
assert len(intent['/DestOutputProfile'].get_object().get_data()) == 736
info = reader.metadata
print('ok', level, info.title, '|', info.author, '|', info['/CreationDate'])
"#;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The virtual environment's python, created with the library when missing.
fn python() -> PathBuf {
    let venv = std::env::var_os("BILLRUN_FACTURX_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/facturx-venv"));
    let python = venv.join("bin/python");
    let _guard = VENV.lock().unwrap_or_else(|e| e.into_inner());
    let ready = |python: &Path| {
        Command::new(python)
            .args(["-c", "import facturx"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !ready(&python) {
        let run = |cmd: &mut Command| {
            let out = cmd.output().expect("running python3");
            assert!(
                out.status.success(),
                "{cmd:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv));
        run(Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            FACTURX,
        ]));
    }
    python
}

/// Runs the checks on `xml` and `pdf`; returns what the script printed.
fn check(xml: &[u8], pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (x, p, s) = (
        dir.path().join("factur-x.xml"),
        dir.path().join("invoice.pdf"),
        dir.path().join("check.py"),
    );
    std::fs::write(&x, xml).unwrap();
    std::fs::write(&p, pdf).unwrap();
    std::fs::write(&s, CHECK).unwrap();
    let out = Command::new(python())
        .arg(&s)
        .arg(&x)
        .arg(&p)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "factur-x checks failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&xml[..xml.len().min(200_000)])
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The sample (Northwind Cloud GmbH, Berlin, billing Müller Analytics GmbH, 3
/// charge lines and a true-up) taxed under `treatment` with a German 19 % default.
fn taxed(currency: Currency, treatment: Option<TaxTreatment>) -> InvoiceDocument {
    let (header, mut lines) = sample_parts(3, currency);
    if let Some(treatment) = treatment {
        let setup = TaxSetup {
            rates: vec![TaxRate {
                code: "DE_STANDARD".into(),
                name: "VAT 19%".into(),
                category: "S".into(),
                percentage: dec!(19),
                valid_from: None,
                valid_until: None,
                is_default: true,
            }],
            treatment,
            card_rates: Default::default(),
        };
        lines
            .apply_taxes(&setup, "2026-02-01".parse().unwrap())
            .unwrap();
    }
    InvoiceDocument::from_lines(header, &lines)
}

#[test]
fn a_german_19_percent_invoice_passes_the_factur_x_checks() {
    let doc = taxed(Currency::EUR, Some(TaxTreatment::Standard));
    assert!(doc.tax_total.value > dec!(0));
    let (pdf, xml) = render_facturx(&doc, &EInvoiceKind::invoice()).unwrap();
    // What the email attaches: the XML read back from the stored PDF.
    assert_eq!(extract(&pdf).as_deref(), Some(xml.as_slice()));
    assert_eq!(extract(&billrun_render::render_pdf(&doc)), None);
    let out = check(&xml, &pdf);
    // The document information the XMP repeats: title, seller, finalization.
    assert_eq!(
        out.trim(),
        "ok en16931 Invoice INV-2026-000042 | Northwind Cloud GmbH | D:20260201063000+00'00'"
    );
}

#[test]
fn reverse_charge_untaxed_and_credit_note_files_pass_the_factur_x_checks() {
    for (doc, kind) in [
        (
            taxed(Currency::EUR, Some(TaxTreatment::ReverseCharge)),
            EInvoiceKind::invoice(),
        ),
        (
            taxed(Currency::USD, Some(TaxTreatment::OutsideScope)),
            EInvoiceKind::invoice(),
        ),
        (taxed(Currency::USD, None), EInvoiceKind::invoice()),
        (
            taxed(Currency::EUR, Some(TaxTreatment::Standard)),
            EInvoiceKind::credit_note("INV-2026-000041", "2026-01-01".parse().ok()),
        ),
    ] {
        let (pdf, xml) = render_facturx(&doc, &kind).unwrap();
        assert!(check(&xml, &pdf).starts_with("ok en16931"));
    }
}

#[test]
fn an_organisation_templates_pdf_gets_the_xml_too() {
    // The sandbox route: printpdf's HTML renderer, then `embed` on the bytes.
    let doc = taxed(Currency::EUR, Some(TaxTreatment::Standard));
    let html = "<html><body><h1>Invoice INV-2026-000042</h1></body></html>";
    let plain = render_pdf_from_html(html, None, &PdfInfo::of(&doc)).unwrap();
    let xml = cii_xml(&doc, &EInvoiceKind::invoice()).unwrap();
    let pdf = embed(&plain, &xml, &PdfInfo::of(&doc)).unwrap();
    assert!(check(&xml, &pdf).starts_with("ok en16931"));
}
