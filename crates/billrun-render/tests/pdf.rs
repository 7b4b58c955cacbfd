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

/// One word of a PDF as `pdftotext -bbox` gives it: its page (from 1) and its box
/// in points from the top-left corner of the page.
#[derive(Debug, Clone)]
struct Word {
    page: usize,
    text: String,
    x0: f32,
    y0: f32,
    x1: f32,
    y1: f32,
}

impl Word {
    /// Whether the boxes of two words on the same page overlap by more than
    /// `slack` points each way (touching boxes of adjacent lines do not count).
    fn overlaps(&self, o: &Word, slack: f32) -> bool {
        self.page == o.page
            && self.x0 + slack < o.x1
            && o.x0 + slack < self.x1
            && self.y0 + slack < o.y1
            && o.y0 + slack < self.y1
    }
}

fn words(pdf: &Pdf) -> Vec<Word> {
    let out = poppler("pdftotext", &["-bbox", pdf.path.to_str().unwrap(), "-"]);
    let attr = |line: &str, name: &str| -> f32 {
        let start = line.find(&format!("{name}=\"")).expect(name) + name.len() + 2;
        let len = line[start..].find('"').unwrap();
        line[start..start + len].parse().unwrap()
    };
    let mut page = 0;
    let mut found = Vec::new();
    for line in out.lines().map(str::trim) {
        if line.starts_with("<page ") {
            page += 1;
        } else if line.starts_with("<word ") {
            let text = &line[line.find('>').unwrap() + 1..line.rfind("</word>").unwrap()];
            found.push(Word {
                page,
                text: unescape(text).replace("&quot;", "\""),
                x0: attr(line, "xMin"),
                y0: attr(line, "yMin"),
                x1: attr(line, "xMax"),
                y1: attr(line, "yMax"),
            });
        }
    }
    found
}

/// The built-in layout's margins (`pdf::layout`: 48 pt left and right on A4; the
/// body starts 44 pt from the top, the footer ends 34 pt above the bottom).
const LEFT: f32 = 48.0;
const RIGHT: f32 = 595.28 - 48.0;
const TOP: f32 = 20.0;
const BOTTOM: f32 = 841.89 - 20.0;

/// Every word lies inside the margins, and no two words overlap.
fn assert_laid_out(words: &[Word]) {
    assert!(!words.is_empty());
    for w in words {
        // pdftotext rounds boxes to hundredths.
        assert!(
            w.x0 >= LEFT - 0.05 && w.x1 <= RIGHT + 0.05 && w.y0 >= TOP && w.y1 <= BOTTOM,
            "outside the margins: {w:?}"
        );
    }
    for (i, a) in words.iter().enumerate() {
        for b in &words[i + 1..] {
            assert!(!a.overlaps(b, 0.3), "overlapping words:\n{a:?}\n{b:?}");
        }
    }
}

/// 255 characters (the input limit of names) of `words`, with spaces.
fn long_text(words: &str) -> String {
    words
        .repeat(255 / words.len() + 1)
        .chars()
        .take(255)
        .collect()
}

/// 255 characters without a space, of the widest letters: the worst case.
fn long_word() -> String {
    "WMW".repeat(85)
}

#[test]
fn the_sample_invoices_are_laid_out_inside_the_margins_without_overlaps() {
    for doc in [sample(), sample_long(), sample_with(10, Currency::JPY)] {
        assert_laid_out(&words(&write(&render_pdf(&doc))));
    }
}

