//! The audit row of a change, for every front end (issue 14, README "Identity"): the
//! API's [`audited`](../../http/fn.audited.html) and the CLI write the row of each
//! change they make, or refuse, through [`record_result`], so that both write the same
//! shape. The identity area's own changes (tokens, users) write their rows inside
//! their transactions (`identity::audit::record`); every other change is recorded
//! here right after it returned, on a connection of its own.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

use crate::identity::audit::{self, Entry, Outcome};
use crate::identity::Actor;
use crate::store::OrgId;

/// What a change was, for its audit row.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    /// `object.verb`, e.g. `customer.create`, `invoice.void`.
    pub action: &'a str,
    /// The kind of object, e.g. `customer`, `invoice`.
    pub object_type: &'a str,
    /// The object's id (`-` when the change names none).
    pub object_id: &'a str,
}

/// Writes the audit row of `change`, made at `at` (UTC) in `org` by `actor`, whose
/// result was `result`: `SUCCESS` with `details`, or `FAILURE` with
/// `{"error": <the error's message>}` (`{:#}`: with its causes). Returns `result`
/// unchanged. A failure to write the row is logged and does not change the result
/// (the change is made, or refused, already).
pub async fn record_result<T, E: std::fmt::Display>(
    pool: &PgPool,
    at: DateTime<Utc>,
    org: &OrgId,
    actor: &Actor,
    change: Change<'_>,
    details: Value,
    result: Result<T, E>,
) -> Result<T, E> {
    let (outcome, details) = match &result {
        Ok(_) => (Outcome::Success, details),
        Err(e) => (
            Outcome::Failure,
            serde_json::json!({ "error": format!("{e:#}") }),
        ),
    };
    let entry = Entry {
        at,
        org,
        actor,
        action: change.action,
        object_type: change.object_type,
        object_id: change.object_id,
        outcome,
        details,
    };
    let written = match pool.acquire().await {
        Ok(mut conn) => audit::record(&mut conn, &entry).await.map(drop),
        Err(e) => Err(e.into()),
    };
    if let Err(e) = written {
        tracing::warn!(action = change.action, error = %e, "could not write the audit row");
    }
    result
}
