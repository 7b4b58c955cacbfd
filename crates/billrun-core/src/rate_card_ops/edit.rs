//! The plan being edited: its cards by kind, one operation applied to them, and the
//! plan JSON written back (with where each card ended up, to map errors back).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::read::{Op, RateCard};
use super::{card_name, ActionType};
use crate::error::FieldError;
use crate::plan::CardKind;

pub(super) struct Card {
    kind: CardKind,
    value: Value,
    /// The operation that last wrote this card; `None` if it came with the plan.
    pub(super) origin: Option<usize>,
}

impl Card {
    pub(super) fn name(&self) -> String {
        card_name(self.kind, &self.value).unwrap_or_default()
    }
}

pub(super) struct State {
    /// The plan without its cards.
    rest: Map<String, Value>,
    /// Every card, in plan order (kinds interleave only through CREATE).
    pub(super) cards: Vec<Card>,
}

impl State {
    pub(super) fn read(plan: &Value, errors: &mut Vec<FieldError>) -> State {
        let mut state = State {
            rest: Map::new(),
            cards: Vec::new(),
        };
        let Some(map) = plan.as_object() else {
            errors.push(FieldError::new("", "the plan is not a JSON object"));
            return state;
        };
        state.rest = map.clone();
        for kind in CardKind::ALL {
            let Some(v) = state.rest.remove(kind.plan_key()) else {
                continue;
            };
            match (kind, v) {
                (_, Value::Null) => {}
                (CardKind::MinimumCommitment, v) => state.cards.push(Card {
                    kind,
                    value: v,
                    origin: None,
                }),
                (_, Value::Array(items)) => {
                    state.cards.extend(items.into_iter().map(|value| Card {
                        kind,
                        value,
                        origin: None,
                    }))
                }
                (_, _) => errors.push(FieldError::new(kind.plan_key(), "expected an array")),
            }
        }
        state
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.cards.iter().position(|c| c.name() == name)
    }

    fn taken(&self, name: &str, except: Option<usize>) -> Result<(), String> {
        match self.find(name) {
            Some(i) if Some(i) != except => Err(format!(
                "{name:?} is already the name of a {} rate card of the plan: card names \
                 must be unique in a plan",
                self.cards[i].kind.as_str()
            )),
            _ => Ok(()),
        }
    }

    fn unknown(&self, name: &str) -> FieldError {
        let names: Vec<String> = self.cards.iter().map(Card::name).collect();
        FieldError::new(
            "rateCardName",
            format!(
                "the plan has no rate card named {name:?} (its cards: {})",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ),
        )
    }

    /// Applies one operation, or changes nothing and says why.
    pub(super) fn apply(&mut self, index: usize, op: Op) -> Result<(), Vec<FieldError>> {
        match op.action {
            ActionType::Create => {
                let (kind, mut details) = match op.card {
                    Some(RateCard {
                        kind: Some(kind),
                        details,
                    }) => (kind, details),
                    _ => unreachable!("read_operation requires them for CREATE"),
                };
                let name = match (card_name(kind, &details), &op.name) {
                    (Some(n), Some(given)) if details.get("name").is_some() && &n != given => {
                        return Err(vec![FieldError::new(
                            "rateCardName",
                            format!("{given:?} differs from rateCard.rateCardDetails.name {n:?}"),
                        )]);
                    }
                    (_, Some(given)) => {
                        if let Some(m) = details.as_object_mut() {
                            m.insert("name".into(), Value::String(given.clone()));
                        }
                        given.clone()
                    }
                    (Some(n), None) => n,
                    (None, None) => {
                        return Err(vec![FieldError::new(
                            "rateCard.rateCardDetails.name",
                            "is required (or give rateCardName)",
                        )])
                    }
                };
                if kind == CardKind::MinimumCommitment {
                    if let Some(existing) = self.cards.iter().find(|c| c.kind == kind) {
                        return Err(vec![FieldError::new(
                            "rateCard.type",
                            format!(
                                "the plan has a minimum commitment already ({}): UPDATE or \
                                 DELETE it",
                                existing.name()
                            ),
                        )]);
                    }
                }
                self.taken(&name, None)
                    .map_err(|m| vec![FieldError::new("rateCard.rateCardDetails.name", m)])?;
                self.cards.push(Card {
                    kind,
                    value: details,
                    origin: Some(index),
                });
                Ok(())
            }
            ActionType::Update => {
                let name = op.name.expect("read_operation requires it for UPDATE");
                let card = op.card.expect("read_operation requires it for UPDATE");
                let Some(at) = self.find(&name) else {
                    return Err(vec![self.unknown(&name)]);
                };
                let existing = &self.cards[at];
                if let Some(kind) = card.kind {
                    if kind != existing.kind {
                        return Err(vec![FieldError::new(
                            "rateCard.type",
                            format!(
                                "{name:?} is a {} rate card, not {}: to change its kind, DELETE \
                                 it and CREATE the new card",
                                existing.kind.as_str(),
                                kind.as_str()
                            ),
                        )]);
                    }
                }
                let mut details = card.details;
                match details.get("name").and_then(Value::as_str) {
                    Some(new) if new != name => self
                        .taken(new, Some(at))
                        .map_err(|m| vec![FieldError::new("rateCard.rateCardDetails.name", m)])?,
                    Some(_) => {}
                    None => {
                        // Keep its name (the minimum commitment may have none).
                        if let (Some(m), Some(old)) =
                            (details.as_object_mut(), existing.value.get("name"))
                        {
                            m.insert("name".into(), old.clone());
                        }
                    }
                }
                let kind = existing.kind;
                self.cards[at] = Card {
                    kind,
                    value: details,
                    origin: Some(index),
                };
                Ok(())
            }
            ActionType::Delete => {
                let name = op.name.expect("read_operation requires it for DELETE");
                let Some(at) = self.find(&name) else {
                    return Err(vec![self.unknown(&name)]);
                };
                self.cards.remove(at);
                Ok(())
            }
        }
    }

    /// The plan JSON, and for each kind the index in `cards` of each of its positions.
    pub(super) fn write(&self) -> (Value, BTreeMap<CardKind, Vec<usize>>) {
        let mut m = self.rest.clone();
        let mut positions: BTreeMap<CardKind, Vec<usize>> = BTreeMap::new();
        for kind in CardKind::ALL {
            let indices: Vec<usize> = (0..self.cards.len())
                .filter(|&i| self.cards[i].kind == kind)
                .collect();
            if indices.is_empty() {
                continue;
            }
            if kind == CardKind::MinimumCommitment {
                // At most one: CREATE refuses a second.
                m.insert(kind.plan_key().into(), self.cards[indices[0]].value.clone());
            } else {
                let list = indices.iter().map(|&i| self.cards[i].value.clone());
                m.insert(kind.plan_key().into(), Value::Array(list.collect()));
            }
            positions.insert(kind, indices);
        }
        (Value::Object(m), positions)
    }
}
