//! A page being drawn: printpdf operations behind a top-down coordinate system.
//!
//! The layout thinks like a reader, in points from the top-left corner of the
//! page; PDF counts from the bottom-left. Only this file converts. Coordinates are
//! floats (layout only); amounts never pass through here except as display text.
//!
//! Text is measured with the embedded face's own advance widths, after the
//! characters it lacks are replaced ([`super::fonts::Metrics::displayable`]), so
//! what is measured is what is drawn. [`wrap_at_most`], [`truncate`] and
//! [`fit`] keep text of any length inside the box it is given.

use printpdf::{
    Color, FontId, Line, LinePoint, Op, PaintMode, PdfFontHandle, Point, Pt, Rect, Rgb, TextItem,
    XObjectId, XObjectTransform,
};

use super::fonts::{Face, Fonts};

/// A4 width in points.
pub const PAGE_W: f32 = 595.28;
/// A4 height in points.
pub const PAGE_H: f32 = 841.89;

/// An RGB colour, 0-255 per channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb8(pub u8, pub u8, pub u8);

impl Rgb8 {
    fn color(self) -> Color {
        let f = |v: u8| f32::from(v) / 255.0;
        Color::Rgb(Rgb::new(f(self.0), f(self.1), f(self.2), None))
    }
}

/// The fonts of one document as printpdf registered them.
#[derive(Debug, Clone)]
pub struct FontIds {
    /// Regular face.
    pub regular: FontId,
    /// Bold face.
    pub bold: FontId,
}

/// A text style.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Face.
    pub face: Face,
    /// Size in points.
    pub size: f32,
    /// Colour.
    pub color: Rgb8,
}

/// One page's operations.
pub struct Canvas<'a> {
    ops: Vec<Op>,
    fonts: &'a FontIds,
}

impl<'a> Canvas<'a> {
    /// An empty page.
    pub fn new(fonts: &'a FontIds) -> Self {
        Canvas {
            ops: Vec::with_capacity(256),
            fonts,
        }
    }

    /// The operations drawn so far.
    pub fn into_ops(self) -> Vec<Op> {
        self.ops
    }

    /// Width of `text` in `style`, in points, as drawn (characters the face lacks
    /// measured as their replacement).
    pub fn width(text: &str, style: Style) -> f32 {
        let m = Fonts::get().metrics(style.face);
        m.width(&m.displayable(text), style.size)
    }

    /// Draws `text` with its baseline at `y`, starting at `x` (characters the face
    /// lacks replaced, see [`super::fonts`]).
    pub fn text(&mut self, x: f32, y: f32, text: &str, style: Style) {
        if text.is_empty() {
            return;
        }
        let text = Fonts::get().metrics(style.face).displayable(text);
        let font = match style.face {
            Face::Regular => self.fonts.regular.clone(),
            Face::Bold => self.fonts.bold.clone(),
        };
        self.ops.extend([
            Op::StartTextSection,
            Op::SetFont {
                font: PdfFontHandle::External(font),
                size: Pt(style.size),
            },
            Op::SetFillColor {
                col: style.color.color(),
            },
            Op::SetTextCursor { pos: point(x, y) },
            Op::ShowText {
                items: vec![TextItem::Text(text.to_string())],
            },
            Op::EndTextSection,
        ]);
    }

    /// Draws `text` so that it ends at `right`.
    pub fn text_right(&mut self, right: f32, y: f32, text: &str, style: Style) {
        self.text(right - Self::width(text, style), y, text, style);
    }

    /// Draws `text` so that it ends at `right`, at a smaller size if it is wider
    /// than `max_w` ([`fit`]); returns the width drawn. For amounts and quantities,
    /// which must be shown whole.
    pub fn text_right_within(
        &mut self,
        right: f32,
        y: f32,
        text: &str,
        style: Style,
        max_w: f32,
    ) -> f32 {
        let st = fit(text, style, max_w);
        let w = Self::width(text, st);
        self.text(right - w, y, text, st);
        w
    }

    /// Draws `text` centred on `centre`.
    pub fn text_centred(&mut self, centre: f32, y: f32, text: &str, style: Style) {
        self.text(centre - Self::width(text, style) / 2.0, y, text, style);
    }

    /// Fills a rectangle whose top-left corner is (`x`, `top`).
    pub fn fill_rect(&mut self, x: f32, top: f32, w: f32, h: f32, color: Rgb8) {
        self.ops.push(Op::SetFillColor { col: color.color() });
        self.ops.push(Op::DrawRectangle {
            rectangle: Rect {
                mode: Some(PaintMode::Fill),
                ..Rect::from_xywh(Pt(x), Pt(PAGE_H - top - h), Pt(w), Pt(h))
            },
        });
    }

