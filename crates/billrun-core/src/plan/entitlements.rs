//! Togai's two feature cards: `billingEntitlementRateCards` (an allowance of a feature
//! per cycle, sold at the card's price) and `entitlementOverageRateCards` (use of a
//! feature beyond its allowance, rated by the card's slabs); their types, their
//! parsing and their canonical JSON.
//!
//! Shapes: Togai's client 1.0.3 (`BillingEntitlementRateCard`, `FeatureConfig`,
//! `EntitlementOverageRateCard`, `BillingConfig`). Decisions where Togai's public
//! material is silent (README "Entitlements"):
//! - A `featureConfigs` entry's `effectiveFrom` / `effectiveUntil` ([`EffectiveAt`]):
//!   each an ISO-8601 duration counted from the first day of each cycle (`P0D`,
//!   `P1M`, `P2W`, `P1Y6M`), or an ISO-8601 calendar date (`2026-03-01`); an absent
//!   `effectiveFrom` is `P0D`. Togai's client types both as strings and publishes no
//!   syntax; its feature credit entries (one per pricing cycle, id
//!   `schedule_id#pricing_cycle_start_date$PRICE_PLAN`) are valid from an
//!   `effectiveFrom` to an `effectiveUntil`, so billrun reads a duration as counted
//!   from the cycle's start. An entry grants its `featureCreditLimit` in a cycle when
//!   it is in force on the cycle's first billed day: `from <= day < until`
//!   ([`FeatureConfig::grants_on`]). A duration `effectiveFrom` other than zero is
//!   refused (it would never be in force on that day), and so is an `effectiveUntil`
//!   not after `effectiveFrom`. The allowance of a cycle is the sum of the entries
//!   that grant in it.
//! - An entitlement card without `recurrenceConfig` grants every cycle; with one it
//!   grants in the cycles [`Recurrence::Recurring`] selects.
//! - An overage card is billed IN_ARREARS in the cycles its `billingConfig
//!   {interval N, startOffset K}` selects (K, K + N, K + 2N, ...; every cycle without
//!   one), each billing the overage of the cycles since the previous one
//!   ([`EntitlementOverageRateCard::cycles_billed_at`]).

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use chrono::{Days, Months, NaiveDate};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use super::parse::{check_kind_type, parse_card_info, recurrence_config};
use super::rates::{parse_rate_plan, parse_slab_rate_values};
use super::read::{object, p_name, p_non_negative, p_string, p_u32, Errs};
use super::write::{card_json, dec, rate_plan_json, slab_rate_values_json};
use super::{CardInfo, InvoiceTiming, Recurrence};
use crate::money::Currency;
use crate::rating::{RatePlan, Rates};

/// One end of a `featureConfigs` entry's validity (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EffectiveAt {
    /// An ISO-8601 duration (`PnYnMnWnD`, no time part) after the first billed day
    /// of each cycle: years count 12 months, weeks 7 days; months are added first
    /// (a day that does not exist is the month's last), then days.
    AfterCycleStart {
        /// Months (years x 12 + months).
        months: u32,
        /// Days (weeks x 7 + days).
        days: u32,
    },
    /// An ISO-8601 calendar date (`YYYY-MM-DD`), in the account's timezone.
    On(NaiveDate),
}

impl EffectiveAt {
    /// Parses a duration (`P1M`) or a date (`2026-03-01`).
    pub fn parse(s: &str) -> Result<EffectiveAt, String> {
        if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            return Ok(EffectiveAt::On(d));
        }
        let bad = || {
            format!(
                "{s:?} is neither an ISO-8601 duration of years, months, weeks and days \
                 (P1M, P30D, P1Y6M) nor a date (2026-03-01)"
            )
        };
        let rest = s.strip_prefix('P').ok_or_else(bad)?;
        if rest.is_empty() {
            return Err(bad());
        }
        let (mut months, mut days, mut number) = (0u32, 0u32, String::new());
        let mut last_unit = 0;
        for ch in rest.chars() {
            if ch.is_ascii_digit() {
                number.push(ch);
                continue;
            }
            let unit = match ch {
                'Y' => 1,
                'M' => 2,
                'W' => 3,
                'D' => 4,
                _ => return Err(bad()),
            };
            if number.is_empty() || unit <= last_unit {
                return Err(bad());
            }
            let n: u32 = number.parse().map_err(|_| bad())?;
            let add = |acc: u32, factor: u32| {
                n.checked_mul(factor)
                    .and_then(|v| acc.checked_add(v))
                    .filter(|v| *v <= 100_000)
                    .ok_or_else(bad)
            };
            match unit {
                1 => months = add(months, 12)?,
                2 => months = add(months, 1)?,
                3 => days = add(days, 7)?,
                _ => days = add(days, 1)?,
            }
            last_unit = unit;
            number.clear();
        }
        if !number.is_empty() {
            return Err(bad());
        }
        Ok(EffectiveAt::AfterCycleStart { months, days })
    }

    /// The day it stands for in the cycle whose first billed day is `cycle_start`.
    pub fn day(self, cycle_start: NaiveDate) -> NaiveDate {
        match self {
            EffectiveAt::On(d) => d,
            EffectiveAt::AfterCycleStart { months, days } => {
                let d = cycle_start
                    .checked_add_months(Months::new(months))
                    .unwrap_or(NaiveDate::MAX);
                d.checked_add_days(Days::new(days.into()))
                    .unwrap_or(NaiveDate::MAX)
            }
        }
    }
}

