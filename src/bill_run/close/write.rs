//! What `close-chunk` writes, set-based: the chunk's new and recomputed drafts
//! ([`InvoiceBatch`]), its opened and closed cycles ([`write_cycles`]), and the
//! `finalize-chunk` job of its drafts that are due ([`enqueue_finalize`]), and the
//! credits that refund seats removed mid-cycle ([`grant_seat_credits`]).

use billrun_core::cycle::local_start_instant;
use billrun_core::invoice::InvoiceLines;
use billrun_core::pricing_rules::RuleLog;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use sqlx::PgConnection;

use super::decide::{CycleWrite, Work};
use crate::queue::{JobContext, JobError, JobKind};
use crate::store::status::CycleStatus;

/// Invoices to write, column by column (one statement per chunk).
#[derive(Default)]
pub(super) struct InvoiceBatch {
    id: Vec<String>,
    account_id: Vec<String>,
    association_from: Vec<NaiveDate>,
    boundary: Vec<NaiveDate>,
    plan_id: Vec<String>,
    plan_version: Vec<i32>,
    currency: Vec<String>,
    closing_index: Vec<Option<i32>>,
    closing_start: Vec<Option<NaiveDate>>,
    closing_end: Vec<Option<NaiveDate>>,
    closing_starts_at: Vec<Option<DateTime<Utc>>>,
    closing_ends_at: Vec<Option<DateTime<Utc>>>,
    opening_index: Vec<Option<i32>>,
    opening_start: Vec<Option<NaiveDate>>,
    opening_end: Vec<Option<NaiveDate>>,
    sub_total: Vec<Decimal>,
    true_up: Vec<Decimal>,
    credits: Vec<Decimal>,
    total: Vec<Decimal>,
    tax: Vec<Decimal>,
    lines: Vec<Value>,
    grace_ends_at: Vec<DateTime<Utc>>,
    pricing_rules_log: Vec<Value>,
}

impl InvoiceBatch {
    /// Adds the invoice of `w` with `lines` and its pricing rules' `log`, as invoice `id`.
    pub(super) fn push(&mut self, id: String, w: &Work<'_>, lines: &InvoiceLines, log: &[RuleLog]) {
        self.pricing_rules_log
            .push(serde_json::to_value(log).expect("a pricing rules log serialises"));
        let c = w.boundary.closing;
        let o = w.boundary.opening;
        self.id.push(id);
        self.account_id.push(w.association.account_id.clone());
        self.association_from.push(w.association.from);
        self.boundary.push(w.boundary.date());
        self.plan_id.push(w.association.plan_id.clone());
        self.plan_version.push(w.association.plan_version);
        self.currency.push(w.currency.code().to_string());
        self.closing_index.push(c.map(|c| c.index as i32));
        self.closing_start.push(c.map(|c| c.billed.start));
        self.closing_end.push(c.map(|c| c.billed.end));
        self.closing_starts_at
            .push(c.map(|c| local_start_instant(c.billed.start, w.tz)));
        self.closing_ends_at
            .push(c.map(|c| local_start_instant(c.billed.end, w.tz)));
        self.opening_index.push(o.map(|o| o.index as i32));
        self.opening_start.push(o.map(|o| o.billed.start));
        self.opening_end.push(o.map(|o| o.billed.end));
        self.sub_total.push(lines.sub_total.amount);
        self.true_up
            .push(lines.true_up.as_ref().map_or(Decimal::ZERO, |t| t.amount));
        self.credits.push(lines.total_credits.amount);
        self.total.push(lines.total.amount);
        self.tax.push(lines.tax_amount());
        self.lines
            .push(serde_json::to_value(lines).expect("invoice lines serialise"));
        // A draft is final once no more usage can arrive for its closing cycle; an
        // opening invoice (in-advance charges only) at once.
        self.grace_ends_at.push(match c {
            Some(c) => local_start_instant(w.plan.pricing_cycle.grace_ends(c.billed.end), w.tz),
            None => local_start_instant(w.boundary.date(), w.tz),
        });
    }

