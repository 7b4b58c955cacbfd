//! The embedded fonts (DejaVu Sans and Sans Bold) and their text metrics.
//!
//! The TTF files are compiled in, parsed once per process, and embedded (subset to
//! the glyphs used) into every PDF, so a PDF shows `Müller`, `€` and `¥` the same
//! on every machine. Widths for right alignment and wrapping are read with
//! ttf-parser from the same bytes, which keeps measuring independent of printpdf's
//! font types (they change with its features).
//!
//! # Characters the fonts lack
//! DejaVu covers Latin, Greek, Cyrillic, many symbols and a few emoji (most
//! smileys from U+1F600 to U+1F643), but not most emoji, CJK ideographs or many
//! other scripts. A character
//! a face lacks would be drawn as its empty `.notdef` box, so [`Metrics::displayable`]
//! replaces it, before it is measured or drawn, with U+FFFD REPLACEMENT CHARACTER
//! (`�`, which both faces have): the reader sees that something was there, and the
//! PDF's text (copy, search, `pdftotext`) says so too. One emoji is one `�`: the
//! joiners, variation selectors, skin tones and tag characters that continue a
//! replaced emoji (`👩‍💻`, `👍🏽`, the two letters of a flag `🇩🇪`) are dropped with
//! it. Control characters (tab, newline) become a space. A fallback emoji font was
//! not embedded: Debian's is a colour bitmap font printpdf cannot subset or draw,
//! and a broad outline font would add megabytes to the binary for names that are
//! rarely more than letters.

use std::borrow::Cow;
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
    /// Whether the face has a glyph for each Latin-1 character.
    latin1_present: [bool; 256],
    units_per_em: f32,
}

/// What a character the fonts lack is drawn as: U+FFFD REPLACEMENT CHARACTER.
pub const REPLACEMENT: char = '\u{FFFD}';

impl Metrics {
    fn new(bytes: &'static [u8]) -> Metrics {
        let face = ttf_parser::Face::parse(bytes, 0).expect("the embedded font parses");
        let mut latin1 = [0u16; 256];
        let mut latin1_present = [false; 256];
        for i in 0..=255u8 {
            latin1[usize::from(i)] = advance(&face, char::from(i));
            latin1_present[usize::from(i)] = face.glyph_index(char::from(i)).is_some();
        }
        Metrics {
            units_per_em: f32::from(face.units_per_em()),
            face,
            latin1,
            latin1_present,
        }
    }

    /// Whether the face has a glyph for `c`.
    pub fn has(&self, c: char) -> bool {
        match u8::try_from(u32::from(c)) {
            Ok(b) => self.latin1_present[usize::from(b)],
            Err(_) => self.face.glyph_index(c).is_some(),
        }
    }

    /// `text` as this face can draw it: every character it lacks replaced with
    /// [`REPLACEMENT`] (see the module docs for emoji sequences and control
    /// characters). Borrows when nothing needs replacing; applying it twice changes
    /// nothing more.
    pub fn displayable<'t>(&self, text: &'t str) -> Cow<'t, str> {
        displayable_by(text, |c| self.has(c))
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

/// Characters that modify or join the character before them (ZWJ, variation
/// selectors, the combining keycap, skin tones, tags): dropped where they continue
/// a replaced character, or where the face lacks them.
fn continues(c: char) -> bool {
    matches!(u32::from(c),
        0x200D | 0xFE00..=0xFE0F | 0x20E3 | 0x1F3FB..=0x1F3FF | 0xE0000..=0xE007F | 0xE0100..=0xE01EF)
}

fn regional_indicator(c: char) -> bool {
    matches!(u32::from(c), 0x1F1E6..=0x1F1FF)
}

/// [`Metrics::displayable`] for any coverage test `has`.
pub(crate) fn displayable_by(text: &str, has: impl Fn(char) -> bool) -> Cow<'_, str> {
    if text.chars().all(&has) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    // The last character written is a replacement that what follows may continue;
    // a ZWJ asks to join the next character to it; a flag's first letter was
    // replaced and its second is still to come.
    let (mut after_replacement, mut join, mut flag_open) = (false, false, false);
    for c in text.chars() {
        if after_replacement {
            if continues(c) {
                join |= c == '\u{200D}';
                continue;
            }
            if join && !has(c) {
                join = false;
                continue;
            }
            if flag_open && regional_indicator(c) {
                flag_open = false;
                continue;
            }
        }
        after_replacement = false;
        join = false;
        flag_open = false;
        if has(c) {
            out.push(c);
        } else if c.is_control() {
            out.push(' ');
        } else if !continues(c) {
            out.push(REPLACEMENT);
            after_replacement = true;
            flag_open = regional_indicator(c);
        }
    }
    Cow::Owned(out)
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

    /// `html` with every character that either face lacks replaced as
    /// [`Metrics::displayable`] does, except ASCII whitespace (it is markup): for
    /// HTML laid out by printpdf's renderer, where any text may be set in either
    /// face. The markup itself is ASCII, so only text changes.
    pub fn displayable_html<'t>(&self, html: &'t str) -> Cow<'t, str> {
        displayable_by(html, |c| {
            c.is_ascii_whitespace() || (self.regular_metrics.has(c) && self.bold_metrics.has(c))
        })
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

    #[test]
    fn characters_the_fonts_lack_are_replaced_visibly() {
        let f = Fonts::get();
        for face in [Face::Regular, Face::Bold] {
            let m = f.metrics(face);
            // What the layout draws instead, and its ellipsis, are in both faces.
            assert!(m.has(REPLACEMENT) && m.has('…'), "{face:?}");
            // Text the fonts have is borrowed unchanged.
            let plain = "Müller – Straße 5 · €12 ¥ Ωμέγα Жук 😀";
            assert!(matches!(m.displayable(plain), Cow::Borrowed(_)), "{face:?}");
            let cases = [
                ("Acme 🚀 Prod", "Acme � Prod"),
                // A ZWJ sequence (woman, ZWJ, laptop) is one emoji: one replacement.
                ("dev 👩\u{200D}💻!", "dev �!"),
                // The skin tone continues the replaced emoji; the airplane and
                // its variation selector are both in DejaVu (the selector as an
                // empty glyph) and stay.
                ("ok 👍🏽 ✈\u{FE0F}", "ok � ✈\u{FE0F}"),
                ("👍\u{FE0F}.", "�."),
                // A flag is two regional indicators: one replacement; two flags two.
                ("🇩🇪🇫🇷", "��"),
                // CJK ideographs are not in DejaVu.
                ("株式会社", "����"),
                // Tab and newline: a space, not a box.
                ("a\tb\nc", "a b c"),
            ];
            for (text, shown) in cases {
                assert_eq!(m.displayable(text), shown, "{face:?}: {text:?}");
                assert_eq!(m.displayable(shown), shown, "{face:?}: idempotent");
            }
        }
        assert_eq!(
            f.displayable_html("<p>Zoë 🦀</p>\n<pre>\ta</pre>"),
            "<p>Zoë �</p>\n<pre>\ta</pre>"
        );
    }
}
