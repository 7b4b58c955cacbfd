//! What newly ingested usage means for invoices already computed.
//!
//! Usage dated in a cycle whose invoice is still a DRAFT (inside its grace period)
//! marks that draft stale: the next `cycle-close` recomputes it. Usage dated in a
//! cycle whose invoice is already finalized is kept, flagged `late`, and listed by
//! `billrun usage late`; it never changes a DUE invoice.

use sqlx::PgConnection;

/// Flags late events and stale drafts for events of `org` ingested at or after
/// `since` (a batch). Returns (late events, drafts made stale).
pub async fn after_ingest(
    conn: &mut PgConnection,
    org: &str,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<(u64, u64), sqlx::Error> {
    let late = sqlx::query(
        "UPDATE usage_events e SET late = true
         FROM invoices i
         WHERE e.org_id = $1 AND e.ingested_at >= $2 AND NOT e.late
           AND i.org_id = e.org_id AND i.account_id = e.account_id AND i.status <> 'DRAFT'
           AND e.ts >= i.closing_starts_at AND e.ts < i.closing_ends_at",
    )
    .bind(org)
    .bind(since)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let stale = sqlx::query(
        "UPDATE invoices i SET stale = true
         WHERE i.org_id = $1 AND i.status = 'DRAFT' AND NOT i.stale
           AND EXISTS (SELECT 1 FROM usage_events e
                       WHERE e.org_id = i.org_id AND e.account_id = i.account_id
                         AND e.ingested_at >= $2
                         AND e.ts >= i.closing_starts_at AND e.ts < i.closing_ends_at)",
    )
    .bind(org)
    .bind(since)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok((late, stale))
}

/// A late event, as `billrun usage late` lists it.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct LateEvent {
    /// Event id.
    pub id: String,
    /// The account.
    pub account_id: String,
    /// The event's own timestamp (inside an invoiced cycle).
    pub ts: chrono::DateTime<chrono::Utc>,
    /// When it arrived.
    pub ingested_at: chrono::DateTime<chrono::Utc>,
    /// Its attributes.
    pub attributes: serde_json::Value,
}

/// Late events of `org`, most recently ingested first.
pub async fn late_events(
    pool: &sqlx::PgPool,
    org: &str,
    limit: i64,
) -> Result<Vec<LateEvent>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, account_id, ts, ingested_at, attributes FROM usage_events
         WHERE org_id = $1 AND late ORDER BY ingested_at DESC, id LIMIT $2",
    )
    .bind(org)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Marks stale the drafts of `org` that license updates recorded at or after `since`
/// (this transaction's start) change: a quantity taking effect before a draft's
/// closing cycle ends is part of what that draft bills (quantities carry forward).
/// Drafts are then recomputed by the next `cycle-close`; DUE invoices never change.
pub async fn after_license_updates(
    conn: &mut PgConnection,
    org: &str,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE invoices i SET stale = true
         WHERE i.org_id = $1 AND i.status = 'DRAFT' AND NOT i.stale
           AND EXISTS (SELECT 1 FROM license_updates l
                       WHERE l.org_id = i.org_id AND l.account_id = i.account_id
                         AND l.created_at >= $2
                         AND (i.closing_ends_at IS NULL OR l.effective_from < i.closing_ends_at))",
    )
    .bind(org)
    .bind(since)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}
