//! Add-ons and named licenses (issue 17 item 3, README "Add-ons and named licenses"),
//! through the real `billrun` binary: cards that belong to an add-on bill under its
//! billable name; `plan apply` refuses an unknown add-on or one of the wrong type; a
//! NAMED_LICENSE card rates the number of named entities active each day, IN_ARREARS
//! and IN_ADVANCE; adding an active entity or removing an inactive one is refused.

use serde_json::{json, Value};

use crate::env::TestEnv;
use crate::harness::*;

fn close(env: &TestEnv, now: &str) {
    let out = env.cli().run(&["run", "cycle-close", "--now", now]);
    assert!(out.status.success(), "{}", stderr(&out));
}

fn ok(out: std::process::Output) -> String {
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

/// (total, lines) of the invoice of `account` at `boundary`.
async fn invoice(env: &TestEnv, account: &str, boundary: &str) -> (String, Value) {
    sqlx::query_as::<_, (String, Value)>(
        "SELECT total::text, lines FROM invoices WHERE account_id = $1 AND boundary = $2::date",
    )
    .bind(account)
    .bind(boundary)
    .fetch_one(env.pool())
    .await
    .unwrap()
}

/// Every card line (a node with `cardKind`) of a stored invoice tree: (card name,
/// display name, description, amount).
fn card_lines(lines: &Value) -> Vec<(String, String, String, String)> {
    fn walk(v: &Value, out: &mut Vec<(String, String, String, String)>) {
        if v.get("cardKind").is_some_and(|k| !k.is_null()) {
            let s = |k: &str| match &v[k] {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            out.push((
                s("cardName"),
                s("displayName"),
                s("description"),
                s("amount"),
            ));
        }
        for key in ["grandTotal", "children"] {
            match v.get(key) {
                Some(Value::Array(items)) => items.iter().for_each(|i| walk(i, out)),
                Some(o @ Value::Object(_)) => walk(o, out),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(lines, &mut out);
    out
}

/// A monthly plan (from the 1st, no grace) with an add-on's fixed fee (49.99 in
/// advance) and an add-on's license (8.00 a seat in arrears, no proration).
fn add_on_plan() -> Value {
    json!({
        "name": "addons", "supportedCurrencies": ["USD"],
        "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "1"}, "gracePeriod": 0},
        "fixedFeeRateCards": [{
            "addOnId": "priority_support", "name": "support", "displayName": "Support",
            "invoiceTiming": "IN_ADVANCE", "type": "RECURRING",
            "recurrenceConfig": {"interval": 1, "offset": 0}, "enableProration": false,
            "rateValues": [{"currency": "USD", "rate": "49.99"}]
        }],
        "licenseRateCards": [{
            "id": "extra_seats", "addOnId": "extra_seats", "name": "extra_seats",
            "invoiceTiming": "IN_ARREARS", "type": "LICENSE", "enableProration": false,
            "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": 8}]}]
        }]
    })
}

#[tokio::test]
async fn add_on_cards_bill_like_their_kind_under_the_add_ons_billable_name() {
    let env = TestEnv::new().await;
    env.org("acme").with_plan(add_on_plan()).await;
    let cli = |args: &[&str]| ok(env.cli().run(args));
    cli(&[
        "addon",
        "create",
        "--org",
        "acme",
        "priority_support",
        "--type",
        "FIXED_FEE",
        "--billable-name",
        "Priority support",
    ]);
    // No billable name: the lines show the add-on's name.
    cli(&[
        "addon",
        "create",
        "--org",
        "acme",
        "extra_seats",
        "--type",
        "LICENSE",
    ]);
    env.account("acme", "a1")
        .on_plan("addons")
        .from("2026-04-01")
        .await;
    cli(&[
        "license",
        "update",
        "--org",
        "acme",
        "--account",
        "a1",
        "--license",
        "extra_seats",
        "--type",
        "ABSOLUTE",
        "--quantity",
        "3",
        "--from",
        "2026-04-01",
        "--key",
        "k1",
    ]);

    // April opens: the support fee in advance, 49.99; the seats are billed in arrears.
    close(&env, "2026-04-01T00:00:00Z");
    let (total, lines) = invoice(&env, "a1", "2026-04-01").await;
    assert_eq!(total, "49.99", "{lines}");
    let april = card_lines(&lines);
    assert_eq!(april.len(), 1, "{april:?}");
    assert_eq!(
        (
            april[0].0.as_str(),
            april[0].1.as_str(),
            april[0].3.as_str()
        ),
        ("support", "Priority support", "49.99")
    );

    // Renamed before May: lines computed from then on show the new billable name.
    cli(&[
        "addon",
        "update",
        "--org",
        "acme",
        "priority_support",
        "--billable-name",
        "Premium support",
    ]);
    // May opens: May's fee 49.99 + April's seats in arrears 3 x 8.00 = 24.00: 73.99.
    close(&env, "2026-05-01T00:00:00Z");
    let (total, lines) = invoice(&env, "a1", "2026-05-01").await;
    assert_eq!(total, "73.99", "{lines}");
    let may = card_lines(&lines);
    assert!(
        may.iter()
            .any(|l| l.0 == "support" && l.1 == "Premium support" && l.3 == "49.99"),
        "{may:?}"
    );
    assert!(
        may.iter()
            .any(|l| l.0 == "extra_seats" && l.1 == "extra_seats" && l.3 == "24.00"),
        "{may:?}"
    );
}

#[tokio::test]
async fn plan_apply_refuses_an_unknown_add_on_and_one_of_the_wrong_type() {
    let c = Cli::new().await;
    crate::fixtures::org(&c.db.pool, "acme", "UTC", "INV-{YYYY}-{SEQ:4}", 15).await;
    let file = c.write("addons.json", &add_on_plan().to_string());
    // Neither add-on exists: both cards are named, each with its add-on.
    let err = c.fails(&["plan", "apply", "--org", "acme", &file]);
    assert!(
        err.contains(
            "fixedFeeRateCards[0].addOnId: card \"support\": add-on \"priority_support\" \
             does not exist in organisation \"acme\""
        ) && err.contains(
            "licenseRateCards[0].addOnId: card \"extra_seats\": add-on \"extra_seats\" \
             does not exist"
        ),
        "{err}"
    );
    // A FIXED_FEE add-on named by a license card.
    c.ok(&[
        "addon",
        "create",
        "--org",
        "acme",
        "priority_support",
        "--type",
        "FIXED_FEE",
    ]);
    c.ok(&[
        "addon",
        "create",
        "--org",
        "acme",
        "extra_seats",
        "--type",
        "FIXED_FEE",
    ]);
    let err = c.fails(&["plan", "apply", "--org", "acme", &file]);
    assert!(
        err.contains(
            "licenseRateCards[0].addOnId: card \"extra_seats\": add-on \"extra_seats\" is of \
             type FIXED_FEE, this card needs a LICENSE add-on"
        ) && !err.contains("fixedFeeRateCards[0]"),
        "{err}"
    );
    let versions: i64 = sqlx::query_scalar("SELECT count(*) FROM price_plan_versions")
        .fetch_one(&c.db.pool)
        .await
        .unwrap();
    assert_eq!(versions, 0, "a refused plan writes nothing");
    // An archived add-on is refused too; the right ones are accepted.
    c.ok(&["addon", "archive", "--org", "acme", "priority_support"]);
    c.ok(&[
        "addon", "create", "--org", "acme", "seats2", "--type", "LICENSE",
    ]);
    let mut plan = add_on_plan();
    plan["licenseRateCards"][0]["addOnId"] = json!("seats2");
    let file = c.write("addons2.json", &plan.to_string());
    let err = c.fails(&["plan", "apply", "--org", "acme", &file]);
    assert!(
        err.contains("card \"support\": add-on \"priority_support\" is ARCHIVED"),
        "{err}"
    );
    c.ok(&[
        "addon",
        "create",
        "--org",
        "acme",
        "support2",
        "--type",
        "FIXED_FEE",
    ]);
    plan["fixedFeeRateCards"][0]["addOnId"] = json!("support2");
    let file = c.write("addons3.json", &plan.to_string());
    c.ok(&["plan", "apply", "--org", "acme", &file]);
}

/// Two NAMED_LICENSE cards at 30.00 a user a month, prorated by day: `late` billed in
/// arrears, `early` in advance (added seats on the next invoice, removed ones refunded
/// as a negative line).
fn named_plan() -> Value {
    let card = |id: &str, timing: &str| {
        json!({
            "id": id, "name": id, "invoiceTiming": timing, "type": "NAMED_LICENSE",
            "enableProration": true, "proratedRefundMode": "PAYMENT",
            "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": 30}]}]
        })
    };
    json!({
        "name": "named", "supportedCurrencies": ["USD"],
        "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "1"}, "gracePeriod": 0},
        "licenseRateCards": [card("late", "IN_ARREARS"), card("early", "IN_ADVANCE")]
    })
}

