//! The calendar: where cycles start. The config's offsets resolved against the attach
//! date ([`Anchor`]), cycle `n` computed from the anchor (never from the previous
//! boundary), and the windows of one plan association ([`Windows`],
//! [`PricingCycleConfig::window_at`] and the other lookups), with trials, grace
//! periods and aligning a new plan's cycles with an old one's.

use chrono::{Datelike, Days, NaiveDate};

use super::{CycleWindow, DayOffset, MonthOffset, PricingCycleConfig, StartOffset};
use crate::period::Period;
use crate::FieldError;

/// The config's offsets resolved against the attach date (which matters only for
/// anniversary cycles). Cycles are numbered from a fixed origin, so cycle `n` is
/// computed directly and every boundary comes from the anchor itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Anchor {
    /// Cycle `n` starts on day `1 + weekday + 7n` counted from 0001-01-01, a Monday;
    /// `weekday` is 0 = Monday .. 6 = Sunday.
    Weekly { weekday: i64 },
    /// Cycle `n` starts in the month whose index (`year * 12 + month - 1`) is
    /// `n * months + phase`, on `day`, or on the month's last day if it is shorter.
    Months {
        months: i64,
        phase: i64,
        day: DayOffset,
    },
}

impl Anchor {
    fn new(config: &PricingCycleConfig, attached_on: NaiveDate) -> Self {
        let Some(months) = config.interval.months() else {
            let weekday = if config.anniversary {
                attached_on.weekday().num_days_from_monday()
            } else {
                match config.start_offset.day {
                    // Out-of-range values can only come from a config built by hand
                    // (from_json refuses them); clamp rather than panic.
                    DayOffset::Day(d) => d.clamp(1, 7) - 1,
                    DayOffset::Last => 6,
                }
            };
            return Anchor::Weekly {
                weekday: i64::from(weekday),
            };
        };
        let (phase, day) = if config.anniversary {
            // Only the 31st is promoted to LAST: it is the one day of month that
            // cannot recur in every 31-day month otherwise. A plan attached on Feb 28
            // keeps the 28th, not the month end.
            let day = match attached_on.day() {
                31 => DayOffset::Last,
                d => DayOffset::Day(d),
            };
            (attached_on.month0() % months, day)
        } else {
            let phase = match config.start_offset.month {
                None | Some(MonthOffset::First) => 0,
                Some(MonthOffset::Last) => months - 1,
                Some(MonthOffset::Month(m)) => m.clamp(1, months) - 1,
            };
            let day = match config.start_offset.day {
                DayOffset::Day(d) => DayOffset::Day(d.max(1)),
                DayOffset::Last => DayOffset::Last,
            };
            (phase, day)
        };
        Anchor::Months {
            months: i64::from(months),
            phase: i64::from(phase),
            day,
        }
    }

    /// The first day of cycle `n`, if chrono can represent it.
    fn start(&self, n: i64) -> Option<NaiveDate> {
        match *self {
            Anchor::Weekly { weekday } => {
                let days_from_ce = n.checked_mul(7)?.checked_add(1 + weekday)?;
                NaiveDate::from_num_days_from_ce_opt(i32::try_from(days_from_ce).ok()?)
            }
            Anchor::Months { months, phase, day } => {
                let month_index = n.checked_mul(months)?.checked_add(phase)?;
                let year = i32::try_from(month_index.div_euclid(12)).ok()?;
                let month = month_index.rem_euclid(12) as u32 + 1;
                let last = days_in_month(year, month);
                let day = match day {
                    DayOffset::Day(d) => d.min(last),
                    DayOffset::Last => last,
                };
                NaiveDate::from_ymd_opt(year, month, day)
            }
        }
    }

    /// The number of the cycle that contains `date`.
    fn number_containing(&self, date: NaiveDate) -> i64 {
        match *self {
            Anchor::Weekly { weekday } => {
                (i64::from(date.num_days_from_ce()) - 1 - weekday).div_euclid(7)
            }
            Anchor::Months { months, phase, .. } => {
                let month_index = i64::from(date.year()) * 12 + i64::from(date.month0());
                let n = (month_index - phase).div_euclid(months);
                // Cycle n starts in date's month or earlier; only when it starts later
                // in date's own month does date still belong to the cycle before.
                match self.start(n) {
                    Some(start) if start > date => n - 1,
                    _ => n,
                }
            }
        }
    }

