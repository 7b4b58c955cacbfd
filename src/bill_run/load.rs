//! Set-based loading of what a chunk of accounts needs: one query per kind of data
//! for the whole chunk, never one per account.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use billrun_core::charges::LicenseChange;
use billrun_core::cycle::{local_date, PricingCycleConfig};
use billrun_core::meter_logic::{event_document, Computation, MeterLogic};
use billrun_core::numbering::NumberFormat;
use billrun_core::overrides::Overrides;
use billrun_core::plan::Plan;
use billrun_core::tax::{TaxRate, TaxTreatment};
use billrun_core::{Currency, RoundingMode};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use sqlx::PgConnection;

use crate::queue::JobError;

fn fatal(msg: String) -> JobError {
    JobError::Fatal(anyhow::anyhow!(msg))
}

/// Locks the accounts `ids` of `org` for the transaction, in id order: every job that
/// writes an account's billing (close-chunk, plan-migration) takes its accounts this
/// way, so two such jobs serialise on shared accounts and never deadlock.
pub async fn lock_accounts(
    conn: &mut PgConnection,
    org: &str,
    ids: &[String],
) -> Result<(), JobError> {
    sqlx::query(
        "SELECT id FROM accounts WHERE org_id = $1 AND id = ANY($2) ORDER BY id FOR UPDATE",
    )
    .bind(org)
    .bind(ids)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The organisation's settings a bill run uses.
#[derive(Debug, Clone)]
pub struct OrgSettings {
    /// Organisation id.
    pub id: String,
    /// Default timezone of its accounts.
    pub timezone: Tz,
    /// Rounding to the minor unit.
    pub rounding: RoundingMode,
    /// Invoice number format.
    pub number_format: NumberFormat,
    /// Default net term days.
    pub net_term_days: i32,
}

/// Loads an organisation's settings.
pub async fn org_settings(conn: &mut PgConnection, org: &str) -> Result<OrgSettings, JobError> {
    let row: Option<(String, String, String, i32)> = sqlx::query_as(
        "SELECT timezone, rounding_mode, invoice_number_format, net_term_days
         FROM organisations WHERE id = $1",
    )
    .bind(org)
    .fetch_optional(&mut *conn)
    .await?;
    let (tz, rounding, format, net_term_days) =
        row.ok_or_else(|| fatal(format!("no organisation {org:?}")))?;
    Ok(OrgSettings {
        id: org.to_string(),
        timezone: tz
            .parse()
            .map_err(|_| fatal(format!("organisation {org}: bad timezone {tz:?}")))?,
        rounding: serde_json::from_value(serde_json::Value::String(rounding.clone())).map_err(
            |_| {
                fatal(format!(
                    "organisation {org}: bad rounding mode {rounding:?}"
                ))
            },
        )?,
        number_format: NumberFormat::parse(&format)
            .map_err(|e| fatal(format!("organisation {org}: {e}")))?,
        net_term_days,
    })
}

/// The organisation's tax rates (README "Taxes"), by code then start date.
pub async fn tax_rates(conn: &mut PgConnection, org: &str) -> Result<Vec<TaxRate>, JobError> {
    Ok(crate::catalog::taxes::read_rates(conn, org).await?)
}

/// An account as billed.
#[derive(Debug, Clone)]
pub struct BilledAccount {
    /// Invoice currency.
    pub currency: Currency,
    /// Its timezone (override, else the organisation's).
    pub timezone: Tz,
    /// Its tax treatment: the account's, else its customer's, else STANDARD.
    pub tax_treatment: TaxTreatment,
}

/// The chunk's accounts, by id.
pub async fn accounts(
    conn: &mut PgConnection,
    org: &OrgSettings,
    ids: &[String],
) -> Result<HashMap<String, Result<BilledAccount, String>>, JobError> {
    let rows: Vec<(String, String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT a.id, a.invoice_currency, a.timezone, coalesce(a.tax_treatment, c.tax_treatment)
         FROM accounts a JOIN customers c ON c.org_id = a.org_id AND c.id = a.customer_id
         WHERE a.org_id = $1 AND a.id = ANY($2)",
    )
    .bind(&org.id)
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, currency, tz, treatment)| {
            let account = (|| {
                Ok(BilledAccount {
                    currency: Currency::parse(&currency).map_err(|e| e.message)?,
                    timezone: match tz {
                        None => org.timezone,
                        Some(tz) => tz.parse().map_err(|_| format!("bad timezone {tz:?}"))?,
                    },
                    tax_treatment: match treatment {
                        None => TaxTreatment::Standard,
                        Some(t) => TaxTreatment::parse(&t).map_err(|e| e.message)?,
                    },
                })
            })();
            (id, account)
        })
        .collect())
}

