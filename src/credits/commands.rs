//! `billrun credit ...`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use chrono::Utc;
use clap::Subcommand;
use rust_decimal::Decimal;
use sqlx::PgPool;

use super::ledger::{self, NewGrant};
use crate::config::Config;
use crate::queue::JobKind;

/// Credit commands.
#[derive(Subcommand, Debug)]
pub enum CreditCommand {
    /// Grant credits to an account (through the `credit-grant` job; idempotent per --key).
    Grant {
        /// Organisation.
        #[arg(long)]
        org: String,
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
        /// Print the grant as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Void an ACTIVE grant (what is left is recorded as VOIDED).
    Void {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// The grant.
        grant: String,
    },
    /// Grants with their balances.
    List {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// Only this account.
        #[arg(long)]
        account: Option<String>,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// An account's balance of usable credits, per currency.
    Balance {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// The account.
        #[arg(long)]
        account: String,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Every movement of an account's credits, in the order they take effect.
    Ledger {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// The account.
        #[arg(long)]
        account: String,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a credit command.
pub async fn run_credit(pool: &PgPool, config: Arc<Config>, cmd: CreditCommand) -> Result<()> {
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
            json,
        } => {
            let amount: Decimal = amount.parse().map_err(|_| {
                anyhow::anyhow!("amount: {amount:?} is not a decimal number such as 100.00")
            })?;
            let grant = NewGrant {
                account,
                amount,
                currency,
                purpose,
                priority,
                effective_from: from
                    .as_deref()
                    .map(crate::catalog::input::parse_time)
                    .transpose()?,
                effective_until: until
                    .as_deref()
                    .map(crate::catalog::input::parse_time)
                    .transpose()?,
                applicable_entity_ids: applies_to,
                idempotency_key: key,
            };
            grant.validate()?;
            let payload = serde_json::json!({ "organisation": org, "grant": grant });
            let job = crate::jobs::run::run_operator_job(
                pool,
                config,
                JobKind::CreditGrant,
                payload,
                &org,
                Utc::now(),
                Duration::from_secs(60),
            )
            .await?;
            let result = job.result.unwrap_or_default();
            let id = result["grantId"].as_str().unwrap_or_default().to_string();
            let view = ledger::list(pool, &org, None)
                .await?
                .into_iter()
                .find(|g| g.id == id);
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"outcome": result["outcome"], "grant": view})
                    )?
                );
            } else if result["outcome"] == "existing" {
                println!("key already used: grant {id} (nothing granted again)");
            } else {
                println!("granted {id}");
            }
        }
        CreditCommand::Void { org, grant } => {
            let g = ledger::void(pool, &org, &grant, Utc::now()).await?;
            println!("credit grant {} is {}", g.id, g.status);
        }
        CreditCommand::List { org, account, json } => {
            let grants = ledger::list(pool, &org, account.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&grants)?);
            } else {
                println!(
                    "{:<30} {:<14} {:<9} {:>12} {:>12} {:>4} {:<25} PURPOSE",
                    "GRANT", "ACCOUNT", "STATUS", "AMOUNT", "BALANCE", "PRIO", "UNTIL"
                );
                for g in grants {
                    println!(
                        "{:<30} {:<14} {:<9} {:>12} {:>12} {:>4} {:<25} {}",
                        g.id,
                        g.account_id,
                        g.status,
                        format!("{} {}", g.amount, g.currency),
                        g.balance,
                        g.priority,
                        g.effective_until
                            .map(|t| t.to_rfc3339())
                            .unwrap_or_else(|| "-".into()),
                        g.purpose
                    );
                }
            }
        }
        CreditCommand::Balance { org, account, json } => {
            let b = ledger::balance(pool, &org, &account).await?;
            if json {
                let m: serde_json::Map<String, serde_json::Value> = b
                    .into_iter()
                    .map(|(c, a)| (c, serde_json::Value::String(a.to_string())))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&m)?);
            } else if b.is_empty() {
                println!("no usable credits");
            } else {
                for (c, a) in b {
                    println!("{a} {c}");
                }
            }
        }
        CreditCommand::Ledger { org, account, json } => {
            let entries = ledger::ledger(pool, &org, &account).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
            } else {
                println!(
                    "{:>6} {:<30} {:<9} {:>12} {:<28} AT",
                    "#", "GRANT", "KIND", "AMOUNT", "INVOICE"
                );
                for e in entries {
                    println!(
                        "{:>6} {:<30} {:<9} {:>12} {:<28} {}",
                        e.id,
                        e.grant_id,
                        e.kind,
                        format!("{} {}", e.amount, e.currency),
                        e.invoice_id.as_deref().unwrap_or("-"),
                        e.at.to_rfc3339()
                    );
                }
            }
        }
    }
    Ok(())
}
