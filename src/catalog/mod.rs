//! The catalog: the billing reference data a bill run reads, and its storage.
//!
//! One module per aggregate, each a thin layer of sqlx over the tables of
//! `migrations/20261121000002_catalog.sql`:
//! - [`orgs`]: organisations and their settings (timezone, currencies, net term days,
//!   invoice number format, rounding).
//! - [`customers`]: customers (who is billed).
//! - [`contacts`]: people to reach at a customer (never emailed invoices).
//! - [`accounts`]: accounts (the billed entity, in one invoice currency).
//! - [`aliases`]: strings that route usage to an account over a range of time.
//! - [`associations`]: which plan version an account is on, over which local dates.
//! - [`meters`]: event schemas and usage meters, their statuses and schema versions
//!   (what may change once they are in use: [`meters::changes`]).
//! - [`usage`]: usage events, validated and ingested in batches.
//! - [`licenses`]: license quantity updates.
//! - [`history`]: an account's billing history, and deleting customers and accounts
//!   that have none.
//! - [`plans`]: price plans and their versions (DRAFT -> ACTIVE -> ARCHIVED).
//! - [`input`]: rules every way in shares: the one time parser, text length limits.
//!
//! Every value is parsed at the edge into a type that cannot be invalid (a [`Tz`],
//! a [`Currency`], a [`billrun_core::plan::Plan`]); invalid input is refused with a
//! [`FieldError`] naming the field in Togai's vocabulary (`invoiceCurrency`,
//! `timezone`, ...). The database enforces tenancy (every foreign key includes
//! `org_id`) and the invariants two writers could race on (one alias per instant,
//! non-overlapping plan periods, one draft per plan); [`CatalogError::from`] turns
//! their violations into messages by constraint name.

pub mod accounts;
pub mod addons;
pub mod aliases;
pub mod associations;
pub mod contacts;
pub mod customers;
pub mod history;
pub mod input;
pub mod licenses;
pub mod meters;
pub mod named_licenses;
pub mod orgs;
pub mod plans;
pub mod taxes;
pub mod usage;

use billrun_core::{Currency, FieldError};
use chrono_tz::Tz;

use crate::error::{Classify, ErrorKind};

pub use billrun_core::error::FieldErrors;

/// Why a catalog operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A value was not acceptable; the error names the field.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// A price plan file was not acceptable; every problem, each with its field path.
    #[error("the plan is invalid:\n{0}")]
    InvalidPlan(FieldErrors),
    /// A row that the operation needs does not exist (in this organisation; an
    /// organisation that does not exist is named once).
    #[error(
        "{what} {id:?} does not exist{}",
        if *what == "organisation" { String::new() } else { format!(" in organisation {org:?}") }
    )]
    NotFound {
        /// What kind of row: "account", "price plan", ...
        what: &'static str,
        /// The organisation looked in.
        org: String,
        /// The id looked for.
        id: String,
    },
    /// The operation contradicts the stored state (e.g. attaching a DRAFT plan).
    #[error("{0}")]
    Conflict(String),
    /// A database constraint refused the write; `message` says which rule, with the
    /// offending key when Postgres reports it.
    #[error("{message}")]
    Constraint {
        /// The constraint's name in the migration.
        constraint: String,
        /// What it means, in billing terms.
        message: String,
    },
    /// A stored value could not be read back (written by something other than this
    /// module, or by an older version).
    #[error("stored {what} is invalid: {message}")]
    Corrupt {
        /// Which row and column.
        what: String,
        /// What was wrong.
        message: String,
    },
    /// Any other database error (connection lost, ...).
    #[error("database error: {0}")]
    Database(sqlx::Error),
}

/// Result of catalog operations.
pub type Result<T, E = CatalogError> = std::result::Result<T, E>;

