//! `cycle-close`: finds the work that is due as of `as_of` and fans it out in chunks.
//!
//! Due work, from database state alone (so a missed tick is caught up by the next):
//! accounts with a plan association not opened yet whose first day has begun, with an
//! open cycle that has ended, or with a stale draft; and drafts whose grace period is
//! over. Chunks are enqueued in one transaction, with idempotency keys derived from
//! this scan job's id and the chunk's contents, so a retried scan enqueues nothing
//! twice (and a doubled chunk would change nothing anyway: chunks are idempotent).

use serde::Deserialize;
use serde_json::{json, Value};

use crate::jobs::{JobContext, JobError, JobKind};

/// Payload of `cycle-close`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CycleCloseArgs {
    /// Only this organisation (default: all).
    pub organisation: Option<String>,
    /// Accounts per close-chunk job, and invoices per finalize-chunk job.
    pub chunk_size: Option<usize>,
}

/// Default accounts per chunk.
pub const DEFAULT_CHUNK_SIZE: usize = 500;

/// Runs `cycle-close`.
pub async fn cycle_close(ctx: &JobContext, args: CycleCloseArgs) -> Result<Value, JobError> {
    let chunk_size = args.chunk_size.unwrap_or(DEFAULT_CHUNK_SIZE).max(1);
    let mut tx = ctx.pool.begin().await?;
    let accounts: Vec<(String, String)> = sqlx::query_as(
        "SELECT org_id, account_id FROM billing_cycles
         WHERE status = 'OPEN' AND ends_at <= $1 AND ($2::text IS NULL OR org_id = $2)
         UNION
         SELECT p.org_id, p.account_id FROM plan_associations p
         JOIN accounts a ON a.org_id = p.org_id AND a.id = p.account_id
         JOIN organisations o ON o.id = p.org_id
         WHERE ($2::text IS NULL OR p.org_id = $2)
           AND p.effective_from <= ($1 AT TIME ZONE coalesce(a.timezone, o.timezone))::date
           AND NOT EXISTS (SELECT 1 FROM billing_cycles c
                           WHERE c.org_id = p.org_id AND c.account_id = p.account_id
                             AND c.association_from = p.effective_from)
         UNION
         SELECT org_id, account_id FROM invoices
         WHERE status = 'DRAFT' AND stale AND ($2::text IS NULL OR org_id = $2)
         ORDER BY 1, 2",
    )
    .bind(ctx.as_of)
    .bind(&args.organisation)
    .fetch_all(&mut *tx)
    .await?;
    let drafts: Vec<(String, String)> = sqlx::query_as(
        "SELECT org_id, id FROM invoices
         WHERE status = 'DRAFT' AND NOT stale AND grace_ends_at <= $1
           AND ($2::text IS NULL OR org_id = $2)
         ORDER BY 1, 2",
    )
    .bind(ctx.as_of)
    .bind(&args.organisation)
    .fetch_all(&mut *tx)
    .await?;

    let close_jobs = fan_out(
        &mut tx,
        ctx,
        &accounts,
        chunk_size,
        JobKind::CloseChunk,
        "accounts",
    )
    .await?;
    let finalize_jobs = fan_out(
        &mut tx,
        ctx,
        &drafts,
        chunk_size,
        JobKind::FinalizeChunk,
        "invoices",
    )
    .await?;
    tx.commit().await?;
    Ok(json!({
        "accounts": accounts.len(),
        "close_chunks": close_jobs,
        "finalizable_drafts": drafts.len(),
        "finalize_chunks": finalize_jobs,
    }))
}

/// Enqueues one `kind` job per chunk of `rows`, with payload
/// `{"organisation": org, <field>: [ids]}`. Keys identify this scan's fan-out: a retry
/// of this job enqueues nothing twice, while a later scan (even for the same as_of,
/// e.g. a replay) enqueues afresh.
async fn fan_out(
    conn: &mut sqlx::PgConnection,
    ctx: &JobContext,
    rows: &[(String, String)],
    chunk_size: usize,
    kind: JobKind,
    field: &str,
) -> Result<usize, JobError> {
    let chunks = group_chunks(rows, chunk_size);
    for (org, ids) in &chunks {
        let key = format!(
            "{}:{org}:{}:{}:{}",
            ctx.job_id,
            ids[0],
            ids[ids.len() - 1],
            ids.len()
        );
        let req = ctx.child(
            kind,
            Some(org.clone()),
            json!({ "organisation": org, field: ids }),
        );
        crate::queue::enqueue(conn, &req, &ctx.child_options(Some(key))).await?;
    }
    Ok(chunks.len())
}

/// Groups `(org, id)` rows (sorted by org) into chunks of at most `size` ids of one
/// organisation each.
pub fn group_chunks(rows: &[(String, String)], size: usize) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (org, id) in rows {
        match out.last_mut() {
            Some((o, ids)) if o == org && ids.len() < size => ids.push(id.clone()),
            _ => out.push((org.clone(), vec![id.clone()])),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_never_mix_organisations_and_respect_the_size() {
        let rows: Vec<(String, String)> = [("a", "1"), ("a", "2"), ("a", "3"), ("b", "1")]
            .iter()
            .map(|(o, i)| (o.to_string(), i.to_string()))
            .collect();
        let chunks = group_chunks(&rows, 2);
        assert_eq!(
            chunks,
            vec![
                ("a".into(), vec!["1".into(), "2".into()]),
                ("a".into(), vec!["3".into()]),
                ("b".into(), vec!["1".into()]),
            ]
        );
    }
}
