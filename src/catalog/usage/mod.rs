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

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::BufRead;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value};
use sqlx::PgPool;

use super::aliases::{AliasBook, Resolution};
use super::meters::EventSchema;
use super::{check_id, input, CatalogError, Result};

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
        let (late, stale) = crate::bill_run::usage::after_ingest(&mut tx, org, since).await?;
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

/// An event resent under a recorded id with other values: not inserted, reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventConflict {
    /// 0-based position of the event in what was given to [`ingest_events`].
    pub position: usize,
    /// The event id.
    pub id: String,
    /// [`conflict_message`]: what differs from the recorded event.
    pub reason: String,
}

/// The recorded events among `ids` (by id), as [`NewEvent`]s to compare with.
pub async fn recorded_events(
    conn: &mut sqlx::PgConnection,
    org: &str,
    ids: &[&str],
) -> Result<HashMap<String, NewEvent>> {
    let rows: Vec<(String, String, String, DateTime<Utc>, Value, Value)> = sqlx::query_as(
        "SELECT id, account_id, schema_name, ts, attributes, dimensions FROM usage_events \
         WHERE org_id = $1 AND id = ANY ($2)",
    )
    .bind(org)
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for (id, account_id, schema_name, timestamp, attributes, dimensions) in rows {
        let corrupt = |col: &str, v: &Value| CatalogError::Corrupt {
            what: format!("usage_events.{col} of {id:?}"),
            message: format!("expected an object of strings, found {v}"),
        };
        let Value::Object(a) = &attributes else {
            return Err(corrupt("attributes", &attributes));
        };
        let mut attrs = BTreeMap::new();
        for (k, v) in a {
            let n = decimal(v).ok_or_else(|| corrupt("attributes", &attributes))?;
            attrs.insert(k.clone(), n);
        }
        let Value::Object(d) = &dimensions else {
            return Err(corrupt("dimensions", &dimensions));
        };
        let mut dims = BTreeMap::new();
        for (k, v) in d {
            let s = v
                .as_str()
                .ok_or_else(|| corrupt("dimensions", &dimensions))?;
            dims.insert(k.clone(), s.to_string());
        }
        out.insert(
            id.clone(),
            NewEvent {
                id,
                account_id,
                schema_name,
                timestamp,
                attributes: attrs,
                dimensions: dims,
            },
        );
    }
    Ok(out)
}

/// What differs between a recorded event and one resent under its id, one entry per
/// field (`attribute tokens: 5, recorded 3`); empty when it is the same event.
/// Attributes compare as numbers (`3.0` is `3`); the account is the one the event
/// was routed to (an alias resolved at its timestamp), so an event resent through
/// an alias of its account is the same event.
pub fn event_differences(recorded: &NewEvent, resent: &NewEvent) -> Vec<String> {
    let mut out = Vec::new();
    if recorded.account_id != resent.account_id {
        out.push(format!(
            "account {:?}, recorded {:?}",
            resent.account_id, recorded.account_id
        ));
    }
    if recorded.schema_name != resent.schema_name {
        out.push(format!(
            "schema {:?}, recorded {:?}",
            resent.schema_name, recorded.schema_name
        ));
    }
    if recorded.timestamp != resent.timestamp {
        out.push(format!(
            "timestamp {}, recorded {}",
            resent
                .timestamp
                .to_rfc3339_opts(SecondsFormat::AutoSi, true),
            recorded
                .timestamp
                .to_rfc3339_opts(SecondsFormat::AutoSi, true)
        ));
    }
    let names: BTreeSet<&String> = recorded
        .attributes
        .keys()
        .chain(resent.attributes.keys())
        .collect();
    for name in names {
        let (r, s) = (recorded.attributes.get(name), resent.attributes.get(name));
        if r.map(|d| d.normalize()) != s.map(|d| d.normalize()) {
            out.push(format!(
                "attribute {name}: {}, recorded {}",
                s.map_or("absent".to_string(), |d| d.to_string()),
                r.map_or("absent".to_string(), |d| d.to_string())
            ));
        }
    }
    let names: BTreeSet<&String> = recorded
        .dimensions
        .keys()
        .chain(resent.dimensions.keys())
        .collect();
    for name in names {
        let (r, s) = (recorded.dimensions.get(name), resent.dimensions.get(name));
        if r != s {
            let show = |v: Option<&String>| v.map_or("absent".to_string(), |v| format!("{v:?}"));
            out.push(format!(
                "dimension {name}: {}, recorded {}",
                show(s),
                show(r)
            ));
        }
    }
    out
}

