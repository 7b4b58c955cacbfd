//! Flag parsers shared by the catalog's commands (`org`, `customer`, `account`,
//! `meter`, `license`): each turns a flag's text into one of the catalog's types, or
//! a [`FieldError`] naming the field in Togai's vocabulary (`netTermDays`,
//! `enabledCurrencies[1]`, `effectiveFrom`, ...).

use std::path::Path;

use anyhow::Context;
use billrun_core::{Currency, FieldError};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use crate::catalog::input::{instant_field, TimeForms};
use crate::catalog::parse_currency;

/// `--net-term-days N`: a number of days, 0 or more (the flag accepts negative
/// numbers so that this can refuse them by name).
pub fn net_term_days(days: Option<i64>) -> Result<Option<u32>, FieldError> {
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

/// `--currencies USD,EUR`: ISO 4217 codes, each named `field[i]` when refused.
pub fn currencies(field: &str, codes: &[String]) -> Result<Vec<Currency>, FieldError> {
    codes
        .iter()
        .enumerate()
        .map(|(i, c)| parse_currency(&format!("{field}[{i}]"), c.trim()))
        .collect()
}

/// A local date `YYYY-MM-DD` (no timezone: the account's applies).
pub fn date(field: &str, s: &str) -> Result<NaiveDate, FieldError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| FieldError::new(field, format!("{s:?} is not a date: expected YYYY-MM-DD")))
}

/// An instant in the catalog's lenient forms ([`crate::catalog::input::parse_instant`]:
/// RFC 3339, `YYYY-MM-DDTHH:MM:SS` UTC, `YYYY-MM-DD` midnight UTC); `now` if absent
/// (the command line is where the wall clock is read).
pub fn instant(
    field: &str,
    s: Option<&str>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, FieldError> {
    match s {
        None => Ok(now),
        Some(s) => instant_field(field, s.trim(), TimeForms::Lenient),
    }
}

/// A `--at` / `--now` / `--from` TIME ([`crate::catalog::input::parse_time`]: RFC 3339
/// or `YYYY-MM-DD`, midnight UTC), or the current instant when the flag is absent: the
/// one place a command reads the wall clock for "now".
pub fn time_or_now(s: Option<&str>) -> anyhow::Result<DateTime<Utc>> {
    Ok(match s {
        Some(s) => crate::catalog::input::parse_time(s)?,
        None => Utc::now(),
    })
}

/// Reads a JSON file; `what` names it in errors (`reading <what> <path>`,
/// `<what> <path> is not JSON`).
pub fn json_file(what: &str, file: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading {what} {}", file.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{what} {} is not JSON", file.display()))
}
