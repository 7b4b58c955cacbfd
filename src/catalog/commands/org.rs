//! `billrun org ...`: organisations and their settings.

use super::*;

/// `billrun org ...`: organisations and their settings.
#[derive(clap::Subcommand, Debug)]
pub enum OrgCommand {
    /// Create an organisation.
    Create {
        /// Its id.
        id: String,
        /// Display name (default: the id).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        settings: OrgFlags,
    },
    /// Change an organisation's settings (only the flags given).
    Configure {
        /// Its id.
        id: String,
        /// New display name.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        settings: OrgFlags,
        /// Remove the billing email.
        #[arg(long, conflicts_with = "billing_email")]
        no_billing_email: bool,
    },
    /// One organisation's settings.
    Show {
        /// Its id.
        id: String,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Every organisation.
    List {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// An organisation's settings on the command line.
#[derive(clap::Args, Debug)]
pub struct OrgFlags {
    /// IANA timezone billing dates are computed in (default UTC).
    #[arg(long)]
    timezone: Option<String>,
    /// ISO 4217 base currency (required at creation).
    #[arg(long)]
    base_currency: Option<String>,
    /// Enabled currencies, comma-separated (the base currency is always included).
    #[arg(long, value_delimiter = ',')]
    currencies: Option<Vec<String>>,
    /// Days from invoice date to due date (default 30).
    #[arg(long, allow_negative_numbers = true)]
    net_term_days: Option<i64>,
    /// Invoice number format, e.g. 'INV-{YYYY}-{SEQ:6}' (the default).
    #[arg(long)]
    invoice_number_format: Option<String>,
    /// HALF_AWAY_FROM_ZERO (default), HALF_EVEN, UP or DOWN.
    #[arg(long)]
    rounding_mode: Option<String>,
    /// Where the organisation's own billing notices go.
    #[arg(long)]
    billing_email: Option<String>,
}

// ---------------------------------------------------------------------------------
// Organisations.

/// Runs `billrun org ...`.
pub async fn run_org(pool: &PgPool, cmd: OrgCommand) -> anyhow::Result<()> {
    match cmd {
        OrgCommand::Create { id, name, settings } => {
            let base = settings
                .base_currency
                .as_deref()
                .ok_or_else(|| FieldError::new("baseCurrency", "is required (--base-currency)"))?;
            let mut s = OrgSettings::new(parse_currency("baseCurrency", base)?);
            if let Some(tz) = &settings.timezone {
                s.timezone = parse_timezone("timezone", tz)?;
            }
            if let Some(c) = &settings.currencies {
                s.enabled_currencies = currencies("enabledCurrencies", c)?;
            }
            if let Some(d) = net_term_days(settings.net_term_days)? {
                s.net_term_days = d;
            }
            if let Some(f) = &settings.invoice_number_format {
                s.invoice_number_format = number_format(f)?;
            }
            if let Some(m) = &settings.rounding_mode {
                s.rounding_mode = orgs::parse_rounding_mode("roundingMode", m)?;
            }
            s.billing_email = settings.billing_email;
            let org = orgs::create(pool, &id, name.as_deref().unwrap_or(&id), &s).await?;
            println!("organisation {} created", org.id);
            print_org(&org);
        }
        OrgCommand::Configure {
            id,
            name,
            settings,
            no_billing_email,
        } => {
            let changes = OrgChanges {
                name,
                timezone: settings
                    .timezone
                    .as_deref()
                    .map(|tz| parse_timezone("timezone", tz))
                    .transpose()?,
                base_currency: settings
                    .base_currency
                    .as_deref()
                    .map(|c| parse_currency("baseCurrency", c))
                    .transpose()?,
                enabled_currencies: settings
                    .currencies
                    .as_deref()
                    .map(|c| currencies("enabledCurrencies", c))
                    .transpose()?,
                net_term_days: net_term_days(settings.net_term_days)?,
                invoice_number_format: settings
                    .invoice_number_format
                    .as_deref()
                    .map(number_format)
                    .transpose()?,
                rounding_mode: settings
                    .rounding_mode
                    .as_deref()
                    .map(|m| orgs::parse_rounding_mode("roundingMode", m))
                    .transpose()?,
                billing_email: if no_billing_email {
                    Some(None)
                } else {
                    settings.billing_email.map(Some)
                },
            };
            let org = orgs::configure(pool, &id, &changes).await?;
            println!("organisation {} configured", org.id);
            print_org(&org);
        }
        OrgCommand::Show { id, json } => {
            let org = orgs::get(pool, &id).await?;
            if json {
                print_json(&org)?;
            } else {
                print_org(&org);
            }
        }
        OrgCommand::List { json } => {
            let list = orgs::list(pool).await?;
            if json {
                print_json(&list)?;
            } else {
                println!(
                    "{:<20} {:<24} {:<20} {:<5} {:<16} {:>4}",
                    "ID", "NAME", "TIMEZONE", "BASE", "CURRENCIES", "NET"
                );
                for o in list {
                    let enabled: Vec<_> = o.enabled_currencies.iter().map(|c| c.code()).collect();
                    println!(
                        "{:<20} {:<24} {:<20} {:<5} {:<16} {:>4}",
                        o.id,
                        o.name,
                        o.timezone.name(),
                        o.base_currency,
                        enabled.join(","),
                        o.net_term_days
                    );
                }
            }
        }
    }
    Ok(())
}

fn print_org(o: &orgs::Organisation) {
    let enabled: Vec<_> = o.enabled_currencies.iter().map(|c| c.code()).collect();
    println!("id:                    {}", o.id);
    println!("name:                  {}", o.name);
    println!("timezone:              {}", o.timezone.name());
    println!("base currency:         {}", o.base_currency);
    println!("enabled currencies:    {}", enabled.join(", "));
    println!("net term days:         {}", o.net_term_days);
    println!("invoice number format: {}", o.invoice_number_format);
    println!(
        "rounding mode:         {}",
        serde_json::to_value(o.rounding_mode)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    );
    println!(
        "billing email:         {}",
        or_dash(o.billing_email.as_deref())
    );
}