/// What each named constraint of the catalog's migration means.
fn constraint_meaning(name: &str) -> Option<&'static str> {
    Some(match name {
        "organisations_pkey" => "an organisation with this id exists already",
        "organisations_base_currency_enabled" => {
            "baseCurrency must be one of the enabled currencies"
        }
        "organisations_net_term_days_check" | "accounts_net_term_days_check" => {
            "netTermDays must not be negative"
        }
        "customers_pkey" => "a customer with this id exists already in the organisation",
        "customers_org_fk" | "event_schemas_org_fk" | "price_plans_org_fk" => {
            "the organisation does not exist"
        }
        "accounts_pkey" => "an account with this id exists already in the organisation",
        "accounts_customer_fk" => "the customer does not exist in the organisation",
        "aliases_pkey" | "aliases_no_overlap" => {
            "the alias already points at an account during part of this range: an alias \
             means one account at any instant"
        }
        "aliases_account_fk"
        | "usage_events_account_fk"
        | "license_updates_account_fk"
        | "plan_associations_account_fk" => "the account does not exist in the organisation",
        "aliases_range_check" => "effectiveUntil must be after effectiveFrom",
        "event_schemas_pkey" => "an event schema with this name exists already",
        "usage_meters_pkey" => "a usage meter with this id exists already",
        "usage_meters_schema_fk" | "usage_events_schema_fk" => {
            "the event schema does not exist in the organisation"
        }
        "usage_meters_sum_attribute_check" => "a SUM meter needs the attribute it sums",
        "license_updates_pkey" => "a license update with this idempotency key exists already",
        "license_updates_absolute_check" => "an ABSOLUTE license quantity must not be negative",
        "price_plans_pkey" => "this price plan exists already",
        "price_plan_versions_one_draft" => "the plan has a DRAFT version already",
        "price_plan_versions_immutable" => "a finalized plan version cannot change",
        "price_plan_versions_pkey" => "this plan version exists already",
        "plan_associations_version_fk" => "the plan version does not exist in the organisation",
        "plan_associations_pkey" | "plan_associations_no_overlap" => {
            "the account is already on a plan during part of this period: an account's plan \
             periods must not overlap"
        }
        "plan_associations_range_check" => "effectiveUntil must be after effectiveFrom",
        "organisations_rounding_mode_check" => {
            "roundingMode must be HALF_AWAY_FROM_ZERO, HALF_EVEN, UP or DOWN"
        }
        "accounts_status_check" => "status must be ACTIVE or ARCHIVED",
        "usage_meters_aggregation_check" => "aggregation must be COUNT or SUM",
        "usage_events_pkey" => "a usage event with this id exists already",
        "license_updates_type_check" => "updateType must be RELATIVE or ABSOLUTE",
        "price_plan_versions_plan_fk" => "the price plan does not exist in the organisation",
        "price_plan_versions_version_check" => "plan versions start at 1",
        "price_plan_versions_status_check" => "status must be DRAFT, ACTIVE or ARCHIVED",
        "price_plan_versions_finalized_check" => {
            "a version is finalized exactly when it is no longer a DRAFT"
        }
        "customer_contacts_pkey" => "a contact with this username exists already",
        "customer_contacts_email_key" => "the customer has a contact with this email already",
        "customer_contacts_customer_fk" => "the customer does not exist in the organisation",
        _ => return None,
    })
}

impl From<sqlx::Error> for CatalogError {
    fn from(e: sqlx::Error) -> Self {
        let Some(db) = e.as_database_error() else {
            return CatalogError::Database(e);
        };
        let Some(name) = db.constraint() else {
            return CatalogError::Database(e);
        };
        let detail = db
            .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
            .and_then(|pg| pg.detail())
            .map(str::to_string);
        // A trigger's own message already names the row.
        let own = (name == "price_plan_versions_immutable").then(|| db.message().to_string());
        let message = match (constraint_meaning(name), own.or(detail)) {
            (Some(m), Some(d)) => format!("{m} ({d})"),
            (Some(m), None) => m.to_string(),
            (None, Some(d)) => format!("constraint {name} refused the write ({d})"),
            (None, None) => format!("constraint {name} refused the write: {}", db.message()),
        };
        CatalogError::Constraint {
            constraint: name.to_string(),
            message,
        }
    }
}

/// The kind of failure a violated constraint is, by the constraint's name: a foreign
/// key (`*_fk`) names a row that does not exist ([`ErrorKind::NotFound`]), a check
/// (`*_check`, `organisations_base_currency_enabled`) a value that is not acceptable
/// ([`ErrorKind::Invalid`]); a key, an exclusion (`*_no_overlap`), the one-draft index
/// and the finalized-version trigger refuse what contradicts stored rows
/// ([`ErrorKind::Conflict`]).
fn constraint_kind(name: &str) -> ErrorKind {
    if name.ends_with("_fk") {
        ErrorKind::NotFound
    } else if name.ends_with("_check") || name == "organisations_base_currency_enabled" {
        ErrorKind::Invalid
    } else {
        ErrorKind::Conflict
    }
}

