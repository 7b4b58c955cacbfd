//! What each rate card of a plan charges for one pricing cycle, and which charges go
//! on the invoice at a cycle boundary.
//!
//! Inputs are plain data the storage layer prepares ([`CycleInput`]): the cycle's
//! [`CycleWindow`], the aggregate of each usage meter over the window's billed days,
//! and each license's quantity changes. Outputs are [`ChargeLine`]s with amounts
//! already rounded to the invoice currency's minor unit (sub-lines made to add up to
//! the line with [`round_parts`](crate::money::round_parts)).
//!
//! Rules per card kind:
//! - **USAGE**: the meter's quantity over the billed days, rated by the card's rate
//!   plan; billed in arrears. A meter missing from the input used 0. The card's
//!   `minimumRate` / `maximumRate` are per-cycle limits, prorated in a partial
//!   cycle (`Ctx::cycle_limit`).
//! - **FIXED_FEE**: ONE_TIME in cycle index 0 only; RECURRING in cycles where
//!   `index >= offset` and `(index - offset) % interval == 0`. With
//!   `enableProration`, a partial window charges `rate x billed days / full days`.
//!   A ONE_TIME fee is never prorated: it is not a charge for time.
//! - **LICENSE**: a license's quantity on a day is the largest quantity that took
//!   effect that day, else the quantity carried from before (the last change of the
//!   latest earlier day with changes; 0 before any change). The cycle is cut into
//!   usage windows of `usageCycle` (the whole cycle if absent) starting at the
//!   cycle's first day, the last one cut at the cycle's end; each window is billed and
//!   the windows summed.
//!   - With `enableProration`: every run of days with the same quantity inside a
//!     window (and inside the billed days) costs `rate(quantity) x run days / window
//!     days`, where window days are those of the *uncut* usage window, so a 3-day tail
//!     of a WEEKLY window costs 3/7 of a week.
//!   - Without: the window's largest daily quantity over its billed days is rated for
//!     the whole window (a cut tail window costs a full window).
//!   - IN_ADVANCE license cards are billed when the cycle opens, so they price the
//!     quantity in force on the first billed day for every window; seats added or
//!     removed during the cycle are settled on the invoice that closes it
//!     (`seat_changes`: prorated "Seats added" lines, removed seats per
//!     `proratedRefundMode`).
//! - **CREDIT_GRANT**: the price of the grant: the currency's `creditAmount` rated
//!   by its slabs, scheduled like a fixed fee (never prorated). A grant without a
//!   price in the invoice currency is not charged (and not granted). PREPAID grants
//!   are billed like IN_ADVANCE ones.
//! - **BILLING_ENTITLEMENT**: in the cycles its `recurrenceConfig` selects (every
//!   cycle without one), the allowance (the sum of `featureCreditLimit`) rated by
//!   the card's slabs, never prorated; billed per its `invoiceTiming` (PREPAID like
//!   IN_ADVANCE). IN_ADVANCE and IN_ARREARS cards grant the allowance for the cycle
//!   ([`plan_allowance`]); PREPAID ones only once their invoice is paid (the storage
//!   layer's ledger, [`FeatureUse::prepaid_granted`]).
//! - **ENTITLEMENT_OVERAGE**: `used - allowance` of its feature over the cycle (never
//!   negative), rated by the card's slabs like a usage card; billed in arrears, every
//!   cycle. 1,400 API calls used of an allowance of 1,000 rate 400. With a
//!   `billingConfig {interval N, startOffset K}` it bills in cycles K, K + N, ...
//!   (and in the association's last cycle) the sum of the overage of each cycle since
//!   its previous bill ([`CycleInput::earlier`]); `maxQuantity` caps what one
//!   invoice bills.
//! - **MINIMUM_COMMITMENT**: a TRUE_UP line of `commitment - subtotal` when the
//!   cycle's charges of every timing (usage, fees, licenses, grant prices) add up to
//!   less than the commitment; the commitment is prorated in a partial cycle
//!   (`Ctx::cycle_limit`). No rate in the invoice currency means no commitment.
//!
//! **Per-cycle limits in a partial cycle** (one rule, `Ctx::cycle_limit`): a usage
//! card's `minimumRate` and `maximumRate` and the plan's minimum commitment are
//! amounts per full cycle. In a cycle the plan covers only in part, each is
//! `amount x billed days / full days`, rounded to the currency's minor unit before
//! it is compared with the charges (10.00 for 15 of 31 days is 4.84). Togai
//! publishes no rule for partial cycles; Lago prorates its charge spending minimums
//! by days the same way. Credit-grant prices are never prorated, so their limits
//! are not either; a license card's limits clamp each rating of a usage window,
//! which its own `enableProration` scales.
//!
//! Invoice timing ([`invoice_contents`]): the invoice at a cycle boundary holds the
//! IN_ARREARS lines and the true-up of the cycle that closes, and the IN_ADVANCE (and
//! PREPAID) lines of the cycle that opens. The plan's pricing rules then change each
//! part ([`crate::pricing_rules`]: IN_ARREARS rules the closing part, IN_ADVANCE ones
//! the opening part) and their log is part of the contents.
//!
//! This module owns the inputs, the outputs and the two entry points; the private
//! `cards` charges each kind of card and `days` splits a cycle into days and usage
//! windows; `seat_changes` settles an IN_ADVANCE license's seats changed mid-cycle.

