//! Credits sold by invoices: the grants of their CREDIT_GRANT lines, at finalization
//! (for `finalize-chunk`) and once paid (the `invoice-paid` job, [`grant_prepaid_credits`]).

use serde_json::{json, Value};

use super::{grant, CreditError, Finalizing, Granted, NewGrant};
use crate::queue::{JobContext, JobError};
use billrun_core::invoice::InvoiceLines;
use billrun_core::plan::{CardKind, ExpiryType, InvoiceTiming, Plan};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// An invoice whose CREDIT_GRANT lines may sell credits, with the plan version that
/// priced those lines (its cards say what they sell).
pub struct Selling<'a> {
    /// Plan id of the invoice (before any merging: the plan that priced its lines).
    pub plan_id: &'a str,
    /// That plan's version.
    pub plan_version: i32,
    /// The invoice as credits see it.
    pub invoice: &'a Finalizing,
}

impl Finalizing {
    /// An invoice from its stored columns: `lines` the stored line tree (JSON),
    /// `timezone` the account's IANA name (validated when it was written: a value that
    /// does not parse is a fault to report, never read as UTC).
    ///
    /// Errors: fatal, naming the invoice (and account) and what is unreadable.
    pub fn from_stored(
        id: &str,
        account_id: &str,
        lines: &Value,
        timezone: &str,
    ) -> Result<Finalizing, JobError> {
        let lines: InvoiceLines = serde_json::from_value(lines.clone()).map_err(|e| {
            JobError::Fatal(anyhow::anyhow!(
                "invoice {id}: stored lines unreadable: {e}"
            ))
        })?;
        let timezone = timezone.parse().map_err(|_| {
            JobError::Fatal(anyhow::anyhow!(
                "invoice {id}: account {account_id} has an unknown timezone {timezone:?}"
            ))
        })?;
        Ok(Finalizing {
            id: id.to_string(),
            account_id: account_id.to_string(),
            lines,
            timezone,
        })
    }
}

/// Grants the credits that the invoices' CREDIT_GRANT lines sold (see
/// [`grant_from_invoice`]; `paid`: PREPAID cards, else the others). Loads a plan only
/// for an invoice with such a line. Returns how many grants are new.
///
/// Errors: database errors as they are; a plan that no longer parses, or a grant
/// refused, fatal and naming the invoice.
pub async fn grant_sold_credits(
    conn: &mut sqlx::PgConnection,
    org: &str,
    invoices: &[Selling<'_>],
    paid: bool,
    as_of: chrono::DateTime<chrono::Utc>,
) -> Result<u64, JobError> {
    let sells = |s: &&Selling<'_>| {
        s.invoice
            .lines
            .card_lines()
            .any(|l| l.card_kind == Some(CardKind::CreditGrant))
    };
    let mut n = 0;
    for s in invoices.iter().filter(sells) {
        let def: Value = sqlx::query_scalar(
            "SELECT definition FROM price_plan_versions WHERE org_id = $1 AND plan_id = $2 AND version = $3",
        )
        .bind(org)
        .bind(s.plan_id)
        .bind(s.plan_version)
        .fetch_one(&mut *conn)
        .await?;
        let plan = billrun_core::plan::Plan::from_json(&def).map_err(|e| {
            JobError::Fatal(anyhow::anyhow!(
                "plan {} v{}: {e}",
                s.plan_id,
                s.plan_version
            ))
        })?;
        let f = s.invoice;
        n += grant_from_invoice(
            conn,
            org,
            &f.id,
            &f.account_id,
            &f.lines,
            &plan,
            f.timezone,
            paid,
            as_of,
        )
        .await
        .map_err(|e| JobError::Fatal(anyhow::anyhow!("invoice {}: {e}", f.id)))?;
    }
    Ok(n)
}

/// A paid invoice (or a draft merged into it), as the `invoice-paid` job reads it.
#[derive(sqlx::FromRow)]
struct PaidRow {
    id: String,
    account_id: String,
    lines: Value,
    plan_id: String,
    plan_version: i32,
    timezone: String,
}