/// A period during which an account is on a plan version.
#[derive(Debug, Clone)]
pub struct Association {
    /// The account.
    pub account_id: String,
    /// Plan id.
    pub plan_id: String,
    /// Plan version.
    pub plan_version: i32,
    /// First local day.
    pub from: NaiveDate,
    /// First local day after, if it ends.
    pub until: Option<NaiveDate>,
    /// The account's overrides of the plan (`billrun_core::overrides`), if any.
    pub overrides: Option<serde_json::Value>,
    /// Free days at its start (`trial_period_days`; 0 = no trial).
    pub trial_days: u32,
}

impl Association {
    /// The key of its billing cycles and invoices: (account, first local day).
    pub fn key(&self) -> (String, NaiveDate) {
        (self.account_id.clone(), self.from)
    }

    /// The cycle config its windows are laid with and the first local day billed,
    /// after its trial if it has one
    /// ([`billrun_core::cycle::PricingCycleConfig::after_trial`]).
    pub fn billing(&self, plan: &Plan) -> (PricingCycleConfig, NaiveDate) {
        plan.pricing_cycle.after_trial(self.from, self.trial_days)
    }
}

/// The chunk's plan associations.
pub async fn associations(
    conn: &mut PgConnection,
    org: &str,
    ids: &[String],
) -> Result<Vec<Association>, JobError> {
    type Row = (
        String,
        String,
        i32,
        NaiveDate,
        Option<NaiveDate>,
        Option<serde_json::Value>,
        Option<i32>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT account_id, plan_id, plan_version, effective_from, effective_until, overrides,
                trial_period_days
         FROM plan_associations WHERE org_id = $1 AND account_id = ANY($2)
         ORDER BY account_id, effective_from",
    )
    .bind(org)
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(account_id, plan_id, plan_version, from, until, overrides, trial)| Association {
                account_id,
                plan_id,
                plan_version,
                from,
                until,
                overrides,
                trial_days: trial.and_then(|t| u32::try_from(t).ok()).unwrap_or(0),
            },
        )
        .collect())
}

/// The plan each association bills with: its plan version's definition with the
/// association's overrides applied, parsed once per distinct (version, overrides).
/// A card naming an add-on (`addOnId`) shows the add-on's billable name, else its
/// name, as of the run ([`crate::catalog::addons::show_add_on_names`]).
/// Keyed by [`Association::key`]; an error says why the association cannot be billed.
pub async fn plans(
    conn: &mut PgConnection,
    org: &str,
    associations: &[Association],
) -> Result<HashMap<(String, NaiveDate), Result<Arc<Plan>, String>>, JobError> {
    let mut ids: Vec<String> = Vec::new();
    let mut versions: Vec<i32> = Vec::new();
    for a in associations {
        ids.push(a.plan_id.clone());
        versions.push(a.plan_version);
    }
    let rows: Vec<(String, i32, serde_json::Value)> = sqlx::query_as(
        "SELECT v.plan_id, v.version, v.definition
         FROM price_plan_versions v
         JOIN (SELECT DISTINCT * FROM unnest($2::text[], $3::int[])) AS u(plan_id, version)
           ON u.plan_id = v.plan_id AND u.version = v.version
         WHERE v.org_id = $1",
    )
    .bind(org)
    .bind(&ids)
    .bind(&versions)
    .fetch_all(&mut *conn)
    .await?;
    // Cards naming an add-on bill under its current billable name (else its name).
    let names: HashMap<String, String> = sqlx::query_as::<_, (String, String)>(
        "SELECT id, coalesce(billable_name, name) FROM add_ons WHERE org_id = $1",
    )
    .bind(org)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    let definitions: HashMap<(String, i32), serde_json::Value> = rows
        .into_iter()
        .map(|(id, version, mut def)| {
            crate::catalog::addons::show_add_on_names(&mut def, &names);
            ((id, version), def)
        })
        .collect();
    Ok(effective_plans(associations, &definitions))
}

