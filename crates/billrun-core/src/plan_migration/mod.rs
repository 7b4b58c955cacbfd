//! Plan migration: when an account leaves its plan for another, and what it is owed
//! for time already paid.
//!
//! An account is on a plan through a *plan period* `[from, until)` of local dates.
//! A migration ends that period on the **switch date** and starts a period on the
//! target plan there:
//! - `NEXT_CYCLE*`: the switch date is the end of the account's cycle that contains
//!   the migration date, so the current cycle is billed whole on the old plan.
//! - `IMMEDIATE*`: the switch date is the migration date itself (billing periods are
//!   whole local days: the split is at the start of that day in the account's
//!   timezone). The current cycle is cut there: its part before is billed on the old
//!   plan (usage rated by the old cards; fees and licenses prorated by day where
//!   their cards enable proration, like any partial cycle), its part after on the
//!   new plan. What the old plan billed **in advance** for the days after the switch
//!   is credited back ([`unused_advance`]).
//! - `*_IGNORE_OVERRIDE`: the account's overrides are not carried to the new plan.
//!
//! `retainStartOffsets` keeps the account's cycle alignment on the new plan
//! ([`crate::cycle::PricingCycleConfig::aligned_with`]).
//!
//! What migrating one account means as a whole (these rules, its overrides carried,
//! the target checked in its currency, the cycles cut) is [`decide_account`]
//! (module [`account`]).

pub mod account;
#[cfg(test)]
mod account_tests;

pub use account::{
    decide_account, AccountOnSource, AccountSwitch, MigrationTerms, NotMigrated, RecordedCycle,
};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::charges::CycleCharges;
use crate::cycle::PricingCycleConfig;
use crate::money::{Currency, RoundingMode};
use crate::period::Period;
use crate::plan::{CardKind, Plan, Recurrence};

/// Togai's `migrationMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MigrationMode {
    /// From the migration date, overrides carried.
    Immediate,
    /// From the migration date, overrides dropped.
    ImmediateIgnoreOverride,
    /// From each account's next cycle start, overrides carried.
    NextCycle,
    /// From each account's next cycle start, overrides dropped.
    NextCycleIgnoreOverride,
}

impl MigrationMode {
    /// Every mode, as the admin screen lists them.
    pub const ALL: [MigrationMode; 4] = [
        MigrationMode::Immediate,
        MigrationMode::ImmediateIgnoreOverride,
        MigrationMode::NextCycle,
        MigrationMode::NextCycleIgnoreOverride,
    ];

    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            MigrationMode::Immediate => "IMMEDIATE",
            MigrationMode::ImmediateIgnoreOverride => "IMMEDIATE_IGNORE_OVERRIDE",
            MigrationMode::NextCycle => "NEXT_CYCLE",
            MigrationMode::NextCycleIgnoreOverride => "NEXT_CYCLE_IGNORE_OVERRIDE",
        }
    }

    /// Parses [`Self::as_str`]'s names.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Whether the current cycle is cut at the migration date.
    pub fn is_immediate(self) -> bool {
        matches!(
            self,
            MigrationMode::Immediate | MigrationMode::ImmediateIgnoreOverride
        )
    }

    /// Whether the account's overrides go to the new plan.
    pub fn carries_overrides(self) -> bool {
        matches!(self, MigrationMode::Immediate | MigrationMode::NextCycle)
    }
}

impl std::fmt::Display for MigrationMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why one account cannot be migrated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SwitchError {
    /// The plan period starts on or after the migration date: nothing of it to end.
    #[error("its plan period starts on {from}, not before the migration date {on}")]
    StartsOnOrAfter {
        /// The period's first day.
        from: NaiveDate,
        /// The migration date.
        on: NaiveDate,
    },
    /// The plan period ends before the switch date.
    #[error("its plan period ends on {until}, before the switch date {switch}")]
    EndsBefore {
        /// The period's end.
        until: NaiveDate,
        /// Where the migration would switch.
        switch: NaiveDate,
    },
}

/// The date an account on a plan period `[from, until)` with cycle `config` switches
/// to the target plan, for a migration on local date `on` (module docs).
pub fn switch_date(
    mode: MigrationMode,
    config: &PricingCycleConfig,
    from: NaiveDate,
    until: Option<NaiveDate>,
    on: NaiveDate,
) -> Result<NaiveDate, SwitchError> {
    let switch = if mode.is_immediate() {
        if from >= on {
            return Err(SwitchError::StartsOnOrAfter { from, on });
        }
        on
    } else if on < from {
        return Err(SwitchError::StartsOnOrAfter { from, on });
    } else {
        match config.window_containing(from, until, on) {
            Some(w) => w.billed.end,
            None => {
                // `on` is on or after `until`: the period is already over.
                let until = until.unwrap_or(on);
                return Err(SwitchError::EndsBefore { until, switch: on });
            }
        }
    };
    match until {
        Some(until) if until <= switch => Err(SwitchError::EndsBefore { until, switch }),
        _ => Ok(switch),
    }
}

