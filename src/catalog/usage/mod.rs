//! Usage events: validated, routed to accounts, and inserted in batches.
//!
//! Two entry points:
//! - [`ingest_events`] inserts events that are already resolved to accounts, in
//!   batches of [`BATCH_SIZE`] rows per `INSERT ... SELECT FROM UNNEST(..)`: the fast
//!   path for benchmarks, demos and importers.
//! - [`ingest_json_lines`] reads Togai events, one JSON object a line, validates each
//!   line against the organisation's schemas, routes it to its account (by
//!   `accountId`, or by `alias` at the event's timestamp), and reports every line it
//!   rejects with its number and reason; the good lines go through [`ingest_events`].
//!
//! An event id counts once: a second event with the same id (in the same file, a
//! re-sent file, or a retry after a failure) is a duplicate and is not inserted.
//! Each batch commits on its own, so re-running an interrupted ingest is safe.
//!
//! Attribute values are stored as exact decimal strings (`{"tokens": "12.5"}`);
//! `(attributes->>'tokens')::numeric` reads them. Units are not stored. In each
//! batch's transaction, [`late::after_ingest`] flags
//! events dated in an already finalized cycle as late and marks drafts whose cycle
//! received usage as stale; [`IngestReport::usage_spans`] says which accounts
//! received usage over which instants.
//!
//! This module owns the events and the batch insert; [`conflicts`] compares a re-sent
//! event with the recorded one, [`validate`] checks one event against its schema, and
//! [`lines`] reads JSON lines.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value};
use sqlx::PgPool;

use super::Result;

mod conflicts;
pub mod late;
mod lines;
mod validate;

pub use conflicts::*;
pub use lines::*;
pub use validate::*;

/// Rows per INSERT statement.
pub const BATCH_SIZE: usize = 1000;

/// A usage event resolved to its account, ready to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// Togai's event `id`: the deduplication key within the organisation.
    pub id: String,
    /// The account the usage belongs to (must exist).
    pub account_id: String,
    /// The event schema (must exist).
    pub schema_name: String,
    /// When the usage happened.
    pub timestamp: DateTime<Utc>,
    /// Numeric attributes by name.
    pub attributes: BTreeMap<String, Decimal>,
    /// Dimensions by name.
    pub dimensions: BTreeMap<String, String>,
}

/// Usage newly recorded for one account: the instants a bill run may have to revisit
/// (cycles already invoiced that now have late usage).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageSpan {
    /// The account.
    pub account_id: String,
    /// Timestamp of its earliest inserted event.
    pub first_event_at: DateTime<Utc>,
    /// Timestamp of its latest inserted event.
    pub last_event_at: DateTime<Utc>,
    /// How many of its events were inserted.
    pub events: u64,
}

/// What [`ingest_events`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngestReport {
    /// Events inserted.
    pub inserted: u64,
    /// Events not inserted because the same event was already recorded (same id,
    /// same values).
    pub duplicates: u64,
    /// Events not inserted because their id was already recorded with other values
    /// (reported, never silently dropped).
    #[serde(skip)]
    pub conflicts: Vec<EventConflict>,
    /// Per account that received new usage, the span of its new events (by account).
    pub usage_spans: Vec<UsageSpan>,
    /// Events dated in a cycle whose invoice is already finalized: kept, flagged
    /// late, never changing that invoice (`billrun usage late` lists them).
    pub late: u64,
    /// Draft invoices whose cycle received usage: recomputed by the next cycle-close.
    pub drafts_made_stale: u64,
}

impl IngestReport {
    fn merge_span(&mut self, span: UsageSpan) {
        match self
            .usage_spans
            .binary_search_by(|s| s.account_id.cmp(&span.account_id))
        {
            Ok(i) => {
                let s = &mut self.usage_spans[i];
                s.first_event_at = s.first_event_at.min(span.first_event_at);
                s.last_event_at = s.last_event_at.max(span.last_event_at);
                s.events += span.events;
            }
            Err(i) => self.usage_spans.insert(i, span),
        }
    }

    fn add(&mut self, other: IngestReport) {
        self.inserted += other.inserted;
        self.duplicates += other.duplicates;
        self.conflicts.extend(other.conflicts);
        self.late += other.late;
        self.drafts_made_stale += other.drafts_made_stale;
        for span in other.usage_spans {
            self.merge_span(span);
        }
    }
}

fn attributes_json(attributes: &BTreeMap<String, Decimal>) -> Value {
    Value::Object(
        attributes
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.to_string())))
            .collect::<Map<_, _>>(),
    )
}

fn dimensions_json(dimensions: &BTreeMap<String, String>) -> Value {
    Value::Object(
        dimensions
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<Map<_, _>>(),
    )
}

