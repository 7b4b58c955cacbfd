//! The catalog through the real `billrun` binary: organisations and their settings,
//! refusals that name the field, the plan version lifecycle, usage ingest with
//! per-line rejections, alias moves, tenant isolation, license idempotency.

use std::path::Path;

use billrun::catalog::usage::{self, NewEvent};
use billrun_core::plan::Plan;
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::dates::utc;
use crate::harness::*;

impl Cli {
    /// An organisation in USD and EUR with a customer, an event schema `api`
    /// (attribute tokens, dimension region) and the meter the example plan prices.
    fn org_with_meter(&self, org: &str) {
        self.ok(&[
            "org",
            "create",
            org,
            "--base-currency",
            "USD",
            "--currencies",
            "USD,EUR",
        ]);
        self.ok(&[
            "customer", "create", "--org", org, "cust", "--name", "Customer",
        ]);
        self.ok(&[
            "meter",
            "create-schema",
            "--org",
            org,
            "api",
            "--attributes",
            "tokens",
            "--dimensions",
            "region",
        ]);
        self.ok(&[
            "meter",
            "create",
            "--org",
            org,
            "api_calls_meter",
            "--schema",
            "api",
            "--aggregation",
            "COUNT",
        ]);
    }

    fn account(&self, org: &str, id: &str, currency: &str) {
        self.ok(&[
            "account",
            "create",
            "--org",
            org,
            id,
            "--customer",
            "cust",
            "--invoice-currency",
            currency,
        ]);
    }
}

fn plan_fixture() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plan_growth.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn assert_mentions(text: &str, fragments: &[&str]) {
    for f in fragments {
        assert!(text.contains(f), "expected {f:?} in:\n{text}");
    }
}

#[tokio::test]
async fn org_settings_round_trip_through_create_configure_and_show() {
    let c = Cli::new().await;
    c.ok(&[
        "org",
        "create",
        "acme",
        "--name",
        "Acme GmbH",
        "--timezone",
        "Europe/Berlin",
        "--base-currency",
        "EUR",
        "--currencies",
        "USD",
    ]);
    let org = c.json(&["org", "show", "acme", "--json"]);
    assert_eq!(org["name"], "Acme GmbH");
    assert_eq!(org["timezone"], "Europe/Berlin");
    assert_eq!(org["baseCurrency"], "EUR");
    assert_eq!(
        org["enabledCurrencies"],
        json!(["EUR", "USD"]),
        "base first, always enabled"
    );
    assert_eq!(org["netTermDays"], 30);
    assert_eq!(org["invoiceNumberFormat"], "INV-{YYYY}-{SEQ:6}");
    assert_eq!(org["roundingMode"], "HALF_AWAY_FROM_ZERO");
    assert_eq!(org["billingEmail"], Value::Null);

    c.ok(&[
        "org",
        "configure",
        "acme",
        "--timezone",
        "America/New_York",
        "--net-term-days",
        "45",
        "--invoice-number-format",
        "ACME-{YY}{MM}-{SEQ:4}",
        "--rounding-mode",
        "HALF_EVEN",
        "--billing-email",
        "ap@acme.example",
        "--currencies",
        "USD,JPY",
    ]);
    let org = c.json(&["org", "show", "acme", "--json"]);
    assert_eq!(org["timezone"], "America/New_York");
    assert_eq!(org["netTermDays"], 45);
    assert_eq!(org["invoiceNumberFormat"], "ACME-{YY}{MM}-{SEQ:4}");
    assert_eq!(org["roundingMode"], "HALF_EVEN");
    assert_eq!(org["billingEmail"], "ap@acme.example");
    assert_eq!(org["enabledCurrencies"], json!(["EUR", "USD", "JPY"]));
    assert_eq!(
        org["name"], "Acme GmbH",
        "flags not given are left as they were"
    );

    c.ok(&["org", "configure", "acme", "--no-billing-email"]);
    let list = c.json(&["org", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], "acme");
    assert_eq!(list[0]["billingEmail"], Value::Null);
    assert_mentions(
        &c.ok(&["org", "show", "acme"]),
        &["America/New_York", "ACME-{YY}{MM}-{SEQ:4}"],
    );
}

