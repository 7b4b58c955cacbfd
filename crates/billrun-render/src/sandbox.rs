//! What a render sandbox receives and answers: the pure half of rendering an
//! organisation template out of process.
//!
//! Organisation templates are untrusted (see [`crate::html`]): besides the policy,
//! a template can recurse until the stack overflows, loop, or build huge strings.
//! The application therefore renders them in a child process with limits, sending
//! it one [`SandboxRequest`] (JSON on stdin) and reading one [`SandboxResponse`]
//! (JSON on stdout). This module builds the request and does the work in the child
//! ([`serve`]); starting the process and its limits belong to the application.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::html::{context_value, Template};
use crate::logo::Logo;
use crate::model::InvoiceDocument;
use crate::RenderError;

/// One render: a template's text and the invoice to render it with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxRequest {
    /// The template's Tera text.
    pub template: String,
    /// The view model as JSON ([`context_value`] with the logo as a data URI);
    /// `None`: the upload check, which renders the [`crate::sample()`] invoice.
    pub document: Option<Value>,
    /// The logo file as uploaded, base64 (for the PDF, where it is the image
    /// named `logo`).
    pub logo: Option<String>,
}

impl SandboxRequest {
    /// The upload check of a template: it must pass the policy and render the
    /// sample invoice to HTML and PDF.
    pub fn check(template: &str) -> SandboxRequest {
        SandboxRequest {
            template: template.to_string(),
            document: None,
            logo: None,
        }
    }

    /// A render of `doc` with `template`.
    pub fn render(template: &str, doc: &InvoiceDocument) -> Result<SandboxRequest, RenderError> {
        Ok(SandboxRequest {
            template: template.to_string(),
            document: Some(context_value(doc, None)?),
            logo: doc
                .organisation
                .logo
                .as_ref()
                .map(|l| base64::engine::general_purpose::STANDARD.encode(l.bytes())),
        })
    }
}

/// The child's answer: the documents, or why there are none.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxResponse {
    /// The HTML and the PDF (base64).
    Rendered {
        /// The HTML document.
        html: String,
        /// The PDF file, base64.
        pdf: String,
    },
    /// The render failed: the template's error ([`RenderError`]'s text).
    Failed(String),
}

impl SandboxResponse {
    /// The HTML and PDF bytes, or the failure's text.
    pub fn into_result(self) -> Result<(String, Vec<u8>), String> {
        match self {
            SandboxResponse::Rendered { html, pdf } => {
                let pdf = base64::engine::general_purpose::STANDARD
                    .decode(pdf)
                    .map_err(|e| format!("the render sandbox answered a bad PDF: {e}"))?;
                Ok((html, pdf))
            }
            SandboxResponse::Failed(e) => Err(e),
        }
    }
}

/// Does one request (in the child): the policy and compilation again (defence in
/// depth: the text is never trusted to have been checked), then the HTML, then
/// the PDF through printpdf's HTML renderer.
pub fn serve(req: &SandboxRequest) -> SandboxResponse {
    match render(req) {
        Ok((html, pdf)) => SandboxResponse::Rendered {
            html,
            pdf: base64::engine::general_purpose::STANDARD.encode(pdf),
        },
        Err(e) => SandboxResponse::Failed(e.to_string()),
    }
}

fn render(req: &SandboxRequest) -> Result<(String, Vec<u8>), RenderError> {
    let template = Template::compile(&req.template)?;
    let (context, logo) = match &req.document {
        None => {
            let doc = crate::sample::sample();
            (context_value(&doc, None)?, doc.organisation.logo.clone())
        }
        Some(v) => {
            let logo = match &req.logo {
                None => None,
                Some(b64) => {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .map_err(|e| RenderError::Template(format!("logo: {e}")))?;
                    Some(
                        Logo::from_bytes(&bytes)
                            .map_err(|e| RenderError::Template(format!("logo: {e}")))?,
                    )
                }
            };
            (v.clone(), logo)
        }
    };
    let html = template.render_value(&context)?;
    let mut for_pdf = context;
    if let Some(l) = for_pdf["organisation"]["logo"].as_object_mut() {
        l.insert("src".into(), "logo".into());
    }
    let pdf_html = template.render_value(&for_pdf)?;
    #[cfg(feature = "html-pdf")]
    #[cfg(feature = "html-pdf")]
    let info = crate::pdf::PdfInfo::of_context(&for_pdf);
    #[cfg(feature = "html-pdf")]
    let pdf = crate::pdf::render_pdf_from_html(&pdf_html, logo.as_ref(), &info)?;
    #[cfg(not(feature = "html-pdf"))]
    let pdf = {
        let _ = (pdf_html, logo);
        return Err(RenderError::HtmlLayout(
            "organisation templates need billrun-render's `html-pdf` feature for PDF".into(),
        ));
    };
    Ok((html, pdf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_renders_what_the_template_renders_in_process() {
        let text = "<p>{{ number }} {{ customer.name }} {{ total.display }}</p>";
        let doc = crate::sample::sample();
        let req = SandboxRequest::render(text, &doc).unwrap();
        // Through JSON, as the child receives it.
        let req: SandboxRequest =
            serde_json::from_str(&serde_json::to_string(&req).unwrap()).unwrap();
        let (html, pdf) = serve(&req).into_result().unwrap();
        assert_eq!(
            html,
            Template::compile(text).unwrap().render_html(&doc).unwrap()
        );
        assert!(pdf.starts_with(b"%PDF"));
    }

    #[test]
    fn the_policy_is_applied_again_in_the_sandbox() {
        let req = SandboxRequest::check("{{ get_env(name=\"HOME\") }}");
        let e = serve(&req).into_result().unwrap_err();
        assert!(e.contains("process environment"), "{e}");
    }
}
