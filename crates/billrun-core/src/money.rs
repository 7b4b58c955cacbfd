//! Money: ISO 4217 currencies, their minor units, and rounding to them.
//!
//! Amounts are [`Decimal`] everywhere (never floats). Intermediate results (a unit
//! price times a quantity) keep full precision; an amount is rounded to its currency's
//! minor unit once, at line level, with the organisation's [`RoundingMode`];
//! [`round_parts`] rounds the parts of one line so that they still add up to it (the
//! charges and the invoice tree both use it, so it lives here, below both).

use std::fmt;
use std::str::FromStr;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::FieldError;

/// Active ISO 4217 codes with their minor units (number of decimals).
/// Codes not listed have 2 decimals; codes not in [`ISO_4217`] are refused.
const ZERO_DECIMALS: &[&str] = &[
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
    "VUV", "XAF", "XOF", "XPF",
];
const THREE_DECIMALS: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
const FOUR_DECIMALS: &[&str] = &["CLF", "UYW"];

/// Every active ISO 4217 currency code (funds and precious metals excluded).
const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHF", "CLF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP",
    "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF",
    "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD",
    "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP",
    "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR",
    "MVR", "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB",
    "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD",
    "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL",
    "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYI",
    "UYU", "UYW", "UZS", "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER",
    "ZAR", "ZMW", "ZWG",
];

/// An ISO 4217 currency, e.g. `USD`. A value of this type is always a known code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    /// US dollar.
    pub const USD: Currency = Currency(*b"USD");
    /// Euro.
    pub const EUR: Currency = Currency(*b"EUR");
    /// Japanese yen (0 decimals).
    pub const JPY: Currency = Currency(*b"JPY");
    /// Bahraini dinar (3 decimals).
    pub const BHD: Currency = Currency(*b"BHD");

    /// Parses an ISO 4217 code (upper case, three letters).
    pub fn parse(code: &str) -> Result<Self, FieldError> {
        if ISO_4217.binary_search(&code).is_ok() {
            let b = code.as_bytes();
            Ok(Currency([b[0], b[1], b[2]]))
        } else {
            Err(FieldError::new(
                "",
                format!("unknown currency {code:?}: expected an ISO 4217 code such as \"USD\""),
            ))
        }
    }

    /// The three-letter code.
    pub fn code(&self) -> &str {
        // Constructed only from ASCII codes of the table above.
        std::str::from_utf8(&self.0).expect("currency codes are ASCII")
    }

    /// Number of decimals of the minor unit (JPY 0, USD 2, BHD 3).
    pub fn minor_units(&self) -> u32 {
        let code = self.code();
        if ZERO_DECIMALS.contains(&code) {
            0
        } else if THREE_DECIMALS.contains(&code) {
            3
        } else if FOUR_DECIMALS.contains(&code) {
            4
        } else {
            2
        }
    }

    /// Rounds `amount` to this currency's minor unit.
    pub fn round(&self, amount: Decimal, mode: RoundingMode) -> Decimal {
        let mut r = amount.round_dp_with_strategy(self.minor_units(), mode.strategy());
        // Show every minor digit: 5 USD is "5.00", 5 JPY is "5".
        r.rescale(self.minor_units());
        r
    }

    /// A currency symbol for display, falling back to the code.
    pub fn symbol(&self) -> &str {
        match self.code() {
            "USD" => "$",
            "EUR" => "€",
            "GBP" => "£",
            "JPY" => "¥",
            "INR" => "₹",
            "CNY" => "CN¥",
            "KRW" => "₩",
            other => other,
        }
    }
}

impl FromStr for Currency {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::parse(s)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::parse(&s).map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// How an amount is rounded to the minor unit. The default is half away from zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RoundingMode {
    /// 0.125 -> 0.13, -0.125 -> -0.13 (commercial rounding).
    #[default]
    HalfAwayFromZero,
    /// 0.125 -> 0.12, 0.135 -> 0.14 (banker's rounding).
    HalfEven,
    /// Always towards positive infinity's magnitude: 0.121 -> 0.13.
    Up,
    /// Truncation: 0.129 -> 0.12.
    Down,
}

impl RoundingMode {
    fn strategy(self) -> RoundingStrategy {
        match self {
            RoundingMode::HalfAwayFromZero => RoundingStrategy::MidpointAwayFromZero,
            RoundingMode::HalfEven => RoundingStrategy::MidpointNearestEven,
            RoundingMode::Up => RoundingStrategy::AwayFromZero,
            RoundingMode::Down => RoundingStrategy::ToZero,
        }
    }
}

