//! The built-in invoice layout, drawn directly (no HTML engine): this is what makes
//! a PDF cost well under a millisecond.
//!
//! Page 1: logo and title, the seller / bill-to / details blocks, the amount due,
//! then the line table. Every page: the table header (repeated after a page break,
//! with the current group marked "continued"), and a footer with "Page X of Y"
//! (added once the page count is known). After the table: totals, payment
//! instructions and the footer note, each moved to a new page whole if it does not
//! fit. It shows exactly the fields of the built-in HTML template.

use printpdf::{Op, XObjectId};

use super::canvas::{wrap, Canvas, FontIds, Rgb8, Style, PAGE_H, PAGE_W};
use super::fonts::Face;
use crate::model::{InvoiceDocument, InvoiceStatus, Line, Party};

const X0: f32 = 48.0;
const X1: f32 = PAGE_W - 48.0;
const TOP: f32 = 44.0;
/// Nothing of the body goes below this; the footer lives under it.
const LIMIT: f32 = PAGE_H - 62.0;

// Table columns: right edges of the numbers, and the description's box.
const AMOUNT_R: f32 = X1 - 6.0;
const UNIT_R: f32 = X1 - 104.0;
const QTY_R: f32 = X1 - 188.0;
const DESC_X: f32 = X0 + 6.0;
const DESC_W: f32 = X1 - 268.0 - DESC_X;
const SUB_INDENT: f32 = 14.0;

const INK: Rgb8 = Rgb8(31, 41, 51);
const MUTED: Rgb8 = Rgb8(107, 114, 128);
const ACCENT: Rgb8 = Rgb8(22, 78, 160);
const RULE: Rgb8 = Rgb8(209, 213, 219);
const FAINT_RULE: Rgb8 = Rgb8(229, 231, 235);
const HEADER_BG: Rgb8 = Rgb8(243, 244, 246);
const BAND_BG: Rgb8 = Rgb8(235, 242, 251);

const fn style(face: Face, size: f32, color: Rgb8) -> Style {
    Style { face, size, color }
}
const BODY: Style = style(Face::Regular, 9.0, INK);
const BODY_BOLD: Style = style(Face::Bold, 9.0, INK);
const SMALL: Style = style(Face::Regular, 8.5, INK);
const NOTE: Style = style(Face::Regular, 7.5, MUTED);
const LABEL: Style = style(Face::Bold, 7.0, MUTED);
const DETAIL_LABEL: Style = style(Face::Regular, 8.0, MUTED);
const DETAIL_VALUE: Style = style(Face::Regular, 8.0, INK);
const TH: Style = style(Face::Bold, 8.0, INK);

const BODY_LH: f32 = 11.5;
const NOTE_LH: f32 = 9.5;

/// The logo as registered in the document, with its pixel size.
pub struct PlacedLogo {
    /// The image XObject.
    pub id: XObjectId,
    /// Width and height in pixels.
    pub px: (u32, u32),
}

/// Lays out `doc` and returns the operations of each page.
pub fn draw(doc: &InvoiceDocument, fonts: &FontIds, logo: Option<&PlacedLogo>) -> Vec<Vec<Op>> {
    let mut l = Layout {
        doc,
        fonts,
        pages: Vec::new(),
        page: Canvas::new(fonts),
        y: TOP,
        group: None,
    };
    l.first_page_header(logo);
    l.table();
    l.totals_and_payment();
    l.footer_note();
    l.finish()
}

struct Layout<'a> {
    doc: &'a InvoiceDocument,
    fonts: &'a FontIds,
    pages: Vec<Vec<Op>>,
    page: Canvas<'a>,
    y: f32,
    /// The group being listed, to repeat its name after a page break.
    group: Option<&'a str>,
}

