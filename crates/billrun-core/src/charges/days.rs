//! Days of a cycle: the days of a period, a license's quantity on each day and the
//! runs of days with one quantity, and the usage windows a license's `usageCycle`
//! splits a cycle into.

use chrono::{Days, Months, NaiveDate};
use rust_decimal::Decimal;

use super::LicenseChange;
use crate::cycle::Interval;
use crate::period::Period;

/// Each day of `period`.
pub(super) fn days(period: Period) -> impl Iterator<Item = NaiveDate> {
    period
        .start
        .iter_days()
        .take_while(move |d| *d < period.end)
}

/// The quantity of each day of `period` (module docs: largest change of the day,
/// else carried; 0 before any change).
pub(super) fn daily_quantities(changes: &[LicenseChange], period: Period) -> Vec<Decimal> {
    let mut sorted: Vec<&LicenseChange> = changes.iter().collect();
    sorted.sort_by_key(|c| c.effective_from); // stable: same-day order is kept
    let mut carried = Decimal::ZERO;
    let mut next = sorted.iter().peekable();
    while let Some(c) = next.next_if(|c| c.effective_from < period.start) {
        carried = c.quantity;
    }
    days(period)
        .map(|day| {
            let mut largest: Option<Decimal> = None;
            while let Some(c) = next.next_if(|c| c.effective_from == day) {
                largest = Some(largest.map_or(c.quantity, |l| l.max(c.quantity)));
                carried = c.quantity;
            }
            largest.unwrap_or(carried)
        })
        .collect()
}

/// Consecutive days of `period` with the same quantity.
pub(super) fn runs(
    period: Period,
    quantity_on: impl Fn(NaiveDate) -> Decimal,
) -> Vec<(Period, Decimal)> {
    let mut out: Vec<(Period, Decimal)> = Vec::new();
    for day in days(period) {
        let q = quantity_on(day);
        let end = day
            .succ_opt()
            .expect("billing dates are far from the calendar's end");
        match out.last_mut() {
            Some((run, last)) if *last == q => run.end = end,
            _ => out.push((Period::new(day, end), q)),
        }
    }
    out
}

/// The usage windows of a cycle: back to back from its first day, each one
/// `usage_cycle` long (uncut: the last may reach past the cycle), or the cycle itself.
pub(super) fn usage_windows(full: Period, usage_cycle: Option<Interval>) -> Vec<Period> {
    let Some(interval) = usage_cycle else {
        return vec![full];
    };
    // Always step from the cycle's first day so that month ends do not drift.
    let start_of = |k: u32| match interval.months() {
        None => full.start.checked_add_days(Days::new(7 * u64::from(k))),
        Some(m) => full.start.checked_add_months(Months::new(m * k)),
    };
    let mut out = Vec::new();
    for k in 0.. {
        let (Some(start), Some(end)) = (start_of(k), start_of(k + 1)) else {
            break;
        };
        if start >= full.end {
            break;
        }
        out.push(Period::new(start, end));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charges::tests::{jan, p};

    #[test]
    fn usage_windows_step_from_the_cycle_start() {
        let q1 = p("2026-01-31", "2026-04-30");
        let months = usage_windows(q1, Some(Interval::Monthly));
        assert_eq!(
            months,
            [
                p("2026-01-31", "2026-02-28"),
                p("2026-02-28", "2026-03-31"),
                p("2026-03-31", "2026-04-30")
            ]
        );
        let weeks = usage_windows(jan(), Some(Interval::Weekly));
        assert_eq!(weeks.len(), 5);
        assert_eq!(weeks[4], p("2026-01-29", "2026-02-05"));
        assert_eq!(usage_windows(jan(), None), [jan()]);
    }
}
