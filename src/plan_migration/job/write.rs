//! Writing a chunk's outcomes, set-based: the migrated accounts' plan periods,
//! cut and unbilled cycles, credits and entries ([`write_switches`]), and the
//! failed entries with their reasons ([`write_failures`]).

use billrun_core::cycle::local_start_instant;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use sqlx::PgConnection;

use super::{Migration, Switch};
use crate::queue::JobError;

/// Writes the chunk's migrations and completes their entries: one statement per
/// kind of write for the whole chunk; credits per account (through the ledger).
pub(super) async fn write_switches(
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

/// Fails entries with their reasons, in one statement.
pub(super) async fn write_failures(
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
