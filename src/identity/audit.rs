//! The audit trail (`audit_log`): one row per change made, or refused, through the CLI
//! or the API: when, in which organisation, by whom (user, token or CLI), what
//! (`action`, e.g. `token.create`), on which object, the outcome and details (JSON,
//! never a secret). The database refuses UPDATE, DELETE and TRUNCATE on the table
//! (migration `20261201100000_identity.sql`), so a row, once written, stays as written.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;

use super::{Actor, ActorKind, IdentityError, OrgId, Result};

/// Whether the change was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Outcome {
    /// It was made.
    Success,
    /// It was refused or failed; `details.error` says why.
    Failure,
}

impl Outcome {
    /// `SUCCESS` or `FAILURE`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "SUCCESS",
            Outcome::Failure => "FAILURE",
        }
    }
}

/// One audit row to write.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// When (UTC), the caller's `as_of`.
    pub at: DateTime<Utc>,
    /// The organisation acted in.
    pub org: &'a OrgId,
    /// Who acted.
    pub actor: &'a Actor,
    /// What, as `object.verb` (`token.create`, `user.invite`, `invoice.void`, ...).
    pub action: &'a str,
    /// The kind of object (`api_token`, `user`, `invoice`, ...).
    pub object_type: &'a str,
    /// The object's id (a token id, an email, an invoice number).
    pub object_id: &'a str,
    /// Made or refused.
    pub outcome: Outcome,
    /// What else there is to know (a name, a role, an error); never a secret.
    pub details: Value,
}

/// Appends `entry` to the audit trail, on `conn`: inside the transaction of the change
/// it records, so that the change and its row commit together.
pub async fn record(conn: &mut PgConnection, entry: &Entry<'_>) -> Result<i64> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO audit_log (at, org_id, actor_kind, actor_id, action, object_type,
                                object_id, outcome, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(entry.at)
    .bind(entry.org)
    .bind(entry.actor.kind.as_str())
    .bind(&entry.actor.id)
    .bind(entry.action)
    .bind(entry.object_type)
    .bind(entry.object_id)
    .bind(entry.outcome.as_str())
    .bind(sqlx::types::Json(&entry.details))
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// Records a refused change: a `FAILURE` row whose `details.error` is `err`'s message,
/// on its own connection (the change's transaction was rolled back). Returns `err`. A
/// failure to write the row is logged, and `err` still returned.
pub(crate) async fn refused<T>(
    pool: &sqlx::PgPool,
    entry: Entry<'_>,
    err: IdentityError,
) -> Result<T> {
    let entry = Entry {
        outcome: Outcome::Failure,
        details: serde_json::json!({ "error": err.to_string() }),
        ..entry
    };
    let written = match pool.acquire().await {
        Ok(mut conn) => record(&mut conn, &entry).await.map(drop),
        Err(e) => Err(e.into()),
    };
    if let Err(e) = written {
        tracing::warn!(action = entry.action, error = %e, "could not record a refused change in the audit log");
    }
    Err(err)
}

/// An audit row as listed (`billrun audit list`, the API): camelCase in JSON.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct AuditRow {
    /// Increasing with time of writing; the listing's cursor.
    pub id: i64,
    /// When (UTC).
    pub at: DateTime<Utc>,
    /// `USER`, `TOKEN` or `CLI`.
    pub actor_kind: String,
    /// The user's email, the token's id, the CLI's user.
    pub actor_id: String,
    /// `object.verb`.
    pub action: String,
    /// The kind of object.
    pub object_type: String,
    /// The object's id.
    pub object_id: String,
    /// `SUCCESS` or `FAILURE`.
    pub outcome: String,
    /// Details (JSON object).
    pub details: sqlx::types::Json<Value>,
}

/// Which rows to list (each `None` matches all).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this action (`token.create`).
    pub action: Option<String>,
    /// Only this actor kind.
    pub actor_kind: Option<ActorKind>,
    /// Only this actor id.
    pub actor_id: Option<String>,
    /// Only this object type.
    pub object_type: Option<String>,
    /// Only this object id.
    pub object_id: Option<String>,
    /// Only rows written at or after this instant (UTC, inclusive).
    pub since: Option<DateTime<Utc>>,
}

/// The organisation's audit rows matching `filter`, newest first, one page of at most
/// `limit` rows after the row `after` (an id a previous page ended on; see
/// [`crate::paging`]). Rows of other organisations are never listed.
pub async fn list(
    pool: &sqlx::PgPool,
    org: &OrgId,
    filter: &Filter,
    limit: i64,
    after: Option<&str>,
) -> Result<crate::paging::Page<AuditRow>> {
    use crate::paging::ListError;
    let after_id = after
        .map(|a| {
            a.parse::<i64>().map_err(|_| ListError::BadCursor {
                after: a.into(),
                reason: "expected an audit row id (a number)".into(),
            })
        })
        .transpose()?;
    const FILTER: &str = "org_id = $1 AND ($2::text IS NULL OR action = $2)
         AND ($3::text IS NULL OR actor_kind = $3) AND ($4::text IS NULL OR actor_id = $4)
         AND ($5::text IS NULL OR object_type = $5) AND ($6::text IS NULL OR object_id = $6)
         AND ($7::timestamptz IS NULL OR at >= $7)";
    let mut tx = crate::paging::snapshot(pool).await?;
    let rows: Vec<AuditRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, at, actor_kind, actor_id, action, object_type, object_id, outcome, details
         FROM audit_log WHERE {FILTER} AND ($8::bigint IS NULL OR id < $8)
         ORDER BY id DESC LIMIT $9"
    )))
    .bind(org)
    .bind(&filter.action)
    .bind(filter.actor_kind.map(ActorKind::as_str))
    .bind(&filter.actor_id)
    .bind(&filter.object_type)
    .bind(&filter.object_id)
    .bind(filter.since)
    .bind(after_id)
    .bind(crate::paging::fetch_limit(limit))
    .fetch_all(&mut *tx)
    .await?;
    let (total, before): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT count(*), count(*) FILTER (WHERE $8::bigint IS NOT NULL AND id >= $8)
         FROM audit_log WHERE {FILTER}"
    )))
    .bind(org)
    .bind(&filter.action)
    .bind(filter.actor_kind.map(ActorKind::as_str))
    .bind(&filter.actor_id)
    .bind(&filter.object_type)
    .bind(&filter.object_id)
    .bind(filter.since)
    .bind(after_id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(crate::paging::Page::new(
        rows,
        limit,
        total,
        before,
        |r: &AuditRow| r.id.to_string(),
    ))
}
