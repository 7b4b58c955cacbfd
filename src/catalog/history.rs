//! An account's billing history, and deleting customers and accounts that have none.
//!
//! billrun never destroys billing history (README "HTTP API", "Customers and accounts
//! that change"): an account that was billed, priced, credited or sent usage keeps its
//! rows and so cannot be deleted; deleting it is refused as a conflict naming what it
//! has. To stop billing such an account, end its plan period (`billrun account
//! attach-plan --until`, Togai's `edit_schedules`). An account with no history is
//! deleted with its alias ranges and its invoice-template choice; a customer with its
//! contacts and its accounts, all or nothing. The same rule decides whether an account's
//! invoice currency or timezone may still change ([`super::accounts::update`]): once
//! it has invoices, plan periods or credit grants, its cycles are priced, dated and
//! credited in them.

use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use super::{CatalogError, Result};
use crate::store::OrgId;

/// What refers to an account: each count of rows of the account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountHistory {
    /// Its invoices, of any status (drafts included).
    pub invoices: i64,
    /// Its plan periods (Togai's schedules).
    pub plan_periods: i64,
    /// Its credit grants, of any status.
    pub credit_grants: i64,
    /// Its usage events.
    pub usage_events: i64,
    /// Its license updates.
    pub license_updates: i64,
    /// Its entries in plan migrations.
    pub plan_migration_entries: i64,
}

impl AccountHistory {
    /// Whether nothing refers to the account.
    pub fn is_empty(&self) -> bool {
        *self == AccountHistory::default()
    }

    /// Whether its currency and timezone are in use: it has invoices, plan periods or
    /// credit grants (usage and licenses are counted, not priced, when received).
    pub fn is_priced(&self) -> bool {
        self.invoices + self.plan_periods + self.credit_grants > 0
    }

    /// The non-zero counts in words: `2 invoices, 1 plan period`.
    pub fn describe(&self) -> String {
        [
            (self.invoices, "invoice"),
            (self.plan_periods, "plan period"),
            (self.credit_grants, "credit grant"),
            (self.usage_events, "usage event"),
            (self.license_updates, "license update"),
            (self.plan_migration_entries, "plan migration entry"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| match (n, what) {
            (1, w) => format!("1 {w}"),
            (n, "plan migration entry") => format!("{n} plan migration entries"),
            (n, w) => format!("{n} {w}s"),
        })
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// The history of account `account` of `org`, read on `conn` (inside the caller's
/// transaction, after locking the account's row, so nothing is added meanwhile: every
/// table here refers to the account with a foreign key, which waits for the lock).
pub async fn history_in(
    conn: &mut PgConnection,
    org: &str,
    account: &str,
) -> Result<AccountHistory> {
    let (invoices, plan_periods, credit_grants, usage_events, license_updates, entries): (
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
    ) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM invoices WHERE org_id = $1 AND account_id = $2), \
                (SELECT count(*) FROM plan_associations WHERE org_id = $1 AND account_id = $2), \
                (SELECT count(*) FROM credit_grants WHERE org_id = $1 AND account_id = $2), \
                (SELECT count(*) FROM usage_events WHERE org_id = $1 AND account_id = $2), \
                (SELECT count(*) FROM license_updates WHERE org_id = $1 AND account_id = $2), \
                (SELECT count(*) FROM plan_migration_entries \
                 WHERE org_id = $1 AND account_id = $2)",
    )
    .bind(org)
    .bind(account)
    .fetch_one(&mut *conn)
    .await?;
    Ok(AccountHistory {
        invoices,
        plan_periods,
        credit_grants,
        usage_events,
        license_updates,
        plan_migration_entries: entries,
    })
}

/// A refusal to delete: `what` (`account "a1"`) has `history`.
fn kept(what: &str, history: &AccountHistory) -> CatalogError {
    CatalogError::Conflict(format!(
        "{what} has billing history ({}): billrun keeps billing history, so it cannot be \
         deleted; to stop billing it, end its plan period",
        history.describe()
    ))
}

/// A foreign key of a table this module does not know yet refused the delete: a
/// conflict (the row is still referred to), not a missing row.
fn still_referred(e: CatalogError, what: &str) -> CatalogError {
    match e {
        CatalogError::Constraint {
            constraint,
            message,
        } if constraint.ends_with("_fk") => CatalogError::Conflict(format!(
            "{what} is still referred to ({constraint}: {message}), so it cannot be deleted"
        )),
        other => other,
    }
}

/// Deletes the account `id` of `org` locked on `conn`, with its alias ranges and its
/// template choice, unless it has history.
async fn delete_account_in(conn: &mut PgConnection, org: &str, id: &str) -> Result<()> {
    let history = history_in(conn, org, id).await?;
    let what = format!("account {id:?}");
    if !history.is_empty() {
        return Err(kept(&what, &history));
    }
    for sql in [
        "DELETE FROM aliases WHERE org_id = $1 AND account_id = $2",
        "DELETE FROM account_invoice_templates WHERE org_id = $1 AND account_id = $2",
        "DELETE FROM accounts WHERE org_id = $1 AND id = $2",
    ] {
        sqlx::query(sql)
            .bind(org)
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(|e| still_referred(e.into(), &what))?;
    }
    Ok(())
}

/// Deletes account `id` of `org` (Togai's `DELETE /accounts/{id}`, `billrun account
/// delete`) with its alias ranges and template choice. Errors:
/// [`CatalogError::NotFound`] for an account not in `org`, [`CatalogError::Conflict`]
/// naming its history when it has any ([`AccountHistory`]).
pub async fn delete_account(pool: &PgPool, org: &OrgId, id: &str) -> Result<()> {
    let mut tx = pool.begin().await?;
    let found: Option<String> =
        sqlx::query_scalar("SELECT id FROM accounts WHERE org_id = $1 AND id = $2 FOR UPDATE")
            .bind(org)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    if found.is_none() {
        return Err(CatalogError::NotFound {
            what: "account",
            org: org.to_string(),
            id: id.to_string(),
        });
    }
    delete_account_in(&mut tx, org, id).await?;
    tx.commit().await?;
    Ok(())
}

/// What deleting a customer deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedCustomer {
    /// Its accounts, deleted with it, by id.
    pub accounts: Vec<String>,
    /// How many contacts were deleted with it.
    pub contacts: u64,
}

