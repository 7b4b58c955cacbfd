//! The embedded fonts (DejaVu Sans and Sans Bold) and their text metrics.
//!
//! The TTF files are compiled in, parsed once per process, and embedded (subset to
//! the glyphs used) into every PDF, so a PDF shows `Müller`, `€` and `¥` the same
//! on every machine. Widths for right alignment and wrapping are read with
//! ttf-parser from the same bytes, which keeps measuring independent of printpdf's
//! font types (they change with its features).

use std::sync::OnceLock;

use printpdf::ParsedFont;

/// DejaVu Sans (Bitstream Vera license, see `templates/fonts/LICENSE-DejaVu.txt`).
pub const REGULAR_TTF: &[u8] = include_bytes!("../../../../templates/fonts/DejaVuSans.ttf");
/// DejaVu Sans Bold.
pub const BOLD_TTF: &[u8] = include_bytes!("../../../../templates/fonts/DejaVuSans-Bold.ttf");

/// Which face to draw with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    /// DejaVu Sans.
    Regular,
    /// DejaVu Sans Bold.
    Bold,
}

/// Advance widths of one face.
pub struct Metrics {
    face: ttf_parser::Face<'static>,
    /// Advances of ASCII and Latin-1, in font units: nearly every character of an
    /// invoice, measured without a cmap lookup.
    latin1: [u16; 256],
    units_per_em: f32,
}

impl Metrics {
    fn new(bytes: &'static [u8]) -> Metrics {
        let face = ttf_parser::Face::parse(bytes, 0).expect("the embedded font parses");
        let mut latin1 = [0u16; 256];
        for (i, w) in latin1.iter_mut().enumerate() {
            *w = advance(&face, char::from(i as u8));
        }
        Metrics {
            units_per_em: f32::from(face.units_per_em()),
            face,
            latin1,
        }
    }

    /// Width of `text` at `size` points.
    pub fn width(&self, text: &str, size: f32) -> f32 {
        let units: u32 = text
            .chars()
            .map(|c| match u8::try_from(u32::from(c)) {
                Ok(b) => u32::from(self.latin1[usize::from(b)]),
                Err(_) => u32::from(advance(&self.face, c)),
            })
            .sum();
        units as f32 * size / self.units_per_em
    }
}

fn advance(face: &ttf_parser::Face<'_>, c: char) -> u16 {
    // A character the font lacks is drawn as .notdef (glyph 0): measure that.
    let glyph = face.glyph_index(c).unwrap_or(ttf_parser::GlyphId(0));
    face.glyph_hor_advance(glyph).unwrap_or(0)
}

/// Both faces, parsed for printpdf and for measuring.
pub struct Fonts {
    /// printpdf's parse of the regular face.
    pub regular: ParsedFont,
    /// printpdf's parse of the bold face.
    pub bold: ParsedFont,
    regular_metrics: Metrics,
    bold_metrics: Metrics,
}

impl Fonts {
    /// The process-wide fonts, parsed on first use.
    pub fn get() -> &'static Fonts {
        static FONTS: OnceLock<Fonts> = OnceLock::new();
        FONTS.get_or_init(|| Fonts {
            regular: ParsedFont::from_bytes(REGULAR_TTF, 0, &mut Vec::new())
                .expect("DejaVu Sans parses"),
            bold: ParsedFont::from_bytes(BOLD_TTF, 0, &mut Vec::new())
                .expect("DejaVu Sans Bold parses"),
            regular_metrics: Metrics::new(REGULAR_TTF),
            bold_metrics: Metrics::new(BOLD_TTF),
        })
    }

    /// Metrics of `face`.
    pub fn metrics(&self, face: Face) -> &Metrics {
        match face {
            Face::Regular => &self.regular_metrics,
            Face::Bold => &self.bold_metrics,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_are_plausible_and_unicode_is_covered() {
        let f = Fonts::get();
        let m = f.metrics(Face::Regular);
        let w = m.width("0000", 10.0);
        // DejaVu digits are 0.636 em.
        assert!((w - 25.44).abs() < 0.1, "{w}");
        assert!(f.metrics(Face::Bold).width("Total", 10.0) > m.width("Total", 10.0));
        for c in ['ü', '€', '¥', '–', '·'] {
            assert!(m.face.glyph_index(c).is_some(), "DejaVu lacks {c}");
        }
        assert!(m.width("€", 10.0) > 0.0);
    }
}
