//! `/invoices`: list and get invoices in Togai's shapes (`ListInvoicesResponse` of
//! `InvoiceSummary`, and `Invoice`), through `bill_run::invoices` as `billrun invoice
//! list|show`.
//!
//! Mapping: `ownerId` is the account, `pricePlanId` the plan, `sequenceId` the number
//! (finalized invoices), `status` billrun's (`DRAFT`, `DUE`, `PAID`, `VOID`; Togai has
//! `MERGED` too), `invoiceClass` `INVOICE`, `invoiceType` `STANDARD`. billrun's dates
//! are local dates in the account's timezone; Togai's fields are date-times, answered
//! as that date at 00:00 UTC: `startDate` / `endDate` span the invoice's periods
//! (in arrears and in advance; `endDate` exclusive, `endDateInclusive` the day
//! before), `invoiceDate` is the invoice date (a draft's: its cycle boundary),
//! `updatedAt` the last of finalized, paid and voided (a draft's: when its grace
//! period ends). Amounts are JSON numbers written from the decimal as stored (never
//! through a float). `usageInfo` and `revenueInfo` (the line tree) are left out, as
//! Togai's client requires.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::error::{ApiError, ErrorBody};
use super::extract::Params;
use super::AppState;
use crate::bill_run::invoices::{self, InvoiceFilter, InvoiceView};
use crate::identity::Principal;
use crate::paging::ListError;
use crate::store::status::InvoiceStatus;

/// The query of `GET /invoices` (Togai's names).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// The `nextToken` of the previous page.
    #[serde(rename = "nextToken")]
    pub next_token: Option<String>,
    /// Rows per page, 1 to 50 (default 10).
    #[serde(rename = "pageSize")]
    pub page_size: Option<u32>,
    /// Only invoices of this status.
    pub status: Option<String>,
    /// Only this account's invoices.
    pub owner_id: Option<String>,
    /// Not supported yet (400).
    pub customer_id: Option<String>,
    /// Not supported yet (400).
    pub start_time: Option<String>,
    /// Not supported yet (400).
    pub end_time: Option<String>,
}

/// Togai's `InvoiceSummary`, and its `Invoice` without `usageInfo` and
/// `revenueInfo` (the same fields).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceSummary {
    /// The invoice's id.
    pub id: String,
    /// The account billed.
    pub owner_id: String,
    /// The plan it was computed from.
    pub price_plan_id: String,
    /// `DRAFT`, `DUE`, `PAID`, `VOID` or `MERGED`.
    pub status: String,
    /// `INVOICE`.
    pub invoice_class: &'static str,
    /// `STANDARD`.
    pub invoice_type: &'static str,
    /// Start of its first period (00:00 UTC of the local date).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<DateTime<Utc>>,
    /// End of its last period, exclusive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<DateTime<Utc>>,
    /// The day before `endDate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date_inclusive: Option<DateTime<Utc>>,
    /// The invoice date (a draft's: its cycle boundary).
    pub invoice_date: DateTime<Utc>,
    /// The due date (finalized invoices).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_date: Option<DateTime<Utc>>,
    /// When it was finalized.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_at: Option<DateTime<Utc>>,
    /// The last change.
    pub updated_at: DateTime<Utc>,
    /// Its number (finalized invoices).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence_id: Option<String>,
    /// The amount due, in the invoice's currency.
    #[schema(value_type = f64)]
    pub total_amount: Box<RawValue>,
    /// What was paid: the total once PAID, else 0.
    #[schema(value_type = f64)]
    pub paid_amount: Box<RawValue>,
    /// Days from invoice date to due date (0 for a draft).
    pub net_term_days: i32,
    /// billrun's own field (not in Togai's `Invoice`; its client ignores it): true
    /// when credit notes took the invoice's balance to 0 and so made it PAID
    /// (README "Credit notes"), false otherwise.
    pub paid_by_credit_notes: bool,
}

/// Togai's `ListInvoicesResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvoicePage {
    /// The page's invoices: newest billing period first, then by account.
    pub data: Vec<InvoiceSummary>,
    /// The token of the next page, absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// A decimal as a JSON number, digit for digit.
fn number(d: Decimal) -> Box<RawValue> {
    RawValue::from_string(d.to_string()).expect("a decimal is a JSON number")
}

