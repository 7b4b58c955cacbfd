//! Merging a batch of usage rows into `usage_events`.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::PgConnection;

use super::{copy_in, Loader, Outcome, Parsed};
use crate::catalog::usage::{self, NewEvent};
use crate::imports::pgcopy::CopyBuf;
use crate::imports::rows::{Row, RowError};
use crate::imports::ImportError;

impl Loader {
    /// Merges usage rows: events inserted once per id; a re-sent id with other values
    /// is a bad row.
    pub(super) async fn usage(
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
        // Same transaction as the insert (see catalog::usage::late).
        let (late, _stale) =
            crate::catalog::usage::late::after_ingest(tx, &self.org, since).await?;
        out.late = late;
        Ok(out)
    }
}
