//! Togai's two feature cards: `billingEntitlementRateCards` (an allowance of a feature
//! per cycle, sold at the card's price) and `entitlementOverageRateCards` (use of a
//! feature beyond its allowance, rated by the card's slabs); their types, their
//! parsing and their canonical JSON.
//!
//! Shapes: Togai's client 1.0.3 (`BillingEntitlementRateCard`, `FeatureConfig`,
//! `EntitlementOverageRateCard`, `BillingConfig`). Decisions where Togai's public
//! material is silent (README "Entitlements"):
//! - A `featureConfigs` entry's `effectiveFrom` / `effectiveUntil` are kept verbatim,
//!   not interpreted; the allowance of a cycle is the sum of the entries'
//!   `featureCreditLimit`, valid for that pricing cycle.
//! - An entitlement card without `recurrenceConfig` grants every cycle; with one it
//!   grants in the cycles [`Recurrence::Recurring`] selects.
//! - An overage card is billed IN_ARREARS, every pricing cycle: a `billingConfig`
//!   other than `{interval: 1, startOffset: 0}` is refused (billrun does not carry
//!   overage over several cycles yet).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use super::parse::{check_kind_type, parse_card_info, recurrence_config};
use super::rates::{parse_rate_plan, parse_slab_rate_values};
use super::read::{object, p_name, p_non_negative, p_string, p_u32, Errs};
use super::write::{card_json, dec, rate_plan_json, slab_rate_values_json};
use super::{CardInfo, InvoiceTiming, Recurrence};
use crate::money::Currency;
use crate::rating::{RatePlan, Rates};

/// One `featureConfigs` entry of an entitlement card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureConfig {
    /// Togai's `effectiveFrom`, verbatim (optional).
    pub effective_from: Option<String>,
    /// Togai's `effectiveUntil`, verbatim (required).
    pub effective_until: String,
    /// The quantity of the feature granted, at least 0 (units of the feature's
    /// events, e.g. API calls).
    pub feature_credit_limit: Decimal,
}

/// A `billingEntitlementRateCards` entry: an allowance of a feature per cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingEntitlementRateCard {
    /// Identity and timing (IN_ADVANCE, IN_ARREARS or PREPAID: granted only once the
    /// invoice that bills it is paid).
    pub card: CardInfo,
    /// The feature granted (`featureId`).
    pub feature_id: String,
    /// At least one entry.
    pub feature_configs: Vec<FeatureConfig>,
    /// The cycles it grants (and bills) in: `recurrenceConfig`, every cycle if absent.
    pub recurrence: Recurrence,
    /// Slabs, rated on the allowance ([`Self::quantity`]) to price it.
    pub rate_plan: RatePlan,
    /// Prices per currency.
    pub rate_values: BTreeMap<Currency, Rates>,
}

impl BillingEntitlementRateCard {
    /// The allowance granted per cycle: the sum of `featureCreditLimit`.
    pub fn quantity(&self) -> Decimal {
        self.feature_configs
            .iter()
            .map(|c| c.feature_credit_limit)
            .sum()
    }
}

/// An overage card's `billingConfig` (only `{1, 0}` is accepted, module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BillingConfig {
    /// Every this many pricing cycles.
    pub interval: u32,
    /// From this cycle index.
    pub start_offset: u32,
}

/// An `entitlementOverageRateCards` entry: use of a feature beyond its allowance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntitlementOverageRateCard {
    /// Identity; the timing is always IN_ARREARS.
    pub card: CardInfo,
    /// The feature (`featureId`, at most 50 characters).
    pub feature_id: String,
    /// `maxQuantity`: the most overage allowed (and billed) per cycle; `None`:
    /// unlimited.
    pub max_quantity: Option<Decimal>,
    /// Slabs, rated on the overage quantity.
    pub rate_plan: RatePlan,
    /// Prices per currency.
    pub rate_values: BTreeMap<Currency, Rates>,
    /// As given (kept so the plan reads back the same).
    pub billing_config: Option<BillingConfig>,
}

const ENTITLEMENT_KEYS: &[&str] = &[
    "id",
    "name",
    "displayName",
    "tag",
    "type",
    "invoiceTiming",
    "taxRateCode",
    "featureId",
    "featureConfigs",
    "recurrenceConfig",
    "ratePlan",
    "rateValues",
];