/// An amount in a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// The amount, in major units (10.50 USD is `10.50`).
    pub amount: Decimal,
    /// Its currency.
    pub currency: Currency,
}

impl Money {
    /// An amount in `currency`.
    pub fn new(amount: Decimal, currency: Currency) -> Self {
        Self { amount, currency }
    }

    /// Zero in `currency`, with the currency's decimals.
    pub fn zero(currency: Currency) -> Self {
        Self::new(
            currency.round(Decimal::ZERO, RoundingMode::default()),
            currency,
        )
    }

    /// This amount rounded to the currency's minor unit.
    pub fn round(self, mode: RoundingMode) -> Self {
        Self::new(self.currency.round(self.amount, mode), self.currency)
    }

    /// The amount in minor units (cents), if it is already rounded to them.
    pub fn to_minor_units(&self) -> Option<i64> {
        let scaled = self.amount * Decimal::from(10i64.pow(self.currency.minor_units()));
        if scaled.fract().is_zero() {
            scaled.trunc().try_into().ok()
        } else {
            None
        }
    }

    /// Sum of two amounts of the same currency.
    ///
    /// # Panics
    /// If the currencies differ: mixing currencies is a programming error, since
    /// every invoice is in exactly one currency.
    pub fn plus(self, other: Money) -> Money {
        assert_eq!(
            self.currency, other.currency,
            "adding amounts of two currencies"
        );
        Money::new(self.amount + other.amount, self.currency)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

/// Rounds each of `parts` to `currency`'s minor unit so that the rounded parts add up
/// to the rounded sum of the parts. Parts are rounded one by one with `mode`; the
/// minor units still missing (or in excess) go to the parts whose rounding moved them
/// furthest from their exact value (largest remainder), earliest part first on ties.
pub fn round_parts(parts: &[Decimal], currency: Currency, mode: RoundingMode) -> Vec<Decimal> {
    let total = currency.round(parts.iter().copied().sum(), mode);
    let mut rounded: Vec<Decimal> = parts.iter().map(|p| currency.round(*p, mode)).collect();
    let unit = Decimal::new(1, currency.minor_units());
    let missing = total - rounded.iter().copied().sum::<Decimal>();
    let steps = (missing / unit).trunc();
    let step = if steps.is_sign_negative() {
        -unit
    } else {
        unit
    };
    let mut order: Vec<usize> = (0..parts.len()).collect();
    // Under-rounded parts (exact - rounded largest) gain a unit first; over-rounded
    // parts lose one first.
    order.sort_by_key(|&i| {
        let error = parts[i] - rounded[i];
        std::cmp::Reverse(if step.is_sign_negative() {
            -error
        } else {
            error
        })
    });
    let count = steps.abs().to_usize().unwrap_or(0);
    for &i in order.iter().cycle().take(count) {
        rounded[i] = currency.round(rounded[i] + step, mode);
    }
    rounded
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    #[test]
    fn table_is_sorted_for_binary_search() {
        let mut sorted = ISO_4217.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, ISO_4217);
        for c in ZERO_DECIMALS
            .iter()
            .chain(THREE_DECIMALS)
            .chain(FOUR_DECIMALS)
        {
            assert!(ISO_4217.contains(c), "{c} missing from the code table");
        }
    }

    #[test]
    fn minor_units_follow_iso_4217() {
        assert_eq!(Currency::parse("JPY").unwrap().minor_units(), 0);
        assert_eq!(Currency::parse("USD").unwrap().minor_units(), 2);
        assert_eq!(Currency::parse("EUR").unwrap().minor_units(), 2);
        assert_eq!(Currency::parse("BHD").unwrap().minor_units(), 3);
        assert_eq!(Currency::parse("KWD").unwrap().minor_units(), 3);
    }

    #[test]
    fn unknown_or_lowercase_codes_are_refused() {
        for bad in ["usd", "XYZ", "US", "USDD", ""] {
            let e = Currency::parse(bad).unwrap_err();
            assert!(e.message.contains("ISO 4217"), "{e}");
        }
    }

    #[test]
    fn rounding_half_away_from_zero_by_default() {
        let usd = Currency::USD;
        let m = RoundingMode::default();
        assert_eq!(usd.round(dec!(0.125), m).to_string(), "0.13");
        assert_eq!(usd.round(dec!(-0.125), m).to_string(), "-0.13");
        assert_eq!(usd.round(dec!(0.124999), m).to_string(), "0.12");
        assert_eq!(usd.round(dec!(5), m).to_string(), "5.00");
        assert_eq!(Currency::JPY.round(dec!(1234.5), m).to_string(), "1235");
        assert_eq!(Currency::JPY.round(dec!(1234.49), m).to_string(), "1234");
        assert_eq!(Currency::BHD.round(dec!(1.2345), m).to_string(), "1.235");
        assert_eq!(Currency::BHD.round(dec!(1.2344), m).to_string(), "1.234");
    }

    #[test]
    fn other_rounding_modes() {
        let usd = Currency::USD;
        assert_eq!(
            usd.round(dec!(0.125), RoundingMode::HalfEven).to_string(),
            "0.12"
        );
        assert_eq!(
            usd.round(dec!(0.135), RoundingMode::HalfEven).to_string(),
            "0.14"
        );
        assert_eq!(usd.round(dec!(0.121), RoundingMode::Up).to_string(), "0.13");
        assert_eq!(
            usd.round(dec!(0.129), RoundingMode::Down).to_string(),
            "0.12"
        );
    }

    #[test]
    fn minor_unit_conversion() {
        assert_eq!(
            Money::new(dec!(10.50), Currency::USD).to_minor_units(),
            Some(1050)
        );
        assert_eq!(
            Money::new(dec!(10.505), Currency::USD).to_minor_units(),
            None
        );
        assert_eq!(
            Money::new(dec!(1.234), Currency::BHD).to_minor_units(),
            Some(1234)
        );
        assert_eq!(
            Money::new(dec!(700), Currency::JPY).to_minor_units(),
            Some(700)
        );
    }

    #[test]
    fn serde_round_trip() {
        let m = Money::new(dec!(12.30), Currency::EUR);
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"amount":"12.30","currency":"EUR"}"#);
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), m);
        assert!(serde_json::from_str::<Currency>("\"ABC\"").is_err());
    }

    #[test]
    fn round_parts_keeps_the_rounded_total() {
        let usd = Currency::USD;
        let m = RoundingMode::default();
        let thirds = [dec!(10) / dec!(3); 3];
        let r = round_parts(&thirds, usd, m);
        assert_eq!(
            r.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
            ["3.34", "3.33", "3.33"]
        );
        let r = round_parts(&[dec!(0.005), dec!(0.005), dec!(0.005)], usd, m);
        // 0.015 -> 0.02, though each part alone rounds to 0.01.
        assert_eq!(r.iter().copied().sum::<Decimal>(), dec!(0.02));
        let r = round_parts(&[dec!(100.004), dec!(-50.004)], usd, m);
        assert_eq!(r, [dec!(100.00), dec!(-50.00)]);
        let r = round_parts(&[dec!(1234.5), dec!(0.4)], Currency::JPY, m);
        assert_eq!(
            r.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
            ["1235", "0"]
        );
        assert!(round_parts(&[], usd, m).is_empty());
    }

    proptest::proptest! {
        #[test]
        fn rounding_is_idempotent_and_within_half_a_minor_unit(cents in -10_000_000i64..10_000_000, extra in 0u32..1000) {
            let amount = Decimal::new(cents * 1000 + extra as i64, 5);
            let r = Currency::USD.round(amount, RoundingMode::default());
            proptest::prop_assert_eq!(Currency::USD.round(r, RoundingMode::default()), r);
            proptest::prop_assert!((r - amount).abs() <= dec!(0.005));
        }
    }

    fn currency() -> impl Strategy<Value = Currency> {
        prop_oneof![
            Just(Currency::USD),
            Just(Currency::JPY),
            Just(Currency::BHD)
        ]
    }

    proptest! {
        #[test]
        fn round_parts_sums_to_the_rounded_sum(
            currency in currency(),
            parts in prop::collection::vec(-1_000_000_000i64..1_000_000_000, 0..8),
            mode in prop_oneof![Just(RoundingMode::HalfAwayFromZero), Just(RoundingMode::HalfEven), Just(RoundingMode::Up), Just(RoundingMode::Down)],
        ) {
            let parts: Vec<Decimal> = parts.into_iter().map(|p| Decimal::new(p, 5)).collect();
            let rounded = round_parts(&parts, currency, mode);
            let total = currency.round(parts.iter().copied().sum(), mode);
            prop_assert_eq!(rounded.iter().copied().sum::<Decimal>(), total);
            let unit = Decimal::new(1, currency.minor_units());
            for (r, p) in rounded.iter().zip(&parts) {
                prop_assert_eq!(r.scale(), currency.minor_units());
                prop_assert!((*r - *p).abs() < unit * dec!(1.5), "{} far from {}", r, p);
            }
        }
    }
}
