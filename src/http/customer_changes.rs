//! `PATCH` and `DELETE /customers/{customer_id}` and `POST
//! /customers/{customer_id}/contacts`: Togai's `UpdateCustomerRequest` (answered as
//! `Customer`), `BaseSuccessResponse` and `CreateCustomerContactRequest` /
//! `CreateCustomerContactResponse`, through `catalog::customers::update`,
//! `catalog::history::delete_customer` (as `billrun customer update|delete`) and
//! `catalog::contacts::add`.
//!
//! Semantics (README "HTTP API", "Customers and accounts that change"): PATCH replaces
//! the fields given (`address` whole); a body with none is refused (400). DELETE
//! deletes the customer with its contacts and its accounts only when none of them has
//! billing history (invoices, plan periods, credit grants, usage, license updates,
//! plan-migration entries): otherwise 409 naming the account and what it has, and
//! nothing is deleted. A contact is kept with its customer and never emailed
//! invoices; billrun has no customer portal, so `password`, `loginAccess: true` and
//! `verified: true` are refused (400). Audited as `customer.update`,
//! `customer.delete`, `customer.add_contact`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::customers::{body, AddressBody, CustomerBody};
use super::error::{ApiError, ErrorBody};
use super::extract::Body;
use super::{audited, AppState, Change};
use crate::catalog::contacts::{self, NewContact};
use crate::catalog::customers::{self, Address, CustomerChanges};
use crate::catalog::history;
use crate::identity::Principal;

/// Togai's `UpdateCustomerRequest`: the fields to change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateCustomerRequest {
    /// A new name.
    #[serde(default)]
    pub name: Option<String>,
    /// A new main contact address.
    #[serde(default)]
    pub primary_email: Option<String>,
    /// A new postal address (replaces the stored one whole).
    #[serde(default)]
    pub address: Option<AddressBody>,
}

/// Togai's `BaseSuccessResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Success {
    /// Always `true` (a failure is an error answer).
    pub success: bool,
}