/// Deletes customer `id` of `org` (Togai's `DELETE /customers/{id}`, `billrun customer
/// delete`) with its contacts and every account of it, all or nothing: one account
/// with history refuses the whole delete. Errors: [`CatalogError::NotFound`] for a
/// customer not in `org`, [`CatalogError::Conflict`] naming the first account (by id)
/// with history and what it has.
pub async fn delete_customer(pool: &PgPool, org: &OrgId, id: &str) -> Result<DeletedCustomer> {
    let mut tx = pool.begin().await?;
    let found: Option<String> =
        sqlx::query_scalar("SELECT id FROM customers WHERE org_id = $1 AND id = $2 FOR UPDATE")
            .bind(org)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    if found.is_none() {
        return Err(CatalogError::NotFound {
            what: "customer",
            org: org.to_string(),
            id: id.to_string(),
        });
    }
    let accounts: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM accounts WHERE org_id = $1 AND customer_id = $2 ORDER BY id FOR UPDATE",
    )
    .bind(org)
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    for account in &accounts {
        delete_account_in(&mut tx, org, account)
            .await
            .map_err(|e| match e {
                CatalogError::Conflict(m) => {
                    CatalogError::Conflict(format!("customer {id:?}: {m}"))
                }
                other => other,
            })?;
    }
    let contacts =
        sqlx::query("DELETE FROM customer_contacts WHERE org_id = $1 AND customer_id = $2")
            .bind(org)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    let what = format!("customer {id:?}");
    sqlx::query("DELETE FROM customers WHERE org_id = $1 AND id = $2")
        .bind(org)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| still_referred(e.into(), &what))?;
    tx.commit().await?;
    Ok(DeletedCustomer { accounts, contacts })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_described_in_words_and_only_what_it_has() {
        let h = AccountHistory {
            invoices: 2,
            plan_periods: 1,
            plan_migration_entries: 3,
            ..AccountHistory::default()
        };
        assert_eq!(
            h.describe(),
            "2 invoices, 1 plan period, 3 plan migration entries"
        );
        assert!(h.is_priced() && !h.is_empty());
        let usage_only = AccountHistory {
            usage_events: 1,
            ..AccountHistory::default()
        };
        assert!(!usage_only.is_priced() && !usage_only.is_empty());
        assert!(AccountHistory::default().is_empty());
    }
}