/// What the old plan billed in advance for days after the switch, per card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnusedAdvance {
    /// The card's name.
    pub card_name: String,
    /// The card's display name.
    pub display_name: String,
    /// The days paid for and not used.
    pub period: Period,
    /// What was billed for the whole window.
    pub billed: Decimal,
    /// The part credited back: `billed x unused days / billed days`, rounded.
    pub amount: Decimal,
}

/// The in-advance charges of `charges` (one cycle of `plan`, as its opening invoice
/// billed them) that pay for days on or after `switch`, each prorated by day.
///
/// Recurring fixed fees and licenses are charges for time, so their unused days are
/// credited back whether or not the card prorates partial cycles: the account stops
/// receiving that plan on the switch date. One-time fees and credit grants are not
/// (a setup fee bought the setup; granted credits stay granted).
pub fn unused_advance(
    plan: &Plan,
    charges: &CycleCharges,
    switch: NaiveDate,
    currency: Currency,
    rounding: RoundingMode,
) -> Vec<UnusedAdvance> {
    let billed_days = charges.window.billed;
    if switch >= billed_days.end {
        return Vec::new();
    }
    let unused = Period::new(switch.max(billed_days.start), billed_days.end);
    let fraction = billed_days.fraction_covered_by(&unused);
    charges
        .in_advance()
        .filter(|line| match line.kind {
            CardKind::License => true,
            CardKind::FixedFee => plan
                .fixed_fee_cards
                .iter()
                .find(|c| c.card.name == line.card_name)
                .is_some_and(|c| c.recurrence != Recurrence::OneTime),
            _ => false,
        })
        .filter(|line| line.amount > Decimal::ZERO)
        .map(|line| UnusedAdvance {
            card_name: line.card_name.clone(),
            display_name: line.display_name.clone(),
            period: unused,
            billed: line.amount,
            amount: currency.round(line.amount * fraction, rounding),
        })
        .filter(|u| u.amount > Decimal::ZERO)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charges::{cycle_charges, CycleInput};
    use crate::testing::d;
    use rust_decimal_macros::dec;
    use serde_json::json;

    fn monthly_on_1st() -> PricingCycleConfig {
        PricingCycleConfig::from_json(
            &json!({"interval": "MONTHLY", "startOffset": {"dayOffset": "1"}}),
        )
        .unwrap()
    }

    #[test]
    fn modes_round_trip_and_say_what_they_do() {
        for m in MigrationMode::ALL {
            assert_eq!(MigrationMode::parse(m.as_str()), Some(m));
        }
        assert_eq!(MigrationMode::parse("LATER"), None);
        assert!(
            MigrationMode::Immediate.is_immediate() && MigrationMode::Immediate.carries_overrides()
        );
        assert!(MigrationMode::ImmediateIgnoreOverride.is_immediate());
        assert!(!MigrationMode::ImmediateIgnoreOverride.carries_overrides());
        assert!(
            !MigrationMode::NextCycle.is_immediate()
                && MigrationMode::NextCycle.carries_overrides()
        );
        assert!(!MigrationMode::NextCycleIgnoreOverride.carries_overrides());
    }

    #[test]
    fn next_cycle_switches_at_the_end_of_the_current_cycle() {
        let c = monthly_on_1st();
        for mode in [
            MigrationMode::NextCycle,
            MigrationMode::NextCycleIgnoreOverride,
        ] {
            assert_eq!(
                switch_date(mode, &c, d("2026-01-10"), None, d("2026-03-15")),
                Ok(d("2026-04-01"))
            );
            // On a cycle's first day the current cycle is that one.
            assert_eq!(
                switch_date(mode, &c, d("2026-01-10"), None, d("2026-03-01")),
                Ok(d("2026-04-01"))
            );
            // Still inside the first (partial) cycle.
            assert_eq!(
                switch_date(mode, &c, d("2026-01-10"), None, d("2026-01-10")),
                Ok(d("2026-02-01"))
            );
        }
    }

    #[test]
    fn immediate_switches_on_the_migration_date() {
        let c = monthly_on_1st();
        assert_eq!(
            switch_date(
                MigrationMode::Immediate,
                &c,
                d("2026-01-10"),
                None,
                d("2026-03-15")
            ),
            Ok(d("2026-03-15"))
        );
        assert_eq!(
            switch_date(
                MigrationMode::Immediate,
                &c,
                d("2026-03-15"),
                None,
                d("2026-03-15")
            ),
            Err(SwitchError::StartsOnOrAfter {
                from: d("2026-03-15"),
                on: d("2026-03-15")
            })
        );
    }

    #[test]
    fn a_period_that_ends_first_cannot_switch() {
        let c = monthly_on_1st();
        assert_eq!(
            switch_date(
                MigrationMode::NextCycle,
                &c,
                d("2026-01-01"),
                Some(d("2026-03-20")),
                d("2026-03-15")
            ),
            Err(SwitchError::EndsBefore {
                until: d("2026-03-20"),
                switch: d("2026-03-20")
            })
        );
        assert_eq!(
            switch_date(
                MigrationMode::Immediate,
                &c,
                d("2026-01-01"),
                Some(d("2026-03-20")),
                d("2026-03-15")
            ),
            Ok(d("2026-03-15"))
        );
        assert!(switch_date(
            MigrationMode::NextCycle,
            &c,
            d("2026-01-01"),
            Some(d("2026-03-01")),
            d("2026-03-15")
        )
        .is_err());
        assert!(switch_date(
            MigrationMode::NextCycle,
            &c,
            d("2026-04-01"),
            None,
            d("2026-03-15")
        )
        .is_err());
    }

    /// `growth` v1: monthly on the 1st; platform_fee 99.00 USD a month in advance, a
    /// one-time setup fee 500.00 in advance, support 40.00 in arrears (also
    /// `account_tests`' source plan).
    pub(super) fn plan() -> Plan {
        Plan::from_json(&json!({
            "name": "growth", "supportedCurrencies": ["USD"],
            "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "1"}},
            "fixedFeeRateCards": [
                {"name": "platform_fee", "invoiceTiming": "IN_ADVANCE", "type": "RECURRING",
                 "enableProration": false, "recurrenceConfig": {"interval": 1, "offset": 0},
                 "rateValues": [{"currency": "USD", "rate": 99}]},
                {"name": "setup", "invoiceTiming": "IN_ADVANCE", "type": "ONE_TIME",
                 "rateValues": [{"currency": "USD", "rate": 500}]},
                {"name": "support", "invoiceTiming": "IN_ARREARS", "type": "RECURRING",
                 "recurrenceConfig": {"interval": 1, "offset": 0},
                 "rateValues": [{"currency": "USD", "rate": 40}]}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn unused_days_of_recurring_advance_fees_are_credited_back_by_day() {
        let p = plan();
        let window = p.pricing_cycle.window_at(d("2026-04-01"), None, 0).unwrap();
        let input = CycleInput {
            window,
            usage: Default::default(),
            features: Default::default(),
            earlier: Vec::new(),
            last: false,
            licenses: Default::default(),
        };
        let charges =
            cycle_charges(&p, Currency::USD, RoundingMode::HalfAwayFromZero, &input).unwrap();
        // April has 30 days; switching on the 21st leaves 10 unused: 99 x 10/30 = 33.00.
        let unused = unused_advance(
            &p,
            &charges,
            d("2026-04-21"),
            Currency::USD,
            RoundingMode::HalfAwayFromZero,
        );
        assert_eq!(
            unused.len(),
            1,
            "one-time and in-arrears fees are not credited: {unused:?}"
        );
        assert_eq!(unused[0].card_name, "platform_fee");
        assert_eq!(
            unused[0].period,
            Period::new(d("2026-04-21"), d("2026-05-01"))
        );
        assert_eq!(unused[0].billed, dec!(99.00));
        assert_eq!(unused[0].amount, dec!(33.00));
        // 7 of 30 days: 23.10.
        let unused = unused_advance(
            &p,
            &charges,
            d("2026-04-24"),
            Currency::USD,
            RoundingMode::HalfAwayFromZero,
        );
        assert_eq!(unused[0].amount, dec!(23.10));
        // Switching on the first day: everything back; at the end: nothing.
        let all = unused_advance(
            &p,
            &charges,
            d("2026-04-01"),
            Currency::USD,
            RoundingMode::HalfAwayFromZero,
        );
        assert_eq!(all[0].amount, dec!(99.00));
        assert!(unused_advance(
            &p,
            &charges,
            d("2026-05-01"),
            Currency::USD,
            RoundingMode::HalfAwayFromZero
        )
        .is_empty());
    }
}
