//! Pricing cycles: Togai's `pricingCycleConfig` and the calendar it produces.
//!
//! A config is an interval (WEEKLY .. ANNUALLY) and a start offset (which day, and for
//! intervals longer than a month which month inside the interval, a cycle starts on),
//! or an anniversary (offsets taken from the date the plan was attached). A day that a
//! month lacks becomes that month's last day, without drift: with dayOffset 30, cycles
//! start on Jan 30, Feb 28 (29 in leap years), Mar 30.
//!
//! Dates are local to the account's timezone; [`Period`]s are local dates, and the
//! instants they begin and end at are computed with the timezone, correct across DST
//! ([`local_start_instant`], [`local_date`], [`period_instants`]).
//!
//! Every cycle start is computed from the anchor (the configured day and month, or the
//! attach date) and a cycle number, never from the previous boundary, so a short
//! month cannot pull later cycles earlier, and cycle N is found without walking the
//! cycles before it ([`PricingCycleConfig::window_at`]).
//!
//! This module owns the config (its types and JSON); the private `calendar` computes
//! cycles and windows from it, and `tz` maps local dates to instants.
//!
//! ```
//! use billrun_core::cycle::PricingCycleConfig;
//! use billrun_core::Period;
//! use chrono::NaiveDate;
//! use serde_json::json;
//!
//! let config = PricingCycleConfig::from_json(&json!({
//!     "interval": "MONTHLY", "startOffset": {"dayOffset": "30"}
//! })).unwrap();
//! let d = |s: &str| s.parse::<NaiveDate>().unwrap();
//! let attached_on = d("2028-01-10");
//!
//! // Attached mid-cycle: the first window is billed from the attach date.
//! let mut windows = config.windows(attached_on, None);
//! let first = windows.next().unwrap();
//! assert_eq!(first.full, Period::new(d("2027-12-30"), d("2028-01-30")));
//! assert_eq!(first.billed, Period::new(d("2028-01-10"), d("2028-01-30")));
//! // February lacks the 30th: its cycle starts on the 29th (a leap year), and March's
//! // is back on the 30th.
//! assert_eq!(windows.next().unwrap().full, Period::new(d("2028-01-30"), d("2028-02-29")));
//! assert_eq!(windows.next().unwrap().full, Period::new(d("2028-02-29"), d("2028-03-30")));
//! ```

mod calendar;
mod tz;

use serde_json::{json, Value};

use crate::FieldError;

pub use crate::period::Period;
pub use calendar::Windows;
pub use tz::{local_date, local_start_instant, period_instants};

/// One pricing cycle of an account's plan association, as billed.
///
/// `full` is the whole calendar cycle; `billed` is the part of it during which the
/// plan applied (shorter than `full` in the first cycle after a mid-cycle attach, or
/// the last before a detach). Proration factors are `billed` days over `full` days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CycleWindow {
    /// 0 for the association's first cycle, then 1, 2, ... (drives recurrence
    /// `{interval, offset}` of fixed fees and credit grants).
    pub index: u32,
    /// The whole cycle.
    pub full: Period,
    /// The days of `full` during which the plan applied.
    pub billed: Period,
}

/// How long one pricing cycle is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Interval {
    /// Seven days.
    Weekly,
    /// One calendar month.
    Monthly,
    /// Three calendar months.
    Quarterly,
    /// Six calendar months.
    HalfYearly,
    /// Twelve calendar months.
    Annually,
}

impl Interval {
    /// Togai's name: `WEEKLY`, `MONTHLY`, `QUARTERLY`, `HALF_YEARLY`, `ANNUALLY`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Interval::Weekly => "WEEKLY",
            Interval::Monthly => "MONTHLY",
            Interval::Quarterly => "QUARTERLY",
            Interval::HalfYearly => "HALF_YEARLY",
            Interval::Annually => "ANNUALLY",
        }
    }

    /// Parses Togai's name.
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        Ok(match s {
            "WEEKLY" => Interval::Weekly,
            "MONTHLY" => Interval::Monthly,
            "QUARTERLY" => Interval::Quarterly,
            "HALF_YEARLY" => Interval::HalfYearly,
            "ANNUALLY" => Interval::Annually,
            other => {
                return Err(FieldError::new(
                    "",
                    format!(
                        "unknown interval {other:?}: expected one of WEEKLY, MONTHLY, \
                         QUARTERLY, HALF_YEARLY, ANNUALLY"
                    ),
                ))
            }
        })
    }

    /// Calendar months in one cycle (`None` for weekly).
    pub fn months(&self) -> Option<u32> {
        match self {
            Interval::Weekly => None,
            Interval::Monthly => Some(1),
            Interval::Quarterly => Some(3),
            Interval::HalfYearly => Some(6),
            Interval::Annually => Some(12),
        }
    }
}

