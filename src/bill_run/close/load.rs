//! What `close-chunk` reads beyond the bill run's shared loads ([`crate::bill_run::load`]):
//! where each association stands, and the chunk's stale drafts.

use std::collections::HashMap;

use billrun_core::boundary::Progress;
use chrono::NaiveDate;
use sqlx::PgConnection;

use crate::queue::JobError;
use crate::store::status::CycleStatus;

/// Where each association (account, start date) of `accounts` stands: its latest
/// cycle, open or not. An association with no cycle is absent.
pub(super) async fn association_progress(
    conn: &mut PgConnection,
    org: &str,
    accounts: &[String],
) -> Result<HashMap<(String, NaiveDate), Progress>, JobError> {
    let rows: Vec<(String, NaiveDate, i32, CycleStatus)> = sqlx::query_as(
        "SELECT DISTINCT ON (account_id, association_from) account_id, association_from, cycle_index, status
         FROM billing_cycles WHERE org_id = $1 AND account_id = ANY($2)
         ORDER BY account_id, association_from, cycle_index DESC",
    )
    .bind(org)
    .bind(accounts)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(account, from, index, status)| {
            let p = if status == CycleStatus::Open {
                Progress::Open(index as u32)
            } else {
                Progress::Finished
            };
            ((account, from), p)
        })
        .collect())
}

/// A DRAFT whose usage changed after it was computed: its cycles, to recompute.
#[derive(sqlx::FromRow)]
pub(super) struct StaleDraft {
    /// The invoice.
    pub id: String,
    /// Its account.
    pub account_id: String,
    /// The start of its plan association.
    pub association_from: NaiveDate,
    /// Index of the cycle it closes, if any.
    pub closing_index: Option<i32>,
    /// Index of the cycle it opens, if any.
    pub opening_index: Option<i32>,
}

/// The chunk's stale drafts.
pub(super) async fn stale_drafts(
    conn: &mut PgConnection,
    org: &str,
    accounts: &[String],
) -> Result<Vec<StaleDraft>, JobError> {
    Ok(sqlx::query_as(
        "SELECT id, account_id, association_from, closing_index, opening_index
         FROM invoices WHERE org_id = $1 AND account_id = ANY($2) AND status = 'DRAFT' AND stale",
    )
    .bind(org)
    .bind(accounts)
    .fetch_all(&mut *conn)
    .await?)
}
