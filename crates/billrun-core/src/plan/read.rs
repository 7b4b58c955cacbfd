//! Reading JSON: small helpers that record errors with their paths and carry on, so
//! that one pass reports everything; the value parsers (`p_*`) and the tables of
//! Togai's enum names shared by the parser and the writer.

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::{ExpiryType, InvoiceTiming, MaxQuantityBreachAction, ProratedRefundMode};
use crate::cycle::Interval;
use crate::error::{FieldError, FieldErrors};
use crate::money::Currency;
use crate::rating::PricingModel;

#[derive(Default)]
pub(super) struct Errs(pub(super) Vec<FieldError>);

impl Errs {
    pub(super) fn add(&mut self, path: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(path, message));
    }

    pub(super) fn extend(&mut self, errors: FieldErrors, prefix: &str) {
        self.0
            .extend(errors.0.into_iter().map(|e| e.within(prefix)));
    }
}

pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// An object being read, with the path it sits at.
pub(super) struct Obj<'a> {
    map: &'a Map<String, Value>,
    pub(super) path: String,
}

pub(super) fn object<'a>(
    v: &'a Value,
    path: &str,
    allowed: &[&str],
    errs: &mut Errs,
) -> Option<Obj<'a>> {
    let Some(map) = v.as_object() else {
        errs.add(path, "expected an object");
        return None;
    };
    for key in map.keys() {
        if allowed.contains(&key.as_str()) {
            continue;
        }
        let message = format!("unknown field; expected one of: {}", allowed.join(", "));
        errs.add(&join(path, key), message);
    }
    Some(Obj {
        map,
        path: path.to_string(),
    })
}

impl<'a> Obj<'a> {
    pub(super) fn at(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// The value of `key`, `None` if absent or null.
    pub(super) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub(super) fn opt<T>(
        &self,
        key: &str,
        errs: &mut Errs,
        parse: impl Fn(&Value) -> Result<T, String>,
    ) -> Option<T> {
        let v = self.get(key)?;
        parse(v).map_err(|m| errs.add(&self.at(key), m)).ok()
    }

    pub(super) fn req<T>(
        &self,
        key: &str,
        errs: &mut Errs,
        parse: impl Fn(&Value) -> Result<T, String>,
    ) -> Option<T> {
        if self.get(key).is_none() {
            errs.add(&self.at(key), "is required");
            return None;
        }
        self.opt(key, errs, parse)
    }

    /// The elements of the array at `key` with their paths (absent = empty).
    pub(super) fn list(&self, key: &str, errs: &mut Errs) -> Vec<(String, &'a Value)> {
        match self.get(key) {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("{}[{i}]", self.at(key)), v))
                .collect(),
            Some(_) => {
                errs.add(&self.at(key), "expected an array");
                Vec::new()
            }
        }
    }
}

pub(super) fn p_string(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        _ => Err("expected a string".into()),
    }
}

pub(super) fn p_name(v: &Value) -> Result<String, String> {
    let s = p_string(v)?;
    if s.trim().is_empty() {
        return Err("must not be empty".into());
    }
    Ok(s)
}

pub(super) fn p_bool(v: &Value) -> Result<bool, String> {
    v.as_bool().ok_or_else(|| "expected true or false".into())
}

/// A whole number, as a JSON number or a string of digits.
pub(super) fn p_u32(v: &Value) -> Result<u32, String> {
    let n = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse::<u64>().ok(),
        _ => None,
    };
    n.and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| format!("{v} is not a whole number >= 0"))
}

/// An exact decimal from a JSON number or string (module docs: no float arithmetic).
pub(super) fn p_decimal(v: &Value) -> Result<Decimal, String> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return Err("expected a number or a numeric string".into()),
    };
    let parsed = if text.contains(['e', 'E']) {
        Decimal::from_scientific(&text)
    } else {
        Decimal::from_str_exact(&text)
    };
    parsed.map_err(|_| format!("{v} is not a decimal number of at most 28 significant digits"))
}

pub(super) fn p_non_negative(v: &Value) -> Result<Decimal, String> {
    let d = p_decimal(v)?;
    if d < Decimal::ZERO {
        return Err(format!("{d} must not be negative"));
    }
    Ok(d)
}

