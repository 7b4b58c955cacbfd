//! Accounts: the billed entity. An account belongs to a customer, invoices in one of
//! the organisation's enabled currencies, and may override the organisation's
//! timezone and net term days. Its aliases are in [`super::aliases`], its plan
//! periods in [`super::associations`].

use billrun_core::{Currency, FieldError};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};

use super::customers::Address;
use super::orgs::Organisation;
use super::{
    check_email, check_id, check_name, input, stored_currency, stored_days, stored_timezone,
    CatalogError, Result,
};
use crate::store::OrgId;

/// Whether an account is billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccountStatus {
    /// Billed.
    Active,
    /// Kept for its history; no longer billed.
    Archived,
}

impl AccountStatus {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "ACTIVE" => Some(AccountStatus::Active),
            "ARCHIVED" => Some(AccountStatus::Archived),
            _ => None,
        }
    }
}

/// An account as stored (every field already valid).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// Its id, unique in the organisation.
    pub id: String,
    /// The customer it belongs to.
    pub customer_id: String,
    /// Its name.
    pub name: String,
    /// The currency its invoices are in.
    pub invoice_currency: Currency,
    /// Its own timezone; `None` means the organisation's.
    pub timezone: Option<Tz>,
    /// Its own net term days; `None` means the organisation's.
    pub net_term_days: Option<u32>,
    /// Its main contact address.
    pub primary_email: Option<String>,
    /// Who receives its invoices (Togai's `billingInformation.emailRecipients`).
    pub billing_emails: Vec<String>,
    /// Who receives copies (`additionalEmailRecipients`).
    pub additional_emails: Vec<String>,
    /// Its postal address.
    pub address: Option<Address>,
    /// Whether it is billed.
    pub status: AccountStatus,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl Account {
    /// The timezone its billing dates are computed in: its own, else `org`'s.
    pub fn effective_timezone(&self, org: &Organisation) -> Tz {
        self.timezone.unwrap_or(org.timezone)
    }

    /// Days from invoice date to due date: its own, else `org`'s.
    pub fn effective_net_term_days(&self, org: &Organisation) -> u32 {
        self.net_term_days.unwrap_or(org.net_term_days)
    }
}

/// An account to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAccount {
    /// Its id, unique in the organisation.
    pub id: String,
    /// The customer it belongs to (must exist).
    pub customer_id: String,
    /// Its name.
    pub name: String,
    /// One of the organisation's enabled currencies.
    pub invoice_currency: Currency,
    /// Override of the organisation's timezone.
    pub timezone: Option<Tz>,
    /// Override of the organisation's net term days.
    pub net_term_days: Option<u32>,
    /// Main contact address.
    pub primary_email: Option<String>,
    /// Invoice recipients.
    pub billing_emails: Vec<String>,
    /// Copy recipients.
    pub additional_emails: Vec<String>,
    /// Postal address.
    pub address: Option<Address>,
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    id: String,
    customer_id: String,
    name: String,
    invoice_currency: String,
    timezone: Option<String>,
    net_term_days: Option<i32>,
    primary_email: Option<String>,
    billing_emails: Vec<String>,
    additional_emails: Vec<String>,
    address: Option<Json<Address>>,
    status: String,
    created_at: DateTime<Utc>,
}

impl AccountRow {
    fn into_account(self) -> Result<Account> {
        let what = |col: &str| format!("accounts.{col} of {:?}", self.id);
        Ok(Account {
            invoice_currency: stored_currency(&what("invoice_currency"), &self.invoice_currency)?,
            timezone: self
                .timezone
                .as_deref()
                .map(|tz| stored_timezone(&what("timezone"), tz))
                .transpose()?,
            net_term_days: self
                .net_term_days
                .map(|d| stored_days(&what("net_term_days"), d))
                .transpose()?,
            status: AccountStatus::parse(&self.status).ok_or_else(|| CatalogError::Corrupt {
                what: what("status"),
                message: format!("unknown status {:?}", self.status),
            })?,
            id: self.id,
            customer_id: self.customer_id,
            name: self.name,
            primary_email: self.primary_email,
            billing_emails: self.billing_emails,
            additional_emails: self.additional_emails,
            address: self.address.map(|a| a.0),
            created_at: self.created_at,
        })
    }
}

const SELECT_ACCOUNT: &str = "SELECT id, customer_id, name, invoice_currency, timezone, \
     net_term_days, primary_email, billing_emails, additional_emails, address, status, \
     created_at FROM accounts";

