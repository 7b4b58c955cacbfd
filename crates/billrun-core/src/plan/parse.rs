//! Parsing a plan and its cards from Togai's JSON (the rules are the module docs of
//! [`crate::plan`]); rate plans and rate values are in `rates`, the checks across
//! cards in `checks`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::checks::{
    check_currencies, check_pricing_rules, check_unique_names, check_usage_cycles,
};
use super::rates::{parse_flat_rate_values, parse_rate_plan, parse_slab, parse_slab_rate_values};
use super::read::{
    object, p_bool, p_choice, p_currency, p_interval, p_name, p_non_negative, p_positive, p_string,
    p_u32, Errs, Obj, RecurrenceType, BREACH_ACTIONS, EXPIRY_TYPES, PRICING_MODELS,
    RECURRENCE_TYPES, REFUND_MODES, TIMINGS,
};
use super::{
    CardInfo, CreditGrantRate, CreditGrantRateCard, ExpiryType, FixedFeeRateCard, GrantDetails,
    InvoiceTiming, LicenseRateCard, MinimumCommitment, Plan, ProratedRefundMode, Recurrence,
    UsageRateCard,
};
use crate::cycle::PricingCycleConfig;
use crate::error::{FieldError, FieldErrors};
use crate::money::Currency;
use crate::rating::{RatePlan, Rates};

const PLAN_KEYS: &[&str] = &[
    "name",
    "description",
    "type",
    "supportedCurrencies",
    "pricingCycleConfig",
    "usageRateCards",
    "fixedFeeRateCards",
    "licenseRateCards",
    "minimumCommitment",
    "creditGrantRateCards",
    "pricingRules",
    "deferredRevenue",
    "allowOngoingCycleUpdates",
    "billingEntitlementRateCards",
    "entitlementOverageRateCards",
];

pub(super) fn parse_plan(v: &Value, errs: &mut Errs) -> Option<Plan> {
    let o = object(v, "", PLAN_KEYS, errs)?;
    let name = o.req("name", errs, p_name);
    let description = o.opt("description", errs, p_string);
    o.opt("type", errs, |v| p_choice(v, &[("BILLING", ())]));
    for (flag, reason) in super::REFUSED_PLAN_FLAGS {
        if o.opt(flag, errs, p_bool) == Some(true) {
            errs.add(flag, reason);
        }
    }
    let supported_currencies = parse_supported_currencies(&o, errs);
    let pricing_cycle = match o.get("pricingCycleConfig") {
        None => {
            errs.add("pricingCycleConfig", "is required");
            None
        }
        Some(pc) => PricingCycleConfig::from_json(pc)
            .map_err(|e| errs.0.push(e.within("pricingCycleConfig")))
            .ok(),
    };
    let usage_cards = parse_list(&o, "usageRateCards", errs, parse_usage_card);
    let fixed_fee_cards = parse_list(&o, "fixedFeeRateCards", errs, parse_fixed_fee_card);
    let license_cards = parse_list(&o, "licenseRateCards", errs, parse_license_card);
    let minimum_commitment = o
        .get("minimumCommitment")
        .and_then(|mc| parse_commitment(mc, &o.at("minimumCommitment"), errs));
    let credit_grant_cards = parse_list(&o, "creditGrantRateCards", errs, parse_credit_grant_card);
    let pricing_rules = parse_list(&o, "pricingRules", errs, parse_pricing_rule);
    let entitlement_cards = parse_list(
        &o,
        "billingEntitlementRateCards",
        errs,
        super::entitlements::parse_entitlement_card,
    );
    let overage_cards = parse_list(
        &o,
        "entitlementOverageRateCards",
        errs,
        super::entitlements::parse_overage_card,
    );

    let plan = Plan {
        name: name?,
        description,
        supported_currencies: supported_currencies?,
        pricing_cycle: pricing_cycle?,
        usage_cards,
        fixed_fee_cards,
        license_cards,
        minimum_commitment,
        credit_grant_cards,
        pricing_rules,
        entitlement_cards,
        overage_cards,
    };
    check_unique_names(&plan, errs);
    check_pricing_rules(&plan, errs);
    check_currencies(&plan, errs);
    check_usage_cycles(&plan, errs);
    Some(plan)
}