/// One `featureConfigs` entry of an entitlement card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureConfig {
    /// Togai's `effectiveFrom`, verbatim (optional; absent: `P0D`).
    pub effective_from: Option<String>,
    /// Togai's `effectiveUntil`, verbatim (required).
    pub effective_until: String,
    /// `effective_from` parsed: the first day the entry is in force (inclusive).
    pub from: EffectiveAt,
    /// `effective_until` parsed: the first day it is no longer in force (exclusive).
    pub until: EffectiveAt,
    /// The quantity of the feature granted, at least 0 (units of the feature's
    /// events, e.g. API calls).
    pub feature_credit_limit: Decimal,
}

impl FeatureConfig {
    /// Whether the entry grants in the cycle whose first billed day (local date) is
    /// `cycle_start`: it is in force on that day, `from <= cycle_start < until`.
    pub fn grants_on(&self, cycle_start: NaiveDate) -> bool {
        self.from.day(cycle_start) <= cycle_start && cycle_start < self.until.day(cycle_start)
    }
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
    /// The allowance granted in the cycle whose first billed day is `cycle_start`
    /// (local date): the sum of the `featureCreditLimit` of the entries that grant on
    /// it ([`FeatureConfig::grants_on`]); `None` when no entry does (the card then
    /// neither grants nor charges in that cycle). The recurrence is not consulted.
    pub fn quantity_on(&self, cycle_start: NaiveDate) -> Option<Decimal> {
        let mut entries = self
            .feature_configs
            .iter()
            .filter(|c| c.grants_on(cycle_start))
            .peekable();
        entries.peek()?;
        Some(entries.map(|c| c.feature_credit_limit).sum())
    }
}

/// An overage card's `billingConfig` (Togai: "the number of pricing cycles after
/// which the rate card will be billed" and "the offset for pricing cycles after which
/// the rate card will be billed").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BillingConfig {
    /// Every this many pricing cycles, at least 1 (absent: 1).
    pub interval: u32,
    /// The index of the first cycle billed (absent: 0).
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
    /// As given (kept so the plan reads back the same); `None` bills every cycle.
    pub billing_config: Option<BillingConfig>,
}

impl EntitlementOverageRateCard {
    /// `billingConfig`, `{interval: 1, startOffset: 0}` if absent.
    pub fn billing(&self) -> BillingConfig {
        self.billing_config.unwrap_or(BillingConfig {
            interval: 1,
            start_offset: 0,
        })
    }

    /// The cycles (indexes, inclusive) whose overage the card bills on the invoice
    /// that closes cycle `index`, or `None` if it bills nothing then. With
    /// `billingConfig {interval N, startOffset K}` it bills in cycles K, K + N,
    /// K + 2N, ...: in K the cycles 0 to K (none is left out), in K + mN the N cycles
    /// since the previous bill. When `last` (the plan association ends with this
    /// cycle), it also bills the cycles since the previous bill, so no overage is
    /// lost. Every cycle without `billingConfig`: `index..=index`.
    pub fn cycles_billed_at(&self, index: u32, last: bool) -> Option<RangeInclusive<u32>> {
        let BillingConfig {
            interval,
            start_offset,
        } = self.billing();
        let interval = interval.max(1);
        if index <= start_offset {
            return (index == start_offset || last).then_some(0..=index);
        }
        let since = index - start_offset;
        if since % interval == 0 {
            return Some(index + 1 - interval..=index);
        }
        // The previous billing cycle was `index - since % interval`.
        last.then_some(index + 1 - since % interval..=index)
    }
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
        let parsed = |v: &Value| {
            let s = p_string(v)?;
            EffectiveAt::parse(&s).map(|at| (s, at))
        };
        let effective_from = c.opt("effectiveFrom", errs, |v| {
            let (s, at) = parsed(v)?;
            match at {
                EffectiveAt::AfterCycleStart { months, days } if months > 0 || days > 0 => {
                    Err(format!(
                        "{s:?}: a duration effectiveFrom counts from the cycle's first day, and \
                         an entry grants in a cycle when it is in force on that day: use P0D \
                         (or leave it out), or a date"
                    ))
                }
                _ => Ok((s, at)),
            }
        });
        let effective_until = c.req("effectiveUntil", errs, parsed);
        let limit = c.req("featureCreditLimit", errs, p_non_negative);
        let from = effective_from
            .as_ref()
            .map_or(EffectiveAt::AfterCycleStart { months: 0, days: 0 }, |f| f.1);
        if let (Some((effective_until, until)), Some(feature_credit_limit)) =
            (effective_until, limit)
        {
            let never = match (from, until) {
                (EffectiveAt::On(f), EffectiveAt::On(u)) => u <= f,
                (_, EffectiveAt::AfterCycleStart { months, days }) => months == 0 && days == 0,
                _ => false,
            };
            if never {
                errs.add(
                    &c.at("effectiveUntil"),
                    format!(
                        "{effective_until:?} is not after effectiveFrom: the entry would never \
                         grant"
                    ),
                );
                continue;
            }
            feature_configs.push(FeatureConfig {
                effective_from: effective_from.map(|f| f.0),
                effective_until,
                from,
                until,
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
            0 => Err("0: the interval is a number of pricing cycles, at least 1".into()),
            n => Ok(n),
        });
        let start_offset = c.opt("startOffset", errs, p_u32);
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
