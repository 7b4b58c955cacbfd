//! `billrun credit ...`: grant, void, list, balance, ledger.
//!
//! Parses, calls [`crate::app::credits::grant`] (it runs the `credit-grant` job) or
//! [`crate::credits`]' own functions, prints. `--from` and the void's instant
//! default to now, read here.

use std::sync::Arc;

use anyhow::{anyhow, Result};
use chrono::Utc;
use clap::Subcommand;
use rust_decimal::Decimal;
use sqlx::PgPool;

use super::output::{or_dash, print_json, print_rows, Align, OrgArgs, OutputArgs, Table};
use crate::catalog::input::parse_time;
use crate::config::Config;
use crate::credits::{self, GrantView, Granted, LedgerEntry, NewGrant};

/// Credit commands.
#[derive(Subcommand, Debug)]
pub enum CreditCommand {
    /// Grant credits to an account (through the `credit-grant` job; idempotent per --key).
    #[command(mut_arg("json", |a| a.help("Print the grant as JSON")))]
    Grant {
        #[command(flatten)]
        org: OrgArgs,
        /// The account.
        #[arg(long)]
        account: String,
        /// Amount, positive, e.g. 100.00.
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        /// Currency: the account's invoice currency.
        #[arg(long)]
        currency: String,
        /// Why (shown on invoices).
        #[arg(long, default_value = "")]
        purpose: String,
        /// Lower is consumed first.
        #[arg(long, default_value_t = 1)]
        priority: u32,
        /// Usable from: RFC 3339 or YYYY-MM-DD (default now).
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
        /// Usable until (exclusive): RFC 3339 or YYYY-MM-DD (default: no expiry).
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// What it may pay: ALL_USAGE_METER_RATE_CARDS, ALL_FIXED_FEE_RATE_CARDS, or card
        /// names, comma-separated (default: everything).
        #[arg(long, value_delimiter = ',')]
        applies_to: Vec<String>,
        /// Idempotency key: the same key twice grants once.
        #[arg(long)]
        key: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Void an ACTIVE grant (what is left is recorded as VOIDED).
    Void {
        #[command(flatten)]
        org: OrgArgs,
        /// The grant.
        grant: String,
    },
    /// Grants with their balances.
    #[command(mut_arg("json", |a| a.help("JSON instead of a table")))]
    List {
        #[command(flatten)]
        org: OrgArgs,
        /// Only this account.
        #[arg(long)]
        account: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// An account's balance of usable credits, per currency.
    #[command(mut_arg("json", |a| a.help("JSON instead of text")))]
    Balance {
        #[command(flatten)]
        org: OrgArgs,
        /// The account.
        #[arg(long)]
        account: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Every movement of an account's credits, in the order they take effect.
    #[command(mut_arg("json", |a| a.help("JSON instead of a table")))]
    Ledger {
        #[command(flatten)]
        org: OrgArgs,
        /// The account.
        #[arg(long)]
        account: String,
        #[command(flatten)]
        output: OutputArgs,
    },
}

/// Runs a credit command.
pub async fn run(pool: &PgPool, config: Arc<Config>, cmd: CreditCommand) -> Result<()> {
    match cmd {
        CreditCommand::Grant {
            org,
            account,
            amount,
            currency,
            purpose,
            priority,
            from,
            until,
            applies_to,
            key,
            output,
        } => {
            let amount: Decimal = amount.parse().map_err(|_| {
                anyhow!("amount: {amount:?} is not a decimal number such as 100.00")
            })?;
            let grant = NewGrant {
                account,
                amount,
                currency,
                purpose,
                priority,
                effective_from: from.as_deref().map(parse_time).transpose()?,
                effective_until: until.as_deref().map(parse_time).transpose()?,
                applicable_entity_ids: applies_to,
                idempotency_key: key,
            };
            let outcome =
                crate::app::credits::grant(pool, config, &org.id(), &grant, Utc::now()).await?;
            let (word, id) = match &outcome.granted {
                Granted::New(id) => ("new", id),
                Granted::Existing(id) => ("existing", id),
            };
            if output.json {
                print_json(&serde_json::json!({"outcome": word, "grant": outcome.grant}))?;
            } else if word == "existing" {
                println!("key already used: grant {id} (nothing granted again)");
            } else {
                println!("granted {id}");
            }
        }
        CreditCommand::Void { org, grant } => {
            let g = credits::void(pool, &org.id(), &grant, Utc::now()).await?;
            println!("credit grant {} is {}", g.id, g.status);
        }
        CreditCommand::List {
            org,
            account,
            output,
        } => {
            let grants = credits::list(pool, &org.id(), account.as_deref()).await?;
            print_rows(output, &grants, grants_table)?;
        }
        CreditCommand::Balance {
            org,
            account,
            output,
        } => {
            let b = credits::balance(pool, &org.id(), &account).await?;
            if output.json {
                let m: serde_json::Map<String, serde_json::Value> = b
                    .into_iter()
                    .map(|(c, a)| (c, serde_json::Value::String(a.to_string())))
                    .collect();
                print_json(&m)?;
            } else if b.is_empty() {
                println!("no usable credits");
            } else {
                for (c, a) in b {
                    println!("{a} {c}");
                }
            }
        }
        CreditCommand::Ledger {
            org,
            account,
            output,
        } => {
            let entries = credits::ledger(pool, &org.id(), &account).await?;
            print_rows(output, &entries, ledger_table)?;
        }
    }
    Ok(())
}

/// Grants as a table: id, account, status, amount and currency, balance, priority,
/// end (RFC 3339, `-`: no expiry), purpose.
fn grants_table(grants: &[GrantView]) -> Table {
    let mut t = Table::new(&[
        ("GRANT", 30, Align::Left),
        ("ACCOUNT", 14, Align::Left),
        ("STATUS", 9, Align::Left),
        ("AMOUNT", 12, Align::Right),
        ("BALANCE", 12, Align::Right),
        ("PRIO", 4, Align::Right),
        ("UNTIL", 25, Align::Left),
        ("PURPOSE", 0, Align::Left),
    ]);
    for g in grants {
        t.row(vec![
            g.id.clone(),
            g.account_id.clone(),
            g.status.to_string(),
            format!("{} {}", g.amount, g.currency),
            g.balance.to_string(),
            g.priority.to_string(),
            g.effective_until
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| "-".into()),
            g.purpose.clone(),
        ]);
    }
    t
}

/// The ledger as a table: entry id, grant, kind, amount and currency, invoice (`-`:
/// none), instant (RFC 3339, UTC).
fn ledger_table(entries: &[LedgerEntry]) -> Table {
    let mut t = Table::new(&[
        ("#", 6, Align::Right),
        ("GRANT", 30, Align::Left),
        ("KIND", 9, Align::Left),
        ("AMOUNT", 12, Align::Right),
        ("INVOICE", 28, Align::Left),
        ("AT", 0, Align::Left),
    ]);
    for e in entries {
        t.row(vec![
            e.id.to_string(),
            e.grant_id.clone(),
            e.kind.clone(),
            format!("{} {}", e.amount, e.currency),
            or_dash(e.invoice_id.as_deref()).to_string(),
            e.at.to_rfc3339(),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::{grants_table, ledger_table};

    #[test]
    fn the_credit_tables_headers_are_the_ones_they_always_were() {
        assert_eq!(
            grants_table(&[]).render(),
            format!(
                "{:<30} {:<14} {:<9} {:>12} {:>12} {:>4} {:<25} PURPOSE\n",
                "GRANT", "ACCOUNT", "STATUS", "AMOUNT", "BALANCE", "PRIO", "UNTIL"
            )
        );
        assert_eq!(
            ledger_table(&[]).render(),
            format!(
                "{:>6} {:<30} {:<9} {:>12} {:<28} AT\n",
                "#", "GRANT", "KIND", "AMOUNT", "INVOICE"
            )
        );
    }
}
