//! `/credits` and `/accounts/{account_id}/credit_balance`: Togai's credits API
//! (`CreateCreditRequest`, `Credit`, `CreditDetailsResponse`, `ListCreditsResponse`,
//! `CreditBalanceResponse`) over billrun's grants, as `billrun credit`.
//!
//! Mapping (README "HTTP API"): a `CreditRequest` is an operator's grant
//! ([`crate::app::credits::grant`], the `credit-grant` job, idempotent per
//! `idempotencyKey`; one is made up when the request has none) in the account's
//! invoice currency (`creditUnit`). Togai's dates are local dates of the account's
//! timezone (its own, else the organisation's): `effectiveFrom` is usable from 00:00 of
//! that day, `effectiveUntil` through the end of that day (inclusive; the grant ends at
//! 00:00 of the next day). `creditAmount` is required (billrun has no unlimited
//! grant); `grantorId` is refused (not kept). Several requests in one call are granted
//! one after the other: a refusal answers its error and leaves the grants before it.
//! Transactions: GRANTED and RESTORED are `CREDITED`, CONSUMED `DEBITED`. The balance
//! of an account is its ACTIVE grants' remaining amounts in its invoice currency
//! (`availableBalance` = `runningBalance` = `activeCredits`; `inapplicableCredits` 0).

use axum::extract::{Path, State};
use axum::{Extension, Json};
use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::error::{ApiError, ErrorBody};
use super::extract::{Body, Params};
use super::money::{decimal, number};
use super::{audited, AppState, Change, PageQuery};
use crate::catalog::{accounts, orgs};
use crate::credits::{self, GrantFilter, GrantRecord, LedgerEntry, NewGrant};
use crate::identity::Principal;

/// Togai's `CreditRequest`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreditRequest {
    /// The account granted.
    pub account_id: String,
    /// Why (shown on invoices).
    pub purpose: String,
    /// Lines it may pay: rate card names, `ALL_USAGE_METER_RATE_CARDS`,
    /// `ALL_FIXED_FEE_RATE_CARDS`; empty: every line.
    #[serde(default)]
    pub applicable_entity_ids: Option<Vec<String>>,
    /// First day usable (the account's timezone).
    pub effective_from: NaiveDate,
    /// Last day usable, inclusive; none: no expiry.
    #[serde(default)]
    pub effective_until: Option<NaiveDate>,
    /// Amount in the account's invoice currency, at most its minor units (required).
    #[schema(value_type = Option<f64>)]
    #[serde(default)]
    pub credit_amount: Option<Box<RawValue>>,
    /// Lower is consumed first.
    pub priority: i64,
    /// Not kept by billrun: refused.
    #[serde(default)]
    pub grantor_id: Option<String>,
    /// The same key twice grants once; default a new key.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// Togai's `CreateCreditRequest`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateCreditRequest {
    /// The grants to make, in order.
    pub credit_requests: Vec<CreditRequest>,
}

/// Togai's `Credit`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreditBody {
    /// The grant's id.
    pub id: String,
    /// The account.
    pub account_id: String,
    /// The account's customer.
    pub customer_id: String,
    /// Why.
    pub purpose: String,
    /// Lines it may pay (empty: every line).
    pub applicable_entity_ids: Vec<String>,
    /// First day usable (the account's timezone).
    pub effective_from: NaiveDate,
    /// Last day usable, inclusive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_until: Option<NaiveDate>,
    /// Amount granted, at the currency's scale.
    #[schema(value_type = f64)]
    pub credit_amount: Box<RawValue>,
    /// Lower is consumed first.
    pub priority: i32,
    /// Its idempotency key.
    pub idempotency_key: String,
    /// `ACTIVE`, `CONSUMED`, `EXPIRED` or `VOIDED`.
    pub status: String,
    /// The currency (ISO 4217).
    pub credit_unit: String,
    /// What invoices consumed (less what voided invoices gave back); only in a
    /// grant's details.
    #[schema(value_type = Option<f64>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumed_amount: Option<Box<RawValue>>,
    /// When it was recorded (UTC).
    pub created_at: DateTime<Utc>,
}

/// Togai's `CreateCreditResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreateCreditResponse {
    /// The grants, in the request's order (an existing one for a key used before).
    pub credits: Vec<CreditBody>,
}

