//! `render-chunk`: the HTML and PDF of finalized invoices, stored in Postgres.
//!
//! Enqueued by `finalize-chunk` in its transaction, for the invoices it finalized.
//! Idempotent: an invoice that has a document keeps it (the template and billing
//! details it was rendered with) unless the job is an explicit re-render
//! (`billrun invoice rerender`), which renders again with the billing details
//! recorded the first time. Rendering runs on the blocking pool: it is CPU work.
//! The invoices rendered for the first time go on to `deliver-chunk`, enqueued in the
//! transaction that stores their documents.

use billrun_render::{
    Address, BillingDetails, InvoiceDocument, InvoiceHeader, InvoiceStatus, Party,
};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::jobs::{JobContext, JobError};

/// An invoice's rendered documents: (invoice id, billing details used, HTML, PDF).
type Rendered = (String, Value, String, Vec<u8>);

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    status: String,
    number: Option<String>,
    invoice_date: Option<NaiveDate>,
    due_date: Option<NaiveDate>,
    net_term_days: Option<i32>,
    closing_start: Option<NaiveDate>,
    closing_end: Option<NaiveDate>,
    opening_start: Option<NaiveDate>,
    opening_end: Option<NaiveDate>,
    lines: Value,
    account_id: String,
    account_name: String,
    account_address: Option<Value>,
    billing_emails: Vec<String>,
    customer_id: String,
    customer_name: String,
    customer_address: Option<Value>,
    customer_email: Option<String>,
    stored_details: Option<Value>,
}

fn lines_of(address: &Option<Value>) -> Vec<String> {
    address
        .as_ref()
        .and_then(|a| serde_json::from_value::<Address>(a.clone()).ok())
        .map(|a| a.lines())
        .unwrap_or_default()
}

fn status(s: &str) -> InvoiceStatus {
    match s {
        "PAID" => InvoiceStatus::Paid,
        "VOID" => InvoiceStatus::Void,
        "DRAFT" => InvoiceStatus::Draft,
        _ => InvoiceStatus::Due,
    }
}

