use super::*;
use crate::period::Period;
use chrono::NaiveDate;
use rust_decimal_macros::dec;

fn d(m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, m, day).unwrap()
}

fn window() -> CycleWindow {
    let p = Period {
        start: d(1, 1),
        end: d(2, 1),
    };
    CycleWindow {
        index: 0,
        full: p,
        billed: p,
    }
}

fn target() -> Target {
    Target {
        timing: InvoiceTiming::InArrears,
        window: window(),
        currency: Currency::USD,
        rounding: RoundingMode::default(),
    }
}

fn line(kind: CardKind, name: &str, quantity: Decimal, amount: Decimal, rated: bool) -> ChargeLine {
    let period = window().billed;
    ChargeLine {
        kind,
        card_name: name.into(),
        display_name: name.into(),
        tag: None,
        timing: InvoiceTiming::InArrears,
        cycle_index: 0,
        period,
        quantity,
        unit_price: None,
        description: String::new(),
        details: if rated {
            vec![ChargeDetail {
                kind: DetailKind::Slab,
                description: "slab 1".into(),
                quantity: Some(quantity),
                unit_price: Some(dec!(0.10)),
                amount,
                period,
            }]
        } else {
            Vec::new()
        },
        amount,
    }
}

/// 5,500 API calls at 0.10 = 550.00, and a 100.00 platform fee (in arrears).
fn lines(calls: Decimal) -> Vec<ChargeLine> {
    vec![
        line(
            CardKind::Usage,
            "api_calls",
            calls,
            calls * dec!(0.10),
            true,
        ),
        line(CardKind::FixedFee, "platform", dec!(1), dec!(100.00), false),
    ]
}

fn rule(
    name: &str,
    order: i64,
    condition: Option<&str>,
    computation: &str,
    kind: ActionType,
) -> PricingRule {
    PricingRule {
        name: name.into(),
        order,
        invoice_timing: None,
        condition: condition.map(String::from),
        computation: computation.into(),
        action: RuleAction {
            kind,
            target: (kind == ActionType::Update).then(|| "api_calls".to_string()),
            id: None,
            description: None,
            metadata: None,
        },
    }
}

