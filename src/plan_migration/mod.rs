//! Plan migrations: every account of a source plan (one version, or all of them)
//! moved to a target plan version, in one of Togai's four modes.
//!
//! Life of a migration:
//! - [`create`] validates it (target ACTIVE; `retainStartOffsets` refused when the
//!   plans' intervals differ) and either enqueues the `plan-migration` job in the
//!   same transaction (status PENDING) or waits for an operator
//!   (`requireConfirmation`: AWAITING_CONFIRMATION; [`confirm`] enqueues the job,
//!   [`reject`] ends it as REJECTED, having done nothing).
//! - The job ([`job::run`]) fixes the migration instant (given at creation, else the
//!   job's own), lists one entry per account on the source plan on that instant's
//!   local date (once), then migrates PENDING entries chunk by chunk, each chunk in
//!   one transaction with the entries' outcome (COMPLETED with its switch date, or
//!   FAILED with the reason). A crash loses at most the chunk in flight, which is
//!   done again; a completed entry is never migrated again. The migration is
//!   COMPLETED when no entry is pending.
//!
//! What a migrated account gets is decided by the pure rules of
//! [`billrun_core::plan_migration`] (switch date, credit back) and
//! [`billrun_core::overrides`] (overrides carried or dropped).

pub mod job;

use billrun_core::plan::Plan;
use billrun_core::plan_migration::MigrationMode;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use crate::catalog::{CatalogError, Result};
use crate::queue::{JobKind, JobRequest};
use crate::store::status::{PlanMigrationEntryStatus, PlanMigrationStatus};
use crate::store::OrgId;

/// Which versions of the source plan a migration takes accounts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceVersion {
    /// The latest finalized version.
    Latest,
    /// Every version.
    All,
    /// This version.
    Version(u32),
}

/// A migration to create.
#[derive(Debug, Clone)]
pub struct NewMigration {
    /// The plan accounts leave.
    pub source_plan: String,
    /// Which of its versions.
    pub source_version: SourceVersion,
    /// The plan they move to.
    pub target_plan: String,
    /// Its version (default: the latest ACTIVE one).
    pub target_version: Option<u32>,
    /// One of the four modes.
    pub mode: MigrationMode,
    /// Keep each account's cycle alignment.
    pub retain_start_offsets: bool,
    /// Wait for `billrun migration confirm`.
    pub require_confirmation: bool,
    /// The migration instant (default: when the job starts).
    pub effective_at: Option<DateTime<Utc>>,
    /// Accounts migrated per transaction (default [`job::CHUNK_SIZE`]).
    pub chunk_size: Option<u32>,
}

/// How many entries are where.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Accounts listed.
    pub total: i64,
    /// Not done yet.
    pub pending: i64,
    /// Migrated.
    pub completed: i64,
    /// Not migrated, with a reason.
    pub failed: i64,
}

/// A migration as shown.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationView {
    /// Its id.
    pub id: String,
    /// Source plan.
    pub source_id: String,
    /// Source version; `None` = all versions.
    pub source_version: Option<i32>,
    /// Target plan.
    pub target_id: String,
    /// Target version.
    pub target_version: i32,
    /// The mode.
    pub migration_mode: String,
    /// Whether cycle alignment is kept.
    pub retain_start_offsets: bool,
    /// Whether it waited (or waits) for an operator.
    pub require_confirmation: bool,
    /// AWAITING_CONFIRMATION, REJECTED, PENDING, RUNNING or COMPLETED.
    pub status: PlanMigrationStatus,
    /// The migration instant, once fixed.
    pub effective_at: Option<DateTime<Utc>>,
    /// The job that runs it, once enqueued.
    pub job_id: Option<String>,
    /// When it was requested.
    pub created_at: DateTime<Utc>,
    /// When it was confirmed or rejected.
    pub decided_at: Option<DateTime<Utc>>,
    /// When it completed.
    pub completed_at: Option<DateTime<Utc>>,
    /// Entries by status.
    pub counts: Counts,
}

