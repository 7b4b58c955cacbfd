//! A customer's contacts (Togai's `POST /customers/{id}/contacts`): people to reach at
//! the customer, kept in `customer_contacts` with their customer and deleted with it
//! ([`super::history::delete_customer`]).
//!
//! In Togai a contact is a user of its customer portal. billrun has no customer portal:
//! a contact cannot log in, so a password, `loginAccess: true` and `verified: true`
//! are refused rather than stored or ignored; and invoices are emailed to the
//! account's billing emails (`billingInformation`), never to contacts.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use billrun_core::FieldError;

use super::{check_email, input, CatalogError, Result};
use crate::store::OrgId;

/// Togai's limits: a name at most 50 characters, a phone number at most 20 (what its
/// client accepts back), a preferred username 3 to 50 letters and digits.
const MAX_NAME_CHARS: usize = 50;
const MAX_PHONE_CHARS: usize = 20;

/// A contact to add to a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContact {
    /// Its username, if the caller chose one (3 to 50 letters and digits); else one
    /// is made up (`ct_<ulid>`).
    pub preferred_username: Option<String>,
    /// Its name (at most 50 characters).
    pub name: String,
    /// Its email address, unique among the customer's contacts.
    pub email: String,
    /// Its phone number (at most 20 characters).
    pub phone: Option<String>,
}

/// A contact as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    /// Its username: the preferred one, or the one made up.
    pub username: String,
    /// The customer it belongs to.
    pub customer_id: String,
    /// The username asked for, if any.
    pub preferred_username: Option<String>,
    /// Its name.
    pub name: String,
    /// Its email address.
    pub email: String,
    /// Its phone number.
    pub phone: Option<String>,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

impl NewContact {
    /// Checks every field; errors in Togai's names (`preferredUsername`, `name`,
    /// `email`, `phone`).
    pub fn validate(&self) -> Result<(), FieldError> {
        if let Some(u) = &self.preferred_username {
            let ok = (3..=50).contains(&u.chars().count())
                && u.chars().all(|c| c.is_ascii_alphanumeric());
            if !ok {
                return Err(FieldError::new(
                    "preferredUsername",
                    format!("{} is not 3 to 50 letters and digits", input::shown(u)),
                ));
            }
        }
        if self.name.trim().is_empty() {
            return Err(FieldError::new("name", "must not be empty"));
        }
        input::check_len("name", &self.name, MAX_NAME_CHARS)?;
        check_email("email", &self.email)?;
        if let Some(p) = &self.phone {
            input::check_len("phone", p, MAX_PHONE_CHARS)?;
        }
        Ok(())
    }
}

/// Adds a contact to customer `customer` of `org`. Errors: a field
/// ([`NewContact::validate`]), [`CatalogError::NotFound`] for a customer not in `org`,
/// a conflict for a username taken in the organisation or an email the customer's
/// contacts have already.
pub async fn add(pool: &PgPool, org: &OrgId, customer: &str, new: &NewContact) -> Result<Contact> {
    new.validate()?;
    let exists: Option<String> =
        sqlx::query_scalar("SELECT id FROM customers WHERE org_id = $1 AND id = $2")
            .bind(org)
            .bind(customer)
            .fetch_optional(pool)
            .await?;
    if exists.is_none() {
        return Err(CatalogError::NotFound {
            what: "customer",
            org: org.to_string(),
            id: customer.to_string(),
        });
    }
    let username = new
        .preferred_username
        .clone()
        .unwrap_or_else(|| format!("ct_{}", ulid::Ulid::generate().to_string().to_lowercase()));
    let contact: Contact = sqlx::query_as(
        "INSERT INTO customer_contacts (org_id, username, customer_id, preferred_username, \
         name, email, phone) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         RETURNING username, customer_id, preferred_username, name, email, phone, created_at",
    )
    .bind(org)
    .bind(&username)
    .bind(customer)
    .bind(&new.preferred_username)
    .bind(&new.name)
    .bind(&new.email)
    .bind(&new.phone)
    .fetch_one(pool)
    .await?;
    Ok(contact)
}

/// The contacts of customer `customer` of `org`, by username.
pub async fn list(pool: &PgPool, org: &OrgId, customer: &str) -> Result<Vec<Contact>> {
    Ok(sqlx::query_as(
        "SELECT username, customer_id, preferred_username, name, email, phone, created_at \
         FROM customer_contacts WHERE org_id = $1 AND customer_id = $2 ORDER BY username",
    )
    .bind(org)
    .bind(customer)
    .fetch_all(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contact_is_checked_in_togais_limits() {
        let ok = NewContact {
            preferred_username: Some("ann01".into()),
            name: "Ann".into(),
            email: "ann@initech.test".into(),
            phone: Some("+1 512 555 0100".into()),
        };
        assert!(ok.validate().is_ok());
        let path = |c: NewContact| c.validate().unwrap_err().path;
        let bad_user = NewContact {
            preferred_username: Some("a-n".into()),
            ..ok.clone()
        };
        assert_eq!(path(bad_user), "preferredUsername");
        let long_phone = NewContact {
            phone: Some("1".repeat(21)),
            ..ok.clone()
        };
        assert_eq!(path(long_phone), "phone");
        let bad_email = NewContact {
            email: "ann".into(),
            ..ok
        };
        assert_eq!(path(bad_email), "email");
    }
}