/// The one message for an event id recorded with other values (every way in).
pub fn conflict_message(id: &str, differences: &[String]) -> String {
    format!(
        "conflict: event id {id:?} is already recorded with other values ({}); the recorded \
         event is kept: give a changed event a new id",
        differences.join("; ")
    )
}

// ---------------------------------------------------------------------------------
// JSON lines.

/// A line that was not ingested, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
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
    /// Number of lines whose event id was already recorded with other values.
    pub conflicts: u64,
    /// Every such line, in input order (the recorded event is kept).
    pub conflict_lines: Vec<ConflictLine>,
}

/// A line whose event id was already recorded with other values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConflictLine {
    /// 1-based line number in the input.
    pub line: u64,
    /// The event id.
    pub id: String,
    /// What differs from the recorded event ([`conflict_message`]).
    pub reason: String,
}

// ---------------------------------------------------------------------------------
// The one validation of an event, for every way in.

/// An event as a way in received it, every value still text (a JSON number as its
/// text, a CSV cell trimmed). Absent values are absent (a blank CSV cell, a missing
/// JSON key); what was given twice or not as text is the adapter's to refuse.
#[derive(Debug, Clone, Copy)]
pub struct RawEvent<'a> {
    /// Togai's event `id`.
    pub id: &'a str,
    /// The event schema's name.
    pub schema_name: &'a str,
    /// When the usage happened: RFC 3339 with a UTC offset.
    pub timestamp: &'a str,
    /// An account id, or an alias.
    pub account: &'a str,
    /// Attribute name and value, in the order given.
    pub attributes: &'a [(&'a str, &'a str)],
    /// Dimension name and value, in the order given.
    pub dimensions: &'a [(&'a str, &'a str)],
}

/// Which part of an event a [`EventError`] is about; each way in names it in its own
/// vocabulary (JSON `attributes[0].value`, CSV column `attribute.calls`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventField {
    /// The event id.
    Id,
    /// The schema name.
    SchemaName,
    /// The timestamp.
    Timestamp,
    /// The account id or alias.
    Account,
    /// The attribute at this index of [`RawEvent::attributes`].
    Attribute(usize),
    /// The dimension at this index of [`RawEvent::dimensions`].
    Dimension(usize),
}

/// Why an event was refused: the field, and the same message whatever the way in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventError {
    /// The part at fault.
    pub field: EventField,
    /// What is wrong and what was expected.
    pub reason: String,
}

/// An event that passed [`validate_event`]: not yet routed to an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidEvent {
    /// Togai's event id (an id: at most 50 characters, no whitespace).
    pub id: String,
    /// A schema of the organisation.
    pub schema_name: String,
    /// The instant, in UTC.
    pub timestamp: DateTime<Utc>,
    /// The account id or alias as given (resolved by the caller).
    pub account: String,
    /// Declared attributes, each an exact decimal, 0 or more.
    pub attributes: BTreeMap<String, Decimal>,
    /// Declared dimensions, each at most 255 characters.
    pub dimensions: BTreeMap<String, String>,
}