#[tokio::test]
async fn bad_settings_are_refused_naming_the_field() {
    let c = Cli::new().await;
    let create = |extra: &[&str]| {
        let mut args = vec!["org", "create", "bad", "--base-currency", "USD"];
        args.extend_from_slice(extra);
        c.fails(&args)
    };
    assert_mentions(
        &create(&["--timezone", "Mars/Olympus"]),
        &["timezone", "Mars/Olympus", "IANA"],
    );
    assert_mentions(
        &create(&["--currencies", "EUR,ABC"]),
        &["enabledCurrencies[1]", "ABC"],
    );
    assert_mentions(
        &create(&["--invoice-number-format", "INV-{MM}-{SEQ}"]),
        &["invoiceNumberFormat"],
    );
    assert_mentions(
        &create(&["--invoice-number-format", "INV-{SEQ:0}"]),
        &["invoiceNumberFormat"],
    );
    assert_mentions(&create(&["--net-term-days", "-3"]), &["netTermDays"]);
    assert_mentions(&create(&["--rounding-mode", "BANKERS"]), &["roundingMode"]);
    assert_mentions(
        &create(&["--billing-email", "not-an-email"]),
        &["billingEmail"],
    );
    assert_mentions(
        &c.fails(&["org", "create", "bad", "--base-currency", "usd"]),
        &["baseCurrency", "ISO 4217"],
    );
    assert_mentions(
        &c.fails(&["org", "create", "bad"]),
        &["baseCurrency", "required"],
    );
    assert_eq!(
        c.json(&["org", "list", "--json"]),
        json!([]),
        "nothing was written"
    );

    c.ok(&["org", "create", "acme", "--base-currency", "USD"]);
    c.ok(&[
        "customer", "create", "--org", "acme", "cust", "--name", "Customer",
    ]);
    assert_mentions(
        &c.fails(&[
            "account",
            "create",
            "--org",
            "acme",
            "acc",
            "--customer",
            "cust",
            "--invoice-currency",
            "EUR",
        ]),
        &["invoiceCurrency", "EUR is not enabled", "USD"],
    );
    assert_mentions(
        &c.fails(&[
            "account",
            "create",
            "--org",
            "acme",
            "acc",
            "--customer",
            "cust",
            "--invoice-currency",
            "USD",
            "--timezone",
            "Europe/Pariss",
        ]),
        &["timezone", "Europe/Pariss"],
    );
    assert_mentions(
        &c.fails(&[
            "account",
            "create",
            "--org",
            "acme",
            "acc",
            "--customer",
            "nobody",
            "--invoice-currency",
            "USD",
        ]),
        &["customer", "nobody"],
    );
    assert_mentions(
        &c.fails(&[
            "customer",
            "create",
            "--org",
            "acme",
            "c2",
            "--name",
            "X",
            "--country",
            "France",
        ]),
        &["address.country"],
    );

    // A currency an account invoices in cannot be disabled.
    c.ok(&["org", "configure", "acme", "--currencies", "USD,EUR"]);
    c.account("acme", "acc-eur", "EUR");
    assert_mentions(
        &c.fails(&["org", "configure", "acme", "--currencies", "USD"]),
        &["enabledCurrencies", "acc-eur (EUR)"],
    );
    assert_mentions(
        &c.fails(&[
            "customer", "create", "--org", "acme", "cust", "--name", "Again",
        ]),
        &["customer with this id exists already"],
    );
}

