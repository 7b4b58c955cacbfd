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
//! batch's transaction, the bill run's step (`bill_run::usage::after_ingest`) flags
//! events dated in an already finalized cycle as late and marks drafts whose cycle
//! received usage as stale; [`IngestReport::usage_spans`] says which accounts
//! received usage over which instants.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::BufRead;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value};
use sqlx::PgPool;

use super::aliases::{AliasBook, Resolution};
use super::meters::EventSchema;
use super::{CatalogError, Result};

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
    /// Events not inserted because their id was already recorded.
    pub duplicates: u64,
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

/// Inserts resolved events, [`BATCH_SIZE`] per statement; ids already recorded are
/// counted as duplicates. A foreign key error (unknown account or schema) fails the
/// batch it is in; batches before it stay committed.
pub async fn ingest_events(pool: &PgPool, org: &str, events: &[NewEvent]) -> Result<IngestReport> {
    let mut report = IngestReport::default();
    for batch in events.chunks(BATCH_SIZE) {
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
        let spans: Vec<(String, DateTime<Utc>, DateTime<Utc>, i64)> = sqlx::query_as(
            "WITH inserted AS ( \
               INSERT INTO usage_events \
                 (org_id, id, account_id, schema_name, ts, attributes, dimensions) \
               SELECT $1, e.id, e.account_id, e.schema_name, e.ts, e.attributes, e.dimensions \
               FROM UNNEST($2::text[], $3::text[], $4::text[], $5::timestamptz[], \
                           $6::jsonb[], $7::jsonb[]) \
                    AS e(id, account_id, schema_name, ts, attributes, dimensions) \
               ON CONFLICT (org_id, id) DO NOTHING \
               RETURNING account_id, ts) \
             SELECT account_id, min(ts), max(ts), count(*) FROM inserted GROUP BY account_id",
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
        // In the same transaction: what the new usage means for invoices already
        // computed (a crash cannot leave usage recorded but unaccounted for).
        let (late, stale) = crate::bill_run::usage::after_ingest(&mut tx, org, since).await?;
        tx.commit().await?;
        let mut batch_report = IngestReport {
            late,
            drafts_made_stale: stale,
            ..Default::default()
        };
        for (account_id, first, last, count) in spans {
            batch_report.inserted += count as u64;
            batch_report.merge_span(UsageSpan {
                account_id,
                first_event_at: first,
                last_event_at: last,
                events: count as u64,
            });
        }
        batch_report.duplicates = batch.len() as u64 - batch_report.inserted;
        report.add(batch_report);
    }
    Ok(report)
}

// ---------------------------------------------------------------------------------
// JSON lines.

/// A line that was not ingested, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedLine {
    /// 1-based line number in the input.
    pub line: u64,
    /// What was wrong, naming the field.
    pub reason: String,
}

/// What [`ingest_json_lines`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinesReport {
    /// Non-blank lines read.
    pub read: u64,
    /// Events inserted, duplicates, and the spans of new usage.
    #[serde(flatten)]
    pub ingest: IngestReport,
    /// Number of lines rejected.
    pub rejected: u64,
    /// Every rejected line with its reason, in input order.
    pub rejected_lines: Vec<RejectedLine>,
}

/// Who a parsed event is for, before resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// `accountId`: an account id, or else an alias (Togai accepts both there).
    AccountId(String),
    /// `alias`: an alias only.
    Alias(String),
}

/// A line that parsed: an event not yet routed to an account.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ParsedEvent {
    id: String,
    schema_name: String,
    timestamp: DateTime<Utc>,
    target: Target,
    attributes: BTreeMap<String, Decimal>,
    dimensions: BTreeMap<String, String>,
}

const EVENT_FIELDS: &[&str] = &[
    "schemaName",
    "id",
    "timestamp",
    "accountId",
    "alias",
    "attributes",
    "dimensions",
];

fn required_string(o: &Map<String, Value>, key: &str) -> Result<String, String> {
    match o.get(key) {
        None | Some(Value::Null) => Err(format!("missing field {key:?}")),
        Some(Value::String(s)) if s.trim().is_empty() => Err(format!("{key}: must not be empty")),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!("{key}: expected a string, found {other}")),
    }
}

fn optional_string(o: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => required_string(o, key).map(Some),
    }
}

/// A number given as a JSON number or a string, read exactly.
fn decimal(v: &Value) -> Option<Decimal> {
    let text = match v {
        // serde_json prints the shortest representation that reads back as the same
        // double: "0.1" for 0.1, never 0.1000000000000000055...
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return None,
    };
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .ok()
}

