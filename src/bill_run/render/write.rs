//! What `render-chunk` writes, in one transaction: the rendered documents
//! ([`Documents`], one statement per chunk) and the `deliver-chunk` of the invoices
//! rendered for the first time ([`enqueue_deliver`]).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::PgConnection;

use super::draw::Rendered;
use crate::documents::settings::BUILTIN;
use crate::queue::{JobContext, JobError, JobKind};

/// Documents to store, column by column.
#[derive(Default)]
pub(super) struct Documents {
    ids: Vec<String>,
    templates: Vec<String>,
    versions: Vec<Option<i32>>,
    details: Vec<Value>,
    profiles: Vec<Option<String>>,
    logos: Vec<Option<i32>>,
    htmls: Vec<String>,
    pdfs: Vec<Vec<u8>>,
}

impl Documents {
    /// The columns of `rendered`, in order: the built-in template is recorded as
    /// `builtin` with no version. Errors: billing details that do not serialise
    /// (fatal).
    pub(super) fn of(rendered: Vec<Rendered>) -> Result<Documents, JobError> {
        let mut d = Documents::default();
        for r in rendered {
            d.ids.push(r.id);
            let (t, v) = match r.choice.template {
                Some((t, v)) => (t, Some(v)),
                None => (BUILTIN.to_string(), None),
            };
            d.templates.push(t);
            d.versions.push(v);
            d.details.push(
                serde_json::to_value(&r.choice.details)
                    .map_err(|e| JobError::Fatal(anyhow::anyhow!(e)))?,
            );
            d.profiles.push(r.choice.profile);
            d.logos.push(r.choice.logo_version);
            d.htmls.push(r.html);
            d.pdfs.push(r.pdf);
        }
        Ok(d)
    }

    /// Stores the documents, rendered at `as_of`; returns the ids of the invoices
    /// written. An invoice that has a document keeps it, unless `rerender`: then only
    /// its HTML, PDF and time are replaced (what it was rendered with stays as
    /// recorded).
    pub(super) async fn store(
        &self,
        conn: &mut PgConnection,
        org: &str,
        as_of: DateTime<Utc>,
        rerender: bool,
    ) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(
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
        .bind(&self.ids)
        .bind(&self.templates)
        .bind(&self.versions)
        .bind(&self.details)
        .bind(&self.profiles)
        .bind(&self.logos)
        .bind(&self.htmls)
        .bind(&self.pdfs)
        .bind(as_of)
        .bind(rerender)
        .fetch_all(&mut *conn)
        .await
    }
}

/// Enqueues (in the caller's transaction, so only if it commits) the `deliver-chunk`
/// of `invoices`, a child of the running job.
pub(super) async fn enqueue_deliver(
    conn: &mut PgConnection,
    ctx: &JobContext,
    org: &str,
    invoices: &[String],
) -> Result<(), JobError> {
    let deliver = ctx.child(
        JobKind::DeliverChunk,
        Some(org.to_string()),
        json!({ "organisation": org, "invoices": invoices }),
    );
    crate::queue::enqueue(conn, &deliver, &ctx.child_options(None)).await?;
    Ok(())
}
