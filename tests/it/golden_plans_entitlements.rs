//! Golden plans of the two feature card kinds (issue 17): each file of
//! `tests/fixtures/golden_plans/` is a Togai-shaped plan in billrun's canonical form;
//! `billrun plan apply` then `billrun plan show --json` gives back the same document,
//! so a stored plan with these cards keeps its meaning.

use serde_json::Value;

use crate::fixtures;
use crate::harness::*;

/// Applies the golden file `name` to a fresh organisation and returns (the file, the
/// stored definition `plan show --json` prints).
async fn round_trip(name: &str) -> (Value, Value) {
    let path = format!(
        "{}/tests/fixtures/golden_plans/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let golden: Value = serde_json::from_str(&text).unwrap();
    let c = Cli::new().await;
    fixtures::org(&c.db.pool, "acme", "UTC", "INV-{SEQ:4}", 15).await;
    let plan = golden["name"].as_str().unwrap().to_string();
    c.ok(&["plan", "apply", "--org", "acme", &path]);
    let shown = c.json(&["plan", "show", "--org", "acme", &plan, "--json"]);
    (golden, shown["definition"].clone())
}

#[tokio::test]
async fn billing_entitlement_golden_plan_round_trips() {
    let (golden, shown) = round_trip("billing_entitlement.json").await;
    assert_eq!(shown, golden);
}

#[tokio::test]
async fn entitlement_overage_golden_plan_round_trips() {
    let (golden, shown) = round_trip("entitlement_overage.json").await;
    assert_eq!(shown, golden);
}
