//! Rate plans and slabs: what a quantity costs under one rate card.
//!
//! A [`RatePlan`] is Togai's `ratePlan{pricingModel, slabs}`; [`Rates`] are the prices
//! of one currency for it (`rateValues[i]`: one rate per slab, optional minimum and
//! maximum). [`rate`] turns a quantity into a [`Rating`]: a per-slab breakdown, the
//! min/max adjustment and the total, all **unrounded** (amounts are rounded once, at
//! line level, see [`crate::money::round_parts`]).
//!
//! Rules (Togai's where it publishes them):
//! - A slab is *reached* by a quantity greater than its `startAfter`. One exception:
//!   a first slab with `startAfter` 0 is also reached by a quantity of 0, so a FLAT
//!   first slab (a base fee that includes the first units) is charged even without
//!   usage. PER_UNIT and PACKAGE slabs cost nothing at quantity 0 anyway.
//! - Quantities below the first slab (when its `startAfter` is above 0) and negative
//!   quantities reach no slab and cost nothing before the min/max clamp.
//! - TIERED: each reached slab prices the part of the quantity inside it
//!   (`startAfter`, next slab's `startAfter`]. VOLUME: the highest reached slab prices
//!   the whole quantity.
//! - PER_UNIT multiplies; FLAT is its rate once the slab is reached, whatever the
//!   quantity in it; PACKAGE charges per started package of `packageSize` units
//!   (ceil), counted on the quantity inside the slab (TIERED) or the whole quantity
//!   (VOLUME).
//! - `minimumRate` / `maximumRate` clamp the total; the clamp is reported as a
//!   separate adjustment so that the invoice can show it as a line. The minimum
//!   applies even when nothing was used: it is a minimum charge for the card.
//!   They are amounts per full pricing cycle: for a partial cycle the caller scales
//!   them first ([`Rates::map_limits`]; `charges` prorates them by billed days).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{FieldError, FieldErrors};

/// Most slabs a rate plan may have (Togai's limit).
pub const MAX_SLABS: usize = 100;

/// How the slabs of a rate plan combine (Togai's `pricingModel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PricingModel {
    /// Graduated: each slab prices the part of the quantity inside it.
    Tiered,
    /// The highest slab reached prices the whole quantity.
    Volume,
}

impl PricingModel {
    /// Togai's name: `TIERED` or `VOLUME`.
    pub fn as_str(&self) -> &'static str {
        match self {
            PricingModel::Tiered => "TIERED",
            PricingModel::Volume => "VOLUME",
        }
    }

    /// Parses Togai's name.
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        match s {
            "TIERED" => Ok(PricingModel::Tiered),
            "VOLUME" => Ok(PricingModel::Volume),
            other => Err(FieldError::new(
                "",
                format!("unknown pricing model {other:?}: expected TIERED or VOLUME"),
            )),
        }
    }
}

/// How a slab's rate turns a quantity into an amount (Togai's `priceType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE", tag = "type")]
pub enum PriceType {
    /// Rate x quantity.
    PerUnit,
    /// The rate, once, when the slab is reached.
    Flat,
    /// Rate x started packages of `package_size` units.
    Package {
        /// Units per package, always positive.
        package_size: Decimal,
    },
}

impl PriceType {
    /// Togai's name: `PER_UNIT`, `FLAT` or `PACKAGE`.
    pub fn as_str(&self) -> &'static str {
        match self {
            PriceType::PerUnit => "PER_UNIT",
            PriceType::Flat => "FLAT",
            PriceType::Package { .. } => "PACKAGE",
        }
    }
}

/// One slab of a rate plan (Togai's `{order, startAfter, priceType, slabConfig}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Slab {
    /// Togai's `order`: slab rates refer to slabs by it.
    pub order: u32,
    /// The slab covers quantities above this.
    pub start_after: Decimal,
    /// How its rate applies.
    pub price_type: PriceType,
}

/// A validated rate plan: 1..=100 slabs in ascending `order` and `startAfter`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RatePlan {
    pricing_model: PricingModel,
    slabs: Vec<Slab>,
}