fn check_emails(field: &str, emails: &[String]) -> Result<(), FieldError> {
    if emails.len() > input::MAX_EMAILS {
        return Err(FieldError::new(
            field,
            format!(
                "{} addresses, at most {} are allowed",
                emails.len(),
                input::MAX_EMAILS
            ),
        ));
    }
    for (i, e) in emails.iter().enumerate() {
        check_email(&format!("{field}[{i}]"), e)?;
    }
    Ok(())
}

impl NewAccount {
    /// The one check of an account's own fields, for every way in (`account
    /// create`, the accounts CSV import, the API to come): ids ([`check_id`]), the
    /// name ([`check_name`]), emails ([`check_email`], at most
    /// [`input::MAX_EMAILS`] per list), the address ([`Address::validate`]).
    /// Errors are in Togai's field names. What needs the database (the currency
    /// enabled, the customer existing) is checked by [`create`] and the import.
    pub fn validate(&self) -> Result<(), FieldError> {
        check_id("id", &self.id)?;
        check_id("customerId", &self.customer_id)?;
        check_name("name", &self.name)?;
        if let Some(e) = &self.primary_email {
            check_email("primaryEmail", e)?;
        }
        check_emails("billingInformation.emailRecipients", &self.billing_emails)?;
        check_emails(
            "billingInformation.additionalEmailRecipients",
            &self.additional_emails,
        )?;
        if let Some(a) = &self.address {
            a.validate("address")?;
        }
        Ok(())
    }
}

/// Creates an account in organisation `org`.
///
/// Its invoice currency must be enabled for the organisation (checked under a share
/// lock of the organisation, so a concurrent `org configure` cannot disable it).
pub async fn create(pool: &PgPool, org: &OrgId, new: &NewAccount) -> Result<Account> {
    let mut tx = pool.begin().await?;
    let account = create_in(&mut tx, org, new).await?;
    tx.commit().await?;
    Ok(account)
}

/// [`create`] on `conn`, inside the caller's transaction (the organisation's row is
/// share-locked until it ends): e.g. a customer and its account together
/// ([`super::customers::create_with_account`]).
pub async fn create_in(conn: &mut PgConnection, org: &OrgId, new: &NewAccount) -> Result<Account> {
    new.validate()?;
    let address = new.address.as_ref().filter(|a| !a.is_empty());
    let net_term_days = new
        .net_term_days
        .map(|d| i32::try_from(d).map_err(|_| FieldError::new("netTermDays", "is too large")))
        .transpose()?;

    let enabled: Option<Vec<String>> =
        sqlx::query_scalar("SELECT enabled_currencies FROM organisations WHERE id = $1 FOR SHARE")
            .bind(org)
            .fetch_optional(&mut *conn)
            .await?;
    let enabled = enabled.ok_or_else(|| CatalogError::NotFound {
        what: "organisation",
        org: org.to_string(),
        id: org.to_string(),
    })?;
    let currency = new.invoice_currency.code();
    if !enabled.iter().any(|c| c == currency) {
        return Err(FieldError::new(
            "invoiceCurrency",
            format!(
                "{currency} is not enabled for organisation {org:?} (enabled: {}); \
                 enable it with `billrun org configure {org} --currencies ...`",
                enabled.join(", "),
                org = org.as_str()
            ),
        )
        .into());
    }
    let customer: Option<String> =
        sqlx::query_scalar("SELECT id FROM customers WHERE org_id = $1 AND id = $2")
            .bind(org)
            .bind(&new.customer_id)
            .fetch_optional(&mut *conn)
            .await?;
    if customer.is_none() {
        return Err(CatalogError::NotFound {
            what: "customer",
            org: org.to_string(),
            id: new.customer_id.clone(),
        });
    }
    let row: AccountRow = sqlx::query_as(
        "INSERT INTO accounts (org_id, id, customer_id, name, invoice_currency, timezone, \
         net_term_days, primary_email, billing_emails, additional_emails, address) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         RETURNING id, customer_id, name, invoice_currency, timezone, net_term_days, \
         primary_email, billing_emails, additional_emails, address, status, created_at",
    )
    .bind(org)
    .bind(&new.id)
    .bind(&new.customer_id)
    .bind(&new.name)
    .bind(currency)
    .bind(new.timezone.map(|tz| tz.name()))
    .bind(net_term_days)
    .bind(&new.primary_email)
    .bind(&new.billing_emails)
    .bind(&new.additional_emails)
    .bind(address.map(Json))
    .fetch_one(&mut *conn)
    .await?;
    row.into_account()
}

