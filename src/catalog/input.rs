//! Input rules shared by every way in (command line, JSON lines, CSV imports, and the
//! HTTP API to come): the one time parser and the length limits of text fields.
//!
//! Each entity checks its fields in one place with these (`NewAccount::validate`,
//! `NewCustomer::validate`, `Address::validate`, `usage::validate_event`, ...), and
//! every adapter calls that place; the adapter only names the field in its own
//! vocabulary (a CSV column, a JSON path, a flag).

use billrun_core::FieldError;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Timelike, Utc};

/// Longest id (organisation, customer, account, alias, plan, meter, schema, license,
/// event id, ...): Togai's limit, 50 characters.
pub const MAX_ID_CHARS: usize = 50;
/// Longest idempotency key (license updates, credit grants): 255 characters, room
/// for a UUID prefixed with a caller's own scheme.
pub const MAX_KEY_CHARS: usize = 255;
/// Longest display name (organisation, customer, account, ...): Togai's 255.
pub const MAX_NAME_CHARS: usize = 255;
/// Longest email address: 254 characters (RFC 5321's path limit less the brackets).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Most addresses in one recipient list (`billing_emails`, `additional_emails`).
pub const MAX_EMAILS: usize = 20;
/// Longest address line, city or state: 255 characters.
pub const MAX_ADDRESS_CHARS: usize = 255;
/// Longest postal code: 20 characters.
pub const MAX_POSTAL_CODE_CHARS: usize = 20;
/// Most aliases given to an account at once (one CSV row).
pub const MAX_ALIASES: usize = 100;
/// Longest dimension value of a usage event: 255 characters.
pub const MAX_DIMENSION_CHARS: usize = 255;
/// A billing-details profile's payment instructions: at most this many lines
/// (each at most [`MAX_NAME_CHARS`]); the PDF shows them in one block.
pub const MAX_PAYMENT_INSTRUCTION_LINES: usize = 20;
/// A billing-details profile's footer note (the PDF shows at most 20 lines of it).
pub const MAX_NOTE_CHARS: usize = 2000;

/// Refuses `value` if it has more than `max` characters (Unicode scalar values, not
/// bytes), naming the field and the limit.
pub fn check_len(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    // Counting stops one past the limit: a 10 MiB value costs no more than a short one.
    let n = value.chars().take(max + 1).count();
    if n > max {
        return Err(FieldError::new(
            field,
            format!(
                "is {} characters long, at most {max} are allowed (starts {})",
                value.chars().count(),
                shown(value)
            ),
        ));
    }
    Ok(())
}

/// A value quoted for a message, cut to its first 40 characters (a 10 MiB cell
/// never ends up in an error message or the errors file's `error` column).
pub fn shown(value: &str) -> String {
    const MAX: usize = 40;
    if value.chars().nth(MAX).is_none() {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(MAX).collect();
        format!("{head:?}...")
    }
}

/// Which written forms of a time a field accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeForms {
    /// RFC 3339 with a UTC offset only (`2026-01-31T23:59:59Z`, `...+01:00`): what a
    /// usage event's `timestamp` must be.
    WithOffset,
    /// RFC 3339, or `YYYY-MM-DDTHH:MM:SS` (UTC), or `YYYY-MM-DD` (midnight UTC): every
    /// other time (CLI flags, license `effective_from`, ...).
    Lenient,
}

/// Why [`parse_instant`] refused a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeError {
    /// Not in any accepted form.
    NotATime(TimeForms),
    /// Second 60 (`23:59:60Z`).
    LeapSecond,
    /// A year that is not 4 digits (`+12026-01-01`, `-0001-01-01`).
    Year,
}

impl TimeError {
    /// What is wrong, after the value: `expected ...`.
    pub fn reason(self) -> &'static str {
        match self {
            TimeError::NotATime(TimeForms::WithOffset) => {
                "expected ISO 8601 with a UTC offset such as 2026-01-31T23:59:59Z"
            }
            TimeError::NotATime(TimeForms::Lenient) => {
                "expected RFC 3339 such as 2026-02-01T00:00:00Z, YYYY-MM-DDTHH:MM:SS (UTC) or \
                 a date such as 2026-02-01 (midnight UTC)"
            }
            TimeError::LeapSecond => {
                "second 60 is a leap second, which billrun's times (like PostgreSQL's and Unix \
                 time) do not have: use 23:59:59 or the next second"
            }
            TimeError::Year => {
                "the year must have exactly 4 digits (0000 to 9999), as RFC 3339 requires"
            }
        }
    }

    /// The whole message for `value`: `"05/01/2026" is not a timestamp: expected ...`.
    pub fn describe(self, value: &str) -> String {
        match self {
            TimeError::NotATime(TimeForms::WithOffset) => {
                format!("{} is not a timestamp: {}", shown(value), self.reason())
            }
            TimeError::NotATime(TimeForms::Lenient) => {
                format!("{} is not a time: {}", shown(value), self.reason())
            }
            _ => format!("{}: {}", shown(value), self.reason()),
        }
    }
}

impl crate::error::Classify for TimeError {
    /// Always [`ErrorKind::Invalid`](crate::error::ErrorKind::Invalid): the value given
    /// is not a time billrun accepts.
    fn kind(&self) -> crate::error::ErrorKind {
        crate::error::ErrorKind::Invalid
    }
}

