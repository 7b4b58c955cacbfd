//! Togai events as JSON lines ([`ingest_json_lines`]): each line parsed and validated,
//! routed to its account (by id, or by alias at the event's instant), and reported
//! with its number and reason when rejected.

use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value};
use sqlx::PgPool;

use super::*;
use crate::catalog::aliases::{AliasBook, Resolution};
use crate::catalog::meters::EventSchema;
use crate::catalog::{input, CatalogError, Result};
use crate::store::OrgId;

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
pub(super) fn decimal(v: &Value) -> Option<Decimal> {
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
    if !v.is_object() {
        return Err("expected a JSON object (one event per line)".into());
    }
    parse_value(&v, schemas)
}

/// Parses one event given as a JSON object into a valid event and who it is for, or
/// says what is wrong (`field: reason`, the field as a JSON path): [`parse_line`]
/// without the text.
fn parse_value(
    v: &Value,
    schemas: &HashMap<String, EventSchema>,
) -> Result<(ValidEvent, Target), String> {
    let Value::Object(o) = v else {
        return Err("expected a JSON object (an event)".into());
    };
    if let Some(unknown) = o.keys().find(|k| !EVENT_FIELDS.contains(&k.as_str())) {
        return Err(format!(
            "unknown field {}: expected {}",
            input::shown(unknown),
            EVENT_FIELDS.join(", ")
        ));
    }
    let id = required_string(o, "id")?;
    let schema_name = required_string(o, "schemaName")?;
    let timestamp = required_string(o, "timestamp")?;
    let (account, target) = match (
        optional_string(o, "accountId")?,
        optional_string(o, "alias")?,
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
    org: &OrgId,
    mut input: impl BufRead,
) -> Result<LinesReport> {
    crate::catalog::orgs::get(pool, org).await?;
    let schemas: HashMap<String, EventSchema> = crate::catalog::meters::schemas(pool, org)
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
            // A UTF-8 byte order mark (as Windows tools write text) is not part of
            // the first line's JSON.
            let text = if line_no == 1 {
                buf.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(&buf)
            } else {
                &buf[..]
            };
            let parsed = match std::str::from_utf8(text) {
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
        ingest_batch(pool, org, batch, &mut report).await?;
    }
    Ok(report.finish())
}

/// Togai events given as JSON objects (the `events` of an HTTP `/ingestBatch`, or the
/// one `event` of `/ingest`): the same parsing, validation, routing, idempotency and
/// reporting as [`ingest_json_lines`], event by event, where the "line" of an event
/// is its 1-based position in `events` (`line - 1` is its index). Errors: the
/// organisation does not exist, or the database fails (batches of [`BATCH_SIZE`]
/// before the failure stay committed; sending the same events again is safe).
pub async fn ingest_json_values(
    pool: &PgPool,
    org: &OrgId,
    events: &[Value],
) -> Result<LinesReport> {
    crate::catalog::orgs::get(pool, org).await?;
    let schemas: HashMap<String, EventSchema> = crate::catalog::meters::schemas(pool, org)
        .await?
        .into_iter()
        .map(|s| (s.name.clone(), s))
        .collect();
    let mut report = LinesReport::default();
    for (chunk_no, chunk) in events.chunks(BATCH_SIZE).enumerate() {
        let mut batch: Vec<(u64, ValidEvent, Target)> = Vec::with_capacity(chunk.len());
        for (i, v) in chunk.iter().enumerate() {
            let line = (chunk_no * BATCH_SIZE + i + 1) as u64;
            report.read += 1;
            match parse_value(v, &schemas) {
                Ok((e, target)) => batch.push((line, e, target)),
                Err(reason) => report.rejected_lines.push(RejectedLine { line, reason }),
            }
        }
        ingest_batch(pool, org, batch, &mut report).await?;
    }
    Ok(report.finish())
}

impl LinesReport {
    /// Sorts the rejected and conflicting lines and counts them.
    fn finish(mut self) -> LinesReport {
        self.rejected_lines.sort_by_key(|r| r.line);
        self.rejected = self.rejected_lines.len() as u64;
        self.conflict_lines.sort_by_key(|r| r.line);
        self.conflicts = self.conflict_lines.len() as u64;
        self
    }
}

/// Routes and inserts one batch of parsed events, adding what happened to `report`.
async fn ingest_batch(
    pool: &PgPool,
    org: &str,
    batch: Vec<(u64, ValidEvent, Target)>,
    report: &mut LinesReport,
) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
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
    Ok(())
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
            EventSchema::new(
                "api".into(),
                vec!["tokens".into(), "bytes".into()],
                vec!["region".into()],
            ),
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
    fn an_inactive_schema_accepts_no_events() {
        let mut off = schemas();
        off.get_mut("api").unwrap().status = crate::store::status::CatalogStatus::Inactive;
        assert_eq!(
            parse_line(GOOD, &off).unwrap_err(),
            "schemaName: event schema \"api\" is INACTIVE: it accepts no events until it is \
             activated"
        );
    }
}
