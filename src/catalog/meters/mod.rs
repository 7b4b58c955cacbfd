//! Event schemas and usage meters.
//!
//! An event schema names the numeric attributes and the string dimensions its events
//! carry. A usage meter turns a schema's events into a quantity: COUNT of events, or
//! SUM of one attribute, over the events whose dimensions match its filters. Meters
//! are what usage rate cards price (`usageMeterId`). That is the simple case of
//! computations: a meter may instead have ordered JSON-logic matcher / computation
//! pairs (Togai's `computations`), evaluated per event by
//! [`billrun_core::meter_logic`] at rating (README "HTTP API", "Usage meter
//! computations").
//!
//! Both have a status ([`CatalogStatus`]: ACTIVE from creation, INACTIVE once
//! deactivated) and a schema has a version; what may change once they are in use,
//! and what deactivating and deleting refuse, is [`changes`]' (README "HTTP API",
//! "Event schemas and usage meters").

use std::collections::{BTreeMap, BTreeSet};

use billrun_core::meter_logic::{is_bare_name, Computation, MeterLogic};
use billrun_core::FieldError;
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::PgPool;

use super::{check_id, check_name, CatalogError, Result};
use crate::store::status::CatalogStatus;
use crate::store::OrgId;

pub mod changes;

/// The most computations a meter has: Togai's `UsageMeter.computations` holds at most
/// one (togai-client 1.0.3 `models/usage_meter.py`: `max_length=1`), so a meter with
/// more could not be read back by Togai's client (a whole `GET /usage_meters` page
/// would fail). [`billrun_core::meter_logic`] evaluates ordered lists; this is the
/// catalog's limit.
pub const MAX_METER_COMPUTATIONS: usize = 1;

/// An event schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct EventSchema {
    /// Its name (events carry it as `schemaName`).
    pub name: String,
    /// Numeric attributes.
    pub attributes: Vec<String>,
    /// String dimensions.
    pub dimensions: Vec<String>,
    /// As stored: its current version (1 at creation, the next after each change of
    /// its attributes or dimensions). Ignored by [`create_schema`].
    #[sqlx(try_from = "i32")]
    pub version: u32,
    /// As stored: ACTIVE or INACTIVE (an INACTIVE schema accepts no events). Ignored
    /// by [`create_schema`] (a schema is created ACTIVE).
    pub status: CatalogStatus,
}

/// The columns an [`EventSchema`] is read from.
pub(crate) const SCHEMA_COLUMNS: &str = "name, attributes, dimensions, version, status";

impl EventSchema {
    /// A schema to create: version 1, ACTIVE.
    pub fn new(name: String, attributes: Vec<String>, dimensions: Vec<String>) -> EventSchema {
        EventSchema {
            name,
            attributes,
            dimensions,
            version: 1,
            status: CatalogStatus::Active,
        }
    }

    /// Checks names: ids, each once, no name both an attribute and a dimension.
    pub fn validate(&self) -> Result<(), FieldError> {
        check_id("name", &self.name)?;
        let mut seen = BTreeSet::new();
        for (field, names) in [
            ("attributes", &self.attributes),
            ("dimensions", &self.dimensions),
        ] {
            for (i, n) in names.iter().enumerate() {
                let at = format!("{field}[{i}]");
                check_id(&at, n)?;
                if !seen.insert(n.as_str()) {
                    return Err(FieldError::new(at, format!("{n:?} is listed twice")));
                }
            }
        }
        Ok(())
    }
}

/// How a meter aggregates events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Aggregation {
    /// Number of matching events.
    Count,
    /// Sum of one attribute over matching events.
    Sum,
}

impl Aggregation {
    /// As stored and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Aggregation::Count => "COUNT",
            Aggregation::Sum => "SUM",
        }
    }

    /// Parses `COUNT` or `SUM`.
    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        match s {
            "COUNT" => Ok(Aggregation::Count),
            "SUM" => Ok(Aggregation::Sum),
            _ => Err(FieldError::new(
                field,
                format!("unknown aggregation {s:?}: expected COUNT or SUM"),
            )),
        }
    }
}

/// A usage meter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageMeter {
    /// Its id (what usage rate cards name as `usageMeterId`).
    pub id: String,
    /// Its display name.
    pub name: String,
    /// The schema of the events it aggregates.
    pub event_schema_name: String,
    /// COUNT or SUM.
    pub aggregation: Aggregation,
    /// The attribute summed (a SUM meter without computations only).
    pub attribute: Option<String>,
    /// Dimension name -> the value an event must have to count.
    pub filters: BTreeMap<String, String>,
    /// Ordered JSON-logic matcher / computation pairs applied to each event matching
    /// `filters` (first match by `order` wins; [`billrun_core::meter_logic`]); empty
    /// for the simple case (COUNT, or SUM of `attribute`). See [`UsageMeter::simplify`].
    pub computations: Vec<Computation>,
    /// As stored: ACTIVE or INACTIVE (an INACTIVE meter cannot be finalized into a
    /// plan). Ignored by [`create_meter`] (a meter is created ACTIVE).
    pub status: CatalogStatus,
}

