//! Usage meter computations: ordered JSON-logic `matcher` / `computation` pairs that
//! turn one usage event into the quantity a meter adds for it (Togai's `Computation`:
//! `id`, `matcher`, `computation`, `order`; <https://docs.togai.com/docs/usage-meter>,
//! "Transformation": "transforming them into a new variable by applying a custom formula
//! using jsonLogic syntax").
//!
//! Semantics (README "HTTP API", "Usage meter computations"; the catalog keeps at most
//! one computation per meter, Togai's `UsageMeter` limit, while this module evaluates
//! ordered lists):
//! - An event is evaluated as the JSON document
//!   `{"attributes": {name: number, ...}, "dimensions": {name: string, ...}}`, so a rule
//!   reads `{"var": "attributes.tokens"}` or `{"var": "dimensions.model"}`.
//! - Computations are tried by ascending `order` (two computations of one meter may not
//!   share an order); the **first** whose matcher is [truthy](https://jsonlogic.com/truthy.html)
//!   (an absent matcher always matches) gives the event's value; later ones are not
//!   evaluated. Togai's client describes `order` as "the order in which multiple matched
//!   computations will get evaluated"; first match wins is billrun's reading, so that an
//!   event is never counted twice by one meter.
//! - An event that no computation matches adds nothing (it is not counted by a COUNT
//!   meter either).
//! - A COUNT meter's computations are `"1"` (Togai: "In case of a COUNT aggregation type,
//!   computation should be passed as '1'"): it counts the events some computation
//!   matches. A SUM meter sums the computed values.
//! - A computation may be a bare attribute name (`"tokens"`), shorthand for
//!   `{"var": "attributes.tokens"}` (what Togai's client sends for a plain SUM meter).
//! - JSON-logic arithmetic is IEEE double precision (the JSON-logic definition); the
//!   value of an event is converted to a decimal through its shortest decimal form and
//!   summed as a decimal. A result that is not a number (or a numeric string) is an
//!   error naming the computation.
//!
//! The evaluator is [`datalogic_rs`] 5.4 (<https://docs.rs/datalogic-rs/5.4.0>): of the
//! Rust JSON-logic crates it is the maintained one (releases through 2026, the shared
//! core of bindings for several languages, the JSON-logic test suites run in its CI),
//! it compiles a rule once and evaluates it many times, and it takes
//! `serde_json::Value` data directly. `jsonlogic-rs` and `json-logic-rs` evaluate over
//! `serde_json::Value` too but have had no release for years. 5.4.0 is the newest
//! release whose minimum Rust (1.85) is the workspace's.

use std::fmt;
use std::str::FromStr;

use datalogic_rs::{Engine, Logic};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The most computations one meter has.
pub const MAX_COMPUTATIONS: usize = 50;

/// One matcher / computation pair, as Togai's `Computation` and as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Computation {
    /// An identifier of the pair (kept and shown, not used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// JSON-logic condition over the event (absent: every event matches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matcher: Option<String>,
    /// JSON-logic expression giving the event's value (or a bare attribute name).
    pub computation: String,
    /// Ascending: the order in which matchers are tried.
    pub order: i64,
}

/// Why computations were refused: the index in the list as given, the field
/// (`matcher` or `computation`, or `order`), and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputationError {
    /// Index in the list as given.
    pub index: usize,
    /// `matcher`, `computation` or `order`.
    pub field: &'static str,
    /// What is wrong: the parse position or the operator.
    pub message: String,
}

impl ComputationError {
    /// The path of the offending field: `computations[1].matcher`.
    pub fn path(&self) -> String {
        format!("computations[{}].{}", self.index, self.field)
    }
}

impl fmt::Display for ComputationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path(), self.message)
    }
}

/// Whether `s` is a bare attribute name (letters, digits, `_`, `-`, starting with a
/// letter or `_`, not the JSON literals `true`, `false`, `null`), the shorthand for
/// `{"var": "attributes.<s>"}`.
pub fn is_bare_name(s: &str) -> bool {
    !matches!(s, "true" | "false" | "null")
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
}

/// The JSON-logic rule a computation or matcher text stands for.
fn rule_of(text: &str) -> Result<Value, String> {
    let text = text.trim();
    if is_bare_name(text) {
        return Ok(serde_json::json!({ "var": format!("attributes.{text}") }));
    }
    serde_json::from_str(text).map_err(|e| {
        format!(
            "not JSON-logic: {e} (at line {}, column {})",
            e.line(),
            e.column()
        )
    })
}

