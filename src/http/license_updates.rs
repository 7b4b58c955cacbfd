//! `/license_updates`: Togai's license updates (`LicenseUpdateRequest`,
//! `LicenseUpdateResponse`, `GetLicenseUpdatesResponse`) over
//! [`crate::catalog::licenses`], as `billrun license update`.
//!
//! Mapping (README "HTTP API"): a missing `effectiveFrom` is the request's time, a
//! missing `idempotencyKey` a new key (so a retry without a key records twice, as in
//! Togai); `metadata` is not kept and refused when not empty. The answer's `quantity`
//! is the license's absolute quantity for the account from that update on (Togai's
//! "absolute quantity of the license"; [`crate::catalog::licenses::LicenseRecord`]).
//! Lists are by idempotency key, keyset paged. Recording is audited as
//! `license_update.create`. `PATCH /license_updates/{license_id}` changes an entry's
//! metadata in Togai, and billrun keeps none: the entry (`accountId`, `effectiveFrom`)
//! is looked up (404 when there is none), an empty `metadata` answers it unchanged
//! and any other is refused (400); audited as `license_update.update`. Togai's client
//! sends that path with its template unfilled (`/license_updates/%7Blicense_id%7D`)
//! and the license as the query's `licenseId`: a path of `{license_id}` takes the
//! query's.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::error::{ApiError, ErrorBody};
use super::extract::{Body, Params};
use super::money::{decimal, number};
use super::{audited, AppState, Change, PageQuery};
use crate::catalog::licenses::{self, LicenseFilter, LicenseRecord, LicenseUpdate, UpdateType};
use crate::catalog::CatalogError;
use crate::identity::Principal;

/// Togai's `LicenseUpdateRequest`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LicenseUpdateRequest {
    /// The license (a license rate card's id).
    pub license_id: String,
    /// The account.
    pub account_id: String,
    /// `RELATIVE` (adds) or `ABSOLUTE` (sets).
    pub update_type: String,
    /// The quantity added or set.
    #[schema(value_type = f64)]
    pub quantity: Box<RawValue>,
    /// From when it applies; default now.
    #[serde(default)]
    pub effective_from: Option<DateTime<Utc>>,
    /// The same key twice records once; default a new key.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// Not kept: refused unless empty.
    #[serde(default)]
    pub metadata: Option<HashMap<String, String>>,
}

/// Togai's `LicenseUpdateResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LicenseUpdateBody {
    /// The license.
    pub license_id: String,
    /// The account.
    pub account_id: String,
    /// The license's absolute quantity for the account from this update on.
    #[schema(value_type = f64)]
    pub quantity: Box<RawValue>,
    /// From when it applies (UTC).
    pub effective_from: DateTime<Utc>,
    /// When it was recorded (UTC).
    pub created_at: DateTime<Utc>,
}

/// Togai's `GetLicenseUpdatesResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LicenseUpdatePage {
    /// The page's updates, by idempotency key.
    pub data: Vec<LicenseUpdateBody>,
    /// The token of the next page, absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// The query of `GET /license_updates` (Togai's names).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// The `nextToken` of the previous page.
    #[serde(rename = "nextToken")]
    pub next_token: Option<String>,
    /// Rows per page, 1 to 50 (default 10).
    #[serde(rename = "pageSize")]
    pub page_size: Option<u32>,
    /// Only this account's updates.
    pub account_id: Option<String>,
    /// Only this license's updates.
    #[serde(rename = "licenseId")]
    pub license_id: Option<String>,
    /// Only updates effective at or after this instant (RFC 3339).
    #[serde(rename = "effectiveFrom")]
    pub effective_from: Option<DateTime<Utc>>,
}

fn body(r: LicenseRecord) -> LicenseUpdateBody {
    LicenseUpdateBody {
        license_id: r.update.license_id,
        account_id: r.update.account_id,
        quantity: number(r.absolute_quantity),
        effective_from: r.update.effective_from,
        created_at: r.created_at,
    }
}

fn update(req: LicenseUpdateRequest, now: DateTime<Utc>) -> Result<LicenseUpdate, ApiError> {
    if req.metadata.as_ref().is_some_and(|m| !m.is_empty()) {
        return Err(ApiError::invalid(
            "metadata: not supported (billrun does not keep license update metadata)",
        ));
    }
    Ok(LicenseUpdate {
        idempotency_key: req
            .idempotency_key
            .unwrap_or_else(|| format!("api_{}", ulid::Ulid::generate())),
        update_type: UpdateType::parse("updateType", &req.update_type)
            .map_err(CatalogError::from)?,
        quantity: decimal("quantity", &req.quantity)?,
        license_id: req.license_id,
        account_id: req.account_id,
        effective_from: req.effective_from.unwrap_or(now),
    })
}

