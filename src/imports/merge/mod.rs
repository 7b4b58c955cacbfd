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

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::PgConnection;

use billrun_core::plan::Plan;

use super::columns::ImportKind;
use super::pgcopy::CopyBuf;
use super::rows::{AccountRow, Row, RowError};
use super::ImportError;
use crate::catalog::aliases::{AliasBook, Resolution};
use crate::catalog::licenses;
use crate::catalog::usage::{self, NewEvent};

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

    async fn usage(
        &self,
        tx: &mut PgConnection,
        rows: Vec<Parsed>,
    ) -> Result<Outcome, ImportError> {
        let mut out = Outcome::default();
        let refs: Vec<(&str, DateTime<Utc>)> = rows
            .iter()
            .map(|p| match &p.row {
                Row::Usage(u) => (u.account_ref.as_str(), u.timestamp),
                _ => unreachable!("a usage import has usage rows"),
            })
            .collect();
        let resolved = self.resolve(tx, &refs).await?;
        let mut buf = CopyBuf::new();
        let mut attrs = String::new();
        // Each staged row as the catalog sees it, to compare with a recorded event.
        let mut staged_rows: HashMap<u64, NewEvent> = HashMap::new();
        for (p, account) in rows.iter().zip(resolved) {
            let Row::Usage(u) = &p.row else { continue };
            let account = match account {
                Ok(a) => a,
                Err(e) => {
                    out.errors.push((p.line, e));
                    continue;
                }
            };
            staged_rows.insert(
                p.line,
                NewEvent {
                    id: u.event_id.clone(),
                    account_id: account.clone(),
                    schema_name: u.schema.clone(),
                    timestamp: u.timestamp,
                    attributes: u.attributes.clone(),
                    dimensions: u.dimensions.clone(),
                },
            );
            attrs.clear();
            // Exact decimal strings, as the catalog stores them.
            let strings: std::collections::BTreeMap<&str, String> = u
                .attributes
                .iter()
                .map(|(k, v)| (k.as_str(), v.to_string()))
                .collect();
            attrs.push_str(&serde_json::to_string(&strings).expect("strings serialise"));
            buf.plain(p.line)
                .text(&u.event_id)
                .text(&account)
                .text(&u.schema)
                .plain(u.timestamp.to_rfc3339_opts(SecondsFormat::AutoSi, true))
                .text(&attrs)
                .text(&serde_json::to_string(&u.dimensions).expect("strings serialise"));
            buf.end_row();
        }
        let staged = buf.rows() as u64;
        if staged == 0 {
            return Ok(out);
        }
        let since: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
            .fetch_one(&mut *tx)
            .await?;
        copy_in(tx, "billrun_import_usage", &buf).await?;
        drop(buf);
        let inserted = sqlx::query(
            "INSERT INTO usage_events (org_id, id, account_id, schema_name, ts, attributes, dimensions)
             SELECT $1, id, account_id, schema_name, ts, attributes, dimensions FROM billrun_import_usage
             ON CONFLICT (org_id, id) DO NOTHING",
        )
        .bind(&self.org)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted < staged {
            // Rows this statement inserted carry this transaction's now(); the others
            // were there before: by this import (a duplicate in the file) or earlier.
            let existing: Vec<(i64, bool)> = sqlx::query_as(
                "SELECT s.line, e.ingested_at >= $2 FROM billrun_import_usage s
                 JOIN usage_events e ON e.org_id = $1 AND e.id = s.id
                 WHERE e.ingested_at < now()",
            )
            .bind(&self.org)
            .bind(self.started_at)
            .fetch_all(&mut *tx)
            .await?;
            let ids: Vec<&str> = existing
                .iter()
                .filter_map(|(line, _)| staged_rows.get(&(*line as u64)))
                .map(|e| e.id.as_str())
                .collect();
            let recorded = usage::recorded_events(tx, &self.org, &ids).await?;
            for (line, this_import) in existing {
                let line = line as u64;
                let differences = staged_rows
                    .get(&line)
                    .and_then(|e| Some(usage::event_differences(recorded.get(&e.id)?, e)))
                    .unwrap_or_default();
                if this_import {
                    out.errors.push((
                        line,
                        RowError::at(
                            "event_id",
                            "duplicate: an earlier row of this file has this event_id",
                        ),
                    ));
                } else if !differences.is_empty() {
                    let id = &staged_rows[&line].id;
                    out.errors.push((
                        line,
                        RowError::at("event_id", usage::conflict_message(id, &differences)),
                    ));
                } else {
                    out.skipped += 1;
                }
            }
        }
        out.imported = inserted;
        // Same transaction as the insert (see bill_run::usage).
        let (late, _stale) = crate::bill_run::usage::after_ingest(tx, &self.org, since).await?;
        out.late = late;
        Ok(out)
    }

    async fn licenses(
        &self,
        tx: &mut PgConnection,
        rows: Vec<Parsed>,
    ) -> Result<Outcome, ImportError> {
        let mut out = Outcome::default();
        let refs: Vec<(&str, DateTime<Utc>)> = rows
            .iter()
            .map(|p| match &p.row {
                Row::License(l) => (l.account_ref.as_str(), l.effective_from),
                _ => unreachable!("a license import has license rows"),
            })
            .collect();
        let resolved = self.resolve(tx, &refs).await?;
        let known = licenses::known_licenses(tx, &self.org).await?;
        let mut buf = CopyBuf::new();
        for (p, account) in rows.iter().zip(resolved) {
            let Row::License(l) = &p.row else { continue };
            if let Err(m) = licenses::check_license_known(&l.license_id, &known) {
                out.errors.push((p.line, RowError::at("license_id", m)));
                continue;
            }
            match account {
                Err(e) => out.errors.push((p.line, e)),
                Ok(account) => {
                    buf.plain(p.line)
                        .text(&l.idempotency_key)
                        .text(&l.license_id)
                        .text(&account)
                        .text(l.update_type.as_str())
                        .plain(l.quantity)
                        .plain(
                            l.effective_from
                                .to_rfc3339_opts(SecondsFormat::AutoSi, true),
                        );
                    buf.end_row();
                }
            }
        }
        let staged = buf.rows() as u64;
        if staged == 0 {
            return Ok(out);
        }
        copy_in(tx, "billrun_import_licenses", &buf).await?;
        let inserted = sqlx::query(
            "INSERT INTO license_updates (org_id, idempotency_key, license_id, account_id, update_type,
                 quantity, effective_from)
             SELECT $1, idempotency_key, license_id, account_id, update_type, quantity, effective_from
             FROM billrun_import_licenses
             ON CONFLICT (org_id, idempotency_key) DO NOTHING",
        )
        .bind(&self.org)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // Drafts whose cycles these quantities change are recomputed by the next
        // cycle-close (rows inserted in this transaction have created_at = its start).
        let since: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("SELECT now()")
            .fetch_one(&mut *tx)
            .await?;
        crate::bill_run::usage::after_license_updates(tx, &self.org, since).await?;
        if inserted < staged {
            let existing: Vec<(i64, bool, bool, String)> = sqlx::query_as(
                "SELECT s.line, l.created_at >= $2,
                        (l.license_id, l.account_id, l.update_type, l.quantity, l.effective_from)
                          = (s.license_id, s.account_id, s.update_type, s.quantity, s.effective_from),
                        l.update_type || ' ' || l.quantity || ' of ' || l.license_id || ' for '
                          || l.account_id || ' from ' || l.effective_from
                 FROM billrun_import_licenses s
                 JOIN license_updates l ON l.org_id = $1 AND l.idempotency_key = s.idempotency_key
                 WHERE l.created_at < now()",
            )
            .bind(&self.org)
            .bind(self.started_at)
            .fetch_all(&mut *tx)
            .await?;
            for (line, this_import, same, stored) in existing {
                let line = line as u64;
                if this_import {
                    out.errors.push((
                        line,
                        RowError::at(
                            "idempotency_key",
                            "duplicate: an earlier row of this file has this idempotency_key",
                        ),
                    ));
                } else if !same {
                    out.errors.push((
                        line,
                        RowError::at(
                            "idempotency_key",
                            format!("already used for a different license update ({stored})"),
                        ),
                    ));
                } else {
                    out.skipped += 1;
                }
            }
        }
        out.imported = inserted;
        Ok(out)
    }

    /// The version a row attaches, or why it cannot.
    async fn plan_version(
        &mut self,
        tx: &mut PgConnection,
        row: &AccountRow,
    ) -> Result<Option<Result<i32, RowError>>, ImportError> {
        let Some(p) = &row.plan else {
            return Ok(None);
        };
        if !self.plans.contains_key(&p.plan_id) {
            let stored: Vec<(i32, String, serde_json::Value)> = sqlx::query_as(
                "SELECT version, status, definition FROM price_plan_versions
                 WHERE org_id = $1 AND plan_id = $2 ORDER BY version",
            )
            .bind(&self.org)
            .bind(&p.plan_id)
            .fetch_all(&mut *tx)
            .await?;
            let versions = stored
                .into_iter()
                .map(|(version, status, def)| PlanVersion {
                    version,
                    active: status == "ACTIVE",
                    plan: Plan::from_json(&def).map_err(|e| e.to_string()),
                })
                .collect();
            self.plans.insert(p.plan_id.clone(), versions);
        }
        let versions = &self.plans[&p.plan_id];
        let found = match p.version {
            Some(v) => versions.iter().find(|x| x.version == v as i32),
            None => versions.iter().rev().find(|x| x.active),
        };
        let Some(found) = found else {
            return Ok(Some(Err(match p.version {
                _ if versions.is_empty() => {
                    RowError::at("plan_id", format!("unknown price plan {:?}", p.plan_id))
                }
                Some(v) => RowError::at(
                    "plan_version",
                    format!("price plan {:?} has no version {v}", p.plan_id),
                ),
                None => RowError::at(
                    "plan_id",
                    format!(
                        "price plan {:?} has no ACTIVE version: finalize one first",
                        p.plan_id
                    ),
                ),
            })));
        };
        if !found.active {
            return Ok(Some(Err(RowError::at(
                "plan_version",
                format!("price plan {:?} version {} is not ACTIVE: only an ACTIVE version can be attached", p.plan_id, found.version),
            ))));
        }
        let priced = match &found.plan {
            Ok(plan) => plan
                .supported_currencies
                .iter()
                .find(|c| c.code() == row.invoice_currency)
                .is_some_and(|c| plan.cards_without_rate(*c).is_empty()),
            Err(_) => false,
        };
        if !priced {
            return Ok(Some(Err(RowError::at(
                "plan_id",
                format!(
                    "price plan {:?} version {} cannot price {} (the account's invoice_currency)",
                    p.plan_id, found.version, row.invoice_currency
                ),
            ))));
        }
        Ok(Some(Ok(found.version)))
    }

    async fn accounts(
        &mut self,
        tx: &mut PgConnection,
        rows: Vec<Parsed>,
    ) -> Result<Outcome, ImportError> {
        let mut out = Outcome::default();
        // An account twice in the file, across batches (and across a restart).
        let ids: Vec<&str> = rows
            .iter()
            .map(|p| match &p.row {
                Row::Account(a) => a.account_id.as_str(),
                _ => unreachable!("an accounts import has account rows"),
            })
            .collect();
        let earlier: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
            "SELECT key, line FROM import_keys WHERE import_id = $1 AND key = ANY ($2)",
        )
        .bind(&self.import_id)
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        let mut alias_owner: HashMap<&str, (&str, u64)> = HashMap::new();
        let mut buf = CopyBuf::new();
        let mut keys: (Vec<String>, Vec<i64>) = (Vec::new(), Vec::new());
        let mut line_of: HashMap<String, u64> = HashMap::new();
        let mut customer_lines: HashMap<String, Vec<u64>> = HashMap::new();
        'rows: for p in &rows {
            let Row::Account(a) = &p.row else { continue };
            if let Some(first) = earlier.get(&a.account_id) {
                out.errors.push((
                    p.line,
                    RowError::at(
                        "account_id",
                        format!(
                            "duplicate {:?}: line {first} of this file has it already",
                            a.account_id
                        ),
                    ),
                ));
                continue;
            }
            for alias in &a.aliases {
                if let Some((other, line)) = alias_owner.get(alias.as_str()) {
                    if *other != a.account_id {
                        out.errors.push((
                            p.line,
                            RowError::at("aliases", format!("alias {alias:?} is also given to account {other:?} on line {line}")),
                        ));
                        continue 'rows;
                    }
                }
            }
            let version = match self.plan_version(tx, a).await? {
                Some(Err(e)) => {
                    out.errors.push((p.line, e));
                    continue;
                }
                Some(Ok(v)) => Some(v),
                None => None,
            };
            for alias in &a.aliases {
                alias_owner.insert(alias, (&a.account_id, p.line));
            }
            keys.0.push(a.account_id.clone());
            keys.1.push(p.line as i64);
            line_of.insert(a.account_id.clone(), p.line);
            customer_lines
                .entry(a.customer_id.clone())
                .or_default()
                .push(p.line);
            let address = (!a.address.is_empty())
                .then(|| serde_json::to_string(&a.address).expect("an address serialises"));
            buf.plain(p.line)
                .text(&a.account_id)
                .text(&a.customer_id)
                .opt_text(a.customer_name.as_deref())
                .text(&a.account_name)
                .text(&a.invoice_currency)
                .text_array(&a.billing_emails)
                .text_array(&a.additional_emails);
            match a.net_term_days {
                Some(d) => buf.plain(d),
                None => buf.null(),
            };
            buf.opt_text(a.timezone.as_deref())
                .opt_text(address.as_deref())
                .text_array(&a.aliases);
            match (&a.plan, version) {
                (Some(plan), Some(v)) => buf.text(&plan.plan_id).plain(v).plain(plan.from),
                _ => buf.null().null().null(),
            };
            buf.end_row();
        }
        if buf.rows() == 0 {
            return Ok(out);
        }
        sqlx::query("INSERT INTO import_keys (import_id, key, line) SELECT $1, * FROM UNNEST($2::text[], $3::bigint[])")
            .bind(&self.import_id)
            .bind(&keys.0)
            .bind(&keys.1)
            .execute(&mut *tx)
            .await?;
        copy_in(tx, "billrun_import_accounts", &buf).await?;

        // Checks against what is stored, before any write.
        let refused: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT s.line, 'invoice_currency',
                    'the account exists with invoice currency ' || a.invoice_currency
                      || ', which cannot change (its invoices are in it)'
             FROM billrun_import_accounts s
             JOIN accounts a ON a.org_id = $1 AND a.id = s.account_id
             WHERE a.invoice_currency <> s.invoice_currency
             UNION ALL
             SELECT DISTINCT ON (s.line) s.line, 'aliases',
                    'alias ' || x.alias || ' already routes to account ' || al.account_id
                      || ' (move it with billrun account add-alias)'
             FROM billrun_import_accounts s
             CROSS JOIN LATERAL unnest(s.aliases) AS x(alias)
             JOIN aliases al ON al.org_id = $1 AND al.alias = x.alias AND al.account_id <> s.account_id
             UNION ALL
             SELECT DISTINCT ON (s.line) s.line, 'plan_from',
                    'the account is already on ' || p.plan_id || ' v' || p.plan_version || ' from '
                      || p.effective_from || coalesce(' until ' || p.effective_until, '')
                      || ': plan periods must not overlap'
             FROM billrun_import_accounts s
             JOIN plan_associations p ON p.org_id = $1 AND p.account_id = s.account_id
             WHERE s.plan_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM plan_associations q
                               WHERE q.org_id = $1 AND q.account_id = s.account_id
                                 AND q.effective_from = s.plan_from AND q.plan_id = s.plan_id
                                 AND q.plan_version = s.plan_version)
               AND (p.effective_from >= s.plan_from
                    OR (p.effective_until IS NOT NULL AND p.effective_until > s.plan_from))",
        )
        .bind(&self.org)
        .fetch_all(&mut *tx)
        .await?;
        if !refused.is_empty() {
            let mut lines: Vec<i64> = Vec::new();
            for (line, column, reason) in refused {
                if !lines.contains(&line) {
                    lines.push(line);
                    out.errors
                        .push((line as u64, RowError::at(&column, reason)));
                }
            }
            sqlx::query("DELETE FROM billrun_import_accounts WHERE line = ANY ($1)")
                .bind(&lines)
                .execute(&mut *tx)
                .await?;
            for line in &lines {
                line_of.retain(|_, l| *l as i64 != *line);
            }
        }
        let staged = line_of.len() as u64;

        let mut changed: HashSet<u64> = HashSet::new();
        let new_customers: Vec<String> = sqlx::query_scalar(
            "INSERT INTO customers (org_id, id, name)
             SELECT DISTINCT ON (customer_id) $1, customer_id, coalesce(customer_name, customer_id)
             FROM billrun_import_accounts ORDER BY customer_id, line DESC
             ON CONFLICT (org_id, id) DO NOTHING RETURNING id",
        )
        .bind(&self.org)
        .fetch_all(&mut *tx)
        .await?;
        let renamed: Vec<String> = sqlx::query_scalar(
            "UPDATE customers c SET name = s.customer_name
             FROM (SELECT DISTINCT ON (customer_id) customer_id, customer_name
                   FROM billrun_import_accounts WHERE customer_name IS NOT NULL
                   ORDER BY customer_id, line DESC) s
             WHERE c.org_id = $1 AND c.id = s.customer_id AND c.name <> s.customer_name
             RETURNING c.id",
        )
        .bind(&self.org)
        .fetch_all(&mut *tx)
        .await?;
        for c in new_customers.iter().chain(&renamed) {
            changed.extend(customer_lines.get(c).into_iter().flatten().copied());
        }
        let mut touched: Vec<String> = sqlx::query_scalar(
            "INSERT INTO accounts (org_id, id, customer_id, name, invoice_currency, timezone,
                 net_term_days, billing_emails, additional_emails, address)
             SELECT $1, account_id, customer_id, account_name, invoice_currency, timezone,
                 net_term_days, billing_emails, additional_emails, address
             FROM billrun_import_accounts
             ON CONFLICT (org_id, id) DO UPDATE SET customer_id = EXCLUDED.customer_id,
                 name = EXCLUDED.name, timezone = EXCLUDED.timezone,
                 net_term_days = EXCLUDED.net_term_days, billing_emails = EXCLUDED.billing_emails,
                 additional_emails = EXCLUDED.additional_emails, address = EXCLUDED.address
             WHERE (accounts.customer_id, accounts.name, accounts.timezone, accounts.net_term_days,
                    accounts.billing_emails, accounts.additional_emails, accounts.address)
                   IS DISTINCT FROM
                   (EXCLUDED.customer_id, EXCLUDED.name, EXCLUDED.timezone, EXCLUDED.net_term_days,
                    EXCLUDED.billing_emails, EXCLUDED.additional_emails, EXCLUDED.address)
             RETURNING id",
        )
        .bind(&self.org)
        .fetch_all(&mut *tx)
        .await?;
        // New aliases route from the epoch: an alias in an account file names the
        // account for all of its history (a move is `billrun account add-alias`).
        touched.extend(
            sqlx::query_scalar::<_, String>(
                "INSERT INTO aliases (org_id, alias, account_id, effective_from)
                 SELECT $1, x.alias, s.account_id, '1970-01-01T00:00:00Z'
                 FROM billrun_import_accounts s CROSS JOIN LATERAL unnest(s.aliases) AS x(alias)
                 WHERE NOT EXISTS (SELECT 1 FROM aliases a WHERE a.org_id = $1 AND a.alias = x.alias)
                 RETURNING account_id",
            )
            .bind(&self.org)
            .fetch_all(&mut *tx)
            .await?,
        );
        // A plan change: the open period ends where the new one begins (as
        // `catalog::associations::attach` does).
        sqlx::query(
            "UPDATE plan_associations p SET effective_until = s.plan_from
             FROM billrun_import_accounts s
             WHERE p.org_id = $1 AND p.account_id = s.account_id AND s.plan_id IS NOT NULL
               AND p.effective_until IS NULL AND p.effective_from < s.plan_from",
        )
        .bind(&self.org)
        .execute(&mut *tx)
        .await?;
        touched.extend(
            sqlx::query_scalar::<_, String>(
                "INSERT INTO plan_associations (org_id, account_id, plan_id, plan_version, effective_from)
                 SELECT $1, account_id, plan_id, plan_version, plan_from
                 FROM billrun_import_accounts WHERE plan_id IS NOT NULL
                 ON CONFLICT (org_id, account_id, effective_from) DO NOTHING
                 RETURNING account_id",
            )
            .bind(&self.org)
            .fetch_all(&mut *tx)
            .await?,
        );
        for a in touched {
            if let Some(l) = line_of.get(&a) {
                changed.insert(*l);
            }
        }
        let kept: HashSet<u64> = line_of.values().copied().collect();
        out.imported = changed.intersection(&kept).count() as u64;
        out.skipped = staged - out.imported;
        Ok(out)
    }
}