impl RatePlan {
    /// Validates slabs: 1..=100 of them, `order` and `startAfter` strictly ascending,
    /// `startAfter` not negative, PACKAGE sizes positive. Errors are relative to the
    /// rate plan (`slabs[2].startAfter`), all of them at once.
    pub fn new(pricing_model: PricingModel, slabs: Vec<Slab>) -> Result<Self, FieldErrors> {
        let mut errors = Vec::new();
        if slabs.is_empty() || slabs.len() > MAX_SLABS {
            errors.push(FieldError::new(
                "slabs",
                format!("has {} slabs: expected 1 to {MAX_SLABS}", slabs.len()),
            ));
        }
        for (i, slab) in slabs.iter().enumerate() {
            let path = format!("slabs[{i}]");
            if slab.start_after.is_sign_negative() && !slab.start_after.is_zero() {
                errors.push(FieldError::new(
                    format!("{path}.startAfter"),
                    "must not be negative",
                ));
            }
            if let PriceType::Package { package_size } = slab.price_type {
                if package_size <= Decimal::ZERO {
                    errors.push(FieldError::new(
                        format!("{path}.slabConfig.packageSize"),
                        "a PACKAGE slab needs a positive packageSize",
                    ));
                }
            }
            if i == 0 {
                continue;
            }
            let prev = &slabs[i - 1];
            if slab.order <= prev.order {
                errors.push(FieldError::new(
                    format!("{path}.order"),
                    format!(
                        "{} does not follow {}: slabs must be in strictly ascending order",
                        slab.order, prev.order
                    ),
                ));
            }
            if slab.start_after <= prev.start_after {
                errors.push(FieldError::new(
                    format!("{path}.startAfter"),
                    format!(
                        "{} is not above the previous slab's {}: slabs must start in \
                         strictly ascending order",
                        slab.start_after, prev.start_after
                    ),
                ));
            }
        }
        if errors.is_empty() {
            Ok(Self {
                pricing_model,
                slabs,
            })
        } else {
            Err(FieldErrors(errors))
        }
    }

    /// TIERED or VOLUME.
    pub fn pricing_model(&self) -> PricingModel {
        self.pricing_model
    }

    /// The slabs, in ascending order.
    pub fn slabs(&self) -> &[Slab] {
        &self.slabs
    }
}

/// The prices of one currency for a rate plan (one `rateValues` entry).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rates {
    slab_rates: Vec<Decimal>,
    minimum_rate: Option<Decimal>,
    maximum_rate: Option<Decimal>,
}

impl Rates {
    /// `slab_rates[i]` is the rate of `plan.slabs()[i]`. Rates, minimum and maximum
    /// must not be negative and the minimum must not exceed the maximum. Errors are
    /// relative to the `rateValues` entry.
    pub fn new(
        plan: &RatePlan,
        slab_rates: Vec<Decimal>,
        minimum_rate: Option<Decimal>,
        maximum_rate: Option<Decimal>,
    ) -> Result<Self, FieldErrors> {
        let mut errors = Vec::new();
        if slab_rates.len() != plan.slabs.len() {
            errors.push(FieldError::new(
                "slabRates",
                format!(
                    "has {} rates for {} slabs: expected one rate per slab",
                    slab_rates.len(),
                    plan.slabs.len()
                ),
            ));
        }
        for (i, r) in slab_rates.iter().enumerate() {
            if *r < Decimal::ZERO {
                errors.push(FieldError::new(
                    format!("slabRates[{i}].rate"),
                    "must not be negative",
                ));
            }
        }
        for (name, v) in [("minimumRate", minimum_rate), ("maximumRate", maximum_rate)] {
            if v.is_some_and(|v| v < Decimal::ZERO) {
                errors.push(FieldError::new(
                    format!("rateConfig.{name}"),
                    "must not be negative",
                ));
            }
        }
        if let (Some(min), Some(max)) = (minimum_rate, maximum_rate) {
            if min > max {
                errors.push(FieldError::new(
                    "rateConfig.minimumRate",
                    format!("{min} is above the maximumRate {max}"),
                ));
            }
        }
        if errors.is_empty() {
            Ok(Self {
                slab_rates,
                minimum_rate,
                maximum_rate,
            })
        } else {
            Err(FieldErrors(errors))
        }
    }

