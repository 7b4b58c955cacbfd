//! Ending grants: voiding one ([`void`]) and expiring those whose end has passed
//! ([`expire`]), each recording what was left in the ledger.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use super::{list, CreditError, GrantView, BALANCE};
use crate::store::status::GrantStatus;
use crate::store::OrgId;

/// Voids an ACTIVE grant as of `as_of` (UTC): what is left is recorded as VOIDED at
/// that instant. Returns the grant as it is now. Errors: [`CreditError::NotFound`],
/// [`CreditError::WrongStatus`] (not ACTIVE), the database.
pub async fn void(
    pool: &PgPool,
    org: &OrgId,
    grant_id: &str,
    as_of: DateTime<Utc>,
) -> Result<GrantView, CreditError> {
    let mut tx = pool.begin().await?;
    let status: Option<GrantStatus> = sqlx::query_scalar(
        "SELECT status FROM credit_grants WHERE org_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(org)
    .bind(grant_id)
    .fetch_optional(&mut *tx)
    .await?;
    match status {
        None => {
            return Err(CreditError::NotFound {
                org: org.to_string(),
                what: "credit grant",
                id: grant_id.into(),
            })
        }
        Some(GrantStatus::Active) => {}
        Some(s) => {
            return Err(CreditError::WrongStatus {
                id: grant_id.into(),
                status: s.to_string(),
                action: "void",
            })
        }
    }
    close_grants(&mut tx, org, &[grant_id.to_string()], "VOIDED", as_of).await?;
    tx.commit().await?;
    let view = list(pool, org, None)
        .await?
        .into_iter()
        .find(|g| g.id == grant_id);
    Ok(view.expect("the grant was just voided"))
}

/// Records the remaining balance of (locked) grants as `kind` and sets their status.
/// An expiry takes effect at the grant's end, a void at `as_of`.
async fn close_grants(
    conn: &mut PgConnection,
    org: &str,
    ids: &[String],
    kind: &'static str,
    as_of: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let sql = format!(
        "INSERT INTO credit_transactions (org_id, grant_id, kind, amount, at)
         SELECT g.org_id, g.id, '{kind}', b.balance,
                CASE WHEN '{kind}' = 'EXPIRED' THEN coalesce(g.effective_until, $3) ELSE $3 END
         FROM credit_grants g, LATERAL (SELECT {BALANCE} AS balance) b
         WHERE g.org_id = $1 AND g.id = ANY($2) AND b.balance > 0"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(ids)
        .bind(as_of)
        .execute(&mut *conn)
        .await?;
    Ok(sqlx::query("UPDATE credit_grants SET status = $3 WHERE org_id = $1 AND id = ANY($2) AND status = 'ACTIVE'")
        .bind(org)
        .bind(ids)
        .bind(kind)
        .execute(&mut *conn)
        .await?
        .rows_affected())
}

/// Expires every ACTIVE grant (of `org`, or all) whose end has passed at `as_of`,
/// recording what was left. Running it again expires nothing more.
///
/// A grant still waits while an invoice that may use it is not finalized yet: while
/// its account has an OPEN billing cycle or a DRAFT invoice whose in-arrears period
/// starts before the grant's end (the cycle's usage, billed after the cycle and its
/// grace period, may be paid by the cycle's credits: README "Credits"). It expires at
/// the first run after those invoices are finalized.
pub async fn expire(
    pool: &PgPool,
    org: Option<&str>,
    as_of: DateTime<Utc>,
) -> Result<u64, CreditError> {
    let mut tx = pool.begin().await?;
    let due: Vec<(String, String)> = sqlx::query_as(
        "SELECT g.org_id, g.id FROM credit_grants g
         WHERE g.status = 'ACTIVE' AND g.effective_until <= $1 AND ($2::text IS NULL OR g.org_id = $2)
           AND NOT EXISTS (SELECT 1 FROM billing_cycles c
                           WHERE c.org_id = g.org_id AND c.account_id = g.account_id
                             AND c.status = 'OPEN' AND c.starts_at < g.effective_until)
           AND NOT EXISTS (SELECT 1 FROM invoices i
                           WHERE i.org_id = g.org_id AND i.account_id = g.account_id
                             AND i.status = 'DRAFT' AND i.closing_starts_at < g.effective_until)
         ORDER BY g.org_id, g.id FOR UPDATE OF g",
    )
    .bind(as_of)
    .bind(org)
    .fetch_all(&mut *tx)
    .await?;
    let mut by_org: HashMap<String, Vec<String>> = HashMap::new();
    for (o, id) in due {
        by_org.entry(o).or_default().push(id);
    }
    let mut n = 0;
    for (o, ids) in by_org {
        n += close_grants(&mut tx, &o, &ids, "EXPIRED", as_of).await?;
    }
    tx.commit().await?;
    Ok(n)
}
