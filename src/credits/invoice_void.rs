//! What voiding an invoice does to the credit movements it caused (README "Credits",
//! "What a void does"). Runs in the void's transaction, so a void is whole or nothing.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgConnection;

use super::ledger::BALANCE;

/// The credit movements a void recorded, per rule. Amounts are in the invoice's
/// currency, rounded to its minor units.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VoidedCredits {
    /// Credits the invoice consumed, given back to their grants (RESTORED entries).
    pub restored: Decimal,
    /// Of `restored`, what went back to grants that have expired or been voided since,
    /// and was expired or voided again at once (EXPIRED / VOIDED entries naming the
    /// invoice): the balance they add is zero.
    pub restored_unusable: Decimal,
    /// The unused balance of the grants the invoice sold (CREDIT_GRANT lines, PREPAID
    /// ones included once granted), revoked (VOIDED entries naming the invoice).
    pub revoked: Decimal,
    /// What other invoices already consumed of the grants the invoice sold: it stays
    /// consumed (finalized invoices never change).
    pub sold_already_used: Decimal,
}

/// Undoes the credit movements of `invoice_id`, which the caller has just set VOID in
/// this transaction, as of `as_of` (the void's instant: every entry recorded here
/// carries it):
///
/// 1. every CONSUMED entry of the invoice is given back to its grant as a RESTORED
///    entry of the same amount; a grant emptied by it becomes ACTIVE again;
/// 2. a grant that can no longer be used at `as_of` (its `effectiveUntil` has passed,
///    or it is EXPIRED or VOIDED) gets what was given back expired (or voided) again
///    at once: credits never outlive their grant (Stripe's rule for reinstated
///    credits past their expiry);
/// 3. grants the invoice sold (`source_invoice_id`: it, or a draft merged into it) lose their unused balance
///    (VOIDED) and become VOIDED; what other invoices already consumed stays consumed.
///
/// The grants involved are locked first, in id order (as finalization locks them), so
/// a concurrent finalization either ran before (and its consumption is not touched)
/// or waits and sees the result. Not idempotent by itself: the caller guards it with
/// the invoice's status change (a VOID invoice is never voided again); the unique
/// index `credit_transactions_void_once` refuses a second pass at the database.
pub async fn undo_invoice_credits(
    conn: &mut PgConnection,
    org: &str,
    invoice_id: &str,
    as_of: DateTime<Utc>,
) -> Result<VoidedCredits, sqlx::Error> {
    // The invoice and the drafts merged into it: the grants any of them sold.
    let sellers: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM invoices WHERE org_id = $1 AND (id = $2 OR merged_into = $2)",
    )
    .bind(org)
    .bind(invoice_id)
    .fetch_all(&mut *conn)
    .await?;
    let locked: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM credit_grants
         WHERE org_id = $1 AND (source_invoice_id = ANY($3) OR id IN (
             SELECT grant_id FROM credit_transactions WHERE org_id = $1 AND invoice_id = $2 AND kind = 'CONSUMED'))
         ORDER BY id FOR UPDATE",
    )
    .bind(org)
    .bind(invoice_id)
    .bind(&sellers)
    .fetch_all(&mut *conn)
    .await?;
    if locked.is_empty() {
        return Ok(VoidedCredits::default());
    }
    // 1. Given back.
    let restored: Option<Decimal> = sqlx::query_scalar(
        "WITH r AS (
             INSERT INTO credit_transactions (org_id, grant_id, kind, amount, invoice_id, at)
             SELECT org_id, grant_id, 'RESTORED', amount, invoice_id, $3 FROM credit_transactions
             WHERE org_id = $1 AND invoice_id = $2 AND kind = 'CONSUMED'
             RETURNING amount)
         SELECT sum(amount) FROM r",
    )
    .bind(org)
    .bind(invoice_id)
    .bind(as_of)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE credit_grants SET status = 'ACTIVE'
         WHERE org_id = $1 AND status = 'CONSUMED' AND (effective_until IS NULL OR effective_until > $3)
           AND id IN (SELECT grant_id FROM credit_transactions WHERE org_id = $1 AND invoice_id = $2 AND kind = 'RESTORED')",
    )
    .bind(org)
    .bind(invoice_id)
    .bind(as_of)
    .execute(&mut *conn)
    .await?;
    // 2. Given back to a grant that can no longer be used: gone again at once.
    let unusable: Option<Decimal> = sqlx::query_scalar(
        "WITH x AS (
             INSERT INTO credit_transactions (org_id, grant_id, kind, amount, invoice_id, at)
             SELECT t.org_id, t.grant_id, CASE WHEN g.status = 'VOIDED' THEN 'VOIDED' ELSE 'EXPIRED' END,
                    t.amount, t.invoice_id, $3
             FROM credit_transactions t JOIN credit_grants g ON g.org_id = t.org_id AND g.id = t.grant_id
             WHERE t.org_id = $1 AND t.invoice_id = $2 AND t.kind = 'RESTORED'
               AND (g.status IN ('EXPIRED', 'VOIDED') OR g.effective_until <= $3)
             RETURNING amount)
         SELECT sum(amount) FROM x",
    )
    .bind(org)
    .bind(invoice_id)
    .bind(as_of)
    .fetch_one(&mut *conn)
    .await?;
    // 3. Sold by the invoice: the unused part revoked.
    let unused_sql = format!(
        "SELECT coalesce(sum({BALANCE}), 0) FROM credit_grants g
         WHERE g.org_id = $1 AND g.source_invoice_id = ANY($2)"
    );
    let unused: Decimal = sqlx::query_scalar(sqlx::AssertSqlSafe(unused_sql))
        .bind(org)
        .bind(&sellers)
        .fetch_one(&mut *conn)
        .await?;
    let used: Decimal = sqlx::query_scalar(
        "SELECT coalesce(sum(CASE t.kind WHEN 'CONSUMED' THEN t.amount WHEN 'RESTORED' THEN -t.amount ELSE 0 END), 0)
         FROM credit_transactions t JOIN credit_grants g ON g.org_id = t.org_id AND g.id = t.grant_id
         WHERE g.org_id = $1 AND g.source_invoice_id = ANY($2)",
    )
    .bind(org)
    .bind(&sellers)
    .fetch_one(&mut *conn)
    .await?;
    let revoke_sql = format!(
        "INSERT INTO credit_transactions (org_id, grant_id, kind, amount, invoice_id, at)
         SELECT g.org_id, g.id, 'VOIDED', b.balance, $2, $3
         FROM credit_grants g, LATERAL (SELECT {BALANCE} AS balance) b
         WHERE g.org_id = $1 AND g.source_invoice_id = ANY($4) AND b.balance > 0"
    );
    sqlx::query(sqlx::AssertSqlSafe(revoke_sql))
        .bind(org)
        .bind(invoice_id)
        .bind(as_of)
        .bind(&sellers)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE credit_grants SET status = 'VOIDED'
         WHERE org_id = $1 AND status = 'ACTIVE' AND source_invoice_id = ANY($2)",
    )
    .bind(org)
    .bind(&sellers)
    .execute(&mut *conn)
    .await?;
    Ok(VoidedCredits {
        restored: restored.unwrap_or_default(),
        restored_unusable: unusable.unwrap_or_default(),
        revoked: unused,
        sold_already_used: used,
    })
}
