//! Timezones: local dates and the instants they stand for, correct across DST.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::period::Period;

/// The local date in `tz` at `instant`: which day (and so which cycle) usage at that
/// instant belongs to.
pub fn local_date(instant: DateTime<Utc>, tz: Tz) -> NaiveDate {
    instant.with_timezone(&tz).date_naive()
}

/// The instant local `date` begins in `tz`.
///
/// Usually local midnight. When midnight occurs twice (clocks set back to midnight)
/// it is the earlier; when a DST change skips midnight (America/Havana, America/Santiago
/// and others move clocks at 00:00) it is the first instant of the day, the moment the
/// clocks jump. A day skipped entirely (Pacific/Apia on 2011-12-30) begins and ends at
/// the same instant, so consecutive periods still tile time.
pub fn local_start_instant(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = date.and_time(NaiveTime::MIN);
    if let Some(instant) = tz.from_local_datetime(&midnight).earliest() {
        return instant.with_timezone(&Utc);
    }
    // Midnight is in a gap. The day begins at the first instant whose local time is
    // past midnight; UTC offsets stay within ±26 hours, so it lies within 26 hours of
    // midnight read as UTC, where local time only moves forward across the one
    // transition: bisect on whole seconds (transitions happen on whole seconds).
    let min = DateTime::<Utc>::MIN_UTC.timestamp();
    let max = DateTime::<Utc>::MAX_UTC.timestamp();
    let guess = midnight.and_utc().timestamp();
    let span = 26 * 3600;
    let (mut before, mut after) = ((guess - span).max(min), (guess + span).min(max));
    let is_past_midnight = |secs: i64| {
        DateTime::from_timestamp(secs, 0)
            .is_none_or(|t| t.with_timezone(&tz).naive_local() >= midnight)
    };
    while after - before > 1 {
        let mid = before + (after - before) / 2;
        if is_past_midnight(mid) {
            after = mid;
        } else {
            before = mid;
        }
    }
    DateTime::from_timestamp(after, 0).unwrap_or(midnight.and_utc())
}

