//! Changing, deactivating and deleting event schemas and usage meters, with the rules
//! that keep billing what it was (README "HTTP API", "Event schemas and usage
//! meters"):
//!
//! - A schema's attributes and dimensions can be added to, never removed: events
//!   recorded with it and meters reading it name them. Each change makes the schema's
//!   next version; the one replaced is kept (`event_schema_versions`). This is Togai's
//!   rule ("Once an event schema is activated, you cannot update or delete existing
//!   attributes and dimensions however you can add new attributes and dimensions",
//!   <https://docs.togai.com/api-reference/event-schemas/update-an-event-schema>),
//!   and billrun's schemas are active from creation.
//! - A meter is not versioned: rate cards name it by id and every bill run reads its
//!   definition as it is then, so changing what it measures (its schema, aggregation,
//!   attribute or filters) would re-rate the open cycles of every account on a plan
//!   naming it, without a trace. Such a change is refused (conflict) while any version
//!   of any price plan (DRAFT, ACTIVE or ARCHIVED) names the meter, and the message
//!   names them; its display name may always change. To measure differently, create
//!   another meter and move the plans to it (a new plan version, a plan migration).
//! - Deactivating a schema is refused while an ACTIVE meter measures it (Togai's rule,
//!   <https://docs.togai.com/api-reference/event-schemas/deactivate-an-event-schema>);
//!   an INACTIVE schema accepts no events at ingest. Deactivating a meter is refused
//!   while a plan version names it: Togai allows it ("Active Usage Meters with active
//!   Pricing Plan attached can also be deactivated",
//!   <https://docs.togai.com/api-reference/usage-meters/deactivate-usage-meter>), but
//!   in billrun the plan would go on billing the meter's usage, so a deactivation
//!   would not mean what it says. An INACTIVE meter cannot be finalized into a plan
//!   ([`crate::catalog::plans::finalize`]); activating a meter needs its schema ACTIVE.
//! - Deleting a schema is refused while a meter (of any status) measures it or usage
//!   events are recorded with it; deleting a meter while a plan version names it.
//!
//! Activating what is ACTIVE, or deactivating what is INACTIVE, changes nothing and
//! succeeds. Each function locks the row it changes (`FOR UPDATE`), and what it checks
//! against (`FOR SHARE`), so two concurrent changes cannot both pass their checks.

use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};

use super::{EventSchema, MeterRow, UsageMeter, METER_COLUMNS, SCHEMA_COLUMNS};
use crate::catalog::{CatalogError, Result};
use crate::store::status::CatalogStatus;
use crate::store::OrgId;

/// A change of a schema's attributes and dimensions: each list given replaces the
/// current one and must contain every name it had (additions only); `None` keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaChange {
    /// The attributes after the change.
    pub attributes: Option<Vec<String>>,
    /// The dimensions after the change.
    pub dimensions: Option<Vec<String>>,
}

/// One version of a schema: the current one ([`SchemaVersion::current`]), or one it
/// replaced (Togai's `ARCHIVED`; its `status` is then the schema's current status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaVersion {
    /// The version's attributes and dimensions, and its number.
    pub schema: EventSchema,
    /// Whether this is the schema's current version.
    pub current: bool,
}

fn schema_not_found(org: &OrgId, name: &str) -> CatalogError {
    CatalogError::NotFound {
        what: "event schema",
        org: org.to_string(),
        id: name.to_string(),
    }
}

fn meter_not_found(org: &OrgId, id: &str) -> CatalogError {
    CatalogError::NotFound {
        what: "usage meter",
        org: org.to_string(),
        id: id.to_string(),
    }
}

async fn lock_schema(conn: &mut PgConnection, org: &OrgId, name: &str) -> Result<EventSchema> {
    let row: Option<EventSchema> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SCHEMA_COLUMNS} FROM event_schemas WHERE org_id = $1 AND name = $2 FOR UPDATE"
    )))
    .bind(org)
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?;
    row.ok_or_else(|| schema_not_found(org, name))
}

