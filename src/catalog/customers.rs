//! Customers: who is billed. A customer owns one or more accounts, which are what
//! plans are attached to and invoices are issued for.

use billrun_core::FieldError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};

use super::{check_email, check_id, check_name, input, orgs, CatalogError, Result};
use crate::store::OrgId;

/// A postal address in Togai's shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Address {
    /// First line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line1: Option<String>,
    /// Second line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    /// Postal code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// City.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// State or region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// ISO 3166-1 alpha-2 country code (`FR`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

impl Address {
    /// Whether no field is set (stored as NULL then).
    pub fn is_empty(&self) -> bool {
        *self == Address::default()
    }

    /// Checks every field: lines, city and state at most
    /// [`input::MAX_ADDRESS_CHARS`] (255) characters, the postal code at most
    /// [`input::MAX_POSTAL_CODE_CHARS`] (20), the country an ISO 3166-1 alpha-2
    /// code. Errors are at `field.line1`, ..., in Togai's names.
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        for (name, value, max) in [
            ("line1", &self.line1, input::MAX_ADDRESS_CHARS),
            ("line2", &self.line2, input::MAX_ADDRESS_CHARS),
            (
                "postalCode",
                &self.postal_code,
                input::MAX_POSTAL_CODE_CHARS,
            ),
            ("city", &self.city, input::MAX_ADDRESS_CHARS),
            ("state", &self.state, input::MAX_ADDRESS_CHARS),
        ] {
            if let Some(v) = value {
                input::check_len(name, v, max).map_err(|e| e.within(field))?;
            }
        }
        if let Some(c) = &self.country {
            if c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_uppercase()) {
                return Err(FieldError::new(
                    "country",
                    format!(
                        "{} is not an ISO 3166-1 alpha-2 code such as \"FR\"",
                        input::shown(c)
                    ),
                )
                .within(field));
            }
        }
        Ok(())
    }
}

/// A customer as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    /// Its id, unique in the organisation.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its main contact address.
    pub primary_email: Option<String>,
    /// Its postal address.
    pub address: Option<Address>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed by [`update`] (`None`: as created).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

/// A customer to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCustomer {
    /// Its id, unique in the organisation.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its main contact address.
    pub primary_email: Option<String>,
    /// Its postal address.
    pub address: Option<Address>,
}

#[derive(sqlx::FromRow)]
struct CustomerRow {
    id: String,
    name: String,
    primary_email: Option<String>,
    address: Option<Json<Address>>,
    created_at: DateTime<Utc>,
    updated_at: Option<DateTime<Utc>>,
}

impl From<CustomerRow> for Customer {
    fn from(r: CustomerRow) -> Self {
        Customer {
            id: r.id,
            name: r.name,
            primary_email: r.primary_email,
            address: r.address.map(|a| a.0),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl NewCustomer {
    /// The one check of a customer's fields, for every way in (`customer create`,
    /// the accounts CSV import, the API to come): the id ([`check_id`]), the name
    /// ([`check_name`]), the email ([`check_email`]), the address
    /// ([`Address::validate`]). Errors are in Togai's field names.
    pub fn validate(&self) -> Result<(), FieldError> {
        check_id("id", &self.id)?;
        check_name("name", &self.name)?;
        if let Some(e) = &self.primary_email {
            check_email("primaryEmail", e)?;
        }
        if let Some(a) = &self.address {
            a.validate("address")?;
        }
        Ok(())
    }
}

/// Creates a customer in organisation `org`.
pub async fn create(pool: &PgPool, org: &OrgId, new: &NewCustomer) -> Result<Customer> {
    let mut conn = pool.acquire().await?;
    create_in(&mut conn, org, new).await
}

/// [`create`] on `conn` (a transaction's, to create more with it: e.g.
/// [`create_with_account`]).
pub async fn create_in(
    conn: &mut PgConnection,
    org: &OrgId,
    new: &NewCustomer,
) -> Result<Customer> {
    new.validate()?;
    let address = new.address.as_ref().filter(|a| !a.is_empty());
    orgs::ensure_exists(&mut *conn, org).await?;
    let row: CustomerRow = sqlx::query_as(
        "INSERT INTO customers (org_id, id, name, primary_email, address) \
         VALUES ($1, $2, $3, $4, $5) \
         RETURNING id, name, primary_email, address, created_at, updated_at",
    )
    .bind(org)
    .bind(&new.id)
    .bind(&new.name)
    .bind(&new.primary_email)
    .bind(address.map(Json))
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.into())
}

/// Creates a customer and, if given, its first account with its aliases (Togai's
/// `CreateCustomerRequest.account`), all or nothing: one transaction, so a refused
/// account or alias (bad currency, duplicate id, an alias taken later, ...) leaves no
/// customer either. The account's `customer_id` is set to the customer's id. Errors:
/// those of [`create`], [`super::accounts::create`] and [`super::aliases::assign_in`].
pub async fn create_with_account(
    pool: &PgPool,
    org: &OrgId,
    new: &NewCustomer,
    account: Option<(&super::accounts::NewAccount, &[super::aliases::NewRange])>,
) -> Result<(Customer, Option<super::accounts::Account>)> {
    let mut tx = pool.begin().await?;
    let customer = create_in(&mut tx, org, new).await?;
    let account = match account {
        Some((a, ranges)) => {
            let a = super::accounts::NewAccount {
                customer_id: customer.id.clone(),
                ..a.clone()
            };
            let created = super::accounts::create_in(&mut tx, org, &a).await?;
            for r in ranges {
                super::aliases::assign_in(&mut tx, org, &r.alias, &a.id, r.from, r.until).await?;
            }
            Some(created)
        }
        None => None,
    };
    tx.commit().await?;
    Ok((customer, account))
}

/// What to change of a customer (Togai's `UpdateCustomerRequest`, `billrun customer
/// update`): each field given replaces the stored one; the address is replaced whole
/// (an empty address removes it). The id and the accounts do not change here.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerChanges {
    /// A new name.
    pub name: Option<String>,
    /// A new main contact address.
    pub primary_email: Option<String>,
    /// A new postal address.
    pub address: Option<Address>,
}

impl CustomerChanges {
    /// Whether nothing is to change.
    pub fn is_empty(&self) -> bool {
        *self == CustomerChanges::default()
    }

