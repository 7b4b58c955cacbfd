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
//!   negative, at most `maxQuantity`), rated by the card's slabs like a usage card;
//!   billed in arrears, every cycle. 1,400 API calls used of an allowance of 1,000
//!   rate 400.
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
pub use entitlements::{plan_allowance, FeatureUse};
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
        let feature = input
            .features
            .get(&card.feature_id)
            .copied()
            .unwrap_or_default();
        let allowance =
            plan_allowance(plan, &card.feature_id, input.window.index) + feature.prepaid_granted;
        lines.push(entitlements::overage_charge(
            &ctx,
            card,
            feature.used,
            allowance,
        )?);
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
mod tests {
    use super::*;
    use crate::testing::d;
    use rust_decimal_macros::dec;
    use serde_json::json;

    pub(super) fn p(a: &str, b: &str) -> Period {
        Period::new(d(a), d(b))
    }

    fn window(index: u32, full: Period, billed: Period) -> CycleWindow {
        CycleWindow {
            index,
            full,
            billed,
        }
    }

    pub(super) fn jan() -> Period {
        p("2026-01-01", "2026-02-01")
    }

    fn input(index: u32, billed: Period) -> CycleInput {
        CycleInput {
            window: window(index, jan(), billed),
            usage: BTreeMap::new(),
            features: Default::default(),
            licenses: BTreeMap::new(),
        }
    }

    fn plan(cards: serde_json::Value) -> Plan {
        let mut v = json!({
            "name": "p",
            "supportedCurrencies": ["USD"],
            "pricingCycleConfig": {"interval": "MONTHLY"},
        });
        for (k, c) in cards.as_object().unwrap() {
            v[k] = c.clone();
        }
        Plan::from_json(&v).unwrap_or_else(|e| panic!("{e}"))
    }

    fn usd(rate: serde_json::Value) -> serde_json::Value {
        json!([{"currency": "USD", "slabRates": [{"order": 1, "rate": rate}]}])
    }

    fn per_unit_license(extra: serde_json::Value) -> Plan {
        let mut card = json!({
            "name": "seats",
            "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
            "rateValues": usd(json!(1)),
        });
        for (k, v) in extra.as_object().unwrap() {
            card[k] = v.clone();
        }
        plan(json!({"licenseRateCards": [card]}))
    }

    fn charge(plan: &Plan, input: &CycleInput) -> CycleCharges {
        cycle_charges(plan, Currency::USD, RoundingMode::default(), input).unwrap()
    }

    fn amounts(c: &CycleCharges) -> Vec<(String, String)> {
        c.lines
            .iter()
            .map(|l| (l.card_name.clone(), l.amount.to_string()))
            .collect()
    }

    fn seats(changes: &[(&str, i64)]) -> BTreeMap<String, Vec<LicenseChange>> {
        let list = changes
            .iter()
            .map(|(day, q)| LicenseChange {
                effective_from: d(day),
                quantity: Decimal::from(*q),
            })
            .collect();
        BTreeMap::from([("seats".to_string(), list)])
    }

    #[test]
    fn usage_is_rated_and_billed_in_arrears() {
        let plan = plan(json!({"usageRateCards": [{
            "name": "calls", "usageMeterId": "calls_meter",
            "ratePlan": {"pricingModel": "TIERED", "slabs": [
                {"order": 1, "startAfter": 0, "priceType": "PER_UNIT"},
                {"order": 2, "startAfter": 1000, "priceType": "PER_UNIT"},
                {"order": 3, "startAfter": 10000, "priceType": "PER_UNIT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [
                {"order": 1, "rate": "0.10"}, {"order": 2, "rate": "0.05"}, {"order": 3, "rate": "0.01"}],
                "rateConfig": {"maximumRate": "500"}}]
        }]}));
        let mut i = input(0, jan());
        i.usage.insert("calls_meter".into(), dec!(15000));
        let c = charge(&plan, &i);
        let line = &c.lines[0];
        assert_eq!(line.amount.to_string(), "500.00");
        let details: Vec<_> = line
            .details
            .iter()
            .map(|d| (d.kind, d.amount.to_string()))
            .collect();
        assert_eq!(
            details,
            [
                (DetailKind::Slab, "100.00".to_string()),
                (DetailKind::Slab, "450.00".to_string()),
                (DetailKind::Slab, "50.00".to_string()),
                (DetailKind::Adjustment, "-100.00".to_string()),
            ]
        );
        assert_eq!(c.in_arrears().count(), 1);
        // A meter with no events used nothing.
        let c = charge(&plan, &input(0, jan()));
        assert_eq!(c.lines[0].amount.to_string(), "0.00");
    }

