//! `billrun plan ...`: price plans and their versions (catalog::plans).

use std::path::PathBuf;

use anyhow::{bail, Context};
use serde_json::{json, Value};
use sqlx::PgPool;

use super::flags::json_file;
use super::output::{print_json, Align, OrgArgs, OutputArgs, Table};
use crate::catalog::plans::{self, Applied, ApplyOutcome, PlanVersion, RateCardsError};

/// `billrun plan ...`.
#[derive(clap::Subcommand, Debug)]
pub enum PlanCommand {
    /// Validate a Togai Price Plan V2 JSON file and store it as a DRAFT version.
    Apply {
        #[command(flatten)]
        org: OrgArgs,
        /// The plan file.
        file: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Make a DRAFT version ACTIVE (immutable, attachable).
    Finalize {
        #[command(flatten)]
        org: OrgArgs,
        /// The plan (its name).
        plan: String,
        /// The version (default: the plan's draft).
        #[arg(long)]
        version: Option<u32>,
    },
    /// Apply Togai bulk rate card operations (`{"operations": [{"actionType":
    /// CREATE|UPDATE|DELETE, "rateCardName", "rateCard": {"type", "rateCardDetails"}}]}`)
    /// to the plan's DRAFT, all or nothing; on a finalized plan they open the next
    /// version as a DRAFT. Refusals list every failing operation with its errors
    /// (with --json, also as JSON on stdout).
    RateCards {
        #[command(flatten)]
        org: OrgArgs,
        /// The plan (its name).
        plan: String,
        /// The operations file (`-` reads stdin).
        #[arg(long)]
        file: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Delete the plan's DRAFT version (a plan with no other version is deleted too).
    /// Finalized versions are never deleted: archive them.
    Discard {
        #[command(flatten)]
        org: OrgArgs,
        /// The plan (its name).
        plan: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Archive an ACTIVE version: accounts keep it, it can no longer be attached.
    Archive {
        #[command(flatten)]
        org: OrgArgs,
        /// The plan (its name).
        plan: String,
        /// The version.
        #[arg(long)]
        version: u32,
    },
    /// A plan's versions.
    Versions {
        #[command(flatten)]
        org: OrgArgs,
        /// The plan (its name).
        plan: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// One version's definition.
    Show {
        #[command(flatten)]
        org: OrgArgs,
        /// The plan (its name).
        plan: String,
        /// The version (default: the latest).
        #[arg(long)]
        version: Option<u32>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// The organisation's plans with their latest version.
    List {
        #[command(flatten)]
        org: OrgArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
}

/// Runs `billrun plan ...`.
pub async fn run(pool: &PgPool, cmd: PlanCommand) -> anyhow::Result<()> {
    match cmd {
        PlanCommand::Apply { org, file, output } => {
            let value = json_file("plan file", &file)?;
            let applied = plans::apply(pool, &org.id(), &value).await?;
            super::audit::note_object(applied.plan_id.to_string());
            super::audit::note_details("version", serde_json::json!(applied.version));
            print_applied(output, &applied)?;
        }
        PlanCommand::Finalize { org, plan, version } => {
            let v = plans::finalize(pool, &org.id(), &plan, version).await?;
            println!("plan {} version {} {}", v.plan_id, v.version, v.status);
        }
        PlanCommand::RateCards {
            org,
            plan,
            file,
            output,
        } => {
            let ops = if file.as_os_str() == "-" {
                let text = std::io::read_to_string(std::io::stdin())
                    .context("reading operations from stdin")?;
                serde_json::from_str(&text)
                    .with_context(|| format!("operations file {} is not JSON", file.display()))?
            } else {
                json_file("operations file", &file)?
            };
            match plans::apply_rate_card_operations(pool, &org.id(), &plan, &ops).await {
                Ok(applied) => print_applied(output, &applied)?,
                Err(RateCardsError::Operations(errors)) => {
                    if output.json {
                        print_json(&json!({ "errors": errors }))?;
                    }
                    bail!(
                        "the rate card operations were refused, nothing was changed \
                         ({} failing):\n{errors}",
                        errors.0.len()
                    );
                }
                Err(e) => return Err(e.into()),
            }
        }
        PlanCommand::Discard { org, plan, output } => {
            let d = plans::discard(pool, &org.id(), &plan).await?;
            if output.json {
                print_json(&d)?;
            } else if d.plan_deleted {
                println!(
                    "plan {} version {} DRAFT discarded; the plan had no other version and \
                     is deleted",
                    d.plan_id, d.version
                );
            } else {
                println!("plan {} version {} DRAFT discarded", d.plan_id, d.version);
            }
        }
        PlanCommand::Archive { org, plan, version } => {
            let v = plans::archive(pool, &org.id(), &plan, version).await?;
            println!("plan {} version {} {}", v.plan_id, v.version, v.status);
        }
        PlanCommand::Versions { org, plan, output } => {
            let list = plans::versions(pool, &org.id(), &plan).await?;
            print_versions(output, &list)?;
        }
        PlanCommand::Show {
            org,
            plan,
            version,
            output,
        } => {
            let v = plans::get_version(pool, &org.id(), &plan, version).await?;
            if output.json {
                print_json(&v)?;
            } else {
                println!("plan:      {}", v.plan_id);
                println!("version:   {}", v.version);
                println!("status:    {}", v.status);
                println!(
                    "finalized: {}",
                    v.finalized_at.map_or("-".to_string(), |t| t.to_rfc3339())
                );
                println!("{}", serde_json::to_string_pretty(&v.definition)?);
            }
        }
        PlanCommand::List { org, output } => {
            let list = plans::list_latest(pool, &org.id()).await?;
            print_versions(output, &list)?;
        }
    }
    Ok(())
}

/// What `plan apply` and `plan rate-cards` did: JSON, or one line.
fn print_applied(output: OutputArgs, applied: &Applied) -> anyhow::Result<()> {
    if output.json {
        return print_json(applied);
    }
    let what = match applied.outcome {
        ApplyOutcome::Created => "created",
        ApplyOutcome::DraftUpdated => "draft updated",
        ApplyOutcome::Unchanged => "unchanged",
    };
    println!(
        "plan {} version {} {} ({what})",
        applied.plan_id, applied.version, applied.status
    );
    Ok(())
}

/// `plan versions` and `plan list`: a version a line, or with `--json` each
/// version without its definition (that is what `plan show` is for).
fn print_versions(output: OutputArgs, list: &[PlanVersion]) -> anyhow::Result<()> {
    if output.json {
        let rows: Vec<Value> = list.iter().map(version_summary).collect();
        return print_json(&rows);
    }
    version_table(list).print();
    Ok(())
}

/// A version without its definition, as `--json` lists it.
fn version_summary(v: &PlanVersion) -> Value {
    json!({
        "planId": v.plan_id,
        "version": v.version,
        "status": v.status,
        "createdAt": v.created_at,
        "updatedAt": v.updated_at,
        "finalizedAt": v.finalized_at,
    })
}

/// A version a line.
///
/// The status cells are not padded (the header is): the table this replaces
/// formatted a `PlanStatus`, whose `Display` ignores widths, and the output is kept
/// byte-identical.
fn version_table(list: &[PlanVersion]) -> Table {
    let mut t = Table::new(&[
        ("PLAN", 24, Align::Left),
        ("VERSION", 7, Align::Right),
        ("STATUS   ", 0, Align::Left),
        ("FINALIZED", 0, Align::Left),
    ]);
    for v in list {
        t.row(vec![
            v.plan_id.clone(),
            v.version.to_string(),
            v.status.to_string(),
            v.finalized_at.map_or("-".to_string(), |t| t.to_rfc3339()),
        ]);
    }
    t
}
