//! `PATCH` and `DELETE /accounts/{account_id}`: Togai's `UpdateAccountRequest`
//! (answered as `Account`) and `BaseSuccessResponse`, through
//! `catalog::accounts::update` and `catalog::history::delete_account`, as `billrun
//! account update|delete`.
//!
//! Semantics (README "HTTP API", "Customers and accounts that change"): PATCH replaces
//! the fields given (`address` and each recipient list whole); `netTermDays` applies to
//! invoices finalized from then on; `invoiceCurrency` changes only while the account
//! has no invoices, plan periods or credit grants (409 otherwise: its cycles are
//! priced in it). `status` `ACTIVE` changes nothing; `DRAFT`, and non-empty `metadata`
//! or `tags` (not kept), are refused (400); a body with nothing to change too. DELETE
//! deletes an account with no billing history (with its alias ranges); one with
//! history answers 409 naming what it has. Audited as `account.update`,
//! `account.delete`.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::Deserialize;

use super::accounts::{body, AccountBody};
use super::customer_changes::Success;
use super::customers::{refuse_unless_empty, AddressBody};
use super::error::{ApiError, ErrorBody};
use super::extract::Body;
use super::{audited, AppState, Change};
use crate::catalog::accounts::{self, AccountChanges};
use crate::catalog::customers::Address;
use crate::catalog::{history, parse_currency, CatalogError};
use crate::identity::Principal;

/// Togai's `UpdateAccountRequest`: the fields to change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateAccountRequest {
    /// A new name.
    #[serde(default)]
    pub name: Option<String>,
    /// `ACTIVE` (no change); `DRAFT` is not supported.
    #[serde(default)]
    pub status: Option<String>,
    /// A new ISO 4217 code: only while the account has no invoices, plan periods or
    /// credit grants.
    #[serde(default)]
    pub invoice_currency: Option<String>,
    /// Its own net term days, for invoices finalized from now on.
    #[serde(default)]
    pub net_term_days: Option<i64>,
    /// A new main contact address.
    #[serde(default)]
    pub primary_email: Option<String>,
    /// New recipients (each list given replaces the stored one).
    #[serde(default)]
    pub billing_information: Option<BillingInformationChange>,
    /// A new postal address (replaces the stored one whole).
    #[serde(default)]
    pub address: Option<AddressBody>,
    /// Not kept: refused unless empty.
    #[serde(default)]
    pub metadata: Option<HashMap<String, String>>,
    /// Not kept: refused unless empty.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

/// Togai's `AccountsBillingInformation` in a change: a list absent is kept.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BillingInformationChange {
    /// New invoice recipients.
    #[serde(default)]
    pub email_recipients: Option<Vec<String>>,
    /// New copy recipients.
    #[serde(default)]
    pub additional_email_recipients: Option<Vec<String>>,
}

/// The change `req` asks for, or a 400 for what billrun does not keep.
fn changes(req: UpdateAccountRequest) -> Result<AccountChanges, ApiError> {
    if let Some(s) = req.status.as_deref().filter(|s| *s != "ACTIVE") {
        return Err(ApiError::invalid(format!(
            "status: {s:?} is not supported (accounts are ACTIVE)"
        )));
    }
    refuse_unless_empty(
        "metadata",
        req.metadata.as_ref().is_none_or(|m| m.is_empty()),
    )?;
    refuse_unless_empty("tags", req.tags.as_ref().is_none_or(Vec::is_empty))?;
    let invoice_currency = req
        .invoice_currency
        .as_deref()
        .map(|c| parse_currency("invoiceCurrency", c))
        .transpose()
        .map_err(CatalogError::from)?;
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
    let (billing_emails, additional_emails) = match req.billing_information {
        Some(b) => (b.email_recipients, b.additional_email_recipients),
        None => (None, None),
    };
    Ok(AccountChanges {
        name: req.name,
        primary_email: req.primary_email,
        billing_emails,
        additional_emails,
        address: req.address.map(Address::from),
        net_term_days,
        invoice_currency,
        timezone: None,
    })
}

/// Changes an account of the caller's organisation (audited as `account.update`).
#[utoipa::path(patch, path = "/accounts/{account_id}", tag = "accounts",
    params(("account_id" = String, Path, description = "the account's id")),
    request_body = UpdateAccountRequest,
    responses(
        (status = 200, description = "the account as changed", body = AccountBody),
        (status = 400, description = "a field is invalid or not supported, or none is given", body = ErrorBody),
        (status = 403, description = "the role may not change accounts", body = ErrorBody),
        (status = 404, description = "no such account in the organisation", body = ErrorBody),
        (status = 409, description = "invoiceCurrency of an account already billed or on a plan", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Body(req): Body<UpdateAccountRequest>,
) -> Result<Json<AccountBody>, ApiError> {
    let asked = changes(req);
    let details = match &asked {
        Ok(c) => serde_json::json!({
            "name": c.name,
            "primaryEmail": c.primary_email,
            "billingEmails": c.billing_emails,
            "additionalEmails": c.additional_emails,
            "address": c.address,
            "netTermDays": c.net_term_days,
            "invoiceCurrency": c.invoice_currency.map(|c| c.to_string()),
        }),
        Err(_) => serde_json::json!({}),
    };
    let done = match asked {
        Ok(c) => accounts::update(&state.pool, &who.org, &id, &c)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    let a = audited(
        &state,
        &who,
        Change {
            action: "account.update",
            object_type: "account",
            object_id: &id,
        },
        details,
        done,
    )
    .await?;
    Ok(Json(body(a)))
}

/// Deletes an account of the caller's organisation that has no billing history
/// (audited as `account.delete`).
#[utoipa::path(delete, path = "/accounts/{account_id}", tag = "accounts",
    params(("account_id" = String, Path, description = "the account's id")),
    responses(
        (status = 200, description = "deleted", body = Success),
        (status = 403, description = "the role may not change accounts", body = ErrorBody),
        (status = 404, description = "no such account in the organisation", body = ErrorBody),
        (status = 409, description = "the account has billing history: kept", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Success>, ApiError> {
    let done = history::delete_account(&state.pool, &who.org, &id)
        .await
        .map_err(ApiError::from);
    audited(
        &state,
        &who,
        Change {
            action: "account.delete",
            object_type: "account",
            object_id: &id,
        },
        serde_json::json!({}),
        done,
    )
    .await?;
    Ok(Json(Success { success: true }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: serde_json::Value) -> UpdateAccountRequest {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn what_billrun_does_not_keep_is_refused_by_name() {
        let e = changes(request(serde_json::json!({"status": "DRAFT"}))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "400 status: \"DRAFT\" is not supported (accounts are ACTIVE)"
        );
        let e = changes(request(serde_json::json!({"tags": ["vip"]}))).unwrap_err();
        assert!(e.to_string().starts_with("400 tags:"), "{e}");
        let c = changes(request(serde_json::json!({
            "status": "ACTIVE", "metadata": {}, "netTermDays": 45,
            "billingInformation": {"emailRecipients": ["ap@initech.test"]}
        })))
        .unwrap();
        assert_eq!(c.net_term_days, Some(45));
        assert_eq!(c.billing_emails, Some(vec!["ap@initech.test".to_string()]));
        assert_eq!(c.additional_emails, None, "a list absent is kept");
    }
}