fn named(env: &TestEnv, verb: &str, license: &str, user: &str, from: &str) -> std::process::Output {
    env.cli().run(&[
        "license",
        "named",
        verb,
        "--org",
        "acme",
        "--account",
        "a1",
        "--license",
        license,
        "--name",
        user,
        "--from",
        from,
    ])
}

#[tokio::test]
async fn a_named_license_bills_the_named_users_of_each_day_in_arrears_and_in_advance() {
    let env = TestEnv::new().await;
    env.org("acme").with_plan(named_plan()).await;
    env.account("acme", "a1")
        .on_plan("named")
        .from("2026-04-01")
        .await;
    // April (30 days): u1, u2, u3 from day 1; u4, u5 from day 16; u2 removed on day
    // 21. Users per day: days 1-15: 3, days 16-20: 5, days 21-30: 4.
    for license in ["late", "early"] {
        for user in ["u1", "u2", "u3"] {
            ok(named(&env, "add", license, user, "2026-04-01"));
        }
        for user in ["u4", "u5"] {
            ok(named(&env, "add", license, user, "2026-04-16"));
        }
        ok(named(&env, "remove", license, "u2", "2026-04-21"));
    }
    let updates: Vec<(String, String)> = sqlx::query_as(
        "SELECT license_id, sum(quantity)::text FROM license_updates GROUP BY license_id \
         ORDER BY license_id",
    )
    .fetch_all(env.pool())
    .await
    .unwrap();
    assert_eq!(
        updates,
        [("early".into(), "4".into()), ("late".into(), "4".into())],
        "each add is +1 and each remove -1"
    );

    // April opens: `early` bills the 3 users of day 1 in advance, 3 x 30.00 = 90.00.
    close(&env, "2026-04-01T00:00:00Z");
    let (total, lines) = invoice(&env, "a1", "2026-04-01").await;
    assert_eq!(total, "90.00", "{lines}");

    // May opens:
    // - `late`, April in arrears: 3 x 30.00 x 15/30 = 45.00, 5 x 30.00 x 5/30 = 25.00,
    //   4 x 30.00 x 10/30 = 40.00: 110.00.
    // - `early`, May in advance: the 4 users of May 1, 4 x 30.00 = 120.00.
    // - `early`, April's users above the 3 billed: 2 more for days 16-20,
    //   2 x 30.00 x 5/30 = 10.00, and 1 more for days 21-30, 1 x 30.00 x 10/30 = 10.00.
    // Total 110.00 + 120.00 + 10.00 + 10.00 = 250.00.
    close(&env, "2026-05-01T00:00:00Z");
    let (total, lines) = invoice(&env, "a1", "2026-05-01").await;
    let may = card_lines(&lines);
    assert!(
        may.iter().any(|l| l.0 == "late" && l.3 == "110.00"),
        "{may:?}"
    );
    assert!(
        may.iter()
            .any(|l| l.0 == "early" && l.2 == "up to 4 licenses" && l.3 == "120.00"),
        "{may:?}"
    );
    let added: rust_decimal::Decimal = may
        .iter()
        .filter(|l| l.0 == "early" && l.2.starts_with("Seats added"))
        .map(|l| l.3.parse::<rust_decimal::Decimal>().unwrap())
        .sum();
    assert_eq!(added.to_string(), "20.00", "{may:?}");
    assert_eq!(total, "250.00", "{may:?}");

    // The entities as listed: u2 ended on April 21, the others open.
    let listed = ok(env.cli().run(&[
        "license",
        "named",
        "list",
        "--org",
        "acme",
        "--account",
        "a1",
        "--license",
        "late",
        "--json",
    ]));
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let ended: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| !e["effectiveUntil"].is_null())
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(ended, ["u2"]);
}