#[tokio::test]
async fn plan_versions_go_from_draft_to_active_and_finalized_ones_never_change() {
    let c = Cli::new().await;
    c.ok(&[
        "org",
        "create",
        "acme",
        "--base-currency",
        "USD",
        "--currencies",
        "USD,EUR",
    ]);
    c.ok(&[
        "customer", "create", "--org", "acme", "cust", "--name", "Customer",
    ]);
    c.account("acme", "acc", "USD");
    let fixture = c.write("growth.json", &plan_fixture().to_string());

    assert_mentions(
        &c.ok(&["plan", "apply", "--org", "acme", &fixture]),
        &["plan growth version 1 DRAFT (created)"],
    );
    assert_mentions(
        &c.ok(&["plan", "apply", "--org", "acme", &fixture]),
        &["version 1 DRAFT (unchanged)"],
    );
    assert_mentions(
        &c.fails(&[
            "account",
            "attach-plan",
            "--org",
            "acme",
            "acc",
            "--plan",
            "growth",
            "--from",
            "2026-01-01",
        ]),
        &["no ACTIVE version"],
    );
    assert_mentions(
        &c.fails(&[
            "account",
            "attach-plan",
            "--org",
            "acme",
            "acc",
            "--plan",
            "growth",
            "--version",
            "1",
            "--from",
            "2026-01-01",
        ]),
        &[
            "version 1 is DRAFT",
            "only an ACTIVE version can be attached",
        ],
    );
    // The plan prices a meter that does not exist yet: finalizing would freeze that.
    assert_mentions(
        &c.fails(&["plan", "finalize", "--org", "acme", "growth"]),
        &["usageRateCards[0].usageMeterId", "api_calls_meter"],
    );
    c.ok(&[
        "meter",
        "create-schema",
        "--org",
        "acme",
        "api",
        "--attributes",
        "tokens",
    ]);
    c.ok(&[
        "meter",
        "create",
        "--org",
        "acme",
        "api_calls_meter",
        "--schema",
        "api",
        "--aggregation",
        "COUNT",
    ]);
    assert_mentions(
        &c.ok(&["plan", "finalize", "--org", "acme", "growth"]),
        &["plan growth version 1 ACTIVE"],
    );
    assert_mentions(
        &c.ok(&[
            "account",
            "attach-plan",
            "--org",
            "acme",
            "acc",
            "--plan",
            "growth",
            "--from",
            "2026-01-01",
        ]),
        &["account acc on growth v1 from 2026-01-01"],
    );

    // Applying to a finalized plan opens the next version as a draft; edits go there.
    assert_mentions(
        &c.ok(&["plan", "apply", "--org", "acme", &fixture]),
        &["plan growth version 2 DRAFT (created)"],
    );
    let mut edited = plan_fixture();
    edited["fixedFeeRateCards"][0]["rateValues"][0]["rate"] = json!(149);
    let edited_file = c.write("growth-v2.json", &edited.to_string());
    assert_mentions(
        &c.ok(&["plan", "apply", "--org", "acme", &edited_file]),
        &["version 2 DRAFT (draft updated)"],
    );
    let versions = c.json(&["plan", "versions", "--org", "acme", "growth", "--json"]);
    let summary: Vec<_> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_u64().unwrap(),
                v["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![(1, "ACTIVE".to_string()), (2, "DRAFT".to_string())]
    );

    let canonical = Plan::from_json(&plan_fixture()).unwrap().to_json();
    let v1 = c.json(&[
        "plan",
        "show",
        "--org",
        "acme",
        "growth",
        "--version",
        "1",
        "--json",
    ]);
    assert_eq!(
        v1["definition"], canonical,
        "v1 keeps the definition it was finalized with"
    );
    let v2 = c.json(&["plan", "show", "--org", "acme", "growth", "--json"]);
    assert_eq!(v2["version"], 2);
    let usd_fee = v2["definition"]["fixedFeeRateCards"][0]["rateValues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["currency"] == "USD")
        .cloned();
    assert_eq!(usd_fee, Some(json!({"currency": "USD", "rate": "149"})));

    assert_mentions(
        &c.fails(&[
            "plan",
            "finalize",
            "--org",
            "acme",
            "growth",
            "--version",
            "1",
        ]),
        &["version 1 is ACTIVE already"],
    );
    // Even a direct write cannot change a finalized version.
    let direct = sqlx::query(
        "UPDATE price_plan_versions SET definition = '{}' WHERE org_id = 'acme' AND version = 1",
    )
    .execute(&c.db.pool)
    .await
    .unwrap_err();
    assert!(direct.to_string().contains("cannot change"), "{direct}");

    c.ok(&["plan", "finalize", "--org", "acme", "growth"]);
    // A plan change: v2 from March closes the open v1 period.
    c.ok(&[
        "account",
        "attach-plan",
        "--org",
        "acme",
        "acc",
        "--plan",
        "growth",
        "--from",
        "2026-03-01",
    ]);
    assert_mentions(
        &c.fails(&[
            "account",
            "attach-plan",
            "--org",
            "acme",
            "acc",
            "--plan",
            "growth",
            "--version",
            "1",
            "--from",
            "2026-02-01",
            "--until",
            "2026-04-01",
        ]),
        &["overlap"],
    );
    let account = c.json(&["account", "show", "--org", "acme", "acc", "--json"]);
    let periods: Vec<_> = account["planAssociations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["planVersion"].as_u64().unwrap(),
                p["effectiveFrom"].as_str().unwrap().to_string(),
                p["effectiveUntil"].clone(),
            )
        })
        .collect();
    assert_eq!(
        periods,
        vec![
            (1, "2026-01-01".to_string(), json!("2026-03-01")),
            (2, "2026-03-01".to_string(), Value::Null),
        ]
    );

    // An account in a currency the plan cannot price is refused.
    c.ok(&["org", "configure", "acme", "--currencies", "USD,EUR,GBP"]);
    c.account("acme", "acc-gbp", "GBP");
    assert_mentions(
        &c.fails(&[
            "account",
            "attach-plan",
            "--org",
            "acme",
            "acc-gbp",
            "--plan",
            "growth",
            "--from",
            "2026-01-01",
        ]),
        &["invoices in GBP", "cannot price GBP"],
    );
}

