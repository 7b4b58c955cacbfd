//! Pricing rules: a plan's ordered JSON-logic rules that change an invoice's rated
//! charges (Togai's `PricingRule`: `name`, `order`, `invoiceTiming`, `condition`,
//! `computation`, `action{type ADD|UPDATE, target, description}`;
//! <https://docs.togai.com/docs/pricing-rules>: "an advanced rule engine that can be
//! used to apply different rules on existing rate cards in an invoice ... and apply a
//! computed logic while you generate an Invoice"; "the variables that can be used to
//! create conditions and computations are the usage and revenue data for the
//! different rate cards configured in the price plan").
//!
//! Semantics (README "Price plans", "Pricing rules"; where Togai publishes no rule the
//! choice is billrun's and says so):
//! - A rule sees the lines of its `invoiceTiming` (default IN_ARREARS; Togai's
//!   `PricingRuleTiming`: IN_ARREARS rules apply to the IN_ARREARS cards of the
//!   closing cycle, IN_ADVANCE rules to the IN_ADVANCE cards of the opening cycle),
//!   as the JSON document
//!   `{"usage": {card: quantity}, "revenue": {card: amount}, "invoice": {"revenue": sum}}`
//!   keyed by the rate card's name (usage for a usage card, seats for a license card,
//!   1 for a fee; amounts in the currency's major unit, e.g. `550.00` USD), so a rule
//!   reads `{"var": "revenue.api_calls"}`. A card name with a `.` cannot be read (it
//!   is a path separator of `var`).
//! - Rules run by ascending `order` (distinct in a plan); each sees the changes of
//!   the rules before it (Togai: "the priority of computing the pricing rules since
//!   inter-dependent pricing rules will cause conflict").
//! - A rule applies when its `condition` is absent or
//!   [truthy](https://jsonlogic.com/truthy.html). Its `computation` gives an amount,
//!   rounded to the currency's minor unit (the invoice's rounding mode):
//!   - `UPDATE` replaces the amount of the card named by `action.target` (a card of
//!     the plan with the rule's timing); the line keeps its quantity, its
//!     description says which rule changed it, and a rated line gets an ADJUSTMENT
//!     sub-line of the difference so its sub-lines still add up to it (the same
//!     amount leaves the line untouched). A discount is an UPDATE (`revenue x 0.9`).
//!   - `ADD` adds a line named after the rule (title `action.description`, else the
//!     rule's name; untagged, quantity 1), over the cycle's billed days; credits pay
//!     it as they pay a fixed fee. Zero adds no line.
//!   - A result below zero is refused (COMPUTATION_ERROR in the log, nothing
//!     changed): an invoice line never goes negative, so credits and totals keep
//!     their rules (ARCHITECTURE guarantee 5).
//! - The minimum commitment's true-up is measured on the charges before rules.
//! - Every rule evaluated leaves one [`RuleLog`] (Togai's `PricingRulesLog`, shown by
//!   `GET /invoice/{id}/pricing_rules_logs`): CONDITION_TRUE, CONDITION_FALSE,
//!   CONDITION_ERROR or COMPUTATION_ERROR, the change (card, old and new revenue and
//!   usage), and the values of the variables the rule reads. A rule that fails to
//!   evaluate changes nothing and does not stop the invoice.
//! - Rules that do not parse are refused when the plan is written, naming the rule,
//!   the field and the position ([`compile`]), as meter computations are
//!   ([`crate::meter_logic`], whose evaluator, `datalogic_rs` 5.4, this uses too).

use std::collections::BTreeMap;
use std::fmt;

use datalogic_rs::{Engine, Logic};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::charges::{ChargeDetail, ChargeLine, DetailKind};
use crate::cycle::CycleWindow;
use crate::meter_logic::{decimal_of, truthy};
use crate::money::{Currency, RoundingMode};
use crate::plan::{CardKind, InvoiceTiming};

/// The most pricing rules a plan has.
pub const MAX_RULES: usize = 50;

/// What a rule does with its computation's result (Togai's `PricingRuleAction.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActionType {
    /// Adds a line of the result.
    Add,
    /// Replaces the target card's amount with the result.
    Update,
}

