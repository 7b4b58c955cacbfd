//! Credits: which grants pay which invoice lines, and how much.
//!
//! When an invoice is finalized, the account's usable grants are applied to its
//! eligible lines: grants in order of priority (lower first), then soonest expiry
//! (never-expiring last), then oldest grant, then id; each grant pays eligible lines in
//! invoice order, as much as both its balance and the line's unpaid amount allow. So
//! a grant is consumed partially when the invoice is smaller than it, a line is never
//! paid beyond its amount (never negative), and no grant gives more than its balance.
//! Togai does not publish its tie-breaks; this is Orb's and OpenMeter's order.
//!
//! Eligibility follows Togai's `applicableEntityIds`: none means every line;
//! `ALL_USAGE_METER_RATE_CARDS` the usage lines, `ALL_FIXED_FEE_RATE_CARDS` the fixed
//! fee lines, any other entry names a rate card. Lines that sell credits (credit
//! grant cards) are never paid with credits.
//!
//! **When** a grant may pay a line: when the grant is valid during the period the line
//! covers, i.e. its validity `[valid_from, expires_at)` overlaps the line's service
//! period `[start, end)` (README "Credits"). So a cycle's credits pay that cycle's
//! usage on the invoice that closes it, even though that invoice is finalized at or
//! after the grant's end (grace period or not), and a grant never pays for days
//! entirely before it started or after it ended. A line without a service period is
//! paid by any grant.
//!
//! Amounts are in the invoice currency and already rounded to its minor unit, so the
//! arithmetic is exact.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::plan::CardKind;

/// Togai's keyword for every usage card.
pub const ALL_USAGE: &str = "ALL_USAGE_METER_RATE_CARDS";
/// Togai's keyword for every fixed-fee card.
pub const ALL_FIXED_FEE: &str = "ALL_FIXED_FEE_RATE_CARDS";

/// Which lines a grant may pay.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Eligibility {
    /// Every line (no restriction given).
    pub all: bool,
    /// Every usage line.
    pub usage: bool,
    /// Every fixed-fee line.
    pub fixed_fee: bool,
    /// Lines of these rate cards (by name).
    pub cards: BTreeSet<String>,
}

impl Eligibility {
    /// From Togai's `applicableEntityIds` (`None` or empty: everything).
    pub fn from_entity_ids(ids: Option<&[String]>) -> Self {
        let ids = ids.unwrap_or_default();
        if ids.is_empty() {
            return Self {
                all: true,
                ..Self::default()
            };
        }
        let mut e = Self::default();
        for id in ids {
            match id.as_str() {
                ALL_USAGE => e.usage = true,
                ALL_FIXED_FEE => e.fixed_fee = true,
                card => {
                    e.cards.insert(card.to_string());
                }
            }
        }
        e
    }

    /// Back to Togai's list (empty for "everything").
    pub fn to_entity_ids(&self) -> Vec<String> {
        if self.all {
            return Vec::new();
        }
        let mut ids = Vec::new();
        if self.usage {
            ids.push(ALL_USAGE.to_string());
        }
        if self.fixed_fee {
            ids.push(ALL_FIXED_FEE.to_string());
        }
        ids.extend(self.cards.iter().cloned());
        ids
    }

    /// Whether a line of `kind` from card `card_name` may be paid.
    pub fn covers(&self, kind: CardKind, card_name: &str) -> bool {
        if kind == CardKind::CreditGrant {
            return false;
        }
        self.all
            || (self.usage && kind == CardKind::Usage)
            || (self.fixed_fee && kind == CardKind::FixedFee)
            || self.cards.contains(card_name)
    }
}

/// A grant usable on the invoice, with its balance at this moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    /// The grant.
    pub grant_id: String,
    /// Lower is consumed first.
    pub priority: u32,
    /// When it becomes usable (inclusive).
    pub valid_from: DateTime<Utc>,
    /// When it expires (exclusive), if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was granted.
    pub granted_at: DateTime<Utc>,
    /// What is left of it.
    pub balance: Decimal,
    /// What it may pay.
    pub eligibility: Eligibility,
}

/// A line of the invoice that credits may pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payable {
    /// The card's kind.
    pub kind: CardKind,
    /// The card's name.
    pub card_name: String,
    /// The line's amount (rounded, not negative).
    pub amount: Decimal,
    /// The instants the line is for, `[start, end)`: the days its period covers, in the
    /// account's timezone. `None`: any grant's validity matches.
    pub service: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

impl Credit {
    /// Whether the grant is valid at some instant of `line`'s service period.
    pub fn valid_for(&self, line: &Payable) -> bool {
        match line.service {
            None => true,
            Some((start, end)) => {
                self.valid_from < end && self.expires_at.is_none_or(|until| until > start)
            }
        }
    }
}

/// `amount` of grant `grant_id` paid towards payable line `line`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumption {
    /// The grant.
    pub grant_id: String,
    /// Index into the payable lines.
    pub line: usize,
    /// How much.
    pub amount: Decimal,
}

