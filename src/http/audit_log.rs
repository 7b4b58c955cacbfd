//! `GET /audit_log`: the caller's organisation's audit trail (billrun's route; Togai
//! has none), newest first, a page at a time, as `billrun audit list` shows it
//! (`identity::audit::list`). Resource "audit log", read: Administrator and Analyst
//! (README "Identity"). Nobody writes the log through the API: the changes do.

use axum::extract::State;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorBody};
use super::extract::Params;
use super::AppState;
use crate::identity::audit::{self, AuditRow, Filter};
use crate::identity::{ActorKind, Principal};

/// The query of `GET /audit_log`; every filter is optional and they combine (AND).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this kind of actor: `USER`, `TOKEN` or `CLI`.
    pub actor_kind: Option<String>,
    /// Only this actor: a user's email, a token's id, a CLI user.
    pub actor: Option<String>,
    /// Only this action (`customer.create`, `token.create`, ...).
    pub action: Option<String>,
    /// Only this kind of object (`customer`, `api_token`, ...).
    pub object_type: Option<String>,
    /// Only this object's id.
    pub object_id: Option<String>,
    /// Only rows written at or after this instant (RFC 3339, UTC; inclusive).
    pub since: Option<DateTime<Utc>>,
    /// The `nextToken` of the previous page (the id of its last row); none for the
    /// first page.
    pub next_token: Option<String>,
    /// Rows per page, 1 to 50 (default 10).
    pub page_size: Option<u32>,
}

/// One audit row.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntryBody {
    /// The row's id: increasing with the time of writing.
    pub id: i64,
    /// When (UTC, RFC 3339).
    pub at: DateTime<Utc>,
    /// `USER`, `TOKEN` or `CLI`.
    pub actor_kind: String,
    /// The user's email, the token's id, or the CLI's OS user / `--actor`.
    pub actor_id: String,
    /// `object.verb`.
    pub action: String,
    /// The kind of object.
    pub object_type: String,
    /// The object's id (`-` when the change names none).
    pub object_id: String,
    /// `SUCCESS` or `FAILURE`.
    pub outcome: String,
    /// A JSON object: what else there is to know; `error` for a FAILURE. Never a secret.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<AuditRow> for AuditEntryBody {
    fn from(r: AuditRow) -> Self {
        AuditEntryBody {
            id: r.id,
            at: r.at,
            actor_kind: r.actor_kind,
            actor_id: r.actor_id,
            action: r.action,
            object_type: r.object_type,
            object_id: r.object_id,
            outcome: r.outcome,
            details: r.details.0,
        }
    }
}

/// A page of audit rows, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    /// The rows.
    pub data: Vec<AuditEntryBody>,
    /// Where the next page starts (pass as `nextToken`); absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// The page size and order (`DESC`: newest first).
    pub context: AuditPageContext,
}

/// The page size and order of an [`AuditPage`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPageContext {
    /// Rows per page.
    pub page_size: u32,
    /// `DESC`: by id, newest first.
    pub sort_order: &'static str,
}

/// The caller's organisation's audit rows matching the query, newest first, a page
/// at a time (keyset paging on the row id). Errors: 400 for an unknown `actorKind`,
/// a `pageSize` out of 1..=50 or a `nextToken` that is not a row id.
#[utoipa::path(get, path = "/audit_log", tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "a page of audit rows", body = AuditPage),
        (status = 400, description = "a malformed filter", body = ErrorBody),
        (status = 401, description = "no valid credential", body = ErrorBody),
        (status = 403, description = "the role may not read the audit log", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Params(q): Params<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let size = q.page_size.unwrap_or(10);
    if !(1..=50).contains(&size) {
        return Err(ApiError::invalid(format!(
            "pageSize {size}: expected 1 to 50"
        )));
    }
    let actor_kind = q
        .actor_kind
        .map(|k| match k.to_ascii_uppercase().as_str() {
            "USER" => Ok(ActorKind::User),
            "TOKEN" => Ok(ActorKind::Token),
            "CLI" => Ok(ActorKind::Cli),
            _ => Err(ApiError::invalid(format!(
                "actorKind {k}: expected USER, TOKEN or CLI"
            ))),
        })
        .transpose()?;
    let filter = Filter {
        action: q.action,
        actor_kind,
        actor_id: q.actor,
        object_type: q.object_type,
        object_id: q.object_id,
        since: q.since,
    };
    let page = audit::list(
        &state.pool,
        &who.org,
        &filter,
        i64::from(size),
        q.next_token.as_deref(),
    )
    .await?;
    let next_token = page.next.clone();
    Ok(Json(AuditPage {
        data: page.rows.into_iter().map(AuditEntryBody::from).collect(),
        next_token,
        context: AuditPageContext {
            page_size: size,
            sort_order: "DESC",
        },
    }))
}