/// [`plans`] without the database: each association's plan with its overrides.
pub fn effective_plans(
    associations: &[Association],
    definitions: &HashMap<(String, i32), serde_json::Value>,
) -> HashMap<(String, NaiveDate), Result<Arc<Plan>, String>> {
    // One parse per distinct (version, overrides); associations share it.
    let mut parsed: HashMap<(String, i32, String), Result<Arc<Plan>, String>> = HashMap::new();
    associations
        .iter()
        .map(|a| {
            let overrides = a.overrides.clone().unwrap_or(serde_json::Value::Null);
            let cache_key = (a.plan_id.clone(), a.plan_version, overrides.to_string());
            let plan = parsed
                .entry(cache_key)
                .or_insert_with(|| {
                    let what = format!("plan {} v{}", a.plan_id, a.plan_version);
                    let definition = definitions
                        .get(&(a.plan_id.clone(), a.plan_version))
                        .ok_or_else(|| format!("{what} not found"))?;
                    Overrides::from_json(&overrides)
                        .and_then(|o| o.apply_to(definition))
                        .map(Arc::new)
                        .map_err(|e| format!("{what}: {e}"))
                })
                .clone();
            (a.key(), plan)
        })
        .collect()
}

/// Each account's license quantities as ABSOLUTE changes on local days (RELATIVE
/// updates accumulated in the order they take effect).
pub async fn license_changes(
    conn: &mut PgConnection,
    org: &str,
    ids: &[String],
    timezones: &HashMap<String, Tz>,
) -> Result<HashMap<String, BTreeMap<String, Vec<LicenseChange>>>, JobError> {
    let rows: Vec<(String, String, String, Decimal, DateTime<Utc>)> = sqlx::query_as(
        "SELECT account_id, license_id, update_type, quantity, effective_from
         FROM license_updates WHERE org_id = $1 AND account_id = ANY($2)
         ORDER BY account_id, license_id, effective_from, created_at, idempotency_key",
    )
    .bind(org)
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut out: HashMap<String, BTreeMap<String, Vec<LicenseChange>>> = HashMap::new();
    for (account, license, kind, quantity, from) in rows {
        let Some(tz) = timezones.get(&account) else {
            continue;
        };
        let changes = out.entry(account).or_default().entry(license).or_default();
        let previous = changes.last().map_or(Decimal::ZERO, |c| c.quantity);
        let quantity = if kind == "RELATIVE" {
            (previous + quantity).max(Decimal::ZERO)
        } else {
            quantity
        };
        changes.push(LicenseChange {
            effective_from: local_date(from, *tz),
            quantity,
        });
    }
    Ok(out)
}

/// A window whose usage is needed: index into the caller's list, account, instants.
pub struct UsageWindow {
    /// The account.
    pub account_id: String,
    /// First instant.
    pub starts_at: DateTime<Utc>,
    /// First instant after.
    pub ends_at: DateTime<Utc>,
}