/// Togai's `PricingRuleAction`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleAction {
    /// ADD or UPDATE.
    #[serde(rename = "type")]
    pub kind: ActionType,
    /// UPDATE: the name of the rate card whose amount the rule sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Kept and answered, not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// ADD: the title of the line added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Kept and answered, not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
}

/// One pricing rule, as Togai's `CreatePricingRule` and as stored in the plan's
/// `pricingRules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PricingRule {
    /// Unique among the plan's rules and cards.
    pub name: String,
    /// Ascending: the order rules run in (1 or more, distinct).
    pub order: i64,
    /// Which lines the rule sees: IN_ARREARS (absent) or IN_ADVANCE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_timing: Option<InvoiceTiming>,
    /// JSON-logic condition (absent: always applies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// JSON-logic expression giving an amount in the major unit.
    pub computation: String,
    /// What is done with the amount.
    pub action: RuleAction,
}

impl PricingRule {
    /// The rule's timing: IN_ARREARS unless it says IN_ADVANCE.
    pub fn timing(&self) -> InvoiceTiming {
        self.invoice_timing.unwrap_or(InvoiceTiming::InArrears)
    }
}

/// Why rules were refused: the rule (index as given, name), the field and what is
/// wrong (with the position in the JSON-logic text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// Index in the list as given.
    pub index: usize,
    /// The rule's name.
    pub name: String,
    /// `condition`, `computation`, `order`, `name`, `invoiceTiming` or `action.target`.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

impl RuleError {
    /// The path of the offending field: `pricingRules[1].condition`.
    pub fn path(&self) -> String {
        format!("pricingRules[{}].{}", self.index, self.field)
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: rule {:?}: {}", self.path(), self.name, self.message)
    }
}

/// What a rule's evaluation came to (Togai's `PricingRulesLog.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LogType {
    /// The condition held and the computation was applied.
    ConditionTrue,
    /// The condition did not hold: nothing changed.
    ConditionFalse,
    /// The condition could not be evaluated: nothing changed.
    ConditionError,
    /// The computation failed or gave an amount that cannot be applied.
    ComputationError,
}

/// The change a rule made (Togai's `PricingRuleChangesLog`): amounts in the major
/// unit, rounded; usage unchanged by rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleChange {
    /// The card (UPDATE) or the added line (ADD: the rule's name).
    pub key: String,
    /// Its title.
    pub key_name: Option<String>,
    /// Its amount before the rule (0 for an ADD).
    pub old_revenue: Decimal,
    /// Its amount after the rule.
    pub new_revenue: Decimal,
    /// Its quantity before the rule.
    pub old_usage: Option<Decimal>,
    /// Its quantity after the rule.
    pub new_usage: Option<Decimal>,
    /// Why the rule changed nothing, on an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// One rule's evaluation on one invoice (Togai's `PricingRulesLog`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleLog {
    /// `<timing>.<order>` (e.g. `IN_ARREARS.1`), unique in an invoice's log.
    pub id: String,
    /// The outcome.
    #[serde(rename = "type")]
    pub kind: LogType,
    /// The rule's order.
    pub order: i64,
    /// What it changed.
    pub changes: RuleChange,
    /// The rule as it was.
    pub rule: PricingRule,
    /// The variables the rule reads and their values (`"revenue.api_calls"` ->
    /// `"550.00"`; absent ones are `null`).
    pub variables_value: BTreeMap<String, Option<String>>,
}

/// Refuses an object that is not one known operator (see [`crate::meter_logic`]).
fn check_operators(engine: &Engine, rule: &Value, at: &str) -> Result<(), String> {
    let here = if at.is_empty() { "/" } else { at };
    match rule {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check_operators(engine, v, &format!("{at}/{i}"))),
        Value::Object(map) => {
            let mut keys = map.keys();
            let (Some(op), None) = (keys.next(), keys.next()) else {
                return Err(format!(
                    "at {here:?}: an operation is an object of exactly one operator, not {} keys",
                    map.len()
                ));
            };
            if !engine.builtin_operator_names().any(|n| n == op) {
                return Err(format!("at {here:?}: unknown operator {op:?}"));
            }
            check_operators(engine, &map[op], &format!("{at}/{op}"))
        }
        _ => Ok(()),
    }
}

