//! Add-ons (Togai's `AddOn`, `CreateAddOnRequest`, `UpdateAddOnRequest`, `AddOnType`:
//! togai-client 1.0.3 `models/add_on*.py`; README "Add-ons and named licenses"): a
//! catalog object per organisation that fixed fee, license and credit grant cards name
//! as `addOnId`. An add-on's type says which cards may name it (FIXED_FEE: fixed fee
//! cards; CREDIT_GRANT: credit grant cards; LICENSE: LICENSE license cards;
//! NAMED_LICENSE: NAMED_LICENSE license cards). The lines of a card that names an
//! add-on show the add-on's `billableName`, else its name (Togai: "Billable name takes
//! precedence over name to display in invoice").
//!
//! An add-on's id is its name at creation (as features'); a later rename keeps the id.
//! Deleting an add-on archives it (Togai's `DELETE /addons/{addon_id}` "Archive an
//! addOn"): it stays listed and named by the plan versions that name it, but a plan
//! applied from then on may not name it.

use std::collections::{BTreeMap, HashMap};

use billrun_core::error::FieldErrors;
use billrun_core::plan::Plan;
use billrun_core::FieldError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

use super::{check_id, check_name, CatalogError, Result};
use crate::store::OrgId;

/// Which cards may name an add-on (Togai's `AddOnType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AddOnType {
    /// LICENSE license cards.
    License,
    /// Fixed fee cards.
    FixedFee,
    /// Credit grant cards.
    CreditGrant,
    /// NAMED_LICENSE license cards.
    NamedLicense,
}

impl AddOnType {
    /// Togai's name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            AddOnType::License => "LICENSE",
            AddOnType::FixedFee => "FIXED_FEE",
            AddOnType::CreditGrant => "CREDIT_GRANT",
            AddOnType::NamedLicense => "NAMED_LICENSE",
        }
    }

    /// Parses Togai's name; the error is on `field`.
    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        match s {
            "LICENSE" => Ok(AddOnType::License),
            "FIXED_FEE" => Ok(AddOnType::FixedFee),
            "CREDIT_GRANT" => Ok(AddOnType::CreditGrant),
            "NAMED_LICENSE" => Ok(AddOnType::NamedLicense),
            _ => Err(FieldError::new(
                field,
                format!(
                    "unknown add-on type {s:?}: expected LICENSE, FIXED_FEE, CREDIT_GRANT or \
                     NAMED_LICENSE"
                ),
            )),
        }
    }
}

/// An add-on, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AddOn {
    /// Its id (its name at creation; at most 50 characters, no whitespace).
    pub id: String,
    /// Its name (at most 255 characters).
    pub name: String,
    /// Which cards may name it.
    #[serde(rename = "type")]
    pub add_on_type: AddOnType,
    /// Shown on invoices instead of the name, if any.
    pub billable_name: Option<String>,
    /// ACTIVE, or ARCHIVED once deleted.
    pub status: String,
    /// When it was created (UTC).
    pub created_at: DateTime<Utc>,
    /// When it last changed (UTC), if ever.
    pub updated_at: Option<DateTime<Utc>>,
}

