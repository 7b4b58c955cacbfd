//! `finalize-chunk`: DRAFT -> DUE with a gapless number, the invoice date and the due
//! date, in one transaction.
//!
//! Numbers come from one counter per (organisation, sequence key of the number
//! format), read and advanced under a row lock in the same transaction that makes the
//! invoices DUE: concurrent finalizers queue on that row, a rolled-back finalization
//! gives its numbers back, and so numbers are unique and have no gaps. The invoice
//! date is the local date of `as_of` in the **account's** timezone (the one its cycles
//! are computed in, so an invoice is never dated before the boundary it closes); the
//! due date is the invoice date plus the net term days (the account's, else the
//! organisation's). A format whose counter resets per period counts each invoice in
//! the period of its own date. An invoice with nothing to collect (its total is 0.00,
//! through credits or zero usage) is finalized straight to PAID (README "Invoices").
//! Drafts that are stale, not past their grace period, or already finalized are
//! skipped, so running a chunk twice changes nothing.

use billrun_core::cycle::local_date;
use billrun_core::numbering::due_date;
use serde_json::{json, Value};

use super::load;
use crate::credits::{grant_sold_credits, Finalizing, Selling};
use crate::queue::{JobContext, JobError};
use crate::store::status::InvoiceStatus;
use crate::timing::{Phase, Step, Stopwatch};
use billrun_core::invoice::InvoiceLines;

#[derive(Clone, sqlx::FromRow)]
struct DraftRow {
    id: String,
    account_id: String,
    net_terms: i32,
    lines: Value,
    plan_id: String,
    plan_version: i32,
    timezone: String,
    boundary: chrono::NaiveDate,
}

/// Splits `rows` (ordered by boundary, account, plan period) into the invoices to
/// finalize and the drafts merged into them: consecutive drafts of one account and
/// boundary date become the first one, whose lines are all of theirs
/// ([`InvoiceLines::merge`], labelled by plan and version). Returns the kept rows,
/// their lines, and (merged draft, invoice it went into) pairs.
#[allow(clippy::type_complexity)]
fn merge_same_date(
    rows: Vec<DraftRow>,
    finalizing: Vec<Finalizing>,
) -> (Vec<DraftRow>, Vec<Finalizing>, Vec<(String, String)>) {
    let mut kept_rows: Vec<DraftRow> = Vec::with_capacity(rows.len());
    let mut kept: Vec<Finalizing> = Vec::with_capacity(rows.len());
    let mut parts: Vec<(String, InvoiceLines)> = Vec::new();
    let mut merged = Vec::new();
    for (r, f) in rows.into_iter().zip(finalizing) {
        let label = format!("{} v{}", r.plan_id, r.plan_version);
        let same_date = kept_rows
            .last()
            .is_some_and(|p| p.account_id == r.account_id && p.boundary == r.boundary);
        if same_date {
            if parts.is_empty() {
                let p = kept_rows.last().expect("a previous row");
                let first = kept.last().expect("its lines");
                parts.push((
                    format!("{} v{}", p.plan_id, p.plan_version),
                    first.lines.clone(),
                ));
            }
            parts.push((label, f.lines));
            let primary = kept.last_mut().expect("its lines");
            primary.lines = InvoiceLines::merge(&parts);
            merged.push((r.id, primary.id.clone()));
            continue;
        }
        parts.clear();
        kept_rows.push(r);
        kept.push(f);
    }
    (kept_rows, kept, merged)
}