/// The `var` paths a rule reads, in order of appearance, each once.
fn vars_of(rule: &Value, out: &mut Vec<String>) {
    match rule {
        Value::Array(items) => items.iter().for_each(|v| vars_of(v, out)),
        Value::Object(map) => {
            for (op, arg) in map {
                let name = match (op.as_str(), arg) {
                    ("var", Value::String(s)) => Some(s.clone()),
                    ("var", Value::Array(a)) => a.first().and_then(Value::as_str).map(String::from),
                    _ => None,
                };
                match name {
                    Some(n) if !out.contains(&n) => out.push(n),
                    Some(_) => {}
                    None => vars_of(arg, out),
                }
            }
        }
        _ => {}
    }
}

struct Compiled {
    condition: Option<Logic>,
    computation: Logic,
    vars: Vec<String>,
    index: usize,
}

/// A plan's rules compiled, in evaluation order.
pub struct CompiledRules {
    engine: Engine,
    items: Vec<Compiled>,
}

/// Compiles `rules` (at most [`MAX_RULES`], distinct orders of 1 or more, distinct
/// names, IN_ARREARS or IN_ADVANCE, an UPDATE with a target). Errors name the rule
/// and the field: text that is not JSON (with its line and column), an operator
/// JSON-logic does not know (with its JSON pointer, `/and/1`).
pub fn compile(rules: &[PricingRule]) -> Result<CompiledRules, RuleError> {
    let err = |index: usize, field, message: String| RuleError {
        index,
        name: rules
            .get(index)
            .map_or_else(String::new, |r| r.name.clone()),
        field,
        message,
    };
    if rules.len() > MAX_RULES {
        return Err(err(
            MAX_RULES,
            "order",
            format!("at most {MAX_RULES} pricing rules"),
        ));
    }
    let engine = Engine::new();
    let compile = |index, field, text: &str| -> Result<(Logic, Value), RuleError> {
        let rule: Value = serde_json::from_str(text.trim()).map_err(|e| {
            err(
                index,
                field,
                format!(
                    "not JSON-logic: {e} (at line {}, column {})",
                    e.line(),
                    e.column()
                ),
            )
        })?;
        check_operators(&engine, &rule, "").map_err(|m| err(index, field, m))?;
        let logic = engine
            .compile(&rule)
            .map_err(|e| err(index, field, format!("JSON-logic refused it: {e}")))?;
        Ok((logic, rule))
    };
    let mut items = Vec::with_capacity(rules.len());
    for (index, r) in rules.iter().enumerate() {
        if r.name.trim().is_empty() {
            return Err(err(index, "name", "must not be empty".into()));
        }
        if let Some(first) = rules[..index].iter().position(|p| p.name == r.name) {
            return Err(err(
                index,
                "name",
                format!("is also pricingRules[{first}]'s: names are unique"),
            ));
        }
        if r.order < 1 {
            return Err(err(index, "order", format!("{} is not 1 or more", r.order)));
        }
        if let Some(first) = rules[..index].iter().position(|p| p.order == r.order) {
            return Err(err(
                index,
                "order",
                format!(
                    "order {} is also pricingRules[{first}]'s: each rule needs its own",
                    r.order
                ),
            ));
        }
        if r.timing() == InvoiceTiming::Prepaid {
            return Err(err(
                index,
                "invoiceTiming",
                "expected IN_ARREARS or IN_ADVANCE".into(),
            ));
        }
        if r.action.kind == ActionType::Update
            && r.action
                .target
                .as_deref()
                .is_none_or(|t| t.trim().is_empty())
        {
            return Err(err(
                index,
                "action.target",
                "an UPDATE names the rate card it updates".into(),
            ));
        }
        let mut vars = Vec::new();
        let condition = match r.condition.as_deref() {
            Some(c) if !c.trim().is_empty() => {
                let (logic, json) = compile(index, "condition", c)?;
                vars_of(&json, &mut vars);
                Some(logic)
            }
            _ => None,
        };
        let (computation, json) = compile(index, "computation", &r.computation)?;
        vars_of(&json, &mut vars);
        items.push((
            r.order,
            Compiled {
                condition,
                computation,
                vars,
                index,
            },
        ));
    }
    items.sort_by_key(|(order, _)| *order);
    Ok(CompiledRules {
        engine,
        items: items.into_iter().map(|(_, c)| c).collect(),
    })
}