/// Which day a cycle starts on. For weekly cycles 1 = Monday .. 7 = Sunday and `Last`
/// is Sunday; otherwise the day of the month, where a day the month lacks (and
/// `Last`) means the month's last day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DayOffset {
    /// A day number (1..7 weekly, 1..31 otherwise).
    Day(u32),
    /// The last day (Sunday for weekly cycles).
    Last,
}

/// Which month inside a multi-month interval a cycle starts in (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MonthOffset {
    /// The first month of the interval (= `Month(1)`).
    First,
    /// The last month of the interval (3 for quarterly, 6 half-yearly, 12 annually).
    Last,
    /// A month number, 1..=months in the interval.
    Month(u32),
}

/// Togai's `startOffset{dayOffset, monthOffset}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StartOffset {
    /// The day.
    pub day: DayOffset,
    /// The month inside the interval; `None` for weekly and monthly cycles.
    pub month: Option<MonthOffset>,
}

/// Togai's `pricingCycleConfig`, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PricingCycleConfig {
    /// Cycle length.
    pub interval: Interval,
    /// Alignment of calendar cycles. Ignored when `anniversary` is true.
    pub start_offset: StartOffset,
    /// Cycles start on the attach date's day (and month within the interval).
    pub anniversary: bool,
    /// Days after a cycle ends during which late usage is still accepted and its
    /// invoice stays a draft.
    pub grace_period_days: u32,
}

fn offset_str(v: &Value, path: &str) -> Result<Option<String>, FieldError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        _ => Err(FieldError::new(
            path,
            "expected a string such as \"1\" or \"LAST\"",
        )),
    }
}