/// Inserts resolved events, [`BATCH_SIZE`] per statement. An id already recorded
/// (before, or earlier in `events`) is a duplicate when the event is the same as the
/// recorded one ([`event_differences`] finds nothing), and a conflict otherwise:
/// neither is inserted, conflicts are listed in [`IngestReport::conflicts`] by their
/// position in `events`. A foreign key error (unknown account or schema) fails the
/// batch it is in; batches before it stay committed.
pub async fn ingest_events(pool: &PgPool, org: &str, events: &[NewEvent]) -> Result<IngestReport> {
    let mut report = IngestReport::default();
    for (batch_no, batch) in events.chunks(BATCH_SIZE).enumerate() {
        let mut tx = pool.begin().await?;
        // The transaction's start: the `ingested_at` of every row it inserts.
        let since: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
            .fetch_one(&mut *tx)
            .await?;
        let ids: Vec<&str> = batch.iter().map(|e| e.id.as_str()).collect();
        let accounts: Vec<&str> = batch.iter().map(|e| e.account_id.as_str()).collect();
        let schemas: Vec<&str> = batch.iter().map(|e| e.schema_name.as_str()).collect();
        let timestamps: Vec<DateTime<Utc>> = batch.iter().map(|e| e.timestamp).collect();
        let attributes: Vec<Value> = batch
            .iter()
            .map(|e| attributes_json(&e.attributes))
            .collect();
        let dimensions: Vec<Value> = batch
            .iter()
            .map(|e| dimensions_json(&e.dimensions))
            .collect();
        let inserted: Vec<(String, String, DateTime<Utc>)> = sqlx::query_as(
            "INSERT INTO usage_events \
               (org_id, id, account_id, schema_name, ts, attributes, dimensions) \
             SELECT $1, e.id, e.account_id, e.schema_name, e.ts, e.attributes, e.dimensions \
             FROM UNNEST($2::text[], $3::text[], $4::text[], $5::timestamptz[], \
                         $6::jsonb[], $7::jsonb[]) WITH ORDINALITY \
                  AS e(id, account_id, schema_name, ts, attributes, dimensions, n) \
             ORDER BY e.n \
             ON CONFLICT (org_id, id) DO NOTHING \
             RETURNING id, account_id, ts",
        )
        .bind(org)
        .bind(&ids)
        .bind(&accounts)
        .bind(&schemas)
        .bind(&timestamps)
        .bind(&attributes)
        .bind(&dimensions)
        .fetch_all(&mut *tx)
        .await?;
        let mut batch_report = IngestReport::default();
        // The first event of each inserted id is the one inserted (rows go in in
        // order); every other event of the batch met a recorded id.
        let mut new_ids: HashSet<&str> = inserted.iter().map(|r| r.0.as_str()).collect();
        let mut met: Vec<usize> = Vec::new();
        for (i, e) in batch.iter().enumerate() {
            if !new_ids.remove(e.id.as_str()) {
                met.push(i);
            }
        }
        if !met.is_empty() {
            let ids: Vec<&str> = met.iter().map(|i| batch[*i].id.as_str()).collect();
            let recorded = recorded_events(&mut tx, org, &ids).await?;
            for i in met {
                let e = &batch[i];
                let differences = recorded
                    .get(&e.id)
                    .map(|r| event_differences(r, e))
                    .unwrap_or_default();
                if differences.is_empty() {
                    batch_report.duplicates += 1;
                } else {
                    batch_report.conflicts.push(EventConflict {
                        position: batch_no * BATCH_SIZE + i,
                        id: e.id.clone(),
                        reason: conflict_message(&e.id, &differences),
                    });
                }
            }
        }
        // In the same transaction: what the new usage means for invoices already
        // computed (a crash cannot leave usage recorded but unaccounted for).
        let (late, stale) = late::after_ingest(&mut tx, org, since).await?;
        tx.commit().await?;
        batch_report.late = late;
        batch_report.drafts_made_stale = stale;
        for (_, account_id, ts) in inserted {
            batch_report.inserted += 1;
            batch_report.merge_span(UsageSpan {
                account_id,
                first_event_at: ts,
                last_event_at: ts,
                events: 1,
            });
        }
        report.add(batch_report);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_merge_per_account() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let span = |a: &str, f: &str, l: &str, n| UsageSpan {
            account_id: a.into(),
            first_event_at: t(f),
            last_event_at: t(l),
            events: n,
        };
        let mut r = IngestReport::default();
        r.merge_span(span("b", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", 2));
        r.merge_span(span("a", "2026-01-05T00:00:00Z", "2026-01-05T00:00:00Z", 1));
        r.merge_span(span("b", "2026-01-01T00:00:00Z", "2026-01-02T12:00:00Z", 3));
        assert_eq!(
            r.usage_spans,
            vec![
                span("a", "2026-01-05T00:00:00Z", "2026-01-05T00:00:00Z", 1),
                span("b", "2026-01-01T00:00:00Z", "2026-01-03T00:00:00Z", 5),
            ]
        );
    }
}