    /// The checks of [`NewCustomer::validate`] for the fields given; nothing given is
    /// refused (a change that changes nothing is a mistake, not a success).
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.is_empty() {
            return Err(FieldError::new(
                "name",
                "nothing to change: give name, primaryEmail or address",
            ));
        }
        if let Some(n) = &self.name {
            check_name("name", n)?;
        }
        if let Some(e) = &self.primary_email {
            check_email("primaryEmail", e)?;
        }
        if let Some(a) = &self.address {
            a.validate("address")?;
        }
        Ok(())
    }
}

/// Changes customer `id` of `org` ([`CustomerChanges`]) and answers it as stored, with
/// `updated_at` the change's time. Errors: a field ([`CustomerChanges::validate`]),
/// [`CatalogError::NotFound`] for a customer not in `org`.
pub async fn update(
    pool: &PgPool,
    org: &OrgId,
    id: &str,
    changes: &CustomerChanges,
) -> Result<Customer> {
    changes.validate()?;
    // Given: Some(the new address, None when empty); not given: None.
    let address: Option<Option<Json<Address>>> = changes
        .address
        .as_ref()
        .map(|a| (!a.is_empty()).then(|| Json(a.clone())));
    let row: Option<CustomerRow> = sqlx::query_as(
        "UPDATE customers SET name = coalesce($3, name), \
             primary_email = coalesce($4, primary_email), \
             address = CASE WHEN $5 THEN $6 ELSE address END, updated_at = now() \
         WHERE org_id = $1 AND id = $2 \
         RETURNING id, name, primary_email, address, created_at, updated_at",
    )
    .bind(org)
    .bind(id)
    .bind(&changes.name)
    .bind(&changes.primary_email)
    .bind(address.is_some())
    .bind(address.flatten())
    .fetch_optional(pool)
    .await?;
    row.map(Customer::from)
        .ok_or_else(|| CatalogError::NotFound {
            what: "customer",
            org: org.to_string(),
            id: id.to_string(),
        })
}

/// One customer, or [`CatalogError::NotFound`].
pub async fn get(pool: &PgPool, org: &str, id: &str) -> Result<Customer> {
    let row: Option<CustomerRow> = sqlx::query_as(
        "SELECT id, name, primary_email, address, created_at, updated_at FROM customers \
         WHERE org_id = $1 AND id = $2",
    )
    .bind(org)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.map(Customer::from)
        .ok_or_else(|| CatalogError::NotFound {
            what: "customer",
            org: org.to_string(),
            id: id.to_string(),
        })
}

/// The organisation's customers, by id.
pub async fn list(pool: &PgPool, org: &OrgId) -> Result<Vec<Customer>> {
    let rows: Vec<CustomerRow> = sqlx::query_as(
        "SELECT id, name, primary_email, address, created_at, updated_at FROM customers \
         WHERE org_id = $1 ORDER BY id",
    )
    .bind(org)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Customer::from).collect())
}

/// One page of the organisation's customers by id (keyset paging): at most `limit`
/// customers whose id sorts after `after` (all from the first when `None`), in
/// ascending id order (the database's collation, the order of the primary key's
/// index, which the query walks: no row before `after` is read).
pub async fn page(
    pool: &PgPool,
    org: &OrgId,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Customer>> {
    let rows: Vec<CustomerRow> = sqlx::query_as(
        "SELECT id, name, primary_email, address, created_at, updated_at FROM customers \
         WHERE org_id = $1 AND ($2::text IS NULL OR id > $2) \
         ORDER BY id LIMIT $3",
    )
    .bind(org)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Customer::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_uses_togai_field_names() {
        let a: Address =
            serde_json::from_str(r#"{"line1":"1 rue X","postalCode":"75001","country":"FR"}"#)
                .unwrap();
        assert_eq!(a.postal_code.as_deref(), Some("75001"));
        assert!(a.validate("address").is_ok());
        let bad = Address {
            country: Some("France".into()),
            ..Address::default()
        };
        assert_eq!(bad.validate("address").unwrap_err().path, "address.country");
        assert!(serde_json::from_str::<Address>(r#"{"zip":"1"}"#).is_err());
    }
}
