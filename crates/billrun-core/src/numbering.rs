//! Invoice numbers: an organisation's number format, the counter it uses, and due
//! dates.
//!
//! A format such as `INV-{YYYY}-{SEQ:6}` is literal text around date tokens and
//! exactly one sequence token. Numbers are assigned when an invoice is finalized, from
//! a counter the storage keeps per organisation and [`NumberFormat::sequence_key`]:
//! the counter never resets unless the format shows the period it resets on (with
//! `{YYYY}` it restarts every year). Because every part other than the sequence has a
//! fixed width and the format must show its whole reset period, two invoices of an
//! organisation never get the same number.
//!
//! ```
//! use billrun_core::numbering::NumberFormat;
//! use chrono::NaiveDate;
//!
//! let format = NumberFormat::parse("INV-{YYYY}-{SEQ:6}").unwrap();
//! let invoice_date = NaiveDate::from_ymd_opt(2026, 3, 7).unwrap();
//! assert_eq!(format.sequence_key(invoice_date), "2026");
//! assert_eq!(format.render(invoice_date, 42), "INV-2026-000042");
//! ```

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Days, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::FieldError;

/// The field every error of this module is reported at.
const FIELD: &str = "invoiceNumberFormat";

/// The widest `{SEQ:n}` padding accepted.
const MAX_SEQ_WIDTH: usize = 12;

const TOKENS_EXPECTED: &str =
    "expected {YYYY}, {YY}, {MM}, {DD}, {SEQ} or {SEQ:n} with n from 1 to 12";

/// One piece of a format.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Part {
    Literal(String),
    /// `{YYYY}`: the invoice date's year, four digits.
    Year,
    /// `{YY}`: its last two digits.
    ShortYear,
    /// `{MM}`: its month, two digits.
    Month,
    /// `{DD}`: its day, two digits.
    Day,
    /// `{SEQ}` (width 0: no padding) or `{SEQ:width}`.
    Seq {
        width: usize,
    },
}

/// An organisation's invoice number format, validated (e.g. `INV-{YYYY}-{SEQ:6}`).
///
/// Tokens: `{YYYY}`, `{YY}`, `{MM}`, `{DD}` (of the invoice date), and exactly one of
/// `{SEQ}` (the counter, unpadded) or `{SEQ:n}` (zero-padded to `n` digits, 1..=12; a
/// larger counter simply has more digits). Literal text may use ASCII letters and
/// digits, space, and `- _ / . #`. A format showing the month must show the year, and
/// one showing the day must show the month and year: otherwise a counter that resets
/// every month would repeat numbers a year later.
///
/// Serialized as its string; [`fmt::Display`] gives the string back.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NumberFormat {
    parts: Vec<Part>,
}

fn refuse(message: impl Into<String>) -> FieldError {
    FieldError::new(FIELD, message)
}

fn is_literal(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '.' | '#' | ' ')
}

/// The part a `{name}` token stands for; `at` is its 1-based character position.
fn token(name: &str, at: usize) -> Result<Part, FieldError> {
    Ok(match name {
        "YYYY" => Part::Year,
        "YY" => Part::ShortYear,
        "MM" => Part::Month,
        "DD" => Part::Day,
        "SEQ" => Part::Seq { width: 0 },
        _ => {
            let Some(width) = name.strip_prefix("SEQ:") else {
                return Err(refuse(format!(
                    "unknown token {{{name}}} at character {at}: {TOKENS_EXPECTED}"
                )));
            };
            // Leading zeros are refused so that a format prints back exactly as given.
            let parsed = width
                .parse::<usize>()
                .ok()
                .filter(|w| (1..=MAX_SEQ_WIDTH).contains(w) && !width.starts_with(['0', '+']));
            match parsed {
                Some(width) => Part::Seq { width },
                None => {
                    return Err(refuse(format!(
                        "{{{name}}} at character {at}: the padding of {{SEQ:n}} must be a \
                         number of digits from 1 to {MAX_SEQ_WIDTH}"
                    )))
                }
            }
        }
    })
}

