//! What migrating one account means ([`decide_account`]): the switch date, the new
//! plan period's overrides, the target checked in the account's currency, and for
//! IMMEDIATE modes the cycles cut at the switch and the unused advance credited back.
//!
//! Plain data in, plain data out: the shell loads the account's plan period, its
//! recorded cycles and license changes, calls this, and writes the outcome. An
//! account that cannot move gets a [`NotMigrated`] reason (its message is what the
//! migration's entry shows); the rest of its chunk goes on.
//!
//! Dates are the account's local dates (its timezone); a plan period and a cycle are
//! half-open, `[from, until)` and `[start, end)`.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde_json::Value;

use super::{switch_date, unused_advance, MigrationMode, SwitchError, UnusedAdvance};
use crate::charges::{cycle_charges, ChargeError, CycleInput, LicenseChange};
use crate::cycle::{local_date, CycleWindow};
use crate::error::FieldErrors;
use crate::money::{Currency, RoundingMode};
use crate::overrides::Overrides;
use crate::plan::Plan;

/// What every account of a migration is decided with.
#[derive(Debug, Clone, Copy)]
pub struct MigrationTerms<'a> {
    /// The plan accounts leave.
    pub source_plan_id: &'a str,
    /// Its version accounts leave (as stored, 1, 2, ...); `None` = any version.
    pub source_version: Option<i32>,
    /// The plan accounts move to.
    pub target_plan_id: &'a str,
    /// Its version (ACTIVE when the migration was created).
    pub target_version: i32,
    /// The target version's definition (Togai Price Plan V2 JSON), to which the
    /// carried overrides are applied.
    pub target_definition: &'a Value,
    /// One of Togai's four modes.
    pub mode: MigrationMode,
    /// Keep each account's cycle alignment on the target (`retainStartOffsets`).
    pub retain_start_offsets: bool,
    /// The migration instant (UTC); each account migrates on its local date.
    pub effective_at: DateTime<Utc>,
    /// The organisation's rounding of amounts (the credit back is rounded with it).
    pub rounding: RoundingMode,
}

/// A billing cycle recorded for the account's source plan period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedCycle {
    /// The cycle: its index in the period, its full span and its billed span
    /// (`[start, end)` local dates).
    pub window: CycleWindow,
    /// `true` once closed (its invoice is written), `false` while open (its opening
    /// invoice billed the in-advance charges).
    pub closed: bool,
}

/// One account on the source plan, as loaded.
#[derive(Debug, Clone, Copy)]
pub struct AccountOnSource<'a> {
    /// The plan of its period (the migration's source unless it moved since the
    /// entry was listed).
    pub plan_id: &'a str,
    /// That plan's version.
    pub plan_version: i32,
    /// First local day of the period.
    pub from: NaiveDate,
    /// First local day after the period, if it ends.
    pub until: Option<NaiveDate>,
    /// Free days at the period's start (0 = no trial).
    pub trial_days: u32,
    /// Its overrides as parsed from the stored JSON (`null` = none); a parse error
    /// fails the account.
    pub overrides: &'a Result<Overrides, FieldErrors>,
    /// The period's plan version, or why it is unavailable (not found, unreadable:
    /// the text is the account's failure reason).
    pub source_plan: Result<&'a Plan, &'a str>,
    /// Its invoice currency.
    pub currency: Currency,
    /// Its timezone (its own, else the organisation's).
    pub timezone: Tz,
    /// The period's recorded cycles (any order).
    pub cycles: &'a [RecordedCycle],
    /// Its license quantity changes per license id (IMMEDIATE modes price the open
    /// cycles with them), up to the end of its open cycles.
    pub licenses: &'a BTreeMap<String, Vec<LicenseChange>>,
}

/// What a migrated account gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSwitch {
    /// The old period ends here (exclusive) and the new one starts here (inclusive).
    pub switch: NaiveDate,
    /// The new period's overrides (empty when none are carried).
    pub overrides: Overrides,
    /// Card overrides with no card of the same name on the target (not carried).
    pub dropped: Vec<String>,
    /// IMMEDIATE: the open cycle the switch cuts, `(cycle index, new billed end)`;
    /// its new end is the switch date (exclusive).
    pub shorten: Option<(u32, NaiveDate)>,
    /// IMMEDIATE: indexes of open cycles starting on or after the switch, closed
    /// unbilled.
    pub unbilled: Vec<u32>,
    /// IMMEDIATE: what the cut and unbilled cycles billed in advance for days on or
    /// after the switch, per card and cycle, credited back.
    pub unused: Vec<UnusedAdvance>,
}

