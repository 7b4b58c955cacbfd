//! Account-specific overrides of a plan association: the account's own rate values
//! for some of the plan's cards, and its own pricing cycle.
//!
//! The JSON shape (stored verbatim on the association):
//!
//! ```json
//! {
//!   "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "15"}},
//!   "rateCards": [
//!     {"name": "api_calls", "rateValues": [{"currency": "USD", "slabRates": [...]}]},
//!     {"name": "platform_fee", "rateValues": [{"currency": "USD", "rate": 79}]}
//!   ]
//! }
//! ```
//!
//! Each entry of `rateCards` names a card of the plan (any kind; the minimum
//! commitment by its `name`, `minimum_commitment` if it has none) and replaces the
//! fields it gives, out of [`OVERRIDABLE_FIELDS`]. `pricingCycleConfig` replaces the
//! plan's whole config. The plan with its overrides applied is validated like any
//! plan ([`Overrides::apply_to`]), so an override can never make an unbillable plan.
//!
//! `pricingRules` replaces the plan's pricing rules as a whole (Togai's
//! `CreatePricingRule` list, [`crate::pricing_rules`]); `[]` removes them for the
//! account. They are validated against the plan like the plan's own.
//!
//! When an account moves to another plan ([`Overrides::carried_to`]), each card
//! override goes to the target's card of the same name; one with no such card is
//! dropped and reported.

use serde_json::{Map, Value};

use crate::error::{FieldError, FieldErrors};
use crate::plan::{CardKind, Plan};
use crate::rate_card_ops::card_name;

/// The card fields an override may replace.
pub const OVERRIDABLE_FIELDS: &[&str] = &[
    "rateValues",
    "ratePlan",
    "rateDetails",
    "enableProration",
    "displayName",
];

/// One card's override: the card's name and the fields it replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardOverride {
    /// The card's name in the plan.
    pub name: String,
    /// Replacement fields (keys out of [`OVERRIDABLE_FIELDS`]).
    pub fields: Map<String, Value>,
}

/// An association's overrides, validated for shape (not yet against a plan).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Overrides {
    /// Replaces the plan's `pricingCycleConfig`.
    pub pricing_cycle: Option<Value>,
    /// Per-card replacements, in the order given.
    pub cards: Vec<CardOverride>,
    /// Replaces the plan's `pricingRules` (the JSON list, verbatim).
    pub pricing_rules: Option<Value>,
}

/// Overrides moved to another plan: what was kept, and the card overrides that had
/// no card of the same name there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carried {
    /// The overrides for the target plan.
    pub overrides: Overrides,
    /// Names of the dropped card overrides.
    pub dropped: Vec<String>,
}