impl NumberFormat {
    /// Parses and validates a format; errors are at `invoiceNumberFormat` and say
    /// what was expected.
    pub fn parse(format: &str) -> Result<Self, FieldError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = format.chars().enumerate();
        while let Some((i, c)) = chars.next() {
            let at = i + 1;
            match c {
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some((_, '}')) => break,
                            Some((_, '{')) | None => {
                                return Err(refuse(format!(
                                    "the '{{' at character {at} is not closed: {TOKENS_EXPECTED}"
                                )))
                            }
                            Some((_, c)) => name.push(c),
                        }
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(token(&name, at)?);
                }
                '}' => {
                    return Err(refuse(format!(
                    "stray '}}' at character {at}: braces only surround tokens, {TOKENS_EXPECTED}"
                )))
                }
                c if is_literal(c) => literal.push(c),
                c => {
                    return Err(refuse(format!(
                        "character {c:?} at character {at} is not allowed: literal text may \
                         use letters A-Z and a-z, digits, space and - _ / . #"
                    )))
                }
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        let format = Self { parts };
        format.check_sequence_and_scope()?;
        Ok(format)
    }

    fn has(&self, wanted: impl Fn(&Part) -> bool) -> bool {
        self.parts.iter().any(wanted)
    }

    fn check_sequence_and_scope(&self) -> Result<(), FieldError> {
        let sequences = self
            .parts
            .iter()
            .filter(|p| matches!(p, Part::Seq { .. }))
            .count();
        if sequences != 1 {
            return Err(refuse(format!(
                "found {sequences} sequence tokens: expected exactly one {{SEQ}} or {{SEQ:n}} \
                 (e.g. INV-{{YYYY}}-{{SEQ:6}})"
            )));
        }
        let year = self.has(|p| matches!(p, Part::Year | Part::ShortYear));
        let month = self.has(|p| *p == Part::Month);
        let day = self.has(|p| *p == Part::Day);
        if month && !year {
            return Err(refuse(
                "{MM} needs {YYYY} or {YY} too: the counter restarts every month, so \
                 without the year numbers would repeat a year later",
            ));
        }
        if day && !(month && year) {
            return Err(refuse(
                "{DD} needs {MM} and {YYYY} or {YY} too: the counter restarts every day, so \
                 without the month and year numbers would repeat",
            ));
        }
        Ok(())
    }

    /// The scope the counter runs in for an invoice dated `invoice_date`: `""` (never
    /// resets) without date tokens, else the finest period the format shows: `"2026"`
    /// with `{YYYY}` or `{YY}`, `"2026-03"` with `{MM}`, `"2026-03-07"` with `{DD}`.
    ///
    /// The storage keeps one counter per (organisation, sequence key) and passes its
    /// next value to [`Self::render`].
    pub fn sequence_key(&self, invoice_date: NaiveDate) -> String {
        let (y, m, d) = (
            invoice_date.year(),
            invoice_date.month(),
            invoice_date.day(),
        );
        if self.has(|p| *p == Part::Day) {
            format!("{y:04}-{m:02}-{d:02}")
        } else if self.has(|p| *p == Part::Month) {
            format!("{y:04}-{m:02}")
        } else if self.has(|p| matches!(p, Part::Year | Part::ShortYear)) {
            format!("{y:04}")
        } else {
            String::new()
        }
    }

    /// The invoice number for counter value `seq` (the next value of the counter for
    /// [`Self::sequence_key`]`(invoice_date)`).
    pub fn render(&self, invoice_date: NaiveDate, seq: u64) -> String {
        let mut number = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => number.push_str(text),
                Part::Year => number.push_str(&format!("{:04}", invoice_date.year())),
                Part::ShortYear => {
                    number.push_str(&format!("{:02}", invoice_date.year().rem_euclid(100)))
                }
                Part::Month => number.push_str(&format!("{:02}", invoice_date.month())),
                Part::Day => number.push_str(&format!("{:02}", invoice_date.day())),
                Part::Seq { width } => number.push_str(&format!("{seq:0width$}")),
            }
        }
        number
    }
}

