//! `billrun schedule list`: the cron schedule and its next fire times.

use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::jobs::schedule;

/// `billrun schedule ...`.
#[derive(clap::Subcommand, Debug)]
pub enum ScheduleCommand {
    /// Each schedule with its next fire times.
    List {
        /// How many fire times per schedule.
        #[arg(long, default_value_t = 3)]
        count: usize,
        /// Fire times after this instant instead of now: RFC 3339 or YYYY-MM-DD.
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
        /// Schedule file (default: `schedule_file`, else the built-in schedule).
        #[arg(long, value_name = "FILE")]
        schedule: Option<PathBuf>,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `billrun schedule list` (no database needed).
pub fn run(cfg_path: Option<&Path>, command: ScheduleCommand) -> Result<()> {
    let ScheduleCommand::List {
        count,
        from,
        schedule,
        json,
    } = command;
    let config = Config::load(cfg_path)?;
    let from = super::flags::time_or_now(from.as_deref())?;
    let file = schedule.or(config.schedule_file);
    schedule_list(file.as_deref(), count, from, json)
}

fn schedule_list(file: Option<&Path>, count: usize, now: DateTime<Utc>, json: bool) -> Result<()> {
    let (entries, _) = schedule::load_configured(file)?;
    if json {
        let out: Vec<_> = entries
            .iter()
            .map(|e| {
                serde_json::json!({
                    "name": e.name, "cron": e.cron_text, "timezone": e.timezone.name(),
                    "job": e.kind.name(), "payload": e.payload,
                    "next": e.next_fire_times(now, count),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    for e in &entries {
        println!(
            "{} ({} {}, job {})",
            e.name,
            e.cron_text,
            e.timezone.name(),
            e.kind
        );
        for t in e.next_fire_times(now, count) {
            println!(
                "  {}  ({})",
                t.to_rfc3339(),
                t.with_timezone(&e.timezone).format("%Y-%m-%d %H:%M:%S %Z")
            );
        }
    }
    Ok(())
}