impl AccountSwitch {
    /// The whole credit back, in the account's currency (0 when nothing is owed).
    pub fn credit(&self) -> Decimal {
        self.unused.iter().map(|u| u.amount).sum()
    }

    /// The credit back line by line, as its grant's purpose lists it:
    /// `"<display name> <credited> of <billed> for <first day> - <last day>"` (both
    /// days inclusive).
    pub fn credit_detail(&self) -> Vec<String> {
        self.unused
            .iter()
            .map(|u| {
                format!(
                    "{} {} of {} for {} - {}",
                    u.display_name,
                    u.amount,
                    u.billed,
                    u.period.start,
                    u.period.last_day()
                )
            })
            .collect()
    }
}

/// Why one account is not migrated; the message is its entry's reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotMigrated {
    /// Its period is on another plan (version) than the migration's source.
    #[error("it is now on {plan_id} v{plan_version}, not on the source plan")]
    NotOnSource {
        /// The plan it is on.
        plan_id: String,
        /// Its version.
        plan_version: i32,
    },
    /// Its source plan version is missing or unreadable (the shell's text).
    #[error("{0}")]
    SourcePlan(String),
    /// It is still in its trial on the migration date.
    #[error(
        "it is in its trial until {last_trial_day} (billed from {billed_from}): nothing to \
         migrate yet"
    )]
    InTrial {
        /// The trial's last day (inclusive).
        last_trial_day: NaiveDate,
        /// The first day billed.
        billed_from: NaiveDate,
    },
    /// No switch date: the period starts on or after the migration date, or ends
    /// before the switch.
    #[error(transparent)]
    Switch(#[from] SwitchError),
    /// A cycle already closed (invoiced) on the old plan ends after the switch.
    #[error(
        "its cycle {start} - {last_day} is already closed and invoiced on the old plan: the \
         switch date {switch} is too early"
    )]
    AlreadyClosed {
        /// The cycle's first billed day.
        start: NaiveDate,
        /// Its last billed day (inclusive).
        last_day: NaiveDate,
        /// The switch date.
        switch: NaiveDate,
    },
    /// NEXT_CYCLE modes: the cycle the account would switch at is already open (and
    /// billed in advance) on the old plan.
    #[error(
        "its cycle from {start} has already been opened on the old plan: a {mode} migration \
         dated {on} comes too late for it"
    )]
    NextCycleOpened {
        /// That cycle's first billed day.
        start: NaiveDate,
        /// The migration's mode.
        mode: MigrationMode,
        /// The migration date (local).
        on: NaiveDate,
    },
    /// Its stored overrides do not parse.
    #[error("its overrides are unreadable: {0}")]
    OverridesUnreadable(FieldErrors),
    /// The target plan with the carried overrides is not a valid plan.
    #[error("the target plan with its overrides: {0}")]
    TargetWithOverrides(FieldErrors),
    /// `retainStartOffsets`: its cycles cannot be aligned on the target's.
    #[error("{0}")]
    NotAligned(String),
    /// The target does not support its invoice currency.
    #[error("it invoices in {currency} and {plan_id} v{version} does not support it")]
    UnsupportedCurrency {
        /// Its invoice currency.
        currency: Currency,
        /// The target plan.
        plan_id: String,
        /// The target version.
        version: i32,
    },
    /// Cards of the target have no rate in its currency.
    #[error("{plan_id} v{version} has no {currency} rate for {}", cards.join(", "))]
    MissingRates {
        /// The target plan.
        plan_id: String,
        /// The target version.
        version: i32,
        /// Its invoice currency.
        currency: Currency,
        /// The cards without a rate, in the plan's order.
        cards: Vec<String>,
    },
    /// IMMEDIATE: an open cycle could not be priced for its credit back.
    #[error("its current cycle cannot be priced: {0}")]
    Unpriceable(ChargeError),
}