/// Grants the PREPAID credits an invoice sold, once it is paid (the `invoice-paid`
/// job): its own lines' and those of the drafts merged into it, each from the plan
/// that priced them. Idempotent: paying twice, or running the job twice, grants once.
///
/// Returns `{"invoice", "paid", "grantsCreated"}` (`paid`: the invoice is PAID).
pub async fn grant_prepaid_credits(
    ctx: &JobContext,
    org: &str,
    invoice_id: &str,
) -> Result<Value, JobError> {
    let mut tx = ctx.pool.begin().await?;
    let rows: Vec<PaidRow> = sqlx::query_as(
        "SELECT i.id, i.account_id, i.lines, i.plan_id, i.plan_version,
                coalesce(a.timezone, o.timezone) AS timezone
         FROM invoices i
         JOIN accounts a ON a.org_id = i.org_id AND a.id = i.account_id
         JOIN organisations o ON o.id = i.org_id
         WHERE i.org_id = $1
           AND ((i.id = $2 AND i.status = 'PAID')
                OR (i.merged_into = $2 AND EXISTS (SELECT 1 FROM invoices p WHERE p.org_id = i.org_id
                                                   AND p.id = $2 AND p.status = 'PAID')))
         FOR SHARE OF i", // a concurrent void waits for this grant, or wins: nothing granted
    )
    .bind(org)
    .bind(invoice_id)
    .fetch_all(&mut *tx)
    .await?;
    let mut invoices = Vec::with_capacity(rows.len());
    for r in &rows {
        invoices.push(Finalizing::from_stored(
            &r.id,
            &r.account_id,
            &r.lines,
            &r.timezone,
        )?);
    }
    let selling: Vec<Selling<'_>> = rows
        .iter()
        .zip(&invoices)
        .map(|(r, f)| Selling {
            plan_id: &r.plan_id,
            plan_version: r.plan_version,
            invoice: f,
        })
        .collect();
    let granted = grant_sold_credits(&mut tx, org, &selling, true, ctx.as_of).await?;
    tx.commit().await?;
    Ok(
        json!({ "invoice": invoice_id, "paid": rows.iter().any(|r| r.id == invoice_id), "grantsCreated": granted }),
    )
}

/// Grants the credits sold by an invoice's CREDIT_GRANT lines: at finalization for
/// IN_ADVANCE and IN_ARREARS cards (`paid = false`), once paid for PREPAID cards
/// (`paid = true`). Usable from the start of the period the line covers; until its end
/// (PRICING_CYCLE), never (NO_EXPIRY), or for `expiryDuration` (CUSTOM: a number of
/// days, or `{"unit": "DAYS" | "WEEKS" | "MONTHS" | "YEARS", "value": n}`). Idempotent
/// per invoice and card.
#[allow(clippy::too_many_arguments)]
pub async fn grant_from_invoice(
    conn: &mut PgConnection,
    org: &str,
    invoice_id: &str,
    account_id: &str,
    lines: &InvoiceLines,
    plan: &Plan,
    tz: chrono_tz::Tz,
    paid: bool,
    as_of: DateTime<Utc>,
) -> Result<u64, CreditError> {
    use billrun_core::cycle::local_start_instant;
    let mut n = 0;
    for line in lines.card_lines() {
        if line.card_kind != Some(billrun_core::plan::CardKind::CreditGrant) {
            continue;
        }
        let Some(card) = plan
            .credit_grant_cards
            .iter()
            .find(|c| Some(&c.card.name) == line.card_name.as_ref())
        else {
            continue;
        };
        if (card.card.invoice_timing == InvoiceTiming::Prepaid) != paid {
            continue;
        }
        let Some(rate) = card.rate_details.get(&lines.currency) else {
            continue;
        };
        let Some(period) = line.period else { continue };
        let from = local_start_instant(period.start, tz);
        let until = match card.grant_details.expiry_type {
            ExpiryType::PricingCycle => Some(local_start_instant(period.end, tz)),
            ExpiryType::NoExpiry => None,
            ExpiryType::Custom => custom_expiry(from, card.grant_details.expiry_duration.as_ref()),
        };
        let g = NewGrant {
            account: account_id.to_string(),
            // In the currency's minor units, like every amount of the ledger.
            amount: lines.currency.round(rate.credit_amount, Default::default()),
            currency: lines.currency.code().to_string(),
            purpose: card.card.display().to_string(),
            priority: card.grant_details.priority,
            effective_from: Some(from),
            effective_until: until,
            applicable_entity_ids: card.grant_details.applicable_entity_ids.clone(),
            idempotency_key: format!("invoice:{invoice_id}:card:{}", card.card.name),
        };
        if let Granted::New(_) =
            grant(conn, org, &g, Some((invoice_id, &card.card.name)), as_of).await?
        {
            n += 1;
        }
    }
    Ok(n)
}

fn custom_expiry(from: DateTime<Utc>, duration: Option<&Value>) -> Option<DateTime<Utc>> {
    let (unit, value) = match duration? {
        Value::Number(n) => ("DAYS", n.as_u64()?),
        Value::Object(o) => (o.get("unit")?.as_str()?, o.get("value")?.as_u64()?),
        _ => return None,
    };
    let months = |m: u64| from.checked_add_months(chrono::Months::new(m as u32));
    match unit {
        "DAYS" => Some(from + chrono::Duration::days(value as i64)),
        "WEEKS" => Some(from + chrono::Duration::weeks(value as i64)),
        "MONTHS" => months(value),
        "YEARS" => months(value * 12),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn custom_expiry_durations() {
        let from: DateTime<Utc> = "2026-01-31T00:00:00Z".parse().unwrap();
        assert_eq!(
            custom_expiry(from, Some(&json!(30))).unwrap().to_rfc3339(),
            "2026-03-02T00:00:00+00:00"
        );
        assert_eq!(
            custom_expiry(from, Some(&json!({"unit": "MONTHS", "value": 1})))
                .unwrap()
                .to_rfc3339(),
            "2026-02-28T00:00:00+00:00"
        );
        assert_eq!(custom_expiry(from, Some(&json!("soon"))), None);
    }
}
