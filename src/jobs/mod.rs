//! The job kinds billrun runs, their payloads, and their handlers.
//!
//! A handler is thin: it parses its payload, loads through `store`, decides through
//! the billing core, writes through `store`, and enqueues the next step. It never
//! reads the wall clock: [`JobContext::as_of`] is the instant it acts for, fixed
//! when the job was enqueued, so a job replayed later decides the same way.

mod probe;
mod retention;

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;

use crate::config::Config;

/// Every kind of job. The queue of a kind is `billrun:<name>` (explicit, so that
/// renaming a Rust type never orphans pending jobs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobKind {
    /// Writes one row per (key, as_of): checks that workers run; the test suite's
    /// witness of exactly-once effects.
    Probe,
    /// Does nothing: measures the queue itself (`billrun bench queue`).
    Noop,
    /// Deletes finished and dead jobs older than the retention.
    QueueRetention,
    /// Finds due cycles and finalizable drafts, fans out in chunks (scheduled).
    CycleClose,
    /// Closes the cycles of a chunk of accounts and writes their draft invoices.
    CloseChunk,
    /// Numbers a chunk of drafts and makes them DUE.
    FinalizeChunk,
    /// Loads a stored CSV file (accounts, usage or licenses): `billrun import`.
    CsvImport,
    /// Grants credits to an account (`billrun credit grant`), once per key.
    CreditGrant,
    /// Expires credit grants past their end (scheduled).
    CreditExpiry,
    /// Follows a payment: grants the PREPAID credits the invoice sold.
    InvoicePaid,
    /// Renders and stores the HTML and PDF of finalized invoices.
    RenderChunk,
    /// Emails finalized invoices (with their PDF) to their recipients.
    DeliverChunk,
    /// Moves the accounts of a plan to another plan version (`billrun migration`).
    PlanMigration,
}