/// Renders and stores the documents of `invoice_ids` (finalized ones only).
pub async fn render_chunk(
    ctx: &JobContext,
    org: &str,
    invoice_ids: &[String],
    rerender: bool,
) -> Result<Value, JobError> {
    let (org_name, billing_email): (String, Option<String>) =
        sqlx::query_as("SELECT name, billing_email FROM organisations WHERE id = $1")
            .bind(org)
            .fetch_one(&ctx.pool)
            .await?;
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT i.id, i.status, i.number, i.invoice_date, i.due_date, i.net_term_days, i.closing_start,
                i.closing_end, i.opening_start, i.opening_end, i.lines,
                a.id AS account_id, a.name AS account_name, a.address AS account_address, a.billing_emails,
                c.id AS customer_id, c.name AS customer_name, c.address AS customer_address,
                c.primary_email AS customer_email, d.billing_details AS stored_details
         FROM invoices i
         JOIN accounts a ON a.org_id = i.org_id AND a.id = i.account_id
         JOIN customers c ON c.org_id = a.org_id AND c.id = a.customer_id
         LEFT JOIN invoice_documents d ON d.org_id = i.org_id AND d.invoice_id = i.id
         WHERE i.org_id = $1 AND i.id = ANY($2) AND i.status <> 'DRAFT' AND ($3 OR d.invoice_id IS NULL)
         ORDER BY i.id",
    )
    .bind(org)
    .bind(invoice_ids)
    .bind(rerender)
    .fetch_all(&ctx.pool)
    .await?;
    if rows.is_empty() {
        return Ok(json!({ "rendered": 0 }));
    }
    // Until billing-details profiles exist, the organisation's own name and email.
    let default_details = BillingDetails {
        legal_name: org_name.clone(),
        email: billing_email,
        ..Default::default()
    };
    let rendered = tokio::task::spawn_blocking(move || -> Result<Vec<Rendered>, String> {
        rows.into_iter()
            .map(|r| {
                let details = match &r.stored_details {
                    Some(d) => serde_json::from_value(d.clone())
                        .map_err(|e| format!("invoice {}: {e}", r.id))?,
                    None => default_details.clone(),
                };
                let period = |s: Option<NaiveDate>, e: Option<NaiveDate>| match (s, e) {
                    (Some(s), Some(e)) => Some(billrun_core::Period::new(s, e)),
                    _ => None,
                };
                let header = InvoiceHeader {
                    organisation_name: org_name.clone(),
                    logo: None,
                    billing_details: details.clone(),
                    customer: Party {
                        id: r.customer_id.clone(),
                        name: r.customer_name.clone(),
                        address_lines: lines_of(&r.customer_address),
                        emails: r.customer_email.iter().cloned().collect(),
                    },
                    account: Party {
                        id: r.account_id.clone(),
                        name: r.account_name.clone(),
                        address_lines: lines_of(&r.account_address),
                        emails: r.billing_emails.clone(),
                    },
                    number: r.number.clone(),
                    status: status(&r.status),
                    invoice_date: r.invoice_date,
                    due_date: r.due_date,
                    net_term_days: r.net_term_days.map(|n| n.max(0) as u32),
                    in_arrears: period(r.closing_start, r.closing_end),
                    in_advance: period(r.opening_start, r.opening_end),
                    amount_paid: Decimal::ZERO,
                };
                let doc = InvoiceDocument::from_stored_lines(header, &r.lines)
                    .map_err(|e| format!("invoice {}: {e}", r.id))?;
                let html = billrun_render::render_html(&doc)
                    .map_err(|e| format!("invoice {}: {e}", r.id))?;
                let pdf = billrun_render::render_pdf(&doc);
                let details = serde_json::to_value(&details).map_err(|e| e.to_string())?;
                Ok((r.id, details, html, pdf))
            })
            .collect()
    })
    .await
    .map_err(|e| JobError::Retryable(anyhow::anyhow!("rendering panicked: {e}")))?
    .map_err(|e| JobError::Fatal(anyhow::anyhow!(e)))?;

    let mut ids = Vec::new();
    let mut details = Vec::new();
    let mut htmls = Vec::new();
    let mut pdfs = Vec::new();
    for (id, d, h, p) in rendered {
        ids.push(id);
        details.push(d);
        htmls.push(h);
        pdfs.push(p);
    }
    let mut tx = ctx.pool.begin().await?;
    let written: Vec<String> = sqlx::query_scalar(
        "INSERT INTO invoice_documents (org_id, invoice_id, billing_details, html, pdf, rendered_at)
         SELECT $1, u.id, u.details, u.html, u.pdf, $6
         FROM unnest($2::text[], $3::jsonb[], $4::text[], $5::bytea[]) AS u(id, details, html, pdf)
         ON CONFLICT ON CONSTRAINT invoice_documents_pkey DO UPDATE
           SET html = EXCLUDED.html, pdf = EXCLUDED.pdf, rendered_at = EXCLUDED.rendered_at
           WHERE $7
         RETURNING invoice_id",
    )
    .bind(org)
    .bind(&ids)
    .bind(&details)
    .bind(&htmls)
    .bind(&pdfs)
    .bind(ctx.as_of)
    .bind(rerender)
    .fetch_all(&mut *tx)
    .await?;
    // Invoices rendered for the first time are emailed (enqueued only if this
    // commits); a re-render is not a reason to email again (`billrun invoice resend`).
    if !rerender && !written.is_empty() {
        let deliver = ctx.child(
            crate::jobs::JobKind::DeliverChunk,
            Some(org.to_string()),
            json!({ "organisation": org, "invoices": written }),
        );
        crate::queue::enqueue(&mut tx, &deliver, &ctx.child_options(None)).await?;
    }
    tx.commit().await?;
    Ok(json!({ "rendered": written.len() }))
}

/// A stored document: (html, pdf).
pub async fn document(
    pool: &sqlx::PgPool,
    org: &str,
    invoice_id: &str,
) -> Result<Option<(String, Vec<u8>)>, sqlx::Error> {
    sqlx::query_as("SELECT html, pdf FROM invoice_documents WHERE org_id = $1 AND invoice_id = $2")
        .bind(org)
        .bind(invoice_id)
        .fetch_optional(pool)
        .await
}
