//! The types every job shares, at the bottom of the layering: [`JobKind`] (the
//! queues), [`JobRequest`] (what is stored as a job's JSON), [`JobError`] and
//! [`JobContext`] (what a handler gets). Which handler runs a kind, and which payload it
//! takes, is the registry's business ([`crate::jobs`]), above every handler.

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
    /// Emails a credit note (with its PDF) to its recipients, once each.
    CreditNoteEmail,
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
        JobKind::CreditNoteEmail,
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
            JobKind::CreditNoteEmail => "credit-note-email",
        }
    }

    /// One line on what the kind does and what its payload is.
    pub fn describe(self) -> &'static str {
        match self {
            JobKind::Probe => {
                "diagnostic: records {key} once per as_of; payload {\"key\": str, \"sleepMs\"?: int, \"fail\"?: bool, \"abort\"?: bool (aborts the worker process)}"
            }
            JobKind::Noop => "does nothing (queue benchmark); payload {}",
            JobKind::QueueRetention => {
                "prunes finished jobs; payload {\"doneDays\"?: int, \"deadDays\"?: int} (defaults from [retention])"
            }
            JobKind::CycleClose => {
                "bill run: closes every due cycle, finalizes drafts past grace; payload {\"organisation\"?: str, \"chunkSize\"?: int}"
            }
            JobKind::CloseChunk => {
                "bill run step: payload {\"organisation\": str, \"accounts\": [str]}"
            }
            JobKind::FinalizeChunk => {
                "bill run step: payload {\"organisation\": str, \"invoices\": [str]}"
            }
            JobKind::CsvImport => {
                "loads a stored CSV file (billrun import); payload {\"importId\": str}"
            }
            JobKind::CreditGrant => {
                "grants credits once per key; payload {\"organisation\": str, \"grant\": {\"account\", \"amount\", \"currency\", \"purpose\"?, \"priority\"?, \"effectiveFrom\"?, \"effectiveUntil\"?, \"applicableEntityIds\"?, \"idempotencyKey\"}}"
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
                "runs a plan migration (billrun migration create/confirm), resumable; payload {\"organisation\": str, \"migration\": str, \"chunkSize\"?: int}"
            }
            JobKind::CreditNoteEmail => {
                "emails a credit note to its recipients, once each; payload {\"organisation\": str, \"creditNote\": str, \"resend\"?: bool}"
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
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a job is: its kind, the instant it acts for, and its payload. Stored as the
/// job's JSON in the queue, and shown as `request` by `billrun jobs show --json`, so
/// its names are camelCase like every JSON billrun prints (`asOf`); a job enqueued
/// before that, with `as_of`, is still read.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRequest {
    /// The kind (also implied by the queue; kept for listings).
    pub kind: JobKind,
    /// The instant the job acts for ("now" for the job), UTC.
    #[serde(alias = "as_of")]
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
    pub fn child_options(&self, idempotency_key: Option<String>) -> super::EnqueueOptions {
        super::EnqueueOptions {
            run_at: None,
            idempotency_key,
            max_attempts: self.config.retry.max_attempts,
        }
    }
}

impl JobRequest {
    /// A request acting for `as_of`, with no root (a root of its own fan-out). The
    /// payload is not checked here: callers holding a typed payload build it with this;
    /// untyped input (the CLI, a schedule file) goes through [`crate::jobs::request`],
    /// which checks it against the kind.
    pub fn new(
        kind: JobKind,
        payload: Value,
        as_of: DateTime<Utc>,
        organisation: Option<String>,
    ) -> Self {
        JobRequest {
            kind,
            as_of,
            organisation,
            payload,
            root: None,
        }
    }
}
