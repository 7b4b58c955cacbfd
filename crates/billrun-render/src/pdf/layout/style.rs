//! The built-in layout's page geometry, columns, line limits, colours and text
//! styles (all in PDF points, origin top-left as [`super::super::canvas`] draws).

use super::super::canvas::{Rgb8, Style, PAGE_H, PAGE_W};
use super::super::fonts::Face;

pub(super) const X0: f32 = 48.0;
pub(super) const X1: f32 = PAGE_W - 48.0;
pub(super) const TOP: f32 = 44.0;
/// Nothing of the body goes below this; the footer lives under it.
pub(super) const LIMIT: f32 = PAGE_H - 62.0;

// Table columns: right edges of the numbers, and the description's box.
pub(super) const AMOUNT_R: f32 = X1 - 6.0;
pub(super) const UNIT_R: f32 = X1 - 104.0;
pub(super) const QTY_R: f32 = X1 - 188.0;
pub(super) const DESC_X: f32 = X0 + 6.0;
pub(super) const DESC_W: f32 = X1 - 268.0 - DESC_X;
pub(super) const SUB_INDENT: f32 = 14.0;
/// The widest a number may be drawn in its column (8 pt clear of the column to
/// its left).
pub(super) const QTY_W: f32 = QTY_R - (DESC_X + DESC_W) - 8.0;
pub(super) const UNIT_W: f32 = UNIT_R - QTY_R - 8.0;
pub(super) const AMOUNT_W: f32 = AMOUNT_R - UNIT_R - 8.0;

// The most lines a field takes (see the module docs); text beyond ends in `…`.
/// The organisation's name beside the title, at 16 pt (then 3 lines at 12 pt).
pub(super) const ORG_NAME_LINES: usize = 2;
/// A name in the FROM and BILL TO blocks (seller, customer).
pub(super) const NAME_LINES: usize = 5;
/// The account's name, an address line, tax id, email, phone.
pub(super) const FIELD_LINES: usize = 3;
/// A whole FROM or BILL TO block (20 emails would otherwise push the table off
/// the first page).
pub(super) const BLOCK_LINES: usize = 16;
/// A group (tag) name in the table.
pub(super) const GROUP_LINES: usize = 3;
/// A charge line's name, and its grey period-and-description line.
pub(super) const LINE_NAME_LINES: usize = 6;
pub(super) const LINE_NOTE_LINES: usize = 4;
/// A sub-line's label.
pub(super) const SUB_LINES: usize = 3;
/// Each payment instruction, and all of them together.
pub(super) const PAYMENT_ENTRY_LINES: usize = 4;
pub(super) const PAYMENT_LINES: usize = 30;
/// The closing note.
pub(super) const FOOTER_NOTE_LINES: usize = 20;
/// The invoice number under the title is at most this wide (drawn smaller if not).
pub(super) const NUMBER_W: f32 = 200.0;

pub(super) const INK: Rgb8 = Rgb8(31, 41, 51);
pub(super) const MUTED: Rgb8 = Rgb8(107, 114, 128);
pub(super) const ACCENT: Rgb8 = Rgb8(22, 78, 160);
pub(super) const RULE: Rgb8 = Rgb8(209, 213, 219);
pub(super) const FAINT_RULE: Rgb8 = Rgb8(229, 231, 235);
pub(super) const HEADER_BG: Rgb8 = Rgb8(243, 244, 246);
pub(super) const BAND_BG: Rgb8 = Rgb8(235, 242, 251);

pub(super) const fn style(face: Face, size: f32, color: Rgb8) -> Style {
    Style { face, size, color }
}
pub(super) const BODY: Style = style(Face::Regular, 9.0, INK);
pub(super) const BODY_BOLD: Style = style(Face::Bold, 9.0, INK);
pub(super) const SMALL: Style = style(Face::Regular, 8.5, INK);
pub(super) const NOTE: Style = style(Face::Regular, 7.5, MUTED);
pub(super) const LABEL: Style = style(Face::Bold, 7.0, MUTED);
pub(super) const DETAIL_LABEL: Style = style(Face::Regular, 8.0, MUTED);
pub(super) const DETAIL_VALUE: Style = style(Face::Regular, 8.0, INK);
pub(super) const TH: Style = style(Face::Bold, 8.0, INK);

pub(super) const BODY_LH: f32 = 11.5;
pub(super) const NOTE_LH: f32 = 9.5;
pub(super) const GROUP: Style = style(Face::Bold, 9.5, ACCENT);
pub(super) const GROUP_AMOUNT: Style = style(Face::Bold, 9.0, ACCENT);
pub(super) const GROUP_LH: f32 = 12.0;