/// The order grants are consumed in.
pub fn consumption_order(credits: &mut [Credit]) {
    credits.sort_by(|a, b| {
        a.priority
            .cmp(&b.priority)
            .then_with(|| match (a.expires_at, b.expires_at) {
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            })
            .then_with(|| a.granted_at.cmp(&b.granted_at))
            .then_with(|| a.grant_id.cmp(&b.grant_id))
    });
}

/// Applies `credits` to `lines` (see the module doc for the rule).
pub fn apply(lines: &[Payable], credits: &[Credit]) -> Vec<Consumption> {
    let mut credits = credits.to_vec();
    consumption_order(&mut credits);
    let mut unpaid: Vec<Decimal> = lines.iter().map(|l| l.amount.max(Decimal::ZERO)).collect();
    let mut out = Vec::new();
    for credit in &credits {
        let mut left = credit.balance.max(Decimal::ZERO);
        for (i, line) in lines.iter().enumerate() {
            if left.is_zero() {
                break;
            }
            if unpaid[i].is_zero()
                || !credit.eligibility.covers(line.kind, &line.card_name)
                || !credit.valid_for(line)
            {
                continue;
            }
            let take = left.min(unpaid[i]);
            unpaid[i] -= take;
            left -= take;
            out.push(Consumption {
                grant_id: credit.grant_id.clone(),
                line: i,
                amount: take,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::utc as t;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn credit(
        id: &str,
        priority: u32,
        expires: Option<&str>,
        balance: Decimal,
        e: Eligibility,
    ) -> Credit {
        Credit {
            grant_id: id.into(),
            priority,
            valid_from: t("2025-01-01T00:00:00Z"),
            expires_at: expires.map(t),
            granted_at: t("2026-01-01T00:00:00Z"),
            balance,
            eligibility: e,
        }
    }

    fn line(kind: CardKind, name: &str, amount: Decimal) -> Payable {
        Payable {
            kind,
            card_name: name.into(),
            amount,
            service: None,
        }
    }

    fn all() -> Eligibility {
        Eligibility::from_entity_ids(None)
    }

    fn total(c: &[Consumption], grant: &str) -> Decimal {
        c.iter()
            .filter(|x| x.grant_id == grant)
            .map(|x| x.amount)
            .sum()
    }

    #[test]
    fn the_issue_scenario_100_then_20_leaves_30() {
        // 100.00 (priority 1, expiring) and 50.00 (priority 2, no expiry) on 120.00.
        let lines = [
            line(CardKind::Usage, "api", dec!(90.00)),
            line(CardKind::FixedFee, "fee", dec!(30.00)),
        ];
        let credits = [
            credit("b", 2, None, dec!(50.00), all()),
            credit("a", 1, Some("2026-02-01T00:00:00Z"), dec!(100.00), all()),
        ];
        let c = apply(&lines, &credits);
        assert_eq!(total(&c, "a"), dec!(100.00));
        assert_eq!(total(&c, "b"), dec!(20.00));
        assert_eq!(
            dec!(50.00) - total(&c, "b"),
            dec!(30.00),
            "30.00 left on the second grant"
        );
    }

    #[test]
    fn a_grant_restricted_to_fixed_fees_pays_only_those() {
        let lines = [
            line(CardKind::Usage, "api", dec!(90.00)),
            line(CardKind::FixedFee, "fee", dec!(30.00)),
        ];
        let fixed = Eligibility::from_entity_ids(Some(&[ALL_FIXED_FEE.to_string()]));
        let c = apply(&lines, &[credit("a", 1, None, dec!(100.00), fixed)]);
        assert_eq!(
            c,
            vec![Consumption {
                grant_id: "a".into(),
                line: 1,
                amount: dec!(30.00)
            }]
        );
    }

    #[test]
    fn named_cards_usage_keyword_and_credit_purchases() {
        let lines = [
            line(CardKind::Usage, "api", dec!(10)),
            line(CardKind::License, "seats", dec!(20)),
            line(CardKind::CreditGrant, "credits", dec!(50)),
        ];
        let e = Eligibility::from_entity_ids(Some(&["seats".to_string(), ALL_USAGE.to_string()]));
        let c = apply(&lines, &[credit("a", 1, None, dec!(1000), e.clone())]);
        assert_eq!(c.iter().map(|x| x.line).collect::<Vec<_>>(), vec![0, 1]);
        let c = apply(&lines, &[credit("a", 1, None, dec!(1000), all())]);
        assert!(c.iter().all(|x| x.line != 2), "credits never buy credits");
        assert_eq!(Eligibility::from_entity_ids(Some(&e.to_entity_ids())), e);
    }

    #[test]
    fn order_is_priority_then_soonest_expiry_then_oldest() {
        let mut cs = vec![
            credit("never", 1, None, dec!(1), all()),
            credit("late", 1, Some("2026-06-01T00:00:00Z"), dec!(1), all()),
            credit("soon", 1, Some("2026-03-01T00:00:00Z"), dec!(1), all()),
            credit("p0", 0, None, dec!(1), all()),
        ];
        let mut older = credit("older", 1, None, dec!(1), all());
        older.granted_at = t("2025-01-01T00:00:00Z");
        cs.push(older);
        consumption_order(&mut cs);
        let ids: Vec<_> = cs.iter().map(|c| c.grant_id.as_str()).collect();
        assert_eq!(ids, ["p0", "soon", "late", "older", "never"]);
    }

    #[test]
    fn a_cycle_grant_pays_only_lines_of_the_days_it_is_valid() {
        // January's grant [Jan 1, Feb 1): January's usage (closing on the Feb 1 invoice,
        // finalized after the grant ended) yes; February's in-advance fee no.
        let mut jan = credit("jan", 1, Some("2026-02-01T00:00:00Z"), dec!(50.00), all());
        jan.valid_from = t("2026-01-01T00:00:00Z");
        let mut usage = line(CardKind::Usage, "calls", dec!(30.00));
        usage.service = Some((t("2026-01-01T00:00:00Z"), t("2026-02-01T00:00:00Z")));
        let mut fee = line(CardKind::FixedFee, "fee", dec!(20.00));
        fee.service = Some((t("2026-02-01T00:00:00Z"), t("2026-03-01T00:00:00Z")));
        let c = apply(&[usage.clone(), fee.clone()], std::slice::from_ref(&jan));
        assert_eq!(
            c,
            vec![Consumption {
                grant_id: "jan".into(),
                line: 0,
                amount: dec!(30.00)
            }]
        );
        // A grant that starts mid-January still pays January's usage; one that starts on
        // Feb 1 does not.
        jan.valid_from = t("2026-01-20T00:00:00Z");
        assert_eq!(
            apply(std::slice::from_ref(&usage), std::slice::from_ref(&jan)).len(),
            1
        );
        jan.valid_from = t("2026-02-01T00:00:00Z");
        jan.expires_at = None;
        assert!(apply(std::slice::from_ref(&usage), std::slice::from_ref(&jan)).is_empty());
        assert_eq!(apply(&[fee], &[jan]).len(), 1);
    }

    fn arb_kind() -> impl Strategy<Value = CardKind> {
        prop_oneof![
            Just(CardKind::Usage),
            Just(CardKind::FixedFee),
            Just(CardKind::License),
            Just(CardKind::CreditGrant)
        ]
    }

    proptest! {
        #[test]
        fn never_above_balance_or_eligible_amount_never_negative_and_in_order(
            lines in prop::collection::vec((arb_kind(), 0u8..4, 0i64..100_000), 0..8),
            credits in prop::collection::vec((0u32..3, prop::option::of(0i64..5), 0i64..100_000, 0u8..4), 0..6),
        ) {
            let lines: Vec<Payable> = lines.into_iter().map(|(k, n, cents)| line(k, &format!("card{n}"), Decimal::new(cents, 2))).collect();
            let credits: Vec<Credit> = credits.into_iter().enumerate().map(|(i, (p, exp, cents, restrict))| {
                let e = match restrict {
                    0 => all(),
                    1 => Eligibility::from_entity_ids(Some(&[ALL_USAGE.to_string()])),
                    2 => Eligibility::from_entity_ids(Some(&[ALL_FIXED_FEE.to_string()])),
                    _ => Eligibility::from_entity_ids(Some(&["card1".to_string()])),
                };
                let mut c = credit(&format!("g{i}"), p, None, Decimal::new(cents, 2), e);
                c.expires_at = exp.map(|d| t("2026-01-01T00:00:00Z") + chrono::Duration::days(d));
                c
            }).collect();
            let c = apply(&lines, &credits);
            for x in &c {
                prop_assert!(x.amount > Decimal::ZERO);
                let credit = credits.iter().find(|g| g.grant_id == x.grant_id).unwrap();
                prop_assert!(credit.eligibility.covers(lines[x.line].kind, &lines[x.line].card_name));
            }
            for (i, l) in lines.iter().enumerate() {
                let paid: Decimal = c.iter().filter(|x| x.line == i).map(|x| x.amount).sum();
                prop_assert!(paid <= l.amount, "line {} paid {} of {}", i, paid, l.amount);
            }
            for g in &credits {
                prop_assert!(total(&c, &g.grant_id) <= g.balance);
            }
            // Order respected: a grant only pays a line if every grant before it in the
            // consumption order that could pay that line was exhausted or the line paid.
            let mut ordered = credits.clone();
            consumption_order(&mut ordered);
            for (i, l) in lines.iter().enumerate() {
                let paid: Decimal = c.iter().filter(|x| x.line == i).map(|x| x.amount).sum();
                for (k, g) in ordered.iter().enumerate() {
                    let used = c.iter().any(|x| x.line == i && x.grant_id == g.grant_id);
                    if used && paid < l.amount {
                        // The line is not fully paid: every earlier eligible grant is empty.
                        for e in &ordered[..k] {
                            if e.eligibility.covers(l.kind, &l.card_name) {
                                prop_assert_eq!(total(&c, &e.grant_id), e.balance);
                            }
                        }
                    }
                }
            }
        }
    }
}