#[test]
fn a_255_character_seller_name_does_not_overlap_the_invoice_title() {
    for name in [long_text("Northwind Cloud Services "), long_word()] {
        let mut doc = sample();
        // Without a logo the organisation's name is drawn beside the title; a paid
        // invoice shows its status under the number too.
        doc.organisation.logo = None;
        doc.organisation.name = name.clone();
        doc.billing_details.legal_name = name.clone();
        doc.status = billrun_render::InvoiceStatus::Paid;
        doc.status_label = "Paid".into();
        let pdf = write(&render_pdf(&doc));
        let all = words(&pdf);
        let title = all
            .iter()
            .find(|w| w.page == 1 && w.text == "INVOICE")
            .expect("the title");
        // The right column (title, number, status): nothing of the name reaches
        // into it.
        let column = ["INVOICE", "INV-2026-000042", "PAID"];
        let right: Vec<&Word> = all
            .iter()
            .filter(|w| w.page == 1 && w.y0 < 100.0 && column.contains(&w.text.as_str()))
            .collect();
        assert_eq!(right.len(), 3, "{right:?}");
        let column_x = right.iter().map(|w| w.x0).fold(f32::MAX, f32::min);
        assert!(column_x >= title.x0 - 20.0, "{right:?}");
        let beside: Vec<&Word> = all
            .iter()
            .filter(|o| o.page == 1 && o.y0 < 100.0 && !column.contains(&o.text.as_str()))
            .collect();
        assert!(beside.len() >= 3, "the name is drawn: {beside:?}");
        for other in beside {
            assert!(
                other.x1 < column_x,
                "{other:?} reaches the title column ({right:?})"
            );
        }
        assert_laid_out(&all);
        // The name starts as written, and what could not be shown ends in "…".
        let t = text(&pdf, Some(1));
        assert_has(&t, &name[..12]);
        assert_has(&t, "…");
        assert!(pages(&pdf) <= 2, "{} pages", pages(&pdf));
    }
}

/// Every free-text field of a document at its input limit (255 characters, with
/// and without spaces), many of them.
fn document_with_long_text() -> InvoiceDocument {
    let mut doc = sample();
    let spaced = long_text("Müller Analytics Holding ");
    let word = long_word();
    doc.customer.name = spaced.clone();
    doc.account.name = word.clone();
    doc.account.address_lines = vec![spaced.clone(), word.clone(), spaced.clone()];
    // 20 addresses of 254 characters (the limits of a recipient list).
    doc.account.emails = (0..20)
        .map(|i| format!("{i}{}@x.example", "a".repeat(244 - i.to_string().len())))
        .collect();
    doc.billing_details.legal_name = word.clone();
    doc.billing_details.address_lines = vec![word.clone(), spaced.clone()];
    doc.billing_details.tax_id = Some(word.clone());
    doc.billing_details.payment_instructions = vec![spaced.clone(); 12];
    doc.billing_details.footer_note = Some(long_text("Thank you for your business. ").repeat(40));
    for (gi, g) in doc.groups.iter_mut().enumerate() {
        g.name = if gi % 2 == 0 {
            word.clone()
        } else {
            spaced.clone()
        };
        for (li, l) in g.lines.iter_mut().enumerate() {
            l.display_name = if li % 2 == 0 {
                spaced.clone()
            } else {
                word.clone()
            };
            l.description = Some(word.clone());
            for s in &mut l.sub_lines {
                s.description = Some(spaced.clone());
            }
        }
    }
    doc
}

#[test]
fn long_names_wrap_inside_the_margins_and_amounts_stay_whole() {
    let doc = document_with_long_text();
    assert_eq!(doc.account.emails[0].chars().count(), 254);
    let pdf = write(&render_pdf(&doc));
    assert_laid_out(&words(&pdf));
    // Every field has a bounded number of lines (see pdf::layout's *_LINES): 10
    // lines of at most 6 + 4 lines and their sub-lines of at most 3, 30 lines of
    // payment instructions and 20 of the note fit on 5 pages; the unbounded
    // layout needed one line per 25 characters of each field.
    let n = pages(&pdf);
    assert!(n <= 5, "{n} pages");
    let t = text(&pdf, None);
    // Text is cut only where a field needs more than its lines, with "…"; the
    // numbers are all there, whole.
    assert_has(&t, "…");
    assert_has(&t, "Müller Analytics Holding Müller");
    assert_has(&t, "Account: WMWWMW");
    for g in &doc.groups {
        assert_has(&t, &g.amount.display);
        for l in &g.lines {
            assert_has(&t, &l.amount.display);
            for s in &l.sub_lines {
                assert_has(&t, &s.amount.display);
            }
        }
    }
    assert_has(&t, &doc.total.display);
    assert_has(&t, &format!("Page {n} of {n}"));
}

