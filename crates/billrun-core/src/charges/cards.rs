//! What each kind of card charges for one cycle ([`Ctx`] holds what every card is
//! charged with): usage, fixed fees, licenses, credit grants and the minimum
//! commitment's true-up. The rules are the module docs of [`crate::charges`].

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::days::{daily_quantities, days, runs, usage_windows};
use super::{ChargeDetail, ChargeError, ChargeLine, DetailKind, LicenseChange};
use crate::cycle::CycleWindow;
use crate::money::{round_parts, Currency, RoundingMode};
use crate::period::Period;
use crate::plan::{
    CardInfo, CardKind, CreditGrantRateCard, FixedFeeRateCard, InvoiceTiming, LicenseRateCard,
    MinimumCommitment, Recurrence, UsageRateCard,
};
use crate::rating::{rate, PriceType, RatePlan, Rates, Rating};

/// The invoice currency, rounding and cycle every card of a cycle is charged with.
pub(super) struct Ctx {
    pub(super) currency: Currency,
    pub(super) rounding: RoundingMode,
    pub(super) window: CycleWindow,
}

impl Ctx {
    pub(super) fn round(&self, amount: Decimal) -> Decimal {
        self.currency.round(amount, self.rounding)
    }

    pub(super) fn no_rate(&self, card: &CardInfo) -> ChargeError {
        ChargeError::NoRate {
            card: card.name.clone(),
            currency: self.currency,
        }
    }

    /// Billed days over full days, for proration.
    fn proration(&self) -> Decimal {
        self.window.full.fraction_covered_by(&self.window.billed)
    }

    fn is_partial(&self) -> bool {
        self.window.billed != self.window.full
    }

    /// A per-cycle amount limit (a usage card's `minimumRate` / `maximumRate`, the
    /// minimum commitment) for the billed part of the cycle: `amount x billed days /
    /// full days`, rounded to the currency's minor unit. The one place a partial
    /// cycle scales a limit (module docs).
    pub(super) fn cycle_limit(&self, amount: Decimal) -> Decimal {
        self.round(amount * self.proration())
    }

    /// How a prorated limit reads on the invoice: " (10.00 for 15 of 31 days)" in a
    /// partial cycle, nothing in a full one.
    pub(super) fn limit_note(&self, amount: Decimal) -> String {
        if self.is_partial() {
            format!(
                " ({amount} for {} of {} days)",
                self.window.billed.days(),
                self.window.full.days()
            )
        } else {
            String::new()
        }
    }

    pub(super) fn line(&self, kind: CardKind, card: &CardInfo, quantity: Decimal) -> ChargeLine {
        ChargeLine {
            kind,
            card_name: card.name.clone(),
            display_name: card.display().to_string(),
            tag: card.tag.clone(),
            timing: card.invoice_timing,
            cycle_index: self.window.index,
            period: self.window.billed,
            quantity,
            unit_price: None,
            description: String::new(),
            details: Vec::new(),
            amount: self.round(Decimal::ZERO),
        }
    }

    /// Sets `details` and the line's amount, rounding the parts together.
    pub(super) fn settle(&self, line: &mut ChargeLine, mut details: Vec<(ChargeDetail, Decimal)>) {
        let exact: Vec<Decimal> = details.iter().map(|(_, a)| *a).collect();
        let rounded = round_parts(&exact, self.currency, self.rounding);
        for ((detail, _), amount) in details.iter_mut().zip(rounded) {
            detail.amount = amount;
        }
        line.details = details.into_iter().map(|(d, _)| d).collect();
        line.amount = line
            .details
            .iter()
            .fold(self.round(Decimal::ZERO), |acc, d| acc + d.amount);
    }
}

pub(super) fn usage_charge(
    ctx: &Ctx,
    card: &UsageRateCard,
    quantity: Decimal,
) -> Result<ChargeLine, ChargeError> {
    let rates = card
        .rate_values
        .get(&ctx.currency)
        .ok_or_else(|| ctx.no_rate(&card.card))?;
    let mut line = ctx.line(CardKind::Usage, &card.card, quantity);
    line.description = format!("{quantity} units");
    rate_per_cycle(ctx, &card.rate_plan, rates, quantity, &mut line);
    Ok(line)
}

