//! Display formatting of amounts, unit prices and quantities.
//!
//! Formatting is deliberately locale-neutral (comma thousands separators, a dot for
//! decimals, the symbol before the number) so one invoice reads the same wherever
//! it is opened: `$1,234.50`, `€89.00`, `¥1,235`, `BHD 1.235`. A currency without a
//! symbol in [`Currency::symbol`] is written with its code and a space.

use billrun_core::money::{Currency, RoundingMode};
use rust_decimal::Decimal;
use serde::Serialize;

/// An amount of money as templates see it: the exact value and its display text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Amount {
    /// The exact amount (serialised as a string, e.g. `"1234.50"`), for templates
    /// that need to compare or format it themselves.
    pub value: Decimal,
    /// Formatted per currency: `"$1,234.50"`, `"¥1,235"`, `"BHD 1.235"`.
    pub display: String,
}

impl Amount {
    /// An invoice amount: shown with exactly the currency's minor units, rounded
    /// half away from zero if it carries more (stored amounts never do).
    pub fn money(value: Decimal, currency: Currency) -> Self {
        Self {
            value,
            display: format_money(value, currency),
        }
    }

    /// A unit price: at least the currency's minor units, more if the rate has them
    /// (`$0.0015` per call must not print as `$0.00`).
    pub fn unit_price(value: Decimal, currency: Currency) -> Self {
        let minor = currency.minor_units();
        let mut v = value.normalize();
        if v.scale() < minor {
            v.rescale(minor);
        }
        Self {
            value,
            display: with_symbol(v, currency),
        }
    }
}

/// Formats an amount with its currency's symbol (or code), thousands separators and
/// exactly the currency's minor units.
pub fn format_money(value: Decimal, currency: Currency) -> String {
    with_symbol(currency.round(value, RoundingMode::default()), currency)
}

/// Formats a quantity: thousands separators, no trailing zeros (`12,345.5`).
pub fn format_quantity(value: Decimal) -> String {
    group_thousands(value.normalize())
}

fn with_symbol(value: Decimal, currency: Currency) -> String {
    let symbol = currency.symbol();
    let sign = if value.is_sign_negative() && !value.is_zero() {
        "-"
    } else {
        ""
    };
    let digits = group_thousands(value.abs());
    if symbol == currency.code() {
        format!("{sign}{symbol} {digits}")
    } else {
        format!("{sign}{symbol}{digits}")
    }
}

/// `1234567.891` -> `1,234,567.891`. Keeps the decimal's own scale.
fn group_thousands(value: Decimal) -> String {
    let text = value.to_string();
    let (sign, unsigned) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.as_str()),
    };
    let (int, frac) = match unsigned.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (unsigned, None),
    };
    let mut out = String::with_capacity(text.len() + int.len() / 3);
    out.push_str(sign);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn cur(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    #[test]
    fn money_per_currency() {
        let table = [
            ("USD", dec!(1234.5), "$1,234.50"),
            ("USD", dec!(0), "$0.00"),
            ("USD", dec!(-5), "-$5.00"),
            ("USD", dec!(1234567.891), "$1,234,567.89"),
            ("USD", dec!(999.995), "$1,000.00"),
            ("EUR", dec!(89), "€89.00"),
            ("EUR", dec!(100000), "€100,000.00"),
            ("JPY", dec!(1234.5), "¥1,235"),
            ("JPY", dec!(12), "¥12"),
            ("BHD", dec!(1.2345), "BHD 1.235"),
            ("BHD", dec!(1234), "BHD 1,234.000"),
            ("CHF", dec!(-0.001), "CHF 0.00"),
            ("GBP", dec!(0.5), "£0.50"),
        ];
        for (code, value, want) in table {
            assert_eq!(format_money(value, cur(code)), want, "{value} {code}");
        }
    }

    #[test]
    fn unit_prices_keep_their_precision() {
        let usd = Currency::USD;
        assert_eq!(Amount::unit_price(dec!(0.0015), usd).display, "$0.0015");
        assert_eq!(Amount::unit_price(dec!(99), usd).display, "$99.00");
        assert_eq!(Amount::unit_price(dec!(99.500), usd).display, "$99.50");
        assert_eq!(
            Amount::unit_price(dec!(1.333), Currency::JPY).display,
            "¥1.333"
        );
        assert_eq!(
            Amount::unit_price(dec!(2000), Currency::JPY).display,
            "¥2,000"
        );
        assert_eq!(
            Amount::unit_price(dec!(0.0377), Currency::BHD).display,
            "BHD 0.0377"
        );
    }

    #[test]
    fn quantities() {
        assert_eq!(format_quantity(dec!(12345.500)), "12,345.5");
        assert_eq!(format_quantity(dec!(1000000)), "1,000,000");
        assert_eq!(format_quantity(dec!(0)), "0");
        assert_eq!(format_quantity(dec!(999)), "999");
        assert_eq!(format_quantity(dec!(-1234)), "-1,234");
    }
}
