//! `billrun migrations ...`: plan migrations from the command line.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use billrun_core::plan_migration::MigrationMode;
use chrono::Utc;
use serde::Deserialize;
use sqlx::PgPool;

use super::{MigrationView, NewMigration, SourceVersion};
use crate::config::Config;

/// `billrun migrations ...` (also `billrun migration ...`).
#[derive(clap::Subcommand, Debug)]
pub enum MigrationCommand {
    /// Migrate every account of a plan (version) to another plan version.
    Create(CreateArgs),
    /// Confirm a migration that awaits confirmation: it starts.
    Confirm {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// The migration's id.
        id: String,
        /// Run it here until it completes (otherwise workers do).
        #[arg(long)]
        wait: bool,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Reject a migration that awaits confirmation: it ends, having done nothing.
    Reject {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// The migration's id.
        id: String,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// One migration: its settings, status and counts (total, pending, completed,
    /// failed).
    Show {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// The migration's id.
        id: String,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The organisation's migrations, newest first.
    List {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// A migration's entries: one per account, with the outcome.
    Entries {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// The migration's id.
        id: String,
        /// Only PENDING, COMPLETED or FAILED entries.
        #[arg(long)]
        status: Option<String>,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// `billrun migrations create`.
#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// Organisation.
    #[arg(long)]
    org: String,
    /// A Togai-shaped request instead of the flags: {"sourceId", "sourceVersion"
    /// (a number, "LATEST" or "ALL"), "targetId", "targetVersion", "migrationMode",
    /// "retainStartOffsets", "requireConfirmation"}.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["source", "target", "mode"])]
    file: Option<PathBuf>,
    /// The plan accounts leave.
    #[arg(long, required_unless_present = "file")]
    source: Option<String>,
    /// Its version (default: the latest finalized one).
    #[arg(long, conflicts_with = "all_versions")]
    source_version: Option<u32>,
    /// Accounts on any version of the source plan.
    #[arg(long)]
    all_versions: bool,
    /// The plan they move to.
    #[arg(long, required_unless_present = "file")]
    target: Option<String>,
    /// Its version (default: the latest ACTIVE one).
    #[arg(long)]
    target_version: Option<u32>,
    /// IMMEDIATE, IMMEDIATE_IGNORE_OVERRIDE, NEXT_CYCLE or NEXT_CYCLE_IGNORE_OVERRIDE.
    #[arg(long, required_unless_present = "file")]
    mode: Option<String>,
    /// Keep each account's cycle alignment (the plans' intervals must match).
    #[arg(long)]
    retain_start_offsets: bool,
    /// Wait for `billrun migrations confirm` before doing anything.
    #[arg(long)]
    require_confirmation: bool,
    /// The migration instant, RFC 3339 or YYYY-MM-DD (default: when it starts).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Accounts migrated per transaction (default 500).
    #[arg(long)]
    chunk_size: Option<u32>,
    /// Run it here until it completes (otherwise workers do).
    #[arg(long)]
    wait: bool,
    /// JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Togai's migration request.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MigrationFile {
    source_id: String,
    #[serde(default)]
    source_version: Option<serde_json::Value>,
    target_id: String,
    #[serde(default)]
    target_version: Option<u32>,
    migration_mode: String,
    #[serde(default)]
    retain_start_offsets: bool,
    #[serde(default)]
    require_confirmation: bool,
}

fn mode(s: &str) -> anyhow::Result<MigrationMode> {
    MigrationMode::parse(s).with_context(|| {
        let all: Vec<&str> = MigrationMode::ALL.iter().map(|m| m.as_str()).collect();
        format!(
            "migrationMode {s:?} is not a mode: expected one of {}",
            all.join(", ")
        )
    })
}

fn request(args: &CreateArgs) -> anyhow::Result<NewMigration> {
    let effective_at = args
        .at
        .as_deref()
        .map(crate::catalog::input::parse_time)
        .transpose()?;
    if let Some(file) = &args.file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading migration file {}", file.display()))?;
        let f: MigrationFile = serde_json::from_str(&text)
            .with_context(|| format!("migration file {}", file.display()))?;
        let source_version = match &f.source_version {
            None | Some(serde_json::Value::Null) => SourceVersion::Latest,
            Some(serde_json::Value::String(s)) if s == "LATEST" => SourceVersion::Latest,
            Some(serde_json::Value::String(s)) if s == "ALL" => SourceVersion::All,
            Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) => SourceVersion::Version(n),
                None => bail!(
                    "migration file {}: sourceVersion {v} is not a version: expected a number, \
                     \"LATEST\" or \"ALL\"",
                    file.display()
                ),
            },
        };
        return Ok(NewMigration {
            source_plan: f.source_id,
            source_version,
            target_plan: f.target_id,
            target_version: f.target_version,
            mode: mode(&f.migration_mode)
                .with_context(|| format!("migration file {}", file.display()))?,
            retain_start_offsets: f.retain_start_offsets || args.retain_start_offsets,
            require_confirmation: f.require_confirmation || args.require_confirmation,
            effective_at,
            chunk_size: args.chunk_size,
        });
    }
    Ok(NewMigration {
        source_plan: args.source.clone().context("--source is required")?,
        source_version: match (args.all_versions, args.source_version) {
            (true, _) => SourceVersion::All,
            (false, Some(v)) => SourceVersion::Version(v),
            (false, None) => SourceVersion::Latest,
        },
        target_plan: args.target.clone().context("--target is required")?,
        target_version: args.target_version,
        mode: mode(args.mode.as_deref().context("--mode is required")?)?,
        retain_start_offsets: args.retain_start_offsets,
        require_confirmation: args.require_confirmation,
        effective_at,
        chunk_size: args.chunk_size,
    })
}

fn print(m: &MigrationView, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(m)?);
        return Ok(());
    }
    let source = m
        .source_version
        .map_or("all versions".to_string(), |v| format!("v{v}"));
    println!("migration {} ({})", m.id, m.status);
    println!(
        "  {} {source} -> {} v{}, {}{}{}",
        m.source_id,
        m.target_id,
        m.target_version,
        m.migration_mode,
        if m.retain_start_offsets {
            ", retaining start offsets"
        } else {
            ""
        },
        if m.require_confirmation {
            ", confirmation required"
        } else {
            ""
        }
    );
    if let Some(at) = m.effective_at {
        println!("  migration instant {}", at.to_rfc3339());
    }
    println!(
        "  accounts: {} total, {} pending, {} completed, {} failed",
        m.counts.total, m.counts.pending, m.counts.completed, m.counts.failed
    );
    Ok(())
}

