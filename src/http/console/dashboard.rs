//! The home page's chart (issue 15, README "Console"): billed amounts per month in
//! the organisation's base currency ([`crate::app::dashboard::billed_by_month`]), as
//! a server-rendered SVG bar chart: no script, a `<title>` and `<desc>`, each bar's
//! amount as text, and the same values in a table for screen readers and small
//! screens.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::app::dashboard::MonthBilled;

/// The chart's drawing area, in SVG user units.
pub const WIDTH: u32 = 720;
/// The bars' height at most.
pub const BAR_AREA: u32 = 160;

/// One bar as the template draws it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bar {
    /// `Jan 2026`.
    pub label: String,
    /// The amount as on the invoices (`$699.00`).
    pub amount: String,
    /// Invoices counted.
    pub invoices: i64,
    /// Left edge.
    pub x: u32,
    /// Top edge (the bars stand on y = 30 + [`BAR_AREA`]).
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height: the amount over the largest month's, times [`BAR_AREA`] (0 for
    /// nothing billed; at least 1 for any amount).
    pub height: u32,
    /// The bar's centre (labels).
    pub centre: u32,
}

/// The bars of `months` in `currency`, scaled to the largest month's amount.
pub fn bars(months: &[MonthBilled], currency: &str) -> Vec<Bar> {
    let max = months
        .iter()
        .map(|m| m.total)
        .fold(Decimal::ZERO, Decimal::max);
    let n = months.len().max(1) as u32;
    let slot = WIDTH / n;
    let width = slot * 3 / 5;
    months
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let height = if max > Decimal::ZERO && m.total > Decimal::ZERO {
                ((m.total / max) * Decimal::from(BAR_AREA))
                    .round()
                    .to_u32()
                    .unwrap_or(0)
                    .max(1)
            } else {
                0
            };
            let x = i as u32 * slot + (slot - width) / 2;
            Bar {
                label: m.month.format("%b %Y").to_string(),
                amount: super::invoices::money(m.total, currency),
                invoices: m.invoices,
                x,
                y: 30 + BAR_AREA - height,
                width,
                height,
                centre: x + width / 2,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use rust_decimal_macros::dec;

    #[test]
    fn bars_scale_to_the_largest_month() {
        let m = |month, total, invoices| MonthBilled {
            month: NaiveDate::from_ymd_opt(2026, month, 1).unwrap(),
            total,
            invoices,
        };
        // 3 months: 720 / 3 = 240 units a slot, bars 240 * 3 / 5 = 144 wide, centred
        // at (240 - 144) / 2 = 48 into their slot. $699.00 is the largest: 160 high;
        // $349.50 is half: 80; nothing: 0.
        let b = bars(
            &[
                m(1, dec!(699.00), 2),
                m(2, dec!(349.50), 1),
                m(3, dec!(0), 0),
            ],
            "USD",
        );
        assert_eq!(
            b.iter()
                .map(|b| (b.x, b.width, b.height, b.y))
                .collect::<Vec<_>>(),
            vec![(48, 144, 160, 30), (288, 144, 80, 110), (528, 144, 0, 190)]
        );
        assert_eq!(b[0].label, "Jan 2026");
        assert_eq!(b[0].amount, "$699.00");
        assert_eq!(b[1].amount, "$349.50");
    }
}
