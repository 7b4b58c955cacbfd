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

use std::collections::{BTreeSet, HashMap};

use billrun_render::sandbox::SandboxRequest;
use billrun_render::{
    Address, BillingDetails, InvoiceDocument, InvoiceHeader, InvoiceStatus, Logo, Party,
};
use chrono::NaiveDate;
use futures::StreamExt;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::documents::settings::{self, Choice, ChunkSettings, BUILTIN};
use crate::queue::{JobContext, JobError};
use crate::store::status::InvoiceStatus as StoredStatus;

/// What became of an invoice before the sandbox: documents, or a sandbox request
/// (named by its template for errors).
enum Work {
    Done(String, Vec<u8>),
    Sandbox(String, SandboxRequest),
}

/// An invoice's rendered documents.
struct Rendered {
    id: String,
    choice: Choice,
    html: String,
    pdf: Vec<u8>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    status: StoredStatus,
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
    has_document: bool,
    stored_template: Option<String>,
    stored_template_version: Option<i32>,
    stored_details: Option<Value>,
    stored_profile: Option<String>,
    stored_logo: Option<i32>,
}

fn lines_of(address: &Option<Value>) -> Vec<String> {
    address
        .as_ref()
        .and_then(|a| serde_json::from_value::<Address>(a.clone()).ok())
        .map(|a| a.lines())
        .unwrap_or_default()
}

/// The document's status for a stored one. MERGED drafts are never rendered (their
/// lines are on the invoice they went into; the query leaves them out).
fn status(s: StoredStatus) -> InvoiceStatus {
    match s {
        StoredStatus::Draft | StoredStatus::Merged => InvoiceStatus::Draft,
        StoredStatus::Due => InvoiceStatus::Due,
        StoredStatus::Paid => InvoiceStatus::Paid,
        StoredStatus::Void => InvoiceStatus::Void,
    }
}

impl Row {
    /// What was recorded when the invoice was first rendered.
    fn recorded(&self) -> Result<Choice, String> {
        let details: BillingDetails = match &self.stored_details {
            Some(d) => serde_json::from_value(d.clone())
                .map_err(|e| format!("invoice {}: stored billing details: {e}", self.id))?,
            None => BillingDetails::default(),
        };
        let template = match (&self.stored_template, self.stored_template_version) {
            (Some(t), Some(v)) if t != BUILTIN => Some((t.clone(), v)),
            _ => None,
        };
        Ok(Choice {
            template,
            details,
            profile: self.stored_profile.clone(),
            logo_version: self.stored_logo,
        })
    }

    fn header(&self, org_name: &str, choice: &Choice, logo: Option<Logo>) -> InvoiceHeader {
        let period = |s: Option<NaiveDate>, e: Option<NaiveDate>| match (s, e) {
            (Some(s), Some(e)) => Some(billrun_core::Period::new(s, e)),
            _ => None,
        };
        InvoiceHeader {
            organisation_name: org_name.to_string(),
            logo,
            billing_details: choice.details.clone(),
            customer: Party {
                id: self.customer_id.clone(),
                name: self.customer_name.clone(),
                address_lines: lines_of(&self.customer_address),
                emails: self.customer_email.iter().cloned().collect(),
            },
            account: Party {
                id: self.account_id.clone(),
                name: self.account_name.clone(),
                address_lines: lines_of(&self.account_address),
                emails: self.billing_emails.clone(),
            },
            number: self.number.clone(),
            status: status(self.status),
            invoice_date: self.invoice_date,
            // A void invoice is owed by nobody: its document shows no due date (the
            // invoice row keeps it), and the view model's amount due is 0.
            due_date: self.due_date.filter(|_| self.status != StoredStatus::Void),
            net_term_days: self.net_term_days.map(|n| n.max(0) as u32),
            in_arrears: period(self.closing_start, self.closing_end),
            in_advance: period(self.opening_start, self.opening_end),
            amount_paid: Decimal::ZERO,
        }
    }
}

