//! Features: what entitlement and overage cards name as `featureId` (Togai's
//! `Feature`, `CreateFeatureRequest`: togai-client 1.0.3 `models/feature.py`). A
//! feature's use over a time range is the sum of `attributeName` of the events of each
//! associated schema (an event without the attribute counts 0).

use billrun_core::FieldError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::PgPool;

use crate::catalog::{check_id, check_name, CatalogError, Result};
use crate::store::OrgId;

/// One `schemaAssociations` entry: the events of `schemaName` count `attributeName`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SchemaAssociation {
    /// An event schema of the organisation.
    pub schema_name: String,
    /// One of its attributes.
    pub attribute_name: String,
}

/// A feature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Feature {
    /// Its id: what rate cards name as `featureId` (at most 50 characters, no
    /// whitespace). billrun makes it the feature's name at creation.
    pub id: String,
    /// Its name (at most 255 characters).
    pub name: String,
    /// The name shown on invoices instead of `name`, if any.
    pub billable_name: Option<String>,
    /// The schema attributes whose sum is its use (at most 50).
    #[sqlx(json)]
    pub schema_associations: Vec<SchemaAssociation>,
    /// When it was created (UTC).
    pub created_at: DateTime<Utc>,
    /// When it last changed (UTC), if ever.
    pub updated_at: Option<DateTime<Utc>>,
}

impl Feature {
    /// `billableName`, else `name` (Togai's `displayName`).
    pub fn display_name(&self) -> &str {
        self.billable_name.as_deref().unwrap_or(&self.name)
    }
}

const COLUMNS: &str = "id, name, billable_name, schema_associations, created_at, updated_at";

/// Creates a feature whose id is `name`. Errors: `name` not an id (invalid), more
/// than 50 associations or a schema that does not exist or lacks the attribute
/// (invalid, naming `schemaAssociations[i]`), the organisation missing (not found),
/// the id taken (conflict).
pub async fn create(
    pool: &PgPool,
    org: &OrgId,
    name: &str,
    billable_name: Option<&str>,
    associations: &[SchemaAssociation],
    at: DateTime<Utc>,
) -> Result<Feature> {
    check_id("name", name)?;
    if let Some(b) = billable_name {
        check_name("billableName", b)?;
    }
    let mut tx = pool.begin().await?;
    crate::catalog::orgs::ensure_exists(&mut tx, org).await?;
    check_associations(&mut tx, org, associations).await?;
    let taken: Option<String> =
        sqlx::query_scalar("SELECT id FROM features WHERE org_id = $1 AND id = $2")
            .bind(org)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
    if taken.is_some() {
        return Err(CatalogError::Conflict(format!(
            "a feature {name:?} exists already in organisation {org:?}"
        )));
    }
    let f: Feature = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO features (org_id, id, name, billable_name, schema_associations, created_at)
         VALUES ($1, $2, $2, $3, $4, $5) RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(name)
    .bind(billable_name)
    .bind(Json(associations))
    .bind(at)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(f)
}

/// Errors unless each association names an event schema of the organisation and one
/// of its attributes (the error names `schemaAssociations[i]`).
async fn check_associations(
    tx: &mut sqlx::PgConnection,
    org: &OrgId,
    associations: &[SchemaAssociation],
) -> Result<()> {
    if associations.len() > 50 {
        return Err(FieldError::new("schemaAssociations", "at most 50 associations").into());
    }
    for (i, a) in associations.iter().enumerate() {
        let attributes: Option<Vec<String>> = sqlx::query_scalar(
            "SELECT attributes FROM event_schemas WHERE org_id = $1 AND name = $2",
        )
        .bind(org)
        .bind(&a.schema_name)
        .fetch_optional(&mut *tx)
        .await?;
        let field = format!("schemaAssociations[{i}]");
        match attributes {
            None => {
                return Err(FieldError::new(
                    format!("{field}.schemaName"),
                    format!("event schema {:?} does not exist", a.schema_name),
                )
                .into())
            }
            Some(attrs) if !attrs.contains(&a.attribute_name) => {
                return Err(FieldError::new(
                    format!("{field}.attributeName"),
                    format!(
                        "{:?} is not an attribute of {:?}: expected one of {}",
                        a.attribute_name,
                        a.schema_name,
                        attrs.join(", ")
                    ),
                )
                .into())
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// What a feature update changes (Togai's `UpdateFeatureRequest`): each field given
/// replaces the stored one; a field left out (or JSON null) keeps it. The id never
/// changes (rate cards name it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FeaturePatch {
    /// The new name (at most 255 characters).
    #[serde(default)]
    pub name: Option<String>,
    /// The new name shown on invoices.
    #[serde(default)]
    pub billable_name: Option<String>,
    /// The new schema attributes whose sum is its use (at most 50), replacing all.
    #[serde(default)]
    pub schema_associations: Option<Vec<SchemaAssociation>>,
}

/// Updates a feature (`updatedAt` becomes `at`). A change of associations changes
/// its use from the next cycle close on: invoices and drafts already computed are
/// not recomputed. Errors: a name or billable name too long or empty, an association
/// as [`create`] refuses it (invalid), the feature not in the organisation (not
/// found).
pub async fn update(
    pool: &PgPool,
    org: &OrgId,
    id: &str,
    patch: &FeaturePatch,
    at: DateTime<Utc>,
) -> Result<Feature> {
    if let Some(n) = &patch.name {
        check_name("name", n)?;
    }
    if let Some(b) = &patch.billable_name {
        check_name("billableName", b)?;
    }
    let mut tx = pool.begin().await?;
    get(pool, org, id).await?;
    if let Some(a) = &patch.schema_associations {
        check_associations(&mut tx, org, a).await?;
    }
    let f: Feature = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE features SET name = coalesce($3, name),
                billable_name = coalesce($4, billable_name),
                schema_associations = coalesce($5, schema_associations),
                updated_at = $6
         WHERE org_id = $1 AND id = $2 RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(id)
    .bind(&patch.name)
    .bind(&patch.billable_name)
    .bind(patch.schema_associations.as_ref().map(Json))
    .bind(at)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(f)
}

/// The organisation's features, by id.
pub async fn list(pool: &PgPool, org: &OrgId) -> Result<Vec<Feature>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM features WHERE org_id = $1 ORDER BY id"
    )))
    .bind(org)
    .fetch_all(pool)
    .await?)
}

/// One feature, or [`CatalogError::NotFound`] (also for another organisation's).
pub async fn get(pool: &PgPool, org: &OrgId, id: &str) -> Result<Feature> {
    let row: Option<Feature> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM features WHERE org_id = $1 AND id = $2"
    )))
    .bind(org)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.ok_or_else(|| CatalogError::NotFound {
        what: "feature",
        org: org.to_string(),
        id: id.to_string(),
    })
}