/// Togai's `CreditTransaction`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreditTransactionBody {
    /// The ledger entry's id.
    pub id: String,
    /// The grant.
    pub credit_id: String,
    /// `CREDITED` (granted, or given back by a voided invoice), `DEBITED` (consumed),
    /// `EXPIRED`, `VOIDED`.
    pub transaction_type: &'static str,
    /// The invoice, for movements an invoice caused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_id: Option<String>,
    /// The amount, positive, at the currency's scale.
    #[schema(value_type = f64)]
    pub amount: Box<RawValue>,
    /// When it takes effect (UTC).
    pub created_at: DateTime<Utc>,
}

/// Togai's `CreditDetailsResponse`: a credit and its transactions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreditDetails {
    /// The credit.
    #[serde(flatten)]
    pub credit: CreditBody,
    /// Its ledger, in the order the movements take effect.
    pub transactions: Vec<CreditTransactionBody>,
}

/// Togai's `ListCreditsResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreditPage {
    /// The page's credits, by id (the order they were granted in).
    pub data: Vec<CreditBody>,
    /// The token of the next page, absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// Togai's `CreditBalanceResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreditBalance {
    /// What the ACTIVE grants have left, in `unit`.
    #[schema(value_type = f64)]
    pub active_credits: Box<RawValue>,
    /// The same.
    #[schema(value_type = f64)]
    pub available_balance: Box<RawValue>,
    /// The same.
    #[schema(value_type = f64)]
    pub running_balance: Box<RawValue>,
    /// 0 (billrun has no credits that cannot apply).
    #[schema(value_type = f64)]
    pub inapplicable_credits: Box<RawValue>,
    /// The account's invoice currency (ISO 4217).
    pub unit: String,
    /// When the balance was read (UTC).
    pub last_updated_at: DateTime<Utc>,
}

/// The query of `GET /credits` (Togai's names).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// The `nextToken` of the previous page.
    #[serde(rename = "nextToken")]
    pub next_token: Option<String>,
    /// Rows per page, 1 to 50 (default 10).
    #[serde(rename = "pageSize")]
    pub page_size: Option<u32>,
    /// Only credits in this status.
    pub status: Option<String>,
    /// Only this account's credits.
    pub account_id: Option<String>,
    /// Only this credit.
    pub id: Option<String>,
}

/// The timezone of `account`'s dates: its own, else its organisation's.
async fn account_zone(
    state: &AppState,
    who: &Principal,
    account: &str,
) -> Result<(accounts::Account, Tz), ApiError> {
    let a = accounts::get(&state.pool, &who.org, account).await?;
    let org = orgs::get(&state.pool, &who.org).await?;
    let tz = a.effective_timezone(&org);
    Ok((a, tz))
}

fn local_midnight(tz: Tz, d: NaiveDate) -> DateTime<Utc> {
    let naive = d.and_time(chrono::NaiveTime::MIN);
    tz.from_local_datetime(&naive)
        .earliest()
        .map_or_else(|| naive.and_utc(), |t| t.with_timezone(&Utc))
}

