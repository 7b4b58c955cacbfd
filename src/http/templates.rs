//! billrun's invoice templates over the API (README "HTTP API", "billrun's own
//! routes"; README "Invoice documents" for the rules), as `billrun template
//! list|show|add|update|set-default` and `billrun account set-template`, through
//! `documents::settings`.
//!
//! A template's text is checked in the render sandbox before it is stored (it
//! compiles and renders the sample invoice): a Tera error is a 400 whose message is
//! the sandbox's (naming the file and the line). Every upload is a new immutable
//! version. Every change is audited (`template.add`, `template.update`,
//! `template.set_default`, `account.set_template`), SUCCESS or FAILURE.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::error::{ApiError, ErrorBody};
use super::extract::{Body, Params};
use super::{audited, AppState, Change};
use crate::documents::settings::{self, AccountTemplate, TemplateChanges, TemplateInfo};
use crate::identity::Principal;

/// A template as listed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateBody {
    /// `builtin` or the organisation's id for it.
    pub id: String,
    /// Whether it is the built-in template.
    pub builtin: bool,
    /// The billing-details profile it uses (absent: the organisation's name and
    /// billing email; only the built-in template can be without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billing_details: Option<String>,
    /// Its current version (absent for the built-in template).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    /// The file its current version was uploaded as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// SHA-256 of the current version's text, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Whether it is the organisation's default.
    pub default: bool,
    /// Accounts that name it as their own template.
    pub accounts: Vec<String>,
    /// When its current version was uploaded (UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<TemplateInfo> for TemplateBody {
    fn from(t: TemplateInfo) -> TemplateBody {
        TemplateBody {
            id: t.id,
            builtin: t.builtin,
            billing_details: t.billing_details,
            version: t.version,
            file_name: t.file_name,
            sha256: t.sha256,
            default: t.default,
            accounts: t.accounts,
            updated_at: t.updated_at,
        }
    }
}

/// The templates of `GET /billrun/templates`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TemplateList {
    /// The built-in template first, then the organisation's by id.
    pub data: Vec<TemplateBody>,
}

/// One version of a template, with its text.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateVersionBody {
    /// The template.
    pub id: String,
    /// The version (absent for the built-in template).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    /// The file it was uploaded as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// SHA-256 of the text, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// When it was uploaded (UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// The Tera text.
    pub body: String,
}

/// The body of `POST /billrun/templates`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddTemplateRequest {
    /// The template's id (letters, digits, `_`, `.`, `-`; not `builtin`).
    pub id: String,
    /// The Tera text.
    pub body: String,
    /// The name to keep for the file (default `<id>.html.tera`).
    #[serde(default)]
    pub file_name: Option<String>,
    /// The billing-details profile it uses.
    pub billing_details: String,
}

/// A field given as `null` is `Some(None)`, a field left out `None`.
fn given<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The body of `PATCH /billrun/templates/{template_id}`: a new version's text, and/or
/// another billing-details profile (`null`, for the built-in template only: back to
/// the organisation's name and billing email).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateTemplateRequest {
    /// A new version's Tera text (stored unless it is the current version's).
    #[serde(default)]
    pub body: Option<String>,
    /// The name to keep for the file (default `<id>.html.tera`).
    #[serde(default)]
    pub file_name: Option<String>,
    /// Another billing-details profile (`null`: none, built-in template only).
    #[serde(default, deserialize_with = "given")]
    #[schema(value_type = Option<String>)]
    pub billing_details: Option<Option<String>>,
}

/// What `PATCH /billrun/templates/{template_id}` answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdatedTemplate {
    /// The template as it is now.
    pub template: TemplateBody,
    /// Whether a new version was stored.
    pub new_version: bool,
}

/// The query of `GET /billrun/templates/{template_id}`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct VersionQuery {
    /// A version (default: the current one).
    pub version: Option<i32>,
}

/// The body of `PUT /billrun/accounts/{account_id}/template`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountTemplateRequest {
    /// The template the account uses (`builtin` for the built-in one); `null`: the
    /// organisation's default.
    pub template_id: Option<String>,
}

/// What `PUT /billrun/accounts/{account_id}/template` answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountTemplateBody {
    /// The account.
    pub account_id: String,
    /// Its own template, absent when it uses the organisation's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_id: Option<String>,
}

fn change<'a>(action: &'a str, id: &'a str) -> Change<'a> {
    Change {
        action,
        object_type: "template",
        object_id: id,
    }
}