/// Parses one line into an event, or says what is wrong with it.
fn parse_line(line: &str) -> Result<ParsedEvent, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not valid JSON: {e}"))?;
    let Value::Object(o) = v else {
        return Err("expected a JSON object (one event per line)".into());
    };
    if let Some(unknown) = o.keys().find(|k| !EVENT_FIELDS.contains(&k.as_str())) {
        return Err(format!(
            "unknown field {unknown:?}: expected {}",
            EVENT_FIELDS.join(", ")
        ));
    }
    let id = required_string(&o, "id")?;
    let schema_name = required_string(&o, "schemaName")?;
    let ts_text = required_string(&o, "timestamp")?;
    let timestamp = DateTime::parse_from_rfc3339(&ts_text)
        .map_err(|_| {
            format!(
                "timestamp: {ts_text:?} is not an ISO 8601 timestamp with a UTC offset, \
                 such as \"2026-01-31T23:59:59Z\""
            )
        })?
        .to_utc();
    let target = match (
        optional_string(&o, "accountId")?,
        optional_string(&o, "alias")?,
    ) {
        (Some(_), Some(_)) => return Err("give accountId or alias, not both".into()),
        (Some(a), None) => Target::AccountId(a),
        (None, Some(a)) => Target::Alias(a),
        (None, None) => return Err("missing field \"accountId\" (or \"alias\")".into()),
    };
    let mut attributes = BTreeMap::new();
    match o.get("attributes") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for (i, a) in list.iter().enumerate() {
                let at = format!("attributes[{i}]");
                let Value::Object(a) = a else {
                    return Err(format!("{at}: expected {{\"name\", \"value\", \"unit\"}}"));
                };
                let name = required_string(a, "name").map_err(|e| format!("{at}.{e}"))?;
                let value = a
                    .get("value")
                    .ok_or_else(|| format!("{at}: missing field \"value\""))?;
                let number = decimal(value).ok_or_else(|| {
                    format!("{at}.value: {value} is not a number (attribute {name:?})")
                })?;
                if attributes.insert(name.clone(), number).is_some() {
                    return Err(format!("{at}.name: attribute {name:?} is given twice"));
                }
            }
        }
        Some(other) => return Err(format!("attributes: expected a list, found {other}")),
    }
    let mut dimensions = BTreeMap::new();
    match o.get("dimensions") {
        None | Some(Value::Null) => {}
        Some(Value::Object(d)) => {
            for (name, value) in d {
                let Value::String(s) = value else {
                    return Err(format!(
                        "dimensions.{name}: expected a string, found {value}"
                    ));
                };
                dimensions.insert(name.clone(), s.clone());
            }
        }
        Some(other) => return Err(format!("dimensions: expected an object, found {other}")),
    }
    Ok(ParsedEvent {
        id,
        schema_name,
        timestamp,
        target,
        attributes,
        dimensions,
    })
}

/// Checks an event against its schema: declared attributes and dimensions only.
fn check_schema(e: &ParsedEvent, schemas: &HashMap<String, EventSchema>) -> Result<(), String> {
    let Some(schema) = schemas.get(&e.schema_name) else {
        return Err(format!(
            "schemaName: unknown event schema {:?}",
            e.schema_name
        ));
    };
    if let Some(a) = e.attributes.keys().find(|a| !schema.attributes.contains(a)) {
        return Err(format!(
            "attributes: {a:?} is not an attribute of schema {:?} (attributes: {})",
            schema.name,
            schema.attributes.join(", ")
        ));
    }
    if let Some(d) = e.dimensions.keys().find(|d| !schema.dimensions.contains(d)) {
        return Err(format!(
            "dimensions: {d:?} is not a dimension of schema {:?} (dimensions: {})",
            schema.name,
            schema.dimensions.join(", ")
        ));
    }
    Ok(())
}

/// Reads Togai events, one JSON object a line, and ingests the valid ones.
///
/// Every rejected line is in the report with its number and reason (bad JSON, a
/// missing field, a bad timestamp, an unknown schema, attribute or dimension, a
/// non-numeric attribute, an unknown account or alias); nothing is dropped silently.
/// Blank lines are skipped. Lines are processed [`BATCH_SIZE`] at a time, each batch
/// with one query for its accounts, one for its aliases and one insert.
pub async fn ingest_json_lines(
    pool: &PgPool,
    org: &str,
    mut input: impl BufRead,
) -> Result<LinesReport> {
    super::orgs::get(pool, org).await?;
    let schemas: HashMap<String, EventSchema> = super::meters::schemas(pool, org)
        .await?
        .into_iter()
        .map(|s| (s.name.clone(), s))
        .collect();
    let mut report = LinesReport::default();
    let mut line_no = 0u64;
    let mut buf = Vec::new();
    let mut eof = false;
    while !eof {
        let mut batch: Vec<(u64, ParsedEvent)> = Vec::with_capacity(BATCH_SIZE);
        while batch.len() < BATCH_SIZE {
            buf.clear();
            let n = input.read_until(b'\n', &mut buf).map_err(|e| {
                CatalogError::Conflict(format!("reading line {}: {e}", line_no + 1))
            })?;
            if n == 0 {
                eof = true;
                break;
            }
            line_no += 1;
            let parsed = match std::str::from_utf8(&buf) {
                Err(_) => Err("not UTF-8 text".to_string()),
                Ok(text) if text.trim().is_empty() => continue,
                Ok(text) => parse_line(text.trim()),
            };
            report.read += 1;
            match parsed.and_then(|e| check_schema(&e, &schemas).map(|_| e)) {
                Ok(e) => batch.push((line_no, e)),
                Err(reason) => report.rejected_lines.push(RejectedLine {
                    line: line_no,
                    reason,
                }),
            }
        }
        if batch.is_empty() {
            continue;
        }
        let events = resolve_batch(pool, org, batch, &mut report.rejected_lines).await?;
        report.ingest.add(ingest_events(pool, org, &events).await?);
    }
    report.rejected_lines.sort_by_key(|r| r.line);
    report.rejected = report.rejected_lines.len() as u64;
    Ok(report)
}