impl<'a> Layout<'a> {
    fn finish(mut self) -> Vec<Vec<Op>> {
        let last = std::mem::replace(&mut self.page, Canvas::new(self.fonts));
        self.pages.push(last.into_ops());
        let count = self.pages.len();
        let left = format!("{} · Invoice {}", self.seller_name(), self.doc.number);
        for (i, ops) in self.pages.iter_mut().enumerate() {
            let mut c = Canvas::new(self.fonts);
            c.hline(X0, X1, PAGE_H - 46.0, 0.5, RULE);
            c.text(X0, PAGE_H - 34.0, &left, NOTE);
            c.text_right(
                X1,
                PAGE_H - 34.0,
                &format!("Page {} of {count}", i + 1),
                NOTE,
            );
            ops.extend(c.into_ops());
        }
        self.pages
    }

    fn seller_name(&self) -> &'a str {
        let legal = self.doc.billing_details.legal_name.as_str();
        if legal.is_empty() {
            &self.doc.organisation.name
        } else {
            legal
        }
    }

    /// Starts a new page with the continuation header.
    fn new_page(&mut self) {
        let done = std::mem::replace(&mut self.page, Canvas::new(self.fonts));
        self.pages.push(done.into_ops());
        let seller = self.seller_name();
        let p = &mut self.page;
        p.text(
            X0,
            TOP + 12.0,
            &format!("Invoice {}", self.doc.number),
            style(Face::Bold, 11.0, INK),
        );
        p.text_right(X1, TOP + 12.0, seller, SMALL);
        p.text(X0, TOP + 26.0, &self.doc.customer.name, SMALL);
        if let Some(d) = &self.doc.invoice_date {
            p.text_right(X1, TOP + 26.0, &d.display.to_string(), SMALL);
        }
        self.y = TOP + 42.0;
    }

    /// Makes room for `h` points, breaking the page if needed; true if it broke.
    fn ensure(&mut self, h: f32) -> bool {
        if self.y + h > LIMIT {
            self.new_page();
            true
        } else {
            false
        }
    }

    fn first_page_header(&mut self, logo: Option<&PlacedLogo>) {
        let doc = self.doc;
        let p = &mut self.page;
        match logo {
            Some(logo) => {
                let (w, h) = fit(logo.px, 180.0, 54.0);
                p.image(&logo.id, X0, TOP, w, h, logo.px);
            }
            None => p.text(
                X0,
                TOP + 18.0,
                &doc.organisation.name,
                style(Face::Bold, 16.0, INK),
            ),
        }
        p.text_right(X1, TOP + 18.0, "INVOICE", style(Face::Bold, 20.0, ACCENT));
        p.text_right(X1, TOP + 34.0, &doc.number, style(Face::Bold, 10.5, INK));
        // A draft's number already reads "DRAFT".
        if doc.status != InvoiceStatus::Due && doc.status_label.to_uppercase() != doc.number {
            let color = match doc.status {
                InvoiceStatus::Paid => Rgb8(21, 128, 61),
                InvoiceStatus::Void | InvoiceStatus::UnCollectible => Rgb8(185, 28, 28),
                _ => Rgb8(180, 83, 9),
            };
            let label = doc.status_label.to_uppercase();
            p.text_right(X1, TOP + 48.0, &label, style(Face::Bold, 9.0, color));
        }

        let top = TOP + 72.0;
        let a = self.seller_block(X0, top, 150.0);
        let b = self.bill_to_block(X0 + 162.0, top, 150.0);
        let c = self.details_block(X0 + 324.0, top, X1 - (X0 + 324.0));
        self.y = a.max(b).max(c) + 12.0;
        self.amount_due_band();
    }

    /// Draws wrapped lines from baseline `y`; returns the baseline after them.
    fn lines(&mut self, x: f32, mut y: f32, w: f32, text: &str, st: Style, lh: f32) -> f32 {
        for line in wrap(text, w, st) {
            self.page.text(x, y, &line, st);
            y += lh;
        }
        y
    }

    fn seller_block(&mut self, x: f32, top: f32, w: f32) -> f32 {
        let bd = &self.doc.billing_details;
        self.page.text(x, top, "FROM", LABEL);
        let mut y = self.lines(x, top + 13.0, w, self.seller_name(), BODY_BOLD, BODY_LH);
        for a in &bd.address_lines {
            y = self.lines(x, y, w, a, SMALL, BODY_LH);
        }
        if let Some(t) = &bd.tax_id {
            y = self.lines(x, y, w, &format!("Tax ID {t}"), SMALL, BODY_LH);
        }
        for v in [&bd.email, &bd.phone].into_iter().flatten() {
            y = self.lines(x, y, w, v, SMALL, BODY_LH);
        }
        y
    }

    fn bill_to_block(&mut self, x: f32, top: f32, w: f32) -> f32 {
        let (customer, account): (&Party, &Party) = (&self.doc.customer, &self.doc.account);
        self.page.text(x, top, "BILL TO", LABEL);
        let mut y = self.lines(x, top + 13.0, w, &customer.name, BODY_BOLD, BODY_LH);
        if !account.name.is_empty() && account.name != customer.name {
            y = self.lines(
                x,
                y,
                w,
                &format!("Account: {}", account.name),
                SMALL,
                BODY_LH,
            );
        }
        let address = if account.address_lines.is_empty() {
            &customer.address_lines
        } else {
            &account.address_lines
        };
        for a in address {
            y = self.lines(x, y, w, a, SMALL, BODY_LH);
        }
        let emails = if account.emails.is_empty() {
            &customer.emails
        } else {
            &account.emails
        };
        for e in emails {
            y = self.lines(x, y, w, e, SMALL, BODY_LH);
        }
        y
    }

    fn details_block(&mut self, x: f32, top: f32, w: f32) -> f32 {
        let doc = self.doc;
        self.page.text(x, top, "DETAILS", LABEL);
        let mut rows: Vec<(&str, String)> = vec![("Invoice number", doc.number.clone())];
        if let Some(d) = &doc.invoice_date {
            rows.push(("Invoice date", d.display.to_string()));
        }
        if let Some(d) = &doc.due_date {
            rows.push(("Due date", d.display.to_string()));
        }
        if let Some(n) = doc.net_term_days {
            rows.push(("Net terms", format!("Net {n}")));
        }
        for p in &doc.periods {
            rows.push((p.label, p.period.display.to_string()));
        }
        rows.push(("Currency", doc.currency.code.clone()));
        let mut y = top + 13.0;
        for (label, value) in rows {
            self.page.text(x, y, label, DETAIL_LABEL);
            let fits =
                Canvas::width(label, DETAIL_LABEL) + 8.0 + Canvas::width(&value, DETAIL_VALUE) <= w;
            if !fits {
                y += 10.5;
            }
            self.page.text_right(x + w, y, &value, DETAIL_VALUE);
            y += 12.0;
        }
        y
    }

    fn amount_due_band(&mut self) {
        let doc = self.doc;
        let top = self.y;
        let p = &mut self.page;
        p.fill_rect(X0, top, X1 - X0, 34.0, BAND_BG);
        p.text(
            X0 + 12.0,
            top + 21.0,
            "Amount due",
            style(Face::Regular, 9.0, MUTED),
        );
        let label_w = Canvas::width("Amount due", style(Face::Regular, 9.0, MUTED));
        p.text(
            X0 + 22.0 + label_w,
            top + 22.0,
            &doc.amount_due.display,
            style(Face::Bold, 14.0, INK),
        );
        let right = match (&doc.due_date, doc.status) {
            (_, InvoiceStatus::Draft) => "Draft: amounts may still change".to_string(),
            (_, InvoiceStatus::Paid) => "Paid: nothing to pay".to_string(),
            (Some(d), _) => format!("Due by {}", d.display),
            (None, _) => String::new(),
        };
        p.text_right(
            X1 - 12.0,
            top + 21.0,
            &right,
            style(Face::Regular, 9.0, INK),
        );
        self.y = top + 34.0 + 18.0;
    }

    fn table_header(&mut self) {
        let top = self.y;
        let p = &mut self.page;
        p.fill_rect(X0, top, X1 - X0, 20.0, HEADER_BG);
        p.text(DESC_X, top + 13.0, "Description", TH);
        p.text_right(QTY_R, top + 13.0, "Quantity", TH);
        p.text_right(UNIT_R, top + 13.0, "Unit price", TH);
        p.text_right(AMOUNT_R, top + 13.0, "Amount", TH);
        self.y = top + 24.0;
    }

    /// A page break inside the table: new page, header again, and the group's name.
    fn table_break_if_needed(&mut self, h: f32) {
        if self.ensure(h) {
            self.table_header();
            if let Some(g) = self.group {
                self.page.text(
                    DESC_X,
                    self.y + 11.0,
                    &format!("{g} (continued)"),
                    style(Face::Bold, 9.0, MUTED),
                );
                self.y += 18.0;
            }
        }
    }

    fn table(&mut self) {
        self.table_header();
        let doc = self.doc;
        for g in &doc.groups {
            // Keep a group's heading with its first line.
            let first = g
                .lines
                .first()
                .map_or(0.0, |l| line_height(l) + sub_height(l.sub_lines.first()));
            self.group = None;
            self.table_break_if_needed(22.0 + first);
            let top = self.y;
            self.page
                .text(DESC_X, top + 12.0, &g.name, style(Face::Bold, 9.5, ACCENT));
            self.page.text_right(
                AMOUNT_R,
                top + 12.0,
                &g.amount.display,
                style(Face::Bold, 9.0, ACCENT),
            );
            self.page.hline(X0, X1, top + 18.0, 0.6, RULE);
            self.y = top + 22.0;
            self.group = Some(&g.name);
            for l in &g.lines {
                self.table_break_if_needed(line_height(l) + sub_height(l.sub_lines.first()));
                self.line(l);
                for s in &l.sub_lines {
                    self.table_break_if_needed(sub_height(Some(s)));
                    self.sub_line(s);
                }
                self.page.hline(X0, X1, self.y + 1.0, 0.4, FAINT_RULE);
                self.y += 4.0;
            }
            self.y += 4.0;
        }
        self.group = None;
    }

    fn numbers(&mut self, y: f32, l: &Line, st: Style) {
        if let Some(q) = &l.quantity {
            self.page.text_right(QTY_R, y, q, st);
        }
        if let Some(u) = &l.unit_price {
            self.page.text_right(UNIT_R, y, &u.display, st);
        }
        self.page.text_right(AMOUNT_R, y, &l.amount.display, st);
    }

    fn line(&mut self, l: &Line) {
        let base = self.y + 9.0;
        self.numbers(base, l, BODY);
        let mut y = self.lines(DESC_X, base, DESC_W, &l.display_name, BODY, BODY_LH);
        y -= BODY_LH - NOTE_LH;
        for note in secondary(l) {
            y = self.lines(DESC_X, y, DESC_W, &note, NOTE, NOTE_LH);
        }
        self.y += line_height(l);
    }

    fn sub_line(&mut self, s: &Line) {
        let base = self.y + 7.5;
        self.numbers(base, s, NOTE);
        self.lines(
            DESC_X + SUB_INDENT,
            base,
            DESC_W - SUB_INDENT,
            sub_label(s),
            NOTE,
            NOTE_LH,
        );
        self.y += sub_height(Some(s));
    }

    /// Totals on the right and payment instructions beside them on the left, moved
    /// to a new page together (with the footer note) if they do not fit.
    fn totals_and_payment(&mut self) {
        let doc = self.doc;
        let mut rows: Vec<(&str, String)> = vec![("Subtotal", doc.sub_total.display.clone())];
        if let Some(t) = &doc.commitment_true_up {
            rows.push(("Minimum commitment true-up", t.display.clone()));
        }
        rows.push(("Credits", doc.credits.display.clone()));
        let x = X1 - 250.0;
        let payment: Vec<String> = doc
            .billing_details
            .payment_instructions
            .iter()
            .flat_map(|l| wrap(l, x - 20.0 - X0, SMALL))
            .collect();
        let totals_h = rows.len() as f32 * 15.0 + 56.0;
        let payment_h = if payment.is_empty() {
            0.0
        } else {
            20.0 + payment.len() as f32 * BODY_LH
        };
        // The closing note travels with the totals, so a page never holds it alone.
        let note_h = doc.billing_details.footer_note.as_ref().map_or(0.0, |n| {
            wrap(n, X1 - X0, NOTE).len() as f32 * NOTE_LH + 22.0
        });
        self.y += 6.0;
        self.ensure(totals_h.max(payment_h) + note_h);
        let top = self.y;
        if !payment.is_empty() {
            self.page.text(X0, top + 10.0, "PAYMENT", LABEL);
            let mut y = top + 23.0;
            for l in &payment {
                self.page.text(X0, y, l, SMALL);
                y += BODY_LH;
            }
        }
        let mut y = top + 10.0;
        for (label, value) in rows {
            self.page.text(x + 8.0, y, label, BODY);
            self.page.text_right(AMOUNT_R, y, &value, BODY);
            y += 15.0;
        }
        self.page.hline(x, X1, y - 9.0, 0.8, INK);
        y += 4.0;
        self.page
            .text(x + 8.0, y, "Total", style(Face::Bold, 10.0, INK));
        self.page.text_right(
            AMOUNT_R,
            y,
            &doc.total.display,
            style(Face::Bold, 10.0, INK),
        );
        let band = y + 7.0;
        self.page.fill_rect(x, band, X1 - x, 24.0, BAND_BG);
        self.page.text(
            x + 8.0,
            band + 16.0,
            "Amount due",
            style(Face::Bold, 10.0, INK),
        );
        self.page.text_right(
            AMOUNT_R,
            band + 16.0,
            &doc.amount_due.display,
            style(Face::Bold, 11.0, ACCENT),
        );
        self.y = top + totals_h.max(payment_h) + 14.0;
    }

    fn footer_note(&mut self) {
        if let Some(note) = &self.doc.billing_details.footer_note {
            let lines = wrap(note, X1 - X0, NOTE);
            self.ensure(lines.len() as f32 * NOTE_LH + 8.0);
            self.page.hline(X0, X1, self.y - 4.0, 0.4, FAINT_RULE);
            let mut y = self.y + 8.0;
            for l in lines {
                self.page.text(X0, y, &l, NOTE);
                y += NOTE_LH;
            }
            self.y = y;
        }
    }
}

