//! A span of local calendar dates, half-open: `[start, end)`.
//!
//! A pricing cycle from 1 Jan to 1 Feb covers every day of January. Local dates are
//! what a customer sees on an invoice; the instants they stand for depend on the
//! timezone and are computed in [`crate::cycle`].

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// `[start, end)` in local dates. `end` is the first day *not* covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Period {
    /// First day covered.
    pub start: NaiveDate,
    /// First day after the period.
    pub end: NaiveDate,
}

impl Period {
    /// `[start, end)`.
    ///
    /// # Panics
    /// If `end` is before `start`.
    pub fn new(start: NaiveDate, end: NaiveDate) -> Self {
        assert!(
            start <= end,
            "period ends ({end}) before it starts ({start})"
        );
        Self { start, end }
    }

    /// Number of days covered.
    pub fn days(&self) -> i64 {
        (self.end - self.start).num_days()
    }

    /// Whether `date` is one of the days covered.
    pub fn contains(&self, date: NaiveDate) -> bool {
        self.start <= date && date < self.end
    }

    /// The days covered by both, if any.
    pub fn intersect(&self, other: &Period) -> Option<Period> {
        let start = self.start.max(other.start);
        let end = self.end.min(other.end);
        (start < end).then(|| Period::new(start, end))
    }

    /// The share of `self` that `part` covers, by days, in `[0, 1]`: the proration
    /// factor of a charge for `self` that applies only during `part`.
    pub fn fraction_covered_by(&self, part: &Period) -> Decimal {
        if self.days() == 0 {
            return Decimal::ZERO;
        }
        let covered = self.intersect(part).map_or(0, |p| p.days());
        Decimal::from(covered) / Decimal::from(self.days())
    }

    /// The last day covered (inclusive), as printed on invoices ("1 Jan - 31 Jan").
    pub fn last_day(&self) -> NaiveDate {
        self.end
            .pred_opt()
            .expect("a period never ends at the first representable date")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::d;
    use rust_decimal_macros::dec;

    #[test]
    fn days_contains_and_last_day() {
        let jan = Period::new(d("2026-01-01"), d("2026-02-01"));
        assert_eq!(jan.days(), 31);
        assert!(jan.contains(d("2026-01-31")));
        assert!(!jan.contains(d("2026-02-01")));
        assert_eq!(jan.last_day(), d("2026-01-31"));
    }

    #[test]
    fn proration_by_days() {
        let feb = Period::new(d("2028-02-01"), d("2028-03-01")); // leap year: 29 days
        let part = Period::new(d("2028-02-15"), d("2028-04-01"));
        assert_eq!(feb.fraction_covered_by(&part), dec!(15) / dec!(29));
        let none = Period::new(d("2028-03-01"), d("2028-03-05"));
        assert_eq!(feb.fraction_covered_by(&none), Decimal::ZERO);
        assert_eq!(feb.fraction_covered_by(&feb), Decimal::ONE);
    }
}
