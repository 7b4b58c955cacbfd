//! One naming convention for every `--json` output (issue 12 item 17): Togai's
//! camelCase. A populated database (a bill run with credits, documents and email
//! deliveries, late and conflicting usage, a CSV import, a plan migration, a void),
//! then every listing and show command, and the commands that print what they did,
//! with `--json`: no object key may contain '_', except where the keys are data.

use std::collections::BTreeSet;

use rust_decimal_macros::dec;
use serde_json::Value;

use crate::env::TestEnv;
use crate::fixtures;
use crate::harness::*;

/// Where object keys are data, not field names: (command, path of the object whose
/// keys are data). Paths are `$` then `.key` per object field and `[]` per array
/// element. Each must be visited by the walk (so none outlives its reason).
const DATA_KEYS: &[(&str, &str)] = &[
    // A meter's filters: dimension name -> value (`--filter cloud_region=eu`).
    ("meter list", "$.usageMeters[].filters"),
    // A late event's attributes: attribute name -> value, as the schema names them.
    ("usage late", "$[].attributes"),
    // (`credit balance` is a map too, currency code -> amount, but an ISO 4217 code
    // has no '_': nothing to exempt.)
];

/// The offending keys of `v` (as paths), skipping the objects of `data_paths`;
/// `seen` gets every data path that was met.
fn snake_keys(
    v: &Value,
    path: &str,
    data_paths: &[&str],
    seen: &mut BTreeSet<String>,
    out: &mut Vec<String>,
) {
    match v {
        Value::Object(m) => {
            let data = data_paths.contains(&path);
            if data {
                seen.insert(path.to_string());
            }
            for (k, child) in m {
                if !data && k.contains('_') {
                    out.push(format!("{path}.{k}"));
                }
                snake_keys(child, &format!("{path}.{k}"), data_paths, seen, out);
            }
        }
        Value::Array(a) => {
            for child in a {
                snake_keys(child, &format!("{path}[]"), data_paths, seen, out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_walk_reports_snake_case_keys_except_under_data_paths() {
    let v = serde_json::json!({
        "okName": [{"bad_name": 1, "filters": {"cloud_region": "eu"}}],
        "filters": {"cloud_region": "eu"}
    });
    let (mut seen, mut out) = (BTreeSet::new(), Vec::new());
    snake_keys(&v, "$", &["$.okName[].filters"], &mut seen, &mut out);
    assert_eq!(out, ["$.filters.cloud_region", "$.okName[].bad_name"]);
    assert_eq!(seen, BTreeSet::from(["$.okName[].filters".to_string()]));
}

/// Every JSON printed, with the command that printed it.
#[derive(Default)]
struct Outputs(Vec<(String, Value)>);

impl Outputs {
    /// `billrun ARGS --json`, which must succeed.
    fn ok(&mut self, c: &Cli, name: &str, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let v = c.json(&a);
        self.0.push((name.to_string(), v.clone()));
        v
    }

    /// `billrun ARGS --json` whose exit status says some input was refused: its
    /// stdout is still the JSON report.
    fn refused(&mut self, c: &Cli, name: &str, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = c.run(&a);
        assert!(!out.status.success(), "{args:?} should report a refusal");
        let v: Value = serde_json::from_str(&stdout(&out))
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", stdout(&out)));
        self.0.push((name.to_string(), v.clone()));
        v
    }
}

#[tokio::test]
async fn every_json_output_names_its_fields_in_camel_case() {
    let c = TestEnv::new().await;
    let pool = &c.db.pool;
    c.org("acme").with_plan(fixtures::growth_plan(0)).await;
    c.account("acme", "a1")
        .with_usage("e1", "2026-01-05T10:00:00Z", dec!(1500))
        .await;
    c.account("acme", "a2")
        .with_usage("e2", "2026-01-06T10:00:00Z", dec!(200))
        .await;
    // Recipients, so the bill run records deliveries.
    sqlx::query("UPDATE accounts SET billing_emails = '{ap@acme.test}' WHERE org_id = 'acme'")
        .execute(pool)
        .await
        .unwrap();
    // An account the plan has no rate for (EUR): the bill run reports it as a failure.
    c.account("acme", "a3").await;
    sqlx::query("UPDATE accounts SET invoice_currency = 'EUR' WHERE id = 'a3'")
        .execute(pool)
        .await
        .unwrap();
    let mut o = Outputs::default();

    // A meter whose filter's dimension has an underscore: data, not a field name.
    c.ok(&[
        "meter",
        "create-schema",
        "gpu",
        "--org",
        "acme",
        "--attributes",
        "gpu_hours",
        "--dimensions",
        "cloud_region",
    ]);
    c.ok(&[
        "meter",
        "create",
        "gpu_eu",
        "--org",
        "acme",
        "--schema",
        "gpu",
        "--aggregation",
        "SUM",
        "--attribute",
        "gpu_hours",
        "--filter",
        "cloud_region=eu",
    ]);

    // Documents: billing details, a logo, an organisation template.
    c.ok(&[
        "billing-details",
        "create",
        "--org",
        "acme",
        "main",
        "--legal-name",
        "Acme GmbH",
        "--country",
        "DE",
        "--payment-instructions",
        "IBAN DE00 0000",
    ]);
    let logo = c.scratch.path().join("logo.png");
    std::fs::write(
        &logo,
        include_bytes!("../../crates/billrun-render/assets/sample-logo.png"),
    )
    .unwrap();
    c.ok(&["logo", "set", "--org", "acme", logo.to_str().unwrap()]);
    let builtin = c.json(&["template", "show", "--org", "acme", "builtin", "--json"]);
    let text = builtin["body"]
        .as_str()
        .unwrap_or_else(|| panic!("template show builtin: no body: {builtin}"));
    let template = c.write("t.html", text);
    c.ok(&[
        "template",
        "add",
        "--org",
        "acme",
        "plain",
        "--file",
        &template,
        "--billing-details",
        "main",
    ]);

    // A credit consumed by the bill run.
    o.ok(
        &c,
        "credit grant",
        &[
            "credit",
            "grant",
            "--org",
            "acme",
            "--account",
            "a1",
            "--amount",
            "10.00",
            "--currency",
            "USD",
            "--from",
            "2026-01-01",
            "--applies-to",
            "ALL_FIXED_FEE_RATE_CARDS",
            "--key",
            "welcome",
        ],
    );

    // The bill run: close, finalize, render, deliver (to the file outbox).
    let run = o.ok(
        &c,
        "run",
        &["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"],
    );
    assert_eq!(run["state"], "done", "{run}");
    let failures: Vec<Value> = c
        .json(&["jobs", "list", "--kind", "close-chunk", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|j| {
            j["result"]["failures"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    assert!(
        !failures.is_empty() && failures.iter().all(|f| f["accountId"] == "a3"),
        "a3 (and only a3) is not billed: {failures:?}"
    );

    // Usage after the invoice (late), a refused line and a conflicting one.
    let late = c.write(
        "late.jsonl",
        &[
            r#"{"schemaName": "api", "id": "e3", "timestamp": "2026-01-20T10:00:00Z", "accountId": "a1", "attributes": [{"name": "calls", "value": 5}], "dimensions": {"region": "eu"}}"#,
            r#"{"schemaName": "gpu", "id": "g1", "timestamp": "2026-01-21T10:00:00Z", "accountId": "a1", "attributes": [{"name": "gpu_hours", "value": 2}], "dimensions": {"cloud_region": "eu"}}"#,
            r#"{"schemaName": "api", "id": "e4", "timestamp": "2026-01-20T10:00:00Z", "accountId": "ghost", "attributes": [{"name": "calls", "value": 5}]}"#,
            r#"{"schemaName": "api", "id": "e1", "timestamp": "2026-01-05T10:00:00Z", "accountId": "a1", "attributes": [{"name": "calls", "value": 7}]}"#,
        ]
        .join("\n"),
    );
    let ingest = o.refused(
        &c,
        "usage ingest",
        &["usage", "ingest", "--org", "acme", &late],
    );
    assert_eq!(
        (&ingest["rejected"], &ingest["conflicts"]),
        (&Value::from(1), &Value::from(1)),
        "{ingest}"
    );

    let late = c.json(&["usage", "late", "--org", "acme", "--json"]);
    assert!(
        late.as_array()
            .unwrap()
            .iter()
            .any(|e| e["attributes"].get("gpu_hours").is_some()),
        "g1 is late, its attribute named as the schema names it: {late}"
    );

    // A CSV import with a bad row.
    let csv = c.write(
        "usage.csv",
        "event_id,timestamp,account_id,schema,attribute.calls\n\
         i1,2026-02-02T10:00:00Z,a2,api,3\n\
         i2,2026-02-02T10:00:00Z,nobody,api,3\n",
    );
    let import = c.run(&["import", "usage", &csv, "--org", "acme", "--wait"]);
    let import_id = stdout(&import)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    assert!(!import_id.is_empty(), "no import id: {}", stderr(&import));

    // A plan migration to a second version of the plan.
    let mut v2 = fixtures::growth_plan(0);
    v2["usageRateCards"][0]["rateValues"][0]["slabRates"][0]["rate"] = "0.09".into();
    let v2 = c.write("growth-v2.json", &v2.to_string());
    o.ok(&c, "plan apply", &["plan", "apply", "--org", "acme", &v2]);
    c.ok(&["plan", "finalize", "growth", "--org", "acme"]);
    let migration = o.ok(
        &c,
        "migrations create",
        &[
            "migrations",
            "create",
            "--org",
            "acme",
            "--source",
            "growth",
            "--source-version",
            "1",
            "--target",
            "growth",
            "--target-version",
            "2",
            "--mode",
            "NEXT_CYCLE",
            "--at",
            "2026-02-01",
            "--wait",
        ],
    );
    let migration = migration["id"].as_str().unwrap().to_string();

    // Voiding one invoice.
    let invoices = o.ok(&c, "invoice list", &["invoice", "list", "--org", "acme"]);
    let invoices = invoices.as_array().unwrap().clone();
    assert_eq!(
        invoices.len(),
        4,
        "a1 and a2, each billed on 1 Jan (in advance) and 1 Feb"
    );
    let a2 = invoices
        .iter()
        .find(|i| i["accountId"] == "a2")
        .expect("a2's invoice, by accountId");
    let a2 = a2["id"].as_str().unwrap();
    o.ok(
        &c,
        "invoice void",
        &["invoice", "void", "--org", "acme", a2, "--at", "2026-02-03"],
    );

    // Every listing and show.
    for args in [
        &["org", "show", "acme"][..],
        &["org", "list"],
        &["customer", "list", "--org", "acme"],
        &["account", "show", "--org", "acme", "a1"],
        &["account", "list", "--org", "acme"],
        &["meter", "list", "--org", "acme"],
        &["plan", "list", "--org", "acme"],
        &["plan", "versions", "--org", "acme", "growth"],
        &["plan", "show", "--org", "acme", "growth"],
        &["usage", "late", "--org", "acme"],
        &["invoice", "list", "--org", "acme"],
        &["credit", "list", "--org", "acme"],
        &["credit", "balance", "--org", "acme", "--account", "a1"],
        &["credit", "ledger", "--org", "acme", "--account", "a1"],
        &["imports", "list"],
        &["imports", "show", &import_id],
        &["migrations", "list", "--org", "acme"],
        &["migrations", "show", "--org", "acme", &migration],
        &["migrations", "entries", "--org", "acme", &migration],
        &["logo", "show", "--org", "acme"],
        &["billing-details", "list", "--org", "acme"],
        &["billing-details", "show", "--org", "acme", "main"],
        &["template", "list", "--org", "acme"],
        &["template", "show", "--org", "acme", "plain"],
        &["jobs", "kinds"],
        &["schedule", "list", "--count", "1"],
    ] {
        let name = args[..2].join(" ");
        o.ok(&c, &name, args);
    }
    let deliveries = o.ok(
        &c,
        "deliveries list",
        &["deliveries", "list", "--org", "acme"],
    );
    assert_eq!(
        deliveries.as_array().map(Vec::len),
        Some(4),
        "one per invoice: {deliveries}"
    );
    for i in &invoices {
        o.ok(
            &c,
            "invoice show",
            &[
                "invoice",
                "show",
                "--org",
                "acme",
                i["id"].as_str().unwrap(),
            ],
        );
    }
    let jobs = o.ok(&c, "jobs list", &["jobs", "list", "--limit", "100"]);
    let kinds: BTreeSet<&str> = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["kind"].as_str().unwrap())
        .collect();
    for k in [
        "cycle-close",
        "close-chunk",
        "finalize-chunk",
        "render-chunk",
        "deliver-chunk",
        "credit-grant",
        "csv-import",
        "plan-migration",
    ] {
        assert!(kinds.contains(k), "no {k} job to look at: {kinds:?}");
    }
    for j in jobs.as_array().unwrap() {
        o.ok(
            &c,
            "jobs show",
            &["jobs", "show", j["id"].as_str().unwrap()],
        );
    }

    // The walk.
    let mut offending = Vec::new();
    let mut seen = BTreeSet::new();
    for (name, v) in &o.0 {
        let data: Vec<&str> = DATA_KEYS
            .iter()
            .filter(|(c, _)| c == name)
            .map(|(_, p)| *p)
            .collect();
        let mut found = Vec::new();
        let mut met = BTreeSet::new();
        snake_keys(v, "$", &data, &mut met, &mut found);
        seen.extend(met.into_iter().map(|p| (name.clone(), p)));
        offending.extend(found.into_iter().map(|p| format!("{name}: {p}")));
    }
    offending.sort();
    offending.dedup();
    assert!(
        offending.is_empty(),
        "snake_case keys in --json output:\n{}",
        offending.join("\n")
    );
    for (name, path) in DATA_KEYS {
        assert!(
            seen.contains(&(name.to_string(), path.to_string())),
            "the data keys of {name} at {path} were never met: the walk does not cover them"
        );
    }
}

/// A job enqueued by a version that wrote snake_case (`as_of`, `sleep_ms`) and still
/// waiting in the queue when the new version starts: a worker of the new version runs
/// it, as of its `as_of`, and `jobs show --json` prints it as it was stored.
#[tokio::test]
async fn a_job_queued_with_the_old_snake_case_names_is_run_after_the_upgrade() {
    let env = TestEnv::new().await;
    let db = env.db();
    let id = "01AAAAAAAAAAAAAAAAAAAAAAA9";
    let job =
        br#"{"kind":"probe","as_of":"2026-03-01T00:00:00Z","payload":{"key":"old","sleep_ms":1}}"#;
    sqlx::query(
        "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority)
         VALUES ($1, 'billrun:probe', $2, 'Pending', 0, 3, now(), 0)",
    )
    .bind(id)
    .bind(&job[..])
    .execute(&db.pool)
    .await
    .unwrap();
    let _worker = env.workers(1, &["--no-scheduler"]);
    let log = env.worker_log(0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while job_state(&db.pool, id).await.as_deref() != Some("done") {
        assert!(
            std::time::Instant::now() < deadline,
            "the old job is {:?}, not done:\n{}",
            job_state(&db.pool, id).await,
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let as_of: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT as_of FROM probe_results WHERE key = 'old'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(as_of.to_rfc3339(), "2026-03-01T00:00:00+00:00");
    let mut c = env.command();
    c.args(["jobs", "show", id, "--json"]);
    let shown: Value = serde_json::from_str(&stdout(&run(c))).unwrap();
    assert_eq!(
        (
            &shown["state"],
            &shown["request"]["as_of"],
            &shown["result"]["asOf"]
        ),
        (
            &Value::from("done"),
            &Value::from("2026-03-01T00:00:00Z"),
            &Value::from("2026-03-01T00:00:00Z")
        ),
        "{shown}"
    );
}
