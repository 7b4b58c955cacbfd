//! Builders of billing data, written straight to the tables (the catalog CLI has
//! its own tests): an organisation with a plan, accounts on it, usage.

use billrun_core::plan::Plan;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use sqlx::PgPool;

/// An organisation with one schema (`api`, attribute `calls`, dimension `region`)
/// and one SUM meter (`api_calls`).
pub async fn org(pool: &PgPool, id: &str, timezone: &str, format: &str, net_terms: i32) {
    sqlx::query(
        "INSERT INTO organisations (id, name, timezone, base_currency, enabled_currencies, net_term_days,
             invoice_number_format)
         VALUES ($1, $1, $2, 'USD', '{USD,EUR,JPY}', $3, $4)",
    )
    .bind(id)
    .bind(timezone)
    .bind(net_terms)
    .bind(format)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO event_schemas (org_id, name, attributes, dimensions) VALUES ($1, 'api', '{calls}', '{region}')")
        .bind(id)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO usage_meters (org_id, id, name, event_schema, aggregation, attribute)
         VALUES ($1, 'api_calls', 'API calls', 'api', 'SUM', 'calls')",
    )
    .bind(id)
    .execute(pool)
    .await
    .unwrap();
}

/// A monthly plan (day 1): API calls TIERED 0/1000/10000 at 0.10/0.05/0.01, a
/// 99.00 platform fee in advance with proration, a 300.00 minimum commitment.
pub fn growth_plan(grace_days: u32) -> Value {
    json!({
        "name": "growth",
        "supportedCurrencies": ["USD"],
        "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "1"},
                               "gracePeriod": grace_days, "anniversaryCycle": false},
        "usageRateCards": [{
            "name": "api_calls", "displayName": "API calls", "tag": "usage", "usageMeterId": "api_calls",
            "ratePlan": {"pricingModel": "TIERED", "slabs": [
                {"order": 1, "startAfter": 0, "priceType": "PER_UNIT"},
                {"order": 2, "startAfter": 1000, "priceType": "PER_UNIT"},
                {"order": 3, "startAfter": 10000, "priceType": "PER_UNIT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [
                {"order": 1, "rate": "0.10"}, {"order": 2, "rate": "0.05"}, {"order": 3, "rate": "0.01"}]}]
        }],
        "fixedFeeRateCards": [{
            "name": "platform_fee", "displayName": "Platform fee", "invoiceTiming": "IN_ADVANCE",
            "type": "RECURRING", "enableProration": true, "recurrenceConfig": {"interval": 1, "offset": 0},
            "rateValues": [{"currency": "USD", "rate": 99}]
        }],
        "minimumCommitment": {"displayName": "Monthly minimum", "rateValues": [{"currency": "USD", "rate": 300}]}
    })
}

/// Stores `plan` as version 1, ACTIVE.
pub async fn plan(pool: &PgPool, org: &str, plan: &Value) {
    let parsed = Plan::from_json(plan).unwrap_or_else(|e| panic!("fixture plan: {e}"));
    let id = plan["name"].as_str().unwrap();
    sqlx::query("INSERT INTO price_plans (org_id, id) VALUES ($1, $2)")
        .bind(org)
        .bind(id)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO price_plan_versions (org_id, plan_id, version, status, definition, finalized_at)
         VALUES ($1, $2, 1, 'ACTIVE', $3, now())",
    )
    .bind(org)
    .bind(id)
    .bind(parsed.to_json())
    .execute(pool)
    .await
    .unwrap();
}

/// An account (and its customer) on `plan` v1 from `from` (a local date).
pub async fn account(
    pool: &PgPool,
    org: &str,
    id: &str,
    plan: &str,
    from: &str,
    net_terms: Option<i32>,
) {
    sqlx::query(
        "INSERT INTO customers (org_id, id, name) VALUES ($1, $2, $2) ON CONFLICT DO NOTHING",
    )
    .bind(org)
    .bind(format!("cust-{id}"))
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO accounts (org_id, id, customer_id, name, invoice_currency, net_term_days)
         VALUES ($1, $2, $3, $2, 'USD', $4)",
    )
    .bind(org)
    .bind(id)
    .bind(format!("cust-{id}"))
    .bind(net_terms)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO plan_associations (org_id, account_id, plan_id, plan_version, effective_from)
         VALUES ($1, $2, $3, 1, $4::date)",
    )
    .bind(org)
    .bind(id)
    .bind(plan)
    .bind(from)
    .execute(pool)
    .await
    .unwrap();
}

/// One `api` event of `calls` calls at `ts`.
pub async fn event(pool: &PgPool, org: &str, id: &str, account: &str, ts: &str, calls: Decimal) {
    sqlx::query(
        "INSERT INTO usage_events (org_id, id, account_id, schema_name, ts, attributes, dimensions)
         VALUES ($1, $2, $3, 'api', $4::timestamptz, $5, '{\"region\": \"eu\"}')",
    )
    .bind(org)
    .bind(id)
    .bind(account)
    .bind(ts)
    .bind(json!({ "calls": calls.to_string() }))
    .execute(pool)
    .await
    .unwrap();
}

/// Every invoice as (account, boundary, status, number, sub_total, true_up, total,
/// invoice_date, due_date), ordered by boundary then account.
pub type InvoiceRow = (
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

pub async fn invoices(pool: &PgPool, org: &str) -> Vec<InvoiceRow> {
    sqlx::query_as(
        "SELECT account_id, boundary::text, status, number, sub_total::text, true_up::text, total::text,
                invoice_date::text, due_date::text
         FROM invoices WHERE org_id = $1 ORDER BY boundary, account_id",
    )
    .bind(org)
    .fetch_all(pool)
    .await
    .unwrap()
}
