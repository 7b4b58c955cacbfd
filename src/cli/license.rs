//! `billrun license ...`: license quantities (catalog::licenses) and the entities of
//! named licenses (catalog::named_licenses).

use std::str::FromStr;

use billrun_core::FieldError;
use rust_decimal::Decimal;
use sqlx::PgPool;

use super::flags::instant;
use super::output::OrgArgs;
use super::output::{print_json, OutputArgs};
use crate::catalog::licenses::{self, LicenseUpdate, Recorded, UpdateType};
use crate::catalog::named_licenses::{self, Change};

/// `billrun license ...`.
#[derive(clap::Subcommand, Debug)]
pub enum LicenseCommand {
    /// Record a license quantity update (idempotent per --key).
    Update {
        #[command(flatten)]
        org: OrgArgs,
        /// The account.
        #[arg(long)]
        account: String,
        /// The license (a license rate card's id).
        #[arg(long)]
        license: String,
        /// RELATIVE (adds) or ABSOLUTE (sets).
        #[arg(long = "type", value_name = "TYPE")]
        update_type: String,
        /// The quantity added (may be negative) or set.
        #[arg(long, allow_negative_numbers = true)]
        quantity: String,
        /// From when: RFC 3339, or YYYY-MM-DD for midnight UTC (default now).
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
        /// Idempotency key (default: a new one, so the update is always recorded).
        #[arg(long)]
        key: Option<String>,
    },
    /// The named entities of NAMED_LICENSE licenses: add, remove, list.
    Named {
        #[command(subcommand)]
        command: NamedCommand,
    },
}

/// `billrun license named ...`.
#[derive(clap::Subcommand, Debug)]
pub enum NamedCommand {
    /// An entity (e.g. a user id) becomes active on the account's named license.
    Add(NamedArgs),
    /// An entity stops being active on the account's named license.
    Remove(NamedArgs),
    /// The account's named entities (ended ones too).
    List {
        #[command(flatten)]
        org: OrgArgs,
        /// The account.
        #[arg(long)]
        account: String,
        /// Only this license.
        #[arg(long)]
        license: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
}

/// What `license named add|remove` change.
#[derive(clap::Args, Debug)]
pub struct NamedArgs {
    #[command(flatten)]
    org: OrgArgs,
    /// The account.
    #[arg(long)]
    account: String,
    /// The license (a NAMED_LICENSE rate card's id, else its name).
    #[arg(long)]
    license: String,
    /// The entity, e.g. a user id.
    #[arg(long)]
    name: String,
    /// From when: RFC 3339, or YYYY-MM-DD for midnight UTC (default now).
    #[arg(long, value_name = "TIME")]
    from: Option<String>,
}

async fn run_named(pool: &PgPool, cmd: NamedCommand) -> anyhow::Result<()> {
    let (args, change) = match cmd {
        NamedCommand::Add(a) => (a, Change::Add),
        NamedCommand::Remove(a) => (a, Change::Remove),
        NamedCommand::List {
            org,
            account,
            license,
            output,
        } => {
            let list =
                named_licenses::entries(pool, &org.id(), &account, license.as_deref()).await?;
            if output.json {
                return print_json(&list);
            }
            for e in &list {
                println!(
                    "{}  {}  from {}  until {}",
                    e.license_id,
                    e.name,
                    e.effective_from.to_rfc3339(),
                    e.effective_until
                        .map_or_else(|| "-".to_string(), |u| u.to_rfc3339())
                );
            }
            return Ok(());
        }
    };
    let at = instant("effectiveFrom", args.from.as_deref(), chrono::Utc::now())?;
    let e = named_licenses::change(
        pool,
        &args.org.id(),
        &args.account,
        &args.license,
        &args.name,
        change,
        at,
    )
    .await?;
    let verb = match change {
        Change::Add => "added",
        Change::Remove => "removed",
    };
    println!(
        "{} {verb} on license {} of {} at {}",
        e.name,
        e.license_id,
        e.account_id,
        at.to_rfc3339()
    );
    Ok(())
}

/// Runs `billrun license ...`.
pub async fn run(pool: &PgPool, cmd: LicenseCommand) -> anyhow::Result<()> {
    let (org, account, license, update_type, quantity, from, key) = match cmd {
        LicenseCommand::Named { command } => return run_named(pool, command).await,
        LicenseCommand::Update {
            org,
            account,
            license,
            update_type,
            quantity,
            from,
            key,
        } => (org, account, license, update_type, quantity, from, key),
    };
    let update = LicenseUpdate {
        idempotency_key: key.unwrap_or_else(|| ulid::Ulid::generate().to_string()),
        license_id: license,
        account_id: account,
        update_type: UpdateType::parse("updateType", &update_type)?,
        quantity: Decimal::from_str(quantity.trim())
            .map_err(|_| FieldError::new("quantity", format!("{quantity:?} is not a number")))?,
        effective_from: instant("effectiveFrom", from.as_deref(), chrono::Utc::now())?,
    };
    match licenses::record(pool, &org.id(), &update).await? {
        Recorded::New => println!(
            "license {} of {}: {} {} from {} (key {})",
            update.license_id,
            update.account_id,
            update.update_type.as_str(),
            update.quantity,
            update.effective_from.to_rfc3339(),
            update.idempotency_key
        ),
        Recorded::AlreadyRecorded => println!(
            "already recorded under key {} (nothing changed)",
            update.idempotency_key
        ),
    }
    Ok(())
}
