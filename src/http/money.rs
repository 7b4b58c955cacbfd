//! Money, rates and quantities as Togai's client wants them: JSON numbers written
//! digit for digit from the decimal (with its scale: `100.00`, never through a
//! float), and read exactly from the request's number text.

use rust_decimal::Decimal;
use serde_json::value::RawValue;

use super::error::ApiError;

/// `d` as a JSON number, digit for digit (`100.00` stays `100.00`).
pub fn number(d: Decimal) -> Box<RawValue> {
    RawValue::from_string(d.to_string()).expect("a decimal is a JSON number")
}

/// The decimal a request's JSON number means, exactly (`100.10` is 100.10, not the
/// nearest float); `field` names it in the 400 when it is not a number a decimal holds
/// (a string, or more than 28 significant digits).
pub fn decimal(field: &str, raw: &RawValue) -> Result<Decimal, ApiError> {
    let text = raw.get().trim();
    let parsed = if text.contains(['e', 'E']) {
        Decimal::from_scientific(text)
    } else {
        text.parse::<Decimal>()
    };
    match parsed {
        Ok(d) if !text.starts_with('"') => Ok(d),
        _ => Err(ApiError::invalid(format!(
            "{field}: {text} is not a decimal number such as 100.00"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn numbers_keep_their_digits_both_ways() {
        assert_eq!(number(Decimal::new(10000, 2)).get(), "100.00");
        assert_eq!(
            decimal("x", &raw("100.10")).unwrap(),
            Decimal::new(10010, 2)
        );
        assert_eq!(decimal("x", &raw("100.10")).unwrap().scale(), 2);
        assert_eq!(decimal("x", &raw("1e2")).unwrap(), Decimal::new(100, 0));
        let e = decimal("creditAmount", &raw("\"5\"")).unwrap_err();
        assert!(e.message.starts_with("creditAmount"), "{e}");
    }
}
