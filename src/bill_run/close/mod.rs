//! `close-chunk`: opens and closes the cycles of a chunk of accounts and writes their
//! DRAFT invoices, in one transaction.
//!
//! For each plan association of each account (as of `as_of`, in the account's
//! timezone):
//! - not opened yet and started: cycle 0 is opened, and an invoice for the opening
//!   boundary is written if the plan bills anything in advance;
//! - an open cycle that has ended: it is closed, the next one opened, and the invoice
//!   of their boundary written (in-arrears charges of the closing cycle, in-advance
//!   charges of the opening one). Repeated while the next cycle has ended too, so a
//!   long outage is caught up;
//! - a stale draft (usage arrived for its cycle after it was computed): recomputed.
//!
//! The accounts are locked first (in id order), so overlapping chunks serialise;
//! every write is keyed (cycles by index, invoices by boundary), so a retried chunk
//! writes nothing twice. An association that cannot be billed (no rate in the
//! account's currency, a plan that no longer parses) is reported in the job's result
//! and the log, and left open: the rest of the chunk is billed.

use std::collections::{HashMap, HashSet};

use billrun_core::boundary::{plan_association, Boundary, Progress};
use billrun_core::charges::{invoice_contents, CycleInput};
use billrun_core::cycle::{local_start_instant, CycleWindow};
use billrun_core::invoice::InvoiceLines;
use billrun_core::plan::Plan;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::PgConnection;

use super::load::{self, Association, UsageWindow};
use crate::queue::{JobContext, JobError, JobKind};
use crate::store::status::CycleStatus;

/// An account that could not be billed, and why (in `close-chunk`'s job result:
/// `{"accountId", "error"}`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// The account.
    pub account_id: String,
    /// What went wrong.
    pub error: String,
}

struct Work<'a> {
    association: &'a Association,
    plan: &'a Plan,
    tz: Tz,
    currency: billrun_core::Currency,
    boundary: Boundary,
    /// Set when recomputing a stale draft.
    draft_id: Option<String>,
    usage_index: Option<usize>,
}

