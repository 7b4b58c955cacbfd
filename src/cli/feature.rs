//! `billrun feature ...` (create, update, list, show) and `billrun entitlement ...`
//! (check, list, grants): features and what accounts are entitled to (crate::entitlements, README
//! "Entitlements"), as the HTTP API's `/features` and
//! `/accounts/{account_id}/features/{feature_id}` routes do.

use sqlx::PgPool;

use super::flags::instant;
use super::output::{print_json, OrgArgs, OutputArgs};
use crate::entitlements::{self, features, SchemaAssociation};
use billrun_core::FieldError;

/// `billrun feature ...`.
#[derive(clap::Subcommand, Debug)]
pub enum FeatureCommand {
    /// Create a feature (its id is its name).
    Create {
        #[command(flatten)]
        org: OrgArgs,
        /// Its name and id (what rate cards name as featureId).
        name: String,
        /// The name shown on invoices instead.
        #[arg(long)]
        billable_name: Option<String>,
        /// An event schema attribute whose sum is the feature's use:
        /// SCHEMA.ATTRIBUTE (repeatable).
        #[arg(long = "schema", value_name = "SCHEMA.ATTRIBUTE")]
        schemas: Vec<String>,
    },
    /// Change a feature's name, billable name or schema associations (its id stays).
    Update {
        #[command(flatten)]
        org: OrgArgs,
        /// Its id.
        id: String,
        /// Its new name.
        #[arg(long)]
        name: Option<String>,
        /// Its new name shown on invoices.
        #[arg(long)]
        billable_name: Option<String>,
        /// Replace its associations with these SCHEMA.ATTRIBUTE (repeatable).
        #[arg(long = "schema", value_name = "SCHEMA.ATTRIBUTE")]
        schemas: Vec<String>,
    },
    /// The organisation's features.
    List {
        #[command(flatten)]
        org: OrgArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// One feature.
    Show {
        #[command(flatten)]
        org: OrgArgs,
        /// Its id.
        id: String,
        #[command(flatten)]
        output: OutputArgs,
    },
}

/// `billrun entitlement ...`.
#[derive(clap::Subcommand, Debug)]
pub enum EntitlementCommand {
    /// Is the account entitled to the feature (its allowance, use and overage in the
    /// cycle holding --at)? Exits 0 either way; `entitled` says.
    Check {
        #[command(flatten)]
        org: OrgArgs,
        /// The account.
        #[arg(long)]
        account: String,
        /// The feature.
        #[arg(long)]
        feature: String,
        /// When: RFC 3339, or YYYY-MM-DD for midnight UTC (default now).
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// Also say whether this quantity more may be used (balance plus what is left
        /// of the overage limit); with --json: `{"entitlement", "allowed"}`.
        #[arg(long)]
        quantity: Option<rust_decimal::Decimal>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// The account's balance of every feature its plan names (in the cycle holding
    /// --at).
    List {
        #[command(flatten)]
        org: OrgArgs,
        /// The account.
        #[arg(long)]
        account: String,
        /// When: RFC 3339, or YYYY-MM-DD for midnight UTC (default now).
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// The entitlement ledger of an account: allowances granted by paid PREPAID cards.
    Grants {
        #[command(flatten)]
        org: OrgArgs,
        /// The account.
        #[arg(long)]
        account: String,
        /// Only this feature.
        #[arg(long)]
        feature: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
}

fn parse_association(i: usize, s: &str) -> Result<SchemaAssociation, FieldError> {
    match s.split_once('.') {
        Some((schema, attr)) if !schema.is_empty() && !attr.is_empty() => Ok(SchemaAssociation {
            schema_name: schema.to_string(),
            attribute_name: attr.to_string(),
        }),
        _ => Err(FieldError::new(
            format!("--schema[{i}]"),
            format!("{s:?}: expected SCHEMA.ATTRIBUTE, e.g. api_call.count"),
        )),
    }
}

fn print_feature(f: &features::Feature) {
    let schemas: Vec<String> = f
        .schema_associations
        .iter()
        .map(|a| format!("{}.{}", a.schema_name, a.attribute_name))
        .collect();
    println!(
        "{}  {}  schemas: {}",
        f.id,
        f.display_name(),
        if schemas.is_empty() {
            "-".to_string()
        } else {
            schemas.join(", ")
        }
    );
}

/// Runs `billrun feature ...`.
pub async fn run_feature(pool: &PgPool, cmd: FeatureCommand) -> anyhow::Result<()> {
    match cmd {
        FeatureCommand::Create {
            org,
            name,
            billable_name,
            schemas,
        } => {
            let associations = schemas
                .iter()
                .enumerate()
                .map(|(i, s)| parse_association(i, s))
                .collect::<Result<Vec<_>, _>>()?;
            let f = features::create(
                pool,
                &org.id(),
                &name,
                billable_name.as_deref(),
                &associations,
                chrono::Utc::now(),
            )
            .await?;
            println!("feature {} created in {}", f.id, org.org);
        }
        FeatureCommand::Update {
            org,
            id,
            name,
            billable_name,
            schemas,
        } => {
            let associations = schemas
                .iter()
                .enumerate()
                .map(|(i, s)| parse_association(i, s))
                .collect::<Result<Vec<_>, _>>()?;
            let patch = features::FeaturePatch {
                name,
                billable_name,
                schema_associations: (!associations.is_empty()).then_some(associations),
            };
            let f = features::update(pool, &org.id(), &id, &patch, chrono::Utc::now()).await?;
            println!("feature {} updated in {}", f.id, org.org);
        }
        FeatureCommand::List { org, output } => {
            let list = features::list(pool, &org.id()).await?;
            if output.json {
                return print_json(&list);
            }
            for f in &list {
                print_feature(f);
            }
        }
        FeatureCommand::Show { org, id, output } => {
            let f = features::get(pool, &org.id(), &id).await?;
            if output.json {
                return print_json(&f);
            }
            print_feature(&f);
        }
    }
    Ok(())
}

/// Runs `billrun entitlement ...`.
pub async fn run_entitlement(pool: &PgPool, cmd: EntitlementCommand) -> anyhow::Result<()> {
    match cmd {
        EntitlementCommand::Check {
            org,
            account,
            feature,
            at,
            quantity,
            output,
        } => {
            let at = instant("at", at.as_deref(), chrono::Utc::now())?;
            let e = entitlements::entitlement(pool, &org.id(), &account, &feature, at).await?;
            if let Some(q) = quantity {
                if q.is_sign_negative() {
                    return Err(FieldError::new("--quantity", format!("{q} is negative")).into());
                }
                if output.json {
                    return print_json(
                        &serde_json::json!({"entitlement": e, "allowed": e.allows(q)}),
                    );
                }
                println!(
                    "{} more {}: {}",
                    q,
                    e.feature_id,
                    if e.allows(q) {
                        "allowed"
                    } else {
                        "NOT allowed"
                    }
                );
            }
            if output.json {
                return print_json(&e);
            }
            let limit = e
                .overage_limit
                .map_or("unlimited".to_string(), |l| l.to_string());
            println!(
                "{} {} {}: granted {}, used {}, balance {}, overage used {} of {}",
                e.account_id,
                if e.entitled {
                    "is entitled to"
                } else {
                    "is NOT entitled to"
                },
                e.feature_id,
                e.granted,
                e.used,
                e.balance,
                e.used_overage,
                limit
            );
        }
        EntitlementCommand::List {
            org,
            account,
            at,
            output,
        } => {
            let at = instant("at", at.as_deref(), chrono::Utc::now())?;
            let list = entitlements::entitlements(pool, &org.id(), &account, at).await?;
            if output.json {
                return print_json(&list);
            }
            for e in &list {
                println!(
                    "{} {}: granted {}, used {}, balance {}{}",
                    e.account_id,
                    e.feature_id,
                    e.granted,
                    e.used,
                    e.balance,
                    if e.entitled { "" } else { " (NOT entitled)" }
                );
            }
        }
        EntitlementCommand::Grants {
            org,
            account,
            feature,
            output,
        } => {
            let list =
                entitlements::ledger::grants(pool, &org.org, &account, feature.as_deref()).await?;
            if output.json {
                return print_json(&list);
            }
            for g in &list {
                println!(
                    "{}  {}  {}  {} .. {}  invoice {} card {}",
                    g.id,
                    g.feature_id,
                    g.quantity,
                    g.effective_from.to_rfc3339(),
                    g.effective_until.to_rfc3339(),
                    g.source_invoice_id,
                    g.source_card
                );
            }
        }
    }
    Ok(())
}
