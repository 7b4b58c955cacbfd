//! Writing a plan's canonical JSON ([`Plan::to_json`]): Togai's shape, decimals as
//! normalised strings, so that the stored form is exact, stable and parses back to the
//! same plan.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use super::read::{choice_name, BREACH_ACTIONS, EXPIRY_TYPES, REFUND_MODES};
use super::{
    CardInfo, CreditGrantRateCard, FixedFeeRateCard, LicenseRateCard, MinimumCommitment, Plan,
    Recurrence, UsageRateCard,
};
use crate::money::Currency;
use crate::rating::{PriceType, RatePlan, Rates, Slab};

/// Decimals are written as strings, normalised (`0.10` -> `"0.1"`), so that the
/// stored form is exact and stable.
pub(super) fn dec(d: Decimal) -> Value {
    Value::String(d.normalize().to_string())
}

pub(super) fn card_json(c: &CardInfo, m: &mut Map<String, Value>) {
    if let Some(id) = &c.id {
        m.insert("id".into(), json!(id));
    }
    m.insert("name".into(), json!(c.name));
    if let Some(d) = &c.display_name {
        m.insert("displayName".into(), json!(d));
    }
    if let Some(t) = &c.tag {
        m.insert("tag".into(), json!(t));
    }
    m.insert("invoiceTiming".into(), json!(c.invoice_timing.as_str()));
    if let Some(code) = &c.tax_rate_code {
        m.insert("taxRateCode".into(), json!(code));
    }
    if let Some(add_on) = &c.add_on_id {
        m.insert("addOnId".into(), json!(add_on));
    }
}

fn recurrence_json(r: &Recurrence, m: &mut Map<String, Value>) {
    match r {
        Recurrence::OneTime => {
            m.insert("type".into(), json!("ONE_TIME"));
        }
        Recurrence::Recurring { interval, offset } => {
            m.insert("type".into(), json!("RECURRING"));
            m.insert(
                "recurrenceConfig".into(),
                json!({"interval": interval, "offset": offset}),
            );
        }
    }
}

fn slab_json(s: &Slab) -> Value {
    let mut v = json!({"order": s.order, "startAfter": dec(s.start_after), "priceType": s.price_type.as_str()});
    if let PriceType::Package { package_size } = s.price_type {
        v["slabConfig"] = json!({"packageSize": dec(package_size)});
    }
    v
}

pub(super) fn rate_plan_json(p: &RatePlan) -> Value {
    let slabs: Vec<_> = p.slabs().iter().map(slab_json).collect();
    json!({"pricingModel": p.pricing_model().as_str(), "slabs": slabs})
}

pub(super) fn slab_rate_values_json(plan: &RatePlan, values: &BTreeMap<Currency, Rates>) -> Value {
    let list = values
        .iter()
        .map(|(c, r)| {
            let slab_rates: Vec<_> = plan
                .slabs()
                .iter()
                .zip(r.slab_rates())
                .map(|(s, rate)| json!({"order": s.order, "rate": dec(*rate)}))
                .collect();
            let mut v = json!({"currency": c.code(), "slabRates": slab_rates});
            let mut config = Map::new();
            if let Some(min) = r.minimum_rate() {
                config.insert("minimumRate".into(), dec(min));
            }
            if let Some(max) = r.maximum_rate() {
                config.insert("maximumRate".into(), dec(max));
            }
            if !config.is_empty() {
                v["rateConfig"] = Value::Object(config);
            }
            v
        })
        .collect();
    Value::Array(list)
}

fn flat_rate_values_json(values: &BTreeMap<Currency, Decimal>) -> Value {
    values
        .iter()
        .map(|(c, r)| json!({"currency": c.code(), "rate": dec(*r)}))
        .collect()
}

fn usage_json(c: &UsageRateCard) -> Value {
    let mut m = Map::new();
    card_json(&c.card, &mut m);
    m.insert("usageMeterId".into(), json!(c.usage_meter_id));
    m.insert("ratePlan".into(), rate_plan_json(&c.rate_plan));
    m.insert(
        "rateValues".into(),
        slab_rate_values_json(&c.rate_plan, &c.rate_values),
    );
    Value::Object(m)
}

fn fixed_fee_json(c: &FixedFeeRateCard) -> Value {
    let mut m = Map::new();
    card_json(&c.card, &mut m);
    recurrence_json(&c.recurrence, &mut m);
    m.insert("enableProration".into(), json!(c.enable_proration));
    m.insert("rateValues".into(), flat_rate_values_json(&c.rate_values));
    Value::Object(m)
}