/// `at`'s local date in `tz`.
fn local_date(tz: Tz, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

fn credit_body(r: GrantRecord, tz: Tz, consumed: Option<Decimal>) -> CreditBody {
    let g = r.grant;
    CreditBody {
        id: g.id,
        account_id: g.account_id,
        customer_id: r.customer_id,
        purpose: g.purpose,
        applicable_entity_ids: g.applicable_entity_ids,
        effective_from: local_date(tz, g.effective_from),
        // The last day usable: the day of the instant just before the end.
        effective_until: g
            .effective_until
            .map(|u| local_date(tz, u - chrono::Duration::microseconds(1))),
        credit_amount: number(g.amount),
        priority: g.priority,
        idempotency_key: g.idempotency_key,
        status: g.status.to_string(),
        credit_unit: g.currency,
        consumed_amount: consumed.map(number),
        created_at: r.created_at,
    }
}

fn transaction(e: LedgerEntry) -> CreditTransactionBody {
    CreditTransactionBody {
        id: e.id.to_string(),
        credit_id: e.grant_id,
        transaction_type: match e.kind.as_str() {
            "GRANTED" | "RESTORED" => "CREDITED",
            "CONSUMED" => "DEBITED",
            "EXPIRED" => "EXPIRED",
            _ => "VOIDED",
        },
        invoice_id: e.invoice_id,
        amount: number(e.amount),
        created_at: e.at,
    }
}

/// The grant `req` asks for, as of `now`.
async fn new_grant(
    state: &AppState,
    who: &Principal,
    req: CreditRequest,
) -> Result<NewGrant, ApiError> {
    if req.grantor_id.is_some() {
        return Err(ApiError::invalid(
            "grantorId: not supported (billrun does not keep a grantor)",
        ));
    }
    let amount = match &req.credit_amount {
        Some(raw) => decimal("creditAmount", raw)?,
        None => {
            return Err(ApiError::invalid(
                "creditAmount: required (billrun has no unlimited credits)",
            ))
        }
    };
    let priority = u32::try_from(req.priority)
        .map_err(|_| ApiError::invalid(format!("priority: {} is not 0 or more", req.priority)))?;
    let (account, tz) = account_zone(state, who, &req.account_id).await?;
    let until = req
        .effective_until
        .map(|d| {
            d.checked_add_days(Days::new(1))
                .map(|next| local_midnight(tz, next))
                .ok_or_else(|| ApiError::invalid(format!("effectiveUntil: {d} is out of range")))
        })
        .transpose()?;
    Ok(NewGrant {
        account: req.account_id,
        amount,
        currency: account.invoice_currency.to_string(),
        purpose: req.purpose,
        priority,
        effective_from: Some(local_midnight(tz, req.effective_from)),
        effective_until: until,
        applicable_entity_ids: req.applicable_entity_ids.unwrap_or_default(),
        idempotency_key: req
            .idempotency_key
            .unwrap_or_else(|| format!("api_{}", ulid::Ulid::generate())),
    })
}

/// Grants credits to accounts of the caller's organisation (each audited as
/// `credit.grant`).
#[utoipa::path(post, path = "/credits", tag = "credits",
    request_body = CreateCreditRequest,
    responses(
        (status = 200, description = "granted (or found under its idempotency key)", body = CreateCreditResponse),
        (status = 400, description = "a field is invalid", body = ErrorBody),
        (status = 403, description = "the role may not grant credits", body = ErrorBody),
        (status = 404, description = "no such account in the organisation", body = ErrorBody),
        (status = 409, description = "the idempotency key was used for another grant", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Body(req): Body<CreateCreditRequest>,
) -> Result<Json<CreateCreditResponse>, ApiError> {
    if req.credit_requests.is_empty() {
        return Err(ApiError::invalid("creditRequests: expected at least one"));
    }
    let mut answered = Vec::new();
    for r in req.credit_requests {
        let account = r.account_id.clone();
        let granted = match new_grant(&state, &who, r).await {
            Ok(g) => {
                let details = serde_json::json!({
                    "accountId": g.account, "amount": g.amount.to_string(),
                    "currency": g.currency, "idempotencyKey": g.idempotency_key,
                });
                let outcome = crate::app::credits::grant(
                    &state.pool,
                    state.config.clone(),
                    &who.org,
                    &g,
                    Utc::now(),
                )
                .await
                .map_err(ApiError::from);
                outcome.map(|o| (o, details))
            }
            Err(e) => Err(e),
        };
        let id = granted
            .as_ref()
            .map(|(o, _)| o.granted.id().to_string())
            .unwrap_or(account);
        let details = granted.as_ref().map(|(_, d)| d.clone()).unwrap_or_default();
        let (outcome, _) = audited(
            &state,
            &who,
            Change {
                action: "credit.grant",
                object_type: "credit",
                object_id: &id,
            },
            details,
            granted,
        )
        .await?;
        let record = credits::record(&state.pool, &who.org, outcome.granted.id()).await?;
        let (_, tz) = account_zone(&state, &who, &record.grant.account_id).await?;
        answered.push(credit_body(record, tz, None));
    }
    Ok(Json(CreateCreditResponse { credits: answered }))
}

/// The caller's organisation's credits, by id, a page at a time.
#[utoipa::path(get, path = "/credits", tag = "credits",
    params(ListQuery),
    responses(
        (status = 200, description = "a page of credits", body = CreditPage),
        (status = 400, description = "a parameter is invalid", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Params(q): Params<ListQuery>,
) -> Result<Json<CreditPage>, ApiError> {
    let paging = PageQuery {
        next_token: q.next_token.clone(),
        page_size: q.page_size,
    };
    let (size, limit) = paging.keyset_limit()?;
    let filter = GrantFilter {
        account: q.account_id,
        status: q.status,
        id: q.id,
    };
    let rows = credits::page(
        &state.pool,
        &who.org,
        &filter,
        q.next_token.as_deref(),
        limit,
    )
    .await?;
    let (rows, next_token, _) = paging.keyset_page(size, rows, |r| r.grant.id.as_str());
    let org = orgs::get(&state.pool, &who.org).await?;
    let zones = accounts::get_many(
        &state.pool,
        &who.org,
        &rows
            .iter()
            .map(|r| r.grant.account_id.clone())
            .collect::<Vec<_>>(),
    )
    .await?;
    let zone = |account: &str| {
        zones
            .iter()
            .find(|a| a.id == account)
            .map_or(org.timezone, |a| a.effective_timezone(&org))
    };
    let data = rows
        .into_iter()
        .map(|r| {
            let tz = zone(&r.grant.account_id);
            credit_body(r, tz, None)
        })
        .collect();
    Ok(Json(CreditPage { data, next_token }))
}

/// One credit of the caller's organisation with its transactions (404 for any other
/// id).
#[utoipa::path(get, path = "/credits/{credit_id}", tag = "credits",
    params(("credit_id" = String, Path, description = "the credit's id")),
    responses(
        (status = 200, description = "the credit", body = CreditDetails),
        (status = 404, description = "no such credit in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<CreditDetails>, ApiError> {
    let record = credits::record(&state.pool, &who.org, &id).await?;
    let ledger = credits::grant_ledger(&state.pool, &who.org, &id).await?;
    let consumed: Decimal = ledger
        .iter()
        .map(|e| match e.kind.as_str() {
            "CONSUMED" => e.amount,
            "RESTORED" => -e.amount,
            _ => Decimal::ZERO,
        })
        .sum();
    let (_, tz) = account_zone(&state, &who, &record.grant.account_id).await?;
    let mut consumed = consumed;
    consumed.rescale(record.grant.amount.scale());
    Ok(Json(CreditDetails {
        credit: credit_body(record, tz, Some(consumed)),
        transactions: ledger.into_iter().map(transaction).collect(),
    }))
}

/// Voids an ACTIVE credit: what is left is recorded as VOIDED now (audited as
/// `credit.void`).
#[utoipa::path(post, path = "/credits/{credit_id}/void", tag = "credits",
    params(("credit_id" = String, Path, description = "the credit's id")),
    responses(
        (status = 200, description = "voided", body = CreditBody),
        (status = 403, description = "the role may not void credits", body = ErrorBody),
        (status = 404, description = "no such credit in the organisation", body = ErrorBody),
        (status = 409, description = "the credit is not ACTIVE", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn void(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<CreditBody>, ApiError> {
    let voided = credits::void(&state.pool, &who.org, &id, Utc::now()).await;
    let details = match &voided {
        Ok(g) => serde_json::json!({ "accountId": g.account_id }),
        Err(_) => serde_json::json!({}),
    };
    audited(
        &state,
        &who,
        Change {
            action: "credit.void",
            object_type: "credit",
            object_id: &id,
        },
        details,
        voided,
    )
    .await?;
    let record = credits::record(&state.pool, &who.org, &id).await?;
    let (_, tz) = account_zone(&state, &who, &record.grant.account_id).await?;
    Ok(Json(credit_body(record, tz, None)))
}

/// An account's balance of usable credits in its invoice currency (404 for an
/// account of another organisation).
#[utoipa::path(get, path = "/accounts/{account_id}/credit_balance", tag = "credits",
    params(("account_id" = String, Path, description = "the account's id")),
    responses(
        (status = 200, description = "the balance", body = CreditBalance),
        (status = 404, description = "no such account in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn balance(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(account): Path<String>,
) -> Result<Json<CreditBalance>, ApiError> {
    let a = accounts::get(&state.pool, &who.org, &account).await?;
    let unit = a.invoice_currency;
    let amount = credits::balance(&state.pool, &who.org, &account)
        .await?
        .into_iter()
        .find(|(c, _)| c == unit.code())
        .map_or_else(|| unit.round(Decimal::ZERO, Default::default()), |(_, a)| a);
    let zero = unit.round(Decimal::ZERO, Default::default());
    Ok(Json(CreditBalance {
        active_credits: number(amount),
        available_balance: number(amount),
        running_balance: number(amount),
        inapplicable_credits: number(zero),
        unit: unit.to_string(),
        last_updated_at: Utc::now(),
    }))
}
