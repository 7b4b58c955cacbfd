//! The cron schedule (`jobs/schedule.toml`) and the scheduler that enqueues its ticks.
//!
//! Every worker process runs the scheduler. A tick is enqueued with the idempotency
//! key `<schedule name>:<tick instant>`, so however many processes run, each tick
//! becomes exactly one job. The scheduler never does the work itself. A tick during
//! which no process ran is not replayed: the jobs catch up from database state
//! (`cycle-close` closes every cycle that is due, not "the cycle of this tick").
//!
//! ```toml
//! [[schedule]]
//! name = "queue-retention"         # unique; part of each tick's idempotency key
//! cron = "0 30 3 * * *"            # sec min hour day-of-month month day-of-week [year]
//! timezone = "Europe/Berlin"       # IANA name; default UTC
//! job = "queue-retention"          # a job kind
//! payload = { done_days = 7 }      # optional
//! ```
//! Five-field expressions (no seconds) are accepted and fire at second 0. Day-of-week
//! numbers follow the `cron` crate (1 = Sunday); names (MON-FRI) avoid surprises.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::Value;
use sqlx::PgPool;

use crate::jobs::{JobKind, JobRequest};
use crate::queue::{enqueue, EnqueueOptions};

/// One recurring job.
#[derive(Debug, Clone)]
pub struct ScheduleEntry {
    /// Unique name.
    pub name: String,
    /// The expression as written.
    pub cron_text: String,
    /// The parsed expression.
    pub cron: cron::Schedule,
    /// Timezone the expression is read in.
    pub timezone: Tz,
    /// What to enqueue.
    pub kind: JobKind,
    /// Its payload.
    pub payload: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    schedule: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    name: String,
    cron: String,
    #[serde(default)]
    timezone: Option<String>,
    job: String,
    #[serde(default)]
    payload: Option<toml::Value>,
}

/// Parses a cron expression; five fields get a leading `0` (seconds).
pub fn parse_cron(text: &str) -> Result<cron::Schedule, String> {
    let fields = text.split_whitespace().count();
    let full = if fields == 5 {
        format!("0 {text}")
    } else {
        text.to_string()
    };
    cron::Schedule::from_str(&full).map_err(|e| {
        format!("{text:?} is not a cron expression ({e}): expected sec min hour day-of-month month day-of-week [year], e.g. \"0 */15 * * * *\"")
    })
}

/// Reads and validates a schedule file; every error names the entry and field.
pub fn load(path: &Path) -> Result<Vec<ScheduleEntry>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading schedule file {}", path.display()))?;
    parse(&text).with_context(|| format!("in schedule file {}", path.display()))
}

/// Parses the text of a schedule file.
pub fn parse(text: &str) -> Result<Vec<ScheduleEntry>> {
    let file: File = toml::from_str(text)?;
    let mut entries: Vec<ScheduleEntry> = Vec::new();
    for (i, raw) in file.schedule.into_iter().enumerate() {
        let at = format!("schedule[{i}] ({:?})", raw.name);
        if raw.name.trim().is_empty() || raw.name.contains(':') {
            bail!("{at}.name: must be non-empty and contain no ':'");
        }
        if entries.iter().any(|e| e.name == raw.name) {
            bail!("{at}.name: another schedule has the same name");
        }
        let cron = parse_cron(&raw.cron).map_err(|e| anyhow::anyhow!("{at}.cron: {e}"))?;
        let timezone = match raw.timezone.as_deref() {
            None => Tz::UTC,
            Some(tz) => tz.parse::<Tz>().map_err(|_| {
                anyhow::anyhow!(
                    "{at}.timezone: {tz:?} is not an IANA timezone such as \"Europe/Berlin\""
                )
            })?,
        };
        let kind = JobKind::parse(&raw.job).map_err(|e| anyhow::anyhow!("{at}.job: {e}"))?;
        let payload = match raw.payload {
            None => Value::Null,
            Some(v) => serde_json::to_value(v)?,
        };
        kind.validate_payload(&payload)
            .map_err(|e| anyhow::anyhow!("{at}.payload: {e}"))?;
        entries.push(ScheduleEntry {
            name: raw.name,
            cron_text: raw.cron,
            cron,
            timezone,
            kind,
            payload,
        });
    }
    Ok(entries)
}

impl ScheduleEntry {
    /// The next `n` fire times strictly after `after`.
    pub fn next_fire_times(&self, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        self.cron
            .after(&after.with_timezone(&self.timezone))
            .take(n)
            .map(|t| t.with_timezone(&Utc))
            .collect()
    }