#[tokio::test]
async fn invalid_plan_files_are_refused_naming_the_field() {
    let c = Cli::new().await;
    c.ok(&[
        "org",
        "create",
        "acme",
        "--base-currency",
        "USD",
        "--currencies",
        "USD,EUR,GBP",
    ]);
    let refused = |name: &str, change: &dyn Fn(&mut Value)| {
        let mut plan = plan_fixture();
        change(&mut plan);
        let file = c.write(name, &plan.to_string());
        c.fails(&["plan", "apply", "--org", "acme", &file])
    };
    assert_mentions(
        &refused("type.json", &|p| {
            p["usageRateCards"][0]["type"] = json!("METERED")
        }),
        &[
            "the plan is invalid",
            "usageRateCards[0].type",
            "expected USAGE",
        ],
    );
    assert_mentions(
        &refused("kind.json", &|p| {
            p["billingEntitlementRateCards"] = json!("all")
        }),
        &["billingEntitlementRateCards", "expected"],
    );
    assert_mentions(
        &refused("slabs.json", &|p| {
            let slabs: Vec<_> = (1..=101)
                .map(|i| json!({"order": i, "startAfter": i * 10, "priceType": "PER_UNIT"}))
                .collect();
            p["licenseRateCards"][0]["ratePlan"]["slabs"] = json!(slabs);
        }),
        &["licenseRateCards[0].ratePlan.slabs", "101 slabs"],
    );
    assert_mentions(
        &refused("rate.json", &|p| {
            p["supportedCurrencies"] = json!(["USD", "EUR", "GBP"])
        }),
        &["usageRateCards[0].rateValues", "no rate for GBP"],
    );
    // Valid in itself, but in a currency the organisation does not bill in.
    c.ok(&["org", "configure", "acme", "--currencies", "USD"]);
    assert_mentions(
        &refused("eur.json", &|_| {}),
        &["supportedCurrencies[1]", "EUR is not enabled"],
    );
    let not_json = c.write("broken.json", "{\"name\": ");
    assert_mentions(
        &c.fails(&["plan", "apply", "--org", "acme", &not_json]),
        &["not JSON"],
    );
    assert_eq!(
        c.json(&["plan", "list", "--org", "acme", "--json"]),
        json!([])
    );
}

#[tokio::test]
async fn usage_ingest_counts_and_reports_every_bad_line() {
    let c = Cli::new().await;
    c.org_with_meter("acme");
    c.account("acme", "acc-1", "USD");
    c.account("acme", "acc-2", "EUR");
    c.ok(&[
        "account",
        "add-alias",
        "--org",
        "acme",
        "acc-2",
        "device-7",
        "--from",
        "2026-01-01",
    ]);
    let event = |id: &str, who: (&str, &str), ts: &str, tokens: Value| {
        json!({"schemaName": "api", "id": id, "timestamp": ts, who.0: who.1,
               "attributes": [{"name": "tokens", "value": tokens, "unit": "k"}],
               "dimensions": {"region": "eu"}})
        .to_string()
    };
    let lines = [
        event(
            "e1",
            ("accountId", "acc-1"),
            "2026-01-10T12:00:00Z",
            json!(3),
        ),
        event(
            "e2",
            ("alias", "device-7"),
            "2026-01-11T12:00:00+01:00",
            json!("12.50"),
        ),
        event(
            "e1",
            ("accountId", "acc-1"),
            "2026-01-10T12:00:00Z",
            json!(3),
        ),
        event(
            "e3",
            ("accountId", "ghost"),
            "2026-01-10T12:00:00Z",
            json!(1),
        ),
        event("e4", ("alias", "nobody"), "2026-01-10T12:00:00Z", json!(1)),
        event("e5", ("accountId", "acc-1"), "last tuesday", json!(1)),
        String::new(),
        "{\"schemaName\": \"api\", ".to_string(),
        event(
            "e6",
            ("accountId", "acc-1"),
            "2026-01-10T12:00:00Z",
            json!("lots"),
        ),
        event(
            "e7",
            ("accountId", "acc-1"),
            "2026-01-10T12:00:00Z",
            json!(1),
        )
        .replace("\"api\"", "\"web\""),
        event(
            "e8",
            ("accountId", "device-7"),
            "2026-01-12T00:00:00Z",
            json!(0.1),
        ),
        "{\"schemaName\": \"api\", \"id\": \"e9\", \"accountId\": \"acc-1\"}".to_string(),
    ];
    // Written with a UTF-8 byte order mark, as Windows tools write text: line 1 still
    // parses.
    let file = c.write("events.jsonl", &format!("\u{feff}{}\n", lines.join("\n")));

    let out = c.run(&["usage", "ingest", "--org", "acme", &file]);
    assert!(
        !out.status.success(),
        "rejected lines make the command fail"
    );
    assert_mentions(
        &stdout(&out),
        &["read 11, inserted 3, duplicates 1, rejected 7"],
    );
    let err = stderr(&out);
    assert_mentions(
        &err,
        &[
            "line 4: accountId: unknown account or alias \"ghost\"",
            "line 5: alias: unknown alias \"nobody\"",
            "line 6: timestamp: \"last tuesday\"",
            "line 8: not valid JSON",
            "line 9: attributes[0].value",
            "line 10: schemaName: unknown event schema \"web\"",
            "line 12: missing field \"timestamp\"",
            "7 of 11 lines rejected",
        ],
    );
    for ok_line in ["line 1:", "line 2:", "line 3:", "line 7:", "line 11:"] {
        assert!(!err.contains(ok_line), "{ok_line} was not rejected:\n{err}");
    }

    let rows: Vec<(String, String, DateTime<Utc>, Value)> = sqlx::query_as(
        "SELECT id, account_id, ts, attributes FROM usage_events WHERE org_id = 'acme' ORDER BY id",
    )
    .fetch_all(&c.db.pool)
    .await
    .unwrap();
    let got: Vec<_> = rows
        .iter()
        .map(|(id, acc, ts, attrs)| {
            (
                id.as_str(),
                acc.as_str(),
                ts.to_rfc3339(),
                attrs["tokens"].clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "e1",
                "acc-1",
                "2026-01-10T12:00:00+00:00".to_string(),
                json!("3")
            ),
            (
                "e2",
                "acc-2",
                "2026-01-11T11:00:00+00:00".to_string(),
                json!("12.50")
            ),
            (
                "e8",
                "acc-2",
                "2026-01-12T00:00:00+00:00".to_string(),
                json!("0.1")
            ),
        ],
        "alias resolved, exact decimals, timestamps in UTC"
    );

    // The same file again: every good line is a duplicate now.
    let report: Value = serde_json::from_str(&stdout(
        &c.run(&["usage", "ingest", "--org", "acme", &file, "--json"]),
    ))
    .unwrap();
    assert_eq!(report["read"], 11);
    assert_eq!(report["inserted"], 0);
    assert_eq!(report["duplicates"], 4);
    assert_eq!(report["rejected"], 7);
    assert_eq!(
        report["rejectedLines"][0],
        json!({"line": 4, "reason": "accountId: unknown account or alias \"ghost\""})
    );

    let good = c.write(
        "good.jsonl",
        &event(
            "e10",
            ("accountId", "acc-1"),
            "2026-01-13T00:00:00Z",
            json!(2),
        ),
    );
    assert_mentions(
        &c.ok(&["usage", "ingest", "--org", "acme", &good]),
        &["read 1, inserted 1, duplicates 0, rejected 0"],
    );
}

