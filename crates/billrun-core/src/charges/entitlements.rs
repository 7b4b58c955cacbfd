//! What the feature cards charge for one cycle (rules in [`crate::charges`]'s docs):
//! a BILLING_ENTITLEMENT card's price, and an ENTITLEMENT_OVERAGE card's rating of
//! the use of a feature beyond the allowance of the cycle.

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

/// The allowance of `feature_id` the plan's IN_ADVANCE and IN_ARREARS entitlement
/// cards grant in the cycle with index `cycle_index` (PREPAID cards grant through the
/// ledger once paid).
pub fn plan_allowance(plan: &Plan, feature_id: &str, cycle_index: u32) -> Decimal {
    plan.entitlement_cards
        .iter()
        .filter(|c| c.feature_id == feature_id)
        .filter(|c| c.card.invoice_timing != InvoiceTiming::Prepaid)
        .filter(|c| c.recurrence.applies_in(cycle_index))
        .map(BillingEntitlementRateCard::quantity)
        .sum()
}

/// The price of an entitlement card in a cycle it grants in: the allowance rated by
/// its slabs (never prorated: it is not a charge for time).
pub(super) fn entitlement_charge(
    ctx: &Ctx,
    card: &BillingEntitlementRateCard,
) -> Result<Option<ChargeLine>, ChargeError> {
    if !card.recurrence.applies_in(ctx.window.index) {
        return Ok(None);
    }
    let rates = card
        .rate_values
        .get(&ctx.currency)
        .ok_or_else(|| ctx.no_rate(&card.card))?;
    let quantity = card.quantity();
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

/// The overage of a cycle: `used - allowance` (never negative), at most
/// `maxQuantity`, rated by the card's slabs; its rate limits are per cycle, like a
/// usage card's.
pub(super) fn overage_charge(
    ctx: &Ctx,
    card: &EntitlementOverageRateCard,
    used: Decimal,
    allowance: Decimal,
) -> Result<ChargeLine, ChargeError> {
    let rates = card
        .rate_values
        .get(&ctx.currency)
        .ok_or_else(|| ctx.no_rate(&card.card))?;
    let over = (used - allowance).max(Decimal::ZERO);
    let quantity = card.max_quantity.map_or(over, |max| over.min(max));
    let mut line = ctx.line(CardKind::EntitlementOverage, &card.card, quantity);
    line.description = format!(
        "{} used, {} included: {} over",
        count(used),
        count(allowance),
        count(over)
    );
    if quantity < over {
        line.description += &format!(", {} billed (the most per cycle)", count(quantity));
    }
    rate_per_cycle(ctx, &card.rate_plan, rates, quantity, &mut line);
    Ok(line)
}
