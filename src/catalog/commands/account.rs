//! `billrun account ...`: accounts, their plan periods and aliases.

use super::*;

/// `billrun account ...`.
// Parsed once per process: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(clap::Subcommand, Debug)]
pub enum AccountCommand {
    /// Create an account for a customer.
    Create {
        /// Organisation.
        #[arg(long)]
        org: String,
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
        /// Organisation.
        #[arg(long)]
        org: String,
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
        /// Print the association as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Route usage sent with an alias to this account from an instant (moving the
    /// alias if it routes to another account).
    AddAlias {
        /// Organisation.
        #[arg(long)]
        org: String,
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
        /// Organisation.
        #[arg(long)]
        org: String,
        /// The account.
        account: String,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The organisation's accounts.
    List {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// Only this customer's.
        #[arg(long)]
        customer: Option<String>,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Which invoice template the account's invoices use: a template, `builtin`, or
    /// `--default` for the organisation's default.
    SetTemplate(crate::cli::documents::SetTemplateArgs),
}

// ---------------------------------------------------------------------------------
// Accounts.

/// Runs `billrun account ...`.
pub async fn run_account(pool: &PgPool, cmd: AccountCommand) -> anyhow::Result<()> {
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
            let a = accounts::create(pool, &org, &new).await?;
            println!(
                "account {} created in {org} (customer {}, invoices in {})",
                a.id, a.customer_id, a.invoice_currency
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
            json,
        } => {
            let overrides = match overrides {
                None => None,
                Some(file) => {
                    let text = std::fs::read_to_string(&file)
                        .with_context(|| format!("reading overrides file {}", file.display()))?;
                    Some(serde_json::from_str::<Value>(&text).with_context(|| {
                        format!("overrides file {} is not JSON", file.display())
                    })?)
                }
            };
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
            let done = associations::attach(pool, &org, &attachment).await?;
            if json {
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
            let from = instant("effectiveFrom", from.as_deref())?;
            let done = aliases::assign(pool, &org, &alias, &account, from).await?;
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
        AccountCommand::Show { org, account, json } => {
            let o = orgs::get(pool, &org).await?;
            let a = accounts::get(pool, &org, &account).await?;
            let alias_ranges = aliases::for_account(pool, &org, &account).await?;
            let periods = associations::for_account(pool, &org, &account).await?;
            if json {
                let mut v = serde_json::to_value(&a)?;
                v["effectiveTimezone"] = json!(a.effective_timezone(&o).name());
                v["effectiveNetTermDays"] = json!(a.effective_net_term_days(&o));
                v["aliases"] = serde_json::to_value(&alias_ranges)?;
                v["planAssociations"] = serde_json::to_value(&periods)?;
                return print_json(&v);
            }
            println!("id:                {}", a.id);
            println!("name:              {}", a.name);
            println!("customer:          {}", a.customer_id);
            println!("status:            {:?}", a.status);
            println!("invoice currency:  {}", a.invoice_currency);
            println!(
                "timezone:          {}{}",
                a.effective_timezone(&o).name(),
                if a.timezone.is_none() {
                    " (organisation's)"
                } else {
                    ""
                }
            );
            println!(
                "net term days:     {}{}",
                a.effective_net_term_days(&o),
                if a.net_term_days.is_none() {
                    " (organisation's)"
                } else {
                    ""
                }
            );
            println!("billing emails:    {}", a.billing_emails.join(", "));
            println!("additional emails: {}", a.additional_emails.join(", "));
            println!("aliases:");
            for r in alias_ranges {
                println!(
                    "  {:<24} from {} until {}",
                    r.alias,
                    r.effective_from.to_rfc3339(),
                    r.effective_until
                        .map_or("-".to_string(), |u| u.to_rfc3339())
                );
            }
            println!("plans:");
            for p in periods {
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
        AccountCommand::List {
            org,
            customer,
            json,
        } => {
            let list = accounts::list(pool, &org, customer.as_deref()).await?;
            if json {
                print_json(&list)?;
            } else {
                println!(
                    "{:<24} {:<24} {:<30} {:<8} TIMEZONE",
                    "ID", "CUSTOMER", "NAME", "CURRENCY"
                );
                for a in list {
                    println!(
                        "{:<24} {:<24} {:<30} {:<8} {}",
                        a.id,
                        a.customer_id,
                        a.name,
                        a.invoice_currency,
                        a.timezone.map_or("(organisation's)", |tz| tz.name())
                    );
                }
            }
        }
        AccountCommand::SetTemplate(args) => {
            crate::cli::documents::run_set_template(pool, args).await?
        }
    }
    Ok(())
}