/// Records a license update for an account of the caller's organisation (audited as
/// `license_update.create`); the same idempotency key again records nothing more.
#[utoipa::path(post, path = "/license_updates", tag = "licenses",
    request_body = LicenseUpdateRequest,
    responses(
        (status = 200, description = "recorded (or recorded before under its key)", body = LicenseUpdateBody),
        (status = 400, description = "a field is invalid, or no plan prices the license", body = ErrorBody),
        (status = 403, description = "the role may not record license updates", body = ErrorBody),
        (status = 404, description = "no such account in the organisation", body = ErrorBody),
        (status = 409, description = "the idempotency key was used for another update", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Body(req): Body<LicenseUpdateRequest>,
) -> Result<Json<LicenseUpdateBody>, ApiError> {
    let object = format!("{}/{}", req.account_id, req.license_id);
    let u = update(req, Utc::now());
    let recorded = match &u {
        Ok(u) => licenses::record(&state.pool, &who.org, u)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e.clone()),
    };
    let details = match (&u, &recorded) {
        (Ok(u), Ok(r)) => serde_json::json!({ "update": u, "recorded": r }),
        _ => serde_json::json!({}),
    };
    audited(
        &state,
        &who,
        Change {
            action: "license_update.create",
            object_type: "license_update",
            object_id: &object,
        },
        details,
        recorded,
    )
    .await?;
    let u = u?;
    let filter = LicenseFilter {
        key: Some(u.idempotency_key.clone()),
        ..LicenseFilter::default()
    };
    let record = licenses::page(&state.pool, &who.org, &filter, None, 1)
        .await?
        .pop()
        .ok_or_else(|| {
            ApiError::from(CatalogError::NotFound {
                what: "license update",
                org: who.org.to_string(),
                id: u.idempotency_key.clone(),
            })
        })?;
    Ok(Json(body(record)))
}

/// The caller's organisation's license updates, by idempotency key, a page at a time.
#[utoipa::path(get, path = "/license_updates", tag = "licenses",
    params(ListQuery),
    responses(
        (status = 200, description = "a page of license updates", body = LicenseUpdatePage),
        (status = 400, description = "a parameter is invalid", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Params(q): Params<ListQuery>,
) -> Result<Json<LicenseUpdatePage>, ApiError> {
    let paging = PageQuery {
        next_token: q.next_token.clone(),
        page_size: q.page_size,
    };
    let (size, limit) = paging.keyset_limit()?;
    let filter = LicenseFilter {
        account: q.account_id,
        license: q.license_id,
        effective_from: q.effective_from,
        key: None,
    };
    let rows = licenses::page(
        &state.pool,
        &who.org,
        &filter,
        q.next_token.as_deref(),
        limit,
    )
    .await?;
    let (rows, next_token, _) =
        paging.keyset_page(size, rows, |r| r.update.idempotency_key.as_str());
    Ok(Json(LicenseUpdatePage {
        data: rows.into_iter().map(body).collect(),
        next_token,
    }))
}

/// Togai's `LicenseEntryDetailsUpdateRequest`: the entry (`accountId`,
/// `effectiveFrom`) and its new metadata.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EntryDetailsRequest {
    /// The account of the entry.
    pub account_id: String,
    /// The instant the entry is effective from (exactly).
    pub effective_from: DateTime<Utc>,
    /// Not kept: only an empty object is accepted.
    pub metadata: HashMap<String, String>,
}

/// The query of `PATCH /license_updates/{license_id}`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct EntryQuery {
    /// The license, as Togai's client sends it (the path's template left unfilled).
    #[serde(rename = "licenseId")]
    pub license_id: Option<String>,
}

/// The license a `PATCH` names: the path's, or the query's when the path is Togai's
/// client's unfilled template `{license_id}`; the two must agree when both are given.
fn license_of(path: &str, query: Option<String>) -> Result<String, ApiError> {
    let from_path = (path != "{license_id}").then(|| path.to_string());
    match (from_path, query) {
        (Some(p), Some(q)) if p != q => Err(ApiError::invalid(format!(
            "licenseId: the path names {p:?} and the query {q:?}"
        ))),
        (Some(p), _) => Ok(p),
        (None, Some(q)) => Ok(q),
        (None, None) => Err(ApiError::invalid(
            "licenseId: missing (in the path or the query)",
        )),
    }
}

/// The metadata of a license update: billrun keeps none, so the entry is answered
/// unchanged for an empty `metadata` and any other is refused (audited as
/// `license_update.update`).
#[utoipa::path(patch, path = "/license_updates/{license_id}", tag = "licenses",
    params(("license_id" = String, Path, description = "the license (`{license_id}`: the query's)"), EntryQuery),
    request_body = EntryDetailsRequest,
    responses(
        (status = 200, description = "the entry, unchanged", body = LicenseUpdateBody),
        (status = 400, description = "metadata given (not kept), or a field is invalid", body = ErrorBody),
        (status = 403, description = "the role may not record license updates", body = ErrorBody),
        (status = 404, description = "no such entry in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn update_entry(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(path): Path<String>,
    Params(q): Params<EntryQuery>,
    Body(req): Body<EntryDetailsRequest>,
) -> Result<Json<LicenseUpdateBody>, ApiError> {
    let license = license_of(&path, q.license_id);
    let object = format!(
        "{}/{}",
        req.account_id,
        license.as_deref().unwrap_or(path.as_str())
    );
    let found = match license {
        Ok(license) => licenses::entry_at(
            &state.pool,
            &who.org,
            &license,
            &req.account_id,
            req.effective_from,
        )
        .await
        .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    let done = match found {
        Ok(_) if !req.metadata.is_empty() => Err(ApiError::invalid(
            "metadata: not supported (billrun does not keep license update metadata)",
        )),
        other => other,
    };
    let record = audited(
        &state,
        &who,
        Change {
            action: "license_update.update",
            object_type: "license_update",
            object_id: &object,
        },
        serde_json::json!({ "effectiveFrom": req.effective_from, "metadata": req.metadata }),
        done,
    )
    .await?;
    Ok(Json(body(record)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_license_is_the_paths_or_for_the_unfilled_template_the_querys() {
        assert_eq!(license_of("seats", None).unwrap(), "seats");
        assert_eq!(
            license_of("{license_id}", Some("seats".into())).unwrap(),
            "seats"
        );
        assert_eq!(license_of("seats", Some("seats".into())).unwrap(), "seats");
        assert!(license_of("seats", Some("cpus".into())).is_err());
        assert!(license_of("{license_id}", None).is_err());
    }
}