/// The one validation of a usage event, used by every way in (`usage ingest`, the
/// CSV usage import, and the HTTP API to come), so the same event gets the same
/// verdict and message everywhere. Checks, in this order: the id
/// ([`super::check_id`]), the schema (one of `schemas`), the timestamp
/// ([`input::parse_instant`] with a UTC offset: no leap second, a 4-digit year), the
/// account id or alias ([`super::check_id`]), each attribute (declared by the
/// schema, given once, an exact decimal, not negative: usage is counted, never
/// refunded through events), each dimension (declared, given once, at most
/// [`input::MAX_DIMENSION_CHARS`] characters).
pub fn validate_event(
    raw: &RawEvent<'_>,
    schemas: &HashMap<String, EventSchema>,
) -> Result<ValidEvent, EventError> {
    let err = |field: EventField, reason: String| EventError { field, reason };
    check_id("", raw.id).map_err(|e| err(EventField::Id, e.message))?;
    let Some(schema) = schemas.get(raw.schema_name) else {
        let mut known: Vec<&str> = schemas.keys().map(String::as_str).collect();
        known.sort_unstable();
        return Err(err(
            EventField::SchemaName,
            format!(
                "unknown event schema {} (schemas: {})",
                input::shown(raw.schema_name),
                known.join(", ")
            ),
        ));
    };
    let timestamp = input::parse_instant(raw.timestamp, input::TimeForms::WithOffset)
        .map_err(|e| err(EventField::Timestamp, e.describe(raw.timestamp)))?;
    check_id("", raw.account).map_err(|e| err(EventField::Account, e.message))?;
    let mut attributes = BTreeMap::new();
    for (i, (name, value)) in raw.attributes.iter().enumerate() {
        let field = || EventField::Attribute(i);
        if !schema.attributes.iter().any(|a| a == name) {
            return Err(err(
                field(),
                format!(
                    "{} is not an attribute of schema {:?} (attributes: {})",
                    input::shown(name),
                    schema.name,
                    schema.attributes.join(", ")
                ),
            ));
        }
        let n = Decimal::from_str(value)
            .or_else(|_| Decimal::from_scientific(value))
            .map_err(|_| {
                err(
                    field(),
                    format!(
                        "{} is not a number: expected e.g. 12 or 12.5 (attribute {name})",
                        input::shown(value)
                    ),
                )
            })?;
        if n.is_sign_negative() && !n.is_zero() {
            return Err(err(
                field(),
                format!(
                    "{value} is negative: usage quantities must be 0 or more (attribute {name})"
                ),
            ));
        }
        if attributes.insert(name.to_string(), n).is_some() {
            return Err(err(field(), format!("attribute {name} is given twice")));
        }
    }
    let mut dimensions = BTreeMap::new();
    for (i, (name, value)) in raw.dimensions.iter().enumerate() {
        let field = || EventField::Dimension(i);
        if !schema.dimensions.iter().any(|d| d == name) {
            return Err(err(
                field(),
                format!(
                    "{} is not a dimension of schema {:?} (dimensions: {})",
                    input::shown(name),
                    schema.name,
                    schema.dimensions.join(", ")
                ),
            ));
        }
        input::check_len("", value, input::MAX_DIMENSION_CHARS)
            .map_err(|e| err(field(), format!("{} (dimension {name})", e.message)))?;
        if dimensions
            .insert(name.to_string(), value.to_string())
            .is_some()
        {
            return Err(err(field(), format!("dimension {name} is given twice")));
        }
    }
    Ok(ValidEvent {
        id: raw.id.to_string(),
        schema_name: raw.schema_name.to_string(),
        timestamp,
        account: raw.account.to_string(),
        attributes,
        dimensions,
    })
}

// ---------------------------------------------------------------------------------
// JSON lines: the shape of a line, then [`validate_event`].

/// Who a parsed event is for, before resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// `accountId`: an account id, or else an alias (Togai accepts both there).
    AccountId,
    /// `alias`: an alias only.
    Alias,
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

fn required_string<'a>(o: &'a Map<String, Value>, key: &str) -> Result<&'a str, String> {
    match o.get(key) {
        None | Some(Value::Null) => Err(format!("missing field {key:?}")),
        Some(Value::String(s)) if s.trim().is_empty() => Err(format!("{key}: must not be empty")),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!(
            "{key}: expected a string, found {}",
            input::shown(&other.to_string())
        )),
    }
}

fn optional_string<'a>(o: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, String> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => required_string(o, key).map(Some),
    }
}

/// A stored attribute value (an exact decimal string), or a JSON number, read exactly.
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