thread_local! {
    /// Rules compiled on this thread, by their JSON: a bill run prices many invoices
    /// of few plans.
    static COMPILED: std::cell::RefCell<std::collections::HashMap<String, std::rc::Rc<CompiledRules>>> =
        Default::default();
}

/// The most rule lists [`compiled`] keeps per thread (it forgets them all past it).
const CACHED_LISTS: usize = 64;

/// [`compile`], memoized per thread by the rules' JSON (pure: the same rules always
/// compile to the same thing). The result must not be held across an `.await`.
pub fn compiled(rules: &[PricingRule]) -> Result<std::rc::Rc<CompiledRules>, RuleError> {
    let key = serde_json::to_string(rules).unwrap_or_default();
    if let Some(c) = COMPILED.with(|m| m.borrow().get(&key).cloned()) {
        return Ok(c);
    }
    let c = std::rc::Rc::new(compile(rules)?);
    COMPILED.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= CACHED_LISTS {
            m.clear();
        }
        m.insert(key, c.clone());
    });
    Ok(c)
}

/// A decimal as a JSON number (through its shortest decimal form).
fn number(d: Decimal) -> Value {
    serde_json::from_str::<serde_json::Number>(&d.normalize().to_string())
        .map_or(Value::Null, Value::Number)
}

/// The document rules read: the lines' usage and revenue by card name, and the sum.
fn document(lines: &[ChargeLine]) -> Value {
    let mut usage = Map::new();
    let mut revenue = Map::new();
    let mut total = Decimal::ZERO;
    for l in lines {
        usage.insert(l.card_name.clone(), number(l.quantity));
        revenue.insert(l.card_name.clone(), number(l.amount));
        total += l.amount;
    }
    json!({ "usage": usage, "revenue": revenue, "invoice": { "revenue": number(total) } })
}