impl Overrides {
    /// Parses the stored JSON shape (module docs). `null` means no overrides.
    pub fn from_json(v: &Value) -> Result<Overrides, FieldErrors> {
        let obj = match v {
            Value::Null => return Ok(Overrides::default()),
            Value::Object(o) => o,
            _ => return Err(FieldError::new("overrides", "expected a JSON object").into()),
        };
        let mut errors = Vec::new();
        for key in obj.keys() {
            if key != "pricingCycleConfig" && key != "rateCards" && key != "pricingRules" {
                errors.push(FieldError::new(
                    format!("overrides.{key}"),
                    "unknown field: expected pricingCycleConfig, rateCards or pricingRules",
                ));
            }
        }
        let pricing_cycle = match obj.get("pricingCycleConfig") {
            None | Some(Value::Null) => None,
            Some(v) => {
                if let Err(e) = crate::cycle::PricingCycleConfig::from_json(v) {
                    errors.push(e.within("overrides.pricingCycleConfig"));
                }
                Some(v.clone())
            }
        };
        let mut cards: Vec<CardOverride> = Vec::new();
        match obj.get("rateCards") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let path = format!("overrides.rateCards[{i}]");
                    let Some(o) = item.as_object() else {
                        errors.push(FieldError::new(path, "expected an object with a name"));
                        continue;
                    };
                    let name = match o.get("name") {
                        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
                        _ => {
                            errors.push(FieldError::new(
                                format!("{path}.name"),
                                "expected the name of a rate card of the plan",
                            ));
                            continue;
                        }
                    };
                    if cards.iter().any(|c| c.name == name) {
                        errors.push(FieldError::new(
                            format!("{path}.name"),
                            format!("rate card {name:?} is overridden twice"),
                        ));
                        continue;
                    }
                    let mut fields = Map::new();
                    for (k, v) in o {
                        if k == "name" {
                            continue;
                        }
                        if OVERRIDABLE_FIELDS.contains(&k.as_str()) {
                            fields.insert(k.clone(), v.clone());
                        } else {
                            errors.push(FieldError::new(
                                format!("{path}.{k}"),
                                format!(
                                    "cannot be overridden: expected one of {}",
                                    OVERRIDABLE_FIELDS.join(", ")
                                ),
                            ));
                        }
                    }
                    cards.push(CardOverride { name, fields });
                }
            }
            Some(_) => errors.push(FieldError::new(
                "overrides.rateCards",
                "expected an array of card overrides",
            )),
        }
        let pricing_rules = match obj.get("pricingRules") {
            None | Some(Value::Null) => None,
            Some(v @ Value::Array(_)) => Some(v.clone()),
            Some(_) => {
                errors.push(FieldError::new(
                    "overrides.pricingRules",
                    "expected an array of pricing rules",
                ));
                None
            }
        };
        if errors.is_empty() {
            Ok(Overrides {
                pricing_cycle,
                cards,
                pricing_rules,
            })
        } else {
            Err(FieldErrors(errors))
        }
    }

    /// The stored JSON shape; `Value::Null` when there is nothing to override.
    pub fn to_json(&self) -> Value {
        if self.is_empty() {
            return Value::Null;
        }
        let mut m = Map::new();
        if let Some(pc) = &self.pricing_cycle {
            m.insert("pricingCycleConfig".into(), pc.clone());
        }
        if !self.cards.is_empty() {
            let cards = self
                .cards
                .iter()
                .map(|c| {
                    let mut o = Map::new();
                    o.insert("name".into(), Value::String(c.name.clone()));
                    o.extend(c.fields.clone());
                    Value::Object(o)
                })
                .collect();
            m.insert("rateCards".into(), Value::Array(cards));
        }
        if let Some(rules) = &self.pricing_rules {
            m.insert("pricingRules".into(), rules.clone());
        }
        Value::Object(m)
    }

    /// Whether nothing is overridden.
    pub fn is_empty(&self) -> bool {
        self.pricing_cycle.is_none() && self.cards.is_empty() && self.pricing_rules.is_none()
    }

    /// The plan `definition` (Togai JSON) with these overrides applied, validated.
    /// An override naming a card the plan lacks is an error.
    pub fn apply_to(&self, definition: &Value) -> Result<Plan, FieldErrors> {
        if self.is_empty() {
            return Plan::from_json(definition);
        }
        let mut merged = definition.clone();
        let mut errors = Vec::new();
        if let (Some(pc), Some(obj)) = (&self.pricing_cycle, merged.as_object_mut()) {
            obj.insert("pricingCycleConfig".into(), pc.clone());
        }
        if let (Some(rules), Some(obj)) = (&self.pricing_rules, merged.as_object_mut()) {
            obj.insert("pricingRules".into(), rules.clone());
        }
        for (i, card) in self.cards.iter().enumerate() {
            match card_mut(&mut merged, &card.name) {
                Some(target) => target.extend(card.fields.clone()),
                None => errors.push(FieldError::new(
                    format!("overrides.rateCards[{i}].name"),
                    format!("the plan has no rate card named {:?}", card.name),
                )),
            }
        }
        if !errors.is_empty() {
            return Err(FieldErrors(errors));
        }
        Plan::from_json(&merged).map_err(|e| {
            FieldErrors(
                e.0.into_iter()
                    .map(|e| FieldError::new(e.path, format!("with the overrides: {}", e.message)))
                    .collect(),
            )
        })
    }

    /// These overrides for the plan `target` (Togai JSON): card overrides go to the
    /// target's card of the same name or are dropped; the pricing cycle and the
    /// pricing rules are kept (rules whose target the plan lacks make
    /// [`Overrides::apply_to`] fail, naming the rule).
    pub fn carried_to(&self, target: &Value) -> Carried {
        let names = card_names(target);
        let (kept, dropped): (Vec<CardOverride>, Vec<CardOverride>) = self
            .cards
            .iter()
            .cloned()
            .partition(|c| names.contains(&c.name));
        Carried {
            overrides: Overrides {
                pricing_cycle: self.pricing_cycle.clone(),
                cards: kept,
                pricing_rules: self.pricing_rules.clone(),
            },
            dropped: dropped.into_iter().map(|c| c.name).collect(),
        }
    }
}

/// The names of every rate card of a plan's JSON (the minimum commitment included),
/// in the plan's order.
pub fn card_names(definition: &Value) -> Vec<String> {
    CardKind::ALL
        .into_iter()
        .flat_map(|kind| {
            kind.cards_in(definition)
                .into_iter()
                .filter_map(move |card| card_name(kind, card))
        })
        .collect()
}

