//! `/billrun/tax_rates` and `/billrun/{customers,accounts}/{id}/tax`: taxes'
//! configuration over HTTP, as `billrun tax ...` (catalog::taxes; README "Taxes").
//! Togai 1.0.3 has no tax API: these are billrun's own routes and shapes.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use billrun_core::tax::{TaxRate, TaxTreatment};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorBody};
use super::extract::Body;
use super::{audited, AppState, Change};
use crate::catalog::taxes::{self, TaxParty, TaxSettings};
use crate::identity::Principal;

/// A tax rate (`GET`/`PUT /billrun/tax_rates...`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaxRateBody {
    /// The organisation's code for the rate (rate cards' `taxRateCode`).
    pub code: String,
    /// Shown on invoices ("VAT 19%").
    pub name: String,
    /// UNCL5305 category (S, AA, Z, E, AE, K, G, O, L, M).
    pub category: String,
    /// Percent as a decimal string: "19" is 19 %.
    #[schema(value_type = String)]
    pub percentage: Decimal,
    /// First local date it applies to (inclusive), if bounded.
    pub valid_from: Option<NaiveDate>,
    /// First local date it no longer applies to (exclusive), if bounded.
    pub valid_until: Option<NaiveDate>,
    /// Whether it is the default rate.
    pub is_default: bool,
}

impl From<TaxRate> for TaxRateBody {
    fn from(r: TaxRate) -> Self {
        Self {
            code: r.code,
            name: r.name,
            category: r.category,
            percentage: r.percentage,
            valid_from: r.valid_from,
            valid_until: r.valid_until,
            is_default: r.is_default,
        }
    }
}

/// The organisation's tax rates.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TaxRateList {
    /// By code, then start date.
    pub data: Vec<TaxRateBody>,
}

/// The body of `PUT /billrun/tax_rates/{code}`: the rate of the code from
/// `validFrom` (created, or replaced).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaxRateRequest {
    /// Shown on invoices (required).
    pub name: Option<String>,
    /// UNCL5305 category (default S).
    #[serde(default)]
    pub category: Option<String>,
    /// Percent as a decimal string or number (required): "19" is 19 %.
    #[schema(value_type = Option<String>)]
    pub percentage: Option<Decimal>,
    /// First local date it applies to (YYYY-MM-DD).
    #[serde(default)]
    pub valid_from: Option<NaiveDate>,
    /// First local date it no longer applies to (exclusive).
    #[serde(default)]
    pub valid_until: Option<NaiveDate>,
    /// The default rate (default false).
    #[serde(default)]
    pub is_default: bool,
}

/// A customer's or account's tax id and treatment (request and answer).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaxSettingsBody {
    /// The VAT / tax id printed on invoices (`null`: none).
    #[serde(default)]
    pub tax_id: Option<String>,
    /// STANDARD, EXEMPT, REVERSE_CHARGE or OUTSIDE_SCOPE (`null`: an account uses its
    /// customer's; a customer STANDARD).
    #[serde(default)]
    pub tax_treatment: Option<String>,
}