    /// A horizontal rule at `y` from `x0` to `x1`.
    pub fn hline(&mut self, x0: f32, x1: f32, y: f32, thickness: f32, color: Rgb8) {
        self.ops.extend([
            Op::SetOutlineColor { col: color.color() },
            Op::SetOutlineThickness { pt: Pt(thickness) },
            Op::DrawLine {
                line: Line {
                    points: vec![
                        LinePoint {
                            p: point(x0, y),
                            bezier: false,
                        },
                        LinePoint {
                            p: point(x1, y),
                            bezier: false,
                        },
                    ],
                    is_closed: false,
                },
            },
        ]);
    }

    /// Places an image of `px_w` x `px_h` pixels into the box at (`x`, `top`),
    /// `w` x `h` points.
    pub fn image(&mut self, id: &XObjectId, x: f32, top: f32, w: f32, h: f32, px: (u32, u32)) {
        // At 72 dpi one pixel is one point; then scale to the box.
        self.ops.push(Op::UseXobject {
            id: id.clone(),
            transform: XObjectTransform {
                translate_x: Some(Pt(x)),
                translate_y: Some(Pt(PAGE_H - top - h)),
                scale_x: Some(w / px.0 as f32),
                scale_y: Some(h / px.1 as f32),
                dpi: Some(72.0),
                ..Default::default()
            },
        });
    }
}

fn point(x: f32, y_from_top: f32) -> Point {
    Point {
        x: Pt(x),
        y: Pt(PAGE_H - y_from_top),
    }
}

/// Splits `text` into lines no wider than `width` points in `style`, at spaces; a
/// word longer than a line is cut between characters (from where the line has
/// room) so nothing runs into the next column. Characters the face lacks are replaced first (see [`super::fonts`]).
pub fn wrap(text: &str, width: f32, style: Style) -> Vec<String> {
    wrap_lines(text, width, style, usize::MAX)
}

/// [`wrap`], keeping at most `max` lines (at least one): if the text needs more,
/// the last line kept ends with `…`, still within `width`. For fields whose length
/// is not bounded by the page (names, addresses, descriptions, notes): a 255-letter
/// word or a 10 MiB note costs at most `max` lines, and only those are measured.
pub fn wrap_at_most(text: &str, width: f32, style: Style, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut lines = wrap_lines(text, width, style, max);
    if lines.len() > max {
        lines.truncate(max);
        if let Some(last) = lines.last_mut() {
            ellipsize(last, width, style);
        }
    }
    lines
}

/// `text` on one line within `width` points: whole if it fits, else cut (at a space
/// where possible) and ended with `…`.
pub fn truncate(text: &str, width: f32, style: Style) -> String {
    wrap_at_most(text, width, style, 1).remove(0)
}

/// `style` at the size that makes `text` at most `max_w` points wide (its own size
/// if it fits already). For values that must not be cut: amounts, quantities, the
/// invoice number.
pub fn fit(text: &str, style: Style, max_w: f32) -> Style {
    // A layout never gives less than a point; a non-positive size would mirror it.
    let max_w = max_w.max(1.0);
    let w = Canvas::width(text, style);
    if w <= max_w || w <= 0.0 {
        return style;
    }
    Style {
        // A hair under the exact ratio, so rounding never leaves it wider.
        size: style.size * max_w / w * 0.999,
        ..style
    }
}

/// Ends `line` with `…` (to say that text was left out after it), dropping
/// characters and trailing spaces until it fits `width` points. A line that ends
/// with one already is left as it is.
pub fn ellipsize(line: &mut String, width: f32, style: Style) {
    if line.ends_with('…') {
        return;
    }
    loop {
        let trimmed = line.trim_end().len();
        line.truncate(trimmed);
        if line.is_empty() || Canvas::width(&format!("{line}…"), style) <= width {
            break;
        }
        line.pop();
    }
    line.push('…');
}

