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

use crate::queue::{JobContext, JobError, JobKind};

/// Payload of `cycle-close`: camelCase (`chunkSize`), `chunk_size` (older jobs and
/// schedule files) accepted too.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CycleCloseArgs {
    /// Only this organisation (default: all).
    pub organisation: Option<String>,
    /// Accounts per close-chunk job, and invoices per finalize-chunk job.
    #[serde(alias = "chunk_size")]
    pub chunk_size: Option<usize>,
}

/// Default accounts per chunk.
pub const DEFAULT_CHUNK_SIZE: usize = 500;

/// Rows fetched from the database at a time: what the scan holds in memory, however
/// many accounts are due.
const FETCH: i64 = 5_000;

/// Due accounts, by organisation then id.
const DUE_ACCOUNTS: &str = "SELECT org_id, account_id FROM billing_cycles
     WHERE status = 'OPEN' AND ends_at <= $1 AND ($2::text IS NULL OR org_id = $2)
     UNION
     SELECT p.org_id, p.account_id FROM plan_associations p
     JOIN accounts a ON a.org_id = p.org_id AND a.id = p.account_id
     JOIN organisations o ON o.id = p.org_id
     WHERE ($2::text IS NULL OR p.org_id = $2)
       AND p.effective_from + coalesce(p.trial_period_days, 0)
           <= ($1 AT TIME ZONE coalesce(a.timezone, o.timezone))::date
       -- A period that ends within its trial is never billed: nothing to open.
       AND (p.effective_until IS NULL
            OR p.effective_until > p.effective_from + coalesce(p.trial_period_days, 0))
       AND NOT EXISTS (SELECT 1 FROM billing_cycles c
                       WHERE c.org_id = p.org_id AND c.account_id = p.account_id
                         AND c.association_from = p.effective_from)
     UNION
     SELECT org_id, account_id FROM invoices
     WHERE status = 'DRAFT' AND stale AND ($2::text IS NULL OR org_id = $2)
     ORDER BY 1, 2";

/// Drafts past their grace period, by organisation then id.
const FINALIZABLE_DRAFTS: &str = "SELECT org_id, id FROM invoices
     WHERE status = 'DRAFT' AND NOT stale AND grace_ends_at <= $1
       AND ($2::text IS NULL OR org_id = $2)
     ORDER BY 1, 2";

/// Runs `cycle-close`.
pub async fn cycle_close(ctx: &JobContext, args: CycleCloseArgs) -> Result<Value, JobError> {
    let chunk_size = args.chunk_size.unwrap_or(DEFAULT_CHUNK_SIZE).max(1);
    let mut tx = ctx.pool.begin().await?;
    let (accounts, close_jobs) = fan_out(
        &mut tx,
        ctx,
        &args,
        DUE_ACCOUNTS,
        chunk_size,
        JobKind::CloseChunk,
        "accounts",
    )
    .await?;
    let (drafts, finalize_jobs) = fan_out(
        &mut tx,
        ctx,
        &args,
        FINALIZABLE_DRAFTS,
        chunk_size,
        JobKind::FinalizeChunk,
        "invoices",
    )
    .await?;
    tx.commit().await?;
    Ok(json!({
        "accounts": accounts,
        "closeChunks": close_jobs,
        "finalizableDrafts": drafts,
        "finalizeChunks": finalize_jobs,
    }))
}