    /// The rate of each slab, in slab order.
    pub fn slab_rates(&self) -> &[Decimal] {
        &self.slab_rates
    }

    /// Togai's `rateConfig.minimumRate`.
    pub fn minimum_rate(&self) -> Option<Decimal> {
        self.minimum_rate
    }

    /// Togai's `rateConfig.maximumRate`.
    pub fn maximum_rate(&self) -> Option<Decimal> {
        self.maximum_rate
    }

    /// These rates with `minimumRate` and `maximumRate` passed through `f` (the slab
    /// rates unchanged): how a partial pricing cycle scales a card's limits (see
    /// `charges`, which prorates them by billed days). `f` must be monotonic so
    /// that the minimum stays at or below the maximum.
    pub fn map_limits(&self, f: impl Fn(Decimal) -> Decimal) -> Rates {
        Rates {
            slab_rates: self.slab_rates.clone(),
            minimum_rate: self.minimum_rate.map(&f),
            maximum_rate: self.maximum_rate.map(&f),
        }
    }

    /// What must be added to `subtotal` to bring it within [minimum, maximum]:
    /// positive below the minimum, negative above the maximum, otherwise zero.
    pub fn clamp_adjustment(&self, subtotal: Decimal) -> Decimal {
        match (self.minimum_rate, self.maximum_rate) {
            (Some(min), _) if subtotal < min => min - subtotal,
            (_, Some(max)) if subtotal > max => max - subtotal,
            _ => Decimal::ZERO,
        }
    }
}

/// What one slab charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlabCharge {
    /// The slab's `order`.
    pub order: u32,
    /// The slab's `startAfter`.
    pub start_after: Decimal,
    /// The slab's price type.
    pub price_type: PriceType,
    /// The quantity this slab priced (the part inside it for TIERED, the whole
    /// quantity for VOLUME).
    pub quantity: Decimal,
    /// What the rate multiplies: `quantity` for PER_UNIT, started packages for
    /// PACKAGE, 1 for FLAT.
    pub units: Decimal,
    /// The slab's rate.
    pub rate: Decimal,
    /// `units x rate`, unrounded.
    pub amount: Decimal,
}

/// A quantity priced by a rate plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rating {
    /// The quantity rated.
    pub quantity: Decimal,
    /// One entry per slab reached, in slab order.
    pub slabs: Vec<SlabCharge>,
    /// Sum of the slab amounts.
    pub subtotal: Decimal,
    /// The min/max clamp: `total - subtotal`.
    pub adjustment: Decimal,
    /// What the quantity costs, unrounded.
    pub total: Decimal,
}

/// Prices `quantity` with `plan` at `rates` (see the module docs for the rules).
pub fn rate(plan: &RatePlan, rates: &Rates, quantity: Decimal) -> Rating {
    let slabs = match plan.pricing_model {
        PricingModel::Tiered => tiered(plan, rates, quantity),
        PricingModel::Volume => volume(plan, rates, quantity).into_iter().collect(),
    };
    let subtotal: Decimal = slabs.iter().map(|s| s.amount).sum();
    let adjustment = rates.clamp_adjustment(subtotal);
    Rating {
        quantity,
        slabs,
        subtotal,
        adjustment,
        total: subtotal + adjustment,
    }
}

/// TIERED: every reached slab prices the part of `quantity` inside it.
pub fn tiered(plan: &RatePlan, rates: &Rates, quantity: Decimal) -> Vec<SlabCharge> {
    let slabs = &plan.slabs;
    slabs
        .iter()
        .enumerate()
        .filter(|(i, slab)| reaches(quantity, slab, *i))
        .map(|(i, slab)| {
            let top = slabs
                .get(i + 1)
                .map_or(quantity, |next| quantity.min(next.start_after));
            let inside = (top - slab.start_after).max(Decimal::ZERO);
            slab_charge(slab, rates.slab_rates[i], inside)
        })
        .collect()
}

/// VOLUME: the highest reached slab prices the whole `quantity`.
pub fn volume(plan: &RatePlan, rates: &Rates, quantity: Decimal) -> Option<SlabCharge> {
    let (i, slab) = plan
        .slabs
        .iter()
        .enumerate()
        .rev()
        .find(|(i, slab)| reaches(quantity, slab, *i))?;
    Some(slab_charge(
        slab,
        rates.slab_rates[i],
        quantity.max(Decimal::ZERO),
    ))
}

