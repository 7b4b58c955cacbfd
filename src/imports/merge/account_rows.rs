//! Merging a batch of account rows: accounts, their aliases and plan periods (each
//! row's plan version checked by [`Loader::plan_version`]).

use std::collections::{HashMap, HashSet};

use sqlx::PgConnection;

use billrun_core::plan::Plan;

use super::{copy_in, Loader, Outcome, Parsed, PlanVersion};
use crate::imports::pgcopy::CopyBuf;
use crate::imports::rows::{AccountRow, Row, RowError};
use crate::imports::ImportError;

impl Loader {
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

    /// Merges account rows: an upsert that writes only what differs, with their
    /// aliases and plan periods.
    pub(super) async fn accounts(
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
