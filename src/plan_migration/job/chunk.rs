//! One chunk of a plan migration, in one transaction: its pending entries locked,
//! their accounts, plan periods, cycles and licenses loaded and converted to the
//! core's inputs, each account decided by the core
//! ([`billrun_core::plan_migration::decide_account`]), and the outcomes written
//! ([`super::write`]).

use std::collections::HashMap;

use billrun_core::overrides::Overrides;
use billrun_core::plan_migration::{
    decide_account, AccountOnSource, AccountSwitch, MigrationMode, MigrationTerms, RecordedCycle,
};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde_json::Value;
use sqlx::PgConnection;

use super::write::{write_failures, write_switches};
use super::{Migration, Outcome, StoredCycle, Switch};
use crate::bill_run::load::{self, Association, BilledAccount};
use crate::queue::{JobContext, JobError};

/// Migrates up to `chunk_size` pending entries in one transaction: (migrated, failed).
pub(super) async fn migrate_chunk(
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

    let terms = MigrationTerms {
        source_plan_id: &m.source_plan_id,
        source_version: m.source_version,
        target_plan_id: &m.target_plan_id,
        target_version: m.target_version,
        target_definition: &target_definition,
        mode,
        retain_start_offsets: m.retain_start_offsets,
        effective_at,
        rounding: settings.rounding,
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
                let cycles: Vec<RecordedCycle> = cycles_of
                    .get(&a.key())
                    .map_or_else(Vec::new, |c| c.iter().map(StoredCycle::recorded).collect());
                let no_licenses = Default::default();
                let overrides = Overrides::from_json(a.overrides.as_ref().unwrap_or(&Value::Null));
                let not_found = format!("plan {} v{} not found", a.plan_id, a.plan_version);
                let source_plan = match source_plans.get(&a.key()) {
                    Some(Ok(p)) => Ok(&**p),
                    Some(Err(e)) => Err(e.as_str()),
                    None => Err(not_found.as_str()),
                };
                let on_source = AccountOnSource {
                    plan_id: &a.plan_id,
                    plan_version: a.plan_version,
                    from: a.from,
                    until: a.until,
                    trial_days: a.trial_days,
                    overrides: &overrides,
                    source_plan,
                    currency: account.currency,
                    timezone: account.timezone,
                    cycles: &cycles,
                    licenses: licenses.get(account_id).unwrap_or(&no_licenses),
                };
                match decide_account(&terms, &on_source) {
                    Ok(decided) => Outcome::Migrated(Box::new(switch(a, account, decided))),
                    Err(reason) => Outcome::Failed(reason.to_string()),
                }
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

/// A migrated account's outcome as [`super::write`] writes it.
fn switch(a: &Association, account: &BilledAccount, decided: AccountSwitch) -> Switch {
    let credit = decided.credit();
    let credit_detail = decided.credit_detail();
    Switch {
        account_id: a.account_id.clone(),
        source_from: a.from,
        switch: decided.switch,
        until: a.until,
        tz: account.timezone,
        overrides: Some(decided.overrides.to_json()).filter(|o| !o.is_null()),
        dropped: decided.dropped,
        shorten: decided.shorten.map(|(i, end)| (i as i32, end)),
        unbilled: decided.unbilled.into_iter().map(|i| i as i32).collect(),
        credit,
        credit_detail,
        currency: account.currency,
    }
}