#[test]
fn huge_numbers_are_drawn_smaller_inside_their_columns() {
    let mut doc = sample();
    let l = &mut doc.groups[0].lines[0];
    // 28 digits, the most a Decimal has, with separators: wider than the columns.
    l.quantity = Some("1,234,567,890,123,456,789,012,345.678".into());
    l.amount.display = "$9,999,999,999,999,999,999,999,999.99".into();
    doc.total.display = "$9,999,999,999,999,999,999,999,999.99".into();
    doc.amount_due.display = doc.total.display.clone();
    doc.number = "ACME-WORLDWIDE-SUBSIDIARY-EUROPE-2026-0000000042".into();
    let pdf = write(&render_pdf(&doc));
    assert_laid_out(&words(&pdf));
    let t = text(&pdf, None);
    for v in [
        "1,234,567,890,123,456,789,012,345.678",
        "$9,999,999,999,999,999,999,999,999.99",
        "ACME-WORLDWIDE-SUBSIDIARY-EUROPE-2026-0000000042",
    ] {
        assert_has(&t, v);
    }
}

#[test]
fn a_long_invoice_with_long_names_repeats_cut_names_on_every_page() {
    let mut doc = sample_long();
    doc.customer.name = long_word();
    doc.billing_details.legal_name = long_text("Northwind Cloud Services ");
    for g in &mut doc.groups {
        g.name = long_text("usage of the platform ");
    }
    let pdf = write(&render_pdf(&doc));
    assert_laid_out(&words(&pdf));
    // Group headings of 3 lines instead of 1 take at most one page more.
    let plain = pages(&write(&render_pdf(&sample_long())));
    let n = pages(&pdf);
    assert!(n <= plain + 1, "{n} pages, {plain} with short names");
    // The continuation header and the footer cut the names to one line each.
    let t = text(&pdf, Some(2));
    assert_has(&t, "(continued)");
    assert_has(&t, "· Invoice INV-2026-000042");
    assert_has(&t, "Page 2 of");
}

#[test]
fn emoji_the_fonts_lack_print_as_the_replacement_character() {
    let mut doc = sample();
    // 🚀 and 👩‍💻 (a ZWJ sequence) are not in DejaVu; 😀 is.
    doc.account.name = "Müller 🚀 Production 👩\u{200D}💻".into();
    doc.customer.name = "Zoë 😀 GmbH".into();
    doc.groups[0].lines[0].display_name = "API calls 🇩🇪".into();
    let pdf = write(&render_pdf(&doc));
    let t = text(&pdf, None);
    assert_has(&t, "Account: Müller \u{FFFD} Production \u{FFFD}");
    assert_has(&t, "Zoë 😀 GmbH");
    assert_has(&t, "API calls \u{FFFD}");
    assert!(!t.contains('🚀') && !t.contains('💻'), "{t}");
    assert_laid_out(&words(&pdf));
    // No fallback font: the two DejaVu faces only.
    let fonts = poppler("pdffonts", &[pdf.path.to_str().unwrap()]);
    assert_eq!(fonts.lines().skip(2).count(), 2, "{fonts}");
    // The HTML keeps the characters (browsers have fallback fonts).
    let html = render_html(&doc).unwrap();
    assert!(html.contains("Müller 🚀 Production 👩\u{200D}💻"));
}

#[cfg(feature = "html-pdf")]
#[test]
fn an_organisation_templates_pdf_replaces_emoji_too() {
    let t = billrun_render::Template::parse(
        r#"<html><body style="font-family: 'DejaVu Sans'"><p>Kunde: {{ account.name }}</p></body></html>"#,
    )
    .unwrap();
    let mut doc = sample();
    doc.account.name = "Müller 🚀 Production".into();
    let text = text(&write(&t.render_pdf(&doc).unwrap()), None);
    assert_has(&text, "Kunde: Müller \u{FFFD} Production");
    assert!(!text.contains('🚀'), "{text}");
    assert!(t
        .render_html(&doc)
        .unwrap()
        .contains("Müller 🚀 Production"));
}

#[test]
fn the_html_breaks_long_words_instead_of_widening_the_page() {
    let mut doc = sample();
    doc.customer.name = long_word();
    let html = render_html(&doc).unwrap();
    // The classes that hold free text break a word that does not fit (a table
    // cell needs `anywhere`: `break-word` does not shrink its minimum width); the
    // title and the amounts do not wrap.
    let rule = html
        .lines()
        .find(|l| l.contains("overflow-wrap: anywhere"))
        .expect("an overflow-wrap rule");
    for class in [".org-name", ".block", ".lines td", ".payment", ".note"] {
        assert!(rule.contains(class), "{class} not in {rule}");
    }
    assert!(html.contains(".num { text-align: right; white-space: nowrap; }"));
    assert!(html.contains(&format!("<div class=\"strong\">{}</div>", long_word())));
}

