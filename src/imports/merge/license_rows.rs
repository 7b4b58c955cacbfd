//! Merging a batch of license rows into the license updates.

use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;

use super::{copy_in, Loader, Outcome, Parsed};
use crate::catalog::licenses::{self, LicenseUpdate, UpdateType};
use crate::catalog::CatalogError;
use crate::imports::pgcopy::CopyBuf;
use crate::imports::rows::{Row, RowError};
use crate::imports::ImportError;

impl Loader {
    /// Merges license rows: updates recorded once per idempotency key; the same key
    /// with another update is a bad row.
    pub(super) async fn licenses(
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
        let named = crate::catalog::named_licenses::named_licenses(tx, &self.org).await?;
        let mut buf = CopyBuf::new();
        for (p, account) in rows.iter().zip(resolved) {
            let Row::License(l) = &p.row else { continue };
            if let Err(m) = licenses::check_license_known(&l.license_id, &known) {
                out.errors.push((p.line, RowError::at("license_id", m)));
                continue;
            }
            if named.contains(&l.license_id) {
                let m = format!(
                    "license {:?} is priced by a NAMED_LICENSE card: its quantity is the number \
                     of named entities (billrun license named add|remove), not updates",
                    l.license_id
                );
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
        // Rows above a license card's maxQuantity are refused, as `license update` does.
        let refused = self.refuse_max_quantity_breaches(tx).await?;
        let inserted = inserted - refused.len() as u64;
        out.errors.extend(refused);
        // Drafts whose cycles these quantities change are recomputed by the next
        // cycle-close (rows inserted in this transaction have created_at = its start).
        let since: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("SELECT now()")
            .fetch_one(&mut *tx)
            .await?;
        crate::catalog::usage::late::after_license_updates(tx, &self.org, since).await?;
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

    /// Refuses the rows this batch just inserted that take a license above the
    /// `maxQuantity` of a DO_NOTHING license rate card of the account's plans, as
    /// `billrun license update` does ([`licenses::check_max_quantity`]): the rows whose
    /// account and license have such a card are taken out, then put back one by one
    /// in line order, each checked with the rows before it (a refused row is taken out
    /// again, so it does not count for the next ones). Returns each refused row's line
    /// and the reason, on the `quantity` column. Rows of licenses without a
    /// `maxQuantity` are not touched (one query finds there is nothing to do).
    async fn refuse_max_quantity_breaches(
        &self,
        tx: &mut PgConnection,
    ) -> Result<Vec<(u64, RowError)>, ImportError> {
        type Staged = (i64, String, String, String, String, Decimal, DateTime<Utc>);
        let mut rows: Vec<Staged> = sqlx::query_as(
            "SELECT DISTINCT ON (s.idempotency_key) s.line, s.idempotency_key, s.license_id,
                    s.account_id, s.update_type, s.quantity, s.effective_from
             FROM billrun_import_licenses s
             JOIN license_updates l ON l.org_id = $1 AND l.idempotency_key = s.idempotency_key
              AND l.created_at = now()
              AND (l.license_id, l.account_id, l.update_type, l.quantity, l.effective_from)
                = (s.license_id, s.account_id, s.update_type, s.quantity, s.effective_from)
             WHERE EXISTS (
                 SELECT 1 FROM plan_associations a
                 JOIN price_plan_versions v ON v.org_id = a.org_id AND v.plan_id = a.plan_id
                      AND v.version = a.plan_version
                 CROSS JOIN LATERAL jsonb_array_elements(CASE
                     WHEN jsonb_typeof(v.definition->'licenseRateCards') = 'array'
                     THEN v.definition->'licenseRateCards' ELSE '[]'::jsonb END) AS c
                 WHERE a.org_id = $1 AND a.account_id = s.account_id
                   AND coalesce(c->>'id', c->>'name') = s.license_id
                   AND c->'config'->>'maxQuantity' IS NOT NULL
                   AND coalesce(c->'config'->>'maxQuantityBreachAction', 'DO_NOTHING') = 'DO_NOTHING')
             ORDER BY s.idempotency_key, s.line",
        )
        .bind(&self.org)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        rows.sort_by_key(|r| r.0);
        let keys: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
        sqlx::query("DELETE FROM license_updates WHERE org_id = $1 AND idempotency_key = ANY($2)")
            .bind(&self.org)
            .bind(&keys)
            .execute(&mut *tx)
            .await?;
        let mut refused = Vec::new();
        for (line, key, license_id, account_id, update_type, quantity, effective_from) in rows {
            sqlx::query(
                "INSERT INTO license_updates (org_id, idempotency_key, license_id, account_id,
                     update_type, quantity, effective_from)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&self.org)
            .bind(&key)
            .bind(&license_id)
            .bind(&account_id)
            .bind(&update_type)
            .bind(quantity)
            .bind(effective_from)
            .execute(&mut *tx)
            .await?;
            let update = LicenseUpdate {
                idempotency_key: key.clone(),
                license_id,
                account_id,
                update_type: UpdateType::parse("update_type", &update_type)
                    .map_err(|e| ImportError::Invalid(e.to_string()))?,
                quantity,
                effective_from,
            };
            match licenses::check_max_quantity(tx, &self.org, &update).await {
                Ok(()) => {}
                Err(CatalogError::Invalid(e)) => {
                    sqlx::query(
                        "DELETE FROM license_updates WHERE org_id = $1 AND idempotency_key = $2",
                    )
                    .bind(&self.org)
                    .bind(&key)
                    .execute(&mut *tx)
                    .await?;
                    refused.push((line as u64, RowError::at("quantity", e.message)));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(refused)
    }
}
