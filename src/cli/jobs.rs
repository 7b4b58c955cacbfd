//! `billrun enqueue`, `billrun run` and `billrun jobs ...`: any job kind, from the
//! command line (the operations are [`crate::app::jobs`]).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

use super::output::{print_json, Align, OutputArgs, Table};
use crate::app::jobs::{self, NewJob};
use crate::catalog::input::parse_time;
use crate::config::Config;
use crate::queue::admin::{JobState, JobView, ListFilter};
use crate::queue::{Enqueued, JobKind};
use crate::store::OrgId;

/// `billrun enqueue KIND [PAYLOAD]`.
#[derive(clap::Args, Debug)]
pub struct EnqueueArgs {
    /// Job kind (see `billrun jobs kinds`).
    kind: String,
    /// Payload: JSON text, or @FILE.
    payload: Option<String>,
    /// Run at (and act as of) this time instead of now: RFC 3339 or YYYY-MM-DD.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Idempotency key: a second enqueue with the same key returns the first job.
    #[arg(long)]
    key: Option<String>,
    /// Organisation the job is for (for logs).
    #[arg(long)]
    org: Option<String>,
}

/// `billrun run KIND [PAYLOAD]`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Job kind (see `billrun jobs kinds`).
    kind: String,
    /// Payload: JSON text, or @FILE.
    payload: Option<String>,
    /// The instant the job acts for: RFC 3339 or YYYY-MM-DD (default now).
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
    /// Organisation the job is for (for logs).
    #[arg(long)]
    org: Option<String>,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Print the job as JSON.
    #[arg(long)]
    json: bool,
}

/// `billrun jobs ...`.
#[derive(clap::Subcommand, Debug)]
pub enum JobsCommand {
    /// Jobs, newest first.
    List {
        /// Only this kind.
        #[arg(long)]
        kind: Option<String>,
        /// Only this state: scheduled, pending, running, done, retrying, dead, cancelled.
        #[arg(long)]
        state: Option<String>,
        /// Only jobs for this organisation.
        #[arg(long)]
        org: Option<String>,
        /// At most this many; when more match, stderr says how many and the
        /// `--after` of the next page.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// The next page: the jobs older than this job id (the cursor printed as
        /// `next page: --after ...`; with --json, the last element's `id`).
        #[arg(long, value_name = "CURSOR")]
        after: Option<String>,
        /// JSON instead of a table (an array of the page's jobs).
        #[arg(long)]
        json: bool,
    },
    /// One job: state, attempts, last error, timings, request.
    Show {
        /// Job id.
        id: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Give a dead or cancelled job new attempts, now.
    Retry {
        /// Job id.
        id: String,
    },
    /// Cancel a job that has not started, waits for a retry, or was claimed by a
    /// worker that is gone (missed its heartbeats).
    Cancel {
        /// Job id.
        id: String,
    },
    /// The job kinds and their payloads.
    Kinds {
        #[command(flatten)]
        output: OutputArgs,
    },
}

/// Job kinds from `--kinds a,b` (all when empty).
pub fn parse_kinds(names: &[String]) -> Result<Vec<JobKind>> {
    if names.is_empty() {
        return Ok(JobKind::ALL.to_vec());
    }
    names
        .iter()
        .map(|n| JobKind::parse(n.trim()).map_err(anyhow::Error::msg))
        .collect()
}

/// Parses a payload argument: JSON text, or `@FILE` holding JSON.
fn parse_payload(arg: Option<&str>) -> Result<Value> {
    let Some(arg) = arg else {
        return Ok(Value::Null);
    };
    let (text, origin) = match arg.strip_prefix('@') {
        Some(path) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("reading payload file {path}"))?,
            format!("payload file {path}"),
        ),
        None => (arg.to_string(), "payload".to_string()),
    };
    serde_json::from_str(&text)
        .with_context(|| format!("{origin} is not JSON: expected e.g. '{{\"key\": \"value\"}}'"))
}

/// The job a command line describes, acting as of `as_of`.
fn new_job(
    kind: &str,
    payload: Option<&str>,
    as_of: DateTime<Utc>,
    org: Option<String>,
) -> Result<NewJob> {
    Ok(NewJob {
        kind: JobKind::parse(kind).map_err(anyhow::Error::msg)?,
        payload: parse_payload(payload)?,
        as_of,
        organisation: org.map(OrgId::from),
    })
}

/// Parses `billrun enqueue`'s arguments: the job (its payload checked against its
/// kind, before the database is opened), `--at` and `--key`.
pub fn parse_enqueue(a: EnqueueArgs) -> Result<(NewJob, Option<DateTime<Utc>>, Option<String>)> {
    let at = a.at.as_deref().map(parse_time).transpose()?;
    let job = new_job(
        &a.kind,
        a.payload.as_deref(),
        at.unwrap_or_else(Utc::now),
        a.org,
    )?;
    job.check()?;
    Ok((job, at, a.key))
}

/// Runs `billrun enqueue`: prints the job id (and says so on stderr when the
/// idempotency key named an existing job).
pub async fn enqueue(
    pool: &PgPool,
    config: &Config,
    (job, at, key): (NewJob, Option<DateTime<Utc>>, Option<String>),
) -> Result<()> {
    let enqueued = jobs::enqueue(pool, config, job, at, key).await?;
    let (Enqueued::New(id) | Enqueued::Existing(id)) = &enqueued;
    super::audit::note_object(id.to_string());
    match enqueued {
        Enqueued::New(id) => println!("{id}"),
        Enqueued::Existing(id) => {
            eprintln!("a job with this idempotency key exists already");
            println!("{id}");
        }
    }
    Ok(())
}