/// [`wrap`] that stops once it has `max + 1` lines (the caller cuts the last).
fn wrap_lines(text: &str, width: f32, style: Style, max: usize) -> Vec<String> {
    let text = Fonts::get().metrics(style.face).displayable(text);
    let measure = |s: &str| Canvas::width(s, style);
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        if lines.len() > max {
            break;
        }
        let candidate = if current.is_empty() {
            word.to_string()
        } else {
            format!("{current} {word}")
        };
        if measure(&candidate) <= width {
            current = candidate;
            continue;
        }
        if measure(word) <= width {
            // The word fits a line of its own: start one.
            lines.push(std::mem::replace(&mut current, word.to_string()));
            continue;
        }
        // Wider than any line: cut it between characters, starting on the current
        // line, so a short label before it ("Account:") is not left alone.
        let mut piece = if current.is_empty() {
            String::new()
        } else {
            format!("{} ", std::mem::take(&mut current))
        };
        for c in word.chars() {
            if lines.len() > max {
                break;
            }
            piece.push(c);
            if measure(&piece) > width && piece.chars().count() > 1 {
                piece.pop();
                lines.push(piece.trim_end().to_string());
                piece.clear();
                piece.push(c);
            }
        }
        current = piece;
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Style = Style {
        face: Face::Regular,
        size: 10.0,
        color: Rgb8(0, 0, 0),
    };

    #[test]
    fn wrap_keeps_every_word_within_the_width() {
        let text = "Analyst seats prorated for twenty-one of thirty-one days in January";
        let lines = wrap(text, 120.0, S);
        assert!(lines.len() > 1);
        assert_eq!(lines.join(" "), text);
        for l in &lines {
            assert!(Canvas::width(l, S) <= 120.0, "{l}");
        }
        let long = "x".repeat(200);
        let cut = wrap(&long, 50.0, S);
        assert_eq!(cut.concat(), long);
        assert!(cut.iter().all(|l| Canvas::width(l, S) <= 50.0));
        // A word longer than a line starts beside the word before it.
        let labelled = wrap(&format!("Account: {long}"), 80.0, S);
        assert!(labelled[0].starts_with("Account: xx"), "{labelled:?}");
        assert_eq!(labelled.concat(), format!("Account: {long}"));
        assert!(labelled.iter().all(|l| Canvas::width(l, S) <= 80.0));
        assert_eq!(wrap("", 50.0, S), [""]);
    }

    #[test]
    fn wrap_at_most_cuts_with_an_ellipsis_inside_the_width() {
        let text = "Analyst seats prorated for twenty-one of thirty-one days in January";
        // Fits in 2 lines of 250 pt: unchanged.
        let whole = wrap(text, 250.0, S);
        assert_eq!(whole.len(), 2);
        assert_eq!(wrap_at_most(text, 250.0, S, 2), whole);
        // At most 2 lines of 120 pt: the words of the first line, then the second
        // ends with an ellipsis, and both stay within 120 pt.
        let all = wrap(text, 120.0, S);
        let cut = wrap_at_most(text, 120.0, S, 2);
        assert_eq!(cut.len(), 2);
        assert_eq!(cut[0], all[0]);
        assert!(cut[1].ends_with('…'), "{cut:?}");
        assert!(all[1].starts_with(cut[1].trim_end_matches('…')), "{cut:?}");
        assert!(cut.iter().all(|l| Canvas::width(l, S) <= 120.0), "{cut:?}");
        // An unbroken 255-letter word on one line of 100 pt.
        let word = "W".repeat(255);
        let one = truncate(&word, 100.0, S);
        assert!(one.ends_with('…') && one.starts_with("WWW"), "{one}");
        assert!(Canvas::width(&one, S) <= 100.0);
        // DejaVu's W is 0.989 em: 9.89 pt at 10 pt, the ellipsis 1 em: 10 pt, so
        // 100 pt holds 9 W's and the ellipsis (99.0 pt), not 10 (108.9 pt).
        assert_eq!(one, format!("{}…", "W".repeat(9)));
        // A 10 MiB note costs the lines kept, not the whole text.
        let huge = "word ".repeat(2 * 1024 * 1024);
        let t = std::time::Instant::now();
        assert_eq!(wrap_at_most(&huge, 300.0, S, 3).len(), 3);
        assert!(t.elapsed().as_secs_f32() < 2.0, "{:?}", t.elapsed());
        assert_eq!(truncate("short", 100.0, S), "short");
    }

    #[test]
    fn fit_shrinks_only_what_does_not_fit() {
        let n = "1,234,567,890,123,456";
        let w = Canvas::width(n, S);
        assert_eq!(fit(n, S, w + 1.0).size, S.size);
        let small = fit(n, S, w / 2.0);
        // Half the room: about half the size, and never wider than the room.
        assert!((small.size - 5.0).abs() < 0.01, "{}", small.size);
        assert!(Canvas::width(n, small) <= w / 2.0);
    }

    #[test]
    fn missing_characters_are_measured_as_drawn() {
        // The rocket is not in DejaVu: it is drawn, and so measured, as U+FFFD.
        assert_eq!(Canvas::width("a🚀b", S), Canvas::width("a\u{FFFD}b", S));
        assert_eq!(wrap("a 🚀 b", 500.0, S), ["a \u{FFFD} b"]);
    }
}
