//! `billrun account ...`: accounts, their plan periods and aliases
//! (catalog::accounts, catalog::associations, catalog::aliases).

use serde_json::json;
use sqlx::PgPool;

use super::customer::AddressFlags;
use super::flags::{date, instant, json_file, net_term_days};
use super::output::{print_json, print_rows, Align, OrgArgs, OutputArgs, Table};
use crate::catalog::accounts::{self, Account, AccountChanges, AccountDetails, NewAccount};
use crate::catalog::aliases;
use crate::catalog::associations::{self, Attachment};
use crate::catalog::{history, parse_currency, parse_timezone};

/// `billrun account ...`.
// Parsed once per process: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(clap::Subcommand, Debug)]
pub enum AccountCommand {
    /// Create an account for a customer.
    Create {
        #[command(flatten)]
        org: OrgArgs,
        /// Its id.
        id: String,
        /// The customer it belongs to.
        #[arg(long)]
        customer: String,
        /// Its name (default: the id).
        #[arg(long)]
        name: Option<String>,
        /// The currency it invoices in (one of the organisation's enabled currencies).
        #[arg(long)]
        invoice_currency: String,
        /// Its own timezone (default: the organisation's).
        #[arg(long)]
        timezone: Option<String>,
        /// Its own net term days (default: the organisation's).
        #[arg(long, allow_negative_numbers = true)]
        net_term_days: Option<i64>,
        /// Main contact address.
        #[arg(long)]
        primary_email: Option<String>,
        /// Invoice recipients, comma-separated.
        #[arg(long, value_delimiter = ',')]
        billing_emails: Vec<String>,
        /// Copy recipients, comma-separated.
        #[arg(long, value_delimiter = ',')]
        additional_emails: Vec<String>,
        #[command(flatten)]
        address: AddressFlags,
    },
    /// Put an account on an ACTIVE plan version from a local date (closing its
    /// open-ended period, if any, on that date).
    AttachPlan {
        #[command(flatten)]
        org: OrgArgs,
        /// The account.
        account: String,
        /// The plan (its name).
        #[arg(long)]
        plan: String,
        /// The version (default: the latest ACTIVE one).
        #[arg(long)]
        version: Option<u32>,
        /// First local date (account's timezone) billed on it: YYYY-MM-DD.
        #[arg(long, value_name = "DATE")]
        from: String,
        /// First local date no longer billed on it (default: open-ended).
        #[arg(long, value_name = "DATE")]
        until: Option<String>,
        /// The account's overrides of the plan: a JSON file
        /// `{"pricingCycleConfig": {...}, "rateCards": [{"name": ..., "rateValues": [...]}]}`.
        #[arg(long, value_name = "FILE")]
        overrides: Option<std::path::PathBuf>,
        /// A free trial of N days from `--from`: those days are not billed; billing
        /// starts the day after, prorated (README "Trial periods").
        #[arg(long, value_name = "N")]
        trial_period_days: Option<u32>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Route usage sent with an alias to this account from an instant (moving the
    /// alias if it routes to another account).
    AddAlias {
        #[command(flatten)]
        org: OrgArgs,
        /// The account.
        account: String,
        /// The alias.
        alias: String,
        /// From when: RFC 3339, or YYYY-MM-DD for midnight UTC (default now).
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
    },
    /// One account: settings, aliases and plan periods.
    Show {
        #[command(flatten)]
        org: OrgArgs,
        /// The account.
        account: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Change an account: each flag given replaces the stored value (the address
    /// flags the address whole). The invoice currency and the timezone change only
    /// while the account has no invoices, plan periods or credit grants.
    Update {
        #[command(flatten)]
        org: OrgArgs,
        /// The account.
        account: String,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// A new invoice currency (one of the organisation's enabled currencies).
        #[arg(long)]
        invoice_currency: Option<String>,
        /// Its own timezone.
        #[arg(long)]
        timezone: Option<String>,
        /// Its own net term days, for invoices finalized from now on.
        #[arg(long, allow_negative_numbers = true)]
        net_term_days: Option<i64>,
        /// A new main contact address.
        #[arg(long)]
        primary_email: Option<String>,
        /// New invoice recipients, comma-separated.
        #[arg(long, value_delimiter = ',')]
        billing_emails: Option<Vec<String>>,
        /// New copy recipients, comma-separated.
        #[arg(long, value_delimiter = ',')]
        additional_emails: Option<Vec<String>>,
        #[command(flatten)]
        address: AddressFlags,
    },
    /// Delete an account with no billing history (refused when it has invoices, plan
    /// periods, credit grants, usage, license updates or plan-migration entries).
    Delete {
        #[command(flatten)]
        org: OrgArgs,
        /// The account.
        account: String,
    },
    /// The organisation's accounts.
    List {
        #[command(flatten)]
        org: OrgArgs,
        /// Only this customer's.
        #[arg(long)]
        customer: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Which invoice template the account's invoices use: a template, `builtin`, or
    /// `--default` for the organisation's default.
    SetTemplate(crate::cli::documents::SetTemplateArgs),
}

/// Runs `billrun account ...`.
pub async fn run(pool: &PgPool, cmd: AccountCommand) -> anyhow::Result<()> {
    match cmd {
        AccountCommand::Create {
            org,
            id,
            customer,
            name,
            invoice_currency,
            timezone,
            net_term_days: days,
            primary_email,
            billing_emails,
            additional_emails,
            address,
        } => {
            let new = NewAccount {
                name: name.unwrap_or_else(|| id.clone()),
                id,
                customer_id: customer,
                invoice_currency: parse_currency("invoiceCurrency", &invoice_currency)?,
                timezone: timezone
                    .as_deref()
                    .map(|tz| parse_timezone("timezone", tz))
                    .transpose()?,
                net_term_days: net_term_days(days)?,
                primary_email,
                billing_emails,
                additional_emails,
                address: address.into_address(),
            };
            let a = accounts::create(pool, &org.id(), &new).await?;
            println!(
                "account {} created in {} (customer {}, invoices in {})",
                a.id, org.org, a.customer_id, a.invoice_currency
            );
        }
        AccountCommand::AttachPlan {
            org,
            account,
            plan,
            version,
            from,
            until,
            overrides,
            trial_period_days,
            output,
        } => {
            let overrides = overrides
                .map(|file| json_file("overrides file", &file))
                .transpose()?;
            let attachment = Attachment {
                account_id: account,
                plan_id: plan,
                version,
                effective_from: date("effectiveFrom", &from)?,
                effective_until: until
                    .as_deref()
                    .map(|u| date("effectiveUntil", u))
                    .transpose()?,
                overrides,
                trial_period_days,
            };
            let done = associations::attach(pool, &org.id(), &attachment).await?;
            if output.json {
                return print_json(&done);
            }
            if let Some(c) = &done.closed {
                println!(
                    "closed {} v{} for {} on {}",
                    c.plan_id,
                    c.plan_version,
                    c.account_id,
                    c.effective_from.max(attachment.effective_from)
                );
            }
            let a = &done.association;
            println!(
                "account {} on {} v{} from {}{}",
                a.account_id,
                a.plan_id,
                a.plan_version,
                a.effective_from,
                a.effective_until
                    .map(|u| format!(" until {u}"))
                    .unwrap_or_default()
            );
            if let Some(days) = a.trial_period_days {
                let billed_from = a.effective_from + chrono::Days::new(u64::from(days));
                println!("free trial of {days} days: billed from {billed_from}");
            }
        }
        AccountCommand::AddAlias {
            org,
            account,
            alias,
            from,
        } => {
            let from = instant("effectiveFrom", from.as_deref(), chrono::Utc::now())?;
            let done = aliases::assign(pool, &org.id(), &alias, &account, from).await?;
            if done.unchanged {
                println!(
                    "alias {alias} already routes to {account} since {}",
                    done.range.effective_from.to_rfc3339()
                );
            } else {
                if let Some(c) = &done.closed {
                    println!(
                        "alias {alias} no longer routes to {} from {}",
                        c.account_id,
                        from.to_rfc3339()
                    );
                }
                println!(
                    "alias {alias} routes to {account} from {}",
                    from.to_rfc3339()
                );
            }
        }
        AccountCommand::Show {
            org,
            account,
            output,
        } => {
            let d = accounts::details(pool, &org.id(), &account).await?;
            if output.json {
                let mut v = serde_json::to_value(&d.account)?;
                v["effectiveTimezone"] = json!(d.effective_timezone.name());
                v["effectiveNetTermDays"] = json!(d.effective_net_term_days);
                v["aliases"] = serde_json::to_value(&d.aliases)?;
                v["planAssociations"] = serde_json::to_value(&d.plan_associations)?;
                return print_json(&v);
            }
            print_account(&d);
        }
        AccountCommand::Update {
            org,
            account,
            name,
            invoice_currency,
            timezone,
            net_term_days: days,
            primary_email,
            billing_emails,
            additional_emails,
            address,
        } => {
            let changes = AccountChanges {
                name,
                primary_email,
                billing_emails,
                additional_emails,
                address: address.into_address(),
                net_term_days: net_term_days(days)?,
                invoice_currency: invoice_currency
                    .as_deref()
                    .map(|c| parse_currency("invoiceCurrency", c))
                    .transpose()?,
                timezone: timezone
                    .as_deref()
                    .map(|tz| parse_timezone("timezone", tz))
                    .transpose()?,
            };
            let a = accounts::update(pool, &org.id(), &account, &changes).await?;
            println!(
                "account {} updated in {} (invoices in {})",
                a.id, org.org, a.invoice_currency
            );
        }
        AccountCommand::Delete { org, account } => {
            history::delete_account(pool, &org.id(), &account).await?;
            println!("account {account} deleted from {}", org.org);
        }
        AccountCommand::List {
            org,
            customer,
            output,
        } => {
            let list = accounts::list(pool, &org.id(), customer.as_deref()).await?;
            print_rows(output, &list, account_table)?;
        }
        AccountCommand::SetTemplate(args) => {
            crate::cli::documents::run_set_template(pool, args).await?
        }
    }
    Ok(())
}

/// `account show`: the settings a line, then the aliases and the plan periods.
fn print_account(d: &AccountDetails) {
    let a = &d.account;
    println!("id:                {}", a.id);
    println!("name:              {}", a.name);
    println!("customer:          {}", a.customer_id);
    println!("status:            {:?}", a.status);
    println!("invoice currency:  {}", a.invoice_currency);
    println!(
        "timezone:          {}{}",
        d.effective_timezone.name(),
        if a.timezone.is_none() {
            " (organisation's)"
        } else {
            ""
        }
    );
    println!(
        "net term days:     {}{}",
        d.effective_net_term_days,
        if a.net_term_days.is_none() {
            " (organisation's)"
        } else {
            ""
        }
    );
    println!("billing emails:    {}", a.billing_emails.join(", "));
    println!("additional emails: {}", a.additional_emails.join(", "));
    println!("aliases:");
    for r in &d.aliases {
        println!(
            "  {:<24} from {} until {}",
            r.alias,
            r.effective_from.to_rfc3339(),
            r.effective_until
                .map_or("-".to_string(), |u| u.to_rfc3339())
        );
    }
    println!("plans:");
    for p in &d.plan_associations {
        println!(
            "  {} v{} from {} until {}{}",
            p.plan_id,
            p.plan_version,
            p.effective_from,
            p.effective_until.map_or("-".to_string(), |u| u.to_string()),
            p.overrides
                .as_ref()
                .map(|o| format!(" overrides {o}"))
                .unwrap_or_default()
        );
        if let Some(days) = p.trial_period_days {
            println!("    free trial of {days} days");
        }
    }
}

/// `account list`: an account a line.
///
/// The currency's cells are not padded: the table this replaces formatted a
/// `Currency`, whose `Display` ignores widths, and the output is kept byte-identical.
fn account_table(list: &[Account]) -> Table {
    let mut t = Table::new(&[
        ("ID", 24, Align::Left),
        ("CUSTOMER", 24, Align::Left),
        ("NAME", 30, Align::Left),
        ("CURRENCY", 0, Align::Left),
        ("TIMEZONE", 0, Align::Left),
    ]);
    for a in list {
        t.row(vec![
            a.id.clone(),
            a.customer_id.clone(),
            a.name.clone(),
            a.invoice_currency.to_string(),
            a.timezone
                .map_or("(organisation's)", |tz| tz.name())
                .to_string(),
        ]);
    }
    t
}
