//! [`super::decide_account`] with hand-worked values: the account is on `growth` v1
//! (monthly cycles on the 1st; platform_fee 99.00 USD a month in advance, a one-time
//! setup fee 500.00 in advance, support 40.00 in arrears), attached on 2026-01-10, so
//! its cycles are [Jan 10, Feb 1), [Feb 1, Mar 1), [Mar 1, Apr 1), [Apr 1, May 1),
//! [May 1, Jun 1) (indexes 0 to 4, start inclusive, end exclusive). The target is
//! `pro` v2: the same cycles, platform_fee 149.00 and no setup card.

use std::collections::BTreeMap;

use chrono_tz::Tz;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

use super::*;
use crate::charges::LicenseChange;
use crate::error::FieldErrors;
use crate::money::{Currency, RoundingMode};
use crate::overrides::Overrides;
use crate::period::Period;
use crate::plan::Plan;
use crate::testing::{d, utc};

/// The source plan `growth` v1 (the module doc above).
use super::tests::plan as growth;

fn pro(interval: &str, day: &str) -> Value {
    json!({
        "name": "pro", "supportedCurrencies": ["USD"],
        "pricingCycleConfig": {"interval": interval, "startOffset": {"dayOffset": day}},
        "fixedFeeRateCards": [
            {"name": "platform_fee", "invoiceTiming": "IN_ADVANCE", "type": "RECURRING",
             "recurrenceConfig": {"interval": 1, "offset": 0},
             "rateValues": [{"currency": "USD", "rate": 149}]}
        ]
    })
}

/// The account's overrides: platform_fee at 79.00 (carried: `pro` has that card) and
/// setup at 0 (dropped: `pro` has none).
fn overrides() -> Result<Overrides, FieldErrors> {
    Overrides::from_json(&json!({"rateCards": [
        {"name": "platform_fee", "rateValues": [{"currency": "USD", "rate": 79}]},
        {"name": "setup", "rateValues": [{"currency": "USD", "rate": 0}]}
    ]}))
}

fn terms<'a>(mode: MigrationMode, target: &'a Value, at: &str) -> MigrationTerms<'a> {
    MigrationTerms {
        source_plan_id: "growth",
        source_version: Some(1),
        target_plan_id: "pro",
        target_version: 2,
        target_definition: target,
        mode,
        retain_start_offsets: false,
        effective_at: utc(at),
        rounding: RoundingMode::HalfAwayFromZero,
    }
}

/// Cycle `index` of the account (attached on 2026-01-10), open or closed.
fn cycle(plan: &Plan, index: u32, closed: bool) -> RecordedCycle {
    RecordedCycle {
        window: plan
            .pricing_cycle
            .window_at(d("2026-01-10"), None, index)
            .unwrap(),
        closed,
    }
}

struct Fixture {
    plan: Plan,
    overrides: Result<Overrides, FieldErrors>,
    licenses: BTreeMap<String, Vec<LicenseChange>>,
}

impl Fixture {
    fn new() -> Self {
        Self {
            plan: growth(),
            overrides: overrides(),
            licenses: BTreeMap::new(),
        }
    }

    fn account<'a>(&'a self, cycles: &'a [RecordedCycle]) -> AccountOnSource<'a> {
        AccountOnSource {
            plan_id: "growth",
            plan_version: 1,
            from: d("2026-01-10"),
            until: None,
            trial_days: 0,
            overrides: &self.overrides,
            source_plan: Ok(&self.plan),
            currency: Currency::USD,
            timezone: Tz::UTC,
            cycles,
            licenses: &self.licenses,
        }
    }
}

#[test]
fn next_cycle_switches_at_the_end_of_the_current_cycle_carrying_overrides_and_credits_nothing() {
    let f = Fixture::new();
    let target = pro("MONTHLY", "1");
    // Mid-March: the March cycle [Mar 1, Apr 1) is open, February is closed.
    let cycles = [cycle(&f.plan, 1, true), cycle(&f.plan, 2, false)];
    let s = decide_account(
        &terms(MigrationMode::NextCycle, &target, "2026-03-15T12:00:00Z"),
        &f.account(&cycles),
    )
    .unwrap();
    // March is billed whole on growth; pro starts on Apr 1 (inclusive).
    assert_eq!(s.switch, d("2026-04-01"));
    assert_eq!(s.overrides.cards.len(), 1);
    assert_eq!(s.overrides.cards[0].name, "platform_fee");
    assert_eq!(s.dropped, vec!["setup".to_string()]);
    assert_eq!((s.shorten, s.unbilled.is_empty()), (None, true));
    assert_eq!(s.credit(), Decimal::ZERO);
    assert!(s.credit_detail().is_empty());

    // The same migration ignoring overrides carries none and drops none.
    let s = decide_account(
        &terms(
            MigrationMode::NextCycleIgnoreOverride,
            &target,
            "2026-03-15T12:00:00Z",
        ),
        &f.account(&cycles),
    )
    .unwrap();
    assert_eq!(s.switch, d("2026-04-01"));
    assert!(s.overrides.is_empty() && s.dropped.is_empty());
}

