//! `billrun plan ...`: price plans and their versions.

use super::*;

/// `billrun plan ...`.
#[derive(clap::Subcommand, Debug)]
pub enum PlanCommand {
    /// Validate a Togai Price Plan V2 JSON file and store it as a DRAFT version.
    Apply {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// The plan file.
        file: PathBuf,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Make a DRAFT version ACTIVE (immutable, attachable).
    Finalize {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// The plan (its name).
        plan: String,
        /// The version (default: the plan's draft).
        #[arg(long)]
        version: Option<u32>,
    },
    /// Apply Togai bulk rate card operations (`{"operations": [{"actionType":
    /// CREATE|UPDATE|DELETE, "rateCardName", "rateCard": {"type", "rateCardDetails"}}]}`)
    /// to the plan's DRAFT, all or nothing; on a finalized plan they open the next
    /// version as a DRAFT. Refusals list every failing operation with its errors.
    RateCards {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// The plan (its name).
        plan: String,
        /// The operations file (`-` reads stdin).
        #[arg(long)]
        file: PathBuf,
        /// JSON instead of text (the refusal too, on stdout).
        #[arg(long)]
        json: bool,
    },
    /// Delete the plan's DRAFT version (a plan with no other version is deleted too).
    /// Finalized versions are never deleted: archive them.
    Discard {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// The plan (its name).
        plan: String,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Archive an ACTIVE version: accounts keep it, it can no longer be attached.
    Archive {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// The plan (its name).
        plan: String,
        /// The version.
        #[arg(long)]
        version: u32,
    },
    /// A plan's versions.
    Versions {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// The plan (its name).
        plan: String,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One version's definition.
    Show {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// The plan (its name).
        plan: String,
        /// The version (default: the latest).
        #[arg(long)]
        version: Option<u32>,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The organisation's plans with their latest version.
    List {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

// ---------------------------------------------------------------------------------
// Plans.

/// Runs `billrun plan ...`.
pub async fn run_plan(pool: &PgPool, cmd: PlanCommand) -> anyhow::Result<()> {
    match cmd {
        PlanCommand::Apply { org, file, json } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading plan file {}", file.display()))?;
            let value: Value = serde_json::from_str(&text)
                .with_context(|| format!("plan file {} is not JSON", file.display()))?;
            let applied = plans::apply(pool, &org, &value).await?;
            if json {
                print_json(&applied)?;
            } else {
                let what = match applied.outcome {
                    plans::ApplyOutcome::Created => "created",
                    plans::ApplyOutcome::DraftUpdated => "draft updated",
                    plans::ApplyOutcome::Unchanged => "unchanged",
                };
                println!(
                    "plan {} version {} {} ({what})",
                    applied.plan_id, applied.version, applied.status
                );
            }
        }
        PlanCommand::Finalize { org, plan, version } => {
            let v = plans::finalize(pool, &org, &plan, version).await?;
            println!("plan {} version {} {}", v.plan_id, v.version, v.status);
        }
        PlanCommand::RateCards {
            org,
            plan,
            file,
            json,
        } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())
                    .context("reading operations from stdin")?
            } else {
                std::fs::read_to_string(&file)
                    .with_context(|| format!("reading operations file {}", file.display()))?
            };
            let ops: Value = serde_json::from_str(&text)
                .with_context(|| format!("operations file {} is not JSON", file.display()))?;
            match plans::apply_rate_card_operations(pool, &org, &plan, &ops).await {
                Ok(applied) if json => print_json(&applied)?,
                Ok(applied) => {
                    let what = match applied.outcome {
                        plans::ApplyOutcome::Created => "created",
                        plans::ApplyOutcome::DraftUpdated => "draft updated",
                        plans::ApplyOutcome::Unchanged => "unchanged",
                    };
                    println!(
                        "plan {} version {} {} ({what})",
                        applied.plan_id, applied.version, applied.status
                    );
                }
                Err(plans::RateCardsError::Operations(errors)) => {
                    if json {
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
        PlanCommand::Discard { org, plan, json } => {
            let d = plans::discard(pool, &org, &plan).await?;
            if json {
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
            let v = plans::archive(pool, &org, &plan, version).await?;
            println!("plan {} version {} {}", v.plan_id, v.version, v.status);
        }
        PlanCommand::Versions { org, plan, json } => {
            let list = plans::versions(pool, &org, &plan).await?;
            if json {
                // The definitions are what `plan show` is for.
                let rows: Vec<Value> = list.iter().map(version_summary).collect();
                print_json(&rows)?;
            } else {
                print_versions(&list);
            }
        }
        PlanCommand::Show {
            org,
            plan,
            version,
            json,
        } => {
            let v = plans::get_version(pool, &org, &plan, version).await?;
            if json {
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
        PlanCommand::List { org, json } => {
            let list = plans::list_latest(pool, &org).await?;
            if json {
                let rows: Vec<Value> = list.iter().map(version_summary).collect();
                print_json(&rows)?;
            } else {
                print_versions(&list);
            }
        }
    }
    Ok(())
}

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

fn print_versions(list: &[PlanVersion]) {
    println!("{:<24} {:>7} {:<9} FINALIZED", "PLAN", "VERSION", "STATUS");
    for v in list {
        println!(
            "{:<24} {:>7} {:<9} {}",
            v.plan_id,
            v.version,
            v.status,
            v.finalized_at.map_or("-".to_string(), |t| t.to_rfc3339())
        );
    }
}
