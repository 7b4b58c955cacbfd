//! Billing-details profiles (who an invoice says it is from): created, updated (fields
//! changed or cleared), read and listed.

use billrun_render::BillingDetails;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;
use sqlx::PgPool;

use super::{ensure_org, is_unique_violation};
use crate::catalog::customers::Address;
use crate::documents::DocumentError;
use crate::store::OrgId;

/// A billing-details profile: who an invoice says it is from.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// Its id.
    pub id: String,
    /// The seller's legal name.
    pub legal_name: String,
    /// Postal address.
    #[sqlx(json(nullable))]
    pub address: Option<Address>,
    /// Tax / VAT id.
    pub tax_id: Option<String>,
    /// Billing contact email.
    pub email: Option<String>,
    /// Billing contact phone.
    pub phone: Option<String>,
    /// How to pay, one line each.
    pub payment_instructions: Vec<String>,
    /// Closing note at the bottom of the invoice.
    pub footer_note: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl Profile {
    /// The view model's billing details.
    pub fn billing_details(&self) -> BillingDetails {
        let address = self.address.as_ref().map(|a| billrun_render::Address {
            line1: a.line1.clone(),
            line2: a.line2.clone(),
            postal_code: a.postal_code.clone(),
            city: a.city.clone(),
            state: a.state.clone(),
            country: a.country.clone(),
        });
        let address_lines = address.as_ref().map(|a| a.lines()).unwrap_or_default();
        BillingDetails {
            legal_name: self.legal_name.clone(),
            address_lines,
            tax_id: self.tax_id.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
            payment_instructions: self.payment_instructions.clone(),
            footer_note: self.footer_note.clone(),
            address,
        }
    }
}

/// The fields of a profile a command sets; `None` leaves a field as it is (or
/// empty, for a new profile).
#[derive(Debug, Clone, Default)]
pub struct ProfileChanges {
    /// Legal name (required for a new profile).
    pub legal_name: Option<String>,
    /// Address fields given (merged field by field into the stored address).
    pub address: Address,
    /// Tax id.
    pub tax_id: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Payment instructions (replace the stored lines when given).
    pub payment_instructions: Option<Vec<String>>,
    /// Footer note.
    pub footer_note: Option<String>,
    /// Fields to clear: `address`, `tax-id`, `email`, `phone`,
    /// `payment-instructions`, `footer-note`.
    pub clear: Vec<String>,
}

/// The fields `--clear` accepts.
pub const CLEARABLE: &[&str] = &[
    "address",
    "tax-id",
    "email",
    "phone",
    "payment-instructions",
    "footer-note",
];

pub(super) const SELECT_PROFILE: &str =
    "SELECT id, legal_name, address, tax_id, email, phone, payment_instructions, footer_note,
            created_at, updated_at
     FROM billing_details_profiles";

/// Applies `c` to `p`, then checks every field (the first bad one is the error).
fn apply(p: &mut Profile, c: ProfileChanges) -> Result<(), DocumentError> {
    for f in &c.clear {
        match f.as_str() {
            "address" => p.address = None,
            "tax-id" => p.tax_id = None,
            "email" => p.email = None,
            "phone" => p.phone = None,
            "payment-instructions" => p.payment_instructions.clear(),
            "footer-note" => p.footer_note = None,
            other => {
                return Err(DocumentError::Invalid(format!(
                    "--clear {other:?}: expected one of {}",
                    CLEARABLE.join(", ")
                )))
            }
        }
    }
    if let Some(n) = c.legal_name {
        p.legal_name = n;
    }
    if !c.address.is_empty() {
        let mut a = p.address.take().unwrap_or_default();
        let merge = |to: &mut Option<String>, from: Option<String>| {
            if from.is_some() {
                *to = from;
            }
        };
        merge(&mut a.line1, c.address.line1);
        merge(&mut a.line2, c.address.line2);
        merge(&mut a.postal_code, c.address.postal_code);
        merge(&mut a.city, c.address.city);
        merge(&mut a.state, c.address.state);
        merge(&mut a.country, c.address.country);
        p.address = Some(a);
    }
    let set = |to: &mut Option<String>, from: Option<String>| {
        if let Some(v) = from {
            *to = Some(v.trim().to_string()).filter(|v| !v.is_empty());
        }
    };
    set(&mut p.tax_id, c.tax_id);
    set(&mut p.email, c.email);
    set(&mut p.phone, c.phone);
    set(&mut p.footer_note, c.footer_note);
    if let Some(lines) = c.payment_instructions {
        p.payment_instructions = lines;
    }
    // Checks.
    crate::catalog::check_name("legalName", &p.legal_name)?;
    p.legal_name = p.legal_name.trim().to_string();
    if let Some(e) = &p.email {
        crate::catalog::check_email("email", e)?;
    }
    use crate::catalog::input::{self, check_len};
    if let Some(t) = &p.tax_id {
        check_len("taxId", t, input::MAX_ID_CHARS)?;
    }
    if let Some(t) = &p.phone {
        check_len("phone", t, input::MAX_ID_CHARS)?;
    }
    if p.payment_instructions.len() > input::MAX_PAYMENT_INSTRUCTION_LINES {
        return Err(DocumentError::Invalid(format!(
            "paymentInstructions: {} lines, at most {} allowed",
            p.payment_instructions.len(),
            input::MAX_PAYMENT_INSTRUCTION_LINES
        )));
    }
    for (i, line) in p.payment_instructions.iter().enumerate() {
        check_len(
            &format!("paymentInstructions[{}]", i + 1),
            line,
            input::MAX_NAME_CHARS,
        )?;
    }
    if let Some(n) = &p.footer_note {
        check_len("footerNote", n, input::MAX_NOTE_CHARS)?;
    }
    if let Some(a) = &p.address {
        a.validate("address")?;
    }
    Ok(())
}

