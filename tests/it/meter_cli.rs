//! `billrun meter ...` beyond create and list: a schema's versions, a meter's changes,
//! activation and deletion, with the same rules as the HTTP API (README "HTTP API",
//! "Event schemas and usage meters"), each change audited as the CLI's.

use crate::env::TestEnv;
use crate::fixtures;

#[tokio::test]
async fn meter_commands_change_schemas_and_meters_under_the_apis_rules() {
    let c = TestEnv::new().await;
    // Schema `api` (calls; region), meter `api_calls` (SUM calls), plan growth naming it.
    c.org("acme").with_plan(fixtures::growth_plan(0)).await;
    let o = ["--org", "acme"];
    let with = |args: &[&'static str]| -> Vec<&str> { args.iter().chain(&o).copied().collect() };

    // Adding an attribute: version 2; removing one is refused, naming it.
    let out = c.ok(&with(&[
        "meter",
        "update-schema",
        "api",
        "--attributes",
        "calls,tokens",
    ]));
    assert_eq!(out.trim(), "event schema api is at version 2");
    let err = c.fails(&with(&[
        "meter",
        "update-schema",
        "api",
        "--attributes",
        "tokens",
    ]));
    assert!(
        err.contains("attributes: [\"calls\"] cannot be removed"),
        "{err}"
    );
    let versions = c.json(&with(&["meter", "schema-versions", "api", "--json"]));
    assert_eq!(versions[0]["schema"]["version"], 1);
    assert_eq!(
        versions[0]["schema"]["attributes"],
        serde_json::json!(["calls"])
    );
    assert_eq!(versions[0]["current"], false);
    assert_eq!(
        versions[1]["schema"]["attributes"],
        serde_json::json!(["calls", "tokens"])
    );
    assert_eq!(versions[1]["current"], true);
    let table = c.ok(&with(&["meter", "schema-versions", "api"]));
    assert!(
        table.lines().nth(1).unwrap().contains("ARCHIVED"),
        "{table}"
    );

    // The plan names api_calls: what it measures stays, its name may change.
    let err = c.fails(&with(&[
        "meter",
        "update",
        "api_calls",
        "--filter",
        "region=eu",
    ]));
    assert!(
        err.contains("is named by the rate cards of price plan \"growth\" version 1 (ACTIVE)"),
        "{err}"
    );
    c.ok(&with(&[
        "meter",
        "update",
        "api_calls",
        "--name",
        "API requests",
    ]));
    let shown = c.json(&with(&["meter", "show", "api_calls", "--json"]));
    assert_eq!(shown["name"], "API requests");
    assert_eq!(shown["filters"], serde_json::json!({}));
    assert_eq!(shown["status"], "ACTIVE");
    assert!(c
        .fails(&with(&["meter", "deactivate", "api_calls"]))
        .contains("cannot be deactivated"));
    assert!(c
        .fails(&with(&["meter", "deactivate-schema", "api"]))
        .contains("[\"api_calls\"]"));

    // A meter no plan names: changed, deactivated, deleted; then its schema.
    c.ok(&[
        "meter",
        "create-schema",
        "solo",
        "--org",
        "acme",
        "--attributes",
        "n",
    ]);
    c.ok(&[
        "meter",
        "create",
        "solo_n",
        "--org",
        "acme",
        "--schema",
        "solo",
        "--aggregation",
        "COUNT",
    ]);
    c.ok(&with(&[
        "meter",
        "update",
        "solo_n",
        "--aggregation",
        "SUM",
        "--attribute",
        "n",
    ]));
    let shown = c.json(&with(&["meter", "show", "solo_n", "--json"]));
    assert_eq!(
        (shown["aggregation"].clone(), shown["attribute"].clone()),
        ("SUM".into(), "n".into())
    );
    c.ok(&with(&["meter", "deactivate", "solo_n"]));
    let list = c.ok(&with(&["meter", "list"]));
    assert!(
        list.lines()
            .any(|l| l.starts_with("solo_n") && l.contains("INACTIVE")),
        "{list}"
    );
    assert!(c
        .fails(&with(&["meter", "delete-schema", "solo"]))
        .contains("[\"solo_n\"]"));
    c.ok(&with(&["meter", "delete", "solo_n"]));
    c.ok(&with(&["meter", "delete-schema", "solo"]));
    assert!(!c.ok(&with(&["meter", "list"])).contains("solo"));

    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT action, object_id, outcome FROM audit_log WHERE org_id = 'acme'
           AND actor_kind = 'CLI' AND action NOT LIKE '%.create' ORDER BY id",
    )
    .fetch_all(c.pool())
    .await
    .unwrap();
    let row = |a: &str, o: &str, out: &str| (a.to_string(), o.to_string(), out.to_string());
    assert_eq!(
        rows,
        [
            row("event_schema.update", "api", "SUCCESS"),
            row("event_schema.update", "api", "FAILURE"),
            row("usage_meter.update", "api_calls", "FAILURE"),
            row("usage_meter.update", "api_calls", "SUCCESS"),
            row("usage_meter.deactivate", "api_calls", "FAILURE"),
            row("event_schema.deactivate", "api", "FAILURE"),
            row("usage_meter.update", "solo_n", "SUCCESS"),
            row("usage_meter.deactivate", "solo_n", "SUCCESS"),
            row("event_schema.delete", "solo", "FAILURE"),
            row("usage_meter.delete", "solo_n", "SUCCESS"),
            row("event_schema.delete", "solo", "SUCCESS"),
        ]
    );
}

#[tokio::test]
async fn meter_create_takes_computations_and_refuses_one_that_does_not_parse() {
    let c = TestEnv::new().await;
    // Schema `api` (calls; region), no plan naming the new meters.
    c.org("acme").await;
    let o = ["--org", "acme"];
    let with = |args: &[&'static str]| -> Vec<&str> { args.iter().chain(&o).copied().collect() };

    let eu = r#"[{"matcher": "{\"==\": [{\"var\": \"dimensions.region\"}, \"eu\"]}",
                  "computation": "{\"*\": [{\"var\": \"attributes.calls\"}, 2]}", "order": 1}]"#;
    c.ok(&with(&[
        "meter",
        "create",
        "eu_calls",
        "--schema",
        "api",
        "--aggregation",
        "SUM",
        "--computations",
        eu,
    ]));
    let list = c.json(&with(&["meter", "list", "--json"]));
    let m = list["usageMeters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "eu_calls")
        .unwrap()
        .clone();
    assert_eq!(m["attribute"], serde_json::Value::Null, "{m}");
    assert_eq!(m["computations"][0]["order"], 1, "{m}");
    assert!(c.ok(&with(&["meter", "list"])).contains("1 computation(s)"));

    // The simple case stays simple: one bare attribute name, no matcher.
    c.ok(&with(&[
        "meter",
        "create",
        "plain",
        "--schema",
        "api",
        "--aggregation",
        "SUM",
        "--computations",
        r#"[{"computation": "calls", "order": 1}]"#,
    ]));
    let plain = c.json(&with(&["meter", "show", "plain", "--json"]));
    assert_eq!(plain["attribute"], "calls", "{plain}");
    assert_eq!(plain["computations"], serde_json::json!([]), "{plain}");

    let err = c.fails(&with(&[
        "meter",
        "create",
        "bad",
        "--schema",
        "api",
        "--aggregation",
        "COUNT",
        "--computations",
        r#"[{"matcher": "{\"in\": [", "computation": "1", "order": 1}]"#,
    ]));
    assert!(
        err.contains("computations[0].matcher") && err.contains("usage meter \"bad\""),
        "{err}"
    );
}
