//! `billrun demo`: a complete bill run on built-in sample data.
//!
//! One organisation ("demo", Acme Analytics, Europe/Berlin, USD and EUR), four
//! plans that between them use every kind of rate card billrun bills (`starter`:
//! VOLUME usage, a prorated in-advance fee and a one-time setup fee; `growth`: the
//! example plan of Togai's docs with TIERED/PACKAGE usage and a min/max rate, an
//! in-advance platform fee, seats, a minimum commitment and a credit grant;
//! `enterprise`: anniversary cycles, FLAT + PACKAGE token tiers, a COUNT meter with a
//! minimum rate, WEEKLY seat windows and a commitment; `team`: a feature's monthly
//! allowance sold in advance and its overage), a pricing rule (`growth`: 10 % off API
//! calls when they come to more than 500.00), 40 accounts attached through January
//! 2026, and six weeks of usage and seat changes. The data is generated
//! deterministically and replaces any earlier demo organisation, so every run
//! prints the same invoices. The bill run goes through the queue like production.

use std::time::Duration;

use anyhow::{Context, Result};
use billrun_core::plan::Plan;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use sqlx::PgPool;

/// The organisation the demo writes.
pub const ORG: &str = "demo";

/// The instant the demo's bill run acts for: 15 Feb 2026, midnight in Berlin.
pub fn as_of() -> DateTime<Utc> {
    chrono_tz::Europe::Berlin
        .with_ymd_and_hms(2026, 2, 15, 0, 0, 0)
        .single()
        .expect("midnight exists in Berlin on 15 Feb")
        .with_timezone(&Utc)
}

/// The demo's plans: each plan's id and its Togai plan file (`src/demo/<id>.json`).
pub const PLANS: &[(&str, &str)] = &[
    ("starter", include_str!("starter.json")),
    ("growth", include_str!("growth.json")),
    ("enterprise", include_str!("enterprise.json")),
    ("team", include_str!("team.json")),
];

/// How many of the sample customers are on the `team` plan (the other plans have
/// all twelve).
const TEAM_ACCOUNTS: usize = 4;

/// A small deterministic generator (so the demo prints the same every time).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

/// The tables whose rows of the demo organisation a new demo deletes, children
/// before parents. Every table with an `org_id` column is here or in [`KEPT_TABLES`]
/// (a test checks it).
pub const PURGED_TABLES: &[&str] = &[
    "entitlement_grants",
    "features",
    "invoice_delivery_attempts",
    "invoice_deliveries",
    "invoice_documents",
    "account_invoice_templates",
    "document_settings",
    "invoice_template_versions",
    "invoice_templates",
    "billing_details_profiles",
    "organisation_logos",
    "credit_notes",
    "credit_transactions",
    "credit_grants",
    "imports",
    "plan_migration_entries",
    "plan_migrations",
    "invoice_number_sequences",
    "credit_note_number_sequences",
    "tax_rates",
    "invoices",
    "billing_cycles",
    "usage_events",
    "license_updates",
    "plan_associations",
    "aliases",
    "accounts",
    "customer_contacts",
    "customers",
    "usage_meters",
    "event_schema_versions",
    "event_schemas",
    "price_plan_versions",
    "price_plans",
    "credit_note_documents",
    "named_license_entries",
    "add_ons",
    "credit_note_delivery_attempts",
    "credit_note_deliveries",
];

/// The tables with an `org_id` column that a new demo leaves alone: who may act in the
/// organisation (its tokens and users are not sample data) and the audit log, which
/// is append-only.
pub const KEPT_TABLES: &[&str] = &[
    "api_tokens",
    "users",
    "user_invites",
    "user_sessions",
    "token_sessions",
    "audit_log",
];