impl fmt::Display for NumberFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &self.parts {
            match part {
                Part::Literal(text) => f.write_str(text)?,
                Part::Year => f.write_str("{YYYY}")?,
                Part::ShortYear => f.write_str("{YY}")?,
                Part::Month => f.write_str("{MM}")?,
                Part::Day => f.write_str("{DD}")?,
                Part::Seq { width: 0 } => f.write_str("{SEQ}")?,
                Part::Seq { width } => write!(f, "{{SEQ:{width}}}")?,
            }
        }
        Ok(())
    }
}

impl FromStr for NumberFormat {
    type Err = FieldError;

    fn from_str(s: &str) -> Result<Self, FieldError> {
        Self::parse(s)
    }
}

impl Serialize for NumberFormat {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for NumberFormat {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The date an invoice is due: `invoice_date` plus the account's net term in days
/// (0 = due on the invoice date). Terms past the end of the calendar (around year
/// 262,000) give the last representable date instead of failing.
pub fn due_date(invoice_date: NaiveDate, net_term_days: u32) -> NaiveDate {
    invoice_date
        .checked_add_days(Days::new(u64::from(net_term_days)))
        .unwrap_or(NaiveDate::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::d;
    use proptest::prelude::*;

    #[test]
    fn renders_every_token() {
        #[rustfmt::skip]
        let table = [
            // (format, invoice date, seq, number, sequence key)
            ("INV-{YYYY}-{SEQ:6}", "2026-03-07", 42, "INV-2026-000042", "2026"),
            ("INV-{YYYY}-{SEQ:6}", "2026-03-07", 1_234_567, "INV-2026-1234567", "2026"),
            ("{YY}{MM}{DD}-{SEQ}", "2026-03-07", 42, "260307-42", "2026-03-07"),
            ("{YYYY}/{MM}/{SEQ:4}", "2026-11-30", 7, "2026/11/0007", "2026-11"),
            ("{YY}.{SEQ:1}", "2009-01-01", 7, "09.7", "2009"),
            ("{YY}.{SEQ:1}", "2100-01-01", 12, "00.12", "2100"),
            ("#{SEQ}", "2026-03-07", 1, "#1", ""),
            ("{SEQ}", "2026-03-07", 0, "0", ""),
            ("A_b 9 {SEQ:12}", "2026-03-07", 5, "A_b 9 000000000005", ""),
            ("{SEQ:3}-{DD}.{MM}.{YYYY}", "2026-03-07", 12, "012-07.03.2026", "2026-03-07"),
            ("{SEQ}", "2026-03-07", u64::MAX, "18446744073709551615", ""),
        ];
        for (text, date, seq, number, key) in table {
            let format = NumberFormat::parse(text).unwrap();
            assert_eq!(format.render(d(date), seq), number, "{text}");
            assert_eq!(format.sequence_key(d(date)), key, "{text}");
            assert_eq!(format.to_string(), text);
        }
    }

    #[test]
    fn refuses_malformed_formats_saying_what_was_expected() {
        #[rustfmt::skip]
        let table = [
            ("", "exactly one {SEQ}"),
            ("INV-{YYYY}", "found 0 sequence tokens"),
            ("INV-{SEQ}-{SEQ:4}", "found 2 sequence tokens"),
            ("{SEQ:0}", "from 1 to 12"),
            ("{SEQ:13}", "from 1 to 12"),
            ("{SEQ:06}", "from 1 to 12"),
            ("{SEQ:+6}", "from 1 to 12"),
            ("{SEQ:}", "from 1 to 12"),
            ("{seq}", "unknown token {seq} at character 1"),
            ("INV-{FOO}{SEQ}", "unknown token {FOO} at character 5: expected {YYYY}"),
            ("{}{SEQ}", "unknown token {}"),
            ("INV-{SEQ", "'{' at character 5 is not closed"),
            ("INV-{YY{SEQ}", "'{' at character 5 is not closed"),
            ("INV-SEQ}", "stray '}' at character 8"),
            ("INV@{SEQ}", "'@' at character 4 is not allowed"),
            ("FACTURE-É{SEQ}", "'É' at character 9 is not allowed"),
            ("INV-{MM}-{SEQ}", "{MM} needs {YYYY} or {YY}"),
            ("{YYYY}{DD}-{SEQ}", "{DD} needs {MM}"),
            ("{MM}{DD}-{SEQ}", "{MM} needs"),
        ];
        for (text, expected) in table {
            let error = NumberFormat::parse(text).unwrap_err();
            assert_eq!(error.path, "invoiceNumberFormat", "{text}");
            assert!(
                error.message.contains(expected),
                "{text}: {}",
                error.message
            );
        }
    }

    #[test]
    fn serde_is_the_string() {
        let format: NumberFormat = serde_json::from_str("\"INV-{YYYY}-{SEQ:6}\"").unwrap();
        assert_eq!(
            serde_json::to_string(&format).unwrap(),
            "\"INV-{YYYY}-{SEQ:6}\""
        );
        let error = serde_json::from_str::<NumberFormat>("\"INV-{YYYY}\"").unwrap_err();
        assert!(error.to_string().contains("invoiceNumberFormat"), "{error}");
        assert_eq!(
            "INV-{SEQ}".parse::<NumberFormat>(),
            NumberFormat::parse("INV-{SEQ}")
        );
    }

    #[test]
    fn due_date_adds_net_term_days() {
        assert_eq!(due_date(d("2026-03-07"), 0), d("2026-03-07"));
        assert_eq!(due_date(d("2026-03-07"), 30), d("2026-04-06"));
        assert_eq!(due_date(d("2028-02-15"), 15), d("2028-03-01"));
        assert_eq!(due_date(d("2026-12-20"), 15), d("2027-01-04"));
        assert_eq!(due_date(NaiveDate::MAX, 1), NaiveDate::MAX);
    }

    fn any_format() -> impl Strategy<Value = NumberFormat> {
        let piece = prop::sample::select(vec![
            "INV", "-", "/", "{YYYY}", "{YY}", "{MM}", "{DD}", "#", "x9",
        ]);
        (prop::collection::vec(piece, 0..6), 0..=12usize, 0..6usize).prop_filter_map(
            "format must show its reset period",
            |(pieces, width, at)| {
                let mut pieces: Vec<String> = pieces.into_iter().map(String::from).collect();
                let seq = match width {
                    0 => "{SEQ}".to_string(),
                    w => format!("{{SEQ:{w}}}"),
                };
                pieces.insert(at.min(pieces.len()), seq);
                NumberFormat::parse(&pieces.concat()).ok()
            },
        )
    }

    proptest! {
        #[test]
        fn distinct_counters_render_distinct_numbers(
            format in any_format(),
            days in 0..100_000u64,
            a in any::<u64>(),
            b in any::<u64>(),
        ) {
            prop_assume!(a != b);
            let date = d("1900-01-01") + Days::new(days);
            prop_assert_ne!(format.render(date, a), format.render(date, b));
        }

        #[test]
        fn valid_formats_print_back_as_parsed(format in any_format()) {
            prop_assert_eq!(NumberFormat::parse(&format.to_string()), Ok(format));
        }

        #[test]
        fn numbers_never_repeat_across_sequence_keys(
            format in any_format(),
            days in (0..30_000u64, 0..30_000u64),
            seqs in (0..2_000u64, 0..2_000u64),
        ) {
            // Dates within one century, where {YY} is unambiguous.
            let (x, y) = (d("2000-01-01") + Days::new(days.0), d("2000-01-01") + Days::new(days.1));
            if format.sequence_key(x) != format.sequence_key(y) {
                prop_assert_ne!(format.render(x, seqs.0), format.render(y, seqs.1));
            }
        }
    }
}
