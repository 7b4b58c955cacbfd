//! A re-sent event against the recorded one: which recorded events share ids
//! ([`recorded_events`]), how two events differ ([`event_differences`]), and the message
//! a conflict gets ([`conflict_message`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

use super::lines::decimal;
use super::*;
use crate::catalog::{CatalogError, Result};

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