pub(super) fn parse_entitlement_card(
    v: &Value,
    path: &str,
    errs: &mut Errs,
) -> Option<BillingEntitlementRateCard> {
    let o = object(v, path, ENTITLEMENT_KEYS, errs)?;
    check_kind_type(&o, errs, "BILLING_ENTITLEMENT");
    let all = [
        InvoiceTiming::InAdvance,
        InvoiceTiming::InArrears,
        InvoiceTiming::Prepaid,
    ];
    let card = parse_card_info(&o, errs, &all);
    let feature_id = o.req("featureId", errs, p_name);
    let mut feature_configs = Vec::new();
    let items = o.list("featureConfigs", errs);
    if items.is_empty() {
        errs.add(&o.at("featureConfigs"), "list at least one feature config");
    }
    for (cpath, cv) in items {
        let keys = ["effectiveFrom", "effectiveUntil", "featureCreditLimit"];
        let Some(c) = object(cv, &cpath, &keys, errs) else {
            continue;
        };
        let effective_from = c.opt("effectiveFrom", errs, p_string);
        let effective_until = c.req("effectiveUntil", errs, p_string);
        let limit = c.req("featureCreditLimit", errs, p_non_negative);
        if let (Some(effective_until), Some(feature_credit_limit)) = (effective_until, limit) {
            feature_configs.push(FeatureConfig {
                effective_from,
                effective_until,
                feature_credit_limit,
            });
        }
    }
    let recurrence = match o.get("recurrenceConfig") {
        None => Some(Recurrence::Recurring {
            interval: 1,
            offset: 0,
        }),
        Some(c) => recurrence_config(c, &o.at("recurrenceConfig"), errs),
    };
    let rate_plan = parse_rate_plan(&o, errs);
    let rate_values = parse_slab_rate_values(&o, rate_plan.as_ref(), errs);
    Some(BillingEntitlementRateCard {
        card: card?,
        feature_id: feature_id?,
        feature_configs,
        recurrence: recurrence?,
        rate_plan: rate_plan?,
        rate_values,
    })
}

const OVERAGE_KEYS: &[&str] = &[
    "id",
    "name",
    "displayName",
    "tag",
    "type",
    "invoiceTiming",
    "taxRateCode",
    "featureId",
    "maxQuantity",
    "ratePlan",
    "rateValues",
    "billingConfig",
];

pub(super) fn parse_overage_card(
    v: &Value,
    path: &str,
    errs: &mut Errs,
) -> Option<EntitlementOverageRateCard> {
    let o = object(v, path, OVERAGE_KEYS, errs)?;
    check_kind_type(&o, errs, "ENTITLEMENT_OVERAGE");
    let card = parse_card_info(&o, errs, &[InvoiceTiming::InArrears]);
    let feature_id = o.req("featureId", errs, |v| {
        let s = p_name(v)?;
        if s.chars().count() > 50 {
            return Err(format!("{s:?} is longer than 50 characters"));
        }
        Ok(s)
    });
    let max_quantity = o.opt("maxQuantity", errs, p_non_negative);
    let billing_config = o.get("billingConfig").and_then(|c| {
        let c = object(
            c,
            &o.at("billingConfig"),
            &["interval", "startOffset"],
            errs,
        )?;
        let interval = c.opt("interval", errs, |v| match p_u32(v)? {
            1 => Ok(1),
            n => Err(format!(
                "{n}: billrun bills overage every pricing cycle: only 1 is supported yet"
            )),
        });
        let start_offset = c.opt("startOffset", errs, |v| match p_u32(v)? {
            0 => Ok(0),
            n => Err(format!(
                "{n}: billrun bills overage from the first cycle: only 0 is supported yet"
            )),
        });
        Some(BillingConfig {
            interval: interval.unwrap_or(1),
            start_offset: start_offset.unwrap_or(0),
        })
    });
    let rate_plan = parse_rate_plan(&o, errs);
    let rate_values = parse_slab_rate_values(&o, rate_plan.as_ref(), errs);
    Some(EntitlementOverageRateCard {
        card: card?,
        feature_id: feature_id?,
        max_quantity,
        rate_plan: rate_plan?,
        rate_values,
        billing_config,
    })
}

pub(super) fn entitlement_json(c: &BillingEntitlementRateCard) -> Value {
    let mut m = Map::new();
    card_json(&c.card, &mut m);
    m.insert("featureId".into(), json!(c.feature_id));
    let configs: Vec<Value> = c
        .feature_configs
        .iter()
        .map(|f| {
            let mut v = json!({
                "effectiveUntil": f.effective_until,
                "featureCreditLimit": dec(f.feature_credit_limit),
            });
            if let Some(from) = &f.effective_from {
                v["effectiveFrom"] = json!(from);
            }
            v
        })
        .collect();
    m.insert("featureConfigs".into(), Value::Array(configs));
    if let Recurrence::Recurring { interval, offset } = c.recurrence {
        m.insert(
            "recurrenceConfig".into(),
            json!({"interval": interval, "offset": offset}),
        );
    }
    m.insert("ratePlan".into(), rate_plan_json(&c.rate_plan));
    m.insert(
        "rateValues".into(),
        slab_rate_values_json(&c.rate_plan, &c.rate_values),
    );
    Value::Object(m)
}

pub(super) fn overage_json(c: &EntitlementOverageRateCard) -> Value {
    let mut m = Map::new();
    card_json(&c.card, &mut m);
    m.insert("featureId".into(), json!(c.feature_id));
    if let Some(q) = c.max_quantity {
        m.insert("maxQuantity".into(), dec(q));
    }
    if let Some(b) = c.billing_config {
        m.insert(
            "billingConfig".into(),
            json!({"interval": b.interval, "startOffset": b.start_offset}),
        );
    }
    m.insert("ratePlan".into(), rate_plan_json(&c.rate_plan));
    m.insert(
        "rateValues".into(),
        slab_rate_values_json(&c.rate_plan, &c.rate_values),
    );
    Value::Object(m)
}
