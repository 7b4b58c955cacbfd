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
use billrun_core::invoice::InvoiceLines;
use billrun_core::plan::CardKind;

#[derive(sqlx::FromRow)]
struct DraftRow {
    id: String,
    account_id: String,
    net_terms: i32,
    lines: Value,
    plan_id: String,
    plan_version: i32,
    timezone: String,
}

/// Grants the credits that the invoices' CREDIT_GRANT lines sold (see
/// [`crate::credits::grant_from_invoice`]). Loads plans only when there is such a line.
async fn grant_sold_credits(
    conn: &mut sqlx::PgConnection,
    org: &str,
    rows: &[DraftRow],
    invoices: &[crate::credits::Finalizing],
    paid: bool,
    as_of: chrono::DateTime<chrono::Utc>,
) -> Result<u64, JobError> {
    let sells = |f: &crate::credits::Finalizing| {
        f.lines
            .grand_total
            .children
            .iter()
            .flat_map(|g| &g.children)
            .any(|l| l.card_kind == Some(CardKind::CreditGrant))
    };
    let mut n = 0;
    for (r, f) in rows.iter().zip(invoices).filter(|(_, f)| sells(f)) {
        let def: Value = sqlx::query_scalar(
            "SELECT definition FROM price_plan_versions WHERE org_id = $1 AND plan_id = $2 AND version = $3",
        )
        .bind(org)
        .bind(&r.plan_id)
        .bind(r.plan_version)
        .fetch_one(&mut *conn)
        .await?;
        let plan = billrun_core::plan::Plan::from_json(&def).map_err(|e| {
            JobError::Fatal(anyhow::anyhow!(
                "plan {} v{}: {e}",
                r.plan_id,
                r.plan_version
            ))
        })?;
        let tz: chrono_tz::Tz = r.timezone.parse().unwrap_or(chrono_tz::Tz::UTC);
        n += crate::credits::grant_from_invoice(
            conn,
            org,
            &r.id,
            &r.account_id,
            &f.lines,
            &plan,
            tz,
            paid,
            as_of,
        )
        .await
        .map_err(|e| JobError::Fatal(anyhow::anyhow!("invoice {}: {e}", r.id)))?;
    }
    Ok(n)
}