/// Finalizes the given drafts of `org` that are due for it.
pub async fn finalize_chunk(
    ctx: &JobContext,
    org: &str,
    invoice_ids: &[String],
) -> Result<Value, JobError> {
    let mut tx = ctx.pool.begin().await?;
    let mut sw = Stopwatch::start(Step::Finalize);
    let settings = load::org_settings(&mut tx, org).await?;
    // Lock in a fixed order, so overlapping chunks cannot deadlock; the order is also
    // the numbering order (boundary, then account).
    let rows: Vec<DraftRow> = sqlx::query_as(
        "SELECT i.id, i.account_id, coalesce(a.net_term_days, o.net_term_days) AS net_terms,
                i.lines, i.plan_id, i.plan_version, coalesce(a.timezone, o.timezone) AS timezone, i.boundary
         FROM invoices i
         JOIN accounts a ON a.org_id = i.org_id AND a.id = i.account_id
         JOIN organisations o ON o.id = i.org_id
         WHERE i.org_id = $1 AND i.status = 'DRAFT' AND NOT i.stale AND i.grace_ends_at <= $3
           -- the given drafts, and the other drafts of their accounts on the same date
           AND (i.account_id, i.boundary) IN
               (SELECT account_id, boundary FROM invoices WHERE org_id = $1 AND id = ANY($2))
           -- one invoice per account and date: wait until all of that date's are due
           AND NOT EXISTS (SELECT 1 FROM invoices s
                           WHERE s.org_id = i.org_id AND s.account_id = i.account_id
                             AND s.boundary = i.boundary AND s.status = 'DRAFT'
                             AND (s.stale OR s.grace_ends_at > $3))
         ORDER BY i.boundary, i.account_id, i.association_from, i.id
         FOR UPDATE OF i",
    )
    .bind(org)
    .bind(invoice_ids)
    .bind(ctx.as_of)
    .fetch_all(&mut *tx)
    .await?;
    sw.lap(Phase::Read);
    if rows.is_empty() {
        tx.commit().await?;
        sw.lap(Phase::Commit);
        return Ok(json!({ "finalized": 0 }));
    }
    // Credits first: they change what is due.
    let mut finalizing = Vec::with_capacity(rows.len());
    for r in &rows {
        finalizing.push(Finalizing::from_stored(
            &r.id,
            &r.account_id,
            &r.lines,
            &r.timezone,
        )?);
    }
    // One invoice per account and boundary date: the drafts of a plan change (the old
    // plan's closing part, the new plan's opening part) become one, the first (the
    // earlier plan period) carrying the lines of all, grouped by plan period; the
    // others are MERGED into it (Togai's status for consolidated originals).
    // Credits sold are granted per draft, from the plan that priced its lines.
    let (sold_rows, sold) = (rows.clone(), finalizing.clone());
    let (rows, mut finalizing, merged) = merge_same_date(rows, finalizing);
    sw.lap(Phase::Core);
    // Date by date (a catch-up finalizes several cycles of an account at once): the
    // credits applied to a date's invoices, then the credits those invoices sell (not
    // PREPAID, unless the invoice is paid at once: nothing to collect), so that a
    // cycle's credits can pay the invoice that closes the cycle (README "Credits").
    let mut credited = vec![rust_decimal::Decimal::ZERO; finalizing.len()];
    let mut granted = 0;
    let boundaries: std::collections::BTreeSet<chrono::NaiveDate> =
        rows.iter().map(|r| r.boundary).collect();
    for boundary in boundaries {
        let on_date: Vec<usize> = (0..rows.len())
            .filter(|&k| rows[k].boundary == boundary)
            .collect();
        let mut group: Vec<Finalizing> = on_date.iter().map(|&k| finalizing[k].clone()).collect();
        let applied =
            crate::credits::apply_at_finalization(&mut tx, org, &mut group, ctx.as_of).await?;
        let mut paid_at_once: Vec<&str> = Vec::new();
        for ((&k, f), c) in on_date.iter().zip(group).zip(applied) {
            credited[k] = c;
            finalizing[k] = f;
            if finalizing[k].lines.total.amount.is_zero() {
                paid_at_once.push(rows[k].id.as_str());
            }
        }
        let sold_on_date = |paid_only: bool| -> Vec<Selling<'_>> {
            sold_rows
                .iter()
                .zip(&sold)
                .filter(|(r, _)| r.boundary == boundary)
                .filter(|(r, _)| {
                    !paid_only
                        || paid_at_once.contains(&r.id.as_str())
                        || merged
                            .iter()
                            .any(|(m, p)| *m == r.id && paid_at_once.contains(&p.as_str()))
                })
                .map(|(r, f)| Selling {
                    plan_id: &r.plan_id,
                    plan_version: r.plan_version,
                    invoice: f,
                })
                .collect()
        };
        granted += grant_sold_credits(&mut tx, org, &sold_on_date(false), false, ctx.as_of).await?;
        granted += grant_sold_credits(&mut tx, org, &sold_on_date(true), true, ctx.as_of).await?;
    }
    // Credits: their grants are read (under a row lock); written only when some apply.
    sw.lap(Phase::Read);
    // Each invoice is dated in its account's timezone; its number comes from the
    // counter of its date's period. Counters are locked in key order (no deadlock
    // between chunks) and each is read and advanced once.
    let dates: Vec<chrono::NaiveDate> = finalizing
        .iter()
        .map(|f| local_date(ctx.as_of, f.timezone))
        .collect();
    let keys: Vec<String> = dates
        .iter()
        .map(|d| settings.number_format.sequence_key(*d))
        .collect();
    let mut counters: std::collections::BTreeMap<&str, (i64, i64)> =
        keys.iter().map(|k| (k.as_str(), (0, 0))).collect();
    for (key, (last, _)) in counters.iter_mut() {
        sqlx::query(
            "INSERT INTO invoice_number_sequences (org_id, sequence_key, last_value) VALUES ($1, $2, 0)
             ON CONFLICT DO NOTHING",
        )
        .bind(org)
        .bind(*key)
        .execute(&mut *tx)
        .await?;
        *last = sqlx::query_scalar(
            "SELECT last_value FROM invoice_number_sequences WHERE org_id = $1 AND sequence_key = $2 FOR UPDATE",
        )
        .bind(org)
        .bind(*key)
        .fetch_one(&mut *tx)
        .await?;
    }
    sw.lap(Phase::Lock);

    let mut ids = Vec::with_capacity(rows.len());
    let mut numbers = Vec::with_capacity(rows.len());
    let mut invoice_dates = Vec::with_capacity(rows.len());
    let mut due_dates = Vec::with_capacity(rows.len());
    let mut terms = Vec::with_capacity(rows.len());
    let mut statuses = Vec::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        let (last, used) = counters
            .get_mut(keys[i].as_str())
            .expect("a counter per key");
        *used += 1;
        let seq = (*last + *used) as u64;
        numbers.push(settings.number_format.render(dates[i], seq));
        invoice_dates.push(dates[i]);
        due_dates.push(due_date(dates[i], r.net_terms.max(0) as u32));
        terms.push(r.net_terms);
        // Nothing to collect: paid at once.
        statuses.push(if finalizing[i].lines.total.amount.is_zero() {
            InvoiceStatus::Paid.as_str()
        } else {
            InvoiceStatus::Due.as_str()
        });
        ids.push(r.id.clone());
    }
    sw.lap(Phase::Core);
    sqlx::query(
        "UPDATE invoices i
         SET status = u.status, number = u.number, invoice_date = u.invoice_date, due_date = u.due_date,
             net_term_days = u.net_terms, finalized_at = $3,
             paid_at = CASE WHEN u.status = 'PAID' THEN $3 END
         FROM unnest($2::text[], $4::text[], $5::date[], $6::date[], $7::int[], $8::text[])
           AS u(id, number, invoice_date, due_date, net_terms, status)
         WHERE i.org_id = $1 AND i.id = u.id",
    )
    .bind(org)
    .bind(&ids)
    .bind(ctx.as_of)
    .bind(&numbers)
    .bind(&invoice_dates)
    .bind(&due_dates)
    .bind(&terms)
    .bind(&statuses)
    .execute(&mut *tx)
    .await?;
    for (key, (last, used)) in &counters {
        sqlx::query(
            "UPDATE invoice_number_sequences SET last_value = $3 WHERE org_id = $1 AND sequence_key = $2",
        )
        .bind(org)
        .bind(*key)
        .bind(last + used)
        .execute(&mut *tx)
        .await?;
    }
    // The invoices that received credits or other drafts' lines carry them.
    let changed: Vec<usize> = (0..finalizing.len())
        .filter(|&k| !credited[k].is_zero() || merged.iter().any(|(_, p)| *p == finalizing[k].id))
        .collect();
    if !changed.is_empty() {
        let ids: Vec<&str> = changed.iter().map(|&k| finalizing[k].id.as_str()).collect();
        let lines: Vec<Value> = changed
            .iter()
            .map(|&k| serde_json::to_value(&finalizing[k].lines).expect("invoice lines serialise"))
            .collect();
        let amounts =
            |f: &dyn Fn(&InvoiceLines) -> rust_decimal::Decimal| -> Vec<rust_decimal::Decimal> {
                changed.iter().map(|&k| f(&finalizing[k].lines)).collect()
            };
        sqlx::query(
            "UPDATE invoices i SET lines = u.lines, sub_total = u.sub_total, true_up = u.true_up,
                 credits = u.credits, total = u.total, tax = u.tax
             FROM unnest($2::text[], $3::jsonb[], $4::numeric[], $5::numeric[], $6::numeric[], $7::numeric[],
                         $8::numeric[])
               AS u(id, lines, sub_total, true_up, credits, total, tax)
             WHERE i.org_id = $1 AND i.id = u.id",
        )
        .bind(org)
        .bind(&ids)
        .bind(&lines)
        .bind(amounts(&|l| l.sub_total.amount))
        .bind(amounts(&|l| l.true_up.as_ref().map_or(rust_decimal::Decimal::ZERO, |t| t.amount)))
        .bind(amounts(&|l| l.total_credits.amount))
        .bind(amounts(&|l| l.total.amount))
        .bind(amounts(&|l| l.tax_amount()))
        .execute(&mut *tx)
        .await?;
    }
    if !merged.is_empty() {
        let (secondary, primary): (Vec<String>, Vec<String>) = merged.iter().cloned().unzip();
        sqlx::query(
            "UPDATE invoices i SET status = 'MERGED', merged_into = u.primary_id, finalized_at = $4
             FROM unnest($2::text[], $3::text[]) AS u(id, primary_id)
             WHERE i.org_id = $1 AND i.id = u.id",
        )
        .bind(org)
        .bind(&secondary)
        .bind(&primary)
        .bind(ctx.as_of)
        .execute(&mut *tx)
        .await?;
    }
    let credited_ids: Vec<&str> = finalizing
        .iter()
        .zip(&credited)
        .filter(|(_, c)| !c.is_zero())
        .map(|(f, _)| f.id.as_str())
        .collect();
    let credits_applied = credited_ids.len();
    let paid = statuses
        .iter()
        .filter(|s| **s == InvoiceStatus::Paid.as_str())
        .count();
    sw.lap(Phase::Write);
    // Their documents, rendered by the next step (enqueued only if this commits).
    let render = ctx.child(
        crate::queue::JobKind::RenderChunk,
        Some(org.to_string()),
        json!({ "organisation": org, "invoices": ids }),
    );
    crate::queue::enqueue(&mut tx, &render, &ctx.child_options(None)).await?;
    sw.lap(Phase::Enqueue);
    tx.commit().await?;
    sw.lap(Phase::Commit);
    Ok(json!({
        "creditsApplied": credits_applied,
        "merged": merged.len(),
        "grantsCreated": granted,
        "finalized": ids.len(),
        "paidAtOnce": paid,
        "firstNumber": numbers.first(),
        "lastNumber": numbers.last(),
        "invoiceDate": invoice_dates.first(),
    }))
}