#[derive(sqlx::FromRow)]
pub(crate) struct MeterRow {
    id: String,
    name: String,
    event_schema: String,
    aggregation: String,
    attribute: Option<String>,
    filters: Json<BTreeMap<String, String>>,
    computations: Json<Vec<Computation>>,
    status: CatalogStatus,
}

impl MeterRow {
    pub(crate) fn into_meter(self) -> Result<UsageMeter> {
        Ok(UsageMeter {
            aggregation: Aggregation::parse("", &self.aggregation).map_err(|e| {
                CatalogError::Corrupt {
                    what: format!("usage_meters.aggregation of {:?}", self.id),
                    message: e.to_string(),
                }
            })?,
            id: self.id,
            name: self.name,
            event_schema_name: self.event_schema,
            attribute: self.attribute,
            filters: self.filters.0,
            computations: self.computations.0,
            status: self.status,
        })
    }
}

pub(crate) const METER_COLUMNS: &str =
    "id, name, event_schema, aggregation, attribute, filters, computations, status";

impl UsageMeter {
    /// Brings computations that are the simple case to it: COUNT with the single
    /// computation `"1"` and no matcher has none; SUM with a single computation that
    /// is a bare attribute name and no matcher sums that attribute. Other computations
    /// stay (checked by [`create_meter`]).
    pub fn simplify(mut self) -> UsageMeter {
        if let [c] = self.computations.as_slice() {
            let bare = c.computation.trim();
            let plain = c.matcher.as_deref().is_none_or(|m| m.trim().is_empty());
            match self.aggregation {
                Aggregation::Count if plain && bare == "1" => self.computations.clear(),
                Aggregation::Sum if plain && self.attribute.is_none() && is_bare_name(bare) => {
                    self.attribute = Some(bare.to_string());
                    self.computations.clear();
                }
                _ => {}
            }
        }
        self
    }
}

/// Creates an event schema.
pub async fn create_schema(
    pool: &PgPool,
    org: &OrgId,
    schema: &EventSchema,
) -> Result<EventSchema> {
    schema.validate()?;
    let mut conn = pool.acquire().await?;
    super::orgs::ensure_exists(&mut conn, org).await?;
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO event_schemas (org_id, name, attributes, dimensions) \
         VALUES ($1, $2, $3, $4) RETURNING {SCHEMA_COLUMNS}"
    )))
    .bind(org)
    .bind(&schema.name)
    .bind(&schema.attributes)
    .bind(&schema.dimensions)
    .fetch_one(&mut *conn)
    .await?)
}

/// The organisation's event schemas (each its current version), by name, INACTIVE
/// ones included (ingest refuses their events by name).
pub async fn schemas(pool: &PgPool, org: &OrgId) -> Result<Vec<EventSchema>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SCHEMA_COLUMNS} FROM event_schemas WHERE org_id = $1 ORDER BY name"
    )))
    .bind(org)
    .fetch_all(pool)
    .await?)
}

/// One event schema as it is now (its current version), or
/// [`CatalogError::NotFound`] (also for another organisation's).
pub async fn get_schema(pool: &PgPool, org: &OrgId, name: &str) -> Result<EventSchema> {
    let row: Option<EventSchema> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SCHEMA_COLUMNS} FROM event_schemas WHERE org_id = $1 AND name = $2"
    )))
    .bind(org)
    .bind(name)
    .fetch_optional(pool)
    .await?;
    row.ok_or_else(|| CatalogError::NotFound {
        what: "event schema",
        org: org.to_string(),
        id: name.to_string(),
    })
}

/// Creates a usage meter over an existing ACTIVE schema: a SUM meter sums one of the
/// schema's attributes, and filters name the schema's dimensions. Errors: a field
/// (invalid), the schema INACTIVE (conflict), the id taken (constraint).
pub async fn create_meter(pool: &PgPool, org: &OrgId, meter: &UsageMeter) -> Result<UsageMeter> {
    check_id("id", &meter.id)?;
    check_name("name", &meter.name)?;
    let mut tx = pool.begin().await?;
    check_measure(&mut tx, org, meter).await?;
    let row: MeterRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO usage_meters \
         (org_id, id, name, event_schema, aggregation, attribute, filters, computations) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {METER_COLUMNS}"
    )))
    .bind(org)
    .bind(&meter.id)
    .bind(&meter.name)
    .bind(&meter.event_schema_name)
    .bind(meter.aggregation.as_str())
    .bind(&meter.attribute)
    .bind(Json(&meter.filters))
    .bind(Json(&meter.computations))
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    row.into_meter()
}

