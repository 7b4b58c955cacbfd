//! Loading a batch of good rows: COPY into a staging table, then set-based merges
//! into the catalog's tables, inside the batch's transaction.
//!
//! What makes a second run harmless, per kind:
//! - usage: `ON CONFLICT (org_id, id) DO NOTHING`; a row whose event id was
//!   recorded before this import started is skipped if it is the same event, and a
//!   bad row (a conflict, [`crate::catalog::usage::event_differences`]) if its values
//!   differ; one recorded by an earlier batch of this import is a duplicate inside
//!   the file (a bad row);
//! - licenses: the same with the idempotency key; the same key with a different
//!   update is a bad row;
//! - accounts: an upsert that only writes what differs; aliases and plan periods
//!   already in place are left alone; `import_keys` catches an account twice in the
//!   file.
//!
//! This module owns the [`Loader`] and the routing of references to accounts; the
//! merge of each kind is in its own file ([`usage_rows`], [`license_rows`], [`account_rows`]).

mod account_rows;
mod license_rows;
mod usage_rows;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::PgConnection;

use billrun_core::plan::Plan;

use super::columns::ImportKind;
use super::pgcopy::CopyBuf;
use super::rows::{Row, RowError};
use super::ImportError;
use crate::catalog::aliases::{AliasBook, Resolution};

/// A good row and its line.
#[derive(Debug)]
pub struct Parsed {
    /// Line it starts on.
    pub line: u64,
    /// The row.
    pub row: Row,
}

/// What a batch's merge did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Rows that created or changed something.
    pub imported: u64,
    /// Good rows that changed nothing.
    pub skipped: u64,
    /// Rows refused by what only the database knows (unknown account, ...).
    pub errors: Vec<(u64, RowError)>,
    /// Usage events flagged late.
    pub late: u64,
}

/// The staging tables: temporary (never logged, private to the connection),
/// emptied at each commit.
pub async fn create_staging(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(
        "CREATE TEMP TABLE IF NOT EXISTS billrun_import_usage (
             line bigint, id text, account_id text, schema_name text, ts timestamptz,
             attributes jsonb, dimensions jsonb) ON COMMIT DELETE ROWS;
         CREATE TEMP TABLE IF NOT EXISTS billrun_import_licenses (
             line bigint, idempotency_key text, license_id text, account_id text,
             update_type text, quantity numeric, effective_from timestamptz) ON COMMIT DELETE ROWS;
         CREATE TEMP TABLE IF NOT EXISTS billrun_import_accounts (
             line bigint, account_id text, customer_id text, customer_name text,
             account_name text, invoice_currency text, billing_emails text[],
             additional_emails text[], net_term_days int, timezone text, address jsonb,
             aliases text[], plan_id text, plan_version int, plan_from date) ON COMMIT DELETE ROWS;",
    )
    .execute(conn)
    .await
    .map(drop)
}

async fn copy_in(
    conn: &mut PgConnection,
    table: &'static str,
    buf: &CopyBuf,
) -> Result<(), sqlx::Error> {
    if buf.rows() == 0 {
        return Ok(());
    }
    let mut copy = conn
        .copy_in_raw(&format!("COPY {table} FROM STDIN"))
        .await?;
    copy.send(buf.bytes()).await?;
    copy.finish().await?;
    Ok(())
}

/// A stored plan version, as far as attaching it goes.
struct PlanVersion {
    version: i32,
    active: bool,
    plan: Result<Plan, String>,
}

/// Loads batches of one import; keeps what is worth keeping between batches.
pub struct Loader {
    kind: ImportKind,
    org: String,
    /// The import.
    pub import_id: String,
    /// When the import first started: rows recorded since then by it are its own.
    started_at: DateTime<Utc>,
    plans: HashMap<String, Vec<PlanVersion>>,
}

impl Loader {
    /// A loader for one run of an import.
    pub fn new(
        kind: ImportKind,
        org: String,
        import_id: String,
        started_at: DateTime<Utc>,
    ) -> Loader {
        Loader {
            kind,
            org,
            import_id,
            started_at,
            plans: HashMap::new(),
        }
    }

    /// Merges a batch's good rows.
    pub async fn load(
        &mut self,
        tx: &mut PgConnection,
        rows: Vec<Parsed>,
    ) -> Result<Outcome, ImportError> {
        if rows.is_empty() {
            return Ok(Outcome::default());
        }
        match self.kind {
            ImportKind::Usage => self.usage(tx, rows).await,
            ImportKind::Licenses => self.licenses(tx, rows).await,
            ImportKind::Accounts => self.accounts(tx, rows).await,
        }
    }

    /// Routes references (an account id, else an alias at `at`) to accounts, with one
    /// query for the ids and one for the aliases.
    async fn resolve(
        &self,
        tx: &mut PgConnection,
        refs: &[(&str, DateTime<Utc>)],
    ) -> Result<Vec<Result<String, RowError>>, ImportError> {
        let mut names: Vec<&str> = refs.iter().map(|r| r.0).collect();
        names.sort_unstable();
        names.dedup();
        let accounts: HashSet<String> = sqlx::query_scalar::<_, String>(
            "SELECT id FROM accounts WHERE org_id = $1 AND id = ANY ($2)",
        )
        .bind(&self.org)
        .bind(&names)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        let aliases: Vec<String> = names
            .iter()
            .filter(|n| !accounts.contains(**n))
            .map(|n| n.to_string())
            .collect();
        let book = if aliases.is_empty() {
            AliasBook::default()
        } else {
            AliasBook::load(&mut *tx, &self.org, &aliases)
                .await
                .map_err(|e| ImportError::Invalid(e.to_string()))?
        };
        Ok(refs
            .iter()
            .map(|(r, at)| {
                if accounts.contains(*r) {
                    return Ok(r.to_string());
                }
                match book.resolve(r, *at) {
                    Resolution::Account(a) => Ok(a.to_string()),
                    Resolution::UnknownAlias => Err(RowError::at(
                        "account_id",
                        format!("unknown account or alias {r:?}"),
                    )),
                    Resolution::NotInEffect => Err(RowError::at(
                        "account_id",
                        format!(
                            "alias {r:?} routes to no account at {}",
                            at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
                        ),
                    )),
                }
            })
            .collect())
    }
}