/// Changes a customer of the caller's organisation (audited as `customer.update`).
#[utoipa::path(patch, path = "/customers/{customer_id}", tag = "customers",
    params(("customer_id" = String, Path, description = "the customer's id")),
    request_body = UpdateCustomerRequest,
    responses(
        (status = 200, description = "the customer as changed", body = CustomerBody),
        (status = 400, description = "a field is invalid, or none is given", body = ErrorBody),
        (status = 403, description = "the role may not change customers", body = ErrorBody),
        (status = 404, description = "no such customer in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Body(req): Body<UpdateCustomerRequest>,
) -> Result<Json<CustomerBody>, ApiError> {
    let changes = CustomerChanges {
        name: req.name,
        primary_email: req.primary_email,
        address: req.address.map(Address::from),
    };
    let done = customers::update(&state.pool, &who.org, &id, &changes)
        .await
        .map_err(ApiError::from);
    let details = serde_json::json!({
        "name": changes.name,
        "primaryEmail": changes.primary_email,
        "address": changes.address,
    });
    let c = audited(
        &state,
        &who,
        Change {
            action: "customer.update",
            object_type: "customer",
            object_id: &id,
        },
        details,
        done,
    )
    .await?;
    Ok(Json(body(c)))
}

/// Deletes a customer of the caller's organisation with its contacts and accounts,
/// when none of its accounts has billing history (audited as `customer.delete`).
#[utoipa::path(delete, path = "/customers/{customer_id}", tag = "customers",
    params(("customer_id" = String, Path, description = "the customer's id")),
    responses(
        (status = 200, description = "deleted", body = Success),
        (status = 403, description = "the role may not change customers", body = ErrorBody),
        (status = 404, description = "no such customer in the organisation", body = ErrorBody),
        (status = 409, description = "an account of it has billing history: nothing deleted", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Success>, ApiError> {
    let done = history::delete_customer(&state.pool, &who.org, &id)
        .await
        .map_err(ApiError::from);
    let details = match &done {
        Ok(d) => serde_json::json!({ "accounts": d.accounts, "contacts": d.contacts }),
        Err(_) => serde_json::json!({}),
    };
    audited(
        &state,
        &who,
        Change {
            action: "customer.delete",
            object_type: "customer",
            object_id: &id,
        },
        details,
        done,
    )
    .await?;
    Ok(Json(Success { success: true }))
}

/// Togai's `CreateCustomerContactRequest`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateContactRequest {
    /// The username wanted (3 to 50 letters and digits); default one made up.
    #[serde(default)]
    pub preferred_username: Option<String>,
    /// The contact's name (at most 50 characters).
    pub name: String,
    /// Refused: billrun has no customer portal to log in to.
    #[serde(default)]
    pub password: Option<String>,
    /// The contact's email address.
    pub email: String,
    /// The contact's phone number (at most 20 characters).
    #[serde(default)]
    pub phone: Option<String>,
    /// Only `false`: billrun does not verify contacts' addresses.
    #[serde(default)]
    pub verified: Option<bool>,
    /// Only `false`: billrun has no customer portal.
    #[serde(default)]
    pub login_access: Option<bool>,
}

/// Togai's `CreateCustomerContactResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactBody {
    /// The contact's username (the preferred one, or `ct_<ulid>`).
    pub username: String,
    /// The username asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// Its name.
    pub name: String,
    /// Its email address.
    pub email: String,
    /// Its phone number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Always `false`: no customer portal.
    pub login_access: bool,
    /// When it was added (UTC).
    pub created_at: DateTime<Utc>,
    /// Always `false`: addresses are not verified.
    pub verified: bool,
}

/// The refusals of what billrun cannot do with a contact.
fn portal_fields(req: &CreateContactRequest) -> Result<(), ApiError> {
    let no_portal = "billrun has no customer portal: a contact cannot log in";
    if req.password.is_some() {
        return Err(ApiError::invalid(format!(
            "password: not kept ({no_portal}, so it has no password)"
        )));
    }
    if req.login_access == Some(true) {
        return Err(ApiError::invalid(format!(
            "loginAccess: only false is supported ({no_portal})"
        )));
    }
    if req.verified == Some(true) {
        return Err(ApiError::invalid(
            "verified: only false is supported (billrun does not verify contacts' addresses)",
        ));
    }
    Ok(())
}

/// Adds a contact to a customer of the caller's organisation (audited as
/// `customer.add_contact`).
#[utoipa::path(post, path = "/customers/{customer_id}/contacts", tag = "customers",
    params(("customer_id" = String, Path, description = "the customer's id")),
    request_body = CreateContactRequest,
    responses(
        (status = 201, description = "added", body = ContactBody),
        (status = 400, description = "a field is invalid, or asks for portal access", body = ErrorBody),
        (status = 403, description = "the role may not change customers", body = ErrorBody),
        (status = 404, description = "no such customer in the organisation", body = ErrorBody),
        (status = 409, description = "the username is taken, or the customer has a contact with this email", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn add_contact(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Body(req): Body<CreateContactRequest>,
) -> Result<(StatusCode, Json<ContactBody>), ApiError> {
    let email = req.email.clone();
    let done = match portal_fields(&req) {
        Ok(()) => {
            let new = NewContact {
                preferred_username: req.preferred_username,
                name: req.name,
                email: req.email,
                phone: req.phone,
            };
            contacts::add(&state.pool, &who.org, &id, &new)
                .await
                .map_err(ApiError::from)
        }
        Err(e) => Err(e),
    };
    let details = match &done {
        Ok(c) => serde_json::json!({ "username": c.username, "email": email }),
        Err(_) => serde_json::json!({ "email": email }),
    };
    let c = audited(
        &state,
        &who,
        Change {
            action: "customer.add_contact",
            object_type: "customer",
            object_id: &id,
        },
        details,
        done,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(ContactBody {
            username: c.username,
            preferred_username: c.preferred_username,
            name: c.name,
            email: c.email,
            phone: c.phone,
            login_access: false,
            created_at: c.created_at,
            verified: false,
        }),
    ))
}