    /// A usage card at 1.00 per unit with the given `rateConfig`, and a minimum
    /// commitment of 10.00.
    fn limited_usage_plan(rate_config: serde_json::Value) -> Plan {
        plan(json!({
            "usageRateCards": [{"name": "calls", "usageMeterId": "m",
                "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
                "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": "1.00"}],
                                "rateConfig": rate_config}]}],
            "minimumCommitment": {"rateValues": [{"currency": "USD", "rate": "10.00"}]}
        }))
    }

    /// August 2026 (31 days), billed `[aug_from, aug_until)`, with `units` used.
    fn august(billed_from: &str, billed_until: &str, units: Decimal) -> CycleInput {
        let full = p("2026-08-01", "2026-09-01");
        CycleInput {
            window: window(0, full, p(billed_from, billed_until)),
            usage: BTreeMap::from([("m".to_string(), units)]),
            features: Default::default(),
            licenses: BTreeMap::new(),
        }
    }

    fn usage_details(c: &CycleCharges) -> Vec<(DetailKind, String)> {
        c.lines[0]
            .details
            .iter()
            .map(|d| (d.kind, d.amount.to_string()))
            .collect()
    }

    #[test]
    fn card_minimum_is_prorated_like_the_commitment_in_a_partial_cycle() {
        let plan = limited_usage_plan(json!({"minimumRate": "10.00"}));
        // On the plan Aug 1-15 ([Aug 1, Aug 16)): 15 of 31 days. The minimum is
        // 10.00 x 15/31 = 4.8387 -> 4.84; 2 units x 1.00 = 2.00, so the adjustment is
        // 4.84 - 2.00 = 2.84 and the line 4.84 (not 10.00).
        let c = charge(&plan, &august("2026-08-01", "2026-08-16", dec!(2)));
        assert_eq!(c.lines[0].amount.to_string(), "4.84");
        assert_eq!(
            usage_details(&c),
            [
                (DetailKind::Slab, "2.00".to_string()),
                (DetailKind::Adjustment, "2.84".to_string())
            ]
        );
        assert_eq!(
            c.lines[0].details[1].description,
            "minimum charge 4.84 (10.00 for 15 of 31 days)"
        );
        // The commitment of 10.00 is prorated by the same rule: 4.84 due, the
        // charges are the card's 4.84, so no true-up.
        assert!(c.true_up.is_none());
        // Without the card minimum the commitment alone tops 2.00 up to 4.84.
        let commitment_only = limited_usage_plan(json!({}));
        let c = charge(
            &commitment_only,
            &august("2026-08-01", "2026-08-16", dec!(2)),
        );
        assert_eq!(c.lines[0].amount.to_string(), "2.00");
        assert_eq!(c.true_up.unwrap().amount.to_string(), "2.84");
        // The last partial cycle too: on the plan Aug 17-31 ([Aug 17, Sep 1)), 15
        // days: the same 4.84.
        let c = charge(&plan, &august("2026-08-17", "2026-09-01", dec!(2)));
        assert_eq!(c.lines[0].amount.to_string(), "4.84");
    }

    #[test]
    fn card_maximum_is_prorated_in_a_partial_cycle() {
        let plan = limited_usage_plan(json!({"maximumRate": "20.00"}));
        // Aug 1-15, 15 of 31 days: the maximum is 20.00 x 15/31 = 9.6774 -> 9.68;
        // 30 units x 1.00 = 30.00, so the adjustment is 9.68 - 30.00 = -20.32.
        let c = charge(&plan, &august("2026-08-01", "2026-08-16", dec!(30)));
        assert_eq!(c.lines[0].amount.to_string(), "9.68");
        assert_eq!(
            usage_details(&c),
            [
                (DetailKind::Slab, "30.00".to_string()),
                (DetailKind::Adjustment, "-20.32".to_string())
            ]
        );
        assert_eq!(
            c.lines[0].details[1].description,
            "maximum charge 9.68 (20.00 for 15 of 31 days)"
        );
    }

    #[test]
    fn card_limits_are_whole_in_a_full_cycle() {
        // The whole of August: minimum 10.00, 2 units = 2.00 + 8.00 adjustment.
        let plan = limited_usage_plan(json!({"minimumRate": "10.00"}));
        let c = charge(&plan, &august("2026-08-01", "2026-09-01", dec!(2)));
        assert_eq!(
            usage_details(&c),
            [
                (DetailKind::Slab, "2.00".to_string()),
                (DetailKind::Adjustment, "8.00".to_string())
            ]
        );
        assert_eq!(c.lines[0].details[1].description, "minimum charge 10.00");
        // Maximum 20.00, 30 units = 30.00 - 10.00 adjustment.
        let plan = limited_usage_plan(json!({"maximumRate": "20.00"}));
        let c = charge(&plan, &august("2026-08-01", "2026-09-01", dec!(30)));
        assert_eq!(c.lines[0].amount.to_string(), "20.00");
        assert_eq!(usage_details(&c)[1].1, "-10.00");
    }

    #[test]
    fn a_trial_ending_mid_cycle_bills_the_rest_of_the_cycle_prorated() {
        let plan = plan(json!({
            "fixedFeeRateCards": [
                {"name": "fee", "type": "RECURRING", "invoiceTiming": "IN_ADVANCE", "enableProration": true,
                 "rateValues": [{"currency": "USD", "rate": "31.00"}]},
                {"name": "setup", "type": "ONE_TIME", "invoiceTiming": "IN_ADVANCE",
                 "rateValues": [{"currency": "USD", "rate": "5.00"}]}],
            "usageRateCards": [{"name": "calls", "usageMeterId": "m",
                "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
                "rateValues": usd(json!("0.10"))}],
            "minimumCommitment": {"rateValues": [{"currency": "USD", "rate": "62.00"}]}
        }));
        // Attached Jan 1 with 7 free days: billed from Jan 8, 24 of 31 days.
        let (config, from) = plan.pricing_cycle.after_trial(d("2026-01-01"), 7);
        let first = config.window_at(from, None, 0).unwrap();
        let mut input = CycleInput {
            window: first,
            usage: BTreeMap::new(),
            features: Default::default(),
            licenses: BTreeMap::new(),
        };
        let m = RoundingMode::default();
        // The invoice at the trial's end (Jan 8): the fee 31.00 x 24/31 = 24.00 and
        // the one-time setup 5.00 (the first paid cycle is cycle 0).
        let opening = invoice_contents(&plan, Currency::USD, m, None, Some(&input)).unwrap();
        let lines: Vec<_> = opening
            .lines
            .iter()
            .map(|l| (l.card_name.as_str(), l.amount.to_string(), l.period))
            .collect();
        assert_eq!(
            lines,
            [
                ("fee", "24.00".to_string(), p("2026-01-08", "2026-02-01")),
                ("setup", "5.00".to_string(), p("2026-01-08", "2026-02-01"))
            ]
        );
        // Feb 1 closes January: 100 calls after the trial x 0.10 = 10.00; the
        // commitment 62.00 x 24/31 = 48.00 against 24.00 + 5.00 + 10.00 = 39.00 is
        // a 9.00 true-up.
        input.usage.insert("m".into(), dec!(100));
        let closing = invoice_contents(&plan, Currency::USD, m, Some(&input), None).unwrap();
        assert_eq!(closing.lines[0].amount.to_string(), "10.00");
        assert_eq!(closing.true_up.unwrap().amount.to_string(), "9.00");
    }

    #[test]
    fn fixed_fees_follow_their_recurrence() {
        let plan = plan(json!({"fixedFeeRateCards": [
            {"name": "setup", "type": "ONE_TIME", "rateValues": [{"currency": "USD", "rate": 50}]},
            {"name": "quarterly", "type": "RECURRING", "recurrenceConfig": {"interval": 3, "offset": 1},
             "rateValues": [{"currency": "USD", "rate": 30}]},
            {"name": "monthly", "type": "RECURRING", "rateValues": [{"currency": "USD", "rate": 10}]}
        ]}));
        let names = |index| -> Vec<String> {
            charge(&plan, &input(index, jan()))
                .lines
                .into_iter()
                .map(|l| l.card_name)
                .collect()
        };
        assert_eq!(names(0), ["setup", "monthly"]);
        assert_eq!(names(1), ["quarterly", "monthly"]);
        assert_eq!(names(2), ["monthly"]);
        assert_eq!(names(4), ["quarterly", "monthly"]);
    }

    #[test]
    fn fixed_fee_proration_in_a_partial_cycle() {
        let plan = plan(json!({"fixedFeeRateCards": [
            {"name": "prorated", "type": "RECURRING", "enableProration": true, "rateValues": [{"currency": "USD", "rate": 99}]},
            {"name": "whole", "type": "RECURRING", "rateValues": [{"currency": "USD", "rate": 99}]},
            {"name": "setup", "type": "ONE_TIME", "enableProration": true, "rateValues": [{"currency": "USD", "rate": 50}]}
        ]}));
        // Attached on 22 Jan: 10 of 31 days.
        let c = charge(&plan, &input(0, p("2026-01-22", "2026-02-01")));
        assert_eq!(
            amounts(&c),
            [
                ("prorated".into(), "31.94".into()),
                ("whole".into(), "99.00".into()),
                ("setup".into(), "50.00".into())
            ]
        );
        assert_eq!(c.lines[0].period, p("2026-01-22", "2026-02-01"));
        // 99 x 10 / 31 = 31.935...: the fee is the unit price, the note the days.
        assert_eq!(c.lines[0].unit_price, Some(dec!(99)));
        assert_eq!(c.lines[0].description, "prorated for 10 of 31 days");
    }

    #[test]
    fn license_weekly_usage_cycle_over_four_weeks_is_four_windows() {
        let plan = per_unit_license(json!({"usageCycle": "WEEKLY"}));
        let feb = p("2027-02-01", "2027-03-01"); // 28 days
        let mut i = input(0, feb);
        i.window = window(0, feb, feb);
        i.licenses = seats(&[("2027-01-15", 1)]);
        let c = charge(&plan, &i);
        assert_eq!(c.lines[0].amount.to_string(), "4.00");
        assert_eq!(c.lines[0].details.len(), 4);
        // Without a usage cycle, the month is one window.
        let plan = per_unit_license(json!({}));
        assert_eq!(charge(&plan, &i).lines[0].amount.to_string(), "1.00");
    }

    #[test]
    fn license_tail_window_with_and_without_proration() {
        // January: 4 whole weeks and a 3-day tail.
        let mut i = input(0, jan());
        i.licenses = seats(&[("2025-12-01", 7)]);
        let without = per_unit_license(json!({"usageCycle": "WEEKLY"}));
        assert_eq!(charge(&without, &i).lines[0].amount.to_string(), "35.00");
        let with = per_unit_license(json!({"usageCycle": "WEEKLY", "enableProration": true}));
        // 4 x 7 + 7 x 3/7 = 31
        assert_eq!(charge(&with, &i).lines[0].amount.to_string(), "31.00");
    }

    #[test]
    fn license_proration_charges_each_quantity_for_its_days() {
        let plan = per_unit_license(json!({"enableProration": true, "rateValues": usd(json!(31))}));
        let mut i = input(0, jan());
        // 10 seats until the 11th, then 20; two updates on the 21st, 30 then 5: the
        // 21st counts 30 (its largest), the days after carry 5 (its last). Changes
        // may come unsorted across days.
        i.licenses = seats(&[
            ("2026-01-21", 30),
            ("2025-12-01", 10),
            ("2026-01-21", 5),
            ("2026-01-11", 20),
        ]);
        let line = &charge(&plan, &i).lines[0];
        let runs: Vec<_> = line
            .details
            .iter()
            .map(|d| {
                (
                    d.quantity.unwrap().to_string(),
                    d.period.days(),
                    d.amount.to_string(),
                )
            })
            .collect();
        assert_eq!(
            runs,
            [
                ("10".to_string(), 10, "100.00".to_string()),
                ("20".to_string(), 10, "200.00".to_string()),
                ("30".to_string(), 1, "30.00".to_string()),
                ("5".to_string(), 10, "50.00".to_string()),
            ]
        );
        assert_eq!(line.amount.to_string(), "380.00");
        assert_eq!(line.quantity, dec!(30));
        // Each run reads as licenses x days, priced per license for the month:
        // 10 x $31 x 10/31 = $100.00.
        let read: Vec<_> = line
            .details
            .iter()
            .map(|d| (d.description.as_str(), d.unit_price))
            .collect();
        assert_eq!(
            read,
            [
                ("10 licenses x 10 of 31 days", Some(dec!(31))),
                ("20 licenses x 10 of 31 days", Some(dec!(31))),
                ("30 licenses x 1 of 31 days", Some(dec!(31))),
                ("5 licenses x 10 of 31 days", Some(dec!(31))),
            ]
        );
    }

    #[test]
    fn license_without_proration_rates_the_peak() {
        let plan = per_unit_license(json!({"rateValues": usd(json!(10))}));
        let mut i = input(0, jan());
        i.licenses = seats(&[("2025-12-01", 3), ("2026-01-10", 8), ("2026-01-12", 2)]);
        assert_eq!(charge(&plan, &i).lines[0].amount.to_string(), "80.00");
        // Before any change there are no seats.
        let mut i = input(0, jan());
        i.licenses = seats(&[("2026-03-01", 3)]);
        assert_eq!(charge(&plan, &i).lines[0].amount.to_string(), "0.00");
    }

    #[test]
    fn license_in_a_partial_cycle_counts_only_billed_days() {
        let plan = per_unit_license(json!({"enableProration": true, "rateValues": usd(json!(31))}));
        let mut i = input(0, p("2026-01-22", "2026-02-01"));
        i.licenses = seats(&[("2025-12-01", 100), ("2026-01-22", 2)]);
        assert_eq!(charge(&plan, &i).lines[0].amount.to_string(), "20.00");
    }

    #[test]
    fn in_advance_license_prices_the_opening_quantity() {
        let plan =
            per_unit_license(json!({"invoiceTiming": "IN_ADVANCE", "rateValues": usd(json!(10))}));
        let mut i = input(0, jan());
        i.licenses = seats(&[("2025-12-01", 3), ("2026-01-01", 4), ("2026-01-10", 9)]);
        let c = charge(&plan, &i);
        assert_eq!(c.lines[0].amount.to_string(), "40.00");
        assert_eq!(c.in_advance().count(), 1);
    }

    #[test]
    fn true_up_tops_up_to_the_commitment() {
        let plan = plan(json!({
            "fixedFeeRateCards": [{"name": "fee", "type": "RECURRING", "invoiceTiming": "IN_ADVANCE", "enableProration": true,
                                   "rateValues": [{"currency": "USD", "rate": 300}]}],
            "usageRateCards": [{"name": "calls", "usageMeterId": "m",
                "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
                "rateValues": usd(json!(1))}],
            "minimumCommitment": {"displayName": "Monthly minimum", "rateValues": [{"currency": "USD", "rate": 1000}]}
        }));
        let mut i = input(0, jan());
        i.usage.insert("m".into(), dec!(450.5));
        let t = charge(&plan, &i).true_up.unwrap();
        // 1000 - (300 + 450.50)
        assert_eq!(
            (t.amount.to_string(), t.display_name.as_str()),
            ("249.50".to_string(), "Monthly minimum")
        );
        i.usage.insert("m".into(), dec!(700));
        assert!(charge(&plan, &i).true_up.is_none());
        i.usage.insert("m".into(), dec!(800));
        assert!(charge(&plan, &i).true_up.is_none(), "never negative");
        // Partial: 10 of 31 days. Commitment 322.58, fee 96.77, usage 100.
        let mut i = input(0, p("2026-01-22", "2026-02-01"));
        i.usage.insert("m".into(), dec!(100));
        assert_eq!(
            charge(&plan, &i).true_up.unwrap().amount.to_string(),
            "125.81"
        );
    }

    #[test]
    fn invoice_at_a_boundary_holds_arrears_of_the_closing_and_advance_of_the_opening() {
        let plan = plan(json!({
            "fixedFeeRateCards": [{"name": "fee", "type": "RECURRING", "invoiceTiming": "IN_ADVANCE",
                                   "rateValues": [{"currency": "USD", "rate": 20}]}],
            "usageRateCards": [{"name": "calls", "usageMeterId": "m",
                "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
                "rateValues": usd(json!(1))}],
            "minimumCommitment": {"rateValues": [{"currency": "USD", "rate": 100}]}
        }));
        let mut closing = input(0, jan());
        closing.usage.insert("m".into(), dec!(30));
        let feb = p("2026-02-01", "2026-03-01");
        let opening = CycleInput {
            window: window(1, feb, feb),
            usage: BTreeMap::new(),
            features: Default::default(),
            licenses: BTreeMap::new(),
        };
        let m = RoundingMode::default();
        let first = invoice_contents(&plan, Currency::USD, m, None, Some(&closing)).unwrap();
        assert_eq!(
            first
                .lines
                .iter()
                .map(|l| l.card_name.as_str())
                .collect::<Vec<_>>(),
            ["fee"]
        );
        assert!(first.true_up.is_none());
        let boundary =
            invoice_contents(&plan, Currency::USD, m, Some(&closing), Some(&opening)).unwrap();
        let lines: Vec<_> = boundary
            .lines
            .iter()
            .map(|l| (l.card_name.as_str(), l.cycle_index))
            .collect();
        assert_eq!(lines, [("calls", 0), ("fee", 1)]);
        // The true-up counts the fee billed in advance for January: 100 - 20 - 30.
        assert_eq!(boundary.true_up.unwrap().amount.to_string(), "50.00");
        let last = invoice_contents(&plan, Currency::USD, m, Some(&closing), None).unwrap();
        assert_eq!(last.lines.len(), 1);
    }

    #[test]
    fn credit_grants_are_priced_and_billed_in_advance() {
        let plan = plan(json!({"creditGrantRateCards": [{
            "name": "credits", "type": "ONE_TIME", "invoiceTiming": "PREPAID",
            "grantDetails": {"priority": 1, "expiryType": "NO_EXPIRY"},
            "rateDetails": {"pricingModel": "TIERED", "currencySlabRateDetails": [
                {"currency": "USD", "creditAmount": 500, "slabDetails": [{"startAfter": 0, "priceType": "PER_UNIT", "rate": "0.9"}]}]}
        }]}));
        let c = charge(&plan, &input(0, jan()));
        assert_eq!(
            (c.lines[0].quantity, c.lines[0].amount.to_string()),
            (dec!(500), "450.00".to_string())
        );
        assert_eq!(c.in_advance().count(), 1);
        assert!(charge(&plan, &input(1, jan())).lines.is_empty());
    }

    #[test]
    fn currencies_the_plan_or_a_card_lacks_are_errors() {
        let plan = per_unit_license(json!({}));
        let e = cycle_charges(
            &plan,
            Currency::EUR,
            RoundingMode::default(),
            &input(0, jan()),
        )
        .unwrap_err();
        assert_eq!(
            e,
            ChargeError::UnsupportedCurrency {
                currency: Currency::EUR
            }
        );
        let mut v = plan.to_json();
        v["supportedCurrencies"] = json!(["USD", "EUR"]);
        v["fixedFeeRateCards"] = json!([{"name": "fee", "type": "RECURRING", "rateValues": [{"currency": "EUR", "rate": 1}]}]);
        let plan = Plan::from_json(&v).unwrap();
        let e = cycle_charges(
            &plan,
            Currency::EUR,
            RoundingMode::default(),
            &input(0, jan()),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "rate card \"seats\" has no rate in EUR");
    }
}
