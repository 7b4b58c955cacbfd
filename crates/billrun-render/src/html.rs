//! HTML through Tera, and templates as a whole (HTML plus the PDF route that goes
//! with them).
//!
//! Autoescaping is always on: every value from the view model is HTML-escaped, so a
//! customer named `<script>alert(1)</script> & Co` prints as text. The view model
//! is the template's context: its top-level fields (`number`, `customer`,
//! `groups`, ...) are the template's variables.

use std::sync::OnceLock;

use tera::{Context, Tera};

use crate::model::InvoiceDocument;
use crate::RenderError;

/// The built-in template's text (`templates/invoice.html.tera`).
pub const BUILTIN_TEMPLATE: &str = include_str!("../../../templates/invoice.html.tera");

/// Tera decides autoescaping by template name: a `.html` name turns it on.
const NAME: &str = "invoice.html";

/// An invoice template: the built-in one, or an organisation's.
pub struct Template {
    tera: Tera,
    builtin: bool,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("builtin", &self.builtin)
            .finish()
    }
}

impl Template {
    /// The built-in template (compiled once per process).
    pub fn builtin() -> &'static Template {
        static BUILTIN: OnceLock<Template> = OnceLock::new();
        BUILTIN.get_or_init(|| Template {
            tera: compile(BUILTIN_TEMPLATE).expect("the built-in template compiles"),
            builtin: true,
        })
    }

    /// Compiles an organisation's template and checks it by rendering the
    /// [`crate::sample()`] invoice, so a template that names a missing field or
    /// has a syntax error is refused when it is added, not when invoices render.
    pub fn parse(text: &str) -> Result<Template, RenderError> {
        let t = Template {
            tera: compile(text)?,
            builtin: false,
        };
        t.render_html(&crate::sample::sample())?;
        Ok(t)
    }

    /// Whether this is the built-in template.
    pub fn is_builtin(&self) -> bool {
        self.builtin
    }

    /// The invoice as HTML (the logo inline, as a data URI).
    pub fn render_html(&self, doc: &InvoiceDocument) -> Result<String, RenderError> {
        self.render(context(doc, None)?)
    }

    /// The invoice as PDF. The built-in template is drawn directly (fast); an
    /// organisation template is rendered to HTML and laid out by printpdf's HTML
    /// renderer, so its PDF shows what its HTML says.
    pub fn render_pdf(&self, doc: &InvoiceDocument) -> Result<Vec<u8>, RenderError> {
        if self.builtin {
            return Ok(crate::pdf::render_pdf(doc));
        }
        #[cfg(feature = "html-pdf")]
        {
            let html = self.render(context(doc, Some("logo"))?)?;
            crate::pdf::render_pdf_from_html(&html, doc.organisation.logo.as_ref())
        }
        #[cfg(not(feature = "html-pdf"))]
        Err(RenderError::HtmlLayout(
            "organisation templates need billrun-render's `html-pdf` feature for PDF".into(),
        ))
    }

    fn render(&self, ctx: Context) -> Result<String, RenderError> {
        self.tera.render(NAME, &ctx).map_err(template_error)
    }
}

/// The invoice as HTML with the built-in template.
pub fn render_html(doc: &InvoiceDocument) -> Result<String, RenderError> {
    Template::builtin().render_html(doc)
}

/// The invoice as HTML with an organisation's template text. Compiles the template
/// on each call: keep a [`Template`] to render many invoices.
pub fn render_html_with(template: &str, doc: &InvoiceDocument) -> Result<String, RenderError> {
    let t = Template {
        tera: compile(template)?,
        builtin: false,
    };
    t.render_html(doc)
}

fn compile(text: &str) -> Result<Tera, RenderError> {
    let mut tera = Tera::default();
    tera.autoescape_on(vec![".html"]);
    tera.add_raw_template(NAME, text).map_err(template_error)?;
    Ok(tera)
}

/// The view model as Tera context; `logo_src` replaces the logo's data URI (the
/// HTML-to-PDF route refers to the logo by name).
fn context(doc: &InvoiceDocument, logo_src: Option<&str>) -> Result<Context, RenderError> {
    let mut value = serde_json::to_value(doc).map_err(|e| RenderError::Template(e.to_string()))?;
    if let (Some(src), Some(logo)) = (logo_src, value["organisation"]["logo"].as_object_mut()) {
        logo.insert("src".into(), src.into());
    }
    Context::from_value(value).map_err(template_error)
}

/// Tera's top-level message is generic ("Failed to render ..."); the cause is in
/// its source chain, which template authors need to see.
fn template_error(e: tera::Error) -> RenderError {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    RenderError::Template(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_shows_every_line_and_total() {
        let doc = crate::sample::sample();
        let html = render_html(&doc).unwrap();
        assert!(html.contains("INV-2026-000042"));
        assert!(html.contains("Müller Analytics GmbH"));
        for g in &doc.groups {
            for l in &g.lines {
                assert!(html.contains(&l.display_name), "{}", l.display_name);
                assert!(html.contains(&l.amount.display), "{}", l.amount.display);
            }
        }
        assert!(html.contains(&doc.total.display));
        assert!(html.contains("src=\"data:image/png;base64,"));
    }

    #[test]
    fn values_are_escaped() {
        let mut doc = crate::sample::sample();
        doc.customer.name = "<script>alert(1)</script> & Co".into();
        let html = render_html(&doc).unwrap();
        assert!(!html.contains("<script>"), "raw script tag in the HTML");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt; &amp; Co"));
        let own = render_html_with("<p>{{ customer.name }}</p>", &doc).unwrap();
        assert_eq!(
            own,
            "<p>&lt;script&gt;alert(1)&lt;&#x2F;script&gt; &amp; Co</p>"
        );
    }

    #[test]
    fn organisation_templates_are_checked_when_added() {
        let e = Template::parse("{{ customer.nmae }}").unwrap_err();
        assert!(e.to_string().contains("customer.nmae"), "{e}");
        let e = Template::parse("{% for g in groups %}").unwrap_err();
        assert!(e.to_string().starts_with("template:"), "{e}");
        let t = Template::parse("<h1>{{ number }}</h1>{{ total.display }}").unwrap();
        assert!(!t.is_builtin());
        let html = t.render_html(&crate::sample::sample()).unwrap();
        assert!(html.starts_with("<h1>INV-2026-000042</h1>$"), "{html}");
    }
}
