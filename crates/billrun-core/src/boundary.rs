//! Catching up an account's plan association: which boundaries to invoice and which
//! cycles to record, as of an instant ([`plan_association`]). What `close-chunk`
//! decides for each association before it prices anything.
//!
//! A boundary is where one cycle closes (its in-arrears charges) and the next opens
//! (its in-advance charges); an association not opened yet opens its first cycle once
//! it has started; a cycle has ended once the instant its billed end starts at, in the
//! account's timezone, has passed. Every ended cycle is closed in order, so a long
//! outage is caught up in one call.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::cycle::{local_start_instant, CycleWindow, PricingCycleConfig};

/// One invoice to compute: a boundary of an association.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Boundary {
    /// The cycle closing here (its in-arrears charges), if any.
    pub closing: Option<CycleWindow>,
    /// The cycle opening here (its in-advance charges), if any.
    pub opening: Option<CycleWindow>,
}

impl Boundary {
    /// The local date of the boundary.
    pub fn date(&self) -> NaiveDate {
        match (&self.closing, &self.opening) {
            (Some(c), _) => c.billed.end,
            (None, Some(o)) => o.billed.start,
            (None, None) => unreachable!("a boundary closes or opens a cycle"),
        }
    }
}

/// Where an association stands: its latest recorded cycle and whether it is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// No cycle recorded yet.
    NotOpened,
    /// Cycle `index` is open.
    Open(u32),
    /// The last cycle is closed and there is no next one (the association ended).
    Finished,
}

/// What to do for one association as of `as_of`: the boundaries to invoice and the
/// cycles to record (`true` = closed). Pure: the heart of catching up.
pub fn plan_association(
    config: &PricingCycleConfig,
    from: NaiveDate,
    until: Option<NaiveDate>,
    progress: Progress,
    tz: Tz,
    as_of: DateTime<Utc>,
) -> (Vec<Boundary>, Vec<(CycleWindow, bool)>) {
    let started = |d: NaiveDate| local_start_instant(d, tz) <= as_of;
    let mut boundaries = Vec::new();
    let mut cycles: Vec<(CycleWindow, bool)> = Vec::new();
    let mut current = match progress {
        Progress::NotOpened => match config.window_at(from, until, 0) {
            Some(first) if started(first.billed.start) => {
                boundaries.push(Boundary {
                    closing: None,
                    opening: Some(first),
                });
                cycles.push((first, false));
                Some(first)
            }
            _ => None,
        },
        Progress::Open(index) => config.window_at(from, until, index),
        Progress::Finished => None,
    };
    while let Some(window) = current {
        if !started(window.billed.end) {
            break;
        }
        let next = config.window_at(from, until, window.index + 1);
        boundaries.push(Boundary {
            closing: Some(window),
            opening: next,
        });
        cycles.retain(|(w, _)| w.index != window.index);
        cycles.push((window, true));
        if let Some(n) = next {
            cycles.push((n, false));
        }
        current = next;
    }
    (boundaries, cycles)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{d, utc as t};
    use serde_json::json;

    fn monthly() -> PricingCycleConfig {
        PricingCycleConfig::from_json(
            &json!({"interval": "MONTHLY", "startOffset": {"dayOffset": "1"}}),
        )
        .unwrap()
    }

    #[test]
    fn a_new_association_opens_its_first_cycle_once_started() {
        let (b, c) = plan_association(
            &monthly(),
            d("2026-01-15"),
            None,
            Progress::NotOpened,
            Tz::UTC,
            t("2026-01-14T23:59:59Z"),
        );
        assert!(b.is_empty() && c.is_empty(), "not started yet");
        let (b, c) = plan_association(
            &monthly(),
            d("2026-01-15"),
            None,
            Progress::NotOpened,
            Tz::UTC,
            t("2026-01-15T00:00:00Z"),
        );
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].closing, None);
        assert_eq!(b[0].date(), d("2026-01-15"));
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].0.billed.start, c[0].0.billed.end, c[0].1),
            (d("2026-01-15"), d("2026-02-01"), false)
        );
    }

    #[test]
    fn ended_cycles_are_closed_and_caught_up_in_order() {
        // Open cycle 0 (Jan 15 - Feb 1); as of Apr 1 three boundaries are due.
        let (b, c) = plan_association(
            &monthly(),
            d("2026-01-15"),
            None,
            Progress::Open(0),
            Tz::UTC,
            t("2026-04-01T00:00:00Z"),
        );
        let dates: Vec<_> = b.iter().map(Boundary::date).collect();
        assert_eq!(dates, [d("2026-02-01"), d("2026-03-01"), d("2026-04-01")]);
        assert!(b.iter().all(|x| x.closing.is_some() && x.opening.is_some()));
        let closed: Vec<_> = c
            .iter()
            .filter(|(_, closed)| *closed)
            .map(|(w, _)| w.index)
            .collect();
        let open: Vec<_> = c
            .iter()
            .filter(|(_, closed)| !*closed)
            .map(|(w, _)| w.index)
            .collect();
        assert_eq!(closed, [0, 1, 2]);
        assert_eq!(open, [3], "exactly one cycle left open");
    }

    #[test]
    fn the_cycle_end_is_read_in_the_account_timezone() {
        let tz: Tz = "Asia/Tokyo".parse().unwrap();
        // Feb 1 00:00 in Tokyo is Jan 31 15:00 UTC.
        let (b, _) = plan_association(
            &monthly(),
            d("2026-01-01"),
            None,
            Progress::Open(0),
            tz,
            t("2026-01-31T14:59:59Z"),
        );
        assert!(b.is_empty());
        let (b, _) = plan_association(
            &monthly(),
            d("2026-01-01"),
            None,
            Progress::Open(0),
            tz,
            t("2026-01-31T15:00:00Z"),
        );
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn an_ending_association_closes_its_last_cycle_without_opening_another() {
        let (b, c) = plan_association(
            &monthly(),
            d("2026-01-01"),
            Some(d("2026-02-10")),
            Progress::Open(1),
            Tz::UTC,
            t("2026-03-01T00:00:00Z"),
        );
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].date(), d("2026-02-10"));
        assert_eq!(b[0].opening, None);
        assert_eq!(c, vec![(b[0].closing.unwrap(), true)]);
        let (b, c) = plan_association(
            &monthly(),
            d("2026-01-01"),
            Some(d("2026-02-10")),
            Progress::Finished,
            Tz::UTC,
            t("2026-09-01T00:00:00Z"),
        );
        assert!(b.is_empty() && c.is_empty());
    }
}
