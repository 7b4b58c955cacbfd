//! Counts for the console's home page (issue 15's dashboard): how many of an
//! organisation's invoices are DUE, and how many of those are overdue.

use chrono::NaiveDate;

use crate::store::OrgId;

/// The organisation's DUE invoices: `(due, overdue)`, where overdue means a due date
/// before `today` (the invoice's due date is the last day to pay, README "Invoices").
/// Errors: the database.
pub async fn due_counts(
    pool: &sqlx::PgPool,
    org: &OrgId,
    today: NaiveDate,
) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE due_date < $2)
           FROM invoices WHERE org_id = $1 AND status = 'DUE'",
    )
    .bind(org)
    .bind(today)
    .fetch_one(pool)
    .await
}
