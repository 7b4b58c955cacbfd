//! `billrun migrations ...` (also `billrun migration ...`): plan migrations from the
//! command line. Parses, calls [`crate::app::plan_migrations`] (create, confirm,
//! reject) or [`crate::plan_migration`] (show, list, entries), prints.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use chrono::Utc;
use sqlx::PgPool;

use super::output::{print_json, OrgArgs, OutputArgs};
use crate::app::plan_migrations::{self as app, MigrationRequest, Wait};
use crate::config::Config;
use crate::plan_migration::{self, Entry, MigrationView, NewMigration, SourceVersion};
use crate::store::status::PlanMigrationEntryStatus;

/// `billrun migrations ...` (also `billrun migration ...`).
#[derive(clap::Subcommand, Debug)]
pub enum MigrationCommand {
    /// Migrate every account of a plan (version) to another plan version.
    Create(CreateArgs),
    /// Confirm a migration that awaits confirmation: it starts.
    Confirm {
        #[command(flatten)]
        org: OrgArgs,
        /// The migration's id.
        id: String,
        /// Run it here until it completes (otherwise workers do).
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Reject a migration that awaits confirmation: it ends, having done nothing.
    Reject {
        #[command(flatten)]
        org: OrgArgs,
        /// The migration's id.
        id: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// One migration: its settings, status and counts (total, pending, completed,
    /// failed).
    Show {
        #[command(flatten)]
        org: OrgArgs,
        /// The migration's id.
        id: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// The organisation's migrations, newest first.
    List {
        #[command(flatten)]
        org: OrgArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// A migration's entries: one per account, with the outcome.
    Entries {
        #[command(flatten)]
        org: OrgArgs,
        /// The migration's id.
        id: String,
        /// Only PENDING, COMPLETED or FAILED entries.
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
}

/// `billrun migrations create`.
#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    #[command(flatten)]
    org: OrgArgs,
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
    #[command(flatten)]
    output: OutputArgs,
}

/// The migration `create` asks for: the file's request, or the flags.
fn request(args: &CreateArgs) -> anyhow::Result<NewMigration> {
    let effective_at = args
        .at
        .as_deref()
        .map(crate::catalog::input::parse_time)
        .transpose()?;
    if let Some(file) = &args.file {
        let context = || format!("migration file {}", file.display());
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading migration file {}", file.display()))?;
        let mut m = MigrationRequest::parse(&text)
            .and_then(MigrationRequest::into_new)
            .with_context(context)?;
        m.retain_start_offsets |= args.retain_start_offsets;
        m.require_confirmation |= args.require_confirmation;
        m.effective_at = effective_at;
        m.chunk_size = args.chunk_size;
        return Ok(m);
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
        mode: app::parse_mode(args.mode.as_deref().context("--mode is required")?)?,
        retain_start_offsets: args.retain_start_offsets,
        require_confirmation: args.require_confirmation,
        effective_at,
        chunk_size: args.chunk_size,
    })
}

fn wait(block: bool) -> Wait {
    if block {
        Wait::Here
    } else {
        Wait::No
    }
}

/// One migration, as text or JSON.
fn print(m: &MigrationView, output: OutputArgs) -> anyhow::Result<()> {
    if output.json {
        return print_json(m);
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

/// The migrations, a line each (no header): id, status, plans, mode, progress.
fn print_list(all: &[MigrationView], output: OutputArgs) -> anyhow::Result<()> {
    if output.json {
        return print_json(&all);
    }
    for m in all {
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
    Ok(())
}

/// The entries, a line each (no header): account, status, source version, outcome.
fn print_entries(entries: &[Entry], output: OutputArgs) -> anyhow::Result<()> {
    if output.json {
        return print_json(&entries);
    }
    for e in entries {
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
    Ok(())
}

/// Runs `billrun migrations ...`; the wall clock is read here (the instant a
/// migration is created, confirmed or rejected).
pub async fn run(pool: &PgPool, config: Arc<Config>, cmd: MigrationCommand) -> anyhow::Result<()> {
    match cmd {
        MigrationCommand::Create(args) => {
            let req = request(&args)?;
            let org = args.org.id();
            let view = app::create(pool, config, &org, &req, Utc::now(), wait(args.wait)).await?;
            super::audit::note_object(view.id.to_string());
            print(&view, args.output)?;
        }
        MigrationCommand::Confirm {
            org,
            id,
            wait: block,
            output,
        } => {
            let view = app::confirm(pool, config, &org.id(), &id, Utc::now(), wait(block)).await?;
            print(&view, output)?;
        }
        MigrationCommand::Reject { org, id, output } => {
            print(
                &app::reject(pool, &org.id(), &id, Utc::now()).await?,
                output,
            )?;
        }
        MigrationCommand::Show { org, id, output } => {
            print(&plan_migration::get(pool, &org.id(), &id).await?, output)?;
        }
        MigrationCommand::List { org, output } => {
            print_list(&plan_migration::list(pool, &org.id()).await?, output)?;
        }
        MigrationCommand::Entries {
            org,
            id,
            status,
            output,
        } => {
            let status = status
                .map(|s| {
                    s.parse::<PlanMigrationEntryStatus>().map_err(|_| {
                        anyhow!("--status {s:?}: expected PENDING, COMPLETED or FAILED")
                    })
                })
                .transpose()?;
            let entries = plan_migration::entries(pool, &org.id(), &id, status).await?;
            print_entries(&entries, output)?;
        }
    }
    Ok(())
}