/// Replaces the demo organisation with freshly generated sample data. Returns the
/// number of accounts and events written.
pub async fn load_sample_data(pool: &PgPool) -> Result<(usize, usize)> {
    let mut tx = pool.begin().await?;
    // Finalized plan versions are never deleted, except with their whole organisation.
    crate::catalog::plans::allow_organisation_purge(&mut tx, ORG).await?;
    for table in PURGED_TABLES {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE org_id = $1"
        )))
        .bind(ORG)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("clearing the previous demo from {table}"))?;
    }
    sqlx::query("DELETE FROM organisations WHERE id = $1")
        .bind(ORG)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO organisations (id, name, timezone, base_currency, enabled_currencies, net_term_days,
             invoice_number_format, billing_email)
         VALUES ($1, 'Acme Analytics GmbH', 'Europe/Berlin', 'USD', '{USD,EUR}', 30, 'INV-{YYYY}-{SEQ:5}',
                 'billing@acme-analytics.example')",
    )
    .bind(ORG)
    .execute(&mut *tx)
    .await?;
    crate::documents::sample::document_settings(&mut tx, ORG).await?;
    for (schema, attrs, dims) in [
        ("api", vec!["calls"], vec!["region"]),
        ("llm", vec!["tokens"], vec!["model"]),
    ] {
        sqlx::query("INSERT INTO event_schemas (org_id, name, attributes, dimensions) VALUES ($1, $2, $3, $4)")
            .bind(ORG)
            .bind(schema)
            .bind(attrs)
            .bind(dims)
            .execute(&mut *tx)
            .await?;
    }
    for (id, name, schema, agg, attr, filters) in [
        (
            "api_calls_meter",
            "API calls",
            "api",
            "SUM",
            Some("calls"),
            json!({}),
        ),
        (
            "tokens_large",
            "Tokens (large model)",
            "llm",
            "SUM",
            Some("tokens"),
            json!({"model": "large"}),
        ),
        (
            "inference_requests",
            "Inference requests",
            "llm",
            "COUNT",
            None,
            json!({}),
        ),
    ] {
        sqlx::query(
            "INSERT INTO usage_meters (org_id, id, name, event_schema, aggregation, attribute, filters)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(ORG)
        .bind(id)
        .bind(name)
        .bind(schema)
        .bind(agg)
        .bind(attr)
        .bind(filters)
        .execute(&mut *tx)
        .await?;
    }
    // The feature the `team` plan's entitlement and overage cards count (README
    // "Entitlements"): the `calls` of `api` events.
    sqlx::query(
        "INSERT INTO features (org_id, id, name, billable_name, schema_associations, created_at)
         VALUES ($1, 'api_calls', 'api_calls', 'API calls', $2, $3)",
    )
    .bind(ORG)
    .bind(json!([{"schemaName": "api", "attributeName": "calls"}]))
    .bind(as_of())
    .execute(&mut *tx)
    .await?;
    for (name, text) in PLANS {
        let raw: Value = serde_json::from_str(text)?;
        let plan =
            Plan::from_json(&raw).map_err(|e| anyhow::anyhow!("built-in plan {name}: {e}"))?;
        sqlx::query("INSERT INTO price_plans (org_id, id) VALUES ($1, $2)")
            .bind(ORG)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO price_plan_versions (org_id, plan_id, version, status, definition, finalized_at)
             VALUES ($1, $2, 1, 'ACTIVE', $3, now())",
        )
        .bind(ORG)
        .bind(name)
        .bind(plan.to_json())
        .execute(&mut *tx)
        .await?;
    }

    let mut rng = Lcg(2026);
    let names = [
        "Müller Logistik",
        "Nordwind Energie",
        "Café Olé",
        "Blue Fin Labs",
        "Tanaka Robotics",
        "Atlas Freight",
        "Helios Solar",
        "Kestrel Data",
        "Lumen Health",
        "Orbit Media",
        "Pine & Co",
        "Quartz Finance",
    ];
    let mut events: Vec<(String, String, String, DateTime<Utc>, Value, Value)> = Vec::new();
    let mut accounts = 0;
    for (p, (plan, _)) in PLANS.iter().enumerate() {
        let on_plan = if *plan == "team" {
            TEAM_ACCOUNTS
        } else {
            names.len()
        };
        for (i, name) in names.iter().take(on_plan).enumerate() {
            let id = format!("{plan}-{:02}", i + 1);
            let currency = if *plan == "starter" && i % 3 == 2 {
                "EUR"
            } else {
                "USD"
            };
            // Most accounts start on Jan 1; every fourth mid-month (prorated). The
            // `team` plan's allowance is not prorated: its accounts start on Jan 1.
            let from = NaiveDate::from_ymd_opt(
                2026,
                1,
                if *plan == "team" {
                    1
                } else if i % 4 == 3 {
                    10 + i as u32
                } else {
                    1 + (p as u32) * (i as u32 % 3)
                },
            )
            .expect("a January date");
            sqlx::query(
                "INSERT INTO customers (org_id, id, name, primary_email, address)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(ORG)
            .bind(format!("cust-{id}"))
            .bind(*name)
            .bind(format!("ap@{}.example", id))
            .bind(json!({"line1": format!("{} Hauptstraße", 10 + i), "postalCode": "10115", "city": "Berlin", "country": "DE"}))
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO accounts (org_id, id, customer_id, name, invoice_currency, billing_emails, net_term_days)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(ORG)
            .bind(&id)
            .bind(format!("cust-{id}"))
            .bind(*name)
            .bind(currency)
            .bind(vec![format!("billing@{id}.example")])
            .bind(if i % 5 == 4 { Some(45) } else { None })
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO plan_associations (org_id, account_id, plan_id, plan_version, effective_from)
                 VALUES ($1, $2, $3, 1, $4)",
            )
            .bind(ORG)
            .bind(&id)
            .bind(plan)
            .bind(from)
            .execute(&mut *tx)
            .await?;
            accounts += 1;

            if matches!(*plan, "growth" | "enterprise") {
                let seats = 3 + rng.next(20) as i64;
                let at = |d: NaiveDate| {
                    chrono_tz::Europe::Berlin
                        .from_local_datetime(&d.and_hms_opt(9, 0, 0).expect("9:00"))
                        .single()
                        .expect("9:00 exists")
                        .with_timezone(&Utc)
                };
                for (k, (kind, qty, day)) in [
                    ("ABSOLUTE", seats, from),
                    (
                        "RELATIVE",
                        2 + rng.next(5) as i64,
                        from + chrono::Days::new(12),
                    ),
                ]
                .into_iter()
                .enumerate()
                {
                    sqlx::query(
                        "INSERT INTO license_updates (org_id, idempotency_key, license_id, account_id, update_type, quantity, effective_from)
                         VALUES ($1, $2, 'seats', $3, $4, $5, $6)",
                    )
                    .bind(ORG)
                    .bind(format!("{id}-seats-{k}"))
                    .bind(&id)
                    .bind(kind)
                    .bind(Decimal::from(qty))
                    .bind(at(day))
                    .execute(&mut *tx)
                    .await?;
                }
            }
            // Six weeks of usage from the attach date to 14 Feb.
            let start = chrono_tz::Europe::Berlin
                .from_local_datetime(&from.and_hms_opt(0, 0, 0).expect("midnight"))
                .single()
                .expect("midnight exists")
                .with_timezone(&Utc);
            let span = (as_of() - start).num_minutes() as u64;
            let n = 20 + rng.next(40);
            for e in 0..n {
                let ts = start + chrono::Duration::minutes(rng.next(span) as i64);
                let (schema, attrs, dims) = if *plan == "enterprise" {
                    let model = if rng.next(3) == 0 { "small" } else { "large" };
                    (
                        "llm",
                        json!({"tokens": (10_000 + rng.next(90_000)).to_string()}),
                        json!({"model": model}),
                    )
                } else {
                    (
                        "api",
                        json!({"calls": (50 + rng.next(900)).to_string()}),
                        json!({"region": "eu"}),
                    )
                };
                events.push((
                    format!("{id}-ev{e:04}"),
                    id.clone(),
                    schema.to_string(),
                    ts,
                    attrs,
                    dims,
                ));
            }
        }
    }
    let count = events.len();
    let (ids, accs, schemas, tss, attrs, dims): (Vec<_>, Vec<_>, Vec<_>, Vec<_>, Vec<_>, Vec<_>) = {
        let mut out = (vec![], vec![], vec![], vec![], vec![], vec![]);
        for (a, b, c, d, e, f) in events {
            out.0.push(a);
            out.1.push(b);
            out.2.push(c);
            out.3.push(d);
            out.4.push(e);
            out.5.push(f);
        }
        out
    };
    sqlx::query(
        "INSERT INTO usage_events (org_id, id, account_id, schema_name, ts, attributes, dimensions)
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::jsonb[], $7::jsonb[])",
    )
    .bind(ORG)
    .bind(ids)
    .bind(accs)
    .bind(schemas)
    .bind(tss)
    .bind(attrs)
    .bind(dims)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((accounts, count))
}