fn parse_supported_currencies(o: &Obj, errs: &mut Errs) -> Option<Vec<Currency>> {
    if o.get("supportedCurrencies").is_none() {
        errs.add(
            "supportedCurrencies",
            "is required: list at least one currency",
        );
        return None;
    }
    let items = o.list("supportedCurrencies", errs);
    if items.is_empty() {
        errs.add("supportedCurrencies", "list at least one currency");
    }
    let mut out = Vec::new();
    for (path, v) in items {
        match p_currency(v) {
            Ok(c) if out.contains(&c) => errs.add(&path, format!("{c} is listed twice")),
            Ok(c) => out.push(c),
            Err(m) => errs.add(&path, m),
        }
    }
    Some(out)
}

/// Parses every element of the array at `key`; elements with errors are dropped
/// (their errors are recorded, so the plan is refused anyway).
fn parse_list<T>(
    o: &Obj,
    key: &str,
    errs: &mut Errs,
    parse: fn(&Value, &str, &mut Errs) -> Option<T>,
) -> Vec<T> {
    o.list(key, errs)
        .into_iter()
        .filter_map(|(path, v)| parse(v, &path, errs))
        .collect()
}

/// Reads the fields every card has. `timings` are those allowed for this kind.
pub(super) fn parse_card_info(
    o: &Obj,
    errs: &mut Errs,
    timings: &[InvoiceTiming],
) -> Option<CardInfo> {
    let id = o.opt("id", errs, p_name);
    let name = o.req("name", errs, p_name);
    let display_name = o.opt("displayName", errs, p_string);
    let tag = o.opt("tag", errs, p_string);
    let tax_rate_code = o.opt("taxRateCode", errs, p_name);
    // Only in the keys of the kinds an add-on can hold; elsewhere "unknown field".
    let add_on_id = o.opt("addOnId", errs, p_name);
    let invoice_timing = o
        .opt("invoiceTiming", errs, |v| {
            let t = p_choice(v, TIMINGS)?;
            if timings.contains(&t) {
                Ok(t)
            } else {
                let allowed: Vec<_> = timings.iter().map(|t| t.as_str()).collect();
                Err(format!(
                    "{} is not possible for this card: expected {}",
                    t.as_str(),
                    allowed.join(" or ")
                ))
            }
        })
        .unwrap_or(InvoiceTiming::InArrears);
    Some(CardInfo {
        id,
        name: name?,
        display_name,
        tag,
        invoice_timing,
        tax_rate_code,
        add_on_id,
    })
}

/// `type` on usage and license cards names the card kind; only this kind is valid.
pub(super) fn check_kind_type(o: &Obj, errs: &mut Errs, expected: &str) {
    o.opt("type", errs, |v| {
        let s = p_string(v)?;
        if s == expected {
            Ok(())
        } else {
            Err(format!(
                "{s:?} is not the type of this card: expected {expected} (or no type)"
            ))
        }
    });
}

const USAGE_KEYS: &[&str] = &[
    "id",
    "name",
    "displayName",
    "tag",
    "type",
    "invoiceTiming",
    "taxRateCode",
    "usageMeterId",
    "ratePlan",
    "rateValues",
];

fn parse_usage_card(v: &Value, path: &str, errs: &mut Errs) -> Option<UsageRateCard> {
    let o = object(v, path, USAGE_KEYS, errs)?;
    check_kind_type(&o, errs, "USAGE");
    let card = parse_card_info(&o, errs, &[InvoiceTiming::InArrears]);
    let usage_meter_id = o.req("usageMeterId", errs, p_name);
    let rate_plan = parse_rate_plan(&o, errs);
    let rate_values = parse_slab_rate_values(&o, rate_plan.as_ref(), errs);
    Some(UsageRateCard {
        card: card?,
        usage_meter_id: usage_meter_id?,
        rate_plan: rate_plan?,
        rate_values,
    })
}

const FIXED_FEE_KEYS: &[&str] = &[
    "id",
    "addOnId",
    "name",
    "displayName",
    "tag",
    "type",
    "invoiceTiming",
    "taxRateCode",
    "enableProration",
    "recurrenceConfig",
    "rateValues",
];

