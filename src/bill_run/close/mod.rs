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
//! - a stale draft (usage arrived for its cycle after it was computed): recomputed;
//! - seats removed mid-cycle from an IN_ADVANCE license whose card refunds CREDITS:
//!   granted to the account with the invoice ([`write::grant_seat_credits`]).
//!
//! The accounts are locked first (in id order), so overlapping chunks serialise;
//! every write is keyed (cycles by index, invoices by boundary), so a retried chunk
//! writes nothing twice. An association that cannot be billed (no rate in the
//! account's currency, a plan that no longer parses) is reported in the job's result
//! and the log, and left open: the rest of the chunk is billed.
//!
//! The handler reads in a few set-based queries ([`load`], and [`crate::bill_run::load`]),
//! decides without I/O ([`decide`]: the catching up is
//! [`billrun_core::boundary::plan_association`], the lines
//! [`billrun_core::charges::invoice_contents`]), writes set-based ([`write`]), and
//! enqueues the chunk's `finalize-chunk`.

mod decide;
mod load;
mod write;

use serde_json::{json, Value};
use sqlx::PgConnection;

pub use decide::Failure;
use write::InvoiceBatch;

use crate::queue::{JobContext, JobError};
use crate::timing::{Phase, Step, Stopwatch};

/// Runs `close-chunk` for `accounts` of `org`: load -> decide -> write -> enqueue, in
/// one transaction. Returns `{"accounts", "invoicesCreated", "draftsRecomputed",
/// "draftsRemoved", "cyclesClosed", "cyclesOpened", "finalizeJob", "failures"}`.
pub async fn close_chunk(
    ctx: &JobContext,
    org: &str,
    accounts: &[String],
) -> Result<Value, JobError> {
    use crate::bill_run::load as shared;
    let mut tx = ctx.pool.begin().await?;
    let mut sw = Stopwatch::start(Step::Close);
    let conn: &mut PgConnection = &mut tx;
    // Load.
    shared::lock_accounts(conn, org, accounts).await?;
    sw.lap(Phase::Lock);
    let settings = shared::org_settings(conn, org).await?;
    let tax_rates = shared::tax_rates(conn, org).await?;
    let account_rows = shared::accounts(conn, &settings, accounts).await?;
    let associations = shared::associations(conn, org, accounts).await?;
    let plans = shared::plans(conn, org, &associations).await?;
    let progress = load::association_progress(conn, org, accounts).await?;
    let stale = load::stale_drafts(conn, org, accounts).await?;
    sw.lap(Phase::Read);

    // Decide which boundaries to invoice, then read the usage and licenses they need.
    let decide::Planned {
        mut work,
        cycles,
        mut failures,
    } = decide::plan_chunk(
        &associations,
        &account_rows,
        &plans,
        &progress,
        &stale,
        ctx.as_of,
    );
    // Usage of every closing cycle of the chunk, in one query.
    let windows = decide::usage_windows(&mut work);
    sw.lap(Phase::Core);
    let usage = shared::usage(conn, org, &windows).await?;
    // Each feature's use and PREPAID grants over the same windows (README
    // "Entitlements"): what the overage cards rate.
    let features = crate::entitlements::ledger::feature_use(
        conn,
        org,
        &windows
            .iter()
            .map(|w| w.account_id.as_str())
            .collect::<Vec<_>>(),
        &windows.iter().map(|w| w.starts_at).collect::<Vec<_>>(),
        &windows.iter().map(|w| w.ends_at).collect::<Vec<_>>(),
    )
    .await?;
    // The earlier cycles that overage cards with a billingConfig interval above 1
    // bill with their closing cycle (README "Entitlements").
    let earlier = decide::earlier_windows(&work);
    let earlier_use = if earlier.is_empty() {
        Vec::new()
    } else {
        crate::entitlements::ledger::feature_use(
            conn,
            org,
            &earlier
                .iter()
                .map(|e| e.2.account_id.as_str())
                .collect::<Vec<_>>(),
            &earlier.iter().map(|e| e.2.starts_at).collect::<Vec<_>>(),
            &earlier.iter().map(|e| e.2.ends_at).collect::<Vec<_>>(),
        )
        .await?
    };
    let earlier = decide::earlier_cycles(&earlier, earlier_use);
    let tzs: std::collections::HashMap<String, chrono_tz::Tz> = work
        .iter()
        .map(|w| (w.association.account_id.clone(), w.tz))
        .collect();
    let account_ids: Vec<String> = tzs.keys().cloned().collect();
    let licenses = shared::license_changes(conn, org, &account_ids, &tzs).await?;
    sw.lap(Phase::Read);
    let priced = decide::price(
        &work,
        &usage,
        &decide::FeatureUses {
            closing: &features,
            earlier: &earlier,
        },
        &licenses,
        settings.rounding,
        &tax_rates,
        &mut failures,
    );
    sw.lap(Phase::Core);

    // Write.
    let mut new_invoices = InvoiceBatch::default();
    let mut seat_refunds = Vec::new();
    for (w, lines, log, credits) in &priced.new {
        let id = ulid::Ulid::generate().to_string();
        seat_refunds.extend(credits.iter().map(|c| (id.clone(), *w, c)));
        new_invoices.push(id, w, lines, log);
    }
    let mut recomputed_drafts = InvoiceBatch::default();
    for (w, lines, log, credits) in &priced.recomputed {
        let id = w.draft_id.clone().expect("a recomputed draft has its id");
        seat_refunds.extend(credits.iter().map(|c| (id.clone(), *w, c)));
        recomputed_drafts.push(id, w, lines, log);
    }
    let created = new_invoices.insert(conn, org, ctx.as_of).await?;
    let recomputed = recomputed_drafts
        .update_drafts(conn, org, ctx.as_of)
        .await?;
    write::grant_seat_credits(conn, org, &seat_refunds, ctx.as_of).await?;
    let removed =
        sqlx::query("DELETE FROM invoices WHERE org_id = $1 AND id = ANY($2) AND status = 'DRAFT'")
            .bind(org)
            .bind(&priced.emptied)
            .execute(&mut *conn)
            .await?
            .rows_affected();

    let cycle_writes: Vec<_> = cycles
        .into_iter()
        .filter(|(a, ..)| !priced.failed.contains(&(a.account_id.clone(), a.from)))
        .collect();
    let closed = cycle_writes.iter().filter(|c| c.3).count();
    let opened = cycle_writes.len() - closed;
    write::write_cycles(conn, org, &cycle_writes, ctx.as_of).await?;
    sw.lap(Phase::Write);

    // Enqueue.
    let finalize = write::enqueue_finalize(conn, ctx, org, accounts).await?;
    sw.lap(Phase::Enqueue);
    tx.commit().await?;
    sw.lap(Phase::Commit);
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