/// The PDF's document information (`pdfinfo -isodates`): title, author (the
/// seller's legal name) and the creation date, the invoice's finalization instant
/// (the sample was finalized 2026-02-01 06:30 UTC), not the Unix epoch.
#[test]
fn the_pdf_names_the_invoice_its_seller_and_its_finalization() {
    let doc = sample();
    let pdf = write(&render_pdf(&doc));
    let info = poppler("pdfinfo", &["-isodates", pdf.path.to_str().unwrap()]);
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .map(str::trim)
            .unwrap_or_else(|| panic!("pdfinfo shows no {name}:\n{info}"))
            .to_string()
    };
    assert_eq!(field("Title"), "Invoice INV-2026-000042");
    assert_eq!(field("Author"), "Northwind Cloud GmbH");
    assert_eq!(field("CreationDate"), "2026-02-01T06:30:00Z");
    // Without a legal name the organisation's name is the author.
    let mut doc = sample();
    doc.billing_details.legal_name = String::new();
    let pdf = write(&render_pdf(&doc));
    let info = poppler("pdfinfo", &[pdf.path.to_str().unwrap()]);
    assert!(
        info.contains("Author:          Northwind Cloud\n"),
        "{info}"
    );
}

/// A Credits row only when credits were applied, in both HTML and PDF.
#[test]
fn the_credits_row_shows_only_when_there_are_credits() {
    let mut doc = sample();
    assert!(!doc.has_credits);
    let t = text(&write(&render_pdf(&doc)), None);
    assert!(!t.contains("Credits"), "{t}");
    assert!(!render_html(&doc).unwrap().contains("Credits"));
    doc.has_credits = true;
    doc.credits.display = "-$12.00".into();
    let t = text(&write(&render_pdf(&doc)), None);
    let row = t
        .lines()
        .find(|l| l.contains("Credits"))
        .unwrap_or_default();
    assert!(row.contains("-$12.00"), "{row:?}");
    let html = render_html(&doc).unwrap();
    assert!(html.contains("<td>Credits</td><td class=\"num\">-$12.00</td>"));
}

/// License lines read as licenses x days, each period on its own row with its
/// quantity, the price of one license a month and the amount (by hand: 15 x $49.00
/// x 10/31 = $237.10, 18 x $49.00 x 21/31 = $597.48, together $834.58); the line
/// itself shows no peak quantity.
#[test]
fn license_periods_show_licenses_times_days_and_the_price_of_one() {
    let doc = sample();
    let t = text(&write(&render_pdf(&doc)), None);
    let row = |what: &str| {
        t.lines()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("{what:?} not in\n{t}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(row("Analyst seats").ends_with("Analyst seats $49.00 $834.58"));
    assert!(row("15 licenses x 10 of 31 days")
        .ends_with("15 licenses x 10 of 31 days (1 Jan – 10 Jan 2026) 15 $49.00 $237.10"));
    assert!(row("18 licenses x 21 of 31 days")
        .ends_with("18 licenses x 21 of 31 days (11 Jan – 31 Jan 2026) 18 $49.00 $597.48"));
    // A single-slab usage line shows its slab's price: 2,344.5 GB x $0.023 = $53.92.
    assert!(row("Storage (GB-month)").ends_with("Storage (GB-month) 2,344.5 $0.023 $53.92"));
}

/// An organisation template's PDF (printpdf's HTML route) carries the same
/// document information, read from the document (directly, or from its context as
/// the render sandbox receives it).
#[cfg(feature = "html-pdf")]
#[test]
fn an_organisation_templates_pdf_has_the_same_metadata() {
    let doc = sample();
    let context = billrun_render::context_value(&doc, None).unwrap();
    assert_eq!(
        billrun_render::PdfInfo::of_context(&context),
        billrun_render::PdfInfo::of(&doc)
    );
    let t = billrun_render::Template::parse("<p>Invoice {{ number }}</p>").unwrap();
    let pdf = write(&t.render_pdf(&doc).unwrap());
    let info = poppler("pdfinfo", &["-isodates", pdf.path.to_str().unwrap()]);
    for expected in [
        "Title:           Invoice INV-2026-000042\n",
        "Author:          Northwind Cloud GmbH\n",
        "CreationDate:    2026-02-01T06:30:00Z\n",
    ] {
        assert!(info.contains(expected), "{expected:?} in\n{info}");
    }
}