impl JobKind {
    /// All kinds, in the order `billrun jobs kinds` lists them.
    pub const ALL: &'static [JobKind] = &[
        JobKind::CycleClose,
        JobKind::CloseChunk,
        JobKind::FinalizeChunk,
        JobKind::RenderChunk,
        JobKind::DeliverChunk,
        JobKind::CsvImport,
        JobKind::PlanMigration,
        JobKind::CreditGrant,
        JobKind::CreditExpiry,
        JobKind::InvoicePaid,
        JobKind::QueueRetention,
        JobKind::Probe,
        JobKind::Noop,
    ];

    /// The kind's name on the command line and in schedules.
    pub fn name(self) -> &'static str {
        match self {
            JobKind::Probe => "probe",
            JobKind::Noop => "noop",
            JobKind::QueueRetention => "queue-retention",
            JobKind::CycleClose => "cycle-close",
            JobKind::CloseChunk => "close-chunk",
            JobKind::FinalizeChunk => "finalize-chunk",
            JobKind::CsvImport => "csv-import",
            JobKind::CreditGrant => "credit-grant",
            JobKind::CreditExpiry => "credit-expiry",
            JobKind::InvoicePaid => "invoice-paid",
            JobKind::RenderChunk => "render-chunk",
            JobKind::DeliverChunk => "deliver-chunk",
            JobKind::PlanMigration => "plan-migration",
        }
    }

    /// One line on what the kind does and what its payload is.
    pub fn describe(self) -> &'static str {
        match self {
            JobKind::Probe => {
                "diagnostic: records {key} once per as_of; payload {\"key\": str, \"sleep_ms\"?: int, \"fail\"?: bool, \"abort\"?: bool (aborts the worker process)}"
            }
            JobKind::Noop => "does nothing (queue benchmark); payload {}",
            JobKind::QueueRetention => {
                "prunes finished jobs; payload {\"done_days\"?: int, \"dead_days\"?: int} (defaults from [retention])"
            }
            JobKind::CycleClose => {
                "bill run: closes every due cycle, finalizes drafts past grace; payload {\"organisation\"?: str, \"chunk_size\"?: int}"
            }
            JobKind::CloseChunk => {
                "bill run step: payload {\"organisation\": str, \"accounts\": [str]}"
            }
            JobKind::FinalizeChunk => {
                "bill run step: payload {\"organisation\": str, \"invoices\": [str]}"
            }
            JobKind::CsvImport => {
                "loads a stored CSV file (billrun import); payload {\"import_id\": str}"
            }
            JobKind::CreditGrant => {
                "grants credits once per key; payload {\"organisation\": str, \"grant\": {\"account\", \"amount\", \"currency\", \"purpose\"?, \"priority\"?, \"effective_from\"?, \"effective_until\"?, \"applicable_entity_ids\"?, \"idempotency_key\"}}"
            }
            JobKind::CreditExpiry => {
                "expires grants past their end (scheduled); payload {\"organisation\"?: str}"
            }
            JobKind::InvoicePaid => {
                "grants the PREPAID credits a paid invoice sold; payload {\"organisation\": str, \"invoice\": str}"
            }
            JobKind::RenderChunk => {
                "renders and stores finalized invoices' HTML and PDF; payload {\"organisation\": str, \"invoices\": [str], \"rerender\"?: bool}"
            }
            JobKind::DeliverChunk => {
                "emails finalized invoices to their recipients, once each; payload {\"organisation\": str, \"invoices\": [str], \"resend\"?: bool}"
            }
            JobKind::PlanMigration => {
                "runs a plan migration (billrun migration create/confirm), resumable; payload {\"organisation\": str, \"migration\": str, \"chunk_size\"?: int}"
            }
        }
    }

    /// The apalis queue (`job_type`) this kind's jobs live in.
    pub fn queue(self) -> String {
        format!("billrun:{}", self.name())
    }

    /// Parses a kind's name, listing the known ones when it is not one.
    pub fn parse(name: &str) -> Result<Self, String> {
        JobKind::ALL
            .iter()
            .copied()
            .find(|k| k.name() == name)
            .ok_or_else(|| {
                let known: Vec<_> = JobKind::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "unknown job kind {name:?}: expected one of {}",
                    known.join(", ")
                )
            })
    }

    /// The kind of a queue name, if it is one of ours.
    pub fn from_queue(queue: &str) -> Option<Self> {
        queue
            .strip_prefix("billrun:")
            .and_then(|n| Self::parse(n).ok())
    }

    /// Checks a payload before it is enqueued, so that a bad one is refused at the
    /// command line instead of failing in a worker.
    pub fn validate_payload(self, payload: &Value) -> Result<(), String> {
        let r = match self {
            JobKind::Probe => parse_payload::<probe::ProbeArgs>(payload).map(drop),
            JobKind::Noop => parse_payload::<NoArgs>(payload).map(drop),
            JobKind::QueueRetention => parse_payload::<retention::RetentionArgs>(payload).map(drop),
            JobKind::CycleClose => {
                parse_payload::<crate::bill_run::cycle_close::CycleCloseArgs>(payload).map(drop)
            }
            JobKind::CloseChunk => parse_payload::<ChunkArgs>(payload).map(drop),
            JobKind::FinalizeChunk => parse_payload::<InvoiceChunkArgs>(payload).map(drop),
            JobKind::CsvImport => {
                parse_payload::<crate::imports::job::CsvImportArgs>(payload).map(drop)
            }
            JobKind::CreditGrant => parse_payload::<CreditGrantArgs>(payload).map(drop),
            JobKind::CreditExpiry => parse_payload::<OrgArgs>(payload).map(drop),
            JobKind::InvoicePaid => parse_payload::<InvoiceArgs>(payload).map(drop),
            JobKind::RenderChunk => parse_payload::<RenderArgs>(payload).map(drop),
            JobKind::DeliverChunk => parse_payload::<DeliverArgs>(payload).map(drop),
            JobKind::PlanMigration => {
                parse_payload::<crate::plan_migration::job::PlanMigrationArgs>(payload).map(drop)
            }
        };
        r.map_err(|e| {
            format!(
                "bad payload for {}: {e}; expected {}",
                self.name(),
                self.describe()
            )
        })
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Payload of `close-chunk`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChunkArgs {
    organisation: String,
    accounts: Vec<String>,
}

/// Payload of `finalize-chunk`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InvoiceChunkArgs {
    organisation: String,
    invoices: Vec<String>,
}

