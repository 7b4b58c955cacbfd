//! What a line's description says on the documents: the core's text (README
//! "Invoices", "Readable lines"), made for a reader where it was written for the
//! record: a part that only repeats the quantity column is left out, a pricing
//! rule's note names the rule and the amounts in money ([`rule_note`]), a slab's
//! breakdown names its tier ([`slab_note`]).

use billrun_core::invoice::{LineItem, LineKind};
use billrun_core::Currency;
use rust_decimal::Decimal;

use crate::money::{format_quantity, Amount};

/// The core's description, unless it only repeats the quantity ("12500 units") or
/// the fee ("99"), which the quantity and unit-price columns already show. Its
/// parts (the core joins notes with "; ") are read one by one: a part that only
/// repeats the quantity is left out, and a pricing rule's note is written for a
/// reader ([`rule_note`]), a slab's breakdown names its tier ([`slab_note`]).
///
/// Public as [`crate::describe_line`]: `billrun invoice show` words its lines with
/// it, so the CLI and the documents say the same thing.
pub fn description(item: &LineItem, c: Currency) -> Option<String> {
    let d = item.description.as_deref()?.trim();
    if item.kind == LineKind::Slab {
        if let Some(tier) = slab_note(d, c) {
            return Some(tier);
        }
    }
    if let Some(bound) = bound_note(d, c) {
        return Some(bound);
    }
    if !d.contains("pricing rule ") {
        return plain_description(item, d);
    }
    let parts: Vec<String> = d
        .split("; ")
        .filter_map(|part| rule_note(part, c).or_else(|| plain_description(item, part)))
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// [`description`] of one part `d` of `item`'s description.
fn plain_description(item: &LineItem, d: &str) -> Option<String> {
    let d = d.trim();
    // Invoices closed before the fee moved to the unit-price column read
    // "99 prorated for 11 of 31 days": the fee is left to that column.
    let d = match d.split_once(" prorated for ") {
        Some((fee, rest)) if fee.parse::<Decimal>().is_ok() => format!("prorated for {rest}"),
        _ => d.to_string(),
    };
    let d = d.as_str();
    let repeats_quantity = item
        .quantity
        .is_some_and(|q| d == format!("{q} units") || d == format!("{} units", q.normalize()));
    let is_bare_number = d.parse::<Decimal>().is_ok();
    let is_sub_line = matches!(
        item.kind,
        LineKind::Slab | LineKind::Adjustment | LineKind::LicensePeriod
    );
    if d.is_empty() || (!is_sub_line && (repeats_quantity || is_bare_number)) {
        None
    } else {
        Some(d.to_string())
    }
}

/// A pricing rule's note in the core's words (README "Pricing rules"), written for
/// a reader: the changed line's "pricing rule NAME: 585.00 -> 526.50" becomes
/// "Pricing rule “NAME”: $585.00 → $526.50", the adjustment's (or an added line's)
/// "pricing rule NAME" becomes "Pricing rule “NAME”". Any other text: none.
fn rule_note(part: &str, c: Currency) -> Option<String> {
    let rest = part.strip_prefix("pricing rule ")?;
    let change = rest.rsplit_once(": ").and_then(|(name, change)| {
        let (old, new) = change.split_once(" -> ")?;
        let (old, new) = (old.parse::<Decimal>().ok()?, new.parse::<Decimal>().ok()?);
        Some((name, old, new))
    });
    Some(match change {
        Some((name, old, new)) => format!(
            "Pricing rule “{name}”: {} → {}",
            Amount::money(old, c).display,
            Amount::money(new, c).display
        ),
        None => format!("Pricing rule “{rest}”"),
    })
}

/// A minimum or maximum charge in the core's words (`billrun_core::charges`:
/// "minimum charge 10.00", "minimum charge 4.84 (10.00 for 15 of 31 days)",
/// "maximum charge 500.00") with its amounts in money, like every other amount on
/// the documents: "minimum charge $10.00", "minimum charge $4.84 ($10.00 for 15 of
/// 31 days)" (issue 16). Any other text: none.
fn bound_note(d: &str, c: Currency) -> Option<String> {
    let (bound, rest) = ["minimum charge ", "maximum charge "]
        .into_iter()
        .find_map(|b| Some((b, d.strip_prefix(b)?)))?;
    let money = |v: &str| -> Option<String> { Some(Amount::money(v.parse().ok()?, c).display) };
    match rest.split_once(" (") {
        None => Some(format!("{bound}{}", money(rest)?)),
        Some((amount, prorated)) => {
            let (full, days) = prorated.strip_suffix(')')?.split_once(" for ")?;
            Some(format!(
                "{bound}{} ({} for {days})",
                money(amount)?,
                money(full)?
            ))
        }
    }
}

/// A slab's breakdown in the core's words (`billrun_core::charges`: "slab 2 (above
/// 1000: 9000 x 0.05)", "slab 1 (above 0: flat 49)", "slab 3 (above 10000: 35
/// packages of 100 x 1)") as a reader reads it: "Tier 2, above 1,000" (the
/// quantity and unit-price columns show 9,000 x $0.05), "Tier 1: flat price", "Tier
/// 3, above 10,000: 35 packages of 100 at $1.00". Any other text: none.
fn slab_note(d: &str, c: Currency) -> Option<String> {
    let (order, rest) = d.strip_prefix("slab ")?.split_once(" (above ")?;
    let order: u32 = order.parse().ok()?;
    let (start, body) = rest.strip_suffix(')')?.split_once(": ")?;
    let start: Decimal = start.parse().ok()?;
    let tier = if start.is_zero() {
        format!("Tier {order}")
    } else {
        format!("Tier {order}, above {}", format_quantity(start))
    };
    let price =
        |r: &str| -> Option<String> { Some(Amount::unit_price(r.parse().ok()?, c).display) };
    if let Some(rate) = body.strip_prefix("flat ") {
        rate.parse::<Decimal>().ok()?;
        return Some(format!("{tier}: flat price"));
    }
    if let Some((packages, of)) = body.split_once(" packages of ") {
        let (size, rate) = of.split_once(" x ")?;
        let packages: Decimal = packages.parse().ok()?;
        let size: Decimal = size.parse().ok()?;
        return Some(format!(
            "{tier}: {} packages of {} at {}",
            format_quantity(packages),
            format_quantity(size),
            price(rate)?
        ));
    }
    let (quantity, rate) = body.split_once(" x ")?;
    quantity.parse::<Decimal>().ok()?;
    price(rate)?;
    Some(tier)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(kind: LineKind, quantity: Option<&str>, description: &str) -> LineItem {
        LineItem {
            kind,
            card_name: Some("api_calls".to_string()),
            card_kind: None,
            display_name: "API calls".to_string(),
            description: Some(description.to_string()),
            quantity: quantity.map(|q| q.parse().unwrap()),
            unit_price: None,
            amount: Decimal::ZERO,
            period: None,
            children: Vec::new(),
            tax: None,
        }
    }

    #[test]
    fn a_minimum_charge_is_written_in_money() {
        // Issue 16: "minimum charge 10.00" printed without its currency.
        let adj = |d: &str| item(LineKind::Adjustment, None, d);
        let eur = |d: &str| description(&adj(d), Currency::EUR);
        let usd = |d: &str| description(&adj(d), Currency::USD);
        assert_eq!(
            usd("minimum charge 10.00").as_deref(),
            Some("minimum charge $10.00")
        );
        // 10.00 x 15 / 31 = 4.8387... -> 4.84, as the core wrote it.
        assert_eq!(
            usd("minimum charge 4.84 (10.00 for 15 of 31 days)").as_deref(),
            Some("minimum charge $4.84 ($10.00 for 15 of 31 days)")
        );
        assert_eq!(
            eur("maximum charge 1500").as_deref(),
            Some("maximum charge €1,500.00")
        );
        assert_eq!(
            usd("minimum charge of the plan").as_deref(),
            Some("minimum charge of the plan"),
            "other text is left as written"
        );
    }

    #[test]
    fn a_pricing_rules_note_names_the_rule_and_the_amounts_in_money() {
        // 10 % off 585.00 = 526.50; the adjustment is 526.50 - 585.00 = -58.50.
        let calls = item(
            LineKind::PricePlan,
            Some("13411"),
            "13411 units; pricing rule 10 % off usage: 585.00 -> 526.50",
        );
        assert_eq!(
            description(&calls, Currency::USD).as_deref(),
            Some("Pricing rule “10 % off usage”: $585.00 → $526.50"),
            "\"13411 units\" repeats the quantity"
        );
        let adjustment = item(LineKind::Adjustment, None, "pricing rule 10 % off usage");
        assert_eq!(
            description(&adjustment, Currency::USD).as_deref(),
            Some("Pricing rule “10 % off usage”")
        );
        // Another note before the rule's is kept.
        let fee = item(
            LineKind::PricePlan,
            Some("1"),
            "prorated; pricing rule r: 10 -> 9",
        );
        assert_eq!(
            description(&fee, Currency::EUR).as_deref(),
            Some("prorated; Pricing rule “r”: €10.00 → €9.00")
        );
    }

    #[test]
    fn a_slab_names_its_tier_and_leaves_quantity_and_price_to_their_columns() {
        let slab = |d: &str| description(&item(LineKind::Slab, Some("1"), d), Currency::USD);
        assert_eq!(
            slab("slab 1 (above 0: 1000 x 0.1)").as_deref(),
            Some("Tier 1")
        );
        assert_eq!(
            slab("slab 2 (above 1000: 9000 x 0.05)").as_deref(),
            Some("Tier 2, above 1,000")
        );
        // 3,411 calls above 10,000 in packages of 100: 35 packages (34.11 rounded up).
        assert_eq!(
            slab("slab 3 (above 10000: 35 packages of 100 x 1)").as_deref(),
            Some("Tier 3, above 10,000: 35 packages of 100 at $1.00")
        );
        assert_eq!(
            slab("slab 1 (above 0: flat 149)").as_deref(),
            Some("Tier 1: flat price")
        );
        // Anything else is kept as written.
        assert_eq!(slab("slab one").as_deref(), Some("slab one"));
    }
}
