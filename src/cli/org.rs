//! `billrun org ...`: organisations and their settings (catalog::orgs).

use billrun_core::numbering::NumberFormat;
use billrun_core::FieldError;
use sqlx::PgPool;

use super::flags::{currencies, net_term_days};
use super::output::{or_dash, print_json, print_rows, Align, OutputArgs, Table};
use crate::catalog::orgs::{self, OrgChanges, OrgSettings, Organisation};
use crate::catalog::{parse_currency, parse_timezone};
use crate::store::OrgId;

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
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Every organisation.
    List {
        #[command(flatten)]
        output: OutputArgs,
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

impl OrgFlags {
    /// The settings of a new organisation: the flags given, the defaults for the
    /// others; `--base-currency` is required.
    fn into_settings(self) -> Result<OrgSettings, FieldError> {
        let base = self
            .base_currency
            .as_deref()
            .ok_or_else(|| FieldError::new("baseCurrency", "is required (--base-currency)"))?;
        let mut s = OrgSettings::new(parse_currency("baseCurrency", base)?);
        if let Some(tz) = &self.timezone {
            s.timezone = parse_timezone("timezone", tz)?;
        }
        if let Some(c) = &self.currencies {
            s.enabled_currencies = currencies("enabledCurrencies", c)?;
        }
        if let Some(d) = net_term_days(self.net_term_days)? {
            s.net_term_days = d;
        }
        if let Some(f) = &self.invoice_number_format {
            s.invoice_number_format = NumberFormat::parse(f)?;
        }
        if let Some(m) = &self.rounding_mode {
            s.rounding_mode = orgs::parse_rounding_mode("roundingMode", m)?;
        }
        s.billing_email = self.billing_email;
        Ok(s)
    }

    /// The changes the flags ask for (`None`: unchanged); `no_billing_email` removes
    /// the billing email.
    fn into_changes(
        self,
        name: Option<String>,
        no_billing_email: bool,
    ) -> Result<OrgChanges, FieldError> {
        Ok(OrgChanges {
            name,
            timezone: self
                .timezone
                .as_deref()
                .map(|tz| parse_timezone("timezone", tz))
                .transpose()?,
            base_currency: self
                .base_currency
                .as_deref()
                .map(|c| parse_currency("baseCurrency", c))
                .transpose()?,
            enabled_currencies: self
                .currencies
                .as_deref()
                .map(|c| currencies("enabledCurrencies", c))
                .transpose()?,
            net_term_days: net_term_days(self.net_term_days)?,
            invoice_number_format: self
                .invoice_number_format
                .as_deref()
                .map(NumberFormat::parse)
                .transpose()?,
            rounding_mode: self
                .rounding_mode
                .as_deref()
                .map(|m| orgs::parse_rounding_mode("roundingMode", m))
                .transpose()?,
            billing_email: if no_billing_email {
                Some(None)
            } else {
                self.billing_email.map(Some)
            },
            // `billrun credit-note configure` sets these.
            credit_note_number_format: None,
            void_issues_credit_note: None,
        })
    }
}

/// Runs `billrun org ...`.
pub async fn run(pool: &PgPool, cmd: OrgCommand) -> anyhow::Result<()> {
    match cmd {
        OrgCommand::Create { id, name, settings } => {
            let settings = settings.into_settings()?;
            let name = name.unwrap_or_else(|| id.clone());
            let org = orgs::create(pool, &OrgId::from(id), &name, &settings).await?;
            println!("organisation {} created", org.id);
            print_org(&org);
        }
        OrgCommand::Configure {
            id,
            name,
            settings,
            no_billing_email,
        } => {
            let changes = settings.into_changes(name, no_billing_email)?;
            let org = orgs::configure(pool, &OrgId::from(id), &changes).await?;
            println!("organisation {} configured", org.id);
            print_org(&org);
        }
        OrgCommand::Show { id, output } => {
            let org = orgs::get(pool, &OrgId::from(id)).await?;
            if output.json {
                print_json(&org)?;
            } else {
                print_org(&org);
            }
        }
        OrgCommand::List { output } => {
            let list = orgs::list(pool).await?;
            print_rows(output, &list, org_table)?;
        }
    }
    Ok(())
}

/// `org list`: an organisation a line.
///
/// The base currency's cells are not padded (the header is): the table this replaces
/// formatted a `Currency`, whose `Display` ignores widths, and the output is kept
/// byte-identical.
fn org_table(list: &[Organisation]) -> Table {
    let mut t = Table::new(&[
        ("ID", 20, Align::Left),
        ("NAME", 24, Align::Left),
        ("TIMEZONE", 20, Align::Left),
        ("BASE ", 0, Align::Left),
        ("CURRENCIES", 16, Align::Left),
        ("NET", 4, Align::Right),
    ]);
    for o in list {
        let enabled: Vec<_> = o.enabled_currencies.iter().map(|c| c.code()).collect();
        t.row(vec![
            o.id.to_string(),
            o.name.clone(),
            o.timezone.name().to_string(),
            o.base_currency.to_string(),
            enabled.join(","),
            o.net_term_days.to_string(),
        ]);
    }
    t
}

/// `org show` and what `org create|configure` print: a setting a line.
fn print_org(o: &Organisation) {
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
