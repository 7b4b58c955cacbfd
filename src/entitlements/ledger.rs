//! The entitlement ledger: allowances granted by PREPAID `billingEntitlementRateCards`
//! once the invoice that sold them is paid (the `invoice-paid` job), one row per
//! invoice and card (idempotent), valid over the cycle the invoice line covers; and
//! each feature's use and PREPAID grants over time ranges ([`feature_use`]), for the
//! bill run's overage and for [`crate::entitlements::check`].

use std::collections::BTreeMap;

use billrun_core::charges::FeatureUse;
use billrun_core::cycle::local_start_instant;
use billrun_core::invoice::InvoiceLines;
use billrun_core::plan::{CardKind, InvoiceTiming, Plan};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use sqlx::PgConnection;

use crate::queue::{JobContext, JobError};

/// One ledger row: an allowance granted once its invoice was paid.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct EntitlementGrant {
    /// `eg_` and a ULID.
    pub id: String,
    /// The account entitled.
    pub account_id: String,
    /// The feature.
    pub feature_id: String,
    /// The allowance (units of the feature).
    pub quantity: Decimal,
    /// First instant it counts (UTC; the local start of the cycle's first day).
    pub effective_from: DateTime<Utc>,
    /// First instant it no longer counts (the local start of the day after the cycle).
    pub effective_until: DateTime<Utc>,
    /// The paid invoice that sold it.
    pub source_invoice_id: String,
    /// The entitlement card's name.
    pub source_card: String,
    /// When it was written (the job's `as_of`).
    pub created_at: DateTime<Utc>,
}

/// A paid invoice (or a draft merged into it) as this ledger reads it.
#[derive(sqlx::FromRow)]
struct PaidRow {
    id: String,
    account_id: String,
    lines: Value,
    plan_id: String,
    plan_version: i32,
    timezone: String,
}