/// Checks what `meter` measures against its schema, read `FOR SHARE` in `conn`'s
/// transaction (so it cannot be deactivated or lose a name meanwhile): the schema
/// exists (invalid otherwise) and is ACTIVE (conflict), a SUM meter sums one of its
/// attributes, a COUNT meter none, and filters name its dimensions.
pub(crate) async fn check_measure(
    conn: &mut sqlx::PgConnection,
    org: &OrgId,
    meter: &UsageMeter,
) -> Result<()> {
    let schema: Option<EventSchema> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SCHEMA_COLUMNS} FROM event_schemas WHERE org_id = $1 AND name = $2 FOR SHARE"
    )))
    .bind(org)
    .bind(&meter.event_schema_name)
    .fetch_optional(&mut *conn)
    .await?;
    let schema = schema.ok_or_else(|| {
        FieldError::new(
            "eventSchemaName",
            format!(
                "event schema {:?} does not exist in organisation {org:?}",
                meter.event_schema_name,
                org = org.as_str()
            ),
        )
    })?;
    if schema.status == CatalogStatus::Inactive {
        return Err(CatalogError::Conflict(format!(
            "eventSchemaName: event schema {:?} is INACTIVE: activate it before a meter \
             measures its events",
            schema.name
        )));
    }
    if !meter.computations.is_empty() {
        if meter.computations.len() > MAX_METER_COMPUTATIONS {
            return Err(FieldError::new(
                format!("computations[{MAX_METER_COMPUTATIONS}]"),
                format!(
                    "usage meter {:?}: at most {MAX_METER_COMPUTATIONS} computation (Togai's \
                     UsageMeter carries at most one, and its client refuses a meter with more)",
                    meter.id
                ),
            )
            .into());
        }
        if meter.attribute.is_some() {
            return Err(FieldError::new(
                "attribute",
                "a meter with computations sums what they compute, not an attribute",
            )
            .into());
        }
        for (i, c) in meter.computations.iter().enumerate() {
            let name = c.computation.trim();
            if is_bare_name(name) && !schema.attributes.iter().any(|a| a == name) {
                return Err(FieldError::new(
                    format!("computations[{i}].computation"),
                    format!(
                        "usage meter {:?}: {name:?} is not an attribute of event schema {:?} \
                         (attributes: {})",
                        meter.id,
                        schema.name,
                        schema.attributes.join(", ")
                    ),
                )
                .into());
            }
        }
        MeterLogic::compile(&meter.computations, meter.aggregation == Aggregation::Count).map_err(
            |e| {
                FieldError::new(
                    e.path(),
                    format!("usage meter {:?}: {}", meter.id, e.message),
                )
            },
        )?;
    }
    match (meter.aggregation, &meter.attribute) {
        (Aggregation::Sum, None) if !meter.computations.is_empty() => {}
        (Aggregation::Sum, None) => {
            return Err(
                FieldError::new("attribute", "a SUM meter needs the attribute it sums").into(),
            )
        }
        (Aggregation::Sum, Some(a)) if !schema.attributes.contains(a) => {
            return Err(FieldError::new(
                "attribute",
                format!(
                    "{a:?} is not an attribute of event schema {:?} (attributes: {})",
                    schema.name,
                    schema.attributes.join(", ")
                ),
            )
            .into())
        }
        (Aggregation::Count, Some(_)) => {
            return Err(FieldError::new("attribute", "a COUNT meter sums no attribute").into())
        }
        _ => {}
    }
    for dimension in meter.filters.keys() {
        if !schema.dimensions.contains(dimension) {
            return Err(FieldError::new(
                format!("filters.{dimension}"),
                format!(
                    "{dimension:?} is not a dimension of event schema {:?} (dimensions: {})",
                    schema.name,
                    schema.dimensions.join(", ")
                ),
            )
            .into());
        }
    }
    Ok(())
}

/// The organisation's usage meters, by id.
pub async fn meters(pool: &PgPool, org: &OrgId) -> Result<Vec<UsageMeter>> {
    let rows: Vec<MeterRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {METER_COLUMNS} FROM usage_meters WHERE org_id = $1 ORDER BY id"
    )))
    .bind(org)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(MeterRow::into_meter).collect()
}

/// One usage meter, or [`CatalogError::NotFound`].
pub async fn get_meter(pool: &PgPool, org: &str, id: &str) -> Result<UsageMeter> {
    let row: Option<MeterRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {METER_COLUMNS} FROM usage_meters WHERE org_id = $1 AND id = $2"
    )))
    .bind(org)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.ok_or_else(|| CatalogError::NotFound {
        what: "usage meter",
        org: org.to_string(),
        id: id.to_string(),
    })?
    .into_meter()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_unique_across_attributes_and_dimensions() {
        let s = EventSchema::new(
            "api".into(),
            vec!["tokens".into()],
            vec!["region".into(), "tokens".into()],
        );
        assert_eq!(s.validate().unwrap_err().path, "dimensions[1]");
        assert_eq!(
            Aggregation::parse("aggregation", "MAX").unwrap_err().path,
            "aggregation"
        );
    }
}