    /// The idempotency key of the tick at `tick`.
    pub fn tick_key(&self, tick: DateTime<Utc>) -> String {
        format!(
            "{}:{}",
            self.name,
            tick.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    }

    /// The job of the tick at `tick`: it acts as of the tick.
    pub fn tick_request(&self, tick: DateTime<Utc>) -> JobRequest {
        JobRequest {
            kind: self.kind,
            as_of: tick,
            organisation: None,
            payload: self.payload.clone(),
            root: None,
        }
    }
}

/// Enqueues the tick at `tick` of `entry` (a no-op if any process already did).
pub async fn enqueue_tick(
    pool: &PgPool,
    entry: &ScheduleEntry,
    tick: DateTime<Utc>,
    max_attempts: u32,
) -> Result<crate::queue::Enqueued, sqlx::Error> {
    let opts = EnqueueOptions {
        run_at: Some(tick),
        idempotency_key: Some(entry.tick_key(tick)),
        max_attempts,
    };
    enqueue(
        &mut *pool.acquire().await?,
        &entry.tick_request(tick),
        &opts,
    )
    .await
}

/// Runs forever: sleeps until each entry's next tick and enqueues it. Ticks missed
/// by more than `late_limit` (the process was suspended) are skipped with a warning.
pub async fn run(pool: PgPool, entries: Vec<ScheduleEntry>, max_attempts: u32) {
    let late_limit = chrono::Duration::seconds(60);
    let tasks: Vec<_> = entries
        .into_iter()
        .map(|entry| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut from = Utc::now();
                loop {
                    let Some(tick) = entry.next_fire_times(from, 1).pop() else {
                        tracing::info!(schedule = entry.name, "no more fire times");
                        return;
                    };
                    let wait = (tick - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                    tokio::time::sleep(wait).await;
                    if Utc::now() - tick > late_limit {
                        tracing::warn!(schedule = entry.name, %tick, "tick missed (process was suspended); skipping to the next");
                        from = Utc::now();
                        continue;
                    }
                    enqueue_with_retries(&pool, &entry, tick, max_attempts).await;
                    from = tick;
                }
            })
        })
        .collect();
    futures::future::join_all(tasks).await;
}

async fn enqueue_with_retries(
    pool: &PgPool,
    entry: &ScheduleEntry,
    tick: DateTime<Utc>,
    max_attempts: u32,
) {
    for attempt in 1..=5u32 {
        match enqueue_tick(pool, entry, tick, max_attempts).await {
            Ok(crate::queue::Enqueued::New(id)) => {
                tracing::debug!(schedule = entry.name, %tick, job_id = id, "tick enqueued");
                return;
            }
            Ok(crate::queue::Enqueued::Existing(_)) => return,
            Err(e) => {
                tracing::warn!(schedule = entry.name, %tick, attempt, "could not enqueue tick: {e}");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
        }
    }
    tracing::error!(schedule = entry.name, %tick, "tick not enqueued: database unreachable");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries_and_computes_fire_times_in_the_timezone() {
        let e = parse(
            r#"
            [[schedule]]
            name = "nightly"
            cron = "0 30 3 * * *"
            timezone = "Europe/Berlin"
            job = "queue-retention"
            payload = { done_days = 3 }
            "#,
        )
        .unwrap();
        let after: DateTime<Utc> = "2026-03-28T12:00:00Z".parse().unwrap();
        let times = e[0].next_fire_times(after, 2);
        // 03:30 CET is 02:30Z; after the DST change on 29 March, 03:30 CEST is 01:30Z.
        assert_eq!(times[0].to_rfc3339(), "2026-03-29T01:30:00+00:00");
        assert_eq!(times[1].to_rfc3339(), "2026-03-30T01:30:00+00:00");
        assert_eq!(e[0].tick_key(times[0]), "nightly:2026-03-29T01:30:00Z");
    }

    #[test]
    fn five_field_expressions_fire_at_second_zero() {
        let s = parse_cron("*/15 * * * *").unwrap();
        let after: DateTime<Utc> = "2026-01-01T00:07:12Z".parse().unwrap();
        assert_eq!(
            s.after(&after).next().unwrap().to_rfc3339(),
            "2026-01-01T00:15:00+00:00"
        );
    }

    #[test]
    fn bad_entries_name_the_field() {
        let cases = [
            (
                r#"[[schedule]]
                name = "a"
                cron = "every minute"
                job = "noop""#,
                "schedule[0] (\"a\").cron",
            ),
            (
                r#"[[schedule]]
                name = "a"
                cron = "* * * * * *"
                timezone = "Mars/Olympus"
                job = "noop""#,
                ".timezone",
            ),
            (
                r#"[[schedule]]
                name = "a"
                cron = "* * * * * *"
                job = "close-everything""#,
                ".job: unknown job kind",
            ),
            (
                r#"[[schedule]]
                name = "a"
                cron = "* * * * * *"
                job = "probe"
                payload = { nope = 1 }"#,
                ".payload",
            ),
        ];
        for (text, expected) in cases {
            let e = format!("{:#}", parse(text).unwrap_err());
            assert!(e.contains(expected), "{e} should contain {expected}");
        }
    }
}
