//! `/settings`: Togai's settings API (`Setting`, `UpdateSettingRequest`,
//! `SettingPaginatedResponse`) over the organisation's billing settings
//! ([`crate::catalog::orgs::configure`], as `billrun org configure`).
//!
//! The settings served (README "HTTP API"), each of entity type `ORGANIZATION`, entity
//! id the caller's organisation and namespace `USER`:
//!
//! | id | dataType | value |
//! |---|---|---|
//! | `baseCurrency` | STRING | ISO 4217 code, e.g. `USD` (added to the enabled ones) |
//! | `enabledCurrencies` | JSON | JSON array of codes, e.g. `["USD","EUR"]` (the base currency is always kept) |
//! | `netTermDays` | NUMERIC | days from invoice date to due date, e.g. `30` |
//! | `invoiceNumberFormat` | STRING | e.g. `INV-{YYYY}-{SEQ:6}` |
//! | `creditNoteNumberFormat` | STRING | e.g. `CN-{YYYY}-{SEQ:4}` (README "Credit notes") |
//! | `voidIssuesCreditNote` | JSON | `true` or `false`: a void issues a credit note |
//!
//! Any other id answers 400 naming it and the ones served. Settings always exist:
//! `POST /settings` (insert) and `PATCH /settings/{id}` both set the value and answer
//! 201; a `name` or `dataType` other than the setting's is refused. Changes are
//! audited as `setting.update`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorBody};
use super::extract::{Body, Params};
use super::{audited, AppState, Change, PageContext, PageQuery};
use crate::catalog::orgs::{self, OrgChanges, Organisation};
use crate::catalog::{parse_currency, CatalogError};
use crate::identity::Principal;

/// The entity type of every setting served.
const ENTITY_TYPE: &str = "ORGANIZATION";
/// The namespace of every setting served.
const NAMESPACE: &str = "USER";

/// The settings served: id, name, data type.
pub const SETTINGS: [(&str, &str, &str); 6] = [
    ("baseCurrency", "Base currency", "STRING"),
    ("enabledCurrencies", "Enabled currencies", "JSON"),
    ("netTermDays", "Net term days", "NUMERIC"),
    ("invoiceNumberFormat", "Invoice number format", "STRING"),
    (
        "creditNoteNumberFormat",
        "Credit note number format",
        "STRING",
    ),
    ("voidIssuesCreditNote", "Void issues credit note", "JSON"),
];

/// Togai's `Setting`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SettingBody {
    /// One of [`SETTINGS`]' ids.
    pub id: String,
    /// The value as text.
    pub value: String,
    /// `ORGANIZATION`.
    pub entity_type: String,
    /// The organisation's id.
    pub entity_id: String,
    /// `USER`.
    pub namespace: String,
    /// The setting's name.
    pub name: String,
    /// `STRING`, `NUMERIC` or `JSON`.
    pub data_type: String,
}

/// Togai's `UpdateSettingRequest`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateSettingRequest {
    /// Must be the setting's name if given.
    #[serde(default)]
    pub name: Option<String>,
    /// The new value (required).
    #[serde(default)]
    pub value: Option<String>,
    /// Must be the setting's data type if given.
    #[serde(default)]
    pub data_type: Option<String>,
}

/// Togai's `SettingPaginatedResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettingPage {
    /// The page's settings, by id.
    pub data: Vec<SettingBody>,
    /// The token of the next page, absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// The page's size and order.
    pub context: PageContext,
}

/// The query of `GET /settings` (Togai's names).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// The `nextToken` of the previous page.
    #[serde(rename = "nextToken")]
    pub next_token: Option<String>,
    /// Rows per page, 1 to 50 (default 10).
    #[serde(rename = "pageSize")]
    pub page_size: Option<u32>,
    /// Only settings of this entity type.
    pub entity_type: Option<String>,
    /// Only settings of this entity.
    pub entity_id: Option<String>,
    /// Only this setting.
    pub setting_id: Option<String>,
    /// Only settings of this namespace.
    pub namespace: Option<String>,
}

/// The setting `id` served, or 400 naming it and the ones served.
pub(crate) fn known(id: &str) -> Result<(&'static str, &'static str, &'static str), ApiError> {
    SETTINGS
        .into_iter()
        .find(|(i, _, _)| *i == id)
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "setting {id:?} is not supported (supported: {})",
                SETTINGS.map(|(i, _, _)| i).join(", ")
            ))
        })
}