impl AddOn {
    /// `billableName`, else `name` (Togai's `displayName`): the name of its cards'
    /// invoice lines.
    pub fn display_name(&self) -> &str {
        self.billable_name.as_deref().unwrap_or(&self.name)
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    name: String,
    type_: String,
    billable_name: Option<String>,
    status: String,
    created_at: DateTime<Utc>,
    updated_at: Option<DateTime<Utc>>,
}

impl Row {
    fn into_add_on(self) -> Result<AddOn> {
        let add_on_type =
            AddOnType::parse("type", &self.type_).map_err(|e| CatalogError::Corrupt {
                what: format!("add_ons.type of {:?}", self.id),
                message: e.to_string(),
            })?;
        Ok(AddOn {
            id: self.id,
            name: self.name,
            add_on_type,
            billable_name: self.billable_name,
            status: self.status,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

const COLUMNS: &str = "id, name, type AS type_, billable_name, status, created_at, updated_at";

fn not_found(org: &OrgId, id: &str) -> CatalogError {
    CatalogError::NotFound {
        what: "add-on",
        org: org.to_string(),
        id: id.to_string(),
    }
}

/// Creates an ACTIVE add-on whose id is `name`. Errors: `name` not an id or
/// `billableName` empty (invalid), the organisation missing (not found), the id taken
/// (conflict, also by an archived add-on).
pub async fn create(
    pool: &PgPool,
    org: &OrgId,
    name: &str,
    add_on_type: AddOnType,
    billable_name: Option<&str>,
    at: DateTime<Utc>,
) -> Result<AddOn> {
    check_id("name", name)?;
    if let Some(b) = billable_name {
        check_name("billableName", b)?;
    }
    let mut tx = pool.begin().await?;
    crate::catalog::orgs::ensure_exists(&mut tx, org).await?;
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO add_ons (org_id, id, name, type, billable_name, created_at) \
         VALUES ($1, $2, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(name)
    .bind(add_on_type.as_str())
    .bind(billable_name)
    .bind(at)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Err(CatalogError::Conflict(format!(
            "an add-on {name:?} exists already in organisation {:?}",
            org.as_str()
        )));
    };
    tx.commit().await?;
    row.into_add_on()
}

/// The organisation's add-ons (ACTIVE and ARCHIVED), by id.
pub async fn list(pool: &PgPool, org: &OrgId) -> Result<Vec<AddOn>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM add_ons WHERE org_id = $1 ORDER BY id"
    )))
    .bind(org)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(Row::into_add_on).collect()
}

/// One add-on, or [`CatalogError::NotFound`] (also for another organisation's).
pub async fn get(pool: &PgPool, org: &OrgId, id: &str) -> Result<AddOn> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM add_ons WHERE org_id = $1 AND id = $2"
    )))
    .bind(org)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.ok_or_else(|| not_found(org, id))?.into_add_on()
}

/// Changes an add-on's name and/or billable name (Togai's `UpdateAddOnRequest`; an
/// absent field keeps its value; the id and type never change). Invoices computed
/// from then on show the new billable name. Errors: both absent or a value empty
/// (invalid), no such add-on (not found).
pub async fn update(
    pool: &PgPool,
    org: &OrgId,
    id: &str,
    name: Option<&str>,
    billable_name: Option<&str>,
    at: DateTime<Utc>,
) -> Result<AddOn> {
    if name.is_none() && billable_name.is_none() {
        return Err(FieldError::new("name", "give name and/or billableName to change").into());
    }
    if let Some(n) = name {
        check_name("name", n)?;
    }
    if let Some(b) = billable_name {
        check_name("billableName", b)?;
    }
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE add_ons SET name = coalesce($3, name), \
         billable_name = coalesce($4, billable_name), updated_at = $5 \
         WHERE org_id = $1 AND id = $2 RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(id)
    .bind(name)
    .bind(billable_name)
    .bind(at)
    .fetch_optional(pool)
    .await?;
    row.ok_or_else(|| not_found(org, id))?.into_add_on()
}

/// Archives an add-on (Togai's delete). Archiving an archived add-on changes nothing
/// and answers it. Errors: no such add-on (not found).
pub async fn archive(pool: &PgPool, org: &OrgId, id: &str, at: DateTime<Utc>) -> Result<AddOn> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE add_ons SET status = 'ARCHIVED', \
         updated_at = CASE WHEN status = 'ARCHIVED' THEN updated_at ELSE $3 END \
         WHERE org_id = $1 AND id = $2 RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(id)
    .bind(at)
    .fetch_optional(pool)
    .await?;
    row.ok_or_else(|| not_found(org, id))?.into_add_on()
}

/// The add-on type a card of this kind may name (`kind` is the plan key, e.g.
/// `licenseRateCards`; `named` a NAMED_LICENSE license card).
fn type_for(kind: &str, named: bool) -> AddOnType {
    match (kind, named) {
        ("fixedFeeRateCards", _) => AddOnType::FixedFee,
        ("creditGrantRateCards", _) => AddOnType::CreditGrant,
        (_, true) => AddOnType::NamedLicense,
        _ => AddOnType::License,
    }
}

