//! `billrun tax ...`: the organisation's tax rates and the tax ids and treatments of
//! customers and accounts (catalog::taxes; README "Taxes").

use billrun_core::tax::{TaxRate, TaxTreatment};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::PgPool;

use super::output::{or_dash, print_rows, Align, OrgArgs, OutputArgs, Table};
use crate::catalog::taxes::{self, TaxParty, TaxSettings};

/// `billrun tax ...`.
#[derive(clap::Subcommand, Debug)]
pub enum TaxCommand {
    /// Create or replace the rate of CODE starting --valid-from (a rate change: a new
    /// row of the code from the new date, and --valid-until on the old one).
    PutRate {
        #[command(flatten)]
        org: OrgArgs,
        /// The organisation's code for the rate (rate cards' `taxRateCode`).
        code: String,
        /// Shown on invoices, e.g. "VAT 19%".
        #[arg(long)]
        name: String,
        /// UNCL5305 category: S standard, AA lower rate, Z zero, E exempt, AE reverse
        /// charge, O outside the scope, K, G, L, M.
        #[arg(long, default_value = "S")]
        category: String,
        /// Percent: 19 for 19 %.
        #[arg(long)]
        percentage: Decimal,
        /// First local date it applies to (YYYY-MM-DD; none: always before).
        #[arg(long)]
        valid_from: Option<NaiveDate>,
        /// First local date it no longer applies to (exclusive; none: open-ended).
        #[arg(long)]
        valid_until: Option<NaiveDate>,
        /// The organisation's default rate (for lines without a rate of their own).
        #[arg(long)]
        default: bool,
    },
    /// The organisation's tax rates.
    Rates {
        #[command(flatten)]
        org: OrgArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Set a customer's tax id and treatment (replaces both; omitted: unset).
    SetCustomer {
        #[command(flatten)]
        org: OrgArgs,
        /// The customer's id.
        id: String,
        /// Its VAT / tax id, printed on invoices.
        #[arg(long)]
        tax_id: Option<String>,
        /// STANDARD, EXEMPT, REVERSE_CHARGE or OUTSIDE_SCOPE (none: STANDARD).
        #[arg(long)]
        treatment: Option<String>,
    },
    /// Set an account's tax id and treatment (they override its customer's; omitted:
    /// its customer's).
    SetAccount {
        #[command(flatten)]
        org: OrgArgs,
        /// The account's id.
        id: String,
        /// Its VAT / tax id, printed on invoices instead of the customer's.
        #[arg(long)]
        tax_id: Option<String>,
        /// STANDARD, EXEMPT, REVERSE_CHARGE or OUTSIDE_SCOPE (none: its customer's).
        #[arg(long)]
        treatment: Option<String>,
    },
}

/// Runs a `billrun tax` command.
pub async fn run(pool: &PgPool, command: TaxCommand) -> anyhow::Result<()> {
    match command {
        TaxCommand::PutRate {
            org,
            code,
            name,
            category,
            percentage,
            valid_from,
            valid_until,
            default,
        } => {
            let rate = TaxRate {
                code,
                name,
                category,
                percentage,
                valid_from,
                valid_until,
                is_default: default,
            };
            let r = taxes::put_rate(pool, &org.id(), &rate).await?;
            crate::cli::audit::note_details("rate", serde_json::json!(r));
            println!(
                "tax rate {} ({}%, {}) from {} stored in {}",
                r.code,
                r.percentage,
                r.category,
                r.valid_from
                    .map_or("the beginning".into(), |d| d.to_string()),
                org.org
            );
        }
        TaxCommand::Rates { org, output } => {
            let list = taxes::list_rates(pool, &org.id()).await?;
            print_rows(output, &list, rate_table)?;
        }
        TaxCommand::SetCustomer {
            org,
            id,
            tax_id,
            treatment,
        } => set(pool, org, TaxParty::Customer, id, tax_id, treatment).await?,
        TaxCommand::SetAccount {
            org,
            id,
            tax_id,
            treatment,
        } => set(pool, org, TaxParty::Account, id, tax_id, treatment).await?,
    }
    Ok(())
}

async fn set(
    pool: &PgPool,
    org: OrgArgs,
    party: TaxParty,
    id: String,
    tax_id: Option<String>,
    treatment: Option<String>,
) -> anyhow::Result<()> {
    let tax_treatment = treatment
        .as_deref()
        .map(TaxTreatment::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--treatment: {}", e.message))?;
    let s = TaxSettings {
        id,
        tax_id,
        tax_treatment,
    };
    let s = taxes::set_tax(pool, &org.id(), party, &s.id.clone(), &s).await?;
    crate::cli::audit::note_details("tax", serde_json::json!(s));
    println!(
        "{} {} in {}: tax id {}, treatment {}",
        match party {
            TaxParty::Customer => "customer",
            TaxParty::Account => "account",
        },
        s.id,
        org.org,
        or_dash(s.tax_id.as_deref()),
        s.tax_treatment.map_or("-", |t| t.as_str())
    );
    Ok(())
}

/// `tax rates`: a rate a line.
fn rate_table(list: &[TaxRate]) -> Table {
    let mut t = Table::new(&[
        ("CODE", 16, Align::Left),
        ("NAME", 20, Align::Left),
        ("CATEGORY", 8, Align::Left),
        ("PERCENT", 8, Align::Right),
        ("FROM", 10, Align::Left),
        ("UNTIL", 10, Align::Left),
        ("DEFAULT", 0, Align::Left),
    ]);
    for r in list {
        t.row(vec![
            r.code.clone(),
            r.name.clone(),
            r.category.clone(),
            r.percentage.to_string(),
            r.valid_from.map_or("-".into(), |d| d.to_string()),
            r.valid_until.map_or("-".into(), |d| d.to_string()),
            if r.is_default { "yes" } else { "" }.into(),
        ]);
    }
    t
}
