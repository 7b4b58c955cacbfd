//! Bulk rate card operations on a plan: Togai's `{"operations": [...]}`, applied all
//! or nothing, with the errors reported per operation.
//!
//! The input is a plan's JSON (a draft's canonical definition) and an operations
//! document:
//!
//! ```json
//! {"operations": [
//!   {"actionType": "CREATE",
//!    "rateCard": {"type": "USAGE", "rateCardDetails": {"name": "storage", "...": "..."}}},
//!   {"actionType": "UPDATE", "rateCardName": "api_calls",
//!    "rateCard": {"rateCardDetails": {"...": "the whole card"}}},
//!   {"actionType": "DELETE", "rateCardName": "seats"}
//! ]}
//! ```
//!
//! - `rateCard` is Togai's `RateCardData` wrapper: `type` (USAGE, FIXED_FEE, LICENSE,
//!   CREDIT_GRANT, MINIMUM_COMMITMENT) and `rateCardDetails`, the card exactly as it is
//!   written in a plan file (`usageRateCards[..]`, `fixedFeeRateCards[..]`, ...,
//!   `minimumCommitment`). The wrapper keeps the kind apart from the card's own fields
//!   (a fixed fee's own `type` is ONE_TIME or RECURRING).
//! - **CREATE** appends the card to its kind's list (or sets `minimumCommitment`,
//!   which a plan has at most one of). `type` and `rateCardDetails` are required; the
//!   card's name is `rateCardDetails.name`, else `rateCardName` (if both are given they
//!   must agree). The name must not be taken by any card of the plan, of any kind.
//! - **UPDATE** replaces the card named `rateCardName`, in place, with
//!   `rateCardDetails` (a whole card, not a patch: what is not given is not kept). `type`
//!   may be omitted; if given it must be the card's kind (changing the kind is a DELETE
//!   and a CREATE). Without a `name` the card keeps its name; another name renames it
//!   (if free).
//! - **DELETE** removes the card named `rateCardName`; it carries no `rateCard`.
//! - Operations apply in order, each to the result of the previous ones (a batch may
//!   DELETE a card and CREATE another with its name, or UPDATE a card it created).
//!
//! Then the whole resulting plan is validated by [`Plan::from_json`]. Each field
//! error is mapped back to the operation that last wrote the card it is in, with a path
//! relative to that operation (`rateCard.rateCardDetails.ratePlan.slabs[1].startAfter`).
//! Errors in a card no operation touched (e.g. "no rate for EUR" once the only card
//! pricing EUR is deleted) are reported under that card's name. If any operation
//! fails, the result is the list of [`OperationError`]s (one per failing operation or
//! card, each with all its field errors) and no plan.
//!
//! This module owns the batch (applying it, mapping errors back to operations); the
//! private `read` reads the operations document and `edit` holds the plan being
//! edited.

mod edit;
mod read;

use std::collections::BTreeMap;
use std::fmt;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::error::FieldError;
use crate::plan::{CardKind, Plan};
use edit::State;
use read::read_operations;

/// What an operation does (Togai's `actionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActionType {
    /// Add a card.
    Create,
    /// Replace a card, by name.
    Update,
    /// Remove a card, by name.
    Delete,
}

impl ActionType {
    /// As written in the operations file.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionType::Create => "CREATE",
            ActionType::Update => "UPDATE",
            ActionType::Delete => "DELETE",
        }
    }
}

/// Everything wrong with one operation (or with one card no operation touched, or
/// with the documents themselves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationError {
    /// Its index in `operations`; `None` when no single operation is to blame.
    pub operation: Option<usize>,
    /// The operation's `actionType`, when it could be read.
    pub action_type: Option<ActionType>,
    /// The card concerned, when known.
    pub rate_card_name: Option<String>,
    /// What is wrong. Paths are relative to the operation (`rateCard.rateCardDetails...`)
    /// when `operation` is set, else to the plan (or the operations file).
    pub errors: Vec<FieldError>,
}

impl Serialize for OperationError {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Detail<'a> {
            path: &'a str,
            message: &'a str,
        }
        let errors: Vec<Detail> = self
            .errors
            .iter()
            .map(|e| Detail {
                path: &e.path,
                message: &e.message,
            })
            .collect();
        let mut st = s.serialize_struct("OperationError", 4)?;
        st.serialize_field("operation", &self.operation)?;
        st.serialize_field("actionType", &self.action_type)?;
        st.serialize_field("rateCardName", &self.rate_card_name)?;
        st.serialize_field("errors", &errors)?;
        st.end()
    }
}

