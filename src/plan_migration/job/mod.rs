//! The `plan-migration` job: lists a migration's accounts once, then migrates them
//! chunk by chunk (module docs of [`super`]).
//!
//! Migrating one account, in the chunk's transaction (accounts locked like a bill
//! run locks them, so the two serialise):
//! 1. its plan period on the source that covers its migration date (the migration
//!    instant's local date in its timezone) ends on the switch date
//!    ([`billrun_core::plan_migration::switch_date`]); a period on the target starts
//!    there and runs until the old one would have ended;
//! 2. the new period's overrides: the old ones carried to the target's cards of the
//!    same name (`*_IGNORE_OVERRIDE`: none), plus, with `retainStartOffsets`, a
//!    pricing cycle aligned on the account's old cycles; the target with them must
//!    be billable in the account's currency;
//! 3. IMMEDIATE modes: the open cycle cut by the switch is shortened to end there
//!    (so the next bill run closes it), a cycle that opened on or after the switch
//!    is closed unbilled, and what their opening invoices billed in advance for the
//!    days from the switch on is granted back as credits (idempotent per migration
//!    and account), which the account's next invoices consume.
//!
//! Anything that makes one account impossible to migrate fails its entry with the
//! reason; the rest of the chunk goes on.
//!
//! This module owns the job (its payload, listing the accounts, the loop over
//! chunks) and the types its steps share; a chunk is load -> decide -> write:
//! [`chunk`] loads it and decides each account through the core
//! ([`billrun_core::plan_migration::decide_account`], no I/O), [`write`] writes the
//! chunk's outcomes.

mod chunk;
mod write;

use billrun_core::cycle::CycleWindow;
use billrun_core::plan_migration::{MigrationMode, RecordedCycle};
use billrun_core::{Currency, Period};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::PgConnection;

use crate::queue::{JobContext, JobError};
use crate::store::status::{CycleStatus, PlanMigrationStatus};
use chunk::migrate_chunk;

/// Accounts migrated per transaction.
pub const CHUNK_SIZE: i64 = 500;

/// Payload of `plan-migration`: camelCase (`chunkSize`), `chunk_size` accepted too.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanMigrationArgs {
    /// Organisation.
    pub organisation: String,
    /// The migration's id.
    pub migration: String,
    /// Accounts per transaction (default [`CHUNK_SIZE`]).
    #[serde(default, alias = "chunk_size")]
    pub chunk_size: Option<i64>,
}