/// One account, or [`CatalogError::NotFound`].
pub async fn get(pool: &PgPool, org: &OrgId, id: &str) -> Result<Account> {
    let row: Option<AccountRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_ACCOUNT} WHERE org_id = $1 AND id = $2"
    )))
    .bind(org)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.ok_or_else(|| CatalogError::NotFound {
        what: "account",
        org: org.to_string(),
        id: id.to_string(),
    })?
    .into_account()
}

/// The organisation's accounts (of one customer if given), by id.
pub async fn list(pool: &PgPool, org: &OrgId, customer: Option<&str>) -> Result<Vec<Account>> {
    let rows: Vec<AccountRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_ACCOUNT} WHERE org_id = $1 AND ($2::text IS NULL OR customer_id = $2) \
         ORDER BY id"
    )))
    .bind(org)
    .bind(customer)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(AccountRow::into_account).collect()
}

/// One page of the organisation's accounts by id (keyset paging): at most `limit`
/// accounts whose id sorts after `after` (from the first when `None`), ascending
/// (the database's collation, the primary key's order, which the query walks).
pub async fn page(
    pool: &PgPool,
    org: &OrgId,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Account>> {
    let rows: Vec<AccountRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_ACCOUNT} WHERE org_id = $1 AND ($2::text IS NULL OR id > $2) \
         ORDER BY id LIMIT $3"
    )))
    .bind(org)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(AccountRow::into_account).collect()
}

/// The accounts among `ids` that exist, in one query (a bill run loads the accounts
/// of a batch at once). Missing ids are simply absent from the result.
pub async fn get_many(pool: &PgPool, org: &str, ids: &[String]) -> Result<Vec<Account>> {
    let rows: Vec<AccountRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_ACCOUNT} WHERE org_id = $1 AND id = ANY ($2) ORDER BY id"
    )))
    .bind(org)
    .bind(ids)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(AccountRow::into_account).collect()
}

/// One account with what is needed to show it: the settings in effect (its own, else
/// the organisation's), its aliases and its plan periods.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountDetails {
    /// The account as stored.
    pub account: Account,
    /// The timezone its billing dates are computed in ([`Account::effective_timezone`]).
    pub effective_timezone: Tz,
    /// Its net term days ([`Account::effective_net_term_days`]).
    pub effective_net_term_days: u32,
    /// Every range of every alias that ever routed usage to it, by alias then
    /// `effectiveFrom` ([`super::aliases::for_account`]).
    pub aliases: Vec<super::aliases::AliasRange>,
    /// Its plan periods, oldest first ([`super::associations::for_account`]).
    pub plan_associations: Vec<super::associations::PlanAssociation>,
}

/// One account with its effective settings, aliases and plan periods
/// ([`AccountDetails`]), or [`CatalogError::NotFound`] for a missing organisation or
/// account.
pub async fn details(pool: &PgPool, org: &OrgId, id: &str) -> Result<AccountDetails> {
    let o = super::orgs::get(pool, org).await?;
    let account = get(pool, org, id).await?;
    let aliases = super::aliases::for_account(pool, org, id).await?;
    let plan_associations = super::associations::for_account(pool, org, id).await?;
    Ok(AccountDetails {
        effective_timezone: account.effective_timezone(&o),
        effective_net_term_days: account.effective_net_term_days(&o),
        account,
        aliases,
        plan_associations,
    })
}

/// What to change of an account (Togai's `UpdateAccountRequest`, `billrun account
/// update`): each field given replaces the stored one (the address whole; an empty one
/// removes it). The id and the customer do not change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountChanges {
    /// A new name.
    pub name: Option<String>,
    /// A new main contact address.
    pub primary_email: Option<String>,
    /// New invoice recipients.
    pub billing_emails: Option<Vec<String>>,
    /// New copy recipients.
    pub additional_emails: Option<Vec<String>>,
    /// A new postal address.
    pub address: Option<Address>,
    /// Its own net term days from now on: invoices finalized later get due dates from
    /// it; those finalized keep theirs.
    pub net_term_days: Option<u32>,
    /// A new invoice currency: only while the account has no invoices, plan periods
    /// or credit grants ([`super::history::AccountHistory::is_priced`]).
    pub invoice_currency: Option<Currency>,
    /// Its own timezone: under the same condition as the currency.
    pub timezone: Option<Tz>,
}

impl AccountChanges {
    /// Whether nothing is to change.
    pub fn is_empty(&self) -> bool {
        *self == AccountChanges::default()
    }