mod cards;
mod days;
mod entitlements;
#[cfg(test)]
mod entitlements_cycles_tests;
#[cfg(test)]
mod entitlements_tests;
mod seat_changes;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::cycle::CycleWindow;
use crate::money::{Currency, RoundingMode};
use crate::period::Period;
use crate::plan::{CardKind, InvoiceTiming, Plan};
use cards::{credit_grant_charge, fixed_fee_charge, license_charge, true_up, usage_charge, Ctx};
pub use entitlements::{plan_allowance, EarlierCycle, FeatureUse};
pub use seat_changes::{SeatChanges, SeatCredit};

/// A license quantity that takes effect on a day (the storage layer's license
/// updates, ABSOLUTE quantities, in the order they were applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenseChange {
    /// The first local day the quantity is in force.
    pub effective_from: NaiveDate,
    /// The quantity from then on.
    pub quantity: Decimal,
}

/// What the storage layer provides to bill one cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleInput {
    /// The cycle and the part of it the plan applied.
    pub window: CycleWindow,
    /// Aggregate per usage meter id over `window.billed`.
    pub usage: BTreeMap<String, Decimal>,
    /// Quantity changes per license id, up to the end of the window, including the
    /// last change before it (the quantity carried in).
    pub licenses: BTreeMap<String, Vec<LicenseChange>>,
    /// Use per feature id over `window.billed` (a feature missing used 0 and had no
    /// PREPAID grant).
    pub features: BTreeMap<String, FeatureUse>,
    /// The earlier cycles of the same plan association whose feature use an overage
    /// card bills with this one (`billingConfig` interval above 1,
    /// [`crate::plan::EntitlementOverageRateCard::cycles_billed_at`]), in index order;
    /// empty when none does. A cycle missing counts no overage.
    pub earlier: Vec<EarlierCycle>,
    /// Whether the plan association ends with this cycle (no cycle opens after it):
    /// overage cards then bill what they have accumulated since their last bill.
    pub last: bool,
}

/// Why a cycle could not be charged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChargeError {
    /// The invoice currency is not one of the plan's `supportedCurrencies`.
    #[error("the plan does not support {currency}")]
    UnsupportedCurrency {
        /// The invoice currency.
        currency: Currency,
    },
    /// A card that charges has no rate in the invoice currency (see
    /// [`Plan::cards_without_rate`]).
    #[error("rate card {card:?} has no rate in {currency}")]
    NoRate {
        /// The card's name.
        card: String,
        /// The invoice currency.
        currency: Currency,
    },
}

/// What a sub-line of a charge stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DetailKind {
    /// One slab of a rated quantity.
    Slab,
    /// The min/max clamp of a rated quantity.
    Adjustment,
    /// One license quantity over some days of a usage window.
    LicensePeriod,
}