/// `(path of the card, card name, add-on id, add-on type it needs)` of each card of
/// `plan` that names an add-on, in the plan's order.
fn add_on_refs(plan: &Plan) -> Vec<(String, String, String, AddOnType)> {
    let fixed = plan.fixed_fee_cards.iter().map(|c| (&c.card, false));
    let license = plan.license_cards.iter().map(|c| (&c.card, c.named));
    let credit = plan.credit_grant_cards.iter().map(|c| (&c.card, false));
    let kinds = [
        ("fixedFeeRateCards", fixed.collect::<Vec<_>>()),
        ("licenseRateCards", license.collect()),
        ("creditGrantRateCards", credit.collect()),
    ];
    let mut out = Vec::new();
    for (kind, cards) in kinds {
        for (i, (card, named)) in cards.into_iter().enumerate() {
            if let Some(id) = &card.add_on_id {
                out.push((
                    format!("{kind}[{i}].addOnId"),
                    card.name.clone(),
                    id.clone(),
                    type_for(kind, named),
                ));
            }
        }
    }
    out
}

/// The check of a plan being applied ([`crate::catalog::plans::apply`]): every
/// `addOnId` names an ACTIVE add-on of the organisation whose type fits the card.
/// Every problem is reported at once ([`CatalogError::InvalidPlan`]), each on the
/// card's `addOnId` path, naming the card and the add-on.
pub async fn check_plan(conn: &mut PgConnection, org: &str, plan: &Plan) -> Result<()> {
    let refs = add_on_refs(plan);
    if refs.is_empty() {
        return Ok(());
    }
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT id, type, status FROM add_ons WHERE org_id = $1")
            .bind(org)
            .fetch_all(&mut *conn)
            .await?;
    let known: BTreeMap<String, (String, String)> =
        rows.into_iter().map(|(id, t, s)| (id, (t, s))).collect();
    let mut errors = Vec::new();
    for (path, card, id, needed) in refs {
        let message = match known.get(&id) {
            None => format!(
                "card {card:?}: add-on {id:?} does not exist in organisation {org:?} \
                 (create it with `billrun addon create` or POST /addons)"
            ),
            Some((t, _)) if t != needed.as_str() => format!(
                "card {card:?}: add-on {id:?} is of type {t}, this card needs a {} add-on",
                needed.as_str()
            ),
            Some((_, s)) if s != "ACTIVE" => {
                format!("card {card:?}: add-on {id:?} is {s}")
            }
            Some(_) => continue,
        };
        errors.push(FieldError::new(path, message));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CatalogError::InvalidPlan(FieldErrors(errors)))
    }
}

/// Sets the `displayName` of each card of a plan definition (Togai JSON) that names
/// an add-on in `names` to that add-on's display name, so that its invoice lines show
/// it (the bill run calls this before parsing). Cards without `addOnId`, or naming an
/// add-on not in `names`, are left alone.
pub fn show_add_on_names(definition: &mut serde_json::Value, names: &HashMap<String, String>) {
    for key in [
        "fixedFeeRateCards",
        "licenseRateCards",
        "creditGrantRateCards",
    ] {
        let Some(serde_json::Value::Array(cards)) = definition.get_mut(key) else {
            continue;
        };
        for card in cards {
            let name = card
                .get("addOnId")
                .and_then(|v| v.as_str())
                .and_then(|id| names.get(id));
            if let Some(name) = name {
                card["displayName"] = serde_json::Value::String(name.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_naming_an_add_on_show_its_name() {
        let mut def = serde_json::json!({
            "fixedFeeRateCards": [
                {"name": "support", "displayName": "Support", "addOnId": "prio"},
                {"name": "setup"}
            ],
            "licenseRateCards": [{"name": "seats", "addOnId": "unknown"}]
        });
        let names = HashMap::from([("prio".to_string(), "Priority support".to_string())]);
        show_add_on_names(&mut def, &names);
        assert_eq!(
            def["fixedFeeRateCards"][0]["displayName"],
            "Priority support"
        );
        assert!(def["fixedFeeRateCards"][1].get("displayName").is_none());
        assert!(def["licenseRateCards"][0].get("displayName").is_none());
    }

    #[test]
    fn add_on_types_parse_as_togai_names_them() {
        for t in [
            AddOnType::License,
            AddOnType::FixedFee,
            AddOnType::CreditGrant,
            AddOnType::NamedLicense,
        ] {
            assert_eq!(AddOnType::parse("type", t.as_str()).unwrap(), t);
        }
        assert!(AddOnType::parse("type", "USAGE").is_err());
    }
}