    /// The checks of [`NewAccount::validate`] for the fields given; nothing given is
    /// refused. Errors are in Togai's field names.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.is_empty() {
            return Err(FieldError::new(
                "name",
                "nothing to change: give name, primaryEmail, billingInformation, address, \
                 netTermDays or invoiceCurrency",
            ));
        }
        if let Some(n) = &self.name {
            check_name("name", n)?;
        }
        if let Some(e) = &self.primary_email {
            check_email("primaryEmail", e)?;
        }
        if let Some(e) = &self.billing_emails {
            check_emails("billingInformation.emailRecipients", e)?;
        }
        if let Some(e) = &self.additional_emails {
            check_emails("billingInformation.additionalEmailRecipients", e)?;
        }
        if let Some(a) = &self.address {
            a.validate("address")?;
        }
        if let Some(d) = self.net_term_days {
            i32::try_from(d).map_err(|_| FieldError::new("netTermDays", "is too large"))?;
        }
        Ok(())
    }
}

/// Changes account `id` of `org` ([`AccountChanges`]) and answers it as stored.
///
/// The account's row is locked for the change. A new invoice currency must be enabled
/// for the organisation (as on create); it and a new timezone are refused with
/// [`CatalogError::Conflict`] once the account has invoices, plan periods or credit
/// grants: its cycles are priced and dated in them, and a change would re-date or
/// re-price open cycles (the same value again is no change and passes). Errors: a
/// field ([`AccountChanges::validate`]), [`CatalogError::NotFound`] for an account
/// not in `org`.
pub async fn update(
    pool: &PgPool,
    org: &OrgId,
    id: &str,
    changes: &AccountChanges,
) -> Result<Account> {
    changes.validate()?;
    let mut tx = pool.begin().await?;
    let row: Option<AccountRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_ACCOUNT} WHERE org_id = $1 AND id = $2 FOR UPDATE"
    )))
    .bind(org)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let current = row
        .ok_or_else(|| CatalogError::NotFound {
            what: "account",
            org: org.to_string(),
            id: id.to_string(),
        })?
        .into_account()?;
    let new_currency = changes
        .invoice_currency
        .filter(|c| *c != current.invoice_currency);
    let new_timezone = changes.timezone.filter(|tz| Some(*tz) != current.timezone);
    if let Some(c) = new_currency {
        let enabled: Vec<String> = sqlx::query_scalar(
            "SELECT enabled_currencies FROM organisations WHERE id = $1 FOR SHARE",
        )
        .bind(org)
        .fetch_one(&mut *tx)
        .await?;
        if !enabled.iter().any(|e| e == c.code()) {
            return Err(FieldError::new(
                "invoiceCurrency",
                format!(
                    "{c} is not enabled for organisation {:?} (enabled: {})",
                    org.as_str(),
                    enabled.join(", ")
                ),
            )
            .into());
        }
    }
    if new_currency.is_some() || new_timezone.is_some() {
        let history = super::history::history_in(&mut tx, org, id).await?;
        if history.is_priced() {
            let field = if new_currency.is_some() {
                "invoiceCurrency"
            } else {
                "timezone"
            };
            return Err(CatalogError::Conflict(format!(
                "{field} of account {id:?} cannot change: it has {} and its cycles are \
                 priced and dated in its currency and timezone (create another account \
                 for the new one)",
                history.describe()
            )));
        }
    }
    let address = match &changes.address {
        Some(a) => (!a.is_empty()).then(|| a.clone()),
        None => current.address.clone(),
    };
    let net_term_days = changes.net_term_days.or(current.net_term_days);
    let row: AccountRow = sqlx::query_as(
        "UPDATE accounts SET name = $3, primary_email = $4, billing_emails = $5, \
             additional_emails = $6, address = $7, net_term_days = $8, \
             invoice_currency = $9, timezone = $10 \
         WHERE org_id = $1 AND id = $2 \
         RETURNING id, customer_id, name, invoice_currency, timezone, net_term_days, \
         primary_email, billing_emails, additional_emails, address, status, created_at",
    )
    .bind(org)
    .bind(id)
    .bind(changes.name.as_ref().unwrap_or(&current.name))
    .bind(
        changes
            .primary_email
            .as_ref()
            .or(current.primary_email.as_ref()),
    )
    .bind(
        changes
            .billing_emails
            .as_ref()
            .unwrap_or(&current.billing_emails),
    )
    .bind(
        changes
            .additional_emails
            .as_ref()
            .unwrap_or(&current.additional_emails),
    )
    .bind(address.map(Json))
    .bind(net_term_days.map(|d| d as i32))
    .bind(new_currency.unwrap_or(current.invoice_currency).code())
    .bind(new_timezone.or(current.timezone).map(|tz| tz.name()))
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    row.into_account()
}