#[derive(sqlx::FromRow)]
struct MigrationRow {
    id: String,
    source_plan_id: String,
    source_version: Option<i32>,
    target_plan_id: String,
    target_version: i32,
    mode: String,
    retain_start_offsets: bool,
    require_confirmation: bool,
    status: PlanMigrationStatus,
    effective_at: Option<DateTime<Utc>>,
    job_id: Option<String>,
    created_at: DateTime<Utc>,
    decided_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    total: i64,
    pending: i64,
    completed: i64,
    failed: i64,
}

const SELECT: &str =
    "SELECT m.id, m.source_plan_id, m.source_version, m.target_plan_id, m.target_version,
        m.mode, m.retain_start_offsets, m.require_confirmation, m.status, m.effective_at, m.job_id,
        m.created_at, m.decided_at, m.completed_at,
        count(e.account_id) AS total,
        count(e.account_id) FILTER (WHERE e.status = 'PENDING') AS pending,
        count(e.account_id) FILTER (WHERE e.status = 'COMPLETED') AS completed,
        count(e.account_id) FILTER (WHERE e.status = 'FAILED') AS failed
     FROM plan_migrations m
     LEFT JOIN plan_migration_entries e ON e.org_id = m.org_id AND e.migration_id = m.id";

impl From<MigrationRow> for MigrationView {
    fn from(r: MigrationRow) -> Self {
        MigrationView {
            id: r.id,
            source_id: r.source_plan_id,
            source_version: r.source_version,
            target_id: r.target_plan_id,
            target_version: r.target_version,
            migration_mode: r.mode,
            retain_start_offsets: r.retain_start_offsets,
            require_confirmation: r.require_confirmation,
            status: r.status,
            effective_at: r.effective_at,
            job_id: r.job_id,
            created_at: r.created_at,
            decided_at: r.decided_at,
            completed_at: r.completed_at,
            counts: Counts {
                total: r.total,
                pending: r.pending,
                completed: r.completed,
                failed: r.failed,
            },
        }
    }
}

/// One migration with its counts.
///
/// Errors: [`CatalogError::NotFound`] when the organisation has no migration `id`.
pub async fn get(pool: &PgPool, org: &OrgId, id: &str) -> Result<MigrationView> {
    let org: &str = org;
    let row: Option<MigrationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE m.org_id = $1 AND m.id = $2 GROUP BY m.org_id, m.id"
    )))
    .bind(org)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.map(MigrationView::from)
        .ok_or_else(|| CatalogError::NotFound {
            what: "plan migration",
            org: org.to_string(),
            id: id.to_string(),
        })
}

/// The organisation's migrations, newest first (by creation, then id).
pub async fn list(pool: &PgPool, org: &OrgId) -> Result<Vec<MigrationView>> {
    let rows: Vec<MigrationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE m.org_id = $1 GROUP BY m.org_id, m.id ORDER BY m.created_at DESC, m.id DESC"
    )))
    .bind(org)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(MigrationView::from).collect())
}

/// One account's entry in a migration.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// The account.
    pub account_id: String,
    /// PENDING, COMPLETED or FAILED.
    pub status: PlanMigrationEntryStatus,
    /// The source version it was on.
    pub source_version: i32,
    /// First day of its plan period on the source.
    pub source_from: NaiveDate,
    /// First day on the target (completed entries).
    pub switch_date: Option<NaiveDate>,
    /// Overrides with no card of the same name on the target (not carried).
    pub dropped_overrides: Vec<String>,
    /// Credited back for in-advance fees of days after the switch.
    pub credited: Option<Decimal>,
    /// Why it failed.
    pub reason: Option<String>,
}

