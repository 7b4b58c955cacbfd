//! Checks across the cards of a parsed plan (rules in [`crate::plan`]'s docs): card
//! names unique across kinds, rates only in the plan's currencies and every plan
//! currency priced by some card, license usage cycles no longer than the pricing cycle.

use std::collections::BTreeMap;

use super::read::{join, Errs};
use super::Plan;
use crate::cycle::Interval;
use crate::money::Currency;

/// Every card with its path prefix, name and the currencies it has rates for.
fn card_index(plan: &Plan) -> Vec<(String, &str, Vec<Currency>)> {
    let mut out = Vec::new();
    for (i, c) in plan.usage_cards.iter().enumerate() {
        out.push((
            format!("usageRateCards[{i}]"),
            c.card.name.as_str(),
            c.rate_values.keys().copied().collect(),
        ));
    }
    for (i, c) in plan.fixed_fee_cards.iter().enumerate() {
        out.push((
            format!("fixedFeeRateCards[{i}]"),
            c.card.name.as_str(),
            c.rate_values.keys().copied().collect(),
        ));
    }
    for (i, c) in plan.license_cards.iter().enumerate() {
        out.push((
            format!("licenseRateCards[{i}]"),
            c.card.name.as_str(),
            c.rate_values.keys().copied().collect(),
        ));
    }
    if let Some(mc) = &plan.minimum_commitment {
        out.push((
            "minimumCommitment".to_string(),
            mc.card_name(),
            mc.rate_values.keys().copied().collect(),
        ));
    }
    for (i, c) in plan.credit_grant_cards.iter().enumerate() {
        out.push((
            format!("creditGrantRateCards[{i}]"),
            c.card.name.as_str(),
            c.rate_details.keys().copied().collect(),
        ));
    }
    for (i, c) in plan.entitlement_cards.iter().enumerate() {
        out.push((
            format!("billingEntitlementRateCards[{i}]"),
            c.card.name.as_str(),
            c.rate_values.keys().copied().collect(),
        ));
    }
    for (i, c) in plan.overage_cards.iter().enumerate() {
        out.push((
            format!("entitlementOverageRateCards[{i}]"),
            c.card.name.as_str(),
            c.rate_values.keys().copied().collect(),
        ));
    }
    out
}

pub(super) fn check_unique_names(plan: &Plan, errs: &mut Errs) {
    let mut seen: BTreeMap<&str, String> = BTreeMap::new();
    for (path, name, _) in card_index(plan) {
        if let Some(first) = seen.get(name) {
            errs.add(
                &join(&path, "name"),
                format!(
                    "{name:?} is already the name of {first}: card names must be unique in a plan"
                ),
            );
        } else {
            seen.insert(name, path);
        }
    }
}

pub(super) fn check_currencies(plan: &Plan, errs: &mut Errs) {
    let cards = card_index(plan);
    for (path, _, currencies) in &cards {
        for c in currencies {
            if !plan.supported_currencies.contains(c) {
                let key = if path.starts_with("creditGrantRateCards") {
                    "rateDetails.currencySlabRateDetails"
                } else {
                    "rateValues"
                };
                errs.add(
                    &join(path, key),
                    format!("has a rate for {c}, which is not in the plan's supportedCurrencies"),
                );
            }
        }
    }
    for c in &plan.supported_currencies {
        if cards.iter().any(|(_, _, cs)| cs.contains(c)) {
            continue;
        }
        for (path, _, _) in &cards {
            errs.add(
                &join(path, "rateValues"),
                format!("no rate for {c}, which the plan supports"),
            );
        }
    }
}

fn interval_rank(i: Interval) -> u8 {
    match i {
        Interval::Weekly => 0,
        Interval::Monthly => 1,
        Interval::Quarterly => 2,
        Interval::HalfYearly => 3,
        Interval::Annually => 4,
    }
}

pub(super) fn check_usage_cycles(plan: &Plan, errs: &mut Errs) {
    let cycle = plan.pricing_cycle.interval;
    for (i, c) in plan.license_cards.iter().enumerate() {
        if let Some(u) = c.usage_cycle {
            if interval_rank(u) > interval_rank(cycle) {
                errs.add(
                    &format!("licenseRateCards[{i}].usageCycle"),
                    format!(
                        "{} is longer than the plan's {} pricing cycle",
                        u.as_str(),
                        cycle.as_str()
                    ),
                );
            }
        }
    }
}

/// Pricing rules: their JSON-logic compiles ([`crate::pricing_rules::compile`], the
/// error naming the rule and the position), their names are not card names, and an
/// UPDATE's target is a card of the plan with the rule's timing.
pub(super) fn check_pricing_rules(plan: &Plan, errs: &mut Errs) {
    if let Err(e) = crate::pricing_rules::compile(&plan.pricing_rules) {
        errs.add(&e.path(), format!("rule {:?}: {}", e.name, e.message));
    }
    let cards: Vec<(&str, bool)> = plan
        .usage_cards
        .iter()
        .map(|c| &c.card)
        .chain(plan.fixed_fee_cards.iter().map(|c| &c.card))
        .chain(plan.license_cards.iter().map(|c| &c.card))
        .chain(plan.credit_grant_cards.iter().map(|c| &c.card))
        .map(|c| (c.name.as_str(), c.invoice_timing.is_billed_in_advance()))
        .collect();
    for (i, r) in plan.pricing_rules.iter().enumerate() {
        if card_index(plan).iter().any(|(_, name, _)| *name == r.name) {
            errs.add(
                &format!("pricingRules[{i}].name"),
                format!(
                    "rule {:?}: is the name of a rate card: a rule's name names the line it adds",
                    r.name
                ),
            );
        }
        let Some(target) = r
            .action
            .target
            .as_deref()
            .filter(|_| r.action.kind == crate::pricing_rules::ActionType::Update)
        else {
            continue;
        };
        let advance = r.timing().is_billed_in_advance();
        match cards.iter().find(|(name, _)| *name == target) {
            None => errs.add(
                &format!("pricingRules[{i}].action.target"),
                format!("rule {:?}: the plan has no rate card named {target:?}", r.name),
            ),
            Some((_, a)) if *a != advance => errs.add(
                &format!("pricingRules[{i}].action.target"),
                format!(
                    "rule {:?}: rate card {target:?} is not billed {}: a rule updates the cards of its invoiceTiming",
                    r.name,
                    r.timing().as_str()
                ),
            ),
            Some(_) => {}
        }
    }
}
