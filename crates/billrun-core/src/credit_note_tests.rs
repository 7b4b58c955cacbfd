//! Credit notes worked by hand (README "Credit notes"): tax per rate = round(sum of
//! credited nets x % / 100) once, half away from zero; earlier notes count.

use super::*;
use proptest::prelude::*;
use rust_decimal_macros::dec;

fn usd() -> Currency {
    Currency::parse("USD").unwrap()
}

fn rate(code: &str, pct: Decimal) -> RateRef {
    RateRef {
        code: code.into(),
        name: format!("VAT {pct}%"),
        category: "S".into(),
        percentage: pct,
    }
}

/// An invoice of three lines: seats 100.00 and support 50.00 at 19 % (tax
/// round(150.00 x 0.19) = 28.50), books 45.45 at 7 % (tax round(3.1815) = 3.18).
/// Gross: 195.45 + 31.68 = 227.13.
fn invoice(credited: [Decimal; 3], credited19: Decimal, credited7: Decimal) -> Vec<CreditableLine> {
    let l = |n: u32, name: &str, net, pct, tax, ctax, c| CreditableLine {
        line: n,
        card_name: Some(name.into()),
        display_name: name.into(),
        net,
        credited: c,
        rate: Some(rate(if pct == dec!(19) { "S19" } else { "R7" }, pct)),
        rate_tax: tax,
        rate_credited_tax: ctax,
    };
    vec![
        l(
            1,
            "seats",
            dec!(100.00),
            dec!(19),
            dec!(28.50),
            credited19,
            credited[0],
        ),
        l(
            2,
            "support",
            dec!(50.00),
            dec!(19),
            dec!(28.50),
            credited19,
            credited[1],
        ),
        l(
            3,
            "books",
            dec!(45.45),
            dec!(7),
            dec!(3.18),
            credited7,
            credited[2],
        ),
    ]
}

#[test]
fn a_partial_note_of_two_lines_taxes_each_rate_once() {
    let lines = invoice([dec!(0); 3], dec!(0), dec!(0));
    // seats 33.33 + support 10.01 = 43.34 at 19 % = 8.2346 -> 8.23 (shares 33.33/43.34
    // x 8.23 = 6.3293 -> 6.33, 10.01/43.34 x 8.23 = 1.9008 -> 1.90; 6.33 + 1.90 = 8.23).
    // books 20.00 at 7 % = 1.40. Net 63.34, tax 9.63, total 72.97.
    let req = CreditRequest::Lines(vec![(1, dec!(33.33)), (2, dec!(10.01)), (3, dec!(20.00))]);
    let n = compute(usd(), &lines, &req, dec!(227.13)).unwrap();
    assert_eq!(
        n.lines
            .iter()
            .map(|l| (l.line, l.net, l.tax))
            .collect::<Vec<_>>(),
        [
            (1, dec!(33.33), dec!(6.33)),
            (2, dec!(10.01), dec!(1.90)),
            (3, dec!(20.00), dec!(1.40))
        ]
    );
    assert_eq!(
        n.taxes
            .iter()
            .map(|t| (t.code.as_str(), t.taxable_amount, t.amount))
            .collect::<Vec<_>>(),
        [
            ("S19", dec!(43.34), dec!(8.23)),
            ("R7", dec!(20.00), dec!(1.40))
        ]
    );
    assert_eq!(
        (n.net, n.tax, n.total),
        (dec!(63.34), dec!(9.63), dec!(72.97))
    );
}

#[test]
fn an_amount_is_spread_in_proportion_to_what_is_left() {
    // Earlier note took seats 40.00 (19 % tax 7.60). Left: seats 60.00, support 50.00,
    // books 45.45; sum 155.45. 31.09 spread: seats 31.09 x 60/155.45 = 12.0000 ->
    // 12.00, support 31.09 x 50/155.45 = 10.0000 -> 10.00, books 31.09 x 45.45/155.45
    // = 9.0900 -> 9.09. Tax: 19 % of 22.00 = 4.18; 7 % of 9.09 = 0.6363 -> 0.64.
    // Total 31.09 + 4.82 = 35.91.
    let lines = invoice([dec!(40.00), dec!(0), dec!(0)], dec!(7.60), dec!(0));
    let n = compute(
        usd(),
        &lines,
        &CreditRequest::Amount(dec!(31.09)),
        dec!(179.53),
    )
    .unwrap();
    assert_eq!(
        n.lines.iter().map(|l| l.net).collect::<Vec<_>>(),
        [dec!(12.00), dec!(10.00), dec!(9.09)]
    );
    assert_eq!(
        (n.net, n.tax, n.total),
        (dec!(31.09), dec!(4.82), dec!(35.91))
    );
}

