//! The built-in invoice layout, drawn directly (no HTML engine): this is what makes
//! a PDF cost well under a millisecond.
//!
//! Page 1: logo and title, the seller / bill-to / details blocks, the amount due,
//! then the line table. Every page: the table header (repeated after a page break,
//! with the current group marked "continued"), and a footer with "Page X of Y"
//! (added once the page count is known). After the table: totals, payment
//! instructions and the footer note, each moved to a new page whole if it does not
//! fit. It shows exactly the fields of the built-in HTML template.
//!
//! # Text of any length
//! Nothing is drawn outside the margins or over another element, whatever the
//! length of a name: text is measured with the embedded font's advance widths and
//! wrapped within its column ([`wrap_at_most`]), breaking a word longer than the
//! column between characters. Each free-text field takes at most a fixed number of
//! lines (the `*_LINES` constants), and text beyond them is cut, the last line
//! ending with `…` (the README says how much of a name that shows), so the header, a table
//! row, the payment block and the footer note always fit on one page. One-line
//! places (the continuation header, the footer) cut with `…` too. Amounts,
//! quantities and the invoice number are never cut: one wider than its column is
//! drawn smaller ([`fit`]).

use printpdf::{Op, XObjectId};

use super::canvas::{ellipsize, fit, truncate, wrap_at_most, Canvas, FontIds, Rgb8, Style, PAGE_H};
use super::fonts::Face;
use crate::model::{InvoiceDocument, InvoiceStatus, Line, Party};

mod style;
mod text;