/// The organisation's templates: the built-in one first, then its own by id.
#[utoipa::path(get, path = "/billrun/templates", tag = "billrun",
    responses((status = 200, description = "the templates", body = TemplateList)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<TemplateList>, ApiError> {
    let all = settings::templates(&state.pool, &who.org).await?;
    Ok(Json(TemplateList {
        data: all.into_iter().map(TemplateBody::from).collect(),
    }))
}

/// One template's text: its current version, or `version`.
#[utoipa::path(get, path = "/billrun/templates/{template_id}", tag = "billrun",
    params(("template_id" = String, Path, description = "the template's id"), VersionQuery),
    responses(
        (status = 200, description = "the version", body = TemplateVersionBody),
        (status = 404, description = "no such template or version", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Params(q): Params<VersionQuery>,
) -> Result<Json<TemplateVersionBody>, ApiError> {
    let v = settings::template_version(&state.pool, &who.org, &id, q.version).await?;
    Ok(Json(TemplateVersionBody {
        id: v.id,
        version: v.version,
        file_name: v.file_name,
        sha256: v.sha256,
        created_at: v.created_at,
        body: v.body,
    }))
}

/// Adds a template (version 1), checked first (audited as `template.add`).
#[utoipa::path(post, path = "/billrun/templates", tag = "billrun",
    request_body = AddTemplateRequest,
    responses(
        (status = 201, description = "added", body = TemplateBody),
        (status = 400, description = "a bad id, or the text does not check (the message names the line)", body = ErrorBody),
        (status = 403, description = "the role may not change settings", body = ErrorBody),
        (status = 404, description = "no such billing-details profile", body = ErrorBody),
        (status = 409, description = "the id exists", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn add(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Body(req): Body<AddTemplateRequest>,
) -> Result<(StatusCode, Json<TemplateBody>), ApiError> {
    let file_name = req
        .file_name
        .clone()
        .unwrap_or_else(|| format!("{}.html.tera", req.id));
    let added = settings::add_template(
        &state.pool,
        &who.org,
        &req.id,
        &file_name,
        &req.body,
        &req.billing_details,
    )
    .await;
    let t = audited(
        &state,
        &who,
        change("template.add", &req.id),
        serde_json::json!({ "fileName": file_name, "billingDetails": req.billing_details }),
        added,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(t.into())))
}

/// Updates a template: a new version from `body`, another profile (audited as
/// `template.update`).
#[utoipa::path(patch, path = "/billrun/templates/{template_id}", tag = "billrun",
    params(("template_id" = String, Path, description = "the template's id")),
    request_body = UpdateTemplateRequest,
    responses(
        (status = 200, description = "updated", body = UpdatedTemplate),
        (status = 400, description = "nothing to change, or the text does not check", body = ErrorBody),
        (status = 404, description = "no such template or profile", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Body(req): Body<UpdateTemplateRequest>,
) -> Result<Json<UpdatedTemplate>, ApiError> {
    let file_name = req
        .file_name
        .clone()
        .unwrap_or_else(|| format!("{id}.html.tera"));
    let changes = TemplateChanges {
        file: req.body.map(|b| (file_name.clone(), b)),
        no_billing_details: matches!(req.billing_details, Some(None)),
        billing_details: req.billing_details.clone().flatten(),
    };
    let updated = settings::update_template(&state.pool, &who.org, &id, changes).await;
    let (t, new_version) = audited(
        &state,
        &who,
        change("template.update", &id),
        serde_json::json!({ "billingDetails": req.billing_details }),
        updated,
    )
    .await?;
    Ok(Json(UpdatedTemplate {
        template: t.into(),
        new_version,
    }))
}

/// Makes a template (`builtin` or the organisation's) the organisation's default
/// (audited as `template.set_default`). Answers the template.
#[utoipa::path(post, path = "/billrun/templates/{template_id}/default", tag = "billrun",
    params(("template_id" = String, Path, description = "the template's id, or builtin")),
    responses(
        (status = 200, description = "the default now", body = TemplateBody),
        (status = 404, description = "no such template", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn set_default(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<TemplateBody>, ApiError> {
    let set = settings::set_default_template(&state.pool, &who.org, &id).await;
    audited(
        &state,
        &who,
        change("template.set_default", &id),
        serde_json::json!({}),
        set,
    )
    .await?;
    Ok(Json(
        settings::template(&state.pool, &who.org, &id).await?.into(),
    ))
}

/// Sets which template an account uses (audited as `account.set_template`).
#[utoipa::path(put, path = "/billrun/accounts/{account_id}/template", tag = "billrun",
    params(("account_id" = String, Path, description = "the account's id")),
    request_body = AccountTemplateRequest,
    responses(
        (status = 200, description = "set", body = AccountTemplateBody),
        (status = 404, description = "no such account or template", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn set_account(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(account): Path<String>,
    Body(req): Body<AccountTemplateRequest>,
) -> Result<Json<AccountTemplateBody>, ApiError> {
    let choice = match &req.template_id {
        Some(t) => AccountTemplate::Named(t.clone()),
        None => AccountTemplate::OrgDefault,
    };
    let set = settings::set_account_template(&state.pool, &who.org, &account, &choice).await;
    audited(
        &state,
        &who,
        Change {
            action: "account.set_template",
            object_type: "account",
            object_id: &account,
        },
        serde_json::json!({ "templateId": req.template_id }),
        set,
    )
    .await?;
    Ok(Json(AccountTemplateBody {
        account_id: account,
        template_id: req.template_id,
    }))
}