/// The grey line under a charge line's name: its period and description.
fn secondary(l: &Line) -> Vec<String> {
    let parts: Vec<String> = l
        .period
        .as_ref()
        .map(|p| p.display.to_string())
        .into_iter()
        .chain(l.description.clone())
        .collect();
    if parts.is_empty() {
        Vec::new()
    } else {
        vec![parts.join(" · ")]
    }
}

/// What a sub-line is called: its description (slab bounds, days), else the name.
pub(crate) fn sub_label(s: &Line) -> &str {
    s.description.as_deref().unwrap_or(&s.display_name)
}

fn line_height(l: &Line) -> f32 {
    let name = wrap(&l.display_name, DESC_W, BODY).len() as f32;
    let notes: usize = secondary(l)
        .iter()
        .map(|n| wrap(n, DESC_W, NOTE).len())
        .sum();
    4.0 + name * BODY_LH + notes as f32 * NOTE_LH
}

fn sub_height(s: Option<&Line>) -> f32 {
    s.map_or(0.0, |s| {
        wrap(sub_label(s), DESC_W - SUB_INDENT, NOTE).len() as f32 * NOTE_LH + 0.5
    })
}

/// The largest size of `px` that fits `max_w` x `max_h`, keeping its proportions.
fn fit(px: (u32, u32), max_w: f32, max_h: f32) -> (f32, f32) {
    let (w, h) = (px.0 as f32, px.1 as f32);
    let k = (max_w / w).min(max_h / h);
    (w * k, h * k)
}
