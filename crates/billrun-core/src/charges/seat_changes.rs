//! Seats changed during a cycle whose license card bills IN_ADVANCE (issue 17 item 4).
//!
//! An IN_ADVANCE license card charges, when its cycle opens, the quantity in force on
//! the cycle's first billed day (the *opening* quantity, `cards::license_charge`).
//! When that cycle closes, [`seat_changes`] compares each day's quantity with the
//! opening one and settles the difference on the invoice that closes the cycle (the
//! next invoice):
//! - With `enableProration`, every run of days with the same quantity `q` inside a
//!   usage window costs `(rate(q) - rate(opening)) x run days / window days` (window
//!   days: the uncut usage window's, the whole cycle without `usageCycle`). The run
//!   counts the day of the change: seats added on day 16 of a 30-day cycle are in
//!   force for days 16..30, 15 days, so they cost 15/30 of a cycle (the issue's
//!   example; Togai's public material gives no formula).
//!   - More seats than opened: a line "Seats added: 5 x 15/30 days".
//!   - Fewer: handled by the card's `proratedRefundMode` (absent means NONE): NONE
//!     refunds nothing; PAYMENT is a negative line "Seats removed: 5 x 15/30 days";
//!     CREDITS is a [`SeatCredit`] (the storage layer grants it to the account in
//!     the credits ledger, linked to the invoice and the card); WALLET is refused
//!     when the plan is parsed (billrun has no wallet).
//! - Without `enableProration`, a window's largest quantity is what counts (as for
//!   IN_ARREARS cards): a peak above the opening quantity costs `rate(peak) -
//!   rate(opening)` for the whole window ("Seats added: 5 x 30/30 days"); removing
//!   seats refunds nothing.
//!
//! Several changes in one cycle are netted against the opening quantity day by day
//! (10 -> 15 on day 16 then 15 -> 12 on day 20 is 5 seats for days 16..19 and 2
//! for days 20..30), so a customer is never refunded seats that were not billed.
//! Each line or credit is rounded to the currency's minor unit on its own. Seat
//! changes are not changed by pricing rules and do not count towards the minimum
//! commitment (they settle a charge of the cycle before, already counted). The
//! opening quantity is read again when the cycle closes, from the updates known
//! then: an update recorded late but effective on the first day moves the baseline.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::cards::Ctx;
use super::days::{daily_quantities, days, runs, usage_windows};
use super::{ChargeDetail, ChargeError, ChargeLine, DetailKind, LicenseChange};
use crate::period::Period;
use crate::plan::{CardKind, InvoiceTiming, LicenseRateCard, ProratedRefundMode};
use crate::rating::rate;

/// Removed seats refunded as credits (`proratedRefundMode` CREDITS): what the storage
/// layer grants to the account when it writes the invoice that closes the cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeatCredit {
    /// The license card's name.
    pub card_name: String,
    /// The cycle the seats were removed in (0 = the association's first).
    pub cycle_index: u32,
    /// The days the seats were removed for (end exclusive).
    pub period: Period,
    /// Seats fewer than the opening quantity, positive.
    pub quantity: Decimal,
    /// `"Seats removed: 5 x 15/30 days"`.
    pub description: String,
    /// The credit, positive, rounded to the invoice currency's minor unit.
    pub amount: Decimal,
}

/// What [`seat_changes`] settles for one card: lines for the closing invoice, and
/// credits to grant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeatChanges {
    /// "Seats added" lines, and "Seats removed" lines (negative) for PAYMENT.
    pub lines: Vec<ChargeLine>,
    /// Removed seats refunded as credits (CREDITS).
    pub credits: Vec<SeatCredit>,
}

