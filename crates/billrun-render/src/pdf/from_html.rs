//! Organisation templates to PDF through printpdf's HTML renderer.
//!
//! The HTML is the template's own output, so the PDF shows what the template says.
//! The renderer gets DejaVu Sans and Sans Bold (as families "DejaVu Sans" and
//! "DejaVu Sans Bold") and the logo as the image named `logo` (templates are
//! rendered for this route with `organisation.logo.src = "logo"`). Characters
//! neither face has (most emoji, CJK) are replaced with U+FFFD first, as in the
//! built-in layout (see [`super::fonts`]), instead of drawing empty boxes.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use printpdf::html::{build_font_pool, SharedFontPool};
use printpdf::{Base64OrRaw, GeneratePdfOptions, PdfDocument, PdfSaveOptions};

use super::fonts::{Fonts, BOLD_TTF, REGULAR_TTF};
use crate::logo::Logo;
use crate::RenderError;

fn font_map() -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([
        ("DejaVu Sans".to_string(), REGULAR_TTF.to_vec()),
        ("DejaVu Sans Bold".to_string(), BOLD_TTF.to_vec()),
    ])
}

/// Parsed fonts shared by every HTML render of the process (only the embedded
/// fonts are scanned, never the system's, so output does not depend on the host).
fn pool() -> SharedFontPool {
    static POOL: OnceLock<SharedFontPool> = OnceLock::new();
    POOL.get_or_init(|| build_font_pool(&font_map(), Some(&["DejaVu Sans"])))
        .clone()
}

/// Lays out `html` (A4, 15 mm margins) with printpdf's HTML renderer and returns
/// the PDF file. `logo` is available to the HTML as `<img src="logo">`.
/// Characters the embedded fonts lack are drawn as U+FFFD. `info` is written into
/// the document information (title, author, creation date), as the built-in route
/// writes it.
pub fn render_pdf_from_html(
    html: &str,
    logo: Option<&Logo>,
    info: &super::PdfInfo,
) -> Result<Vec<u8>, RenderError> {
    let html = Fonts::get().displayable_html(html);
    let fonts: BTreeMap<String, Base64OrRaw> = font_map()
        .into_iter()
        .map(|(k, v)| (k, Base64OrRaw::Raw(v)))
        .collect();
    let mut images = BTreeMap::new();
    if let Some(l) = logo {
        images.insert("logo".to_string(), Base64OrRaw::Raw(l.bytes().to_vec()));
    }
    let options = GeneratePdfOptions {
        margin_top: Some(15.0),
        margin_right: Some(15.0),
        margin_bottom: Some(15.0),
        margin_left: Some(15.0),
        ..Default::default()
    };
    let mut warnings = Vec::new();
    let mut doc = PdfDocument::from_html_with_cache(
        &html,
        &images,
        &fonts,
        &options,
        &mut warnings,
        Some(pool()),
    )
    .map_err(RenderError::HtmlLayout)?;
    if doc.pages.is_empty() {
        let why: Vec<String> = warnings.iter().map(|w| format!("{w:?}")).take(3).collect();
        return Err(RenderError::HtmlLayout(format!(
            "no page was produced: {}",
            why.join("; ")
        )));
    }
    info.apply(&mut doc);
    let opts = PdfSaveOptions {
        subset_fonts: true,
        ..Default::default()
    };
    Ok(doc.save(&opts, &mut Vec::new()))
}