#[test]
fn immediate_cuts_the_open_cycle_at_the_migration_date_and_credits_its_unused_days() {
    let f = Fixture::new();
    let target = pro("MONTHLY", "1");
    // April [Apr 1, May 1) is open: its opening invoice billed platform_fee 99.00
    // and nothing else in advance that is a charge for time (setup is one-time and
    // was billed in January).
    let cycles = [cycle(&f.plan, 2, true), cycle(&f.plan, 3, false)];
    let s = decide_account(
        &terms(MigrationMode::Immediate, &target, "2026-04-21T09:00:00Z"),
        &f.account(&cycles),
    )
    .unwrap();
    // Growth bills Apr 1 - Apr 20; pro from Apr 21 (inclusive).
    assert_eq!(s.switch, d("2026-04-21"));
    assert_eq!(s.shorten, Some((3, d("2026-04-21"))));
    assert!(s.unbilled.is_empty());
    // Apr 21 - Apr 30 inclusive: 10 of 30 days, 99.00 x 10/30 = 33.00.
    assert_eq!(s.unused.len(), 1);
    assert_eq!(
        s.unused[0].period,
        Period::new(d("2026-04-21"), d("2026-05-01"))
    );
    assert_eq!(s.credit(), dec!(33.00));
    assert_eq!(
        s.credit_detail(),
        vec!["platform_fee 33.00 of 99.00 for 2026-04-21 - 2026-04-30".to_string()]
    );
    assert_eq!(s.dropped, vec!["setup".to_string()]);
}

#[test]
fn immediate_migrates_on_the_local_date_of_the_instant() {
    let f = Fixture::new();
    let target = pro("MONTHLY", "1");
    let cycles = [cycle(&f.plan, 3, false)];
    let mut account = f.account(&cycles);
    // 02:00 UTC on Apr 21 is 22:00 on Apr 20 in New York (EDT, UTC-4): the switch is
    // Apr 20, and Apr 20 - Apr 30 inclusive is 11 of 30 days: 99.00 x 11/30 = 36.30.
    account.timezone = chrono_tz::America::New_York;
    let s = decide_account(
        &terms(
            MigrationMode::ImmediateIgnoreOverride,
            &target,
            "2026-04-21T02:00:00Z",
        ),
        &account,
    )
    .unwrap();
    assert_eq!(s.switch, d("2026-04-20"));
    assert_eq!(s.shorten, Some((3, d("2026-04-20"))));
    assert_eq!(s.credit(), dec!(36.30));
    assert!(s.overrides.is_empty() && s.dropped.is_empty());
}

#[test]
fn a_cycle_opened_on_the_switch_date_is_closed_unbilled_and_its_whole_advance_credited() {
    let f = Fixture::new();
    let target = pro("MONTHLY", "1");
    // April is closed (it ends on May 1, exclusive: not past the switch); May
    // [May 1, Jun 1) opened on the migration date itself.
    let cycles = [cycle(&f.plan, 3, true), cycle(&f.plan, 4, false)];
    let s = decide_account(
        &terms(MigrationMode::Immediate, &target, "2026-05-01T00:00:00Z"),
        &f.account(&cycles),
    )
    .unwrap();
    assert_eq!(s.switch, d("2026-05-01"));
    assert_eq!(s.shorten, None);
    assert_eq!(s.unbilled, vec![4]);
    // All 31 of May's 31 days: 99.00 back.
    assert_eq!(s.credit(), dec!(99.00));
    assert_eq!(
        s.credit_detail(),
        vec!["platform_fee 99.00 of 99.00 for 2026-05-01 - 2026-05-31".to_string()]
    );
}