/// A migration's entries (optionally only those of one status), by account id.
///
/// Errors: [`CatalogError::NotFound`] when the organisation has no migration `id`.
pub async fn entries(
    pool: &PgPool,
    org: &OrgId,
    id: &str,
    status: Option<PlanMigrationEntryStatus>,
) -> Result<Vec<Entry>> {
    get(pool, org, id).await?;
    Ok(sqlx::query_as(
        "SELECT account_id, status, source_version, source_from, switch_date, dropped_overrides,
                credited, reason
         FROM plan_migration_entries
         WHERE org_id = $1 AND migration_id = $2 AND ($3::text IS NULL OR status = $3)
         ORDER BY account_id",
    )
    .bind(org)
    .bind(id)
    .bind(status.map(|s| s.as_str()))
    .fetch_all(pool)
    .await?)
}

/// An account a migration would take, were its job to start at `at`.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct AffectedAccount {
    /// The account.
    pub account_id: String,
    /// The source version it is on.
    pub source_version: i32,
    /// First day of its plan period on the source (the account's local date).
    pub source_from: NaiveDate,
}

/// The accounts the migration `id` would list were its job to start at `at` (UTC):
/// those on the source plan (the versions migrated, not already on the target
/// version) on `at`'s local date in each account's timezone (else the
/// organisation's), by account id. The same rule as the job's own listing of its
/// entries ([`job::run`]); what the job lists may differ if plans change before it
/// starts. Reads only: the console's confirmation step shows it (README "Console").
///
/// Errors: [`CatalogError::NotFound`] when the organisation has no migration `id`;
/// the database.
pub async fn affected_accounts(
    pool: &PgPool,
    org: &OrgId,
    id: &str,
    at: DateTime<Utc>,
) -> Result<Vec<AffectedAccount>> {
    let m = get(pool, org, id).await?;
    Ok(sqlx::query_as(
        "WITH local AS (
             SELECT a.id AS account_id,
                    ($5::timestamptz AT TIME ZONE coalesce(a.timezone, o.timezone))::date AS day
             FROM accounts a JOIN organisations o ON o.id = a.org_id
             WHERE a.org_id = $1
         )
         SELECT p.account_id, p.plan_version AS source_version, p.effective_from AS source_from
         FROM plan_associations p
         JOIN local l ON l.account_id = p.account_id
         WHERE p.org_id = $1 AND p.plan_id = $2
           AND ($3::int IS NULL OR p.plan_version = $3)
           AND NOT (p.plan_id = $4 AND p.plan_version = $6)
           AND p.effective_from <= l.day AND (p.effective_until IS NULL OR p.effective_until > l.day)
         ORDER BY p.account_id",
    )
    .bind(org.as_str())
    .bind(&m.source_id)
    .bind(m.source_version)
    .bind(&m.target_id)
    .bind(at)
    .bind(m.target_version)
    .fetch_all(pool)
    .await?)
}

/// Finalized versions of a plan: (version, status, definition).
async fn finalized_versions(
    conn: &mut PgConnection,
    org: &str,
    plan: &str,
) -> Result<Vec<(i32, String, Value)>> {
    Ok(sqlx::query_as(
        "SELECT version, status, definition FROM price_plan_versions
         WHERE org_id = $1 AND plan_id = $2 AND status <> 'DRAFT' ORDER BY version",
    )
    .bind(org)
    .bind(plan)
    .fetch_all(&mut *conn)
    .await?)
}

fn parse_plan(plan: &str, version: i32, definition: &Value) -> Result<Plan> {
    Plan::from_json(definition).map_err(|e| {
        CatalogError::Conflict(format!(
            "price plan {plan:?} version {version} is unreadable: {e}"
        ))
    })
}