#[tokio::test]
async fn an_event_id_resent_with_other_values_is_reported_as_a_conflict() {
    let c = Cli::new().await;
    c.org_with_meter("acme");
    c.account("acme", "acc-1", "USD");
    c.ok(&[
        "account",
        "add-alias",
        "--org",
        "acme",
        "acc-1",
        "dev-1",
        "--from",
        "2026-01-01",
    ]);
    let event = |id: &str, who: (&str, &str), ts: &str, tokens: Value, region: &str| {
        json!({"schemaName": "api", "id": id, "timestamp": ts, who.0: who.1,
               "attributes": [{"name": "tokens", "value": tokens}],
               "dimensions": {"region": region}})
        .to_string()
    };
    let first = c.write(
        "first.jsonl",
        &[
            event(
                "e1",
                ("accountId", "acc-1"),
                "2026-01-10T12:00:00Z",
                json!(3),
                "eu",
            ),
            event(
                "e2",
                ("accountId", "acc-1"),
                "2026-01-10T13:00:00Z",
                json!(4),
                "eu",
            ),
        ]
        .join("\n"),
    );
    assert_mentions(
        &c.ok(&["usage", "ingest", "--org", "acme", &first]),
        &["read 2, inserted 2, duplicates 0, rejected 0, conflicts 0"],
    );
    let lines = [
        // The same event: 3.0 is 3, dev-1 routes to acc-1, +01:00 is the same instant.
        event(
            "e1",
            ("alias", "dev-1"),
            "2026-01-10T13:00:00+01:00",
            json!("3.0"),
            "eu",
        ),
        // Other values under recorded ids.
        event(
            "e1",
            ("accountId", "acc-1"),
            "2026-01-10T12:00:00Z",
            json!(5),
            "eu",
        ),
        event(
            "e2",
            ("accountId", "acc-1"),
            "2026-01-11T13:00:00Z",
            json!(4),
            "us",
        ),
        // New, then resent in the same file with another value.
        event(
            "e3",
            ("accountId", "acc-1"),
            "2026-01-12T00:00:00Z",
            json!(1),
            "eu",
        ),
        event(
            "e3",
            ("accountId", "acc-1"),
            "2026-01-12T00:00:00Z",
            json!(2),
            "eu",
        ),
    ];
    let second = c.write("second.jsonl", &lines.join("\n"));
    let out = c.run(&["usage", "ingest", "--org", "acme", &second]);
    assert!(!out.status.success(), "conflicts make the command fail");
    assert_mentions(
        &stdout(&out),
        &["read 5, inserted 1, duplicates 1, rejected 0, conflicts 3"],
    );
    let err = stderr(&out);
    assert_mentions(
        &err,
        &[
            "line 2: conflict: event id \"e1\" is already recorded with other values \
             (attribute tokens: 5, recorded 3); the recorded event is kept: give a changed event \
             a new id",
            "line 3: conflict: event id \"e2\" is already recorded with other values \
             (timestamp 2026-01-11T13:00:00Z, recorded 2026-01-10T13:00:00Z; dimension region: \
             \"us\", recorded \"eu\")",
            "line 5: conflict: event id \"e3\" is already recorded with other values \
             (attribute tokens: 2, recorded 1)",
            "0 of 5 lines rejected, 3 in conflict with recorded events",
        ],
    );
    assert!(
        !err.contains("line 1:") && !err.contains("line 4:"),
        "{err}"
    );
    let report: Value = serde_json::from_str(&stdout(
        &c.run(&["usage", "ingest", "--org", "acme", &second, "--json"]),
    ))
    .unwrap();
    assert_eq!(report["conflicts"], 3);
    assert_eq!(report["duplicates"], 2, "e1 and e3 as first recorded");
    assert_eq!(report["conflictLines"][0]["line"], 2);
    assert_eq!(report["conflictLines"][0]["id"], "e1");
    let kept: Vec<(String, Value)> =
        sqlx::query_as("SELECT id, attributes FROM usage_events WHERE org_id = 'acme' ORDER BY id")
            .fetch_all(&c.db.pool)
            .await
            .unwrap();
    assert_eq!(
        kept,
        vec![
            ("e1".to_string(), json!({"tokens": "3"})),
            ("e2".to_string(), json!({"tokens": "4"})),
            ("e3".to_string(), json!({"tokens": "1"})),
        ],
        "the recorded events are kept"
    );
}