/// Grants the PREPAID credits an invoice sold, once it is paid (the `invoice-paid`
/// job). Idempotent: paying twice, or running the job twice, grants once.
pub async fn grant_prepaid_credits(
    ctx: &JobContext,
    org: &str,
    invoice_id: &str,
) -> Result<Value, JobError> {
    let mut tx = ctx.pool.begin().await?;
    let rows: Vec<DraftRow> = sqlx::query_as(
        "SELECT i.id, i.account_id, coalesce(a.net_term_days, o.net_term_days) AS net_terms,
                i.lines, i.plan_id, i.plan_version, coalesce(a.timezone, o.timezone) AS timezone
         FROM invoices i
         JOIN accounts a ON a.org_id = i.org_id AND a.id = i.account_id
         JOIN organisations o ON o.id = i.org_id
         WHERE i.org_id = $1 AND i.id = $2 AND i.status = 'PAID'
         FOR SHARE OF i", // a concurrent void waits for this grant, or wins: nothing granted
    )
    .bind(org)
    .bind(invoice_id)
    .fetch_all(&mut *tx)
    .await?;
    let mut invoices = Vec::new();
    for r in &rows {
        let lines: InvoiceLines = serde_json::from_value(r.lines.clone()).map_err(|e| {
            JobError::Fatal(anyhow::anyhow!(
                "invoice {}: stored lines unreadable: {e}",
                r.id
            ))
        })?;
        invoices.push(crate::credits::Finalizing {
            id: r.id.clone(),
            account_id: r.account_id.clone(),
            lines,
        });
    }
    let granted = grant_sold_credits(&mut tx, org, &rows, &invoices, true, ctx.as_of).await?;
    tx.commit().await?;
    Ok(json!({ "invoice": invoice_id, "paid": !rows.is_empty(), "grants_created": granted }))
}

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
    let rows: Vec<DraftRow> = sqlx::query_as(
        "SELECT i.id, i.account_id, coalesce(a.net_term_days, o.net_term_days) AS net_terms,
                i.lines, i.plan_id, i.plan_version, coalesce(a.timezone, o.timezone) AS timezone
         FROM invoices i
         JOIN accounts a ON a.org_id = i.org_id AND a.id = i.account_id
         JOIN organisations o ON o.id = i.org_id
         WHERE i.org_id = $1 AND i.id = ANY($2) AND i.status = 'DRAFT' AND NOT i.stale
           AND i.grace_ends_at <= $3
         ORDER BY i.boundary, i.account_id, i.association_from, i.id
         FOR UPDATE OF i",
    )
    .bind(org)
    .bind(invoice_ids)
    .bind(ctx.as_of)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        tx.commit().await?;
        return Ok(json!({ "finalized": 0 }));
    }
    // Credits first: they change what is due.
    let mut finalizing = Vec::with_capacity(rows.len());
    for r in &rows {
        let lines: InvoiceLines = serde_json::from_value(r.lines.clone()).map_err(|e| {
            JobError::Fatal(anyhow::anyhow!(
                "invoice {}: stored lines unreadable: {e}",
                r.id
            ))
        })?;
        finalizing.push(crate::credits::Finalizing {
            id: r.id.clone(),
            account_id: r.account_id.clone(),
            lines,
        });
    }
    let credited =
        crate::credits::apply_at_finalization(&mut tx, org, &mut finalizing, ctx.as_of).await?;
    let drafts: Vec<(String, i32)> = rows.iter().map(|r| (r.id.clone(), r.net_terms)).collect();
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
    // The finalized invoices that received credits carry them in their lines.
    let credited_ids: Vec<&str> = finalizing
        .iter()
        .zip(&credited)
        .filter(|(_, c)| !c.is_zero())
        .map(|(f, _)| f.id.as_str())
        .collect();
    if !credited_ids.is_empty() {
        let lines: Vec<Value> = finalizing
            .iter()
            .zip(&credited)
            .filter(|(_, c)| !c.is_zero())
            .map(|(f, _)| serde_json::to_value(&f.lines).expect("invoice lines serialise"))
            .collect();
        let credits: Vec<rust_decimal::Decimal> =
            credited.iter().copied().filter(|c| !c.is_zero()).collect();
        let totals: Vec<rust_decimal::Decimal> = finalizing
            .iter()
            .zip(&credited)
            .filter(|(_, c)| !c.is_zero())
            .map(|(f, _)| f.lines.total.amount)
            .collect();
        sqlx::query(
            "UPDATE invoices i SET lines = u.lines, credits = u.credits, total = u.total
             FROM unnest($2::text[], $3::jsonb[], $4::numeric[], $5::numeric[]) AS u(id, lines, credits, total)
             WHERE i.org_id = $1 AND i.id = u.id",
        )
        .bind(org)
        .bind(&credited_ids)
        .bind(&lines)
        .bind(&credits)
        .bind(&totals)
        .execute(&mut *tx)
        .await?;
    }
    // Credits sold by the invoices (not PREPAID: those wait for the payment).
    let granted = grant_sold_credits(&mut tx, org, &rows, &finalizing, false, ctx.as_of).await?;
    // Their documents, rendered by the next step (enqueued only if this commits).
    let render = ctx.child(
        crate::jobs::JobKind::RenderChunk,
        Some(org.to_string()),
        json!({ "organisation": org, "invoices": ids }),
    );
    crate::queue::enqueue(&mut tx, &render, &ctx.child_options(None)).await?;
    tx.commit().await?;
    Ok(json!({
        "credits_applied": credited_ids.len(),
        "grants_created": granted,
        "finalized": ids.len(),
        "first_number": numbers.first(),
        "last_number": numbers.last(),
        "invoice_date": invoice_date,
    }))
}
