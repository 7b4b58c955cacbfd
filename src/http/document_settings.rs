//! billrun's own document settings over the API (README "HTTP API", "billrun's own
//! routes"): the organisation's logo (`/billrun/logo`, as `billrun logo
//! set|show|remove`) and its billing-details profiles (`/billrun/billing_details`,
//! as `billrun billing-details ...`), through `documents::settings`. Templates are
//! [`super::templates`].
//!
//! The checks are the command line's: a logo is checked by
//! [`settings::check_logo`] ([`settings::LOGO_RULES`]: a PNG or JPEG of at most 1 MiB,
//! each side 16 to 2000 px; anything else is a 400 naming the rule), a profile's
//! fields by the profile's own checks (400 naming the field). Every change is audited
//! (`logo.set`, `logo.remove`, `billing_details.create`, `billing_details.update`),
//! SUCCESS or FAILURE.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::customers::AddressBody;
use super::error::{ApiError, ErrorBody};
use super::extract::{Body, Params};
use super::{audited, AppState, Change};
use crate::catalog::customers::Address;
use crate::documents::settings::{self, LogoInfo, Profile, ProfileChanges};
use crate::identity::Principal;

/// A logo version as answered (no bytes).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogoBody {
    /// 1, 2, ... per organisation: every upload is a new version.
    pub version: i32,
    /// The name it was uploaded as.
    pub file_name: String,
    /// `png` or `jpeg`.
    pub format: String,
    /// Width in pixels.
    pub width: i32,
    /// Height in pixels.
    pub height: i32,
    /// Size in bytes.
    pub size: i32,
    /// When it was uploaded (UTC).
    pub uploaded_at: DateTime<Utc>,
}

impl From<LogoInfo> for LogoBody {
    fn from(l: LogoInfo) -> LogoBody {
        LogoBody {
            version: l.version,
            file_name: l.file_name,
            format: l.format,
            width: l.width,
            height: l.height,
            size: l.size,
            uploaded_at: l.uploaded_at,
        }
    }
}

/// The query of `PUT /billrun/logo`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogoQuery {
    /// The name to keep for the file (default `logo.png` or `logo.jpeg`, by the
    /// request's `Content-Type`).
    pub file_name: Option<String>,
}