/// Streams `query`'s `(org, id)` rows through a server-side cursor, [`FETCH`] at a
/// time, and enqueues them in chunks of `chunk_size` ids of one organisation each,
/// in the scan's transaction: (rows, chunks). The chunks are the same as if every
/// row had been read at once.
async fn fan_out(
    conn: &mut sqlx::PgConnection,
    ctx: &JobContext,
    args: &CycleCloseArgs,
    query: &str,
    chunk_size: usize,
    kind: JobKind,
    field: &str,
) -> Result<(usize, usize), JobError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DECLARE scan NO SCROLL CURSOR FOR {query}"
    )))
    .bind(ctx.as_of)
    .bind(&args.organisation)
    .execute(&mut *conn)
    .await?;
    let (mut rows, mut chunks) = (0, 0);
    let mut chunker = Chunker::new(chunk_size);
    loop {
        let batch: Vec<(String, String)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("FETCH {FETCH} FROM scan")))
                .fetch_all(&mut *conn)
                .await?;
        let last = (batch.len() as i64) < FETCH;
        rows += batch.len();
        for (org, id) in batch {
            chunker.push(org, id);
        }
        let ready = if last {
            chunker.finish()
        } else {
            chunker.take_complete()
        };
        for (org, ids) in ready {
            enqueue_chunk(conn, ctx, &org, &ids, kind, field).await?;
            chunks += 1;
        }
        if last {
            break;
        }
    }
    sqlx::query("CLOSE scan").execute(&mut *conn).await?;
    Ok((rows, chunks))
}

async fn enqueue_chunk(
    conn: &mut sqlx::PgConnection,
    ctx: &JobContext,
    org: &str,
    ids: &[String],
    kind: JobKind,
    field: &str,
) -> Result<(), JobError> {
    let key = format!(
        "{}:{org}:{}:{}:{}",
        ctx.job_id,
        ids[0],
        ids[ids.len() - 1],
        ids.len()
    );
    let req = ctx.child(
        kind,
        Some(org.to_string()),
        json!({ "organisation": org, field: ids }),
    );
    crate::queue::enqueue(conn, &req, &ctx.child_options(Some(key))).await?;
    Ok(())
}

/// Groups `(org, id)` rows, in the order given, into chunks of at most `size` ids of
/// one organisation each.
#[derive(Debug)]
pub struct Chunker {
    size: usize,
    chunks: Vec<(String, Vec<String>)>,
}

impl Chunker {
    /// Chunks of at most `size` ids (at least 1).
    pub fn new(size: usize) -> Self {
        Self {
            size: size.max(1),
            chunks: Vec::new(),
        }
    }

    /// Adds the next row.
    pub fn push(&mut self, org: String, id: String) {
        match self.chunks.last_mut() {
            Some((o, ids)) if *o == org && ids.len() < self.size => ids.push(id),
            _ => self.chunks.push((org, vec![id])),
        }
    }

    /// The chunks later rows cannot add to (all but the last), taken out.
    pub fn take_complete(&mut self) -> Vec<(String, Vec<String>)> {
        let complete = self.chunks.len().saturating_sub(1);
        self.chunks.drain(..complete).collect()
    }

    /// Every chunk left, taken out (after the last row).
    pub fn finish(&mut self) -> Vec<(String, Vec<String>)> {
        std::mem::take(&mut self.chunks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `rows` in chunks, read all at once.
    fn group_chunks(rows: &[(String, String)], size: usize) -> Vec<(String, Vec<String>)> {
        let mut chunker = Chunker::new(size);
        for (org, id) in rows {
            chunker.push(org.clone(), id.clone());
        }
        chunker.finish()
    }

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

    #[test]
    fn streaming_in_batches_of_any_size_gives_the_chunks_of_reading_everything() {
        let rows: Vec<(String, String)> = (0..23)
            .map(|i| (if i < 9 { "a" } else { "b" }.to_string(), format!("{i:02}")))
            .collect();
        for size in 1..6 {
            let all_at_once = group_chunks(&rows, size);
            for batch in 1..8 {
                let mut chunker = Chunker::new(size);
                let mut streamed = Vec::new();
                for part in rows.chunks(batch) {
                    for (org, id) in part {
                        chunker.push(org.clone(), id.clone());
                    }
                    streamed.extend(chunker.take_complete());
                }
                streamed.extend(chunker.finish());
                assert_eq!(
                    streamed, all_at_once,
                    "chunks of {size}, fetched {batch} at a time"
                );
            }
        }
    }
}