#[tokio::test]
async fn named_entities_cannot_be_added_twice_nor_removed_when_inactive() {
    let env = TestEnv::new().await;
    env.org("acme").with_plan(named_plan()).await;
    env.account("acme", "a1").on_plan("named").await;
    ok(named(&env, "add", "late", "u1", "2026-04-01"));
    let err = stderr(&named(&env, "add", "late", "u1", "2026-04-10"));
    assert!(
        err.contains(
            "entity \"u1\" of license \"late\" of account \"a1\" is already active (since \
             2026-04-01T00:00:00+00:00): it cannot be added again"
        ),
        "{err}"
    );
    let err = stderr(&named(&env, "remove", "late", "u9", "2026-04-10"));
    assert!(
        err.contains(
            "entity \"u9\" of license \"late\" of account \"a1\" is not active at \
             2026-04-10T00:00:00+00:00: nothing to remove"
        ),
        "{err}"
    );
    // Removed, then added back later: fine; added back before it was removed: refused.
    ok(named(&env, "remove", "late", "u1", "2026-04-20"));
    assert!(!named(&env, "add", "late", "u1", "2026-04-15")
        .status
        .success());
    ok(named(&env, "add", "late", "u1", "2026-04-25"));
    // Ordinary updates of a named license are refused; so is a license no card names.
    let out = env.cli().run(&[
        "license",
        "update",
        "--org",
        "acme",
        "--account",
        "a1",
        "--license",
        "late",
        "--type",
        "ABSOLUTE",
        "--quantity",
        "7",
    ]);
    assert!(
        stderr(&out).contains("license \"late\" is priced by a NAMED_LICENSE card"),
        "{}",
        stderr(&out)
    );
    let err = stderr(&named(&env, "add", "seats", "u1", "2026-04-01"));
    assert!(
        err.contains(
            "no price plan has a NAMED_LICENSE rate card \"seats\" (named licenses: early, late)"
        ),
        "{err}"
    );
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM license_updates")
        .fetch_one(env.pool())
        .await
        .unwrap();
    assert_eq!(n, 3, "add, remove, add: refused changes write no update");
}