/// Validates and records a migration, created at `now`; enqueues its job (acting as
/// of `now`, at most `max_attempts` attempts) in the same transaction unless it waits
/// for confirmation. Returns it as stored (PENDING or AWAITING_CONFIRMATION).
///
/// Errors: [`CatalogError::NotFound`] for an unknown organisation, source plan (or
/// version) or target version; [`CatalogError::Conflict`] for a target that is not
/// ACTIVE, the same version as the source, an unreadable plan, or
/// `retainStartOffsets` between plans of different intervals.
pub async fn create(
    pool: &PgPool,
    max_attempts: u32,
    org: &OrgId,
    m: &NewMigration,
    now: DateTime<Utc>,
) -> Result<MigrationView> {
    let org_id = org;
    let org: &str = org;
    let mut tx = pool.begin().await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM organisations WHERE id = $1)")
            .bind(org)
            .fetch_one(&mut *tx)
            .await?;
    if !exists {
        return Err(CatalogError::NotFound {
            what: "organisation",
            org: org.to_string(),
            id: org.to_string(),
        });
    }
    let sources = finalized_versions(&mut tx, org, &m.source_plan).await?;
    if sources.is_empty() {
        return Err(CatalogError::NotFound {
            what: "finalized price plan",
            org: org.to_string(),
            id: m.source_plan.clone(),
        });
    }
    let source_version = match m.source_version {
        SourceVersion::All => None,
        SourceVersion::Latest => sources.last().map(|(v, ..)| *v),
        SourceVersion::Version(v) => match sources.iter().find(|(n, ..)| *n == v as i32) {
            Some((n, ..)) => Some(*n),
            None => {
                return Err(CatalogError::NotFound {
                    what: "finalized price plan version",
                    org: org.to_string(),
                    id: format!("{} v{v}", m.source_plan),
                })
            }
        },
    };
    let targets = finalized_versions(&mut tx, org, &m.target_plan).await?;
    let target = match m.target_version {
        Some(v) => targets.iter().find(|(n, ..)| *n == v as i32),
        None => targets.iter().rev().find(|(_, s, _)| s == "ACTIVE"),
    };
    let Some((target_version, target_status, target_definition)) = target else {
        crate::catalog::plans::require(&mut tx, org, &m.target_plan).await?;
        return Err(match m.target_version {
            Some(v) => CatalogError::NotFound {
                what: "finalized price plan version",
                org: org.to_string(),
                id: format!("{} v{v}", m.target_plan),
            },
            None => CatalogError::Conflict(format!(
                "price plan {:?} has no ACTIVE version to migrate to",
                m.target_plan
            )),
        });
    };
    if target_status != "ACTIVE" {
        return Err(CatalogError::Conflict(format!(
            "price plan {:?} version {target_version} is {target_status}: accounts can only move \
             to an ACTIVE version",
            m.target_plan
        )));
    }
    if m.source_plan == m.target_plan && source_version == Some(*target_version) {
        return Err(CatalogError::Conflict(format!(
            "the source and the target are the same version ({} v{target_version})",
            m.target_plan
        )));
    }
    if m.retain_start_offsets {
        let target_plan = parse_plan(&m.target_plan, *target_version, target_definition)?;
        for (version, _, definition) in &sources {
            if source_version.is_some_and(|v| v != *version) {
                continue;
            }
            let source_plan = parse_plan(&m.source_plan, *version, definition)?;
            if source_plan.pricing_cycle.interval != target_plan.pricing_cycle.interval {
                return Err(CatalogError::Conflict(format!(
                    "retainStartOffsets is refused: {} v{version} bills {} and {} v{target_version} \
                     bills {}; start offsets can only be kept between plans of the same interval",
                    m.source_plan,
                    source_plan.pricing_cycle.interval.as_str(),
                    m.target_plan,
                    target_plan.pricing_cycle.interval.as_str()
                )));
            }
        }
    }
    let id = format!("mig_{}", ulid::Ulid::generate());
    let status = if m.require_confirmation {
        "AWAITING_CONFIRMATION"
    } else {
        "PENDING"
    };
    sqlx::query(
        "INSERT INTO plan_migrations (org_id, id, source_plan_id, source_version, target_plan_id,
             target_version, mode, retain_start_offsets, require_confirmation, status, effective_at,
             created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(org)
    .bind(&id)
    .bind(&m.source_plan)
    .bind(source_version)
    .bind(&m.target_plan)
    .bind(target_version)
    .bind(m.mode.as_str())
    .bind(m.retain_start_offsets)
    .bind(m.require_confirmation)
    .bind(status)
    .bind(m.effective_at)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if !m.require_confirmation {
        enqueue_job(&mut tx, max_attempts, org, &id, now).await?;
    }
    if let Some(size) = m.chunk_size {
        sqlx::query("UPDATE plan_migrations SET chunk_size = $3 WHERE org_id = $1 AND id = $2")
            .bind(org)
            .bind(&id)
            .bind(size.max(1) as i32)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    get(pool, org_id, &id).await
}

async fn enqueue_job(
    conn: &mut PgConnection,
    max_attempts: u32,
    org: &str,
    id: &str,
    now: DateTime<Utc>,
) -> Result<String> {
    let req = JobRequest {
        kind: JobKind::PlanMigration,
        as_of: now,
        organisation: Some(org.to_string()),
        payload: serde_json::json!({ "organisation": org, "migration": id }),
        root: None,
    };
    let opts = crate::queue::EnqueueOptions {
        run_at: None,
        idempotency_key: Some(format!("{org}:{id}")),
        max_attempts,
    };
    let job = crate::queue::enqueue(conn, &req, &opts).await?;
    sqlx::query("UPDATE plan_migrations SET job_id = $3 WHERE org_id = $1 AND id = $2")
        .bind(org)
        .bind(id)
        .bind(job.id())
        .execute(&mut *conn)
        .await?;
    Ok(job.id().to_string())
}

/// Locks a migration awaiting confirmation, or says why it is not.
async fn awaiting(conn: &mut PgConnection, org: &str, id: &str, verb: &str) -> Result<()> {
    let status: Option<String> = sqlx::query_scalar(
        "SELECT status FROM plan_migrations WHERE org_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(org)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    match status.as_deref() {
        None => Err(CatalogError::NotFound {
            what: "plan migration",
            org: org.to_string(),
            id: id.to_string(),
        }),
        Some("AWAITING_CONFIRMATION") => Ok(()),
        Some(s) => Err(CatalogError::Conflict(format!(
            "plan migration {id} is {s}: only one AWAITING_CONFIRMATION can be {verb}"
        ))),
    }
}

/// Confirms a migration that awaits confirmation, at `now`: it becomes PENDING and
/// its job is enqueued (acting as of `now`, at most `max_attempts` attempts).
///
/// Errors: [`CatalogError::NotFound`] for an unknown migration,
/// [`CatalogError::Conflict`] for one that is not AWAITING_CONFIRMATION.
pub async fn confirm(
    pool: &PgPool,
    max_attempts: u32,
    org_id: &OrgId,
    id: &str,
    now: DateTime<Utc>,
) -> Result<MigrationView> {
    let org: &str = org_id;
    let mut tx = pool.begin().await?;
    awaiting(&mut tx, org, id, "confirmed").await?;
    sqlx::query(
        "UPDATE plan_migrations SET status = 'PENDING', decided_at = $3 WHERE org_id = $1 AND id = $2",
    )
    .bind(org)
    .bind(id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    enqueue_job(&mut tx, max_attempts, org, id, now).await?;
    tx.commit().await?;
    get(pool, org_id, id).await
}

/// Rejects a migration that awaits confirmation, at `now`: it ends REJECTED having
/// done nothing.
///
/// Errors: [`CatalogError::NotFound`] for an unknown migration,
/// [`CatalogError::Conflict`] for one that is not AWAITING_CONFIRMATION.
pub async fn reject(
    pool: &PgPool,
    org_id: &OrgId,
    id: &str,
    now: DateTime<Utc>,
) -> Result<MigrationView> {
    let org: &str = org_id;
    let mut tx = pool.begin().await?;
    awaiting(&mut tx, org, id, "rejected").await?;
    sqlx::query(
        "UPDATE plan_migrations SET status = 'REJECTED', decided_at = $3 WHERE org_id = $1 AND id = $2",
    )
    .bind(org)
    .bind(id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    get(pool, org_id, id).await
}