/// A sub-line of a charge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargeDetail {
    /// What it stands for.
    pub kind: DetailKind,
    /// Human-readable detail (slab bounds, days).
    pub description: String,
    /// Quantity, where meaningful.
    pub quantity: Option<Decimal>,
    /// Price per unit, where meaningful (PER_UNIT slabs).
    pub unit_price: Option<Decimal>,
    /// Rounded; the details of a line add up to the line's amount.
    pub amount: Decimal,
    /// The days it covers.
    pub period: Period,
}

/// What one rate card charges for one cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargeLine {
    /// The card's kind.
    pub kind: CardKind,
    /// The card's name (unique in the plan).
    pub card_name: String,
    /// The card's display name.
    pub display_name: String,
    /// The card's tag, grouping lines on the invoice.
    pub tag: Option<String>,
    /// When it is invoiced.
    pub timing: InvoiceTiming,
    /// The cycle it belongs to (0 = the association's first).
    pub cycle_index: u32,
    /// The days it covers (the cycle's billed days).
    pub period: Period,
    /// Usage, seats (largest daily quantity), credits granted, or 1 for fees.
    pub quantity: Decimal,
    /// The fee per cycle, for fixed fees.
    pub unit_price: Option<Decimal>,
    /// Human-readable summary (proration, commitment).
    pub description: String,
    /// Per slab, adjustment, or license period; empty for fees and true-ups.
    pub details: Vec<ChargeDetail>,
    /// Rounded to the currency's minor unit; equals the sum of `details` if any.
    pub amount: Decimal,
}

/// All the charges of one cycle, of every timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleCharges {
    /// The cycle.
    pub window: CycleWindow,
    /// One line per card that charges in this cycle, in plan order.
    pub lines: Vec<ChargeLine>,
    /// The minimum commitment's shortfall, if any.
    pub true_up: Option<ChargeLine>,
}

impl CycleCharges {
    /// Lines billed on the invoice that opens the cycle (IN_ADVANCE, PREPAID).
    pub fn in_advance(&self) -> impl Iterator<Item = &ChargeLine> {
        self.lines
            .iter()
            .filter(|l| l.timing.is_billed_in_advance())
    }

    /// Lines billed on the invoice that closes the cycle (IN_ARREARS).
    pub fn in_arrears(&self) -> impl Iterator<Item = &ChargeLine> {
        self.lines
            .iter()
            .filter(|l| !l.timing.is_billed_in_advance())
    }
}

/// What one invoice at a cycle boundary contains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceContents {
    /// The invoice currency.
    pub currency: Currency,
    /// Arrears lines of the closing cycle, then advance lines of the opening one.
    pub lines: Vec<ChargeLine>,
    /// The closing cycle's true-up, if any.
    pub true_up: Option<ChargeLine>,
    /// What the plan's pricing rules did, one entry per rule evaluated, in order
    /// (the closing cycle's IN_ARREARS rules, then the opening cycle's IN_ADVANCE
    /// ones); empty for a plan without rules.
    pub pricing_rules_log: Vec<crate::pricing_rules::RuleLog>,
    /// Seats removed from IN_ADVANCE license cards during the closing cycle and
    /// refunded as credits (`proratedRefundMode` CREDITS): the storage layer grants
    /// them ([`SeatCredit`]).
    pub seat_credits: Vec<SeatCredit>,
}

