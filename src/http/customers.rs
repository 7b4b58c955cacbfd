//! `/customers`: create, list and get customers in Togai's shapes
//! (`CreateCustomerRequest`, `CreateCustomerResponse`, `Customer`,
//! `CustomerPaginatedResponse`), through `catalog::customers` as `billrun customer`.
//!
//! Fields billrun does not keep are answered with fixed values: `togaiCustomerId` is
//! the customer's id, `status` is `ACTIVE`, `updatedAt` is the last change's time
//! (`createdAt` until it changes), and
//! `billingAddress` is the address's lines joined with ", ". A customer without an
//! email is answered with `primaryEmail` "" (Togai requires the field).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorBody};
use super::extract::{Body, Params};
use super::{audited, AppState, Change, PageContext, PageQuery};
use crate::catalog::accounts::NewAccount;
use crate::catalog::aliases::NewRange;
use crate::catalog::customers::{self, Address, Customer, NewCustomer};
use crate::identity::Principal;

/// Togai's `Address` (`phoneNumber` is not kept by billrun and refused).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddressBody {
    /// Address line 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line1: Option<String>,
    /// Address line 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    /// ZIP or postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// State or region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

impl From<AddressBody> for Address {
    fn from(a: AddressBody) -> Address {
        Address {
            line1: a.line1,
            line2: a.line2,
            postal_code: a.postal_code,
            city: a.city,
            state: a.state,
            country: a.country,
        }
    }
}

impl From<Address> for AddressBody {
    fn from(a: Address) -> AddressBody {
        AddressBody {
            line1: a.line1,
            line2: a.line2,
            postal_code: a.postal_code,
            city: a.city,
            state: a.state,
            country: a.country,
        }
    }
}

/// Togai's `CreateCustomerRequest`: the customer and, in `account`, its first account
/// (created with it, all or nothing). `settings` is not supported yet (refused unless
/// empty).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateCustomerRequest {
    /// The customer's id, unique in the organisation.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its main contact address.
    pub primary_email: String,
    /// Its postal address.
    pub address: AddressBody,
    /// Not supported yet: refused unless empty.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub settings: Option<Vec<serde_json::Value>>,
    /// Its first account, created with it.
    #[serde(default)]
    pub account: Option<InlineAccount>,
}

/// Togai's `CreateAccountRequestWithoutCustomerId`: an account created with its
/// customer. `settings`, `metadata` and `tags` are not kept yet (refused unless
/// empty); `aliases` and `accountAliases` are assigned as `add_aliases` does.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InlineAccount {
    /// The account's id, unique in the organisation.
    pub id: String,
    /// Its name.
    pub name: String,
    /// ISO 4217 code; default the organisation's base currency.
    #[serde(default)]
    pub invoice_currency: Option<String>,
    /// Aliases routed from now on.
    #[serde(default)]
    pub aliases: Option<Vec<String>>,
    /// Aliases with their ranges.
    #[serde(default)]
    pub account_aliases: Option<Vec<super::aliases::NewAlias>>,
    /// Its postal address.
    #[serde(default)]
    pub address: Option<AddressBody>,
    /// Its main contact address.
    #[serde(default)]
    pub primary_email: Option<String>,
    /// Who receives its invoices.
    #[serde(default)]
    pub billing_information: Option<super::accounts::BillingInformation>,
    /// Not supported yet: refused unless empty.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub settings: Option<Vec<serde_json::Value>>,
    /// Days from invoice date to due date; default the organisation's.
    #[serde(default)]
    pub net_term_days: Option<i64>,
    /// Not supported yet: refused unless empty.
    #[serde(default)]
    pub metadata: Option<std::collections::HashMap<String, String>>,
    /// Not supported yet: refused unless empty.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// `ACTIVE` (the default); `DRAFT` is not supported yet.
    #[serde(default)]
    pub status: Option<String>,
}

/// Refuses `field` unless it is absent or empty (billrun does not keep it yet).
pub(super) fn refuse_unless_empty(field: &str, empty: bool) -> Result<(), ApiError> {
    if empty {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "{field}: not supported yet (billrun does not keep it)"
        )))
    }
}

/// The account and alias ranges `account` asks for, for customer `customer`, as of
/// `now`.
async fn inline_account(
    state: &AppState,
    who: &Principal,
    customer: &str,
    account: InlineAccount,
    now: chrono::DateTime<Utc>,
) -> Result<(NewAccount, Vec<NewRange>), ApiError> {
    refuse_unless_empty(
        "account.settings",
        account.settings.as_ref().is_none_or(Vec::is_empty),
    )?;
    refuse_unless_empty(
        "account.metadata",
        account.metadata.as_ref().is_none_or(|m| m.is_empty()),
    )?;
    refuse_unless_empty(
        "account.tags",
        account.tags.as_ref().is_none_or(Vec::is_empty),
    )?;
    let ranges = super::aliases::new_ranges(account.aliases, account.account_aliases, now);
    let req = super::accounts::CreateAccountRequest {
        id: account.id,
        name: account.name,
        customer_id: customer.to_string(),
        invoice_currency: account.invoice_currency,
        address: account.address,
        primary_email: account.primary_email,
        billing_information: account.billing_information,
        net_term_days: account.net_term_days,
        status: account.status,
    };
    let new = super::accounts::new_account(state, who, req).await?;
    Ok((new, ranges))
}

