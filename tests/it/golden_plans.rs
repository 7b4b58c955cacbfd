//! Golden plan files (`tests/fixtures/golden_plans/<kind>.json`): a Togai-shaped plan
//! per card kind billrun bills (and one with pricing rules), each with every field its
//! kind has, written in billrun's canonical form. `billrun plan apply` then `billrun
//! plan show --json` must give the very same document back: a field the writer drops,
//! renames or reformats fails its kind's test.

use serde_json::Value;

use crate::fixtures;
use crate::harness::*;

/// Applies the golden file of `kind` to a fresh organisation through the real CLI and
/// compares the stored definition `plan show --json` answers with the file.
async fn round_trip(kind: &str) {
    round_trip_with_add_ons(kind, &[]).await;
}

/// [`round_trip`] in an organisation that has these add-ons (`(id, type)`, created by
/// `billrun addon create` before `plan apply`, which checks the cards' `addOnId`).
async fn round_trip_with_add_ons(kind: &str, add_ons: &[(&str, &str)]) {
    let path = format!(
        "{}/tests/fixtures/golden_plans/{kind}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let golden: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let name = golden["name"].as_str().expect("a golden plan has a name");
    let c = Cli::new().await;
    fixtures::org(&c.db.pool, "acme", "UTC", "INV-{YYYY}-{SEQ:4}", 15).await;
    for (id, t) in add_ons {
        c.ok(&["addon", "create", "--org", "acme", id, "--type", t]);
    }
    let file = c.write(&format!("{kind}.json"), &text);
    c.ok(&["plan", "apply", "--org", "acme", &file]);
    let shown = c.json(&["plan", "show", "--org", "acme", name, "--json"]);
    assert_eq!(
        shown["definition"],
        golden,
        "{kind}: plan show --json differs from {path}:\n{}",
        serde_json::to_string_pretty(&shown["definition"]).unwrap()
    );
}

#[tokio::test]
async fn golden_usage_card_round_trips() {
    round_trip("usage").await;
}

#[tokio::test]
async fn golden_fixed_fee_cards_round_trip() {
    round_trip("fixed_fee").await;
}

#[tokio::test]
async fn golden_license_cards_round_trip() {
    round_trip("license").await;
}

#[tokio::test]
async fn golden_minimum_commitment_round_trips() {
    round_trip("minimum_commitment").await;
}

#[tokio::test]
async fn golden_credit_grant_cards_round_trip() {
    round_trip("credit_grant").await;
}

#[tokio::test]
async fn golden_pricing_rules_round_trip() {
    round_trip("pricing_rules").await;
}

#[tokio::test]
async fn golden_add_on_cards_round_trip() {
    round_trip_with_add_ons(
        "add_ons",
        &[
            ("priority_support", "FIXED_FEE"),
            ("extra_seats", "LICENSE"),
            ("credit_pack", "CREDIT_GRANT"),
        ],
    )
    .await;
}

#[tokio::test]
async fn golden_named_license_cards_round_trip() {
    round_trip_with_add_ons("named_license", &[("named_users", "NAMED_LICENSE")]).await;
}