/// Whether `quantity` reaches the slab at `index` (module docs: the zero rule).
fn reaches(quantity: Decimal, slab: &Slab, index: usize) -> bool {
    quantity > slab.start_after || (index == 0 && slab.start_after.is_zero() && quantity.is_zero())
}

fn slab_charge(slab: &Slab, rate: Decimal, quantity: Decimal) -> SlabCharge {
    let units = match slab.price_type {
        PriceType::PerUnit => quantity,
        PriceType::Flat => Decimal::ONE,
        PriceType::Package { package_size } => (quantity / package_size).ceil(),
    };
    SlabCharge {
        order: slab.order,
        start_after: slab.start_after,
        price_type: slab.price_type,
        quantity,
        units,
        rate,
        amount: units * rate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn slab(order: u32, start_after: Decimal, price_type: PriceType) -> Slab {
        Slab {
            order,
            start_after,
            price_type,
        }
    }

    fn plan_and_rates(
        model: PricingModel,
        slabs: &[(Decimal, PriceType, Decimal)],
        min: Option<Decimal>,
        max: Option<Decimal>,
    ) -> (RatePlan, Rates) {
        let plan = RatePlan::new(
            model,
            slabs
                .iter()
                .enumerate()
                .map(|(i, (s, p, _))| slab(i as u32 + 1, *s, *p))
                .collect(),
        )
        .unwrap();
        let rates = Rates::new(&plan, slabs.iter().map(|s| s.2).collect(), min, max).unwrap();
        (plan, rates)
    }

    fn worked_example(model: PricingModel) -> (RatePlan, Rates) {
        plan_and_rates(
            model,
            &[
                (dec!(0), PriceType::PerUnit, dec!(0.10)),
                (dec!(1000), PriceType::PerUnit, dec!(0.05)),
                (dec!(10000), PriceType::PerUnit, dec!(0.01)),
            ],
            None,
            None,
        )
    }

    #[test]
    fn worked_example_tiered_is_600() {
        let (p, r) = worked_example(PricingModel::Tiered);
        let rating = rate(&p, &r, dec!(15000));
        assert_eq!(rating.total, dec!(600.00));
        let parts: Vec<_> = rating
            .slabs
            .iter()
            .map(|s| (s.quantity, s.amount))
            .collect();
        assert_eq!(
            parts,
            vec![
                (dec!(1000), dec!(100)),
                (dec!(9000), dec!(450)),
                (dec!(5000), dec!(50))
            ]
        );
        assert_eq!(rating.adjustment, Decimal::ZERO);
    }

    #[test]
    fn worked_example_volume_is_150() {
        let (p, r) = worked_example(PricingModel::Volume);
        let rating = rate(&p, &r, dec!(15000));
        assert_eq!(rating.total, dec!(150.00));
        assert_eq!(rating.slabs.len(), 1);
        assert_eq!(rating.slabs[0].order, 3);
        assert_eq!(rating.slabs[0].quantity, dec!(15000));
    }

    #[test]
    fn boundaries_exactly_at_start_after_stay_in_the_lower_slab() {
        let (t, r) = worked_example(PricingModel::Tiered);
        let (v, _) = worked_example(PricingModel::Volume);
        // (quantity, tiered, volume)
        for (q, tiered_total, volume_total) in [
            (dec!(1000), dec!(100), dec!(100)),
            (dec!(1000.5), dec!(100.025), dec!(50.025)),
            (dec!(10000), dec!(550), dec!(500)),
            (dec!(10001), dec!(550.01), dec!(100.01)),
        ] {
            assert_eq!(rate(&t, &r, q).total, tiered_total, "tiered {q}");
            assert_eq!(rate(&v, &r, q).total, volume_total, "volume {q}");
        }
        assert_eq!(rate(&t, &r, dec!(1000)).slabs.len(), 1);
    }

    #[test]
    fn zero_negative_and_fractional_quantities() {
        let (t, r) = worked_example(PricingModel::Tiered);
        let zero = rate(&t, &r, Decimal::ZERO);
        assert_eq!(zero.total, Decimal::ZERO);
        assert_eq!(rate(&t, &r, dec!(-5)).total, Decimal::ZERO);
        assert!(rate(&t, &r, dec!(-5)).slabs.is_empty());
        assert_eq!(rate(&t, &r, dec!(0.5)).total, dec!(0.05));
        assert_eq!(rate(&t, &r, dec!(1234.567)).total, dec!(111.72835));
    }

    #[test]
    fn flat_first_slab_is_charged_at_zero_quantity() {
        for model in [PricingModel::Tiered, PricingModel::Volume] {
            let (p, r) = plan_and_rates(
                model,
                &[
                    (dec!(0), PriceType::Flat, dec!(50)),
                    (dec!(1000), PriceType::PerUnit, dec!(0.02)),
                ],
                None,
                None,
            );
            assert_eq!(rate(&p, &r, dec!(0)).total, dec!(50), "{model:?}");
            assert_eq!(rate(&p, &r, dec!(1000)).total, dec!(50), "{model:?}");
        }
        let (t, r) = plan_and_rates(
            PricingModel::Tiered,
            &[
                (dec!(0), PriceType::Flat, dec!(50)),
                (dec!(1000), PriceType::PerUnit, dec!(0.02)),
            ],
            None,
            None,
        );
        assert_eq!(rate(&t, &r, dec!(1500)).total, dec!(60));
    }

    #[test]
    fn quantities_below_a_first_slab_above_zero_are_free() {
        let (p, r) = plan_and_rates(
            PricingModel::Tiered,
            &[(dec!(100), PriceType::Flat, dec!(5))],
            None,
            None,
        );
        assert_eq!(rate(&p, &r, dec!(0)).total, dec!(0));
        assert_eq!(rate(&p, &r, dec!(100)).total, dec!(0));
        assert_eq!(rate(&p, &r, dec!(100.01)).total, dec!(5));
    }

    #[test]
    fn package_slabs_charge_per_started_package() {
        let pkg = PriceType::Package {
            package_size: dec!(100),
        };
        let (t, r) = plan_and_rates(
            PricingModel::Tiered,
            &[
                (dec!(0), PriceType::PerUnit, dec!(0.10)),
                (dec!(1000), PriceType::PerUnit, dec!(0.05)),
                (dec!(10000), pkg, dec!(1.00)),
            ],
            None,
            None,
        );
        // 5001 units in the PACKAGE slab = 51 started packages.
        let rating = rate(&t, &r, dec!(15001));
        assert_eq!(rating.slabs[2].units, dec!(51));
        assert_eq!(rating.total, dec!(601.00));
        assert_eq!(rate(&t, &r, dec!(15000)).total, dec!(600.00));

        let (v, r) = plan_and_rates(
            PricingModel::Volume,
            &[(dec!(0), pkg, dec!(2.5))],
            None,
            None,
        );
        assert_eq!(rate(&v, &r, dec!(0)).total, dec!(0));
        assert_eq!(rate(&v, &r, dec!(1)).total, dec!(2.5));
        assert_eq!(rate(&v, &r, dec!(100)).total, dec!(2.5));
        assert_eq!(rate(&v, &r, dec!(100.1)).total, dec!(5.0));
    }

    #[test]
    fn minimum_and_maximum_clamp_as_an_adjustment() {
        let slabs = [(dec!(0), PriceType::PerUnit, dec!(0.10))];
        let (p, r) = plan_and_rates(PricingModel::Tiered, &slabs, Some(dec!(5)), Some(dec!(50)));
        let low = rate(&p, &r, dec!(20));
        assert_eq!(
            (low.subtotal, low.adjustment, low.total),
            (dec!(2.00), dec!(3.00), dec!(5))
        );
        let none = rate(&p, &r, dec!(0));
        assert_eq!((none.adjustment, none.total), (dec!(5), dec!(5)));
        let mid = rate(&p, &r, dec!(300));
        assert_eq!((mid.adjustment, mid.total), (dec!(0), dec!(30.00)));
        let high = rate(&p, &r, dec!(1000));
        assert_eq!(
            (high.subtotal, high.adjustment, high.total),
            (dec!(100.00), dec!(-50.00), dec!(50))
        );
        let at_max = rate(&p, &r, dec!(500));
        assert_eq!(at_max.adjustment, dec!(0));
    }

    #[test]
    fn invalid_plans_and_rates_name_the_field() {
        let e = RatePlan::new(PricingModel::Tiered, vec![]).unwrap_err();
        assert_eq!(e.0[0].path, "slabs");
        let e = RatePlan::new(
            PricingModel::Tiered,
            vec![
                slab(1, dec!(0), PriceType::PerUnit),
                slab(2, dec!(100), PriceType::PerUnit),
                slab(
                    3,
                    dec!(100),
                    PriceType::Package {
                        package_size: dec!(0),
                    },
                ),
            ],
        )
        .unwrap_err();
        let paths: Vec<_> = e.0.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            ["slabs[2].slabConfig.packageSize", "slabs[2].startAfter"]
        );
        let too_many = (0..101)
            .map(|i| slab(i, Decimal::from(i), PriceType::PerUnit))
            .collect();
        assert!(RatePlan::new(PricingModel::Volume, too_many).is_err());

        let (p, _) = worked_example(PricingModel::Tiered);
        let e = Rates::new(
            &p,
            vec![dec!(1), dec!(-1), dec!(0)],
            Some(dec!(9)),
            Some(dec!(3)),
        )
        .unwrap_err();
        let paths: Vec<_> = e.0.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["slabRates[1].rate", "rateConfig.minimumRate"]);
        assert!(Rates::new(&p, vec![dec!(1)], None, None).is_err());
    }

    fn arb_slabs() -> impl Strategy<Value = Vec<(Decimal, PriceType, Decimal)>> {
        prop::collection::vec((1u32..500, 0u32..3, 1u32..200, 0u32..10_000), 1..6).prop_map(|v| {
            let mut start = Decimal::ZERO;
            v.into_iter()
                .enumerate()
                .map(|(i, (gap, kind, size, rate_cents))| {
                    if i > 0 {
                        start += Decimal::from(gap);
                    }
                    let price_type = match kind {
                        0 => PriceType::PerUnit,
                        1 => PriceType::Flat,
                        _ => PriceType::Package {
                            package_size: Decimal::from(size),
                        },
                    };
                    (start, price_type, Decimal::new(rate_cents.into(), 2))
                })
                .collect()
        })
    }

    fn arb_quantity() -> impl Strategy<Value = Decimal> {
        (0i64..5_000_000).prop_map(|q| Decimal::new(q, 3))
    }

    proptest! {
        #[test]
        fn tiered_is_monotonic_in_quantity(slabs in arb_slabs(), a in arb_quantity(), b in arb_quantity()) {
            let (p, r) = plan_and_rates(PricingModel::Tiered, &slabs, None, None);
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(rate(&p, &r, lo).total <= rate(&p, &r, hi).total);
        }

        #[test]
        fn one_slab_tiered_equals_volume(slabs in arb_slabs(), q in arb_quantity()) {
            let one = &slabs[..1];
            let (t, r) = plan_and_rates(PricingModel::Tiered, one, None, None);
            let (v, _) = plan_and_rates(PricingModel::Volume, one, None, None);
            prop_assert_eq!(rate(&t, &r, q).total, rate(&v, &r, q).total);
        }

        #[test]
        fn breakdown_sums_to_the_total(
            slabs in arb_slabs(),
            q in arb_quantity(),
            volume in any::<bool>(),
            min in proptest::option::of(0u32..5_000),
            extra in proptest::option::of(0u32..50_000),
        ) {
            let model = if volume { PricingModel::Volume } else { PricingModel::Tiered };
            let min = min.map(Decimal::from);
            let max = extra.map(|e| min.unwrap_or_default() + Decimal::from(e));
            let (p, r) = plan_and_rates(model, &slabs, min, max);
            let rating = rate(&p, &r, q);
            let sum: Decimal = rating.slabs.iter().map(|s| s.amount).sum();
            prop_assert_eq!(sum, rating.subtotal);
            prop_assert_eq!(rating.subtotal + rating.adjustment, rating.total);
            if let Some(min) = min { prop_assert!(rating.total >= min); }
            if let Some(max) = max { prop_assert!(rating.total <= max); }
        }
    }
}