/// An empty payload (`{}` or none).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

fn parse_payload<T: serde::de::DeserializeOwned>(payload: &Value) -> Result<T, serde_json::Error> {
    match payload {
        Value::Null => serde_json::from_value(Value::Object(Default::default())),
        v => serde_json::from_value(v.clone()),
    }
}

/// What a job is: its kind, the instant it acts for, and its payload. Stored as the
/// job's JSON in the queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobRequest {
    /// The kind (also implied by the queue; kept for listings).
    pub kind: JobKind,
    /// The instant the job acts for ("now" for the job).
    pub as_of: DateTime<Utc>,
    /// The organisation the job is for, if it is for one (shown in logs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    /// Kind-specific arguments.
    #[serde(default)]
    pub payload: Value,
    /// The job whose fan-out this job belongs to (none for a job enqueued by an
    /// operator or the scheduler: it is its own root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
}

/// Why a job failed, and whether trying again can help.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A transient failure (database, network): retried with backoff.
    #[error("{0:#}")]
    Retryable(anyhow::Error),
    /// The job can never succeed as it is (bad payload): dead at once.
    #[error("{0:#}")]
    Fatal(anyhow::Error),
}

impl From<sqlx::Error> for JobError {
    fn from(e: sqlx::Error) -> Self {
        JobError::Retryable(e.into())
    }
}

/// What a handler gets besides its payload.
#[derive(Clone)]
pub struct JobContext {
    /// The database.
    pub pool: PgPool,
    /// The configuration of this process.
    pub config: Arc<Config>,
    /// The job's id in the queue.
    pub job_id: String,
    /// 1 for the first execution, then 2, 3, ...
    pub attempt: u32,
    /// The worker executing it.
    pub worker: String,
    /// The instant the job acts for.
    pub as_of: DateTime<Utc>,
    /// The root of the fan-out this job belongs to (its own id if it is a root).
    pub root: String,
}

impl JobContext {
    /// A request for a follow-up job: same `as_of`, same root.
    pub fn child(&self, kind: JobKind, organisation: Option<String>, payload: Value) -> JobRequest {
        JobRequest {
            kind,
            as_of: self.as_of,
            organisation,
            payload,
            root: Some(self.root.clone()),
        }
    }

    /// Options for enqueuing a follow-up job.
    pub fn child_options(&self, idempotency_key: Option<String>) -> crate::queue::EnqueueOptions {
        crate::queue::EnqueueOptions {
            run_at: None,
            idempotency_key,
            max_attempts: self.config.retry.max_attempts,
        }
    }
}