/// Renders and stores the documents of `invoice_ids` (finalized ones only).
pub async fn render_chunk(
    ctx: &JobContext,
    org: &str,
    invoice_ids: &[String],
    rerender: bool,
) -> Result<Value, JobError> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT i.id, i.status, i.number, i.invoice_date, i.due_date, i.net_term_days, i.closing_start,
                i.closing_end, i.opening_start, i.opening_end, i.lines,
                a.id AS account_id, a.name AS account_name, a.address AS account_address, a.billing_emails,
                c.id AS customer_id, c.name AS customer_name, c.address AS customer_address,
                c.primary_email AS customer_email, d.invoice_id IS NOT NULL AS has_document,
                d.template AS stored_template, d.template_version AS stored_template_version,
                d.billing_details AS stored_details, d.billing_details_profile AS stored_profile,
                d.logo_version AS stored_logo
         FROM invoices i
         JOIN accounts a ON a.org_id = i.org_id AND a.id = i.account_id
         JOIN customers c ON c.org_id = a.org_id AND c.id = a.customer_id
         LEFT JOIN invoice_documents d ON d.org_id = i.org_id AND d.invoice_id = i.id
         WHERE i.org_id = $1 AND i.id = ANY($2) AND i.status NOT IN ('DRAFT', 'MERGED') AND ($3 OR d.invoice_id IS NULL)
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
    // Settings once per chunk; each invoice's choice: recorded, or from them.
    let accounts: Vec<String> = rows
        .iter()
        .map(|r| r.account_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let chunk = ChunkSettings::load(&ctx.pool, org, &accounts)
        .await
        .map_err(JobError::Retryable)?;
    let choices: Vec<Choice> = rows
        .iter()
        .map(|r| {
            if r.has_document {
                r.recorded()
            } else {
                Ok(chunk.choose(&r.account_id))
            }
        })
        .collect::<Result<_, _>>()
        .map_err(|e| JobError::Fatal(anyhow::anyhow!(e)))?;
    let wanted_templates: Vec<(String, i32)> = choices
        .iter()
        .filter_map(|c| c.template.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let wanted_logos: Vec<i32> = choices
        .iter()
        .filter_map(|c| c.logo_version)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let bodies = settings::template_bodies(&ctx.pool, org, &wanted_templates)
        .await
        .map_err(JobError::Retryable)?;
    let logo_files = settings::logo_bytes(&ctx.pool, org, &wanted_logos)
        .await
        .map_err(JobError::Retryable)?;
    let org_name = chunk.org_name.clone();

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
            let name = r.number.clone().unwrap_or(r.id.clone());
            let result = (|| -> Result<Work, String> {
                let logo = match choice.logo_version {
                    Some(v) => match logos.get(&v) {
                        Some(Ok(l)) => Some(l.clone()),
                        Some(Err(e)) => return Err(format!("logo version {v}: {e}")),
                        None => return Err(format!("logo version {v} is missing")),
                    },
                    None => None,
                };
                let doc = InvoiceDocument::from_stored_lines(
                    r.header(&org_name, &choice, logo),
                    &r.lines,
                )
                .map_err(|e| e.to_string())?;
                match &choice.template {
                    None => Ok(Work::Done(
                        billrun_render::render_html(&doc).map_err(|e| e.to_string())?,
                        billrun_render::render_pdf(&doc),
                    )),
                    Some((t, v)) => {
                        let body = bodies
                            .get(&(t.clone(), *v))
                            .ok_or_else(|| format!("template {t} version {v} is missing"))?;
                        let req = SandboxRequest::render(body, &doc)
                            .map_err(|e| format!("template {t} version {v}: {e}"))?;
                        Ok(Work::Sandbox(format!("template {t} version {v}"), req))
                    }
                }
            })();
            match result {
                Ok(Work::Done(html, pdf)) => rendered.push(Rendered {
                    id: r.id,
                    choice,
                    html,
                    pdf,
                }),
                Ok(Work::Sandbox(what, req)) => sandboxed.push((r.id, name, choice, what, req)),
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
        .map(|(id, name, choice, what, req)| async move {
            let out = crate::documents::sandbox::render(&req).await;
            (id, name, choice, what, out)
        })
        .buffer_unordered(2);
    while let Some((id, name, choice, what, out)) = outcomes.next().await {
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

    let mut ids = Vec::new();
    let mut templates = Vec::new();
    let mut versions = Vec::new();
    let mut details = Vec::new();
    let mut profiles = Vec::new();
    let mut logos = Vec::new();
    let mut htmls = Vec::new();
    let mut pdfs = Vec::new();
    for r in rendered {
        ids.push(r.id);
        let (t, v) = match r.choice.template {
            Some((t, v)) => (t, Some(v)),
            None => (BUILTIN.to_string(), None),
        };
        templates.push(t);
        versions.push(v);
        details.push(
            serde_json::to_value(&r.choice.details)
                .map_err(|e| JobError::Fatal(anyhow::anyhow!(e)))?,
        );
        profiles.push(r.choice.profile);
        logos.push(r.choice.logo_version);
        htmls.push(r.html);
        pdfs.push(r.pdf);
    }
    let mut tx = ctx.pool.begin().await?;
    // A re-render replaces only the HTML and PDF: what the document was rendered
    // with stays as recorded.
    let written: Vec<String> = sqlx::query_scalar(
        "INSERT INTO invoice_documents (org_id, invoice_id, template, template_version, billing_details,
             billing_details_profile, logo_version, html, pdf, rendered_at)
         SELECT $1, u.id, u.template, u.version, u.details, u.profile, u.logo, u.html, u.pdf, $10
         FROM unnest($2::text[], $3::text[], $4::int[], $5::jsonb[], $6::text[], $7::int[], $8::text[],
                     $9::bytea[]) AS u(id, template, version, details, profile, logo, html, pdf)
         ON CONFLICT ON CONSTRAINT invoice_documents_pkey DO UPDATE
           SET html = EXCLUDED.html, pdf = EXCLUDED.pdf, rendered_at = EXCLUDED.rendered_at
           WHERE $11
         RETURNING invoice_id",
    )
    .bind(org)
    .bind(&ids)
    .bind(&templates)
    .bind(&versions)
    .bind(&details)
    .bind(&profiles)
    .bind(&logos)
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
            crate::queue::JobKind::DeliverChunk,
            Some(org.to_string()),
            json!({ "organisation": org, "invoices": written }),
        );
        crate::queue::enqueue(&mut tx, &deliver, &ctx.child_options(None)).await?;
    }
    tx.commit().await?;
    if !failures.is_empty() {
        // Retrying cannot help until the template is fixed (`billrun template update
        // --file`); then `billrun jobs retry` renders the ones left.
        return Err(JobError::Fatal(anyhow::anyhow!(
            "{} of {} invoices not rendered ({} rendered): {}",
            failures.len(),
            failures.len() + written.len(),
            written.len(),
            failures.join("; ")
        )));
    }
    Ok(json!({ "rendered": written.len() }))
}

/// Whether an invoice has stored documents (without reading them).
pub async fn has_document(
    pool: &sqlx::PgPool,
    org: &str,
    invoice_id: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM invoice_documents WHERE org_id = $1 AND invoice_id = $2)",
    )
    .bind(org)
    .bind(invoice_id)
    .fetch_one(pool)
    .await
}

/// An invoice's stored documents, `(html, pdf)`: none until `render-chunk` has
/// rendered it (after finalization).
pub async fn document(
    pool: &sqlx::PgPool,
    org: &crate::store::OrgId,
    invoice_id: &str,
) -> Result<Option<(String, Vec<u8>)>, sqlx::Error> {
    sqlx::query_as("SELECT html, pdf FROM invoice_documents WHERE org_id = $1 AND invoice_id = $2")
        .bind(org)
        .bind(invoice_id)
        .fetch_optional(pool)
        .await
}
