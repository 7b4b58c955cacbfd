//! What `render-chunk` writes, in one transaction: the rendered documents
//! ([`Documents`], one statement per chunk) and the `deliver-chunk` of the invoices
//! rendered for the first time ([`enqueue_deliver`]).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::PgConnection;

use super::draw::Rendered;
use crate::documents::settings::BUILTIN;
use crate::documents::store::DocumentStore;
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
    htmls: Vec<Option<String>>,
    pdfs: Vec<Option<Vec<u8>>>,
    html_files: Vec<Option<String>>,
    html_hashes: Vec<Option<String>>,
    pdf_files: Vec<Option<String>>,
    pdf_hashes: Vec<Option<String>>,
}

impl Documents {
    /// The columns of `rendered`, in order: the built-in template is recorded as
    /// `builtin` with no version. Errors: billing details that do not serialise
    /// (fatal), or a document file that cannot be written (retryable). With
    /// [`DocumentStore::Files`], the files are written (and on the disk) before this
    /// returns, and the row will hold their URLs.
    pub(super) async fn of(
        rendered: Vec<Rendered>,
        store: &DocumentStore,
        org: &str,
        at: DateTime<Utc>,
    ) -> Result<Documents, JobError> {
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
            d.htmls.push(Some(r.html));
            d.pdfs.push(Some(r.pdf));
        }
        let n = d.ids.len();
        (d.html_files, d.html_hashes, d.pdf_files, d.pdf_hashes) =
            (vec![None; n], vec![None; n], vec![None; n], vec![None; n]);
        let files: Vec<(String, &'static str, Vec<u8>)> = match store {
            DocumentStore::Postgres => return Ok(d),
            DocumentStore::Files(_) => (0..n)
                .flat_map(|i| {
                    let html = d.htmls[i].take().unwrap_or_default().into_bytes();
                    let pdf = d.pdfs[i].take().unwrap_or_default();
                    [
                        (d.ids[i].clone(), "html", html),
                        (d.ids[i].clone(), "pdf", pdf),
                    ]
                })
                .collect(),
        };
        let stored = store
            .put_all(org, at, files)
            .await
            .map_err(|e| JobError::Retryable(e.into()))?
            .unwrap_or_default();
        for (i, pair) in stored.chunks(2).enumerate() {
            d.html_files[i] = Some(pair[0].url.clone());
            d.html_hashes[i] = Some(pair[0].sha256.clone());
            d.pdf_files[i] = Some(pair[1].url.clone());
            d.pdf_hashes[i] = Some(pair[1].sha256.clone());
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
                 billing_details_profile, logo_version, html, pdf, rendered_at, html_url, html_sha256,
                 pdf_url, pdf_sha256)
             SELECT $1, u.id, u.template, u.version, u.details, u.profile, u.logo, u.html, u.pdf, $10,
                    u.html_url, u.html_sha256, u.pdf_url, u.pdf_sha256
             FROM unnest($2::text[], $3::text[], $4::int[], $5::jsonb[], $6::text[], $7::int[], $8::text[],
                         $9::bytea[], $12::text[], $13::text[], $14::text[], $15::text[])
                  AS u(id, template, version, details, profile, logo, html, pdf, html_url, html_sha256,
                       pdf_url, pdf_sha256)
             ON CONFLICT ON CONSTRAINT invoice_documents_pkey DO UPDATE
               SET html = EXCLUDED.html, pdf = EXCLUDED.pdf, rendered_at = EXCLUDED.rendered_at,
                   html_url = EXCLUDED.html_url, html_sha256 = EXCLUDED.html_sha256,
                   pdf_url = EXCLUDED.pdf_url, pdf_sha256 = EXCLUDED.pdf_sha256
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
        .bind(&self.html_files)
        .bind(&self.html_hashes)
        .bind(&self.pdf_files)
        .bind(&self.pdf_hashes)
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