    /// Cycle `n`, truncated to chrono's representable range at either end (around
    /// years -262,000 and +262,000) rather than failing; `None` beyond it.
    fn cycle(&self, n: i64) -> Option<Period> {
        match (
            self.start(n),
            n.checked_add(1).and_then(|next| self.start(next)),
        ) {
            (Some(start), Some(end)) => Some(Period::new(start, end)),
            (Some(start), None) => Some(Period::new(start, NaiveDate::MAX)),
            (None, Some(end)) => Some(Period::new(NaiveDate::MIN, end)),
            (None, None) => None,
        }
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// One account's plan association laid over the calendar: which cycle is its first,
/// and the dates it applied.
#[derive(Debug, Clone, Copy)]
struct Association {
    anchor: Anchor,
    first: i64,
    attached_on: NaiveDate,
    until: Option<NaiveDate>,
}

impl Association {
    fn new(config: &PricingCycleConfig, attached_on: NaiveDate, until: Option<NaiveDate>) -> Self {
        let anchor = Anchor::new(config, attached_on);
        Self {
            anchor,
            first: anchor.number_containing(attached_on),
            attached_on,
            until,
        }
    }

    /// The window of absolute cycle `n`, if the association covers any of its days.
    fn window(&self, n: i64) -> Option<CycleWindow> {
        let index = u32::try_from(n.checked_sub(self.first)?).ok()?;
        let full = self.anchor.cycle(n)?;
        let start = full.start.max(self.attached_on);
        let end = self.until.map_or(full.end, |until| full.end.min(until));
        (start < end).then(|| CycleWindow {
            index,
            full,
            billed: Period::new(start, end),
        })
    }

    fn window_containing(&self, date: NaiveDate) -> Option<CycleWindow> {
        if date < self.attached_on || self.until.is_some_and(|until| date >= until) {
            return None;
        }
        self.window(self.anchor.number_containing(date))
    }

    fn window_ended_by(&self, as_of: NaiveDate) -> Option<CycleWindow> {
        match self.until {
            // Detached by then: the last window is the one holding the last day billed.
            Some(until) if until <= as_of => self.window_containing(until.pred_opt()?),
            _ => self.window(self.anchor.number_containing(as_of).checked_sub(1)?),
        }
    }
}

/// The windows of one plan association, in order (see [`PricingCycleConfig::windows`]).
#[derive(Debug, Clone)]
pub struct Windows {
    association: Association,
    next: Option<i64>,
}

impl Iterator for Windows {
    type Item = CycleWindow;

    fn next(&mut self) -> Option<CycleWindow> {
        let n = self.next?;
        let window = self.association.window(n);
        self.next = window.and_then(|_| n.checked_add(1));
        window
    }
}

// Once the association has ended (or chrono's range has), `next` stays `None`.
impl std::iter::FusedIterator for Windows {}

impl PricingCycleConfig {
    /// The whole calendar cycle containing `date`, for a plan attached on
    /// `attached_on` (which only anniversary configs depend on).
    ///
    /// At the very ends of chrono's date range (years around ±262,000) the cycle is
    /// truncated to that range instead of panicking.
    pub fn cycle_containing(&self, attached_on: NaiveDate, date: NaiveDate) -> Period {
        let anchor = Anchor::new(self, attached_on);
        // The containing cycle always starts at or before `date` and ends after it,
        // so at least one bound is representable; the fallback only guards that.
        anchor
            .cycle(anchor.number_containing(date))
            .unwrap_or(Period::new(date, date))
    }

    /// The cycles of a plan association attached on `attached_on` and, if `until` is
    /// given, ending just before `until` (exclusive), in order.
    ///
    /// Window 0 is the cycle containing `attached_on`, billed from `attached_on` (a
    /// partial cycle when a calendar-aligned plan is attached mid-cycle; anniversary
    /// cycles start on the attach date, so theirs is whole). The last window is billed
    /// until `until`. Without `until` the iterator is endless in practice: take what
    /// you need. It is empty if `until <= attached_on`.
    pub fn windows(&self, attached_on: NaiveDate, until: Option<NaiveDate>) -> Windows {
        let association = Association::new(self, attached_on, until);
        Windows {
            next: Some(association.first),
            association,
        }
    }

    /// Window `index` of [`Self::windows`], computed directly (no iteration), or
    /// `None` if the association ended before it.
    pub fn window_at(
        &self,
        attached_on: NaiveDate,
        until: Option<NaiveDate>,
        index: u32,
    ) -> Option<CycleWindow> {
        let association = Association::new(self, attached_on, until);
        association.window(association.first.checked_add(i64::from(index))?)
    }

    /// The window of [`Self::windows`] whose billed days include `date`, or `None`
    /// if the plan did not apply on `date` (before `attached_on`, on or after `until`).
    pub fn window_containing(
        &self,
        attached_on: NaiveDate,
        until: Option<NaiveDate>,
        date: NaiveDate,
    ) -> Option<CycleWindow> {
        Association::new(self, attached_on, until).window_containing(date)
    }

    /// The latest window of [`Self::windows`] that is over as of the local date
    /// `as_of`, i.e. whose `billed.end <= as_of` (`end` is exclusive, so a cycle
    /// ending on the 1st is over on the 1st). `None` while the first window is open.
    ///
    /// This is the cycle an in-arrears invoice can be computed for on `as_of`; earlier
    /// windows have lower indexes and ended earlier.
    pub fn window_ended_by(
        &self,
        attached_on: NaiveDate,
        until: Option<NaiveDate>,
        as_of: NaiveDate,
    ) -> Option<CycleWindow> {
        Association::new(self, attached_on, until).window_ended_by(as_of)
    }

    /// The latest window whose grace period is over as of `as_of`, i.e. whose
    /// [`Self::grace_ends`]`(billed.end) <= as_of`: the cycle whose draft invoice can
    /// be finalized on `as_of`.
    pub fn window_past_grace_by(
        &self,
        attached_on: NaiveDate,
        until: Option<NaiveDate>,
        as_of: NaiveDate,
    ) -> Option<CycleWindow> {
        let grace = Days::new(u64::from(self.grace_period_days));
        let ended_by = as_of.checked_sub_days(grace)?;
        self.window_ended_by(attached_on, until, ended_by)
    }

    /// This config (its interval and grace period) with the cycle alignment of
    /// `source` for a plan attached on `source_attached_on`: what
    /// `retainStartOffsets` gives an account moving from `source`'s plan to this one.
    /// An anniversary `source` is resolved to the offsets its attach date gave it, so
    /// the account's cycles keep starting on the same days.
    ///
    /// The intervals must be the same: cycles of different lengths cannot keep an
    /// alignment.
    pub fn aligned_with(
        &self,
        source: &PricingCycleConfig,
        source_attached_on: NaiveDate,
    ) -> Result<PricingCycleConfig, FieldError> {
        if self.interval != source.interval {
            return Err(FieldError::new(
                "retainStartOffsets",
                format!(
                    "the plans' intervals differ ({} and {}): start offsets can only be \
                     retained between plans of the same interval",
                    source.interval.as_str(),
                    self.interval.as_str()
                ),
            ));
        }
        let start_offset = match Anchor::new(source, source_attached_on) {
            Anchor::Weekly { weekday } => StartOffset {
                day: DayOffset::Day(weekday as u32 + 1),
                month: None,
            },
            Anchor::Months { months, phase, day } => StartOffset {
                day,
                month: (months > 1).then_some(MonthOffset::Month(phase as u32 + 1)),
            },
        };
        Ok(PricingCycleConfig {
            interval: self.interval,
            start_offset,
            anniversary: false,
            grace_period_days: self.grace_period_days,
        })
    }

    /// How a plan period attached on `attached_on` with a free trial of `trial_days`
    /// days is billed: the cycle config to lay its windows with, and the first local
    /// day billed (`attached_on + trial_days`, the day the trial is over; the trial
    /// covers `[attached_on, that day)`).
    ///
    /// The period is billed as if attached on the trial's end, in the cycles its
    /// attach date gives it: an anniversary config is resolved to the offsets of
    /// `attached_on` (as `retainStartOffsets` resolves one), so the cycles still start
    /// on the attach date's day. Pass the result to [`Self::windows`],
    /// [`Self::window_at`], ... in place of `(self, attached_on)`: window 0 is the
    /// first cycle with a paid day, billed from the trial's end (a partial cycle when
    /// the trial ends mid-cycle); cycles wholly inside the trial have no window.
    /// Without a trial (0 days) this is `(*self, attached_on)`.
    ///
    /// ```
    /// use billrun_core::cycle::PricingCycleConfig;
    /// use billrun_core::Period;
    /// use serde_json::json;
    ///
    /// let d = |s: &str| s.parse::<chrono::NaiveDate>().unwrap();
    /// let monthly = PricingCycleConfig::from_json(&json!({"interval": "MONTHLY"})).unwrap();
    /// // 7 free days of January: billed from Jan 8, 24 of January's 31 days.
    /// let (config, billed_from) = monthly.after_trial(d("2026-01-01"), 7);
    /// assert_eq!(billed_from, d("2026-01-08"));
    /// let first = config.window_at(billed_from, None, 0).unwrap();
    /// assert_eq!(first.full, Period::new(d("2026-01-01"), d("2026-02-01")));
    /// assert_eq!(first.billed, Period::new(d("2026-01-08"), d("2026-02-01")));
    /// ```
    pub fn after_trial(&self, attached_on: NaiveDate, trial_days: u32) -> (Self, NaiveDate) {
        if trial_days == 0 {
            return (*self, attached_on);
        }
        let billed_from = attached_on
            .checked_add_days(Days::new(u64::from(trial_days)))
            .unwrap_or(NaiveDate::MAX);
        let config = if self.anniversary {
            // Same interval: aligning a config with itself cannot fail.
            self.aligned_with(self, attached_on).unwrap_or(*self)
        } else {
            *self
        };
        (config, billed_from)
    }

    /// The first local date on which late usage for a cycle ending at `cycle_end`
    /// (exclusive) is refused and its invoice can be finalized: `cycle_end` plus the
    /// grace period. With no grace period that is `cycle_end` itself.
    pub fn grace_ends(&self, cycle_end: NaiveDate) -> NaiveDate {
        cycle_end
            .checked_add_days(Days::new(u64::from(self.grace_period_days)))
            .unwrap_or(NaiveDate::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cycle::tests::calendar;
    use crate::cycle::Interval;
    use crate::testing::d;
    use serde_json::{json, Value};

    #[test]
    fn aligned_with_keeps_the_source_cycles_from_any_later_date() {
        let cfg = |v: Value| PricingCycleConfig::from_json(&v).unwrap();
        let cases = [
            (
                cfg(json!({"interval": "MONTHLY", "anniversaryCycle": true})),
                "2026-01-31",
            ),
            (
                cfg(json!({"interval": "MONTHLY", "anniversaryCycle": true})),
                "2026-01-15",
            ),
            (
                cfg(json!({"interval": "MONTHLY", "startOffset": {"dayOffset": "LAST"}})),
                "2026-01-10",
            ),
            (
                cfg(json!({"interval": "QUARTERLY", "anniversaryCycle": true})),
                "2026-02-15",
            ),
            (
                cfg(
                    json!({"interval": "QUARTERLY", "startOffset": {"dayOffset": "15", "monthOffset": "2"}}),
                ),
                "2026-01-01",
            ),
            (
                cfg(json!({"interval": "ANNUALLY", "anniversaryCycle": true})),
                "2024-02-29",
            ),
            (
                cfg(json!({"interval": "WEEKLY", "anniversaryCycle": true})),
                "2026-01-08",
            ),
            (
                cfg(json!({"interval": "WEEKLY", "startOffset": {"dayOffset": "3"}})),
                "2026-01-01",
            ),
        ];
        for (source, attached) in cases {
            let attached: NaiveDate = attached.parse().unwrap();
            let target = PricingCycleConfig {
                start_offset: StartOffset {
                    day: DayOffset::Day(1),
                    month: None,
                },
                anniversary: true,
                grace_period_days: 7,
                ..source
            };
            let aligned = target.aligned_with(&source, attached).unwrap();
            assert!(!aligned.anniversary);
            assert_eq!(aligned.grace_period_days, 7, "the target's grace period");
            let mut day = attached;
            for _ in 0..800 {
                // Attached on any later day, the new plan's cycle is the old one's.
                assert_eq!(
                    aligned.cycle_containing(day, day),
                    source.cycle_containing(attached, day),
                    "{source:?} attached {attached}, on {day}"
                );
                day = day.succ_opt().unwrap();
            }
            // And it survives the plan JSON round trip.
            assert_eq!(
                PricingCycleConfig::from_json(&aligned.to_json()).unwrap(),
                aligned
            );
        }
    }

    #[test]
    fn aligned_with_refuses_different_intervals() {
        let monthly = PricingCycleConfig::from_json(&json!({"interval": "MONTHLY"})).unwrap();
        let quarterly = PricingCycleConfig::from_json(&json!({"interval": "QUARTERLY"})).unwrap();
        let e = quarterly
            .aligned_with(&monthly, "2026-01-01".parse().unwrap())
            .unwrap_err();
        assert_eq!(e.path, "retainStartOffsets");
        assert!(e.message.contains("MONTHLY and QUARTERLY"), "{e}");
    }

    #[test]
    fn a_trial_moves_the_billing_start_and_keeps_the_cycles() {
        let monthly = PricingCycleConfig::from_json(&json!({"interval": "MONTHLY"})).unwrap();
        // No trial: unchanged.
        assert_eq!(
            monthly.after_trial(d("2026-01-01"), 0),
            (monthly, d("2026-01-01"))
        );
        // 45 free days from Jan 1: January is wholly free, February is billed from
        // Feb 15 (14 of 28 days) and is window 0.
        let (config, from) = monthly.after_trial(d("2026-01-01"), 45);
        assert_eq!(from, d("2026-02-15"));
        let mut windows = config.windows(from, None);
        let first = windows.next().unwrap();
        assert_eq!(
            (first.index, first.full, first.billed),
            (
                0,
                Period::new(d("2026-02-01"), d("2026-03-01")),
                Period::new(d("2026-02-15"), d("2026-03-01"))
            )
        );
        assert_eq!(
            windows.next().unwrap().full,
            Period::new(d("2026-03-01"), d("2026-04-01"))
        );
        // Anniversary cycles keep the attach date's day: attached Jan 20 with 7
        // free days, cycles still run 20th to 20th; billed from Jan 27.
        let anniversary = PricingCycleConfig::from_json(
            &json!({"interval": "MONTHLY", "anniversaryCycle": true}),
        )
        .unwrap();
        let (config, from) = anniversary.after_trial(d("2026-01-20"), 7);
        assert_eq!(from, d("2026-01-27"));
        let first = config.window_at(from, None, 0).unwrap();
        assert_eq!(first.full, Period::new(d("2026-01-20"), d("2026-02-20")));
        assert_eq!(first.billed, Period::new(d("2026-01-27"), d("2026-02-20")));
        // A trial that outlasts the period bills nothing.
        assert!(config.windows(from, Some(d("2026-01-25"))).next().is_none());
    }

    fn dates(list: &[&str]) -> Vec<NaiveDate> {
        list.iter().map(|s| d(s)).collect()
    }

    fn anniversary(interval: &str) -> PricingCycleConfig {
        PricingCycleConfig::from_json(&json!({"interval": interval, "anniversaryCycle": true}))
            .unwrap()
    }

    /// The first days of the association's first `count` cycles.
    fn starts(config: &PricingCycleConfig, attached_on: &str, count: usize) -> Vec<NaiveDate> {
        config
            .windows(d(attached_on), None)
            .take(count)
            .map(|w| w.full.start)
            .collect()
    }

    #[test]
    fn calendar_cycle_starts_clamp_to_month_end_without_drift() {
        #[rustfmt::skip]
        let table: &[(&str, &str, Option<&str>, &[&str])] = &[
            // Day 30: February takes its last day, March is back on the 30th.
            ("MONTHLY", "30", None, &["2024-01-30", "2024-02-29", "2024-03-30", "2024-04-30", "2024-05-30"]),
            ("MONTHLY", "30", None, &["2025-01-30", "2025-02-28", "2025-03-30"]),
            ("MONTHLY", "30", None, &["2100-01-30", "2100-02-28", "2100-03-30"]), // 2100 is not leap
            ("MONTHLY", "29", None, &["2028-01-29", "2028-02-29", "2028-03-29"]),
            ("MONTHLY", "29", None, &["2100-01-29", "2100-02-28", "2100-03-29"]),
            ("MONTHLY", "29", None, &["2000-01-29", "2000-02-29", "2000-03-29"]), // 2000 is leap
            ("MONTHLY", "31", None, &["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30", "2024-05-31", "2024-06-30", "2024-07-31"]),
            ("MONTHLY", "LAST", None, &["2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30"]),
            ("MONTHLY", "LAST", None, &["2028-01-31", "2028-02-29", "2028-03-31"]),
            ("MONTHLY", "1", None, &["2026-11-01", "2026-12-01", "2027-01-01", "2027-02-01"]),
            ("MONTHLY", "15", None, &["2026-01-15", "2026-02-15", "2026-03-15"]),
            ("QUARTERLY", "15", Some("FIRST"), &["2026-01-15", "2026-04-15", "2026-07-15", "2026-10-15", "2027-01-15"]),
            ("QUARTERLY", "15", Some("2"), &["2026-02-15", "2026-05-15", "2026-08-15", "2026-11-15", "2027-02-15"]),
            ("QUARTERLY", "LAST", Some("LAST"), &["2026-03-31", "2026-06-30", "2026-09-30", "2026-12-31", "2027-03-31"]),
            ("QUARTERLY", "31", Some("1"), &["2028-01-31", "2028-04-30", "2028-07-31", "2028-10-31", "2029-01-31"]),
            ("QUARTERLY", "29", Some("2"), &["2100-02-28", "2100-05-29", "2100-08-29", "2100-11-29", "2101-02-28"]),
            ("HALF_YEARLY", "1", Some("FIRST"), &["2026-01-01", "2026-07-01", "2027-01-01"]),
            ("HALF_YEARLY", "LAST", Some("2"), &["2028-02-29", "2028-08-31", "2029-02-28", "2029-08-31"]),
            ("HALF_YEARLY", "10", Some("6"), &["2026-06-10", "2026-12-10", "2027-06-10"]),
            ("HALF_YEARLY", "5", Some("LAST"), &["2026-06-05", "2026-12-05", "2027-06-05"]),
            ("ANNUALLY", "LAST", Some("2"), &["2027-02-28", "2028-02-29", "2029-02-28"]),
            ("ANNUALLY", "LAST", Some("2"), &["2099-02-28", "2100-02-28", "2101-02-28"]),
            ("ANNUALLY", "29", Some("2"), &["2027-02-28", "2028-02-29", "2029-02-28"]),
            ("ANNUALLY", "1", Some("FIRST"), &["2026-01-01", "2027-01-01", "2028-01-01"]),
            ("ANNUALLY", "31", Some("LAST"), &["2026-12-31", "2027-12-31"]),
            ("ANNUALLY", "15", Some("7"), &["2026-07-15", "2027-07-15"]),
        ];
        for (interval, day, month, expected) in table {
            let config = calendar(interval, day, *month);
            assert_eq!(
                starts(&config, expected[0], expected.len()),
                dates(expected),
                "{interval} day {day} month {month:?}"
            );
        }
    }

    #[test]
    fn weekly_cycles_start_on_the_configured_weekday() {
        // 2026-03-11 is a Wednesday.
        #[rustfmt::skip]
        let table = [
            ("1", "2026-03-09"), ("2", "2026-03-10"), ("3", "2026-03-11"), ("4", "2026-03-05"),
            ("5", "2026-03-06"), ("6", "2026-03-07"), ("7", "2026-03-08"), ("LAST", "2026-03-08"),
        ];
        for (day, start) in table {
            let config = calendar("WEEKLY", day, None);
            let cycle = config.cycle_containing(d("2020-01-01"), d("2026-03-11"));
            let start = d(start);
            assert_eq!(
                cycle,
                Period::new(start, start + Days::new(7)),
                "dayOffset {day}"
            );
            let weekday = cycle.start.weekday().number_from_monday();
            assert_eq!(
                weekday,
                if day == "LAST" {
                    7
                } else {
                    day.parse().unwrap()
                }
            );
        }
    }

    #[test]
    fn anniversary_cycles_follow_the_attach_date() {
        #[rustfmt::skip]
        let table: &[(&str, &[&str])] = &[
            // The 31st means the month's last day.
            ("MONTHLY", &["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30", "2024-05-31"]),
            ("MONTHLY", &["2023-01-31", "2023-02-28", "2023-03-31"]),
            // The 30th and 29th stay themselves wherever the month has them.
            ("MONTHLY", &["2024-01-30", "2024-02-29", "2024-03-30", "2024-04-30"]),
            ("MONTHLY", &["2023-01-29", "2023-02-28", "2023-03-29"]),
            ("MONTHLY", &["2024-02-29", "2024-03-29", "2024-04-29"]),
            ("ANNUALLY", &["2024-02-29", "2025-02-28", "2026-02-28", "2027-02-28", "2028-02-29"]),
            ("ANNUALLY", &["2026-03-31", "2027-03-31"]),
            ("QUARTERLY", &["2026-05-31", "2026-08-31", "2026-11-30", "2027-02-28", "2027-05-31"]),
            ("HALF_YEARLY", &["2026-08-30", "2027-02-28", "2027-08-30", "2028-02-29"]),
            ("WEEKLY", &["2026-03-12", "2026-03-19", "2026-03-26", "2026-04-02"]),
        ];
        for (interval, expected) in table {
            let config = anniversary(interval);
            assert_eq!(
                starts(&config, expected[0], expected.len()),
                dates(expected),
                "{interval}"
            );
        }
        // Monthly from Feb 29: a year later February is short, March is on the 29th again.
        let feb29 = anniversary("MONTHLY");
        let at = |i| {
            feb29
                .window_at(d("2024-02-29"), None, i)
                .unwrap()
                .full
                .start
        };
        assert_eq!((at(12), at(13)), (d("2025-02-28"), d("2025-03-29")));
    }

    #[test]
    fn anniversary_ignores_the_configured_offsets() {
        let config = PricingCycleConfig::from_json(&json!({
            "interval": "MONTHLY", "startOffset": {"dayOffset": "1"}, "anniversaryCycle": true
        }))
        .unwrap();
        assert_eq!(
            starts(&config, "2026-03-12", 2),
            dates(&["2026-03-12", "2026-04-12"])
        );
        let first = config.windows(d("2026-03-12"), None).next().unwrap();
        assert_eq!(
            first.billed, first.full,
            "an anniversary cycle is never partial"
        );
    }

    #[test]
    fn first_window_is_partial_and_the_last_is_clipped_at_until() {
        let config = calendar("MONTHLY", "1", None);
        let windows: Vec<_> = config
            .windows(d("2026-03-10"), Some(d("2026-05-20")))
            .map(|w| (w.index, w.full, w.billed))
            .collect();
        let p = |a, b| Period::new(d(a), d(b));
        assert_eq!(
            windows,
            vec![
                (
                    0,
                    p("2026-03-01", "2026-04-01"),
                    p("2026-03-10", "2026-04-01")
                ),
                (
                    1,
                    p("2026-04-01", "2026-05-01"),
                    p("2026-04-01", "2026-05-01")
                ),
                (
                    2,
                    p("2026-05-01", "2026-06-01"),
                    p("2026-05-01", "2026-05-20")
                ),
            ]
        );
        // Detached on a cycle boundary: no empty window after it.
        assert_eq!(
            config
                .windows(d("2026-03-10"), Some(d("2026-05-01")))
                .count(),
            2
        );
        // Attached and detached inside one cycle.
        let only: Vec<_> = config
            .windows(d("2026-03-10"), Some(d("2026-03-20")))
            .collect();
        assert_eq!(only.len(), 1);
        assert_eq!(only[0].billed, p("2026-03-10", "2026-03-20"));
        // Detached before (or when) attached: nothing to bill.
        assert_eq!(
            config
                .windows(d("2026-03-10"), Some(d("2026-03-10")))
                .count(),
            0
        );
        assert_eq!(
            config
                .windows(d("2026-03-10"), Some(d("2026-01-01")))
                .count(),
            0
        );
    }

    #[test]
    fn windows_can_be_found_directly() {
        let config = calendar("MONTHLY", "1", None);
        let (attached, until) = (d("2026-03-10"), Some(d("2026-05-20")));
        assert_eq!(
            config.window_at(attached, until, 1).unwrap().full.start,
            d("2026-04-01")
        );
        assert_eq!(config.window_at(attached, until, 3), None);
        // Far ahead, without iterating: cycle 1200 is 100 years later.
        let far = config.window_at(attached, None, 1200).unwrap();
        assert_eq!(far.full, Period::new(d("2126-03-01"), d("2126-04-01")));

        let containing = |date| {
            config
                .window_containing(attached, until, d(date))
                .map(|w| w.index)
        };
        assert_eq!(containing("2026-03-09"), None, "before the attach date");
        assert_eq!(containing("2026-03-10"), Some(0));
        assert_eq!(containing("2026-04-30"), Some(1));
        assert_eq!(containing("2026-05-19"), Some(2));
        assert_eq!(containing("2026-05-20"), None, "on the detach date");

        let ended = |date| {
            config
                .window_ended_by(attached, until, d(date))
                .map(|w| w.index)
        };
        assert_eq!(ended("2026-03-31"), None, "first cycle still open");
        assert_eq!(
            ended("2026-04-01"),
            Some(0),
            "a cycle is over on its end date"
        );
        assert_eq!(ended("2026-05-19"), Some(1));
        assert_eq!(
            ended("2026-05-20"),
            Some(2),
            "detached: the clipped last window is over"
        );
        assert_eq!(ended("2027-01-01"), Some(2));
    }

    #[test]
    fn grace_period_delays_the_end_of_a_cycle() {
        let mut config = calendar("MONTHLY", "1", None);
        assert_eq!(config.grace_ends(d("2026-04-01")), d("2026-04-01"));
        config.grace_period_days = 3;
        assert_eq!(config.grace_ends(d("2026-04-01")), d("2026-04-04"));
        assert_eq!(config.grace_ends(NaiveDate::MAX), NaiveDate::MAX);

        let past_grace = |date| {
            config
                .window_past_grace_by(d("2026-03-10"), None, d(date))
                .map(|w| w.index)
        };
        assert_eq!(past_grace("2026-04-03"), None, "still in grace");
        assert_eq!(past_grace("2026-04-04"), Some(0));
        assert_eq!(past_grace("2026-05-04"), Some(1));
    }

    #[test]
    fn extreme_dates_do_not_panic() {
        for config in [
            calendar("WEEKLY", "3", None),
            calendar("ANNUALLY", "LAST", Some("2")),
        ] {
            for date in [NaiveDate::MIN, NaiveDate::MAX] {
                let cycle = config.cycle_containing(date, date);
                assert!(cycle.start <= date && date <= cycle.end);
                let _ = config.windows(date, None).take(3).count();
                let _ = config.window_at(date, None, u32::MAX);
                let _ = config.window_ended_by(date, None, date);
                let _ = config.window_past_grace_by(NaiveDate::MIN, None, NaiveDate::MIN);
            }
        }
    }

    mod laws {
        use super::*;
        use proptest::prelude::*;

        const INTERVALS: [Interval; 5] = [
            Interval::Weekly,
            Interval::Monthly,
            Interval::Quarterly,
            Interval::HalfYearly,
            Interval::Annually,
        ];

        /// Any config `from_json` accepts (with or without anniversary).
        fn any_config() -> impl Strategy<Value = PricingCycleConfig> {
            (0..5usize, 0..=31u32, 0..=13u32, any::<bool>(), 0..=10u32).prop_map(
                |(i, day, month, anniversary, grace_period_days)| {
                    let interval = INTERVALS[i];
                    let day = match (day, interval) {
                        (0, _) => DayOffset::Last,
                        (d, Interval::Weekly) => DayOffset::Day((d - 1) % 7 + 1),
                        (d, _) => DayOffset::Day(d),
                    };
                    let month = interval.months().filter(|m| *m > 1).map(|m| match month {
                        0 => MonthOffset::First,
                        13 => MonthOffset::Last,
                        n => MonthOffset::Month((n - 1) % m + 1),
                    });
                    PricingCycleConfig {
                        interval,
                        start_offset: StartOffset { day, month },
                        anniversary,
                        grace_period_days,
                    }
                },
            )
        }

        /// A date between 1900 and 2200 (spanning 1900 and 2100, which are not leap).
        fn any_date() -> impl Strategy<Value = NaiveDate> {
            let from = NaiveDate::from_ymd_opt(1900, 1, 1)
                .unwrap()
                .num_days_from_ce();
            let to = NaiveDate::from_ymd_opt(2200, 1, 1)
                .unwrap()
                .num_days_from_ce();
            (from..to).prop_map(|n| NaiveDate::from_num_days_from_ce_opt(n).unwrap())
        }

        proptest! {
            #[test]
            fn windows_tile_the_association(
                config in any_config(),
                attached_on in any_date(),
                days in prop::option::of(0..3000u64),
            ) {
                let until = days.map(|n| attached_on + Days::new(n));
                let windows: Vec<_> = config.windows(attached_on, until).take(60).collect();
                if until == Some(attached_on) {
                    prop_assert!(windows.is_empty());
                    return Ok(());
                }
                prop_assert_eq!(windows[0].billed.start, attached_on);
                for (i, w) in windows.iter().enumerate() {
                    prop_assert_eq!(w.index as usize, i);
                    prop_assert!(w.billed.days() > 0);
                    prop_assert!(w.full.start <= w.billed.start && w.billed.end <= w.full.end);
                }
                for pair in windows.windows(2) {
                    prop_assert_eq!(pair[0].full.end, pair[1].full.start);
                    prop_assert_eq!(pair[0].billed.end, pair[1].billed.start);
                }
                if let (Some(until), true) = (until, windows.len() < 60) {
                    prop_assert_eq!(windows.last().unwrap().billed.end, until);
                }
                if config.anniversary {
                    prop_assert_eq!(windows[0].full.start, attached_on);
                }
            }

            #[test]
            fn cycles_contain_their_date_and_have_the_interval_length(
                config in any_config(),
                attached_on in any_date(),
                date in any_date(),
            ) {
                let cycle = config.cycle_containing(attached_on, date);
                prop_assert!(cycle.contains(date));
                let lengths = match config.interval {
                    Interval::Weekly => 7..=7,
                    Interval::Monthly => 28..=31,
                    Interval::Quarterly => 89..=92,
                    Interval::HalfYearly => 181..=184,
                    Interval::Annually => 365..=366,
                };
                prop_assert!(lengths.contains(&cycle.days()), "{:?}", cycle);
            }

            #[test]
            fn calendar_cycles_do_not_depend_on_the_attach_date(
                config in any_config(),
                a in any_date(),
                b in any_date(),
                date in any_date(),
            ) {
                let config = PricingCycleConfig { anniversary: false, ..config };
                prop_assert_eq!(config.cycle_containing(a, date), config.cycle_containing(b, date));
            }

            #[test]
            fn direct_lookups_agree_with_iteration(
                config in any_config(),
                attached_on in any_date(),
                until_days in prop::option::of(1..1500u64),
                as_of_days in 0..1500u64,
            ) {
                let until = until_days.map(|n| attached_on + Days::new(n));
                let as_of = attached_on + Days::new(as_of_days);
                let all: Vec<_> = config
                    .windows(attached_on, until)
                    .take_while(|w| w.full.start <= as_of)
                    .collect();
                for w in &all {
                    prop_assert_eq!(config.window_at(attached_on, until, w.index), Some(*w));
                    prop_assert_eq!(config.window_containing(attached_on, until, w.billed.start), Some(*w));
                    prop_assert_eq!(config.window_containing(attached_on, until, w.billed.last_day()), Some(*w));
                }
                let ended = all.iter().rev().find(|w| w.billed.end <= as_of).copied();
                prop_assert_eq!(config.window_ended_by(attached_on, until, as_of), ended);
                let expected = all.iter().find(|w| w.billed.contains(as_of)).copied();
                prop_assert_eq!(config.window_containing(attached_on, until, as_of), expected);
            }
        }
    }
}