impl PricingCycleConfig {
    /// Parses and validates Togai's JSON shape:
    /// `{"interval": "MONTHLY", "startOffset": {"dayOffset": "1", "monthOffset": "FIRST"},
    /// "gracePeriod": 3, "anniversaryCycle": false}`. Errors name the field
    /// (relative to the config, e.g. `startOffset.dayOffset`).
    pub fn from_json(v: &Value) -> Result<Self, FieldError> {
        let obj = v
            .as_object()
            .ok_or_else(|| FieldError::new("", "expected an object with an interval"))?;
        let interval = match obj.get("interval") {
            Some(Value::String(s)) => Interval::parse(s).map_err(|e| e.within("interval"))?,
            Some(_) => return Err(FieldError::new("interval", "expected a string")),
            None => return Err(FieldError::new("interval", "is required")),
        };
        let anniversary = match obj.get("anniversaryCycle") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(FieldError::new(
                    "anniversaryCycle",
                    "expected true or false",
                ))
            }
        };
        let grace_period_days = match obj.get("gracePeriod") {
            None | Some(Value::Null) => 0,
            Some(Value::Number(n)) => n
                .as_u64()
                .filter(|d| *d <= 365)
                .ok_or_else(|| FieldError::new("gracePeriod", "expected whole days, 0..=365"))?
                as u32,
            Some(_) => return Err(FieldError::new("gracePeriod", "expected a number of days")),
        };
        let empty = Value::Null;
        let so = obj.get("startOffset").unwrap_or(&empty);
        let day_raw = offset_str(
            so.get("dayOffset").unwrap_or(&empty),
            "startOffset.dayOffset",
        )?;
        let month_raw = offset_str(
            so.get("monthOffset").unwrap_or(&empty),
            "startOffset.monthOffset",
        )?;

        let max_day = if interval == Interval::Weekly { 7 } else { 31 };
        let day = match day_raw.as_deref() {
            None => DayOffset::Day(1),
            Some("LAST") => DayOffset::Last,
            Some(s) => match s.parse::<u32>() {
                Ok(n) if (1..=max_day).contains(&n) => DayOffset::Day(n),
                _ => {
                    return Err(FieldError::new(
                        "startOffset.dayOffset",
                        format!(
                            "{s:?} is not a day offset: expected \"1\"..\"{max_day}\" or \"LAST\""
                        ),
                    ))
                }
            },
        };
        let month = match (interval.months(), month_raw.as_deref()) {
            (None | Some(1), None) => None,
            // An anniversary cycle takes its offsets from the attach date.
            (None | Some(1), Some(_)) if anniversary => None,
            (None | Some(1), Some(m)) => {
                return Err(FieldError::new(
                    "startOffset.monthOffset",
                    format!(
                        "{m:?} given, but a {} cycle has no month offset",
                        interval.as_str()
                    ),
                ))
            }
            (Some(_), None) => Some(MonthOffset::First),
            (Some(_), Some("FIRST")) => Some(MonthOffset::First),
            (Some(_), Some("LAST")) => Some(MonthOffset::Last),
            (Some(n), Some(s)) => match s.parse::<u32>() {
                Ok(m) if (1..=n).contains(&m) => Some(MonthOffset::Month(m)),
                _ => {
                    return Err(FieldError::new(
                        "startOffset.monthOffset",
                        format!(
                            "{s:?} is not a month offset for a {} cycle: expected \"1\"..\"{n}\", \
                             \"FIRST\" or \"LAST\"",
                            interval.as_str()
                        ),
                    ))
                }
            },
        };
        Ok(Self {
            interval,
            start_offset: StartOffset { day, month },
            anniversary,
            grace_period_days,
        })
    }

    /// Togai's JSON shape of this config (the inverse of [`Self::from_json`]).
    pub fn to_json(&self) -> Value {
        let day = match self.start_offset.day {
            DayOffset::Day(d) => d.to_string(),
            DayOffset::Last => "LAST".to_string(),
        };
        let mut start = json!({ "dayOffset": day });
        if let Some(m) = self.start_offset.month {
            start["monthOffset"] = json!(match m {
                MonthOffset::First => "FIRST".to_string(),
                MonthOffset::Last => "LAST".to_string(),
                MonthOffset::Month(n) => n.to_string(),
            });
        }
        json!({
            "interval": self.interval.as_str(),
            "startOffset": start,
            "gracePeriod": self.grace_period_days,
            "anniversaryCycle": self.anniversary,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A calendar (not anniversary) config.
    pub(super) fn calendar(interval: &str, day: &str, month: Option<&str>) -> PricingCycleConfig {
        let mut start = json!({ "dayOffset": day });
        if let Some(m) = month {
            start["monthOffset"] = json!(m);
        }
        PricingCycleConfig::from_json(&json!({"interval": interval, "startOffset": start})).unwrap()
    }

    #[test]
    fn parses_and_round_trips_togai_shapes() {
        for v in [
            json!({"interval": "MONTHLY", "startOffset": {"dayOffset": "1"}, "gracePeriod": 3, "anniversaryCycle": false}),
            json!({"interval": "QUARTERLY", "startOffset": {"dayOffset": "15", "monthOffset": "2"}, "gracePeriod": 0, "anniversaryCycle": false}),
            json!({"interval": "ANNUALLY", "startOffset": {"dayOffset": "LAST", "monthOffset": "2"}, "gracePeriod": 0, "anniversaryCycle": false}),
            json!({"interval": "WEEKLY", "startOffset": {"dayOffset": "LAST"}, "gracePeriod": 1, "anniversaryCycle": true}),
        ] {
            let c = PricingCycleConfig::from_json(&v).unwrap();
            assert_eq!(c.to_json(), v);
        }
    }

    #[test]
    fn refuses_bad_offsets_naming_the_field() {
        let e = PricingCycleConfig::from_json(
            &json!({"interval": "WEEKLY", "startOffset": {"dayOffset": "8"}}),
        )
        .unwrap_err();
        assert_eq!(e.path, "startOffset.dayOffset");
        let e = PricingCycleConfig::from_json(&json!({"interval": "QUARTERLY", "startOffset": {"dayOffset": "1", "monthOffset": "4"}})).unwrap_err();
        assert_eq!(e.path, "startOffset.monthOffset");
        let e = PricingCycleConfig::from_json(&json!({"interval": "DAILY"})).unwrap_err();
        assert_eq!(e.path, "interval");
        assert!(e.message.contains("WEEKLY"));
        let e = PricingCycleConfig::from_json(
            &json!({"interval": "MONTHLY", "startOffset": {"dayOffset": "1", "monthOffset": "2"}}),
        )
        .unwrap_err();
        assert_eq!(e.path, "startOffset.monthOffset");
    }
}
