//! `render-chunk`: the HTML and PDF of finalized invoices, stored in Postgres.
//!
//! Enqueued by `finalize-chunk` in its transaction, for the invoices it finalized.
//! Idempotent: an invoice that has a document keeps it unless the job is an explicit
//! re-render (`billrun invoice rerender`).
//!
//! What an invoice is rendered with (see `crate::documents::settings`): the
//! account's template, else the organisation's default, else the built-in one; the
//! billing details of that template's profile (else the organisation's name and
//! billing email); the organisation's current logo. The document records all three
//! (template id and version, a copy of the billing details, the logo version), and a
//! re-render uses what was recorded, never the current settings: a DUE invoice keeps
//! the template and billing details it was first rendered with.
//!
//! The settings are loaded once per chunk and each logo is parsed once per chunk.
//! The built-in template renders on the blocking pool and draws its PDF directly.
//! An organisation template is untrusted: each of its invoices is rendered in the
//! render sandbox (`crate::documents::sandbox`, a child process with memory, CPU,
//! stack and time limits; two at a time), its PDF through printpdf's HTML renderer.
//! An invoice whose template fails on it, or overruns a limit, is reported (the job
//! ends dead with each failed invoice and its reason, after storing and enqueuing
//! the delivery of the others); the worker process is never at risk.
//! The invoices rendered for the first time go on to `deliver-chunk`, enqueued in the
//! transaction that stores their documents.
//!
//! The handler reads the chunk's invoices ([`load`]) and the organisation's settings
//! ([`crate::documents::settings`]), decides without I/O what each invoice renders
//! with and how ([`decide`]), draws the documents ([`draw`]), stores them and
//! enqueues their `deliver-chunk` in one transaction ([`write`]).

pub mod credit_note;
mod decide;
mod draw;
pub(crate) mod load;
mod write;

use serde_json::{json, Value};

pub use credit_note::{credit_note_document, CreditNoteDocument};
pub use load::{document, has_document};

use crate::documents::settings::{self, ChunkSettings};
use crate::documents::store::DocumentStore;
use crate::queue::{JobContext, JobError};

/// Renders and stores the documents of `invoice_ids` of `org` (finalized ones only;
/// those with a document already only when `rerender`): load -> decide -> draw ->
/// write -> enqueue. Returns `{"rendered"}` (documents written). Errors: fatal when
/// some invoices could not be rendered (after storing the others and enqueuing their
/// delivery: `N of M invoices not rendered (K rendered): invoice NAME: reason; ...`)
/// or recorded billing details do not parse; retryable when the database is.
pub async fn render_chunk(
    ctx: &JobContext,
    org: &str,
    invoice_ids: &[String],
    rerender: bool,
) -> Result<Value, JobError> {
    // Load.
    let rows = load::invoices(&ctx.pool, org, invoice_ids, rerender).await?;
    if rows.is_empty() {
        return Ok(json!({ "rendered": 0 }));
    }
    // Settings once per chunk; each invoice's choice: recorded, or from them.
    let chunk = ChunkSettings::load(&ctx.pool, org, &decide::accounts(&rows))
        .await
        .map_err(JobError::Retryable)?;
    let choices =
        decide::choices(&rows, &chunk).map_err(|e| JobError::Fatal(anyhow::anyhow!(e)))?;
    let bodies = settings::template_bodies(&ctx.pool, org, &decide::wanted_templates(&choices))
        .await
        .map_err(JobError::Retryable)?;
    let logo_files = settings::logo_bytes(&ctx.pool, org, &decide::wanted_logos(&choices))
        .await
        .map_err(JobError::Retryable)?;

    // Draw.
    let (rendered, failures) =
        draw::draw(chunk.org_name.clone(), rows, choices, bodies, logo_files).await?;

    // Write and enqueue, in one transaction.
    let store = DocumentStore::from_config(&ctx.config).map_err(|e| JobError::Fatal(e.into()))?;
    let documents = write::Documents::of(rendered, &store, org, ctx.as_of).await?;
    let mut tx = ctx.pool.begin().await?;
    let written = documents.store(&mut tx, org, ctx.as_of, rerender).await?;
    // Invoices rendered for the first time are emailed (enqueued only if this
    // commits); a re-render is not a reason to email again (`billrun invoice resend`).
    if decide::deliver_after(rerender, &written) {
        write::enqueue_deliver(&mut tx, ctx, org, &written).await?;
    }
    tx.commit().await?;
    if let Some(e) = decide::failure_error(&failures, written.len()) {
        // Retrying cannot help until the template is fixed (`billrun template update
        // --file`); then `billrun jobs retry` renders the ones left.
        return Err(JobError::Fatal(anyhow::anyhow!(e)));
    }
    Ok(json!({ "rendered": written.len() }))
}