fn fatal(msg: String) -> JobError {
    JobError::Fatal(anyhow::anyhow!(msg))
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct Migration {
    source_plan_id: String,
    source_version: Option<i32>,
    target_plan_id: String,
    target_version: i32,
    mode: String,
    retain_start_offsets: bool,
    status: PlanMigrationStatus,
    effective_at: Option<DateTime<Utc>>,
    entries_listed_at: Option<DateTime<Utc>>,
    chunk_size: Option<i32>,
}

/// Runs a migration to its end (or does nothing if it is not confirmed).
pub async fn run(ctx: &JobContext, args: PlanMigrationArgs) -> Result<Value, JobError> {
    let org = args.organisation.as_str();
    let id = args.migration.as_str();

    // Start: fix the instant and list the accounts, once.
    let mut tx = ctx.pool.begin().await?;
    let m: Option<Migration> = sqlx::query_as(
        "SELECT source_plan_id, source_version, target_plan_id, target_version, mode,
                retain_start_offsets, status, effective_at, entries_listed_at, chunk_size
         FROM plan_migrations WHERE org_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(org)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let mut m = m.ok_or_else(|| fatal(format!("no plan migration {id} in {org}")))?;
    match m.status {
        PlanMigrationStatus::Pending | PlanMigrationStatus::Running => {}
        // Not confirmed, rejected, or done: nothing to do.
        other => return Ok(json!({ "migration": id, "status": other, "migrated": 0 })),
    }
    let effective_at = m.effective_at.unwrap_or(ctx.as_of);
    m.effective_at = Some(effective_at);
    sqlx::query(
        "UPDATE plan_migrations SET status = 'RUNNING', effective_at = $3,
             started_at = coalesce(started_at, $4)
         WHERE org_id = $1 AND id = $2",
    )
    .bind(org)
    .bind(id)
    .bind(effective_at)
    .bind(ctx.as_of)
    .execute(&mut *tx)
    .await?;
    if m.entries_listed_at.is_none() {
        list_entries(&mut tx, org, id, &m, effective_at, ctx.as_of).await?;
    }
    tx.commit().await?;

    let chunk_size = args
        .chunk_size
        .or(m.chunk_size.map(i64::from))
        .unwrap_or(CHUNK_SIZE)
        .max(1);
    let mode = MigrationMode::parse(&m.mode)
        .ok_or_else(|| fatal(format!("plan migration {id}: unknown mode {:?}", m.mode)))?;
    let mut migrated = 0;
    let mut failed = 0;
    loop {
        let (done, bad) = migrate_chunk(ctx, org, id, &m, mode, effective_at, chunk_size).await?;
        if done + bad == 0 {
            break;
        }
        migrated += done;
        failed += bad;
    }
    sqlx::query(
        "UPDATE plan_migrations SET status = 'COMPLETED', completed_at = $3
         WHERE org_id = $1 AND id = $2 AND status = 'RUNNING'
           AND NOT EXISTS (SELECT 1 FROM plan_migration_entries
                           WHERE org_id = $1 AND migration_id = $2 AND status = 'PENDING')",
    )
    .bind(org)
    .bind(id)
    .bind(ctx.as_of)
    .execute(&ctx.pool)
    .await?;
    Ok(json!({ "migration": id, "migrated": migrated, "failed": failed }))
}

/// One entry per account on the source plan (the versions migrated) on the local
/// date of the migration instant.
async fn list_entries(
    conn: &mut PgConnection,
    org: &str,
    id: &str,
    m: &Migration,
    effective_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), JobError> {
    sqlx::query(
        "WITH local AS (
             SELECT a.id AS account_id,
                    ($6::timestamptz AT TIME ZONE coalesce(a.timezone, o.timezone))::date AS day
             FROM accounts a JOIN organisations o ON o.id = a.org_id
             WHERE a.org_id = $1
         )
         INSERT INTO plan_migration_entries (org_id, migration_id, account_id, source_from,
             source_version, updated_at)
         SELECT p.org_id, $2, p.account_id, p.effective_from, p.plan_version, $7
         FROM plan_associations p
         JOIN local l ON l.account_id = p.account_id
         WHERE p.org_id = $1 AND p.plan_id = $3
           AND ($4::int IS NULL OR p.plan_version = $4)
           AND NOT (p.plan_id = $5 AND p.plan_version = $8)
           AND p.effective_from <= l.day AND (p.effective_until IS NULL OR p.effective_until > l.day)
         ON CONFLICT DO NOTHING",
    )
    .bind(org)
    .bind(id)
    .bind(&m.source_plan_id)
    .bind(m.source_version)
    .bind(&m.target_plan_id)
    .bind(effective_at)
    .bind(now)
    .bind(m.target_version)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE plan_migrations SET entries_listed_at = $3 WHERE org_id = $1 AND id = $2")
        .bind(org)
        .bind(id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A stored billing cycle of a source period.
#[derive(Debug, Clone, sqlx::FromRow)]
struct StoredCycle {
    account_id: String,
    association_from: NaiveDate,
    cycle_index: i32,
    full_start: NaiveDate,
    full_end: NaiveDate,
    billed_start: NaiveDate,
    billed_end: NaiveDate,
    status: CycleStatus,
}

impl StoredCycle {
    /// The cycle as the core's decision reads it.
    fn recorded(&self) -> RecordedCycle {
        RecordedCycle {
            window: CycleWindow {
                index: self.cycle_index as u32,
                full: Period::new(self.full_start, self.full_end),
                billed: Period::new(self.billed_start, self.billed_end),
            },
            closed: self.status == CycleStatus::Closed,
        }
    }
}

/// What happens to one account.
#[derive(Debug)]
enum Outcome {
    Migrated(Box<Switch>),
    Failed(String),
}

#[derive(Debug)]
struct Switch {
    account_id: String,
    source_from: NaiveDate,
    switch: NaiveDate,
    until: Option<NaiveDate>,
    tz: Tz,
    overrides: Option<Value>,
    dropped: Vec<String>,
    /// (cycle index, new billed end) of the open cycle the switch cuts.
    shorten: Option<(i32, NaiveDate)>,
    /// Indexes of open cycles that start on or after the switch.
    unbilled: Vec<i32>,
    credit: Decimal,
    credit_detail: Vec<String>,
    currency: Currency,
}