#[tokio::test]
async fn text_over_its_limit_is_refused_by_the_cli_naming_field_and_limit() {
    let c = Cli::new().await;
    c.org_with_meter("acme");
    let long_id = "a".repeat(51);
    let long_name = "n".repeat(256);
    assert_mentions(
        &c.fails(&[
            "customer", "create", "--org", "acme", &long_id, "--name", "C",
        ]),
        &["id: is 51 characters long, at most 50 are allowed"],
    );
    assert_mentions(
        &c.fails(&[
            "account",
            "create",
            "--org",
            "acme",
            "acc",
            "--customer",
            "cust",
            "--name",
            &long_name,
            "--invoice-currency",
            "USD",
        ]),
        &["name: is 256 characters long, at most 255 are allowed"],
    );
    // 255 characters is the limit, not over it.
    c.ok(&[
        "account",
        "create",
        "--org",
        "acme",
        "acc",
        "--customer",
        "cust",
        "--name",
        &"n".repeat(255),
        "--invoice-currency",
        "USD",
    ]);
}

#[tokio::test]
async fn a_moved_alias_routes_events_by_their_timestamp() {
    let c = Cli::new().await;
    c.org_with_meter("acme");
    c.account("acme", "old", "USD");
    c.account("acme", "new", "USD");
    c.ok(&[
        "account",
        "add-alias",
        "--org",
        "acme",
        "old",
        "sensor-1",
        "--from",
        "2026-01-01T00:00:00Z",
    ]);
    assert_mentions(
        &c.ok(&[
            "account",
            "add-alias",
            "--org",
            "acme",
            "new",
            "sensor-1",
            "--from",
            "2026-02-01T00:00:00Z",
        ]),
        &[
            "no longer routes to old",
            "routes to new from 2026-02-01T00:00:00+00:00",
        ],
    );
    // History is only appended to.
    assert_mentions(
        &c.fails(&[
            "account",
            "add-alias",
            "--org",
            "acme",
            "old",
            "sensor-1",
            "--from",
            "2026-01-15T00:00:00Z",
        ]),
        &["sensor-1", "must start after"],
    );
    let event = |id: &str, ts: &str| {
        json!({"schemaName": "api", "id": id, "timestamp": ts, "alias": "sensor-1",
               "attributes": [], "dimensions": {}})
        .to_string()
    };
    // Ingested after the move, in no particular order: routed by when they happened.
    let file = c.write(
        "events.jsonl",
        &[
            event("feb-first-instant", "2026-02-01T00:00:00Z"),
            event("jan-last-second", "2026-01-31T23:59:59Z"),
            event("jan-in-paris", "2026-02-01T00:30:00+01:00"),
            event("before-any", "2025-12-31T23:59:59Z"),
        ]
        .join("\n"),
    );
    let out = c.run(&["usage", "ingest", "--org", "acme", &file]);
    assert_mentions(
        &stdout(&out),
        &["read 4, inserted 3, duplicates 0, rejected 1"],
    );
    assert_mentions(
        &stderr(&out),
        &["line 4: alias: alias \"sensor-1\" routes to no account at 2025-12-31T23:59:59+00:00"],
    );
    let routed: Vec<(String, String)> =
        sqlx::query_as("SELECT id, account_id FROM usage_events WHERE org_id = 'acme' ORDER BY id")
            .fetch_all(&c.db.pool)
            .await
            .unwrap();
    let routed: Vec<_> = routed
        .iter()
        .map(|(e, a)| (e.as_str(), a.as_str()))
        .collect();
    assert_eq!(
        routed,
        vec![
            ("feb-first-instant", "new"),
            ("jan-in-paris", "old"),
            ("jan-last-second", "old"),
        ]
    );
    let old = c.json(&["account", "show", "--org", "acme", "old", "--json"]);
    assert_eq!(old["aliases"][0]["effectiveUntil"], "2026-02-01T00:00:00Z");
    let new = c.json(&["account", "show", "--org", "acme", "new", "--json"]);
    assert_eq!(new["aliases"][0]["effectiveUntil"], Value::Null);
}