/// Decides what migrating `account` under `terms` means (module docs), without I/O.
///
/// The checks come in this order, the first that fails being the reason: on the
/// source plan, its plan readable, out of its trial on the migration date (the
/// local date of `terms.effective_at` in the account's timezone), a switch date
/// ([`switch_date`]), no closed cycle ending after the switch, NEXT_CYCLE: no cycle
/// opened on or after the switch, overrides readable, carried (`*_IGNORE_OVERRIDE`:
/// none) and, with `retainStartOffsets`, the account's cycle alignment kept; the
/// target with them valid and billable in the account's currency. IMMEDIATE modes
/// then cut each open cycle ending after the switch and credit its unused advance
/// ([`unused_advance`]).
pub fn decide_account(
    terms: &MigrationTerms<'_>,
    account: &AccountOnSource<'_>,
) -> Result<AccountSwitch, NotMigrated> {
    if account.plan_id != terms.source_plan_id
        || terms
            .source_version
            .is_some_and(|v| v != account.plan_version)
    {
        return Err(NotMigrated::NotOnSource {
            plan_id: account.plan_id.to_string(),
            plan_version: account.plan_version,
        });
    }
    let source = account
        .source_plan
        .map_err(|e| NotMigrated::SourcePlan(e.to_string()))?;
    let on = local_date(terms.effective_at, account.timezone);
    // An account in its trial has no cycle to switch in yet: billing starts after it.
    let (cycle_config, billed_from) = source
        .pricing_cycle
        .after_trial(account.from, account.trial_days);
    if on < billed_from {
        return Err(NotMigrated::InTrial {
            last_trial_day: billed_from.pred_opt().unwrap_or(billed_from),
            billed_from,
        });
    }
    let switch = switch_date(terms.mode, &cycle_config, billed_from, account.until, on)?;
    // A cycle already closed past the switch has been invoiced on the old plan.
    if let Some(c) = account
        .cycles
        .iter()
        .find(|c| c.closed && c.window.billed.end > switch)
    {
        return Err(NotMigrated::AlreadyClosed {
            start: c.window.billed.start,
            last_day: c
                .window
                .billed
                .end
                .pred_opt()
                .unwrap_or(c.window.billed.end),
            switch,
        });
    }
    // NEXT_CYCLE: the next cycle must not have been opened (and billed in advance)
    // on the old plan already; a migration dated in the past comes too late for it.
    if !terms.mode.is_immediate() {
        if let Some(c) = account
            .cycles
            .iter()
            .find(|c| c.window.billed.start >= switch)
        {
            return Err(NotMigrated::NextCycleOpened {
                start: c.window.billed.start,
                mode: terms.mode,
                on,
            });
        }
    }

    // The new period's overrides.
    let old = account
        .overrides
        .as_ref()
        .map_err(|e| NotMigrated::OverridesUnreadable(e.clone()))?;
    let (mut overrides, dropped) = if terms.mode.carries_overrides() {
        let carried = old.carried_to(terms.target_definition);
        (carried.overrides, carried.dropped)
    } else {
        (Overrides::default(), Vec::new())
    };
    if terms.retain_start_offsets {
        let target_cycle = overrides
            .apply_to(terms.target_definition)
            .map_err(NotMigrated::TargetWithOverrides)?
            .pricing_cycle;
        let aligned = target_cycle
            .aligned_with(&source.pricing_cycle, account.from)
            .map_err(|e| NotMigrated::NotAligned(e.message))?;
        overrides.pricing_cycle = Some(aligned.to_json());
    }
    let target = overrides
        .apply_to(terms.target_definition)
        .map_err(NotMigrated::TargetWithOverrides)?;
    if !target.supported_currencies.contains(&account.currency) {
        return Err(NotMigrated::UnsupportedCurrency {
            currency: account.currency,
            plan_id: terms.target_plan_id.to_string(),
            version: terms.target_version,
        });
    }
    let missing = target.cards_without_rate(account.currency);
    if !missing.is_empty() {
        return Err(NotMigrated::MissingRates {
            plan_id: terms.target_plan_id.to_string(),
            version: terms.target_version,
            currency: account.currency,
            cards: missing.into_iter().map(str::to_string).collect(),
        });
    }

    // IMMEDIATE: cut the open cycles at the switch and credit their unused advance.
    let mut shorten = None;
    let mut unbilled = Vec::new();
    let mut unused = Vec::new();
    if terms.mode.is_immediate() {
        for c in account
            .cycles
            .iter()
            .filter(|c| !c.closed && c.window.billed.end > switch)
        {
            if c.window.billed.start < switch {
                shorten = Some((c.window.index, switch));
            } else {
                unbilled.push(c.window.index);
            }
            let input = CycleInput {
                window: c.window,
                usage: Default::default(),
                features: Default::default(),
                earlier: Vec::new(),
                last: false,
                licenses: account.licenses.clone(),
            };
            let charges = cycle_charges(source, account.currency, terms.rounding, &input)
                .map_err(NotMigrated::Unpriceable)?;
            unused.extend(unused_advance(
                source,
                &charges,
                switch,
                account.currency,
                terms.rounding,
            ));
        }
    }
    Ok(AccountSwitch {
        switch,
        overrides,
        dropped,
        shorten,
        unbilled,
        unused,
    })
}