/// Grants the allowances of the PREPAID entitlement lines of a paid invoice (and of
/// the drafts merged into it), each from the plan version that priced it. Idempotent:
/// running it twice grants once. Returns `{"entitlementGrantsCreated": n}`.
///
/// Errors: database errors as they are; a plan that no longer parses, stored lines or
/// a timezone that cannot be read: fatal, naming the invoice.
pub async fn grant_prepaid(
    ctx: &JobContext,
    org: &str,
    invoice_id: &str,
) -> Result<Value, JobError> {
    let mut tx = ctx.pool.begin().await?;
    let rows: Vec<PaidRow> = sqlx::query_as(
        "SELECT i.id, i.account_id, i.lines, i.plan_id, i.plan_version,
                coalesce(a.timezone, o.timezone) AS timezone
         FROM invoices i
         JOIN accounts a ON a.org_id = i.org_id AND a.id = i.account_id
         JOIN organisations o ON o.id = i.org_id
         WHERE i.org_id = $1
           AND ((i.id = $2 AND i.status = 'PAID')
                OR (i.merged_into = $2 AND EXISTS (SELECT 1 FROM invoices p WHERE p.org_id = i.org_id
                                                   AND p.id = $2 AND p.status = 'PAID')))
         FOR SHARE OF i",
    )
    .bind(org)
    .bind(invoice_id)
    .fetch_all(&mut *tx)
    .await?;
    let fatal = |id: &str, e: String| JobError::Fatal(anyhow::anyhow!("invoice {id}: {e}"));
    let mut n = 0;
    for r in &rows {
        let lines: InvoiceLines = serde_json::from_value(r.lines.clone())
            .map_err(|e| fatal(&r.id, format!("stored lines unreadable: {e}")))?;
        if !lines
            .card_lines()
            .any(|l| l.card_kind == Some(CardKind::BillingEntitlement))
        {
            continue;
        }
        let tz: chrono_tz::Tz = r
            .timezone
            .parse()
            .map_err(|_| fatal(&r.id, format!("unknown timezone {:?}", r.timezone)))?;
        let def: Value = sqlx::query_scalar(
            "SELECT definition FROM price_plan_versions WHERE org_id = $1 AND plan_id = $2 AND version = $3",
        )
        .bind(org)
        .bind(&r.plan_id)
        .bind(r.plan_version)
        .fetch_one(&mut *tx)
        .await?;
        let plan = Plan::from_json(&def).map_err(|e| {
            fatal(
                &r.id,
                format!("plan {} v{}: {e}", r.plan_id, r.plan_version),
            )
        })?;
        n += grant_from_lines(
            &mut tx,
            org,
            &r.id,
            &r.account_id,
            &lines,
            &plan,
            tz,
            ctx.as_of,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(json!({ "entitlementGrantsCreated": n }))
}

/// Writes one grant per PREPAID entitlement line of `lines` whose card `plan` has;
/// returns how many are new.
#[allow(clippy::too_many_arguments)]
async fn grant_from_lines(
    conn: &mut PgConnection,
    org: &str,
    invoice_id: &str,
    account_id: &str,
    lines: &InvoiceLines,
    plan: &Plan,
    tz: chrono_tz::Tz,
    as_of: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let mut n = 0;
    for line in lines.card_lines() {
        if line.card_kind != Some(CardKind::BillingEntitlement) {
            continue;
        }
        let Some(card) = plan
            .entitlement_cards
            .iter()
            .find(|c| Some(&c.card.name) == line.card_name.as_ref())
        else {
            continue;
        };
        let Some(period) = line.period else { continue };
        if card.card.invoice_timing != InvoiceTiming::Prepaid {
            continue;
        }
        // The featureConfigs entries in force on the cycle's first billed day.
        let Some(quantity) = card.quantity_on(period.start) else {
            continue;
        };
        n += sqlx::query(
            "INSERT INTO entitlement_grants (org_id, id, account_id, feature_id, quantity,
                 effective_from, effective_until, source_invoice_id, source_card, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (org_id, source_invoice_id, source_card) DO NOTHING",
        )
        .bind(org)
        .bind(format!("eg_{}", ulid::Ulid::generate()))
        .bind(account_id)
        .bind(&card.feature_id)
        .bind(quantity)
        .bind(local_start_instant(period.start, tz))
        .bind(local_start_instant(period.end, tz))
        .bind(invoice_id)
        .bind(&card.card.name)
        .bind(as_of)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    Ok(n)
}

/// Each feature's use and PREPAID grants over each range: `result[i]` is range i's
/// (`accounts[i]`, instants `[starts[i], ends[i])`, UTC). A feature's use is the sum
/// of its associated schema attributes over the account's events in the range; its
/// grants are the ledger's rows that overlap the range. Features neither used nor
/// granted are absent.
pub async fn feature_use(
    conn: &mut PgConnection,
    org: &str,
    accounts: &[&str],
    starts: &[DateTime<Utc>],
    ends: &[DateTime<Utc>],
) -> Result<Vec<BTreeMap<String, FeatureUse>>, sqlx::Error> {
    let mut out = vec![BTreeMap::<String, FeatureUse>::new(); accounts.len()];
    if accounts.is_empty() {
        return Ok(out);
    }
    let idx: Vec<i32> = (0..accounts.len() as i32).collect();
    let used: Vec<(i32, String, Decimal)> = sqlx::query_as(
        r#"WITH w AS (
             SELECT * FROM unnest($2::int[], $3::text[], $4::timestamptz[], $5::timestamptz[])
                 AS w(idx, account_id, starts_at, ends_at)
         )
         SELECT w.idx, f.id, coalesce(sum((e.attributes ->> a."attributeName")::numeric), 0)
         FROM w
         JOIN usage_events e
           ON e.org_id = $1 AND e.account_id = w.account_id
          AND e.ts >= w.starts_at AND e.ts < w.ends_at
         JOIN features f ON f.org_id = $1
         CROSS JOIN LATERAL jsonb_to_recordset(f.schema_associations)
             AS a("schemaName" text, "attributeName" text)
         WHERE a."schemaName" = e.schema_name
         GROUP BY w.idx, f.id"#,
    )
    .bind(org)
    .bind(&idx)
    .bind(accounts)
    .bind(starts)
    .bind(ends)
    .fetch_all(&mut *conn)
    .await?;
    for (i, feature, quantity) in used {
        out[i as usize].entry(feature).or_default().used = quantity;
    }
    let granted: Vec<(i32, String, Decimal)> = sqlx::query_as(
        "WITH w AS (
             SELECT * FROM unnest($2::int[], $3::text[], $4::timestamptz[], $5::timestamptz[])
                 AS w(idx, account_id, starts_at, ends_at)
         )
         SELECT w.idx, g.feature_id, sum(g.quantity)
         FROM w
         JOIN entitlement_grants g
           ON g.org_id = $1 AND g.account_id = w.account_id
          AND g.effective_from < w.ends_at AND g.effective_until > w.starts_at
         GROUP BY w.idx, g.feature_id",
    )
    .bind(org)
    .bind(&idx)
    .bind(accounts)
    .bind(starts)
    .bind(ends)
    .fetch_all(&mut *conn)
    .await?;
    for (i, feature, quantity) in granted {
        out[i as usize].entry(feature).or_default().prepaid_granted = quantity;
    }
    Ok(out)
}

/// The ledger of an account (every feature, or one), newest first.
pub async fn grants(
    pool: &sqlx::PgPool,
    org: &str,
    account_id: &str,
    feature_id: Option<&str>,
) -> Result<Vec<EntitlementGrant>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, account_id, feature_id, quantity, effective_from, effective_until,
                source_invoice_id, source_card, created_at
         FROM entitlement_grants
         WHERE org_id = $1 AND account_id = $2 AND ($3::text IS NULL OR feature_id = $3)
         ORDER BY effective_from DESC, id",
    )
    .bind(org)
    .bind(account_id)
    .bind(feature_id)
    .fetch_all(pool)
    .await
}
