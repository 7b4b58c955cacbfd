//! What `deliver-chunk` reads: the sender ([`sender`]), the chunk's invoices that
//! have QUEUED deliveries, with their PDF ([`invoices`]), and each one's QUEUED
//! recipients ([`queued_recipients`]).

use rust_decimal::Decimal;

use crate::store::status::InvoiceStatus;

/// An invoice to email: what the email says, and its PDF.
#[derive(sqlx::FromRow)]
pub(super) struct InvoiceRow {
    /// The invoice.
    pub id: String,
    /// Its number (finalized invoices have one).
    pub number: Option<String>,
    /// Invoice date (the account's local date).
    pub invoice_date: Option<chrono::NaiveDate>,
    /// Due date (the account's local date).
    pub due_date: Option<chrono::NaiveDate>,
    /// Grand total, in `currency`.
    pub total: Decimal,
    /// ISO 4217 code.
    pub currency: String,
    /// Its stored status.
    pub status: InvoiceStatus,
    /// The account's name.
    pub account_name: String,
    /// The account's customer's name.
    pub customer_name: String,
    /// The stored PDF document (read from its file when the row names one:
    /// [`invoices`] fills it).
    pub pdf: Option<Vec<u8>>,
    /// The PDF's file, when it is not in the row (`crate::documents::store`).
    pub pdf_url: Option<String>,
    /// That file's recorded SHA-256.
    pub pdf_sha256: Option<String>,
    /// Net (sub-total + true-up), `Some` only when the invoice is taxed.
    pub net: Option<Decimal>,
    /// Its tax (when taxed).
    pub tax: Decimal,
    /// The reverse-charge (or exempt...) note, if any.
    pub tax_note: Option<String>,
}

/// The organisation's name and billing email (the default sender).
pub(super) async fn sender(
    pool: &sqlx::PgPool,
    org: &str,
) -> Result<(String, Option<String>), sqlx::Error> {
    sqlx::query_as("SELECT name, billing_email FROM organisations WHERE id = $1")
        .bind(org)
        .fetch_one(pool)
        .await
}

/// The invoices among `invoice_ids` that have documents and at least one QUEUED
/// delivery, in id order, each with its PDF (from the row or its file; a file missing
/// or changed is an error naming it).
pub(super) async fn invoices(
    pool: &sqlx::PgPool,
    org: &str,
    invoice_ids: &[String],
) -> Result<Vec<InvoiceRow>, sqlx::Error> {
    let mut rows: Vec<InvoiceRow> = sqlx::query_as(
        "SELECT i.id, i.number, i.invoice_date, i.due_date, i.total, i.currency, i.status,
                a.name AS account_name, c.name AS customer_name, d.pdf, d.pdf_url, d.pdf_sha256,
                CASE WHEN i.lines ? 'taxes' THEN i.sub_total + i.true_up END AS net, i.tax,
                i.lines ->> 'taxNote' AS tax_note
         FROM invoices i
         JOIN accounts a ON a.org_id = i.org_id AND a.id = i.account_id
         JOIN customers c ON c.org_id = a.org_id AND c.id = a.customer_id
         JOIN invoice_documents d ON d.org_id = i.org_id AND d.invoice_id = i.id
         WHERE i.org_id = $1 AND i.id = ANY($2)
           AND EXISTS (SELECT 1 FROM invoice_deliveries v
                       WHERE v.org_id = i.org_id AND v.invoice_id = i.id AND v.status = 'QUEUED')
         ORDER BY i.id",
    )
    .bind(org)
    .bind(invoice_ids)
    .fetch_all(pool)
    .await?;
    for row in &mut rows {
        if row.pdf.is_none() {
            let file = crate::bill_run::render::load::stored_file(
                row.pdf_url.take(),
                row.pdf_sha256.take(),
            );
            row.pdf = Some(file.await?);
        }
    }
    Ok(rows)
}

/// The QUEUED recipients of document `id` (an invoice or a credit note, as `doc`
/// says), alphabetically.
pub(super) async fn queued_recipients(
    pool: &sqlx::PgPool,
    doc: super::Doc,
    org: &str,
    id: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT recipient FROM {}
         WHERE org_id = $1 AND {} = $2 AND status = 'QUEUED' ORDER BY recipient",
        doc.table(),
        doc.column()
    )))
    .bind(org)
    .bind(id)
    .fetch_all(pool)
    .await
}