fn parse_fixed_fee_card(v: &Value, path: &str, errs: &mut Errs) -> Option<FixedFeeRateCard> {
    let o = object(v, path, FIXED_FEE_KEYS, errs)?;
    let card = parse_card_info(
        &o,
        errs,
        &[InvoiceTiming::InAdvance, InvoiceTiming::InArrears],
    );
    let recurrence = parse_recurrence(&o, errs);
    let enable_proration = o.opt("enableProration", errs, p_bool).unwrap_or(false);
    let rate_values = parse_flat_rate_values(&o, errs);
    Some(FixedFeeRateCard {
        card: card?,
        recurrence: recurrence?,
        enable_proration,
        rate_values,
    })
}

const LICENSE_KEYS: &[&str] = &[
    "id",
    "addOnId",
    "name",
    "displayName",
    "tag",
    "type",
    "invoiceTiming",
    "taxRateCode",
    "enableProration",
    "usageCycle",
    "config",
    "proratedRefundMode",
    "ratePlan",
    "rateValues",
];

/// Why a license card's `proratedRefundMode` WALLET is refused (issue 17 item 4).
const WALLET_REFUSED: &str = "WALLET is not supported: billrun has no wallet; use CREDITS \
     (a credit grant), PAYMENT (a negative line on the next invoice) or NONE";

fn parse_license_card(v: &Value, path: &str, errs: &mut Errs) -> Option<LicenseRateCard> {
    let o = object(v, path, LICENSE_KEYS, errs)?;
    let named = o
        .opt("type", errs, |v| {
            p_choice(v, &[("LICENSE", false), ("NAMED_LICENSE", true)])
        })
        .unwrap_or(false);
    let card = parse_card_info(
        &o,
        errs,
        &[InvoiceTiming::InAdvance, InvoiceTiming::InArrears],
    );
    let enable_proration = o.opt("enableProration", errs, p_bool).unwrap_or(false);
    let usage_cycle = o.opt("usageCycle", errs, p_interval);
    let (mut max_quantity, mut max_quantity_breach_action) = (None, None);
    if let Some(c) = o.get("config") {
        if let Some(c) = object(
            c,
            &o.at("config"),
            &["maxQuantity", "maxQuantityBreachAction"],
            errs,
        ) {
            max_quantity = c.opt("maxQuantity", errs, p_non_negative);
            max_quantity_breach_action = c.opt("maxQuantityBreachAction", errs, |v| {
                p_choice(v, BREACH_ACTIONS)
            });
        }
    }
    let prorated_refund_mode = o.opt("proratedRefundMode", errs, |v| {
        match p_choice(v, REFUND_MODES)? {
            ProratedRefundMode::Wallet => Err(WALLET_REFUSED.to_string()),
            mode => Ok(mode),
        }
    });
    let rate_plan = parse_rate_plan(&o, errs);
    let rate_values = parse_slab_rate_values(&o, rate_plan.as_ref(), errs);
    Some(LicenseRateCard {
        card: card?,
        named,
        enable_proration,
        usage_cycle,
        max_quantity,
        max_quantity_breach_action,
        prorated_refund_mode,
        rate_plan: rate_plan?,
        rate_values,
    })
}

fn parse_commitment(v: &Value, path: &str, errs: &mut Errs) -> Option<MinimumCommitment> {
    let o = object(v, path, &["name", "displayName", "tag", "rateValues"], errs)?;
    let name = o.opt("name", errs, p_name);
    let display_name = o.opt("displayName", errs, p_string);
    let tag = o.opt("tag", errs, p_string);
    let rate_values = parse_flat_rate_values(&o, errs);
    Some(MinimumCommitment {
        name,
        display_name,
        tag,
        rate_values,
    })
}

const CREDIT_GRANT_KEYS: &[&str] = &[
    "id",
    "addOnId",
    "name",
    "displayName",
    "tag",
    "type",
    "invoiceTiming",
    "taxRateCode",
    "recurrenceConfig",
    "grantDetails",
    "rateDetails",
];

fn parse_credit_grant_card(v: &Value, path: &str, errs: &mut Errs) -> Option<CreditGrantRateCard> {
    let o = object(v, path, CREDIT_GRANT_KEYS, errs)?;
    let all_timings = [
        InvoiceTiming::InAdvance,
        InvoiceTiming::InArrears,
        InvoiceTiming::Prepaid,
    ];
    let card = parse_card_info(&o, errs, &all_timings);
    let recurrence = parse_recurrence(&o, errs);
    let grant_details = match o.get("grantDetails") {
        Some(g) => parse_grant_details(g, &o.at("grantDetails"), errs),
        None => {
            errs.add(&o.at("grantDetails"), "is required");
            None
        }
    };
    let rate_details = match o.get("rateDetails") {
        Some(r) => parse_credit_rate_details(r, &o.at("rateDetails"), errs),
        None => {
            errs.add(&o.at("rateDetails"), "is required");
            BTreeMap::new()
        }
    };
    Some(CreditGrantRateCard {
        card: card?,
        recurrence: recurrence?,
        grant_details: grant_details?,
        rate_details,
    })
}

