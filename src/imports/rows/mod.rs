//! One CSV row into a typed row of its kind, or the reason it is bad.
//!
//! Pure: what can be decided from the row alone (and the organisation's schemas and
//! currencies, passed in) is decided here; what needs the stored catalog (does the
//! account exist, does the alias route somewhere at that instant) is the job's.
//!
//! This module owns the row types and the cells' parsing; account rows, the widest,
//! are read in [`account`].

mod account;

use account::account;

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::catalog::customers::Address;
use crate::catalog::licenses::UpdateType;
use crate::catalog::meters::EventSchema;
use crate::catalog::usage::{self, EventField};
use crate::catalog::{check_id, check_key, input};

use super::columns::{Field, Header, ImportKind};
use super::split::Record;

/// Why a row is bad: the column (ours) and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The column at fault, if one is.
    pub column: Option<String>,
    /// What is wrong and what was expected.
    pub reason: String,
}

impl RowError {
    /// An error about `column`.
    pub fn at(column: &str, reason: impl Into<String>) -> RowError {
        RowError {
            column: Some(column.to_string()),
            reason: reason.into(),
        }
    }

    /// An error about the row as a whole.
    pub fn row(reason: impl Into<String>) -> RowError {
        RowError {
            column: None,
            reason: reason.into(),
        }
    }

    /// `line 7, column timestamp: ...` as the errors file and `imports show` print it.
    pub fn describe(&self, line: u64) -> String {
        match &self.column {
            Some(c) => format!("line {line}, column {c}: {}", self.reason),
            None => format!("line {line}: {}", self.reason),
        }
    }
}

/// A usage event as a row gives it; `account_ref` is an account id or an alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    /// Togai's event id: the deduplication key.
    pub event_id: String,
    /// When the usage happened.
    pub timestamp: DateTime<Utc>,
    /// An account id, or an alias resolved at `timestamp`.
    pub account_ref: String,
    /// The event schema.
    pub schema: String,
    /// Numeric attributes (blank cells are absent).
    pub attributes: BTreeMap<String, Decimal>,
    /// Dimensions (blank cells are absent).
    pub dimensions: BTreeMap<String, String>,
}

/// A license update as a row gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseRow {
    /// The license (a license rate card's id).
    pub license_id: String,
    /// An account id, or an alias resolved at `effective_from`.
    pub account_ref: String,
    /// RELATIVE or ABSOLUTE.
    pub update_type: UpdateType,
    /// Added (RELATIVE, may be negative) or set (ABSOLUTE, not negative).
    pub quantity: Decimal,
    /// From when it applies.
    pub effective_from: DateTime<Utc>,
    /// One update per key, ever.
    pub idempotency_key: String,
}

/// The plan an account row attaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRef {
    /// The plan.
    pub plan_id: String,
    /// Its version; `None` is the latest ACTIVE one.
    pub version: Option<u32>,
    /// First local date billed on it.
    pub from: NaiveDate,
}

/// An account (and its customer) as a row gives it. The row is the account's whole
/// record: a blank optional cell clears that field on an existing account.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountRow {
    /// The account.
    pub account_id: String,
    /// Its customer (created if missing).
    pub customer_id: String,
    /// The customer's name; blank keeps an existing customer's name, and names a
    /// new one after its id.
    pub customer_name: Option<String>,
    /// The account's name.
    pub account_name: String,
    /// ISO 4217 code, enabled for the organisation.
    pub invoice_currency: String,
    /// Invoice recipients.
    pub billing_emails: Vec<String>,
    /// Copy recipients.
    pub additional_emails: Vec<String>,
    /// Override of the organisation's net term days.
    pub net_term_days: Option<u32>,
    /// Override of the organisation's timezone (IANA name).
    pub timezone: Option<String>,
    /// Postal address.
    pub address: Address,
    /// Aliases routing usage to the account.
    pub aliases: Vec<String>,
    /// The plan to attach, if any.
    pub plan: Option<PlanRef>,
}

/// What parsing needs besides the row: the organisation's schemas and currencies.
#[derive(Debug, Clone, Default)]
pub struct RowContext {
    /// Event schemas by name.
    pub schemas: HashMap<String, EventSchema>,
    /// The organisation's enabled currencies.
    pub currencies: Vec<String>,
}

/// A row of one of the kinds.
#[derive(Debug, Clone, PartialEq)]
pub enum Row {
    /// An account row.
    Account(Box<AccountRow>),
    /// A usage row.
    Usage(UsageRow),
    /// A license row.
    License(LicenseRow),
}