async fn wait(
    pool: &PgPool,
    config: Arc<Config>,
    org: &str,
    view: MigrationView,
) -> anyhow::Result<MigrationView> {
    let Some(job) = &view.job_id else {
        return Ok(view);
    };
    let done = crate::jobs::run::wait_for_job(pool, config, job, Duration::from_secs(3600)).await?;
    if done.state != crate::queue::admin::JobState::Done {
        bail!(
            "the plan-migration job {job} is {}: {}",
            done.state,
            done.last_error.unwrap_or_default()
        );
    }
    Ok(super::get(pool, org, &view.id).await?)
}

/// Runs `billrun migrations ...`.
pub async fn run(pool: &PgPool, config: Arc<Config>, cmd: MigrationCommand) -> anyhow::Result<()> {
    let attempts = config.retry.max_attempts;
    match cmd {
        MigrationCommand::Create(args) => {
            let req = request(&args)?;
            let mut view = super::create(pool, attempts, &args.org, &req, Utc::now()).await?;
            if args.wait {
                view = wait(pool, config, &args.org, view).await?;
            }
            print(&view, args.json)?;
        }
        MigrationCommand::Confirm {
            org,
            id,
            wait: block,
            json,
        } => {
            let mut view = super::confirm(pool, attempts, &org, &id, Utc::now()).await?;
            if block {
                view = wait(pool, config, &org, view).await?;
            }
            print(&view, json)?;
        }
        MigrationCommand::Reject { org, id, json } => {
            print(&super::reject(pool, &org, &id, Utc::now()).await?, json)?;
        }
        MigrationCommand::Show { org, id, json } => {
            print(&super::get(pool, &org, &id).await?, json)?;
        }
        MigrationCommand::List { org, json } => {
            let all = super::list(pool, &org).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                for m in &all {
                    println!(
                        "{:<32} {:<22} {} -> {} v{} {:<27} {}/{} done, {} failed",
                        m.id,
                        m.status,
                        m.source_id,
                        m.target_id,
                        m.target_version,
                        m.migration_mode,
                        m.counts.completed,
                        m.counts.total,
                        m.counts.failed
                    );
                }
            }
        }
        MigrationCommand::Entries {
            org,
            id,
            status,
            json,
        } => {
            if let Some(s) = &status {
                if !["PENDING", "COMPLETED", "FAILED"].contains(&s.as_str()) {
                    bail!("--status {s:?}: expected PENDING, COMPLETED or FAILED");
                }
            }
            let entries = super::entries(pool, &org, &id, status.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
            } else {
                for e in &entries {
                    let mut outcome = Vec::new();
                    if let Some(d) = e.switch_date {
                        outcome.push(format!("switches on {d}"));
                    }
                    if let Some(c) = e.credited {
                        outcome.push(format!("credited {c}"));
                    }
                    if !e.dropped_overrides.is_empty() {
                        outcome.push(format!(
                            "dropped overrides: {}",
                            e.dropped_overrides.join(", ")
                        ));
                    }
                    if let Some(r) = &e.reason {
                        outcome.push(r.clone());
                    }
                    println!(
                        "{:<24} {:<9} from v{:<3} {}",
                        e.account_id,
                        e.status,
                        e.source_version,
                        outcome.join("; ")
                    );
                }
            }
        }
    }
    Ok(())
}