/// Runs `close-chunk` for `accounts` of `org`.
pub async fn close_chunk(
    ctx: &JobContext,
    org: &str,
    accounts: &[String],
) -> Result<Value, JobError> {
    let mut tx = ctx.pool.begin().await?;
    let conn: &mut PgConnection = &mut tx;
    load::lock_accounts(conn, org, accounts).await?;
    let settings = load::org_settings(conn, org).await?;
    let account_rows = load::accounts(conn, &settings, accounts).await?;
    let associations = load::associations(conn, org, accounts).await?;
    let plans = load::plans(conn, org, &associations).await?;
    let progress = association_progress(conn, org, accounts).await?;
    let stale = stale_drafts(conn, org, accounts).await?;

    let mut failures = Vec::new();
    let mut work: Vec<Work> = Vec::new();
    let mut cycle_writes: Vec<(&Association, Tz, CycleWindow, bool)> = Vec::new();
    for a in &associations {
        let account = match account_rows.get(&a.account_id) {
            Some(Ok(acc)) => acc,
            Some(Err(e)) => {
                failures.push(Failure {
                    account_id: a.account_id.clone(),
                    error: e.clone(),
                });
                continue;
            }
            None => continue,
        };
        let plan = match plans.get(&a.key()) {
            Some(Ok(p)) => p,
            Some(Err(e)) => {
                failures.push(Failure {
                    account_id: a.account_id.clone(),
                    error: e.clone(),
                });
                continue;
            }
            None => continue,
        };
        let key = (a.account_id.clone(), a.from);
        let p = progress.get(&key).copied().unwrap_or(Progress::NotOpened);
        let (cycle_config, billed_from) = a.billing(plan);
        let (boundaries, cycles) = plan_association(
            &cycle_config,
            billed_from,
            a.until,
            p,
            account.timezone,
            ctx.as_of,
        );
        for (w, closed) in cycles {
            cycle_writes.push((a, account.timezone, w, closed));
        }
        for boundary in boundaries {
            work.push(Work {
                association: a,
                plan,
                tz: account.timezone,
                currency: account.currency,
                boundary,
                draft_id: None,
                usage_index: None,
            });
        }
        for draft in stale
            .iter()
            .filter(|d| d.account_id == a.account_id && d.association_from == a.from)
        {
            let (cycle_config, billed_from) = a.billing(plan);
            let window = |i: Option<i32>| {
                i.and_then(|i| cycle_config.window_at(billed_from, a.until, i as u32))
            };
            work.push(Work {
                association: a,
                plan,
                tz: account.timezone,
                currency: account.currency,
                boundary: Boundary {
                    closing: window(draft.closing_index),
                    opening: window(draft.opening_index),
                },
                draft_id: Some(draft.id.clone()),
                usage_index: None,
            });
        }
    }

    // Usage of every closing cycle of the chunk, in one query.
    let mut windows = Vec::new();
    for w in work.iter_mut() {
        if let Some(c) = w.boundary.closing {
            w.usage_index = Some(windows.len());
            windows.push(UsageWindow {
                account_id: w.association.account_id.clone(),
                starts_at: local_start_instant(c.billed.start, w.tz),
                ends_at: local_start_instant(c.billed.end, w.tz),
            });
        }
    }
    let usage = load::usage(conn, org, &windows).await?;
    let tzs: HashMap<String, Tz> = work
        .iter()
        .map(|w| (w.association.account_id.clone(), w.tz))
        .collect();
    let account_ids: Vec<String> = tzs.keys().cloned().collect();
    let licenses = load::license_changes(conn, org, &account_ids, &tzs).await?;

    let mut failed_associations: HashSet<(String, NaiveDate)> = HashSet::new();
    let mut new_invoices = InvoiceBatch::default();
    let mut recomputed_drafts = InvoiceBatch::default();
    let mut emptied_drafts: Vec<String> = Vec::new();
    for w in &work {
        let a = w.association;
        let no_licenses = Default::default();
        let account_licenses = licenses.get(&a.account_id).unwrap_or(&no_licenses);
        let closing = w.boundary.closing.map(|window| CycleInput {
            window,
            usage: w.usage_index.map(|i| usage[i].clone()).unwrap_or_default(),
            licenses: account_licenses.clone(),
        });
        let opening = w.boundary.opening.map(|window| CycleInput {
            window,
            usage: Default::default(),
            licenses: account_licenses.clone(),
        });
        let contents = match invoice_contents(
            w.plan,
            w.currency,
            settings.rounding,
            closing.as_ref(),
            opening.as_ref(),
        ) {
            Ok(c) => c,
            Err(e) => {
                failures.push(Failure {
                    account_id: a.account_id.clone(),
                    error: e.to_string(),
                });
                failed_associations.insert((a.account_id.clone(), a.from));
                continue;
            }
        };
        // A boundary with nothing billed (no line, no true-up) gets no invoice: an
        // opening one with nothing in advance, a closing one with nothing in arrears
        // (e.g. after a plan migration or a detach). A draft recomputed to nothing is
        // removed (drafts have no number, so no gap is left).
        if contents.lines.is_empty() && contents.true_up.is_none() {
            if let Some(id) = &w.draft_id {
                emptied_drafts.push(id.clone());
            }
            continue;
        }
        let lines = InvoiceLines::from_contents(&contents);
        match &w.draft_id {
            Some(id) => recomputed_drafts.push(id.clone(), w, &lines),
            None => new_invoices.push(ulid::Ulid::generate().to_string(), w, &lines),
        }
    }
    let created = new_invoices.insert(conn, org, ctx.as_of).await?;
    let recomputed = recomputed_drafts
        .update_drafts(conn, org, ctx.as_of)
        .await?;
    let removed =
        sqlx::query("DELETE FROM invoices WHERE org_id = $1 AND id = ANY($2) AND status = 'DRAFT'")
            .bind(org)
            .bind(&emptied_drafts)
            .execute(&mut *conn)
            .await?
            .rows_affected();

    let cycle_writes: Vec<_> = cycle_writes
        .into_iter()
        .filter(|(a, ..)| !failed_associations.contains(&(a.account_id.clone(), a.from)))
        .collect();
    let closed = cycle_writes.iter().filter(|c| c.3).count();
    let opened = cycle_writes.len() - closed;
    write_cycles(conn, org, &cycle_writes, ctx.as_of).await?;

    let finalize = enqueue_finalize(conn, ctx, org, accounts).await?;
    tx.commit().await?;
    for f in &failures {
        tracing::warn!(
            organisation = org,
            account = f.account_id,
            "account not billed: {}",
            f.error
        );
    }
    Ok(json!({
        "accounts": accounts.len(),
        "invoicesCreated": created,
        "draftsRecomputed": recomputed,
        "draftsRemoved": removed,
        "cyclesClosed": closed,
        "cyclesOpened": opened,
        "finalizeJob": finalize,
        "failures": failures,
    }))
}

