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
use chrono::{DateTime, NaiveDate, Utc};
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

mod account;
mod customer;
mod events;
mod license;
mod meter;
mod org;
mod plan;

pub use account::{run_account, AccountCommand};
pub use customer::{run_customer, AddressFlags, CustomerCommand};
pub use events::{run_usage, UsageCommand};
pub use license::{run_license, LicenseCommand};
pub use meter::{run_meter, MeterCommand};
pub use org::{run_org, OrgCommand, OrgFlags};
pub use plan::{run_plan, PlanCommand};

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

/// An instant in the catalog's lenient forms ([`super::input::parse_instant`]:
/// RFC 3339, `YYYY-MM-DDTHH:MM:SS` UTC, `YYYY-MM-DD` midnight UTC); now if absent
/// (the command line is where the wall clock is read).
fn instant(field: &str, s: Option<&str>) -> Result<DateTime<Utc>, FieldError> {
    match s {
        None => Ok(Utc::now()),
        Some(s) => super::input::instant_field(field, s.trim(), super::input::TimeForms::Lenient),
    }
}

fn print_json(v: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn or_dash(s: Option<&str>) -> &str {
    s.unwrap_or("-")
}