impl Classify for CatalogError {
    fn kind(&self) -> ErrorKind {
        match self {
            CatalogError::Invalid(_) | CatalogError::InvalidPlan(_) => ErrorKind::Invalid,
            CatalogError::NotFound { .. } => ErrorKind::NotFound,
            CatalogError::Conflict(_) => ErrorKind::Conflict,
            CatalogError::Constraint { constraint, .. } => constraint_kind(constraint),
            // Stored data this binary cannot read is the server's problem, not the
            // request's.
            CatalogError::Corrupt { .. } => ErrorKind::Unavailable,
            CatalogError::Database(e) => e.kind(),
        }
    }
}

impl From<FieldErrors> for CatalogError {
    fn from(e: FieldErrors) -> Self {
        CatalogError::InvalidPlan(e)
    }
}

// ---------------------------------------------------------------------------------
// Parsing at the edge: shared by every aggregate.

/// An identifier (organisation, customer, account, plan, meter, alias, license,
/// event...): not empty, at most [`input::MAX_ID_CHARS`] (50) characters (Togai's
/// limit; ids end up in invoice numbers, file names and logs), no whitespace or
/// control characters (they would be invisible in listings and ambiguous on a
/// command line).
pub fn check_id(field: &str, id: &str) -> Result<(), FieldError> {
    if id.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    input::check_len(field, id, input::MAX_ID_CHARS)?;
    if id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FieldError::new(
            field,
            format!("{id:?} contains whitespace: expected an id such as \"acme_eu\""),
        ));
    }
    Ok(())
}

/// An idempotency key: like an id ([`check_id`]) but up to
/// [`input::MAX_KEY_CHARS`] (255) characters.
pub fn check_key(field: &str, key: &str) -> Result<(), FieldError> {
    if key.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    input::check_len(field, key, input::MAX_KEY_CHARS)?;
    if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FieldError::new(
            field,
            format!("{} contains whitespace", input::shown(key)),
        ));
    }
    Ok(())
}

/// A display name: not blank, at most [`input::MAX_NAME_CHARS`] (255) characters
/// (Togai's limit).
pub fn check_name(field: &str, name: &str) -> Result<(), FieldError> {
    if name.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    input::check_len(field, name, input::MAX_NAME_CHARS)
}

/// An IANA timezone such as `Europe/Paris`.
pub fn parse_timezone(field: &str, name: &str) -> Result<Tz, FieldError> {
    name.parse::<Tz>().map_err(|_| {
        FieldError::new(
            field,
            format!("unknown timezone {name:?}: expected an IANA name such as \"Europe/Paris\" or \"UTC\""),
        )
    })
}

/// An ISO 4217 currency code.
pub fn parse_currency(field: &str, code: &str) -> Result<Currency, FieldError> {
    Currency::parse(code).map_err(|e| e.within(field))
}

/// An email address, checked loosely (one `@` with text on both sides, no spaces):
/// delivery is what proves an address, this only catches a pasted wrong field.
/// At most [`input::MAX_EMAIL_CHARS`] (254) characters.
pub fn check_email(field: &str, email: &str) -> Result<(), FieldError> {
    input::check_len(field, email, input::MAX_EMAIL_CHARS)?;
    let ok = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!(
                "{} is not an email address: expected e.g. \"billing@example.com\"",
                input::shown(email)
            ),
        ))
    }
}

/// Reads back a stored timezone.
fn stored_timezone(what: &str, name: &str) -> Result<Tz> {
    name.parse::<Tz>().map_err(|_| CatalogError::Corrupt {
        what: what.to_string(),
        message: format!("unknown timezone {name:?}"),
    })
}

/// Reads back a stored currency code.
fn stored_currency(what: &str, code: &str) -> Result<Currency> {
    Currency::parse(code).map_err(|e| CatalogError::Corrupt {
        what: what.to_string(),
        message: e.message,
    })
}

