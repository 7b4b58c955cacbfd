//! The PDFs parsed back with poppler-utils (`pdftotext`, `pdfimages`, `pdffonts`):
//! what a reader, a search index or an accountant's tool gets out of them.
//!
//! These tests need poppler-utils and fail (not skip) without it.

use std::path::PathBuf;
use std::process::Command;

use billrun_core::Currency;
use billrun_render::{render_html, render_pdf, sample, sample_long, sample_with, InvoiceDocument};

struct Pdf {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn write(pdf: &[u8]) -> Pdf {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("invoice.pdf");
    std::fs::write(&path, pdf).unwrap();
    Pdf { _dir: dir, path }
}

fn poppler(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!(
            "{tool} could not run ({e}): install poppler-utils (apt-get install -y poppler-utils)"
        )
    });
    assert!(
        out.status.success(),
        "{tool} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The text of the PDF (or of one page), in layout mode: one text line per
/// visual line, so a line's name and its amount share a line.
fn text(pdf: &Pdf, page: Option<usize>) -> String {
    let path = pdf.path.to_str().unwrap();
    match page {
        Some(p) => {
            let p = p.to_string();
            poppler("pdftotext", &["-layout", "-f", &p, "-l", &p, path, "-"])
        }
        None => poppler("pdftotext", &["-layout", path, "-"]),
    }
}

fn pages(pdf: &Pdf) -> usize {
    let info = poppler("pdfinfo", &[pdf.path.to_str().unwrap()]);
    info.lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .expect("pdfinfo prints Pages:")
        .trim()
        .parse()
        .unwrap()
}

fn assert_has(text: &str, what: &str) {
    assert!(
        text.contains(what),
        "{what:?} not found in the PDF text:\n{text}"
    );
}

/// Every charge line's name shares a text line with its amount.
fn assert_lines(doc: &InvoiceDocument, text: &str) {
    for g in &doc.groups {
        assert_has(text, &g.name);
        for l in &g.lines {
            let row = text
                .lines()
                .find(|t| t.contains(&l.display_name))
                .unwrap_or_else(|| panic!("line {:?} not in the PDF", l.display_name));
            assert!(
                row.contains(&l.amount.display),
                "{:?} lacks its amount {}",
                row,
                l.amount.display
            );
            if let Some(q) = &l.quantity {
                assert!(row.contains(q.as_str()), "{row:?} lacks its quantity {q}");
            }
            for s in &l.sub_lines {
                assert_has(text, &s.amount.display);
                if let Some(d) = &s.description {
                    assert_has(text, d);
                }
            }
        }
    }
}

#[test]
fn typical_invoice_reads_back_completely() {
    let doc = sample();
    let pdf = write(&render_pdf(&doc));
    let t = text(&pdf, None);
    for s in [
        "INVOICE",
        "INV-2026-000042",
        "1 Feb 2026",
        "3 Mar 2026",
        "Net 30",
        "1 Jan 2026 – 31 Jan 2026",
        "1 Feb 2026 – 28 Feb 2026",
        "Northwind Cloud GmbH",
        "Friedrichstraße 68",
        "10117 Berlin",
        "Tax ID DE 811 907 980",
        "billing@northwind.example",
        "+49 30 1234 5670",
        "IBAN DE89 3704 0044 0532 0130 00",
        "BIC COBADEFFXXX",
        "Thank you for your business.",
        "Müller Analytics GmbH",
        "Account: Müller – Production",
        "Hauptstraße 5",
        "80331 München",
        "ap@mueller.example",
        "Description",
        "Unit price",
    ] {
        assert_has(&t, s);
    }
    assert_lines(&doc, &t);
    let row = |label: &str| {
        t.lines()
            .find(|l| l.contains(label))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        row("Subtotal").contains(&doc.sub_total.display),
        "{}",
        row("Subtotal")
    );
    assert!(row("true-up").contains(&doc.commitment_true_up.as_ref().unwrap().display));
    assert!(
        row("Total").contains(&doc.total.display),
        "{}",
        row("Total")
    );
    assert_eq!(doc.total.display, "$5,185.33"); // pinned: a layout change must not change numbers
    let n = pages(&pdf);
    assert!(n <= 2, "a 10-line invoice on {n} pages");
    assert_has(&t, &format!("Page 1 of {n}"));
}

#[test]
fn the_logo_is_embedded_as_an_image() {
    let bytes = render_pdf(&sample());
    let pdf = write(&bytes);
    let list = poppler("pdfimages", &["-list", pdf.path.to_str().unwrap()]);
    // The logo is one image (plus its transparency as a soft mask).
    let images: Vec<&str> = list
        .lines()
        .skip(2)
        .filter(|l| l.split_whitespace().nth(2) == Some("image"))
        .collect();
    assert_eq!(images.len(), 1, "{list}");
    let cols: Vec<&str> = images[0].split_whitespace().collect();
    assert_eq!((cols[3], cols[4]), ("480", "128"), "{list}");
    let no_logo = InvoiceDocument {
        organisation: billrun_render::Organisation {
            logo: None,
            ..sample().organisation
        },
        ..sample()
    };
    let pdf = write(&render_pdf(&no_logo));
    let list = poppler("pdfimages", &["-list", pdf.path.to_str().unwrap()]);
    assert_eq!(list.lines().count(), 2, "an image without a logo: {list}");
    assert_has(&text(&pdf, None), "Northwind Cloud");
}

#[test]
fn fonts_are_embedded_and_subset() {
    let pdf = write(&render_pdf(&sample()));
    let fonts = poppler("pdffonts", &[pdf.path.to_str().unwrap()]);
    let rows: Vec<&str> = fonts.lines().skip(2).collect();
    assert_eq!(rows.len(), 2, "{fonts}");
    for r in rows {
        let cols: Vec<&str> = r.split_whitespace().collect();
        // name type encoding emb sub uni ...: embedded yes, unicode map yes
        assert!(cols.iter().filter(|c| **c == "yes").count() >= 2, "{r}");
    }
    let size = std::fs::metadata(&pdf.path).unwrap().len();
    assert!(size < 200_000, "PDF is {size} bytes: fonts not subset?");
}

#[test]
fn a_long_invoice_spans_pages_with_the_header_repeated() {
    let doc = sample_long();
    assert_eq!(doc.line_count, 120);
    let pdf = write(&render_pdf(&doc));
    let n = pages(&pdf);
    assert!(n >= 3, "120 lines on {n} pages");
    for p in 1..=n {
        let t = text(&pdf, Some(p));
        assert_has(&t, &format!("Page {p} of {n}"));
        assert_has(&t, "INV-2026-000042");
        if !t.contains(" · project ") {
            assert_eq!(p, n, "page {p} has no lines but is not the last:\n{t}");
            continue; // totals and notes only
        }
        let header = t
            .lines()
            .find(|l| l.contains("Description"))
            .unwrap_or_else(|| panic!("page {p} has no table header:\n{t}"));
        for col in ["Quantity", "Unit price", "Amount"] {
            assert!(header.contains(col), "page {p} header {header:?}");
        }
    }
    let all = text(&pdf, None);
    assert_lines(&doc, &all);
    assert_has(&text(&pdf, Some(n)), &doc.total.display);
}

#[test]
fn unicode_names_and_currency_symbols_extract() {
    for (currency, symbol) in [(Currency::EUR, "€"), (Currency::JPY, "¥")] {
        let doc = sample_with(10, currency);
        assert!(doc.total.display.starts_with(symbol));
        let t = text(&write(&render_pdf(&doc)), None);
        assert_has(&t, "Müller Analytics GmbH");
        assert_has(&t, "München");
        assert_has(&t, &doc.total.display);
        assert_lines(&doc, &t);
    }
    let bhd = sample_with(10, Currency::parse("BHD").unwrap());
    let t = text(&write(&render_pdf(&bhd)), None);
    assert!(bhd.total.display.starts_with("BHD "));
    assert_has(&t, &bhd.total.display);
}

#[test]
fn a_hostile_name_is_text_in_the_pdf_and_escaped_in_the_html() {
    let mut doc = sample();
    let name = "<script>alert(1)</script> & Co";
    doc.customer.name = name.into();
    let t = text(&write(&render_pdf(&doc)), None);
    assert_has(&t, name);
    let html = render_html(&doc).unwrap();
    assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt; &amp; Co"));
    assert!(!html.contains(name));
}

/// "What the template says is what the PDF shows": every value the built-in HTML
/// template prints, the built-in PDF shows too.
#[test]
fn builtin_html_and_pdf_show_the_same_values() {
    let doc = sample();
    let html = render_html(&doc).unwrap();
    let t = text(&write(&render_pdf(&doc)), None);
    let mut values: Vec<String> = vec![
        doc.number.clone(),
        doc.customer.name.clone(),
        doc.billing_details.legal_name.clone(),
        doc.sub_total.display.clone(),
        doc.credits.display.clone(),
        doc.total.display.clone(),
        doc.amount_due.display.clone(),
        doc.currency.code.clone(),
    ];
    values.extend(doc.billing_details.address_lines.iter().cloned());
    values.extend(doc.billing_details.payment_instructions.iter().cloned());
    values.extend(doc.periods.iter().map(|p| p.period.display.to_string()));
    for g in &doc.groups {
        values.push(g.amount.display.clone());
        for l in &g.lines {
            values.push(l.display_name.clone());
            values.extend(l.unit_price.as_ref().map(|u| u.display.clone()));
            values.extend(l.sub_lines.iter().map(|s| s.amount.display.clone()));
        }
    }
    for v in values {
        assert!(unescape(&html).contains(&v), "HTML lacks {v:?}");
        assert!(t.contains(&v), "PDF lacks {v:?}");
    }
    // And the labels both use.
    for label in [
        "Invoice date",
        "Due date",
        "Net terms",
        "In arrears",
        "In advance",
        "Subtotal",
        "Credits",
        "Amount due",
        "PAYMENT",
        "BILL TO",
    ] {
        assert!(html.contains(label), "HTML lacks {label}");
        assert!(t.contains(label), "PDF lacks {label}");
    }
}

fn unescape(html: &str) -> String {
    html.replace("&amp;", "&")
        .replace("&#x2F;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

#[cfg(feature = "html-pdf")]
#[test]
fn an_organisation_template_goes_to_pdf_through_its_html() {
    let t = billrun_render::Template::parse(
        r#"<html><body style="font-family: 'DejaVu Sans'">
           <img src="{{ organisation.logo.src }}" style="width: 180px; height: 48px">
           <h1>Rechnung {{ number }}</h1>
           <p>Kunde: {{ customer.name }}</p>
           <p>Gesamt: {{ total.display }}</p>
           </body></html>"#,
    )
    .unwrap();
    let mut doc = sample_with(10, Currency::EUR);
    doc.customer.name = "<script>alert(1)</script> & Müller".into();
    let pdf = write(&t.render_pdf(&doc).unwrap());
    let text = text(&pdf, None);
    assert_has(&text, "Rechnung INV-2026-000042");
    assert_has(&text, "Kunde: <script>alert(1)</script> & Müller");
    assert_has(&text, &format!("Gesamt: {}", doc.total.display));
    assert!(
        !text.contains("Analyst seats"),
        "the organisation template lists no lines"
    );
    let list = poppler("pdfimages", &["-list", pdf.path.to_str().unwrap()]);
    let images = list
        .lines()
        .skip(2)
        .filter(|l| l.split_whitespace().nth(2) == Some("image"))
        .count();
    assert_eq!(images, 1, "one logo image: {list}");
}