/// Parses a time given on the command line (`--now`, `--at`, the credit and plan
/// migration commands' times) with [`parse_instant`] in its lenient forms: RFC 3339,
/// `YYYY-MM-DDTHH:MM:SS` (UTC) or `YYYY-MM-DD` (midnight UTC); no leap second, a
/// 4-digit year.
///
/// Errors: `bad time "<value>": <why>`.
pub fn parse_time(s: &str) -> anyhow::Result<DateTime<Utc>> {
    parse_instant(s.trim(), TimeForms::Lenient)
        .map_err(|e| anyhow::anyhow!("bad time {s:?}: {}", e.reason()))
}

/// The one time parser: `value` (trimmed by the caller) as an instant, in one of
/// `forms`. Refuses a leap second (`23:59:60`) and a year that is not 4 digits
/// (`+12026`), which chrono alone would accept.
pub fn parse_instant(value: &str, forms: TimeForms) -> Result<DateTime<Utc>, TimeError> {
    let b = value.as_bytes();
    let four_digit_year = b.len() >= 5 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-';
    if !four_digit_year {
        let signed_or_long = matches!(b.first(), Some(b'+' | b'-'))
            || b.iter().take_while(|c| c.is_ascii_digit()).count() > 4;
        return Err(if signed_or_long {
            TimeError::Year
        } else {
            TimeError::NotATime(forms)
        });
    }
    let parsed = if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        Some(t.to_utc())
    } else if forms == TimeForms::WithOffset {
        None
    } else if let Ok(t) = NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S") {
        Some(t.and_utc())
    } else if let Ok(d) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        Some(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
    } else {
        None
    };
    let t = parsed.ok_or(TimeError::NotATime(forms))?;
    // chrono keeps a leap second as nanoseconds past 1e9 in second 59.
    if t.nanosecond() >= 1_000_000_000 {
        return Err(TimeError::LeapSecond);
    }
    Ok(t)
}

/// [`parse_instant`] for a field: the error names it.
pub fn instant_field(
    field: &str,
    value: &str,
    forms: TimeForms,
) -> Result<DateTime<Utc>, FieldError> {
    parse_instant(value, forms).map_err(|e| FieldError::new(field, e.describe(value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_every_accepted_form() {
        let t = |s, f| parse_instant(s, f).map(|t| t.to_rfc3339());
        use TimeForms::*;
        assert_eq!(
            t("2026-01-31T23:59:59+01:00", WithOffset),
            Ok("2026-01-31T22:59:59+00:00".into())
        );
        assert_eq!(
            t("2026-01-31T23:59:59", Lenient),
            Ok("2026-01-31T23:59:59+00:00".into())
        );
        assert_eq!(
            t("2026-01-31", Lenient),
            Ok("2026-01-31T00:00:00+00:00".into())
        );
        assert_eq!(
            t("2026-01-31", WithOffset),
            Err(TimeError::NotATime(WithOffset))
        );
        assert_eq!(
            t("2026-01-31T23:59:59", WithOffset),
            Err(TimeError::NotATime(WithOffset))
        );
        assert_eq!(t("yesterday", Lenient), Err(TimeError::NotATime(Lenient)));
    }

    #[test]
    fn leap_seconds_and_long_years_are_refused_in_every_form() {
        use TimeForms::*;
        for forms in [WithOffset, Lenient] {
            for s in ["2016-12-31T23:59:60Z", "2016-12-31T23:59:60.5+00:00"] {
                assert_eq!(parse_instant(s, forms), Err(TimeError::LeapSecond), "{s}");
            }
            for s in [
                "+12026-01-01T00:00:00Z",
                "12026-01-01T00:00:00Z",
                "-0001-01-01T00:00:00Z",
            ] {
                assert_eq!(parse_instant(s, forms), Err(TimeError::Year), "{s}");
            }
        }
        assert_eq!(
            parse_instant("2016-12-31T23:59:60", Lenient),
            Err(TimeError::LeapSecond)
        );
        assert_eq!(parse_instant("+12026-01-01", Lenient), Err(TimeError::Year));
        assert_eq!(
            TimeError::LeapSecond.describe("2016-12-31T23:59:60Z"),
            "\"2016-12-31T23:59:60Z\": second 60 is a leap second, which billrun's times (like \
             PostgreSQL's and Unix time) do not have: use 23:59:59 or the next second"
        );
    }

    #[test]
    fn every_time_error_is_invalid_input() {
        use crate::error::{Classify, ErrorKind};
        for e in [
            TimeError::NotATime(TimeForms::WithOffset),
            TimeError::NotATime(TimeForms::Lenient),
            TimeError::LeapSecond,
            TimeError::Year,
        ] {
            assert_eq!(e.kind(), ErrorKind::Invalid, "{e:?}");
        }
    }

    #[test]
    fn lengths_count_characters_and_messages_stay_short() {
        assert!(check_len("name", &"é".repeat(255), 255).is_ok());
        let e = check_len("name", &"é".repeat(256), 255).unwrap_err();
        assert_eq!(e.path, "name");
        assert!(
            e.message.starts_with("is 256 characters long, at most 255"),
            "{e}"
        );
        let huge = "x".repeat(10 << 20);
        let e = check_len("accountName", &huge, 255).unwrap_err();
        assert!(e.message.len() < 200, "{}", e.message.len());
    }
}