/// The value of setting `id` of `org`.
fn value(org: &Organisation, id: &str) -> String {
    match id {
        "baseCurrency" => org.base_currency.to_string(),
        "enabledCurrencies" => serde_json::to_string(
            &org.enabled_currencies
                .iter()
                .map(|c| c.code().to_string())
                .collect::<Vec<_>>(),
        )
        .expect("strings serialize"),
        "netTermDays" => org.net_term_days.to_string(),
        "creditNoteNumberFormat" => org.credit_note_number_format.to_string(),
        "voidIssuesCreditNote" => org.void_issues_credit_note.to_string(),
        _ => org.invoice_number_format.to_string(),
    }
}

pub(crate) fn setting(
    org: &Organisation,
    (id, name, data_type): (&str, &str, &str),
) -> SettingBody {
    SettingBody {
        id: id.to_string(),
        value: value(org, id),
        entity_type: ENTITY_TYPE.to_string(),
        entity_id: org.id.clone(),
        namespace: NAMESPACE.to_string(),
        name: name.to_string(),
        data_type: data_type.to_string(),
    }
}

/// The change setting `id` to `value` makes. Errors: 400 naming the setting.
pub(crate) fn change(id: &str, value: &str) -> Result<OrgChanges, ApiError> {
    let bad = |what: String| ApiError::invalid(format!("setting {id}: {what}"));
    let mut c = OrgChanges::default();
    match id {
        "baseCurrency" => {
            c.base_currency = Some(parse_currency(id, value).map_err(CatalogError::from)?)
        }
        "enabledCurrencies" => {
            let codes: Vec<String> = serde_json::from_str(value).map_err(|_| {
                bad(format!(
                    "{value:?} is not a JSON array of currency codes such as [\"USD\",\"EUR\"]"
                ))
            })?;
            c.enabled_currencies = Some(
                codes
                    .iter()
                    .map(|code| parse_currency(id, code))
                    .collect::<Result<_, _>>()
                    .map_err(CatalogError::from)?,
            );
        }
        "netTermDays" => {
            c.net_term_days = Some(
                value
                    .trim()
                    .parse()
                    .map_err(|_| bad(format!("{value:?} is not a number of days (0 or more)")))?,
            )
        }
        "creditNoteNumberFormat" => {
            c.credit_note_number_format = Some(
                billrun_core::numbering::NumberFormat::parse(value).map_err(|e| bad(e.message))?,
            )
        }
        "voidIssuesCreditNote" => {
            c.void_issues_credit_note = Some(match value.trim() {
                "true" => true,
                "false" => false,
                v => return Err(bad(format!("{v:?} is not true or false"))),
            })
        }
        _ => {
            c.invoice_number_format = Some(
                billrun_core::numbering::NumberFormat::parse(value).map_err(CatalogError::from)?,
            )
        }
    }
    Ok(c)
}

