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
//! payload = { doneDays = 7 }       # optional; camelCase, like every payload
//! ```
//! Five-field expressions (no seconds) are accepted and fire at second 0. Day-of-week
//! numbers follow the `cron` crate (1 = Sunday); names (MON-FRI) avoid surprises.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Timelike, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::Value;
use sqlx::PgPool;

use crate::queue::{enqueue, EnqueueOptions, JobKind, JobRequest};

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

/// The default schedule, built into the binary: `jobs/schedule.toml` of the source.
pub const BUILT_IN: &str = include_str!("../../jobs/schedule.toml");

/// The schedule in force: `file` if one is named (by `--schedule` or `schedule_file`;
/// a missing file is an error naming its path, never an empty schedule), else the
/// built-in one. Returns where it came from, for messages.
pub fn load_configured(file: Option<&Path>) -> Result<(Vec<ScheduleEntry>, String)> {
    match file {
        Some(path) => {
            if !path.exists() {
                bail!(
                    "schedule file {} does not exist: name an existing file in `schedule_file` / \
                     --schedule, or leave both out to use the built-in schedule",
                    path.display()
                );
            }
            Ok((load(path)?, path.display().to_string()))
        }
        None => Ok((
            parse(BUILT_IN).context("in the built-in schedule")?,
            "the built-in schedule".to_string(),
        )),
    }
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
        super::validate_payload(kind, &payload)
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
    /// The next `n` fire times strictly after `after`, as UTC instants, in order and
    /// without repeats. The scheduler enqueues exactly these ticks and `billrun
    /// schedule list` prints them: both call this function.
    ///
    /// The expression is read on the wall clock of `timezone`. Across a DST change
    /// (the rule of cron implementations such as Vixie cron / cronie):
    /// - an expression naming fixed hours (the hour field is not `*`) fires once per
    ///   matching local time: a time in the repeated hour (autumn) fires at its first
    ///   occurrence only; a time in the skipped hour (spring) fires at the instant of
    ///   the jump (2027-03-28 02:30 Europe/Berlin fires at 03:00 CEST = 01:00Z), and
    ///   several skipped times that fall on that instant fire once;
    /// - an expression whose hour field is `*` (hourly and more often) follows real
    ///   time: it fires in both occurrences of a repeated hour and not at the
    ///   nonexistent times of a skipped one, so an hourly job fires every real hour.
    pub fn next_fire_times(&self, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        fire_times(&self.cron, self.timezone, after, n)
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

/// See [`ScheduleEntry::next_fire_times`]: the next `n` fire times of `cron` read in
/// `tz`, strictly after `after`.
pub fn fire_times(
    cron: &cron::Schedule,
    tz: Tz,
    after: DateTime<Utc>,
    n: usize,
) -> Vec<DateTime<Utc>> {
    use cron::TimeUnitSpec;
    if n == 0 {
        return Vec::new();
    }
    if cron.hours().is_all() {
        // Real time: every instant whose wall-clock reading matches. The crate skips
        // nonexistent local times and yields each occurrence of a repeated one.
        return cron
            .after(&after.with_timezone(&tz))
            .take(n)
            .map(|t| t.with_timezone(&Utc))
            .collect();
    }
    // Fixed hours: walk the matching wall-clock times (the crate on a zone without
    // DST, UTC, reads naive times), each mapped to one instant. Start a few hours
    // before `after`'s local reading, since in a repeated hour that reading is later
    // than the first occurrence of the times that follow it; keep only later instants.
    let start = after.with_timezone(&tz).naive_local() - chrono::Duration::hours(3);
    let mut out: Vec<DateTime<Utc>> = Vec::with_capacity(n);
    for local in cron.after(&start.and_utc()) {
        let instant = local_to_instant(tz, local.naive_utc());
        let last = out.last().copied().unwrap_or(after);
        if instant <= last {
            continue;
        }
        out.push(instant);
        if out.len() == n {
            break;
        }
    }
    out
}

/// The instant of the wall-clock time `local` in `tz`: its first occurrence if it is
/// repeated, the instant the clock jumps over it if it is skipped.
fn local_to_instant(tz: Tz, local: chrono::NaiveDateTime) -> DateTime<Utc> {
    use chrono::{LocalResult, Offset, TimeZone};
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        LocalResult::None => {
            // Find the first skipped minute (gaps start on a minute in every zone in
            // use), then the offset in force just before it: the jump happens at the
            // instant that minute would have been.
            let minute = chrono::Duration::minutes(1);
            let mut gap_start = local
                .with_second(0)
                .and_then(|t| t.with_nanosecond(0))
                .unwrap_or(local);
            for _ in 0..(24 * 60) {
                if !matches!(
                    tz.from_local_datetime(&(gap_start - minute)),
                    LocalResult::None
                ) {
                    break;
                }
                gap_start -= minute;
            }
            let before = tz
                .from_local_datetime(&(gap_start - minute))
                .latest()
                .expect("the minute before a gap exists");
            let offset = before.offset().fix();
            (gap_start - chrono::Duration::seconds(i64::from(offset.local_minus_utc()))).and_utc()
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

    fn fires(cron: &str, tz: &str, after: &str, n: usize) -> Vec<String> {
        fire_times(
            &parse_cron(cron).unwrap(),
            tz.parse().unwrap(),
            after.parse().unwrap(),
            n,
        )
        .iter()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .collect()
    }

    #[test]
    fn a_daily_time_in_the_skipped_hour_fires_at_the_jump() {
        // Europe/Berlin, 28 March 2027: 02:00 CET (+01:00) jumps to 03:00 CEST (+02:00).
        // 27 Mar 02:30 CET = 01:30Z; 28 Mar 02:30 does not exist: the jump, 03:00 CEST
        // = 01:00Z; 29 Mar 02:30 CEST = 00:30Z.
        assert_eq!(
            fires("0 30 2 * * *", "Europe/Berlin", "2027-03-26T12:00:00Z", 3),
            [
                "2027-03-27T01:30:00Z",
                "2027-03-28T01:00:00Z",
                "2027-03-29T00:30:00Z"
            ]
        );
        // Two skipped times on the same night fire once, at the jump.
        assert_eq!(
            fires(
                "0 15,45 2 * * *",
                "Europe/Berlin",
                "2027-03-27T12:00:00Z",
                2
            ),
            ["2027-03-28T01:00:00Z", "2027-03-29T00:15:00Z"]
        );
    }

    #[test]
    fn a_daily_time_in_the_repeated_hour_fires_once_at_its_first_occurrence() {
        // Europe/Berlin, 31 Oct 2027: 03:00 CEST (+02:00) goes back to 02:00 CET
        // (+01:00), so 02:30 happens at 00:30Z and again at 01:30Z. 30 Oct 02:30 CEST
        // = 00:30Z; 31 Oct: the first 02:30 (CEST) = 00:30Z only; 1 Nov 02:30 CET = 01:30Z.
        assert_eq!(
            fires("0 30 2 * * *", "Europe/Berlin", "2027-10-29T12:00:00Z", 3),
            [
                "2027-10-30T00:30:00Z",
                "2027-10-31T00:30:00Z",
                "2027-11-01T01:30:00Z"
            ]
        );
        // Asked from inside the second occurrence (02:10 CET = 01:10Z): 31 Oct 02:30
        // already fired at 00:30Z, so the next is 1 Nov.
        assert_eq!(
            fires("0 30 2 * * *", "Europe/Berlin", "2027-10-31T01:10:00Z", 1),
            ["2027-11-01T01:30:00Z"]
        );
    }

    #[test]
    fn a_daily_schedule_fires_once_on_every_local_day_of_2027() {
        // From 1 Jan 2027 00:00 Berlin (31 Dec 2026 23:00Z): 365 fires, one per local
        // date of 2027, both DST changes included.
        let times = fire_times(
            &parse_cron("0 30 2 * * *").unwrap(),
            chrono_tz::Europe::Berlin,
            "2026-12-31T23:00:00Z".parse().unwrap(),
            365,
        );
        let days: Vec<chrono::NaiveDate> = times
            .iter()
            .map(|t| t.with_timezone(&chrono_tz::Europe::Berlin).date_naive())
            .collect();
        let mut expected = chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
        for d in days {
            assert_eq!(d, expected);
            expected = expected.succ_opt().unwrap();
        }
        assert_eq!(
            expected,
            chrono::NaiveDate::from_ymd_opt(2028, 1, 1).unwrap()
        );
    }

    #[test]
    fn us_transitions_follow_the_same_rule() {
        // America/New_York 2027: 14 Mar 02:00 EST (-05:00) jumps to 03:00 EDT (-04:00);
        // 7 Nov 02:00 EDT goes back to 01:00 EST.
        // 13 Mar 02:30 EST = 07:30Z; 14 Mar: the jump, 03:00 EDT = 07:00Z; 15 Mar 02:30
        // EDT = 06:30Z.
        assert_eq!(
            fires("30 2 * * *", "America/New_York", "2027-03-12T12:00:00Z", 3),
            [
                "2027-03-13T07:30:00Z",
                "2027-03-14T07:00:00Z",
                "2027-03-15T06:30:00Z"
            ]
        );
        // 6 Nov 01:30 EDT = 05:30Z; 7 Nov 01:30 first (EDT) = 05:30Z, not 06:30Z;
        // 8 Nov 01:30 EST = 06:30Z.
        assert_eq!(
            fires("30 1 * * *", "America/New_York", "2027-11-05T12:00:00Z", 3),
            [
                "2027-11-06T05:30:00Z",
                "2027-11-07T05:30:00Z",
                "2027-11-08T06:30:00Z"
            ]
        );
    }

    #[test]
    fn an_hourly_schedule_follows_real_time_across_dst() {
        // Hour field `*`: every real hour fires. Berlin, 28 Mar 2027: 01:30 CET =
        // 00:30Z, then 02:30 does not exist, then 03:30 CEST = 01:30Z.
        assert_eq!(
            fires("0 30 * * * *", "Europe/Berlin", "2027-03-28T00:00:00Z", 2),
            ["2027-03-28T00:30:00Z", "2027-03-28T01:30:00Z"]
        );
        // 31 Oct 2027: 02:30 CEST = 00:30Z and 02:30 CET = 01:30Z both fire.
        assert_eq!(
            fires("0 30 * * * *", "Europe/Berlin", "2027-10-31T00:00:00Z", 3),
            [
                "2027-10-31T00:30:00Z",
                "2027-10-31T01:30:00Z",
                "2027-10-31T02:30:00Z"
            ]
        );
    }

    #[test]
    fn the_built_in_schedule_is_valid_and_bills() {
        let (entries, from) = load_configured(None).unwrap();
        assert_eq!(from, "the built-in schedule");
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["cycle-close", "credit-expiry", "queue-retention"]);
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