async fn lock_meter(conn: &mut PgConnection, org: &OrgId, id: &str) -> Result<UsageMeter> {
    let row: Option<MeterRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {METER_COLUMNS} FROM usage_meters WHERE org_id = $1 AND id = $2 FOR UPDATE"
    )))
    .bind(org)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.ok_or_else(|| meter_not_found(org, id))?.into_meter()
}

/// Changes a schema's attributes and dimensions (additions only): a change makes the
/// next version and keeps the replaced one; lists equal to the current ones change
/// nothing. Errors: the schema does not exist (not found), a name is removed
/// (conflict, naming it), a name is not an id or is listed twice (invalid).
pub async fn update_schema(
    pool: &PgPool,
    org: &OrgId,
    name: &str,
    change: &SchemaChange,
) -> Result<EventSchema> {
    let mut tx = pool.begin().await?;
    let current = lock_schema(&mut tx, org, name).await?;
    let mut next = current.clone();
    for (field, old, new, slot) in [
        (
            "attributes",
            &current.attributes,
            &change.attributes,
            &mut next.attributes,
        ),
        (
            "dimensions",
            &current.dimensions,
            &change.dimensions,
            &mut next.dimensions,
        ),
    ] {
        let Some(new) = new else { continue };
        let removed: Vec<&str> = old
            .iter()
            .filter(|n| !new.iter().any(|m| m == *n))
            .map(String::as_str)
            .collect();
        if !removed.is_empty() {
            return Err(CatalogError::Conflict(format!(
                "{field}: {removed:?} cannot be removed from event schema {name:?}: an event \
                 schema's attributes and dimensions can be added to, not removed (recorded \
                 events and usage meters name them); send every current one and the new ones"
            )));
        }
        *slot = new.clone();
    }
    next.validate()?;
    if next == current {
        return Ok(current);
    }
    sqlx::query(
        "INSERT INTO event_schema_versions (org_id, name, version, attributes, dimensions, created_at) \
         SELECT s.org_id, s.name, s.version, s.attributes, s.dimensions, \
                COALESCE((SELECT max(v.archived_at) FROM event_schema_versions v \
                          WHERE v.org_id = s.org_id AND v.name = s.name), s.created_at) \
         FROM event_schemas s WHERE s.org_id = $1 AND s.name = $2",
    )
    .bind(org)
    .bind(name)
    .execute(&mut *tx)
    .await?;
    let updated: EventSchema = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE event_schemas SET attributes = $3, dimensions = $4, version = version + 1, \
         updated_at = now() WHERE org_id = $1 AND name = $2 RETURNING {SCHEMA_COLUMNS}"
    )))
    .bind(org)
    .bind(name)
    .bind(&next.attributes)
    .bind(&next.dimensions)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(updated)
}

/// Every version of a schema, oldest first, the current one last. Errors: the schema
/// does not exist (not found).
pub async fn schema_versions(pool: &PgPool, org: &OrgId, name: &str) -> Result<Vec<SchemaVersion>> {
    let current = super::get_schema(pool, org, name).await?;
    let older: Vec<(i32, Vec<String>, Vec<String>)> = sqlx::query_as(
        "SELECT version, attributes, dimensions FROM event_schema_versions \
         WHERE org_id = $1 AND name = $2 ORDER BY version",
    )
    .bind(org)
    .bind(name)
    .fetch_all(pool)
    .await?;
    let mut versions: Vec<SchemaVersion> = older
        .into_iter()
        .map(|(version, attributes, dimensions)| SchemaVersion {
            schema: EventSchema {
                name: current.name.clone(),
                attributes,
                dimensions,
                version: version.max(1) as u32,
                status: current.status,
            },
            current: false,
        })
        .collect();
    versions.push(SchemaVersion {
        schema: current,
        current: true,
    });
    Ok(versions)
}

