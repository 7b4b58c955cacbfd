//! What `render-chunk` reads: the chunk's invoices with their account, customer and
//! recorded document settings ([`invoices`]). The organisation's settings, template
//! texts and logos are read through [`crate::documents::settings`]. Also the stored
//! documents' reads for other callers ([`has_document`], [`document`]).

use chrono::NaiveDate;
use serde_json::Value;

use crate::store::status::InvoiceStatus as StoredStatus;

/// One invoice to render, with what its document shows and what an earlier render
/// recorded (the `stored_*` columns, set when `has_document`).
#[derive(sqlx::FromRow)]
pub(super) struct Row {
    /// The invoice.
    pub id: String,
    /// Its stored status (never DRAFT or MERGED: [`invoices`] leaves them out).
    pub status: StoredStatus,
    /// Its number (finalized invoices have one).
    pub number: Option<String>,
    /// Invoice date (the account's local date).
    pub invoice_date: Option<NaiveDate>,
    /// Due date (the account's local date).
    pub due_date: Option<NaiveDate>,
    /// When it was finalized (the PDF's creation date).
    pub finalized_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Net terms, days.
    pub net_term_days: Option<i32>,
    /// The closing cycle's billed period: start (inclusive).
    pub closing_start: Option<NaiveDate>,
    /// The closing cycle's billed period: end (exclusive).
    pub closing_end: Option<NaiveDate>,
    /// The opening cycle's billed period: start (inclusive).
    pub opening_start: Option<NaiveDate>,
    /// The opening cycle's billed period: end (exclusive).
    pub opening_end: Option<NaiveDate>,
    /// The stored line tree (`billrun_core::invoice::InvoiceLines` as JSON).
    pub lines: Value,
    /// The account.
    pub account_id: String,
    /// The account's name.
    pub account_name: String,
    /// The account's address (`billrun_render::Address` as JSON).
    pub account_address: Option<Value>,
    /// The account's billing emails.
    pub billing_emails: Vec<String>,
    /// The account's customer.
    pub customer_id: String,
    /// The customer's name.
    pub customer_name: String,
    /// The customer's address (`billrun_render::Address` as JSON).
    pub customer_address: Option<Value>,
    /// The customer's primary email.
    pub customer_email: Option<String>,
    /// The customer's tax id (README "Taxes").
    pub customer_tax_id: Option<String>,
    /// The account's own tax id, if any.
    pub account_tax_id: Option<String>,
    /// Whether the invoice has stored documents already.
    pub has_document: bool,
    /// The recorded template id (`builtin` for the built-in one).
    pub stored_template: Option<String>,
    /// The recorded template version (none for the built-in one).
    pub stored_template_version: Option<i32>,
    /// The recorded copy of the billing details (`billrun_render::BillingDetails`).
    pub stored_details: Option<Value>,
    /// The recorded billing-details profile.
    pub stored_profile: Option<String>,
    /// The recorded logo version.
    pub stored_logo: Option<i32>,
}

/// The finalized invoices among `invoice_ids` (not DRAFT, not MERGED) that have no
/// document yet, or all of them when `rerender`; in id order.
pub(super) async fn invoices(
    pool: &sqlx::PgPool,
    org: &str,
    invoice_ids: &[String],
    rerender: bool,
) -> Result<Vec<Row>, sqlx::Error> {
    sqlx::query_as(
        "SELECT i.id, i.status, i.number, i.invoice_date, i.due_date, i.finalized_at, i.net_term_days, i.closing_start,
                i.closing_end, i.opening_start, i.opening_end, i.lines,
                a.id AS account_id, a.name AS account_name, a.address AS account_address, a.billing_emails,
                c.id AS customer_id, c.name AS customer_name, c.address AS customer_address,
                c.primary_email AS customer_email, c.tax_id AS customer_tax_id,
                a.tax_id AS account_tax_id, d.invoice_id IS NOT NULL AS has_document,
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
    .fetch_all(pool)
    .await
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
/// rendered it (after finalization). Read from the row, or from the files it names
/// (`crate::documents::store`); a file missing or changed is an error naming it
/// (`sqlx::Error::Io`, a server fault).
pub async fn document(
    pool: &sqlx::PgPool,
    org: &crate::store::OrgId,
    invoice_id: &str,
) -> Result<Option<(String, Vec<u8>)>, sqlx::Error> {
    type Row = (
        Option<String>,
        Option<Vec<u8>>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT html, pdf, html_url, html_sha256, pdf_url, pdf_sha256
         FROM invoice_documents WHERE org_id = $1 AND invoice_id = $2",
    )
    .bind(org)
    .bind(invoice_id)
    .fetch_optional(pool)
    .await?;
    let Some((html, pdf, html_url, html_sha, pdf_url, pdf_sha)) = row else {
        return Ok(None);
    };
    let html = match html {
        Some(h) => h,
        None => {
            let bytes = stored_file(html_url, html_sha).await?;
            String::from_utf8(bytes).map_err(|e| sqlx::Error::Decode(Box::new(e)))?
        }
    };
    let pdf = match pdf {
        Some(p) => p,
        None => stored_file(pdf_url, pdf_sha).await?,
    };
    Ok(Some((html, pdf)))
}

/// The bytes of a document kept as a file (`url`, `sha256` from its row; both are set
/// when the bytes are not in the row, by the table's constraint).
pub(crate) async fn stored_file(
    url: Option<String>,
    sha256: Option<String>,
) -> Result<Vec<u8>, sqlx::Error> {
    crate::documents::store::read_file(&url.unwrap_or_default(), &sha256.unwrap_or_default())
        .await
        .map_err(sqlx::Error::Io)
}