#[test]
fn the_rest_takes_exactly_the_tax_left() {
    // Earlier note: seats 0.05 (19 %: 0.0095 -> 0.01) and books 0.07 (7 %: 0.0049 ->
    // 0.00). Rest: seats 99.95 + support 50.00 = 149.95 at 19 %: 28.4905 would round to
    // 28.49, but the rate's tax left is 28.50 - 0.01 = 28.49: the same here; books
    // 45.38 at 7 % = 3.1766 -> 3.18, but only 3.18 - 0.00 = 3.18 is left: 3.18.
    // Total 195.33 + 31.67 = 227.00 = 227.13 - (0.12 + 0.01).
    let lines = invoice([dec!(0.05), dec!(0), dec!(0.07)], dec!(0.01), dec!(0.00));
    let n = compute(usd(), &lines, &CreditRequest::Rest, dec!(227.00)).unwrap();
    assert_eq!(
        (n.net, n.tax, n.total),
        (dec!(195.33), dec!(31.67), dec!(227.00))
    );
    // Two notes of 0.005-rounding each: 0.05 at 19 % = 0.0095 -> 0.01 twice would be
    // 0.02 on 0.10 (0.019 -> 0.02); a closing note takes what is left, not its own
    // rounding: invoice of one line 0.10 at 19 % (tax 0.02), first note 0.05 (0.01),
    // the rest 0.05 takes 0.02 - 0.01 = 0.01.
    let one = vec![CreditableLine {
        line: 1,
        card_name: None,
        display_name: "x".into(),
        net: dec!(0.10),
        credited: dec!(0.05),
        rate: Some(rate("S19", dec!(19))),
        rate_tax: dec!(0.02),
        rate_credited_tax: dec!(0.01),
    }];
    let n = compute(usd(), &one, &CreditRequest::Rest, dec!(0.06)).unwrap();
    assert_eq!(
        (n.net, n.tax, n.total),
        (dec!(0.05), dec!(0.01), dec!(0.06))
    );
}

#[test]
fn over_credit_and_bad_input_are_refused_with_the_line_named() {
    let lines = invoice([dec!(60.00), dec!(0), dec!(0)], dec!(11.40), dec!(0));
    let e = compute(
        usd(),
        &lines,
        &CreditRequest::Lines(vec![(1, dec!(40.01))]),
        dec!(1000),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 1 (seats): 40.01 is more than the 40.00 left to credit of its 100.00 \
         (earlier credit notes took 60.00)"
    );
    let e = compute(
        usd(),
        &lines,
        &CreditRequest::Lines(vec![(4, dec!(1))]),
        dec!(1000),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 4: the invoice has no such creditable line (lines 1 to 3)"
    );
    let e = compute(
        usd(),
        &lines,
        &CreditRequest::Lines(vec![(2, dec!(1.001))]),
        dec!(1000),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("line 2: expected an amount above 0 with at most 2 decimals"),
        "{e}"
    );
    // Left: 40.00 + 50.00 + 45.45 = 135.45 net; 135.46 is refused.
    let e = compute(
        usd(),
        &lines,
        &CreditRequest::Amount(dec!(135.46)),
        dec!(1000),
    )
    .unwrap_err();
    assert_eq!(
        e,
        CreditNoteError::TotalExceeded {
            total: dec!(135.46),
            remaining: dec!(135.45)
        }
    );
    // The invoice's own remaining total caps a note: support 50.00 + 9.50 tax = 59.50
    // above a remaining 59.49.
    let e = compute(
        usd(),
        &lines,
        &CreditRequest::Lines(vec![(2, dec!(50.00))]),
        dec!(59.49),
    )
    .unwrap_err();
    assert!(matches!(e, CreditNoteError::TotalExceeded { .. }), "{e}");
}

#[test]
fn reasons_parse_upper_snake_and_name_the_choices() {
    assert_eq!(
        "duplicated_charge".parse::<Reason>(),
        Ok(Reason::DuplicatedCharge)
    );
    assert_eq!(Reason::OrderCancellation.to_string(), "ORDER_CANCELLATION");
    let e = "BROKEN".parse::<Reason>().unwrap_err();
    assert!(e.contains("FRAUDULENT_CHARGE"), "{e}");
    assert_eq!(settle(dec!(72.97), dec!(50.00)), (dec!(50.00), dec!(22.97)));
    assert_eq!(settle(dec!(72.97), dec!(0)), (dec!(0), dec!(72.97)));
}

proptest! {
    /// Any sequence of amount notes never credits a line above its net nor the tax
    /// of a rate above the invoice's; lines sum to totals; crediting the rest at the
    /// end gives back exactly the invoice's gross.
    #[test]
    fn notes_never_exceed_and_add_up(cents in proptest::collection::vec(1i64..20_000, 1..5)) {
        let mut credited = [Decimal::ZERO; 3];
        let (mut c19, mut c7, mut done) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        let gross = dec!(227.13);
        let take = |req: CreditRequest, credited: &mut [Decimal; 3], c19: &mut Decimal, c7: &mut Decimal, done: &mut Decimal| {
            let lines = invoice(*credited, *c19, *c7);
            match compute(usd(), &lines, &req, gross - *done) {
                Ok(n) => {
                    prop_assert_eq!(n.lines.iter().map(|l| l.net).sum::<Decimal>(), n.net);
                    prop_assert_eq!(n.lines.iter().map(|l| l.tax).sum::<Decimal>(), n.tax);
                    prop_assert_eq!(n.net + n.tax, n.total);
                    for l in &n.lines {
                        credited[(l.line - 1) as usize] += l.net;
                    }
                    for t in &n.taxes {
                        if t.code == "S19" { *c19 += t.amount } else { *c7 += t.amount }
                    }
                    *done += n.total;
                }
                Err(CreditNoteError::TotalExceeded { .. }) => {}
                Err(e) => prop_assert!(false, "{}", e),
            }
            prop_assert!(credited[0] <= dec!(100.00) && credited[1] <= dec!(50.00) && credited[2] <= dec!(45.45));
            prop_assert!(*c19 <= dec!(28.50) && *c7 <= dec!(3.18) && *done <= gross);
            Ok(())
        };
        for c in cents {
            take(CreditRequest::Amount(Decimal::new(c, 2)), &mut credited, &mut c19, &mut c7, &mut done)?;
        }
        if done < gross {
            take(CreditRequest::Rest, &mut credited, &mut c19, &mut c7, &mut done)?;
        }
        prop_assert_eq!(done, gross);
    }
}
