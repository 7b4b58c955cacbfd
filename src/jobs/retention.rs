//! `queue-retention`: prunes finished jobs (apalis never deletes them).

use chrono::Duration;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{JobContext, JobError};

/// Payload of `queue-retention`; unset fields come from `[retention]`. camelCase
/// (`doneDays`), the snake_case names of older jobs and schedules accepted too.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetentionArgs {
    /// Completed jobs older than this many days are deleted.
    #[serde(alias = "done_days")]
    pub done_days: Option<u32>,
    /// Dead and cancelled jobs older than this many days are deleted.
    #[serde(alias = "dead_days")]
    pub dead_days: Option<u32>,
}

/// Deletes completed jobs finished before `as_of - done_days`, dead or cancelled
/// ones before `as_of - dead_days`, and registrations of workers gone for a day that
/// no job refers to. Running it twice for the same `as_of` deletes nothing more.
pub async fn run(ctx: &JobContext, args: RetentionArgs) -> Result<Value, JobError> {
    let done_days = args.done_days.unwrap_or(ctx.config.retention.done_days);
    let dead_days = args.dead_days.unwrap_or(ctx.config.retention.dead_days);
    let done_before = ctx.as_of - Duration::days(done_days.into());
    let dead_before = ctx.as_of - Duration::days(dead_days.into());
    let mut tx = ctx.pool.begin().await?;
    let done = sqlx::query("DELETE FROM apalis.jobs WHERE status = 'Done' AND done_at < $1")
        .bind(done_before)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let dead = sqlx::query(
        "DELETE FROM apalis.jobs
         WHERE done_at < $1
           AND (status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts))",
    )
    .bind(dead_before)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let workers = sqlx::query(
        "DELETE FROM apalis.workers w
         WHERE last_seen < $1
           AND NOT EXISTS (SELECT 1 FROM apalis.jobs j WHERE j.lock_by = w.id)",
    )
    .bind(ctx.as_of - Duration::days(1))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(json!({ "deletedDone": done, "deletedDead": dead, "deletedWorkers": workers }))
}
