//! The catalog's command line: `billrun org|customer|account|plan|meter|usage|license`.
//!
//! Flags use Togai's vocabulary (`--timezone`, `--base-currency`, `--currencies
//! USD,EUR`, `--net-term-days`, `--invoice-currency`...). Every value is parsed into
//! the catalog's types before anything is written, and refusals name the field.
//! Every listing has `--json`, which prints camelCase JSON for scripts.

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{bail, Context};
use billrun_core::numbering::NumberFormat;
use billrun_core::FieldError;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::PgPool;

use super::accounts::{self, NewAccount};
use super::aliases;
use super::associations::{self, Attachment};
use super::customers::{self, Address, NewCustomer};
use super::licenses::{self, LicenseUpdate, Recorded, UpdateType};
use super::meters::{self, Aggregation, EventSchema, UsageMeter};
use super::orgs::{self, OrgChanges, OrgSettings};
use super::plans::{self, PlanVersion};
use super::usage;
use super::{parse_currency, parse_timezone};

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

/// `billrun customer ...`.
// Parsed once per process: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(clap::Subcommand, Debug)]
pub enum CustomerCommand {
    /// Create a customer.
    Create {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// Its id.
        id: String,
        /// Its name.
        #[arg(long)]
        name: String,
        /// Its main contact address.
        #[arg(long)]
        primary_email: Option<String>,
        #[command(flatten)]
        address: AddressFlags,
    },
    /// The organisation's customers.
    List {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// A postal address on the command line.
#[derive(clap::Args, Debug)]
pub struct AddressFlags {
    /// Address line 1.
    #[arg(long)]
    line1: Option<String>,
    /// Address line 2.
    #[arg(long)]
    line2: Option<String>,
    /// Postal code.
    #[arg(long)]
    postal_code: Option<String>,
    /// City.
    #[arg(long)]
    city: Option<String>,
    /// State or region.
    #[arg(long)]
    state: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    #[arg(long)]
    country: Option<String>,
}

impl AddressFlags {
    fn into_address(self) -> Option<Address> {
        let a = Address {
            line1: self.line1,
            line2: self.line2,
            postal_code: self.postal_code,
            city: self.city,
            state: self.state,
            country: self.country,
        };
        (!a.is_empty()).then_some(a)
    }
}

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
    SetTemplate(crate::documents::commands::SetTemplateArgs),
}

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

/// `billrun meter ...`: event schemas and usage meters.
#[derive(clap::Subcommand, Debug)]
pub enum MeterCommand {
    /// Create an event schema.
    CreateSchema {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// Its name (events carry it as schemaName).
        name: String,
        /// Numeric attributes, comma-separated.
        #[arg(long, value_delimiter = ',')]
        attributes: Vec<String>,
        /// String dimensions, comma-separated.
        #[arg(long, value_delimiter = ',')]
        dimensions: Vec<String>,
    },
    /// Create a usage meter over an event schema.
    Create {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// Its id (what usage rate cards name as usageMeterId).
        id: String,
        /// Display name (default: the id).
        #[arg(long)]
        name: Option<String>,
        /// The event schema it aggregates.
        #[arg(long)]
        schema: String,
        /// COUNT or SUM.
        #[arg(long)]
        aggregation: String,
        /// The attribute summed (SUM only).
        #[arg(long)]
        attribute: Option<String>,
        /// Count only events with this dimension value: DIMENSION=VALUE (repeatable).
        #[arg(long = "filter", value_name = "DIMENSION=VALUE")]
        filters: Vec<String>,
    },
    /// The organisation's event schemas and usage meters.
    List {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
}

/// `billrun usage ...`.
#[derive(clap::Subcommand, Debug)]
pub enum UsageCommand {
    /// Ingest Togai events from a JSON-lines file (one event per line; `-` reads
    /// stdin). Reports every rejected line and exits non-zero if any was rejected.
    Ingest {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// The file.
        file: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Usage that arrived after its cycle's invoice was finalized (kept, not billed).
    Late {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// At most this many, newest first.
        #[arg(long, default_value_t = 200)]
        limit: i64,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// `billrun license ...`.
#[derive(clap::Subcommand, Debug)]
pub enum LicenseCommand {
    /// Record a license quantity update (idempotent per --key).
    Update {
        /// Organisation.
        #[arg(long)]
        org: String,
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

// ---------------------------------------------------------------------------------
// Parsing flags.

fn net_term_days(days: Option<i64>) -> Result<Option<u32>, FieldError> {
    days.map(|d| {
        u32::try_from(d).map_err(|_| {
            FieldError::new(
                "netTermDays",
                format!("{d} is not a number of days: expected 0 or more"),
            )
        })
    })
    .transpose()
}

fn number_format(f: &str) -> Result<NumberFormat, FieldError> {
    NumberFormat::parse(f)
}

fn currencies(field: &str, codes: &[String]) -> Result<Vec<billrun_core::Currency>, FieldError> {
    codes
        .iter()
        .enumerate()
        .map(|(i, c)| parse_currency(&format!("{field}[{i}]"), c.trim()))
        .collect()
}

/// A local date `YYYY-MM-DD`.
fn date(field: &str, s: &str) -> Result<NaiveDate, FieldError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| FieldError::new(field, format!("{s:?} is not a date: expected YYYY-MM-DD")))
}

/// An instant: RFC 3339, `YYYY-MM-DDTHH:MM:SS` (UTC) or `YYYY-MM-DD` (midnight UTC);
/// now if absent (the command line is where the wall clock is read).
fn instant(field: &str, s: Option<&str>) -> Result<DateTime<Utc>, FieldError> {
    let Some(s) = s else {
        return Ok(Utc::now());
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.to_utc());
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S") {
        return Ok(t.and_utc());
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    Err(FieldError::new(
        field,
        format!("{s:?} is not a time: expected RFC 3339 such as 2026-02-01T00:00:00Z, or a date"),
    ))
}

fn print_json(v: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn or_dash(s: Option<&str>) -> &str {
    s.unwrap_or("-")
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

// ---------------------------------------------------------------------------------
// Customers.

/// Runs `billrun customer ...`.
pub async fn run_customer(pool: &PgPool, cmd: CustomerCommand) -> anyhow::Result<()> {
    match cmd {
        CustomerCommand::Create {
            org,
            id,
            name,
            primary_email,
            address,
        } => {
            let c = customers::create(
                pool,
                &org,
                &NewCustomer {
                    id,
                    name,
                    primary_email,
                    address: address.into_address(),
                },
            )
            .await?;
            println!("customer {} created in {org}", c.id);
        }
        CustomerCommand::List { org, json } => {
            let list = customers::list(pool, &org).await?;
            if json {
                print_json(&list)?;
            } else {
                println!("{:<24} {:<30} EMAIL", "ID", "NAME");
                for c in list {
                    println!(
                        "{:<24} {:<30} {}",
                        c.id,
                        c.name,
                        or_dash(c.primary_email.as_deref())
                    );
                }
            }
        }
    }
    Ok(())
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
            crate::documents::commands::run_set_template(pool, args).await?
        }
    }
    Ok(())
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

// ---------------------------------------------------------------------------------
// Meters.

/// Runs `billrun meter ...`.
pub async fn run_meter(pool: &PgPool, cmd: MeterCommand) -> anyhow::Result<()> {
    match cmd {
        MeterCommand::CreateSchema {
            org,
            name,
            attributes,
            dimensions,
        } => {
            let trim = |v: Vec<String>| -> Vec<String> {
                v.into_iter().map(|s| s.trim().to_string()).collect()
            };
            let s = meters::create_schema(
                pool,
                &org,
                &EventSchema {
                    name,
                    attributes: trim(attributes),
                    dimensions: trim(dimensions),
                },
            )
            .await?;
            println!("event schema {} created in {org}", s.name);
        }
        MeterCommand::Create {
            org,
            id,
            name,
            schema,
            aggregation,
            attribute,
            filters,
        } => {
            let mut parsed = BTreeMap::new();
            for f in &filters {
                let Some((dimension, value)) = f.split_once('=') else {
                    return Err(FieldError::new(
                        "filters",
                        format!("{f:?}: expected DIMENSION=VALUE"),
                    )
                    .into());
                };
                parsed.insert(dimension.trim().to_string(), value.to_string());
            }
            let m = meters::create_meter(
                pool,
                &org,
                &UsageMeter {
                    name: name.unwrap_or_else(|| id.clone()),
                    id,
                    event_schema_name: schema,
                    aggregation: Aggregation::parse("aggregation", &aggregation)?,
                    attribute,
                    filters: parsed,
                },
            )
            .await?;
            println!("usage meter {} created in {org}", m.id);
        }
        MeterCommand::List { org, json } => {
            let schemas = meters::schemas(pool, &org).await?;
            let list = meters::meters(pool, &org).await?;
            if json {
                return print_json(&json!({"eventSchemas": schemas, "usageMeters": list}));
            }
            println!("{:<24} {:<30} DIMENSIONS", "EVENT SCHEMA", "ATTRIBUTES");
            for s in schemas {
                println!(
                    "{:<24} {:<30} {}",
                    s.name,
                    s.attributes.join(","),
                    s.dimensions.join(",")
                );
            }
            println!();
            println!(
                "{:<24} {:<24} {:<6} {:<16} FILTERS",
                "USAGE METER", "SCHEMA", "AGG", "ATTRIBUTE"
            );
            for m in list {
                let filters: Vec<_> = m.filters.iter().map(|(k, v)| format!("{k}={v}")).collect();
                println!(
                    "{:<24} {:<24} {:<6} {:<16} {}",
                    m.id,
                    m.event_schema_name,
                    m.aggregation.as_str(),
                    or_dash(m.attribute.as_deref()),
                    filters.join(",")
                );
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// Usage.

/// Runs `billrun usage ...`. Fails (non-zero exit) if any line was rejected, after
/// ingesting the good ones and reporting every bad one.
pub async fn run_usage(pool: &PgPool, cmd: UsageCommand) -> anyhow::Result<()> {
    let (org, file, json) = match cmd {
        UsageCommand::Ingest { org, file, json } => (org, file, json),
        UsageCommand::Late { org, limit, json } => {
            let late = crate::bill_run::usage::late_events(pool, &org, limit).await?;
            if json {
                print_json(&late)?;
            } else {
                println!(
                    "{:<24} {:<16} {:<25} {:<25}",
                    "EVENT", "ACCOUNT", "TIMESTAMP", "INGESTED AT"
                );
                for e in &late {
                    println!(
                        "{:<24} {:<16} {:<25} {:<25}",
                        e.id,
                        e.account_id,
                        e.ts.to_rfc3339(),
                        e.ingested_at.to_rfc3339()
                    );
                }
            }
            return Ok(());
        }
    };
    let report = if file.as_os_str() == "-" {
        usage::ingest_json_lines(pool, &org, std::io::stdin().lock()).await?
    } else {
        let f = std::fs::File::open(&file)
            .with_context(|| format!("opening usage file {}", file.display()))?;
        usage::ingest_json_lines(pool, &org, BufReader::new(f)).await?
    };
    if json {
        print_json(&report)?;
    } else {
        println!(
            "read {}, inserted {}, duplicates {}, rejected {}, late {}, drafts to recompute {}",
            report.read,
            report.ingest.inserted,
            report.ingest.duplicates,
            report.rejected,
            report.ingest.late,
            report.ingest.drafts_made_stale
        );
    }
    for r in &report.rejected_lines {
        eprintln!("line {}: {}", r.line, r.reason);
    }
    if report.rejected > 0 {
        bail!(
            "{} of {} lines rejected (the others were ingested)",
            report.rejected,
            report.read
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// Licenses.

/// Runs `billrun license ...`.
pub async fn run_license(pool: &PgPool, cmd: LicenseCommand) -> anyhow::Result<()> {
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
        effective_from: instant("effectiveFrom", from.as_deref())?,
    };
    match licenses::record(pool, &org, &update).await? {
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