    /// Inserts the batch as DRAFTs; boundaries already invoiced are skipped.
    pub(super) async fn insert(
        &self,
        conn: &mut PgConnection,
        org: &str,
        as_of: DateTime<Utc>,
    ) -> Result<u64, JobError> {
        if self.id.is_empty() {
            return Ok(0);
        }
        Ok(sqlx::query(
            "INSERT INTO invoices (org_id, id, account_id, association_from, boundary, plan_id, plan_version,
                 status, currency, closing_index, closing_start, closing_end, closing_starts_at,
                 closing_ends_at, opening_index, opening_start, opening_end, sub_total, true_up, credits,
                 total, lines, grace_ends_at, computed_at, pricing_rules_log, tax)
             SELECT $1, u.id, u.account_id, u.association_from, u.boundary, u.plan_id, u.plan_version,
                 'DRAFT', u.currency, u.closing_index, u.closing_start, u.closing_end, u.closing_starts_at,
                 u.closing_ends_at, u.opening_index, u.opening_start, u.opening_end, u.sub_total, u.true_up,
                 u.credits, u.total, u.lines, u.grace_ends_at, $23, u.pricing_rules_log, u.tax
             FROM unnest($2::text[], $3::text[], $4::date[], $5::date[], $6::text[], $7::int[], $8::text[],
                         $9::int[], $10::date[], $11::date[], $12::timestamptz[], $13::timestamptz[],
                         $14::int[], $15::date[], $16::date[], $17::numeric[], $18::numeric[],
                         $19::numeric[], $20::numeric[], $21::jsonb[], $22::timestamptz[],
                         $24::jsonb[], $25::numeric[])
               AS u(id, account_id, association_from, boundary, plan_id, plan_version, currency,
                    closing_index, closing_start, closing_end, closing_starts_at, closing_ends_at,
                    opening_index, opening_start, opening_end, sub_total, true_up, credits, total, lines,
                    grace_ends_at, pricing_rules_log, tax)
             ON CONFLICT ON CONSTRAINT invoices_one_per_account_cycle DO NOTHING",
        )
        .bind(org)
        .bind(&self.id)
        .bind(&self.account_id)
        .bind(&self.association_from)
        .bind(&self.boundary)
        .bind(&self.plan_id)
        .bind(&self.plan_version)
        .bind(&self.currency)
        .bind(&self.closing_index)
        .bind(&self.closing_start)
        .bind(&self.closing_end)
        .bind(&self.closing_starts_at)
        .bind(&self.closing_ends_at)
        .bind(&self.opening_index)
        .bind(&self.opening_start)
        .bind(&self.opening_end)
        .bind(&self.sub_total)
        .bind(&self.true_up)
        .bind(&self.credits)
        .bind(&self.total)
        .bind(&self.lines)
        .bind(&self.grace_ends_at)
        .bind(as_of)
        .bind(&self.pricing_rules_log)
        .bind(&self.tax)
        .execute(&mut *conn)
        .await?
        .rows_affected())
    }

    /// Replaces the amounts and lines of drafts that are still drafts.
    pub(super) async fn update_drafts(
        &self,
        conn: &mut PgConnection,
        org: &str,
        as_of: DateTime<Utc>,
    ) -> Result<u64, JobError> {
        if self.id.is_empty() {
            return Ok(0);
        }
        Ok(sqlx::query(
            "UPDATE invoices i SET sub_total = u.sub_total, true_up = u.true_up, credits = u.credits,
                 total = u.total, lines = u.lines, stale = false, computed_at = $7,
                 pricing_rules_log = u.pricing_rules_log, tax = u.tax
             FROM unnest($2::text[], $3::numeric[], $4::numeric[], $5::numeric[], $6::numeric[], $8::jsonb[],
                         $9::jsonb[], $10::numeric[])
               AS u(id, sub_total, true_up, credits, total, lines, pricing_rules_log, tax)
             WHERE i.org_id = $1 AND i.id = u.id AND i.status = 'DRAFT'",
        )
        .bind(org)
        .bind(&self.id)
        .bind(&self.sub_total)
        .bind(&self.true_up)
        .bind(&self.credits)
        .bind(&self.total)
        .bind(as_of)
        .bind(&self.lines)
        .bind(&self.pricing_rules_log)
        .bind(&self.tax)
        .execute(&mut *conn)
        .await?
        .rows_affected())
    }
}