/// Activates or deactivates a schema. Deactivating is refused while an ACTIVE meter
/// measures it (conflict, naming the meters). Errors: the schema does not exist (not
/// found).
pub async fn set_schema_status(
    pool: &PgPool,
    org: &OrgId,
    name: &str,
    status: CatalogStatus,
) -> Result<EventSchema> {
    let mut tx = pool.begin().await?;
    let current = lock_schema(&mut tx, org, name).await?;
    if current.status == status {
        return Ok(current);
    }
    if status == CatalogStatus::Inactive {
        let meters: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM usage_meters WHERE org_id = $1 AND event_schema = $2 \
             AND status = 'ACTIVE' ORDER BY id FOR SHARE",
        )
        .bind(org)
        .bind(name)
        .fetch_all(&mut *tx)
        .await?;
        if !meters.is_empty() {
            return Err(CatalogError::Conflict(format!(
                "event schema {name:?} is measured by the ACTIVE usage meter(s) {meters:?}: \
                 deactivate them first"
            )));
        }
    }
    let updated: EventSchema = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE event_schemas SET status = $3, updated_at = now() \
         WHERE org_id = $1 AND name = $2 RETURNING {SCHEMA_COLUMNS}"
    )))
    .bind(org)
    .bind(name)
    .bind(status)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(updated)
}

/// Deletes a schema and its versions. Refused (conflict) while a usage meter measures
/// it or usage events are recorded with it. Errors: the schema does not exist (not
/// found).
pub async fn delete_schema(pool: &PgPool, org: &OrgId, name: &str) -> Result<()> {
    let mut tx = pool.begin().await?;
    lock_schema(&mut tx, org, name).await?;
    let meters: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM usage_meters WHERE org_id = $1 AND event_schema = $2 ORDER BY id",
    )
    .bind(org)
    .bind(name)
    .fetch_all(&mut *tx)
    .await?;
    if !meters.is_empty() {
        return Err(CatalogError::Conflict(format!(
            "event schema {name:?} is measured by the usage meter(s) {meters:?}: delete them \
             first"
        )));
    }
    let has_events: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM usage_events WHERE org_id = $1 AND schema_name = $2)",
    )
    .bind(org)
    .bind(name)
    .fetch_one(&mut *tx)
    .await?;
    if has_events {
        return Err(CatalogError::Conflict(format!(
            "event schema {name:?} has usage events recorded with it, which keep naming it: \
             deactivate it instead"
        )));
    }
    sqlx::query("DELETE FROM event_schemas WHERE org_id = $1 AND name = $2")
        .bind(org)
        .bind(name)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The price plan versions whose usage rate cards name meter `id`, as `plan id`,
/// `version`, `status`, by plan and version.
pub async fn plans_naming_meter(
    conn: &mut PgConnection,
    org: &OrgId,
    id: &str,
) -> Result<Vec<(String, i32, String)>> {
    Ok(sqlx::query_as(
        "SELECT plan_id, version, status FROM price_plan_versions \
         WHERE org_id = $1 \
           AND definition -> 'usageRateCards' @> jsonb_build_array(jsonb_build_object('usageMeterId', $2::text)) \
         ORDER BY plan_id, version",
    )
    .bind(org)
    .bind(id)
    .fetch_all(&mut *conn)
    .await?)
}

/// Refuses (conflict) `what` of meter `id` when a plan version names it, naming them.
async fn refuse_if_named(conn: &mut PgConnection, org: &OrgId, id: &str, what: &str) -> Result<()> {
    let users = plans_naming_meter(conn, org, id).await?;
    if users.is_empty() {
        return Ok(());
    }
    let named: Vec<String> = users
        .iter()
        .map(|(plan, version, status)| format!("{plan:?} version {version} ({status})"))
        .collect();
    Err(CatalogError::Conflict(format!(
        "usage meter {id:?} is named by the rate cards of price plan {}: {what}",
        named.join(", ")
    )))
}