/// Reads back a stored count of days.
fn stored_days(what: &str, days: i32) -> Result<u32> {
    u32::try_from(days).map_err(|_| CatalogError::Corrupt {
        what: what.to_string(),
        message: format!("negative number of days {days}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_emails() {
        assert!(check_id("id", "acme-eu_1").is_ok());
        assert!(check_id("id", "").is_err());
        assert!(check_id("id", "a b")
            .unwrap_err()
            .to_string()
            .starts_with("id:"));
        assert!(check_email("billingEmail", "ap@acme.com").is_ok());
        for bad in ["ap", "@acme.com", "ap@acme", "a p@acme.com", "ap@acme.com."] {
            assert!(check_email("billingEmail", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timezones_and_currencies_name_the_field() {
        assert_eq!(
            parse_timezone("timezone", "Europe/Paris").unwrap(),
            Tz::Europe__Paris
        );
        let e = parse_timezone("timezone", "Mars/Olympus").unwrap_err();
        assert_eq!(e.path, "timezone");
        let e = parse_currency("invoiceCurrency", "XYZ").unwrap_err();
        assert_eq!(e.path, "invoiceCurrency");
    }

    #[test]
    fn every_constraint_of_the_migration_has_a_meaning() {
        let sql = include_str!("../../migrations/20261121000002_catalog.sql");
        for line in sql.lines() {
            let line = line.trim();
            let name = line
                .strip_prefix("CONSTRAINT ")
                .or_else(|| line.strip_prefix("CREATE UNIQUE INDEX "))
                .and_then(|rest| rest.split_whitespace().next());
            if let Some(name) = name {
                assert!(constraint_meaning(name).is_some(), "no meaning for {name}");
            }
        }
    }
}

#[cfg(test)]
mod kind_tests {
    use super::*;

    #[test]
    fn every_catalog_error_has_the_kind_a_caller_reacts_to() {
        let field = || FieldError::new("timezone", "unknown");
        assert_eq!(CatalogError::Invalid(field()).kind(), ErrorKind::Invalid);
        assert_eq!(
            CatalogError::InvalidPlan(FieldErrors(vec![field()])).kind(),
            ErrorKind::Invalid
        );
        let missing = CatalogError::NotFound {
            what: "account",
            org: "acme".into(),
            id: "a1".into(),
        };
        assert_eq!(missing.kind(), ErrorKind::NotFound);
        assert_eq!(
            CatalogError::Conflict("DRAFT".into()).kind(),
            ErrorKind::Conflict
        );
        let corrupt = CatalogError::Corrupt {
            what: "x".into(),
            message: "y".into(),
        };
        assert_eq!(corrupt.kind(), ErrorKind::Unavailable);
        assert_eq!(
            CatalogError::Database(sqlx::Error::PoolTimedOut).kind(),
            ErrorKind::Unavailable
        );
        assert_eq!(
            CatalogError::Database(sqlx::Error::RowNotFound).kind(),
            ErrorKind::NotFound
        );
    }

    #[test]
    fn every_constraint_of_the_migration_has_the_kind_of_its_type() {
        let constraint = |name: &str| CatalogError::Constraint {
            constraint: name.into(),
            message: String::new(),
        };
        let sql = include_str!("../../migrations/20261121000002_catalog.sql");
        let mut seen = 0;
        for line in sql.lines() {
            let line = line.trim();
            let (name, rest) = if let Some(rest) = line.strip_prefix("CONSTRAINT ") {
                let mut words = rest.splitn(2, ' ');
                (words.next().unwrap(), words.next().unwrap_or(""))
            } else if let Some(rest) = line.strip_prefix("CREATE UNIQUE INDEX ") {
                (rest.split_whitespace().next().unwrap(), "UNIQUE")
            } else {
                continue;
            };
            let expected = if rest.starts_with("FOREIGN KEY") {
                ErrorKind::NotFound
            } else if rest.starts_with("CHECK") || rest.is_empty() {
                // A CHECK whose expression starts on the next line.
                ErrorKind::Invalid
            } else {
                // PRIMARY KEY, EXCLUDE, UNIQUE.
                ErrorKind::Conflict
            };
            assert_eq!(constraint(name).kind(), expected, "{name}: {rest}");
            seen += 1;
        }
        assert!(seen > 30, "only {seen} constraints found");
        // The finalized-version trigger: a write that contradicts the stored version.
        assert_eq!(
            constraint("price_plan_versions_immutable").kind(),
            ErrorKind::Conflict
        );
        assert_eq!(
            constraint("plan_associations_trial_check").kind(),
            ErrorKind::Invalid
        );
    }
}

#[cfg(test)]
mod not_found_tests {
    use super::CatalogError;

    #[test]
    fn a_missing_organisation_is_named_once() {
        let org = CatalogError::NotFound {
            what: "organisation",
            org: "x".into(),
            id: "x".into(),
        };
        assert_eq!(org.to_string(), "organisation \"x\" does not exist");
        let plan = CatalogError::NotFound {
            what: "price plan",
            org: "south".into(),
            id: "growth".into(),
        };
        assert_eq!(
            plan.to_string(),
            "price plan \"growth\" does not exist in organisation \"south\""
        );
    }
}