/// Refuses an object that is not one known operator applied to its arguments,
/// naming the operator and its position (a JSON pointer into the rule: `/and/1`).
/// `datalogic_rs` compiles an unknown operator as a literal object; a meter rule with
/// one is a mistake.
fn check_operators(engine: &Engine, rule: &Value, at: &str) -> Result<(), String> {
    match rule {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check_operators(engine, v, &format!("{at}/{i}"))),
        Value::Object(map) => {
            let mut keys = map.keys();
            let (Some(op), None) = (keys.next(), keys.next()) else {
                return Err(format!(
                    "at {:?}: an operation is an object of exactly one operator, not {} keys",
                    if at.is_empty() { "/" } else { at },
                    map.len()
                ));
            };
            if !engine.builtin_operator_names().any(|n| n == op) {
                return Err(format!(
                    "at {:?}: unknown operator {op:?}",
                    if at.is_empty() { "/" } else { at }
                ));
            }
            check_operators(engine, &map[op], &format!("{at}/{op}"))
        }
        _ => Ok(()),
    }
}

struct Compiled {
    matcher: Option<Logic>,
    computation: Logic,
    /// Index in the list as given.
    index: usize,
}

/// A meter's computations compiled, in evaluation order.
pub struct MeterLogic {
    engine: Engine,
    items: Vec<Compiled>,
}

impl fmt::Debug for MeterLogic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MeterLogic")
            .field("computations", &self.items.len())
            .finish()
    }
}

/// Whether a JSON-logic result is truthy (<https://jsonlogic.com/truthy.html>):
/// `false`, `null`, `0`, `""` and `[]` are not; everything else is.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(_) => true,
    }
}

/// A JSON-logic number (or numeric string) as a decimal, through its shortest decimal
/// form; `None` for anything else (or a non-finite number).
pub fn decimal_of(v: &Value) -> Option<Decimal> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return None,
    };
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .ok()
        .map(|d| d.normalize())
}

impl MeterLogic {
    /// Compiles `computations` (at most [`MAX_COMPUTATIONS`], distinct orders). Errors
    /// name the computation's index as given and the field: text that is not JSON
    /// (with its line and column), an operator JSON-logic does not know, a COUNT
    /// computation other than `"1"` (`count`).
    pub fn compile(computations: &[Computation], count: bool) -> Result<Self, ComputationError> {
        let err = |index, field, message: String| ComputationError {
            index,
            field,
            message,
        };
        if computations.len() > MAX_COMPUTATIONS {
            return Err(err(
                MAX_COMPUTATIONS,
                "order",
                format!("at most {MAX_COMPUTATIONS} computations"),
            ));
        }
        let engine = Engine::new();
        let compile = |index, field, text: &str| -> Result<Logic, ComputationError> {
            let rule = rule_of(text).map_err(|m| err(index, field, m))?;
            check_operators(&engine, &rule, "").map_err(|m| err(index, field, m))?;
            engine
                .compile(&rule)
                .map_err(|e| err(index, field, format!("JSON-logic refused it: {e}")))
        };
        let mut items = Vec::with_capacity(computations.len());
        for (index, c) in computations.iter().enumerate() {
            if let Some(first) = computations[..index]
                .iter()
                .position(|p| p.order == c.order)
            {
                return Err(err(
                    index,
                    "order",
                    format!(
                        "order {} is also computations[{first}]'s: each computation needs its own",
                        c.order
                    ),
                ));
            }
            if count && c.computation.trim() != "1" {
                return Err(err(
                    index,
                    "computation",
                    format!(
                        "a COUNT meter's computation is \"1\" (it counts the events matched), not {:?}",
                        c.computation
                    ),
                ));
            }
            let matcher = match c.matcher.as_deref() {
                Some(m) if !m.trim().is_empty() => Some(compile(index, "matcher", m)?),
                _ => None,
            };
            let computation = compile(index, "computation", &c.computation)?;
            items.push((
                c.order,
                Compiled {
                    matcher,
                    computation,
                    index,
                },
            ));
        }
        items.sort_by_key(|(order, _)| *order);
        Ok(MeterLogic {
            engine,
            items: items.into_iter().map(|(_, c)| c).collect(),
        })
    }

    /// The value `event` (`{"attributes": .., "dimensions": ..}`) adds to the meter:
    /// the first matching computation's result as a decimal, `None` when none
    /// matches. Errors: an evaluation error or a result that is not a number, naming
    /// the computation.
    pub fn value(&self, event: &Value) -> Result<Option<Decimal>, ComputationError> {
        for c in &self.items {
            if let Some(m) = &c.matcher {
                let hit = self.eval(m, event).map_err(|message| ComputationError {
                    index: c.index,
                    field: "matcher",
                    message,
                })?;
                if !truthy(&hit) {
                    continue;
                }
            }
            let v = self
                .eval(&c.computation, event)
                .map_err(|message| ComputationError {
                    index: c.index,
                    field: "computation",
                    message,
                })?;
            return decimal_of(&v).map(Some).ok_or_else(|| ComputationError {
                index: c.index,
                field: "computation",
                message: format!("gave {v}, not a number"),
            });
        }
        Ok(None)
    }