fn card_mut<'a>(definition: &'a mut Value, name: &str) -> Option<&'a mut Map<String, Value>> {
    let kind = CardKind::ALL.into_iter().find(|kind| {
        kind.cards_in(definition)
            .into_iter()
            .any(|card| card_name(*kind, card).as_deref() == Some(name))
    })?;
    kind.cards_in_mut(definition)
        .into_iter()
        .find(|card| card_name(kind, card).as_deref() == Some(name))?
        .as_object_mut()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;
    use rust_decimal_macros::dec;
    use serde_json::json;

    fn plan() -> Value {
        json!({
            "name": "growth",
            "supportedCurrencies": ["USD"],
            "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "1"}},
            "usageRateCards": [{
                "name": "api_calls", "usageMeterId": "api_calls",
                "ratePlan": {"pricingModel": "TIERED", "slabs": [
                    {"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
                "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": "0.10"}]}]
            }],
            "fixedFeeRateCards": [{
                "name": "platform_fee", "invoiceTiming": "IN_ADVANCE", "type": "RECURRING",
                "enableProration": true, "recurrenceConfig": {"interval": 1, "offset": 0},
                "rateValues": [{"currency": "USD", "rate": 99}]
            }],
            "minimumCommitment": {"rateValues": [{"currency": "USD", "rate": 300}]}
        })
    }

    #[test]
    fn no_overrides_is_the_plan_itself() {
        let o = Overrides::from_json(&Value::Null).unwrap();
        assert!(o.is_empty());
        assert_eq!(o.to_json(), Value::Null);
        assert_eq!(
            o.apply_to(&plan()).unwrap(),
            Plan::from_json(&plan()).unwrap()
        );
    }

    #[test]
    fn a_card_override_replaces_the_rates_of_that_card_only() {
        let o = Overrides::from_json(&json!({"rateCards": [
            {"name": "platform_fee", "rateValues": [{"currency": "USD", "rate": 79}]},
            {"name": "minimum_commitment", "rateValues": [{"currency": "USD", "rate": 100}]}
        ]}))
        .unwrap();
        let p = o.apply_to(&plan()).unwrap();
        assert_eq!(p.fixed_fee_cards[0].rate_values[&Currency::USD], dec!(79));
        assert_eq!(
            p.minimum_commitment.unwrap().rate_values[&Currency::USD],
            dec!(100)
        );
        let base = Plan::from_json(&plan()).unwrap();
        assert_eq!(p.usage_cards, base.usage_cards);
        assert_eq!(Overrides::from_json(&o.to_json()).unwrap(), o);
    }

    #[test]
    fn a_pricing_cycle_override_replaces_the_config() {
        let o = Overrides::from_json(&json!({"pricingCycleConfig":
            {"interval": "MONTHLY", "startOffset": {"dayOffset": "15"}}}))
        .unwrap();
        let p = o.apply_to(&plan()).unwrap();
        assert_eq!(
            p.pricing_cycle.start_offset.day,
            crate::cycle::DayOffset::Day(15)
        );
    }

    #[test]
    fn bad_overrides_name_the_field() {
        let e = Overrides::from_json(&json!({"rateCards": [
            {"name": "platform_fee", "usageMeterId": "x"},
            {"rateValues": []},
            {"name": "a"}, {"name": "a"}
        ], "colour": 1}))
        .unwrap_err();
        let paths: Vec<&str> = e.0.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "overrides.colour",
                "overrides.rateCards[0].usageMeterId",
                "overrides.rateCards[1].name",
                "overrides.rateCards[3].name"
            ]
        );
        let e = Overrides::from_json(&json!({"pricingCycleConfig": {"interval": "DAILY"}}))
            .unwrap_err();
        assert_eq!(e.0[0].path, "overrides.pricingCycleConfig.interval");
        assert!(Overrides::from_json(&json!([1])).is_err());
    }

    #[test]
    fn an_override_of_a_missing_card_or_with_bad_rates_is_refused_against_the_plan() {
        let o = Overrides::from_json(&json!({"rateCards": [{"name": "seats", "rateValues": []}]}))
            .unwrap();
        let e = o.apply_to(&plan()).unwrap_err();
        assert_eq!(e.0[0].path, "overrides.rateCards[0].name");
        assert!(e.0[0].message.contains("no rate card named \"seats\""));
        let o = Overrides::from_json(&json!({"rateCards": [
            {"name": "platform_fee", "rateValues": [{"currency": "USD", "rate": "lots"}]}]}))
        .unwrap();
        let e = o.apply_to(&plan()).unwrap_err();
        assert!(
            e.0[0].path.starts_with("fixedFeeRateCards[0].rateValues"),
            "{e}"
        );
        assert!(e.0[0].message.starts_with("with the overrides"), "{e}");
    }

    #[test]
    fn carried_overrides_keep_the_cards_the_target_has_and_report_the_rest() {
        let o = Overrides::from_json(&json!({
        "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "15"}},
        "rateCards": [
            {"name": "platform_fee", "rateValues": [{"currency": "USD", "rate": 79}]},
            {"name": "legacy_support", "rateValues": [{"currency": "USD", "rate": 5}]}
        ]}))
        .unwrap();
        let c = o.carried_to(&plan());
        assert_eq!(c.dropped, ["legacy_support"]);
        assert_eq!(c.overrides.cards.len(), 1);
        assert_eq!(c.overrides.cards[0].name, "platform_fee");
        assert!(c.overrides.pricing_cycle.is_some());
        assert!(c.overrides.apply_to(&plan()).is_ok());
        assert_eq!(
            card_names(&plan()),
            ["api_calls", "platform_fee", "minimum_commitment"]
        );
    }
}