impl fmt::Display for OperationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.operation, &self.rate_card_name) {
            (Some(i), name) => {
                write!(f, "operations[{i}]")?;
                let action = self.action_type.map(ActionType::as_str);
                match (action, name) {
                    (Some(a), Some(n)) => write!(f, " ({a} {n})")?,
                    (Some(a), None) => write!(f, " ({a})")?,
                    (None, Some(n)) => write!(f, " ({n})")?,
                    (None, None) => {}
                }
            }
            (None, Some(n)) => write!(f, "rate card {n} (not changed by any operation)")?,
            (None, None) => write!(f, "the operations")?,
        }
        f.write_str(":")?;
        for e in &self.errors {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

/// Why a batch was refused: one entry per failing operation or card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct OperationErrors(pub Vec<OperationError>);

impl fmt::Display for OperationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for OperationErrors {}

/// Applies `operations` (Togai's bulk rate card operations document) to `plan` (a
/// plan's JSON) and returns the validated result, or every problem, per operation.
/// See the module documentation for the rules.
pub fn apply_operations(plan: &Value, operations: &Value) -> Result<Plan, OperationErrors> {
    let mut general: Vec<FieldError> = Vec::new();
    let mut state = State::read(plan, &mut general);
    let ops = read_operations(operations, &mut general);
    if !general.is_empty() {
        return Err(OperationErrors(vec![OperationError {
            operation: None,
            action_type: None,
            rate_card_name: None,
            errors: general,
        }]));
    }

    // Per operation: its label and its errors.
    let mut failures: BTreeMap<usize, Vec<FieldError>> = BTreeMap::new();
    let mut labels: Vec<(Option<ActionType>, Option<String>)> = Vec::new();
    for (i, op) in ops.into_iter().enumerate() {
        match op {
            Ok(op) => {
                labels.push((Some(op.action), op.label_name()));
                if let Err(errors) = state.apply(i, op) {
                    failures.entry(i).or_default().extend(errors);
                }
            }
            Err((action, name, errors)) => {
                labels.push((action, name));
                failures.entry(i).or_default().extend(errors);
            }
        }
    }

    // The whole result, validated; its errors belong to the card they are in.
    let (json, positions) = state.write();
    let mut by_card: BTreeMap<usize, Vec<FieldError>> = BTreeMap::new();
    let mut plan_level: Vec<FieldError> = Vec::new();
    let parsed = Plan::from_json(&json);
    if let Err(errors) = &parsed {
        for e in &errors.0 {
            let Some((kind, pos, rest)) = locate(&e.path) else {
                plan_level.push(e.clone());
                continue;
            };
            let Some(&card_index) = positions.get(&kind).and_then(|p| p.get(pos)) else {
                plan_level.push(e.clone());
                continue;
            };
            match state.cards[card_index].origin {
                Some(op) => failures
                    .entry(op)
                    .or_default()
                    .push(FieldError::new(within_details(rest), e.message.clone())),
                None => by_card.entry(card_index).or_default().push(e.clone()),
            }
        }
    }
    if failures.is_empty() && by_card.is_empty() && plan_level.is_empty() {
        return parsed.map_err(|_| unreachable!("a plan with no errors parses"));
    }

    let mut out: Vec<OperationError> = failures
        .into_iter()
        .map(|(i, errors)| {
            let (action_type, rate_card_name) = labels[i].clone();
            OperationError {
                operation: Some(i),
                action_type,
                rate_card_name,
                errors,
            }
        })
        .collect();
    out.extend(by_card.into_iter().map(|(card, errors)| OperationError {
        operation: None,
        action_type: None,
        rate_card_name: Some(state.cards[card].name()),
        errors,
    }));
    if !plan_level.is_empty() {
        out.push(OperationError {
            operation: None,
            action_type: None,
            rate_card_name: None,
            errors: plan_level,
        });
    }
    Err(OperationErrors(out))
}

/// `rest` of a card path (`.ratePlan.slabs[1]`, `[0]`, ``) as seen from an operation.
fn within_details(rest: &str) -> String {
    format!("rateCard.rateCardDetails{rest}")
}

/// Which card a plan path points into: its kind, its position in its kind's list
/// (0 for the minimum commitment) and the rest of the path (`.rateValues`, or empty).
fn locate(path: &str) -> Option<(CardKind, usize, &str)> {
    for kind in CardKind::ALL {
        let Some(rest) = path.strip_prefix(kind.plan_key()) else {
            continue;
        };
        if kind == CardKind::MinimumCommitment {
            if rest.is_empty() || rest.starts_with('.') {
                return Some((kind, 0, rest));
            }
            continue;
        }
        let rest = rest.strip_prefix('[')?;
        let close = rest.find(']')?;
        let pos = rest[..close].parse().ok()?;
        let rest = &rest[close + 1..];
        return Some((kind, pos, rest));
    }
    None
}

/// A card's name; the minimum commitment's defaults to `minimum_commitment`.
pub fn card_name(kind: CardKind, v: &Value) -> Option<String> {
    match v.get("name").and_then(Value::as_str) {
        Some(n) => Some(n.to_string()),
        None if kind == CardKind::MinimumCommitment => Some("minimum_commitment".into()),
        None => None,
    }
}

#[cfg(test)]
mod tests;
