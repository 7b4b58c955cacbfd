//! `billrun demo`: sample data, a bill run through the queue, a summary.

use std::sync::Arc;

use anyhow::{bail, Result};
use sqlx::PgPool;

use crate::app::jobs::{self, NewJob};
use crate::config::Config;
use crate::queue::admin;
use crate::queue::JobKind;
use crate::store::OrgId;

/// The demo: sample data, then the bill run through the queue, then a summary.
pub async fn run(pool: &PgPool, config: Arc<Config>) -> Result<()> {
    let (accounts, events) = crate::demo::load_sample_data(pool).await?;
    let as_of = crate::demo::as_of();
    println!(
        "billrun demo: organisation {:?} (Europe/Berlin, USD and EUR): {accounts} accounts on {} plans, \
         {events} usage events from 1 Jan to 14 Feb 2026",
        crate::demo::ORG,
        crate::demo::PLANS.len()
    );
    println!("bill run as of {as_of} (15 Feb 2026, 00:00 in Berlin): cycle-close, close-chunk, finalize-chunk, render-chunk, deliver-chunk jobs");
    let bill_run = NewJob {
        kind: JobKind::CycleClose,
        payload: serde_json::json!({"organisation": crate::demo::ORG}),
        as_of,
        organisation: Some(OrgId::from(crate::demo::ORG)),
    };
    let job = jobs::run(pool, config.clone(), bill_run, crate::demo::RUN_TIMEOUT).await?;
    if job.state != admin::JobState::Done {
        bail!(
            "the bill run's cycle-close job is {}: {}",
            job.state,
            job.last_error.unwrap_or_default()
        );
    }
    crate::demo::print_summary(pool, |rows| super::invoice::invoice_table(rows).print()).await?;
    crate::demo::print_documents(pool, &config).await?;
    println!(
        "\nsee one: billrun invoice show --org {} INV-2026-00032 [--pdf invoice.pdf]",
        crate::demo::ORG
    );
    println!("\n{}", crate::demo::CATCH_UP_WARNING);
    // The console's login: the demo organisation's Administrator, a new password each
    // run (README "Console").
    let email = crate::identity::demo_admin::DEMO_ADMIN_EMAIL;
    let password = crate::identity::demo_admin::reset(
        pool,
        &OrgId::from(crate::demo::ORG),
        email,
        &crate::identity::Actor::cli("billrun demo"),
        chrono::Utc::now(),
    )
    .await?;
    let base = config
        .http
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.http.listen));
    println!(
        "\nconsole:   {}/console (start it with `billrun serve`)\n           \
         sign in as {email} with the password {password} (organisation {}; a new password each run)",
        base.trim_end_matches('/'),
        crate::demo::ORG
    );
    Ok(())
}