/// Togai's `InvoiceSummary` (and `Invoice`) of a billrun invoice, as mapped above.
pub fn summary(i: &InvoiceView) -> InvoiceSummary {
    let paid = if i.status == InvoiceStatus::Paid {
        i.total
    } else {
        Decimal::ZERO
    };
    let start = [i.closing_start, i.opening_start]
        .into_iter()
        .flatten()
        .min();
    let end = [i.closing_end, i.opening_end].into_iter().flatten().max();
    let updated = [i.finalized_at, i.paid_at, i.voided_at]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(i.grace_ends_at);
    InvoiceSummary {
        id: i.id.clone(),
        owner_id: i.account_id.clone(),
        price_plan_id: i.plan_id.clone(),
        status: i.status.as_str().to_string(),
        invoice_class: "INVOICE",
        invoice_type: "STANDARD",
        start_date: start.map(midnight),
        end_date: end.map(midnight),
        end_date_inclusive: end.and_then(|e| e.pred_opt()).map(midnight),
        invoice_date: midnight(i.invoice_date.unwrap_or(i.boundary)),
        due_date: i.due_date.map(midnight),
        generated_at: i.finalized_at,
        updated_at: updated,
        sequence_id: i.number.clone(),
        total_amount: number(i.total),
        paid_amount: number(paid),
        net_term_days: i.net_term_days.unwrap_or(0),
        paid_by_credit_notes: i.paid_by_credit_notes,
    }
}

/// The caller's organisation's invoices, a page at a time (MERGED drafts only when
/// asked for by `status`).
#[utoipa::path(get, path = "/invoices", tag = "invoices",
    params(ListQuery),
    responses(
        (status = 200, description = "a page of invoices", body = InvoicePage),
        (status = 400, description = "a parameter is invalid or not supported yet", body = ErrorBody),
        (status = 401, description = "no valid credential", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Params(q): Params<ListQuery>,
) -> Result<Json<InvoicePage>, ApiError> {
    page(&state, &who, q, None).await
}

/// The invoices eligible for a bill run (Togai's `GET /invoices/bill_runs`, "list
/// invoices eligible for bill run"): the caller's organisation's DRAFT invoices, which
/// the next bill run finalizes once their grace period has ended (until then it
/// recomputes them), a page at a time as `GET /invoices`. `status` may only be
/// `DRAFT`. The bill runs themselves are Togai's jobs of type `BILL_RUN` (`GET
/// /jobs`).
#[utoipa::path(get, path = "/invoices/bill_runs", tag = "invoices",
    params(ListQuery),
    responses(
        (status = 200, description = "a page of DRAFT invoices", body = InvoicePage),
        (status = 400, description = "a parameter is invalid, not supported yet, or a status other than DRAFT", body = ErrorBody),
        (status = 401, description = "no valid credential", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn eligible(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Params(q): Params<ListQuery>,
) -> Result<Json<InvoicePage>, ApiError> {
    if let Some(s) = q.status.as_deref().filter(|s| *s != "DRAFT") {
        return Err(ApiError::invalid(format!(
            "status: {s:?}: only DRAFT invoices are eligible for a bill run"
        )));
    }
    page(&state, &who, q, Some(InvoiceStatus::Draft)).await
}

/// One page of `GET /invoices` for `q` (with `status` forced to `only` when given).
async fn page(
    state: &AppState,
    who: &Principal,
    q: ListQuery,
    only: Option<InvoiceStatus>,
) -> Result<Json<InvoicePage>, ApiError> {
    for (name, given) in [
        ("customer_id", &q.customer_id),
        ("start_time", &q.start_time),
        ("end_time", &q.end_time),
    ] {
        if given.is_some() {
            return Err(ApiError::invalid(format!(
                "{name}: not supported yet (filter by owner_id and status)"
            )));
        }
    }
    let size = q.page_size.unwrap_or(10);
    if !(1..=50).contains(&size) {
        return Err(ApiError::invalid(format!(
            "pageSize {size}: expected 1 to 50"
        )));
    }
    let status = q
        .status
        .as_deref()
        .map(|s| {
            s.parse::<InvoiceStatus>()
                .map_err(|e| ApiError::invalid(format!("status: {e}")))
        })
        .transpose()?
        .or(only);
    let filter = InvoiceFilter {
        org: who.org.clone(),
        account: q.owner_id,
        status,
        limit: i64::from(size),
        after: q.next_token.clone(),
        period: None,
    };
    let page = invoices::list(&state.pool, &filter)
        .await
        .map_err(|e| match e {
            ListError::Db(e) => ApiError::from(e),
            _ => ApiError::invalid(format!(
                "nextToken {:?} is not a token of this listing: list again from the first page",
                q.next_token.unwrap_or_default()
            )),
        })?;
    Ok(Json(InvoicePage {
        data: page.rows.iter().map(summary).collect(),
        next_token: page.next,
    }))
}

/// One invoice of the caller's organisation, by id or number (404 for any other).
#[utoipa::path(get, path = "/invoices/{invoice_id}", tag = "invoices",
    params(("invoice_id" = String, Path, description = "the invoice's id or number")),
    responses(
        (status = 200, description = "the invoice", body = InvoiceSummary),
        (status = 404, description = "no such invoice in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<InvoiceSummary>, ApiError> {
    let i = invoices::show(&state.pool, &who.org, &id)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                format!("organisation {} has no invoice {id}", who.org),
            )
        })?;
    Ok(Json(summary(&i)))
}