use style::*;
use text::*;

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
        // The seller's name gives way to the page number and the invoice number.
        let room = X1 - X0 - Canvas::width(&format!("Page {count} of {count}"), NOTE) - 16.0;
        let suffix = format!(" · {} {}", self.doc.title, self.doc.number);
        let seller_room = room - Canvas::width(&suffix, NOTE);
        let left = if seller_room >= 60.0 {
            format!(
                "{}{suffix}",
                truncate(self.seller_name(), seller_room, NOTE)
            )
        } else {
            truncate(&format!("{}{suffix}", self.seller_name()), room, NOTE)
        };
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
        // Left the invoice and the customer, right the seller and the date; the
        // names are cut to the room the other side leaves.
        let invoice = format!("{} {}", self.doc.title, self.doc.number);
        let invoice_st = fit(&invoice, style(Face::Bold, 11.0, INK), (X1 - X0) / 2.0);
        p.text(X0, TOP + 12.0, &invoice, invoice_st);
        let room = X1 - X0 - Canvas::width(&invoice, invoice_st) - 16.0;
        p.text_right(X1, TOP + 12.0, &truncate(seller, room, SMALL), SMALL);
        let date = self
            .doc
            .invoice_date
            .as_ref()
            .map(|d| d.display.to_string())
            .unwrap_or_default();
        p.text_right(X1, TOP + 26.0, &date, SMALL);
        let room = X1 - X0 - Canvas::width(&date, SMALL) - 16.0;
        p.text(
            X0,
            TOP + 26.0,
            &truncate(&self.doc.customer.name, room, SMALL),
            SMALL,
        );
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
        // Right: the title, the number and the status; the left column (logo or
        // name) gets the rest of the width.
        let title = style(Face::Bold, 20.0, ACCENT);
        let number = fit(&doc.number, style(Face::Bold, 10.5, INK), NUMBER_W);
        let heading = doc.title.to_uppercase();
        let mut right_w = Canvas::width(&heading, title).max(Canvas::width(&doc.number, number));
        p.text_right(X1, TOP + 18.0, &heading, title);
        p.text_right(X1, TOP + 34.0, &doc.number, number);
        // A draft's number already reads "DRAFT".
        if doc.status != InvoiceStatus::Due && doc.status_label.to_uppercase() != doc.number {
            let color = match doc.status {
                InvoiceStatus::Paid => Rgb8(21, 128, 61),
                InvoiceStatus::Void | InvoiceStatus::UnCollectible => Rgb8(185, 28, 28),
                _ => Rgb8(180, 83, 9),
            };
            let label = doc.status_label.to_uppercase();
            let st = style(Face::Bold, 9.0, color);
            right_w = right_w.max(Canvas::width(&label, st));
            p.text_right(X1, TOP + 48.0, &label, st);
        }
        match logo {
            Some(logo) => {
                let (w, h) = fit_box(logo.px, 180.0, 54.0);
                p.image(&logo.id, X0, TOP, w, h, logo.px);
            }
            None => {
                let room = X1 - X0 - right_w - 18.0;
                let (lines, st, lh) = org_name_lines(&doc.organisation.name, room);
                let mut y = TOP + st.size + 2.0;
                for line in lines {
                    p.text(X0, y, &line, st);
                    y += lh;
                }
            }
        }

        let top = TOP + 72.0;
        let a = self.seller_block(X0, top, 150.0);
        let b = self.bill_to_block(X0 + 162.0, top, 150.0);
        let c = self.details_block(X0 + 324.0, top, X1 - (X0 + 324.0));
        self.y = a.max(b).max(c) + 12.0;
        self.amount_due_band();
    }

    /// Draws `block`'s lines from baseline `y`; returns the baseline after them.
    fn block(&mut self, x: f32, mut y: f32, block: Block) -> f32 {
        for (line, st) in block.finish() {
            self.page.text(x, y, &line, st);
            y += BODY_LH;
        }
        y
    }

    fn seller_block(&mut self, x: f32, top: f32, w: f32) -> f32 {
        let bd = &self.doc.billing_details;
        self.page.text(x, top, "FROM", LABEL);
        let mut b = Block::new(w);
        b.add(self.seller_name(), BODY_BOLD, NAME_LINES);
        for a in &bd.address_lines {
            b.add(a, SMALL, FIELD_LINES);
        }
        if let Some(t) = &bd.tax_id {
            b.add(&format!("Tax ID {t}"), SMALL, FIELD_LINES);
        }
        for v in [&bd.email, &bd.phone].into_iter().flatten() {
            b.add(v, SMALL, FIELD_LINES);
        }
        self.block(x, top + 13.0, b)
    }

    fn bill_to_block(&mut self, x: f32, top: f32, w: f32) -> f32 {
        let (customer, account): (&Party, &Party) = (&self.doc.customer, &self.doc.account);
        self.page.text(x, top, "BILL TO", LABEL);
        let mut b = Block::new(w);
        b.add(&customer.name, BODY_BOLD, NAME_LINES);
        if !account.name.is_empty() && account.name != customer.name {
            b.add(&format!("Account: {}", account.name), SMALL, FIELD_LINES);
        }
        let address = if account.address_lines.is_empty() {
            &customer.address_lines
        } else {
            &account.address_lines
        };
        for a in address {
            b.add(a, SMALL, FIELD_LINES);
        }
        let emails = if account.emails.is_empty() {
            &customer.emails
        } else {
            &account.emails
        };
        if let Some(t) = account.tax_id.as_ref().or(customer.tax_id.as_ref()) {
            b.add(&format!("VAT ID {t}"), SMALL, FIELD_LINES);
        }
        for e in emails {
            b.add(e, SMALL, FIELD_LINES);
        }
        self.block(x, top + 13.0, b)
    }

    fn details_block(&mut self, x: f32, top: f32, w: f32) -> f32 {
        let doc = self.doc;
        self.page.text(x, top, "DETAILS", LABEL);
        let number_label = format!("{} number", doc.title);
        let date_label = format!("{} date", doc.title);
        let mut rows: Vec<(&str, String)> = vec![(number_label.as_str(), doc.number.clone())];
        if let Some(d) = &doc.invoice_date {
            rows.push((date_label.as_str(), d.display.to_string()));
        }
        // A credit note names the invoice it credits and why (README "Credit notes").
        if let Some(c) = &doc.credit_note {
            rows.push(("For invoice", c.invoice_number.clone()));
            rows.push(("Reason", c.reason_label.clone()));
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
            // Values are short (dates, "Net 30", a currency code) except perhaps
            // the number, which is drawn smaller rather than cut.
            self.page
                .text_right_within(x + w, y, &value, DETAIL_VALUE, w);
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
        let right = match (&doc.due_date, doc.status) {
            (_, InvoiceStatus::Draft) => "Draft: amounts may still change".to_string(),
            (_, InvoiceStatus::Paid) => "Paid: nothing to pay".to_string(),
            (Some(d), _) => format!("Due by {}", d.display),
            (None, _) => String::new(),
        };
        let right_st = style(Face::Regular, 9.0, INK);
        p.text_right(X1 - 12.0, top + 21.0, &right, right_st);
        let amount_x = X0 + 22.0 + label_w;
        let room = X1 - 12.0 - Canvas::width(&right, right_st) - 16.0 - amount_x;
        let amount = &doc.amount_due.display;
        p.text(
            amount_x,
            top + 22.0,
            amount,
            fit(amount, style(Face::Bold, 14.0, INK), room),
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
                let st = style(Face::Bold, 9.0, MUTED);
                let room = AMOUNT_R - DESC_X - Canvas::width(" (continued)", st);
                let name = truncate(g, room, st);
                self.page
                    .text(DESC_X, self.y + 11.0, &format!("{name} (continued)"), st);
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
            // The name wraps in the room the amount leaves.
            let amount_st = fit(&g.amount.display, GROUP_AMOUNT, AMOUNT_W);
            let room = AMOUNT_R - Canvas::width(&g.amount.display, amount_st) - 12.0 - DESC_X;
            let name = wrap_at_most(&g.name, room, GROUP, GROUP_LINES);
            let head_h = 22.0 + (name.len() - 1) as f32 * GROUP_LH;
            self.group = None;
            self.table_break_if_needed(head_h + first);
            let top = self.y;
            for (i, line) in name.iter().enumerate() {
                self.page
                    .text(DESC_X, top + 12.0 + i as f32 * GROUP_LH, line, GROUP);
            }
            self.page
                .text_right(AMOUNT_R, top + 12.0, &g.amount.display, amount_st);
            self.page.hline(X0, X1, top + head_h - 4.0, 0.6, RULE);
            self.y = top + head_h;
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
        let p = &mut self.page;
        if let Some(q) = &l.quantity {
            p.text_right_within(QTY_R, y, q, st, QTY_W);
        }
        if let Some(u) = &l.unit_price {
            p.text_right_within(UNIT_R, y, &u.display, st, UNIT_W);
        }
        p.text_right_within(AMOUNT_R, y, &l.amount.display, st, AMOUNT_W);
    }

    fn line(&mut self, l: &Line) {
        let base = self.y + 9.0;
        self.numbers(base, l, BODY);
        let (name, notes) = line_text(l);
        let mut y = base;
        for line in &name {
            self.page.text(DESC_X, y, line, BODY);
            y += BODY_LH;
        }
        y -= BODY_LH - NOTE_LH;
        for line in &notes {
            self.page.text(DESC_X, y, line, NOTE);
            y += NOTE_LH;
        }
        self.y += line_height(l);
    }

    fn sub_line(&mut self, s: &Line) {
        let base = self.y + 7.5;
        self.numbers(base, s, NOTE);
        let mut y = base;
        for line in sub_text(s) {
            self.page.text(DESC_X + SUB_INDENT, y, &line, NOTE);
            y += NOTE_LH;
        }
        self.y += sub_height(Some(s));
    }

    /// Totals on the right and payment instructions beside them on the left, moved
    /// to a new page together (with the footer note) if they do not fit.
    fn totals_and_payment(&mut self) {
        let doc = self.doc;
        let mut rows: Vec<(String, String)> =
            vec![("Subtotal".into(), doc.sub_total.display.clone())];
        if let Some(t) = &doc.commitment_true_up {
            rows.push(("Minimum commitment true-up".into(), t.display.clone()));
        }
        // Net, the tax per rate, gross (README "Taxes").
        if doc.has_tax {
            rows.push(("Net total".into(), doc.net_total.display.clone()));
            for t in &doc.taxes {
                rows.push((t.label.clone(), t.amount.display.clone()));
            }
            rows.push(("Gross total".into(), doc.gross_total.display.clone()));
        }
        if doc.has_credits {
            rows.push(("Credits".into(), doc.credits.display.clone()));
        }
        let x = X1 - 250.0;
        let payment_w = x - 20.0 - X0;
        // A credit note has nothing to pay: its CREDIT block says what it is for
        // and how it was applied instead (README "Credit notes").
        let (block_label, entries): (&str, Vec<String>) = match &doc.credit_note {
            Some(c) => (
                "CREDIT",
                (!c.description.is_empty())
                    .then(|| c.description.clone())
                    .into_iter()
                    .chain(c.applied.iter().cloned())
                    .collect(),
            ),
            None => ("PAYMENT", doc.billing_details.payment_instructions.clone()),
        };
        let mut payment: Vec<String> = entries
            .iter()
            .flat_map(|l| wrap_at_most(l, payment_w, SMALL, PAYMENT_ENTRY_LINES))
            .take(PAYMENT_LINES + 1)
            .collect();
        if payment.len() > PAYMENT_LINES {
            payment.truncate(PAYMENT_LINES);
            if let Some(last) = payment.last_mut() {
                ellipsize(last, payment_w, SMALL);
            }
        }
        let totals_h = rows.len() as f32 * 15.0 + 56.0;
        let payment_h = if payment.is_empty() {
            0.0
        } else {
            20.0 + payment.len() as f32 * BODY_LH
        };
        // The closing note travels with the totals, so a page never holds it alone.
        let note_h = self
            .footer_note_lines()
            .map_or(0.0, |l| l.len() as f32 * NOTE_LH + 22.0);
        self.y += 6.0;
        self.ensure(totals_h.max(payment_h) + note_h);
        let top = self.y;
        if !payment.is_empty() {
            self.page.text(X0, top + 10.0, block_label, LABEL);
            let mut y = top + 23.0;
            for l in &payment {
                self.page.text(X0, y, l, SMALL);
                y += BODY_LH;
            }
        }
        let mut y = top + 10.0;
        for (label, value) in rows {
            self.total_row(x, y, &label, BODY, &value, BODY);
            y += 15.0;
        }
        self.page.hline(x, X1, y - 9.0, 0.8, INK);
        y += 4.0;
        let bold = style(Face::Bold, 10.0, INK);
        self.total_row(x, y, "Total", bold, &doc.total.display, bold);
        let band = y + 7.0;
        self.page.fill_rect(x, band, X1 - x, 24.0, BAND_BG);
        let amount_st = style(Face::Bold, 11.0, ACCENT);
        self.total_row(
            x,
            band + 16.0,
            "Amount due",
            bold,
            &doc.amount_due.display,
            amount_st,
        );
        self.y = top + totals_h.max(payment_h) + 14.0;
    }

    /// A row of the totals: `label` at the left of the totals box, `value` at the
    /// right, drawn whole in the room the label leaves.
    fn total_row(&mut self, x: f32, y: f32, label: &str, label_st: Style, value: &str, st: Style) {
        self.page.text(x + 8.0, y, label, label_st);
        let room = AMOUNT_R - (x + 8.0 + Canvas::width(label, label_st) + 12.0);
        self.page.text_right_within(AMOUNT_R, y, value, st, room);
    }

    /// The closing note's lines, if there is one.
    /// The tax treatment's note (reverse charge...) comes first.
    fn footer_note_lines(&self) -> Option<Vec<String>> {
        let notes: Vec<String> = [&self.doc.tax_note, &self.doc.billing_details.footer_note]
            .into_iter()
            .flatten()
            .flat_map(|n| wrap_at_most(n, X1 - X0, NOTE, FOOTER_NOTE_LINES))
            .collect();
        (!notes.is_empty()).then_some(notes)
    }

    fn footer_note(&mut self) {
        if let Some(lines) = self.footer_note_lines() {
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
