//! Applying credits when invoices are finalized: the account's usable grants are
//! locked and applied to the invoices' eligible lines by
//! [`billrun_core::credits::apply`], and the ledger records what they consumed.

use std::collections::HashMap;

use billrun_core::credits::{apply, Credit, Eligibility};
use billrun_core::invoice::InvoiceLines;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{FromRow, PgConnection};

/// A draft being finalized, as credits see it.
#[derive(Clone)]
pub struct Finalizing {
    /// Invoice id.
    pub id: String,
    /// Its account.
    pub account_id: String,
    /// Its lines (credits are applied to them in place).
    pub lines: InvoiceLines,
    /// The account's timezone: the local days of the lines' periods are read in it.
    pub timezone: chrono_tz::Tz,
}

/// Applies each account's usable grants to its invoices being finalized, in the
/// finalization's transaction: locks the grants, reads their balances from the
/// ledger, records CONSUMED transactions, marks emptied grants CONSUMED, and updates
/// the invoices' lines. Returns the credits applied per invoice.
///
/// Usable: ACTIVE (not consumed, voided or expired by `credit-expiry`), started at
/// `as_of`, and for each line valid during the days the line covers
/// ([`billrun_core::credits`]): a grant whose end has passed still pays the lines of
/// the cycle it was valid in (its invoice may be finalized after the end, at the end of
/// a grace period); `credit-expiry` waits for those invoices ([`expire`]).
pub async fn apply_at_finalization(
    conn: &mut PgConnection,
    org: &str,
    invoices: &mut [Finalizing],
    as_of: DateTime<Utc>,
) -> Result<Vec<Decimal>, sqlx::Error> {
    let mut applied = vec![Decimal::ZERO; invoices.len()];
    let accounts: Vec<String> = invoices.iter().map(|i| i.account_id.clone()).collect();
    #[derive(FromRow)]
    struct Row {
        id: String,
        account_id: String,
        currency: String,
        purpose: String,
        priority: i32,
        effective_from: DateTime<Utc>,
        effective_until: Option<DateTime<Utc>>,
        created_at: DateTime<Utc>,
        applicable_entity_ids: Vec<String>,
    }
    let grants: Vec<Row> = sqlx::query_as(
        "SELECT id, account_id, currency, purpose, priority, effective_from, effective_until, created_at,
                applicable_entity_ids
         FROM credit_grants
         WHERE org_id = $1 AND account_id = ANY($2) AND status = 'ACTIVE' AND effective_from <= $3
         ORDER BY id FOR UPDATE",
    )
    .bind(org)
    .bind(&accounts)
    .bind(as_of)
    .fetch_all(&mut *conn)
    .await?;
    if grants.is_empty() {
        return Ok(applied);
    }
    // Balances after the locks: a finalization that held them has committed.
    let ids: Vec<String> = grants.iter().map(|g| g.id.clone()).collect();
    let balances: HashMap<String, Decimal> = sqlx::query_as::<_, (String, Decimal)>(
        "SELECT grant_id, sum(CASE WHEN kind IN ('GRANTED', 'RESTORED') THEN amount ELSE -amount END)
         FROM credit_transactions WHERE org_id = $1 AND grant_id = ANY($2) GROUP BY grant_id",
    )
    .bind(org)
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    let mut credits: Vec<(String, String, String, Credit)> = grants
        .iter()
        .map(|g| {
            (
                g.account_id.clone(),
                g.currency.clone(),
                g.purpose.clone(),
                Credit {
                    grant_id: g.id.clone(),
                    priority: g.priority.max(0) as u32,
                    valid_from: g.effective_from,
                    expires_at: g.effective_until,
                    granted_at: g.created_at,
                    balance: balances.get(&g.id).copied().unwrap_or_default(),
                    eligibility: Eligibility::from_entity_ids(Some(&g.applicable_entity_ids)),
                },
            )
        })
        .collect();
    let (mut tx_grant, mut tx_amount, mut tx_invoice) = (Vec::new(), Vec::new(), Vec::new());
    for (k, inv) in invoices.iter_mut().enumerate() {
        let currency = inv.lines.currency.code().to_string();
        let usable: Vec<Credit> = credits
            .iter()
            .filter(|(a, c, _, cr)| {
                *a == inv.account_id && *c == currency && cr.balance > Decimal::ZERO
            })
            .map(|(.., cr)| cr.clone())
            .collect();
        if usable.is_empty() {
            continue;
        }
        let consumptions = apply(&inv.lines.payables(inv.timezone), &usable);
        if consumptions.is_empty() {
            continue;
        }
        for c in &consumptions {
            let entry = credits
                .iter_mut()
                .find(|(.., cr)| cr.grant_id == c.grant_id)
                .expect("a usable grant");
            entry.3.balance -= c.amount;
        }
        let purposes: HashMap<String, String> = credits
            .iter()
            .map(|(_, _, p, cr)| (cr.grant_id.clone(), p.clone()))
            .collect();
        let name = |id: &str| match purposes.get(id).map(String::as_str) {
            Some("") | None => "Credits".to_string(),
            Some(p) => format!("Credits: {p}"),
        };
        inv.lines.apply_credits(&consumptions, &name);
        applied[k] = inv.lines.total_credits.amount;
        // One ledger entry per grant and invoice.
        let mut per_grant: Vec<(String, Decimal)> = Vec::new();
        for c in &consumptions {
            match per_grant.iter_mut().find(|(g, _)| *g == c.grant_id) {
                Some((_, a)) => *a += c.amount,
                None => per_grant.push((c.grant_id.clone(), c.amount)),
            }
        }
        for (g, a) in per_grant {
            tx_grant.push(g);
            tx_amount.push(a);
            tx_invoice.push(inv.id.clone());
        }
    }
    if !tx_grant.is_empty() {
        sqlx::query(
            "INSERT INTO credit_transactions (org_id, grant_id, kind, amount, invoice_id, at)
             SELECT $1, u.grant_id, 'CONSUMED', u.amount, u.invoice_id, $5
             FROM unnest($2::text[], $3::numeric[], $4::text[]) AS u(grant_id, amount, invoice_id)",
        )
        .bind(org)
        .bind(&tx_grant)
        .bind(&tx_amount)
        .bind(&tx_invoice)
        .bind(as_of)
        .execute(&mut *conn)
        .await?;
        let emptied: Vec<String> = credits
            .iter()
            .filter(|(.., cr)| cr.balance.is_zero() && tx_grant.contains(&cr.grant_id))
            .map(|(.., cr)| cr.grant_id.clone())
            .collect();
        sqlx::query("UPDATE credit_grants SET status = 'CONSUMED' WHERE org_id = $1 AND id = ANY($2) AND status = 'ACTIVE'")
            .bind(org)
            .bind(&emptied)
            .execute(&mut *conn)
            .await?;
    }
    Ok(applied)
}