/// Prints what the bill run produced: invoices per plan and currency, then every
/// invoice, printed by `print_invoices` (the CLI's invoice table).
pub async fn print_summary(
    pool: &PgPool,
    print_invoices: impl FnOnce(&[crate::bill_run::invoices::InvoiceView]),
) -> Result<()> {
    let rows: Vec<(String, String, i64, i64, i64, i64, Decimal)> = sqlx::query_as(
        "SELECT plan_id, currency, count(*), count(*) FILTER (WHERE status = 'DUE'),
                count(*) FILTER (WHERE status = 'PAID'), count(*) FILTER (WHERE status = 'DRAFT'),
                sum(total)
         FROM invoices WHERE org_id = $1 AND status <> 'MERGED'
         GROUP BY plan_id, currency ORDER BY plan_id, currency",
    )
    .bind(ORG)
    .fetch_all(pool)
    .await?;
    println!();
    println!(
        "{:<12} {:<4} {:>8} {:>5} {:>5} {:>6} {:>14}",
        "PLAN", "CUR", "INVOICES", "DUE", "PAID", "DRAFT", "TOTAL"
    );
    for (plan, cur, n, due, paid, draft, total) in &rows {
        println!("{plan:<12} {cur:<4} {n:>8} {due:>5} {paid:>5} {draft:>6} {total:>14}");
    }
    let list = crate::bill_run::invoices::list(
        pool,
        &crate::bill_run::invoices::InvoiceFilter {
            org: ORG.into(),
            account: None,
            status: None,
            limit: 1000,
            after: None,
            period: None,
        },
    )
    .await?;
    println!();
    print_invoices(&list.rows);
    Ok(())
}