/// Parses one record of a file with `header`.
pub fn parse(header: &Header, rec: &Record, cx: &RowContext) -> Result<Row, RowError> {
    if rec.fields.len() != header.fields.len() {
        return Err(RowError::row(format!(
            "{} fields, expected {} (as many as the header): a missing or extra comma, or an \
             unclosed quote?",
            rec.fields.len(),
            header.fields.len()
        )));
    }
    let cells = Cells { header, rec };
    match header.kind {
        ImportKind::Usage => usage(&cells, cx).map(Row::Usage),
        ImportKind::Licenses => license(&cells).map(Row::License),
        ImportKind::Accounts => account(&cells, cx).map(|a| Row::Account(Box::new(a))),
    }
}

struct Cells<'a> {
    header: &'a Header,
    rec: &'a Record,
}

impl Cells<'_> {
    fn text_at(&self, i: usize) -> Result<&str, RowError> {
        let bytes = &self.rec.fields[i];
        std::str::from_utf8(bytes).map(str::trim).map_err(|e| {
            RowError::at(
                &self.header.column_name(i),
                format!(
                    "is not UTF-8 text (byte 0x{:02X} at position {}): save the file as UTF-8",
                    bytes[e.valid_up_to()],
                    e.valid_up_to() + 1
                ),
            )
        })
    }

    /// A cell that may be blank (or a column the file lacks).
    fn optional(&self, col: &str) -> Result<Option<&str>, RowError> {
        match self.header.index(col) {
            None => Ok(None),
            Some(i) => self.text_at(i).map(|t| (!t.is_empty()).then_some(t)),
        }
    }

    fn required(&self, col: &str) -> Result<&str, RowError> {
        self.optional(col)?
            .ok_or_else(|| RowError::at(col, "is empty: a value is required"))
    }

    fn id(&self, col: &str) -> Result<String, RowError> {
        let v = self.required(col)?;
        check_id(col, v).map_err(|e| RowError::at(col, e.message))?;
        Ok(v.to_string())
    }
}

/// A time in any of the catalog's lenient forms ([`input::parse_instant`]).
fn instant(col: &str, s: &str) -> Result<DateTime<Utc>, RowError> {
    input::parse_instant(s, input::TimeForms::Lenient).map_err(|e| RowError::at(col, e.describe(s)))
}

fn number(col: &str, s: &str) -> Result<Decimal, RowError> {
    Decimal::from_str(s)
        .or_else(|_| Decimal::from_scientific(s))
        .map_err(|_| {
            RowError::at(
                col,
                format!("{s:?} is not a number: expected e.g. 12 or 12.5"),
            )
        })
}

