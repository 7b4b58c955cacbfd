//! Reading the operations document (`{"operations": [...]}`) into operations, or into
//! the errors of each one that cannot be read.

use serde_json::Value;

use super::{card_name, ActionType};
use crate::error::FieldError;
use crate::plan::CardKind;

/// Reads `rateCard.type`: a kind billrun bills, else an error naming the kinds it
/// does.
fn parse_card_kind(v: &Value) -> Result<CardKind, String> {
    let Some(s) = v.as_str() else {
        return Err("expected a string".into());
    };
    if let Some(t) = CardKind::ALL.into_iter().find(|t| t.as_str() == s) {
        return Ok(t);
    }
    let names: Vec<_> = CardKind::ALL.iter().map(|t| t.as_str()).collect();
    Err(format!(
        "unknown rate card type {s:?}: expected one of {}",
        names.join(", ")
    ))
}

pub(super) struct RateCard {
    pub(super) kind: Option<CardKind>,
    pub(super) details: Value,
}

pub(super) struct Op {
    pub(super) action: ActionType,
    pub(super) name: Option<String>,
    pub(super) card: Option<RateCard>,
}

impl Op {
    /// The card's name as shown in errors: `rateCardName`, else the new card's name.
    pub(super) fn label_name(&self) -> Option<String> {
        self.name.clone().or_else(|| {
            let card = self.card.as_ref()?;
            card_name(card.kind?, &card.details)
        })
    }
}

type BadOp = (Option<ActionType>, Option<String>, Vec<FieldError>);

/// The operations, each read or refused; errors of the document itself go to
/// `general`.
pub(super) fn read_operations(
    doc: &Value,
    general: &mut Vec<FieldError>,
) -> Vec<Result<Op, BadOp>> {
    let Some(map) = doc.as_object() else {
        general.push(FieldError::new(
            "",
            "expected an object {\"operations\": [...]}",
        ));
        return Vec::new();
    };
    for key in map.keys().filter(|k| *k != "operations") {
        general.push(FieldError::new(
            key.as_str(),
            "unknown field; expected operations",
        ));
    }
    let items = match map.get("operations") {
        Some(Value::Array(items)) => items,
        Some(_) => {
            general.push(FieldError::new("operations", "expected an array"));
            return Vec::new();
        }
        None => {
            general.push(FieldError::new("operations", "is required"));
            return Vec::new();
        }
    };
    if items.is_empty() {
        general.push(FieldError::new("operations", "list at least one operation"));
    }
    items.iter().map(read_operation).collect()
}

const OP_KEYS: &[&str] = &["actionType", "rateCardName", "rateCard"];
const RATE_CARD_KEYS: &[&str] = &["type", "rateCardDetails"];

pub(super) fn read_operation(v: &Value) -> Result<Op, BadOp> {
    let mut errors = Vec::new();
    let Some(map) = v.as_object() else {
        return Err((None, None, vec![FieldError::new("", "expected an object")]));
    };
    for key in map.keys().filter(|k| !OP_KEYS.contains(&k.as_str())) {
        errors.push(FieldError::new(
            key.as_str(),
            format!("unknown field; expected one of: {}", OP_KEYS.join(", ")),
        ));
    }
    let present = |key: &str| map.get(key).filter(|v| !v.is_null());
    let action = match present("actionType").map(Value::as_str) {
        None => {
            errors.push(FieldError::new("actionType", "is required"));
            None
        }
        Some(Some("CREATE")) => Some(ActionType::Create),
        Some(Some("UPDATE")) => Some(ActionType::Update),
        Some(Some("DELETE")) => Some(ActionType::Delete),
        Some(_) => {
            errors.push(FieldError::new(
                "actionType",
                format!("{} is not one of CREATE, UPDATE, DELETE", map["actionType"]),
            ));
            None
        }
    };
    let name = match present("rateCardName") {
        None => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(Value::String(_)) => {
            errors.push(FieldError::new("rateCardName", "must not be empty"));
            None
        }
        Some(_) => {
            errors.push(FieldError::new("rateCardName", "expected a string"));
            None
        }
    };
    let card = match present("rateCard") {
        None => None,
        Some(Value::Object(rc)) => {
            for key in rc.keys().filter(|k| !RATE_CARD_KEYS.contains(&k.as_str())) {
                errors.push(FieldError::new(
                    format!("rateCard.{key}"),
                    "unknown field; expected type and rateCardDetails (the card itself, as \
                     in a plan file, goes in rateCardDetails)",
                ));
            }
            let kind = match rc.get("type").filter(|v| !v.is_null()) {
                None => None,
                Some(t) => match parse_card_kind(t) {
                    Ok(t) => Some(t),
                    Err(m) => {
                        errors.push(FieldError::new("rateCard.type", m));
                        None
                    }
                },
            };
            match rc.get("rateCardDetails").filter(|v| !v.is_null()) {
                Some(d @ Value::Object(_)) => Some(RateCard {
                    kind,
                    details: d.clone(),
                }),
                Some(_) => {
                    errors.push(FieldError::new(
                        "rateCard.rateCardDetails",
                        "expected an object: the rate card, as in a plan file",
                    ));
                    None
                }
                None => {
                    if action != Some(ActionType::Delete) {
                        errors.push(FieldError::new("rateCard.rateCardDetails", "is required"));
                    }
                    None
                }
            }
        }
        Some(_) => {
            errors.push(FieldError::new(
                "rateCard",
                "expected an object {\"type\": ..., \"rateCardDetails\": {...}}",
            ));
            None
        }
    };
    match action {
        Some(ActionType::Create) => {
            if present("rateCard").is_none() {
                errors.push(FieldError::new(
                    "rateCard",
                    "is required for CREATE: {\"type\": ..., \"rateCardDetails\": {...}}",
                ));
            } else if let Some(RateCard { kind: None, .. }) = &card {
                if map["rateCard"].get("type").is_none_or(Value::is_null) {
                    errors.push(FieldError::new(
                        "rateCard.type",
                        "is required for CREATE: USAGE, FIXED_FEE, LICENSE, CREDIT_GRANT or \
                         MINIMUM_COMMITMENT",
                    ));
                }
            }
        }
        Some(ActionType::Update) => {
            if name.is_none() && present("rateCardName").is_none() {
                errors.push(FieldError::new(
                    "rateCardName",
                    "is required for UPDATE: the card to replace",
                ));
            }
            if present("rateCard").is_none() {
                errors.push(FieldError::new(
                    "rateCard",
                    "is required for UPDATE: {\"rateCardDetails\": {...the whole card...}}",
                ));
            }
        }
        Some(ActionType::Delete) => {
            if name.is_none() && present("rateCardName").is_none() {
                errors.push(FieldError::new(
                    "rateCardName",
                    "is required for DELETE: the card to remove",
                ));
            }
            if present("rateCard").is_some() {
                errors.push(FieldError::new(
                    "rateCard",
                    "must not be given for DELETE: the card is removed by rateCardName",
                ));
            }
        }
        None => {}
    }
    let label = name.clone().or_else(|| {
        let rc = card.as_ref()?;
        card_name(rc.kind?, &rc.details)
    });
    match action {
        Some(action) if errors.is_empty() => Ok(Op { action, name, card }),
        _ => Err((action, label, errors)),
    }
}