#[tokio::test]
async fn two_organisations_with_the_same_ids_stay_separate() {
    let c = Cli::new().await;
    c.org_with_meter("north");
    c.ok(&["org", "create", "south", "--base-currency", "EUR"]);
    c.ok(&[
        "customer",
        "create",
        "--org",
        "south",
        "cust",
        "--name",
        "Southern customer",
    ]);
    c.ok(&[
        "meter",
        "create-schema",
        "--org",
        "south",
        "api",
        "--attributes",
        "tokens",
    ]);
    c.account("north", "acc", "USD");
    c.account("south", "acc", "EUR");

    let north = c.json(&["account", "list", "--org", "north", "--json"]);
    let south = c.json(&["account", "list", "--org", "south", "--json"]);
    assert_eq!(
        (
            north.as_array().unwrap().len(),
            south.as_array().unwrap().len()
        ),
        (1, 1)
    );
    assert_eq!(north[0]["invoiceCurrency"], "USD");
    assert_eq!(south[0]["invoiceCurrency"], "EUR");
    let customers = c.json(&["customer", "list", "--org", "south", "--json"]);
    assert_eq!(customers[0]["name"], "Southern customer");

    // The same event id in two organisations is two events.
    let line = json!({"schemaName": "api", "id": "e1", "timestamp": "2026-01-01T00:00:00Z",
                      "accountId": "acc", "attributes": [{"name": "tokens", "value": 1}]})
    .to_string();
    let file = c.write("e.jsonl", &line);
    assert_mentions(
        &c.ok(&["usage", "ingest", "--org", "north", &file]),
        &["inserted 1"],
    );
    assert_mentions(
        &c.ok(&["usage", "ingest", "--org", "south", &file]),
        &["inserted 1, duplicates 0"],
    );

    // A plan and an alias of one organisation mean nothing in the other.
    let plan = c.write("growth.json", &plan_fixture().to_string());
    c.ok(&["plan", "apply", "--org", "north", &plan]);
    c.ok(&["plan", "finalize", "--org", "north", "growth"]);
    assert_mentions(
        &c.fails(&["plan", "versions", "--org", "south", "growth"]),
        &["price plan \"growth\" does not exist in organisation \"south\""],
    );
    assert_mentions(
        &c.fails(&[
            "account",
            "attach-plan",
            "--org",
            "south",
            "acc",
            "--plan",
            "growth",
            "--from",
            "2026-01-01",
        ]),
        &["price plan \"growth\" does not exist in organisation \"south\""],
    );
    c.ok(&[
        "account",
        "add-alias",
        "--org",
        "north",
        "acc",
        "shared-alias",
        "--from",
        "2026-01-01",
    ]);
    let aliased = json!({"schemaName": "api", "id": "e2", "timestamp": "2026-01-02T00:00:00Z",
                         "alias": "shared-alias"})
    .to_string();
    let aliased = c.write("a.jsonl", &aliased);
    assert_mentions(
        &c.fails(&["usage", "ingest", "--org", "south", &aliased]),
        &["unknown alias \"shared-alias\""],
    );
    // The database itself refuses a cross-tenant reference.
    let cross = sqlx::query(
        "INSERT INTO plan_associations (org_id, account_id, plan_id, plan_version, effective_from) \
         VALUES ('south', 'acc', 'growth', 1, '2026-01-01')",
    )
    .execute(&c.db.pool)
    .await
    .unwrap_err();
    assert!(
        cross.to_string().contains("plan_associations_version_fk"),
        "{cross}"
    );
}

