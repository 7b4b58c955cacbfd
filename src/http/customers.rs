//! `/customers`: create, list and get customers in Togai's shapes
//! (`CreateCustomerRequest`, `CreateCustomerResponse`, `Customer`,
//! `CustomerPaginatedResponse`), through `catalog::customers` as `billrun customer`.
//!
//! Fields billrun does not keep are answered with fixed values: `togaiCustomerId` is
//! the customer's id, `status` is `ACTIVE`, `updatedAt` is `createdAt`, and
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

/// Togai's `CreateCustomerRequest` (without `settings` and `account`, not supported
/// yet: create the account with `POST /accounts`).
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
    /// When it was created (billrun does not update customers yet).
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

fn body(c: Customer) -> CustomerBody {
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
        updated_at: c.created_at,
    }
}

/// Creates a customer in the caller's organisation (audited as `customer.create`).
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
    let created = customers::create(&state.pool, &who.org, &new).await;
    let c = audited(
        &state,
        &who,
        Change {
            action: "customer.create",
            object_type: "customer",
            object_id: &new.id,
        },
        serde_json::json!({ "name": new.name }),
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
    let all = customers::list(&state.pool, &who.org).await?;
    let (rows, next_token, context) = q.page(all, |c| c.id.as_str())?;
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