/// Parses one line into a valid event and who it is for, or says what is wrong
/// (`field: reason`, the field as a JSON path).
fn parse_line(
    line: &str,
    schemas: &HashMap<String, EventSchema>,
) -> Result<(ValidEvent, Target), String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not valid JSON: {e}"))?;
    let Value::Object(o) = v else {
        return Err("expected a JSON object (one event per line)".into());
    };
    if let Some(unknown) = o.keys().find(|k| !EVENT_FIELDS.contains(&k.as_str())) {
        return Err(format!(
            "unknown field {}: expected {}",
            input::shown(unknown),
            EVENT_FIELDS.join(", ")
        ));
    }
    let id = required_string(&o, "id")?;
    let schema_name = required_string(&o, "schemaName")?;
    let timestamp = required_string(&o, "timestamp")?;
    let (account, target) = match (
        optional_string(&o, "accountId")?,
        optional_string(&o, "alias")?,
    ) {
        (Some(_), Some(_)) => return Err("give accountId or alias, not both".into()),
        (Some(a), None) => (a, Target::AccountId),
        (None, Some(a)) => (a, Target::Alias),
        (None, None) => return Err("missing field \"accountId\" (or \"alias\")".into()),
    };
    // Numbers keep their JSON text: read exactly by validate_event.
    let mut attribute_texts: Vec<(&str, String)> = Vec::new();
    match o.get("attributes") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for (i, a) in list.iter().enumerate() {
                let at = format!("attributes[{i}]");
                let Value::Object(a) = a else {
                    return Err(format!("{at}: expected {{\"name\", \"value\", \"unit\"}}"));
                };
                let name = required_string(a, "name").map_err(|e| format!("{at}.{e}"))?;
                let value = match a.get("value") {
                    None => return Err(format!("{at}: missing field \"value\"")),
                    Some(Value::Number(n)) => n.to_string(),
                    Some(Value::String(s)) => s.trim().to_string(),
                    Some(other) => {
                        return Err(format!(
                            "{at}.value: {} is not a number (attribute {name})",
                            input::shown(&other.to_string())
                        ))
                    }
                };
                attribute_texts.push((name, value));
            }
        }
        Some(other) => {
            return Err(format!(
                "attributes: expected a list, found {}",
                input::shown(&other.to_string())
            ))
        }
    }
    let mut dimension_list: Vec<(&str, &str)> = Vec::new();
    match o.get("dimensions") {
        None | Some(Value::Null) => {}
        Some(Value::Object(d)) => {
            for (name, value) in d {
                let Value::String(s) = value else {
                    return Err(format!(
                        "dimensions.{name}: expected a string, found {}",
                        input::shown(&value.to_string())
                    ));
                };
                dimension_list.push((name, s));
            }
        }
        Some(other) => {
            return Err(format!(
                "dimensions: expected an object, found {}",
                input::shown(&other.to_string())
            ))
        }
    }
    let attributes: Vec<(&str, &str)> = attribute_texts
        .iter()
        .map(|(n, v)| (*n, v.as_str()))
        .collect();
    let raw = RawEvent {
        id,
        schema_name,
        timestamp,
        account,
        attributes: &attributes,
        dimensions: &dimension_list,
    };
    let event = validate_event(&raw, schemas).map_err(|e| {
        let path = match e.field {
            EventField::Id => "id".to_string(),
            EventField::SchemaName => "schemaName".to_string(),
            EventField::Timestamp => "timestamp".to_string(),
            EventField::Account => match target {
                Target::AccountId => "accountId".to_string(),
                Target::Alias => "alias".to_string(),
            },
            EventField::Attribute(i) => format!("attributes[{i}].value"),
            EventField::Dimension(i) => format!("dimensions.{}", dimension_list[i].0),
        };
        format!("{path}: {}", e.reason)
    })?;
    Ok((event, target))
}

/// Reads Togai events, one JSON object a line, and ingests the valid ones.
///
/// Every rejected line is in the report with its number and reason (bad JSON, a
/// missing field, a bad timestamp, an unknown schema, attribute or dimension, a
/// non-numeric attribute, an unknown account or alias), and every line whose event
/// id was already recorded with other values with its number, id and differences;
/// nothing is dropped silently.
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
        let mut batch: Vec<(u64, ValidEvent, Target)> = Vec::with_capacity(BATCH_SIZE);
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
                Ok(text) => parse_line(text.trim(), &schemas),
            };
            report.read += 1;
            match parsed {
                Ok((e, target)) => batch.push((line_no, e, target)),
                Err(reason) => report.rejected_lines.push(RejectedLine {
                    line: line_no,
                    reason,
                }),
            }
        }
        if batch.is_empty() {
            continue;
        }
        let (lines, events): (Vec<u64>, Vec<NewEvent>) =
            resolve_batch(pool, org, batch, &mut report.rejected_lines)
                .await?
                .into_iter()
                .unzip();
        let mut ingested = ingest_events(pool, org, &events).await?;
        for c in std::mem::take(&mut ingested.conflicts) {
            report.conflict_lines.push(ConflictLine {
                line: lines[c.position],
                id: c.id,
                reason: c.reason,
            });
        }
        report.ingest.add(ingested);
    }
    report.rejected_lines.sort_by_key(|r| r.line);
    report.rejected = report.rejected_lines.len() as u64;
    report.conflict_lines.sort_by_key(|r| r.line);
    report.conflicts = report.conflict_lines.len() as u64;
    Ok(report)
}