/// Replaces meter `id`'s name and what it measures with `updated`'s (its id and
/// status stay), if it is still `expected` (what the caller read to build `updated`;
/// otherwise a conflict: it changed meanwhile). Changing what it measures (schema,
/// aggregation, attribute, filters, computations) is refused (conflict) while a plan version names
/// it, and checked against its schema as at creation. Errors: the meter does not exist
/// (not found), a field (invalid).
pub async fn update_meter(
    pool: &PgPool,
    org: &OrgId,
    expected: &UsageMeter,
    updated: &UsageMeter,
) -> Result<UsageMeter> {
    crate::catalog::check_name("name", &updated.name)?;
    let id = expected.id.as_str();
    let mut tx = pool.begin().await?;
    let current = lock_meter(&mut tx, org, id).await?;
    if &current != expected {
        return Err(CatalogError::Conflict(format!(
            "usage meter {id:?} changed while this change was made: send it again"
        )));
    }
    let measure_changes = current.event_schema_name != updated.event_schema_name
        || current.aggregation != updated.aggregation
        || current.attribute != updated.attribute
        || current.filters != updated.filters
        || current.computations != updated.computations;
    if measure_changes {
        refuse_if_named(
            &mut tx,
            org,
            id,
            "what it measures (eventSchemaName, aggregation, computations, filters) cannot \
             change, as invoices are rated with it; create another usage meter and move the \
             plans to it",
        )
        .await?;
        super::check_measure(&mut tx, org, updated).await?;
    }
    let row: MeterRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE usage_meters SET name = $3, event_schema = $4, aggregation = $5, \
         attribute = $6, filters = $7, computations = $8, updated_at = now() \
         WHERE org_id = $1 AND id = $2 RETURNING {METER_COLUMNS}"
    )))
    .bind(org)
    .bind(id)
    .bind(&updated.name)
    .bind(&updated.event_schema_name)
    .bind(updated.aggregation.as_str())
    .bind(&updated.attribute)
    .bind(Json(&updated.filters))
    .bind(Json(&updated.computations))
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    row.into_meter()
}

/// Activates or deactivates a meter. Activating needs its schema ACTIVE; deactivating
/// is refused while a plan version names it (conflicts, naming why). Errors: the meter
/// does not exist (not found).
pub async fn set_meter_status(
    pool: &PgPool,
    org: &OrgId,
    id: &str,
    status: CatalogStatus,
) -> Result<UsageMeter> {
    let mut tx = pool.begin().await?;
    let current = lock_meter(&mut tx, org, id).await?;
    if current.status == status {
        return Ok(current);
    }
    match status {
        CatalogStatus::Active => {
            let schema_status: CatalogStatus = sqlx::query_scalar(
                "SELECT status FROM event_schemas WHERE org_id = $1 AND name = $2 FOR SHARE",
            )
            .bind(org)
            .bind(&current.event_schema_name)
            .fetch_one(&mut *tx)
            .await?;
            if schema_status == CatalogStatus::Inactive {
                return Err(CatalogError::Conflict(format!(
                    "usage meter {id:?} measures event schema {:?}, which is INACTIVE: \
                     activate the schema first",
                    current.event_schema_name
                )));
            }
        }
        CatalogStatus::Inactive => {
            refuse_if_named(
                &mut tx,
                org,
                id,
                "it cannot be deactivated while they bill it; remove it from them (a new plan \
                 version, a plan migration) first",
            )
            .await?;
        }
    }
    let row: MeterRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE usage_meters SET status = $3, updated_at = now() \
         WHERE org_id = $1 AND id = $2 RETURNING {METER_COLUMNS}"
    )))
    .bind(org)
    .bind(id)
    .bind(status)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    row.into_meter()
}

/// Deletes a meter. Refused (conflict) while a plan version names it. Errors: the
/// meter does not exist (not found).
pub async fn delete_meter(pool: &PgPool, org: &OrgId, id: &str) -> Result<()> {
    let mut tx = pool.begin().await?;
    lock_meter(&mut tx, org, id).await?;
    refuse_if_named(&mut tx, org, id, "it cannot be deleted while they name it").await?;
    sqlx::query("DELETE FROM usage_meters WHERE org_id = $1 AND id = $2")
        .bind(org)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
