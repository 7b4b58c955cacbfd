//! The `plan-migration` job: lists a migration's accounts once, then migrates them
//! chunk by chunk (module docs of [`super`]).
//!
//! Migrating one account, in the chunk's transaction (accounts locked like a bill
//! run locks them, so the two serialise):
//! 1. its plan period on the source that covers its migration date (the migration
//!    instant's local date in its timezone) ends on the switch date
//!    ([`billrun_core::migration::switch_date`]); a period on the target starts
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

use std::collections::HashMap;

use billrun_core::charges::{cycle_charges, CycleInput};
use billrun_core::cycle::{local_date, local_start_instant, CycleWindow};
use billrun_core::migration::{switch_date, unused_advance, MigrationMode};
use billrun_core::overrides::Overrides;
use billrun_core::{Currency, Period};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::PgConnection;

use crate::bill_run::load::{self, Association, BilledAccount, OrgSettings};
use crate::queue::{JobContext, JobError};
use crate::store::status::{CycleStatus, PlanMigrationStatus};

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
    fn window(&self) -> CycleWindow {
        CycleWindow {
            index: self.cycle_index as u32,
            full: Period::new(self.full_start, self.full_end),
            billed: Period::new(self.billed_start, self.billed_end),
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

/// Migrates up to `chunk_size` pending entries in one transaction: (migrated, failed).
async fn migrate_chunk(
    ctx: &JobContext,
    org: &str,
    id: &str,
    m: &Migration,
    mode: MigrationMode,
    effective_at: DateTime<Utc>,
    chunk_size: i64,
) -> Result<(u64, u64), JobError> {
    let mut tx = ctx.pool.begin().await?;
    let conn: &mut PgConnection = &mut tx;
    let entries: Vec<(String, NaiveDate)> = sqlx::query_as(
        "SELECT account_id, source_from FROM plan_migration_entries
         WHERE org_id = $1 AND migration_id = $2 AND status = 'PENDING'
         ORDER BY account_id LIMIT $3 FOR UPDATE SKIP LOCKED",
    )
    .bind(org)
    .bind(id)
    .bind(chunk_size)
    .fetch_all(&mut *conn)
    .await?;
    if entries.is_empty() {
        return Ok((0, 0));
    }
    let ids: Vec<String> = entries.iter().map(|(a, _)| a.clone()).collect();
    load::lock_accounts(conn, org, &ids).await?;
    let settings = load::org_settings(conn, org).await?;
    let accounts = load::accounts(conn, &settings, &ids).await?;
    let associations = load::associations(conn, org, &ids).await?;
    let source_plans = load::plans(conn, org, &associations).await?;
    let target_definition: Value = sqlx::query_scalar(
        "SELECT definition FROM price_plan_versions WHERE org_id = $1 AND plan_id = $2 AND version = $3",
    )
    .bind(org)
    .bind(&m.target_plan_id)
    .bind(m.target_version)
    .fetch_one(&mut *conn)
    .await?;
    let cycles: Vec<StoredCycle> = sqlx::query_as(
        "SELECT c.account_id, c.association_from, c.cycle_index, c.full_start, c.full_end,
                c.billed_start, c.billed_end, c.status
         FROM billing_cycles c
         JOIN unnest($2::text[], $3::date[]) AS u(account_id, association_from)
           ON c.account_id = u.account_id AND c.association_from = u.association_from
         WHERE c.org_id = $1
         ORDER BY c.account_id, c.association_from, c.cycle_index",
    )
    .bind(org)
    .bind(&ids)
    .bind(entries.iter().map(|(_, f)| *f).collect::<Vec<_>>())
    .fetch_all(&mut *conn)
    .await?;
    let mut cycles_of: HashMap<(String, NaiveDate), Vec<StoredCycle>> = HashMap::new();
    for c in cycles {
        cycles_of
            .entry((c.account_id.clone(), c.association_from))
            .or_default()
            .push(c);
    }
    let licenses = if mode.is_immediate() {
        let tzs: HashMap<String, Tz> = accounts
            .iter()
            .filter_map(|(id, a)| Some((id.clone(), a.as_ref().ok()?.timezone)))
            .collect();
        load::license_changes(conn, org, &ids, &tzs).await?
    } else {
        HashMap::new()
    };

    let inputs = ChunkInputs {
        settings: &settings,
        migration: m,
        mode,
        effective_at,
        target_definition: &target_definition,
    };
    let mut outcomes = Vec::new();
    for (account_id, source_from) in &entries {
        let association = associations
            .iter()
            .find(|a| &a.account_id == account_id && a.from == *source_from);
        let outcome = match (association, accounts.get(account_id)) {
            (None, _) => Outcome::Failed(format!(
                "its plan period from {source_from} on {} no longer exists",
                m.source_plan_id
            )),
            (_, None) => Outcome::Failed("the account no longer exists".into()),
            (_, Some(Err(e))) => Outcome::Failed(e.clone()),
            (Some(a), Some(Ok(account))) => {
                let no_cycles = Vec::new();
                let no_licenses = Default::default();
                decide(
                    &inputs,
                    a,
                    account,
                    source_plans.get(&a.key()),
                    cycles_of.get(&a.key()).unwrap_or(&no_cycles),
                    licenses.get(account_id).unwrap_or(&no_licenses),
                )
            }
        };
        outcomes.push((account_id.clone(), outcome));
    }

    let mut switches: Vec<&Switch> = Vec::new();
    let mut failures: Vec<(&str, &str)> = Vec::new();
    for (account_id, outcome) in &outcomes {
        match outcome {
            Outcome::Migrated(s) => switches.push(s),
            Outcome::Failed(reason) => {
                tracing::warn!(
                    organisation = org,
                    migration = id,
                    account = account_id,
                    "not migrated: {reason}"
                );
                failures.push((account_id, reason));
            }
        }
    }
    write_switches(conn, org, id, m, &switches, ctx.as_of).await?;
    write_failures(conn, org, id, &failures, ctx.as_of).await?;
    tx.commit().await?;
    Ok((switches.len() as u64, failures.len() as u64))
}

/// Fails entries with their reasons, in one statement.
async fn write_failures(
    conn: &mut PgConnection,
    org: &str,
    id: &str,
    failures: &[(&str, &str)],
    now: DateTime<Utc>,
) -> Result<(), JobError> {
    if failures.is_empty() {
        return Ok(());
    }
    let (accounts, reasons): (Vec<&str>, Vec<&str>) = failures.iter().copied().unzip();
    sqlx::query(
        "UPDATE plan_migration_entries e SET status = 'FAILED', reason = u.reason, updated_at = $5
         FROM unnest($3::text[], $4::text[]) AS u(account_id, reason)
         WHERE e.org_id = $1 AND e.migration_id = $2 AND e.account_id = u.account_id",
    )
    .bind(org)
    .bind(id)
    .bind(&accounts)
    .bind(&reasons)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

struct ChunkInputs<'a> {
    settings: &'a OrgSettings,
    migration: &'a Migration,
    mode: MigrationMode,
    effective_at: DateTime<Utc>,
    target_definition: &'a Value,
}

/// What migrating one account means (no I/O).
fn decide(
    inputs: &ChunkInputs<'_>,
    a: &Association,
    account: &BilledAccount,
    source_plan: Option<&Result<std::sync::Arc<billrun_core::plan::Plan>, String>>,
    cycles: &[StoredCycle],
    licenses: &std::collections::BTreeMap<String, Vec<billrun_core::charges::LicenseChange>>,
) -> Outcome {
    let m = inputs.migration;
    if a.plan_id != m.source_plan_id || m.source_version.is_some_and(|v| v != a.plan_version) {
        return Outcome::Failed(format!(
            "it is now on {} v{}, not on the source plan",
            a.plan_id, a.plan_version
        ));
    }
    let source = match source_plan {
        Some(Ok(p)) => p,
        Some(Err(e)) => return Outcome::Failed(e.clone()),
        None => {
            return Outcome::Failed(format!("plan {} v{} not found", a.plan_id, a.plan_version))
        }
    };
    let on = local_date(inputs.effective_at, account.timezone);
    // An account in its trial has no cycle to switch in yet: billing starts after it.
    let (cycle_config, billed_from) = a.billing(source);
    if on < billed_from {
        return Outcome::Failed(format!(
            "it is in its trial until {} (billed from {billed_from}): nothing to migrate yet",
            billed_from.pred_opt().unwrap_or(billed_from)
        ));
    }
    let switch = match switch_date(inputs.mode, &cycle_config, billed_from, a.until, on) {
        Ok(s) => s,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    // A cycle already closed past the switch has been invoiced on the old plan.
    if let Some(c) = cycles
        .iter()
        .find(|c| c.status == CycleStatus::Closed && c.billed_end > switch)
    {
        return Outcome::Failed(format!(
            "its cycle {} - {} is already closed and invoiced on the old plan: the switch \
             date {switch} is too early",
            c.billed_start,
            c.billed_end.pred_opt().unwrap_or(c.billed_end)
        ));
    }
    // NEXT_CYCLE: the next cycle must not have been opened (and billed in advance)
    // on the old plan already; a migration dated in the past comes too late for it.
    if !inputs.mode.is_immediate() {
        if let Some(c) = cycles.iter().find(|c| c.billed_start >= switch) {
            return Outcome::Failed(format!(
                "its cycle from {} has already been opened on the old plan: a {} migration \
                 dated {on} comes too late for it",
                c.billed_start, inputs.mode
            ));
        }
    }

    // The new period's overrides.
    let old = match Overrides::from_json(a.overrides.as_ref().unwrap_or(&Value::Null)) {
        Ok(o) => o,
        Err(e) => return Outcome::Failed(format!("its overrides are unreadable: {e}")),
    };
    let (mut overrides, dropped) = if inputs.mode.carries_overrides() {
        let carried = old.carried_to(inputs.target_definition);
        (carried.overrides, carried.dropped)
    } else {
        (Overrides::default(), Vec::new())
    };
    if m.retain_start_offsets {
        let target_cycle = match overrides.apply_to(inputs.target_definition) {
            Ok(p) => p.pricing_cycle,
            Err(e) => return Outcome::Failed(format!("the target plan with its overrides: {e}")),
        };
        match target_cycle.aligned_with(&source.pricing_cycle, a.from) {
            Ok(aligned) => overrides.pricing_cycle = Some(aligned.to_json()),
            Err(e) => return Outcome::Failed(e.message),
        }
    }
    let target = match overrides.apply_to(inputs.target_definition) {
        Ok(p) => p,
        Err(e) => return Outcome::Failed(format!("the target plan with its overrides: {e}")),
    };
    if !target.supported_currencies.contains(&account.currency) {
        return Outcome::Failed(format!(
            "it invoices in {} and {} v{} does not support it",
            account.currency, m.target_plan_id, m.target_version
        ));
    }
    let missing = target.cards_without_rate(account.currency);
    if !missing.is_empty() {
        return Outcome::Failed(format!(
            "{} v{} has no {} rate for {}",
            m.target_plan_id,
            m.target_version,
            account.currency,
            missing.join(", ")
        ));
    }

    // IMMEDIATE: cut the open cycles at the switch and credit their unused advance.
    let mut shorten = None;
    let mut unbilled = Vec::new();
    let mut credit = Decimal::ZERO;
    let mut credit_detail = Vec::new();
    if inputs.mode.is_immediate() {
        for c in cycles
            .iter()
            .filter(|c| c.status == CycleStatus::Open && c.billed_end > switch)
        {
            if c.billed_start < switch {
                shorten = Some((c.cycle_index, switch));
            } else {
                unbilled.push(c.cycle_index);
            }
            let input = CycleInput {
                window: c.window(),
                usage: Default::default(),
                licenses: licenses.clone(),
            };
            let charges =
                match cycle_charges(source, account.currency, inputs.settings.rounding, &input) {
                    Ok(ch) => ch,
                    Err(e) => {
                        return Outcome::Failed(format!("its current cycle cannot be priced: {e}"))
                    }
                };
            for u in unused_advance(
                source,
                &charges,
                switch,
                account.currency,
                inputs.settings.rounding,
            ) {
                credit += u.amount;
                credit_detail.push(format!(
                    "{} {} of {} for {} - {}",
                    u.display_name,
                    u.amount,
                    u.billed,
                    u.period.start,
                    u.period.last_day()
                ));
            }
        }
    }
    Outcome::Migrated(Box::new(Switch {
        account_id: a.account_id.clone(),
        source_from: a.from,
        switch,
        until: a.until,
        tz: account.timezone,
        overrides: Some(overrides.to_json()).filter(|o| !o.is_null()),
        dropped,
        shorten,
        unbilled,
        credit,
        credit_detail,
        currency: account.currency,
    }))
}

/// Writes the chunk's migrations and completes their entries: one statement per
/// kind of write for the whole chunk; credits per account (through the ledger).
async fn write_switches(
    conn: &mut PgConnection,
    org: &str,
    id: &str,
    m: &Migration,
    switches: &[&Switch],
    now: DateTime<Utc>,
) -> Result<(), JobError> {
    if switches.is_empty() {
        return Ok(());
    }
    let accounts: Vec<&str> = switches.iter().map(|s| s.account_id.as_str()).collect();
    let sources: Vec<NaiveDate> = switches.iter().map(|s| s.source_from).collect();
    let dates: Vec<NaiveDate> = switches.iter().map(|s| s.switch).collect();
    let untils: Vec<Option<NaiveDate>> = switches.iter().map(|s| s.until).collect();
    let overrides: Vec<Option<Value>> = switches.iter().map(|s| s.overrides.clone()).collect();
    // The old period ends on the switch date; the new one starts there.
    sqlx::query(
        "UPDATE plan_associations p SET effective_until = u.switch
         FROM unnest($2::text[], $3::date[], $4::date[]) AS u(account_id, source_from, switch)
         WHERE p.org_id = $1 AND p.account_id = u.account_id AND p.effective_from = u.source_from",
    )
    .bind(org)
    .bind(&accounts)
    .bind(&sources)
    .bind(&dates)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO plan_associations (org_id, account_id, plan_id, plan_version, effective_from,
             effective_until, overrides)
         SELECT $1, u.account_id, $2, $3, u.switch, u.until, u.overrides
         FROM unnest($4::text[], $5::date[], $6::date[], $7::jsonb[])
           AS u(account_id, switch, until, overrides)",
    )
    .bind(org)
    .bind(&m.target_plan_id)
    .bind(m.target_version)
    .bind(&accounts)
    .bind(&dates)
    .bind(&untils)
    .bind(&overrides)
    .execute(&mut *conn)
    .await?;

    // IMMEDIATE: the cut cycles end on the switch date (so the next bill run closes
    // them); those that opened on or after it are closed unbilled.
    let cut: Vec<&&Switch> = switches.iter().filter(|s| s.shorten.is_some()).collect();
    if !cut.is_empty() {
        let accounts: Vec<&str> = cut.iter().map(|s| s.account_id.as_str()).collect();
        let sources: Vec<NaiveDate> = cut.iter().map(|s| s.source_from).collect();
        let (indexes, ends): (Vec<i32>, Vec<NaiveDate>) =
            cut.iter().filter_map(|s| s.shorten).unzip();
        let ends_at: Vec<DateTime<Utc>> = cut
            .iter()
            .map(|s| local_start_instant(s.switch, s.tz))
            .collect();
        sqlx::query(
            "UPDATE billing_cycles c SET billed_end = u.billed_end, ends_at = u.ends_at
             FROM unnest($2::text[], $3::date[], $4::int[], $5::date[], $6::timestamptz[])
               AS u(account_id, source_from, cycle_index, billed_end, ends_at)
             WHERE c.org_id = $1 AND c.account_id = u.account_id
               AND c.association_from = u.source_from AND c.cycle_index = u.cycle_index
               AND c.status = 'OPEN'",
        )
        .bind(org)
        .bind(&accounts)
        .bind(&sources)
        .bind(&indexes)
        .bind(&ends)
        .bind(&ends_at)
        .execute(&mut *conn)
        .await?;
    }
    let unbilled: Vec<(&str, NaiveDate, i32)> = switches
        .iter()
        .flat_map(|s| {
            s.unbilled
                .iter()
                .map(move |i| (s.account_id.as_str(), s.source_from, *i))
        })
        .collect();
    if !unbilled.is_empty() {
        let accounts: Vec<&str> = unbilled.iter().map(|u| u.0).collect();
        let sources: Vec<NaiveDate> = unbilled.iter().map(|u| u.1).collect();
        let indexes: Vec<i32> = unbilled.iter().map(|u| u.2).collect();
        sqlx::query(
            "UPDATE billing_cycles c SET status = 'CLOSED', closed_at = $5
             FROM unnest($2::text[], $3::date[], $4::int[]) AS u(account_id, source_from, cycle_index)
             WHERE c.org_id = $1 AND c.account_id = u.account_id
               AND c.association_from = u.source_from AND c.cycle_index = u.cycle_index
               AND c.status = 'OPEN'",
        )
        .bind(org)
        .bind(&accounts)
        .bind(&sources)
        .bind(&indexes)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }

    // What was billed in advance for the days after the switch, credited back.
    let grants: Vec<crate::credits::NewGrant> = switches
        .iter()
        .filter(|s| s.credit > Decimal::ZERO)
        .map(|s| crate::credits::NewGrant {
            account: s.account_id.clone(),
            amount: s.credit,
            currency: s.currency.code().to_string(),
            purpose: format!(
                "plan migration {id}: unused in-advance charges of {} ({})",
                m.source_plan_id,
                s.credit_detail.join("; ")
            ),
            priority: 0,
            effective_from: Some(local_start_instant(s.switch, s.tz)),
            effective_until: None,
            applicable_entity_ids: Vec::new(),
            idempotency_key: format!("plan-migration:{id}:{}", s.account_id),
        })
        .collect();
    match crate::credits::grant_many(conn, org, &grants, now).await {
        Ok(_) => {}
        Err(crate::credits::CreditError::Db(e)) => return Err(e.into()),
        Err(e) => return Err(JobError::Fatal(e.into())),
    }

    let dropped: Vec<Value> = switches.iter().map(|s| json!(s.dropped)).collect();
    let credited: Vec<Option<Decimal>> = switches
        .iter()
        .map(|s| (s.credit > Decimal::ZERO).then_some(s.credit))
        .collect();
    sqlx::query(
        "UPDATE plan_migration_entries e SET status = 'COMPLETED', switch_date = u.switch,
             dropped_overrides = ARRAY(SELECT jsonb_array_elements_text(u.dropped)),
             credited = u.credited, updated_at = $7
         FROM unnest($3::text[], $4::date[], $5::jsonb[], $6::numeric[])
           AS u(account_id, switch, dropped, credited)
         WHERE e.org_id = $1 AND e.migration_id = $2 AND e.account_id = u.account_id",
    )
    .bind(org)
    .bind(id)
    .bind(&accounts)
    .bind(&dates)
    .bind(&dropped)
    .bind(&credited)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