/// Togai's `CreateCustomerResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateCustomerResponse {
    /// The customer's id.
    pub id: String,
    /// The same id (billrun has no second id).
    pub togai_customer_id: String,
    /// Its name.
    pub name: String,
    /// Its main contact address.
    pub primary_email: String,
    /// The address on one line.
    pub billing_address: String,
    /// Its postal address.
    pub address: AddressBody,
    /// The account created with it, if the request had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<super::accounts::AccountBody>,
}

/// Togai's `Customer`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerBody {
    /// The customer's id.
    pub id: String,
    /// The same id.
    pub togai_customer_id: String,
    /// Its name.
    pub name: String,
    /// Its main contact address ("" when it has none).
    pub primary_email: String,
    /// The address on one line.
    pub billing_address: String,
    /// Its postal address.
    pub address: AddressBody,
    /// Always `ACTIVE`.
    pub status: &'static str,
    /// When it was created (UTC).
    pub created_at: DateTime<Utc>,
    /// When it last changed (`createdAt` until it changes).
    pub updated_at: DateTime<Utc>,
}

/// Togai's `CustomerPaginatedResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerPage {
    /// The page's customers, by id.
    pub data: Vec<CustomerBody>,
    /// The token of the next page, absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// The page's size and order.
    pub context: PageContext,
}

/// An address on one line: its parts joined with ", ".
pub fn one_line(a: &Address) -> String {
    [
        &a.line1,
        &a.line2,
        &a.postal_code,
        &a.city,
        &a.state,
        &a.country,
    ]
    .into_iter()
    .flatten()
    .map(String::as_str)
    .collect::<Vec<_>>()
    .join(", ")
}

pub(super) fn body(c: Customer) -> CustomerBody {
    let address = c.address.unwrap_or_default();
    CustomerBody {
        togai_customer_id: c.id.clone(),
        id: c.id,
        name: c.name,
        primary_email: c.primary_email.unwrap_or_default(),
        billing_address: one_line(&address),
        address: address.into(),
        status: "ACTIVE",
        created_at: c.created_at,
        updated_at: c.updated_at.unwrap_or(c.created_at),
    }
}

/// Creates a customer in the caller's organisation, with its first account when the
/// request has one (all or nothing; audited as `customer.create`, with the account's
/// id in the row's details).
#[utoipa::path(post, path = "/customers", tag = "customers",
    request_body = CreateCustomerRequest,
    responses(
        (status = 201, description = "created", body = CreateCustomerResponse),
        (status = 400, description = "a field is invalid", body = ErrorBody),
        (status = 401, description = "no valid credential", body = ErrorBody),
        (status = 403, description = "the role may not change customers", body = ErrorBody),
        (status = 409, description = "the id exists", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Body(req): Body<CreateCustomerRequest>,
) -> Result<(StatusCode, Json<CreateCustomerResponse>), ApiError> {
    let new = NewCustomer {
        id: req.id,
        name: req.name,
        primary_email: Some(req.primary_email),
        address: Some(Address::from(req.address)),
    };
    let account_id = req.account.as_ref().map(|a| a.id.clone());
    let checked = match (req.settings, req.account) {
        (Some(s), _) if !s.is_empty() => Err(ApiError::invalid(
            "settings: not supported yet (billrun does not keep customer settings)",
        )),
        (_, Some(a)) => inline_account(&state, &who, &new.id, a, Utc::now())
            .await
            .map(Some),
        (_, None) => Ok(None),
    };
    let created = match checked {
        Ok(account) => customers::create_with_account(
            &state.pool,
            &who.org,
            &new,
            account.as_ref().map(|(a, r)| (a, r.as_slice())),
        )
        .await
        .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    let (c, account) = audited(
        &state,
        &who,
        Change {
            action: "customer.create",
            object_type: "customer",
            object_id: &new.id,
        },
        serde_json::json!({ "name": new.name, "accountId": account_id }),
        created,
    )
    .await?;
    let address = c.address.unwrap_or_default();
    Ok((
        StatusCode::CREATED,
        Json(CreateCustomerResponse {
            togai_customer_id: c.id.clone(),
            id: c.id,
            name: c.name,
            primary_email: c.primary_email.unwrap_or_default(),
            billing_address: one_line(&address),
            address: address.into(),
            account: account.map(super::accounts::body),
        }),
    ))
}

/// The caller's organisation's customers, by id, a page at a time.
#[utoipa::path(get, path = "/customers", tag = "customers",
    params(PageQuery),
    responses(
        (status = 200, description = "a page of customers", body = CustomerPage),
        (status = 401, description = "no valid credential", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Params(q): Params<PageQuery>,
) -> Result<Json<CustomerPage>, ApiError> {
    let (size, limit) = q.keyset_limit()?;
    let rows = customers::page(&state.pool, &who.org, q.next_token.as_deref(), limit).await?;
    let (rows, next_token, context) = q.keyset_page(size, rows, |c| c.id.as_str());
    Ok(Json(CustomerPage {
        data: rows.into_iter().map(body).collect(),
        next_token,
        context,
    }))
}

/// One customer of the caller's organisation (404 for any other id).
#[utoipa::path(get, path = "/customers/{customer_id}", tag = "customers",
    params(("customer_id" = String, Path, description = "the customer's id")),
    responses(
        (status = 200, description = "the customer", body = CustomerBody),
        (status = 404, description = "no such customer in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<CustomerBody>, ApiError> {
    Ok(Json(body(
        customers::get(&state.pool, &who.org, &id).await?,
    )))
}