/// Runs one job: the single entry point of both `billrun worker` and `billrun run`.
pub async fn execute(ctx: &JobContext, req: &JobRequest) -> Result<Value, JobError> {
    let bad = |e: serde_json::Error| JobError::Fatal(anyhow::anyhow!("bad payload: {e}"));
    match req.kind {
        JobKind::Probe => probe::run(ctx, parse_payload(&req.payload).map_err(bad)?).await,
        JobKind::Noop => Ok(Value::Null),
        JobKind::QueueRetention => {
            retention::run(ctx, parse_payload(&req.payload).map_err(bad)?).await
        }
        JobKind::CycleClose => {
            crate::bill_run::cycle_close::cycle_close(
                ctx,
                parse_payload(&req.payload).map_err(bad)?,
            )
            .await
        }
        JobKind::CloseChunk => {
            let args: ChunkArgs = parse_payload(&req.payload).map_err(bad)?;
            crate::bill_run::close::close_chunk(ctx, &args.organisation, &args.accounts).await
        }
        JobKind::FinalizeChunk => {
            let args: InvoiceChunkArgs = parse_payload(&req.payload).map_err(bad)?;
            crate::bill_run::finalize::finalize_chunk(ctx, &args.organisation, &args.invoices).await
        }
        JobKind::CsvImport => {
            crate::imports::job::run(ctx, parse_payload(&req.payload).map_err(bad)?).await
        }
        JobKind::CreditGrant => {
            let args: CreditGrantArgs = parse_payload(&req.payload).map_err(bad)?;
            let mut conn = ctx.pool.acquire().await?;
            match crate::credits::grant(&mut conn, &args.organisation, &args.grant, None, ctx.as_of)
                .await
            {
                Ok(g) => Ok(serde_json::to_value(g).expect("an outcome serialises")),
                Err(crate::credits::CreditError::Db(e)) => Err(e.into()),
                Err(e) => Err(JobError::Fatal(e.into())),
            }
        }
        JobKind::CreditExpiry => {
            let args: OrgArgs = parse_payload(&req.payload).map_err(bad)?;
            match crate::credits::expire(&ctx.pool, args.organisation.as_deref(), ctx.as_of).await {
                Ok(n) => Ok(serde_json::json!({ "expired": n })),
                Err(crate::credits::CreditError::Db(e)) => Err(e.into()),
                Err(e) => Err(JobError::Fatal(e.into())),
            }
        }
        JobKind::RenderChunk => {
            let args: RenderArgs = parse_payload(&req.payload).map_err(bad)?;
            crate::bill_run::render::render_chunk(
                ctx,
                &args.organisation,
                &args.invoices,
                args.rerender,
            )
            .await
        }
        JobKind::DeliverChunk => {
            let args: DeliverArgs = parse_payload(&req.payload).map_err(bad)?;
            crate::bill_run::deliver::deliver_chunk(
                ctx,
                &args.organisation,
                &args.invoices,
                args.resend,
            )
            .await
        }
        JobKind::PlanMigration => {
            crate::plan_migration::job::run(ctx, parse_payload(&req.payload).map_err(bad)?).await
        }
        JobKind::InvoicePaid => {
            let args: InvoiceArgs = parse_payload(&req.payload).map_err(bad)?;
            crate::bill_run::finalize::grant_prepaid_credits(ctx, &args.organisation, &args.invoice)
                .await
        }
    }
}

/// Payload of `render-chunk`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RenderArgs {
    organisation: String,
    invoices: Vec<String>,
    #[serde(default)]
    rerender: bool,
}

/// Payload of `deliver-chunk`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliverArgs {
    organisation: String,
    invoices: Vec<String>,
    #[serde(default)]
    resend: bool,
}

/// Payload of `credit-grant`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreditGrantArgs {
    organisation: String,
    grant: crate::credits::NewGrant,
}

/// A payload naming at most an organisation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrgArgs {
    organisation: Option<String>,
}

/// Payload of `invoice-paid`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InvoiceArgs {
    organisation: String,
    invoice: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_round_trip_and_unknown_kinds_list_the_known_ones() {
        for k in JobKind::ALL {
            assert_eq!(JobKind::parse(k.name()).unwrap(), *k);
            assert_eq!(JobKind::from_queue(&k.queue()), Some(*k));
            assert_eq!(serde_json::to_value(k).unwrap(), json!(k.name()));
        }
        let e = JobKind::parse("cycle-closer").unwrap_err();
        assert!(e.contains("probe") && e.contains("queue-retention"), "{e}");
    }

    #[test]
    fn payloads_are_checked_against_the_kind() {
        assert!(JobKind::Probe
            .validate_payload(&json!({"key": "a"}))
            .is_ok());
        let e = JobKind::Probe
            .validate_payload(&json!({"kee": "a"}))
            .unwrap_err();
        assert!(e.contains("kee") && e.contains("expected"), "{e}");
        assert!(JobKind::Noop.validate_payload(&Value::Null).is_ok());
        assert!(JobKind::Noop.validate_payload(&json!({"x": 1})).is_err());
        let e = JobKind::QueueRetention
            .validate_payload(&json!({"done_days": -1}))
            .unwrap_err();
        assert!(
            e.contains("done_days") || e.contains("invalid value"),
            "{e}"
        );
    }
}
