//! How `render-chunk` draws its documents once [`super::decide`] has prepared them:
//! built-in ones on the blocking pool, in this process; an organisation template's in
//! the render sandbox (a child process with limits, `crate::documents::sandbox`), two
//! at a time. Nothing is read from or written to the database here.

use std::collections::HashMap;

use billrun_render::sandbox::SandboxRequest;
use billrun_render::{EInvoiceKind, Logo, PdfInfo};
use futures::StreamExt;

use super::decide::{self, Prepared};
use super::load::Row;
use crate::documents::settings::Choice;
use crate::queue::JobError;

/// An invoice's rendered documents and what they were rendered with.
pub(super) struct Rendered {
    /// The invoice.
    pub id: String,
    /// What it was rendered with.
    pub choice: Choice,
    /// The HTML document.
    pub html: String,
    /// The PDF file.
    pub pdf: Vec<u8>,
}

/// What became of an invoice before the sandbox: its documents `(html, pdf)`, or a
/// sandbox request (named by its template for errors).
enum Drawn {
    Done(String, Vec<u8>),
    Sandbox(String, SandboxRequest, (Vec<u8>, PdfInfo)),
}

/// Draws the documents of `rows`, each with its choice (same order), for
/// organisation `org_name`, with the template texts `bodies` (by template and
/// version) and the logo files `logo_files` (by version; each parsed once). Returns
/// the rendered documents in invoice id order and the failures (`invoice NAME:
/// reason`), sorted. Errors: only a panic of the blocking render (retryable).
pub(super) async fn draw(
    org_name: String,
    rows: Vec<Row>,
    choices: Vec<Choice>,
    bodies: HashMap<(String, i32), String>,
    logo_files: HashMap<i32, Vec<u8>>,
) -> Result<(Vec<Rendered>, Vec<String>), JobError> {
    // Built-in renders happen here, on the blocking pool; an organisation
    // template's invoice becomes a request for the render sandbox (a child process
    // with limits, `crate::documents::sandbox`): its text never runs in this process.
    let (mut rendered, mut failures, sandboxed) = tokio::task::spawn_blocking(move || {
        let logos: HashMap<i32, Result<Logo, String>> = logo_files
            .into_iter()
            .map(|(v, bytes)| (v, Logo::from_bytes(&bytes).map_err(|e| e.to_string())))
            .collect();
        let mut rendered = Vec::new();
        let mut failures = Vec::new();
        let mut sandboxed = Vec::new();
        for (r, choice) in rows.into_iter().zip(choices) {
            let name = decide::name(&r);
            let result = decide::prepare(&r, &choice, &org_name, &logos, &bodies).and_then(|p| {
                Ok(match p {
                    // Every finalized invoice's PDF is a Factur-X PDF (README
                    // "E-invoices (Factur-X)").
                    Prepared::Builtin(doc) => Drawn::Done(
                        billrun_render::render_html(&doc).map_err(|e| e.to_string())?,
                        billrun_render::render_facturx(&doc, &EInvoiceKind::invoice())
                            .map_err(|e| e.to_string())?
                            .0,
                    ),
                    Prepared::Sandbox {
                        what,
                        request,
                        facturx,
                    } => Drawn::Sandbox(what, request, facturx),
                })
            });
            match result {
                Ok(Drawn::Done(html, pdf)) => rendered.push(Rendered {
                    id: r.id,
                    choice,
                    html,
                    pdf,
                }),
                Ok(Drawn::Sandbox(what, req, fx)) => {
                    sandboxed.push((r.id, name, choice, what, req, fx))
                }
                Err(e) => failures.push(format!("invoice {name}: {e}")),
            }
        }
        (rendered, failures, sandboxed)
    })
    .await
    .map_err(|e| JobError::Retryable(anyhow::anyhow!("rendering panicked: {e}")))?;
    // Two children at a time: a chunk's organisation-template invoices overlap
    // their process start-up without taking more than a worker's cores.
    let mut outcomes = futures::stream::iter(sandboxed)
        .map(|(id, name, choice, what, req, fx)| async move {
            let out = crate::documents::sandbox::render(&req).await;
            (id, name, choice, what, out, fx)
        })
        .buffer_unordered(2);
    while let Some((id, name, choice, what, out, (xml, info))) = outcomes.next().await {
        // The template's PDF gets the e-invoice XML too (a Factur-X PDF).
        let out = out.and_then(|(html, pdf)| {
            billrun_render::facturx::embed(&pdf, &xml, &info)
                .map(|pdf| (html, pdf))
                .map_err(|e| e.to_string())
        });
        match out {
            Ok((html, pdf)) => rendered.push(Rendered {
                id,
                choice,
                html,
                pdf,
            }),
            Err(e) => failures.push(format!("invoice {name}: {what}: {e}")),
        }
    }
    drop(outcomes);
    rendered.sort_by(|a, b| a.id.cmp(&b.id));
    failures.sort();
    Ok((rendered, failures))
}