fn parse_grant_details(v: &Value, path: &str, errs: &mut Errs) -> Option<GrantDetails> {
    let keys = [
        "priority",
        "expiryType",
        "expiryDuration",
        "applicableEntityIds",
    ];
    let o = object(v, path, &keys, errs)?;
    let priority = o.req("priority", errs, |v| match p_u32(v)? {
        0 => Err("must be at least 1".into()),
        p => Ok(p),
    });
    let expiry_type = o.req("expiryType", errs, |v| p_choice(v, EXPIRY_TYPES));
    let expiry_duration = o.get("expiryDuration").cloned();
    if expiry_type == Some(ExpiryType::Custom) && expiry_duration.is_none() {
        errs.add(
            &o.at("expiryDuration"),
            "is required when expiryType is CUSTOM",
        );
    }
    let applicable_entity_ids = o
        .list("applicableEntityIds", errs)
        .into_iter()
        .filter_map(|(p, v)| p_name(v).map_err(|m| errs.add(&p, m)).ok())
        .collect();
    Some(GrantDetails {
        priority: priority?,
        expiry_type: expiry_type?,
        expiry_duration,
        applicable_entity_ids,
    })
}

fn parse_credit_rate_details(
    v: &Value,
    path: &str,
    errs: &mut Errs,
) -> BTreeMap<Currency, CreditGrantRate> {
    let mut out = BTreeMap::new();
    let Some(o) = object(v, path, &["pricingModel", "currencySlabRateDetails"], errs) else {
        return out;
    };
    let model = o.req("pricingModel", errs, |v| p_choice(v, PRICING_MODELS));
    let items = o.list("currencySlabRateDetails", errs);
    if items.is_empty() {
        errs.add(
            &o.at("currencySlabRateDetails"),
            "list the credits and price of at least one currency",
        );
    }
    for (path, v) in items {
        let Some(c) = object(v, &path, &["currency", "creditAmount", "slabDetails"], errs) else {
            continue;
        };
        let currency = c.req("currency", errs, p_currency);
        let credit_amount = c.req("creditAmount", errs, p_positive);
        let mut slabs = Vec::new();
        let mut rates = Vec::new();
        let keys = ["order", "startAfter", "priceType", "slabConfig", "rate"];
        for (i, (spath, sv)) in c.list("slabDetails", errs).into_iter().enumerate() {
            let Some(s) = object(sv, &spath, &keys, errs) else {
                continue;
            };
            let default_order = i as u32 + 1;
            if let (Some(slab), Some(rate)) = (
                parse_slab(&s, errs, default_order),
                s.req("rate", errs, p_non_negative),
            ) {
                slabs.push(slab);
                rates.push(rate);
            }
        }
        let rate_plan = model.and_then(|m| {
            RatePlan::new(m, slabs)
                .map_err(|e| errs.extend(rename_slabs(e, "slabDetails"), &path))
                .ok()
        });
        let rates = rate_plan.as_ref().and_then(|p| {
            Rates::new(p, rates, None, None)
                .map_err(|e| errs.extend(rename_slabs(e, "slabDetails"), &path))
                .ok()
        });
        if let (Some(currency), Some(credit_amount), Some(rate_plan), Some(rates)) =
            (currency, credit_amount, rate_plan, rates)
        {
            let rate = CreditGrantRate {
                credit_amount,
                rate_plan,
                rates,
            };
            if out.insert(currency, rate).is_some() {
                errs.add(&c.at("currency"), format!("{currency} is listed twice"));
            }
        }
    }
    out
}

/// Credit grants name their slabs `slabDetails`, not `slabs`/`slabRates`.
fn rename_slabs(errors: FieldErrors, to: &str) -> FieldErrors {
    let rename = |p: String| {
        for from in ["slabs", "slabRates"] {
            if let Some(rest) = p.strip_prefix(from) {
                return format!("{to}{rest}");
            }
        }
        p
    };
    FieldErrors(
        errors
            .0
            .into_iter()
            .map(|e| FieldError::new(rename(e.path), e.message))
            .collect(),
    )
}