/// The organisation's tax rates.
#[utoipa::path(get, path = "/billrun/tax_rates", tag = "billrun",
    responses((status = 200, description = "the rates", body = TaxRateList)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<TaxRateList>, ApiError> {
    let rates = taxes::list_rates(&state.pool, &who.org).await?;
    Ok(Json(TaxRateList {
        data: rates.into_iter().map(TaxRateBody::from).collect(),
    }))
}

/// Creates or replaces the rate of `code` from `validFrom` (audited as
/// `tax_rate.put`); the organisation's drafts are recomputed.
#[utoipa::path(put, path = "/billrun/tax_rates/{code}", tag = "billrun",
    params(("code" = String, Path, description = "the rate's code")),
    request_body = TaxRateRequest,
    responses(
        (status = 200, description = "stored", body = TaxRateBody),
        (status = 400, description = "a field is invalid or missing", body = ErrorBody),
        (status = 409, description = "it would overlap a row of the code, or another default", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn put(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(code): Path<String>,
    Body(req): Body<TaxRateRequest>,
) -> Result<Json<TaxRateBody>, ApiError> {
    let change = Change {
        action: "tax_rate.put",
        object_type: "tax_rate",
        object_id: &code,
    };
    let rate = match (req.name, req.percentage) {
        (Some(name), Some(percentage)) => Ok(TaxRate {
            code: code.clone(),
            name,
            category: req.category.unwrap_or_else(|| "S".into()),
            percentage,
            valid_from: req.valid_from,
            valid_until: req.valid_until,
            is_default: req.is_default,
        }),
        (None, _) => Err(ApiError::invalid("name: required (e.g. \"VAT 19%\")")),
        (_, None) => Err(ApiError::invalid("percentage: required (e.g. \"19\")")),
    };
    let details = serde_json::json!({ "rate": rate.as_ref().ok() });
    let stored = match rate {
        Ok(rate) => taxes::put_rate(&state.pool, &who.org, &rate)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    let stored = audited(&state, &who, change, details, stored).await?;
    Ok(Json(stored.into()))
}

async fn set(
    state: AppState,
    who: Principal,
    party: TaxParty,
    id: String,
    req: TaxSettingsBody,
) -> Result<Json<TaxSettingsBody>, ApiError> {
    let (action, object_type) = match party {
        TaxParty::Customer => ("customer.set_tax", "customer"),
        TaxParty::Account => ("account.set_tax", "account"),
    };
    let change = Change {
        action,
        object_type,
        object_id: &id,
    };
    let treatment = req
        .tax_treatment
        .as_deref()
        .map(TaxTreatment::parse)
        .transpose()
        .map_err(|e| ApiError::invalid(format!("taxTreatment: {}", e.message)));
    let details = serde_json::json!({ "taxId": req.tax_id, "taxTreatment": req.tax_treatment });
    let set = match treatment {
        Ok(tax_treatment) => {
            let settings = TaxSettings {
                id: id.clone(),
                tax_id: req.tax_id,
                tax_treatment,
            };
            taxes::set_tax(&state.pool, &who.org, party, &id, &settings)
                .await
                .map_err(ApiError::from)
        }
        Err(e) => Err(e),
    };
    let set = audited(&state, &who, change, details, set).await?;
    Ok(Json(TaxSettingsBody {
        tax_id: set.tax_id,
        tax_treatment: set.tax_treatment.map(|t| t.as_str().to_string()),
    }))
}

/// Sets a customer's tax id and treatment (audited as `customer.set_tax`).
#[utoipa::path(put, path = "/billrun/customers/{customer_id}/tax", tag = "billrun",
    params(("customer_id" = String, Path, description = "the customer's id")),
    request_body = TaxSettingsBody,
    responses(
        (status = 200, description = "stored", body = TaxSettingsBody),
        (status = 400, description = "a field is invalid", body = ErrorBody),
        (status = 404, description = "no such customer", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn set_customer(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Body(req): Body<TaxSettingsBody>,
) -> Result<Json<TaxSettingsBody>, ApiError> {
    set(state, who, TaxParty::Customer, id, req).await
}

/// Sets an account's tax id and treatment, overriding its customer's (audited as
/// `account.set_tax`).
#[utoipa::path(put, path = "/billrun/accounts/{account_id}/tax", tag = "billrun",
    params(("account_id" = String, Path, description = "the account's id")),
    request_body = TaxSettingsBody,
    responses(
        (status = 200, description = "stored", body = TaxSettingsBody),
        (status = 400, description = "a field is invalid", body = ErrorBody),
        (status = 404, description = "no such account", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn set_account(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Body(req): Body<TaxSettingsBody>,
) -> Result<Json<TaxSettingsBody>, ApiError> {
    set(state, who, TaxParty::Account, id, req).await
}