/// The value at a dotted `var` path of `doc`, as text.
fn lookup(doc: &Value, path: &str) -> Option<String> {
    let mut v = doc;
    for part in path.split('.') {
        v = v.get(part)?;
    }
    Some(match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// Where ADD lines of a timing go: the cycle whose lines the rule sees.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// IN_ARREARS (the closing cycle's lines) or IN_ADVANCE (the opening cycle's).
    pub timing: InvoiceTiming,
    /// The cycle.
    pub window: CycleWindow,
    /// The invoice currency.
    pub currency: Currency,
    /// The organisation's rounding.
    pub rounding: RoundingMode,
}

impl CompiledRules {
    /// Whether there is no rule.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Applies the rules of `target.timing` (out of `rules`, the list compiled) to
    /// `lines` (the lines of that timing, rounded), in order; returns one log entry
    /// per rule evaluated.
    pub fn apply(
        &self,
        rules: &[PricingRule],
        target: &Target,
        lines: &mut Vec<ChargeLine>,
    ) -> Vec<RuleLog> {
        let mut log = Vec::new();
        for c in &self.items {
            let rule = &rules[c.index];
            let is_advance = rule.timing().is_billed_in_advance();
            if is_advance != target.timing.is_billed_in_advance() {
                continue;
            }
            let doc = document(lines);
            let variables_value = c
                .vars
                .iter()
                .map(|v| (v.clone(), lookup(&doc, v)))
                .collect();
            let key = match rule.action.kind {
                ActionType::Update => rule.action.target.clone().unwrap_or_default(),
                ActionType::Add => rule.name.clone(),
            };
            let at = lines.iter().position(|l| l.card_name == key);
            let old = at.map_or(Decimal::ZERO, |i| lines[i].amount);
            let usage = at.map(|i| lines[i].quantity);
            let mut entry = RuleLog {
                id: format!("{}.{}", target.timing.as_str(), rule.order),
                kind: LogType::ConditionTrue,
                order: rule.order,
                changes: RuleChange {
                    key: key.clone(),
                    key_name: at.map(|i| lines[i].display_name.clone()),
                    old_revenue: old,
                    new_revenue: old,
                    old_usage: usage,
                    new_usage: usage,
                    error_message: None,
                },
                rule: rule.clone(),
                variables_value,
            };
            let fail = |mut e: RuleLog, kind, message: String| {
                e.kind = kind;
                e.changes.error_message = Some(message);
                e
            };
            if let Some(cond) = &c.condition {
                match self.eval(cond, &doc) {
                    Err(m) => {
                        log.push(fail(entry, LogType::ConditionError, m));
                        continue;
                    }
                    Ok(v) if !truthy(&v) => {
                        entry.kind = LogType::ConditionFalse;
                        log.push(entry);
                        continue;
                    }
                    Ok(_) => {}
                }
            }
            let amount = match self.eval(&c.computation, &doc) {
                Err(m) => {
                    log.push(fail(entry, LogType::ComputationError, m));
                    continue;
                }
                Ok(v) => match decimal_of(&v) {
                    Some(d) => target.currency.round(d, target.rounding),
                    None => {
                        let m = format!("gave {v}, not an amount");
                        log.push(fail(entry, LogType::ComputationError, m));
                        continue;
                    }
                },
            };
            if amount.is_sign_negative() && !amount.is_zero() {
                let m = format!("gave {amount}: an invoice line cannot be negative");
                log.push(fail(entry, LogType::ComputationError, m));
                continue;
            }
            match (rule.action.kind, at) {
                (ActionType::Update, None) => {
                    let m = format!("the invoice has no line of rate card {key:?}");
                    log.push(fail(entry, LogType::ComputationError, m));
                    continue;
                }
                (ActionType::Update, Some(i)) => update(&mut lines[i], rule, amount),
                (ActionType::Add, Some(i)) => update(&mut lines[i], rule, old + amount),
                (ActionType::Add, None) if amount.is_zero() => {}
                (ActionType::Add, None) => {
                    lines.push(added_line(rule, target, amount));
                    entry.changes.key_name = lines.last().map(|l| l.display_name.clone());
                    entry.changes.new_usage = Some(Decimal::ONE);
                }
            }
            entry.changes.new_revenue = lines
                .iter()
                .find(|l| l.card_name == key)
                .map_or(Decimal::ZERO, |l| l.amount);
            log.push(entry);
        }
        log
    }

    fn eval(&self, logic: &Logic, doc: &Value) -> Result<Value, String> {
        let mut session = self.engine.session();
        session
            .eval_into::<Value, _>(logic, doc)
            .map_err(|e| e.to_string())
    }
}

/// Sets a line's amount to `amount`, keeping its sub-lines adding up to it; the
/// same amount leaves the line as it is.
fn update(line: &mut ChargeLine, rule: &PricingRule, amount: Decimal) {
    let delta = amount - line.amount;
    if delta.is_zero() {
        return;
    }
    if !line.details.is_empty() {
        line.details.push(ChargeDetail {
            kind: DetailKind::Adjustment,
            description: format!("pricing rule {}", rule.name),
            quantity: None,
            unit_price: None,
            amount: delta,
            period: line.period,
        });
    }
    let note = format!("pricing rule {}: {} -> {}", rule.name, line.amount, amount);
    line.description = if line.description.is_empty() {
        note
    } else {
        format!("{}; {note}", line.description)
    };
    line.amount = amount;
}

fn added_line(rule: &PricingRule, target: &Target, amount: Decimal) -> ChargeLine {
    ChargeLine {
        kind: CardKind::FixedFee,
        card_name: rule.name.clone(),
        display_name: rule
            .action
            .description
            .clone()
            .unwrap_or_else(|| rule.name.clone()),
        tag: None,
        timing: rule.timing(),
        cycle_index: target.window.index,
        period: target.window.billed,
        quantity: Decimal::ONE,
        unit_price: Some(amount),
        description: format!("pricing rule {}", rule.name),
        details: Vec::new(),
        amount,
    }
}

#[cfg(test)]
#[path = "pricing_rules_tests.rs"]
mod tests;
