//! `billrun license ...`: license quantities (catalog::licenses).

use std::str::FromStr;

use billrun_core::FieldError;
use rust_decimal::Decimal;
use sqlx::PgPool;

use super::flags::instant;
use super::output::OrgArgs;
use crate::catalog::licenses::{self, LicenseUpdate, Recorded, UpdateType};

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
}

/// Runs `billrun license ...`.
pub async fn run(pool: &PgPool, cmd: LicenseCommand) -> anyhow::Result<()> {
    let LicenseCommand::Update {
        org,
        account,
        license,
        update_type,
        quantity,
        from,
        key,
    } = cmd;
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
