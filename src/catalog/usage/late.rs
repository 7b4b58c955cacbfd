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

/// Late events of `org`, one page: most recently ingested first, then by id (both
/// fixed once an event is stored), so `after` (an event id: the cursor of the
/// previous page) pages stably (see [`crate::paging`]).
pub async fn late_events(
    pool: &sqlx::PgPool,
    org: &str,
    limit: i64,
    after: Option<&str>,
) -> Result<crate::paging::Page<LateEvent>, crate::paging::ListError> {
    // The cursor's row precedes, or is, every row "up to the cursor".
    const UP_TO_CURSOR: &str = "(ingested_at > $2 OR (ingested_at = $2 AND id <= $3))";
    let mut tx = crate::paging::snapshot(pool).await?;
    let cursor: Option<(chrono::DateTime<chrono::Utc>, String)> = match after {
        None => None,
        Some(after) => Some(
            sqlx::query_as(
                "SELECT ingested_at, id FROM usage_events WHERE org_id = $1 AND id = $2",
            )
            .bind(org)
            .bind(after)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| crate::paging::ListError::BadCursor {
                after: after.into(),
                reason: format!("organisation {org} has no event with that id"),
            })?,
        ),
    };
    let (cc, ci) = match &cursor {
        Some((c, i)) => (Some(*c), Some(i.as_str())),
        None => (None, None),
    };
    let rows: Vec<LateEvent> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, account_id, ts, ingested_at, attributes FROM usage_events
         WHERE org_id = $1 AND late AND ($2::timestamptz IS NULL OR NOT {UP_TO_CURSOR})
         ORDER BY ingested_at DESC, id LIMIT $4"
    )))
    .bind(org)
    .bind(cc)
    .bind(ci)
    .bind(crate::paging::fetch_limit(limit))
    .fetch_all(&mut *tx)
    .await?;
    let (total, before): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT count(*), count(*) FILTER (WHERE $2::timestamptz IS NOT NULL AND {UP_TO_CURSOR})
         FROM usage_events WHERE org_id = $1 AND late"
    )))
    .bind(org)
    .bind(cc)
    .bind(ci)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(crate::paging::Page::new(
        rows,
        limit,
        total,
        before,
        |e: &LateEvent| e.id.clone(),
    ))
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
