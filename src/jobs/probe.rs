//! `probe`: the smallest job with an effect.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{JobContext, JobError};

/// Payload of `probe`: camelCase (`sleepMs`), `sleep_ms` accepted too.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProbeArgs {
    /// What to record.
    pub key: String,
    /// Work time before the effect, in milliseconds (to test interruptions).
    #[serde(default, alias = "sleep_ms")]
    pub sleep_ms: u64,
    /// Fail every attempt (to test retries and dead jobs).
    #[serde(default)]
    pub fail: bool,
    /// Diagnostic: abort the worker process (`std::process::abort`) after recording
    /// the execution, as a job that crashes its worker would (to test poison jobs).
    #[serde(default)]
    pub abort: bool,
}

/// Records the execution, waits, then writes its effect once per (key, as_of).
pub async fn run(ctx: &JobContext, args: ProbeArgs) -> Result<Value, JobError> {
    sqlx::query(
        "INSERT INTO probe_executions (key, job_id, attempt, worker) VALUES ($1, $2, $3, $4)",
    )
    .bind(&args.key)
    .bind(&ctx.job_id)
    .bind(ctx.attempt as i32)
    .bind(&ctx.worker)
    .execute(&ctx.pool)
    .await?;
    if args.abort {
        tracing::error!(
            job_id = ctx.job_id,
            "probe asked to abort the worker process"
        );
        std::process::abort();
    }
    if args.sleep_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(args.sleep_ms)).await;
    }
    if args.fail {
        return Err(JobError::Retryable(anyhow::anyhow!(
            "probe {:?} was asked to fail (attempt {})",
            args.key,
            ctx.attempt
        )));
    }
    let inserted = sqlx::query(
        "INSERT INTO probe_results (key, as_of, job_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(&args.key)
    .bind(ctx.as_of)
    .bind(&ctx.job_id)
    .execute(&ctx.pool)
    .await?
    .rows_affected();
    Ok(json!({ "key": args.key, "asOf": ctx.as_of, "recorded": inserted == 1 }))
}