/// Charges every card of `plan` for one cycle, in `currency`.
pub fn cycle_charges(
    plan: &Plan,
    currency: Currency,
    rounding: RoundingMode,
    input: &CycleInput,
) -> Result<CycleCharges, ChargeError> {
    if !plan.supported_currencies.contains(&currency) {
        return Err(ChargeError::UnsupportedCurrency { currency });
    }
    let ctx = Ctx {
        currency,
        rounding,
        window: input.window,
    };
    let mut lines = Vec::new();
    for card in &plan.usage_cards {
        let quantity = input
            .usage
            .get(&card.usage_meter_id)
            .copied()
            .unwrap_or_default();
        lines.push(usage_charge(&ctx, card, quantity)?);
    }
    for card in &plan.fixed_fee_cards {
        lines.extend(fixed_fee_charge(&ctx, card)?);
    }
    for card in &plan.license_cards {
        let changes = input
            .licenses
            .get(card.license_id())
            .map_or(&[][..], Vec::as_slice);
        lines.push(license_charge(&ctx, card, changes)?);
    }
    for card in &plan.credit_grant_cards {
        lines.extend(credit_grant_charge(&ctx, card));
    }
    for card in &plan.entitlement_cards {
        lines.extend(entitlements::entitlement_charge(&ctx, card)?);
    }
    for card in &plan.overage_cards {
        let Some(billed) = card.cycles_billed_at(input.window.index, input.last) else {
            continue;
        };
        let current = (&input.window, &input.features);
        let earlier = input.earlier.iter().map(|e| (&e.window, &e.features));
        let cycles: Vec<entitlements::CycleOverage> = earlier
            .chain(std::iter::once(current))
            .filter(|(w, _)| billed.contains(&w.index))
            .map(|(w, features)| {
                let f = features.get(&card.feature_id).copied().unwrap_or_default();
                entitlements::CycleOverage {
                    index: w.index,
                    used: f.used,
                    allowance: plan_allowance(plan, &card.feature_id, w.index, w.billed.start)
                        + f.prepaid_granted,
                }
            })
            .collect();
        lines.push(entitlements::overage_charge(&ctx, card, &cycles)?);
    }
    let subtotal = lines.iter().map(|l| l.amount).sum();
    let true_up = plan
        .minimum_commitment
        .as_ref()
        .and_then(|mc| true_up(&ctx, mc, subtotal));
    Ok(CycleCharges {
        window: input.window,
        lines,
        true_up,
    })
}

/// The contents of the invoice at a cycle boundary: the arrears part (and true-up)
/// of `closing` (none on an association's first invoice) and the advance part of
/// `opening` (none when the association ends).
pub fn invoice_contents(
    plan: &Plan,
    currency: Currency,
    rounding: RoundingMode,
    closing: Option<&CycleInput>,
    opening: Option<&CycleInput>,
) -> Result<InvoiceContents, ChargeError> {
    let mut lines = Vec::new();
    let mut true_up = None;
    let mut seat_credits = Vec::new();
    let mut log = Vec::new();
    // The rules compiled once per thread and rule list; the plan's rules were checked
    // when it was parsed, so this does not fail.
    let rules = (!plan.pricing_rules.is_empty())
        .then(|| crate::pricing_rules::compiled(&plan.pricing_rules).ok())
        .flatten();
    let mut apply = |timing, window, part: &mut Vec<ChargeLine>| {
        if let Some(r) = &rules {
            let target = crate::pricing_rules::Target {
                timing,
                window,
                currency,
                rounding,
            };
            log.extend(r.apply(&plan.pricing_rules, &target, part));
        }
    };
    if let Some(input) = closing {
        let charges = cycle_charges(plan, currency, rounding, input)?;
        let mut part: Vec<ChargeLine> = charges.in_arrears().cloned().collect();
        apply(InvoiceTiming::InArrears, input.window, &mut part);
        lines.extend(part);
        true_up = charges.true_up;
        // After the rules: seat changes settle the advance charge of this cycle.
        let seats = closing_seat_changes(plan, currency, rounding, input)?;
        lines.extend(seats.lines);
        seat_credits = seats.credits;
    }
    if let Some(input) = opening {
        let charges = cycle_charges(plan, currency, rounding, input)?;
        let mut part: Vec<ChargeLine> = charges.in_advance().cloned().collect();
        apply(InvoiceTiming::InAdvance, input.window, &mut part);
        lines.extend(part);
    }
    Ok(InvoiceContents {
        currency,
        lines,
        true_up,
        pricing_rules_log: log,
        seat_credits,
    })
}

/// The seat changes of every IN_ADVANCE license card of `plan` during the cycle
/// `input` closes (`seat_changes`), in plan order.
fn closing_seat_changes(
    plan: &Plan,
    currency: Currency,
    rounding: RoundingMode,
    input: &CycleInput,
) -> Result<SeatChanges, ChargeError> {
    let ctx = Ctx {
        currency,
        rounding,
        window: input.window,
    };
    let mut out = SeatChanges::default();
    for card in &plan.license_cards {
        let changes = input
            .licenses
            .get(card.license_id())
            .map_or(&[][..], Vec::as_slice);
        let c = seat_changes::seat_changes(&ctx, card, changes)?;
        out.lines.extend(c.lines);
        out.credits.extend(c.credits);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
