//! Settings as the console shows them (issue 15, README "Console"): what an
//! organisation's next invoice number would be. Changing settings is
//! [`crate::catalog::orgs::configure`], as `billrun org configure` and `/settings`.

use billrun_core::numbering::NumberFormat;
use chrono::NaiveDate;
use sqlx::PgPool;

use crate::store::OrgId;

/// The number the next invoice of `org` finalized on `invoice_date` (a date in the
/// account's timezone, as finalizing uses) would get with `format`: the format's
/// counter for that date's period ([`NumberFormat::sequence_key`]) plus one, the
/// counter being 0 when none was used yet. A preview only: nothing is reserved, and
/// invoices finalized meanwhile take the next numbers. Errors: the database.
pub async fn next_invoice_number(
    pool: &PgPool,
    org: &OrgId,
    format: &NumberFormat,
    invoice_date: NaiveDate,
) -> Result<String, sqlx::Error> {
    let last: Option<i64> = sqlx::query_scalar(
        "SELECT last_value FROM invoice_number_sequences WHERE org_id = $1 AND sequence_key = $2",
    )
    .bind(org)
    .bind(format.sequence_key(invoice_date))
    .fetch_optional(pool)
    .await?;
    let next = last.unwrap_or(0).max(0) as u64 + 1;
    Ok(format.render(invoice_date, next))
}