/// `type` ONE_TIME | RECURRING and `recurrenceConfig{interval, offset}`.
fn parse_recurrence(o: &Obj, errs: &mut Errs) -> Option<Recurrence> {
    let kind = o.req("type", errs, |v| p_choice(v, RECURRENCE_TYPES))?;
    let config = o.get("recurrenceConfig");
    match (kind, config) {
        (RecurrenceType::OneTime, None) => Some(Recurrence::OneTime),
        (RecurrenceType::OneTime, Some(_)) => {
            errs.add(
                &o.at("recurrenceConfig"),
                "only a RECURRING card has a recurrenceConfig",
            );
            None
        }
        (RecurrenceType::Recurring, None) => Some(Recurrence::Recurring {
            interval: 1,
            offset: 0,
        }),
        (RecurrenceType::Recurring, Some(c)) => {
            recurrence_config(c, &o.at("recurrenceConfig"), errs)
        }
    }
}

/// Togai's `recurrenceConfig` at `path`: `{interval, offset}`, cycles counted from
/// the plan's start; `interval` at least 1 (default 1, every cycle), `offset`
/// default 0. Errors are recorded in `errs` naming the field.
pub(super) fn recurrence_config(v: &Value, path: &str, errs: &mut Errs) -> Option<Recurrence> {
    let c = object(v, path, &["interval", "offset"], errs)?;
    let interval = c.opt("interval", errs, |v| match p_u32(v)? {
        0 => Err("must be at least 1 (every cycle)".into()),
        n => Ok(n),
    });
    let offset = c.opt("offset", errs, p_u32).unwrap_or(0);
    let interval = match c.get("interval") {
        None => 1,
        Some(_) => interval?,
    };
    Some(Recurrence::Recurring { interval, offset })
}

/// One of Togai's `CreatePricingRule`s (its JSON-logic is checked across the rules,
/// in `check_pricing_rules`).
fn parse_pricing_rule(
    v: &Value,
    path: &str,
    errs: &mut Errs,
) -> Option<crate::pricing_rules::PricingRule> {
    serde_json::from_value(v.clone())
        .map_err(|e| errs.add(path, format!("not a pricing rule: {e}")))
        .ok()
}

#[cfg(test)]
mod refused_tests {
    use super::super::Plan;
    use serde_json::{json, Value};

    fn errors(v: &Value) -> Vec<String> {
        match Plan::from_json(v) {
            Ok(_) => Vec::new(),
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        }
    }

    fn minimal() -> Value {
        json!({"name": "p", "supportedCurrencies": ["USD"], "pricingCycleConfig": {"interval": "MONTHLY"}})
    }

    #[test]
    fn plan_flags_are_refused_when_true_with_the_reason() {
        let mut v = minimal();
        v["deferredRevenue"] = json!(false);
        v["allowOngoingCycleUpdates"] = json!(false);
        assert_eq!(errors(&v), Vec::<String>::new());
        v["deferredRevenue"] = json!(true);
        v["allowOngoingCycleUpdates"] = json!(true);
        assert_eq!(
            errors(&v),
            [
                "deferredRevenue: not supported by billrun (revenue is computed when a cycle closes)",
                "allowOngoingCycleUpdates: not supported by billrun (a finalized version never changes)"
            ]
        );
        v["deferredRevenue"] = json!("yes");
        assert!(
            errors(&v)[0].starts_with("deferredRevenue: "),
            "{:?}",
            errors(&v)
        );
    }

    #[test]
    fn a_wallet_refund_is_refused_naming_the_card() {
        let mut v = minimal();
        v["licenseRateCards"] = json!([{
            "name": "seats", "proratedRefundMode": "WALLET",
            "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": "10"}]}],
        }]);
        let e = errors(&v);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("licenseRateCards[0].proratedRefundMode: WALLET is not supported: billrun has no wallet"),
            "{e:?}"
        );
        for mode in ["NONE", "CREDITS", "PAYMENT"] {
            v["licenseRateCards"][0]["proratedRefundMode"] = json!(mode);
            assert_eq!(errors(&v), Vec::<String>::new());
        }
    }
}