/// Rates `quantity` by `rate_plan` at `rates`, their minimum and maximum taken per
/// cycle, and settles `line` with the slabs; an adjustment up to the minimum (or
/// down to the maximum) names that limit. The rating of usage and overage cards.
pub(super) fn rate_per_cycle(
    ctx: &Ctx,
    rate_plan: &RatePlan,
    rates: &Rates,
    quantity: Decimal,
    line: &mut ChargeLine,
) {
    let limited = rates.map_limits(|limit| ctx.cycle_limit(limit));
    let rating = rate(rate_plan, &limited, quantity);
    let mut details = rating_details(&rating, &limited, ctx.window.billed);
    if let Some((adjustment, _)) = details
        .last_mut()
        .filter(|(d, _)| d.kind == DetailKind::Adjustment)
    {
        let limit = if rating.adjustment > Decimal::ZERO {
            rates.minimum_rate()
        } else {
            rates.maximum_rate()
        };
        adjustment.description += &ctx.limit_note(limit.unwrap_or_default());
    }
    ctx.settle(line, details);
}

/// One detail per slab reached, and one for the min/max clamp (unrounded amounts).
pub(super) fn rating_details(
    rating: &Rating,
    rates: &Rates,
    period: Period,
) -> Vec<(ChargeDetail, Decimal)> {
    let mut out: Vec<(ChargeDetail, Decimal)> = rating
        .slabs
        .iter()
        .map(|s| {
            let (description, unit_price) = match s.price_type {
                PriceType::PerUnit => (
                    format!("above {}: {} x {}", s.start_after, s.quantity, s.rate),
                    Some(s.rate),
                ),
                PriceType::Flat => (format!("above {}: flat {}", s.start_after, s.rate), None),
                PriceType::Package { package_size } => (
                    format!(
                        "above {}: {} packages of {} x {}",
                        s.start_after, s.units, package_size, s.rate
                    ),
                    None,
                ),
            };
            let detail = ChargeDetail {
                kind: DetailKind::Slab,
                description: format!("slab {} ({description})", s.order),
                quantity: Some(s.quantity),
                unit_price,
                amount: Decimal::ZERO,
                period,
            };
            (detail, s.amount)
        })
        .collect();
    if !rating.adjustment.is_zero() {
        let description = if rating.adjustment > Decimal::ZERO {
            format!(
                "minimum charge {}",
                rates.minimum_rate().unwrap_or_default()
            )
        } else {
            format!(
                "maximum charge {}",
                rates.maximum_rate().unwrap_or_default()
            )
        };
        let detail = ChargeDetail {
            kind: DetailKind::Adjustment,
            description,
            quantity: None,
            unit_price: None,
            amount: Decimal::ZERO,
            period,
        };
        out.push((detail, rating.adjustment));
    }
    out
}

pub(super) fn fixed_fee_charge(
    ctx: &Ctx,
    card: &FixedFeeRateCard,
) -> Result<Option<ChargeLine>, ChargeError> {
    if !card.recurrence.applies_in(ctx.window.index) {
        return Ok(None);
    }
    let fee = *card
        .rate_values
        .get(&ctx.currency)
        .ok_or_else(|| ctx.no_rate(&card.card))?;
    let mut line = ctx.line(CardKind::FixedFee, &card.card, Decimal::ONE);
    line.unit_price = Some(fee);
    let prorate =
        card.enable_proration && card.recurrence != Recurrence::OneTime && ctx.is_partial();
    if prorate {
        line.amount = ctx.round(fee * ctx.proration());
        // The fee itself is the line's unit price: the note says how much of it.
        line.description = format!(
            "prorated for {} of {} days",
            ctx.window.billed.days(),
            ctx.window.full.days()
        );
    } else {
        line.amount = ctx.round(fee);
        line.description = format!("{fee}");
    }
    Ok(Some(line))
}

