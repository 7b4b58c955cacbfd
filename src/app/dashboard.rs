//! The console's dashboard (issue 15, README "Console"): billed amounts per month in
//! the organisation's base currency ("All widgets on the dashboard display values in
//! the base currency", Togai's Admin Center, <https://docs.togai.com/docs/admin-center>).

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgPool;

use crate::store::OrgId;

/// What was billed in one calendar month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonthBilled {
    /// The month's first day.
    pub month: NaiveDate,
    /// The sum of the totals of the invoices dated in the month (DUE or PAID: issued
    /// and not voided), in the base currency, as stored (each rounded to the
    /// currency's minor unit already).
    pub total: Decimal,
    /// How many invoices that is.
    pub invoices: i64,
}

/// The billed amounts of the last `months` calendar months up to and including the
/// month of `today` (oldest first; a month without invoices has total 0), counting
/// the invoices of `org` in `currency` (the base currency) only; and how many issued
/// invoices of those months are in other currencies (not converted: billrun keeps no
/// exchange rates; the page says they are left out). Errors: the database.
pub async fn billed_by_month(
    pool: &PgPool,
    org: &OrgId,
    currency: &str,
    today: NaiveDate,
    months: u32,
) -> Result<(Vec<MonthBilled>, i64), sqlx::Error> {
    let first = month_start(today, months.saturating_sub(1));
    let rows: Vec<(NaiveDate, Decimal, i64)> = sqlx::query_as(
        "SELECT date_trunc('month', invoice_date)::date, sum(total), count(*)
           FROM invoices
          WHERE org_id = $1 AND status IN ('DUE', 'PAID') AND currency = $2
            AND invoice_date >= $3 AND invoice_date <= $4
          GROUP BY 1",
    )
    .bind(org)
    .bind(currency)
    .bind(first)
    .bind(today)
    .fetch_all(pool)
    .await?;
    let others: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM invoices
          WHERE org_id = $1 AND status IN ('DUE', 'PAID') AND currency <> $2
            AND invoice_date >= $3 AND invoice_date <= $4",
    )
    .bind(org)
    .bind(currency)
    .bind(first)
    .bind(today)
    .fetch_one(pool)
    .await?;
    let out = (0..months)
        .rev()
        .map(|back| {
            let month = month_start(today, back);
            let (total, invoices) = rows
                .iter()
                .find(|(m, _, _)| *m == month)
                .map(|(_, t, n)| (*t, *n))
                .unwrap_or((Decimal::ZERO, 0));
            MonthBilled {
                month,
                total,
                invoices,
            }
        })
        .collect();
    Ok((out, others))
}

/// The first day of the month `back` months before `today`'s.
pub fn month_start(today: NaiveDate, back: u32) -> NaiveDate {
    let index = today.year() * 12 + today.month0() as i32 - back as i32;
    NaiveDate::from_ymd_opt(index.div_euclid(12), index.rem_euclid(12) as u32 + 1, 1)
        .expect("the first of a month exists")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_go_back_across_years() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(month_start(d(2026, 3, 17), 0), d(2026, 3, 1));
        assert_eq!(month_start(d(2026, 3, 17), 2), d(2026, 1, 1));
        assert_eq!(month_start(d(2026, 3, 17), 3), d(2025, 12, 1));
        assert_eq!(month_start(d(2026, 3, 17), 14), d(2025, 1, 1));
    }
}