/// Sets the organisation's logo from the request body, the image's bytes (`PUT`,
/// `Content-Type: image/png` or `image/jpeg`; the bytes are checked whatever the
/// header says): a new version, the current logo from now on (documents already
/// rendered keep theirs). Audited as `logo.set`.
#[utoipa::path(put, path = "/billrun/logo", tag = "billrun",
    params(LogoQuery),
    request_body(content = Vec<u8>, content_type = "image/png"),
    responses(
        (status = 200, description = "stored, the current logo", body = LogoBody),
        (status = 400, description = "not a PNG or JPEG within the limits", body = ErrorBody),
        (status = 403, description = "the role may not change settings", body = ErrorBody),
        (status = 413, description = "over [http] body_limit_bytes", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn set_logo(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Params(q): Params<LogoQuery>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<LogoBody>, ApiError> {
    let bytes = body.map_err(|r| ApiError::new(r.status(), r.body_text()))?;
    let file_name = q.file_name.unwrap_or_else(|| {
        let jpeg = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("jpeg") || v.contains("jpg"));
        if jpeg { "logo.jpeg" } else { "logo.png" }.to_string()
    });
    let stored = settings::set_logo(&state.pool, &who.org, &file_name, &bytes).await;
    let info = audited(
        &state,
        &who,
        Change {
            action: "logo.set",
            object_type: "logo",
            object_id: who.org.as_str(),
        },
        serde_json::json!({ "fileName": file_name, "bytes": bytes.len() }),
        stored,
    )
    .await?;
    Ok(Json(info.into()))
}

/// The organisation's current logo: its bytes, `Content-Type` `image/png` or
/// `image/jpeg`, its version in `x-billrun-logo-version`. 404 when it has none.
#[utoipa::path(get, path = "/billrun/logo", tag = "billrun",
    responses(
        (status = 200, description = "the image", content_type = "image/png", body = Vec<u8>),
        (status = 404, description = "no logo", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get_logo(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Response, ApiError> {
    let Some((info, bytes)) = settings::current_logo(&state.pool, &who.org).await? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("organisation {} has no logo", who.org),
        ));
    };
    Ok((
        [
            (header::CONTENT_TYPE, format!("image/{}", info.format)),
            (
                header::HeaderName::from_static("x-billrun-logo-version"),
                info.version.to_string(),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// Removes the current logo (documents already rendered keep theirs; the versions
/// are kept). 204, or 404 when there was none. Audited as `logo.remove`.
#[utoipa::path(delete, path = "/billrun/logo", tag = "billrun",
    responses(
        (status = 204, description = "removed"),
        (status = 403, description = "the role may not change settings", body = ErrorBody),
        (status = 404, description = "no logo", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn remove_logo(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<StatusCode, ApiError> {
    let removed = settings::remove_logo(&state.pool, &who.org)
        .await
        .map_err(ApiError::from)
        .and_then(|had| {
            if had {
                Ok(StatusCode::NO_CONTENT)
            } else {
                Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("organisation {} has no logo", who.org),
                ))
            }
        });
    audited(
        &state,
        &who,
        Change {
            action: "logo.remove",
            object_type: "logo",
            object_id: who.org.as_str(),
        },
        serde_json::json!({}),
        removed,
    )
    .await
}

/// A billing-details profile as answered: who an invoice says it is from.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProfileBody {
    /// Its id.
    pub id: String,
    /// The seller's legal name.
    pub legal_name: String,
    /// Postal address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<AddressBody>,
    /// Tax / VAT id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_id: Option<String>,
    /// Billing contact email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Billing contact phone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// How to pay, one line each.
    pub payment_instructions: Vec<String>,
    /// Closing note at the bottom of the invoice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub footer_note: Option<String>,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// Last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

impl From<Profile> for ProfileBody {
    fn from(p: Profile) -> ProfileBody {
        ProfileBody {
            id: p.id,
            legal_name: p.legal_name,
            address: p.address.map(AddressBody::from),
            tax_id: p.tax_id,
            email: p.email,
            phone: p.phone,
            payment_instructions: p.payment_instructions,
            footer_note: p.footer_note,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// The profiles of `GET /billrun/billing_details`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProfileList {
    /// Every profile of the organisation, by id.
    pub data: Vec<ProfileBody>,
}

/// A field given as `null` is `Some(None)` (clear it), a field left out `None`.
fn given<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The body of `POST /billrun/billing_details` (`id` and `legalName` required) and of
/// `PATCH /billrun/billing_details/{profile_id}` (no `id`; the fields given are
/// changed, address fields one by one, and a field given as `null` is cleared).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfileRequest {
    /// The profile's id (creation only).
    #[serde(default)]
    pub id: Option<String>,
    /// The seller's legal name.
    #[serde(default)]
    pub legal_name: Option<String>,
    /// Postal address (`null`: cleared).
    #[serde(default, deserialize_with = "given")]
    #[schema(value_type = Option<AddressBody>)]
    pub address: Option<Option<AddressBody>>,
    /// Tax / VAT id (`null`: cleared).
    #[serde(default, deserialize_with = "given")]
    #[schema(value_type = Option<String>)]
    pub tax_id: Option<Option<String>>,
    /// Billing contact email (`null`: cleared).
    #[serde(default, deserialize_with = "given")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    /// Billing contact phone (`null`: cleared).
    #[serde(default, deserialize_with = "given")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    /// How to pay, one line each (replaces the lines; `null`: cleared).
    #[serde(default, deserialize_with = "given")]
    #[schema(value_type = Option<Vec<String>>)]
    pub payment_instructions: Option<Option<Vec<String>>>,
    /// Closing note (`null`: cleared).
    #[serde(default, deserialize_with = "given")]
    #[schema(value_type = Option<String>)]
    pub footer_note: Option<Option<String>>,
}

impl ProfileRequest {
    /// The changes, as the command line's flags and `--clear` make them.
    fn changes(self) -> ProfileChanges {
        let mut c = ProfileChanges {
            legal_name: self.legal_name,
            ..ProfileChanges::default()
        };
        let mut clear = |name: &str| c.clear.push(name.to_string());
        let mut set = |name: &str, v: Option<Option<String>>| -> Option<String> {
            match v {
                Some(None) => {
                    clear(name);
                    None
                }
                Some(Some(v)) => Some(v),
                None => None,
            }
        };
        let tax_id = set("tax-id", self.tax_id);
        let email = set("email", self.email);
        let phone = set("phone", self.phone);
        let footer_note = set("footer-note", self.footer_note);
        let mut clears = Vec::new();
        let address = match self.address {
            Some(None) => {
                clears.push("address".to_string());
                Address::default()
            }
            Some(Some(a)) => a.into(),
            None => Address::default(),
        };
        let payment_instructions = match self.payment_instructions {
            Some(None) => {
                clears.push("payment-instructions".to_string());
                None
            }
            Some(Some(lines)) => Some(lines),
            None => None,
        };
        c.tax_id = tax_id;
        c.email = email;
        c.phone = phone;
        c.footer_note = footer_note;
        c.address = address;
        c.payment_instructions = payment_instructions;
        c.clear.extend(clears);
        c
    }
}

fn profile_change<'a>(action: &'a str, id: &'a str) -> Change<'a> {
    Change {
        action,
        object_type: "billing_details",
        object_id: id,
    }
}

/// Creates a billing-details profile (audited as `billing_details.create`).
#[utoipa::path(post, path = "/billrun/billing_details", tag = "billrun",
    request_body = ProfileRequest,
    responses(
        (status = 201, description = "created", body = ProfileBody),
        (status = 400, description = "a field is invalid or missing", body = ErrorBody),
        (status = 403, description = "the role may not change settings", body = ErrorBody),
        (status = 409, description = "the id exists", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn create_profile(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Body(req): Body<ProfileRequest>,
) -> Result<(StatusCode, Json<ProfileBody>), ApiError> {
    let Some(id) = req.id.clone() else {
        return Err(ApiError::invalid("id: required"));
    };
    if req.legal_name.is_none() {
        return Err(ApiError::invalid("legalName: required"));
    }
    let created =
        settings::create_profile(&state.pool, &who.org, &id, req.changes(), Utc::now()).await;
    let p = audited(
        &state,
        &who,
        profile_change("billing_details.create", &id),
        serde_json::json!({}),
        created,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(p.into())))
}

/// Changes a billing-details profile (audited as `billing_details.update`): the
/// fields given; `null` clears a field. Documents already rendered keep the details
/// they copied.
#[utoipa::path(patch, path = "/billrun/billing_details/{profile_id}", tag = "billrun",
    params(("profile_id" = String, Path, description = "the profile's id")),
    request_body = ProfileRequest,
    responses(
        (status = 200, description = "changed", body = ProfileBody),
        (status = 400, description = "a field is invalid", body = ErrorBody),
        (status = 404, description = "no such profile", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn update_profile(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Body(req): Body<ProfileRequest>,
) -> Result<Json<ProfileBody>, ApiError> {
    if req.id.as_deref().is_some_and(|given| given != id) {
        return Err(ApiError::invalid("id: a profile's id does not change"));
    }
    let changed =
        settings::update_profile(&state.pool, &who.org, &id, req.changes(), Utc::now()).await;
    let p = audited(
        &state,
        &who,
        profile_change("billing_details.update", &id),
        serde_json::json!({}),
        changed,
    )
    .await?;
    Ok(Json(p.into()))
}

/// The organisation's billing-details profiles, by id.
#[utoipa::path(get, path = "/billrun/billing_details", tag = "billrun",
    responses((status = 200, description = "the profiles", body = ProfileList)),
    security(("bearer" = [])))]
pub async fn list_profiles(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<ProfileList>, ApiError> {
    let all = settings::profiles(&state.pool, &who.org).await?;
    Ok(Json(ProfileList {
        data: all.into_iter().map(ProfileBody::from).collect(),
    }))
}

/// One billing-details profile (404 for an id the organisation does not have).
#[utoipa::path(get, path = "/billrun/billing_details/{profile_id}", tag = "billrun",
    params(("profile_id" = String, Path, description = "the profile's id")),
    responses(
        (status = 200, description = "the profile", body = ProfileBody),
        (status = 404, description = "no such profile", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get_profile(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<ProfileBody>, ApiError> {
    Ok(Json(
        settings::profile(&state.pool, &who.org, &id).await?.into(),
    ))
}