    fn eval(&self, logic: &Logic, event: &Value) -> Result<Value, String> {
        let mut session = self.engine.session();
        session
            .eval_into::<Value, _>(logic, event)
            .map_err(|e| e.to_string())
    }
}

/// The JSON document an event is evaluated as: attributes as numbers (stored as
/// decimal strings), dimensions as given.
pub fn event_document(attributes: &Value, dimensions: &Value) -> Value {
    let attributes = match attributes {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let n = decimal_of(v)
                        .and_then(|d| serde_json::Number::from_str(&d.to_string()).ok())
                        .map_or_else(|| v.clone(), Value::Number);
                    (k.clone(), n)
                })
                .collect(),
        ),
        other => other.clone(),
    };
    serde_json::json!({ "attributes": attributes, "dimensions": dimensions })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use serde_json::json;

    fn c(order: i64, matcher: Option<&str>, computation: &str) -> Computation {
        Computation {
            id: None,
            matcher: matcher.map(str::to_string),
            computation: computation.to_string(),
            order,
        }
    }

    fn event(tokens: &str, model: &str) -> Value {
        event_document(&json!({ "tokens": tokens }), &json!({ "model": model }))
    }

    const LARGE: &str = r#"{"==": [{"var": "dimensions.model"}, "large"]}"#;
    const DOUBLE: &str = r#"{"*": [{"var": "attributes.tokens"}, 2]}"#;

    #[test]
    fn the_first_matching_computation_by_order_gives_the_value() {
        // Given out of order: order 1 (large: tokens * 2) is tried before order 2 (all: tokens).
        let logic =
            MeterLogic::compile(&[c(2, None, "tokens"), c(1, Some(LARGE), DOUBLE)], false).unwrap();
        assert_eq!(
            logic.value(&event("150", "large")).unwrap(),
            Some(dec!(300))
        );
        assert_eq!(
            logic.value(&event("150", "small")).unwrap(),
            Some(dec!(150))
        );
        assert_eq!(logic.value(&event("0.5", "large")).unwrap(), Some(dec!(1)));
    }

    #[test]
    fn an_event_no_computation_matches_adds_nothing() {
        let logic = MeterLogic::compile(&[c(1, Some(LARGE), DOUBLE)], false).unwrap();
        assert_eq!(logic.value(&event("7", "small")).unwrap(), None);
        let count = MeterLogic::compile(&[c(1, Some(LARGE), "1")], true).unwrap();
        assert_eq!(count.value(&event("7", "large")).unwrap(), Some(dec!(1)));
        assert_eq!(count.value(&event("7", "small")).unwrap(), None);
    }

    #[test]
    fn text_that_does_not_parse_is_refused_naming_index_field_and_position() {
        let e = MeterLogic::compile(
            &[c(1, None, "tokens"), c(2, Some("{\"==\": [1,"), "1")],
            false,
        )
        .unwrap_err();
        assert_eq!(e.path(), "computations[1].matcher");
        assert!(e.message.contains("line 1, column 10"), "{}", e.message);
        let e = MeterLogic::compile(&[c(1, None, r#"{"frobnicate": [1]}"#)], false).unwrap_err();
        assert_eq!(e.path(), "computations[0].computation");
        assert!(e.message.contains("frobnicate"), "{}", e.message);
        let e = MeterLogic::compile(&[c(1, Some(r#"{"and": [true, {"frob": 1}]}"#), "1")], true)
            .unwrap_err();
        assert_eq!(e.path(), "computations[0].matcher");
        assert!(
            e.message.contains("\"/and/1\": unknown operator \"frob\""),
            "{}",
            e.message
        );
    }

    #[test]
    fn orders_are_distinct_and_count_computations_are_one() {
        let e = MeterLogic::compile(&[c(1, None, "1"), c(1, Some(LARGE), "1")], true).unwrap_err();
        assert_eq!(e.path(), "computations[1].order");
        let e = MeterLogic::compile(&[c(1, None, DOUBLE)], true).unwrap_err();
        assert_eq!(e.path(), "computations[0].computation");
    }

    #[test]
    fn a_result_that_is_not_a_number_is_an_error() {
        let logic =
            MeterLogic::compile(&[c(1, None, r#"{"var": "dimensions.model"}"#)], false).unwrap();
        let e = logic.value(&event("1", "large")).unwrap_err();
        assert_eq!(e.path(), "computations[0].computation");
        assert!(truthy(&json!("x")) && !truthy(&json!(0)) && !truthy(&json!([])));
        // `true` is JSON's, not an attribute's name: a matcher that always matches.
        let always = MeterLogic::compile(&[c(1, Some("true"), "tokens")], false).unwrap();
        assert_eq!(always.value(&event("4", "small")).unwrap(), Some(dec!(4)));
    }
}
