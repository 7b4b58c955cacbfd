//! The credit note's document (README "Credit notes"): HTML and a Factur-X PDF (type
//! 381, BT-25 the credited invoice's number), drawn with the built-in layout from the
//! invoice's document inputs (its parties, the seller details and logo it was
//! rendered with) and the note's stored amounts, and kept in `credit_note_documents`.
//!
//! When: `billrun credit-note create` and `POST /billrun/credit_notes` call
//! [`credit_note_document`] right after the note commits; when that did not happen
//! (a crash in between, a note issued by a void) the first read renders and stores it.
//! Only committed rows go in, so a second render gives the same document; the
//! insert keeps the first one stored (`ON CONFLICT DO NOTHING`). Organisation
//! templates are for invoices: a note always uses the built-in layout.

use std::collections::HashMap;

use billrun_core::credit_note::NoteAmounts;
use billrun_render::{CreditNoteHeader, EInvoiceKind, InvoiceDocument, Logo};
use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::decide::{self, Prepared};
use crate::credits::credit_notes::{self as notes, CreditNoteError, CreditNoteView};
use crate::documents::settings::{self, ChunkSettings};
use crate::store::OrgId;

/// A credit note's stored document.
#[derive(Debug, Clone)]
pub struct CreditNoteDocument {
    /// The note.
    pub note: CreditNoteView,
    /// The HTML document.
    pub html: String,
    /// The Factur-X PDF (PDF/A-3 with `factur-x.xml`).
    pub pdf: Vec<u8>,
    /// The CII XML inside it.
    pub xml: Vec<u8>,
}

/// The document of credit note `id` (id or number) of `org`: the stored one, else
/// rendered now (as of `at`) and stored. Errors: [`CreditNoteError::NotFound`] (also
/// for another organisation's), [`CreditNoteError::Document`] (the invoice is not
/// finalized, its inputs or the note's stored amounts do not make a document: the
/// message says which and why), [`CreditNoteError::Render`] (reading the settings
/// or logo failed, the renderer's thread died), the database.
pub async fn credit_note_document(
    pool: &PgPool,
    org: &OrgId,
    id: &str,
    at: DateTime<Utc>,
) -> Result<CreditNoteDocument, CreditNoteError> {
    let note = notes::show(pool, org, id).await?;
    if let Some(d) = stored(pool, org, &note).await? {
        return Ok(d);
    }
    let doc = view_model(pool, org, &note).await?;
    let invoice_number = note.invoice_number.clone().unwrap_or_default();
    let invoice_date = doc
        .credit_note
        .as_ref()
        .and_then(|c| c.invoice_date)
        .map(|d| d.iso);
    let (html, pdf, xml) = tokio::task::spawn_blocking(move || {
        let html = billrun_render::render_html(&doc).map_err(|e| format!("HTML: {e}"))?;
        let kind = EInvoiceKind::credit_note(&invoice_number, invoice_date);
        let (pdf, xml) =
            billrun_render::render_facturx(&doc, &kind).map_err(|e| format!("PDF: {e}"))?;
        Ok::<_, String>((html, pdf, xml))
    })
    .await
    .map_err(|e| CreditNoteError::Render(format!("rendering panicked: {e}")))?
    .map_err(|reason| CreditNoteError::Document {
        note: note.number.clone(),
        reason,
    })?;
    sqlx::query(
        "INSERT INTO credit_note_documents (org_id, credit_note_id, html, pdf, xml, rendered_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (org_id, credit_note_id) DO NOTHING",
    )
    .bind(org)
    .bind(&note.id)
    .bind(&html)
    .bind(&pdf)
    .bind(&xml)
    .bind(at)
    .execute(pool)
    .await?;
    // Whichever render was stored first is the document.
    stored(pool, org, &note)
        .await?
        .ok_or_else(|| CreditNoteError::Render("the stored document disappeared".into()))
}

async fn stored(
    pool: &PgPool,
    org: &OrgId,
    note: &CreditNoteView,
) -> Result<Option<CreditNoteDocument>, sqlx::Error> {
    type Row = (String, Vec<u8>, Vec<u8>);
    let row: Option<Row> = sqlx::query_as(
        "SELECT html, pdf, xml FROM credit_note_documents
         WHERE org_id = $1 AND credit_note_id = $2",
    )
    .bind(org)
    .bind(&note.id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(html, pdf, xml)| CreditNoteDocument {
        note: note.clone(),
        html,
        pdf,
        xml,
    }))
}

/// The note's view model: the invoice's (as its document was, or would be,
/// rendered: recorded settings first), made a credit note.
async fn view_model(
    pool: &PgPool,
    org: &OrgId,
    note: &CreditNoteView,
) -> Result<InvoiceDocument, CreditNoteError> {
    // What is stored does not make a document (409, the reason named)...
    let render = |what: &str, e: String| CreditNoteError::Document {
        note: note.number.clone(),
        reason: format!("{what}: {e}"),
    };
    // ... or reading what it needs failed (503).
    let unavailable = |what: &str, e: String| CreditNoteError::Render(format!("{what}: {e}"));
    let rows = super::load::invoices(
        pool,
        org.as_str(),
        std::slice::from_ref(&note.invoice_id),
        true,
    )
    .await?;
    let Some(row) = rows.first() else {
        return Err(render(
            &format!(
                "invoice {}",
                note.invoice_number.as_deref().unwrap_or(&note.invoice_id)
            ),
            "it is not finalized".into(),
        ));
    };
    let chunk = ChunkSettings::load(pool, org.as_str(), &decide::accounts(&rows))
        .await
        .map_err(|e| unavailable("document settings", format!("{e:#}")))?;
    let mut choice = decide::choices(&rows, &chunk)
        .map_err(|e| render("document settings", e))?
        .remove(0);
    choice.template = None;
    let logo_files = settings::logo_bytes(
        pool,
        org.as_str(),
        &choice.logo_version.into_iter().collect::<Vec<_>>(),
    )
    .await
    .map_err(|e| unavailable("logo", format!("{e:#}")))?;
    let logos: HashMap<i32, Result<Logo, String>> = logo_files
        .into_iter()
        .map(|(v, b)| (v, Logo::from_bytes(&b).map_err(|e| e.to_string())))
        .collect();
    let invoice = match decide::prepare(row, &choice, &chunk.org_name, &logos, &HashMap::new())
        .map_err(|e| render("invoice", e))?
    {
        Prepared::Builtin(doc) => *doc,
        Prepared::Sandbox { .. } => {
            return Err(render("invoice", "not the built-in layout".into()))
        }
    };
    let amounts: NoteAmounts = serde_json::from_value(note.lines.clone())
        .map_err(|e| render("stored amounts", e.to_string()))?;
    let currency =
        billrun_core::Currency::parse(&note.currency).map_err(|e| render("currency", e.message))?;
    let header = CreditNoteHeader {
        number: note.number.clone(),
        issue_date: note.issue_date,
        issued_at: note.created_at,
        reason: note.reason.clone(),
        description: note.description.clone(),
        balance_amount: note.balance_amount,
        credit_amount: note.credit_amount,
        refund_amount: note.refund_amount,
    };
    Ok(InvoiceDocument::credit_note(
        &invoice, &header, &amounts, currency,
    ))
}