/// Routes a batch of parsed events to accounts: one query for the account ids named,
/// one for the aliases. Events that route nowhere are rejected.
async fn resolve_batch(
    pool: &PgPool,
    org: &str,
    batch: Vec<(u64, ValidEvent, Target)>,
    rejected: &mut Vec<RejectedLine>,
) -> Result<Vec<(u64, NewEvent)>> {
    let mut names: Vec<String> = batch.iter().map(|(_, e, _)| e.account.clone()).collect();
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
        .filter(|(_, e, t)| *t == Target::Alias || !accounts.contains(&e.account))
        .map(|(_, e, _)| e.account.clone())
        .collect();
    alias_names.sort_unstable();
    alias_names.dedup();
    let book = if alias_names.is_empty() {
        AliasBook::default()
    } else {
        AliasBook::load(pool, org, &alias_names).await?
    };
    let mut events = Vec::with_capacity(batch.len());
    for (line, e, target) in batch {
        let a = &e.account;
        let account = match target {
            Target::AccountId if accounts.contains(a) => Ok(a.clone()),
            Target::AccountId => match book.resolve(a, e.timestamp) {
                Resolution::Account(id) => Ok(id.to_string()),
                Resolution::UnknownAlias => {
                    Err(format!("accountId: unknown account or alias {a:?}"))
                }
                Resolution::NotInEffect => Err(format!(
                    "accountId: alias {a:?} routes to no account at {}",
                    e.timestamp.to_rfc3339()
                )),
            },
            Target::Alias => match book.resolve(a, e.timestamp) {
                Resolution::Account(id) => Ok(id.to_string()),
                Resolution::UnknownAlias => Err(format!("alias: unknown alias {a:?}")),
                Resolution::NotInEffect => Err(format!(
                    "alias: alias {a:?} routes to no account at {}",
                    e.timestamp.to_rfc3339()
                )),
            },
        };
        match account {
            Ok(account_id) => events.push((
                line,
                NewEvent {
                    id: e.id,
                    account_id,
                    schema_name: e.schema_name,
                    timestamp: e.timestamp,
                    attributes: e.attributes,
                    dimensions: e.dimensions,
                },
            )),
            Err(reason) => rejected.push(RejectedLine { line, reason }),
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"schemaName":"api","id":"e1","timestamp":"2026-01-05T10:00:00+01:00","accountId":"acc","attributes":[{"name":"tokens","value":0.1,"unit":"k"},{"name":"bytes","value":"12.50"}],"dimensions":{"region":"eu"}}"#;

    fn schemas() -> HashMap<String, EventSchema> {
        HashMap::from([(
            "api".to_string(),
            EventSchema {
                name: "api".into(),
                attributes: vec!["tokens".into(), "bytes".into()],
                dimensions: vec!["region".into()],
            },
        )])
    }

    #[test]
    fn a_togai_event_parses_exactly() {
        let (e, target) = parse_line(GOOD, &schemas()).unwrap();
        assert_eq!(e.timestamp.to_rfc3339(), "2026-01-05T09:00:00+00:00");
        assert_eq!(e.attributes["tokens"], Decimal::new(1, 1));
        assert_eq!(e.attributes["bytes"].to_string(), "12.50");
        assert_eq!((e.account.as_str(), target), ("acc", Target::AccountId));
        assert_eq!(e.dimensions["region"], "eu");
    }

    #[test]
    fn bad_lines_say_why() {
        let with = |f: &dyn Fn(&mut Value)| {
            let mut v: Value = serde_json::from_str(GOOD).unwrap();
            f(&mut v);
            parse_line(&v.to_string(), &schemas()).unwrap_err()
        };
        assert!(parse_line("{oops", &schemas())
            .unwrap_err()
            .contains("not valid JSON"));
        assert!(with(&|v| {
            v.as_object_mut().unwrap().remove("id");
        })
        .contains("missing field \"id\""));
        assert!(with(&|v| v["timestamp"] = "yesterday".into()).starts_with("timestamp:"));
        assert!(with(&|v| v["timestamp"] = "2026-01-05T10:00:00".into()).contains("UTC offset"));
        assert!(with(&|v| v["attributes"][0]["value"] = "ten".into())
            .starts_with("attributes[0].value"));
        assert_eq!(
            with(&|v| v["attributes"][1]["value"] = (-500).into()),
            "attributes[1].value: -500 is negative: usage quantities must be 0 or more \
             (attribute bytes)"
        );
        assert!(with(&|v| v["alias"] = "x".into()).contains("not both"));
        assert!(with(&|v| v["dimensions"]["region"] = 3.into()).starts_with("dimensions.region"));
        assert!(with(&|v| v["colour"] = "red".into()).contains("unknown field"));
        assert!(with(&|v| v["schemaName"] = "web".into()).starts_with("schemaName: unknown"));
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
