//! `finalize-chunk`: DRAFT -> DUE with a gapless number, the invoice date and the due
//! date, in one transaction.
//!
//! Numbers come from one counter per (organisation, sequence key of the number
//! format), read and advanced under a row lock in the same transaction that makes the
//! invoices DUE: concurrent finalizers queue on that row, a rolled-back finalization
//! gives its numbers back, and so numbers are unique and have no gaps. The invoice
//! date is the local date of `as_of` in the organisation's timezone; the due date is
//! the invoice date plus the net term days (the account's, else the organisation's).
//! Drafts that are stale, not past their grace period, or already finalized are
//! skipped, so running a chunk twice changes nothing.

use billrun_core::cycle::local_date;
use billrun_core::numbering::due_date;
use serde_json::{json, Value};

use super::load;
use crate::jobs::{JobContext, JobError};

/// Finalizes the given drafts of `org` that are due for it.
pub async fn finalize_chunk(
    ctx: &JobContext,
    org: &str,
    invoice_ids: &[String],
) -> Result<Value, JobError> {
    let mut tx = ctx.pool.begin().await?;
    let settings = load::org_settings(&mut tx, org).await?;
    // Lock in a fixed order, so overlapping chunks cannot deadlock; the order is also
    // the numbering order (boundary, then account).
    let drafts: Vec<(String, i32)> = sqlx::query_as(
        "SELECT i.id, coalesce(a.net_term_days, o.net_term_days)
         FROM invoices i
         JOIN accounts a ON a.org_id = i.org_id AND a.id = i.account_id
         JOIN organisations o ON o.id = i.org_id
         WHERE i.org_id = $1 AND i.id = ANY($2) AND i.status = 'DRAFT' AND NOT i.stale
           AND i.grace_ends_at <= $3
         ORDER BY i.boundary, i.account_id, i.id
         FOR UPDATE OF i",
    )
    .bind(org)
    .bind(invoice_ids)
    .bind(ctx.as_of)
    .fetch_all(&mut *tx)
    .await?;
    if drafts.is_empty() {
        tx.commit().await?;
        return Ok(json!({ "finalized": 0 }));
    }
    let invoice_date = local_date(ctx.as_of, settings.timezone);
    let key = settings.number_format.sequence_key(invoice_date);
    sqlx::query(
        "INSERT INTO invoice_number_sequences (org_id, sequence_key, last_value) VALUES ($1, $2, 0)
         ON CONFLICT DO NOTHING",
    )
    .bind(org)
    .bind(&key)
    .execute(&mut *tx)
    .await?;
    let last: i64 = sqlx::query_scalar(
        "SELECT last_value FROM invoice_number_sequences WHERE org_id = $1 AND sequence_key = $2 FOR UPDATE",
    )
    .bind(org)
    .bind(&key)
    .fetch_one(&mut *tx)
    .await?;

    let mut ids = Vec::with_capacity(drafts.len());
    let mut numbers = Vec::with_capacity(drafts.len());
    let mut due_dates = Vec::with_capacity(drafts.len());
    let mut terms = Vec::with_capacity(drafts.len());
    for (i, (id, net_terms)) in drafts.into_iter().enumerate() {
        let seq = last as u64 + 1 + i as u64;
        numbers.push(settings.number_format.render(invoice_date, seq));
        due_dates.push(due_date(invoice_date, net_terms.max(0) as u32));
        terms.push(net_terms);
        ids.push(id);
    }
    sqlx::query(
        "UPDATE invoices i
         SET status = 'DUE', number = u.number, invoice_date = $3, due_date = u.due_date,
             net_term_days = u.net_terms, finalized_at = $4
         FROM unnest($2::text[], $5::text[], $6::date[], $7::int[]) AS u(id, number, due_date, net_terms)
         WHERE i.org_id = $1 AND i.id = u.id",
    )
    .bind(org)
    .bind(&ids)
    .bind(invoice_date)
    .bind(ctx.as_of)
    .bind(&numbers)
    .bind(&due_dates)
    .bind(&terms)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE invoice_number_sequences SET last_value = $3 WHERE org_id = $1 AND sequence_key = $2")
        .bind(org)
        .bind(&key)
        .bind(last + ids.len() as i64)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(json!({
        "finalized": ids.len(),
        "first_number": numbers.first(),
        "last_number": numbers.last(),
        "invoice_date": invoice_date,
    }))
}
