//! One event checked against its organisation's schemas ([`validate_event`]): the
//! shape every entry point (JSON lines, CSV imports) reads events into.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::catalog::meters::EventSchema;
use crate::catalog::{check_id, input, Result};
use crate::store::status::CatalogStatus;

/// An event as a way in received it, every value still text (a JSON number as its
/// text, a CSV cell trimmed). Absent values are absent (a blank CSV cell, a missing
/// JSON key); what was given twice or not as text is the adapter's to refuse.
#[derive(Debug, Clone, Copy)]
pub struct RawEvent<'a> {
    /// Togai's event `id`.
    pub id: &'a str,
    /// The event schema's name.
    pub schema_name: &'a str,
    /// When the usage happened: RFC 3339 with a UTC offset.
    pub timestamp: &'a str,
    /// An account id, or an alias.
    pub account: &'a str,
    /// Attribute name and value, in the order given.
    pub attributes: &'a [(&'a str, &'a str)],
    /// Dimension name and value, in the order given.
    pub dimensions: &'a [(&'a str, &'a str)],
}

/// Which part of an event a [`EventError`] is about; each way in names it in its own
/// vocabulary (JSON `attributes[0].value`, CSV column `attribute.calls`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventField {
    /// The event id.
    Id,
    /// The schema name.
    SchemaName,
    /// The timestamp.
    Timestamp,
    /// The account id or alias.
    Account,
    /// The attribute at this index of [`RawEvent::attributes`].
    Attribute(usize),
    /// The dimension at this index of [`RawEvent::dimensions`].
    Dimension(usize),
}

/// Why an event was refused: the field, and the same message whatever the way in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventError {
    /// The part at fault.
    pub field: EventField,
    /// What is wrong and what was expected.
    pub reason: String,
}

/// An event that passed [`validate_event`]: not yet routed to an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidEvent {
    /// Togai's event id (an id: at most 50 characters, no whitespace).
    pub id: String,
    /// A schema of the organisation.
    pub schema_name: String,
    /// The instant, in UTC.
    pub timestamp: DateTime<Utc>,
    /// The account id or alias as given (resolved by the caller).
    pub account: String,
    /// Declared attributes, each an exact decimal, 0 or more.
    pub attributes: BTreeMap<String, Decimal>,
    /// Declared dimensions, each at most 255 characters.
    pub dimensions: BTreeMap<String, String>,
}

/// The one validation of a usage event, used by every way in (`usage ingest`, the
/// CSV usage import, and the HTTP API to come), so the same event gets the same
/// verdict and message everywhere. Checks, in this order: the id
/// ([`super::check_id`]), the schema (one of `schemas`, and ACTIVE: an INACTIVE schema
/// accepts no events, README "Event schemas and usage meters"), the timestamp
/// ([`input::parse_instant`] with a UTC offset: no leap second, a 4-digit year), the
/// account id or alias ([`super::check_id`]), each attribute (declared by the
/// schema, given once, an exact decimal, not negative: usage is counted, never
/// refunded through events), each dimension (declared, given once, at most
/// [`input::MAX_DIMENSION_CHARS`] characters).
pub fn validate_event(
    raw: &RawEvent<'_>,
    schemas: &HashMap<String, EventSchema>,
) -> Result<ValidEvent, EventError> {
    let err = |field: EventField, reason: String| EventError { field, reason };
    check_id("", raw.id).map_err(|e| err(EventField::Id, e.message))?;
    let Some(schema) = schemas.get(raw.schema_name) else {
        let mut known: Vec<&str> = schemas.keys().map(String::as_str).collect();
        known.sort_unstable();
        return Err(err(
            EventField::SchemaName,
            format!(
                "unknown event schema {} (schemas: {})",
                input::shown(raw.schema_name),
                known.join(", ")
            ),
        ));
    };
    if schema.status == CatalogStatus::Inactive {
        return Err(err(
            EventField::SchemaName,
            format!(
                "event schema {} is INACTIVE: it accepts no events until it is activated",
                input::shown(raw.schema_name)
            ),
        ));
    }
    let timestamp = input::parse_instant(raw.timestamp, input::TimeForms::WithOffset)
        .map_err(|e| err(EventField::Timestamp, e.describe(raw.timestamp)))?;
    check_id("", raw.account).map_err(|e| err(EventField::Account, e.message))?;
    let mut attributes = BTreeMap::new();
    for (i, (name, value)) in raw.attributes.iter().enumerate() {
        let field = || EventField::Attribute(i);
        if !schema.attributes.iter().any(|a| a == name) {
            return Err(err(
                field(),
                format!(
                    "{} is not an attribute of schema {:?} (attributes: {})",
                    input::shown(name),
                    schema.name,
                    schema.attributes.join(", ")
                ),
            ));
        }
        let n = Decimal::from_str(value)
            .or_else(|_| Decimal::from_scientific(value))
            .map_err(|_| {
                err(
                    field(),
                    format!(
                        "{} is not a number: expected e.g. 12 or 12.5 (attribute {name})",
                        input::shown(value)
                    ),
                )
            })?;
        if n.is_sign_negative() && !n.is_zero() {
            return Err(err(
                field(),
                format!(
                    "{value} is negative: usage quantities must be 0 or more (attribute {name})"
                ),
            ));
        }
        if attributes.insert(name.to_string(), n).is_some() {
            return Err(err(field(), format!("attribute {name} is given twice")));
        }
    }
    let mut dimensions = BTreeMap::new();
    for (i, (name, value)) in raw.dimensions.iter().enumerate() {
        let field = || EventField::Dimension(i);
        if !schema.dimensions.iter().any(|d| d == name) {
            return Err(err(
                field(),
                format!(
                    "{} is not a dimension of schema {:?} (dimensions: {})",
                    input::shown(name),
                    schema.name,
                    schema.dimensions.join(", ")
                ),
            ));
        }
        input::check_len("", value, input::MAX_DIMENSION_CHARS)
            .map_err(|e| err(field(), format!("{} (dimension {name})", e.message)))?;
        if dimensions
            .insert(name.to_string(), value.to_string())
            .is_some()
        {
            return Err(err(field(), format!("dimension {name} is given twice")));
        }
    }
    Ok(ValidEvent {
        id: raw.id.to_string(),
        schema_name: raw.schema_name.to_string(),
        timestamp,
        account: raw.account.to_string(),
        attributes,
        dimensions,
    })
}

// ---------------------------------------------------------------------------------
// JSON lines: the shape of a line, then [`validate_event`].