#[test]
fn retained_start_offsets_align_the_target_on_the_accounts_cycles() {
    let f = Fixture::new();
    // pro bills monthly on the 15th; kept on growth's 1st.
    let target = pro("MONTHLY", "15");
    let mut t = terms(MigrationMode::NextCycle, &target, "2026-03-15T12:00:00Z");
    t.retain_start_offsets = true;
    let s = decide_account(&t, &f.account(&[])).unwrap();
    assert_eq!(s.switch, d("2026-04-01"));
    assert_eq!(
        s.overrides.pricing_cycle,
        Some(
            json!({"interval": "MONTHLY", "startOffset": {"dayOffset": "1"},
                    "anniversaryCycle": false, "gracePeriod": 0})
        )
    );

    // Quarterly cycles cannot keep a monthly alignment.
    let target = pro("QUARTERLY", "1");
    let mut t = terms(MigrationMode::NextCycle, &target, "2026-03-15T12:00:00Z");
    t.retain_start_offsets = true;
    let err = decide_account(&t, &f.account(&[])).unwrap_err();
    assert!(matches!(err, NotMigrated::NotAligned(_)), "{err:?}");
    assert!(
        err.to_string().contains("the plans' intervals differ"),
        "{err}"
    );
}

#[test]
fn accounts_that_cannot_move_say_why() {
    let f = Fixture::new();
    let target = pro("MONTHLY", "1");
    let reason = |mode, at: &str, account: &AccountOnSource<'_>| {
        decide_account(&terms(mode, &target, at), account)
            .unwrap_err()
            .to_string()
    };
    let none: [RecordedCycle; 0] = [];

    let mut moved = f.account(&none);
    moved.plan_id = "starter";
    assert_eq!(
        reason(MigrationMode::Immediate, "2026-04-21T09:00:00Z", &moved),
        "it is now on starter v1, not on the source plan"
    );

    let mut missing = f.account(&none);
    missing.source_plan = Err("plan growth v1 not found");
    assert_eq!(
        reason(MigrationMode::Immediate, "2026-04-21T09:00:00Z", &missing),
        "plan growth v1 not found"
    );

    // Attached Jan 1 with 14 free days: Jan 1 - Jan 14 inclusive, billed from Jan 15.
    let mut trial = f.account(&none);
    trial.from = d("2026-01-01");
    trial.trial_days = 14;
    assert_eq!(
        reason(MigrationMode::Immediate, "2026-01-10T09:00:00Z", &trial),
        "it is in its trial until 2026-01-14 (billed from 2026-01-15): nothing to migrate yet"
    );

    // IMMEDIATE on the period's first day: nothing of it to end.
    assert_eq!(
        reason(
            MigrationMode::Immediate,
            "2026-01-10T09:00:00Z",
            &f.account(&none)
        ),
        "its plan period starts on 2026-01-10, not before the migration date 2026-01-10"
    );

    // April [Apr 1, May 1) already invoiced: an IMMEDIATE switch on Apr 21 is too early.
    let closed = [cycle(&f.plan, 3, true)];
    assert_eq!(
        reason(
            MigrationMode::Immediate,
            "2026-04-21T09:00:00Z",
            &f.account(&closed)
        ),
        "its cycle 2026-04-01 - 2026-04-30 is already closed and invoiced on the old plan: \
         the switch date 2026-04-21 is too early"
    );

    // NEXT_CYCLE dated Mar 15 switches on Apr 1, but April is already open.
    let opened = [cycle(&f.plan, 2, true), cycle(&f.plan, 3, false)];
    assert_eq!(
        reason(
            MigrationMode::NextCycle,
            "2026-03-15T12:00:00Z",
            &f.account(&opened)
        ),
        "its cycle from 2026-04-01 has already been opened on the old plan: a NEXT_CYCLE \
         migration dated 2026-03-15 comes too late for it"
    );

    let mut euro = f.account(&none);
    euro.currency = Currency::EUR;
    assert_eq!(
        reason(MigrationMode::NextCycle, "2026-03-15T12:00:00Z", &euro),
        "it invoices in EUR and pro v2 does not support it"
    );

    let unreadable = Overrides::from_json(&json!({"rateCards": "no"}));
    assert!(unreadable.is_err());
    let mut bad = f.account(&none);
    bad.overrides = &unreadable;
    assert!(
        reason(MigrationMode::NextCycle, "2026-03-15T12:00:00Z", &bad)
            .starts_with("its overrides are unreadable: ")
    );
}