pub(super) fn license_charge(
    ctx: &Ctx,
    card: &LicenseRateCard,
    changes: &[LicenseChange],
) -> Result<ChargeLine, ChargeError> {
    let rates = card
        .rate_values
        .get(&ctx.currency)
        .ok_or_else(|| ctx.no_rate(&card.card))?;
    let billed = ctx.window.billed;
    let daily: Vec<Decimal> = if card.card.invoice_timing == InvoiceTiming::InArrears {
        daily_quantities(changes, billed)
    } else {
        let opening = daily_quantities(
            changes,
            Period::new(billed.start, billed.start.succ_opt().unwrap_or(billed.end)),
        );
        vec![opening.first().copied().unwrap_or_default(); billed.days() as usize]
    };
    let quantity_on = |day: NaiveDate| daily[(day - billed.start).num_days() as usize];
    let mut details = Vec::new();
    for window in usage_windows(ctx.window.full, card.usage_cycle) {
        let Some(part) = window.intersect(&billed) else {
            continue;
        };
        if card.enable_proration {
            for (run, quantity) in runs(part, quantity_on) {
                let factor = Decimal::from(run.days()) / Decimal::from(window.days());
                let rating = rate(&card.rate_plan, rates, quantity);
                let detail = license_detail(&rating, run, &window, run.days());
                details.push((detail, rating.total * factor));
            }
        } else {
            let quantity = days(part).map(quantity_on).max().unwrap_or_default();
            let rating = rate(&card.rate_plan, rates, quantity);
            let detail = license_detail(&rating, part, &window, window.days());
            details.push((detail, rating.total));
        }
    }
    let peak = daily.iter().copied().max().unwrap_or_default();
    let mut line = ctx.line(CardKind::License, &card.card, peak);
    line.description = format!("up to {peak} licenses");
    ctx.settle(&mut line, details);
    Ok(line)
}

/// One license quantity over `period`, charged for `days_charged` of the usage
/// `window`'s days: `"21 licenses x 12 of 31 days"`. Its unit price is the price of
/// one license for the whole window when `rating` is one PER_UNIT slab without a
/// min/max clamp (what a reader can multiply out); none otherwise.
fn license_detail(
    rating: &Rating,
    period: Period,
    window: &Period,
    days_charged: i64,
) -> ChargeDetail {
    let quantity = rating.quantity;
    let unit_price = match rating.slabs.as_slice() {
        [only] if only.price_type == PriceType::PerUnit && rating.adjustment.is_zero() => {
            Some(only.rate)
        }
        _ => None,
    };
    let noun = if quantity == Decimal::ONE {
        "license"
    } else {
        "licenses"
    };
    ChargeDetail {
        kind: DetailKind::LicensePeriod,
        description: format!(
            "{quantity} {noun} x {days_charged} of {} days",
            window.days()
        ),
        quantity: Some(quantity),
        unit_price,
        amount: Decimal::ZERO,
        period,
    }
}

pub(super) fn credit_grant_charge(ctx: &Ctx, card: &CreditGrantRateCard) -> Option<ChargeLine> {
    if !card.recurrence.applies_in(ctx.window.index) {
        return None;
    }
    let grant = card.rate_details.get(&ctx.currency)?;
    let mut line = ctx.line(CardKind::CreditGrant, &card.card, grant.credit_amount);
    line.description = format!("{} credits", grant.credit_amount);
    let rating = rate(&grant.rate_plan, &grant.rates, grant.credit_amount);
    ctx.settle(
        &mut line,
        rating_details(&rating, &grant.rates, ctx.window.billed),
    );
    Some(line)
}

pub(super) fn true_up(ctx: &Ctx, mc: &MinimumCommitment, subtotal: Decimal) -> Option<ChargeLine> {
    let commitment = *mc.rate_values.get(&ctx.currency)?;
    let due = ctx.cycle_limit(commitment);
    if due <= subtotal {
        return None;
    }
    let info = CardInfo {
        id: None,
        name: mc.card_name().to_string(),
        display_name: Some(mc.display().to_string()),
        tag: mc.tag.clone(),
        invoice_timing: InvoiceTiming::InArrears,
        tax_rate_code: None,
        add_on_id: None,
    };
    let mut line = ctx.line(CardKind::MinimumCommitment, &info, Decimal::ONE);
    line.unit_price = Some(commitment);
    line.amount = due - subtotal;
    line.description = format!(
        "minimum {due}{}, charges {subtotal}",
        ctx.limit_note(commitment)
    );
    Some(line)
}
