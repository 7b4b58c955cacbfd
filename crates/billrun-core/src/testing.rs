//! Dates and instants written as text in tests, parsed in one place: every test
//! module of the workspace (this crate's, the shell's unit tests and the
//! integration tests) uses these instead of its own copy. Compiled for this
//! crate's tests and, with the `testing` feature, for the other crates' tests.

use chrono::{DateTime, NaiveDate, Utc};

/// A calendar date from `YYYY-MM-DD`; panics naming the text if it is not one.
pub fn d(s: &str) -> NaiveDate {
    s.parse()
        .unwrap_or_else(|e| panic!("test date {s:?}: {e} (expected YYYY-MM-DD)"))
}

/// A UTC instant from RFC 3339 text with any offset (`2026-02-01T00:00:00Z`,
/// `2026-02-01T00:00:00+01:00`), converted to UTC; panics naming the text if it is
/// not one.
pub fn utc(s: &str) -> DateTime<Utc> {
    s.parse()
        .unwrap_or_else(|e| panic!("test instant {s:?}: {e} (expected RFC 3339)"))
}
