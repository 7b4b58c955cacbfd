//! A page being drawn: printpdf operations behind a top-down coordinate system.
//!
//! The layout thinks like a reader, in points from the top-left corner of the
//! page; PDF counts from the bottom-left. Only this file converts. Coordinates are
//! floats (layout only); amounts never pass through here except as display text.

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

    /// Width of `text` in `style`.
    pub fn width(text: &str, style: Style) -> f32 {
        Fonts::get().metrics(style.face).width(text, style.size)
    }

    /// Draws `text` with its baseline at `y`, starting at `x`.
    pub fn text(&mut self, x: f32, y: f32, text: &str, style: Style) {
        if text.is_empty() {
            return;
        }
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

/// Splits `text` into lines no wider than `width` in `style`, at spaces; a word
/// longer than a line is cut between characters so nothing runs into the next
/// column.
pub fn wrap(text: &str, width: f32, style: Style) -> Vec<String> {
    let measure = |s: &str| Canvas::width(s, style);
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        let candidate = if current.is_empty() {
            word.to_string()
        } else {
            format!("{current} {word}")
        };
        if measure(&candidate) <= width {
            current = candidate;
            continue;
        }
        if !current.is_empty() {
            lines.push(std::mem::take(&mut current));
        }
        // The word alone: cut it if it still does not fit.
        let mut piece = String::new();
        for c in word.chars() {
            piece.push(c);
            if measure(&piece) > width && piece.chars().count() > 1 {
                piece.pop();
                lines.push(std::mem::take(&mut piece));
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
        assert_eq!(wrap("", 50.0, S), [""]);
    }
}