#[tokio::test]
async fn license_updates_are_idempotent_per_key() {
    let c = Cli::new().await;
    c.org_with_meter("acme");
    c.account("acme", "acc", "USD");
    // The growth plan's license rate card "seats" (a draft is enough).
    let plan = c.write("growth.json", &plan_fixture().to_string());
    c.ok(&["plan", "apply", "--org", "acme", &plan]);
    let update = |key: &str, kind: &str, qty: &str| {
        vec![
            "license",
            "update",
            "--org",
            "acme",
            "--account",
            "acc",
            "--license",
            "seats",
            "--type",
            kind,
            "--quantity",
            qty,
            "--from",
            "2026-01-05T09:00:00Z",
            "--key",
            key,
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>()
    };
    assert_mentions(
        &c.ok(&args(&update("k1", "ABSOLUTE", "10"))),
        &["ABSOLUTE 10"],
    );
    assert_mentions(
        &c.ok(&args(&update("k1", "ABSOLUTE", "10.0"))),
        &["already recorded"],
    );
    assert_mentions(
        &c.fails(&args(&update("k1", "ABSOLUTE", "11"))),
        &["k1", "different"],
    );
    c.ok(&args(&update("k2", "RELATIVE", "-3")));
    assert_mentions(
        &c.fails(&args(&update("k3", "ABSOLUTE", "-3"))),
        &["quantity"],
    );
    assert_mentions(
        &c.fails(&args(&update("k4", "SOMETIMES", "1"))),
        &["updateType"],
    );
    // A license no plan has, and times the one time parser refuses: nothing recorded.
    let mut unknown = update("k5", "ABSOLUTE", "1");
    unknown[7] = "seatz".into();
    assert_mentions(
        &c.fails(&args(&unknown)),
        &[
            "licenseId: no price plan has a license rate card \"seatz\", so its quantities \
           would never be billed (licenses: seats)",
        ],
    );
    for (key, from, why) in [
        ("k6", "2026-01-31T23:59:60Z", "second 60 is a leap second"),
        (
            "k7",
            "+12026-01-01T00:00:00Z",
            "the year must have exactly 4 digits",
        ),
        ("k8", "+12026-01-01", "the year must have exactly 4 digits"),
    ] {
        let mut u = update(key, "ABSOLUTE", "1");
        u[13] = from.into();
        assert_mentions(&c.fails(&args(&u)), &["effectiveFrom: ", why]);
    }
    let updates = billrun::catalog::licenses::updates_for_account(
        &c.db.pool,
        "acme",
        "acc",
        utc("2026-02-01T00:00:00Z"),
    )
    .await
    .unwrap();
    let q: Vec<_> = updates.iter().map(|u| u.quantity).collect();
    assert_eq!(q, vec![Decimal::from(10), Decimal::from(-3)]);
}

/// The library path the bill run's benchmark and demo use: batches, duplicates
/// across and within batches, and the per-account spans of new usage.
#[tokio::test]
async fn ingest_events_inserts_in_batches_and_reports_new_usage_spans() {
    let c = Cli::new().await;
    c.org_with_meter("acme");
    c.account("acme", "a", "USD");
    c.account("acme", "b", "USD");
    let start = utc("2026-01-01T00:00:00Z");
    let n = usage::BATCH_SIZE * 2 + 500;
    let mut events: Vec<NewEvent> = (0..n)
        .map(|i| NewEvent {
            id: format!("ev-{i}"),
            account_id: if i % 2 == 0 { "a" } else { "b" }.to_string(),
            schema_name: "api".into(),
            timestamp: start + Duration::minutes(i as i64),
            attributes: [("tokens".to_string(), Decimal::new(i as i64, 2))].into(),
            dimensions: [("region".to_string(), "eu".to_string())].into(),
        })
        .collect();
    events.push(events[0].clone()); // a duplicate in the last batch
    let report = usage::ingest_events(&c.db.pool, "acme", &events)
        .await
        .unwrap();
    assert_eq!((report.inserted, report.duplicates), (n as u64, 1));
    let spans: Vec<_> = report
        .usage_spans
        .iter()
        .map(|s| {
            (
                s.account_id.as_str(),
                s.first_event_at,
                s.last_event_at,
                s.events,
            )
        })
        .collect();
    assert_eq!(
        spans,
        vec![
            (
                "a",
                start,
                start + Duration::minutes(n as i64 - 2),
                n as u64 / 2
            ),
            (
                "b",
                start + Duration::minutes(1),
                start + Duration::minutes(n as i64 - 1),
                n as u64 / 2
            ),
        ]
    );
    let again = usage::ingest_events(&c.db.pool, "acme", &events[..10])
        .await
        .unwrap();
    assert_eq!(
        (again.inserted, again.duplicates, again.usage_spans.len()),
        (0, 10, 0)
    );
    let sum: Decimal = sqlx::query_scalar(
        "SELECT sum((attributes->>'tokens')::numeric) FROM usage_events WHERE org_id = 'acme'",
    )
    .fetch_one(&c.db.pool)
    .await
    .unwrap();
    assert_eq!(
        sum,
        (0..n as i64).map(|i| Decimal::new(i, 2)).sum::<Decimal>()
    );
}