/// Routes a batch of parsed events to accounts: one query for the account ids named,
/// one for the aliases. Events that route nowhere are rejected.
async fn resolve_batch(
    pool: &PgPool,
    org: &str,
    batch: Vec<(u64, ParsedEvent)>,
    rejected: &mut Vec<RejectedLine>,
) -> Result<Vec<NewEvent>> {
    let mut names: Vec<String> = batch
        .iter()
        .map(|(_, e)| match &e.target {
            Target::AccountId(a) | Target::Alias(a) => a.clone(),
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    let accounts: HashSet<String> = sqlx::query_scalar::<_, String>(
        "SELECT id FROM accounts WHERE org_id = $1 AND id = ANY ($2)",
    )
    .bind(org)
    .bind(&names)
    .fetch_all(pool)
    .await?
    .into_iter()
    .collect();
    let mut alias_names: Vec<String> = batch
        .iter()
        .filter_map(|(_, e)| match &e.target {
            Target::Alias(a) => Some(a.clone()),
            Target::AccountId(a) if !accounts.contains(a) => Some(a.clone()),
            Target::AccountId(_) => None,
        })
        .collect();
    alias_names.sort_unstable();
    alias_names.dedup();
    let book = if alias_names.is_empty() {
        AliasBook::default()
    } else {
        AliasBook::load(pool, org, &alias_names).await?
    };
    let mut events = Vec::with_capacity(batch.len());
    for (line, e) in batch {
        let account = match &e.target {
            Target::AccountId(a) if accounts.contains(a) => Ok(a.clone()),
            Target::AccountId(a) => match book.resolve(a, e.timestamp) {
                Resolution::Account(id) => Ok(id.to_string()),
                Resolution::UnknownAlias => {
                    Err(format!("accountId: unknown account or alias {a:?}"))
                }
                Resolution::NotInEffect => Err(format!(
                    "accountId: alias {a:?} routes to no account at {}",
                    e.timestamp.to_rfc3339()
                )),
            },
            Target::Alias(a) => match book.resolve(a, e.timestamp) {
                Resolution::Account(id) => Ok(id.to_string()),
                Resolution::UnknownAlias => Err(format!("alias: unknown alias {a:?}")),
                Resolution::NotInEffect => Err(format!(
                    "alias: alias {a:?} routes to no account at {}",
                    e.timestamp.to_rfc3339()
                )),
            },
        };
        match account {
            Ok(account_id) => events.push(NewEvent {
                id: e.id,
                account_id,
                schema_name: e.schema_name,
                timestamp: e.timestamp,
                attributes: e.attributes,
                dimensions: e.dimensions,
            }),
            Err(reason) => rejected.push(RejectedLine { line, reason }),
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"schemaName":"api","id":"e1","timestamp":"2026-01-05T10:00:00+01:00","accountId":"acc","attributes":[{"name":"tokens","value":0.1,"unit":"k"},{"name":"bytes","value":"12.50"}],"dimensions":{"region":"eu"}}"#;

    #[test]
    fn a_togai_event_parses_exactly() {
        let e = parse_line(GOOD).unwrap();
        assert_eq!(e.timestamp.to_rfc3339(), "2026-01-05T09:00:00+00:00");
        assert_eq!(e.attributes["tokens"], Decimal::new(1, 1));
        assert_eq!(e.attributes["bytes"].to_string(), "12.50");
        assert_eq!(e.target, Target::AccountId("acc".into()));
        assert_eq!(e.dimensions["region"], "eu");
    }

    #[test]
    fn bad_lines_say_why() {
        let with = |f: &dyn Fn(&mut Value)| {
            let mut v: Value = serde_json::from_str(GOOD).unwrap();
            f(&mut v);
            parse_line(&v.to_string()).unwrap_err()
        };
        assert!(parse_line("{oops").unwrap_err().contains("not valid JSON"));
        assert!(with(&|v| {
            v.as_object_mut().unwrap().remove("id");
        })
        .contains("missing field \"id\""));
        assert!(with(&|v| v["timestamp"] = "yesterday".into()).starts_with("timestamp:"));
        assert!(with(&|v| v["timestamp"] = "2026-01-05T10:00:00".into()).contains("UTC offset"));
        assert!(with(&|v| v["attributes"][0]["value"] = "ten".into())
            .starts_with("attributes[0].value"));
        assert!(with(&|v| v["alias"] = "x".into()).contains("not both"));
        assert!(with(&|v| v["dimensions"]["region"] = 3.into()).starts_with("dimensions.region"));
        assert!(with(&|v| v["colour"] = "red".into()).contains("unknown field"));
    }

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