pub(super) fn p_positive(v: &Value) -> Result<Decimal, String> {
    let d = p_decimal(v)?;
    if d <= Decimal::ZERO {
        return Err(format!("{d} must be positive"));
    }
    Ok(d)
}

pub(super) fn p_currency(v: &Value) -> Result<Currency, String> {
    Currency::parse(&p_string(v)?).map_err(|e| e.message)
}

pub(super) fn p_choice<T: Copy>(v: &Value, choices: &[(&str, T)]) -> Result<T, String> {
    let s = p_string(v)?;
    choices
        .iter()
        .find(|(name, _)| *name == s)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            let names: Vec<_> = choices.iter().map(|(n, _)| *n).collect();
            format!("unknown value {s:?}: expected one of {}", names.join(", "))
        })
}

pub(super) fn p_interval(v: &Value) -> Result<Interval, String> {
    Interval::parse(&p_string(v)?).map_err(|e| e.message)
}

pub(super) const TIMINGS: &[(&str, InvoiceTiming)] = &[
    ("IN_ADVANCE", InvoiceTiming::InAdvance),
    ("IN_ARREARS", InvoiceTiming::InArrears),
    ("PREPAID", InvoiceTiming::Prepaid),
];

#[derive(Clone, Copy, PartialEq)]
pub(super) enum RecurrenceType {
    OneTime,
    Recurring,
}

pub(super) const RECURRENCE_TYPES: &[(&str, RecurrenceType)] = &[
    ("ONE_TIME", RecurrenceType::OneTime),
    ("RECURRING", RecurrenceType::Recurring),
];

pub(super) const PRICING_MODELS: &[(&str, PricingModel)] = &[
    ("TIERED", PricingModel::Tiered),
    ("VOLUME", PricingModel::Volume),
];

#[derive(Clone, Copy)]
pub(super) enum PriceKind {
    PerUnit,
    Flat,
    Package,
}

pub(super) const PRICE_TYPES: &[(&str, PriceKind)] = &[
    ("PER_UNIT", PriceKind::PerUnit),
    ("FLAT", PriceKind::Flat),
    ("PACKAGE", PriceKind::Package),
];

pub(super) const EXPIRY_TYPES: &[(&str, ExpiryType)] = &[
    ("PRICING_CYCLE", ExpiryType::PricingCycle),
    ("NO_EXPIRY", ExpiryType::NoExpiry),
    ("CUSTOM", ExpiryType::Custom),
];

pub(super) const BREACH_ACTIONS: &[(&str, MaxQuantityBreachAction)] =
    &[("DO_NOTHING", MaxQuantityBreachAction::DoNothing)];

pub(super) const REFUND_MODES: &[(&str, ProratedRefundMode)] = &[
    ("NONE", ProratedRefundMode::None),
    ("CREDITS", ProratedRefundMode::Credits),
    ("PAYMENT", ProratedRefundMode::Payment),
    ("WALLET", ProratedRefundMode::Wallet),
];

pub(super) fn choice_name<T: Copy + PartialEq>(
    choices: &[(&'static str, T)],
    t: T,
) -> &'static str {
    choices
        .iter()
        .find(|(_, c)| *c == t)
        .map(|(n, _)| *n)
        .expect("every variant is listed")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rates_are_read_exactly_from_numbers_and_strings() {
        for (raw, expected) in [
            (json!(0.10), "0.1"),
            (json!("0.10"), "0.10"),
            (
                json!("0.1000000000000000055511151231"),
                "0.1000000000000000055511151231",
            ),
            (json!(0.3), "0.3"),
            (json!(1e-7), "0.0000001"),
            (json!("2.5E3"), "2500"),
            (json!(12345678901234567u64), "12345678901234567"),
        ] {
            assert_eq!(p_decimal(&raw).unwrap().to_string(), expected, "{raw}");
        }
        assert!(p_decimal(&json!("ten")).is_err());
        // More digits than a Decimal holds are refused, not silently rounded.
        assert!(p_decimal(&json!("0.1000000000000000055511151231257827")).is_err());
        assert!(p_decimal(&json!(true)).is_err());
    }
}