/// Sets setting `id` of the caller's organisation to `value` (audited as
/// `setting.update`).
async fn set(
    state: &AppState,
    who: &Principal,
    id: &str,
    value: Result<String, ApiError>,
) -> Result<SettingBody, ApiError> {
    let done = match value.and_then(|v| known(id).and_then(|k| Ok((k, change(id, &v)?)))) {
        Ok((k, c)) => orgs::configure(&state.pool, &who.org, &c)
            .await
            .map(|org| setting(&org, k))
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    let details = match &done {
        Ok(s) => serde_json::json!({ "value": s.value }),
        Err(_) => serde_json::json!({}),
    };
    audited(
        state,
        who,
        Change {
            action: "setting.update",
            object_type: "setting",
            object_id: id,
        },
        details,
        done,
    )
    .await
}

/// The caller's organisation's settings, by id.
#[utoipa::path(get, path = "/settings", tag = "settings",
    params(ListQuery),
    responses(
        (status = 200, description = "a page of settings", body = SettingPage),
        (status = 400, description = "a parameter is invalid", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Params(q): Params<ListQuery>,
) -> Result<Json<SettingPage>, ApiError> {
    let org = orgs::get(&state.pool, &who.org).await?;
    let matches = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
    let mut all: Vec<SettingBody> = SETTINGS
        .into_iter()
        .map(|k| setting(&org, k))
        .filter(|s| {
            matches(&q.entity_type, &s.entity_type)
                && matches(&q.entity_id, &s.entity_id)
                && matches(&q.setting_id, &s.id)
                && matches(&q.namespace, &s.namespace)
        })
        .collect();
    all.sort_by(|a, b| a.id.cmp(&b.id));
    let paging = PageQuery {
        next_token: q.next_token,
        page_size: q.page_size,
    };
    let (data, next_token, context) = paging.page(all, |s| s.id.as_str())?;
    Ok(Json(SettingPage {
        data,
        next_token,
        context,
    }))
}

/// One setting of the caller's organisation (400 for an id not served).
#[utoipa::path(get, path = "/settings/{setting_id_str}", tag = "settings",
    params(("setting_id_str" = String, Path, description = "the setting's id")),
    responses(
        (status = 200, description = "the setting", body = SettingBody),
        (status = 400, description = "the setting is not supported", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<SettingBody>, ApiError> {
    let k = known(&id)?;
    let org = orgs::get(&state.pool, &who.org).await?;
    Ok(Json(setting(&org, k)))
}

/// Sets a setting of the caller's organisation from Togai's `Setting` (audited as
/// `setting.update`).
#[utoipa::path(post, path = "/settings", tag = "settings",
    request_body = SettingBody,
    responses(
        (status = 201, description = "set", body = SettingBody),
        (status = 400, description = "the setting is not supported, or its value is invalid", body = ErrorBody),
        (status = 403, description = "the role may not change settings", body = ErrorBody),
        (status = 404, description = "the entity is not the caller's organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn insert(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Body(req): Body<SettingBody>,
) -> Result<(StatusCode, Json<SettingBody>), ApiError> {
    let value = check_entity(&who, &req).map(|_| req.value.clone());
    let s = set(&state, &who, &req.id, value).await?;
    Ok((StatusCode::CREATED, Json(s)))
}

/// What an inserted setting names must be the caller's organisation's setting.
fn check_entity(who: &Principal, req: &SettingBody) -> Result<(), ApiError> {
    let (_, name, data_type) = known(&req.id)?;
    if req.entity_type != ENTITY_TYPE {
        return Err(ApiError::invalid(format!(
            "entityType: {:?} is not supported (settings are the organisation's: {ENTITY_TYPE})",
            req.entity_type
        )));
    }
    if req.entity_id != who.org.as_str() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("organisation {:?} does not exist", req.entity_id),
        ));
    }
    if req.namespace != NAMESPACE {
        return Err(ApiError::invalid(format!(
            "namespace: {:?} is not supported (expected {NAMESPACE})",
            req.namespace
        )));
    }
    same("name", Some(&req.name), name)?;
    same("dataType", Some(&req.data_type), data_type)
}

fn same(field: &str, given: Option<&String>, fixed: &str) -> Result<(), ApiError> {
    match given {
        Some(g) if g != fixed => Err(ApiError::invalid(format!(
            "{field}: {g:?} differs from the setting's {fixed:?} (fixed)"
        ))),
        _ => Ok(()),
    }
}

/// Changes a setting of the caller's organisation (audited as `setting.update`).
#[utoipa::path(patch, path = "/settings/{setting_id_str}", tag = "settings",
    params(("setting_id_str" = String, Path, description = "the setting's id")),
    request_body = UpdateSettingRequest,
    responses(
        (status = 201, description = "set", body = SettingBody),
        (status = 400, description = "the setting is not supported, or its value is invalid", body = ErrorBody),
        (status = 403, description = "the role may not change settings", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Body(req): Body<UpdateSettingRequest>,
) -> Result<(StatusCode, Json<SettingBody>), ApiError> {
    let value = known(&id).and_then(|(_, name, data_type)| {
        same("name", req.name.as_ref(), name)?;
        same("dataType", req.data_type.as_ref(), data_type)?;
        req.value
            .clone()
            .ok_or_else(|| ApiError::invalid("value: required"))
    });
    let s = set(&state, &who, &id, value).await?;
    Ok((StatusCode::CREATED, Json(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_settings_are_named() {
        let e = known("timezoneOfTheMoon").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("timezoneOfTheMoon"), "{e}");
        assert!(e.message.contains("netTermDays"), "{e}");
        assert!(change("netTermDays", "-3").is_err());
        assert_eq!(change("netTermDays", "15").unwrap().net_term_days, Some(15));
        assert!(change("enabledCurrencies", "USD,EUR").is_err());
    }
}