/// Prints where the documents and emails of the run are.
pub async fn print_documents(pool: &PgPool, config: &crate::config::Config) -> Result<()> {
    let documents: i64 =
        sqlx::query_scalar("SELECT count(*) FROM invoice_documents WHERE org_id = $1")
            .bind(ORG)
            .fetch_one(pool)
            .await?;
    let sent: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, count(*) FROM invoice_deliveries WHERE org_id = $1 GROUP BY status ORDER BY status",
    )
    .bind(ORG)
    .fetch_all(pool)
    .await?;
    let sent: Vec<String> = sent.into_iter().map(|(s, n)| format!("{n} {s}")).collect();
    println!();
    println!("documents: {documents} invoices rendered to HTML and PDF (stored in Postgres; export one with --pdf FILE)");
    println!(
        "emails:    {} (one per invoice and recipient, PDF attached)",
        sent.join(", ")
    );
    if config.mail.transport == crate::config::MailTransport::File {
        println!(
            "outbox:    {} (.eml files)",
            std::path::absolute(config.outbox_dir())?.display()
        );
    }
    Ok(())
}

/// Printed at the end of `billrun demo` (and said in the README): the demo's cycles
/// stop at 15 Feb 2026, so a worker on the same database bills every month since.
pub const CATCH_UP_WARNING: &str = "WARNING: the demo's bill run stops at 15 Feb 2026. A `billrun worker` started \
on this database catches up the demo organisation's cycles to today: one invoice per demo account and month \
since then, each rendered and emailed (to the outbox unless [mail] says otherwise). Run workers on another \
database (DATABASE_URL) to try them without that.";

/// Waits up to `d` (for the CLI's in-process run).
pub const RUN_TIMEOUT: Duration = Duration::from_secs(300);