/// Usage per meter for every window: `result[i]` is window i's. Meters without
/// computations (COUNT, or SUM of an attribute, over the events matching their
/// filters) are aggregated in one set-based query; meters with computations, if the
/// organisation has any, in a second one that reads their events' attributes and
/// dimensions and evaluates the computations in Rust
/// ([`billrun_core::meter_logic`]: the first match by order gives an event's value;
/// an event none matches adds nothing). Errors: a computation that fails on an event
/// (fatal, naming the meter, the computation and the event).
pub async fn usage(
    conn: &mut PgConnection,
    org: &str,
    windows: &[UsageWindow],
) -> Result<Vec<BTreeMap<String, Decimal>>, JobError> {
    let mut out = vec![BTreeMap::new(); windows.len()];
    if windows.is_empty() {
        return Ok(out);
    }
    let idx: Vec<i32> = (0..windows.len() as i32).collect();
    let accounts: Vec<&str> = windows.iter().map(|w| w.account_id.as_str()).collect();
    let starts: Vec<DateTime<Utc>> = windows.iter().map(|w| w.starts_at).collect();
    let ends: Vec<DateTime<Utc>> = windows.iter().map(|w| w.ends_at).collect();
    let rows: Vec<(i32, String, Decimal)> = sqlx::query_as(
        "WITH w AS (
             SELECT * FROM unnest($2::int[], $3::text[], $4::timestamptz[], $5::timestamptz[])
                 AS w(idx, account_id, starts_at, ends_at)
         )
         SELECT w.idx, m.id,
                CASE WHEN m.aggregation = 'COUNT' THEN count(*)::numeric
                     ELSE coalesce(sum((e.attributes ->> m.attribute)::numeric), 0) END
         FROM w
         JOIN usage_events e
           ON e.org_id = $1 AND e.account_id = w.account_id
          AND e.ts >= w.starts_at AND e.ts < w.ends_at
         JOIN usage_meters m
           ON m.org_id = $1 AND m.event_schema = e.schema_name AND e.dimensions @> m.filters
          AND m.computations = '[]'::jsonb
         GROUP BY w.idx, m.id, m.aggregation",
    )
    .bind(org)
    .bind(&idx)
    .bind(&accounts)
    .bind(&starts)
    .bind(&ends)
    .fetch_all(&mut *conn)
    .await?;
    for (i, meter, quantity) in rows {
        out[i as usize].insert(meter, quantity);
    }
    computed_usage(conn, org, &idx, &accounts, &starts, &ends, &mut out).await?;
    Ok(out)
}

/// Adds the usage of the organisation's meters with computations to `out` (see
/// [`usage`]); nothing to read when it has none.
async fn computed_usage(
    conn: &mut PgConnection,
    org: &str,
    idx: &[i32],
    accounts: &[&str],
    starts: &[DateTime<Utc>],
    ends: &[DateTime<Utc>],
    out: &mut [BTreeMap<String, Decimal>],
) -> Result<(), JobError> {
    let defs: Vec<(String, String, sqlx::types::Json<Vec<Computation>>)> = sqlx::query_as(
        "SELECT id, aggregation, computations FROM usage_meters
         WHERE org_id = $1 AND computations <> '[]'::jsonb",
    )
    .bind(org)
    .fetch_all(&mut *conn)
    .await?;
    if defs.is_empty() {
        return Ok(());
    }
    let mut logic = HashMap::new();
    for (id, aggregation, computations) in defs {
        let compiled = MeterLogic::compile(&computations.0, aggregation == "COUNT")
            .map_err(|e| fatal(format!("usage meter {id:?}: {e}")))?;
        logic.insert(id, compiled);
    }
    let rows: Vec<(i32, String, String, serde_json::Value, serde_json::Value)> = sqlx::query_as(
        "WITH w AS (
             SELECT * FROM unnest($2::int[], $3::text[], $4::timestamptz[], $5::timestamptz[])
                 AS w(idx, account_id, starts_at, ends_at)
         )
         SELECT w.idx, m.id, e.id, e.attributes, e.dimensions
         FROM w
         JOIN usage_events e
           ON e.org_id = $1 AND e.account_id = w.account_id
          AND e.ts >= w.starts_at AND e.ts < w.ends_at
         JOIN usage_meters m
           ON m.org_id = $1 AND m.event_schema = e.schema_name AND e.dimensions @> m.filters
          AND m.computations <> '[]'::jsonb",
    )
    .bind(org)
    .bind(idx)
    .bind(accounts)
    .bind(starts)
    .bind(ends)
    .fetch_all(&mut *conn)
    .await?;
    for (i, meter, event, attributes, dimensions) in rows {
        let Some(compiled) = logic.get(&meter) else {
            continue;
        };
        let value = compiled
            .value(&event_document(&attributes, &dimensions))
            .map_err(|e| fatal(format!("usage meter {meter:?}, event {event:?}: {e}")))?;
        if let Some(v) = value {
            *out[i as usize].entry(meter).or_insert(Decimal::ZERO) += v;
        }
    }
    Ok(())
}