/// Creates a profile from `changes` (`legal_name` required; `clear` has nothing to
/// clear), created and last changed at `now`. Errors: a bad id or field (Invalid), no
/// such organisation (NotFound), a profile of that id exists already (Conflict), the
/// database.
pub async fn create_profile(
    pool: &PgPool,
    org: &OrgId,
    id: &str,
    changes: ProfileChanges,
    now: DateTime<Utc>,
) -> Result<Profile, DocumentError> {
    crate::catalog::check_id("id", id)?;
    ensure_org(pool, org).await?;
    if changes.legal_name.is_none() {
        return Err(DocumentError::Invalid(
            "--legal-name is required for a new billing-details profile".into(),
        ));
    }
    let mut p = Profile {
        id: id.to_string(),
        legal_name: String::new(),
        address: None,
        tax_id: None,
        email: None,
        phone: None,
        payment_instructions: Vec::new(),
        footer_note: None,
        created_at: now,
        updated_at: now,
    };
    apply(&mut p, changes)?;
    let res = sqlx::query(
        "INSERT INTO billing_details_profiles (org_id, id, legal_name, address, tax_id, email, phone,
             payment_instructions, footer_note, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
    )
    .bind(org)
    .bind(id)
    .bind(&p.legal_name)
    .bind(p.address.as_ref().map(Json))
    .bind(&p.tax_id)
    .bind(&p.email)
    .bind(&p.phone)
    .bind(&p.payment_instructions)
    .bind(&p.footer_note)
    .bind(now)
    .execute(pool)
    .await;
    match res {
        Err(e) if is_unique_violation(&e) => {
            return Err(DocumentError::Conflict(format!(
                "billing-details profile {id:?} exists already in organisation {:?} \
                 (change it with `billrun billing-details update`)",
                org.as_str()
            )))
        }
        r => r?,
    };
    profile(pool, org, id).await
}

/// Changes a profile: the fields `changes` gives, then those it clears; last changed
/// at `now`. Documents already rendered keep the details they copied. Errors: a bad
/// field or `clear` name (Invalid), no such organisation or profile (NotFound), the
/// database.
pub async fn update_profile(
    pool: &PgPool,
    org: &OrgId,
    id: &str,
    changes: ProfileChanges,
    now: DateTime<Utc>,
) -> Result<Profile, DocumentError> {
    let mut tx = pool.begin().await?;
    let p: Option<Profile> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_PROFILE} WHERE org_id = $1 AND id = $2 FOR UPDATE"
    )))
    .bind(org)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(mut p) = p else {
        ensure_org(pool, org).await?;
        return Err(profile_not_found(org, id));
    };
    apply(&mut p, changes)?;
    sqlx::query(
        "UPDATE billing_details_profiles
         SET legal_name = $3, address = $4, tax_id = $5, email = $6, phone = $7,
             payment_instructions = $8, footer_note = $9, updated_at = $10
         WHERE org_id = $1 AND id = $2",
    )
    .bind(org)
    .bind(id)
    .bind(&p.legal_name)
    .bind(p.address.as_ref().map(Json))
    .bind(&p.tax_id)
    .bind(&p.email)
    .bind(&p.phone)
    .bind(&p.payment_instructions)
    .bind(&p.footer_note)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    profile(pool, org, id).await
}

fn profile_not_found(org: &OrgId, id: &str) -> DocumentError {
    DocumentError::NotFound(format!(
        "billing-details profile {id:?} does not exist in organisation {:?}",
        org.as_str()
    ))
}

/// One profile. Errors: no such organisation or profile (NotFound), the database.
pub async fn profile(pool: &PgPool, org: &OrgId, id: &str) -> Result<Profile, DocumentError> {
    let p: Option<Profile> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_PROFILE} WHERE org_id = $1 AND id = $2"
    )))
    .bind(org)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    match p {
        Some(p) => Ok(p),
        None => {
            ensure_org(pool, org).await?;
            Err(profile_not_found(org, id))
        }
    }
}

/// Every profile of the organisation, by id. Errors: no such organisation
/// (NotFound), the database.
pub async fn profiles(pool: &PgPool, org: &OrgId) -> Result<Vec<Profile>, DocumentError> {
    ensure_org(pool, org).await?;
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_PROFILE} WHERE org_id = $1 ORDER BY id"
    )))
    .bind(org)
    .fetch_all(pool)
    .await?)
}
