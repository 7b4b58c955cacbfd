//! The price plan lifecycle through the real `billrun` binary: drafts edited by bulk
//! rate card operations (all or nothing, errors per card), finalized versions that
//! never change and are never deleted, edits of an active plan opening the next
//! version, discarded drafts, archived versions, and invoices that an edit of the
//! plan never changes.

use std::process::Output;

use rust_decimal_macros::dec;
use serde_json::{json, Value};

use crate::env::TestEnv;
use crate::fixtures;
use crate::harness::*;

impl Cli {
    fn json_file(&self, name: &str, v: &Value) -> String {
        self.write(name, &serde_json::to_string_pretty(v).unwrap())
    }

    /// `billrun plan rate-cards --org acme PLAN --file <ops>`.
    fn rate_cards(&self, plan: &str, ops: &Value) -> Output {
        let file = self.json_file("ops.json", ops);
        self.run(&["plan", "rate-cards", "--org", "acme", plan, "--file", &file])
    }

    /// `(version, status)` of every version of a plan.
    fn versions(&self, plan: &str) -> Vec<(u64, String)> {
        let v = self.json(&["plan", "versions", "--org", "acme", plan, "--json"]);
        v.as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["version"].as_u64().unwrap(),
                    v["status"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// A version's stored definition.
    fn definition(&self, plan: &str, version: u32) -> Value {
        let v = version.to_string();
        self.json(&[
            "plan",
            "show",
            "--org",
            "acme",
            plan,
            "--version",
            &v,
            "--json",
        ])["definition"]
            .clone()
    }

    /// A customer and an account in USD, through the CLI.
    fn usd_account(&self, id: &str) {
        let customer = format!("cust-{id}");
        self.ok(&[
            "customer", "create", "--org", "acme", &customer, "--name", id,
        ]);
        self.ok(&[
            "account",
            "create",
            "--org",
            "acme",
            id,
            "--customer",
            &customer,
            "--invoice-currency",
            "USD",
        ]);
    }

    fn attach(&self, account: &str, plan: &str, version: Option<&str>, from: &str) -> Output {
        let mut args = vec![
            "account",
            "attach-plan",
            "--org",
            "acme",
            account,
            "--plan",
            plan,
            "--from",
            from,
        ];
        if let Some(v) = version {
            args.extend(["--version", v]);
        }
        self.run(&args)
    }
}

fn assert_mentions(text: &str, fragments: &[&str]) {
    for f in fragments {
        assert!(text.contains(f), "expected {f:?} in:\n{text}");
    }
}

/// The USD rate of a card's `rateValues` (flat cards) in a canonical definition.
fn flat_rate(definition: &Value, list: &str, card: &str) -> Value {
    let card = definition[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == card)
        .unwrap_or_else(|| panic!("no card {card} in {list}"));
    card["rateValues"][0]["rate"].clone()
}

fn card_names(definition: &Value) -> Vec<String> {
    let mut names = Vec::new();
    for list in [
        "usageRateCards",
        "fixedFeeRateCards",
        "licenseRateCards",
        "creditGrantRateCards",
    ] {
        for c in definition[list].as_array().into_iter().flatten() {
            names.push(c["name"].as_str().unwrap().to_string());
        }
    }
    if definition.get("minimumCommitment").is_some() {
        names.push("minimum_commitment".into());
    }
    names
}

/// The growth plan's platform fee card (99.00 in advance, prorated) at `rate`.
fn platform_fee(rate: u32) -> Value {
    let mut card = fixtures::growth_plan(0)["fixedFeeRateCards"][0].clone();
    card["rateValues"] = json!([{"currency": "USD", "rate": rate}]);
    card
}

/// The growth plan's usage card with its three slab rates.
fn api_calls(rates: [&str; 3]) -> Value {
    let mut card = fixtures::growth_plan(0)["usageRateCards"][0].clone();
    card["rateValues"] = json!([{"currency": "USD", "slabRates": [
        {"order": 1, "rate": rates[0]}, {"order": 2, "rate": rates[1]}, {"order": 3, "rate": rates[2]}]}]);
    card
}

fn support_fee() -> Value {
    json!({"name": "support", "displayName": "Support", "invoiceTiming": "IN_ADVANCE",
           "type": "RECURRING", "recurrenceConfig": {"interval": 1, "offset": 0},
           "rateValues": [{"currency": "USD", "rate": 20}]})
}

/// acme (UTC, USD/EUR/JPY) with the `api_calls` meter, through the fixtures.
async fn acme(cli: &Cli) {
    fixtures::org(&cli.db.pool, "acme", "UTC", "INV-{YYYY}-{SEQ:4}", 15).await;
}

#[tokio::test]
async fn a_draft_is_editable_and_unattachable_and_a_finalized_version_never_changes_or_goes() {
    let c = Cli::new().await;
    acme(&c).await;
    c.usd_account("acc");
    let plan = c.json_file("growth.json", &fixtures::growth_plan(0));
    assert_mentions(
        &c.ok(&["plan", "apply", "--org", "acme", &plan]),
        &["plan growth version 1 DRAFT (created)"],
    );

    // The draft is edited in place by rate card operations.
    let out = c.rate_cards(
        "growth",
        &json!({"operations": [{"actionType": "UPDATE", "rateCardName": "platform_fee",
                                "rateCard": {"rateCardDetails": platform_fee(149)}}]}),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_mentions(
        &stdout(&out),
        &["plan growth version 1 DRAFT (draft updated)"],
    );
    assert_eq!(
        flat_rate(
            &c.definition("growth", 1),
            "fixedFeeRateCards",
            "platform_fee"
        ),
        "149"
    );
    assert_mentions(
        &stderr(&c.attach("acc", "growth", Some("1"), "2026-01-01")),
        &[
            "version 1 is DRAFT",
            "only an ACTIVE version can be attached",
        ],
    );
    assert_mentions(
        &stderr(&c.attach("acc", "growth", None, "2026-01-01")),
        &["no ACTIVE version"],
    );

    assert_mentions(
        &c.ok(&["plan", "finalize", "--org", "acme", "growth"]),
        &["plan growth version 1 ACTIVE"],
    );
    assert_eq!(c.versions("growth"), [(1, "ACTIVE".to_string())]);
    let finalized = c.definition("growth", 1);

    // The database itself refuses to change it, to move it back, or to delete it.
    let pool = &c.db.pool;
    let update = sqlx::query(
        "UPDATE price_plan_versions SET definition = '{}' WHERE org_id = 'acme' AND plan_id = 'growth'",
    )
    .execute(pool)
    .await
    .unwrap_err();
    assert!(update.to_string().contains("cannot change"), "{update}");
    let back = sqlx::query(
        "UPDATE price_plan_versions SET status = 'DRAFT', finalized_at = NULL WHERE org_id = 'acme'",
    )
    .execute(pool)
    .await
    .unwrap_err();
    assert!(back.to_string().contains("back to DRAFT"), "{back}");
    let delete = sqlx::query("DELETE FROM price_plan_versions WHERE org_id = 'acme'")
        .execute(pool)
        .await
        .unwrap_err();
    assert!(
        delete.to_string().contains(
            "price plan growth version 1 is ACTIVE: a finalized plan version is never deleted"
        ),
        "{delete}"
    );
    // Nor does the CLI offer to: only a draft is discarded.
    assert_mentions(
        &c.fails(&["plan", "discard", "--org", "acme", "growth"]),
        &["has no DRAFT version to discard"],
    );
    assert_eq!(c.definition("growth", 1), finalized);

    assert!(c
        .attach("acc", "growth", None, "2026-01-01")
        .status
        .success());
}

#[tokio::test]
async fn bulk_operations_create_update_and_delete_in_one_batch() {
    let c = Cli::new().await;
    acme(&c).await;
    let plan = c.json_file("growth.json", &fixtures::growth_plan(0));
    c.ok(&["plan", "apply", "--org", "acme", &plan]);
    let ops = json!({"operations": [
        {"actionType": "CREATE", "rateCard": {"type": "FIXED_FEE", "rateCardDetails": support_fee()}},
        {"actionType": "UPDATE", "rateCardName": "api_calls",
         "rateCard": {"type": "USAGE", "rateCardDetails": api_calls(["0.2", "0.1", "0.02"])}},
        {"actionType": "DELETE", "rateCardName": "minimum_commitment"}
    ]});
    let file = c.json_file("ops.json", &ops);
    let applied = c.json(&[
        "plan",
        "rate-cards",
        "--org",
        "acme",
        "growth",
        "--file",
        &file,
        "--json",
    ]);
    assert_eq!(
        applied,
        json!({"planId": "growth", "version": 1, "status": "DRAFT", "outcome": "DRAFT_UPDATED"})
    );
    let d = c.definition("growth", 1);
    assert_eq!(card_names(&d), ["api_calls", "platform_fee", "support"]);
    assert_eq!(flat_rate(&d, "fixedFeeRateCards", "support"), "20");
    assert_eq!(
        d["usageRateCards"][0]["rateValues"][0]["slabRates"],
        json!([{"order": 1, "rate": "0.2"}, {"order": 2, "rate": "0.1"}, {"order": 3, "rate": "0.02"}])
    );
    assert_eq!(d.get("minimumCommitment"), None);
    // What is stored is canonical: it reads back as the same plan.
    assert_eq!(
        billrun_core::plan::Plan::from_json(&d).unwrap().to_json(),
        d
    );

    // The same batch again: the CREATE now finds its name taken, the DELETE finds
    // nothing; the UPDATE alone would have been fine, but nothing is applied.
    let out = c.rate_cards("growth", &ops);
    assert!(!out.status.success());
    assert_mentions(
        &stderr(&out),
        &[
            "2 failing",
            "operations[0] (CREATE support):",
            "rateCard.rateCardDetails.name: \"support\" is already the name of a FIXED_FEE rate card",
            "operations[2] (DELETE minimum_commitment):",
            "rateCardName: the plan has no rate card named \"minimum_commitment\"",
        ],
    );
    assert_eq!(c.definition("growth", 1), d);
}

#[tokio::test]
async fn a_batch_with_bad_cards_fails_entirely_with_one_error_per_bad_card() {
    let c = Cli::new().await;
    acme(&c).await;
    let plan = c.json_file("growth.json", &fixtures::growth_plan(0));
    c.ok(&["plan", "apply", "--org", "acme", &plan]);
    let (before, updated_before): (Value, chrono::DateTime<chrono::Utc>) = sqlx::query_as(
        "SELECT definition, updated_at FROM price_plan_versions WHERE org_id = 'acme' AND plan_id = 'growth'",
    )
    .fetch_one(&c.db.pool)
    .await
    .unwrap();

    let mut storage = api_calls(["0.01", "0.005", "0.001"]);
    storage["name"] = json!("storage");
    storage["ratePlan"]["slabs"][1]["startAfter"] = json!(-5);
    storage.as_object_mut().unwrap().remove("usageMeterId");
    let mut bad_fee = platform_fee(99);
    bad_fee["rateValues"][0]["rate"] = json!("a lot");
    let ops = json!({"operations": [
        {"actionType": "CREATE", "rateCard": {"type": "USAGE", "rateCardDetails": storage}},
        {"actionType": "CREATE", "rateCard": {"type": "FIXED_FEE", "rateCardDetails": support_fee()}},
        {"actionType": "UPDATE", "rateCardName": "platform_fee", "rateCard": {"rateCardDetails": bad_fee}},
        {"actionType": "DELETE", "rateCardName": "ghost"}
    ]});
    let file = c.json_file("bad.json", &ops);
    let out = c.run(&[
        "plan",
        "rate-cards",
        "--org",
        "acme",
        "growth",
        "--file",
        &file,
        "--json",
    ]);
    assert!(!out.status.success(), "{}", stdout(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let errors = report["errors"].as_array().unwrap();
    let per_op: Vec<(u64, &str, &str)> = errors
        .iter()
        .map(|e| {
            (
                e["operation"].as_u64().unwrap(),
                e["actionType"].as_str().unwrap(),
                e["rateCardName"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        per_op,
        [
            (0, "CREATE", "storage"),
            (2, "UPDATE", "platform_fee"),
            (3, "DELETE", "ghost")
        ],
        "one error per failing operation, the good one not listed:\n{report:#}"
    );
    let paths = |i: usize| -> Vec<String> {
        errors[i]["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["path"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(
        paths(0).contains(&"rateCard.rateCardDetails.usageMeterId".to_string())
            && paths(0)
                .iter()
                .any(|p| p.starts_with("rateCard.rateCardDetails.ratePlan.slabs[1]")),
        "{:?}",
        paths(0)
    );
    assert!(
        paths(1)
            .iter()
            .all(|p| p.starts_with("rateCard.rateCardDetails.rateValues[0]")),
        "{:?}",
        paths(1)
    );
    assert_eq!(paths(2), ["rateCardName"]);

    // In text, each failing operation is a block naming it.
    let text = stderr(&c.rate_cards("growth", &ops));
    assert_mentions(
        &text,
        &[
            "nothing was changed (3 failing)",
            "operations[0] (CREATE storage):\n  rateCard.rateCardDetails.",
            "operations[2] (UPDATE platform_fee):\n  rateCard.rateCardDetails.rateValues[0]",
            "operations[3] (DELETE ghost):\n  rateCardName: the plan has no rate card named \"ghost\"",
        ],
    );
    assert!(!text.contains("operations[1]"), "{text}");

    let (after, updated_after): (Value, chrono::DateTime<chrono::Utc>) = sqlx::query_as(
        "SELECT definition, updated_at FROM price_plan_versions WHERE org_id = 'acme' AND plan_id = 'growth'",
    )
    .fetch_one(&c.db.pool)
    .await
    .unwrap();
    assert_eq!(
        (after, updated_after),
        (before, updated_before),
        "the draft is unchanged"
    );
    assert_eq!(c.versions("growth"), [(1, "DRAFT".to_string())]);

    // Not a document of operations at all, an unknown plan.
    assert_mentions(
        &stderr(&c.rate_cards("growth", &json!({"operations": []}))),
        &["operations: list at least one operation"],
    );
    assert_mentions(
        &stderr(&c.rate_cards("nope", &ops)),
        &["price plan \"nope\" does not exist"],
    );
}

#[tokio::test]
async fn operations_on_an_active_plan_open_the_next_version_as_a_draft() {
    let c = Cli::new().await;
    acme(&c).await;
    let plan = c.json_file("growth.json", &fixtures::growth_plan(0));
    c.ok(&["plan", "apply", "--org", "acme", &plan]);
    c.ok(&["plan", "finalize", "--org", "acme", "growth"]);
    let v1 = c.definition("growth", 1);

    // A failing batch on an active plan creates nothing.
    let bad = json!({"operations": [{"actionType": "DELETE", "rateCardName": "ghost"}]});
    assert!(!c.rate_cards("growth", &bad).status.success());
    assert_eq!(c.versions("growth"), [(1, "ACTIVE".to_string())]);

    let ops = json!({"operations": [
        {"actionType": "UPDATE", "rateCardName": "platform_fee", "rateCard": {"rateCardDetails": platform_fee(149)}},
        {"actionType": "CREATE", "rateCard": {"type": "FIXED_FEE", "rateCardDetails": support_fee()}}
    ]});
    let out = c.rate_cards("growth", &ops);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_mentions(&stdout(&out), &["plan growth version 2 DRAFT (created)"]);
    assert_eq!(
        c.versions("growth"),
        [(1, "ACTIVE".to_string()), (2, "DRAFT".to_string())]
    );
    assert_eq!(c.definition("growth", 1), v1, "v1 is unchanged");
    let v2 = c.definition("growth", 2);
    assert_eq!(flat_rate(&v2, "fixedFeeRateCards", "platform_fee"), "149");
    assert_eq!(
        card_names(&v2),
        ["api_calls", "platform_fee", "support", "minimum_commitment"]
    );

    // Further operations edit that draft rather than opening v3.
    let out = c.rate_cards(
        "growth",
        &json!({"operations": [{"actionType": "DELETE", "rateCardName": "support"}]}),
    );
    assert_mentions(
        &stdout(&out),
        &["plan growth version 2 DRAFT (draft updated)"],
    );
    c.ok(&["plan", "finalize", "--org", "acme", "growth"]);
    // An archived latest version is copied the same way.
    c.ok(&[
        "plan",
        "archive",
        "--org",
        "acme",
        "growth",
        "--version",
        "2",
    ]);
    let out = c.rate_cards(
        "growth",
        &json!({"operations": [{"actionType": "DELETE", "rateCardName": "minimum_commitment"}]}),
    );
    assert_mentions(&stdout(&out), &["plan growth version 3 DRAFT (created)"]);
    let v3 = c.definition("growth", 3);
    assert_eq!(card_names(&v3), ["api_calls", "platform_fee"]);
    assert_eq!(flat_rate(&v3, "fixedFeeRateCards", "platform_fee"), "149");
    assert_eq!(c.definition("growth", 1), v1);
}

#[tokio::test]
async fn a_discarded_draft_is_gone_and_a_plan_with_only_a_draft_goes_with_it() {
    let c = Cli::new().await;
    acme(&c).await;
    let growth = c.json_file("growth.json", &fixtures::growth_plan(0));
    let mut solo = fixtures::growth_plan(0);
    solo["name"] = json!("solo");
    let solo = c.json_file("solo.json", &solo);

    c.ok(&["plan", "apply", "--org", "acme", &solo]);
    assert_mentions(
        &c.ok(&["plan", "discard", "--org", "acme", "solo"]),
        &["plan solo version 1 DRAFT discarded; the plan had no other version and is deleted"],
    );
    let listed = c.json(&["plan", "list", "--org", "acme", "--json"]);
    assert_eq!(listed, json!([]));
    assert_mentions(
        &c.fails(&["plan", "versions", "--org", "acme", "solo"]),
        &["price plan \"solo\" does not exist"],
    );
    assert_mentions(
        &c.fails(&["plan", "discard", "--org", "acme", "solo"]),
        &["does not exist"],
    );
    assert_mentions(
        &c.ok(&["plan", "apply", "--org", "acme", &solo]),
        &["plan solo version 1 DRAFT (created)"],
    );

    c.ok(&["plan", "apply", "--org", "acme", &growth]);
    c.ok(&["plan", "finalize", "--org", "acme", "growth"]);
    let ops =
        json!({"operations": [{"actionType": "DELETE", "rateCardName": "minimum_commitment"}]});
    assert!(c.rate_cards("growth", &ops).status.success());
    let discarded = c.json(&["plan", "discard", "--org", "acme", "growth", "--json"]);
    assert_eq!(
        discarded,
        json!({"planId": "growth", "version": 2, "planDeleted": false})
    );
    assert_eq!(c.versions("growth"), [(1, "ACTIVE".to_string())]);
    // The next edit takes the number again: no invoice ever referred to it.
    assert_mentions(
        &stdout(&c.rate_cards("growth", &ops)),
        &["plan growth version 2 DRAFT (created)"],
    );

    // Only whole-organisation purges (the demo) may delete finalized versions, and
    // only their own organisation's.
    let mut tx = c.db.pool.begin().await.unwrap();
    sqlx::query("SELECT set_config('billrun.purge_organisation', 'other', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let refused =
        sqlx::query("DELETE FROM price_plan_versions WHERE org_id = 'acme' AND version = 1")
            .execute(&mut *tx)
            .await
            .unwrap_err();
    assert!(refused.to_string().contains("never deleted"), "{refused}");
    tx.rollback().await.unwrap();
    let mut tx = c.db.pool.begin().await.unwrap();
    billrun::catalog::plans::allow_organisation_purge(&mut tx, "acme")
        .await
        .unwrap();
    let deleted = sqlx::query("DELETE FROM price_plan_versions WHERE org_id = 'acme'")
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(deleted, 3);
    tx.rollback().await.unwrap();
    assert_eq!(
        c.versions("growth"),
        [(1, "ACTIVE".to_string()), (2, "DRAFT".to_string())]
    );
}

#[tokio::test]
async fn an_archived_version_cannot_be_attached_but_accounts_on_it_keep_billing() {
    let c = TestEnv::new().await;
    c.org("acme").with_plan(fixtures::growth_plan(0)).await;
    let pool = &c.db.pool;
    c.account("acme", "a1")
        .with_usage("e1", "2026-01-05T10:00:00Z", dec!(15000))
        .await;
    c.usd_account("a2");

    assert_mentions(
        &c.ok(&[
            "plan",
            "archive",
            "--org",
            "acme",
            "growth",
            "--version",
            "1",
        ]),
        &["plan growth version 1 ARCHIVED"],
    );
    assert_mentions(
        &stderr(&c.attach("a2", "growth", Some("1"), "2026-01-01")),
        &[
            "version 1 is ARCHIVED",
            "only an ACTIVE version can be attached",
        ],
    );
    assert_mentions(
        &c.fails(&[
            "plan",
            "archive",
            "--org",
            "acme",
            "growth",
            "--version",
            "1",
        ]),
        &["only an ACTIVE version can be archived"],
    );
    let unarchive =
        sqlx::query("UPDATE price_plan_versions SET status = 'ACTIVE' WHERE org_id = 'acme'")
            .execute(pool)
            .await
            .unwrap_err();
    assert!(
        unarchive.to_string().contains("cannot go from ARCHIVED"),
        "{unarchive}"
    );
    let delete = sqlx::query("DELETE FROM price_plan_versions WHERE org_id = 'acme'")
        .execute(pool)
        .await
        .unwrap_err();
    assert!(delete.to_string().contains("is ARCHIVED"), "{delete}");

    c.ok(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    let billed: Vec<(String, String, i32, String, String)> = sqlx::query_as(
        "SELECT boundary::text, plan_id, plan_version, status, total::text FROM invoices \
         WHERE org_id = 'acme' AND account_id = 'a1' ORDER BY boundary",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    // January's fee in advance; then 1000 x 0.10 + 9000 x 0.05 + 5000 x 0.01 = 600.00
    // of usage and February's fee.
    assert_eq!(
        billed,
        [
            (
                "2026-01-01".into(),
                "growth".into(),
                1,
                "DUE".into(),
                "99.00".into()
            ),
            (
                "2026-02-01".into(),
                "growth".into(),
                1,
                "DUE".into(),
                "699.00".into()
            ),
        ]
    );
}

/// Every column of an invoice that a reader sees, as text: account, boundary, plan
/// version, status, number, sub_total, true_up, credits, total, lines, invoice and
/// due dates.
async fn invoice_rows(pool: &sqlx::PgPool) -> Vec<Vec<Option<String>>> {
    use sqlx::Row;
    let rows = sqlx::query(
        "SELECT account_id, boundary::text, plan_version::text, status, number, sub_total::text, \
         true_up::text, credits::text, total::text, lines::text, invoice_date::text, \
         due_date::text FROM invoices WHERE org_id = 'acme' ORDER BY boundary, account_id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.iter()
        .map(|r| (0..12).map(|i| r.get::<Option<String>, _>(i)).collect())
        .collect()
}

#[tokio::test]
async fn editing_an_active_plan_never_changes_an_invoice_already_finalized() {
    let c = TestEnv::new().await;
    c.org("acme").with_plan(fixtures::growth_plan(0)).await;
    let pool = &c.db.pool;
    c.account("acme", "a1")
        .with_usage("e1", "2026-01-05T10:00:00Z", dec!(15000))
        .with_usage("e2", "2026-02-10T10:00:00Z", dec!(2000))
        .await;

    c.ok(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    let january = invoice_rows(pool).await;
    assert_eq!(january.len(), 2);
    // Feb 1: 600.00 of January's usage + February's fee, DUE.
    assert_eq!(january[1][3].as_deref(), Some("DUE"));
    assert_eq!(january[1][8].as_deref(), Some("699.00"));

    // Edit the active plan: every price changes, in a new version, finalized.
    let ops = json!({"operations": [
        {"actionType": "UPDATE", "rateCardName": "platform_fee", "rateCard": {"rateCardDetails": platform_fee(149)}},
        {"actionType": "UPDATE", "rateCardName": "api_calls", "rateCard": {"rateCardDetails": api_calls(["0.2", "0.1", "0.02"])}},
        {"actionType": "UPDATE", "rateCardName": "minimum_commitment", "rateCard": {"rateCardDetails":
            {"displayName": "Monthly minimum", "rateValues": [{"currency": "USD", "rate": 500}]}}}
    ]});
    let out = c.rate_cards("growth", &ops);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_mentions(&stdout(&out), &["plan growth version 2 DRAFT (created)"]);
    c.ok(&["plan", "finalize", "--org", "acme", "growth"]);

    // The same instant again, and a re-render of the DUE invoice: nothing moves.
    c.ok(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    c.ok(&["invoice", "rerender", "--org", "acme", "INV-2026-0002"]);
    assert_eq!(invoice_rows(pool).await, january);
    let html = c.scratch.path().join("feb.html");
    c.ok(&[
        "invoice",
        "show",
        "--org",
        "acme",
        "INV-2026-0002",
        "--html",
        html.to_str().unwrap(),
    ]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("699.00"),
        "the re-rendered document shows 699.00"
    );
    assert!(!page.contains("149.00"), "nor the new fee");

    // The next cycle: a1 is still on v1 (until it is migrated or re-attached).
    c.ok(&["run", "cycle-close", "--now", "2026-03-01T00:00:00Z"]);
    let rows = invoice_rows(pool).await;
    assert_eq!(&rows[..2], &january[..], "January's invoices are unchanged");
    let march = &rows[2];
    // February on v1: 1000 x 0.10 + 1000 x 0.05 = 150.00 of usage, + 99.00 paid in
    // advance = 249.00 < 300.00: true-up 51.00; March's fee 99.00.
    // (On v2 it would be 300.00 of usage + 149.00 = 449.00 < 500.00: true-up 51.00,
    // + March's fee 149.00 = 500.00.)
    assert_eq!(
        (
            march[1].as_deref(),
            march[2].as_deref(),
            march[5].as_deref(),
            march[6].as_deref(),
            march[8].as_deref()
        ),
        (
            Some("2026-03-01"),
            Some("1"),
            Some("249.00"),
            Some("51.00"),
            Some("300.00")
        ),
        "{march:?}"
    );
}

/// Two usage cards on the `api_calls` meter at 1.00 per call: `floor` with a
/// `minimumRate` of 10.00, `cap` with a `maximumRate` of 20.00 (monthly, day 1).
fn limits_plan() -> Value {
    let card = |name: &str, rate_config: Value| {
        json!({"name": name, "usageMeterId": "api_calls",
               "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
               "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": "1.00"}], "rateConfig": rate_config}]})
    };
    json!({
        "name": "limits",
        "supportedCurrencies": ["USD"],
        "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "1"}, "gracePeriod": 0},
        "usageRateCards": [card("floor", json!({"minimumRate": "10.00"})),
                           card("cap", json!({"maximumRate": "20.00"}))]
    })
}

#[tokio::test]
async fn card_minimum_and_maximum_are_prorated_in_a_partial_cycle_like_the_commitment() {
    let c = Cli::new().await;
    acme(&c).await;
    let pool = &c.db.pool;
    let plan = c.json_file("limits.json", &limits_plan());
    c.ok(&["plan", "apply", "--org", "acme", &plan]);
    c.ok(&["plan", "finalize", "--org", "acme", "limits"]);
    // a1 and a2 are on the plan Aug 1-15 ([Aug 1, Aug 16)): 15 of August's 31 days;
    // a3 the whole month.
    for (account, until, calls) in [
        ("a1", Some("2026-08-16"), dec!(2)),
        ("a2", Some("2026-08-16"), dec!(30)),
        ("a3", None, dec!(2)),
    ] {
        c.usd_account(account);
        let mut args = vec![
            "account",
            "attach-plan",
            "--org",
            "acme",
            account,
            "--plan",
            "limits",
            "--from",
            "2026-08-01",
        ];
        if let Some(until) = until {
            args.extend(["--until", until]);
        }
        c.ok(&args);
        let id = format!("e-{account}");
        fixtures::event(pool, "acme", &id, account, "2026-08-10T12:00:00Z", calls).await;
    }
    c.ok(&["run", "cycle-close", "--now", "2026-09-01T00:00:00Z"]);

    let totals: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT account_id, boundary::text, total::text FROM invoices \
         WHERE org_id = 'acme' ORDER BY account_id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(
        totals,
        [
            // floor: 2 x 1.00 = 2.00, minimum 10.00 x 15/31 = 4.8387 -> 4.84, so a
            // 2.84 adjustment; cap: 2.00 (below 20.00 x 15/31 = 9.68). 4.84 + 2.00.
            ("a1".into(), "2026-08-16".into(), "6.84".into()),
            // floor: 30.00 (above 4.84); cap: 30.00 clamped to 9.68 (-20.32).
            ("a2".into(), "2026-08-16".into(), "39.68".into()),
            // The whole month, unchanged: floor 2.00 + 8.00 = 10.00; cap 2.00.
            ("a3".into(), "2026-09-01".into(), "12.00".into()),
        ]
    );
    let a1 = c.json(&[
        "invoice",
        "list",
        "--org",
        "acme",
        "--account",
        "a1",
        "--json",
    ]);
    let id = a1[0]["number"].as_str().unwrap().to_string();
    let shown = c.ok(&["invoice", "show", "--org", "acme", &id, "--json"]);
    assert_mentions(
        &shown,
        &["minimum charge 4.84 (10 for 15 of 31 days)", "2.84"],
    );
    // The text words it as the documents do, in money (issue 16): 10 x 15 / 31 =
    // 4.8387 -> $4.84 of the $10.00 minimum.
    let text = c.ok(&["invoice", "show", "--org", "acme", &id]);
    assert!(
        text.contains("minimum charge $4.84 ($10.00 for 15 of 31 days)"),
        "{text}"
    );
    assert!(!text.contains("minimum charge 4.84"), "{text}");
}