/// The seat changes of `card` during the cycle of `ctx` (module docs); nothing for a
/// card that is not IN_ADVANCE. Errors: the card has no rate in the invoice currency.
pub(super) fn seat_changes(
    ctx: &Ctx,
    card: &LicenseRateCard,
    changes: &[LicenseChange],
) -> Result<SeatChanges, ChargeError> {
    let mut out = SeatChanges::default();
    if card.card.invoice_timing != InvoiceTiming::InAdvance {
        return Ok(out);
    }
    let rates = card
        .rate_values
        .get(&ctx.currency)
        .ok_or_else(|| ctx.no_rate(&card.card))?;
    let billed = ctx.window.billed;
    let daily = daily_quantities(changes, billed);
    let Some(&opening) = daily.first() else {
        return Ok(out);
    };
    let quantity_on = |day: chrono::NaiveDate| daily[(day - billed.start).num_days() as usize];
    let opening_total = rate(&card.rate_plan, rates, opening).total;
    // (days, quantity, the days they are charged for, the window's days)
    let mut changed: Vec<(Period, Decimal, i64, i64)> = Vec::new();
    for window in usage_windows(ctx.window.full, card.usage_cycle) {
        let Some(part) = window.intersect(&billed) else {
            continue;
        };
        if card.enable_proration {
            for (run, q) in runs(part, quantity_on) {
                changed.push((run, q, run.days(), window.days()));
            }
        } else {
            let peak = days(part).map(quantity_on).max().unwrap_or_default();
            changed.push((part, peak.max(opening), window.days(), window.days()));
        }
    }
    for (period, q, charged, of) in changed {
        if q == opening {
            continue;
        }
        let exact = (rate(&card.rate_plan, rates, q).total - opening_total)
            * Decimal::from(charged)
            / Decimal::from(of);
        let amount = ctx.round(exact);
        let seats = (q - opening).abs();
        let (verb, sign) = if q > opening {
            ("added", Decimal::ONE)
        } else {
            ("removed", Decimal::NEGATIVE_ONE)
        };
        let description = format!("Seats {verb}: {seats} x {charged}/{of} days");
        if q > opening || card.prorated_refund_mode == Some(ProratedRefundMode::Payment) {
            let mut line = ctx.line(CardKind::License, &card.card, seats * sign);
            // Settled on the invoice that closes the cycle.
            line.timing = InvoiceTiming::InArrears;
            line.period = period;
            line.description = description.clone();
            line.details = vec![ChargeDetail {
                kind: DetailKind::LicensePeriod,
                description,
                quantity: Some(seats * sign),
                unit_price: None,
                amount,
                period,
            }];
            line.amount = amount;
            out.lines.push(line);
        } else if card.prorated_refund_mode == Some(ProratedRefundMode::Credits)
            && amount < Decimal::ZERO
        {
            out.credits.push(SeatCredit {
                card_name: card.card.name.clone(),
                cycle_index: ctx.window.index,
                period,
                quantity: seats,
                description,
                amount: -amount,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charges::tests::p;
    use crate::charges::{invoice_contents, CycleInput};
    use crate::cycle::CycleWindow;
    use crate::money::{Currency, RoundingMode};
    use crate::plan::Plan;
    use crate::testing::d;
    use serde_json::{json, Value};
    use std::collections::BTreeMap;

    /// A 30-day cycle: April 2026.
    fn april() -> Period {
        p("2026-04-01", "2026-05-01")
    }

    /// One IN_ADVANCE license card "seats" at 10.00 per seat per cycle, plus `extra`.
    fn plan(extra: Value) -> Plan {
        let mut card = json!({
            "name": "seats", "invoiceTiming": "IN_ADVANCE", "enableProration": true,
            "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": "10"}]}],
        });
        for (k, v) in extra.as_object().unwrap() {
            card[k] = v.clone();
        }
        Plan::from_json(&json!({
            "name": "p", "supportedCurrencies": ["USD"],
            "pricingCycleConfig": {"interval": "MONTHLY"},
            "licenseRateCards": [card],
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn closing(changes: &[(&str, i64)]) -> CycleInput {
        let list = changes
            .iter()
            .map(|(day, q)| LicenseChange {
                effective_from: d(day),
                quantity: Decimal::from(*q),
            })
            .collect();
        CycleInput {
            window: CycleWindow {
                index: 0,
                full: april(),
                billed: april(),
            },
            usage: BTreeMap::new(),
            licenses: BTreeMap::from([("seats".to_string(), list)]),
            features: Default::default(),
            earlier: Vec::new(),
            last: false,
        }
    }

    fn close(plan: &Plan, input: &CycleInput) -> crate::charges::InvoiceContents {
        invoice_contents(
            plan,
            Currency::USD,
            RoundingMode::default(),
            Some(input),
            None,
        )
        .unwrap()
    }

    fn lines(c: &crate::charges::InvoiceContents) -> Vec<(String, String, String)> {
        c.lines
            .iter()
            .map(|l| {
                (
                    l.description.clone(),
                    l.quantity.to_string(),
                    l.amount.to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn seats_added_on_day_16_of_30_cost_15_of_30_days_on_the_next_invoice() {
        // 10 seats opened on April 1; 15 from April 16 (day 16 of 30): days 16..30
        // are 15 days. 5 seats x 10.00 x 15/30 = 25.00.
        let c = close(
            &plan(json!({})),
            &closing(&[("2026-04-01", 10), ("2026-04-16", 15)]),
        );
        assert_eq!(
            lines(&c),
            [(
                "Seats added: 5 x 15/30 days".into(),
                "5".into(),
                "25.00".into()
            )]
        );
        assert_eq!(c.lines[0].timing, InvoiceTiming::InArrears);
        assert_eq!(c.lines[0].period, p("2026-04-16", "2026-05-01"));
        assert!(c.seat_credits.is_empty());
    }

    #[test]
    fn seats_removed_follow_the_refund_mode() {
        // 15 seats opened; 10 from April 16: 5 seats x 10.00 x 15/30 = 25.00 back.
        let input = closing(&[("2026-04-01", 15), ("2026-04-16", 10)]);
        let credits = close(&plan(json!({"proratedRefundMode": "CREDITS"})), &input);
        assert!(credits.lines.is_empty());
        assert_eq!(credits.seat_credits.len(), 1);
        let credit = &credits.seat_credits[0];
        assert_eq!(credit.amount.to_string(), "25.00");
        assert_eq!(credit.quantity, Decimal::from(5));
        assert_eq!(credit.description, "Seats removed: 5 x 15/30 days");
        assert_eq!(credit.period, p("2026-04-16", "2026-05-01"));

        let payment = close(&plan(json!({"proratedRefundMode": "PAYMENT"})), &input);
        assert_eq!(
            lines(&payment),
            [(
                "Seats removed: 5 x 15/30 days".into(),
                "-5".into(),
                "-25.00".into()
            )]
        );
        assert!(payment.seat_credits.is_empty());

        for mode in [json!({"proratedRefundMode": "NONE"}), json!({})] {
            let none = close(&plan(mode), &input);
            assert!(none.lines.is_empty() && none.seat_credits.is_empty());
        }
    }

    #[test]
    fn changes_are_netted_day_by_day_against_the_opening_quantity() {
        // 10 opened; 15 from April 16; 12 from April 20.
        // Days 16..19 (4 days): 5 x 10.00 x 4/30 = 6.666.. -> 6.67.
        // Days 20..30 (11 days): 2 x 10.00 x 11/30 = 7.333.. -> 7.33.
        let c = close(
            &plan(json!({})),
            &closing(&[("2026-04-01", 10), ("2026-04-16", 15), ("2026-04-20", 12)]),
        );
        assert_eq!(
            lines(&c),
            [
                (
                    "Seats added: 5 x 4/30 days".into(),
                    "5".into(),
                    "6.67".into()
                ),
                (
                    "Seats added: 2 x 11/30 days".into(),
                    "2".into(),
                    "7.33".into()
                ),
            ]
        );
    }

    #[test]
    fn without_proration_a_higher_peak_costs_the_whole_window_and_removals_nothing() {
        // 10 opened, 15 from April 16: (15 - 10) x 10.00 for the whole cycle = 50.00.
        let p = plan(json!({"enableProration": false, "proratedRefundMode": "PAYMENT"}));
        let c = close(&p, &closing(&[("2026-04-01", 10), ("2026-04-16", 15)]));
        assert_eq!(
            lines(&c),
            [(
                "Seats added: 5 x 30/30 days".into(),
                "5".into(),
                "50.00".into()
            )]
        );
        let c = close(&p, &closing(&[("2026-04-01", 15), ("2026-04-16", 10)]));
        assert!(c.lines.is_empty());
    }

    #[test]
    fn in_arrears_cards_have_no_seat_changes() {
        // IN_ARREARS already bills each day's quantity: 10 x 10.00 x 15/30 + 15 x
        // 10.00 x 15/30 = 50.00 + 75.00 = 125.00, one line, no "Seats added".
        let p = plan(json!({"invoiceTiming": "IN_ARREARS"}));
        let c = close(&p, &closing(&[("2026-04-01", 10), ("2026-04-16", 15)]));
        assert_eq!(c.lines.len(), 1);
        assert_eq!(c.lines[0].amount.to_string(), "125.00");
    }
}