/// The issue's rules: 10 % off usage when usage exceeds 500.00; a surcharge whose
/// condition is false; a support fee of 5 % of what the invoice charges after them.
fn issue_rules() -> Vec<PricingRule> {
    vec![
        rule(
            "support",
            3,
            None,
            r#"{"*": [{"var": "invoice.revenue"}, 0.05]}"#,
            ActionType::Add,
        ),
        rule(
            "10 % off usage",
            1,
            Some(r#"{">": [{"var": "revenue.api_calls"}, 500]}"#),
            r#"{"*": [{"var": "revenue.api_calls"}, 0.9]}"#,
            ActionType::Update,
        ),
        rule(
            "low usage surcharge",
            2,
            Some(r#"{"<": [{"var": "usage.api_calls"}, 1000]}"#),
            "25",
            ActionType::Add,
        ),
    ]
}

#[test]
fn rules_run_in_order_each_seeing_the_changes_before_it() {
    let rules = issue_rules();
    let compiled = compile(&rules).unwrap();
    let mut l = lines(dec!(5500));
    let log = compiled.apply(&rules, &target(), &mut l);
    // Order 1: 550.00 > 500 -> 550.00 x 0.9 = 495.00; the slab (550.00) and the
    // ADJUSTMENT sub-line (-55.00) add up to it.
    assert_eq!(l[0].amount, dec!(495.00));
    assert_eq!(l[0].details[1].amount, dec!(-55.00));
    assert_eq!(
        l[0].details.iter().map(|d| d.amount).sum::<Decimal>(),
        dec!(495.00)
    );
    assert!(
        l[0].description
            .contains("pricing rule 10 % off usage: 550.00 -> 495.00"),
        "{}",
        l[0].description
    );
    // Order 2: 5,500 calls is not < 1,000: nothing added.
    // Order 3: (495.00 + 100.00) x 0.05 = 29.75, a line of its own.
    assert_eq!(l.len(), 3);
    assert_eq!(l[2].card_name, "support");
    assert_eq!(l[2].amount, dec!(29.75));
    let kinds: Vec<_> = log.iter().map(|e| (e.order, e.kind)).collect();
    assert_eq!(
        kinds,
        [
            (1, LogType::ConditionTrue),
            (2, LogType::ConditionFalse),
            (3, LogType::ConditionTrue)
        ]
    );
    let first = &log[0].changes;
    assert_eq!(
        (first.key.as_str(), first.old_revenue, first.new_revenue),
        ("api_calls", dec!(550.00), dec!(495.00))
    );
    assert_eq!(first.old_usage, Some(dec!(5500)));
    assert_eq!(
        log[0].variables_value["revenue.api_calls"].as_deref(),
        Some("550")
    );
    assert_eq!(log[1].changes.new_revenue, Decimal::ZERO);
    assert_eq!(
        log[1].variables_value["usage.api_calls"].as_deref(),
        Some("5500")
    );
    assert_eq!(
        (log[2].changes.old_revenue, log[2].changes.new_revenue),
        (dec!(0), dec!(29.75))
    );
    assert_eq!(log[2].id, "IN_ARREARS.3");
}

#[test]
fn a_false_condition_changes_nothing() {
    // 4,000 calls = 400.00: not above 500, no discount; 4,000 is not < 1,000 either.
    // Support: (400.00 + 100.00) x 0.05 = 25.00.
    let rules = issue_rules();
    let mut l = lines(dec!(4000));
    let log = compile(&rules).unwrap().apply(&rules, &target(), &mut l);
    assert_eq!(l[0].amount, dec!(400.00));
    assert_eq!(l[0].details.len(), 1);
    assert_eq!(log[0].kind, LogType::ConditionFalse);
    assert_eq!(l[2].amount, dec!(25.00));
}

#[test]
fn rules_of_the_other_timing_do_not_run() {
    let mut rules = issue_rules();
    for r in &mut rules {
        r.invoice_timing = Some(InvoiceTiming::InAdvance);
    }
    let mut l = lines(dec!(5500));
    let log = compile(&rules).unwrap().apply(&rules, &target(), &mut l);
    assert!(log.is_empty());
    assert_eq!(l[0].amount, dec!(550.00));
}

#[test]
fn errors_are_logged_and_change_nothing() {
    let rules = vec![
        // 550.00 - 600 = -50.00: a line never goes negative.
        rule(
            "too much",
            1,
            None,
            r#"{"-": [{"var": "revenue.api_calls"}, 600]}"#,
            ActionType::Update,
        ),
        rule("text", 2, None, r#""abc""#, ActionType::Add),
    ];
    let mut l = lines(dec!(5500));
    let log = compile(&rules).unwrap().apply(&rules, &target(), &mut l);
    assert_eq!(log[0].kind, LogType::ComputationError);
    assert!(log[0]
        .changes
        .error_message
        .as_deref()
        .unwrap()
        .contains("-50.00"));
    assert_eq!(log[1].kind, LogType::ComputationError);
    assert_eq!(l.len(), 2);
    assert_eq!(l[0].amount, dec!(550.00));
}

#[test]
fn rules_that_do_not_parse_are_refused_naming_the_rule_and_the_position() {
    let mut rules = issue_rules();
    rules[1].condition = Some("{\"==\": [1,".into());
    let e = compile(&rules).err().unwrap();
    assert_eq!(e.path(), "pricingRules[1].condition");
    assert!(e.to_string().contains("rule \"10 % off usage\""), "{e}");
    assert!(e.message.contains("line 1, column 10"), "{}", e.message);
    let mut rules = issue_rules();
    rules[0].computation = r#"{"and": [true, {"frob": 1}]}"#.into();
    let e = compile(&rules).err().unwrap();
    assert_eq!(e.path(), "pricingRules[0].computation");
    assert!(
        e.message.contains("\"/and/1\": unknown operator \"frob\""),
        "{}",
        e.message
    );
    let mut rules = issue_rules();
    rules[2].order = 1;
    assert_eq!(
        compile(&rules).err().unwrap().path(),
        "pricingRules[2].order"
    );
    let mut rules = issue_rules();
    rules[1].action.target = None;
    assert_eq!(
        compile(&rules).err().unwrap().path(),
        "pricingRules[1].action.target"
    );
}

#[test]
fn the_togai_shape_reads_and_writes() {
    let v = json!({"name": "10 % off usage", "order": 1, "invoiceTiming": "IN_ARREARS",
        "condition": "{\">\": [{\"var\": \"revenue.api_calls\"}, 500]}",
        "computation": "{\"*\": [{\"var\": \"revenue.api_calls\"}, 0.9]}",
        "action": {"type": "UPDATE", "target": "api_calls"}});
    let r: PricingRule = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(r.action.kind, ActionType::Update);
    assert_eq!(serde_json::to_value(&r).unwrap(), v);
}

fn plan_with_rules(rules: Value) -> Value {
    json!({
        "name": "growth", "supportedCurrencies": ["USD"],
        "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "1"}},
        "usageRateCards": [{"name": "api_calls", "usageMeterId": "api_calls",
            "ratePlan": {"pricingModel": "TIERED", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": "0.10"}]}]}],
        "fixedFeeRateCards": [{"name": "platform", "invoiceTiming": "IN_ADVANCE", "type": "RECURRING",
            "rateValues": [{"currency": "USD", "rate": 99}]}],
        "pricingRules": rules
    })
}

#[test]
fn plans_keep_their_rules_and_refuse_targets_they_lack_or_of_another_timing() {
    let rules = serde_json::to_value(issue_rules()).unwrap();
    let plan = crate::plan::Plan::from_json(&plan_with_rules(rules.clone())).unwrap();
    assert_eq!(plan.pricing_rules, issue_rules());
    let again = crate::plan::Plan::from_json(&plan.to_json()).unwrap();
    assert_eq!(again.pricing_rules, plan.pricing_rules);
    let mut bad = rules.clone();
    bad[1]["action"]["target"] = json!("sms");
    let e = crate::plan::Plan::from_json(&plan_with_rules(bad)).unwrap_err();
    assert_eq!(e.0[0].path, "pricingRules[1].action.target", "{e}");
    // The platform fee is billed in advance: an IN_ARREARS rule cannot update it.
    let mut bad = rules.clone();
    bad[1]["action"]["target"] = json!("platform");
    let e = crate::plan::Plan::from_json(&plan_with_rules(bad)).unwrap_err();
    assert!(e.0[0].message.contains("is not billed IN_ARREARS"), "{e}");
    let mut bad = rules;
    bad[1]["condition"] = json!("{\"<\": [1,");
    let e = crate::plan::Plan::from_json(&plan_with_rules(bad)).unwrap_err();
    assert_eq!(e.0[0].path, "pricingRules[1].condition", "{e}");
    assert!(
        e.0[0].message.contains("rule \"10 % off usage\"") && e.0[0].message.contains("column 9"),
        "{e}"
    );
}

#[test]
fn an_account_override_replaces_the_plans_rules() {
    use crate::overrides::Overrides;
    let definition = plan_with_rules(serde_json::to_value(issue_rules()).unwrap());
    let none = Overrides::from_json(&json!({"pricingRules": []})).unwrap();
    assert!(none.apply_to(&definition).unwrap().pricing_rules.is_empty());
    assert_eq!(none.to_json(), json!({"pricingRules": []}));
    let one = vec![issue_rules().remove(1)];
    let o = Overrides::from_json(&json!({"pricingRules": one})).unwrap();
    assert_eq!(o.apply_to(&definition).unwrap().pricing_rules, one);
    let mut bad = serde_json::to_value(&one).unwrap();
    bad[0]["action"]["target"] = json!("sms");
    let o = Overrides::from_json(&json!({"pricingRules": bad})).unwrap();
    let e = o.apply_to(&definition).unwrap_err();
    assert_eq!(e.0[0].path, "pricingRules[0].action.target", "{e}");
    assert!(Overrides::from_json(&json!({"pricingRules": 3})).is_err());
}
