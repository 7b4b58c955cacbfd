//! What the feature cards charge for one cycle (rules in [`crate::charges`]'s docs):
//! a BILLING_ENTITLEMENT card's price, and an ENTITLEMENT_OVERAGE card's rating of
//! the use of a feature beyond the allowance of the cycles it bills.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::cards::{rate_per_cycle, rating_details, Ctx};
use super::{ChargeError, ChargeLine};
use crate::plan::{
    BillingEntitlementRateCard, CardKind, EntitlementOverageRateCard, InvoiceTiming, Plan,
};
use crate::rating::rate;

/// The use of a feature in a cycle, and what the ledger granted beyond the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeatureUse {
    /// The feature's quantity over the cycle's billed days (the sum of its schemas'
    /// attribute values, README "Entitlements").
    pub used: Decimal,
    /// The allowance granted for the cycle by PREPAID entitlement cards whose invoice
    /// was paid (the entitlement ledger); the plan's IN_ADVANCE and IN_ARREARS cards
    /// are counted by [`plan_allowance`], not here.
    pub prepaid_granted: Decimal,
}

/// A cycle before the one closing whose feature use an overage card with a
/// `billingConfig` interval above 1 bills with it (the storage layer reads them, for
/// the cycles [`EntitlementOverageRateCard::cycles_billed_at`] names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlierCycle {
    /// The cycle (its index and billed days).
    pub window: crate::cycle::CycleWindow,
    /// Use and PREPAID grants per feature over its billed days (as
    /// [`super::CycleInput::features`]).
    pub features: BTreeMap<String, FeatureUse>,
}

/// The allowance of `feature_id` the plan's IN_ADVANCE and IN_ARREARS entitlement
/// cards grant in the cycle with index `cycle_index` whose first billed day (local
/// date) is `cycle_start`: the cards whose recurrence selects the cycle, each with the
/// `featureConfigs` entries in force on that day
/// ([`BillingEntitlementRateCard::quantity_on`]). PREPAID cards grant through the
/// ledger once paid.
pub fn plan_allowance(
    plan: &Plan,
    feature_id: &str,
    cycle_index: u32,
    cycle_start: NaiveDate,
) -> Decimal {
    plan.entitlement_cards
        .iter()
        .filter(|c| c.feature_id == feature_id)
        .filter(|c| c.card.invoice_timing != InvoiceTiming::Prepaid)
        .filter(|c| c.recurrence.applies_in(cycle_index))
        .filter_map(|c| c.quantity_on(cycle_start))
        .sum()
}

/// The price of an entitlement card in a cycle it grants in (its recurrence selects
/// the cycle and a `featureConfigs` entry is in force on its first billed day): the
/// allowance rated by its slabs (never prorated: it is not a charge for time).
pub(super) fn entitlement_charge(
    ctx: &Ctx,
    card: &BillingEntitlementRateCard,
) -> Result<Option<ChargeLine>, ChargeError> {
    if !card.recurrence.applies_in(ctx.window.index) {
        return Ok(None);
    }
    let Some(quantity) = card.quantity_on(ctx.window.billed.start) else {
        return Ok(None);
    };
    let rates = card
        .rate_values
        .get(&ctx.currency)
        .ok_or_else(|| ctx.no_rate(&card.card))?;
    let mut line = ctx.line(CardKind::BillingEntitlement, &card.card, quantity);
    // The feature's id is not for a reader (the line's display name says what it
    // is): "10,000 included".
    line.description = format!("{} included", count(quantity));
    let rating = rate(&card.rate_plan, rates, quantity);
    ctx.settle(&mut line, rating_details(&rating, rates, ctx.window.billed));
    Ok(Some(line))
}

/// A quantity as the line's description writes it: thousands separated by commas,
/// no trailing zeros (`20,167`, `1,234.5`), as the documents print quantities.
fn count(d: Decimal) -> String {
    let text = d.normalize().to_string();
    let (sign, unsigned) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.as_str()),
    };
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let mut out = sign.to_string();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// One cycle's use and allowance of a feature, as an overage card counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CycleOverage {
    /// The cycle's index.
    pub index: u32,
    /// The feature's use over its billed days.
    pub used: Decimal,
    /// The plan's allowance in it plus its PREPAID grants.
    pub allowance: Decimal,
}

impl CycleOverage {
    /// `used - allowance`, never negative.
    fn over(&self) -> Decimal {
        (self.used - self.allowance).max(Decimal::ZERO)
    }
}

/// The overage an overage card bills on the invoice closing `ctx`'s cycle, from the
/// cycles it bills there (`cycles`, in index order, the closing one last; a cycle the
/// plan did not cover is absent): the sum of each cycle's `used - allowance` (never
/// negative: an unused allowance of one cycle does not offset another's overage), at
/// most `maxQuantity`, rated by the card's slabs; its rate limits are per cycle, like
/// a usage card's. 1,400 used of 1,000 in one cycle bill 400; 1,200 of 1,000, then
/// 900 of 1,000, then 1,300 of 1,000 billed together bill 200 + 0 + 300 = 500.
pub(super) fn overage_charge(
    ctx: &Ctx,
    card: &EntitlementOverageRateCard,
    cycles: &[CycleOverage],
) -> Result<ChargeLine, ChargeError> {
    let rates = card
        .rate_values
        .get(&ctx.currency)
        .ok_or_else(|| ctx.no_rate(&card.card))?;
    let over: Decimal = cycles.iter().map(CycleOverage::over).sum();
    let quantity = card.max_quantity.map_or(over, |max| over.min(max));
    let mut line = ctx.line(CardKind::EntitlementOverage, &card.card, quantity);
    line.description = match cycles {
        [c] if c.index == ctx.window.index => format!(
            "{} used, {} included: {} over",
            count(c.used),
            count(c.allowance),
            count(over)
        ),
        _ => {
            let parts: Vec<String> = cycles
                .iter()
                .map(|c| {
                    format!(
                        "cycle {}: {} used, {} included",
                        c.index,
                        count(c.used),
                        count(c.allowance)
                    )
                })
                .collect();
            format!("{}: {} over", parts.join("; "), count(over))
        }
    };
    if quantity < over {
        line.description += &format!(", {} billed (the most per cycle)", count(quantity));
    }
    rate_per_cycle(ctx, &card.rate_plan, rates, quantity, &mut line);
    Ok(line)
}
