//! Parsing rate plans (`ratePlan{pricingModel, slabs}`), their slabs and the rate
//! values of each currency (`rateValues`).

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::read::{
    object, p_choice, p_currency, p_decimal, p_non_negative, p_u32, Errs, Obj, PriceKind,
    PRICE_TYPES, PRICING_MODELS,
};
use crate::money::Currency;
use crate::rating::{PriceType, RatePlan, Rates, Slab};

const RATE_PLAN_KEYS: &[&str] = &["pricingModel", "slabs"];
const SLAB_KEYS: &[&str] = &["order", "startAfter", "priceType", "slabConfig"];

pub(super) fn parse_rate_plan(o: &Obj, errs: &mut Errs) -> Option<RatePlan> {
    let Some(v) = o.get("ratePlan") else {
        errs.add(&o.at("ratePlan"), "is required");
        return None;
    };
    let path = o.at("ratePlan");
    let rp = object(v, &path, RATE_PLAN_KEYS, errs)?;
    let model = rp.req("pricingModel", errs, |v| p_choice(v, PRICING_MODELS));
    let mut slabs = Vec::new();
    let mut complete = true;
    for (i, (spath, sv)) in rp.list("slabs", errs).into_iter().enumerate() {
        let slab =
            object(sv, &spath, SLAB_KEYS, errs).and_then(|s| parse_slab(&s, errs, i as u32 + 1));
        match slab {
            Some(slab) => slabs.push(slab),
            None => complete = false,
        }
    }
    let model = model?;
    if !complete {
        return None;
    }
    RatePlan::new(model, slabs)
        .map_err(|e| errs.extend(e, &path))
        .ok()
}

/// A slab; `order` defaults to its position (credit grants omit it).
pub(super) fn parse_slab(s: &Obj, errs: &mut Errs, default_order: u32) -> Option<Slab> {
    let order = s.opt("order", errs, p_u32).unwrap_or(default_order);
    let start_after = s.req("startAfter", errs, p_decimal);
    let kind = s.req("priceType", errs, |v| p_choice(v, PRICE_TYPES));
    let package_size = match s.get("slabConfig") {
        None => None,
        Some(c) => object(c, &s.at("slabConfig"), &["packageSize"], errs).and_then(|c| {
            c.opt("packageSize", errs, p_decimal)
                .map(|p| (p, c.at("packageSize")))
        }),
    };
    let price_type = match (kind?, package_size) {
        (PriceKind::Package, Some((size, _))) => PriceType::Package { package_size: size },
        (PriceKind::Package, None) => {
            errs.add(
                &s.at("slabConfig.packageSize"),
                "a PACKAGE slab needs a positive packageSize",
            );
            return None;
        }
        (_, Some((_, path))) => {
            errs.add(&path, "only a PACKAGE slab has a packageSize");
            return None;
        }
        (PriceKind::PerUnit, None) => PriceType::PerUnit,
        (PriceKind::Flat, None) => PriceType::Flat,
    };
    Some(Slab {
        order,
        start_after: start_after?,
        price_type,
    })
}

/// `rateValues[{currency, slabRates[{order, rate}], rateConfig{minimumRate, maximumRate}}]`.
pub(super) fn parse_slab_rate_values(
    o: &Obj,
    plan: Option<&RatePlan>,
    errs: &mut Errs,
) -> BTreeMap<Currency, Rates> {
    let mut out = BTreeMap::new();
    let items = o.list("rateValues", errs);
    if items.is_empty() {
        errs.add(
            &o.at("rateValues"),
            "list the rates of at least one currency",
        );
    }
    for (path, v) in items {
        let Some(r) = object(v, &path, &["currency", "slabRates", "rateConfig"], errs) else {
            continue;
        };
        let currency = r.req("currency", errs, p_currency);
        let (mut minimum, mut maximum) = (None, None);
        if let Some(c) = r.get("rateConfig") {
            if let Some(c) = object(
                c,
                &r.at("rateConfig"),
                &["minimumRate", "maximumRate"],
                errs,
            ) {
                minimum = c.opt("minimumRate", errs, p_non_negative);
                maximum = c.opt("maximumRate", errs, p_non_negative);
            }
        }
        let by_order = parse_slab_rates(&r, errs);
        let (Some(plan), Some(currency), Some(by_order)) = (plan, currency, by_order) else {
            continue;
        };
        let mut slab_rates = Vec::new();
        for slab in plan.slabs() {
            match by_order.get(&slab.order) {
                Some(rate) => slab_rates.push(*rate),
                None => errs.add(
                    &r.at("slabRates"),
                    format!("no rate for slab order {}", slab.order),
                ),
            }
        }
        if slab_rates.len() != plan.slabs().len() {
            continue;
        }
        match Rates::new(plan, slab_rates, minimum, maximum) {
            Ok(rates) => {
                if out.insert(currency, rates).is_some() {
                    errs.add(&r.at("currency"), format!("{currency} is listed twice"));
                }
            }
            Err(e) => errs.extend(e, &path),
        }
    }
    out
}

/// `slabRates` keyed by slab order; `None` if any entry is unreadable.
fn parse_slab_rates(r: &Obj, errs: &mut Errs) -> Option<BTreeMap<u32, Decimal>> {
    if r.get("slabRates").is_none() {
        errs.add(&r.at("slabRates"), "is required");
        return None;
    }
    let mut by_order = BTreeMap::new();
    let mut ok = true;
    for (path, v) in r.list("slabRates", errs) {
        let Some(s) = object(v, &path, &["order", "rate"], errs) else {
            ok = false;
            continue;
        };
        match (
            s.req("order", errs, p_u32),
            s.req("rate", errs, p_non_negative),
        ) {
            (Some(order), Some(rate)) => {
                if by_order.insert(order, rate).is_some() {
                    errs.add(&s.at("order"), format!("slab order {order} has two rates"));
                }
            }
            _ => ok = false,
        }
    }
    ok.then_some(by_order)
}

/// `rateValues[{currency, rate}]` of fixed fees and the minimum commitment.
pub(super) fn parse_flat_rate_values(o: &Obj, errs: &mut Errs) -> BTreeMap<Currency, Decimal> {
    let mut out = BTreeMap::new();
    let items = o.list("rateValues", errs);
    if items.is_empty() {
        errs.add(
            &o.at("rateValues"),
            "list the rates of at least one currency",
        );
    }
    for (path, v) in items {
        let Some(r) = object(v, &path, &["currency", "rate"], errs) else {
            continue;
        };
        let currency = r.req("currency", errs, p_currency);
        let rate = r.req("rate", errs, p_non_negative);
        if let (Some(currency), Some(rate)) = (currency, rate) {
            if out.insert(currency, rate).is_some() {
                errs.add(&r.at("currency"), format!("{currency} is listed twice"));
            }
        }
    }
    out
}