/// The instants `[begin, end)` that a period of local dates covers in `tz`: usage
/// with `begin <= timestamp < end` belongs to it. A period spanning a DST change is an
/// hour shorter or longer than its days times 24 hours.
pub fn period_instants(period: Period, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    (
        local_start_instant(period.start, tz),
        local_start_instant(period.end, tz),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cycle::tests::calendar;
    use crate::testing::{d, utc};
    use chrono::Days;

    fn hours(period: Period, tz: Tz) -> i64 {
        let (begin, end) = period_instants(period, tz);
        (end - begin).num_hours()
    }

    #[test]
    fn a_cycle_across_a_dst_change_is_an_hour_short_or_long() {
        let monthly = calendar("MONTHLY", "1", None);
        let berlin = chrono_tz::Europe::Berlin;
        // The clocks go forward on Sunday 29 March 2026 in Berlin.
        let march = monthly.cycle_containing(d("2026-01-01"), d("2026-03-29"));
        assert_eq!(march.days(), 31);
        assert_eq!(
            period_instants(march, berlin),
            (utc("2026-02-28T23:00:00Z"), utc("2026-03-31T22:00:00Z"))
        );
        assert_eq!(hours(march, berlin), 31 * 24 - 1);
        // ... and back on Sunday 1 November 2026 in New York.
        let new_york = chrono_tz::America::New_York;
        let november = monthly.cycle_containing(d("2026-01-01"), d("2026-11-15"));
        assert_eq!(
            period_instants(november, new_york),
            (utc("2026-11-01T04:00:00Z"), utc("2026-12-01T05:00:00Z"))
        );
        assert_eq!(hours(november, new_york), 30 * 24 + 1);
        // A month without a change.
        let june = monthly.cycle_containing(d("2026-01-01"), d("2026-06-15"));
        assert_eq!(hours(june, berlin), 30 * 24);
    }

    #[test]
    fn usage_belongs_to_the_local_date() {
        let berlin = chrono_tz::Europe::Berlin;
        let monthly = calendar("MONTHLY", "1", None);
        // 00:30 on 1 April in Berlin (CEST, UTC+2), still 31 March in UTC.
        let late = utc("2026-03-31T22:30:00Z");
        assert_eq!(local_date(late, berlin), d("2026-04-01"));
        let cycle = monthly.cycle_containing(d("2026-01-01"), local_date(late, berlin));
        assert_eq!(cycle, Period::new(d("2026-04-01"), d("2026-05-01")));
        let (begin, _) = period_instants(cycle, berlin);
        assert!(begin <= late);
        assert_eq!(
            local_date(utc("2026-03-31T21:59:59Z"), berlin),
            d("2026-03-31")
        );
        assert_eq!(local_date(late, Tz::UTC), d("2026-03-31"));
    }

    #[test]
    fn days_whose_midnight_is_skipped_or_repeated() {
        use chrono_tz::America::{Havana, Santiago};
        use chrono_tz::Pacific::Apia;
        let start = |date, tz| local_start_instant(d(date), tz);
        let day_hours = |date: &str, tz| {
            let date = d(date);
            hours(Period::new(date, date + Days::new(1)), tz)
        };
        // Havana springs forward at 00:00: the day begins at 01:00 CDT.
        assert_eq!(start("2026-03-08", Havana), utc("2026-03-08T05:00:00Z"));
        assert_eq!(day_hours("2026-03-08", Havana), 23);
        // ... and falls back to 00:00: midnight happens twice, the earlier one counts.
        assert_eq!(start("2026-11-01", Havana), utc("2026-11-01T04:00:00Z"));
        assert_eq!(day_hours("2026-11-01", Havana), 25);
        // Santiago springs forward at 24:00 on Saturday: Sunday begins at 01:00 -03.
        assert_eq!(start("2026-09-06", Santiago), utc("2026-09-06T04:00:00Z"));
        assert_eq!(day_hours("2026-09-05", Santiago), 24);
        assert_eq!(day_hours("2026-09-06", Santiago), 23);
        // Samoa skipped 30 December 2011 entirely: it begins when the 31st does.
        assert_eq!(start("2011-12-30", Apia), utc("2011-12-30T10:00:00Z"));
        assert_eq!(start("2011-12-31", Apia), utc("2011-12-30T10:00:00Z"));
        for (date, tz) in [
            ("2026-03-08", Havana),
            ("2026-11-01", Havana),
            ("2026-09-06", Santiago),
        ] {
            assert_eq!(local_date(start(date, tz), tz), d(date));
        }
    }

    #[test]
    fn local_days_tile_time_in_every_zone_with_odd_transitions() {
        use chrono_tz::{America, Asia, Australia, Europe, Pacific};
        // Every day of 1950..2060, so each DST change at or around midnight is hit.
        let zones = [
            Tz::UTC,
            Europe::Berlin,
            America::New_York,
            America::Santiago,
            America::Havana,
            Pacific::Apia,
            Australia::Lord_Howe, // half-hour DST
            Asia::Kolkata,
            Pacific::Chatham, // +12:45
        ];
        for tz in zones {
            let mut date = d("1950-01-01");
            let mut begin = local_start_instant(date, tz);
            while date < d("2060-01-01") {
                let next = date + Days::new(1);
                let end = local_start_instant(next, tz);
                assert!(begin <= end, "{tz} {date}");
                let just_before = begin - chrono::TimeDelta::seconds(1);
                assert!(local_date(just_before, tz) < date, "{tz} {date}");
                if begin < end {
                    assert_eq!(local_date(begin, tz), date, "{tz}");
                    assert_eq!(
                        local_date(end - chrono::TimeDelta::seconds(1), tz),
                        date,
                        "{tz}"
                    );
                }
                (date, begin) = (next, end);
            }
        }
    }
}