/// Parses `billrun run`'s arguments: the job (checked, before the database is
/// opened), the timeout and `--json`.
pub fn parse_run(a: RunArgs) -> Result<(NewJob, Duration, bool)> {
    let as_of = super::flags::time_or_now(a.now.as_deref())?;
    let job = new_job(&a.kind, a.payload.as_deref(), as_of, a.org)?;
    job.check()?;
    Ok((job, Duration::from_secs(a.timeout), a.json))
}

/// Runs `billrun run`: prints the job as it ended; status 1 unless it is done.
pub async fn run(
    pool: &PgPool,
    config: Arc<Config>,
    (job, timeout, json): (NewJob, Duration, bool),
) -> Result<ExitCode> {
    let job = jobs::run(pool, config, job, timeout).await?;
    print_job(&job, json);
    Ok(if job.state == JobState::Done {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Prints `billrun jobs kinds` (no database needed).
pub fn kinds(output: OutputArgs) -> Result<()> {
    if output.json {
        let kinds: Vec<_> = JobKind::ALL
            .iter()
            .map(|k| serde_json::json!({"kind": k.name(), "queue": k.queue(), "description": k.describe()}))
            .collect();
        print_json(&kinds)
    } else {
        for k in JobKind::ALL {
            println!("{:<18} {}", k.name(), k.describe());
        }
        Ok(())
    }
}

/// Runs `billrun jobs list|show|retry|cancel`.
pub async fn run_jobs(pool: &PgPool, config: &Config, command: JobsCommand) -> Result<()> {
    match command {
        JobsCommand::List {
            kind,
            state,
            org,
            limit,
            after,
            json,
        } => {
            crate::paging::check_limit(limit)?;
            // A job cursor is compared, not looked up (a job pruned since still
            // positions the page): it must at least be a job id.
            if let Some(a) = &after {
                if ulid::Ulid::from_string(a).is_err() {
                    bail!(
                        "--after {a}: expected a job id (26 characters, as `billrun jobs list` \
                         prints them)"
                    );
                }
            }
            let state = state
                .map(|s| s.parse::<JobState>())
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let filter = ListFilter {
                kind: kind
                    .as_deref()
                    .map(JobKind::parse)
                    .transpose()
                    .map_err(anyhow::Error::msg)?,
                state,
                organisation: org,
                limit,
                after,
            };
            let page = jobs::list(pool, &filter).await?;
            if json {
                print_json(&page.rows)?;
            } else {
                jobs_table(&page.rows).print();
            }
            // On stderr, so that the table and the JSON stay parseable.
            if let Some(note) = page.note("jobs") {
                eprintln!("{note}");
            }
        }
        JobsCommand::Show { id, output } => print_job(&jobs::show(pool, &id).await?, output.json),
        JobsCommand::Retry { id } => {
            let job = jobs::retry(pool, &id).await?;
            super::audit::note_org(job.organisation.clone());
            println!(
                "job {} will run again ({} attempts allowed)",
                job.id, job.max_attempts
            );
        }
        JobsCommand::Cancel { id } => {
            let job = jobs::cancel(pool, config, &id).await?;
            super::audit::note_org(job.organisation.clone());
            println!("job {} cancelled", job.id);
        }
        JobsCommand::Kinds { output } => kinds(output)?,
    }
    Ok(())
}

/// The `jobs list` table; times in UTC, said so (`Z`).
fn jobs_table(jobs: &[JobView]) -> Table {
    let mut t = Table::new(&[
        ("ID", 26, Align::Left),
        ("KIND", 16, Align::Left),
        ("ORG", 14, Align::Left),
        ("STATE", 9, Align::Left),
        ("ATTEMPTS", 8, Align::Right),
        ("RUN AT (UTC)", 20, Align::Left),
        ("LAST ERROR", 0, Align::Left),
    ]);
    for j in jobs {
        t.row(vec![
            j.id.clone(),
            j.kind.clone(),
            j.organisation.as_deref().unwrap_or("-").to_string(),
            j.state.to_string(),
            format!("{}/{}", j.attempts, j.max_attempts),
            j.run_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            j.last_error
                .as_deref()
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("")
                .to_string(),
        ]);
    }
    t
}

/// Prints one job: JSON, or one `name: value` line per field.
pub fn print_job(job: &JobView, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(job).expect("a job view serialises")
        );
        return;
    }
    let t = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_else(|| "-".into());
    println!("id:           {}", job.id);
    println!("kind:         {}", job.kind);
    println!("state:        {} (apalis status {})", job.state, job.status);
    println!("attempts:     {}/{}", job.attempts, job.max_attempts);
    println!("run at:       {}", job.run_at.to_rfc3339());
    println!(
        "claimed at:   {} by {}",
        t(job.locked_at),
        job.locked_by.as_deref().unwrap_or("-")
    );
    println!("finished at:  {}", t(job.done_at));
    if let Some(k) = &job.idempotency_key {
        println!("key:          {k}");
    }
    if let Some(r) = &job.request {
        println!("request:      {r}");
    }
    if let Some(r) = &job.result {
        println!("result:       {r}");
    }
    if let Some(e) = &job.last_error {
        println!("last error:   {e}");
    }
}