fn list(s: Option<&str>) -> Vec<String> {
    s.map(|s| {
        s.split(';')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

/// A usage row: its cells, then the catalog's one validation of an event
/// ([`usage::validate_event`]), the same as `billrun usage ingest`'s.
fn usage(c: &Cells, cx: &RowContext) -> Result<UsageRow, RowError> {
    let id = c.required("event_id")?;
    let timestamp = c.required("timestamp")?;
    let account = c.required("account_id")?;
    let schema = c.required("schema")?;
    let mut attributes: Vec<(&str, &str)> = Vec::new();
    let mut dimensions: Vec<(&str, &str)> = Vec::new();
    for (i, f) in c.header.fields.iter().enumerate() {
        match f {
            Field::Attribute(name) => {
                let v = c.text_at(i)?;
                if !v.is_empty() {
                    attributes.push((name, v));
                }
            }
            Field::Dimension(name) => {
                let v = c.text_at(i)?;
                if !v.is_empty() {
                    dimensions.push((name, v));
                }
            }
            Field::Named(_) | Field::Ignored => {}
        }
    }
    let raw = usage::RawEvent {
        id,
        schema_name: schema,
        timestamp,
        account,
        attributes: &attributes,
        dimensions: &dimensions,
    };
    let e = usage::validate_event(&raw, &cx.schemas).map_err(|e| {
        let column = match e.field {
            EventField::Id => "event_id".to_string(),
            EventField::SchemaName => "schema".to_string(),
            EventField::Timestamp => "timestamp".to_string(),
            EventField::Account => "account_id".to_string(),
            EventField::Attribute(i) => format!("attribute.{}", attributes[i].0),
            EventField::Dimension(i) => format!("dimension.{}", dimensions[i].0),
        };
        RowError::at(&column, e.reason)
    })?;
    Ok(UsageRow {
        event_id: e.id,
        timestamp: e.timestamp,
        account_ref: e.account,
        schema: e.schema_name,
        attributes: e.attributes,
        dimensions: e.dimensions,
    })
}

fn license(c: &Cells) -> Result<LicenseRow, RowError> {
    let license_id = c.id("license_id")?;
    let account_ref = c.id("account_id")?;
    let update_type = UpdateType::parse("update_type", c.required("update_type")?)
        .map_err(|e| RowError::at("update_type", e.message))?;
    let q = c.required("quantity")?;
    let quantity = number("quantity", q)?;
    if update_type == UpdateType::Absolute && quantity.is_sign_negative() && !quantity.is_zero() {
        return Err(RowError::at(
            "quantity",
            format!("{q} is negative: an ABSOLUTE quantity sets the count, 0 or more (RELATIVE may remove)"),
        ));
    }
    let effective_from = instant("effective_from", c.required("effective_from")?)?;
    let idempotency_key = c.required("idempotency_key")?.to_string();
    check_key("idempotency_key", &idempotency_key)
        .map_err(|e| RowError::at("idempotency_key", e.message))?;
    Ok(LicenseRow {
        license_id,
        account_ref,
        update_type,
        quantity,
        effective_from,
        idempotency_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imports::columns::Mapping;
    use crate::imports::split::Splitter;

    fn cx() -> RowContext {
        RowContext {
            schemas: HashMap::from([(
                "api".to_string(),
                EventSchema::new("api".into(), vec!["calls".into()], vec!["region".into()]),
            )]),
            currencies: vec!["USD".into(), "EUR".into()],
        }
    }

    /// Parses a whole file (header first) into one result per data row.
    fn file(kind: ImportKind, text: &[u8]) -> Vec<(u64, Result<Row, RowError>)> {
        let mut recs = Vec::new();
        Splitter::new(0, 1).push(text, true, &mut recs);
        let header = Header::parse(kind, &recs[0].fields, &Mapping::default()).unwrap();
        recs[1..]
            .iter()
            .map(|r| (r.line, parse(&header, r, &cx())))
            .collect()
    }

    fn errors(kind: ImportKind, text: &[u8]) -> Vec<(u64, Option<String>, String)> {
        file(kind, text)
            .into_iter()
            .filter_map(|(l, r)| r.err().map(|e| (l, e.column, e.reason)))
            .collect()
    }

    #[test]
    fn a_usage_row_parses_exactly() {
        let rows = file(
            ImportKind::Usage,
            b"event_id,timestamp,account_id,schema,attribute.calls,dimension.region\r\n\
              e1,2026-01-05T10:00:00+01:00,acme,api,0.1,eu\r\n\
              e2,2026-01-05T10:00:00Z,acme,api,,\r\n",
        );
        let Ok(Row::Usage(u)) = &rows[0].1 else {
            panic!("{rows:?}")
        };
        assert_eq!(u.timestamp.to_rfc3339(), "2026-01-05T09:00:00+00:00");
        assert_eq!(u.attributes["calls"], Decimal::new(1, 1));
        assert_eq!(u.dimensions["region"], "eu");
        let Ok(Row::Usage(u)) = &rows[1].1 else {
            panic!()
        };
        assert!(u.attributes.is_empty() && u.dimensions.is_empty());
    }

    #[test]
    fn every_kind_of_bad_usage_row_names_line_column_and_reason() {
        let e = errors(
            ImportKind::Usage,
            b"event_id,timestamp,account_id,schema,attribute.calls,dimension.region\n\
              e1,yesterday,acme,api,1,eu\n\
              e2,2026-01-05T10:00:00Z,acme,api,-3,eu\n\
              e3,2026-01-05T10:00:00Z,acme,api,ten,eu\n\
              ,2026-01-05T10:00:00Z,acme,api,1,eu\n\
              e5,2026-01-05T10:00:00Z,acme,web,1,eu\n\
              e6,2026-01-05T10:00:00Z,acme,api,1\n\
              e7,2026-01-05T10:00:00Z,acme,api,1,\xE9u\n\
              e8,2026-01-05,acme,api,1,eu\n\
              e9,2026-01-05T10:00:00Z,ac me,api,1,eu\n",
        );
        let cols: Vec<(u64, Option<&str>)> = e.iter().map(|(l, c, _)| (*l, c.as_deref())).collect();
        assert_eq!(
            cols,
            vec![
                (2, Some("timestamp")),
                (3, Some("attribute.calls")),
                (4, Some("attribute.calls")),
                (5, Some("event_id")),
                (6, Some("schema")),
                (7, None),
                (8, Some("dimension.region")),
                (9, Some("timestamp")),
                (10, Some("account_id")),
            ]
        );
        assert!(e[1].2.contains("negative"), "{}", e[1].2);
        assert!(e[2].2.contains("not a number"), "{}", e[2].2);
        assert!(e[3].2.contains("required"), "{}", e[3].2);
        assert!(
            e[4].2.contains("unknown event schema \"web\""),
            "{}",
            e[4].2
        );
        assert!(e[5].2.contains("5 fields, expected 6"), "{}", e[5].2);
        assert!(
            e[6].2.contains("not UTF-8") && e[6].2.contains("0xE9"),
            "{}",
            e[6].2
        );
    }

    #[test]
    fn license_rows() {
        let rows = file(
            ImportKind::Licenses,
            b"\xEF\xBB\xBFlicense_id,account_id,update_type,quantity,effective_from,idempotency_key\n\
              seats,acme,RELATIVE,-2,2026-01-16,k1\n\
              seats,acme,ABSOLUTE,-2,2026-01-16,k2\n\
              seats,acme,SOMETIMES,2,2026-01-16,k3\n\
              seats,acme,ABSOLUTE,many,2026-01-16,k4\n",
        );
        let Ok(Row::License(l)) = &rows[0].1 else {
            panic!("{rows:?}")
        };
        assert_eq!(l.quantity, Decimal::from(-2));
        assert_eq!(l.effective_from.to_rfc3339(), "2026-01-16T00:00:00+00:00");
        let reasons: Vec<String> = rows[1..]
            .iter()
            .map(|(_, r)| r.clone().unwrap_err().reason)
            .collect();
        assert!(reasons[0].contains("negative"), "{reasons:?}");
        assert!(reasons[1].contains("RELATIVE or ABSOLUTE"), "{reasons:?}");
        assert!(reasons[2].contains("not a number"), "{reasons:?}");
    }

    #[test]
    fn account_rows() {
        let text = crate::imports::columns::ImportKind::Accounts.sample();
        let rows = file(ImportKind::Accounts, text.as_bytes());
        let Ok(Row::Account(a)) = &rows[0].1 else {
            panic!("{rows:?}")
        };
        assert_eq!(
            a.billing_emails,
            vec!["billing@acme.example", "ap@acme.example"]
        );
        assert_eq!(a.aliases, vec!["acme-eu-prod", "acme-eu-staging"]);
        assert_eq!(a.address.country.as_deref(), Some("DE"));
        assert_eq!(a.plan.as_ref().unwrap().version, None);
        let Ok(Row::Account(a)) = &rows[1].1 else {
            panic!("{rows:?}")
        };
        assert_eq!(a.account_name, "Acme, Inc. (US)");
        assert_eq!(a.plan.as_ref().unwrap().version, Some(1));
        let Ok(Row::Account(a)) = &rows[2].1 else {
            panic!("{rows:?}")
        };
        assert_eq!(a.plan, None);
        assert_eq!(a.net_term_days, Some(15));
        let header = text.lines().next().unwrap();
        let bad = format!(
            "{header}\n\
             a1,c1,,A1,JPY,,,,,,,,,,,,,,\n\
             a2,c1,,A2,USD,not-an-email,,,,,,,,,,,,,\n\
             a3,c1,,A3,USD,,,-1,,,,,,,,,,,\n\
             a4,c1,,A4,USD,,,,Mars/Olympus,,,,,,,,,,\n\
             a5,c1,,A5,USD,,,,,,,,,,France,,,,\n\
             a6,c1,,A6,USD,,,,,,,,,,,,growth,,\n\
             a7,c1,,,USD,,,,,,,,,,,,,,\n"
        );
        let cols: Vec<String> = errors(ImportKind::Accounts, bad.as_bytes())
            .into_iter()
            .map(|(_, c, _)| c.unwrap())
            .collect();
        assert_eq!(
            cols,
            vec![
                "invoice_currency",
                "billing_emails",
                "net_term_days",
                "timezone",
                "country",
                "plan_from",
                "account_name"
            ]
        );
    }
}
