//! `/accounts`: create, list and get accounts in Togai's shapes
//! (`CreateAccountRequest`, `Account`, `AccountPaginatedResponse`), through
//! `catalog::accounts` as `billrun account`.
//!
//! Togai's fields billrun does not keep yet (`aliases`, `accountAliases`, `settings`,
//! `metadata`, `tags`, a `DRAFT` status) are refused with a 400 naming them, rather
//! than dropped. A missing `invoiceCurrency` is the organisation's base currency (as
//! in Togai). `togaiAccountId` and `togaiCustomerId` are the account's and the
//! customer's ids.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::customers::AddressBody;
use super::error::{ApiError, ErrorBody};
use super::extract::{Body, Params};
use super::{audited, AppState, Change, PageContext, PageQuery};
use crate::catalog::accounts::{self, Account, AccountStatus, NewAccount};
use crate::catalog::customers::Address;
use crate::catalog::{orgs, parse_currency, CatalogError};
use crate::identity::Principal;

/// Togai's `AccountsBillingInformation`: who receives the account's invoices.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BillingInformation {
    /// Invoice recipients.
    #[serde(default)]
    pub email_recipients: Vec<String>,
    /// Copy recipients.
    #[serde(default)]
    pub additional_email_recipients: Vec<String>,
}

/// Togai's `CreateAccountRequest`, less the fields billrun does not keep yet.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateAccountRequest {
    /// The account's id, unique in the organisation.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The customer it belongs to (in the caller's organisation).
    pub customer_id: String,
    /// ISO 4217 code; default the organisation's base currency.
    #[serde(default)]
    pub invoice_currency: Option<String>,
    /// Its postal address.
    #[serde(default)]
    pub address: Option<AddressBody>,
    /// Its main contact address.
    #[serde(default)]
    pub primary_email: Option<String>,
    /// Who receives its invoices.
    #[serde(default)]
    pub billing_information: Option<BillingInformation>,
    /// Days from invoice date to due date; default the organisation's.
    #[serde(default)]
    pub net_term_days: Option<i64>,
    /// `ACTIVE` (the default); `DRAFT` is not supported yet.
    #[serde(default)]
    pub status: Option<String>,
}

/// Togai's `Account`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountBody {
    /// The account's id.
    pub id: String,
    /// The same id.
    pub togai_account_id: String,
    /// The customer's id.
    pub togai_customer_id: String,
    /// Its name.
    pub name: String,
    /// The customer's id.
    pub customer_id: String,
    /// ISO 4217 code of its invoices.
    pub invoice_currency: String,
    /// Its own net term days, if set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net_term_days: Option<u32>,
    /// Its postal address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<AddressBody>,
    /// Its main contact address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_email: Option<String>,
    /// Who receives its invoices.
    pub billing_information: BillingInformation,
    /// `ACTIVE` or `ARCHIVED`.
    pub status: &'static str,
}

/// Togai's `AccountPaginatedResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountPage {
    /// The page's accounts, by id.
    pub data: Vec<AccountBody>,
    /// The token of the next page, absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// The page's size and order.
    pub context: PageContext,
}

pub(super) fn body(a: Account) -> AccountBody {
    AccountBody {
        togai_account_id: a.id.clone(),
        togai_customer_id: a.customer_id.clone(),
        id: a.id,
        name: a.name,
        customer_id: a.customer_id,
        invoice_currency: a.invoice_currency.to_string(),
        net_term_days: a.net_term_days,
        address: a.address.map(AddressBody::from),
        primary_email: a.primary_email,
        billing_information: BillingInformation {
            email_recipients: a.billing_emails,
            additional_email_recipients: a.additional_emails,
        },
        status: match a.status {
            AccountStatus::Active => "ACTIVE",
            AccountStatus::Archived => "ARCHIVED",
        },
    }
}

/// The account to create from Togai's request, in organisation `who.org`.
pub(super) async fn new_account(
    state: &AppState,
    who: &Principal,
    req: CreateAccountRequest,
) -> Result<NewAccount, ApiError> {
    if let Some(s) = req.status.as_deref().filter(|s| *s != "ACTIVE") {
        return Err(ApiError::invalid(format!(
            "status: {s:?} is not supported yet (accounts are created ACTIVE)"
        )));
    }
    let invoice_currency = match &req.invoice_currency {
        Some(code) => parse_currency("invoiceCurrency", code).map_err(CatalogError::from)?,
        None => {
            orgs::find(&state.pool, &who.org)
                .await?
                .ok_or_else(|| CatalogError::NotFound {
                    what: "organisation",
                    org: who.org.to_string(),
                    id: who.org.to_string(),
                })?
                .base_currency
        }
    };
    let net_term_days = req
        .net_term_days
        .map(|d| {
            u32::try_from(d).map_err(|_| {
                ApiError::invalid(format!(
                    "netTermDays: {d} is not a number of days: expected 0 or more"
                ))
            })
        })
        .transpose()?;
    let billing = req.billing_information.unwrap_or_default();
    Ok(NewAccount {
        id: req.id,
        customer_id: req.customer_id,
        name: req.name,
        invoice_currency,
        timezone: None,
        net_term_days,
        primary_email: req.primary_email,
        billing_emails: billing.email_recipients,
        additional_emails: billing.additional_email_recipients,
        address: req.address.map(Address::from),
    })
}

/// Creates an account for a customer of the caller's organisation (audited as
/// `account.create`).
#[utoipa::path(post, path = "/accounts", tag = "accounts",
    request_body = CreateAccountRequest,
    responses(
        (status = 201, description = "created", body = AccountBody),
        (status = 400, description = "a field is invalid", body = ErrorBody),
        (status = 401, description = "no valid credential", body = ErrorBody),
        (status = 403, description = "the role may not change accounts", body = ErrorBody),
        (status = 404, description = "no such customer in the organisation", body = ErrorBody),
        (status = 409, description = "the id exists", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Body(req): Body<CreateAccountRequest>,
) -> Result<(StatusCode, Json<AccountBody>), ApiError> {
    let id = req.id.clone();
    let new = new_account(&state, &who, req).await;
    let created = match new {
        Ok(new) => accounts::create(&state.pool, &who.org, &new)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    let a = audited(
        &state,
        &who,
        Change {
            action: "account.create",
            object_type: "account",
            object_id: &id,
        },
        serde_json::json!({}),
        created,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(body(a))))
}

/// The caller's organisation's accounts, by id, a page at a time.
#[utoipa::path(get, path = "/accounts", tag = "accounts",
    params(PageQuery),
    responses(
        (status = 200, description = "a page of accounts", body = AccountPage),
        (status = 401, description = "no valid credential", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Params(q): Params<PageQuery>,
) -> Result<Json<AccountPage>, ApiError> {
    let (size, limit) = q.keyset_limit()?;
    let rows = accounts::page(&state.pool, &who.org, q.next_token.as_deref(), limit).await?;
    let (rows, next_token, context) = q.keyset_page(size, rows, |a| a.id.as_str());
    Ok(Json(AccountPage {
        data: rows.into_iter().map(body).collect(),
        next_token,
        context,
    }))
}

/// One account of the caller's organisation (404 for any other id).
#[utoipa::path(get, path = "/accounts/{account_id}", tag = "accounts",
    params(("account_id" = String, Path, description = "the account's id")),
    responses(
        (status = 200, description = "the account", body = AccountBody),
        (status = 404, description = "no such account in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<AccountBody>, ApiError> {
    Ok(Json(body(accounts::get(&state.pool, &who.org, &id).await?)))
}