async fn association_progress(
    conn: &mut PgConnection,
    org: &str,
    accounts: &[String],
) -> Result<HashMap<(String, NaiveDate), Progress>, JobError> {
    let rows: Vec<(String, NaiveDate, i32, CycleStatus)> = sqlx::query_as(
        "SELECT DISTINCT ON (account_id, association_from) account_id, association_from, cycle_index, status
         FROM billing_cycles WHERE org_id = $1 AND account_id = ANY($2)
         ORDER BY account_id, association_from, cycle_index DESC",
    )
    .bind(org)
    .bind(accounts)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(account, from, index, status)| {
            let p = if status == CycleStatus::Open {
                Progress::Open(index as u32)
            } else {
                Progress::Finished
            };
            ((account, from), p)
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct StaleDraft {
    id: String,
    account_id: String,
    association_from: NaiveDate,
    closing_index: Option<i32>,
    opening_index: Option<i32>,
}

async fn stale_drafts(
    conn: &mut PgConnection,
    org: &str,
    accounts: &[String],
) -> Result<Vec<StaleDraft>, JobError> {
    Ok(sqlx::query_as(
        "SELECT id, account_id, association_from, closing_index, opening_index
         FROM invoices WHERE org_id = $1 AND account_id = ANY($2) AND status = 'DRAFT' AND stale",
    )
    .bind(org)
    .bind(accounts)
    .fetch_all(&mut *conn)
    .await?)
}

/// Invoices to write, column by column (one statement per chunk).
#[derive(Default)]
struct InvoiceBatch {
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
    lines: Vec<Value>,
    grace_ends_at: Vec<DateTime<Utc>>,
}

impl InvoiceBatch {
    fn push(&mut self, id: String, w: &Work<'_>, lines: &InvoiceLines) {
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
    async fn insert(
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
                 total, lines, grace_ends_at, computed_at)
             SELECT $1, u.id, u.account_id, u.association_from, u.boundary, u.plan_id, u.plan_version,
                 'DRAFT', u.currency, u.closing_index, u.closing_start, u.closing_end, u.closing_starts_at,
                 u.closing_ends_at, u.opening_index, u.opening_start, u.opening_end, u.sub_total, u.true_up,
                 u.credits, u.total, u.lines, u.grace_ends_at, $23
             FROM unnest($2::text[], $3::text[], $4::date[], $5::date[], $6::text[], $7::int[], $8::text[],
                         $9::int[], $10::date[], $11::date[], $12::timestamptz[], $13::timestamptz[],
                         $14::int[], $15::date[], $16::date[], $17::numeric[], $18::numeric[],
                         $19::numeric[], $20::numeric[], $21::jsonb[], $22::timestamptz[])
               AS u(id, account_id, association_from, boundary, plan_id, plan_version, currency,
                    closing_index, closing_start, closing_end, closing_starts_at, closing_ends_at,
                    opening_index, opening_start, opening_end, sub_total, true_up, credits, total, lines,
                    grace_ends_at)
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
        .execute(&mut *conn)
        .await?
        .rows_affected())
    }

    /// Replaces the amounts and lines of drafts that are still drafts.
    async fn update_drafts(
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
                 total = u.total, lines = u.lines, stale = false, computed_at = $7
             FROM unnest($2::text[], $3::numeric[], $4::numeric[], $5::numeric[], $6::numeric[], $8::jsonb[])
               AS u(id, sub_total, true_up, credits, total, lines)
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
        .execute(&mut *conn)
        .await?
        .rows_affected())
    }
}

/// Records opened and closed cycles in one statement. A cycle already closed stays
/// closed (a late retry cannot reopen it).
async fn write_cycles(
    conn: &mut PgConnection,
    org: &str,
    cycles: &[(&Association, Tz, CycleWindow, bool)],
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
/// grace period is over.
async fn enqueue_finalize(
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
    let job = crate::queue::enqueue(conn, &req, &ctx.child_options(None)).await?;
    Ok(Some(job.id().to_string()))
}