/// Records opened and closed cycles in one statement. A cycle already closed stays
/// closed (a late retry cannot reopen it).
pub(super) async fn write_cycles(
    conn: &mut PgConnection,
    org: &str,
    cycles: &[CycleWrite<'_>],
    as_of: DateTime<Utc>,
) -> Result<(), JobError> {
    if cycles.is_empty() {
        return Ok(());
    }
    let mut account = Vec::new();
    let mut from = Vec::new();
    let mut index = Vec::new();
    let (mut full_start, mut full_end, mut billed_start, mut billed_end) =
        (vec![], vec![], vec![], vec![]);
    let (mut starts_at, mut ends_at, mut status) = (vec![], vec![], vec![]);
    for (a, tz, w, closed) in cycles {
        account.push(a.account_id.clone());
        from.push(a.from);
        index.push(w.index as i32);
        full_start.push(w.full.start);
        full_end.push(w.full.end);
        billed_start.push(w.billed.start);
        billed_end.push(w.billed.end);
        starts_at.push(local_start_instant(w.billed.start, *tz));
        ends_at.push(local_start_instant(w.billed.end, *tz));
        status.push(if *closed {
            CycleStatus::Closed.as_str()
        } else {
            CycleStatus::Open.as_str()
        });
    }
    sqlx::query(
        "INSERT INTO billing_cycles (org_id, account_id, association_from, cycle_index, full_start,
             full_end, billed_start, billed_end, starts_at, ends_at, status, closed_at)
         SELECT $1, u.account_id, u.association_from, u.cycle_index, u.full_start, u.full_end,
                u.billed_start, u.billed_end, u.starts_at, u.ends_at, u.status,
                CASE WHEN u.status = 'CLOSED' THEN $12::timestamptz END
         FROM unnest($2::text[], $3::date[], $4::int[], $5::date[], $6::date[], $7::date[], $8::date[],
                     $9::timestamptz[], $10::timestamptz[], $11::text[])
           AS u(account_id, association_from, cycle_index, full_start, full_end, billed_start,
                billed_end, starts_at, ends_at, status)
         ON CONFLICT (org_id, account_id, association_from, cycle_index)
         DO UPDATE SET status = EXCLUDED.status, closed_at = EXCLUDED.closed_at
         WHERE billing_cycles.status = 'OPEN'",
    )
    .bind(org)
    .bind(&account)
    .bind(&from)
    .bind(&index)
    .bind(&full_start)
    .bind(&full_end)
    .bind(&billed_start)
    .bind(&billed_end)
    .bind(&starts_at)
    .bind(&ends_at)
    .bind(&status)
    .bind(as_of)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Enqueues (in the chunk's transaction) the finalization of the chunk's drafts whose
/// grace period is over, once per close-chunk job (idempotency key `<job id>:finalize`).
pub(super) async fn enqueue_finalize(
    conn: &mut PgConnection,
    ctx: &JobContext,
    org: &str,
    accounts: &[String],
) -> Result<Option<String>, JobError> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM invoices
         WHERE org_id = $1 AND account_id = ANY($2) AND status = 'DRAFT' AND NOT stale
           AND grace_ends_at <= $3
         ORDER BY id",
    )
    .bind(org)
    .bind(accounts)
    .bind(ctx.as_of)
    .fetch_all(&mut *conn)
    .await?;
    if ids.is_empty() {
        return Ok(None);
    }
    let req = ctx.child(
        JobKind::FinalizeChunk,
        Some(org.to_string()),
        json!({ "organisation": org, "invoices": ids }),
    );
    // Keyed by this job: a retry of it (the same job id, after an attempt that
    // committed but was not recorded as done) finds the finalization it enqueued
    // instead of enqueuing the same drafts again.
    let key = format!("{}:finalize", ctx.job_id);
    let job = crate::queue::enqueue(conn, &req, &ctx.child_options(Some(key))).await?;
    Ok(Some(job.id().to_string()))
}

/// Grants the seats removed mid-cycle that `refunds` refund as credits
/// (`proratedRefundMode` CREDITS, [`billrun_core::charges::SeatCredit`]): each
/// `(invoice id, work, credit)` is a grant of the credit's amount in the account's
/// invoice currency, usable from the invoice's boundary (the start of its day in the
/// account's timezone), without expiry, on every line, priority 1, purpose "<card>:
/// Seats removed: 5 x 15/30 days", linked to the invoice and the license card.
/// Once per account, association, cycle, card and first day (the idempotency key
/// `seats:<account>:<association start>:<cycle index>:<card>:<first day>`), so a
/// retried chunk or a recomputed draft grants nothing twice (a recomputed draft keeps
/// the first amount). Errors: a grant refused (fatal, naming the account and card).
pub(super) async fn grant_seat_credits(
    conn: &mut PgConnection,
    org: &str,
    refunds: &[(String, &Work<'_>, &billrun_core::charges::SeatCredit)],
    as_of: DateTime<Utc>,
) -> Result<(), JobError> {
    for (invoice_id, w, c) in refunds {
        let a = w.association;
        let card = w
            .plan
            .license_cards
            .iter()
            .find(|l| l.card.name == c.card_name)
            .map_or(c.card_name.as_str(), |l| l.card.display());
        let g = crate::credits::NewGrant {
            account: a.account_id.clone(),
            amount: c.amount,
            currency: w.currency.code().to_string(),
            purpose: format!("{card}: {}", c.description),
            priority: 1,
            effective_from: Some(local_start_instant(w.boundary.date(), w.tz)),
            effective_until: None,
            applicable_entity_ids: Vec::new(),
            idempotency_key: format!(
                "seats:{}:{}:{}:{}:{}",
                a.account_id, a.from, c.cycle_index, c.card_name, c.period.start
            ),
        };
        crate::credits::grant(conn, org, &g, Some((invoice_id, &c.card_name)), as_of)
            .await
            .map_err(|e| {
                JobError::Fatal(anyhow::anyhow!(
                    "account {}: seats refunded by {:?}: {e}",
                    a.account_id,
                    c.card_name
                ))
            })?;
    }
    Ok(())
}