fn license_json(c: &LicenseRateCard) -> Value {
    let mut m = Map::new();
    card_json(&c.card, &mut m);
    let kind = if c.named { "NAMED_LICENSE" } else { "LICENSE" };
    m.insert("type".into(), json!(kind));
    m.insert("enableProration".into(), json!(c.enable_proration));
    if let Some(u) = c.usage_cycle {
        m.insert("usageCycle".into(), json!(u.as_str()));
    }
    let mut config = Map::new();
    if let Some(q) = c.max_quantity {
        config.insert("maxQuantity".into(), dec(q));
    }
    if let Some(a) = c.max_quantity_breach_action {
        config.insert(
            "maxQuantityBreachAction".into(),
            json!(choice_name(BREACH_ACTIONS, a)),
        );
    }
    if !config.is_empty() {
        m.insert("config".into(), Value::Object(config));
    }
    if let Some(r) = c.prorated_refund_mode {
        m.insert(
            "proratedRefundMode".into(),
            json!(choice_name(REFUND_MODES, r)),
        );
    }
    m.insert("ratePlan".into(), rate_plan_json(&c.rate_plan));
    m.insert(
        "rateValues".into(),
        slab_rate_values_json(&c.rate_plan, &c.rate_values),
    );
    Value::Object(m)
}

fn commitment_json(c: &MinimumCommitment) -> Value {
    let mut m = Map::new();
    if let Some(n) = &c.name {
        m.insert("name".into(), json!(n));
    }
    if let Some(d) = &c.display_name {
        m.insert("displayName".into(), json!(d));
    }
    if let Some(t) = &c.tag {
        m.insert("tag".into(), json!(t));
    }
    m.insert("rateValues".into(), flat_rate_values_json(&c.rate_values));
    Value::Object(m)
}

fn credit_grant_json(c: &CreditGrantRateCard) -> Value {
    let mut m = Map::new();
    card_json(&c.card, &mut m);
    recurrence_json(&c.recurrence, &mut m);
    let g = &c.grant_details;
    let mut grant = json!({
        "priority": g.priority,
        "expiryType": choice_name(EXPIRY_TYPES, g.expiry_type),
    });
    if let Some(d) = &g.expiry_duration {
        grant["expiryDuration"] = d.clone();
    }
    if !g.applicable_entity_ids.is_empty() {
        grant["applicableEntityIds"] = json!(g.applicable_entity_ids);
    }
    m.insert("grantDetails".into(), grant);
    // Togai has one pricing model per card; every currency was parsed with it.
    let model = c
        .rate_details
        .values()
        .next()
        .map(|r| r.rate_plan.pricing_model());
    let details: Vec<_> = c
        .rate_details
        .iter()
        .map(|(cur, r)| {
            let slabs: Vec<_> = r
                .rate_plan
                .slabs()
                .iter()
                .zip(r.rates.slab_rates())
                .map(|(s, rate)| {
                    let mut v = slab_json(s);
                    v["rate"] = dec(*rate);
                    v
                })
                .collect();
            json!({"currency": cur.code(), "creditAmount": dec(r.credit_amount), "slabDetails": slabs})
        })
        .collect();
    let mut rate_details = json!({"currencySlabRateDetails": details});
    if let Some(model) = model {
        rate_details["pricingModel"] = json!(model.as_str());
    }
    m.insert("rateDetails".into(), rate_details);
    Value::Object(m)
}

impl Plan {
    /// The canonical Togai-shaped JSON of this plan (decimals as strings).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        if let Some(d) = &self.description {
            m.insert("description".into(), json!(d));
        }
        m.insert("type".into(), json!("BILLING"));
        let currencies: Vec<_> = self.supported_currencies.iter().map(|c| c.code()).collect();
        m.insert("supportedCurrencies".into(), json!(currencies));
        m.insert("pricingCycleConfig".into(), self.pricing_cycle.to_json());
        let lists = [
            (
                "usageRateCards",
                self.usage_cards.iter().map(usage_json).collect::<Vec<_>>(),
            ),
            (
                "fixedFeeRateCards",
                self.fixed_fee_cards.iter().map(fixed_fee_json).collect(),
            ),
            (
                "licenseRateCards",
                self.license_cards.iter().map(license_json).collect(),
            ),
        ];
        for (key, cards) in lists {
            if !cards.is_empty() {
                m.insert(key.into(), Value::Array(cards));
            }
        }
        if let Some(mc) = &self.minimum_commitment {
            m.insert("minimumCommitment".into(), commitment_json(mc));
        }
        if !self.credit_grant_cards.is_empty() {
            let cards = self
                .credit_grant_cards
                .iter()
                .map(credit_grant_json)
                .collect();
            m.insert("creditGrantRateCards".into(), Value::Array(cards));
        }
        let feature_lists = [
            (
                "billingEntitlementRateCards",
                self.entitlement_cards
                    .iter()
                    .map(super::entitlements::entitlement_json)
                    .collect::<Vec<_>>(),
            ),
            (
                "entitlementOverageRateCards",
                self.overage_cards
                    .iter()
                    .map(super::entitlements::overage_json)
                    .collect(),
            ),
        ];
        for (key, cards) in feature_lists {
            if !cards.is_empty() {
                m.insert(key.into(), Value::Array(cards));
            }
        }
        if !self.pricing_rules.is_empty() {
            m.insert("pricingRules".into(), json!(self.pricing_rules));
        }
        Value::Object(m)
    }
}
